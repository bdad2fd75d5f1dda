//! A mix node: the production Sphinx processor and loop cover stream, with the relay's
//! rule that a packet is forwarded only to a next hop the routing view knows.

use super::error::MemNetError;
use std::time::Duration;
use wesh_mix::{DropReason, MixCover, MixProcessor, NodeId, Processed, Topology};
use x25519_dalek::StaticSecret;

/// What a relay does with one packet it received.
#[derive(Debug)]
pub enum RelayStep {
    /// Hold for `delay`, then send to `next_hop`.
    Hold {
        next_hop: NodeId,
        packet: Vec<u8>,
        delay: Duration,
    },
    /// This node is the packet's last hop.
    Final {
        destination: NodeId,
        plaintext: Vec<u8>,
    },
    /// Refused by the processor (replay, bad MAC, ...) or for an unknown next hop.
    Dropped(DropCause),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropCause {
    Processor(DropReason),
    UnknownNextHop,
}

/// Sphinx processing as `node/src/relay.rs` does it, shared by mixes and providers.
pub fn relay_step(processor: &mut MixProcessor, topology: &Topology, frame: &[u8]) -> RelayStep {
    match processor.process(frame) {
        Err(reason) => RelayStep::Dropped(DropCause::Processor(reason)),
        Ok(Processed::Forward {
            next_hop,
            packet,
            delay,
            ..
        }) => {
            // the relay only opens links to nodes of its routing view
            if topology.node(&next_hop).is_none() {
                return RelayStep::Dropped(DropCause::UnknownNextHop);
            }
            RelayStep::Hold {
                next_hop,
                packet,
                delay,
            }
        }
        Ok(Processed::Final {
            destination,
            plaintext,
        }) => RelayStep::Final {
            destination,
            plaintext,
        },
    }
}

/// Counters of one mix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MixStats {
    pub processed: u64,
    pub dropped: u64,
    /// Of `dropped`: packets whose replay tag was seen before.
    pub replays_dropped: u64,
    pub loops_sent: u64,
    pub loops_returned: u64,
}

pub struct MemMix {
    pub id: NodeId,
    processor: MixProcessor,
    cover: MixCover,
    pub stats: MixStats,
}

impl std::fmt::Debug for MemMix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemMix")
            .field("id", &self.id)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl MemMix {
    pub fn new(
        id: NodeId,
        secret: StaticSecret,
        loop_rate: f64,
        mean_hop_delay: Duration,
        seed: [u8; 32],
    ) -> Result<Self, MemNetError> {
        Ok(MemMix {
            id,
            processor: MixProcessor::new(0, secret),
            cover: MixCover::new(id, loop_rate, mean_hop_delay, Duration::ZERO, seed)?,
            stats: MixStats::default(),
        })
    }

    /// One received packet.
    pub fn on_packet(&mut self, topology: &Topology, frame: &[u8]) -> RelayStep {
        self.stats.processed += 1;
        let step = relay_step(&mut self.processor, topology, frame);
        match &step {
            RelayStep::Dropped(cause) => {
                self.stats.dropped += 1;
                if *cause == DropCause::Processor(DropReason::Replay) {
                    self.stats.replays_dropped += 1;
                }
            }
            RelayStep::Final { destination, .. } if *destination == self.id => {
                self.stats.loops_returned += 1
            }
            // a mix is never a final hop for anyone else: undeliverable, dropped
            RelayStep::Final { .. } => self.stats.dropped += 1,
            RelayStep::Hold { .. } => {}
        }
        step
    }

    pub fn next_cover_at(&self) -> Option<Duration> {
        self.cover.next_deadline()
    }

    /// Loops due at `now`: (first hop, packet).
    pub fn poll_cover(&mut self, now: Duration, topology: &Topology) -> Vec<(NodeId, Vec<u8>)> {
        let out: Vec<_> = self
            .cover
            .poll(now, topology)
            .into_iter()
            .filter_map(Result::ok)
            .map(|o| (o.first_hop, o.packet))
            .collect();
        self.stats.loops_sent += out.len() as u64;
        out
    }
}
