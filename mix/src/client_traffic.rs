//! The client's three Loopix streams: real (λ_P), loop (λ_L) and drop (λ_D).
//!
//! Sans-I/O: the shell calls [`ClientTraffic::poll`] at [`ClientTraffic::next_deadline`]
//! and sends what it returns; nothing here reads a clock or a socket.
//!
//! Every route the client builds (real, loop and drop packets, fragments and their SURB-ack
//! routes) avoids the mixes its [`RouteHealth`] suspects, learnt from fragment acks and
//! timeouts. All streams choose alike on purpose: if only fragments avoided a mix, the
//! packets still sent to it would be known cover.

use crate::ack_slot::{AckSlot, SlotRoute};
use crate::client_event::{ClientEvent, RejectReason};
use crate::delay::HopDelaySampler;
use crate::delivery::{MAX_INNER_PAYLOAD_BYTES, open_delivery, seal_delivery};
use crate::error::{BuildError, RateError};
use crate::fragment::split_message;
use crate::node_id::NodeId;
use crate::outgoing::{Outgoing, TrafficKind};
use crate::packet::build_packet;
use crate::params::{
    DEFAULT_CLIENT_DROP_RATE, DEFAULT_CLIENT_LOOP_RATE, DEFAULT_CLIENT_REAL_RATE,
    DEFAULT_MEAN_HOP_DELAY, MAX_CLIENT_QUEUE, MAX_MESSAGE_BYTES, MAX_RELIABLE_FRAGMENTS_PENDING,
    SUSPECT_FOR,
};
use crate::payload::MixPayload;
use crate::payload_seal::{ClientKeys, seal_key_of};
use crate::poisson::PoissonStream;
use crate::reassembly::{Accepted, Reassembler, ReassemblyLimits};
use crate::reply_surb::ReplySurb;
use crate::retransmit::{
    Expired, PendingFragment, RetransmitConfig, RetransmitEvent, RetransmitQueue, SendClass,
};
use crate::route_health::{AttemptRoute, RouteHealth};
use crate::send_stream::{SendStream, StreamTiming};
use crate::topology::{ClientAddress, RouteNode, Topology};
use rand::{Rng, RngExt, SeedableRng};
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
    /// How the real-or-drop stream is spaced (loops and drops are always Poisson).
    pub real_timing: StreamTiming,
}

