//! The provider's half: serves register and fetch, and runs the worker that turns replica
//! mailbox fragments into verified, durable entries.

use super::REPLICATION_PROTOCOL;
use super::params::{MAX_FETCH_ENTRIES, MAX_REQUEST_BYTES, WORKER_BATCH, WORKER_EVERY};
use crate::mailboxes::exchange::{read_bounded, respond};
use crate::mailboxes::own_reader::{OwnMailboxService, spawn_own_reader};
use crate::storage::MailboxStore;
use crate::storage::replica_store::{ReplicaLog, ReplicaStoreError};
use futures::StreamExt;
use std::sync::{Arc, Mutex, PoisonError};
use thiserror::Error;
use tokio::sync::watch;
use wesh_client::messenger::replica::{ReplicaKeeper, ReplicaResponse, ReplicaStats};
use wesh_client::messenger::replica_answer::{ArchiveError, HistoryPage, ReplicaArchive};
use wesh_client::messenger::replica_mailbox;

/// Why the replication service cannot start.
#[derive(Debug, Error)]
pub enum ReplicationError {
    #[error("cannot restore the replicated groups: {0}")]
    Store(#[from] ReplicaStoreError),
    #[error("/wesh/replication/1 is registered twice")]
    AlreadyRegistered(#[from] libp2p_stream::AlreadyRegistered),
}

pub struct ReplicaService {
    keeper: Mutex<ReplicaKeeper>,
    store: Arc<dyn ReplicaLog>,
    mailboxes: Arc<MailboxStore>,
}

impl ReplicaService {
    fn keeper(&self) -> std::sync::MutexGuard<'_, ReplicaKeeper> {
        self.keeper.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn stats(&self) -> ReplicaStats {
        self.keeper().stats().clone()
    }

    /// Everything kept for `group` (the testnet checks it).
    pub fn stored_entries(&self, group: &[u8; 32]) -> Vec<Vec<u8>> {
        let (mut out, mut after) = (Vec::new(), 0);
        while let Ok((entries, more)) =
            self.store
                .fetch(group, after, MAX_FETCH_ENTRIES, usize::MAX)
        {
            after = entries.last().map_or(after, |(s, _)| *s);
            out.extend(entries.into_iter().map(|(_, e)| e));
            if !more {
                break;
            }
        }
        out
    }

    fn answer(&self, request: &[u8]) -> ReplicaResponse {
        let mut archive = Archive {
            log: self.store.as_ref(),
            mailboxes: &self.mailboxes,
        };
        self.keeper().answer(request, &mut archive)
    }
}

/// The provider's storage as the replication core sees it.
struct Archive<'a> {
    log: &'a dyn ReplicaLog,
    mailboxes: &'a MailboxStore,
}

impl ReplicaArchive for Archive<'_> {
    fn put_group(&mut self, group: &[u8; 32], view: &[u8]) -> Result<(), ArchiveError> {
        Ok(self.log.put_group(group, view)?)
    }

    fn open_mailbox(&mut self, group: &[u8; 32]) -> Result<(), ArchiveError> {
        self.mailboxes.register(&replica_mailbox(group), group)?;
        Ok(())
    }

    fn fetch(
        &self,
        group: &[u8; 32],
        after: u64,
        max: usize,
        budget: usize,
    ) -> Result<HistoryPage, ArchiveError> {
        Ok(self.log.fetch(group, after, max, budget)?)
    }
}

impl OwnMailboxService for ReplicaService {
    type KeepError = ReplicaStoreError;

    fn own_mailboxes(&self) -> Vec<[u8; 32]> {
        self.keeper()
            .group_ids()
            .iter()
            .map(replica_mailbox)
            .collect()
    }

    /// Verifies the entries of one replication envelope and keeps the new ones durably;
    /// if they cannot be kept the keeper forgets them, so they count as new next time.
    fn keep(&self, message: &[u8]) -> Result<(), ReplicaStoreError> {
        let mut keeper = self.keeper();
        let accepted = match keeper.on_message(message) {
            Ok(a) => a,
            Err(e) => {
                tracing::debug!(error = %e, "replication envelope refused");
                return Ok(());
            }
        };
        let entries: Vec<Vec<u8>> = accepted.entries.iter().map(|(_, e)| e.clone()).collect();
        self.store
            .append(&accepted.group_id, &entries)
            .inspect_err(|_| keeper.forget(&accepted))
    }
}

