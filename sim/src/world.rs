//! One run: clients, providers and mixes on a virtual clock, driven by the production
//! cores' decisions, with packets as opaque values ([`Packet`]) carried by the event
//! queue.
//!
//! What comes from the production cores (`wesh_mix`, `wesh_pki`): the three client streams
//! and the relays' loop stream ([`PoissonStream`]), every hop's hold ([`HopDelaySampler`]),
//! the routes of real, loop, drop and ack packets and of relay loops ([`Topology`]), the
//! mixes' layers ([`assign_layers`]), the client profiles' rates and pull schedule and the
//! wire sizes. What the simulator adds is only the bookkeeping a real network does by
//! moving bytes: which node holds which packet, and when a mailbox's pulls take what
//! is stored in it ([`crate::pull_schedule`]). The adversary's estimates are worked out
//! on a thread of their own from what happens to the packets ([`crate::estimates`]).
//!
//! A packet's life: its sender hands it to its provider, which holds it for the first
//! sampled delay like any mix (the Sphinx route starts there), then each mix layer holds
//! it for its delay, and the last provider stores it (real messages, loops, acks) or drops
//! it. Storing a real message fires its SURB-ack back through the mixnet to the sender's
//! provider, as `ack_after_store` does. Clients pull their mailbox on the profile's
//! schedule, taking up to its slots (worked out when a payload is stored).
//!
//! With `--real-sphinx` each packet is also a real Sphinx packet ([`crate::sphinx_lab`])
//! whose headers decide its next hop and hold.
//!
//! Not modelled yet: fragmentation and retransmission (a real message is one packet, and
//! nothing is lost), link latency variation.

use std::collections::VecDeque;
use std::time::Duration;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha12Rng;
use wesh_mix::mailbox::wire::pull_response_bytes;
use wesh_mix::params::PACKET_BYTES;
use wesh_mix::{
    HopDelaySampler, NodeId, PoissonStream, RouteNode, SendStream, StreamTiming, Topology,
};
use x25519_dalek::{PublicKey, StaticSecret};

use crate::config::SimConfig;
use crate::estimates::{Estimates, EstimatesLost, EstimatesThread, Leaving, Op, SenderClass};
use crate::packet::{Handles, HoldDraws, Kind, MAX_ROUTE, Packet};
use crate::pull_schedule::{MailboxSlots, PullTimes};
use crate::queue::EventQueue;
use crate::relay_index::{self, RelayIndex};
use crate::report::{
    AnonymitySection, BandwidthSection, MixSection, Percentiles, RunSection, SimReport, round3,
};
use crate::sphinx_lab::{SphinxLab, Unwrapped};

