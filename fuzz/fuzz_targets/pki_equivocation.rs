//! A gossiped equivocation proof (`EquivocationProof::from_bytes`: two descriptors, each
//! decoded and verified). Two modes: raw bytes, and a real proof made of two descriptors
//! signed from the input. Asserts: an accepted proof re-encodes to the same bytes and
//! names the identity that signed both.
#![no_main]

use ed25519_dalek::SigningKey;
use libfuzzer_sys::fuzz_target;
use wesh_fuzz::assert_canonical;
use wesh_pki::EquivocationProof;
use wesh_pki::descriptor::{DescriptorBuilder, NodeId, Role};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        if let Some(p) = assert_canonical(
            rest,
            EquivocationProof::from_bytes,
            EquivocationProof::to_bytes,
        ) {
            assert_eq!(p.verify().ok(), Some(p.identity()));
        }
        return;
    }
    let [seq, cap_a, cap_b, ..] = rest else {
        return;
    };
    let key = SigningKey::from_bytes(&[seq.wrapping_add(1); 32]);
    let make = |cap: u8| {
        DescriptorBuilder::new(Role::Mix, u64::from(*seq), 5)
            .capacity_pps(u32::from(cap))
            .sign(&key)
    };
    let (Ok(a), Ok(b)) = (make(*cap_a), make(*cap_b)) else {
        return;
    };
    let (a, b) = if a.as_bytes() <= b.as_bytes() {
        (a, b)
    } else {
        (b, a)
    };
    match EquivocationProof::new(a, b) {
        Ok(proof) => {
            assert_ne!(cap_a, cap_b, "a proof of two equal descriptors");
            let bytes = proof.to_bytes();
            let back = EquivocationProof::from_bytes(&bytes);
            assert_eq!(
                back.ok().map(|p| p.identity()),
                Some(NodeId(key.verifying_key().to_bytes()))
            );
        }
        Err(_) => assert_eq!(cap_a, cap_b, "two conflicting descriptors made no proof"),
    }
});
