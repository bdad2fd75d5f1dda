//! The `wesh` command line.

use crate::bench::BenchArgs;
use crate::testnet::TestnetArgs;
use crate::topology_file::Role;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// wesh: a mixnet-backed privacy messaging node.
///
/// One binary runs every role: `mix` and `provider` relay Sphinx packets through a
/// stratified Loopix mixnet; `client` sends and receives through it; `testnet` starts a whole network on this machine and reports
/// what it measured; `bench` measures throughput.
#[derive(Debug, Parser)]
#[command(name = "wesh", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a mix node: receive Sphinx packets, hold each for its delay, forward it, and emit
    /// loop cover.
    Mix(RoleArgs),
    /// Run a provider: the edge of the mixnet where clients connect; it keeps final-hop
    /// payloads in its clients' mailboxes (rocksdb, TTL, quota) until they pull them.
    Provider(RoleArgs),
    /// Run a client: register a mailbox at a provider, run the Loopix streams, send
    /// messages of any size reliably (--send) and keep what arrives (see `wesh inbox`).
    Client(crate::client_role::ClientArgs),
    /// Run the token issuer: blind-sign tokens within the issuance policy, redeem the
    /// tokens providers collected against the global spent set (rocksdb).
    Issuer(crate::issuer::role::IssuerArgs),
    /// Print an issuer's reward ledger for one epoch (score x work per mix and provider).
    Rewards(crate::issuer::role::RewardsArgs),
    /// Contacts of the Wesh account of a running `wesh client --api` (cards, requests).
    Contact(crate::wesh_cli::ContactArgs),
    /// The Wesh account of a running `wesh client --api` (linking another device).
    Account(crate::wesh_cli::AccountArgs),
    /// Groups of the Wesh account of a running `wesh client --api`.
    Group(crate::wesh_cli::GroupArgs),
    /// Write a message to a group (or a contact's group) through a running
    /// `wesh client --api`.
    Send(crate::wesh_cli::SendArgs),
    /// The messages your Wesh account received (through the API of a running
    /// `wesh client --api`); with --data-dir, the raw mixnet messages a stopped client kept.
    Inbox(crate::wesh_cli::InboxArgs),
    /// Print this node's topology entry (creating its keys in --data-dir on first use).
    Id(IdArgs),
    /// Start a local mixnet on loopback, send traffic through it, and print what happened.
    Testnet(TestnetArgs),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// The gossip PKI.
    #[command(subcommand)]
    Pki(PkiCommand),
}

#[derive(Debug, Subcommand)]
pub enum PkiCommand {
    /// Fetch a node's directory, verify every descriptor, and print it with the layers
    /// of the current epoch.
    Show(PkiShowArgs),
}

#[derive(Debug, Clone, Args)]
pub struct PkiShowArgs {
    /// The node to ask: a multiaddr ending in /p2p/<peer id>.
    #[arg(long)]
    pub peer: String,
    /// The network's epoch length in seconds.
    #[arg(long, default_value_t = 3600)]
    pub epoch_seconds: u64,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Drive a real mix node over loopback at saturation and compare its rate with raw
    /// sphinx-packet processing measured in the same run.
    Mix(BenchArgs),
    /// CPU of an idle client process with the default cover traffic, against a real
    /// network of 3 mixes and a provider started here (target: under 3 % of one core).
    Client(crate::bench_client::ClientBenchArgs),
}

#[derive(Debug, Clone, Args)]
pub struct RoleArgs {
    /// TOML configuration file (flags given here override it).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// libp2p listen address; repeat for several. Default /ip4/0.0.0.0/tcp/4000.
    #[arg(long)]
    pub listen: Vec<String>,
    /// Directory for keys and state. Default ./wesh-<role>.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Static topology file (TOML, see `wesh id`). Without one the node starts but
    /// cannot forward until it is given one.
    #[arg(long)]
    pub topology: Option<PathBuf>,
    /// Sphinx worker threads (default: one per core).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Join the gossip PKI through this node (a multiaddr ending in /p2p/<peer id>);
    /// repeat for several. Without --topology and without --bootstrap the node starts a
    /// new network that others bootstrap from.
    #[arg(long)]
    pub bootstrap: Vec<String>,
    /// Address to announce in this node's descriptor (default: the listen addresses).
    #[arg(long)]
    pub announce: Vec<String>,
    /// PKI epoch length in seconds; Sphinx keys rotate every epoch (default 3600).
    #[arg(long)]
    pub epoch_seconds: Option<u64>,
    /// The token issuer (a multiaddr ending in /p2p/<peer id>). Providers make clients
    /// pay for sending with its tokens (spends are kept in --data-dir/spent and redeemed
    /// at it); every relay reports its work to it after each payments epoch (rewards).
    #[arg(long)]
    pub issuer: Option<String>,
    /// The issuer's payments epoch length in seconds (with --issuer).
    #[arg(long, default_value_t = 3600)]
    pub issuer_epoch_seconds: u64,
}

#[derive(Debug, Clone, Args)]
pub struct IdArgs {
    /// Directory holding (or receiving) the node's keys.
    #[arg(long)]
    pub data_dir: PathBuf,
    #[arg(long, value_enum, default_value = "mix")]
    pub role: RoleArg,
    /// Mix layer (1, 2 or 3); mixes only.
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=3))]
    pub layer: Option<u8>,
    /// Address others reach this node at; repeat for several.
    #[arg(long)]
    pub addr: Vec<String>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum RoleArg {
    Mix,
    Provider,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Self {
        match r {
            RoleArg::Mix => Role::Mix,
            RoleArg::Provider => Role::Provider,
        }
    }
}
