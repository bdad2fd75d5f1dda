//! Single-use reply blocks (SURBs): a Sphinx header and payload keys for a route back to
//! their creator, which someone else uses to send the creator one packet without learning
//! where it goes.
//!
//! Two uses: the SURB-ack in every fragment (the recipient's provider acks a stored
//! fragment, [`crate::surb_ack`]) and reply blocks that carry data
//! ([`MixPayload::SurbData`]): a responder hands a batch of them to its rendezvous
//! provider, which forwards contact requests with them, so the rendezvous provider never
//! learns the responder's provider or network address (spec/wesh-over-mixnet.md §4).
//!
//! The route is `holder's provider → L1 → L2 → L3 → creator's provider`, the destination
//! the creator client, the delays drawn by the creator. Mixes' replay filters make each
//! SURB usable once: a second packet on the same SURB repeats its header, hence its
//! replay tag, and is dropped at the first mix.
//!
//! We use sphinx-packet's seeded SURBs (version 259, one payload key seed per hop): the
//! final hop (the creator's provider) must recover the plaintext like for any other packet.
//! The price is that whoever holds the SURB can compute the payload at every hop; what a
//! SURB carries is therefore sealed end to end by the layer above, and a holder that also
//! watches every link could follow its packet (spec/mixnet.md §SURBs).

use crate::delay::to_sphinx_delay;
use crate::error::{BuildError, PayloadError};
use crate::fragment::split_message;
use crate::node_id::NodeId;
use crate::params::{
    MAX_PLAINTEXT_BYTES, PACKET_BYTES, ROUTE_HOPS, SPHINX_PAYLOAD_BYTES, SURB_BYTES,
};
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

/// A serialized SURB, always [`SURB_BYTES`] long and known to parse.
#[derive(Clone, PartialEq, Eq)]
pub struct ReplySurb {
    bytes: Vec<u8>,
}

impl fmt::Debug for ReplySurb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // the payload key seeds are the holder's secret: never printed
        f.debug_struct("ReplySurb").finish_non_exhaustive()
    }
}

impl ReplySurb {
    /// Builds a SURB along `route` (first element = the provider that will use it, last =
    /// the creator's provider) for the client `destination`, with `delays[i]` the hold
    /// time at `route[i]`.
    pub fn build<R: Rng + ?Sized>(
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
        Ok(ReplySurb { bytes })
    }

    /// Reads a SURB of exactly [`SURB_BYTES`] bytes, refusing one that does not parse.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PayloadError> {
        if bytes.len() != SURB_BYTES {
            return Err(PayloadError::BadSurb);
        }
        SURB::from_bytes(bytes).map_err(|_| PayloadError::BadSurb)?;
        Ok(ReplySurb {
            bytes: bytes.to_vec(),
        })
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The packet carrying `plaintext` (at most [`MAX_PLAINTEXT_BYTES`]) on this SURB, and
    /// where to send it first (the SURB's first hop, normally the provider holding it).
    pub fn into_packet(self, plaintext: &[u8]) -> Result<(NodeId, Vec<u8>), BuildError> {
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

/// Sends `message` to a SURB's creator on `surbs`, one fragment per SURB: the packets and
/// their first hops. The creator reassembles the fragments like any reliable message
/// ([`crate::ClientTraffic::on_received`]); nothing acks them, so a caller that needs
/// delivery asks the creator to confirm through the layer above. Fails without using any
/// SURB when there are fewer SURBs than fragments.
pub fn reply_packets<R: Rng + ?Sized>(
    rng: &mut R,
    message: &[u8],
    surbs: &mut Vec<ReplySurb>,
) -> Result<Vec<(NodeId, Vec<u8>)>, BuildError> {
    let (_, fragments) = split_message(rng, message).map_err(|_| BuildError::MessageTooLong {
        len: message.len(),
        max: crate::params::MAX_MESSAGE_BYTES,
    })?;
    if fragments.len() > surbs.len() {
        return Err(BuildError::NotEnoughSurbs {
            need: fragments.len(),
            have: surbs.len(),
        });
    }
    let mut out = Vec::with_capacity(fragments.len());
    for fragment in fragments {
        let Some(surb) = surbs.pop() else {
            break;
        };
        out.push(surb.into_packet(&MixPayload::SurbData { fragment }.encode())?);
    }
    Ok(out)
}

/// Reply blocks a message of `len` bytes needs with [`reply_packets`].
pub fn surbs_needed(len: usize) -> usize {
    crate::fragment::fragment_count(len)
}
