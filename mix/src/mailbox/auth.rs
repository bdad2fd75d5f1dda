//! What the mailbox key signs, and how a provider checks it.
//!
//! Every signed message starts with its own domain string (so a signature for one step can
//! never be replayed as another, nor by another protocol using the same key) and the
//! provider's node id (so a signature given to one provider is useless at another).

use super::MailboxId;
use super::wire::{PUBLIC_KEY_BYTES, SIGNATURE_BYTES};
use crate::NodeId;
use crate::params::MAILBOX_NONCE_BYTES;
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};

/// Domain of the proof of possession in Register.
pub const REGISTER_DOMAIN: &[u8] = b"wesh/mailbox/1 register\0";
/// Domain of a Pull signature.
pub const PULL_DOMAIN: &[u8] = b"wesh/mailbox/1 pull\0";
/// Domain of a Confirm signature.
pub const CONFIRM_DOMAIN: &[u8] = b"wesh/mailbox/1 confirm\0";

/// `REGISTER_DOMAIN ‖ provider ‖ mailbox ‖ public key ‖ pull secret`: the proof binds the
/// secret too, so nobody can register someone else's key with a secret of their own.
pub fn register_message(
    provider: &NodeId,
    mailbox: &MailboxId,
    public_key: &[u8; PUBLIC_KEY_BYTES],
    pull_secret: &[u8; 32],
) -> Vec<u8> {
    let mut m = Vec::with_capacity(REGISTER_DOMAIN.len() + 4 * 32);
    m.extend_from_slice(REGISTER_DOMAIN);
    m.extend_from_slice(provider.as_bytes());
    m.extend_from_slice(mailbox.as_bytes());
    m.extend_from_slice(public_key);
    m.extend_from_slice(pull_secret);
    m
}

/// `PULL_DOMAIN ‖ provider ‖ mailbox ‖ nonce ‖ max (u16)`.
pub fn pull_message(
    provider: &NodeId,
    mailbox: &MailboxId,
    nonce: &[u8; MAILBOX_NONCE_BYTES],
    max: u16,
) -> Vec<u8> {
    let mut m = Vec::with_capacity(PULL_DOMAIN.len() + 3 * 32 + 2);
    m.extend_from_slice(PULL_DOMAIN);
    m.extend_from_slice(provider.as_bytes());
    m.extend_from_slice(mailbox.as_bytes());
    m.extend_from_slice(nonce);
    m.extend_from_slice(&max.to_be_bytes());
    m
}

/// `CONFIRM_DOMAIN ‖ provider ‖ mailbox ‖ count (u16) ‖ seqs (u64 each)`, the same bytes
/// as the Confirm body, so what is signed is exactly what is deleted.
pub fn confirm_message(provider: &NodeId, mailbox: &MailboxId, seqs: &[u64]) -> Vec<u8> {
    let mut m = Vec::with_capacity(CONFIRM_DOMAIN.len() + 2 * 32 + 2 + 8 * seqs.len());
    m.extend_from_slice(CONFIRM_DOMAIN);
    m.extend_from_slice(provider.as_bytes());
    m.extend_from_slice(mailbox.as_bytes());
    let count = u16::try_from(seqs.len()).unwrap_or(u16::MAX);
    m.extend_from_slice(&count.to_be_bytes());
    for seq in seqs {
        m.extend_from_slice(&seq.to_be_bytes());
    }
    m
}

/// Signs `message` with the mailbox key.
pub fn sign(key: &SigningKey, message: &[u8]) -> [u8; SIGNATURE_BYTES] {
    use ed25519_dalek::Signer;
    key.sign(message).to_bytes()
}

/// Parses a mailbox public key, refusing encodings that are not points and small-order
/// (weak) keys, for which a signature proves nothing.
pub fn parse_key(public_key: &[u8; PUBLIC_KEY_BYTES]) -> Option<VerifyingKey> {
    VerifyingKey::from_bytes(public_key)
        .ok()
        .filter(|key| !key.is_weak())
}

/// Strict verification (no malleable signatures, no small-order components).
pub fn verify(
    public_key: &[u8; PUBLIC_KEY_BYTES],
    message: &[u8],
    signature: &[u8; SIGNATURE_BYTES],
) -> bool {
    parse_key(public_key).is_some_and(|key| {
        key.verify_strict(message, &Signature::from_bytes(signature))
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn signatures_are_bound_to_provider_and_step() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let public = key.verifying_key().to_bytes();
        let mailbox = MailboxId([1; 32]);
        let here = NodeId([2; 32]);
        let there = NodeId([3; 32]);
        let m = pull_message(&here, &mailbox, &[4; 32], 16);
        let sig = sign(&key, &m);
        assert!(verify(&public, &m, &sig));
        assert!(!verify(
            &public,
            &pull_message(&there, &mailbox, &[4; 32], 16),
            &sig
        ));
        assert!(!verify(
            &public,
            &pull_message(&here, &mailbox, &[4; 32], 15),
            &sig
        ));
        // the same bytes after another domain are another message
        assert_ne!(
            confirm_message(&here, &mailbox, &[1]),
            pull_message(&here, &mailbox, &[4; 32], 16)
        );
        // the identity point is a weak key
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(parse_key(&identity).is_none());
    }
}
