//! Where a provider keeps mailboxes, behind [`MailboxBackend`]: the contract every backend
//! keeps (the node's rocksdb store, [`InMemoryBackend`] here), its rules computed by
//! [`semantics`](super::semantics), and checked for any backend by
//! [`contract::check_contract`](super::contract::check_contract).

use super::semantics::{MailboxLimits, MailboxUsage, Refusal, Registered, check_public_key};
use super::wire::PUBLIC_KEY_BYTES;
use super::{MailboxId, PullSecret};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use thiserror::Error;

/// Why a backend did not do what was asked.
#[derive(Debug, Error)]
pub enum BackendError {
    /// A rule of the contract refused it (the same for every backend).
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The storage itself failed; nothing was changed.
    #[error("mailbox storage failed: {0}")]
    Storage(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl BackendError {
    /// The refusal, if a rule refused.
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            BackendError::Refused(r) => Some(r),
            BackendError::Storage(_) => None,
        }
    }
}

/// What a provider knows about a registered mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxKeys {
    /// Ed25519 mailbox key (checked at registration).
    pub public_key: [u8; PUBLIC_KEY_BYTES],
    pub pull_secret: PullSecret,
}

/// Storage of mailboxes and of the payloads addressed to them. `now` is Unix seconds.
///
/// The contract (every rule computed by [`semantics`](super::semantics)):
/// - registration: the key must be an Ed25519 point; registering again with the same key
///   replaces the pull secret and keeps payloads and quotas; another key is refused
///   ([`Refusal::KeyMismatch`]). A new mailbox gets the backend's default quotas.
/// - numbering: a mailbox's payloads are numbered from
///   [`MAILBOX_FIRST_SEQ`](crate::params::MAILBOX_FIRST_SEQ) (0) up; a number is never reused,
///   not after a delete, an expiry or a restart, so a replayed or late Confirm can only
///   delete what its signer already confirmed. A refused payload uses up no number.
/// - payloads: empty ones and ones above `max_payload_bytes` are refused.
/// - duplicates: a payload with the same bytes as one stored in the same mailbox within the
///   TTL is not stored again; the earlier number is returned, even if it was deleted since
///   (a retransmission of a delivered payload is not delivered twice).
/// - quota: a payload that would exceed the count or byte quota is refused and nothing is
///   stored; payloads past the TTL are swept first, so they never make a mailbox full.
/// - expiry: a payload expires at `stored_at + ttl`; fetch never returns an expired one
///   (lazy expiry), and [`expire`](Self::expire) removes them all.
/// - fetch returns the oldest payloads from a number on and does not delete: only delete
///   (a signed Confirm, or the provider's own reader) does.
pub trait MailboxBackend {
    /// Registers `mailbox` for `public_key` with `pull_secret` (the server checked the
    /// proof of possession).
    fn register(
        &mut self,
        mailbox: MailboxId,
        public_key: [u8; PUBLIC_KEY_BYTES],
        pull_secret: PullSecret,
    ) -> Result<Registered, BackendError>;

    fn key_of(&self, mailbox: &MailboxId) -> Option<MailboxKeys>;

    /// Stores a payload at `now`; returns its number (or the earlier one of a duplicate).
    fn store(&mut self, mailbox: &MailboxId, payload: &[u8], now: u64)
    -> Result<u64, BackendError>;

    /// Up to `max` live payloads numbered `from` or more, oldest first, with their numbers.
    fn fetch(
        &mut self,
        mailbox: &MailboxId,
        from: u64,
        max: usize,
        now: u64,
    ) -> Result<Vec<(u64, Vec<u8>)>, BackendError>;

    /// Payloads stored and not yet deleted (expired ones not yet removed included).
    fn remaining(&self, mailbox: &MailboxId) -> Result<u64, BackendError>;

    /// Deletes these numbers; returns how many existed. Unknown numbers are ignored.
    fn delete(&mut self, mailbox: &MailboxId, seqs: &[u64]) -> Result<u32, BackendError>;

    /// Removes every payload past the TTL at `now`; returns how many.
    fn expire(&mut self, now: u64) -> Result<usize, BackendError>;
}

#[derive(Debug)]
struct Stored {
    keys: MailboxKeys,
    usage: MailboxUsage,
    /// seq → (stored_at, payload)
    payloads: BTreeMap<u64, (u64, Vec<u8>)>,
    /// SHA-256 of a payload → (seq, stored_at), kept until the TTL even after a delete.
    seen: HashMap<[u8; 32], (u64, u64)>,
}

