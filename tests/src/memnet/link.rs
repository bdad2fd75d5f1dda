//! In-memory links between relays: a fixed one-way latency, and nodes that are down (a
//! killed mix) silently lose what is sent to them, as a crashed peer would.

use std::collections::BTreeSet;
use std::time::Duration;
use wesh_mix::NodeId;

/// Default one-way latency of a link (a LAN-ish figure; configurable per run).
pub const DEFAULT_LINK_LATENCY: Duration = Duration::from_millis(5);

#[derive(Debug, Clone)]
pub struct MemLink {
    latency: Duration,
    down: BTreeSet<NodeId>,
}

impl MemLink {
    pub fn new(latency: Duration) -> Self {
        MemLink {
            latency,
            down: BTreeSet::new(),
        }
    }

    pub fn latency(&self) -> Duration {
        self.latency
    }

    /// How long a frame from `from` to `to` takes, or `None` if either end is down.
    pub fn transit(&self, from: &NodeId, to: &NodeId) -> Option<Duration> {
        if self.down.contains(from) || self.down.contains(to) {
            return None;
        }
        Some(self.latency)
    }

    /// Takes a node off the network: nothing reaches it or leaves it any more.
    pub fn kill(&mut self, node: NodeId) {
        self.down.insert(node);
    }

    pub fn is_down(&self, node: &NodeId) -> bool {
        self.down.contains(node)
    }
}
