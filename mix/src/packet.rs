//! Building Sphinx packets of the project's geometry with the sender's own RNG.

use crate::delay::to_sphinx_delay;
use crate::error::BuildError;
use crate::node_id::NodeId;
use crate::params::{MAX_PLAINTEXT_BYTES, PACKET_BYTES, ROUTE_HOPS, SPHINX_PAYLOAD_BYTES};
use crate::topology::RouteNode;
use rand::Rng;
use sphinx_packet::SphinxPacketBuilder;
use sphinx_packet::constants::IDENTIFIER_LENGTH;
use sphinx_packet::route::{Destination, Node};
use std::time::Duration;
use x25519_dalek::StaticSecret;
use zeroize::Zeroize;

/// Builds one packet along `route` (first element = first hop) for `destination` at the
/// last hop, with `delays[i]` the hold time at `route[i]`.
pub fn build_packet<R: Rng + ?Sized>(
    rng: &mut R,
    route: &[RouteNode],
    destination: NodeId,
    plaintext: &[u8],
    delays: &[Duration],
) -> Result<Vec<u8>, BuildError> {
    if route.is_empty() || route.len() > ROUTE_HOPS {
        return Err(BuildError::RouteLength(route.len()));
    }
    if plaintext.len() > MAX_PLAINTEXT_BYTES {
        return Err(BuildError::MessageTooLong {
            len: plaintext.len(),
            max: MAX_PLAINTEXT_BYTES,
        });
    }
    // The packet's ephemeral secret comes from the caller's RNG so that a seeded core is
    // reproducible; it is wiped as soon as the header is built.
    let mut seed = [0u8; 32];
    rng.fill_bytes(&mut seed);
    let initial_secret = StaticSecret::from(seed);
    seed.zeroize();
    let nodes: Vec<Node> = route
        .iter()
        .map(|n| Node::new(n.id.to_node_address(), n.sphinx_key))
        .collect();
    let sphinx_delays: Vec<_> = delays.iter().copied().map(to_sphinx_delay).collect();
    let destination = Destination::new(destination.to_destination(), [0u8; IDENTIFIER_LENGTH]);
    let packet = SphinxPacketBuilder::new()
        .with_payload_size(SPHINX_PAYLOAD_BYTES)
        .with_initial_secret(&initial_secret)
        .build_packet(plaintext, &nodes, &destination, &sphinx_delays)
        .map_err(|e| BuildError::Sphinx(e.to_string()))?;
    let bytes = packet.to_bytes();
    if bytes.len() != PACKET_BYTES {
        return Err(BuildError::Sphinx(format!(
            "built {} bytes, expected {PACKET_BYTES}",
            bytes.len()
        )));
    }
    Ok(bytes)
}
