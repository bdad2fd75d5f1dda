//! `MemNet`: every node of a small mixnet in one process, on one virtual clock. It only
//! moves bytes between the cores and wakes their timers; every decision is a core's.

use super::MemNetError;
use super::client::{MemClient, PULL_INTERVAL};
use super::clock::VirtualClock;
use super::config::{MemNetConfig, PROVIDER_ROUND};
use super::device::{MemDevice, RENDEZVOUS_CHECK};
use super::events::{Event, EventQueue};
use super::link::MemLink;
use super::mix::{MemMix, RelayStep};
use super::observer::{Endpoint, LinkObserver};
use super::provider::MemProvider;
use super::trace::TraceDigest;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use std::collections::BTreeMap;
use std::time::Duration;
use wesh_client::messenger::journal::Input;
use wesh_client::messenger::replica::{ReplicaRequest, ReplicaResponse};
use wesh_client::messenger::{MailboxAddress, WeshDevice};
use wesh_mix::mailbox::{MailboxClient, MailboxId, PullSecret};
use wesh_mix::params::MIX_LAYERS;
use wesh_mix::{ClientAddress, ClientTraffic, NodeId, RouteNode, Topology};
use x25519_dalek::{PublicKey, StaticSecret};

/// Entries asked per history fetch (the node's `MAX_FETCH_ENTRIES`).
const HISTORY_FETCH_MAX: u16 = 512;

/// How often `run_until` checks its condition, in virtual time.
const CONDITION_STEP: Duration = Duration::from_millis(100);

/// What crossed the network (the relays' and clients' own counters are on them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetStats {
    pub events: u64,
    /// Frames put on a link.
    pub frames_sent: u64,
    /// Frames lost because an end was down (a killed mix).
    pub frames_lost: u64,
}

pub struct MemNet {
    clock: VirtualClock,
    queue: EventQueue,
    link: MemLink,
    topology: Topology,
    mixes: BTreeMap<NodeId, MemMix>,
    providers: BTreeMap<NodeId, MemProvider>,
    /// Provider ids in creation order (clients pick one by index).
    provider_ids: Vec<NodeId>,
    clients: Vec<MemClient>,
    config: MemNetConfig,
    /// Draws node ids, keys and the seeds of every core.
    rng: ChaCha20Rng,
    trace: TraceDigest,
    /// Frames on links, for an adversary's view (off unless switched on).
    pub observer: LinkObserver,
    pub stats: NetStats,
}

impl std::fmt::Debug for MemNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemNet")
            .field("now", &self.clock.now())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

fn seed_of(rng: &mut ChaCha20Rng) -> [u8; 32] {
    let mut seed = [0u8; 32];
    rng.fill_bytes(&mut seed);
    seed
}

fn node_of(rng: &mut ChaCha20Rng) -> (NodeId, StaticSecret, RouteNode) {
    let id = NodeId(seed_of(rng));
    let secret = StaticSecret::from(seed_of(rng));
    let node = RouteNode {
        id,
        sphinx_key: PublicKey::from(&secret),
    };
    (id, secret, node)
}

