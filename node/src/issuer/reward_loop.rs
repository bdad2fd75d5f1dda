//! A standalone issuer's rewards, epoch after epoch: its secret shopper (a [`Monitor`],
//! paying for its loops like any client) sends test loops through the routing view of
//! the directory during each payments epoch, and once the epoch is over and the relays
//! have reported their work (`/wesh/issuer/work/1`), the issuer settles the epoch's pool
//! from the scores and the work, and keeps the result (`wesh rewards --epoch N`).

use super::epoch_at;
use super::service::IssuerState;
use crate::credit::IssuerAddress;
use crate::monitor::{Monitor, spawn_loops, wait_for_loops};
use crate::pki::service::{unix_now, until_unix};
use libp2p::Multiaddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::watch;
use wesh_mix::{NodeId, Topology};

/// What the monitor needs of a directory: the routing view and where providers listen.
#[derive(Debug, Clone)]
pub struct DirectoryView {
    pub routing: Arc<Topology>,
    pub providers: Vec<(NodeId, Multiaddr)>,
}

/// How the loop runs.
#[derive(Debug, Clone)]
pub struct RewardLoopSpec {
    /// The issuer itself, as the monitor reaches it for its tokens.
    pub issuer: IssuerAddress,
    /// Test loops per second during an epoch.
    pub loops_per_second: f64,
    pub mean_hop_delay: Duration,
}

/// Left at the end of an epoch for loops in flight to come back, seconds (three mixes
/// holding a loop 200 ms each on average, a pull, margin).
const DRAIN_SECONDS: u64 = 4;
/// Waited after an epoch ends for the relays' work reports, seconds.
const REPORT_GRACE_SECONDS: u64 = 6;
/// An epoch with less time left than this when the view arrives is skipped, seconds.
const MIN_MONITOR_SECONDS: u64 = 5;
/// How often the monitor pulls its return mailboxes.
const MONITOR_PULL: Duration = Duration::from_millis(250);

/// Runs until `stop`: monitor each epoch, then settle it.
pub fn spawn_reward_loop(
    spec: RewardLoopSpec,
    mut directory: watch::Receiver<Option<DirectoryView>>,
    state: Arc<Mutex<IssuerState>>,
    mut stop: watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        let seconds = spec.issuer.epoch_seconds;
        loop {
            let epoch = epoch_at(unix_now(), seconds);
            let end = (epoch + 1).saturating_mul(seconds);
            let sleep_to_end = async {
                tokio::select! {
                    _ = tokio::time::sleep(until_unix(end)) => true,
                    _ = stop.changed() => false,
                }
            };
            let view = directory.borrow_and_update().clone();
            let left = end.saturating_sub(unix_now());
            let Some(view) = view.filter(|_| left >= MIN_MONITOR_SECONDS + DRAIN_SECONDS) else {
                // no routable directory yet, or too little of the epoch left
                tokio::select! {
                    _ = directory.changed() => continue,
                    go_on = sleep_to_end => if go_on { continue } else { return },
                }
            };
            let monitor = match Monitor::start(
                &view.routing,
                &view.providers,
                Some(spec.issuer.clone()),
                spec.mean_hop_delay,
                MONITOR_PULL,
            )
            .await
            {
                Ok(m) => Arc::new(m),
                Err(e) => {
                    tracing::warn!(epoch, error = %e, "secret shopper not started");
                    if !sleep_to_end.await {
                        return;
                    }
                    continue;
                }
            };
            let run_for = Duration::from_secs(
                end.saturating_sub(unix_now())
                    .saturating_sub(DRAIN_SECONDS)
                    .max(1),
            );
            let (_view_tx, view_rx) = watch::channel(Some(view.routing.clone()));
            let planned = spawn_loops(
                monitor.clone(),
                epoch,
                view_rx,
                run_for,
                spec.loops_per_second,
            );
            tracing::info!(epoch, planned, "secret shopper running");
            if !sleep_to_end.await {
                monitor.stop();
                return;
            }
            wait_for_loops(&monitor, planned, Duration::from_secs(DRAIN_SECONDS)).await;
            let scores = monitor.scores();
            monitor.stop();
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(REPORT_GRACE_SECONDS)) => {}
                _ = stop.changed() => return,
            }
            let state = state.clone();
            let settled = tokio::task::spawn_blocking(move || {
                let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
                let reports = s.take_work(epoch);
                let n = reports.len();
                s.settle(epoch, &scores, &reports).map(|r| (r, n))
            })
            .await;
            match settled {
                Ok(Ok((rewards, reports))) => tracing::info!(
                    epoch,
                    relays = rewards.entries.len(),
                    reports,
                    undistributed = rewards.undistributed,
                    "epoch settled"
                ),
                Ok(Err(e)) => tracing::warn!(epoch, error = %e, "epoch not settled"),
                Err(e) => tracing::error!(epoch, error = %e, "settlement task failed"),
            }
        }
    });
}
