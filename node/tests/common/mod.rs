//! Helpers shared by the shell's integration tests: a sink that counts the Sphinx frames a
//! relay forwards to it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use futures::StreamExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use tokio::sync::watch;
use wesh_mix::RouteNode;
use wesh_mix::params::PACKET_BYTES;
use wesh_shell::keys::NodeKeys;
use wesh_shell::net::SPHINX_PROTOCOL;
use wesh_shell::net::frames::read_frame;
use wesh_shell::net::swarm::{NetHandle, start_swarm};

/// A node on loopback that counts every full Sphinx frame it receives.
pub struct Sink {
    pub node: RouteNode,
    pub net: NetHandle,
    pub received: Arc<AtomicU64>,
}

impl Sink {
    pub async fn start(stop: watch::Receiver<bool>) -> Sink {
        let keys = NodeKeys::generate();
        let node = RouteNode {
            id: keys.node_id().unwrap(),
            sphinx_key: keys.sphinx_public(),
        };
        let localhost: libp2p::Multiaddr = "/ip4/127.0.0.1/tcp/0".parse().unwrap();
        let net = start_swarm(keys.identity.clone(), &[localhost], &[], stop)
            .await
            .unwrap();
        let received = Arc::new(AtomicU64::new(0));
        let mut incoming = net.control.clone().accept(SPHINX_PROTOCOL).unwrap();
        let counter = received.clone();
        tokio::spawn(async move {
            while let Some((_, mut s)) = incoming.next().await {
                let counter = counter.clone();
                tokio::spawn(async move {
                    while let Ok(Some(f)) = read_frame(&mut s, PACKET_BYTES).await {
                        assert_eq!(f.len(), PACKET_BYTES);
                        counter.fetch_add(1, Relaxed);
                    }
                });
            }
        });
        Sink {
            node,
            net,
            received,
        }
    }

    pub fn count(&self) -> u64 {
        self.received.load(Relaxed)
    }

    pub fn address(&self) -> (libp2p::PeerId, libp2p::Multiaddr) {
        (self.net.peer_id, self.net.listen_addrs[0].clone())
    }
}
