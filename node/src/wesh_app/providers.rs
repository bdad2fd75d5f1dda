//! The providers a Wesh client can reach: node ID, libp2p peer and address. Rendezvous
//! hashing picks among their node IDs, so every client must see the same list (the
//! directory's providers).

use crate::keys::peer_id_of;
use libp2p::{Multiaddr, PeerId};
use wesh_mix::NodeId;

#[derive(Debug, Clone)]
pub struct ProviderInfo {
    pub node: NodeId,
    pub peer: PeerId,
    pub addr: Multiaddr,
}

#[derive(Debug, Clone, Default)]
pub struct ProviderBook {
    providers: Vec<ProviderInfo>,
}

impl ProviderBook {
    /// A book from (node ID, address) pairs; node IDs that are not Ed25519 keys are
    /// refused.
    pub fn new(list: impl IntoIterator<Item = (NodeId, Multiaddr)>) -> Result<Self, String> {
        let mut providers = Vec::new();
        for (node, addr) in list {
            let peer = peer_id_of(&node)
                .ok_or_else(|| format!("provider {} is not an Ed25519 key", hex::encode(node.0)))?;
            providers.push(ProviderInfo { node, peer, addr });
        }
        providers.sort_by_key(|p| p.node.0);
        providers.dedup_by_key(|p| p.node.0);
        Ok(Self { providers })
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
