//! The provider's rendezvous worker (`node/src/rendezvous/service.rs` on the virtual
//! clock): reads the service mailbox, hands complete messages to the production
//! `RendezvousDesk` and sends its forwards on the responders' reply SURBs. The node also
//! keeps held drops and bindings on disk for restarts; the harness does not restart, so
//! the desk's own memory is all there is (held ids are a counter, as the node's are the
//! seqs of its held mailbox).

use super::MemNetError;
use rand_chacha::ChaCha20Rng;
use std::time::Duration;
use wesh_client::crypto::{SecretKey32, signing_key_from_seed};
use wesh_client::messenger::rendezvous_desk::{DeskOutcome, DeskStats, RendezvousDesk};
use wesh_client::messenger::rendezvous_wire::{
    rendezvous_service_mailbox, rendezvous_service_seed,
};
use wesh_mix::mailbox::{InMemoryBackend, MailboxBackend, OwnMailbox, PullSecret};
use wesh_mix::{MailboxId, NodeId, ReceiveKey, ReplySurb, reply_packets};

/// Fragments read from the service mailbox per round (the node's `WORKER_BATCH`).
const WORKER_BATCH: usize = 256;

/// How often registrations and held drops past their TTL are dropped (the node's
/// `EXPIRE_EVERY`), milliseconds.
const EXPIRE_EVERY_MS: u64 = 60_000;

pub struct MemDesk {
    desk: RendezvousDesk,
    /// The reading state of the service mailbox (the node's own-mailbox loop).
    reader: OwnMailbox,
    next_held_id: u64,
    last_expiry_ms: Option<u64>,
}

impl MemDesk {
    /// Opens the service mailbox, keyed to the provider's own id (nobody else can pull it).
    pub fn open(me: NodeId, mailboxes: &mut InMemoryBackend) -> Result<Self, MemNetError> {
        // the node keys it with its identity key; memnet ids are not Ed25519 points, so a
        // key derived from the id stands in (nobody pulls this mailbox either way)
        let key = signing_key_from_seed(&SecretKey32::from_bytes(me.0)).verifying_key();
        mailboxes.register(
            MailboxId(rendezvous_service_mailbox()),
            key.to_bytes(),
            PullSecret([0; 32]),
        )?;
        Ok(MemDesk {
            desk: RendezvousDesk::new(),
            reader: OwnMailbox::for_key(ReceiveKey::from_ed25519_seed(&rendezvous_service_seed())),
            next_held_id: 1,
            last_expiry_ms: None,
        })
    }

    pub fn stats(&self) -> DeskStats {
        self.desk.stats()
    }

    /// One round: service mailbox → desk, expiry when due, then the forwards due, as
    /// reply packets (first hop, packet).
    pub fn work(
        &mut self,
        mailboxes: &mut InMemoryBackend,
        rng: &mut ChaCha20Rng,
        now_ms: u64,
        mono: Duration,
    ) -> Vec<(NodeId, Vec<u8>)> {
        let service = MailboxId(rendezvous_service_mailbox());
        let (desk, next_held_id) = (&mut self.desk, &mut self.next_held_id);
        // Updated: its `gone` ids are what the node deletes from disk; refusals are counted
        // by the desk
        let mut keep = |bytes: &[u8]| {
            if let Ok(DeskOutcome::Hold { mailbox, envelope }) = desk.on_message(now_ms, bytes) {
                desk.hold(*next_held_id, mailbox, envelope, now_ms);
                *next_held_id += 1;
            }
            true
        };
        let unix_now = now_ms / 1000;
        let _ = self
            .reader
            .round(mailboxes, &service, WORKER_BATCH, mono, unix_now, &mut keep);
        if self
            .last_expiry_ms
            .is_none_or(|t| now_ms.saturating_sub(t) >= EXPIRE_EVERY_MS)
        {
            self.last_expiry_ms = Some(now_ms);
            // the ids gone are what the node deletes from disk: nothing to do here
            let _ = self.desk.expire(now_ms);
        }
        // bindings are what the node keeps on disk for restarts; the harness does not restart
        let _ = self.desk.take_binding_changes();
        let mut out = Vec::new();
        for f in self.desk.poll(now_ms) {
            let Ok(surb) = ReplySurb::from_bytes(&f.surb) else {
                continue;
            };
            if let Ok(packets) = reply_packets(rng, &f.frame, &mut vec![surb]) {
                out.extend(packets);
            }
        }
        out
    }
}
