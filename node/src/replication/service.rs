//! The provider's half: serves register and fetch (each exchange admitted by the core's
//! [`ReplicaGate`] before its request is read), and starts the worker that turns replica
//! mailbox fragments into verified, durable entries ([`super::worker`]).

use super::REPLICATION_PROTOCOL;
use super::params::{MAX_FETCH_ENTRIES, MAX_REQUEST_BYTES, WORKER_BATCH};
use crate::credit::provider::ProviderCredit;
use crate::keys::node_id_of_peer;
use crate::mailboxes::exchange::{read_bounded, respond};
use crate::storage::MailboxStore;
use crate::storage::replica_store::{ReplicaLog, ReplicaStoreError};
use futures::StreamExt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use thiserror::Error;
use tokio::sync::{Notify, watch};
use wesh_client::messenger::replica::{ReplicaKeeper, ReplicaResponse, ReplicaStats};
use wesh_client::messenger::replica_answer::{ArchiveError, HistoryPage, ReplicaArchive};
use wesh_client::messenger::replica_gate::ReplicaGate;
use wesh_client::messenger::replica_mailbox;
use wesh_client::messenger::replica_schedule::ReplicaSchedule;
use wesh_mix::NodeId;

/// Why the replication service cannot start.
#[derive(Debug, Error)]
pub enum ReplicationError {
    #[error("cannot restore the replicated groups: {0}")]
    Store(#[from] ReplicaStoreError),
    #[error("/wesh/replication/1 is registered twice")]
    AlreadyRegistered(#[from] libp2p_stream::AlreadyRegistered),
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

pub struct ReplicaService {
    keeper: Mutex<ReplicaKeeper>,
    schedule: Mutex<ReplicaSchedule>,
    gate: Mutex<ReplicaGate>,
    /// Woken when a payload is stored in a replica mailbox.
    wake: Notify,
    store: Arc<dyn ReplicaLog>,
    mailboxes: Arc<MailboxStore>,
    /// Where registrations are paid (`None`: a provider without payments, free).
    credit: Option<Arc<ProviderCredit>>,
}

impl ReplicaService {
    /// The service of provider `provider` over `store`, its registered groups restored
    /// (each read once: fragments may have arrived before a restart).
    fn restore(
        provider: NodeId,
        store: Arc<dyn ReplicaLog>,
        mailboxes: Arc<MailboxStore>,
        credit: Option<Arc<ProviderCredit>>,
    ) -> Result<Self, ReplicationError> {
        let mut keeper = ReplicaKeeper::new(provider.0);
        let mut schedule = ReplicaSchedule::new();
        let now = crate::clock::unix_now();
        for (group, record) in store.groups()? {
            match keeper.restore_group(&record, now) {
                Ok(id) => schedule.watch(id, true),
                Err(e) => {
                    tracing::warn!(group = %hex::encode(group), error = %e, "stored replica registration no longer valid")
                }
            }
        }
        for (group, entry) in store.all_entries()? {
            keeper.restore_entry(&group, &entry);
        }
        Ok(Self {
            keeper: Mutex::new(keeper),
            schedule: Mutex::new(schedule),
            gate: Mutex::new(ReplicaGate::default()),
            wake: Notify::new(),
            store,
            mailboxes,
            credit,
        })
    }

    fn keeper(&self) -> MutexGuard<'_, ReplicaKeeper> {
        lock(&self.keeper)
    }

    pub(super) fn schedule(&self) -> MutexGuard<'_, ReplicaSchedule> {
        lock(&self.schedule)
    }

    /// Resolves when a payload was stored in a replica mailbox since the last call.
    pub(super) async fn woken(&self) {
        self.wake.notified().await;
    }

    /// Follows the stores into `mailboxes` (the worker's only reason to read a mailbox
    /// besides its deadlines).
    fn observe(self: &Arc<Self>, mailboxes: &MailboxStore) {
        let observer: Weak<ReplicaService> = Arc::downgrade(self);
        mailboxes.observe_stores(Arc::new(move |mailbox| {
            if let Some(s) = observer.upgrade() {
                s.on_stored(mailbox);
            }
        }));
    }

    /// The store observer: marks the group due and wakes the worker.
    fn on_stored(&self, mailbox: &[u8; 32]) {
        if self.schedule().handle_stored(mailbox) {
            self.wake.notify_one();
        }
    }

    pub fn stats(&self) -> ReplicaStats {
        self.keeper().stats().clone()
    }

    /// Exchanges dropped unread by the gate (too many at once, or from one peer).
    pub fn exchanges_refused(&self) -> u64 {
        lock(&self.gate).refused()
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

    /// The answer to one request of `peer`.
    pub(super) fn answer(&self, request: &[u8], peer: NodeId) -> ReplicaResponse {
        let mut archive = Archive {
            log: self.store.as_ref(),
            mailboxes: &self.mailboxes,
            credit: self.credit.as_deref(),
            peer,
        };
        let now = crate::clock::unix_now();
        let answer = self.keeper().answer(request, peer.0, now, &mut archive);
        if let ReplicaResponse::Registered { group_id, .. } = &answer {
            // nothing waits in a new group's mailbox: read it when something is stored
            self.schedule().watch(*group_id, false);
        }
        answer
    }

    /// Deletes the groups whose term ended by `now` (Unix seconds): entries, registration
    /// and replica mailbox. The keeper stays locked meanwhile, so no entry of theirs is
    /// kept after the delete; a delete that fails is tried again after a restart.
    pub(super) fn expire_terms(&self, now: u64) -> Vec<[u8; 32]> {
        let mut keeper = self.keeper();
        let ended = keeper.expire(now);
        for group in &ended {
            self.schedule().unwatch(group);
            let gone = self.store.remove_group(group).map_err(|e| e.to_string());
            let gone = gone.and_then(|()| {
                let mailbox = replica_mailbox(group);
                self.mailboxes
                    .unregister(&mailbox)
                    .map_err(|e| e.to_string())
            });
            match gone {
                Ok(_) => {
                    tracing::info!(group = %hex::encode(&group[..8]), "replication term ended; group deleted")
                }
                Err(e) => {
                    tracing::warn!(group = %hex::encode(&group[..8]), error = %e, "expired group not deleted")
                }
            }
        }
        ended
    }

    /// Verifies the entries of one replication envelope and keeps the new ones durably;
    /// if they cannot be kept the keeper forgets them, so they count as new next time.
    /// `Ok` also for an envelope refused for good (its fragments go).
    pub(super) fn keep(&self, message: &[u8]) -> Result<(), ReplicaStoreError> {
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

/// The provider's storage as the replication core sees it.
struct Archive<'a> {
    log: &'a dyn ReplicaLog,
    mailboxes: &'a MailboxStore,
    credit: Option<&'a ProviderCredit>,
    /// The requester.
    peer: NodeId,
}

impl ReplicaArchive for Archive<'_> {
    fn charge(&mut self, price: u64) -> Result<(), ArchiveError> {
        let (Some(credit), Some(peer)) = (self.credit, crate::keys::peer_id_of(&self.peer)) else {
            return Ok(());
        };
        credit.charge(peer, price)?;
        Ok(())
    }

    fn put_group(&mut self, group: &[u8; 32], record: &[u8]) -> Result<(), ArchiveError> {
        Ok(self.log.put_group(group, record)?)
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

/// An exchange the gate admitted; released when it ends, however it ends.
struct Admitted {
    service: Arc<ReplicaService>,
    peer: NodeId,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        lock(&self.service.gate).release(self.peer.0);
    }
}

/// Serves one stream of an admitted peer.
async fn serve(admitted: Admitted, mut stream: libp2p::Stream) {
    let work = async {
        let request = read_bounded(&mut stream, MAX_REQUEST_BYTES).await?;
        let (service, peer) = (admitted.service.clone(), admitted.peer);
        let answer = tokio::task::spawn_blocking(move || service.answer(&request, peer).encode())
            .await
            .map_err(std::io::Error::other)?;
        respond(&mut stream, &answer).await
    };
    match tokio::time::timeout(super::params::EXCHANGE_TIMEOUT, work).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(error = %e, "replication exchange failed"),
        Err(_) => tracing::debug!("replication exchange timed out"),
    }
    drop(admitted);
}

/// Starts the replication service of provider `provider`: restores registered groups,
/// serves `/wesh/replication/1`, and runs the worker until `shutdown`.
pub fn start_replication(
    provider: NodeId,
    mut control: libp2p_stream::Control,
    mailboxes: Arc<MailboxStore>,
    store: Arc<dyn ReplicaLog>,
    credit: Option<Arc<ProviderCredit>>,
    shutdown: watch::Receiver<bool>,
) -> Result<Arc<ReplicaService>, ReplicationError> {
    let service = Arc::new(ReplicaService::restore(
        provider,
        store,
        mailboxes.clone(),
        credit,
    )?);
    service.observe(&mailboxes);
    let mut incoming = control.accept(REPLICATION_PROTOCOL)?;
    let server = service.clone();
    let mut stop = shutdown.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                next = incoming.next() => match next {
                    Some((peer, stream)) => {
                        // decided before reading anything; a refused stream is dropped
                        let Some(peer) = node_id_of_peer(&peer) else { continue };
                        if !lock(&server.gate).admit(peer.0) {
                            continue;
                        }
                        let admitted = Admitted { service: server.clone(), peer };
                        tokio::spawn(serve(admitted, stream));
                    }
                    None => break,
                },
                _ = stop.changed() => break,
            }
        }
    });
    super::worker::spawn_worker(service.clone(), mailboxes, WORKER_BATCH, shutdown);
    Ok(service)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::clock::unix_now;
    use crate::replication::worker::ReplicaWorker;
    use crate::storage::MailboxLimits;
    use crate::storage::replica_store::{GroupBytes, HistoryPage, ReplicaStore};
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;
    use wesh_client::identity::Identity;
    use wesh_client::messenger::envelope::Outer;
    use wesh_client::messenger::params::REPLICA_KEEP_RETRY_MS;
    use wesh_client::messenger::replica::ReplicaRequest;
    use wesh_client::replication::ReplicaRegistration;
    use wesh_client::session::GroupSession;
    use wesh_mix::{MixPayload, NodeId, RouteNode, split_message};
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
        fn remove_group(&self, group: &[u8; 32]) -> Result<(), ReplicaStoreError> {
            self.inner.remove_group(group)
        }
    }

    const PROVIDER: NodeId = NodeId([0xaa; 32]);

    fn service_over(
        log: Arc<dyn ReplicaLog>,
        mailboxes: &Arc<MailboxStore>,
    ) -> Arc<ReplicaService> {
        let service =
            Arc::new(ReplicaService::restore(PROVIDER, log, mailboxes.clone(), None).unwrap());
        service.observe(mailboxes);
        service
    }

    fn fresh_group(rng: &mut ChaCha20Rng) -> GroupSession {
        let member = Identity::generate(rng);
        GroupSession::create_multi_member(rng, member.account_key())
            .unwrap()
            .0
    }

    fn register(service: &ReplicaService, group: &GroupSession) -> [u8; 32] {
        let registration = ReplicaRegistration::sign(group.secrets(), PROVIDER.0).encode();
        let request = ReplicaRequest::Register { registration }.encode();
        match service.answer(&request, NodeId([0x11; 32])) {
            ReplicaResponse::Registered { group_id, .. } => group_id,
            other => panic!("registration refused: {other:?}"),
        }
    }

    fn replica_message(group: &GroupSession) -> Vec<u8> {
        let entries = group
            .metadata_log()
            .iter_sorted()
            .map(|e| e.encode())
            .collect();
        Outer::Replica {
            group_id: group.group_id(),
            entries,
        }
        .encode()
    }

    /// Issue 15 item 10: the worker read every registered group's mailbox every 200 ms.
    /// Now, with many registered groups, rounds read only the mailbox a payload was
    /// stored in (the store tells the service), and nothing while nothing changes.
    #[test]
    fn rounds_read_only_the_mailboxes_that_received_mail() {
        let dir = tempfile::tempdir().unwrap();
        let mailboxes =
            Arc::new(MailboxStore::open(dir.path().join("m"), MailboxLimits::default()).unwrap());
        let log = Arc::new(ReplicaStore::open(dir.path().join("r")).unwrap());
        let service = service_over(log, &mailboxes);
        let mut rng = ChaCha20Rng::seed_from_u64(15);
        let groups: Vec<GroupSession> = (0..40).map(|_| fresh_group(&mut rng)).collect();
        for g in &groups {
            register(&service, g);
        }
        let mut worker = ReplicaWorker::new(WORKER_BATCH);
        for i in 0..50u64 {
            worker.round(&mailboxes, &service, Duration::from_millis(200 * i));
        }
        assert_eq!(worker.reads(), 0, "40 idle groups, no read");
        let busy = &groups[7];
        post(
            &mailboxes,
            &busy.group_id(),
            &mut rng,
            &replica_message(busy),
        );
        for i in 50..100u64 {
            worker.round(&mailboxes, &service, Duration::from_millis(200 * i));
        }
        assert_eq!(worker.reads(), 1, "one group got mail, one read");
        assert!(!service.stored_entries(&busy.group_id()).is_empty());
        assert_eq!(service.stats().groups, 40);
    }

    /// What a member's reliable message to the replica mailbox leaves there.
    fn post(store: &MailboxStore, group: &[u8; 32], rng: &mut ChaCha20Rng, message: &[u8]) {
        let mailbox = &replica_mailbox(group);
        let (_, fragments) = split_message(rng, message).unwrap();
        for fragment in fragments {
            let route: Vec<RouteNode> = (0..5u8)
                .map(|i| RouteNode {
                    id: NodeId([i + 1; 32]),
                    sphinx_key: PublicKey::from(&StaticSecret::random_from_rng(&mut *rng)),
                })
                .collect();
            let seed = wesh_client::messenger::replica_mailbox_seed(group);
            let key = wesh_mix::ReceiveKey::from_ed25519_seed(&seed).public();
            let fragment = MixPayload::Fragment { fragment };
            let payload = wesh_mix::seal_with_cover_over(rng, &route, &key, &fragment).unwrap();
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
        let service = service_over(log, &mailboxes);
        let mut rng = ChaCha20Rng::seed_from_u64(14);
        let group = fresh_group(&mut rng);
        let group_id = register(&service, &group);
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
        post(&mailboxes, &group_id, &mut rng, &message);

        let mut worker = ReplicaWorker::new(WORKER_BATCH);
        let retry = Duration::from_millis(REPLICA_KEEP_RETRY_MS);
        worker.round(&mailboxes, &service, Duration::ZERO); // the append fails
        assert_eq!(
            worker.round(&mailboxes, &service, retry / 2),
            0,
            "not in a loop"
        );
        worker.round(&mailboxes, &service, retry); // the retry must keep them
        worker.round(&mailboxes, &service, retry * 2);
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

    /// Issue 18 item 5: a group whose term ends unrenewed is deleted with all it holds
    /// (entries, registration, replica mailbox and its payloads), on real rocksdb, and a
    /// restart does not bring it back; another group stays whole.
    #[test]
    fn an_ended_term_deletes_the_group_its_entries_and_its_mailbox() {
        let dir = tempfile::tempdir().unwrap();
        let mailboxes =
            Arc::new(MailboxStore::open(dir.path().join("m"), MailboxLimits::default()).unwrap());
        let log: Arc<dyn ReplicaLog> = Arc::new(ReplicaStore::open(dir.path().join("r")).unwrap());
        let service = service_over(log.clone(), &mailboxes);
        let mut rng = ChaCha20Rng::seed_from_u64(18);
        let (ending, staying) = (fresh_group(&mut rng), fresh_group(&mut rng));
        let (gone, kept) = (register(&service, &ending), register(&service, &staying));
        let mut worker = ReplicaWorker::new(WORKER_BATCH);
        for g in [&ending, &staying] {
            post(&mailboxes, &g.group_id(), &mut rng, &replica_message(g));
        }
        worker.round(&mailboxes, &service, Duration::ZERO);
        assert!(!service.stored_entries(&gone).is_empty());
        // a payload still waiting in the ending group's mailbox goes with it
        post(&mailboxes, &gone, &mut rng, &replica_message(&ending));
        let end = unix_now() + wesh_client::messenger::params::REPLICA_REGISTRATION_TERM_SECS;
        assert!(service.expire_terms(end - 3600).is_empty(), "not yet");
        // a renewal in the window moves the staying group's term on
        let registration = ReplicaRegistration::sign(staying.secrets(), PROVIDER.0).encode();
        let request = ReplicaRequest::Register { registration }.encode();
        let renewed = service.keeper().answer(
            &request,
            [0x22; 32],
            end - 60,
            &mut Archive {
                log: log.as_ref(),
                mailboxes: &mailboxes,
                credit: None,
                peer: NodeId([0x22; 32]),
            },
        );
        assert!(
            matches!(renewed, ReplicaResponse::Registered { expires_at, .. } if expires_at > end)
        );
        assert_eq!(service.expire_terms(end + 1), vec![gone]);
        assert!(service.stored_entries(&gone).is_empty());
        assert!(mailboxes.stats(&replica_mailbox(&gone)).unwrap().is_none());
        assert!(!service.stored_entries(&kept).is_empty());
        assert!(mailboxes.stats(&replica_mailbox(&kept)).unwrap().is_some());
        assert_eq!(service.stats().groups_expired, 1);
        drop(service);
        let again = service_over(log, &mailboxes);
        assert_eq!(again.stats().groups, 1, "the deleted group is not restored");
        assert!(again.stored_entries(&gone).is_empty());
    }
}
