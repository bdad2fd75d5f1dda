//! Secret-shopper monitor: sends test loops over random routes and scores every mix and
//! provider by how many of the loops through it came back.
//!
//! Scoring model (see spec/payments.md §Rewards): a loop returns with probability
//! Π p_i over its route, and each position (entry provider, each mix layer, exit
//! provider) is drawn independently and uniformly. So the return rate of loops through
//! node i at position k is p_i × (a factor common to all nodes at position k); dividing
//! by the median return rate of that position cancels the common factor and estimates
//! p_i relative to a typical peer. A node's score is that ratio capped at 1, averaged
//! over the positions it was measured in, weighted by loops. Unlike blaming every node
//! of a failed loop by 1/len, a mix dropping half its packets scores ≈ 0.5 (not ≈ 0.9)
//! and its honest neighbours are not blamed for it.

use crate::params::MIN_LOOPS_FOR_SCORE;
use crate::{Epoch, NodeId};
use rand::{Rng, RngExt};
use std::collections::{BTreeMap, HashMap, HashSet};
use thiserror::Error;

/// Why a monitor cannot be built over a topology.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum TopologyError {
    #[error("no mix layer")]
    NoLayers,
    #[error("mix layer {0} is empty")]
    EmptyLayer(usize),
    #[error("no provider")]
    NoProviders,
}

/// One test loop to send: `route[0]` is the entry provider, then one mix per layer, and
/// the last element the exit provider that hands the loop back to the monitor. `id` is
/// what the monitor hides inside the loop's payload to recognise it on return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestLoop {
    pub id: u64,
    pub route: Vec<NodeId>,
}

/// A random pause before the next test loop, seconds, so that loops leave as a Poisson
/// stream of `rate` per second (as client loop cover does).
pub fn pacing_gap<R: Rng + ?Sized>(rng: &mut R, rate: f64) -> f64 {
    let u: f64 = rng.random_range(f64::EPSILON..1.0);
    -u.ln() / rate.max(1e-3)
}

/// Whether the shopper has stopped waiting for loops: every planned loop was sent and
/// every sent loop came back (a loop still in flight must not count as dropped).
pub fn loops_settled(planned: u64, sent: u64, returned: u64) -> bool {
    sent >= planned && returned >= sent
}

/// Loop counts and score of one node.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NodeScore {
    /// Test loops that went through this node (counting each position once).
    pub loops_sent: u64,
    pub loops_returned: u64,
    /// Estimated delivery ratio in [0, 1]; `None` if too few loops measured it.
    pub score: Option<f64>,
}

/// Scores of one epoch.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ShopperScores {
    pub epoch: Epoch,
    pub nodes: BTreeMap<NodeId, NodeScore>,
}

impl ShopperScores {
    /// Node's share of all test-loop appearances: the share of traffic it should carry
    /// if clients pick routes the way the monitor does.
    pub fn measured_share(&self, node: &NodeId) -> f64 {
        let total: u64 = self.nodes.values().map(|s| s.loops_sent).sum();
        match (self.nodes.get(node), total) {
            (Some(s), t) if t > 0 => s.loops_sent as f64 / t as f64,
            _ => 0.0,
        }
    }

    pub fn score(&self, node: &NodeId) -> Option<f64> {
        self.nodes.get(node).and_then(|s| s.score)
    }
}

/// The monitor's state for the current epoch.
#[derive(Debug, Clone)]
pub struct ShopperMonitor {
    layers: Vec<Vec<NodeId>>,
    providers: Vec<NodeId>,
    epoch: Epoch,
    outstanding: HashMap<u64, Vec<NodeId>>,
    returned: HashSet<u64>,
}

impl ShopperMonitor {
    pub fn new(layers: Vec<Vec<NodeId>>, providers: Vec<NodeId>) -> Result<Self, TopologyError> {
        if layers.is_empty() {
            return Err(TopologyError::NoLayers);
        }
        if let Some(i) = layers.iter().position(Vec::is_empty) {
            return Err(TopologyError::EmptyLayer(i));
        }
        if providers.is_empty() {
            return Err(TopologyError::NoProviders);
        }
        Ok(Self {
            layers,
            providers,
            epoch: 0,
            outstanding: HashMap::new(),
            returned: HashSet::new(),
        })
    }

