//! Sealing of pull responses: every slot, real or dummy, is the same number of bytes of
//! ChaCha20-Poly1305 ciphertext, so only the client can tell them apart.
//!
//! Key: `HKDF-SHA256(salt = challenge nonce, ikm = pull secret, info = PULL_KEY_INFO ‖
//! provider ‖ mailbox)`, 32 bytes. The challenge nonce is single-use, so each pull has its
//! own key and the AEAD nonce can be the slot index (0 = header, 1..=PULL_SLOTS = slots).
//! Limits (see spec): the provider knows the pull secret (it must, to seal), so this hides
//! nothing from the provider; it hides the real/dummy split from anyone who reads the
//! frames past the Noise link without the secret. The secret crossed that same link once,
//! at registration, so its secrecy rests on that Noise session.

use super::wire::pull_sealed_bytes;
use super::{MailboxId, PullSecret};
use crate::NodeId;
use crate::params::{
    MAILBOX_NONCE_BYTES, MAX_PLAINTEXT_BYTES, PULL_HEADER_BYTES, PULL_SLOT_BYTES,
    PULL_SLOT_PLAINTEXT_BYTES, PULL_SLOTS,
};
use chacha20poly1305::aead::AeadInOut;
use chacha20poly1305::{ChaCha20Poly1305, Key, KeyInit, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;
use thiserror::Error;
use zeroize::Zeroizing;

/// HKDF info prefix of the per-pull key.
pub const PULL_KEY_INFO: &[u8] = b"wesh/mailbox/1 pull key\0";

const FLAG_DUMMY: u8 = 0;
const FLAG_REAL: u8 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SealError {
    #[error("key derivation failed")]
    Kdf,
    #[error("more real payloads than slots")]
    TooManyPayloads,
    #[error("{0} slots asked for (1..=PULL_SLOTS)")]
    BadSlotCount(usize),
    #[error("payload of {0} bytes exceeds a mix plaintext")]
    PayloadTooLong(usize),
    #[error("encryption failed")]
    Encrypt,
    #[error("sealed body has the wrong length")]
    BadLength,
    #[error("slot {0} does not authenticate")]
    BadTag(usize),
    #[error("slot {0} is not canonical")]
    BadSlot(usize),
}

/// One opened pull response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// Real payloads with their seqs, in slot order.
    pub payloads: Vec<(u64, Vec<u8>)>,
    /// Payloads the provider still holds beyond these.
    pub remaining: u32,
}

/// The per-pull AEAD.
pub fn pull_cipher(
    secret: &PullSecret,
    provider: &NodeId,
    mailbox: &MailboxId,
    nonce: &[u8; MAILBOX_NONCE_BYTES],
) -> Result<ChaCha20Poly1305, SealError> {
    let mut info = Vec::with_capacity(PULL_KEY_INFO.len() + 64);
    info.extend_from_slice(PULL_KEY_INFO);
    info.extend_from_slice(provider.as_bytes());
    info.extend_from_slice(mailbox.as_bytes());
    let mut okm = Zeroizing::new([0u8; 32]);
    Hkdf::<Sha256>::new(Some(nonce), secret.as_bytes())
        .expand(&info, okm.as_mut())
        .map_err(|_| SealError::Kdf)?;
    Ok(ChaCha20Poly1305::new(&Key::from(*okm)))
}

fn aead_nonce(index: usize) -> Nonce {
    let mut n = [0u8; 12];
    // PULL_SLOTS is tiny, so the index always fits in 8 bytes
    n[4..].copy_from_slice(&(index as u64).to_be_bytes());
    Nonce::from(n)
}

/// Seals `remaining` and the real payloads into `slots` slots (the pull's `max`, 1..=
/// `PULL_SLOTS`), padding with dummy slots: always [`pull_sealed_bytes`]`(slots)`, so the
/// size says how many slots the client asks for (its profile) and never how many are
/// real. Same work for every slot, real or dummy.
pub fn seal_pull(
    cipher: &ChaCha20Poly1305,
    remaining: u32,
    payloads: &[(u64, Vec<u8>)],
    slots: usize,
) -> Result<Vec<u8>, SealError> {
    if slots == 0 || slots > PULL_SLOTS {
        return Err(SealError::BadSlotCount(slots));
    }
    if payloads.len() > slots {
        return Err(SealError::TooManyPayloads);
    }
    let mut out = Vec::with_capacity(pull_sealed_bytes(slots));
    let mut header = remaining.to_be_bytes().to_vec();
    cipher
        .encrypt_in_place(&aead_nonce(0), &[], &mut header)
        .map_err(|_| SealError::Encrypt)?;
    out.extend_from_slice(&header);
    for index in 0..slots {
        let mut slot = Zeroizing::new(vec![0u8; PULL_SLOT_PLAINTEXT_BYTES]);
        if let Some((seq, payload)) = payloads.get(index) {
            let len = u16::try_from(payload.len())
                .ok()
                .filter(|&len| usize::from(len) <= MAX_PLAINTEXT_BYTES)
                .ok_or(SealError::PayloadTooLong(payload.len()))?;
            slot[0] = FLAG_REAL;
            slot[1..9].copy_from_slice(&seq.to_be_bytes());
            slot[9..11].copy_from_slice(&len.to_be_bytes());
            slot[11..11 + payload.len()].copy_from_slice(payload);
        }
        // a dummy is flag 0, seq 0, length 0 and zero padding: its ciphertext is as random
        // as a real slot's, and the client can still authenticate it
        cipher
            .encrypt_in_place(&aead_nonce(index + 1), &[], &mut *slot)
            .map_err(|_| SealError::Encrypt)?;
        out.extend_from_slice(&slot);
    }
    Ok(out)
}

