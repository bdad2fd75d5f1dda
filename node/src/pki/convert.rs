//! From the PKI's topology (identities, key bytes, address strings) to what the mix core
//! routes over and what the swarm dials.

use crate::keys::peer_id_of;
use libp2p::{Multiaddr, PeerId};
use wesh_mix::{NodeId, RouteNode, Topology};
use x25519_dalek::PublicKey;

fn node(n: &wesh_pki::RouteNode) -> RouteNode {
    RouteNode {
        id: NodeId(n.identity.0),
        sphinx_key: PublicKey::from(n.sphinx_key),
    }
}

/// The routing view, or `None` while a layer or the provider set is empty.
pub fn routing_view(t: &wesh_pki::Topology) -> Option<Topology> {
    Topology::new(
        t.layers
            .iter()
            .map(|l| l.iter().map(node).collect())
            .collect(),
        t.providers.iter().map(node).collect(),
    )
    .ok()
}

/// Every (peer, address) the topology announces; unparsable addresses are skipped.
pub fn address_book(t: &wesh_pki::Topology) -> Vec<(PeerId, Multiaddr)> {
    t.layers
        .iter()
        .flatten()
        .chain(t.providers.iter())
        .filter_map(|n| Some((peer_id_of(&NodeId(n.identity.0))?, &n.addresses)))
        .flat_map(|(peer, addrs)| {
            addrs
                .iter()
                .filter_map(move |a| a.parse().ok().map(|a| (peer, a)))
        })
        .collect()
}
