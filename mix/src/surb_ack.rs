//! SURB-acks: a reply block the sender puts in every fragment packet so that the recipient's
//! provider, once it has stored the fragment, can send an ack back without knowing who the
//! sender is.
//!
//! The SURB's route is recipient's provider → L1 → L2 → L3 → sender's provider, its
//! destination the sender client, its delays drawn by the sender (so the sender knows when to
//! expect the ack). The ack packet is an ordinary full-size Sphinx packet whose plaintext is
//! `MixPayload::Ack { id }`.
//!
//! We use sphinx-packet's seeded SURBs (version 259, one payload key seed per hop): the final
//! hop (the sender's provider) must recover the plaintext like for any other packet. The
//! price is that whoever holds the SURB can predict the ack's payload at every hop; the ack
//! carries nothing but a random id, and the holder is the recipient's provider, which already
//! knows it relayed an ack.

use crate::delay::to_sphinx_delay;
use crate::error::{BuildError, PayloadError};
use crate::node_id::NodeId;
use crate::params::{ACK_ID_BYTES, PACKET_BYTES, ROUTE_HOPS, SPHINX_PAYLOAD_BYTES, SURB_BYTES};
use crate::payload::MixPayload;
use crate::topology::RouteNode;
use rand::Rng;
use sphinx_packet::SURB;
use sphinx_packet::SURBMaterial;
use sphinx_packet::constants::IDENTIFIER_LENGTH;
use sphinx_packet::route::{Destination, Node};
use sphinx_packet::version::PAYLOAD_KEYS_SEEDS_VERSION;
use std::fmt;
use std::time::Duration;
use x25519_dalek::StaticSecret;
use zeroize::Zeroize;

/// An ack id and the serialized SURB that carries it home. Always [`SURB_ACK_BYTES`] long
/// on the wire.
///
/// [`SURB_ACK_BYTES`]: crate::params::SURB_ACK_BYTES
#[derive(Clone, PartialEq, Eq)]
pub struct SurbAck {
    pub id: u64,
    surb: Vec<u8>,
}

impl fmt::Debug for SurbAck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SurbAck").field("id", &self.id).finish()
    }
}

impl SurbAck {
    /// Builds a SURB along `route` (first element = the recipient's provider, last = the
    /// sender's provider) for the client `destination`, with `delays[i]` the hold time at
    /// `route[i]`.
    pub fn build<R: Rng + ?Sized>(
        rng: &mut R,
        route: &[RouteNode],
        delays: &[Duration],
        destination: NodeId,
        id: u64,
    ) -> Result<Self, BuildError> {
        // The fixed wire size assumes a full-length route.
        if route.len() != ROUTE_HOPS {
            return Err(BuildError::RouteLength(route.len()));
        }
        let nodes: Vec<Node> = route
            .iter()
            .map(|n| Node::new(n.id.to_node_address(), n.sphinx_key))
            .collect();
        let material = SURBMaterial::new(
            nodes,
            delays.iter().copied().map(to_sphinx_delay).collect(),
            Destination::new(destination.to_destination(), [0u8; IDENTIFIER_LENGTH]),
            PAYLOAD_KEYS_SEEDS_VERSION,
        );
        // Seeded from the caller's RNG so a seeded core stays reproducible.
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        let secret = StaticSecret::from(seed);
        seed.zeroize();
        let surb = SURB::new(secret, material).map_err(|e| BuildError::Sphinx(e.to_string()))?;
        let surb = surb.to_bytes();
        if surb.len() != SURB_BYTES {
            return Err(BuildError::Sphinx(format!(
                "SURB of {} bytes, expected {SURB_BYTES}",
                surb.len()
            )));
        }
        Ok(SurbAck { id, surb })
    }

    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.id.to_be_bytes());
        out.extend_from_slice(&self.surb);
    }

    /// Reads a SURB-ack off the front of `bytes`; returns it and the rest.
    pub fn decode_prefix(bytes: &[u8]) -> Result<(Self, &[u8]), PayloadError> {
        let (id, rest) = bytes
            .split_first_chunk::<ACK_ID_BYTES>()
            .ok_or(PayloadError::Truncated)?;
        let (surb, rest) = rest
            .split_at_checked(SURB_BYTES)
            .ok_or(PayloadError::Truncated)?;
        // Parse once so that a broken SURB is refused here, not when the provider acks.
        SURB::from_bytes(surb).map_err(|_| PayloadError::BadSurbAck)?;
        Ok((
            SurbAck {
                id: u64::from_be_bytes(*id),
                surb: surb.to_vec(),
            },
            rest,
        ))
    }

    /// Turns the SURB-ack into the ack packet: where to send it first (the SURB's first hop,
    /// normally the provider holding it) and the full-size packet carrying `Ack { id }`.
    pub fn into_packet(self) -> Result<(NodeId, Vec<u8>), BuildError> {
        let surb = SURB::from_bytes(&self.surb).map_err(|e| BuildError::Sphinx(e.to_string()))?;
        let plaintext = MixPayload::Ack { id: self.id }.encode();
        let (packet, first_hop) = surb
            .use_surb(&plaintext, SPHINX_PAYLOAD_BYTES)
            .map_err(|e| BuildError::Sphinx(e.to_string()))?;
        let bytes = packet.to_bytes();
        if bytes.len() != PACKET_BYTES {
            return Err(BuildError::Sphinx(format!(
                "ack packet of {} bytes, expected {PACKET_BYTES}",
                bytes.len()
            )));
        }
        Ok((NodeId(*first_hop.as_bytes()), bytes))
    }
}
