//! A relay's side of reward settlement: right after each payments epoch ends, it tells the
//! issuer how many Sphinx packets it received during that epoch and (a provider) how many
//! replication registrations it was paid for (`/wesh/issuer/work/1`).
//! The issuer weighs each relay's score by this work; a relay that never reports earns
//! nothing for the epoch.

use super::calls::report_work;
use super::epoch_at;
use crate::clock::{unix_now, until_unix};
use crate::credit::IssuerAddress;
use crate::net::swarm::NetHandle;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use tokio::sync::watch;
use wesh_metrics::RelayMetrics;

/// Tries per report (the issuer may be restarting), this far apart.
const REPORT_TRIES: u32 = 5;
const RETRY_AFTER: Duration = Duration::from_secs(2);

/// Reports every finished epoch's work until `stop`. The first epoch is counted from the
/// relay's start (partial work, reported as such).
pub fn spawn_work_reporter(
    net: NetHandle,
    issuer: IssuerAddress,
    metrics: Arc<RelayMetrics>,
    replication: Option<Arc<crate::replication::ReplicaService>>,
    mut stop: watch::Receiver<bool>,
) {
    // weak: the service holds the mailbox store, which must close before the process
    // exits (rocksdb aborts if its threads outlive the statics)
    let replication = replication.as_ref().map(Arc::downgrade);
    let charged = move || {
        replication
            .as_ref()
            .and_then(std::sync::Weak::upgrade)
            .map_or(0, |r| r.stats().registrations_charged)
    };
    tokio::spawn(async move {
        net.add_address(issuer.peer, issuer.addr.clone());
        let mut control = net.control.clone();
        let seconds = issuer.epoch_seconds;
        let mut epoch = epoch_at(unix_now(), seconds);
        let mut counted_before = (metrics.received.load(Relaxed), charged());
        loop {
            let boundary = (epoch + 1).saturating_mul(seconds);
            tokio::select! {
                _ = tokio::time::sleep(until_unix(boundary)) => {}
                _ = stop.changed() => return,
            }
            let now_count = (metrics.received.load(Relaxed), charged());
            let packets = now_count.0.saturating_sub(counted_before.0);
            let registrations = now_count.1.saturating_sub(counted_before.1);
            counted_before = now_count;
            for attempt in 1..=REPORT_TRIES {
                let work = (packets, registrations);
                match report_work(&mut control, issuer.peer, epoch, work).await {
                    Ok(()) => {
                        tracing::info!(
                            epoch,
                            packets,
                            registrations,
                            "work reported to the issuer"
                        );
                        break;
                    }
                    Err(e) if attempt == REPORT_TRIES => {
                        tracing::warn!(epoch, error = %e, "work report failed");
                    }
                    Err(e) => {
                        tracing::debug!(epoch, error = %e, "work report failed; retrying");
                        tokio::time::sleep(RETRY_AFTER).await;
                    }
                }
            }
            epoch = epoch_at(unix_now(), seconds).max(epoch + 1);
        }
    });
}