/// Starts the replication service of a provider: restores registered groups, serves
/// `/wesh/replication/1`, and runs the worker until `shutdown`.
pub fn start_replication(
    mut control: libp2p_stream::Control,
    mailboxes: Arc<MailboxStore>,
    store: Arc<dyn ReplicaLog>,
    shutdown: watch::Receiver<bool>,
) -> Result<Arc<ReplicaService>, ReplicationError> {
    let mut keeper = ReplicaKeeper::new();
    for (group, view) in store.groups()? {
        if let Err(e) = keeper.register(&view) {
            tracing::warn!(group = %hex::encode(group), error = %e, "stored replication view no longer valid");
        }
    }
    for (group, entry) in store.all_entries()? {
        keeper.restore_entry(&group, &entry);
    }
    let service = Arc::new(ReplicaService {
        keeper: Mutex::new(keeper),
        store,
        mailboxes: mailboxes.clone(),
    });
    let mut incoming = control.accept(REPLICATION_PROTOCOL)?;
    let server = service.clone();
    let mut stop = shutdown.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                next = incoming.next() => match next {
                    Some((_peer, mut stream)) => {
                        let server = server.clone();
                        tokio::spawn(async move {
                            let work = async {
                                let request = read_bounded(&mut stream, MAX_REQUEST_BYTES).await?;
                                let answer = tokio::task::spawn_blocking(move || server.answer(&request).encode())
                                    .await
                                    .map_err(std::io::Error::other)?;
                                respond(&mut stream, &answer).await
                            };
                            if let Err(e) = tokio::time::timeout(super::params::EXCHANGE_TIMEOUT, work).await {
                                tracing::debug!(error = %e, "replication exchange timed out");
                            }
                        });
                    }
                    None => break,
                },
                _ = stop.changed() => break,
            }
        }
    });
    spawn_own_reader(
        service.clone(),
        mailboxes,
        WORKER_EVERY,
        WORKER_BATCH,
        shutdown,
    );
    Ok(service)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::clock::{CoreClock, unix_now};
    use crate::mailboxes::own_reader::OwnReader;
    use crate::storage::MailboxLimits;
    use crate::storage::replica_store::{GroupBytes, HistoryPage, ReplicaStore};
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;
    use wesh_client::identity::Identity;
    use wesh_client::messenger::envelope::Outer;
    use wesh_client::messenger::replica::ReplicaRequest;
    use wesh_client::session::GroupSession;
    use wesh_mix::{MixPayload, NodeId, RouteNode, SurbAck, split_message};
    use x25519_dalek::{PublicKey, StaticSecret};

    /// A replica log whose next `failures` appends fail (a transient disk error).
    struct FlakyLog {
        inner: ReplicaStore,
        failures: AtomicU32,
    }

    impl ReplicaLog for FlakyLog {
        fn put_group(&self, group: &[u8; 32], view: &[u8]) -> Result<(), ReplicaStoreError> {
            self.inner.put_group(group, view)
        }
        fn groups(&self) -> Result<GroupBytes, ReplicaStoreError> {
            self.inner.groups()
        }
        fn append(&self, group: &[u8; 32], entries: &[Vec<u8>]) -> Result<(), ReplicaStoreError> {
            let left = self.failures.load(Ordering::SeqCst);
            if left > 0 {
                self.failures.store(left - 1, Ordering::SeqCst);
                return Err(ReplicaStoreError::MissingCf("injected failure"));
            }
            self.inner.append(group, entries)
        }
        fn fetch(
            &self,
            group: &[u8; 32],
            after: u64,
            max: usize,
            max_bytes: usize,
        ) -> Result<HistoryPage, ReplicaStoreError> {
            self.inner.fetch(group, after, max, max_bytes)
        }
        fn all_entries(&self) -> Result<GroupBytes, ReplicaStoreError> {
            self.inner.all_entries()
        }
    }

    /// What a member's reliable message to the replica mailbox leaves there.
    fn post(store: &MailboxStore, mailbox: &[u8; 32], rng: &mut ChaCha20Rng, message: &[u8]) {
        let (_, fragments) = split_message(rng, message).unwrap();
        for fragment in fragments {
            let route: Vec<RouteNode> = (0..5u8)
                .map(|i| RouteNode {
                    id: NodeId([i + 1; 32]),
                    sphinx_key: PublicKey::from(&StaticSecret::random_from_rng(&mut *rng)),
                })
                .collect();
            let ack =
                SurbAck::build(rng, &route, &[Duration::ZERO; 5], NodeId([9; 32]), 1).unwrap();
            let payload = MixPayload::Fragment { ack, fragment }.encode();
            store.store(mailbox, &payload, unix_now()).unwrap();
        }
    }

    /// Issue 14 (failed before the fix): one transient append error must not lose entries.
    #[test]
    fn a_failed_append_loses_no_entries() {
        let dir = tempfile::tempdir().unwrap();
        let mailboxes =
            Arc::new(MailboxStore::open(dir.path().join("m"), MailboxLimits::default()).unwrap());
        let log = Arc::new(FlakyLog {
            inner: ReplicaStore::open(dir.path().join("r")).unwrap(),
            failures: AtomicU32::new(1),
        });
        let service = ReplicaService {
            keeper: Mutex::new(ReplicaKeeper::new()),
            store: log,
            mailboxes: mailboxes.clone(),
        };
        let mut rng = ChaCha20Rng::seed_from_u64(14);
        let alice = Identity::generate(&mut rng);
        let (group, _) = GroupSession::create_multi_member(&mut rng, alice.account_key()).unwrap();
        let view = group.replication_view().encode();
        let registered = service.answer(&ReplicaRequest::Register { view }.encode());
        let ReplicaResponse::Registered { group_id } = registered else {
            panic!("registration refused: {registered:?}");
        };
        let entries: Vec<Vec<u8>> = group
            .metadata_log()
            .iter_sorted()
            .map(|e| e.encode())
            .collect();
        assert!(!entries.is_empty());
        let message = Outer::Replica {
            group_id,
            entries: entries.clone(),
        }
        .encode();
        post(&mailboxes, &replica_mailbox(&group_id), &mut rng, &message);

        let mut reader = OwnReader::new(CoreClock::start(), WORKER_BATCH);
        reader.round(&mailboxes, &service); // the append fails
        reader.round(&mailboxes, &service); // the next round must keep them
        reader.round(&mailboxes, &service);
        assert_eq!(
            service.stored_entries(&group_id),
            entries,
            "every entry kept after one transient append error"
        );
        let left = mailboxes
            .stats(&replica_mailbox(&group_id))
            .unwrap()
            .unwrap();
        assert_eq!(left.count, 0, "the fragments go once the entries are kept");
    }
}
