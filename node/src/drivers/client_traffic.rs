//! The driver of a client's traffic: one libp2p identity, a link to its provider, the Loopix
//! streams of `wesh_mix::ClientTraffic` on tokio timers, and its mailbox pulled on the
//! schedule `wesh_mix::MailboxSync` decides (`/wesh/mailbox/1`).

use crate::keys::peer_id_of;
use crate::mailboxes::puller::Puller;
use crate::net::links::Links;
use crate::net::swarm::{NetError, NetHandle, start_swarm_counted};
use crate::storage::client_store::{ClientStore, OutboxMessage};
use libp2p::identity::Keypair;
use libp2p::{Multiaddr, PeerId};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};
use thiserror::Error;
use tokio::sync::{mpsc, oneshot, watch};
use wesh_metrics::TransportBytes;
use wesh_mix::mailbox::{MailboxClient, MailboxId, PullSecret};
use wesh_mix::params::{DEFAULT_PULL_INTERVAL, DEFAULT_PULL_SLOTS};
use wesh_mix::{
    ClientAddress, ClientTraffic, ClientTrafficConfig, EnqueueError, MailboxStep, MailboxSync,
    MixPayload, NodeId, ReplySurb, RetransmitConfig, SendClass, StoreEffect, Topology, TrafficKind,
    seed_from,
};
use wesh_pki::ReplyBlockLife;

