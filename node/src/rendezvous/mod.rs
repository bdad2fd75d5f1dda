//! Rendezvous desks: a provider's side of contact requests. Responders register their
//! rendezvous mailbox with reply SURBs, requesters drop sealed envelopes for it, and the
//! desk forwards each drop on one of the responder's SURBs until the responder acks it
//! (spec/wesh-over-mixnet.md §4). The rules are the core's ([`RendezvousDesk`]); this is
//! the shell: the service mailbox, durable held drops, the packets.

pub mod params;
pub mod service;

pub use service::{RendezvousService, open_rendezvous, start_rendezvous};
pub use wesh_client::messenger::rendezvous_desk::{DeskStats, RendezvousDesk};
