//! A mix's own loop cover (λ_M): packets that leave the mix and come back to it.

use crate::delay::HopDelaySampler;
use crate::error::{BuildError, RateError};
use crate::node_id::NodeId;
use crate::outgoing::{Outgoing, TrafficKind};
use crate::packet::build_packet;
use crate::payload::MixPayload;
use crate::poisson::PoissonStream;
use crate::topology::Topology;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use std::time::Duration;

pub struct MixCover {
    me: NodeId,
    delays: HopDelaySampler,
    stream: PoissonStream,
    rng: ChaCha20Rng,
    next_id: u64,
}

impl MixCover {
    pub fn new(
        me: NodeId,
        rate: f64,
        mean_hop_delay: Duration,
        now: Duration,
        seed: [u8; 32],
    ) -> Result<Self, RateError> {
        let mut rng = ChaCha20Rng::from_seed(seed);
        Ok(MixCover {
            me,
            delays: HopDelaySampler::new(mean_hop_delay),
            stream: PoissonStream::new(rate, now, &mut rng)?,
            rng,
            next_id: 1,
        })
    }

    pub fn next_deadline(&self) -> Option<Duration> {
        self.stream.next_at()
    }

    pub fn stop(&mut self) {
        self.stream.stop();
    }

    /// Loops due at `now`. A mix that is not (or no longer) in the topology sends none.
    pub fn poll(
        &mut self,
        now: Duration,
        topology: &Topology,
    ) -> Vec<Result<Outgoing, BuildError>> {
        let mut out = Vec::new();
        while self.stream.fire(now, &mut self.rng) {
            let id = self.next_id;
            self.next_id += 1;
            out.push(self.build(topology, id));
        }
        out
    }

    fn build(&mut self, topology: &Topology, id: u64) -> Result<Outgoing, BuildError> {
        let route = topology.mix_loop_route(&mut self.rng, &self.me)?;
        let delays = self.delays.for_route(&mut self.rng, route.len());
        let plaintext = MixPayload::Loop { id }.encode();
        let packet = build_packet(&mut self.rng, &route, self.me, &plaintext, &delays)?;
        let first_hop = route
            .first()
            .map(|n| n.id)
            .ok_or(BuildError::RouteLength(0))?;
        Ok(Outgoing {
            first_hop,
            packet,
            kind: TrafficKind::Loop { id },
            sampled_delay: delays.iter().sum(),
        })
    }
}
