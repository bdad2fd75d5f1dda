//! The provider's replication service (`node/src/replication/service.rs` on the virtual
//! clock): `/wesh/replication/1` answers, and the worker that turns replica mailbox
//! fragments into entries verified by the production `ReplicaKeeper`.

use std::collections::BTreeMap;
use std::time::Duration;
use wesh_client::messenger::replica::{ReplicaKeeper, ReplicaStats};
use wesh_client::messenger::replica_answer::{ArchiveError, HistoryPage, ReplicaArchive};
use wesh_client::messenger::{replica_mailbox, replica_mailbox_seed};
use wesh_mix::mailbox::{InMemoryBackend, MailboxBackend, OwnMailbox, PullSecret};
use wesh_mix::{MailboxId, NodeId, ReceiveKey};

/// Fragments read from one replica mailbox per round (the node's `WORKER_BATCH`).
const WORKER_BATCH: usize = 256;

pub struct MemReplica {
    keeper: ReplicaKeeper,
    /// group → the reading state of its replica mailbox (the node's own-mailbox loop)
    readers: BTreeMap<[u8; 32], OwnMailbox>,
    /// group → kept entries; an entry's sequence number is its index + 1.
    log: BTreeMap<[u8; 32], Vec<Vec<u8>>>,
}

impl MemReplica {
    /// The replication service of provider `provider`.
    pub fn new(provider: NodeId) -> Self {
        MemReplica {
            keeper: ReplicaKeeper::new(provider.0),
            readers: BTreeMap::new(),
            log: BTreeMap::new(),
        }
    }

    pub fn stats(&self) -> ReplicaStats {
        self.keeper.stats().clone()
    }

    /// Entries kept for `group`.
    pub fn entries(&self, group: &[u8; 32]) -> usize {
        self.log.get(group).map_or(0, Vec::len)
    }

    /// Answers one request frame of `peer` (the production answer, over memory).
    pub fn answer(
        &mut self,
        request: &[u8],
        peer: NodeId,
        unix_now: u64,
        mailboxes: &mut InMemoryBackend,
    ) -> Vec<u8> {
        let mut archive = MemArchive {
            log: &mut self.log,
            mailboxes,
        };
        self.keeper
            .answer(request, peer.0, unix_now, &mut archive)
            .encode()
    }

    /// One worker round: fragments of each replica mailbox → messages → verified entries,
    /// through the same core loop as the node's ([`OwnMailbox::round`]).
    pub fn work(&mut self, mailboxes: &mut InMemoryBackend, mono: Duration, unix_now: u64) {
        let (keeper, log) = (&mut self.keeper, &mut self.log);
        for group in keeper.group_ids() {
            let mailbox = MailboxId(replica_mailbox(&group));
            let reader = self.readers.entry(group).or_insert_with(|| {
                OwnMailbox::for_key(ReceiveKey::from_ed25519_seed(&replica_mailbox_seed(&group)))
            });
            let mut keep = |bytes: &[u8]| {
                if let Ok(a) = keeper.on_message(bytes) {
                    let kept = a.entries.into_iter().map(|(_, e)| e);
                    log.entry(a.group_id).or_default().extend(kept);
                }
                true
            };
            let _ = reader.round(mailboxes, &mailbox, WORKER_BATCH, mono, unix_now, &mut keep);
        }
    }
}

/// Kept entries in memory; an entry's sequence number is its index + 1.
struct MemArchive<'a> {
    log: &'a mut BTreeMap<[u8; 32], Vec<Vec<u8>>>,
    mailboxes: &'a mut InMemoryBackend,
}

impl ReplicaArchive for MemArchive<'_> {
    /// memnet runs without payments: registrations are free
    fn charge(&mut self, _price: u64) -> Result<(), ArchiveError> {
        Ok(())
    }

    fn put_group(&mut self, group: &[u8; 32], _view: &[u8]) -> Result<(), ArchiveError> {
        self.log.entry(*group).or_default();
        Ok(())
    }

    fn open_mailbox(&mut self, group: &[u8; 32]) -> Result<(), ArchiveError> {
        self.mailboxes.register(
            MailboxId(replica_mailbox(group)),
            *group,
            PullSecret([0; 32]),
        )?;
        Ok(())
    }

    fn fetch(
        &self,
        group: &[u8; 32],
        after: u64,
        max: usize,
        budget: usize,
    ) -> Result<HistoryPage, ArchiveError> {
        let all = self.log.get(group).map(Vec::as_slice).unwrap_or(&[]);
        let start = usize::try_from(after).unwrap_or(usize::MAX).min(all.len());
        let (mut entries, mut bytes) = (Vec::new(), 0usize);
        for (i, e) in all.iter().enumerate().skip(start).take(max) {
            if !entries.is_empty() && bytes + e.len() > budget {
                break;
            }
            bytes += e.len();
            entries.push(((i + 1) as u64, e.clone()));
        }
        let more = start + entries.len() < all.len();
        Ok((entries, more))
    }
}
