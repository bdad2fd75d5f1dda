//! The node's libp2p swarm: TCP + Noise + Yamux, with identify, ping and raw streams.

use futures::StreamExt;
use libp2p::peer_store::{self, memory_store::MemoryStore};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, identify, identity::Keypair, noise, ping, tcp, yamux};
use std::time::Duration;
use thiserror::Error;
use tokio::sync::{mpsc, watch};

/// Advertised by identify, so any libp2p peer can tell what it is talking to.
pub const AGENT_VERSION: &str = concat!("wesh/", env!("CARGO_PKG_VERSION"));
pub const PROTOCOL_VERSION: &str = "/wesh/1.0.0";

#[derive(NetworkBehaviour)]
pub struct WeshBehaviour {
    /// Remembers the addresses given with `add_peer_address` and offers them when a
    /// stream to that peer needs a dial.
    peers: peer_store::Behaviour<MemoryStore>,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    stream: libp2p_stream::Behaviour,
}

#[derive(Debug, Error)]
pub enum NetError {
    #[error("cannot build the libp2p transport: {0}")]
    Transport(String),
    #[error("cannot listen on {0}: {1}")]
    Listen(Multiaddr, String),
    #[error("no listen address came up within 10 s")]
    ListenTimeout,
}

pub enum SwarmCommand {
    AddAddress(PeerId, Multiaddr),
}

/// What the rest of the node holds of a running swarm.
#[derive(Clone)]
pub struct NetHandle {
    pub peer_id: PeerId,
    pub control: libp2p_stream::Control,
    pub listen_addrs: Vec<Multiaddr>,
    commands: mpsc::UnboundedSender<SwarmCommand>,
}

impl NetHandle {
    pub fn add_address(&self, peer: PeerId, addr: Multiaddr) {
        // the swarm task only goes away at shutdown, when nobody needs addresses any more
        let _ = self.commands.send(SwarmCommand::AddAddress(peer, addr));
    }
}

/// Starts the swarm on `listen` and runs it until `shutdown` turns true.
pub async fn start_swarm(
    keypair: Keypair,
    listen: &[Multiaddr],
    initial_addresses: &[(PeerId, Multiaddr)],
    mut shutdown: watch::Receiver<bool>,
) -> Result<NetHandle, NetError> {
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| NetError::Transport(e.to_string()))?
        .with_behaviour(|key| WeshBehaviour {
            peers: peer_store::Behaviour::new(MemoryStore::new(Default::default())),
            identify: identify::Behaviour::new(
                identify::Config::new(PROTOCOL_VERSION.to_string(), key.public())
                    .with_agent_version(AGENT_VERSION.to_string()),
            ),
            ping: ping::Behaviour::new(ping::Config::new()),
            stream: libp2p_stream::Behaviour::new(),
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
    let mut listen_addrs = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
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
    tokio::spawn(async move {
        loop {
            tokio::select! {
                ev = swarm.select_next_some() => log_event(ev),
                cmd = rx.recv() => match cmd {
                    Some(SwarmCommand::AddAddress(p, a)) => swarm.add_peer_address(p, a),
                    None => break,
                },
                _ = shutdown.changed() => if *shutdown.borrow() { break },
            }
        }
        tracing::debug!(%peer_id, "swarm stopped");
    });
    Ok(NetHandle {
        peer_id,
        control,
        listen_addrs,
        commands: tx,
    })
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
