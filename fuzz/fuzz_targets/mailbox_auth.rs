//! The mailbox signatures a provider checks (`mailbox::auth::parse_key`, `verify`) on keys
//! and signatures taken from client frames. Asserts: a weak (small-order) key is never
//! accepted, and a signature verifies only for the message it was made on.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wesh_mix::mailbox::auth::{parse_key, sign, verify};

fuzz_target!(|data: &[u8]| {
    let Some((key, rest)) = data.split_first_chunk::<32>() else {
        return;
    };
    let Some((sig, message)) = rest.split_first_chunk::<64>() else {
        return;
    };
    if let Some(k) = parse_key(key) {
        assert!(!k.is_weak());
    }
    if verify(key, message, sig) {
        assert!(parse_key(key).is_some());
        let mut other = message.to_vec();
        other.push(0);
        assert!(
            !verify(key, &other, sig),
            "a signature verified for another message"
        );
    }
    // A real key made from the first 32 bytes: its signature verifies, a flipped bit not.
    let signer = ed25519_dalek::SigningKey::from_bytes(key);
    let good = sign(&signer, message);
    let public = signer.verifying_key().to_bytes();
    assert!(verify(&public, message, &good));
    let mut bad = good;
    bad[usize::from(sig[0]) % 64] ^= 1 << (sig[1] % 8);
    assert!(!verify(&public, message, &bad));
});
