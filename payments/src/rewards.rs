//! Reward settlement: an epoch's pool is split by score × counted work, and recorded as
//! ledger entries that each relayer claims once.
//!
//! Why ledger entries, not blind-signed reward tokens: relayers are public
//! infrastructure whose identity is already in the PKI, so hiding which node was paid
//! protects no one, while a public per-node ledger can be audited (anyone can recompute
//! the split from scores and reports), corrected, and claimed exactly once without a
//! second spent set.

use crate::error::{ClaimError, SettleError};
use crate::params::REPLICA_REGISTRATION_WORK;
use crate::shopper::ShopperScores;
use crate::{Epoch, NodeId};
use std::collections::BTreeMap;
use std::fmt;

/// Work a node says it did in an epoch: packets relayed, and (providers) group
/// registrations for replication it was paid for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WorkReport {
    pub node: NodeId,
    pub packets: u64,
    pub replica_registrations: u64,
}

/// One node's reward for one epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct RewardEntry {
    pub node: NodeId,
    /// Secret-shopper score in [0, 1] (0 if unmeasured).
    pub score: f64,
    pub reported: u64,
    /// Reported packets capped at `slack × measured share × total reported`.
    pub counted: u64,
    /// Paid replication registrations counted (at most the tokens the provider redeemed
    /// around the epoch), each worth [`REPLICA_REGISTRATION_WORK`] packets.
    pub replicas: u64,
    pub units: u64,
    pub claimed: bool,
}

/// The settled rewards of one epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochRewards {
    pub epoch: Epoch,
    pub pool: u64,
    pub entries: BTreeMap<NodeId, RewardEntry>,
    /// Units left by rounding down (or by an epoch with no measured work).
    pub undistributed: u64,
}

/// Splits `pool` among nodes: weight_i = score_i × (min(reported_i, slack × share_i × T̂) +
/// replicas_i × REPLICA_REGISTRATION_WORK), units_i = ⌊pool × weight_i / Σ weight⌋,
/// where share_i is the node's share of test-loop appearances and T̂ the median over nodes
/// of reported_j / share_j (the network total each report implies; a median, so that one
/// inflated report cannot raise every cap). Replication registrations come capped by the
/// caller ([`crate::issuer::Issuer::settle`]: one per token the provider redeemed). Nodes
/// without a score get 0; several reports from one node count once (the largest).
pub fn split_pool(
    epoch: Epoch,
    pool: u64,
    scores: &ShopperScores,
    reports: &[WorkReport],
    slack: f64,
) -> EpochRewards {
    let mut reported: BTreeMap<NodeId, u64> = BTreeMap::new();
    let mut replicas: BTreeMap<NodeId, u64> = BTreeMap::new();
    for r in reports {
        let e = reported.entry(r.node).or_insert(0);
        *e = (*e).max(r.packets);
        let e = replicas.entry(r.node).or_insert(0);
        *e = (*e).max(r.replica_registrations);
    }
    let total_estimate = median(
        reported
            .iter()
            .filter_map(|(node, packets)| {
                let share = scores.measured_share(node);
                (share > 0.0).then(|| *packets as f64 / share)
            })
            .collect(),
    );
    let mut entries = BTreeMap::new();
    let mut weights = Vec::new();
    for (node, packets) in &reported {
        let score = scores.score(node).unwrap_or(0.0).clamp(0.0, 1.0);
        let cap = slack * scores.measured_share(node) * total_estimate;
        let counted = (*packets as f64).min(cap).max(0.0) as u64;
        let replicas = replicas.get(node).copied().unwrap_or(0);
        let work = counted as f64 + (replicas as f64) * REPLICA_REGISTRATION_WORK as f64;
        weights.push((*node, score * work));
        entries.insert(
            *node,
            RewardEntry {
                node: *node,
                score,
                reported: *packets,
                counted,
                replicas,
                units: 0,
                claimed: false,
            },
        );
    }
    let total_weight: f64 = weights.iter().map(|(_, w)| w).sum();
    let mut paid = 0u64;
    if total_weight > 0.0 {
        for (node, w) in weights {
            let units = ((pool as f64) * w / total_weight).floor() as u64;
            if let Some(e) = entries.get_mut(&node) {
                e.units = units;
                paid += units;
            }
        }
    }
    EpochRewards {
        epoch,
        pool,
        entries,
        undistributed: pool.saturating_sub(paid),
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    match (values.get(mid.wrapping_sub(1)), values.get(mid)) {
        (Some(lo), Some(hi)) if values.len().is_multiple_of(2) => (lo + hi) / 2.0,
        (_, Some(m)) => *m,
        _ => 0.0,
    }
}

impl fmt::Display for EpochRewards {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "epoch {} — pool {} units, undistributed {}",
            self.epoch, self.pool, self.undistributed
        )?;
        writeln!(
            f,
            "{:<18} {:>6} {:>12} {:>12} {:>8} {:>10} {:>8}",
            "node", "score", "reported", "counted", "replicas", "units", "claimed"
        )?;
        for e in self.entries.values() {
            writeln!(
                f,
                "{:<18} {:>6.3} {:>12} {:>12} {:>8} {:>10} {:>8}",
                hex::encode(&e.node[..8]),
                e.score,
                e.reported,
                e.counted,
                e.replicas,
                e.units,
                if e.claimed { "yes" } else { "no" }
            )?;
        }
        Ok(())
    }
}

/// Settled epochs and their claims.
#[derive(Debug, Clone, Default)]
pub struct RewardLedger {
    epochs: BTreeMap<Epoch, EpochRewards>,
}

impl RewardLedger {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records an epoch's split; an epoch is settled once.
    pub fn record(&mut self, rewards: EpochRewards) -> Result<&EpochRewards, SettleError> {
        match self.epochs.entry(rewards.epoch) {
            std::collections::btree_map::Entry::Occupied(_) => {
                Err(SettleError::AlreadySettled(rewards.epoch))
            }
            std::collections::btree_map::Entry::Vacant(v) => Ok(v.insert(rewards)),
        }
    }

    pub fn epoch(&self, epoch: Epoch) -> Option<&EpochRewards> {
        self.epochs.get(&epoch)
    }

    /// Every settled epoch, oldest first (for a node persisting the ledger).
    pub fn epochs(&self) -> impl Iterator<Item = &EpochRewards> {
        self.epochs.values()
    }

    /// A node's units for an epoch (None if not settled or no entry).
    pub fn share(&self, epoch: Epoch, node: &NodeId) -> Option<u64> {
        self.epochs
            .get(&epoch)
            .and_then(|r| r.entries.get(node))
            .map(|e| e.units)
    }

    /// Marks a node's entry claimed and returns its units; a second claim fails.
    pub fn claim(&mut self, epoch: Epoch, node: &NodeId) -> Result<u64, ClaimError> {
        let rewards = self.epochs.get_mut(&epoch).ok_or(ClaimError::NotSettled)?;
        let entry = rewards.entries.get_mut(node).ok_or(ClaimError::NoEntry)?;
        if entry.claimed {
            return Err(ClaimError::AlreadyClaimed);
        }
        entry.claimed = true;
        Ok(entry.units)
    }

    /// The epoch's split as a printable table.
    pub fn table(&self, epoch: Epoch) -> Option<String> {
        self.epochs.get(&epoch).map(ToString::to_string)
    }
}
