//! A standalone issuer's rewards, epoch after epoch: its secret shopper (a [`Monitor`],
//! paying for its loops like any client) sends test loops through the routing view of
//! the directory during each payments epoch, and once the epoch is over and the relays
//! have reported their work (`/wesh/issuer/work/1`), the issuer settles the epoch's pool
//! from the scores and the work, and keeps the result (`wesh rewards --epoch N`).

use super::service::IssuerState;
use crate::clock::{unix_now, until_unix};
use crate::credit::IssuerAddress;
use crate::monitor::{Monitor, spawn_loops, wait_for_loops};
use libp2p::Multiaddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::watch;
use wesh_mix::{NodeId, Topology};
use wesh_payments::RewardSchedule;
use wesh_payments::params::SHOPPER_DRAIN_SECS;

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

/// How often the monitor pulls its return mailboxes.
const MONITOR_PULL: Duration = Duration::from_millis(250);

/// Runs until `stop`: monitor each epoch, then settle it (when is `RewardSchedule`'s).
pub fn spawn_reward_loop(
    spec: RewardLoopSpec,
    mut directory: watch::Receiver<Option<DirectoryView>>,
    state: Arc<Mutex<IssuerState>>,
    mut stop: watch::Receiver<bool>,
) {
    let schedule = RewardSchedule {
        epoch_seconds: spec.issuer.epoch_seconds,
    };
    tokio::spawn(async move {
        loop {
            let run = schedule.at(unix_now());
            let sleep_to_end = async {
                tokio::select! {
                    _ = tokio::time::sleep(until_unix(run.end)) => true,
                    _ = stop.changed() => false,
                }
            };
            let view = directory.borrow_and_update().clone();
            let (Some(view), Some(_)) = (view, run.shop_for) else {
                // no routable directory yet, or too little of the epoch left
                tokio::select! {
                    _ = directory.changed() => continue,
                    go_on = sleep_to_end => if go_on { continue } else { return },
                }
            };
            let epoch = run.epoch;
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
            // measured from now: starting the monitor took some of the epoch
            let run_for = until_unix(run.shop_until).max(Duration::from_secs(1));
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
            wait_for_loops(&monitor, planned, Duration::from_secs(SHOPPER_DRAIN_SECS)).await;
            let scores = monitor.scores();
            monitor.stop();
            tokio::select! {
                _ = tokio::time::sleep(until_unix(run.settle_at)) => {}
                _ = stop.changed() => return,
            }
            let state = state.clone();
            let settled = tokio::task::spawn_blocking(move || {
                let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
                s.book.settle(epoch, &scores)
            })
            .await;
            match settled {
                Ok(Ok(rewards)) => tracing::info!(
                    epoch,
                    relays = rewards.entries.len(),
                    undistributed = rewards.undistributed,
                    "epoch settled"
                ),
                Ok(Err(e)) => tracing::warn!(epoch, error = %e, "epoch not settled"),
                Err(e) => tracing::error!(epoch, error = %e, "settlement task failed"),
            }
        }
    });
}
