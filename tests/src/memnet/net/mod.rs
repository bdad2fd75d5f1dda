//! `MemNet`: every node of a small mixnet in one process, on one virtual clock. It only
//! moves bytes between the cores and wakes their timers; every decision is a core's.

mod calls;
mod dispatch;

use super::MemNetError;
use super::client::MemClient;
use super::clock::VirtualClock;
use super::config::{MemNetConfig, PROVIDER_ROUND};
use super::device::MemDevice;
use super::events::{Event, EventQueue};
use super::link::MemLink;
use super::mix::MemMix;
use super::observer::LinkObserver;
use super::provider::MemProvider;
use super::trace::TraceDigest;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use std::collections::BTreeMap;
use std::time::Duration;
use wesh_mix::params::MIX_LAYERS;
use wesh_mix::{NodeId, RouteNode, Topology};
use x25519_dalek::{PublicKey, StaticSecret};

/// How often `run_until` checks its condition, in virtual time.
const CONDITION_STEP: Duration = Duration::from_millis(100);

/// What crossed the network (the relays' and clients' own counters are on them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Frames put on a link.
    pub frames_sent: u64,
    /// Frames lost to faults: held by a killed node or sent to it, dropped by a lossy one.
    pub frames_lost: u64,
    /// Rendezvous checks a device could not make (no registration for its point).
    pub device_tick_errors: u64,
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
        let link_seed = seed_of(&mut rng);
        let mut net = MemNet {
            clock: VirtualClock::new(),
            queue: EventQueue::new(),
            link: MemLink::new(config.link_latency, link_seed),
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

    // ------------------------------------------------------------------ running

    /// Runs every event due up to `until` (virtual), then sets the clock there.
    pub fn run_until_time(&mut self, until: Duration) {
        while let Some((at, event)) = self.queue.pop_until(until) {
            self.clock.advance_to(at);
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
}