impl MemNet {
    /// Mixes and providers of `config`, their timers scheduled; no clients yet.
    pub fn new(config: MemNetConfig) -> Result<Self, MemNetError> {
        let mut rng = ChaCha20Rng::seed_from_u64(config.seed);
        let mut layers = Vec::with_capacity(MIX_LAYERS);
        let mut mixes = BTreeMap::new();
        for _ in 0..MIX_LAYERS {
            let mut layer = Vec::new();
            for _ in 0..config.mixes_per_layer {
                let (id, secret, node) = node_of(&mut rng);
                let seed = seed_of(&mut rng);
                let mix = MemMix::new(
                    id,
                    secret,
                    config.mix_loop_rate,
                    config.mix_mean_hop_delay,
                    seed,
                )?;
                mixes.insert(id, mix);
                layer.push(node);
            }
            layers.push(layer);
        }
        let mut providers = BTreeMap::new();
        let mut provider_nodes = Vec::new();
        let mut provider_ids = Vec::new();
        for _ in 0..config.providers {
            let (id, secret, node) = node_of(&mut rng);
            let seed = seed_of(&mut rng);
            providers.insert(id, MemProvider::new(id, secret, seed)?);
            provider_nodes.push(node);
            provider_ids.push(id);
        }
        let topology = Topology::new(layers, provider_nodes)?;
        let mut net = MemNet {
            clock: VirtualClock::new(),
            queue: EventQueue::new(),
            link: MemLink::new(config.link_latency),
            topology,
            mixes,
            providers,
            provider_ids,
            clients: Vec::new(),
            config,
            rng,
            trace: TraceDigest::default(),
            observer: LinkObserver::default(),
            stats: NetStats::default(),
        };
        let mix_ids: Vec<NodeId> = net.mixes.keys().copied().collect();
        for mix in mix_ids {
            net.schedule_cover(mix);
        }
        for provider in net.provider_ids.clone() {
            net.queue
                .schedule(PROVIDER_ROUND, Event::ProviderRound { provider });
        }
        Ok(net)
    }

    // ------------------------------------------------------------------ reading

    pub fn now(&self) -> Duration {
        self.clock.now()
    }