impl Default for ClientTrafficConfig {
    fn default() -> Self {
        ClientTrafficConfig {
            real_rate: DEFAULT_CLIENT_REAL_RATE,
            loop_rate: DEFAULT_CLIENT_LOOP_RATE,
            drop_rate: DEFAULT_CLIENT_DROP_RATE,
            mean_hop_delay: DEFAULT_MEAN_HOP_DELAY,
            real_timing: StreamTiming::Poisson,
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

/// How far a reliable send has got (for the shell's metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReliableStats {
    pub messages_pending: usize,
    pub fragments_pending: usize,
    pub fragments_sent: u64,
    pub retransmissions: u64,
}

struct Queued {
    id: u64,
    to: ClientAddress,
    /// A `Real` body, or what `enqueue_payload` was given.
    payload: MixPayload,
    /// The key to seal to instead of `to.client`'s (`enqueue_payload` only).
    seal_to: Option<[u8; 32]>,
}

/// The client's traffic state machine.
pub struct ClientTraffic {
    me: ClientAddress,
    /// What payloads stored for us are sealed to (our identity's and our reply blocks').
    keys: ClientKeys,
    delays: HopDelaySampler,
    real: SendStream,
    loops: PoissonStream,
    drops: PoissonStream,
    queue: VecDeque<Queued>,
    rng: ChaCha20Rng,
    next_id: u64,
    /// Reliable messages we send: fragments queued, in flight, awaiting retransmission.
    reliable: RetransmitQueue,
    /// Reliable messages we receive.
    reassembly: Reassembler,
    /// Mixes our fragments' acks and timeouts point at as losing packets; routes avoid them.
    route_health: RouteHealth,
    /// Events produced by `poll` (failures, abandoned reassemblies) for `take_events`.
    events: Vec<ClientEvent>,
    /// Alternates the real stream between reliable fragments and `enqueue`d messages so
    /// that neither starves the other.
    reliable_turn: bool,
    stopped: bool,
    /// The last pull left mail at our provider: an ack may be waiting there, so no ack
    /// deadline expires until a pull drains it ([`ClientTraffic::handle_mailbox_backlog`]).
    provider_backlog: bool,
    fragments_sent: u64,
    retransmissions: u64,
}

/// Largest body a real message may carry (one kind byte goes to the payload framing).
pub const MAX_BODY_BYTES: usize = MAX_INNER_PAYLOAD_BYTES - 1;

impl ClientTraffic {
    /// A client at `me` whose identity (`me.client`) is the Ed25519 key behind `keys`.
    pub fn new(
        me: ClientAddress,
        keys: ClientKeys,
        config: ClientTrafficConfig,
        now: Duration,
        seed: [u8; 32],
    ) -> Result<Self, RateError> {
        let mut rng = ChaCha20Rng::from_seed(seed);
        Ok(ClientTraffic {
            me,
            keys,
            delays: HopDelaySampler::new(config.mean_hop_delay),
            real: SendStream::new(config.real_timing, config.real_rate, now, &mut rng)?,
            loops: PoissonStream::new(config.loop_rate, now, &mut rng)?,
            drops: PoissonStream::new(config.drop_rate, now, &mut rng)?,
            queue: VecDeque::new(),
            rng,
            next_id: 1,
            reliable: RetransmitQueue::new(RetransmitConfig::default()),
            reassembly: Reassembler::new(ReassemblyLimits::default()),
            route_health: RouteHealth::new(SUSPECT_FOR),
            events: Vec::new(),
            reliable_turn: true,
            stopped: false,
            provider_backlog: false,
            fragments_sent: 0,
            retransmissions: 0,
        })
    }

    /// Changes the three stream rates and the mean hop delay from `now` on (adaptable
    /// anonymity: a user trades cover for bandwidth, e.g. a higher λ_P while a large
    /// message leaves). Queued messages and reliable sends in progress are kept; each
    /// stream draws its next event afresh at its new rate. A stopped client stays stopped.
    pub fn set_rates(
        &mut self,
        config: ClientTrafficConfig,
        now: Duration,
    ) -> Result<(), RateError> {
        let real = SendStream::new(config.real_timing, config.real_rate, now, &mut self.rng)?;
        let loops = PoissonStream::new(config.loop_rate, now, &mut self.rng)?;
        let drops = PoissonStream::new(config.drop_rate, now, &mut self.rng)?;
        (self.real, self.loops, self.drops) = (real, loops, drops);
        self.delays = HopDelaySampler::new(config.mean_hop_delay);
        if self.stopped {
            self.stop();
        }
        Ok(())
    }

    /// Replaces the ack margin and retry bound (defaults from `params`).
    pub fn set_retransmit_config(&mut self, config: RetransmitConfig) {
        self.reliable.set_config(config);
    }

    /// Replaces how long a mix stays avoided after a timeout blamed it (default
    /// [`SUSPECT_FOR`]); zero turns avoidance off (uniform routes).
    pub fn set_suspect_for(&mut self, suspect_for: Duration) {
        self.route_health.set_suspect_for(suspect_for);
    }

    /// What the client learnt about mixes (which it avoids).
    pub fn route_health(&self) -> &RouteHealth {
        &self.route_health
    }

    /// Mixes routes avoid at `now` (for the shell's metrics).
    pub fn route_health_suspects(&self, now: Duration) -> usize {
        self.route_health.suspects(now)
    }

    /// Replaces the reassembly bounds. Messages in progress are dropped (call it at startup).
    pub fn set_reassembly_limits(&mut self, limits: ReassemblyLimits) {
        self.reassembly = Reassembler::new(limits);
    }

    /// Whether reassembly holds fragment `index` of incoming message `id` (its message is
    /// still in progress): the fragments a durable copy keeps, and no others.
    pub fn holds_fragment(&self, id: &crate::fragment::MessageId, index: u32) -> bool {
        self.reassembly.holds(id, index)
    }

    /// Drops incoming messages idle past the reassembly timeout at `now` (`poll` does it and
    /// reports them as [`ClientEvent::IncomingAbandoned`]).
    pub fn expire_incoming(&mut self, now: Duration) -> Vec<crate::reassembly::Abandoned> {
        self.reassembly.expire(now)
    }

    /// Bytes reassembly holds for incoming messages in progress, and how many there are.
    pub fn reassembly_held(&self) -> (usize, usize) {
        (
            self.reassembly.reserved_bytes(),
            self.reassembly.in_progress(),
        )
    }

    /// Queues a message of up to [`MAX_MESSAGE_BYTES`] for reliable delivery: it is split into
    /// fragments that leave on the real stream (λ_P), each with a SURB-ack, and are resent
    /// until acked. The returned id comes back in `MessageDelivered` / `MessageFailed`.
    pub fn send_message(&mut self, to: ClientAddress, bytes: Vec<u8>) -> Result<u64, EnqueueError> {
        self.send_message_as(to, bytes, SendClass::Interactive)
    }

    /// [`Self::send_message`] in a chosen [`SendClass`]: a background message leaves only
    /// when no interactive fragment waits.
    pub fn send_message_as(
        &mut self,
        to: ClientAddress,
        bytes: Vec<u8>,
        class: SendClass,
    ) -> Result<u64, EnqueueError> {
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(EnqueueError::TooLong {
                len: bytes.len(),
                max: MAX_MESSAGE_BYTES,
            });
        }
        let (_, fragments) =
            split_message(&mut self.rng, &bytes).map_err(|_| EnqueueError::TooLong {
                len: bytes.len(),
                max: MAX_MESSAGE_BYTES,
            })?;
        let pending = self.reliable.pending_fragments();
        if pending + fragments.len() > MAX_RELIABLE_FRAGMENTS_PENDING {
            return Err(EnqueueError::QueueFull(pending));
        }
        let id = self.take_id();
        self.reliable.add_message(id, to, fragments, class);
        Ok(id)
    }

    /// Opens a payload stored for us (sealed to our identity or our reply blocks' key).
    pub fn open(&self, stored: &[u8]) -> Result<MixPayload, crate::error::PayloadError> {
        open_delivery(&[&self.keys.identity, &self.keys.reply], stored)
    }

    /// The pulled payloads to keep until their message completes
    /// ([`crate::mailbox_sync::kept_fragments`] with our keys).
    pub fn kept_fragments<'a>(
        &self,
        payloads: &'a [Vec<u8>],
    ) -> Vec<(crate::fragment::MessageId, u32, &'a [u8])> {
        crate::mailbox_sync::kept_fragments(&[&self.keys.identity, &self.keys.reply], payloads)
    }