/// Opens a sealed pull body: exactly `max` slots (what the pull asked for), every one
/// authenticated and canonical, with distinct seqs.
pub fn open_pull(cipher: &ChaCha20Poly1305, sealed: &[u8], max: u16) -> Result<Opened, SealError> {
    if max == 0
        || usize::from(max) > PULL_SLOTS
        || sealed.len() != pull_sealed_bytes(usize::from(max))
    {
        return Err(SealError::BadLength);
    }
    let (header, slots) = sealed.split_at(PULL_HEADER_BYTES);
    let mut header = header.to_vec();
    cipher
        .decrypt_in_place(&aead_nonce(0), &[], &mut header)
        .map_err(|_| SealError::BadTag(0))?;
    let remaining = header
        .as_slice()
        .try_into()
        .map(u32::from_be_bytes)
        .map_err(|_| SealError::BadSlot(0))?;
    let mut payloads: Vec<(u64, Vec<u8>)> = Vec::new();
    for (i, sealed_slot) in slots.chunks_exact(PULL_SLOT_BYTES).enumerate() {
        let index = i + 1;
        let mut slot = Zeroizing::new(sealed_slot.to_vec());
        cipher
            .decrypt_in_place(&aead_nonce(index), &[], &mut *slot)
            .map_err(|_| SealError::BadTag(index))?;
        let bad = SealError::BadSlot(index);
        let (&flag, rest) = slot.split_first().ok_or(bad.clone())?;
        let (seq, rest) = rest.split_at_checked(8).ok_or(bad.clone())?;
        let (len, body) = rest.split_at_checked(2).ok_or(bad.clone())?;
        let seq = u64::from_be_bytes(seq.try_into().map_err(|_| bad.clone())?);
        let len = usize::from(u16::from_be_bytes(len.try_into().map_err(|_| bad.clone())?));
        let (payload, padding) = body.split_at_checked(len).ok_or(bad.clone())?;
        if padding.iter().any(|&b| b != 0) {
            return Err(bad);
        }
        match flag {
            FLAG_DUMMY if seq == 0 && len == 0 => {}
            FLAG_REAL => {
                if payloads.len() >= usize::from(max) || payloads.iter().any(|(s, _)| *s == seq) {
                    return Err(bad);
                }
                payloads.push((seq, payload.to_vec()));
            }
            _ => return Err(bad),
        }
    }
    Ok(Opened {
        payloads,
        remaining,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn cipher(nonce: u8) -> ChaCha20Poly1305 {
        pull_cipher(
            &PullSecret([1; 32]),
            &NodeId([2; 32]),
            &MailboxId([3; 32]),
            &[nonce; 32],
        )
        .unwrap()
    }

    #[test]
    fn seal_open_round_trip_and_constant_size() {
        let c = cipher(4);
        let empty = seal_pull(&c, 0, &[], PULL_SLOTS).unwrap();
        let full: Vec<_> = (0..PULL_SLOTS as u64)
            .map(|s| (s, vec![s as u8; MAX_PLAINTEXT_BYTES]))
            .collect();
        let sealed = seal_pull(&c, 7, &full, PULL_SLOTS).unwrap();
        assert_eq!(empty.len(), sealed.len());
        let opened = open_pull(&c, &sealed, PULL_SLOTS as u16).unwrap();
        assert_eq!(opened.payloads, full);
        assert_eq!(opened.remaining, 7);
        assert_eq!(open_pull(&c, &empty, 16).unwrap().payloads, vec![]);
        // an answer of another size than asked for is refused
        assert_eq!(open_pull(&c, &sealed, 1), Err(SealError::BadLength));
        assert_eq!(seal_pull(&c, 0, &full, 15), Err(SealError::TooManyPayloads));
        // another nonce gives another key
        assert_eq!(
            open_pull(&cipher(5), &sealed, 16),
            Err(SealError::BadTag(0))
        );
        let mut flipped = sealed.clone();
        flipped[PULL_HEADER_BYTES + 3] ^= 1;
        assert_eq!(open_pull(&c, &flipped, 16), Err(SealError::BadTag(1)));
        assert_eq!(
            seal_pull(&c, 0, &[(1, vec![0; MAX_PLAINTEXT_BYTES + 1])], 1),
            Err(SealError::PayloadTooLong(MAX_PLAINTEXT_BYTES + 1))
        );
    }

    #[test]
    fn an_answer_has_as_many_slots_as_asked_whatever_is_real() {
        let c = cipher(6);
        for slots in [1, 3, PULL_SLOTS] {
            let empty = seal_pull(&c, 0, &[], slots).unwrap();
            let one = seal_pull(&c, 0, &[(9, vec![1; 40])], slots).unwrap();
            assert_eq!(empty.len(), pull_sealed_bytes(slots));
            assert_eq!(one.len(), empty.len());
            let opened = open_pull(&c, &one, slots as u16).unwrap();
            assert_eq!(opened.payloads, vec![(9, vec![1; 40])]);
        }
        assert_eq!(seal_pull(&c, 0, &[], 0), Err(SealError::BadSlotCount(0)));
        assert_eq!(
            seal_pull(&c, 0, &[], PULL_SLOTS + 1),
            Err(SealError::BadSlotCount(PULL_SLOTS + 1))
        );
        // a 3-slot answer opened as a 4-slot one is refused
        let three = seal_pull(&c, 0, &[], 3).unwrap();
        assert_eq!(open_pull(&c, &three, 4), Err(SealError::BadLength));
    }
}
