//! The client role's shell: one libp2p identity, a link to its provider, the Loopix streams
//! of `wesh_mix::ClientTraffic` on tokio timers, and deliveries read from the provider.

use crate::keys::{NodeKeys, peer_id_of};
use crate::net::DELIVER_PROTOCOL;
use crate::net::frames::{DELIVER_FRAME_BYTES, decode_delivery, read_frame};
use crate::net::links::Links;
use crate::net::swarm::{NetError, NetHandle, start_swarm};
use libp2p::{Multiaddr, PeerId};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};
use thiserror::Error;
use tokio::sync::{mpsc, oneshot, watch};
use wesh_mix::{
    ClientAddress, ClientTraffic, ClientTrafficConfig, EnqueueError, MixPayload, NodeId, Topology,
    TrafficKind, seed_from,
};

#[derive(Debug, Error)]
pub enum ClientError {
    #[error(transparent)]
    Net(#[from] NetError),
    #[error("{0}")]
    Keys(#[from] crate::keys::KeyError),
    #[error("provider id is not an Ed25519 key")]
    ProviderId,
    #[error("cannot reach provider {0}: {1}")]
    Provider(PeerId, String),
    #[error("{0}")]
    Rate(#[from] wesh_mix::RateError),
    #[error("client stopped")]
    Stopped,
    #[error("{0}")]
    Enqueue(#[from] EnqueueError),
}

/// What a client reports to an observer (the testnet, a metrics exporter).
#[derive(Debug, Clone)]
pub enum ClientEvent {
    Sent {
        client: u32,
        kind: TrafficKind,
        at: Instant,
        sampled_delay: Duration,
    },
    Received {
        client: u32,
        payload: MixPayload,
        at: Instant,
    },
}

pub struct ClientSpec {
    pub keys: NodeKeys,
    pub index: u32,
    pub provider: NodeId,
    pub provider_addr: Multiaddr,
    /// A fixed routing view; with `pki`, the view comes from the directory instead.
    pub topology: Option<Topology>,
    /// Follow the gossip PKI by syncing the directory from the provider.
    pub pki: Option<wesh_pki::PkiParams>,
    pub traffic: ClientTrafficConfig,
    pub observer: Option<mpsc::UnboundedSender<ClientEvent>>,
}

enum Command {
    SetTopology(Topology),
    Send {
        to: ClientAddress,
        body: Vec<u8>,
        reply: oneshot::Sender<Result<u64, EnqueueError>>,
    },
    Probe {
        to: ClientAddress,
    },
    Stop,
}

#[derive(Clone)]
pub struct ClientHandle {
    pub address: ClientAddress,
    commands: mpsc::Sender<Command>,
    pub send_failures: Arc<AtomicU64>,
    /// True once the client has a routable view of the network.
    pub topology_ready: Arc<std::sync::atomic::AtomicBool>,
}

impl ClientHandle {
    /// Queues `body` for `to`; returns the message id.
    pub async fn send(&self, to: ClientAddress, body: Vec<u8>) -> Result<u64, ClientError> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::Send { to, body, reply })
            .await
            .map_err(|_| ClientError::Stopped)?;
        Ok(rx.await.map_err(|_| ClientError::Stopped)??)
    }

    /// Queues a probe message (sender index + message id in the body) for the testnet.
    pub async fn probe(&self, to: ClientAddress) -> Result<(), ClientError> {
        self.commands
            .send(Command::Probe { to })
            .await
            .map_err(|_| ClientError::Stopped)
    }

    /// Stops the Loopix streams (the client goes silent but keeps receiving).
    pub async fn stop_sending(&self) {
        let _ = self.commands.send(Command::Stop).await;
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
    shutdown: watch::Sender<bool>,
}

impl RunningClient {
    pub fn shutdown(self) {
        let _ = self.shutdown.send(true);
    }
}

/// Starts a client: connects to its provider, opens its delivery stream, then runs.
pub async fn start_client(spec: ClientSpec) -> Result<RunningClient, ClientError> {
    let me = spec.keys.node_id()?;
    let provider_peer = peer_id_of(&spec.provider).ok_or(ClientError::ProviderId)?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let net = start_swarm(
        spec.keys.identity.clone(),
        &[],
        &[(provider_peer, spec.provider_addr.clone())],
        shutdown_rx.clone(),
    )
    .await?;
    let mut control = net.control.clone();
    let mut deliveries = None;
    let mut last_err = String::new();
    for attempt in 0..5u32 {
        match control.open_stream(provider_peer, DELIVER_PROTOCOL).await {
            Ok(s) => {
                deliveries = Some(s);
                break;
            }
            Err(e) => {
                last_err = e.to_string();
                tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
            }
        }
    }
    let mut deliveries =
        deliveries.ok_or_else(|| ClientError::Provider(provider_peer, last_err))?;
    let send_failures = Arc::new(AtomicU64::new(0));
    let links = Links::new(
        net.control.clone(),
        tokio::runtime::Handle::current(),
        send_failures.clone(),
    );
    let address = ClientAddress {
        provider: spec.provider,
        client: me,
    };
    let core = ClientTraffic::new(
        address,
        spec.traffic,
        Duration::ZERO,
        seed_from(&mut rand::rng()),
    )?;
    let (cmd_tx, cmd_rx) = mpsc::channel(1024);
    let (in_tx, in_rx) = mpsc::channel::<Vec<u8>>(1024);
    let mut stop = shutdown_rx.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                f = read_frame(&mut deliveries, DELIVER_FRAME_BYTES) => match f {
                    Ok(Some(frame)) => if in_tx.send(frame).await.is_err() { return },
                    Ok(None) => return,
                    Err(e) => { tracing::warn!(error = %e, "delivery stream from provider broke"); return }
                },
                _ = stop.changed() => return,
            }
        }
    });
    let topology_ready = Arc::new(std::sync::atomic::AtomicBool::new(spec.topology.is_some()));
    if let Some(params) = spec.pki {
        tokio::spawn(follow_directory(
            params,
            net.clone(),
            provider_peer,
            cmd_tx.clone(),
            topology_ready.clone(),
            shutdown_rx.clone(),
        ));
    }
    let runner = ClientRunner {
        index: spec.index,
        core,
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
        },
        net,
        shutdown: shutdown_tx,
    })
}

