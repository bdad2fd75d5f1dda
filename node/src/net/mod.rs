//! libp2p plumbing: the swarm, protocol names, and fixed-size frame links.

pub mod counted;
pub mod frames;
pub mod links;
pub mod metrics_http;
pub mod request_server;
pub mod stream_open;
pub mod swarm;

use libp2p::StreamProtocol;

/// Sphinx packets between hops (and from a client to its provider): fixed-size frames.
pub const SPHINX_PROTOCOL: StreamProtocol = StreamProtocol::new("/wesh/sphinx/1");
