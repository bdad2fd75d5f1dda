//! The rules every mailbox backend follows, as functions both backends call: which payloads
//! are accepted, how they are numbered, when one is a duplicate, when it expires, and when a
//! mailbox is full. [`MailboxBackend`](super::MailboxBackend) states the contract; this
//! computes its decisions.

use crate::params::{
    MAILBOX_FIRST_SEQ, MAILBOX_QUOTA_BYTES, MAILBOX_QUOTA_PAYLOADS, MAILBOX_TTL,
    MAX_PLAINTEXT_BYTES,
};
use std::time::Duration;
use thiserror::Error;

/// Limits of a mailbox backend; the quotas are copied into a mailbox when it registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailboxLimits {
    /// How long a payload is kept after it is stored, in whole seconds ([`MAILBOX_TTL`]);
    /// also the duplicate window.
    pub ttl: Duration,
    /// Most payloads a mailbox holds ([`MAILBOX_QUOTA_PAYLOADS`]).
    pub quota_payloads: u32,
    /// Most payload bytes a mailbox holds ([`MAILBOX_QUOTA_BYTES`]).
    pub quota_bytes: u64,
    /// Largest payload accepted: what a final-hop packet carries ([`MAX_PLAINTEXT_BYTES`]).
    pub max_payload_bytes: usize,
}

impl Default for MailboxLimits {
    fn default() -> Self {
        MailboxLimits {
            ttl: MAILBOX_TTL,
            quota_payloads: MAILBOX_QUOTA_PAYLOADS,
            quota_bytes: MAILBOX_QUOTA_BYTES,
            max_payload_bytes: MAX_PLAINTEXT_BYTES,
        }
    }
}

impl MailboxLimits {
    /// Refuses limits no mailbox could work with.
    pub fn validate(&self) -> Result<(), Refusal> {
        if self.ttl.as_secs() == 0 {
            return Err(Refusal::InvalidLimits("ttl must be at least one second"));
        }
        if self.quota_payloads == 0 || self.quota_bytes == 0 {
            return Err(Refusal::InvalidLimits("quotas must be non-zero"));
        }
        if self.max_payload_bytes == 0 {
            return Err(Refusal::InvalidLimits("max_payload_bytes must be non-zero"));
        }
        Ok(())
    }

    /// Whether a payload stored at `stored_at` is gone at `now` (Unix seconds): alive at
    /// `stored_at + ttl - 1`, expired at `stored_at + ttl`. A duplicate-index entry expires
    /// the same way, so a payload arriving twice within the TTL is stored once.
    pub fn is_expired(&self, stored_at: u64, now: u64) -> bool {
        now >= stored_at.saturating_add(self.ttl.as_secs())
    }

    /// Refuses empty and oversized payloads.
    pub fn check_payload(&self, len: usize) -> Result<(), Refusal> {
        if len == 0 {
            return Err(Refusal::EmptyPayload);
        }
        if len > self.max_payload_bytes {
            return Err(Refusal::PayloadTooLarge {
                len,
                max: self.max_payload_bytes,
            });
        }
        Ok(())
    }

    /// The usage record of a mailbox registered now with the default quotas.
    pub fn new_usage(&self) -> MailboxUsage {
        MailboxUsage::new(self.quota_payloads, self.quota_bytes)
    }
}

/// Why a backend refuses a request. Every backend refuses for the same reasons.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Refusal {
    #[error("invalid mailbox limits: {0}")]
    InvalidLimits(&'static str),
    #[error("mailbox public key is not a valid Ed25519 public key")]
    InvalidPublicKey,
    #[error("mailbox is already registered with a different public key")]
    KeyMismatch,
    #[error("mailbox is not registered")]
    UnknownMailbox,
    #[error("payload is empty")]
    EmptyPayload,
    #[error("payload of {len} bytes exceeds the {max}-byte limit")]
    PayloadTooLarge { len: usize, max: usize },
    #[error("mailbox is full: it holds its quota of {limit} payloads")]
    PayloadQuotaExceeded { limit: u32 },
    #[error("mailbox is full: {held} + {len} bytes would exceed its {limit}-byte quota")]
    ByteQuotaExceeded { held: u64, len: u64, limit: u64 },
    #[error("mailbox has exhausted its sequence numbers")]
    SequenceExhausted,
}

impl Refusal {
    /// The mailbox is full (a quota refused the payload).
    pub fn is_full(&self) -> bool {
        matches!(
            self,
            Refusal::PayloadQuotaExceeded { .. } | Refusal::ByteQuotaExceeded { .. }
        )
    }
}

