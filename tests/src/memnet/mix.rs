//! A mix node: the production Sphinx processor, hop rules and loop cover stream.

use super::error::MemNetError;
use std::time::Duration;
use wesh_mix::hop_rules::{HopAction, HopRules, RelayKind};
use wesh_mix::{DropReason, MixCover, MixProcessor, NodeId, Topology};
use x25519_dalek::StaticSecret;

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
    rules: HopRules,
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
            rules: HopRules::new(id, RelayKind::Mix, false),
            cover: MixCover::new(id, loop_rate, mean_hop_delay, Duration::ZERO, seed)?,
            stats: MixStats::default(),
        })
    }

    /// One received packet: what the hop rules make of it.
    pub fn on_packet(&mut self, topology: &Topology, frame: &[u8]) -> HopAction {
        self.stats.processed += 1;
        let action = self
            .rules
            .decide(self.processor.process(frame), Some(topology));
        match &action {
            HopAction::Dropped(reason) => {
                self.stats.dropped += 1;
                if *reason == DropReason::Replay {
                    self.stats.replays_dropped += 1;
                }
            }
            HopAction::LoopReturned => self.stats.loops_returned += 1,
            HopAction::Forward { .. } => {}
            // unknown next hops, and final hops a mix cannot keep
            _ => self.stats.dropped += 1,
        }
        action
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
