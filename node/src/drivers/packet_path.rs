//! The packet path of a relay (mix or provider): accept frames, admit them (`HopRules`),
//! process them on worker threads, hold each for its delay and forward it; providers store
//! final-hop payloads in their clients' mailboxes (durably, then release the SURB-ack).

use crate::keys::{NodeKeys, peer_id_of};
use crate::mailboxes::params::STORE_QUEUE;
use crate::mailboxes::writer::{StoreJob, spawn_store_writer};
use crate::net::SPHINX_PROTOCOL;
use crate::net::frames::read_frame;
use crate::net::links::{FrameSender, Links};
use crate::net::swarm::{NetError, NetHandle, start_swarm_with_gossip};
use crate::pki::convert::routing_view;
use crate::pki::service::{PkiOutput, PkiService, PkiStatus, unix_now};
use crate::replay_journal::JournalMsg;
use crate::storage::MailboxStore;
use crate::topology_file::Role;
use futures::StreamExt;
use libp2p::{Multiaddr, PeerId};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use thiserror::Error;
use tokio::sync::{mpsc, watch};
use wesh_metrics::{RelayMetrics, bump};
use wesh_mix::hop_rules::{Admission, EntryGuard, HopAction, HopRules, RelayKind};
use wesh_mix::params::PACKET_BYTES;
use wesh_mix::provider_ack::AckPacket;
use wesh_mix::{MixCover, MixProcessor, NodeId, Topology, seed_from, shard_of};
use x25519_dalek::StaticSecret;

/// Packets queued per worker before readers wait (back-pressure onto the sending peer).
const WORKER_QUEUE: usize = 4096;

