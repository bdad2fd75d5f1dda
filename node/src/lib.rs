//! wesh-node: the only crate of the workspace that does I/O. It feeds the sans-I/O cores
//! real events: libp2p streams, tokio timers, files.

pub mod bench;
pub mod bench_client;
pub mod cli;
pub mod client_node;
pub mod client_role;
pub mod clock;
pub mod config;
pub mod credit;
pub mod issuer;
pub mod keys;
pub mod mailboxes;
pub mod metrics;
pub mod monitor;
pub mod net;
pub mod pki;
pub mod relay;
pub mod rendezvous;
pub mod replay_journal;
pub mod replication;
pub mod role;
pub mod storage;
pub mod testnet;
pub mod topology_file;
pub mod wesh_app;
pub mod wesh_cli;
