//! The providers a Wesh client can reach: node ID, libp2p peer and addresses. Rendezvous
//! hashing picks among their node IDs, so every client must see the same list (the
//! directory's providers).

use crate::keys::peer_id_of;
use crate::net::swarm::NetHandle;
use libp2p::{Multiaddr, PeerId};
use thiserror::Error;
use wesh_mix::NodeId;

#[derive(Debug, Error)]
#[error("provider {} is not an Ed25519 key", hex::encode(.0.0))]
pub struct NotAProviderKey(pub NodeId);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderInfo {
    pub node: NodeId,
    pub peer: PeerId,
    pub addrs: Vec<Multiaddr>,
}

impl ProviderInfo {
    /// Tells the swarm where this provider listens.
    pub fn introduce(&self, net: &NetHandle) {
        for a in &self.addrs {
            net.add_address(self.peer, a.clone());
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderBook {
    providers: Vec<ProviderInfo>,
}

impl ProviderBook {
    /// A book from (node ID, address) pairs; node IDs that are not Ed25519 keys are
    /// refused.
    pub fn new(
        list: impl IntoIterator<Item = (NodeId, Multiaddr)>,
    ) -> Result<Self, NotAProviderKey> {
        Self::with_addresses(list.into_iter().map(|(n, a)| (n, vec![a])))
    }

    /// A book from (node ID, addresses) pairs, as a directory lists them.
    pub fn with_addresses(
        list: impl IntoIterator<Item = (NodeId, Vec<Multiaddr>)>,
    ) -> Result<Self, NotAProviderKey> {
        let mut providers = Vec::new();
        for (node, addrs) in list {
            let peer = peer_id_of(&node).ok_or(NotAProviderKey(node))?;
            providers.push(ProviderInfo { node, peer, addrs });
        }
        providers.sort_by_key(|p| p.node.0);
        providers.dedup_by_key(|p| p.node.0);
        Ok(Self { providers })
    }

    pub fn is_empty(&self) -> bool {
        self.providers.is_empty()
    }

    pub fn ids(&self) -> Vec<[u8; 32]> {
        self.providers.iter().map(|p| p.node.0).collect()
    }

    pub fn all(&self) -> &[ProviderInfo] {
        &self.providers
    }

    pub fn get(&self, node: &[u8; 32]) -> Option<&ProviderInfo> {
        self.providers.iter().find(|p| p.node.0 == *node)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn books_are_sorted_deduplicated_and_refuse_bad_ids() {
        let a = crate::keys::node_id_of(&libp2p::identity::Keypair::generate_ed25519().public())
            .unwrap();
        let b = crate::keys::node_id_of(&libp2p::identity::Keypair::generate_ed25519().public())
            .unwrap();
        let addr: Multiaddr = "/ip4/127.0.0.1/tcp/1".parse().unwrap();
        let book =
            ProviderBook::new([(b, addr.clone()), (a, addr.clone()), (b, addr.clone())]).unwrap();
        let mut ids = vec![a.0, b.0];
        ids.sort();
        assert_eq!(book.ids(), ids);
        assert!(book.get(&a.0).is_some());
        // a point that is not on the curve is no Ed25519 key
        let bad = NodeId([0xff; 32]);
        if peer_id_of(&bad).is_none() {
            assert!(ProviderBook::new([(bad, addr)]).is_err());
        }
    }
}