    /// Handles a payload stored for us (from our provider's mailbox) at `now`: acks are
    /// matched, fragments (also those that came on our reply SURBs) reassembled; other
    /// payloads come back as [`ClientEvent::Other`].
    pub fn on_received(&mut self, stored: &[u8], now: Duration) -> Vec<ClientEvent> {
        let payload = match self.open(stored) {
            Ok(p) => p,
            Err(e) => return vec![ClientEvent::Rejected(RejectReason::Payload(e))],
        };
        match payload {
            MixPayload::Ack { id } => {
                let outcome = self.reliable.ack(id);
                if let Some(route) = &outcome.route {
                    self.route_health.record_success(route, now);
                }
                outcome.event.map(Self::sender_event).into_iter().collect()
            }
            MixPayload::Fragment { fragment, .. } | MixPayload::SurbData { fragment } => {
                let mut events = match self.reassembly.accept(fragment, now) {
                    Ok(Accepted::Complete { id, bytes }) => {
                        vec![ClientEvent::MessageReceived { id, bytes }]
                    }
                    Ok(Accepted::Stored { .. } | Accepted::Duplicate) => Vec::new(),
                    Err(e) => vec![ClientEvent::Rejected(RejectReason::Reassembly(e))],
                };
                // messages evicted to make room will not complete (their kept copies go)
                events.extend(
                    self.reassembly
                        .take_evicted()
                        .into_iter()
                        .map(ClientEvent::IncomingAbandoned),
                );
                events
            }
            other => vec![ClientEvent::Other(other)],
        }
    }

