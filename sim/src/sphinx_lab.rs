//! `--real-sphinx`: every simulated packet is also a real Sphinx packet, built by the
//! production builder (`wesh_mix::build_packet`) along the route and holds the simulator
//! drew, and unwrapped at every node by that node's own `MixProcessor`. The next hop and
//! the hold the simulator then uses are the ones the node read from the header, so a run
//! measures the real packet path; where they differ from what was drawn the run counts a
//! mismatch (none is expected: then a run gives the same report as without
//! `--real-sphinx` for the same seed, at about 0.3 ms of Sphinx work a hop).
//!
//! The packets' ephemeral secrets come from a generator of their own (seeded from the
//! run's seed), so the simulator's own draws are the same in both modes.

use rand::SeedableRng;
use rand_chacha::ChaCha12Rng;
use std::collections::HashMap;
use std::time::Duration;
use wesh_mix::{MixProcessor, NodeId, Processed, RouteNode};
use x25519_dalek::StaticSecret;

/// What a node read from a packet's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unwrapped {
    /// Hold for `hold_ns`, then send to the node with this id.
    Forward { next: NodeId, hold_ns: u64 },
    /// The packet ends here, for `destination`.
    Final { destination: NodeId },
    /// The node could not process it (counted as a failure; the simulator goes on with
    /// what it drew).
    Refused,
}

pub struct SphinxLab {
    nodes: Vec<RouteNode>,
    processors: Vec<MixProcessor>,
    rng: ChaCha12Rng,
    frames: HashMap<u32, Vec<u8>>,
    /// Hops unwrapped, packets built, and disagreements with the simulator's draws.
    pub hops: u64,
    pub built: u64,
    pub mismatches: u64,
}

/// Keeps the packets' secrets apart from the simulator's draws.
const SEED_SALT: u64 = 0x5350_4858_4c41_4221;

impl SphinxLab {
    /// `relays[i]` is node `i`'s route entry and Sphinx secret.
    pub fn new(relays: Vec<(RouteNode, StaticSecret)>, seed: u64) -> Self {
        let (nodes, processors) = relays
            .into_iter()
            .map(|(n, secret)| (n, MixProcessor::new(0, secret)))
            .unzip();
        SphinxLab {
            nodes,
            processors,
            rng: ChaCha12Rng::seed_from_u64(seed ^ SEED_SALT),
            frames: HashMap::new(),
            hops: 0,
            built: 0,
            mismatches: 0,
        }
    }

    /// Builds packet `handle` along node indices `route` with `holds_ns[i]` at `route[i]`.
    pub fn build(
        &mut self,
        handle: u32,
        route: &[u16],
        holds_ns: &[u64],
        destination: NodeId,
        plaintext: &[u8],
    ) {
        let nodes: Option<Vec<RouteNode>> = route
            .iter()
            .map(|i| self.nodes.get(usize::from(*i)).copied())
            .collect();
        let delays: Vec<Duration> = holds_ns
            .iter()
            .map(|ns| Duration::from_nanos(*ns))
            .collect();
        let built = nodes.and_then(|nodes| {
            wesh_mix::build_packet(&mut self.rng, &nodes, destination, plaintext, &delays).ok()
        });
        match built {
            Some(frame) => {
                self.built += 1;
                self.frames.insert(handle, frame);
            }
            None => self.mismatches += 1,
        }
    }

    /// Node `at` unwraps packet `handle` (forgotten when it ends there).
    pub fn unwrap(&mut self, handle: u32, at: u16) -> Unwrapped {
        let (Some(frame), Some(processor)) = (
            self.frames.remove(&handle),
            self.processors.get_mut(usize::from(at)),
        ) else {
            return Unwrapped::Refused;
        };
        self.hops += 1;
        match processor.process(&frame) {
            Ok(Processed::Forward {
                next_hop,
                packet,
                delay,
                ..
            }) => {
                self.frames.insert(handle, packet);
                Unwrapped::Forward {
                    next: next_hop,
                    hold_ns: delay.as_nanos() as u64,
                }
            }
            Ok(Processed::Final { destination, .. }) => Unwrapped::Final { destination },
            Err(_) => Unwrapped::Refused,
        }
    }

    /// A packet the simulator dropped or that ended elsewhere.
    pub fn forget(&mut self, handle: u32) {
        self.frames.remove(&handle);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use x25519_dalek::PublicKey;

    fn relay(i: u8) -> (RouteNode, StaticSecret) {
        let secret = StaticSecret::from([i; 32]);
        let node = RouteNode {
            id: NodeId([i; 32]),
            sphinx_key: PublicKey::from(&secret),
        };
        (node, secret)
    }

    #[test]
    fn each_node_reads_its_hop_and_a_wrong_node_refuses() {
        let mut lab = SphinxLab::new((1..=3).map(relay).collect(), 9);
        let to = NodeId([7; 32]);
        lab.build(0, &[0, 1, 2], &[5_000_000, 7_000_000, 0], to, b"hello");
        assert_eq!(
            lab.unwrap(0, 0),
            Unwrapped::Forward {
                next: NodeId([2; 32]),
                hold_ns: 5_000_000
            }
        );
        assert_eq!(
            lab.unwrap(0, 1),
            Unwrapped::Forward {
                next: NodeId([3; 32]),
                hold_ns: 7_000_000
            }
        );
        assert_eq!(lab.unwrap(0, 2), Unwrapped::Final { destination: to });
        assert_eq!((lab.built, lab.hops), (1, 3));
        // a packet for node 0 taken to node 2 does not open
        lab.build(1, &[0, 1], &[1, 0], to, b"x");
        assert_eq!(lab.unwrap(1, 2), Unwrapped::Refused);
        assert_eq!(
            lab.unwrap(1, 0),
            Unwrapped::Refused,
            "forgotten after a refusal"
        );
    }
}