/// Keeps the client's routing view in step with the directory: syncs it from the
/// provider (every descriptor is verified here, the provider is not trusted) a few times
/// per epoch, and recomputes the topology when the epoch changes.
async fn follow_directory(
    params: wesh_pki::PkiParams,
    net: NetHandle,
    provider: PeerId,
    commands: mpsc::Sender<Command>,
    ready: Arc<std::sync::atomic::AtomicBool>,
    mut shutdown: watch::Receiver<bool>,
) {
    use crate::pki::convert::routing_view;
    use crate::pki::service::{unix_now, until_unix};
    use std::sync::atomic::Ordering::Relaxed;
    let every = Duration::from_secs((params.epoch_length_secs / 4).clamp(1, 30));
    let mut control = net.control.clone();
    let mut view = wesh_pki::ViewSampler::<PeerId>::new(params.clone());
    let Ok(mut agent) = wesh_pki::PkiAgent::observer(params.clone(), unix_now()) else {
        return;
    };
    let mut pending: Option<Topology> = None;
    let mut rng =
        <rand_chacha::ChaCha20Rng as rand::SeedableRng>::from_seed(seed_from(&mut rand::rng()));
    let mut next_sync = Instant::now();
    loop {
        let mut actions = Vec::new();
        let synced = Instant::now() >= next_sync;
        if synced {
            // until the first view arrives, ask again soon
            next_sync = Instant::now()
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
            pending = routing_view(&agent.topology());
        }
        // routes are built only over a view enough sampled relays confirm
        if view.confirmed() {
            if let Some(t) = pending.take() {
                if commands.send(Command::SetTopology(t)).await.is_err() {
                    return;
                }
                ready.store(true, Relaxed);
            }
        } else {
            tracing::debug!("directory view not confirmed yet");
            next_sync = next_sync.min(Instant::now() + Duration::from_millis(300));
        }
        let tick = Instant::now() + until_unix(agent.next_tick(unix_now()));
        tokio::select! {
            _ = tokio::time::sleep_until(next_sync.min(tick).into()) => {}
            _ = shutdown.changed() => return,
        }
    }
}

struct ClientRunner {
    index: u32,
    core: ClientTraffic,
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
        mut inbound: mpsc::Receiver<Vec<u8>>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let origin = Instant::now();
        loop {
            // without a routing view nothing can be built: wait for one
            let deadline = self
                .topology
                .as_ref()
                .and(self.core.next_deadline())
                .map(|d| origin + d);
            tokio::select! {
                _ = sleep_until_opt(deadline) => {
                    let now = origin.elapsed();
                    let Some(topology) = self.topology.as_ref() else { continue };
                    for out in self.core.poll(now, topology) {
                        match out {
                            Ok(out) => self.send(out),
                            Err(e) => tracing::warn!(error = %e, "cannot build packet"),
                        }
                    }
                }
                cmd = commands.recv() => match cmd {
                    Some(Command::Send { to, body, reply }) => { let _ = reply.send(self.core.enqueue(to, body)); }
                    Some(Command::Probe { to }) => {
                        let id = self.core.next_message_id();
                        if let Err(e) = self.core.enqueue(to, encode_probe(self.index, id)) {
                            tracing::warn!(error = %e, "probe refused");
                        }
                    }
                    Some(Command::Stop) => self.core.stop(),
                    Some(Command::SetTopology(t)) => self.topology = Some(t),
                    None => return,
                },
                frame = inbound.recv() => match frame {
                    Some(frame) => self.received(&frame),
                    None => { tracing::debug!("provider delivery stream ended"); }
                },
                _ = shutdown.changed() => return,
            }
        }
    }

    fn send(&mut self, out: wesh_mix::Outgoing) {
        if self.provider_link.is_closed() {
            self.provider_link = self.links.sender(self.provider_peer);
        }
        let at = Instant::now();
        if self.provider_link.try_send(out.packet).is_err() {
            self.send_failures
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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

    fn received(&mut self, frame: &[u8]) {
        let at = Instant::now();
        let Some(plain) = decode_delivery(frame) else {
            tracing::debug!("malformed delivery frame");
            return;
        };
        match MixPayload::decode(plain) {
            Ok(payload) => {
                if let Some(obs) = &self.observer {
                    let _ = obs.send(ClientEvent::Received {
                        client: self.index,
                        payload,
                        at,
                    });
                }
            }
            Err(e) => tracing::debug!(error = %e, "undecodable payload"),
        }
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}