/// Why a run cannot start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("cannot build the topology: {0}")]
    Topology(#[from] wesh_mix::BuildError),
    #[error("bad rate: {0}")]
    Rate(#[from] wesh_mix::RateError),
    #[error(transparent)]
    Estimates(#[from] EstimatesLost),
}

const NS: u64 = 1_000_000_000;

fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn dur(t: u64) -> Duration {
    Duration::from_nanos(t)
}

fn secs(s: f64) -> u64 {
    (s.max(0.0) * NS as f64) as u64
}

/// Something due at a virtual time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    /// A client's streams (real, loop, drop, its writing of messages) are due.
    ClientWake(u32),
    /// A packet reaches the next node of its route (links with latency only).
    Arrive(Packet),
    /// A packet's hold at its current node ends.
    Depart(Packet),
    /// A mix's or provider's loop cover stream (λ_M) is due.
    RelayLoop(u16),
    /// Target `k` is tagged on the next packet of a client's real stream.
    Target(u32),
}

struct Client {
    provider: u16,
    /// Real-or-drop, loop, drop, and the writing of messages.
    streams: [SendStream; 4],
    /// Messages written and not sent yet: (recipient, written at).
    outbox: VecDeque<(u32, u64)>,
    /// When its pulls take what is stored for it.
    pulls: PullTimes,
    mailbox: MailboxSlots,
    /// The target to tag on the next packet of the real stream.
    target: Option<u32>,
}

struct Relay {
    id: NodeId,
    /// Mix layer (None: a provider).
    layer: Option<usize>,
    corrupt: bool,
    held: u32,
    loops: PoissonStream,
    /// Measured phase: packets received, and ∫ held dt (packet·ns).
    received: u64,
    held_area: u128,
    held_since: u64,
}

/// The simulator's state for one run.
pub struct World {
    cfg: SimConfig,
    rng: ChaCha12Rng,
    queue: EventQueue<Event>,
    topology: Topology,
    relays: Vec<Relay>,
    index: RelayIndex,
    provider_ids: Vec<NodeId>,
    clients: Vec<Client>,
    handles: Handles,
    serials: u64,
    holds: HoldDraws,
    link_ns: u64,
    measure_from: u64,
    measure_to: u64,
    end: u64,
    /// The adversary's estimates, propagated on their own thread.
    estimates: EstimatesThread,
    latencies: Vec<f64>,
    deliveries: Vec<f64>,
    client_packets: u64,
    events: u64,
    /// `--real-sphinx`: the packets' real Sphinx forms and the nodes' processors.
    sphinx: Option<SphinxLab>,
    /// Reused by every route drawn.
    route_buf: Vec<RouteNode>,
}

/// Runs `cfg` to its end; `progress` hears the share of virtual time done now and then.
pub fn run(cfg: &SimConfig, progress: &mut dyn FnMut(f64)) -> Result<SimReport, SimError> {
    let mut world = World::new(cfg)?;
    world.run(progress);
    world.report()
}

impl World {
    pub fn new(cfg: &SimConfig) -> Result<Self, SimError> {
        cfg.validate()?;
        let mut rng = ChaCha12Rng::seed_from_u64(cfg.seed);
        let node = |kind: u64, i: u64| -> RouteNode {
            let id = RelayIndex::id(kind, i, cfg.seed);
            RouteNode {
                id,
                sphinx_key: PublicKey::from(&StaticSecret::from(id.0)),
            }
        };
        let layers_n = cfg.layers as usize;
        let mixes: Vec<RouteNode> = (0..u64::from(cfg.layers * cfg.width))
            .map(|i| node(relay_index::MIX, i))
            .collect();
        // layers as the PKI deals them (balanced by rank, so `width` each)
        let ids: Vec<wesh_pki::descriptor::NodeId> = mixes
            .iter()
            .map(|m| wesh_pki::descriptor::NodeId(m.id.0))
            .collect();
        let randomness = wesh_pki::layers::default_epoch_randomness(cfg.seed);
        let mut layers: Vec<Vec<RouteNode>> = vec![Vec::new(); layers_n];
        for (m, (_, layer)) in
            mixes
                .iter()
                .zip(wesh_pki::layers::assign_layers(&randomness, 0, &ids))
        {
            if let Some(l) = layers.get_mut(layer) {
                l.push(*m);
            }
        }
        let providers: Vec<RouteNode> = (0..u64::from(cfg.providers))
            .map(|i| node(relay_index::PROVIDER, i))
            .collect();
        let topology = Topology::new(layers.clone(), providers.clone())?;

        let relay_count = providers.len() + mixes.len();
        let corrupt_n = (cfg.corrupt_fraction * relay_count as f64).round() as usize;
        let mut order: Vec<usize> = (0..relay_count).collect();
        for i in 0..order.len() {
            let j = rng.random_range(i..order.len());
            order.swap(i, j);
        }
        let mut corrupt = vec![false; relay_count];
        for &i in order.iter().take(corrupt_n) {
            if let Some(c) = corrupt.get_mut(i) {
                *c = true;
            }
        }

        let mut relays = Vec::with_capacity(relay_count);
        let placed = providers.iter().map(|p| (p.id, None)).chain(
            layers
                .iter()
                .enumerate()
                .flat_map(|(l, nodes)| nodes.iter().map(move |n| (n.id, Some(l)))),
        );
        for (i, (id, layer)) in placed.enumerate() {
            relays.push(Relay {
                id,
                layer,
                corrupt: corrupt.get(i).copied().unwrap_or(false),
                held: 0,
                loops: PoissonStream::new(cfg.lambda_m, Duration::ZERO, &mut rng)?,
                received: 0,
                held_area: 0,
                held_since: 0,
            });
        }
        let index = RelayIndex::new(&relays.iter().map(|r| r.id).collect::<Vec<_>>());
        // a relay's Sphinx secret is its id's bytes (as `node` made its public key)
        let sphinx = cfg.real_sphinx.then(|| {
            let keys = relays.iter().map(|r| {
                let secret = StaticSecret::from(r.id.0);
                let sphinx_key = PublicKey::from(&secret);
                (
                    RouteNode {
                        id: r.id,
                        sphinx_key,
                    },
                    secret,
                )
            });
            SphinxLab::new(keys.collect(), cfg.seed)
        });

        let real_timing = if cfg.paced_lambda_p {
            StreamTiming::Paced
        } else {
            StreamTiming::Poisson
        };
        let mut clients = Vec::with_capacity(cfg.clients as usize);
        let pull_ns = secs(cfg.pull_interval_ms / 1e3).max(1);
        for c in 0..cfg.clients {
            let streams = [
                SendStream::new(real_timing, cfg.lambda_p, Duration::ZERO, &mut rng)?,
                SendStream::new(
                    StreamTiming::Poisson,
                    cfg.lambda_l,
                    Duration::ZERO,
                    &mut rng,
                )?,
                SendStream::new(
                    StreamTiming::Poisson,
                    cfg.lambda_d,
                    Duration::ZERO,
                    &mut rng,
                )?,
                SendStream::new(
                    StreamTiming::Poisson,
                    cfg.message_rate,
                    Duration::ZERO,
                    &mut rng,
                )?,
            ];
            clients.push(Client {
                provider: (c % cfg.providers) as u16,
                streams,
                outbox: VecDeque::new(),
                pulls: PullTimes {
                    phase: 0, // drawn below
                    interval: pull_ns,
                    slots: cfg.pull_slots,
                },
                mailbox: MailboxSlots::default(),
                target: None,
            });
        }

        let holds = HoldDraws::new(
            HopDelaySampler::new(Duration::from_secs_f64(cfg.mean_delay_ms / 1e3)),
            rng.random(),
        );
        let measure_from = secs(cfg.burn_in_seconds);
        let measure_to = measure_from + secs(cfg.seconds);
        let mut world = World {
            cfg: cfg.clone(),
            rng,
            queue: EventQueue::default(),
            topology,
            provider_ids: providers.iter().map(|p| p.id).collect(),
            relays,
            index,
            clients,
            handles: Handles::default(),
            serials: 0,
            holds,
            link_ns: secs(cfg.link_latency_ms / 1e3),
            measure_from,
            measure_to,
            end: measure_to + secs(cfg.cooldown_seconds),
            estimates: EstimatesThread::spawn(Estimates::new(relay_count, cfg.targets)),
            latencies: Vec::new(),
            deliveries: Vec::new(),
            client_packets: 0,
            events: 0,
            sphinx,
            route_buf: Vec::new(),
        };
        for c in 0..cfg.clients {
            world.schedule_client(c);
            let phase = world.rng.random_range(0..pull_ns);
            if let Some(client) = world.clients.get_mut(c as usize) {
                client.pulls.phase = phase;
            }
        }
        for r in 0..world.relays.len() {
            world.schedule_relay_loop(r as u16);
        }
        let k = u64::from(cfg.targets);
        for t in 0..k {
            // spread over the measured phase
            let at = measure_from + (measure_to - measure_from) * (2 * t + 1) / (2 * k);
            world.queue.schedule(at, Event::Target(t as u32));
        }
        Ok(world)
    }

    fn run(&mut self, progress: &mut dyn FnMut(f64)) {
        while let Some((now, event)) = self.queue.pop_until(self.end) {
            self.events += 1;
            if self.events & 0xFFFF == 0 {
                progress(now as f64 / self.end.max(1) as f64);
            }
            match event {
                Event::ClientWake(c) => self.client_wake(now, c),
                Event::Arrive(p) => self.arrive(now, p),
                Event::Depart(p) => self.depart(now, p),
                Event::RelayLoop(r) => self.relay_loop(now, r),
                Event::Target(k) => self.tag_target(k),
            }
        }
        // close the pools' time integrals at the end of the measured phase
        let until = self.measure_to;
        for r in &mut self.relays {
            let from = r.held_since.clamp(self.measure_from, until);
            r.held_area += u128::from(r.held) * u128::from(until - from);
            r.held_since = until;
        }
        progress(1.0);
    }

    /// Target `k` goes on the next real-stream packet of a random client without one.
    fn tag_target(&mut self, k: u32) {
        for _ in 0..64 {
            let c = self.rng.random_range(0..self.cfg.clients);
            if let Some(client) = self.clients.get_mut(c as usize)
                && client.target.is_none()
            {
                client.target = Some(k);
                return;
            }
        }
    }

    fn measuring(&self, t: u64) -> bool {
        (self.measure_from..self.measure_to).contains(&t)
    }

    fn schedule_client(&mut self, c: u32) {
        let next = self
            .clients
            .get(c as usize)
            .and_then(|cl| cl.streams.iter().filter_map(SendStream::next_at).min());
        if let Some(at) = next {
            self.queue.schedule(ns(at), Event::ClientWake(c));
        }
    }

    fn schedule_relay_loop(&mut self, r: u16) {
        if let Some(at) = self.relays.get(r as usize).and_then(|x| x.loops.next_at()) {
            self.queue.schedule(ns(at), Event::RelayLoop(r));
        }
    }

    fn client_wake(&mut self, now: u64, c: u32) {
        let t = dur(now);
        let Some(client) = self.clients.get_mut(c as usize) else {
            return;
        };
        let mut fired = [0u32; 4];
        for (i, s) in client.streams.iter_mut().enumerate() {
            while s.fire(t, &mut self.rng) {
                fired[i] += 1;
            }
        }
        for _ in 0..fired[3] {
            let to = self.random_other_client(c);
            if let Some(client) = self.clients.get_mut(c as usize) {
                client.outbox.push_back((to, now));
            }
        }
        for _ in 0..fired[0] {
            let (queued, target) = match self.clients.get_mut(c as usize) {
                Some(cl) => (cl.outbox.pop_front(), cl.target.take()),
                None => (None, None),
            };
            let (kind, to_provider) = match queued {
                Some((to, written)) => (Kind::Real { to, written }, self.provider_of(to)),
                None => (Kind::Drop, self.random_provider()),
            };
            self.send(now, c, kind, to_provider, target);
        }
        for _ in 0..fired[1] {
            let home = self.provider_of(c);
            self.send(now, c, Kind::Loop, home, None);
        }
        for _ in 0..fired[2] {
            let to = self.random_provider();
            self.send(now, c, Kind::Drop, to, None);
        }
        self.schedule_client(c);
    }

    fn random_other_client(&mut self, c: u32) -> u32 {
        let n = self.cfg.clients;
        if n < 2 {
            return c;
        }
        let r = self.rng.random_range(0..n - 1);
        if r >= c { r + 1 } else { r }
    }

    fn provider_of(&self, c: u32) -> u16 {
        self.clients.get(c as usize).map_or(0, |cl| cl.provider)
    }

    fn random_provider(&mut self) -> u16 {
        self.rng.random_range(0..self.cfg.providers) as u16
    }

    /// A route from relay `from` to relay `to` (production route choice).
    fn route(&mut self, from: u16, to: u16) -> Option<([u16; MAX_ROUTE], u8)> {
        let from_id = *self.provider_ids.get(from as usize)?;
        let to_id = *self.provider_ids.get(to as usize)?;
        let mut nodes = std::mem::take(&mut self.route_buf);
        let drawn = self.topology.forward_route_into(
            &mut self.rng,
            &from_id,
            &to_id,
            &|_| false,
            &mut nodes,
        );
        let indexed = drawn.ok().and_then(|()| self.indexed(&nodes));
        self.route_buf = nodes;
        indexed
    }

    /// Node indices of `nodes` (None for a route longer than any the topology draws).
    fn indexed(&self, nodes: &[RouteNode]) -> Option<([u16; MAX_ROUTE], u8)> {
        let mut route = [0u16; MAX_ROUTE];
        if nodes.len() > MAX_ROUTE {
            return None;
        }
        for (slot, n) in route.iter_mut().zip(nodes) {
            *slot = self.index.get(&n.id)?;
        }
        Some((route, nodes.len() as u8))
    }

    /// A new packet along `route`, handed to its first node at `now`; `class` and
    /// `target` are what the adversary's estimates start from.
    fn launch(
        &mut self,
        now: u64,
        route: ([u16; MAX_ROUTE], u8),
        kind: Kind,
        sender: u32,
        class: SenderClass,
        target: Option<u32>,
    ) {
        let handle = self.handles.take();
        self.estimates.push(Op::New {
            packet: handle,
            sender: class,
            target,
        });
        let serial = self.serials;
        self.serials += 1;
        let p = Packet {
            serial,
            sent: now,
            kind,
            handle,
            sender,
            route: route.0,
            len: route.1,
            hop: 0,
        };
        self.build_sphinx(&p);
        self.send_on(now, p);
    }

    /// Client `c` hands a packet to its provider.
    fn send(&mut self, now: u64, c: u32, kind: Kind, to_provider: u16, target: Option<u32>) {
        let from = self.provider_of(c);
        let Some(route) = self.route(from, to_provider) else {
            return;
        };
        let sender = match c {
            0 => SenderClass::A,
            1 => SenderClass::B,
            _ => SenderClass::Other,
        };
        if self.measuring(now) {
            self.client_packets += 1;
        }
        self.launch(now, route, kind, c, sender, target);
    }

    fn relay_loop(&mut self, now: u64, r: u16) {
        let t = dur(now);
        let mut fired = 0;
        if let Some(relay) = self.relays.get_mut(r as usize) {
            while relay.loops.fire(t, &mut self.rng) {
                fired += 1;
            }
        }
        for _ in 0..fired {
            let Some(me) = self.relays.get(r as usize).map(|x| x.id) else {
                break;
            };
            let Ok(nodes) = self.topology.mix_loop_route(&mut self.rng, &me) else {
                continue;
            };
            let Some(route) = self.indexed(&nodes) else {
                continue;
            };
            let class = SenderClass::Other;
            self.launch(now, route, Kind::RelayLoop, u32::MAX, class, None);
        }
        self.schedule_relay_loop(r);
    }

    fn arrive(&mut self, now: u64, mut p: Packet) {
        let (measure_from, measure_to) = (self.measure_from, self.measure_to);
        let header_hold = self.unwrap_sphinx(&mut p);
        if p.is_last_hop() {
            self.deliver(now, p);
            return;
        }
        let at = p.at();
        let hold = header_hold.unwrap_or_else(|| self.holds.hold(p.serial, p.hop));
        let Some(relay) = self.relays.get_mut(usize::from(at)) else {
            return;
        };
        if !relay.corrupt {
            self.estimates.push(Op::Enter {
                relay: at,
                packet: p.handle,
            });
        }
        if (measure_from..measure_to).contains(&now) {
            relay.received += 1;
        }
        account(relay, now, measure_from, measure_to);
        relay.held += 1;
        self.queue.schedule(now + hold, Event::Depart(p));
    }

    /// Packet `p` leaves for its next node at `now`. Links without latency (the default)
    /// deliver it at once instead of through the queue: half of a large run's events are
    /// such arrivals.
    fn send_on(&mut self, now: u64, p: Packet) {
        if self.link_ns == 0 {
            // still an event of the run (the counts stay comparable)
            self.events += 1;
            self.arrive(now, p);
        } else {
            self.queue.schedule(now + self.link_ns, Event::Arrive(p));
        }
    }

    /// `--real-sphinx`: packet `h` as its route and holds say, for who its last node
    /// delivers to.
    fn build_sphinx(&mut self, p: &Packet) {
        let Some(lab) = self.sphinx.as_mut() else {
            return;
        };
        let len = usize::from(p.len);
        // the last node delivers: no hold
        let holds: Vec<u64> = (0..p.len)
            .map(|hop| {
                if hop + 1 < p.len {
                    self.holds.hold(p.serial, hop)
                } else {
                    0
                }
            })
            .collect();
        let destination = destination_of(p, &self.relays);
        let plaintext = wesh_mix::MixPayload::Drop.encode();
        let route = p.route.get(..len).unwrap_or(&[]);
        lab.build(p.handle, route, &holds, destination, &plaintext);
    }

    /// `--real-sphinx`: the node packet `p` reaches unwraps it; its header, not the
    /// simulator's draw, gives the hold (returned) and the next hop (a disagreement is
    /// counted).
    fn unwrap_sphinx(&mut self, p: &mut Packet) -> Option<u64> {
        let lab = self.sphinx.as_mut()?;
        let hop = usize::from(p.hop);
        let last = p.is_last_hop();
        let mut header_hold = None;
        let agrees = match lab.unwrap(p.handle, p.at()) {
            Unwrapped::Forward { next, hold_ns } if !last => {
                let drawn = p
                    .route
                    .get(hop + 1)
                    .and_then(|i| self.relays.get(usize::from(*i)))
                    .map(|r| r.id);
                let agrees = drawn == Some(next) && self.holds.hold(p.serial, p.hop) == hold_ns;
                header_hold = Some(hold_ns);
                if let (Some(i), Some(slot)) = (self.index.get(&next), p.route.get_mut(hop + 1)) {
                    *slot = i;
                }
                agrees
            }
            Unwrapped::Final { destination } => {
                last && destination == destination_of(p, &self.relays)
            }
            Unwrapped::Forward { .. } | Unwrapped::Refused => false,
        };
        if !agrees {
            lab.mismatches += 1;
        }
        header_hold
    }

    fn depart(&mut self, now: u64, mut p: Packet) {
        let (measure_from, measure_to) = (self.measure_from, self.measure_to);
        let last_layer = self.cfg.layers as usize - 1;
        let at = p.at();
        let Some(relay) = self.relays.get_mut(usize::from(at)) else {
            return;
        };
        account(relay, now, measure_from, measure_to);
        relay.held = relay.held.saturating_sub(1);
        let leaving = if relay.layer == Some(last_layer) {
            let real = matches!(p.kind, Kind::Real { .. });
            if real && p.sender < 2 {
                Leaving::ExitLinked(p.sender == 0)
            } else {
                Leaving::Exit
            }
        } else {
            Leaving::Onward
        };
        self.estimates.push(Op::Leave {
            relay: at,
            packet: p.handle,
            mixed: !relay.corrupt,
            leaving,
        });
        p.hop += 1;
        self.send_on(now, p);
    }

    /// The packet reached its last node.
    fn deliver(&mut self, now: u64, p: Packet) {
        self.handles.give_back(p.handle);
        let at = p.at();
        match p.kind {
            Kind::Real { to, written } => {
                if self.measuring(p.sent) {
                    self.latencies.push((now - p.sent) as f64 / 1e6);
                }
                let pulled = self.store(now, to);
                if self.measuring(written) && pulled <= self.end {
                    self.deliveries.push((pulled - written) as f64 / 1e6);
                }
                // the SURB-ack, fired by the provider once the payload is stored
                let home = self.provider_of(p.sender);
                if let Some(route) = self.route(at, home) {
                    let (kind, class) = (Kind::Ack { to: p.sender }, SenderClass::Other);
                    self.launch(now, route, kind, u32::MAX, class, None);
                }
            }
            Kind::Loop => {
                self.store(now, p.sender);
            }
            Kind::Ack { to } => {
                self.store(now, to);
            }
            Kind::Drop | Kind::RelayLoop => {}
        }
    }

    /// A payload for client `c` is stored at `now`: when the client pulls it.
    fn store(&mut self, now: u64, c: u32) -> u64 {
        self.clients
            .get_mut(c as usize)
            .map_or(u64::MAX, |client| client.mailbox.store(now, &client.pulls))
    }

    fn report(self) -> Result<SimReport, SimError> {
        let measured_s = (self.measure_to - self.measure_from) as f64 / NS as f64;
        let estimates = self.estimates.finish()?;
        let per_target = estimates.entropy.per_target();
        let e = estimates.entropy.summary();
        let (latency_ms, latency_cdf) =
            Percentiles::with_cdf(self.latencies, crate::report::CDF_POINTS);
        let (epsilon, delta, link_packets) = estimates.link.result();
        let clients = f64::from(self.cfg.clients);
        let per_client_s = clients * measured_s;
        let mixes: Vec<&Relay> = self.relays.iter().filter(|r| r.layer.is_some()).collect();
        let pools: Vec<f64> = mixes
            .iter()
            .map(|r| r.held_area as f64 / (measured_s * NS as f64))
            .collect();
        let mix_count = mixes.len().max(1) as f64;
        let answer = pull_response_bytes(self.cfg.pull_slots as usize) as f64;
        let client_pulls: u64 = self
            .clients
            .iter()
            .map(|c| c.pulls.count_in(self.measure_from, self.measure_to))
            .sum();
        Ok(SimReport {
            config: self.cfg.clone(),
            anonymity: AnonymitySection {
                entropy_bits: round3(e.mean_bits),
                entropy_bits_p5: round3(e.p5_bits),
                anonymity_set: round3(e.mean_bits.exp2()),
                targets: e.targets as u64,
                mass_accounted: round3(e.mass),
                epsilon: round3(epsilon),
                delta: round3(delta),
                link_packets,
                corrupt_relays: self.relays.iter().filter(|r| r.corrupt).count() as u64,
            },
            latency_ms,
            delivery_latency_ms: Percentiles::of(self.deliveries),
            bandwidth: BandwidthSection {
                client_up_bytes_per_s: round3(
                    self.client_packets as f64 * PACKET_BYTES as f64 / per_client_s,
                ),
                client_down_bytes_per_s: round3(client_pulls as f64 * answer / per_client_s),
                client_packets_per_s: round3(self.client_packets as f64 / per_client_s),
            },
            mix: MixSection {
                pool_mean: round3(pools.iter().sum::<f64>() / mix_count),
                pool_min: round3(pools.iter().copied().fold(f64::INFINITY, f64::min)),
                load_pps: round3(
                    mixes.iter().map(|r| r.received as f64).sum::<f64>() / mix_count / measured_s,
                ),
            },
            sim: RunSection {
                clients: u64::from(self.cfg.clients),
                mixes: mixes.len() as u64,
                providers: u64::from(self.cfg.providers),
                events: self.events,
                virtual_seconds: round3(self.end as f64 / NS as f64),
                sphinx_packets: self.sphinx.as_ref().map_or(0, |l| l.built),
                sphinx_hops: self.sphinx.as_ref().map_or(0, |l| l.hops),
                sphinx_mismatches: self.sphinx.as_ref().map_or(0, |l| l.mismatches),
                ..RunSection::default()
            },
            per_target,
            latency_cdf,
        })
    }
}

/// The mailbox of client `c` in `--real-sphinx` headers.
fn mailbox_of(c: u32) -> NodeId {
    let mut b = [0u8; 32];
    b[..8].copy_from_slice(&3u64.to_be_bytes());
    b[8..12].copy_from_slice(&c.to_be_bytes());
    NodeId(b)
}

/// Who a packet's last node delivers it to (its header's destination).
fn destination_of(p: &Packet, relays: &[Relay]) -> NodeId {
    match p.kind {
        Kind::Real { to, .. } | Kind::Ack { to } => mailbox_of(to),
        Kind::Loop => mailbox_of(p.sender),
        Kind::Drop => wesh_mix::hop_rules::COVER_DESTINATION,
        Kind::RelayLoop => {
            let last = p
                .route
                .get(usize::from(p.len.saturating_sub(1)))
                .copied()
                .unwrap_or(0);
            relays
                .get(usize::from(last))
                .map_or(NodeId([0; 32]), |r| r.id)
        }
    }
}

/// Adds the time since the relay's last change to its pool integral (measured phase only).
fn account(relay: &mut Relay, now: u64, from: u64, to: u64) {
    let a = relay.held_since.clamp(from, to);
    let b = now.clamp(from, to);
    relay.held_area += u128::from(relay.held) * u128::from(b.saturating_sub(a));
    relay.held_since = now;
}
