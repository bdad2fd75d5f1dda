//! The command-line arguments of the roles (the `wesh` binary's top-level commands are in
//! the `wesh-node` package, `wesh/src/cli.rs`).

use crate::topology_file::Role;
use clap::{Args, Subcommand};
use std::path::PathBuf;

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
    #[command(flatten)]
    pub metrics: MetricsArgs,
}

#[derive(Debug, Clone, Default, Args)]
pub struct MetricsArgs {
    /// Serve Prometheus metrics on http://ADDR/metrics (packets, drops by reason, hold
    /// times, mailboxes, PKI view, bytes on the wire...). Without a value: 127.0.0.1:9464.
    /// Read them with `wesh status --metrics ADDR`.
    #[arg(long, value_name = "IP:PORT", num_args = 0..=1, default_missing_value = crate::net::metrics_http::DEFAULT_METRICS_ADDR)]
    pub metrics: Option<String>,
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
