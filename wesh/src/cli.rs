//! The `wesh` command line: one binary, every role, the harness and the tools.

use clap::{Parser, Subcommand};
use wesh_shell::cli::{IdArgs, PkiCommand, RoleArgs};
use wesh_testnet::bench_mix::BenchArgs;
use wesh_testnet::network::TestnetArgs;

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
    Client(wesh_shell::roles::client::ClientArgs),
    /// Run the token issuer: blind-sign tokens within the issuance policy, redeem the
    /// tokens providers collected against the global spent set (rocksdb).
    Issuer(wesh_shell::issuer::role::IssuerArgs),
    /// Print an issuer's reward ledger for one epoch (score x work per mix and provider).
    Rewards(wesh_shell::issuer::role::RewardsArgs),
    /// Contacts of the Wesh account of a running `wesh client --api` (cards, requests).
    Contact(crate::api_cli::ContactArgs),
    /// The Wesh account of a running `wesh client --api` (linking another device).
    Account(crate::api_cli::AccountArgs),
    /// Groups of the Wesh account of a running `wesh client --api`.
    Group(crate::api_cli::GroupArgs),
    /// Write a message to a group (or a contact's group) through a running
    /// `wesh client --api`.
    Send(crate::api_cli::SendArgs),
    /// The messages your Wesh account received (through the API of a running
    /// `wesh client --api`); with --raw, the raw mixnet messages a stopped client kept in --data-dir.
    Inbox(crate::api_cli::InboxArgs),
    /// Print this node's topology entry (creating its keys in --data-dir on first use).
    Id(IdArgs),
    /// Start a local mixnet on loopback, send traffic through it, and print what happened.
    Testnet(TestnetArgs),
    /// The anonymity lab: simulate the mixnet with the production cores on a virtual clock
    /// and measure entropy, unlinkability, latency and bandwidth.
    Sim(crate::sim_cli::SimArgs),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// The gossip PKI.
    #[command(subcommand)]
    Pki(PkiCommand),
    /// What a running node's metrics say (`--metrics` of mix, provider, client, issuer).
    Status(crate::status::StatusArgs),
    /// Configuration files.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print a commented TOML file with every setting of a role and its default (the
    /// issuer takes flags only: `wesh issuer --help`).
    Example {
        #[arg(value_parser = wesh_config::example::EXAMPLE_ROLES)]
        role: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Drive a real mix node over loopback at saturation and compare its rate with raw
    /// sphinx-packet processing measured in the same run.
    Mix(BenchArgs),
    /// CPU of an idle client process with the default cover traffic, against a real
    /// network of 3 mixes and a provider started here (target: under 3 % of one core).
    Client(wesh_testnet::bench_client::ClientBenchArgs),
}
