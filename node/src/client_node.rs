//! The client role's shell: one libp2p identity, a link to its provider, the Loopix streams
//! of `wesh_mix::ClientTraffic` on tokio timers, and a puller that fetches the client's
//! mailbox from its provider on a fixed schedule (`/wesh/mailbox/1`).

use crate::keys::peer_id_of;
use crate::mailboxes::params::DEFAULT_PULL_INTERVAL;
use crate::mailboxes::puller::Puller;
use crate::net::links::Links;
use crate::net::swarm::{NetError, NetHandle, start_swarm};
use crate::storage::client_store::{ClientStore, OutboxMessage};
use libp2p::identity::Keypair;
use libp2p::{Multiaddr, PeerId};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};
use thiserror::Error;
use tokio::sync::{mpsc, oneshot, watch};
use wesh_mix::mailbox::{MailboxClient, MailboxId, PullSecret};
use wesh_mix::{
    ClientAddress, ClientTraffic, ClientTrafficConfig, EnqueueError, MixPayload, NodeId, ReplySurb,
    Topology, TrafficKind, seed_from,
};

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
    Build(String),
}

/// What a client reports to an observer (the testnet, a metrics exporter, the CLI).
#[derive(Debug, Clone)]
pub enum ClientEvent {
    Sent {
        client: u32,
        kind: TrafficKind,
        at: Instant,
        sampled_delay: Duration,
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
            traffic,
            Duration::ZERO,
            seed_from(&mut rand::rng()),
        )?;
        Ok(ClientState {
            identity,
            mailbox,
            core,
            origin: crate::clock::monotonic(),
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
    /// Pull the mailbox this often while it is empty.
    pub pull_interval: Duration,
    pub observer: Option<mpsc::UnboundedSender<ClientEvent>>,
    /// Durable state (`wesh client`): pulled fragments are kept before they are confirmed,
    /// completed messages go to the inbox, messages being sent to the outbox.
    pub store: Option<Arc<ClientStore>>,
    /// Pay for sending with tokens of this issuer (the provider requires it).
    pub payments: Option<crate::credit::IssuerAddress>,
}

impl ClientSpec {
    /// A spec with the defaults: no fixed topology, no PKI, default pull interval.
    pub fn new(state: ClientState, provider_addr: Multiaddr) -> Self {
        ClientSpec {
            state,
            index: 0,
            provider_addr,
            topology: None,
            pki: None,
            pull_interval: DEFAULT_PULL_INTERVAL,
            observer: None,
            store: None,
            payments: None,
        }
    }
}

enum Command {
    SetTopology(Topology),
    Send {
        to: ClientAddress,
        body: Vec<u8>,
        reply: oneshot::Sender<Result<u64, EnqueueError>>,
    },
    SendMessage {
        to: ClientAddress,
        bytes: Vec<u8>,
        reply: oneshot::Sender<Result<u64, EnqueueError>>,
    },
    Probe {
        to: ClientAddress,
    },
    ReplySurbs {
        holder: NodeId,
        count: usize,
        reply: oneshot::Sender<Result<Vec<ReplySurb>, ClientError>>,
    },
    Stop,
    Detach {
        reply: oneshot::Sender<ClientTraffic>,
    },
}

/// Payloads pulled from the mailbox; `done` says whether they are handled (kept safely),
/// and only then does the puller confirm them to the provider.
struct Inbound {
    payloads: Vec<Vec<u8>>,
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
    async fn command(&self, c: Command) -> Result<(), ClientError> {
        self.commands
            .send(c)
            .await
            .map_err(|_| ClientError::Stopped)
    }

    /// Queues `body` (one packet, unreliable) for `to`; returns the message id.
    pub async fn send(&self, to: ClientAddress, body: Vec<u8>) -> Result<u64, ClientError> {
        let (reply, rx) = oneshot::channel();
        self.command(Command::Send { to, body, reply }).await?;
        Ok(rx.await.map_err(|_| ClientError::Stopped)??)
    }

    /// Queues a message of any size up to `MAX_MESSAGE_BYTES` for reliable delivery
    /// (fragments, SURB-acks, retransmission); returns its id for the
    /// `MessageDelivered` / `MessageFailed` events.
    pub async fn send_message(
        &self,
        to: ClientAddress,
        bytes: Vec<u8>,
    ) -> Result<u64, ClientError> {
        let (reply, rx) = oneshot::channel();
        self.command(Command::SendMessage { to, bytes, reply })
            .await?;
        Ok(rx.await.map_err(|_| ClientError::Stopped)??)
    }

    /// `count` reply SURBs for the provider `holder` to send this client data with
    /// (routes over the current topology). `NoTopology` before the client has a view.
    pub async fn reply_surbs(
        &self,
        holder: NodeId,
        count: usize,
    ) -> Result<Vec<ReplySurb>, ClientError> {
        let (reply, rx) = oneshot::channel();
        self.command(Command::ReplySurbs {
            holder,
            count,
            reply,
        })
        .await?;
        rx.await.map_err(|_| ClientError::Stopped)?
    }

    /// Queues a probe message (sender index + message id in the body) for the testnet.
    pub async fn probe(&self, to: ClientAddress) -> Result<(), ClientError> {
        self.command(Command::Probe { to }).await
    }

    /// Stops the Loopix streams (the client goes silent but keeps receiving).
    pub async fn stop_sending(&self) {
        let _ = self.command(Command::Stop).await;
    }
}

/// Body of a testnet probe: magic, sender index, message id.
pub fn encode_probe(sender: u32, id: u64) -> Vec<u8> {
    let mut b = b"WPRB".to_vec();
    b.extend_from_slice(&sender.to_be_bytes());
    b.extend_from_slice(&id.to_be_bytes());
    b
}

pub fn decode_probe(body: &[u8]) -> Option<(u32, u64)> {
    if body.len() != 16 || &body[..4] != b"WPRB" {
        return None;
    }
    let sender = u32::from_be_bytes(body[4..8].try_into().ok()?);
    let id = u64::from_be_bytes(body[8..16].try_into().ok()?);
    Some((sender, id))
}

pub struct RunningClient {
    pub handle: ClientHandle,
    pub net: NetHandle,
    identity: Keypair,
    mailbox: Arc<MailboxClient>,
    origin: Instant,
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
        self.handle.command(Command::Detach { reply }).await?;
        let core = rx.await.map_err(|_| ClientError::Stopped)?;
        let _ = self.shutdown.send(true);
        Ok(ClientState {
            identity: self.identity,
            mailbox: self.mailbox,
            core,
            origin: self.origin,
        })
    }
}

/// Starts a client: connects to its provider, registers its mailbox, runs its streams and
/// pulls its mailbox.
pub async fn start_client(spec: ClientSpec) -> Result<RunningClient, ClientError> {
    let ClientState {
        identity,
        mailbox,
        core,
        origin,
    } = spec.state;
    let provider = *mailbox.provider();
    let provider_peer = peer_id_of(&provider).ok_or(ClientError::ProviderId)?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let net = start_swarm(
        identity.clone(),
        &[],
        &[(provider_peer, spec.provider_addr.clone())],
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
        Puller::new(net.control.clone(), provider_peer, mailbox.clone()),
        spec.pull_interval,
        in_tx,
        mailbox_ready.clone(),
        shutdown_rx.clone(),
    ));
    let topology_ready = Arc::new(AtomicBool::new(spec.topology.is_some()));
    let (providers_tx, directory_providers) = watch::channel(Vec::new());
    if let Some(params) = spec.pki {
        tokio::spawn(follow_directory(
            params,
            net.clone(),
            provider_peer,
            DirectoryOut {
                commands: cmd_tx.clone(),
                ready: topology_ready.clone(),
                providers: providers_tx,
            },
            shutdown_rx.clone(),
        ));
    }
    let credit_ready = Arc::new(AtomicBool::new(spec.payments.is_none()));
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
        topology: spec.topology,
        provider_link: links.sender(provider_peer),
        links,
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
        identity,
        mailbox,
        origin,
        shutdown: shutdown_tx,
    })
}