#[derive(Debug, Error)]
pub enum RelayError {
    #[error(transparent)]
    Net(#[from] NetError),
    #[error("{0}")]
    Keys(#[from] crate::keys::KeyError),
    #[error("protocol {0} registered twice")]
    Protocol(String),
    #[error("cannot start worker thread: {0}")]
    Thread(std::io::Error),
    #[error("invalid setting: {0}")]
    Config(String),
}

/// Everything a relay needs to start.
pub struct RelaySpec {
    pub keys: NodeKeys,
    pub role: Role,
    pub listen: Vec<Multiaddr>,
    pub workers: usize,
    pub mean_hop_delay: Duration,
    pub loop_rate: f64,
    pub addresses: Vec<(PeerId, Multiaddr)>,
    pub topology: Option<Topology>,
    /// The harness's hook into forwarding: faults, a link observer (None for real nodes).
    pub hook: Option<Arc<dyn RelayHook>>,
    /// Take the topology and Sphinx keys from the gossip PKI instead of `topology`.
    pub pki: Option<PkiSetup>,
    /// Where replay tags are journaled across restarts (None: memory only).
    pub data_dir: Option<std::path::PathBuf>,
    /// The mailbox store (required for a provider, unused by a mix).
    pub mailboxes: Option<Arc<MailboxStore>>,
    /// Providers only: make clients pay for sending with tokens of this issuer.
    pub payments: Option<ProviderPayments>,
}

/// What the harness does to and sees of the packets a relay forwards: a hook it installs to
/// play a cheating or broken relay, or to watch the links as a global passive observer,
/// so that production types carry no fault switches.
pub trait RelayHook: Send + Sync {
    fn on_forward(&self) -> FaultAction {
        FaultAction::Pass
    }
    /// A frame that will be forwarded entered the relay's pool.
    fn on_pooled(&self, _frame: &[u8]) {}
    /// A held packet leaves for `next_hop`.
    fn on_departure(&self, _packet: &[u8], _next_hop: &NodeId) {}
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultAction {
    Pass,
    /// Drop the packet silently.
    Drop,
    /// Send it twice (a replay).
    Duplicate,
}

/// How a provider charges its clients.
pub struct ProviderPayments {
    pub credit: Arc<crate::credit::provider::ProviderCredit>,
    pub issuer: crate::credit::IssuerAddress,
    pub redeem_every: Duration,
}

/// How a relay joins the gossip PKI.
pub struct PkiSetup {
    pub params: wesh_pki::PkiParams,
    /// Peers to dial first; the rest is learnt from their directories.
    pub bootstrap: Vec<(PeerId, Multiaddr)>,
    /// Addresses to announce; empty = the listen addresses.
    pub announce: Vec<String>,
    pub capacity_pps: u32,
    /// Where the Sphinx key ring is kept across restarts (None: memory only).
    pub keyring_path: Option<std::path::PathBuf>,
}

enum WorkerInput {
    Packet(Vec<u8>, Instant),
    Topology(Arc<Topology>),
    Keys(Vec<(u64, StaticSecret)>),
}

/// Where a new routing view or key set goes: every worker, the cover stream, and the
/// admission of inbound frames.
#[derive(Clone)]
struct RelayControl {
    workers_in: Vec<mpsc::Sender<WorkerInput>>,
    topology: watch::Sender<Option<Arc<Topology>>>,
    entry: EntryWatch,
    journal: Option<mpsc::UnboundedSender<JournalMsg>>,
}

/// The relay's admission guard (who may hand it frames) and the clock it runs on.
#[derive(Clone)]
struct EntryWatch {
    guard: Arc<watch::Sender<Arc<EntryGuard>>>,
    clock: crate::clock::CoreClock,
}

impl EntryWatch {
    fn install(&self, view: &Topology) {
        let now = self.clock.now();
        self.guard
            .send_modify(|g| Arc::make_mut(g).install(now, view));
    }
}

impl RelayControl {
    async fn set_topology(&self, topology: Topology) {
        self.entry.install(&topology);
        let t = Arc::new(topology);
        for w in &self.workers_in {
            let _ = w.send(WorkerInput::Topology(t.clone())).await;
        }
        let _ = self.topology.send(Some(t));
    }

    async fn set_keys(&self, keys: Vec<(u64, StaticSecret)>) {
        if let Some(j) = &self.journal {
            let _ = j.send(JournalMsg::Retain(keys.iter().map(|(e, _)| *e).collect()));
        }
        for w in &self.workers_in {
            let _ = w.send(WorkerInput::Keys(keys.clone())).await;
        }
    }
}

/// A running relay.
pub struct RelayHandle {
    pub node_id: NodeId,
    pub role: Role,
    pub metrics: Arc<RelayMetrics>,
    pub net: NetHandle,
    pub mailboxes: Option<Arc<MailboxStore>>,
    /// Providers with payments: credit, spends, redemptions.
    pub credit: Option<Arc<crate::credit::provider::ProviderCredit>>,
    pub pki_status: Option<Arc<std::sync::Mutex<PkiStatus>>>,
    /// Providers: sends a packet this node built on a SURB (its first hop is normally this
    /// node, whose workers then hold and forward it like any packet).
    pub inject: Option<PacketInjector>,
    control: RelayControl,
    cover_on: watch::Sender<bool>,
    shutdown: watch::Sender<bool>,
    journal_done: Option<tokio::sync::oneshot::Receiver<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl RelayHandle {
    /// Installs a new topology (workers check next hops against it; cover uses it).
    pub async fn set_topology(&self, topology: Topology) {
        self.control.set_topology(topology).await;
    }

    /// Stops emitting mix loop cover (the testnet drains before it stops).
    pub fn start_cover(&self) {
        let _ = self.cover_on.send(true);
    }

    pub fn stop_cover(&self) {
        let _ = self.cover_on.send(false);
    }

    /// Follows the routing view this node forwards by.
    pub fn routing_watch(&self) -> watch::Receiver<Option<Arc<Topology>>> {
        self.control.topology.subscribe()
    }

    /// The routing view this node currently forwards by.
    pub fn routing_view(&self) -> Option<Arc<Topology>> {
        self.control.topology.borrow().clone()
    }

    /// Fires when the relay stops (for services started beside it, e.g. replication).
    pub fn shutdown_watch(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    pub fn listen_addrs(&self) -> &[Multiaddr] {
        &self.net.listen_addrs
    }

    /// Stops the swarm and the cover stream. Worker threads finish their queues and end
    /// once the last reader lets go of them (they are not joined: a blocked peer must not
    /// hold up shutdown).
    /// Like `shutdown`, and waits until the replay journal is synced to disk.
    pub async fn stop(mut self) {
        let done = self.journal_done.take();
        let mailboxes = self.mailboxes.take();
        let credit = self.credit.take();
        self.shutdown();
        if let Some(done) = done {
            let _ = done.await;
        }
        // Close the databases before the process exits: rocksdb's background threads
        // must not outlive them. The tasks and threads holding them end with the swarm.
        let deadline = crate::clock::monotonic() + Duration::from_secs(5);
        while mailboxes.as_ref().is_some_and(|m| Arc::strong_count(m) > 1)
            || credit.as_ref().is_some_and(|c| Arc::strong_count(c) > 1)
        {
            if crate::clock::monotonic() > deadline {
                tracing::warn!("mailbox store still in use at shutdown");
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the node as a crash would (the testnet's `--kill-mix-at`): its connections
    /// close and nothing it holds is sent on; its counters stay readable.
    pub fn halt(&self) {
        let _ = self.shutdown.send(true);
    }

    pub fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        self.control.workers_in.clear();
        self.threads.clear();
    }
}

pub async fn start_relay(spec: RelaySpec) -> Result<RelayHandle, RelayError> {
    if spec.workers == 0 {
        return Err(RelayError::Config("workers must be at least 1".into()));
    }
    let node_id = spec.keys.node_id()?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut initial = spec.addresses.clone();
    if let Some(p) = &spec.pki {
        initial.extend(p.bootstrap.iter().cloned());
    }
    let (net, net_events) = start_swarm_with_gossip(
        spec.keys.identity.clone(),
        &spec.listen,
        &initial,
        spec.pki.is_some(),
        shutdown_rx.clone(),
    )
    .await?;
    let metrics = Arc::new(RelayMetrics::default());
    let links = Links::new(
        net.control.clone(),
        tokio::runtime::Handle::current(),
        metrics.drop_link_failed.clone(),
    );
    let store = match (spec.role, &spec.mailboxes) {
        (Role::Provider, Some(store)) => Some(store.clone()),
        (Role::Provider, None) => {
            return Err(RelayError::Config(
                "a provider needs a mailbox store".into(),
            ));
        }
        (Role::Mix, _) => None,
    };
    let (jobs_tx, jobs_rx) = mpsc::channel::<StoreJob>(STORE_QUEUE);
    let store_jobs = store.is_some().then_some(jobs_tx);
    let (topology_tx, topology_rx) = watch::channel(spec.topology.clone().map(Arc::new));

    let journal_dir = spec.data_dir.as_ref().map(|d| d.join("replay"));
    let (journal_tx, journal_done) = match &journal_dir {
        Some(dir) => {
            let (tx, rx) = mpsc::unbounded_channel();
            (
                Some(tx),
                Some(crate::replay_journal::spawn_writer(
                    dir.clone(),
                    rx,
                    shutdown_rx.clone(),
                )),
            )
        }
        None => (None, None),
    };
    let rules = HopRules::new(
        node_id,
        match spec.role {
            Role::Mix => RelayKind::Mix,
            Role::Provider => RelayKind::Provider,
        },
        store_jobs.is_some(),
    );
    // a replaced view admits as long as SURBs built on it stay usable (the key grace)
    let grace = spec.pki.as_ref().map_or(Duration::ZERO, |p| {
        Duration::from_secs(p.params.grace_period_secs)
    });
    let entry = EntryWatch {
        guard: Arc::new(watch::channel(Arc::new(rules.entry_guard(grace))).0),
        clock: crate::clock::CoreClock::start(),
    };
    if let Some(t) = &spec.topology {
        entry.install(t);
    }
    // Worker threads: each owns a processor (same keys, its own replay filter shard).
    let mut workers_in = Vec::new();
    let mut threads = Vec::new();
    for i in 0..spec.workers {
        let (tx, rx) = mpsc::channel(WORKER_QUEUE);
        let ctx = WorkerCtx {
            rules: rules.clone(),
            processor: new_processor(&spec.keys, journal_dir.as_deref()),
            journal: journal_tx.clone(),
            journal_dir: journal_dir.clone(),
            topology: spec.topology.clone().map(Arc::new),
            links: links.clone(),
            link_cache: HashMap::new(),
            store_jobs: store_jobs.clone(),
            metrics: metrics.clone(),
            runtime: tokio::runtime::Handle::current(),
            hook: spec.hook.clone(),
            tags_counted: 0,
        };
        let t = std::thread::Builder::new()
            .name(format!("sphinx-{i}"))
            .spawn(move || ctx.run(rx))
            .map_err(RelayError::Thread)?;
        workers_in.push(tx);
        threads.push(t);
    }

    // The store writer holds the workers weakly: it must not keep them alive at shutdown
    // (they hold its queue, and it ends when they are gone).
    let mut inject: Option<PacketInjector> = None;
    if let Some(store) = &store {
        let weak: Vec<_> = workers_in.iter().map(|w| w.downgrade()).collect();
        let ack = release_ack(rules.clone(), weak.clone(), metrics.clone());
        spawn_store_writer(store.clone(), node_id, jobs_rx, ack, metrics.clone())
            .map_err(RelayError::Thread)?;
        inject = Some(Arc::new(release_ack(rules.clone(), weak, metrics.clone())));
    }
    drop(store_jobs);

    // Inbound packets: one reader task per stream, sharded to workers.
    let mut control = net.control.clone();
    let mut incoming = control
        .accept(SPHINX_PROTOCOL)
        .map_err(|_| RelayError::Protocol(SPHINX_PROTOCOL.to_string()))?;
    let readers_in = workers_in.clone();
    let m = metrics.clone();
    let mut stop = shutdown_rx.clone();
    let credit = match (&spec.payments, spec.role) {
        (Some(p), Role::Provider) => Some(p.credit.clone()),
        _ => None,
    };
    let admission = Admit {
        guard: entry.guard.subscribe(),
        clock: entry.clock,
        credit: credit.clone(),
    };
    tokio::spawn(async move {
        loop {
            tokio::select! {
                next = incoming.next() => match next {
                    Some((peer, stream)) => {
                        tokio::spawn(read_packets(peer, stream, readers_in.clone(), m.clone(), admission.clone()));
                    }
                    None => break,
                },
                _ = stop.changed() => break,
            }
        }
    });

    if let Some(store) = &store {
        crate::mailboxes::service::serve(
            net.control.clone(),
            node_id,
            store.clone(),
            metrics.clone(),
            shutdown_rx.clone(),
        )
        .map_err(|_| RelayError::Protocol(wesh_mix::mailbox::MAILBOX_PROTOCOL.to_string()))?;
        crate::mailboxes::service::spawn_expiry(store.clone(), shutdown_rx.clone());
    }
    if let (Some(p), Some(_)) = (&spec.payments, &credit) {
        crate::credit::provider::serve(net.control.clone(), p.credit.clone(), shutdown_rx.clone())
            .map_err(|_| RelayError::Protocol(crate::credit::CREDIT_PROTOCOL.to_string()))?;
        tokio::spawn(crate::credit::redeemer::run_redeemer(
            net.clone(),
            p.issuer.clone(),
            p.credit.clone(),
            p.redeem_every,
            shutdown_rx.clone(),
        ));
    }

    let control = RelayControl {
        workers_in,
        topology: topology_tx,
        entry,
        journal: journal_tx,
    };
    let pki_status = match spec.pki {
        None => None,
        Some(setup) => Some(start_pki(
            setup,
            &spec.keys,
            spec.role,
            &net,
            net_events,
            control.clone(),
            shutdown_rx.clone(),
        )?),
    };
    // a provider takes its issuer's token keys from the issuer's PKI descriptor
    if let (Some(p), Some(status)) = (&spec.payments, &pki_status) {
        p.credit.attach_pki(status.clone());
    }

    // Mixes and providers alike send loops (λ_M, as in Loopix; a provider's cross the three
    // layers and come back). With the PKI, cover waits until the caller says the view is
    // settled: loops over a half-learnt directory would die at nodes that lack the next hop.
    let (cover_tx, cover_rx) = watch::channel(pki_status.is_none());
    if spec.loop_rate > 0.0 {
        let cover = MixCover::new(
            node_id,
            spec.loop_rate,
            spec.mean_hop_delay,
            Duration::ZERO,
            seed_from(&mut rand::rng()),
        )
        .map_err(|e| RelayError::Config(e.to_string()))?;
        tokio::spawn(run_cover(
            cover,
            topology_rx,
            cover_rx,
            shutdown_rx.clone(),
            links.clone(),
            metrics.clone(),
        ));
    }

    Ok(RelayHandle {
        node_id,
        role: spec.role,
        metrics,
        net,
        mailboxes: store,
        credit,
        pki_status,
        inject,
        control,
        cover_on: cover_tx,
        shutdown: shutdown_tx,
        journal_done,
        threads,
    })
}

fn start_pki(
    setup: PkiSetup,
    keys: &NodeKeys,
    role: Role,
    net: &NetHandle,
    events: mpsc::UnboundedReceiver<crate::net::swarm::NetEvent>,
    control: RelayControl,
    shutdown: watch::Receiver<bool>,
) -> Result<Arc<std::sync::Mutex<PkiStatus>>, RelayError> {
    let cfg = |e: &dyn std::fmt::Display| RelayError::Config(format!("pki: {e}"));
    let ed = keys
        .identity
        .clone()
        .try_into_ed25519()
        .map_err(|e| cfg(&e))?;
    let secret: [u8; 32] = ed
        .secret()
        .as_ref()
        .try_into()
        .map_err(|_| RelayError::Config("pki: identity key".into()))?;
    let signing_key = ed25519_dalek::SigningKey::from_bytes(&secret);
    let clock = wesh_pki::EpochClock::from_params(&setup.params).map_err(|e| cfg(&e))?;
    let grace = setup.params.grace_period_secs;
    let ring = match setup.keyring_path.as_ref().map(std::fs::read) {
        Some(Ok(bytes)) => {
            wesh_pki::SphinxKeyRing::from_bytes(clock, grace, &bytes).map_err(|e| cfg(&e))?
        }
        Some(Err(e)) if e.kind() != std::io::ErrorKind::NotFound => return Err(cfg(&e)),
        _ => wesh_pki::SphinxKeyRing::new(clock, grace).map_err(|e| cfg(&e))?,
    };
    let addresses = if setup.announce.is_empty() {
        net.listen_addrs.iter().map(|a| a.to_string()).collect()
    } else {
        setup.announce.clone()
    };
    let own = wesh_pki::OwnNode {
        signing_key,
        role: match role {
            Role::Mix => wesh_pki::Role::Mix,
            Role::Provider => wesh_pki::Role::Provider,
        },
        addresses,
        capacity_pps: setup.capacity_pps,
    };
    let now = unix_now();
    let agent = wesh_pki::PkiAgent::relay(setup.params.clone(), own, ring, now, now)
        .map_err(|e| cfg(&e))?;
    let status = Arc::new(std::sync::Mutex::new(PkiStatus::default()));
    let (out_tx, mut out_rx) = mpsc::unbounded_channel();
    let service = PkiService {
        agent,
        net: net.clone(),
        events,
        outputs: out_tx,
        status: status.clone(),
        keyring_path: setup.keyring_path,
        bootstrap: setup.bootstrap.iter().map(|(p, _)| *p).collect(),
    };
    tokio::spawn(service.run(shutdown));
    tokio::spawn(async move {
        while let Some(out) = out_rx.recv().await {
            match out {
                PkiOutput::Keys(keys) => control.set_keys(keys).await,
                PkiOutput::Topology(t) => match routing_view(&t) {
                    Some(view) => control.set_topology(view).await,
                    None => tracing::debug!(epoch = t.epoch, "directory not routable yet"),
                },
            }
        }
    });
    Ok(status)
}

/// What the core's [`EntryGuard`] needs from the shell to judge a frame: the guard (kept
/// current by `set_topology`), its clock, and a provider's client credit (None: a mix, or
/// a provider that does not charge).
#[derive(Clone)]
struct Admit {
    guard: watch::Receiver<Arc<EntryGuard>>,
    clock: crate::clock::CoreClock,
    credit: Option<Arc<crate::credit::provider::ProviderCredit>>,
}

impl Admit {
    /// The core's verdict on one frame from `peer` (`node`: its node id, if it has one).
    fn judge(&self, peer: &PeerId, node: Option<&NodeId>) -> Admission {
        let guard = self.guard.borrow().clone();
        guard.admit(self.clock.now(), node, || {
            self.credit.as_ref().is_none_or(|c| c.debit(peer))
        })
    }
}

async fn read_packets(
    peer: PeerId,
    mut stream: libp2p::Stream,
    workers: Vec<mpsc::Sender<WorkerInput>>,
    metrics: Arc<RelayMetrics>,
    admission: Admit,
) {
    let node = crate::keys::node_id_of_peer(&peer);
    loop {
        match read_frame(&mut stream, PACKET_BYTES).await {
            Ok(Some(frame)) => {
                bump(&metrics.received);
                match admission.judge(&peer, node.as_ref()) {
                    Admission::Relay | Admission::Paid => {}
                    Admission::NoCredit => {
                        bump(&metrics.drop_no_credit);
                        continue;
                    }
                    Admission::NotPreviousHop => {
                        bump(&metrics.drop_not_previous_hop);
                        continue;
                    }
                }
                let w = shard_of(&frame, workers.len());
                let arrived = crate::clock::monotonic();
                let Some(tx) = workers.get(w) else { return };
                if tx.send(WorkerInput::Packet(frame, arrived)).await.is_err() {
                    return;
                }
            }
            Ok(None) => return,
            Err(e) => {
                tracing::debug!(%peer, error = %e, "inbound packet stream closed");
                return;
            }
        }
    }
}

async fn run_cover(
    mut cover: MixCover,
    mut topology: watch::Receiver<Option<Arc<Topology>>>,
    mut on: watch::Receiver<bool>,
    mut shutdown: watch::Receiver<bool>,
    links: Arc<Links>,
    metrics: Arc<RelayMetrics>,
) {
    while !*on.borrow() {
        tokio::select! {
            r = on.changed() => if r.is_err() { return },
            _ = shutdown.changed() => return,
        }
    }
    let origin = crate::clock::monotonic();
    loop {
        let current = topology.borrow().clone();
        let Some(t) = current else {
            tokio::select! {
                r = topology.changed() => if r.is_err() { return },
                _ = shutdown.changed() => return,
            }
            continue;
        };
        let Some(at) = cover.next_deadline() else {
            return;
        };
        tokio::select! {
            _ = tokio::time::sleep_until((origin + at).into()) => {}
            _ = on.changed() => if !*on.borrow() { cover.stop(); return },
            _ = shutdown.changed() => return,
            _ = topology.changed() => continue,
        }
        for out in cover.poll(origin.elapsed(), &t) {
            match out {
                Ok(out) => {
                    let Some(peer) = peer_id_of(&out.first_hop) else {
                        continue;
                    };
                    if links.sender(peer).try_send(out.packet).is_ok() {
                        bump(&metrics.mix_loops_sent);
                    } else {
                        bump(&metrics.drop_link_overflow);
                    }
                }
                Err(e) => {
                    bump(&metrics.build_errors);
                    tracing::debug!(error = %e, "cannot build mix loop");
                }
            }
        }
    }
}

/// A worker's processor for the node's static Sphinx key (epoch 0; replaced by the PKI's
/// keys when it runs), with the journaled tags of that key loaded.
fn new_processor(keys: &NodeKeys, journal_dir: Option<&std::path::Path>) -> MixProcessor {
    let mut p = MixProcessor::new(0, StaticSecret::from(keys.sphinx_secret.to_bytes()));
    if let Some(dir) = journal_dir {
        p.enable_journal();
        p.preload(0, crate::replay_journal::load(dir, 0));
    }
    p
}

struct WorkerCtx {
    journal: Option<mpsc::UnboundedSender<JournalMsg>>,
    journal_dir: Option<std::path::PathBuf>,
    rules: HopRules,
    processor: MixProcessor,
    topology: Option<Arc<Topology>>,
    links: Arc<Links>,
    link_cache: HashMap<NodeId, FrameSender>,
    store_jobs: Option<mpsc::Sender<StoreJob>>,
    metrics: Arc<RelayMetrics>,
    runtime: tokio::runtime::Handle,
    hook: Option<Arc<dyn RelayHook>>,
    /// This worker's share of `metrics.replay_tags`.
    tags_counted: u64,
}

impl WorkerCtx {
    fn run(mut self, mut rx: mpsc::Receiver<WorkerInput>) {
        while let Some(input) = rx.blocking_recv() {
            match input {
                WorkerInput::Topology(t) => self.topology = Some(t),
                WorkerInput::Keys(keys) => self.install_keys(keys),
                WorkerInput::Packet(frame, arrived) => {
                    self.handle(&frame, arrived);
                    if let Some(j) = &self.journal {
                        let tags = self.processor.take_journal();
                        if !tags.is_empty() {
                            let _ = j.send(JournalMsg::Tags(tags));
                        }
                    }
                }
            }
            // the gauge is the sum of every worker's change (a retired key lowers it)
            let tags = self.processor.replay_tags() as u64;
            let change = tags.wrapping_sub(self.tags_counted);
            self.metrics
                .replay_tags
                .fetch_add(change, std::sync::atomic::Ordering::Relaxed);
            self.tags_counted = tags;
        }
    }

    /// Installs a key set; keys new to this worker get the tags journaled for them.
    fn install_keys(&mut self, keys: Vec<(u64, StaticSecret)>) {
        let held = self.processor.live_epochs();
        let fresh: Vec<u64> = keys
            .iter()
            .map(|(e, _)| *e)
            .filter(|e| !held.contains(e))
            .collect();
        self.processor.set_keys(keys);
        if let Some(dir) = &self.journal_dir {
            for epoch in fresh {
                self.processor
                    .preload(epoch, crate::replay_journal::load(dir, epoch));
            }
        }
    }

    fn handle(&mut self, frame: &[u8], arrived: Instant) {
        let processed = self.processor.process(frame);
        let m = &self.metrics;
        match self.rules.decide(processed, self.topology.as_deref()) {
            HopAction::Dropped(reason) => {
                m.count_drop(reason);
                tracing::trace!(reason = reason.name(), "packet dropped");
            }
            HopAction::UnknownNextHop => bump(&m.drop_unknown_next_hop),
            HopAction::Forward {
                next_hop,
                packet,
                delay,
                clamped,
            } => {
                if clamped {
                    bump(&m.delay_clamped);
                }
                let Some(link) = self.link(next_hop) else {
                    bump(&self.metrics.drop_unknown_next_hop);
                    return;
                };
                let hook = self.hook.clone();
                let fault = hook.as_ref().map_or(FaultAction::Pass, |f| f.on_forward());
                if fault == FaultAction::Drop {
                    bump(&self.metrics.faults_dropped);
                    return;
                }
                if let Some(h) = &hook {
                    h.on_pooled(frame);
                }
                let metrics = self.metrics.clone();
                let dup = fault == FaultAction::Duplicate;
                let send = move || {
                    if let Some(h) = &hook {
                        h.on_departure(&packet, &next_hop);
                    }
                    send_held(&link, packet, arrived, &metrics, dup);
                };
                if delay.is_zero() {
                    send();
                } else {
                    let release = arrived + delay;
                    self.runtime.spawn(async move {
                        tokio::time::sleep_until(release.into()).await;
                        send();
                    });
                }
            }
            HopAction::Store { mailbox, payload } => {
                bump(&m.final_hops);
                let Some(jobs) = &self.store_jobs else {
                    bump(&m.undeliverable);
                    return;
                };
                let job = StoreJob {
                    mailbox,
                    plaintext: payload,
                };
                if jobs.try_send(job).is_err() {
                    // the writer is behind; the sender's retransmission covers this payload
                    bump(&m.drop_store_backlog);
                }
            }
            HopAction::LoopReturned => {
                bump(&m.final_hops);
                bump(&m.mix_loops_returned);
            }
            HopAction::OwnOther => bump(&m.final_hops),
            HopAction::CoverDiscarded => {
                bump(&m.final_hops);
                bump(&m.cover_discarded);
            }
            HopAction::Undeliverable => {
                bump(&m.final_hops);
                bump(&m.undeliverable);
            }
            HopAction::InternalRefused => {
                bump(&m.final_hops);
                bump(&m.internal_refused);
            }
        }
    }

    /// The link to a next hop that the topology knows; cached per worker so the shared
    /// registry's lock is only taken when a link is first used or has died.
    fn link(&mut self, next_hop: NodeId) -> Option<FrameSender> {
        if let Some(l) = self.link_cache.get(&next_hop).filter(|l| !l.is_closed()) {
            return Some(l.clone());
        }
        let l = self.links.sender(peer_id_of(&next_hop)?);
        crate::net::links::prune_dead(&mut self.link_cache);
        self.link_cache.insert(next_hop, l.clone());
        Some(l)
    }
}

/// Sends a packet built on a SURB from its first hop on.
pub type PacketInjector = Arc<dyn Fn(AckPacket) + Send + Sync>;

/// Where a packet built on a SURB goes: into this node's own workers, since every SURB a
/// provider may send on starts here (the hop rules refuse any other first hop).
fn release_ack(
    rules: HopRules,
    workers: Vec<mpsc::WeakSender<WorkerInput>>,
    metrics: Arc<RelayMetrics>,
) -> impl Fn(AckPacket) + Send + Sync + 'static {
    move |ack: AckPacket| {
        if !rules.surb_starts_here(&ack.first_hop) {
            bump(&metrics.drop_surb_elsewhere);
            return;
        }
        let w = shard_of(&ack.packet, workers.len());
        let Some(tx) = workers.get(w).and_then(|w| w.upgrade()) else {
            return;
        };
        if tx
            .try_send(WorkerInput::Packet(ack.packet, crate::clock::monotonic()))
            .is_err()
        {
            bump(&metrics.drop_link_overflow);
        }
    }
}

fn send_held(
    link: &FrameSender,
    packet: Vec<u8>,
    arrived: Instant,
    metrics: &RelayMetrics,
    duplicate: bool,
) {
    metrics.record_held(arrived.elapsed());
    if duplicate && link.try_send(packet.clone()).is_ok() {
        bump(&metrics.replays_injected);
    }
    match link.try_send(packet) {
        Ok(()) => bump(&metrics.forwarded),
        Err(mpsc::error::TrySendError::Full(_)) => bump(&metrics.drop_link_overflow),
        Err(mpsc::error::TrySendError::Closed(_)) => bump(&metrics.drop_link_failed),
    }
}
