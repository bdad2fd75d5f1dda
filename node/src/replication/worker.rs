//! The replication worker: reads the replica mailboxes the core's [`ReplicaSchedule`]
//! says are due (a payload was stored there, a read to continue, a reassembly deadline, a
//! retry), never the others. It wakes on the mailbox store's observer or at the
//! schedule's next deadline, and runs each round on a blocking thread (rocksdb).
//!
//! [`ReplicaSchedule`]: wesh_client::messenger::replica_schedule::ReplicaSchedule

use super::service::ReplicaService;
use crate::clock::{CoreClock, unix_now};
use crate::storage::MailboxStore;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use wesh_client::messenger::replica_schedule::ReadOutcome;
use wesh_client::messenger::{replica_mailbox, replica_mailbox_seed};
use wesh_mix::ReceiveKey;
use wesh_mix::mailbox::{MailboxId, OwnMailbox};

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The reading state of the replica mailboxes with a reassembly in progress.
pub struct ReplicaWorker {
    batch: usize,
    readers: HashMap<[u8; 32], OwnMailbox>,
    /// Mailbox reads so far (the work the rounds did).
    reads: u64,
}

impl ReplicaWorker {
    pub fn new(batch: usize) -> Self {
        Self {
            batch,
            readers: HashMap::new(),
            reads: 0,
        }
    }

    /// Mailbox reads done so far.
    pub fn reads(&self) -> u64 {
        self.reads
    }

    /// One round at `now` (core clock): reads each due group's replica mailbox once;
    /// returns how many.
    pub fn round(
        &mut self,
        store: &MailboxStore,
        service: &ReplicaService,
        now: Duration,
    ) -> usize {
        let due = service.schedule().poll_due(millis(now));
        for group in &due {
            let outcome = self.read(store, service, group, now);
            if outcome == (ReadOutcome::Done { deadline: None }) {
                // nothing held: reading again starts from the store's oldest payload
                self.readers.remove(group);
            }
            service.schedule().handle_read(millis(now), *group, outcome);
        }
        self.reads += due.len() as u64;
        due.len()
    }

    fn read(
        &mut self,
        store: &MailboxStore,
        service: &ReplicaService,
        group: &[u8; 32],
        now: Duration,
    ) -> ReadOutcome {
        let reader = self.readers.entry(*group).or_insert_with(|| {
            OwnMailbox::for_key(ReceiveKey::from_ed25519_seed(&replica_mailbox_seed(group)))
        });
        let mut backend = store;
        let mut failed = false;
        let mut keep = |message: &[u8]| match service.keep(message) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "replica message not kept; read again later");
                failed = true;
                false
            }
        };
        let mailbox = MailboxId(replica_mailbox(group));
        let read = reader.round(
            &mut backend,
            &mailbox,
            self.batch,
            now,
            unix_now(),
            &mut keep,
        );
        if let Err(e) = &read {
            tracing::warn!(error = %e, "replica mailbox round failed");
        }
        if failed || read.is_err() {
            ReadOutcome::Failed
        } else if reader.last_fetched() >= self.batch {
            ReadOutcome::More
        } else {
            ReadOutcome::Done {
                deadline: reader.poll_timeout().map(millis),
            }
        }
    }
}

/// Runs the worker until `shutdown`: a round when the store reports a payload for a
/// replica mailbox, or at the schedule's next deadline; otherwise it sleeps.
pub fn spawn_worker(
    service: Arc<ReplicaService>,
    store: Arc<MailboxStore>,
    batch: usize,
    mut shutdown: watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        let clock = CoreClock::start();
        let mut worker = ReplicaWorker::new(batch);
        loop {
            let (due_now, deadline) = {
                let schedule = service.schedule();
                (schedule.has_due(), schedule.poll_timeout())
            };
            if !due_now {
                let sleep = match deadline {
                    Some(at) => Duration::from_millis(at.saturating_sub(millis(clock.now()))),
                    // nothing to wait for but a store
                    None => Duration::from_secs(3600),
                };
                tokio::select! {
                    _ = service.woken() => {}
                    _ = tokio::time::sleep(sleep) => {}
                    _ = shutdown.changed() => return,
                }
            }
            let (s, st) = (service.clone(), store.clone());
            let round = tokio::task::spawn_blocking(move || {
                for group in s.expire_terms(unix_now()) {
                    worker.readers.remove(&group);
                }
                worker.round(&st, &s, clock.now());
                worker
            });
            match round.await {
                Ok(w) => worker = w,
                Err(_) => return,
            }
        }
    });
}