    /// `count` reply blocks for `holder` (a provider) to send us data with: routes `holder`
    /// → mixes → our provider (avoiding suspect mixes), delays drawn from our sampler, our
    /// client id as destination, a cover slot from our provider and our reply key (not our
    /// identity) to seal to. Valid while the mixes keep their current Sphinx keys.
    pub fn reply_surbs(
        &mut self,
        now: Duration,
        topology: &Topology,
        holder: NodeId,
        count: usize,
    ) -> Result<Vec<ReplySurb>, BuildError> {
        let me = self.me;
        (0..count)
            .map(|_| {
                let route = self.route(now, topology, &holder, &me.provider)?;
                let delays = self.delays.for_route(&mut self.rng, route.len());
                let slot = self.cover_slot(now, topology, &me.provider)?;
                let key = self.keys.reply.public();
                ReplySurb::build(&mut self.rng, &route, &delays, me.client, slot, key)
            })
            .collect()
    }

    /// A cover slot for a payload stored at `provider`: fired there, it ends as a drop at a
    /// random provider.
    fn cover_slot(
        &mut self,
        now: Duration,
        topology: &Topology,
        provider: &NodeId,
    ) -> Result<AckSlot, BuildError> {
        let (route, delays) = self.cover_route(now, topology, provider)?;
        let (body, body_delays) = self.cover_route(now, topology, provider)?;
        AckSlot::cover(
            &mut self.rng,
            SlotRoute {
                route: &route,
                delays: &delays,
            },
            SlotRoute {
                route: &body,
                delays: &body_delays,
            },
        )
    }

    /// A route from `provider` to a random provider, with its delays.
    fn cover_route(
        &mut self,
        now: Duration,
        topology: &Topology,
        provider: &NodeId,
    ) -> Result<(Vec<RouteNode>, Vec<Duration>), BuildError> {
        let to = topology.random_provider(&mut self.rng)?.id;
        let route = self.route(now, topology, provider, &to)?;
        let delays = self.delays.for_route(&mut self.rng, route.len());
        Ok((route, delays))
    }

    /// The stored payload carrying `payload` to `to` (sealed to `seal_to`, else to
    /// `to.client`), led by a cover slot.
    fn sealed_with_cover(
        &mut self,
        now: Duration,
        topology: &Topology,
        to: &ClientAddress,
        seal_to: Option<[u8; 32]>,
        payload: &MixPayload,
    ) -> Result<Vec<u8>, BuildError> {
        let key = match seal_to {
            Some(key) => key,
            None => seal_key_of(&to.client).map_err(|e| BuildError::Seal(e.to_string()))?,
        };
        let slot = self.cover_slot(now, topology, &to.provider)?;
        seal_delivery(&mut self.rng, &slot, &key, payload)
    }

    /// Events produced by `poll` since the last call: `MessageFailed` and
    /// `IncomingAbandoned`.
    pub fn take_events(&mut self) -> Vec<ClientEvent> {
        std::mem::take(&mut self.events)
    }

    pub fn reliable_stats(&self) -> ReliableStats {
        ReliableStats {
            messages_pending: self.reliable.messages(),
            fragments_pending: self.reliable.pending_fragments(),
            fragments_sent: self.fragments_sent,
            retransmissions: self.retransmissions,
        }
    }

    fn sender_event(e: RetransmitEvent) -> ClientEvent {
        match e {
            RetransmitEvent::Delivered { message } => ClientEvent::MessageDelivered { id: message },
            RetransmitEvent::Failed { message, reason } => ClientEvent::MessageFailed {
                id: message,
                reason,
            },
        }
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
        self.push_queued(to, MixPayload::Real(body), None)
    }

    /// Queues a mix payload the caller made itself (any kind, e.g. a crafted fragment) for
    /// `to`, sealed (to `seal_to` if given, else to `to.client`) and sent like a real
    /// message. Nothing stops a modified client from sending such packets, so receivers
    /// never trust them: this serves tests and the testnet's attacks, which play that
    /// client (e.g. to reach a destination that is no key).
    pub fn enqueue_payload(
        &mut self,
        to: ClientAddress,
        payload: MixPayload,
        seal_to: Option<[u8; 32]>,
    ) -> Result<u64, EnqueueError> {
        let len = payload.encode().len();
        if len > MAX_INNER_PAYLOAD_BYTES {
            return Err(EnqueueError::TooLong {
                len,
                max: MAX_INNER_PAYLOAD_BYTES,
            });
        }
        self.push_queued(to, payload, seal_to)
    }

