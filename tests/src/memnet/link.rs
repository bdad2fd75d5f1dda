//! In-memory links between relays: a fixed one-way latency, and the faults a harness
//! installs on a node (the testnet's `--kill-mix-at`, drop fraction and replay attack,
//! here as a hook of the harness instead of fields of production types).

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha20Rng;
use std::collections::BTreeMap;
use std::time::Duration;
use wesh_mix::NodeId;

/// Default one-way latency of a link (a LAN-ish figure; configurable per run).
pub const DEFAULT_LINK_LATENCY: Duration = Duration::from_millis(5);

/// How a node misbehaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    /// Crashed: nothing reaches it, nothing leaves it (what it held is lost).
    Dead,
    /// Broken or cheating: each frame it should send is lost with this probability.
    Drops(f64),
    /// Replay attack: sends every frame twice.
    Replays,
}

#[derive(Debug, Clone)]
pub struct MemLink {
    latency: Duration,
    faults: BTreeMap<NodeId, Fault>,
    /// Draws the losses of `Fault::Drops` (seeded: a run stays reproducible).
    rng: ChaCha20Rng,
}

impl MemLink {
    pub fn new(latency: Duration, seed: [u8; 32]) -> Self {
        MemLink {
            latency,
            faults: BTreeMap::new(),
            rng: ChaCha20Rng::from_seed(seed),
        }
    }

    pub fn latency(&self) -> Duration {
        self.latency
    }

    pub fn set_fault(&mut self, node: NodeId, fault: Fault) {
        self.faults.insert(node, fault);
    }

    /// Takes a node off the network for good.
    pub fn kill(&mut self, node: NodeId) {
        self.set_fault(node, Fault::Dead);
    }

    pub fn is_down(&self, node: &NodeId) -> bool {
        matches!(self.faults.get(node), Some(Fault::Dead))
    }

    /// How many copies of one frame `from` sends reach the wire (0, 1 or 2).
    pub fn copies_sent(&mut self, from: &NodeId) -> usize {
        match self.faults.get(from) {
            None => 1,
            Some(Fault::Dead) => 0,
            Some(Fault::Replays) => 2,
            Some(Fault::Drops(p)) => {
                let p = if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
                usize::from(!self.rng.random_bool(p))
            }
        }
    }
}
