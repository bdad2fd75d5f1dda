//! A node descriptor from gossip or a sync answer (`Descriptor::decode`,
//! `decode_verified`). Two modes: raw bytes, and a descriptor built and signed from the
//! input's fields. Asserts: a decoded descriptor's body is what `encode_body` makes of its
//! content (one encoding per content); a signed one decodes, verifies and equals itself;
//! a damaged signed one does not verify.
#![no_main]

use ed25519_dalek::SigningKey;
use libfuzzer_sys::fuzz_target;
use wesh_pki::codec::encode_body;
use wesh_pki::descriptor::{Descriptor, DescriptorBuilder, Role};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        if let Ok(d) = Descriptor::decode(rest) {
            assert_eq!(d.as_bytes(), rest);
            let body = encode_body(d.content());
            assert_eq!(
                body.ok().as_deref(),
                Some(d.signed_body()),
                "non-canonical descriptor"
            );
            if d.verify().is_ok() {
                assert!(Descriptor::decode_verified(rest).is_ok());
            }
        }
        return;
    }
    // Built: [role, seq, epoch, n_keys, flip, mask, address bytes...]
    let [role, seq, epoch, n_keys, flip, mask, address @ ..] = rest else {
        return;
    };
    let role = Role::from_byte(*role % 4).unwrap_or(Role::Mix);
    let mut b = DescriptorBuilder::new(role, u64::from(*seq), u64::from(*epoch))
        .capacity_pps(u32::from(*seq) * 10);
    for i in 0..(*n_keys % 4) {
        b = b.sphinx_key(u64::from(*epoch) + u64::from(i), [i + 1; 32]);
    }
    if let Ok(text) = std::str::from_utf8(address) {
        b = b.address(text);
    }
    let key = SigningKey::from_bytes(&[*seq; 32]);
    let Ok(signed) = b.sign(&key) else {
        return;
    };
    let again = Descriptor::decode_verified(signed.as_bytes());
    assert_eq!(
        again.as_ref().ok(),
        Some(&signed),
        "a signed descriptor did not decode to itself"
    );
    let mut damaged = signed.as_bytes().to_vec();
    let at = usize::from(*flip) % damaged.len();
    damaged[at] ^= *mask;
    if *mask != 0 {
        assert!(
            Descriptor::decode_verified(&damaged).is_err(),
            "a damaged descriptor verified"
        );
    }
});
