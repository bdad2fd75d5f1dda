//! Replication providers (`/wesh/replication/1`): a provider keeps the sealed entries of
//! groups registered with it (by a member, with a proof only members can make, within
//! per-registrant and total caps), verified but unreadable, and serves them as history to
//! members that were offline. Entries reach it through the mixnet like any mail, in a
//! mailbox per group (`replica_mailbox(group)`); a worker reads a group's mailbox when
//! something was stored there, lets the core ([`ReplicaKeeper`]) verify the entries,
//! keeps them, then deletes the fragments.

pub mod calls;
pub mod params;
pub mod service;
pub mod worker;

use libp2p::StreamProtocol;

pub const REPLICATION_PROTOCOL: StreamProtocol = StreamProtocol::new("/wesh/replication/1");

pub use service::{ReplicaService, start_replication};
pub use wesh_client::messenger::replica::{ReplicaKeeper, ReplicaStats};
