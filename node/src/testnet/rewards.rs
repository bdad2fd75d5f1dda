//! The testnet's secret shopper: test loops through every mix and provider during the
//! run, then the issuer settles the epoch's reward pool from their scores and the nodes'
//! work.

use super::Node;
use super::summary::RewardRow;
use crate::metrics::get;
use crate::monitor::Monitor;
use crate::topology_file::Role;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use wesh_mix::Topology;
use wesh_payments::WorkReport;

/// Test loops per second the monitor sends (≈ 50 per mix in a 15 s run with 2 mixes a
/// layer: enough for a score, see `MIN_LOOPS_FOR_SCORE`).
pub const MONITOR_LOOPS_PER_SECOND: f64 = 8.0;

/// Sends the planned loops as a Poisson stream until `until`, each over the routing view
/// current when it leaves.
pub fn spawn_loops(
    monitor: Arc<Monitor>,
    epoch: u64,
    mut view: watch::Receiver<Option<Arc<Topology>>>,
    run_for: Duration,
) {
    let count = (MONITOR_LOOPS_PER_SECOND * run_for.as_secs_f64()).ceil() as usize;
    let loops = monitor.plan(epoch, count.max(1));
    let rate = loops.len() as f64 / run_for.as_secs_f64().max(1.0);
    tokio::spawn(async move {
        let until = Instant::now() + run_for;
        for test in loops {
            tokio::time::sleep(Monitor::gap(rate)).await;
            if Instant::now() > until {
                break;
            }
            let current = view.borrow_and_update().clone();
            if let Some(t) = current
                && let Err(e) = monitor.send(&test, &t)
            {
                tracing::debug!(error = %e, "test loop not sent");
            }
        }
    });
}

/// Settles `epoch` at the issuer and returns one row per relay.
pub(super) fn settle(
    issuer: &crate::issuer::role::RunningIssuer,
    monitor: &Monitor,
    epoch: u64,
    nodes: &[&Node],
) -> Vec<RewardRow> {
    let scores = monitor.scores();
    let reports: Vec<WorkReport> = nodes
        .iter()
        .map(|n| WorkReport {
            node: n.keys_public.id.0,
            packets: get(&n.handle.metrics.received),
        })
        .collect();
    let mut state = issuer
        .state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let settled = match state.issuer.settle(epoch, &scores, &reports) {
        Ok(r) => r.clone(),
        Err(e) => {
            tracing::warn!(error = %e, "reward settlement failed");
            return Vec::new();
        }
    };
    nodes
        .iter()
        .map(|n| {
            let id = n.keys_public.id.0;
            let measured = scores.nodes.get(&id);
            let entry = settled.entries.get(&id);
            RewardRow {
                node: hex::encode(&id[..6]),
                role: match n.handle.role {
                    Role::Mix => "mix".into(),
                    Role::Provider => "provider".into(),
                },
                loops_sent: measured.map_or(0, |m| m.loops_sent),
                loops_returned: measured.map_or(0, |m| m.loops_returned),
                score: super::summary::round2(entry.map_or(0.0, |e| e.score)),
                work: entry.map_or(0, |e| e.reported),
                units: entry.map_or(0, |e| e.units),
            }
        })
        .collect()
}
