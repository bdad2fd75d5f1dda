//! The one loop that reads a provider's own mailboxes (each group's replica mailbox, the
//! rendezvous service mailbox). The rules (reassembly, what may be deleted and when) are
//! the core's ([`OwnMailbox`]); this reads, hands complete messages to the service, and
//! deletes what the core allows, on a blocking thread every few hundred milliseconds.

use crate::clock::{CoreClock, unix_now};
use crate::storage::MailboxStore;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use wesh_mix::ReceiveKey;
use wesh_mix::mailbox::{MailboxId, OwnMailbox};

/// A provider service fed by its own mailboxes.
pub trait OwnMailboxService: Send + Sync + 'static {
    type KeepError: std::fmt::Display;

    /// The mailboxes to read this round.
    fn own_mailboxes(&self) -> Vec<[u8; 32]>;

    /// The key payloads for `mailbox` are sealed to (its identity's).
    fn own_mailbox_key(&self, mailbox: &[u8; 32]) -> ReceiveKey;

    /// Takes one complete message and keeps what it must durably. `Ok` also for a message
    /// refused for good (its fragments go); an error means "not kept, try again": the
    /// fragments stay and the message comes back at the next round.
    fn keep(&self, message: &[u8]) -> Result<(), Self::KeepError>;

    /// Runs after each round (what the round made due).
    fn after_round(&self) {}
}

/// The reading state of one service's own mailboxes.
pub struct OwnReader {
    clock: CoreClock,
    batch: usize,
    cores: HashMap<[u8; 32], OwnMailbox>,
}

impl OwnReader {
    /// Reads at most `batch` payloads per mailbox and round.
    pub fn new(clock: CoreClock, batch: usize) -> Self {
        OwnReader {
            clock,
            batch,
            cores: HashMap::new(),
        }
    }

    /// One round over every mailbox of `service`.
    pub fn round<S: OwnMailboxService + ?Sized>(&mut self, mut store: &MailboxStore, service: &S) {
        let now = self.clock.now();
        let mailboxes = service.own_mailboxes();
        self.cores.retain(|m, _| mailboxes.contains(m));
        for mailbox in mailboxes {
            let core = self
                .cores
                .entry(mailbox)
                .or_insert_with(|| OwnMailbox::for_key(service.own_mailbox_key(&mailbox)));
            let mut keep = |message: &[u8]| {
                let kept = service.keep(message);
                if let Err(e) = &kept {
                    tracing::warn!(error = %e, "message not kept; read again next round");
                }
                kept.is_ok()
            };
            let id = MailboxId(mailbox);
            if let Err(e) = core.round(&mut store, &id, self.batch, now, unix_now(), &mut keep) {
                tracing::warn!(error = %e, "own mailbox round failed");
            }
        }
        service.after_round();
    }
}

/// Runs rounds of `service` every `every` until `shutdown`.
pub fn spawn_own_reader<S: OwnMailboxService>(
    service: Arc<S>,
    store: Arc<MailboxStore>,
    every: Duration,
    batch: usize,
    mut shutdown: watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        let mut reader = OwnReader::new(CoreClock::start(), batch);
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = shutdown.changed() => return,
            }
            let (service, store) = (service.clone(), store.clone());
            // rocksdb reads and synced writes block: the round runs on a blocking thread
            let round = tokio::task::spawn_blocking(move || {
                reader.round(&store, &*service);
                reader
            });
            match round.await {
                Ok(r) => reader = r,
                Err(_) => return,
            }
        }
    });
}
