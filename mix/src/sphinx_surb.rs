//! A raw Sphinx SURB: a header and payload key seeds for a route back to its creator, which
//! whoever holds it can send one packet on. [`crate::ack_slot`] and [`crate::reply_surb`]
//! build on it.
//!
//! We use sphinx-packet's seeded SURBs (version 259, one payload key seed per hop): the
//! final hop must recover the plaintext like for any other packet. The price is that the
//! holder can compute the payload at every hop; what a SURB carries is therefore sealed end
//! to end ([`crate::payload_seal`]), and a holder that also watches every link could follow
//! its packet (spec/mixnet.md §SURBs).
//!
//! Serialized as sphinx-packet does: `header ‖ first hop ‖ seeds`. The *body* is the same
//! without the first hop: inside a stored payload the first hop is always the provider that
//! stores it, so it is never written down, and a payload does not tell its provider which
//! provider the ack or cover it carries starts from.

use crate::delay::to_sphinx_delay;
use crate::error::{BuildError, PayloadError};
use crate::node_id::NodeId;
use crate::params::{
    MAX_PLAINTEXT_BYTES, PACKET_BYTES, ROUTE_HOPS, SLOT_SURB_BYTES, SPHINX_HEADER_BYTES,
    SPHINX_PAYLOAD_BYTES, SURB_BYTES,
};
use crate::topology::RouteNode;
use rand::Rng;
use sphinx_packet::constants::IDENTIFIER_LENGTH;
use sphinx_packet::route::{Destination, Node};
use sphinx_packet::version::PAYLOAD_KEYS_SEEDS_VERSION;
use sphinx_packet::{SURB, SURBMaterial};
use std::time::Duration;
use x25519_dalek::StaticSecret;
use zeroize::Zeroize;

/// A serialized SURB, always [`SURB_BYTES`] long and known to parse.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SphinxSurb {
    bytes: Vec<u8>,
}

impl SphinxSurb {
    /// Builds a SURB along `route` (first element = the node that will use it, last = the
    /// creator's provider) for `destination`, with `delays[i]` the hold time at `route[i]`.
    pub(crate) fn build<R: Rng + ?Sized>(
        rng: &mut R,
        route: &[RouteNode],
        delays: &[Duration],
        destination: NodeId,
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
        let bytes = surb.to_bytes();
        if bytes.len() != SURB_BYTES {
            return Err(BuildError::Sphinx(format!(
                "SURB of {} bytes, expected {SURB_BYTES}",
                bytes.len()
            )));
        }
        Ok(SphinxSurb { bytes })
    }

    /// Reads a SURB of exactly [`SURB_BYTES`] bytes, refusing one that does not parse.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self, PayloadError> {
        if bytes.len() != SURB_BYTES {
            return Err(PayloadError::BadSurb);
        }
        SURB::from_bytes(bytes).map_err(|_| PayloadError::BadSurb)?;
        Ok(SphinxSurb {
            bytes: bytes.to_vec(),
        })
    }

    /// The SURB whose first hop is `first_hop` and whose body (header ‖ seeds) is `body`.
    pub(crate) fn from_body(first_hop: &NodeId, body: &[u8]) -> Result<Self, PayloadError> {
        let (header, seeds) = body
            .split_at_checked(SPHINX_HEADER_BYTES)
            .ok_or(PayloadError::BadSurb)?;
        let mut bytes = Vec::with_capacity(SURB_BYTES);
        bytes.extend_from_slice(header);
        bytes.extend_from_slice(first_hop.as_bytes());
        bytes.extend_from_slice(seeds);
        Self::from_bytes(&bytes)
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Writes the body: the SURB without its first hop ([`SLOT_SURB_BYTES`]).
    pub(crate) fn body_into(&self, out: &mut Vec<u8>) {
        let (header, rest) = self.bytes.split_at(SPHINX_HEADER_BYTES);
        out.extend_from_slice(header);
        out.extend_from_slice(&rest[32..]);
        debug_assert_eq!(SLOT_SURB_BYTES, SURB_BYTES - 32);
    }

    /// The packet carrying `plaintext` (at most [`MAX_PLAINTEXT_BYTES`]) on this SURB, and
    /// where to send it first.
    pub(crate) fn into_packet(self, plaintext: &[u8]) -> Result<(NodeId, Vec<u8>), BuildError> {
        if plaintext.len() > MAX_PLAINTEXT_BYTES {
            return Err(BuildError::MessageTooLong {
                len: plaintext.len(),
                max: MAX_PLAINTEXT_BYTES,
            });
        }
        let surb = SURB::from_bytes(&self.bytes).map_err(|e| BuildError::Sphinx(e.to_string()))?;
        let (packet, first_hop) = surb
            .use_surb(plaintext, SPHINX_PAYLOAD_BYTES)
            .map_err(|e| BuildError::Sphinx(e.to_string()))?;
        let bytes = packet.to_bytes();
        if bytes.len() != PACKET_BYTES {
            return Err(BuildError::Sphinx(format!(
                "reply packet of {} bytes, expected {PACKET_BYTES}",
                bytes.len()
            )));
        }
        Ok((NodeId(*first_hop.as_bytes()), bytes))
    }
}
