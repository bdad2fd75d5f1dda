//! Thin wrappers over the audited primitives (ChaCha20-Poly1305, HKDF-SHA256, X25519,
//! Ed25519) so the protocol files never touch raw crate APIs. No primitive is home-made.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use x25519_dalek::{PublicKey as XPublicKey, StaticSecret};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::{DecodeError, Result, WeshError};
use crate::params::AEAD_NONCE_LEN;

/// 32 secret bytes: wiped on drop, compared in constant time, never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretKey32([u8; 32]);

impl SecretKey32 {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
    pub fn random<R: rand::CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut b = [0u8; 32];
        rng.fill_bytes(&mut b);
        Self(b)
    }
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl PartialEq for SecretKey32 {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}
impl Eq for SecretKey32 {}

impl core::fmt::Debug for SecretKey32 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SecretKey32(<redacted>)")
    }
}

/// ChaCha20-Poly1305 encryption; `aad` is authenticated but not encrypted.
pub fn aead_seal(
    key: &[u8; 32],
    nonce: &[u8; AEAD_NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    let cipher = ChaCha20Poly1305::new(&Key::from(*key));
    cipher
        .encrypt(
            &Nonce::from(*nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| WeshError::TooLarge(plaintext.len()))
}

/// ChaCha20-Poly1305 decryption; fails on any tampering of key, nonce, aad or ciphertext.
pub fn aead_open(
    key: &[u8; 32],
    nonce: &[u8; AEAD_NONCE_LEN],
    aad: &[u8],
    ciphertext: &[u8],
    what: &'static str,
) -> Result<Vec<u8>> {
    let cipher = ChaCha20Poly1305::new(&Key::from(*key));
    cipher
        .decrypt(
            &Nonce::from(*nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map_err(|_| WeshError::DecryptionFailed(what))
}

/// HKDF-SHA256 (RFC 5869) extract-then-expand into `out`.
pub fn hkdf_sha256(ikm: &[u8], salt: &[u8], info: &[u8], out: &mut [u8]) -> Result<()> {
    Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info, out)
        .map_err(|_| WeshError::InvalidParameter("HKDF output too long"))
}

/// HKDF-SHA256 into a fresh 32-byte secret.
pub fn derive_key32(ikm: &[u8], salt: &[u8], info: &[u8]) -> Result<SecretKey32> {
    let mut out = [0u8; 32];
    hkdf_sha256(ikm, salt, info, &mut out)?;
    let key = SecretKey32::from_bytes(out);
    out.zeroize();
    Ok(key)
}

pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// The Ed25519 public key of the key pair with this 32-byte seed.
pub fn public_of_seed(seed: &[u8; 32]) -> [u8; 32] {
    SigningKey::from_bytes(seed).verifying_key().to_bytes()
}

/// X25519 secret of an Ed25519 key pair (RFC 7748 clamped scalar of the expanded seed),
/// so one Ed25519 identity also serves for key agreement, as weshnet does.
pub fn x25519_secret(signing: &SigningKey) -> StaticSecret {
    StaticSecret::from(signing.to_scalar_bytes())
}

/// X25519 public key of an Ed25519 public key (birational Edwards→Montgomery map).
pub fn x25519_public(verifying: &VerifyingKey) -> XPublicKey {
    XPublicKey::from(verifying.to_montgomery().to_bytes())
}

/// X25519 agreement that refuses low-order peer keys (an all-zero result would make every
/// "secret" derived from it public).
pub fn agree(secret: &StaticSecret, peer: &XPublicKey) -> Result<SecretKey32> {
    let shared = secret.diffie_hellman(peer);
    if !shared.was_contributory() {
        return Err(WeshError::NonContributory);
    }
    Ok(SecretKey32::from_bytes(shared.to_bytes()))
}

pub fn sign(key: &SigningKey, message: &[u8]) -> [u8; 64] {
    key.sign(message).to_bytes()
}

/// Strict Ed25519 verification (rejects weak keys and malleable signatures).
pub fn verify(
    key: &VerifyingKey,
    message: &[u8],
    signature: &[u8; 64],
    what: &'static str,
) -> Result<()> {
    let sig = Signature::from_bytes(signature);
    key.verify_strict(message, &sig)
        .map_err(|_| WeshError::BadSignature(what))
}

pub fn verifying_key(
    bytes: &[u8; 32],
    what: &'static str,
) -> core::result::Result<VerifyingKey, DecodeError> {
    VerifyingKey::from_bytes(bytes).map_err(|_| DecodeError::InvalidKey(what))
}

/// Signing key from a 32-byte seed (deterministic derivations such as contact groups).
pub fn signing_key_from_seed(seed: &SecretKey32) -> SigningKey {
    SigningKey::from_bytes(seed.expose())
}

/// Fresh Ed25519 key pair from the caller's RNG (seed wiped after use).
pub fn generate_signing_key<R: rand::CryptoRng + ?Sized>(rng: &mut R) -> SigningKey {
    let seed = SecretKey32::random(rng);
    SigningKey::from_bytes(seed.expose())
}
