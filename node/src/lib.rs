//! The I/O shell (package wesh-shell): the only crate of the workspace that does I/O. It
//! feeds the sans-I/O cores real events (libp2p streams, tokio timers, rocksdb) and carries
//! out what they decide. The `wesh` binary (wesh/) and the harness (testnet/) build on it.

pub mod cli;
pub mod clock;
pub mod credit;
pub mod drivers;
pub mod issuer;
pub mod keys;
pub mod mailboxes;
pub mod monitor;
pub mod net;
pub mod pki;
pub mod rendezvous;
pub mod replay_journal;
pub mod replication;
pub mod roles;
pub mod storage;
pub use wesh_config::topology_file;
pub mod wesh_app;