impl Stored {
    fn sweep(&mut self, limits: &MailboxLimits, now: u64) -> usize {
        let expired: Vec<u64> = self
            .payloads
            .iter()
            .filter(|(_, (at, _))| limits.is_expired(*at, now))
            .map(|(seq, _)| *seq)
            .collect();
        for seq in &expired {
            if let Some((_, p)) = self.payloads.remove(seq) {
                self.usage.release(p.len() as u64);
            }
        }
        self.seen.retain(|_, (_, at)| !limits.is_expired(*at, now));
        expired.len()
    }
}

/// In-memory backend for tests, simulations and the in-process testnet.
#[derive(Debug, Default)]
pub struct InMemoryBackend {
    limits: MailboxLimits,
    mailboxes: HashMap<MailboxId, Stored>,
}

impl InMemoryBackend {
    pub fn new(limits: MailboxLimits) -> Result<Self, Refusal> {
        limits.validate()?;
        Ok(InMemoryBackend {
            limits,
            mailboxes: HashMap::new(),
        })
    }

    /// Payloads held for a mailbox (0 for an unknown one).
    pub fn stored(&self, mailbox: &MailboxId) -> usize {
        self.mailboxes.get(mailbox).map_or(0, |s| s.payloads.len())
    }

    fn mailbox(&mut self, mailbox: &MailboxId) -> Result<&mut Stored, Refusal> {
        self.mailboxes
            .get_mut(mailbox)
            .ok_or(Refusal::UnknownMailbox)
    }
}

impl MailboxBackend for InMemoryBackend {
    fn register(
        &mut self,
        mailbox: MailboxId,
        public_key: [u8; PUBLIC_KEY_BYTES],
        pull_secret: PullSecret,
    ) -> Result<Registered, BackendError> {
        check_public_key(&public_key)?;
        let keys = MailboxKeys {
            public_key,
            pull_secret,
        };
        match self.mailboxes.get_mut(&mailbox) {
            Some(stored) if stored.keys.public_key == public_key => {
                stored.keys = keys;
                Ok(Registered::AlreadyRegistered)
            }
            Some(_) => Err(Refusal::KeyMismatch.into()),
            None => {
                let stored = Stored {
                    keys,
                    usage: self.limits.new_usage(),
                    payloads: BTreeMap::new(),
                    seen: HashMap::new(),
                };
                self.mailboxes.insert(mailbox, stored);
                Ok(Registered::Created)
            }
        }
    }

    fn key_of(&self, mailbox: &MailboxId) -> Option<MailboxKeys> {
        self.mailboxes.get(mailbox).map(|s| s.keys.clone())
    }

    fn store(
        &mut self,
        mailbox: &MailboxId,
        payload: &[u8],
        now: u64,
    ) -> Result<u64, BackendError> {
        let limits = self.limits;
        limits.check_payload(payload.len())?;
        let stored = self.mailbox(mailbox)?;
        let digest: [u8; 32] = Sha256::digest(payload).into();
        if let Some(&(seq, at)) = stored.seen.get(&digest)
            && !limits.is_expired(at, now)
        {
            return Ok(seq);
        }
        let len = payload.len() as u64;
        if stored.usage.fits(len).is_err() {
            stored.sweep(&limits, now);
        }
        let seq = stored.usage.admit(len)?;
        stored.payloads.insert(seq, (now, payload.to_vec()));
        stored.seen.insert(digest, (seq, now));
        Ok(seq)
    }

    fn fetch(
        &mut self,
        mailbox: &MailboxId,
        from: u64,
        max: usize,
        now: u64,
    ) -> Result<Vec<(u64, Vec<u8>)>, BackendError> {
        let limits = self.limits;
        let stored = self.mailbox(mailbox)?;
        Ok(stored
            .payloads
            .range(from..)
            .filter(|(_, (at, _))| !limits.is_expired(*at, now))
            .take(max)
            .map(|(&seq, (_, payload))| (seq, payload.clone()))
            .collect())
    }

    fn remaining(&self, mailbox: &MailboxId) -> Result<u64, BackendError> {
        self.mailboxes
            .get(mailbox)
            .map(|s| u64::from(s.usage.count))
            .ok_or(Refusal::UnknownMailbox.into())
    }

    fn delete(&mut self, mailbox: &MailboxId, seqs: &[u64]) -> Result<u32, BackendError> {
        let stored = self.mailbox(mailbox)?;
        let mut deleted = 0u32;
        for seq in seqs {
            if let Some((_, p)) = stored.payloads.remove(seq) {
                stored.usage.release(p.len() as u64);
                deleted = deleted.saturating_add(1);
            }
        }
        Ok(deleted)
    }

    fn expire(&mut self, now: u64) -> Result<usize, BackendError> {
        let limits = self.limits;
        Ok(self
            .mailboxes
            .values_mut()
            .map(|s| s.sweep(&limits, now))
            .sum())
    }
}
