//! A peer address given on the command line (`--issuer`, `--provider`, `--bootstrap`,
//! `--peer`): a multiaddr ending in `/p2p/<peer id>`.

use libp2p::{Multiaddr, PeerId};
use thiserror::Error;

/// A peer address that is not `<multiaddr>/p2p/<peer id>`.
#[derive(Debug, Error)]
pub enum PeerAddrError {
    #[error("invalid {what} {text:?}: {source}")]
    Invalid {
        what: String,
        text: String,
        source: libp2p::multiaddr::Error,
    },
    #[error("{what} {text:?} must end in /p2p/<peer id>")]
    NoPeerId { what: String, text: String },
}

/// A peer's address as given on the command line; `what` names the flag in errors.
pub fn parse_peer_addr(text: &str, what: &str) -> Result<(PeerId, Multiaddr), PeerAddrError> {
    let addr: Multiaddr = text.parse().map_err(|source| PeerAddrError::Invalid {
        what: what.to_string(),
        text: text.to_string(),
        source,
    })?;
    let peer = addr
        .iter()
        .find_map(|p| match p {
            libp2p::multiaddr::Protocol::P2p(id) => Some(id),
            _ => None,
        })
        .ok_or_else(|| PeerAddrError::NoPeerId {
            what: what.to_string(),
            text: text.to_string(),
        })?;
    Ok((peer, addr))
}

/// The PeerId of a Sphinx address; `None` if the bytes are not an Ed25519 point.
pub fn peer_id_of(id: &wesh_mix::NodeId) -> Option<PeerId> {
    use libp2p::identity;
    let ed = identity::ed25519::PublicKey::try_from_bytes(id.as_bytes()).ok()?;
    Some(identity::PublicKey::from(ed).to_peer_id())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn an_address_needs_a_peer_id_and_errors_name_the_flag() {
        let peer = libp2p::identity::Keypair::ed25519_from_bytes([7u8; 32])
            .unwrap()
            .public()
            .to_peer_id();
        let (p, a) =
            parse_peer_addr(&format!("/ip4/127.0.0.1/tcp/4000/p2p/{peer}"), "--peer").unwrap();
        assert_eq!(p, peer);
        assert!(a.to_string().starts_with("/ip4/127.0.0.1/tcp/4000"));
        let e = parse_peer_addr("/ip4/127.0.0.1/tcp/4000", "--issuer").unwrap_err();
        assert!(e.to_string().contains("--issuer") && e.to_string().contains("/p2p/"));
        let e = parse_peer_addr("not an address", "--provider").unwrap_err();
        assert!(e.to_string().starts_with("invalid --provider"));
    }
}