    fn push_queued(
        &mut self,
        to: ClientAddress,
        payload: MixPayload,
        seal_to: Option<[u8; 32]>,
    ) -> Result<u64, EnqueueError> {
        if self.queue.len() >= MAX_CLIENT_QUEUE {
            return Err(EnqueueError::QueueFull(self.queue.len()));
        }
        let id = self.take_id();
        self.queue.push_back(Queued {
            id,
            to,
            payload,
            seal_to,
        });
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

    /// When `poll` next has something to do (a stream tick, an ack deadline, a reassembly
    /// timeout); `None` once `stop` was called.
    pub fn next_deadline(&self) -> Option<Duration> {
        if self.stopped {
            return None;
        }
        [
            self.real.next_at(),
            self.loops.next_at(),
            self.drops.next_at(),
            // while mail waits at the provider the ack deadlines are held (the next pull
            // decides), so they do not wake the client
            self.reliable
                .next_deadline()
                .filter(|_| !self.provider_backlog),
            self.reassembly.next_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// What the last pull said waits at the provider beyond its answer (`remaining`).
    /// While mail waits there, acks may be in it: an ack deadline is the delays the sender
    /// drew plus a margin and one pull interval, and a backlog of several pull answers
    /// (a burst of mail, a slow `mobile` schedule) would make every fragment in flight
    /// look lost, resend it and blame its route. Deadlines are held until a pull comes
    /// back with nothing left; those passed meanwhile expire at the next poll.
    pub fn handle_mailbox_backlog(&mut self, remaining: u32) {
        self.provider_backlog = remaining > 0;
    }

    /// Stops all three streams (the client goes quiet; queued messages stay queued).
    pub fn stop(&mut self) {
        self.real.stop();
        self.loops.stop();
        self.drops.stop();
        self.stopped = true;
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
        // Ack deadlines first, so that timed-out fragments take the next real ticks, and
        // over routes that already avoid what the timeouts blame.
        let expired = if self.provider_backlog {
            Expired::default()
        } else {
            self.reliable.expire(now)
        };
        for route in &expired.failed_routes {
            self.route_health.record_failure(route, now);
        }
        self.route_health.prune(topology, now);
        for e in expired.events {
            self.events.push(Self::sender_event(e));
        }
        for a in self.expire_incoming(now) {
            self.events.push(ClientEvent::IncomingAbandoned(a));
        }
        while self.real.fire(now, &mut self.rng) {
            if self.reliable_goes_next() {
                out.push(self.fragment_packet(now, topology));
                continue;
            }
            match self.queue.front() {
                Some(q) => {
                    let (id, to, seal_to) = (q.id, q.to, q.seal_to);
                    let payload = q.payload.clone();
                    let built = self
                        .sealed_with_cover(now, topology, &to, seal_to, &payload)
                        .and_then(|stored| {
                            self.build(now, topology, to.provider, to.client, &stored)
                        });
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
                None => out.push(self.drop_packet(now, topology)),
            }
        }
        while self.loops.fire(now, &mut self.rng) {
            // random, so that nothing about a loop counts what else we sent
            let id: u64 = self.rng.random();
            let me = self.me;
            out.push(
                self.sealed_with_cover(now, topology, &me, None, &MixPayload::Loop { id })
                    .and_then(|stored| self.build(now, topology, me.provider, me.client, &stored))
                    .map(|(first_hop, packet, sampled_delay)| Outgoing {
                        first_hop,
                        packet,
                        kind: TrafficKind::Loop { id },
                        sampled_delay,
                    }),
            );
        }
        while self.drops.fire(now, &mut self.rng) {
            out.push(self.drop_packet(now, topology));
        }
        out
    }

    /// Whether this real tick carries a reliable fragment: retransmissions always go first;
    /// otherwise fragments and `enqueue`d messages take turns.
    fn reliable_goes_next(&mut self) -> bool {
        if self.reliable.has_retransmission() {
            return true;
        }
        if !self.reliable.has_pending_send() {
            return false;
        }
        if self.queue.is_empty() {
            return true;
        }
        self.reliable_turn = !self.reliable_turn;
        !self.reliable_turn
    }

    /// Builds the packet of the next reliable fragment: a fresh forward route and a fresh
    /// SURB-ack (new ack id, new ack route) for every attempt.
    fn fragment_packet(
        &mut self,
        now: Duration,
        topology: &Topology,
    ) -> Result<Outgoing, BuildError> {
        let Some(pending) = self.reliable.pop_next() else {
            return self.drop_packet(now, topology);
        };
        match self.build_fragment(&pending, now, topology) {
            Ok(out) => {
                self.fragments_sent += 1;
                if pending.retransmission {
                    self.retransmissions += 1;
                }
                Ok(out)
            }
            Err(e) => {
                self.reliable.unpop(pending);
                Err(e)
            }
        }
    }

    fn build_fragment(
        &mut self,
        p: &PendingFragment,
        now: Duration,
        topology: &Topology,
    ) -> Result<Outgoing, BuildError> {
        let me = self.me;
        let forward = self.route(now, topology, &me.provider, &p.to.provider)?;
        let forward_delays = self.delays.for_route(&mut self.rng, forward.len());
        let back = self.route(now, topology, &p.to.provider, &me.provider)?;
        let back_delays = self.delays.for_route(&mut self.rng, back.len());
        let mut ack_id: u64 = self.rng.random();
        while self.reliable.knows_ack(ack_id) {
            ack_id = self.rng.random();
        }
        let (cover, cover_delays) = self.cover_route(now, topology, &me.provider)?;
        let slot = AckSlot::ack(
            &mut self.rng,
            SlotRoute {
                route: &back,
                delays: &back_delays,
            },
            me.client,
            &self.keys.identity.public(),
            ack_id,
            SlotRoute {
                route: &cover,
                delays: &cover_delays,
            },
        )?;
        let key = seal_key_of(&p.to.client).map_err(|e| BuildError::Seal(e.to_string()))?;
        let payload = MixPayload::Fragment {
            fragment: p.fragment.clone(),
        };
        let stored = seal_delivery(&mut self.rng, &slot, &key, &payload)?;
        let packet = build_packet(
            &mut self.rng,
            &forward,
            p.to.client,
            &stored,
            &forward_delays,
        )?;
        let forward_delay: Duration = forward_delays.iter().sum();
        let back_delay: Duration = back_delays.iter().sum();
        let deadline = now + forward_delay + back_delay + self.reliable.config().margin;
        let route = AttemptRoute::new(now, &forward, &back);
        self.reliable.sent(p, ack_id, deadline, route);
        Ok(Outgoing {
            first_hop: me.provider,
            packet,
            kind: TrafficKind::Fragment {
                message: p.message,
                index: p.fragment.index,
                retransmission: p.retransmission,
            },
            sampled_delay: forward_delay,
        })
    }

    fn drop_packet(&mut self, now: Duration, topology: &Topology) -> Result<Outgoing, BuildError> {
        let provider = topology.random_provider(&mut self.rng)?.id;
        // The drop destination is all zeros: the recipient provider discards it.
        let (first_hop, packet, sampled_delay) = self.build(
            now,
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

    /// A route `from` → mixes → `to` that avoids the mixes suspect at `now`.
    fn route(
        &mut self,
        now: Duration,
        topology: &Topology,
        from: &NodeId,
        to: &NodeId,
    ) -> Result<Vec<RouteNode>, BuildError> {
        let health = &self.route_health;
        topology.forward_route_avoiding(&mut self.rng, from, to, &|mix| health.is_suspect(mix, now))
    }

    fn build(
        &mut self,
        now: Duration,
        topology: &Topology,
        to_provider: NodeId,
        to_client: NodeId,
        plaintext: &[u8],
    ) -> Result<(NodeId, Vec<u8>, Duration), BuildError> {
        let from = self.me.provider;
        let route = self.route(now, topology, &from, &to_provider)?;
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
