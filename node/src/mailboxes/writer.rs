//! The provider's durable final hop: payloads for its clients' mailboxes are written in
//! groups (one synced rocksdb write per group) and only then are their slots fired (the ack
//! of a fragment, cover for anything else: the provider cannot tell), so an ack always
//! means "on disk". A crash between write and ack costs the sender a retransmission, which
//! the recipient's reassembly drops as a duplicate. What is not a well-formed stored
//! payload (`wesh_mix::provider_ack::storable`) is neither stored nor acked.

use super::params::STORE_BATCH;
use crate::clock::unix_now;
use crate::storage::{MailboxStore, Refusal, StoreError};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use tokio::sync::mpsc;
use wesh_metrics::{RelayMetrics, bump};
use wesh_mix::NodeId;
use wesh_mix::provider_ack::{AckPacket, ack_after_store, storable};

/// One final-hop payload for a mailbox (the mailbox id is the Sphinx destination).
pub struct StoreJob {
    pub mailbox: [u8; 32],
    pub plaintext: Vec<u8>,
}

/// Starts the writer thread of provider `me`. It ends when every sender of `jobs` is gone.
/// `ack` sends a slot's packet on its way (into this node's own pipeline: the SURB of a
/// slot starts at the provider that stored it).
pub fn spawn_store_writer(
    store: Arc<MailboxStore>,
    me: NodeId,
    mut jobs: mpsc::Receiver<StoreJob>,
    ack: impl Fn(AckPacket) + Send + 'static,
    metrics: Arc<RelayMetrics>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("mailbox-writer".into())
        .spawn(move || {
            let mut batch = Vec::with_capacity(STORE_BATCH);
            while let Some(first) = jobs.blocking_recv() {
                batch.push(first);
                while batch.len() < STORE_BATCH {
                    match jobs.try_recv() {
                        Ok(job) => batch.push(job),
                        Err(_) => break,
                    }
                }
                write_batch(&store, &me, &batch, &ack, &metrics);
                batch.clear();
            }
        })
}

fn write_batch(
    store: &MailboxStore,
    me: &NodeId,
    batch: &[StoreJob],
    ack: &impl Fn(AckPacket),
    metrics: &RelayMetrics,
) {
    // what no recipient could read is neither stored nor acked
    let (batch, unholdable): (Vec<&StoreJob>, Vec<&StoreJob>) =
        batch.iter().partition(|j| storable(&j.plaintext));
    if !unholdable.is_empty() {
        metrics
            .mailbox_refused
            .fetch_add(unholdable.len() as u64, Relaxed);
    }
    let items: Vec<([u8; 32], &[u8])> = batch
        .iter()
        .map(|j| (j.mailbox, j.plaintext.as_slice()))
        .collect();
    let results = match store.store_batch(&items, unix_now()) {
        Ok(results) => results,
        Err(e) => {
            // nothing of the batch is stored and nothing is acked: the senders retransmit
            tracing::warn!(error = %e, payloads = batch.len(), "mailbox write failed");
            metrics
                .mailbox_store_failed
                .fetch_add(batch.len() as u64, Relaxed);
            return;
        }
    };
    for (job, result) in batch.iter().zip(results) {
        match result {
            Ok(_) => {
                bump(&metrics.mailbox_stored);
                match ack_after_store(me, &mut rand::rng(), &job.plaintext) {
                    Ok(packet) => {
                        bump(&metrics.acks_released);
                        ack(packet);
                    }
                    Err(e) => tracing::debug!(error = %e, "stored payload has no usable slot"),
                }
            }
            Err(StoreError::Refused(Refusal::UnknownMailbox)) => bump(&metrics.undeliverable),
            Err(StoreError::Refused(r)) if r.is_full() => bump(&metrics.mailbox_full),
            Err(e) => {
                tracing::debug!(error = %e, "payload refused by the mailbox store");
                bump(&metrics.mailbox_refused);
            }
        }
    }
}
