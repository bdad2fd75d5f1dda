//! End-to-end sealing of what a packet carries for a client, so that the client's provider
//! (the final hop, which must store the payload) learns neither its kind, nor a fragment's
//! header, nor a loop's or an ack's id (spec/security.md, `loop-id-leak`).
//!
//! The construction is X25519 with a fresh ephemeral key to the recipient's static key,
//! `HKDF-SHA256(salt = ephemeral ‖ recipient, ikm = shared secret, info = SEAL_INFO)` for a
//! one-time ChaCha20-Poly1305 key (so the AEAD nonce may be zero), in the manner of HPKE's
//! base mode. Wire: `ephemeral public key (32) ‖ ciphertext ‖ tag (16)`.
//!
//! The recipient's static key is the X25519 form of its Ed25519 identity (its Sphinx
//! destination), so a sender needs nothing but the address it already has. Provider
//! services (the rendezvous desk, replicas) have identities whose seeds are public hashes
//! (`rendezvous_service_mailbox`, `replica_mailbox` in the client core). Anyone can derive
//! those, which costs nothing: only the final hop ever sees a Sphinx plaintext, and the
//! final hop of a service is the service itself.

use crate::node_id::NodeId;
use crate::params::SEAL_OVERHEAD_BYTES;
use chacha20poly1305::aead::AeadInOut;
use chacha20poly1305::{ChaCha20Poly1305, Key, KeyInit, Nonce};
use ed25519_dalek::{SigningKey, VerifyingKey};
use hkdf::Hkdf;
use rand::Rng;
use sha2::{Digest, Sha256};
use std::fmt;
use thiserror::Error;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

/// HKDF info of the one-time payload key.
pub const SEAL_INFO: &[u8] = b"wesh/mix/1 payload seal\0";

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SealError {
    #[error("recipient id is not an Ed25519 public key")]
    NotAKey,
    #[error("recipient key is of low order")]
    LowOrder,
    #[error("key derivation failed")]
    Kdf,
    #[error("encryption failed")]
    Encrypt,
}

/// The X25519 key a recipient opens sealed payloads with. Wiped on drop, never printed.
#[derive(Clone)]
pub struct ReceiveKey {
    secret: StaticSecret,
    public: [u8; 32],
}

impl fmt::Debug for ReceiveKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceiveKey").finish_non_exhaustive()
    }
}

impl ReceiveKey {
    /// The receive key of the Ed25519 identity with this 32-byte seed (RFC 8032 secret
    /// key): the clamped scalar of the expanded seed, whose X25519 public key is the
    /// Montgomery form of the identity's public key.
    pub fn from_ed25519_seed(seed: &[u8; 32]) -> Self {
        let signing = SigningKey::from_bytes(seed);
        let secret = StaticSecret::from(signing.to_scalar_bytes());
        let public = PublicKey::from(&secret).to_bytes();
        ReceiveKey { secret, public }
    }

    /// A fresh random key (reply blocks' seal keys, tests).
    pub fn random<R: Rng + ?Sized>(rng: &mut R) -> Self {
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(seed.as_mut());
        let secret = StaticSecret::from(*seed);
        let public = PublicKey::from(&secret).to_bytes();
        ReceiveKey { secret, public }
    }

    /// The X25519 public key senders seal to.
    pub fn public(&self) -> [u8; 32] {
        self.public
    }

    /// Opens `sealed` (as [`seal`] wrote it); `None` if it was not sealed to this key or
    /// was altered.
    pub fn open(&self, sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        let (eph, ciphertext) = sealed.split_first_chunk::<32>()?;
        if ciphertext.len() < SEAL_OVERHEAD_BYTES - 32 {
            return None;
        }
        let shared = self.secret.diffie_hellman(&PublicKey::from(*eph));
        if !shared.was_contributory() {
            return None;
        }
        let cipher = cipher(shared.as_bytes(), eph, &self.public).ok()?;
        let mut buf = Zeroizing::new(ciphertext.to_vec());
        cipher
            .decrypt_in_place(&Nonce::default(), &[], &mut *buf)
            .ok()?;
        Some(buf)
    }
}

/// Domain of a client's reply key.
const REPLY_KEY_DOMAIN: &[u8] = b"wesh/mix/1 reply key\0";

/// The keys payloads stored for a client are sealed to: its identity's (what senders who
/// know its address use) and its reply key (what its reply blocks carry, so that a holder
/// of a block does not learn the client's identity).
#[derive(Clone, Debug)]
pub struct ClientKeys {
    pub identity: ReceiveKey,
    pub reply: ReceiveKey,
}