/// Refuses a 32-byte string that is not an Ed25519 public key.
pub fn check_public_key(key: &[u8; 32]) -> Result<(), Refusal> {
    ed25519_dalek::VerifyingKey::from_bytes(key)
        .map(|_| ())
        .map_err(|_| Refusal::InvalidPublicKey)
}

/// What a registration did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registered {
    /// The mailbox is new.
    Created,
    /// The mailbox already existed with this very key; its payloads and quotas stay.
    AlreadyRegistered,
}

/// A mailbox's quotas, counters and next sequence number: what a backend keeps per mailbox
/// and updates in the same write as the payloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailboxUsage {
    pub quota_payloads: u32,
    pub quota_bytes: u64,
    /// The next sequence number to hand out; only ever grows.
    pub next_seq: u64,
    /// Payloads held (expired ones not yet removed included).
    pub count: u32,
    /// Payload bytes held.
    pub bytes: u64,
}

impl MailboxUsage {
    /// A new, empty mailbox with these quotas: numbering starts at [`MAILBOX_FIRST_SEQ`].
    pub fn new(quota_payloads: u32, quota_bytes: u64) -> Self {
        MailboxUsage {
            quota_payloads,
            quota_bytes,
            next_seq: MAILBOX_FIRST_SEQ,
            count: 0,
            bytes: 0,
        }
    }

    /// Whether a new payload of `len` bytes fits the quotas.
    pub fn fits(&self, len: u64) -> Result<(), Refusal> {
        if self.count >= self.quota_payloads {
            return Err(Refusal::PayloadQuotaExceeded {
                limit: self.quota_payloads,
            });
        }
        if self.bytes.saturating_add(len) > self.quota_bytes {
            return Err(Refusal::ByteQuotaExceeded {
                held: self.bytes,
                len,
                limit: self.quota_bytes,
            });
        }
        Ok(())
    }

    /// Takes in a new payload of `len` bytes: its sequence number, or why it is refused
    /// (nothing changes then, so a refusal uses up no number).
    pub fn admit(&mut self, len: u64) -> Result<u64, Refusal> {
        self.fits(len)?;
        let seq = self.next_seq;
        self.next_seq = seq.checked_add(1).ok_or(Refusal::SequenceExhausted)?;
        self.count = self.count.saturating_add(1);
        self.bytes = self.bytes.saturating_add(len);
        Ok(seq)
    }

    /// A payload of `len` bytes left (deleted or expired).
    pub fn release(&mut self, len: u64) {
        self.count = self.count.saturating_sub(1);
        self.bytes = self.bytes.saturating_sub(len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_at_stored_at_plus_ttl() {
        let limits = MailboxLimits {
            ttl: Duration::from_secs(60),
            ..MailboxLimits::default()
        };
        assert!(!limits.is_expired(1_000, 1_059));
        assert!(limits.is_expired(1_000, 1_060));
        assert!(
            !limits.is_expired(u64::MAX - 1, u64::MAX - 1),
            "no overflow"
        );
    }

    #[test]
    fn admission_numbers_from_zero_and_refusals_use_no_number() {
        let mut usage = MailboxUsage::new(2, 100);
        assert_eq!(usage.admit(10), Ok(0));
        assert_eq!(
            usage.admit(91),
            Err(Refusal::ByteQuotaExceeded {
                held: 10,
                len: 91,
                limit: 100
            })
        );
        assert_eq!(usage.admit(90), Ok(1));
        assert_eq!(
            usage.admit(0),
            Err(Refusal::PayloadQuotaExceeded { limit: 2 })
        );
        usage.release(10);
        assert_eq!(usage.admit(5), Ok(2));
        assert_eq!((usage.count, usage.bytes), (2, 95));
    }

    #[test]
    fn payload_and_limit_checks() {
        let limits = MailboxLimits::default();
        assert_eq!(limits.check_payload(0), Err(Refusal::EmptyPayload));
        assert!(limits.check_payload(MAX_PLAINTEXT_BYTES).is_ok());
        assert!(limits.check_payload(MAX_PLAINTEXT_BYTES + 1).is_err());
        assert!(limits.validate().is_ok());
        let zero = MailboxLimits {
            quota_bytes: 0,
            ..limits
        };
        assert!(zero.validate().is_err());
        // roughly half of all y-coordinates have no point on the curve
        let refused = (0u8..=255)
            .filter(|b| check_public_key(&[*b; 32]).is_err())
            .count();
        assert!(refused > 0);
    }

    #[test]
    fn exhausted_sequence_numbers_are_refused() {
        let mut usage = MailboxUsage::new(10, 100);
        usage.next_seq = u64::MAX;
        assert_eq!(usage.admit(1), Err(Refusal::SequenceExhausted));
    }
}
