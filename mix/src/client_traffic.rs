//! The client's three Loopix streams: real (λ_P), loop (λ_L) and drop (λ_D).
//!
//! Sans-I/O: the shell calls [`ClientTraffic::poll`] at [`ClientTraffic::next_deadline`]
//! and sends what it returns; nothing here reads a clock or a socket.

use crate::delay::HopDelaySampler;
use crate::error::{BuildError, RateError};
use crate::node_id::NodeId;
use crate::outgoing::{Outgoing, TrafficKind};
use crate::packet::build_packet;
use crate::params::{
    DEFAULT_CLIENT_DROP_RATE, DEFAULT_CLIENT_LOOP_RATE, DEFAULT_CLIENT_REAL_RATE,
    DEFAULT_MEAN_HOP_DELAY, MAX_CLIENT_QUEUE, MAX_PLAINTEXT_BYTES,
};
use crate::payload::MixPayload;
use crate::poisson::PoissonStream;
use crate::topology::{ClientAddress, Topology};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use std::collections::VecDeque;
use std::time::Duration;
use thiserror::Error;

/// Rates (packets/s) and the mean per-hop delay a client uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClientTrafficConfig {
    pub real_rate: f64,
    pub loop_rate: f64,
    pub drop_rate: f64,
    pub mean_hop_delay: Duration,
}

impl Default for ClientTrafficConfig {
    fn default() -> Self {
        ClientTrafficConfig {
            real_rate: DEFAULT_CLIENT_REAL_RATE,
            loop_rate: DEFAULT_CLIENT_LOOP_RATE,
            drop_rate: DEFAULT_CLIENT_DROP_RATE,
            mean_hop_delay: DEFAULT_MEAN_HOP_DELAY,
        }
    }
}

#[derive(Debug, Error, PartialEq)]
pub enum EnqueueError {
    #[error("message of {len} bytes exceeds the {max}-byte packet body")]
    TooLong { len: usize, max: usize },
    #[error("send queue is full ({0} messages)")]
    QueueFull(usize),
}

struct Queued {
    id: u64,
    to: ClientAddress,
    body: Vec<u8>,
}

/// The client's traffic state machine.
pub struct ClientTraffic {
    me: ClientAddress,
    delays: HopDelaySampler,
    real: PoissonStream,
    loops: PoissonStream,
    drops: PoissonStream,
    queue: VecDeque<Queued>,
    rng: ChaCha20Rng,
    next_id: u64,
}

/// Largest body a real message may carry (one kind byte goes to the payload framing).
pub const MAX_BODY_BYTES: usize = MAX_PLAINTEXT_BYTES - 1;

impl ClientTraffic {
    pub fn new(
        me: ClientAddress,
        config: ClientTrafficConfig,
        now: Duration,
        seed: [u8; 32],
    ) -> Result<Self, RateError> {
        let mut rng = ChaCha20Rng::from_seed(seed);
        Ok(ClientTraffic {
            me,
            delays: HopDelaySampler::new(config.mean_hop_delay),
            real: PoissonStream::new(config.real_rate, now, &mut rng)?,
            loops: PoissonStream::new(config.loop_rate, now, &mut rng)?,
            drops: PoissonStream::new(config.drop_rate, now, &mut rng)?,
            queue: VecDeque::new(),
            rng,
            next_id: 1,
        })
    }

    pub fn address(&self) -> ClientAddress {
        self.me
    }

    /// Queues a real message; it leaves at the next tick of the real stream.
    pub fn enqueue(&mut self, to: ClientAddress, body: Vec<u8>) -> Result<u64, EnqueueError> {
        if body.len() > MAX_BODY_BYTES {
            return Err(EnqueueError::TooLong {
                len: body.len(),
                max: MAX_BODY_BYTES,
            });
        }
        if self.queue.len() >= MAX_CLIENT_QUEUE {
            return Err(EnqueueError::QueueFull(self.queue.len()));
        }
        let id = self.take_id();
        self.queue.push_back(Queued { id, to, body });
        Ok(id)
    }

    /// The id the next `enqueue` will return (lets a caller put it inside the body).
    pub fn next_message_id(&self) -> u64 {
        self.next_id
    }

    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    fn take_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// When `poll` next has something to do; `None` once every stream is stopped.
    pub fn next_deadline(&self) -> Option<Duration> {
        [
            self.real.next_at(),
            self.loops.next_at(),
            self.drops.next_at(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Stops all three streams (the client goes quiet; queued messages stay queued).
    pub fn stop(&mut self) {
        self.real.stop();
        self.loops.stop();
        self.drops.stop();
    }

    /// Fires every stream event due at `now` and returns the packets to send. A packet that
    /// cannot be built (e.g. the topology lost our provider) is reported and the stream
    /// moves on; a real message that fails stays at the head of the queue.
    pub fn poll(
        &mut self,
        now: Duration,
        topology: &Topology,
    ) -> Vec<Result<Outgoing, BuildError>> {
        let mut out = Vec::new();
        while self.real.fire(now, &mut self.rng) {
            match self.queue.front() {
                Some(q) => {
                    let (id, to) = (q.id, q.to);
                    let payload = MixPayload::Real(q.body.clone()).encode();
                    let built = self.build(topology, to.provider, to.client, &payload);
                    if built.is_ok() {
                        self.queue.pop_front();
                    }
                    out.push(built.map(|(first_hop, packet, sampled_delay)| Outgoing {
                        first_hop,
                        packet,
                        kind: TrafficKind::Real { id, to },
                        sampled_delay,
                    }));
                }
                None => out.push(self.drop_packet(topology)),
            }
        }
        while self.loops.fire(now, &mut self.rng) {
            let id = self.take_id();
            let payload = MixPayload::Loop { id }.encode();
            let me = self.me;
            out.push(self.build(topology, me.provider, me.client, &payload).map(
                |(first_hop, packet, sampled_delay)| Outgoing {
                    first_hop,
                    packet,
                    kind: TrafficKind::Loop { id },
                    sampled_delay,
                },
            ));
        }
        while self.drops.fire(now, &mut self.rng) {
            out.push(self.drop_packet(topology));
        }
        out
    }

    fn drop_packet(&mut self, topology: &Topology) -> Result<Outgoing, BuildError> {
        let provider = topology.random_provider(&mut self.rng)?.id;
        // The drop destination is all zeros: the recipient provider discards it.
        let (first_hop, packet, sampled_delay) = self.build(
            topology,
            provider,
            NodeId([0; 32]),
            &MixPayload::Drop.encode(),
        )?;
        Ok(Outgoing {
            first_hop,
            packet,
            kind: TrafficKind::Drop,
            sampled_delay,
        })
    }

    fn build(
        &mut self,
        topology: &Topology,
        to_provider: NodeId,
        to_client: NodeId,
        plaintext: &[u8],
    ) -> Result<(NodeId, Vec<u8>, Duration), BuildError> {
        let route = topology.forward_route(&mut self.rng, &self.me.provider, &to_provider)?;
        let delays = self.delays.for_route(&mut self.rng, route.len());
        let packet = build_packet(&mut self.rng, &route, to_client, plaintext, &delays)?;
        Ok((self.me.provider, packet, delays.iter().sum()))
    }
}

/// Draws a fresh 32-byte seed for a core from any RNG (the shell uses the OS RNG).
pub fn seed_from<R: Rng + ?Sized>(rng: &mut R) -> [u8; 32] {
    let mut seed = [0u8; 32];
    rng.fill_bytes(&mut seed);
    seed
}
