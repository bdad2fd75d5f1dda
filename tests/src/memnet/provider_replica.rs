//! The provider's replication service (`node/src/replication/service.rs` on the virtual
//! clock): `/wesh/replication/1` answers, and the worker that turns replica mailbox
//! fragments into entries verified by the production `ReplicaKeeper`.

use std::collections::BTreeMap;
use std::time::Duration;
use wesh_client::messenger::replica::{
    ReplicaKeeper, ReplicaRequest, ReplicaResponse, ReplicaStats,
};
use wesh_client::messenger::replica_mailbox;
use wesh_mix::MailboxId;
use wesh_mix::mailbox::{InMemoryBackend, MailboxBackend, OwnMailbox, PullSecret};

/// Fragments read from one replica mailbox per round (the node's `WORKER_BATCH`).
const WORKER_BATCH: usize = 256;

/// Entries per history answer at most (the node's `MAX_FETCH_ENTRIES`).
const MAX_FETCH_ENTRIES: usize = 512;

pub struct MemReplica {
    keeper: ReplicaKeeper,
    /// group → the reading state of its replica mailbox (the node's own-mailbox loop)
    readers: BTreeMap<[u8; 32], OwnMailbox>,
    /// group → kept entries; an entry's sequence number is its index + 1.
    log: BTreeMap<[u8; 32], Vec<Vec<u8>>>,
}

impl Default for MemReplica {
    fn default() -> Self {
        MemReplica {
            keeper: ReplicaKeeper::new(),
            readers: BTreeMap::new(),
            log: BTreeMap::new(),
        }
    }
}

impl MemReplica {
    pub fn stats(&self) -> ReplicaStats {
        self.keeper.stats().clone()
    }

    /// Entries kept for `group`.
    pub fn entries(&self, group: &[u8; 32]) -> usize {
        self.log.get(group).map_or(0, Vec::len)
    }

    /// Answers one request frame.
    pub fn answer(&mut self, request: &[u8], mailboxes: &mut InMemoryBackend) -> Vec<u8> {
        let refused = |reason: String| ReplicaResponse::Refused { reason };
        let response = match ReplicaRequest::decode(request) {
            Err(e) => refused(format!("bad request: {e}")),
            Ok(ReplicaRequest::Register { view }) => match self.keeper.register(&view) {
                Err(e) => refused(format!("bad replication view: {e}")),
                // keyed to the group ID: nobody holds its private key, only the worker reads
                Ok(group_id) => match mailboxes.register(
                    MailboxId(replica_mailbox(&group_id)),
                    group_id,
                    PullSecret([0; 32]),
                ) {
                    Ok(_) => ReplicaResponse::Registered { group_id },
                    Err(e) => refused(format!("cannot open the replica mailbox: {e}")),
                },
            },
            Ok(ReplicaRequest::Fetch {
                group_id,
                after,
                max,
            }) => {
                if !self.keeper.is_registered(&group_id) {
                    refused("group not registered here".into())
                } else {
                    let max = usize::from(max).clamp(1, MAX_FETCH_ENTRIES);
                    let all = self.log.get(&group_id).map(Vec::as_slice).unwrap_or(&[]);
                    let start = usize::try_from(after).unwrap_or(usize::MAX).min(all.len());
                    let end = start.saturating_add(max).min(all.len());
                    let entries = all[start..end]
                        .iter()
                        .enumerate()
                        .map(|(i, e)| ((start + i + 1) as u64, e.clone()))
                        .collect();
                    ReplicaResponse::Entries {
                        entries,
                        more: end < all.len(),
                    }
                }
            }
        };
        response.encode()
    }

    /// One worker round: fragments of each replica mailbox → messages → verified entries,
    /// through the same core loop as the node's ([`OwnMailbox::round`]).
    pub fn work(&mut self, mailboxes: &mut InMemoryBackend, mono: Duration, unix_now: u64) {
        let (keeper, log) = (&mut self.keeper, &mut self.log);
        for group in keeper.group_ids() {
            let mailbox = MailboxId(replica_mailbox(&group));
            let reader = self.readers.entry(group).or_default();
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