impl ClientKeys {
    /// Both keys of the client whose Ed25519 identity has this seed; the reply key is
    /// derived from the seed, so payloads stored before a restart still open after it.
    pub fn from_ed25519_seed(seed: &[u8; 32]) -> Self {
        let reply_seed = Zeroizing::new(<[u8; 32]>::from(
            Sha256::new()
                .chain_update(REPLY_KEY_DOMAIN)
                .chain_update(seed)
                .finalize(),
        ));
        ClientKeys {
            identity: ReceiveKey::from_ed25519_seed(seed),
            reply: ReceiveKey::from_ed25519_seed(&reply_seed),
        }
    }

    /// The Ed25519 public key (the client's id) of the identity with this seed.
    pub fn id_of_seed(seed: &[u8; 32]) -> NodeId {
        NodeId(SigningKey::from_bytes(seed).verifying_key().to_bytes())
    }
}

/// The X25519 key that seals to the client or service `id` (its Ed25519 identity).
pub fn seal_key_of(id: &NodeId) -> Result<[u8; 32], SealError> {
    let key = VerifyingKey::from_bytes(id.as_bytes()).map_err(|_| SealError::NotAKey)?;
    Ok(key.to_montgomery().to_bytes())
}

/// Seals `plaintext` to the X25519 key `recipient`: `SEAL_OVERHEAD_BYTES` longer.
pub fn seal<R: Rng + ?Sized>(
    rng: &mut R,
    recipient: &[u8; 32],
    plaintext: &[u8],
) -> Result<Vec<u8>, SealError> {
    let eph = ReceiveKey::random(rng);
    let shared = eph.secret.diffie_hellman(&PublicKey::from(*recipient));
    if !shared.was_contributory() {
        return Err(SealError::LowOrder);
    }
    let cipher = cipher(shared.as_bytes(), &eph.public, recipient)?;
    let mut buf = Vec::with_capacity(plaintext.len() + SEAL_OVERHEAD_BYTES);
    buf.extend_from_slice(plaintext);
    cipher
        .encrypt_in_place(&Nonce::default(), &[], &mut buf)
        .map_err(|_| SealError::Encrypt)?;
    let mut out = Vec::with_capacity(buf.len() + 32);
    out.extend_from_slice(&eph.public);
    out.extend_from_slice(&buf);
    Ok(out)
}

fn cipher(
    shared: &[u8; 32],
    eph: &[u8; 32],
    recipient: &[u8; 32],
) -> Result<ChaCha20Poly1305, SealError> {
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(eph);
    salt[32..].copy_from_slice(recipient);
    let mut okm = Zeroizing::new([0u8; 32]);
    Hkdf::<Sha256>::new(Some(&salt), shared)
        .expand(SEAL_INFO, okm.as_mut())
        .map_err(|_| SealError::Kdf)?;
    Ok(ChaCha20Poly1305::new(&Key::from(*okm)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn sealed_to_an_identity_opens_with_its_seed_only() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let seed = [7u8; 32];
        let id = NodeId(SigningKey::from_bytes(&seed).verifying_key().to_bytes());
        let key = ReceiveKey::from_ed25519_seed(&seed);
        assert_eq!(seal_key_of(&id).unwrap(), key.public());
        let sealed = seal(&mut rng, &key.public(), b"kind and body").unwrap();
        assert_eq!(sealed.len(), 13 + SEAL_OVERHEAD_BYTES);
        assert_eq!(key.open(&sealed).unwrap().as_slice(), b"kind and body");
        let other = ReceiveKey::from_ed25519_seed(&[8; 32]);
        assert!(other.open(&sealed).is_none(), "another key opens nothing");
        let mut flipped = sealed.clone();
        flipped[40] ^= 1;
        assert!(
            key.open(&flipped).is_none(),
            "an altered seal does not open"
        );
        assert!(
            key.open(&sealed[..20]).is_none(),
            "a short seal does not open"
        );
    }

    #[test]
    fn low_order_and_non_keys_are_refused() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        assert_eq!(seal(&mut rng, &[0; 32], b"x"), Err(SealError::LowOrder));
        // y = 2 is not on the curve: not a key
        let mut not_a_point = [0u8; 32];
        not_a_point[0] = 2;
        assert_eq!(seal_key_of(&NodeId(not_a_point)), Err(SealError::NotAKey));
    }
}
