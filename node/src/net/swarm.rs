//! The node's libp2p swarm: TCP + Noise + Yamux, with identify, ping and raw streams.

use super::counted::Counted;
use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, MessageAuthenticity, MessageId};
use libp2p::peer_store::{self, memory_store::MemoryStore};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Transport, identify, identity::Keypair, noise, ping, tcp, yamux};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio::sync::{mpsc, watch};
use wesh_metrics::TransportBytes;

/// Advertised by identify, so any libp2p peer can tell what it is talking to.
pub const AGENT_VERSION: &str = concat!("wesh/", env!("CARGO_PKG_VERSION"));
pub const PROTOCOL_VERSION: &str = "/wesh/1.0.0";
/// Gossipsub topic of the PKI: descriptors and equivocation proofs.
pub const PKI_TOPIC: &str = "wesh/pki/1";
/// Largest gossip message accepted: a descriptor is at most 2 KiB
/// (`wesh_pki::params::MAX_DESCRIPTOR_BYTES`), a proof two of them plus framing.
const MAX_GOSSIP_BYTES: usize = 8192;
/// A publish that found no mesh peer yet is retried this often.
const PUBLISH_RETRY: Duration = Duration::from_millis(500);
/// Pending publications kept for retry (newest win).
const MAX_PENDING_PUBLISH: usize = 16;

/// Gossipsub peer scoring (spec/pki.md §12): only invalid messages (reported `Reject`,
/// which the PKI core returns only for what no honest peer forwards) cost score. The
/// score one invalid message costs; it counts squared, so 1 message costs 20, 2 cost
/// 80, 3 cost 180. Unit: score points. Source: honest positives are capped at
/// [`SCORE_POSITIVE_CAP`], so a second invalid message puts a peer below the publish
/// threshold and a third graylists it (its messages are then dropped unread).
const SCORE_INVALID_MESSAGE_WEIGHT: f64 = -20.0;
/// How long an invalid message weighs on its sender's score (it then decays to zero).
/// Unit: seconds (1 hour). Source: a PKI epoch; long enough that a peer cannot spread
/// junk at a steady rate and stay above the graylist threshold.
const SCORE_INVALID_MESSAGE_DECAY_SECS: u64 = 3600;
/// Cap of what time in the mesh and first deliveries add. Unit: score points.
/// Source: small, so good behaviour cannot buy more than one invalid message's worth.
const SCORE_POSITIVE_CAP: f64 = 20.0;

#[derive(NetworkBehaviour)]
pub struct WeshBehaviour {
    /// Remembers the addresses given with `add_peer_address` and offers them when a
    /// stream to that peer needs a dial.
    peers: peer_store::Behaviour<MemoryStore>,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    stream: libp2p_stream::Behaviour,
    gossip: gossipsub::Behaviour,
}

