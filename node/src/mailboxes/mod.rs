//! Mailboxes in the node: the provider's durable final hop (store, then ack), the
//! `/wesh/mailbox/1` service, and the client's puller. The protocol rules live in
//! `wesh_mix::mailbox` and `wesh_mix::provider_ack`; this is the I/O around them.

pub mod exchange;
pub mod own_reader;
pub mod params;
pub mod puller;
pub mod service;
pub mod writer;

use libp2p::StreamProtocol;

/// libp2p name of the mailbox exchange (one request, one response per stream).
pub const MAILBOX_STREAM: StreamProtocol = StreamProtocol::new(wesh_mix::mailbox::MAILBOX_PROTOCOL);
