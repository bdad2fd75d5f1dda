//! wesh-testnet: the harness around the node. `wesh testnet` starts a whole mixnet of real
//! nodes (libp2p on loopback, rocksdb in temporary directories) in one process, drives
//! traffic and the Wesh story through it and reports what it measured; `wesh bench` measures
//! a mix node and an idle client against baselines taken in the same run. Nothing here is
//! part of a node: it only starts and observes them, through the shell's public API.

pub mod bench_client;
pub mod bench_mix;
pub mod network;