    /// Starts `epoch`: forgets the previous epoch's loops and draws `count` new ones,
    /// each position uniformly and independently (as clients draw routes, so test
    /// loops look like client loop cover traffic).
    pub fn plan_epoch<R: Rng + ?Sized>(
        &mut self,
        epoch: Epoch,
        count: usize,
        rng: &mut R,
    ) -> Vec<TestLoop> {
        self.epoch = epoch;
        self.outstanding.clear();
        self.returned.clear();
        let mut loops = Vec::with_capacity(count);
        while loops.len() < count {
            let id = rng.next_u64();
            if self.outstanding.contains_key(&id) {
                continue;
            }
            let mut route = Vec::with_capacity(self.layers.len() + 2);
            route.push(pick(&self.providers, rng));
            for layer in &self.layers {
                route.push(pick(layer, rng));
            }
            route.push(pick(&self.providers, rng));
            self.outstanding.insert(id, route.clone());
            loops.push(TestLoop { id, route });
        }
        loops
    }

    /// Plans the loops of `epoch` to send at `loops_per_second` for `run_for_secs`
    /// (at least one), and the rate per second that spreads them over the run.
    pub fn plan_run<R: Rng + ?Sized>(
        &mut self,
        epoch: Epoch,
        loops_per_second: f64,
        run_for_secs: f64,
        rng: &mut R,
    ) -> (Vec<TestLoop>, f64) {
        let count = (loops_per_second * run_for_secs).ceil().max(1.0) as usize;
        let loops = self.plan_epoch(epoch, count, rng);
        let rate = loops.len() as f64 / run_for_secs.max(1.0);
        (loops, rate)
    }

    /// Records that loop `id` came back. Returns false for unknown or repeated ids
    /// (a replayed loop must not count twice).
    pub fn record_return(&mut self, id: u64) -> bool {
        self.outstanding.contains_key(&id) && self.returned.insert(id)
    }

    /// Loops planned this epoch.
    pub fn planned(&self) -> usize {
        self.outstanding.len()
    }

    /// Scores every node from the loops planned and returned this epoch.
    pub fn scores(&self) -> ShopperScores {
        let positions = self.layers.len() + 2;
        // Per position: node → (sent, returned).
        let mut per_position: Vec<BTreeMap<NodeId, (u64, u64)>> = vec![BTreeMap::new(); positions];
        for (id, route) in &self.outstanding {
            let ok = u64::from(self.returned.contains(id));
            for (stats, node) in per_position.iter_mut().zip(route) {
                let e = stats.entry(*node).or_insert((0, 0));
                e.0 += 1;
                e.1 += ok;
            }
        }
        // Per node: (sent, returned, Σ loops × ratio, Σ loops measured).
        let mut acc: BTreeMap<NodeId, (u64, u64, f64, u64)> = BTreeMap::new();
        for stats in &per_position {
            let reference = median_rate(stats);
            for (node, (sent, ret)) in stats {
                let a = acc.entry(*node).or_insert((0, 0, 0.0, 0));
                a.0 += sent;
                a.1 += ret;
                if *sent >= MIN_LOOPS_FOR_SCORE {
                    let ratio = match reference {
                        Some(r) if r > 0.0 => (rate(*sent, *ret) / r).min(1.0),
                        _ => 0.0,
                    };
                    a.2 += ratio * *sent as f64;
                    a.3 += sent;
                }
            }
        }
        let mut nodes = BTreeMap::new();
        for layer in self.layers.iter().chain(std::iter::once(&self.providers)) {
            for node in layer {
                let (sent, ret, weighted, measured) =
                    acc.get(node).copied().unwrap_or((0, 0, 0.0, 0));
                nodes.insert(
                    *node,
                    NodeScore {
                        loops_sent: sent,
                        loops_returned: ret,
                        score: (measured > 0).then(|| weighted / measured as f64),
                    },
                );
            }
        }
        ShopperScores {
            epoch: self.epoch,
            nodes,
        }
    }
}

fn pick<R: Rng + ?Sized>(nodes: &[NodeId], rng: &mut R) -> NodeId {
    // Modulo bias is < len/2^64: irrelevant for route choice.
    let i = (rng.next_u64() % nodes.len() as u64) as usize;
    nodes.get(i).copied().unwrap_or([0; 32])
}

fn rate(sent: u64, returned: u64) -> f64 {
    if sent == 0 {
        0.0
    } else {
        returned as f64 / sent as f64
    }
}

/// Median return rate over nodes measured at one position (assumes most are honest).
fn median_rate(stats: &BTreeMap<NodeId, (u64, u64)>) -> Option<f64> {
    let mut rates: Vec<f64> = stats
        .values()
        .filter(|(s, _)| *s >= MIN_LOOPS_FOR_SCORE)
        .map(|(s, r)| rate(*s, *r))
        .collect();
    if rates.is_empty() {
        return None;
    }
    rates.sort_by(f64::total_cmp);
    let mid = rates.len() / 2;
    let upper = rates.get(mid).copied()?;
    if !rates.len().is_multiple_of(2) {
        Some(upper)
    } else {
        let lower = rates.get(mid - 1).copied()?;
        Some((lower + upper) / 2.0)
    }
}
