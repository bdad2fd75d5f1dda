//! The testnet's secret shopper: test loops through every mix and provider during the
//! run, then the issuer settles the epoch's reward pool from their scores and the nodes'
//! work.

use super::Node;
use super::summary::RewardRow;
use std::time::Duration;
use wesh_metrics::get;
use wesh_payments::WorkReport;
use wesh_shell::monitor::Monitor;
use wesh_shell::topology_file::Role;

/// Test loops per second the monitor sends (≈ 50 per mix in a 15 s run with 2 mixes a
/// layer: enough for a score, see `MIN_LOOPS_FOR_SCORE`).
pub const MONITOR_LOOPS_PER_SECOND: f64 = 8.0;

/// Settles `epoch` at the issuer and returns one row per relay.
pub(super) fn settle(
    issuer: &wesh_shell::issuer::role::RunningIssuer,
    monitor: &Monitor,
    epoch: u64,
    nodes: &[&Node],
    replicas: &[(
        wesh_mix::NodeId,
        std::sync::Arc<wesh_shell::replication::ReplicaService>,
    )],
) -> Vec<RewardRow> {
    let scores = monitor.scores();
    let paid = |id: &[u8; 32]| {
        replicas
            .iter()
            .find(|(r, _)| r.0 == *id)
            .map_or(0, |(_, s)| s.stats().registrations_charged)
    };
    let reports: Vec<WorkReport> = nodes
        .iter()
        .map(|n| WorkReport {
            node: n.keys_public.id.0,
            packets: get(&n.handle.metrics.received),
            replica_registrations: paid(&n.keys_public.id.0),
        })
        .collect();
    let mut state = issuer
        .state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let settled = match state.book.settle_with(epoch, &scores, &reports) {
        Ok(r) => r,
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
                replicas: entry.map_or(0, |e| e.replicas),
                units: entry.map_or(0, |e| e.units),
                claimed: 0,
            }
        })
        .collect()
}

/// Every relay claims its entry over the network, as its operator would
/// (`wesh rewards --claim`); a second claim must be refused.
pub(super) async fn claim_all(
    issuer: &wesh_shell::credit::IssuerAddress,
    epoch: u64,
    nodes: &[&Node],
    rows: &mut [RewardRow],
) -> u64 {
    let mut second_claims_refused = 0;
    for n in nodes {
        n.handle.net.add_address(issuer.peer, issuer.addr.clone());
    }
    // the swarms take the addresses asynchronously
    tokio::time::sleep(Duration::from_millis(200)).await;
    for (n, row) in nodes.iter().zip(rows.iter_mut()) {
        let mut control = n.handle.net.control.clone();
        // a killed relay cannot claim: do not wait long for it
        let limit = Duration::from_secs(3);
        let claim = wesh_shell::issuer::calls::claim_reward(&mut control, issuer.peer, epoch);
        match tokio::time::timeout(limit, claim).await {
            Ok(Ok(units)) => row.claimed = units,
            Ok(Err(e)) => tracing::warn!(error = %e, "reward claim failed"),
            Err(_) => {
                tracing::warn!("reward claim timed out");
                continue;
            }
        }
        let again = wesh_shell::issuer::calls::claim_reward(&mut control, issuer.peer, epoch);
        if matches!(tokio::time::timeout(limit, again).await, Ok(Err(_))) {
            second_claims_refused += 1;
        }
    }
    second_claims_refused
}