#[derive(Debug, Error)]
pub enum NetError {
    #[error("cannot build the libp2p transport: {0}")]
    Transport(String),
    #[error("invalid gossip configuration: {0}")]
    GossipConfig(#[from] gossipsub::ConfigBuilderError),
    #[error("cannot set up gossip: {0}")]
    Gossip(&'static str),
    #[error("invalid gossip peer scoring: {0}")]
    PeerScore(String),
    #[error("cannot listen on {0}: {1}")]
    Listen(Multiaddr, String),
    #[error("no listen address came up within 10 s")]
    ListenTimeout,
}

pub enum SwarmCommand {
    AddAddress(PeerId, Multiaddr),
    Dial(PeerId),
    Publish(Vec<u8>),
    Report {
        id: MessageId,
        source: PeerId,
        acceptance: MessageAcceptance,
    },
    PeerScore(PeerId, tokio::sync::oneshot::Sender<Option<f64>>),
}

/// What the swarm tells the node (only when started with gossip).
#[derive(Debug)]
pub enum NetEvent {
    /// A gossip message waiting for validation: answer with [`NetHandle::report`].
    Gossip {
        id: MessageId,
        source: PeerId,
        data: Vec<u8>,
    },
    /// A connection to a peer came up (a chance to sync the directory).
    Connected(PeerId),
}

/// What the rest of the node holds of a running swarm.
#[derive(Clone)]
pub struct NetHandle {
    pub peer_id: PeerId,
    /// Bytes on this swarm's connections.
    pub bytes: Arc<TransportBytes>,
    pub control: libp2p_stream::Control,
    pub listen_addrs: Vec<Multiaddr>,
    commands: mpsc::UnboundedSender<SwarmCommand>,
}

impl NetHandle {
    pub fn add_address(&self, peer: PeerId, addr: Multiaddr) {
        // the swarm task only goes away at shutdown, when nobody needs addresses any more
        let _ = self.commands.send(SwarmCommand::AddAddress(peer, addr));
    }

    pub fn dial(&self, peer: PeerId) {
        let _ = self.commands.send(SwarmCommand::Dial(peer));
    }

    /// Gossips `data` on the PKI topic (retried until a mesh peer takes it).
    pub fn publish(&self, data: Vec<u8>) {
        let _ = self.commands.send(SwarmCommand::Publish(data));
    }

    /// Tells gossipsub whether to forward a message and whether its sender misbehaved.
    pub fn report(&self, id: MessageId, source: PeerId, acceptance: MessageAcceptance) {
        let _ = self.commands.send(SwarmCommand::Report {
            id,
            source,
            acceptance,
        });
    }
}

impl NetHandle {
    /// The gossipsub score of `peer` (`None`: not known, or the swarm stopped).
    pub async fn peer_score(&self, peer: PeerId) -> Option<f64> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.commands.send(SwarmCommand::PeerScore(peer, tx)).ok()?;
        rx.await.ok().flatten()
    }
}

/// Starts a swarm without PKI gossip (clients, benchmarks, static topologies).
pub async fn start_swarm(
    keypair: Keypair,
    listen: &[Multiaddr],
    initial_addresses: &[(PeerId, Multiaddr)],
    shutdown: watch::Receiver<bool>,
) -> Result<NetHandle, NetError> {
    start_swarm_with_gossip(keypair, listen, initial_addresses, false, shutdown)
        .await
        .map(|(h, _)| h)
}

/// [`start_swarm`], adding its bytes to `bytes` (a client's, kept across restarts).
pub async fn start_swarm_counted(
    keypair: Keypair,
    initial_addresses: &[(PeerId, Multiaddr)],
    bytes: Arc<TransportBytes>,
    shutdown: watch::Receiver<bool>,
) -> Result<NetHandle, NetError> {
    start_swarm_inner(keypair, &[], initial_addresses, false, bytes, shutdown)
        .await
        .map(|(h, _)| h)
}

fn gossip_behaviour(key: &Keypair) -> Result<gossipsub::Behaviour, NetError> {
    let config = gossipsub::ConfigBuilder::default()
        // every message is checked by the PKI core before it is forwarded
        .validate_messages()
        .validation_mode(gossipsub::ValidationMode::Strict)
        .max_transmit_size(MAX_GOSSIP_BYTES)
        .heartbeat_interval(Duration::from_millis(500))
        // content-addressed ids: the same descriptor from two paths is one message
        .message_id_fn(|m: &gossipsub::Message| MessageId::from(Sha256::digest(&m.data).to_vec()))
        .build()?;
    let mut behaviour = gossipsub::Behaviour::new(MessageAuthenticity::Signed(key.clone()), config)
        .map_err(NetError::Gossip)?;
    let (params, thresholds) = peer_scoring();
    behaviour
        .with_peer_score(params, thresholds)
        .map_err(NetError::PeerScore)?;
    Ok(behaviour)
}

/// Score parameters for the one topic, `wesh/pki/1`: a low-rate topic (one descriptor per
/// node per epoch), so message-rate penalties (P3, P3b) are off, or every quiet honest
/// mesh peer would be punished; IP colocation (P6) is off too, since relays share hosts
/// and NATs and a Sybil costs a key, not an IP. What is left: a little credit for time in
/// the mesh (P1) and first deliveries (P2), and a heavy, slowly decaying cost per invalid
/// message (P4), which is what spec/pki.md promises.
fn peer_scoring() -> (gossipsub::PeerScoreParams, gossipsub::PeerScoreThresholds) {
    let topic = gossipsub::TopicScoreParams {
        topic_weight: 1.0,
        // P1: +0.1 per second in the mesh, at most +10
        time_in_mesh_weight: 0.1,
        time_in_mesh_quantum: Duration::from_secs(1),
        time_in_mesh_cap: 100.0,
        // P2: +1 per first delivery, at most +10, fading over 10 minutes
        first_message_deliveries_weight: 1.0,
        first_message_deliveries_decay: gossipsub::score_parameter_decay(Duration::from_secs(600)),
        first_message_deliveries_cap: 10.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        invalid_message_deliveries_weight: SCORE_INVALID_MESSAGE_WEIGHT,
        invalid_message_deliveries_decay: gossipsub::score_parameter_decay(Duration::from_secs(
            SCORE_INVALID_MESSAGE_DECAY_SECS,
        )),
        ..Default::default()
    };
    let mut params = gossipsub::PeerScoreParams {
        topic_score_cap: SCORE_POSITIVE_CAP,
        ip_colocation_factor_weight: 0.0,
        ..Default::default()
    };
    params
        .topics
        .insert(IdentTopic::new(PKI_TOPIC).hash(), topic);
    let thresholds = gossipsub::PeerScoreThresholds {
        // below 0 after one invalid message a peer no longer gets our gossip (IHAVE)
        gossip_threshold: -10.0,
        publish_threshold: -50.0,
        graylist_threshold: -80.0,
        accept_px_threshold: 10.0,
        // honest scores are small (at most SCORE_POSITIVE_CAP)
        opportunistic_graft_threshold: 3.0,
    };
    (params, thresholds)
}

/// Starts the swarm on `listen` and runs it until `shutdown` turns true.
pub async fn start_swarm_with_gossip(
    keypair: Keypair,
    listen: &[Multiaddr],
    initial_addresses: &[(PeerId, Multiaddr)],
    gossip: bool,
    shutdown: watch::Receiver<bool>,
) -> Result<(NetHandle, mpsc::UnboundedReceiver<NetEvent>), NetError> {
    let bytes = Arc::new(TransportBytes::default());
    start_swarm_inner(keypair, listen, initial_addresses, gossip, bytes, shutdown).await
}

async fn start_swarm_inner(
    keypair: Keypair,
    listen: &[Multiaddr],
    initial_addresses: &[(PeerId, Multiaddr)],
    gossip: bool,
    bytes: Arc<TransportBytes>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(NetHandle, mpsc::UnboundedReceiver<NetEvent>), NetError> {
    let gossip_behaviour = gossip_behaviour(&keypair)?;
    let counter = bytes.clone();
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_other_transport(move |key| {
            // TCP, counted below Noise and Yamux (what `with_tcp` builds, plus the count)
            let noise = noise::Config::new(key)
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            Ok(
                tcp::tokio::Transport::new(tcp::Config::default().nodelay(true))
                    .map(move |stream, _| Counted::new(stream, counter.clone()))
                    .upgrade(libp2p::core::upgrade::Version::V1Lazy)
                    .authenticate(noise)
                    .multiplex(yamux::Config::default()),
            )
        })
        .map_err(|e| NetError::Transport(e.to_string()))?
        .with_behaviour(|key| WeshBehaviour {
            peers: peer_store::Behaviour::new(MemoryStore::new(Default::default())),
            identify: identify::Behaviour::new(
                identify::Config::new(PROTOCOL_VERSION.to_string(), key.public())
                    .with_agent_version(AGENT_VERSION.to_string()),
            ),
            ping: ping::Behaviour::new(ping::Config::new()),
            stream: libp2p_stream::Behaviour::new(),
            gossip: gossip_behaviour,
        })
        .map_err(|e| NetError::Transport(e.to_string()))?
        // links between hops are long-lived; an idle mix link must not be torn down
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
        .build();
    for addr in listen {
        swarm
            .listen_on(addr.clone())
            .map_err(|e| NetError::Listen(addr.clone(), e.to_string()))?;
    }
    for (peer, addr) in initial_addresses {
        swarm.add_peer_address(*peer, addr.clone());
    }
    let topic = IdentTopic::new(PKI_TOPIC);
    if gossip {
        swarm
            .behaviour_mut()
            .gossip
            .subscribe(&topic)
            .map_err(|e| NetError::Transport(e.to_string()))?;
    }
    let mut listen_addrs = Vec::new();
    let deadline =
        tokio::time::Instant::from_std(crate::clock::monotonic()) + Duration::from_secs(10);
    while listen_addrs.len() < listen.len() {
        match tokio::time::timeout_at(deadline, swarm.select_next_some()).await {
            Ok(SwarmEvent::NewListenAddr { address, .. }) => listen_addrs.push(address),
            Ok(SwarmEvent::ListenerError { error, .. }) => {
                return Err(NetError::Listen(
                    listen.first().cloned().unwrap_or(Multiaddr::empty()),
                    error.to_string(),
                ));
            }
            Ok(_) => {}
            Err(_) => return Err(NetError::ListenTimeout),
        }
    }
    let control = swarm.behaviour().stream.new_control();
    let peer_id = *swarm.local_peer_id();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut pending: std::collections::VecDeque<Vec<u8>> = std::collections::VecDeque::new();
        let mut retry = tokio::time::interval(PUBLISH_RETRY);
        loop {
            tokio::select! {
                ev = swarm.select_next_some() => match ev {
                    SwarmEvent::Behaviour(WeshBehaviourEvent::Gossip(gossipsub::Event::Message { propagation_source, message_id, message })) => {
                        let _ = events_tx.send(NetEvent::Gossip { id: message_id, source: propagation_source, data: message.data });
                    }
                    SwarmEvent::ConnectionEstablished { peer_id, num_established, .. } => {
                        if num_established.get() == 1 && gossip {
                            let _ = events_tx.send(NetEvent::Connected(peer_id));
                        }
                        tracing::debug!(%peer_id, "connected");
                    }
                    other => log_event(other),
                },
                cmd = rx.recv() => match cmd {
                    Some(SwarmCommand::AddAddress(p, a)) => swarm.add_peer_address(p, a),
                    Some(SwarmCommand::Dial(p)) => {
                        if !swarm.is_connected(&p) && let Err(e) = swarm.dial(p) {
                            tracing::debug!(peer = %p, error = %e, "dial refused");
                        }
                    }
                    Some(SwarmCommand::Publish(data)) => {
                        if pending.len() >= MAX_PENDING_PUBLISH {
                            pending.pop_front();
                        }
                        pending.push_back(data);
                    }
                    Some(SwarmCommand::Report { id, source, acceptance }) => {
                        swarm.behaviour_mut().gossip.report_message_validation_result(&id, &source, acceptance);
                    }
                    Some(SwarmCommand::PeerScore(peer, reply)) => {
                        let _ = reply.send(swarm.behaviour().gossip.peer_score(&peer));
                    }
                    None => break,
                },
                _ = retry.tick(), if !pending.is_empty() => {
                    while let Some(data) = pending.front() {
                        match swarm.behaviour_mut().gossip.publish(topic.clone(), data.clone()) {
                            Ok(_) | Err(gossipsub::PublishError::Duplicate) => { pending.pop_front(); }
                            Err(gossipsub::PublishError::NoPeersSubscribedToTopic | gossipsub::PublishError::AllQueuesFull(_)) => break,
                            Err(e) => {
                                tracing::warn!(error = %e, "gossip publish failed");
                                pending.pop_front();
                            }
                        }
                    }
                }
                _ = shutdown.changed() => if *shutdown.borrow() { break },
            }
        }
        tracing::debug!(%peer_id, "swarm stopped");
    });
    Ok((
        NetHandle {
            peer_id,
            bytes,
            control,
            listen_addrs,
            commands: tx,
        },
        events_rx,
    ))
}

