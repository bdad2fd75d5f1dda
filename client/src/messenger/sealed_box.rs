//! Envelopes sealed to one recipient's Ed25519 identity (its X25519 form): an ephemeral
//! X25519 key, HKDF-SHA256 over the shared secret bound to both public keys, and
//! ChaCha20-Poly1305 under a key used once (so a fixed nonce is safe).
//!
//! Providers see final-hop payloads in clear (Sphinx ends at the provider), so everything a
//! device receives is sealed: the provider learns neither the group nor the sender.

use ed25519_dalek::{SigningKey, VerifyingKey};
use x25519_dalek::{PublicKey as XPublicKey, StaticSecret};

use crate::crypto::{SecretKey32, aead_open, aead_seal, agree, derive_key32, x25519_public};
use crate::error::{Result, WeshError};
use crate::params::AEAD_NONCE_LEN;

const SEALED_BOX_INFO: &[u8] = b"wesh/v1/sealed-box";
const BOX_NONCE: [u8; AEAD_NONCE_LEN] = [0u8; AEAD_NONCE_LEN];

/// Bytes a sealed box adds: ephemeral key and AEAD tag.
pub const SEALED_BOX_OVERHEAD: usize = 32 + crate::params::AEAD_TAG_LEN;

fn box_key(shared: &SecretKey32, eph: &XPublicKey, recipient: &XPublicKey) -> Result<SecretKey32> {
    derive_key32(
        shared.expose(),
        &[eph.as_bytes().as_slice(), recipient.as_bytes()].concat(),
        SEALED_BOX_INFO,
    )
}

/// Seals `plaintext` so that only the holder of `recipient`'s secret key can open it.
pub fn seal_to<R: rand::CryptoRng + ?Sized>(
    rng: &mut R,
    recipient: &VerifyingKey,
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    let recipient_x = x25519_public(recipient);
    let eph = StaticSecret::random_from_rng(rng);
    let eph_public = XPublicKey::from(&eph);
    let shared = agree(&eph, &recipient_x)?;
    let key = box_key(&shared, &eph_public, &recipient_x)?;
    let sealed = aead_seal(key.expose(), &BOX_NONCE, eph_public.as_bytes(), plaintext)?;
    Ok([eph_public.as_bytes().as_slice(), &sealed].concat())
}

/// Opens a box sealed to `me`; fails (without detail) if it was sealed to someone else or
/// tampered with.
pub fn open_with(me: &SigningKey, sealed: &[u8]) -> Result<Vec<u8>> {
    if sealed.len() < SEALED_BOX_OVERHEAD {
        return Err(WeshError::DecryptionFailed("sealed box too short"));
    }
    let (eph, body) = sealed.split_at(32);
    let mut eph_bytes = [0u8; 32];
    eph_bytes.copy_from_slice(eph);
    let eph_public = XPublicKey::from(eph_bytes);
    let my_x = x25519_public(&me.verifying_key());
    let shared = agree(&crate::crypto::x25519_secret(me), &eph_public)?;
    let key = box_key(&shared, &eph_public, &my_x)?;
    aead_open(key.expose(), &BOX_NONCE, eph, body, "sealed box")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn only_the_recipient_opens_and_tampering_fails() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let alice = crate::crypto::generate_signing_key(&mut rng);
        let bob = crate::crypto::generate_signing_key(&mut rng);
        let sealed = seal_to(&mut rng, &alice.verifying_key(), b"hello").unwrap();
        assert_eq!(open_with(&alice, &sealed).unwrap(), b"hello");
        assert!(open_with(&bob, &sealed).is_err());
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert!(open_with(&alice, &bad).is_err(), "flip at {i} accepted");
        }
        assert!(open_with(&alice, &sealed[..10]).is_err());
        // two seals of one plaintext share nothing visible
        let again = seal_to(&mut rng, &alice.verifying_key(), b"hello").unwrap();
        assert_ne!(sealed[..32], again[..32]);
    }
}
