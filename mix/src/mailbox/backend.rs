//! Where a provider keeps mailboxes: the node's business, behind [`MailboxBackend`].

use super::wire::PUBLIC_KEY_BYTES;
use super::{MailboxId, PullSecret};
use crate::params::MAX_PLAINTEXT_BYTES;
use std::collections::{BTreeMap, HashMap};
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BackendError {
    /// The provider does not take this mailbox (policy, quota, payment).
    #[error("registration not allowed")]
    NotAllowed,
    /// The mailbox is full.
    #[error("mailbox full")]
    Full,
    #[error("unknown mailbox")]
    UnknownMailbox,
    #[error("payload of {0} bytes exceeds a mix plaintext")]
    PayloadTooLong(usize),
    #[error("storage: {0}")]
    Storage(String),
}

/// What a provider knows about a registered mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxKeys {
    /// Ed25519 mailbox key (checked at registration).
    pub public_key: [u8; PUBLIC_KEY_BYTES],
    pub pull_secret: PullSecret,
}

/// Storage of mailboxes and of the payloads addressed to them.
///
/// Contract: seqs are unique within a mailbox forever (e.g. a counter never reused), so a
/// replayed or late Confirm can only delete what its signer already confirmed; payloads are
/// at most `MAX_PLAINTEXT_BYTES`; `fetch` does not delete (only a signed Confirm does).
pub trait MailboxBackend {
    /// Stores the mailbox (the server has checked the proof and that the mailbox is not
    /// registered under another key). Registering again with the same key replaces the
    /// pull secret.
    fn register(
        &mut self,
        mailbox: MailboxId,
        public_key: [u8; PUBLIC_KEY_BYTES],
        pull_secret: PullSecret,
    ) -> Result<(), BackendError>;

    fn key_of(&self, mailbox: &MailboxId) -> Option<MailboxKeys>;

    /// The oldest `max` stored payloads, with their seqs.
    fn fetch(
        &mut self,
        mailbox: &MailboxId,
        max: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, BackendError>;

    /// Payloads stored (fetched or not) and not yet deleted.
    fn remaining(&self, mailbox: &MailboxId) -> Result<u64, BackendError>;

    /// Deletes these seqs; returns how many existed. Unknown seqs are ignored.
    fn delete(&mut self, mailbox: &MailboxId, seqs: &[u64]) -> Result<u32, BackendError>;
}

#[derive(Debug)]
struct Stored {
    keys: MailboxKeys,
    next_seq: u64,
    payloads: BTreeMap<u64, Vec<u8>>,
}

/// In-memory backend for tests and the in-process testnet.
#[derive(Debug, Default)]
pub struct InMemoryBackend {
    mailboxes: HashMap<MailboxId, Stored>,
    /// Payloads kept per mailbox before `store` refuses (0 = unbounded).
    capacity: usize,
}

impl InMemoryBackend {
    pub fn new(capacity_per_mailbox: usize) -> Self {
        InMemoryBackend {
            mailboxes: HashMap::new(),
            capacity: capacity_per_mailbox,
        }
    }

    /// What the final hop does with a plaintext for this mailbox; returns its seq.
    pub fn store(&mut self, mailbox: &MailboxId, payload: Vec<u8>) -> Result<u64, BackendError> {
        if payload.len() > MAX_PLAINTEXT_BYTES {
            return Err(BackendError::PayloadTooLong(payload.len()));
        }
        let stored = self
            .mailboxes
            .get_mut(mailbox)
            .ok_or(BackendError::UnknownMailbox)?;
        if self.capacity != 0 && stored.payloads.len() >= self.capacity {
            return Err(BackendError::Full);
        }
        let seq = stored.next_seq;
        stored.next_seq = seq.saturating_add(1);
        stored.payloads.insert(seq, payload);
        Ok(seq)
    }

    /// Payloads held for a mailbox (0 for an unknown one).
    pub fn stored(&self, mailbox: &MailboxId) -> usize {
        self.mailboxes.get(mailbox).map_or(0, |s| s.payloads.len())
    }
}

impl MailboxBackend for InMemoryBackend {
    fn register(
        &mut self,
        mailbox: MailboxId,
        public_key: [u8; PUBLIC_KEY_BYTES],
        pull_secret: PullSecret,
    ) -> Result<(), BackendError> {
        let keys = MailboxKeys {
            public_key,
            pull_secret,
        };
        match self.mailboxes.get_mut(&mailbox) {
            Some(stored) if stored.keys.public_key == public_key => stored.keys = keys,
            Some(_) => return Err(BackendError::NotAllowed),
            None => {
                self.mailboxes.insert(
                    mailbox,
                    Stored {
                        keys,
                        next_seq: 1,
                        payloads: BTreeMap::new(),
                    },
                );
            }
        }
        Ok(())
    }

    fn key_of(&self, mailbox: &MailboxId) -> Option<MailboxKeys> {
        self.mailboxes.get(mailbox).map(|s| s.keys.clone())
    }

    fn fetch(
        &mut self,
        mailbox: &MailboxId,
        max: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, BackendError> {
        let stored = self
            .mailboxes
            .get(mailbox)
            .ok_or(BackendError::UnknownMailbox)?;
        Ok(stored
            .payloads
            .iter()
            .take(max)
            .map(|(&seq, payload)| (seq, payload.clone()))
            .collect())
    }

    fn remaining(&self, mailbox: &MailboxId) -> Result<u64, BackendError> {
        self.mailboxes
            .get(mailbox)
            .map(|s| s.payloads.len() as u64)
            .ok_or(BackendError::UnknownMailbox)
    }

    fn delete(&mut self, mailbox: &MailboxId, seqs: &[u64]) -> Result<u32, BackendError> {
        let stored = self
            .mailboxes
            .get_mut(mailbox)
            .ok_or(BackendError::UnknownMailbox)?;
        let deleted = seqs
            .iter()
            .filter(|seq| stored.payloads.remove(seq).is_some())
            .count();
        Ok(u32::try_from(deleted).unwrap_or(u32::MAX))
    }
}
