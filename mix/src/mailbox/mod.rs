//! Mailboxes (`/wesh/mailbox/1`): a client pulls from its provider what the provider stored
//! for it as final hop, Loopix-style.
//!
//! One request-response exchange per stream:
//! - `Register` (mailbox id, Ed25519 mailbox key, pull secret, proof of possession);
//! - `ChallengeRequest` → `Challenge` (single-use nonce) → `Pull` (signed) → `PullResponse`:
//!   always [`PULL_SLOTS`] sealed slots of the same size, real or dummy, so its length says
//!   nothing about how much mail there was;
//! - `Confirm` (signed seqs) once the client has stored the payloads: the provider deletes.
//!
//! Sans-I/O: [`MailboxServer::handle`] and [`MailboxClient`] turn bytes and `now` (Unix
//! seconds) into bytes and decisions; storage sits behind [`MailboxBackend`].
//! `spec/mixnet.md` ("Mailboxes") describes every frame byte by byte.
//!
//! [`PULL_SLOTS`]: crate::params::PULL_SLOTS

pub mod auth;
pub mod backend;
pub mod client;
pub mod contract;
pub mod internal;
pub mod own_mailbox;
pub mod seal;
pub mod semantics;
pub mod server;
pub mod store_layout;
pub mod wire;

pub use backend::{BackendError, InMemoryBackend, MailboxBackend, MailboxKeys};
pub use client::{ClientError, MailboxClient, PendingPull, Pulled};
pub use internal::InternalMailbox;
pub use own_mailbox::{OwnMailbox, OwnMessage, own_mailbox_limits};
pub use semantics::{MailboxLimits, MailboxUsage, Refusal, Registered};
pub use server::MailboxServer;
pub use wire::{RefusalReason, Request, Response, WireError};

use crate::params::MAILBOX_ID_BYTES;
use std::fmt;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// libp2p protocol name of the mailbox exchange.
pub const MAILBOX_PROTOCOL: &str = "/wesh/mailbox/1";

/// A mailbox's id: 32 random bytes chosen by its owner.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MailboxId(pub [u8; MAILBOX_ID_BYTES]);

impl MailboxId {
    pub fn as_bytes(&self) -> &[u8; MAILBOX_ID_BYTES] {
        &self.0
    }
}

impl fmt::Debug for MailboxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // 6 bytes tell mailboxes apart in logs without printing the whole id
        write!(f, "MailboxId(")?;
        for b in self.0.iter().take(6) {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

/// The 32-byte secret a client registers so that only it can open its pull responses.
/// Zeroed on drop; never printed.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct PullSecret(pub [u8; 32]);

impl PullSecret {
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for PullSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PullSecret(..)")
    }
}