fn log_event(ev: SwarmEvent<WeshBehaviourEvent>) {
    match ev {
        SwarmEvent::ConnectionEstablished {
            peer_id, endpoint, ..
        } => {
            tracing::debug!(%peer_id, addr = %endpoint.get_remote_address(), "connected")
        }
        SwarmEvent::ConnectionClosed { peer_id, cause, .. } => {
            tracing::debug!(%peer_id, ?cause, "connection closed")
        }
        SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
            tracing::debug!(?peer_id, %error, "dial failed")
        }
        SwarmEvent::IncomingConnectionError { error, .. } => {
            tracing::debug!(%error, "inbound connection failed")
        }
        SwarmEvent::Behaviour(WeshBehaviourEvent::Identify(identify::Event::Received {
            peer_id,
            info,
            ..
        })) => {
            tracing::trace!(%peer_id, agent = %info.agent_version, "identified")
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    async fn gossiping(
        book: &[(PeerId, Multiaddr)],
    ) -> (
        NetHandle,
        mpsc::UnboundedReceiver<NetEvent>,
        watch::Sender<bool>,
    ) {
        let (stop_tx, stop) = watch::channel(false);
        let listen: Multiaddr = "/ip4/127.0.0.1/tcp/0".parse().unwrap();
        let (h, ev) =
            start_swarm_with_gossip(Keypair::generate_ed25519(), &[listen], book, true, stop)
                .await
                .unwrap();
        (h, ev, stop_tx)
    }

    /// spec/pki.md: a message the PKI core rejects costs its sender score. Two nodes
    /// gossip; one sends junk, the other reports it invalid; its score turns negative.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_rejected_gossip_message_costs_its_sender_score() {
        let (honest, mut events, _stop_a) = gossiping(&[]).await;
        let book = [(honest.peer_id, honest.listen_addrs[0].clone())];
        let (sender, _sender_events, _stop_b) = gossiping(&book).await;
        sender.dial(honest.peer_id);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let mut rejected = 0;
        let mut score = None;
        while std::time::Instant::now() < deadline {
            // new content each time: gossipsub drops repeats by content id
            sender.publish(format!("junk {rejected}").into_bytes());
            let wait = tokio::time::timeout(Duration::from_millis(600), events.recv()).await;
            if let Ok(Some(NetEvent::Gossip { id, source, .. })) = wait {
                assert_eq!(source, sender.peer_id);
                honest.report(id, source, MessageAcceptance::Reject);
                rejected += 1;
            }
            score = honest.peer_score(sender.peer_id).await;
            if score.is_some_and(|s| s < 0.0) {
                break;
            }
        }
        assert!(rejected > 0, "no gossip arrived");
        let score = score.expect("the sender has a score");
        assert!(
            score < 0.0,
            "score {score} after {rejected} rejected messages"
        );
    }
}