#[derive(Debug, Error)]
pub enum ClientError {
    #[error(transparent)]
    Net(#[from] NetError),
    #[error("{0}")]
    Keys(#[from] crate::keys::KeyError),
    #[error("provider id is not an Ed25519 key")]
    ProviderId,
    #[error("{0}")]
    Rate(#[from] wesh_mix::RateError),
    #[error("client stopped")]
    Stopped,
    #[error("{0}")]
    Enqueue(#[from] EnqueueError),
    #[error("{0}")]
    Store(#[from] crate::storage::client_store::ClientStoreError),
    #[error("the client has no view of the network yet")]
    NoTopology,
    #[error("cannot build reply blocks: {0}")]
    Build(#[from] wesh_mix::BuildError),
    #[error(transparent)]
    PullSlots(#[from] crate::mailboxes::puller::SlotsError),
}

/// What a client reports to an observer (the testnet, a metrics exporter, the CLI).
#[derive(Debug, Clone)]
pub enum ClientEvent {
    Sent {
        client: u32,
        kind: TrafficKind,
        at: Instant,
        sampled_delay: Duration,
        /// The packet's identity on the link ([`wesh_mix::frame_tag`]).
        tag: u64,
    },
    /// A payload outside reliable delivery (a probe, a loop) came out of the mailbox.
    Received {
        client: u32,
        payload: MixPayload,
        at: Instant,
    },
    /// A reliable message was reassembled.
    MessageReceived {
        client: u32,
        bytes: Vec<u8>,
        at: Instant,
        /// Its sequence number in the client's inbox, with a store.
        inbox_seq: Option<u64>,
    },
    /// Every fragment of our message `id` is in the recipient's mailbox.
    MessageDelivered { client: u32, id: u64, at: Instant },
    /// Our message `id` was given up (retries exhausted).
    MessageFailed {
        client: u32,
        id: u64,
        reason: String,
    },
}

/// What a client carries across going offline and coming back (or a restart, once
/// persisted): its identity, its mailbox, and its traffic core with the reliable messages
/// in progress.
pub struct ClientState {
    pub identity: Keypair,
    pub mailbox: Arc<MailboxClient>,
    pub core: ClientTraffic,
    /// The core's clock origin (its `now` is time since this instant).
    pub origin: Instant,
    /// The routing view the client had when it went offline: used again on return while
    /// its keys live ([`ReplyBlockLife::routes_usable_at`]), so that a phone waking up
    /// sends at once instead of after a fresh directory sync (seconds, or a sync timeout).
    pub view: Option<KeptView>,
}

/// A routing view and how long routes over it work.
pub struct KeptView {
    pub topology: Topology,
    pub life: ReplyBlockLife,
}

impl ClientState {
    /// A new client for `provider`: fresh identity, mailbox key and pull secret; the
    /// mailbox id is the client's node id (the Sphinx destination its provider sees).
    pub fn generate(provider: NodeId, traffic: ClientTrafficConfig) -> Result<Self, ClientError> {
        let identity = Keypair::generate_ed25519();
        let me = crate::keys::node_id_of(&identity.public())?;
        let mut rng = rand::rng();
        let mut key = zeroize::Zeroizing::new([0u8; 32]);
        rand::Rng::fill_bytes(&mut rng, key.as_mut());
        let mut secret = PullSecret([0; 32]);
        rand::Rng::fill_bytes(&mut rng, &mut secret.0);
        let mailbox = MailboxClient::from_parts(provider, MailboxId(me.0), &key, secret);
        Self::with(identity, Arc::new(mailbox), traffic)
    }

    /// A client with these keys and a fresh traffic core.
    pub fn with(
        identity: Keypair,
        mailbox: Arc<MailboxClient>,
        traffic: ClientTrafficConfig,
    ) -> Result<Self, ClientError> {
        let me = crate::keys::node_id_of(&identity.public())?;
        let address = ClientAddress {
            provider: *mailbox.provider(),
            client: me,
        };
        let core = ClientTraffic::new(
            address,
            crate::keys::client_keys_of(&identity)?,
            traffic,
            Duration::ZERO,
            seed_from(&mut rand::rng()),
        )?;
        Ok(ClientState {
            identity,
            mailbox,
            core,
            origin: crate::clock::monotonic(),
            view: None,
        })
    }
}

pub struct ClientSpec {
    pub state: ClientState,
    pub index: u32,
    pub provider_addr: Multiaddr,
    /// A fixed routing view; with `pki`, the view comes from the directory instead.
    pub topology: Option<Topology>,
    /// Follow the gossip PKI by syncing the directory from the provider.
    pub pki: Option<wesh_pki::PkiParams>,
    /// Pull the mailbox this often, whatever it holds.
    pub pull_interval: Duration,
    /// Slots in every pull answer (1..=`PULL_SLOTS`).
    pub pull_slots: usize,
    /// Where the client's connections count their bytes (`wesh client` keeps one across
    /// restarts for its metrics).
    pub bytes: Arc<TransportBytes>,
    pub observer: Option<mpsc::UnboundedSender<ClientEvent>>,
    /// Durable state (`wesh client`): pulled fragments are kept before they are confirmed,
    /// completed messages go to the inbox, messages being sent to the outbox.
    pub store: Option<Arc<ClientStore>>,
    /// Pay for sending with tokens of this issuer (the provider requires it).
    pub payments: Option<crate::credit::IssuerAddress>,
}

impl ClientSpec {
    /// A spec with the defaults: no fixed topology, no PKI, the default profile's pulls.
    pub fn new(state: ClientState, provider_addr: Multiaddr) -> Self {
        ClientSpec {
            state,
            index: 0,
            provider_addr,
            topology: None,
            pki: None,
            pull_interval: DEFAULT_PULL_INTERVAL,
            pull_slots: DEFAULT_PULL_SLOTS,
            bytes: Arc::default(),
            observer: None,
            store: None,
            payments: None,
        }
    }
}

/// Work for the runner: a call on its state, or leaving with the traffic core.
enum Command {
    Call(Box<dyn FnOnce(&mut ClientRunner) + Send>),
    Detach(oneshot::Sender<(ClientTraffic, Option<KeptView>)>),
}

/// Payloads pulled from the mailbox; `done` says whether they are handled (kept safely),
/// and only then does the puller confirm them to the provider.
struct Inbound {
    payloads: Vec<Vec<u8>>,
    /// What the provider still holds beyond this answer.
    remaining: u32,
    done: oneshot::Sender<bool>,
}

#[derive(Clone)]
pub struct ClientHandle {
    pub address: ClientAddress,
    commands: mpsc::Sender<Command>,
    pub send_failures: Arc<AtomicU64>,
    /// True once the client has a routable view of the network.
    pub topology_ready: Arc<AtomicBool>,
    /// True once the mailbox is registered at the provider.
    pub mailbox_ready: Arc<AtomicBool>,
    /// True once the client has sending credit at its provider (always, without payments).
    pub credit_ready: Arc<AtomicBool>,
    pub credit_stats: Arc<crate::credit::keeper::KeeperStats>,
    /// The providers of the confirmed directory view (node ID, addresses), updated as the
    /// directory changes; empty with a static topology.
    pub directory_providers: watch::Receiver<DirectoryProviders>,
}

impl ClientHandle {
    /// Runs `f` on the client's runner (its one owner) and returns what it returns.
    async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut ClientRunner) -> T + Send + 'static,
    ) -> Result<T, ClientError> {
        let (reply, rx) = oneshot::channel();
        let call = Command::Call(Box::new(move |r| {
            let _ = reply.send(f(r));
        }));
        self.commands
            .send(call)
            .await
            .map_err(|_| ClientError::Stopped)?;
        rx.await.map_err(|_| ClientError::Stopped)
    }

    /// Queues `body` (one packet, unreliable) for `to`; returns the message id.
    pub async fn send(&self, to: ClientAddress, body: Vec<u8>) -> Result<u64, ClientError> {
        Ok(self.call(move |r| r.core.enqueue(to, body)).await??)
    }

    /// Queues a message of any size up to `MAX_MESSAGE_BYTES` for reliable delivery
    /// (fragments, SURB-acks, retransmission); returns its id for the
    /// `MessageDelivered` / `MessageFailed` events.
    pub async fn send_message(
        &self,
        to: ClientAddress,
        bytes: Vec<u8>,
    ) -> Result<u64, ClientError> {
        self.send_message_as(to, bytes, SendClass::Interactive)
            .await
    }

    /// [`Self::send_message`] in a chosen class: a background message leaves only when no
    /// interactive fragment waits.
    pub async fn send_message_as(
        &self,
        to: ClientAddress,
        bytes: Vec<u8>,
        class: SendClass,
    ) -> Result<u64, ClientError> {
        Ok(self
            .call(move |r| r.send_message(to, bytes, class))
            .await??)
    }

    /// `count` reply SURBs for the provider `holder` to send this client data with
    /// (routes over the current topology), and how long they work (the keys of the
    /// view's epoch). `NoTopology` before the client has a view.
    pub async fn reply_surbs(
        &self,
        holder: NodeId,
        count: usize,
    ) -> Result<(Vec<ReplySurb>, ReplyBlockLife), ClientError> {
        self.call(move |r| {
            let topology = r.topology.as_ref().ok_or(ClientError::NoTopology)?;
            let now = r.origin.elapsed();
            let surbs = r.core.reply_surbs(now, topology, holder, count)?;
            Ok((surbs, r.reply_life))
        })
        .await?
    }

    /// Queues a probe message (sender index + message id in the body) for the testnet.
    pub async fn probe(&self, to: ClientAddress) -> Result<(), ClientError> {
        self.call(move |r| {
            let id = r.core.next_message_id();
            if let Err(e) = r.core.enqueue(to, wesh_mix::encode_probe(r.index, id)) {
                tracing::warn!(error = %e, "probe refused");
            }
        })
        .await
    }

    /// Queues a mix payload made by the caller (any kind) for `to`, sealed (to `seal_to`
    /// if given) and sent on the real stream like a message: what a modified client could
    /// send (the testnet's attacks).
    pub async fn send_payload(
        &self,
        to: ClientAddress,
        payload: MixPayload,
        seal_to: Option<[u8; 32]>,
    ) -> Result<u64, ClientError> {
        Ok(self
            .call(move |r| r.core.enqueue_payload(to, payload, seal_to))
            .await??)
    }

    /// Bytes the client's reassembly holds for incoming messages in progress, and how many
    /// messages that is.
    pub async fn reassembly_held(&self) -> Result<(usize, usize), ClientError> {
        self.call(|r| r.core.reassembly_held()).await
    }

    /// Stops the Loopix streams (the client goes silent but keeps receiving).
    pub async fn stop_sending(&self) {
        let _ = self.call(|r| r.core.stop()).await;
    }
}

/// How long a client going offline waits for its links to write what they hold.
const LINK_CLOSE_WAIT: Duration = Duration::from_secs(2);

pub struct RunningClient {
    pub handle: ClientHandle,
    pub net: NetHandle,
    /// The issuer and this client's credential, when sending is paid (services such as
    /// replication are paid the same way).
    pub payments: Option<(crate::credit::IssuerAddress, [u8; 32])>,
    identity: Keypair,
    mailbox: Arc<MailboxClient>,
    origin: Instant,
    links: Arc<Links>,
    shutdown: watch::Sender<bool>,
}

impl RunningClient {
    pub fn shutdown(self) {
        let _ = self.shutdown.send(true);
    }

    /// Goes offline: closes every connection and hands back the state, so that
    /// [`start_client`] with it later resumes (pending sends, partial messages, mailbox).
    pub async fn go_offline(self) -> Result<ClientState, ClientError> {
        let (reply, rx) = oneshot::channel();
        let detach = self.handle.commands.send(Command::Detach(reply));
        detach.await.map_err(|_| ClientError::Stopped)?;
        let (core, view) = rx.await.map_err(|_| ClientError::Stopped)?;
        // what the runner handed to the provider link leaves before the connection closes
        self.links.close(LINK_CLOSE_WAIT).await;
        let _ = self.shutdown.send(true);
        Ok(ClientState {
            identity: self.identity,
            mailbox: self.mailbox,
            core,
            origin: self.origin,
            view,
        })
    }
}

/// Starts a client: connects to its provider, registers its mailbox, runs its streams and
/// pulls its mailbox.
pub async fn start_client(spec: ClientSpec) -> Result<RunningClient, ClientError> {
    let ClientState {
        identity,
        mailbox,
        mut core,
        origin,
        view,
    } = spec.state;
    // a fixed topology, else the view kept from before going offline while it works
    let kept = view.filter(|v| v.life.routes_usable_at(crate::clock::unix_now_ms()));
    let (topology, reply_life) = match (spec.topology, kept) {
        (Some(t), _) => (Some(t), ReplyBlockLife::FOREVER),
        (None, Some(v)) => (Some(v.topology), v.life),
        (None, None) => (None, ReplyBlockLife::FOREVER),
    };
    core.set_retransmit_config(RetransmitConfig::for_pull_interval(spec.pull_interval));
    let provider = *mailbox.provider();
    let provider_peer = peer_id_of(&provider).ok_or(ClientError::ProviderId)?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let net = start_swarm_counted(
        identity.clone(),
        &[(provider_peer, spec.provider_addr.clone())],
        spec.bytes.clone(),
        shutdown_rx.clone(),
    )
    .await?;
    let send_failures = Arc::new(AtomicU64::new(0));
    let links = Links::new(
        net.control.clone(),
        tokio::runtime::Handle::current(),
        send_failures.clone(),
    );
    let address = core.address();
    let (cmd_tx, cmd_rx) = mpsc::channel(1024);
    let (in_tx, in_rx) = mpsc::channel::<Inbound>(4);
    let mailbox_ready = Arc::new(AtomicBool::new(false));
    tokio::spawn(pull_mailbox(
        Puller::new(
            net.control.clone(),
            provider_peer,
            mailbox.clone(),
            spec.pull_slots,
        )?,
        spec.pull_interval,
        in_tx,
        mailbox_ready.clone(),
        shutdown_rx.clone(),
    ));
    let topology_ready = Arc::new(AtomicBool::new(topology.is_some()));
    let (providers_tx, directory_providers) = watch::channel(Vec::new());
    if let Some(params) = spec.pki {
        tokio::spawn(follow_directory(
            params,
            net.clone(),
            provider,
            DirectoryOut {
                commands: cmd_tx.clone(),
                ready: topology_ready.clone(),
                providers: providers_tx,
            },
            shutdown_rx.clone(),
        ));
    }
    let credit_ready = Arc::new(AtomicBool::new(spec.payments.is_none()));
    let payments = spec
        .payments
        .clone()
        .map(|issuer| (issuer, address.client.0));
    let credit_stats = Arc::new(crate::credit::keeper::KeeperStats::default());
    if let Some(issuer) = spec.payments {
        tokio::spawn(crate::credit::keeper::keep_credit(
            net.clone(),
            provider_peer,
            issuer,
            address.client.0,
            credit_ready.clone(),
            credit_stats.clone(),
            shutdown_rx.clone(),
        ));
    }
    let runner = ClientRunner {
        credit_ready: credit_ready.clone(),
        index: spec.index,
        store: spec.store,
        core,
        origin,
        topology,
        reply_life,
        provider_link: links.sender(provider_peer),
        links: links.clone(),
        provider_peer,
        observer: spec.observer,
        send_failures: send_failures.clone(),
    };
    tokio::spawn(runner.run(cmd_rx, in_rx, shutdown_rx));
    Ok(RunningClient {
        handle: ClientHandle {
            address,
            commands: cmd_tx,
            send_failures,
            topology_ready,
            mailbox_ready,
            credit_ready,
            credit_stats,
            directory_providers,
        },
        net,
        payments,
        identity,
        mailbox,
        origin,
        links,
        shutdown: shutdown_tx,
    })
}

/// Runs the mailbox rules of `MailboxSync` (`wesh_mix`): register, pull, and confirm
/// what the runner kept.
async fn pull_mailbox(
    mut puller: Puller,
    interval: Duration,
    inbound: mpsc::Sender<Inbound>,
    ready: Arc<AtomicBool>,
    mut shutdown: watch::Receiver<bool>,
) {
    let clock = crate::clock::CoreClock::start();
    let mut sync = MailboxSync::new(clock.now(), interval);
    let mut backlog = false;
    loop {
        match sync.poll(clock.now()) {
            Some(MailboxStep::Register) => {
                let result = puller.register().await;
                if let Err(e) = &result {
                    tracing::debug!(error = %e, "mailbox registration failed; retrying");
                }
                sync.handle_registered(clock.now(), result.is_ok());
                if sync.registered() && !ready.swap(true, Relaxed) {
                    tracing::info!("mailbox registered");
                }
            }
            Some(MailboxStep::Pull) => match puller.pull().await {
                Ok(pulled) => {
                    let (seqs, payloads): (Vec<u64>, Vec<Vec<u8>>) =
                        pulled.payloads.into_iter().unzip();
                    sync.handle_pulled(clock.now(), Some((seqs, pulled.remaining)));
                    let remaining = pulled.remaining;
                    // the runner hears every answer with mail, and the one that ends a
                    // backlog (it holds ack deadlines meanwhile)
                    if !payloads.is_empty() || backlog {
                        backlog = remaining > 0;
                        let (done, handled) = oneshot::channel();
                        let batch = Inbound {
                            payloads,
                            remaining,
                            done,
                        };
                        if inbound.send(batch).await.is_err() {
                            return;
                        }
                        // the runner is gone (offline or stopped): the mail stays at the provider
                        let Ok(kept) = handled.await else { return };
                        sync.handle_kept(clock.now(), kept);
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "mailbox pull failed");
                    sync.handle_pulled(clock.now(), None);
                }
            },
            Some(MailboxStep::Confirm(seqs)) => {
                if let Err(e) = puller.confirm(&seqs).await {
                    tracing::debug!(error = %e, "mailbox confirm failed");
                }
                sync.handle_confirmed(clock.now());
            }
            None => {
                let wake = sync.poll_timeout().map(|d| clock.instant(d));
                tokio::select! {
                    _ = sleep_until_opt(wake) => {}
                    _ = shutdown.changed() => return,
                }
            }
        }
    }
}

/// Providers of a directory view: node ID and the addresses it announces.
pub type DirectoryProviders = Vec<(NodeId, Vec<Multiaddr>)>;

/// Where a client's directory follower reports.
struct DirectoryOut {
    commands: mpsc::Sender<Command>,
    ready: Arc<AtomicBool>,
    providers: watch::Sender<DirectoryProviders>,
}

/// The providers of a directory view with the addresses they announce.
fn directory_providers(t: &wesh_pki::Topology) -> DirectoryProviders {
    t.providers
        .iter()
        .map(|n| {
            let addrs = n.addresses.iter().filter_map(|a| a.parse().ok()).collect();
            (NodeId(n.identity.0), addrs)
        })
        .collect()
}

/// Keeps the client's routing view in step with the directory, as the client side of
/// `wesh_pki::DirectoryFollower` decides (every descriptor is verified here, and a view
/// is installed only once sampled relays confirm it: the provider is not trusted).
async fn follow_directory(
    params: wesh_pki::PkiParams,
    net: NetHandle,
    provider: NodeId,
    out: DirectoryOut,
    mut shutdown: watch::Receiver<bool>,
) {
    use crate::pki::sync::{SyncOutcome, spawn_sync};
    use wesh_pki::FollowerAction;
    let Ok(agent) = wesh_pki::PkiAgent::observer(params.clone(), crate::clock::unix_now()) else {
        return;
    };
    let home = wesh_pki::NodeId(provider.0);
    let seed = seed_from(&mut rand::rng());
    let now = crate::clock::unix_now_ms();
    let mut follower =
        wesh_pki::DirectoryFollower::new(agent, wesh_pki::Following::Client { home }, now, seed);
    let (synced_tx, mut synced) = mpsc::unbounded_channel::<SyncOutcome>();
    loop {
        for action in follower.poll(crate::clock::unix_now_ms()) {
            match action {
                FollowerAction::Sync {
                    peer,
                    epoch,
                    digest,
                    deadline_ms,
                } => spawn_sync(
                    net.control.clone(),
                    peer,
                    epoch,
                    digest,
                    deadline_ms,
                    synced_tx.clone(),
                ),
                FollowerAction::Directory(t) => {
                    for (p, a) in crate::pki::convert::address_book(&t) {
                        net.add_address(p, a);
                    }
                }
                FollowerAction::InstallView(t) => {
                    let Some(routing) = crate::pki::convert::routing_view(&t) else {
                        continue;
                    };
                    let life = ReplyBlockLife::of_epoch(&params, t.epoch);
                    let install = Command::Call(Box::new(move |r| {
                        r.topology = Some(routing);
                        r.reply_life = life;
                    }));
                    if out.commands.send(install).await.is_err() {
                        return;
                    }
                    out.providers.send_replace(directory_providers(&t));
                    out.ready.store(true, Relaxed);
                }
                _ => {}
            }
        }
        let wake = follower
            .poll_timeout()
            .saturating_sub(crate::clock::unix_now_ms());
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(wake)) => {}
            Some(outcome) = synced.recv() => outcome.report_to(&mut follower),
            _ = shutdown.changed() => return,
        }
    }
}

struct ClientRunner {
    /// Nothing is sent before the provider gives credit (it would drop it).
    credit_ready: Arc<AtomicBool>,
    index: u32,
    store: Option<Arc<ClientStore>>,
    core: ClientTraffic,
    origin: Instant,
    topology: Option<Topology>,
    /// How long reply blocks over `topology` work ([`ReplyBlockLife::FOREVER`] for a
    /// static topology, whose keys never rotate).
    reply_life: ReplyBlockLife,
    links: Arc<Links>,
    provider_link: crate::net::links::FrameSender,
    provider_peer: PeerId,
    observer: Option<mpsc::UnboundedSender<ClientEvent>>,
    send_failures: Arc<AtomicU64>,
}

impl ClientRunner {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut inbound: mpsc::Receiver<Inbound>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let origin = self.origin;
        self.restore();
        loop {
            // without a routing view nothing can be built: wait for one
            let paid = self.credit_ready.load(Relaxed);
            let deadline = self
                .topology
                .as_ref()
                .and(self.core.next_deadline())
                .map(|d| origin + d)
                // without credit yet: look again shortly
                .map(|d| {
                    if paid {
                        d
                    } else {
                        crate::clock::monotonic() + Duration::from_millis(100)
                    }
                });
            tokio::select! {
                _ = sleep_until_opt(deadline) => {
                    if !paid { continue }
                    let now = origin.elapsed();
                    let Some(topology) = self.topology.as_ref() else { continue };
                    for out in self.core.poll(now, topology) {
                        match out {
                            Ok(out) => self.send(out),
                            Err(e) => tracing::warn!(error = %e, "cannot build packet"),
                        }
                    }
                    for ev in self.core.take_events() {
                        self.report(ev, crate::clock::monotonic());
                    }
                }
                cmd = commands.recv() => match cmd {
                    Some(Command::Call(call)) => call(&mut self),
                    Some(Command::Detach(reply)) => {
                        let view = self.topology.take().map(|topology| KeptView {
                            topology,
                            life: self.reply_life,
                        });
                        let _ = reply.send((self.core, view));
                        return;
                    }
                    None => return,
                },
                batch = inbound.recv() => match batch {
                    Some(batch) => {
                        let at = crate::clock::monotonic();
                        self.core.handle_mailbox_backlog(batch.remaining);
                        let (events, kept) = self.receive(&batch.payloads, at.duration_since(origin));
                        // kept before the events' store effects (delivery, forgetting)
                        for ev in events {
                            self.report(ev, at);
                        }
                        let _ = batch.done.send(kept);
                    }
                    None => { tracing::debug!("mailbox puller ended"); }
                },
                _ = shutdown.changed() => return,
            }
        }
    }

    /// Hands pulled payloads to the core; with a store, keeps durably the fragments the
    /// core's reassembly now holds (and no others: refused, late and evicted fragments
    /// never stay). False if that failed: then nothing is confirmed and the next pull
    /// brings them again.
    fn receive(
        &mut self,
        payloads: &[Vec<u8>],
        now: Duration,
    ) -> (Vec<wesh_mix::ClientEvent>, bool) {
        let Some(store) = &self.store else {
            let events = payloads
                .iter()
                .flat_map(|p| self.core.on_received(p, now))
                .collect();
            return (events, true);
        };
        let (events, kept) = store.receive_pulled(&mut self.core, payloads, now);
        if let Err(e) = &kept {
            tracing::error!(error = %e, "cannot keep pulled fragments; not confirming them");
        }
        (events, kept.is_ok())
    }

    fn send_message(
        &mut self,
        to: ClientAddress,
        bytes: Vec<u8>,
        class: SendClass,
    ) -> Result<u64, EnqueueError> {
        let kept = self.store.as_ref().map(|_| bytes.clone());
        let id = self.core.send_message_as(to, bytes, class)?;
        if let (Some(store), Some(bytes)) = (&self.store, kept)
            && let Err(e) = store.add_outbox(&OutboxMessage { id, to, bytes })
        {
            tracing::error!(error = %e, id, "message queued but not kept in the outbox");
        }
        Ok(id)
    }

    /// With a store: rebuilds partial messages from the kept fragments and sends again
    /// what the outbox holds (it was not fully acked before the client stopped).
    fn restore(&mut self) {
        let Some(store) = self.store.clone() else {
            return;
        };
        let now = self.origin.elapsed();
        // rebuilds reassembly, and drops kept fragments it does not hold
        match store.restore_pulled(&mut self.core, now) {
            Ok(events) => {
                for ev in events {
                    self.report(ev, crate::clock::monotonic());
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot read kept fragments"),
        }
        match store.outbox() {
            Ok(pending) => {
                for m in pending {
                    if let Err(e) = store.remove_outbox(m.id) {
                        tracing::error!(error = %e, "outbox");
                        continue;
                    }
                    // the class is not kept: after a restart everything left is late already
                    match self.send_message(m.to, m.bytes, SendClass::Interactive) {
                        Ok(id) => tracing::info!(id, "resending a message from the outbox"),
                        Err(e) => tracing::error!(error = %e, "outbox message refused"),
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot read the outbox"),
        }
    }

    fn report(&self, ev: wesh_mix::ClientEvent, at: Instant) {
        use wesh_mix::ClientEvent as Core;
        let client = self.index;
        let mut inbox_seq = None;
        if let (Some(store), Some(effect)) = (&self.store, wesh_mix::store_effect(&ev)) {
            let stored = match effect {
                StoreEffect::Deliver { id, bytes } => store
                    .deliver(id, bytes, crate::clock::unix_now())
                    .map(|seq| {
                        tracing::info!(seq, bytes = bytes.len(), "message received");
                        inbox_seq = Some(seq);
                    }),
                StoreEffect::RemoveOutbox(id) => store.remove_outbox(id),
                StoreEffect::ForgetPulled(id) => store.forget_pulled(id),
            };
            if let Err(e) = stored {
                tracing::error!(error = %e, "client store");
            }
        }
        let out = match ev {
            Core::Other(payload) => ClientEvent::Received {
                client,
                payload,
                at,
            },
            Core::MessageReceived { bytes, .. } => ClientEvent::MessageReceived {
                client,
                bytes,
                at,
                inbox_seq,
            },
            Core::MessageDelivered { id } => ClientEvent::MessageDelivered { client, id, at },
            Core::MessageFailed { id, reason } => ClientEvent::MessageFailed {
                client,
                id,
                reason: format!("{reason:?}"),
            },
            Core::Rejected(reason) => {
                tracing::debug!(?reason, "incoming payload refused");
                return;
            }
            Core::IncomingAbandoned(a) => {
                tracing::info!(?a, "incomplete incoming message timed out");
                return;
            }
        };
        if let Some(obs) = &self.observer {
            let _ = obs.send(out);
        }
    }

    fn send(&mut self, out: wesh_mix::Outgoing) {
        if self.provider_link.is_closed() {
            self.provider_link = self.links.sender(self.provider_peer);
        }
        let at = crate::clock::monotonic();
        let tag = wesh_mix::frame_tag(&out.packet);
        if self.provider_link.try_send(out.packet).is_err() {
            self.send_failures.fetch_add(1, Relaxed);
            return;
        }
        if let Some(obs) = &self.observer {
            let _ = obs.send(ClientEvent::Sent {
                client: self.index,
                kind: out.kind,
                at,
                sampled_delay: out.sampled_delay,
                tag,
            });
        }
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}
