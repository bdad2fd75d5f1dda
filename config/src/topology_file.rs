//! The static topology file (until the gossip PKI replaces it): every node's identity,
//! role, layer, Sphinx key and libp2p addresses, in TOML.
//!
//! ```toml
//! [[node]]
//! id = "<64 hex: Ed25519 identity = Sphinx address>"
//! role = "mix"            # or "provider"
//! layer = 1               # mixes only: 1, 2 or 3
//! sphinx_key = "<64 hex: X25519 public key>"
//! addrs = ["/ip4/127.0.0.1/tcp/4000"]
//! ```

use libp2p::{Multiaddr, PeerId};
use serde::{Deserialize, Serialize};
use std::path::Path;
use thiserror::Error;
use wesh_mix::params::MIX_LAYERS;
use wesh_mix::{NodeId, RouteNode, Topology};
use x25519_dalek::PublicKey;

#[derive(Debug, Error)]
pub enum TopologyFileError {
    #[error("cannot read topology file {0}: {1}")]
    Read(String, std::io::Error),
    #[error("topology file {0} is not valid TOML: {1}")]
    Parse(String, String),
    #[error("node #{index}: {what}")]
    Node { index: usize, what: String },
    #[error("topology: {0}")]
    Shape(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Mix,
    Provider,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeEntry {
    pub id: String,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<u8>,
    pub sphinx_key: String,
    #[serde(default)]
    pub addrs: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopologyFile {
    #[serde(default, rename = "node")]
    pub nodes: Vec<NodeEntry>,
}

/// A parsed topology: the routing view plus where to reach each node.
#[derive(Debug, Clone)]
pub struct StaticTopology {
    pub topology: Topology,
    pub addresses: Vec<(PeerId, Multiaddr)>,
}

fn hex32(s: &str) -> Option<[u8; 32]> {
    let v = hex::decode(s).ok()?;
    v.try_into().ok()
}

impl TopologyFile {
    pub fn load(path: &Path) -> Result<StaticTopology, TopologyFileError> {
        let shown = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|e| TopologyFileError::Read(shown.clone(), e))?;
        let file: TopologyFile =
            toml::from_str(&text).map_err(|e| TopologyFileError::Parse(shown, e.to_string()))?;
        file.resolve()
    }

    pub fn to_toml(&self) -> Result<String, TopologyFileError> {
        toml::to_string_pretty(self).map_err(|e| TopologyFileError::Shape(e.to_string()))
    }

    pub fn resolve(&self) -> Result<StaticTopology, TopologyFileError> {
        let mut layers: Vec<Vec<RouteNode>> = vec![Vec::new(); MIX_LAYERS];
        let mut providers = Vec::new();
        let mut addresses = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (index, n) in self.nodes.iter().enumerate() {
            let bad = |what: &str| TopologyFileError::Node {
                index,
                what: what.to_string(),
            };
            let id = NodeId(hex32(&n.id).ok_or_else(|| bad("id is not 64 hex digits"))?);
            if !seen.insert(id) {
                return Err(bad("id appears twice"));
            }
            let peer = crate::peer_addr::peer_id_of(&id)
                .ok_or_else(|| bad("id is not an Ed25519 public key"))?;
            let key = hex32(&n.sphinx_key).ok_or_else(|| bad("sphinx_key is not 64 hex digits"))?;
            let node = RouteNode {
                id,
                sphinx_key: PublicKey::from(key),
            };
            match (n.role, n.layer) {
                (Role::Mix, Some(l)) if (1..=MIX_LAYERS as u8).contains(&l) => {
                    layers[usize::from(l - 1)].push(node)
                }
                (Role::Mix, _) => return Err(bad("a mix needs layer = 1, 2 or 3")),
                (Role::Provider, None) => providers.push(node),
                (Role::Provider, Some(_)) => return Err(bad("a provider has no layer")),
            }
            for a in &n.addrs {
                let addr: Multiaddr = a.parse().map_err(|e| bad(&format!("address {a:?}: {e}")))?;
                addresses.push((peer, addr));
            }
        }
        let topology = Topology::new(layers, providers)
            .map_err(|e| TopologyFileError::Shape(e.to_string()))?;
        Ok(StaticTopology {
            topology,
            addresses,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn entry(role: Role, layer: Option<u8>) -> NodeEntry {
        let id = libp2p::identity::Keypair::generate_ed25519();
        let ed = id.public().try_into_ed25519().unwrap().to_bytes();
        let sphinx = PublicKey::from(&x25519_dalek::StaticSecret::random());
        NodeEntry {
            id: hex::encode(ed),
            role,
            layer,
            sphinx_key: hex::encode(sphinx.as_bytes()),
            addrs: vec!["/ip4/127.0.0.1/tcp/4000".into()],
        }
    }

    #[test]
    fn round_trip_and_errors() {
        let mut f = TopologyFile {
            nodes: vec![
                entry(Role::Mix, Some(1)),
                entry(Role::Mix, Some(2)),
                entry(Role::Mix, Some(3)),
                entry(Role::Provider, None),
            ],
        };
        let text = f.to_toml().unwrap();
        let back: TopologyFile = toml::from_str(&text).unwrap();
        let st = back.resolve().unwrap();
        assert_eq!(st.topology.layers().len(), 3);
        assert_eq!(st.addresses.len(), 4);
        f.nodes[0].layer = Some(4);
        assert!(f.resolve().unwrap_err().to_string().contains("layer"));
        f.nodes[0].layer = Some(1);
        f.nodes[1].addrs = vec!["not an address".into()];
        assert!(f.resolve().unwrap_err().to_string().contains("address"));
        f.nodes[1].addrs.clear();
        f.nodes[2].id = "zz".into();
        assert!(f.resolve().is_err());
        assert!(toml::from_str::<TopologyFile>("[[node]]\nbogus = 1").is_err());
    }
}