/// Registers the mailbox, then pulls it every `interval` (at once again while the provider
/// says more is waiting). Payloads are confirmed only after the runner handled them.
async fn pull_mailbox(
    mut puller: Puller,
    interval: Duration,
    inbound: mpsc::Sender<Inbound>,
    ready: Arc<AtomicBool>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(50);
    loop {
        match puller.register().await {
            Ok(()) => break,
            Err(e) => {
                tracing::debug!(error = %e, "mailbox registration failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.changed() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
    ready.store(true, Relaxed);
    tracing::info!("mailbox registered");
    loop {
        let mut again = false;
        match puller.pull().await {
            Ok(pulled) => {
                again = pulled.remaining > 0;
                if !pulled.payloads.is_empty() {
                    let (seqs, payloads): (Vec<u64>, Vec<Vec<u8>>) =
                        pulled.payloads.into_iter().unzip();
                    let (done, handled) = oneshot::channel();
                    if inbound.send(Inbound { payloads, done }).await.is_err() {
                        return;
                    }
                    match handled.await {
                        Ok(true) => {}
                        // not kept: leave them at the provider for the next pull
                        Ok(false) => continue,
                        // the runner is gone (offline or stopped): keep the mail at the provider
                        Err(_) => return,
                    }
                    if let Err(e) = puller.confirm(&seqs).await {
                        // not deleted: the next pull returns them again, the core drops duplicates
                        tracing::debug!(error = %e, "mailbox confirm failed");
                    }
                }
            }
            Err(e) => tracing::debug!(error = %e, "mailbox pull failed"),
        }
        if again {
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Keeps the client's routing view in step with the directory: syncs it from the
/// provider (every descriptor is verified here, the provider is not trusted) a few times
/// per epoch, and recomputes the topology when the epoch changes.
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

async fn follow_directory(
    params: wesh_pki::PkiParams,
    net: NetHandle,
    provider: PeerId,
    out: DirectoryOut,
    mut shutdown: watch::Receiver<bool>,
) {
    let DirectoryOut {
        commands,
        ready,
        providers,
    } = out;
    use crate::pki::convert::routing_view;
    use crate::pki::service::{unix_now, until_unix};
    let every = Duration::from_secs((params.epoch_length_secs / 4).clamp(1, 30));
    let mut control = net.control.clone();
    let mut view = wesh_pki::ViewSampler::<PeerId>::new(params.clone());
    let Ok(mut agent) = wesh_pki::PkiAgent::observer(params.clone(), unix_now()) else {
        return;
    };
    let mut pending: Option<(Topology, DirectoryProviders)> = None;
    let mut rng =
        <rand_chacha::ChaCha20Rng as rand::SeedableRng>::from_seed(seed_from(&mut rand::rng()));
    let mut next_sync = crate::clock::monotonic();
    loop {
        let mut actions = Vec::new();
        let synced = crate::clock::monotonic() >= next_sync;
        if synced {
            // until the first view arrives, ask again soon
            next_sync = crate::clock::monotonic()
                + if ready.load(Relaxed) {
                    every
                } else {
                    Duration::from_millis(300)
                };
            match control
                .open_stream(provider, crate::pki::sync::PKI_SYNC_PROTOCOL)
                .await
            {
                Ok(mut s) => {
                    match crate::pki::sync::request(&mut s, agent.epoch(), agent.digest()).await {
                        Ok(answer) => {
                            for d in answer.descriptors.unwrap_or_default() {
                                actions.extend(agent.on_descriptor(&d, unix_now()).1);
                            }
                        }
                        Err(e) => tracing::debug!(error = %e, "directory sync failed"),
                    }
                }
                Err(e) => tracing::debug!(error = %e, "cannot open directory sync"),
            }
        }
        actions.extend(agent.tick(unix_now(), &mut rng));
        let changed = actions
            .iter()
            .any(|a| matches!(a, wesh_pki::PkiAction::Topology(_)));
        if changed || (synced && !view.confirmed()) {
            // Ask sampled relays (not the provider) whether they hold the same directory.
            // One that disagrees sends its own, so descriptors the provider withheld or
            // invented show up, and the digests are compared again.
            let t = agent.topology();
            let book = crate::pki::convert::address_book(&t);
            let mut peers: Vec<PeerId> = book
                .iter()
                .map(|(p, _)| *p)
                .filter(|p| *p != provider)
                .collect();
            peers.sort();
            peers.dedup();
            for (p, a) in &book {
                net.add_address(*p, a.clone());
            }
            let needed = view.samples_needed(peers.len());
            view.restart(agent.epoch(), agent.digest(), needed);
            for _ in 0..needed.min(peers.len()) {
                // distinct relays within one round
                let Some(peer) = view.pick(&peers, &mut rng) else {
                    break;
                };
                peers.retain(|p| *p != peer);
                let Ok(mut s) = control
                    .open_stream(peer, crate::pki::sync::PKI_SYNC_PROTOCOL)
                    .await
                else {
                    continue;
                };
                let Ok(answer) =
                    crate::pki::sync::request(&mut s, agent.epoch(), agent.digest()).await
                else {
                    continue;
                };
                let differed = answer.descriptors.is_some();
                for d in answer.descriptors.unwrap_or_default() {
                    agent.on_descriptor(&d, unix_now());
                }
                view.set_local(agent.epoch(), agent.digest());
                view.record(peer, answer.digest, differed);
            }
            let t = agent.topology();
            pending = routing_view(&t).map(|r| (r, directory_providers(&t)));
        }
        // routes are built only over a view enough sampled relays confirm
        if view.confirmed() {
            if let Some((t, listed)) = pending.take() {
                if commands.send(Command::SetTopology(t)).await.is_err() {
                    return;
                }
                providers.send_replace(listed);
                ready.store(true, Relaxed);
            }
        } else {
            tracing::debug!("directory view not confirmed yet");
            next_sync = next_sync.min(crate::clock::monotonic() + Duration::from_millis(300));
        }
        let tick = crate::clock::monotonic() + until_unix(agent.next_tick(unix_now()));
        tokio::select! {
            _ = tokio::time::sleep_until(next_sync.min(tick).into()) => {}
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
                    Some(Command::Send { to, body, reply }) => { let _ = reply.send(self.core.enqueue(to, body)); }
                    Some(Command::SendMessage { to, bytes, reply }) => { let _ = reply.send(self.send_message(to, bytes)); }
                    Some(Command::Probe { to }) => {
                        let id = self.core.next_message_id();
                        if let Err(e) = self.core.enqueue(to, encode_probe(self.index, id)) {
                            tracing::warn!(error = %e, "probe refused");
                        }
                    }
                    Some(Command::ReplySurbs { holder, count, reply }) => {
                        let surbs = match self.topology.as_ref() {
                            None => Err(ClientError::NoTopology),
                            Some(t) => self
                                .core
                                .reply_surbs(origin.elapsed(), t, holder, count)
                                .map_err(|e| ClientError::Build(e.to_string())),
                        };
                        let _ = reply.send(surbs);
                    }
                    Some(Command::Stop) => self.core.stop(),
                    Some(Command::SetTopology(t)) => self.topology = Some(t),
                    Some(Command::Detach { reply }) => {
                        let _ = reply.send(self.core);
                        return;
                    }
                    None => return,
                },
                batch = inbound.recv() => match batch {
                    Some(batch) => {
                        let kept = self.keep(&batch.payloads);
                        if kept {
                            let at = crate::clock::monotonic();
                            for payload in &batch.payloads {
                                for ev in self.core.on_received(payload, at.duration_since(origin)) {
                                    self.report(ev, at);
                                }
                            }
                        }
                        let _ = batch.done.send(kept);
                    }
                    None => { tracing::debug!("mailbox puller ended"); }
                },
                _ = shutdown.changed() => return,
            }
        }
    }

    /// With a store: keeps the pulled fragments durably before they are confirmed. False
    /// if that failed (then nothing is confirmed and the next pull brings them again).
    fn keep(&self, payloads: &[Vec<u8>]) -> bool {
        let Some(store) = &self.store else {
            return true;
        };
        let fragments: Vec<_> = payloads
            .iter()
            .filter_map(|p| match MixPayload::decode(p) {
                Ok(MixPayload::Fragment { fragment, .. } | MixPayload::SurbData { fragment }) => {
                    Some((fragment.message, fragment.index, p.as_slice()))
                }
                _ => None,
            })
            .collect();
        match store.keep_pulled(&fragments) {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, "cannot keep pulled fragments; not confirming them");
                false
            }
        }
    }

    fn send_message(&mut self, to: ClientAddress, bytes: Vec<u8>) -> Result<u64, EnqueueError> {
        let kept = self.store.as_ref().map(|_| bytes.clone());
        let id = self.core.send_message(to, bytes)?;
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
        match store.pulled() {
            Ok(fragments) => {
                for p in fragments {
                    for ev in self.core.on_received(&p, now) {
                        self.report(ev, crate::clock::monotonic());
                    }
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
                    match self.send_message(m.to, m.bytes) {
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
        if let Some(store) = &self.store {
            let stored = match &ev {
                Core::MessageReceived { id, bytes } => store
                    .deliver(id, bytes, crate::pki::service::unix_now())
                    .map(|seq| {
                        tracing::info!(seq, bytes = bytes.len(), "message received");
                        inbox_seq = Some(seq);
                    }),
                Core::MessageDelivered { id } | Core::MessageFailed { id, .. } => {
                    store.remove_outbox(*id)
                }
                Core::IncomingAbandoned(a) => store.forget_pulled(&a.id),
                _ => Ok(()),
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
