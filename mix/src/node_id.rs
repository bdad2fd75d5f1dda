//! A node's address in Sphinx headers: its 32-byte Ed25519 identity key (also its PeerId).

use serde::{Deserialize, Serialize};
use sphinx_packet::route::{DestinationAddressBytes, NodeAddressBytes};
use std::fmt;

/// 32-byte Ed25519 public key of a node or client, as carried in Sphinx routing info.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NodeId(pub [u8; 32]);

impl NodeId {
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub(crate) fn to_node_address(self) -> NodeAddressBytes {
        NodeAddressBytes::from_bytes(self.0)
    }

    pub(crate) fn to_destination(self) -> DestinationAddressBytes {
        DestinationAddressBytes::from_bytes(self.0)
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({})", self)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // the first 6 bytes are enough to tell nodes apart in logs
        for b in &self.0[..6] {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}
