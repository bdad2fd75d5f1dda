//! Sans-I/O core of the Wesh protocol (client side): identities, rendezvous points, the
//! contact request handshake, groups and their CRDT logs, and the symmetric ratchet.
//! No sockets, disk or clock: callers pass `now` (Unix seconds) and a seeded RNG.

pub mod app;
pub mod codec;
pub mod crypto;
pub mod direct;
pub mod entry;
pub mod error;
pub mod group;
pub mod handshake;
pub mod identity;
pub mod invitation;
pub mod log;
pub mod messenger;
pub mod params;
pub mod payload;
pub mod ratchet;
pub mod rendezvous;
pub mod replication;
pub mod session;

pub use error::{DecodeError, Result, WeshError};
