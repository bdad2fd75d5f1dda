//! Admission of `/wesh/replication/1` exchanges at a provider (sans I/O): at most
//! [`REPLICA_MAX_EXCHANGES`] at once, and at most [`REPLICA_MAX_EXCHANGES_PER_PEER`] for
//! one peer, decided before the request is read; beyond them the stream is dropped
//! unread, so a flood of fetches or registrations costs the provider a counter each.

use std::collections::HashMap;

use super::params::{REPLICA_MAX_EXCHANGES, REPLICA_MAX_EXCHANGES_PER_PEER};

#[derive(Debug)]
pub struct ReplicaGate {
    total_max: usize,
    per_peer_max: usize,
    open: HashMap<[u8; 32], usize>,
    total: usize,
    refused: u64,
}

impl Default for ReplicaGate {
    fn default() -> Self {
        Self::new(REPLICA_MAX_EXCHANGES, REPLICA_MAX_EXCHANGES_PER_PEER)
    }
}

impl ReplicaGate {
    pub fn new(total_max: usize, per_peer_max: usize) -> Self {
        Self {
            total_max,
            per_peer_max,
            open: HashMap::new(),
            total: 0,
            refused: 0,
        }
    }

    /// Whether `peer` may open one more exchange now; if so it counts until
    /// [`Self::release`].
    pub fn admit(&mut self, peer: [u8; 32]) -> bool {
        let mine = self.open.get(&peer).copied().unwrap_or(0);
        if self.total >= self.total_max || mine >= self.per_peer_max {
            self.refused += 1;
            return false;
        }
        self.open.insert(peer, mine + 1);
        self.total += 1;
        true
    }

    /// An admitted exchange of `peer` ended.
    pub fn release(&mut self, peer: [u8; 32]) {
        if let Some(n) = self.open.get_mut(&peer) {
            *n -= 1;
            self.total = self.total.saturating_sub(1);
            if *n == 0 {
                self.open.remove(&peer);
            }
        }
    }

    /// Exchanges refused so far.
    pub fn refused(&self) -> u64 {
        self.refused
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_peer_and_total_caps_hold_and_free_on_release() {
        let mut g = ReplicaGate::new(3, 2);
        assert!(g.admit([1; 32]));
        assert!(g.admit([1; 32]));
        assert!(!g.admit([1; 32]), "a third for one peer");
        assert!(g.admit([2; 32]));
        assert!(!g.admit([3; 32]), "total reached");
        g.release([1; 32]);
        assert!(g.admit([3; 32]));
        g.release([9; 32]); // unknown: nothing changes
        assert!(!g.admit([4; 32]));
        assert_eq!(g.refused(), 3);
    }
}