    pub fn clock(&self) -> VirtualClock {
        self.clock
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// Provider ids in creation order.
    pub fn provider_ids(&self) -> &[NodeId] {
        &self.provider_ids
    }

    pub fn provider(&self, id: &NodeId) -> Option<&MemProvider> {
        self.providers.get(id)
    }

    pub fn mixes(&self) -> impl Iterator<Item = &MemMix> {
        self.mixes.values()
    }

    pub fn client(&self, c: usize) -> Result<&MemClient, MemNetError> {
        self.clients.get(c).ok_or(MemNetError::NoClient(c))
    }

    pub fn device(&self, c: usize) -> Result<&MemDevice, MemNetError> {
        self.client(c)?.device().ok_or(MemNetError::NoDevice(c))
    }

    /// The digest of every event so far (same seed and calls ⇒ same digest).
    pub fn trace_digest(&self) -> [u8; 32] {
        self.trace.digest()
    }

    pub fn trace_events(&self) -> u64 {
        self.trace.events()
    }

    // ------------------------------------------------------------------ building

    /// A client at the provider of index `provider`: a fresh id (also its mailbox id, the
    /// Sphinx destination its provider stores under), mailbox keys and traffic core.
    pub fn add_client(&mut self, provider: usize) -> Result<usize, MemNetError> {
        let provider = *self
            .provider_ids
            .get(provider)
            .ok_or(MemNetError::UnknownProvider)?;
        let me = NodeId(seed_of(&mut self.rng));
        let key = seed_of(&mut self.rng);
        let mailbox = MailboxClient::from_parts(
            provider,
            MailboxId(me.0),
            &key,
            PullSecret(seed_of(&mut self.rng)),
        );
        let address = ClientAddress {
            provider,
            client: me,
        };
        let traffic = ClientTraffic::new(
            address,
            self.config.client_traffic,
            self.clock.now(),
            seed_of(&mut self.rng),
        )?;
        let index = self.clients.len();
        self.clients.push(MemClient::new(index, traffic, mailbox));
        let pull = Event::Pull {
            client: index,
            generation: 0,
        };
        self.queue.schedule(self.clock.now(), pull);
        self.reschedule_client(index);
        Ok(index)
    }

    /// A client carrying a new Wesh account that accepts contact requests by itself.
    pub fn add_wesh_client(&mut self, provider: usize) -> Result<usize, MemNetError> {
        let c = self.add_client(provider)?;
        let address = self.client(c)?.address();
        let home = MailboxAddress {
            provider: address.provider.0,
            mailbox: address.client.0,
        };
        let device = WeshDevice::new_account(seed_of(&mut self.rng), home)?;
        let providers = self.provider_ids.iter().map(|p| p.0).collect();
        let client = self.clients.get_mut(c).ok_or(MemNetError::NoClient(c))?;
        client.device = Some(MemDevice::new(device, providers));
        self.input(c, Input::SetAutoAccept { on: true })?;
        self.queue
            .schedule(self.clock.now(), Event::DeviceTick { client: c });
        Ok(c)
    }

    // ------------------------------------------------------------------ calls

    /// Gives an API input to client `c`'s device and sends what it queued. Returns the
    /// group the input created or joined, if any.
    pub fn input(&mut self, c: usize, input: Input) -> Result<Option<[u8; 32]>, MemNetError> {
        let client = self.clients.get_mut(c).ok_or(MemNetError::NoClient(c))?;
        let device = client.device.as_mut().ok_or(MemNetError::NoDevice(c))?;
        let result = device.input(input);
        device.flush(&mut client.traffic);
        self.reschedule_client(c);
        Ok(result?)
    }

    /// ContactRequestSend from `c` with the card of `to`, at the current virtual time.
    pub fn contact_request(&mut self, c: usize, to: usize) -> Result<(), MemNetError> {
        let card = self.device(to)?.wesh().contact_request_reference();
        let providers = self.device(c)?.providers().to_vec();
        let now = self.clock.unix_secs();
        self.input(
            c,
            Input::ContactRequestSend {
                card,
                now,
                providers,
            },
        )?;
        Ok(())
    }

    /// ReplicationServiceRegisterGroup: registers `group` at the provider of index
    /// `provider` (a direct exchange, as the node's `/wesh/replication/1`), then adds it
    /// as the group's replica.
    pub fn register_replica(
        &mut self,
        c: usize,
        group: [u8; 32],
        provider: usize,
    ) -> Result<(), MemNetError> {
        let provider = *self
            .provider_ids
            .get(provider)
            .ok_or(MemNetError::UnknownProvider)?;
        let view = self.device(c)?.wesh().replication_view(&group)?;
        let request = ReplicaRequest::Register {
            view: view.encode(),
        };
        match ReplicaResponse::decode(&self.replica_exchange(&provider, &request.encode())?)? {
            ReplicaResponse::Registered { .. } => {}
            ReplicaResponse::Refused { reason } => return Err(MemNetError::ReplicaRefused(reason)),
            ReplicaResponse::Entries { .. } => return Err(MemNetError::ReplicaUnexpected),
        }
        self.input(
            c,
            Input::ReplicationRegisterGroup {
                group,
                provider: provider.0,
            },
        )?;
        Ok(())
    }

    /// Sends `bytes` from client `c` to client `to` as one reliable message.
    pub fn send_message(
        &mut self,
        c: usize,
        to: usize,
        bytes: Vec<u8>,
    ) -> Result<u64, MemNetError> {
        let to = self.client(to)?.address();
        let client = self.clients.get_mut(c).ok_or(MemNetError::NoClient(c))?;
        let id = client.send_message(to, bytes)?;
        self.reschedule_client(c);
        Ok(id)
    }

    /// Changes client `c`'s stream rates from now on (`ClientTraffic::set_rates`).
    pub fn set_client_rates(
        &mut self,
        c: usize,
        traffic: wesh_mix::ClientTrafficConfig,
    ) -> Result<(), MemNetError> {
        let now = self.clock.now();
        let client = self.clients.get_mut(c).ok_or(MemNetError::NoClient(c))?;
        client.traffic.set_rates(traffic, now)?;
        // the core's next deadline may now be earlier than the wake the queue holds
        client.wake = None;
        self.reschedule_client(c);
        Ok(())
    }

    /// Takes client `c` offline: its core is no longer polled and its mailbox no longer
    /// pulled (what it sent keeps crossing the network; its mail waits at the provider).
    pub fn go_offline(&mut self, c: usize) -> Result<(), MemNetError> {
        let client = self.clients.get_mut(c).ok_or(MemNetError::NoClient(c))?;
        client.online = false;
        client.wake = None;
        client.pull_generation += 1;
        if let Some(d) = client.device.as_mut() {
            d.went_offline();
        }
        Ok(())
    }

    /// Brings client `c` back: streams and pulls resume, the rendezvous registration is
    /// renewed, and the history of replicated groups is fetched (the runner's
    /// `come_online`). Returns how many entries the replicas returned.
    pub fn come_online(&mut self, c: usize) -> Result<usize, MemNetError> {
        let client = self.clients.get_mut(c).ok_or(MemNetError::NoClient(c))?;
        if client.online {
            return Err(MemNetError::AlreadyOnline(c));
        }
        client.online = true;
        let pull = Event::Pull {
            client: c,
            generation: client.pull_generation,
        };
        self.queue.schedule(self.clock.now(), pull);
        self.device_tick(c)?;
        self.catch_up(c)
    }

    /// Crashes a mix: what it holds is lost, nothing reaches it any more. The routing
    /// view still lists it (as after a crash), so clients learn to avoid it from their
    /// acks and timeouts.
    pub fn kill_mix(&mut self, mix: NodeId) {
        self.link.kill(mix);
    }

    /// Fetches what the replication providers kept for `c`'s groups.
    fn catch_up(&mut self, c: usize) -> Result<usize, MemNetError> {
        let device = self.device(c)?;
        let mut wanted = Vec::new();
        for group in device.wesh().group_ids() {
            let Ok(meta) = device.wesh().group_metadata(&group) else {
                continue;
            };
            for replica in meta.replicas {
                let after = device
                    .history
                    .get(&(group, replica.provider))
                    .copied()
                    .unwrap_or(0);
                wanted.push((group, replica.provider, after));
            }
        }
        let mut fetched = 0;
        for (group, provider, mut after) in wanted {
            let mut entries = Vec::new();
            loop {
                let request = ReplicaRequest::Fetch {
                    group_id: group,
                    after,
                    max: HISTORY_FETCH_MAX,
                };
                let answer = self.replica_exchange(&NodeId(provider), &request.encode())?;
                match ReplicaResponse::decode(&answer)? {
                    ReplicaResponse::Entries { entries: got, more } => {
                        after = got.last().map_or(after, |(s, _)| *s);
                        entries.extend(got.into_iter().map(|(_, e)| e));
                        if !more {
                            break;
                        }
                    }
                    ReplicaResponse::Refused { reason } => {
                        return Err(MemNetError::ReplicaRefused(reason));
                    }
                    ReplicaResponse::Registered { .. } => {
                        return Err(MemNetError::ReplicaUnexpected);
                    }
                }
            }
            fetched += entries.len();
            let client = self.clients.get_mut(c).ok_or(MemNetError::NoClient(c))?;
            if let Some(d) = client.device.as_mut() {
                d.history.insert((group, provider), after);
                // entries already held are duplicates, not errors
                let _ = d.input(Input::History { group, entries });
            }
        }
        self.flush_device(c);
        Ok(fetched)
    }

    fn replica_exchange(
        &mut self,
        provider: &NodeId,
        request: &[u8],
    ) -> Result<Vec<u8>, MemNetError> {
        let p = self
            .providers
            .get_mut(provider)
            .ok_or(MemNetError::UnknownProvider)?;
        Ok(p.replica.answer(request, &mut p.mailboxes))
    }

    // ------------------------------------------------------------------ running

    /// Runs every event due up to `until` (virtual), then sets the clock there.
    pub fn run_until_time(&mut self, until: Duration) {
        while let Some((at, event)) = self.queue.pop_until(until) {
            self.clock.advance_to(at);
            self.stats.events += 1;
            self.record(at, &event);
            self.handle(event);
        }
        self.clock.advance_to(until);
    }

    pub fn run_for(&mut self, span: Duration) {
        self.run_until_time(self.clock.now() + span);
    }

    /// Runs until `done` holds (checked every 100 ms of virtual time), at most `limit`.
    /// Returns the virtual time it took.
    pub fn run_until(
        &mut self,
        limit: Duration,
        mut done: impl FnMut(&MemNet) -> bool,
    ) -> Result<Duration, MemNetError> {
        let start = self.clock.now();
        let deadline = start + limit;
        while !done(self) {
            if self.clock.now() >= deadline {
                return Err(MemNetError::Timeout(self.clock.now()));
            }
            let step = CONDITION_STEP.min(deadline - self.clock.now());
            self.run_for(step);
        }
        Ok(self.clock.now() - start)
    }

    fn record(&mut self, at: Duration, event: &Event) {
        let tag = event.tag();
        match event {
            Event::Arrive { to, packet } => self.trace.record(at, tag, &to.0, Some(packet)),
            Event::Release { from, packet, .. } => {
                self.trace.record(at, tag, &from.0, Some(packet))
            }
            Event::ClientWake { client, .. }
            | Event::Pull { client, .. }
            | Event::DeviceTick { client } => {
                self.trace
                    .record(at, tag, &(*client as u64).to_le_bytes(), None)
            }
            Event::MixCover { mix } => self.trace.record(at, tag, &mix.0, None),
            Event::ProviderRound { provider } => self.trace.record(at, tag, &provider.0, None),
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Arrive { to, packet } => self.arrive(to, &packet),
            Event::Release { from, to, packet } => self.send(from, to, packet),
            Event::ClientWake { client, generation } => self.client_wake(client, generation),
            Event::Pull { client, generation } => self.pull(client, generation),
            Event::DeviceTick { client } => {
                let _ = self.device_tick(client);
                if self.clients.get(client).is_some() {
                    self.queue.schedule(
                        self.clock.now() + RENDEZVOUS_CHECK,
                        Event::DeviceTick { client },
                    );
                }
            }
            Event::MixCover { mix } => self.mix_cover(mix),
            Event::ProviderRound { provider } => self.provider_round(provider),
        }
    }

    /// Puts a frame on the link `from` → `to` (a relay sending to its own pipeline, like
    /// a provider releasing a SURB-ack that starts at itself, skips the link).
    fn send(&mut self, from: NodeId, to: NodeId, packet: Vec<u8>) {
        let now = self.clock.now();
        if from == to {
            self.queue.schedule(now, Event::Arrive { to, packet });
            return;
        }
        self.stats.frames_sent += 1;
        self.observer.saw(now, Endpoint::Relay(from), to);
        match self.link.transit(&from, &to) {
            Some(latency) => self
                .queue
                .schedule(now + latency, Event::Arrive { to, packet }),
            None => self.stats.frames_lost += 1,
        }
    }

    fn arrive(&mut self, to: NodeId, packet: &[u8]) {
        if self.link.is_down(&to) {
            self.stats.frames_lost += 1;
            return;
        }
        let now = self.clock.now();
        let step = if let Some(mix) = self.mixes.get_mut(&to) {
            mix.on_packet(&self.topology, packet)
        } else if let Some(provider) = self.providers.get_mut(&to) {
            provider.on_packet(&self.topology, packet)
        } else {
            return;
        };
        match step {
            RelayStep::Hold {
                next_hop,
                packet,
                delay,
            } => self.queue.schedule(
                now + delay,
                Event::Release {
                    from: to,
                    to: next_hop,
                    packet,
                },
            ),
            RelayStep::Final {
                destination,
                plaintext,
            } => {
                let ack = self
                    .providers
                    .get_mut(&to)
                    .and_then(|p| p.final_hop(destination, plaintext));
                if let Some((first_hop, packet)) = ack {
                    self.send(to, first_hop, packet);
                }
            }
            RelayStep::Dropped(_) => {}
        }
    }

    fn schedule_cover(&mut self, mix: NodeId) {
        if let Some(at) = self.mixes.get(&mix).and_then(MemMix::next_cover_at) {
            self.queue
                .schedule(at.max(self.clock.now()), Event::MixCover { mix });
        }
    }

    fn mix_cover(&mut self, mix: NodeId) {
        if self.link.is_down(&mix) {
            return;
        }
        let now = self.clock.now();
        let Some(m) = self.mixes.get_mut(&mix) else {
            return;
        };
        for (first_hop, packet) in m.poll_cover(now, &self.topology) {
            self.send(mix, first_hop, packet);
        }
        self.schedule_cover(mix);
    }

    fn provider_round(&mut self, provider: NodeId) {
        let (now_ms, now) = (self.clock.unix_ms(), self.clock.now());
        let Some(p) = self.providers.get_mut(&provider) else {
            return;
        };
        for (first_hop, packet) in p.round(now_ms, now) {
            self.send(provider, first_hop, packet);
        }
        self.queue
            .schedule(now + PROVIDER_ROUND, Event::ProviderRound { provider });
    }

    /// Makes sure the queue holds a wake for client `c`'s core at its next deadline.
    fn reschedule_client(&mut self, c: usize) {
        let now = self.clock.now();
        let Some(client) = self.clients.get_mut(c) else {
            return;
        };
        if !client.online {
            return;
        }
        let Some(at) = client.traffic.next_deadline() else {
            return;
        };
        let at = at.max(now);
        if client.wake.is_some_and(|(_, w)| w <= at) {
            return;
        }
        client.wake_generation += 1;
        let generation = client.wake_generation;
        client.wake = Some((generation, at));
        self.queue.schedule(
            at,
            Event::ClientWake {
                client: c,
                generation,
            },
        );
    }

    fn client_wake(&mut self, c: usize, generation: u64) {
        let now = self.clock.now();
        let Some(client) = self.clients.get_mut(c) else {
            return;
        };
        if !client.online || client.wake.map(|(g, _)| g) != Some(generation) {
            return;
        }
        client.wake = None;
        let provider = client.provider();
        let packets = client.poll(now, &self.topology);
        let latency = self.link.latency();
        for packet in packets {
            self.stats.frames_sent += 1;
            self.observer.saw(now, Endpoint::Client(c), provider);
            self.queue.schedule(
                now + latency,
                Event::Arrive {
                    to: provider,
                    packet,
                },
            );
        }
        self.reschedule_client(c);
    }

    fn pull(&mut self, c: usize, generation: u64) {
        let (now, unix) = (self.clock.now(), self.clock.unix_secs());
        let now_ms = self.clock.unix_ms();
        let Some(client) = self.clients.get_mut(c) else {
            return;
        };
        if !client.online || client.pull_generation != generation {
            return;
        }
        let Some(provider) = self.providers.get_mut(&client.provider()) else {
            return;
        };
        let messages = client.pull(now, |request| provider.mailbox_exchange(request, unix));
        for bytes in messages {
            let wesh = client
                .device
                .as_mut()
                .is_some_and(|d| d.take_message(&bytes, now_ms));
            if !wesh {
                client.inbox.push(bytes);
            }
        }
        self.flush_device(c);
        let pull = Event::Pull {
            client: c,
            generation,
        };
        self.queue.schedule(now + PULL_INTERVAL, pull);
    }

    fn device_tick(&mut self, c: usize) -> Result<(), MemNetError> {
        let (now, unix, now_ms) = (
            self.clock.now(),
            self.clock.unix_secs(),
            self.clock.unix_ms(),
        );
        let client = self.clients.get_mut(c).ok_or(MemNetError::NoClient(c))?;
        let Some(device) = client.device.as_mut() else {
            return Ok(());
        };
        let online = client
            .online
            .then_some((&mut client.traffic, &self.topology, now));
        let result = device.ensure_rendezvous(unix, now_ms, online);
        self.flush_device(c);
        result
    }

    /// Hands what client `c`'s device queued to its core and wakes the core.
    fn flush_device(&mut self, c: usize) {
        if let Some(client) = self.clients.get_mut(c)
            && let Some(device) = client.device.as_mut()
        {
            device.flush(&mut client.traffic);
        }
        self.reschedule_client(c);
    }
}
