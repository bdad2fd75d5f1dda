//! The routing view clients and mixes build Sphinx routes from.

use crate::descriptor::NodeId;

/// A routing hop for one epoch.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RouteNode {
    /// Ed25519 identity; Sphinx headers address the node by it.
    pub identity: NodeId,
    /// X25519 Sphinx public key bound to the topology's epoch.
    pub sphinx_key: [u8; 32],
    /// Multiaddrs, node's order of preference.
    pub addresses: Vec<String>,
    /// Declared capacity, packets per second.
    pub capacity_pps: u32,
}

/// Mix layers and providers of one epoch. Every node holding the same descriptor
/// set computes the same value, field for field.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Topology {
    pub epoch: u64,
    /// `LAYERS` layers, each sorted by identity.
    pub layers: Vec<Vec<RouteNode>>,
    /// Providers, sorted by identity.
    pub providers: Vec<RouteNode>,
}

impl Topology {
    /// Whether a route can be built: every layer and the provider set non-empty.
    pub fn is_routable(&self) -> bool {
        !self.providers.is_empty() && self.layers.iter().all(|layer| !layer.is_empty())
    }

    /// Layer index of a mix, if it is in this topology.
    pub fn layer_of(&self, identity: &NodeId) -> Option<usize> {
        self.layers
            .iter()
            .position(|layer| layer.iter().any(|n| n.identity == *identity))
    }
}
