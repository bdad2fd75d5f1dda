//! `wesh issuer`: the token issuer as a process.

use super::service::{IssuerState, IssuerStats, serve};
use crate::keys::NodeKeys;
use crate::net::swarm::start_swarm;
use crate::storage::spent_store::SpentStore;
use clap::Args;
use libp2p::Multiaddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;
use wesh_payments::params::{FREE_TOKENS_PER_EPOCH, REWARD_POOL_PER_EPOCH, TOKEN_VALIDITY_EPOCHS};
use wesh_payments::{FreeQuotaPolicy, Issuer};

#[derive(Debug, Clone, Args)]
pub struct IssuerArgs {
    /// Directory for the identity key, the per-epoch signing keys and the spent set.
    /// Default ./wesh-issuer.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// libp2p listen address; repeat for several.
    #[arg(long, default_value = "/ip4/0.0.0.0/tcp/4200")]
    pub listen: Vec<String>,
    /// Payments epoch length in seconds (a new signing key every epoch).
    #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..=86_400 * 7))]
    pub epoch_seconds: u64,
    /// Free tokens per client key per epoch (the default issuance policy).
    #[arg(long, default_value_t = FREE_TOKENS_PER_EPOCH)]
    pub free_tokens_per_epoch: u32,
}

#[derive(Debug, Clone, Args)]
pub struct RewardsArgs {
    /// The issuer: a multiaddr ending in /p2p/<peer id>.
    #[arg(long)]
    pub issuer: String,
    /// The epoch to show (payments epochs: Unix time / epoch length).
    #[arg(long)]
    pub epoch: u64,
    /// Claim this relayer's entry instead of printing the ledger: the relayer is the node
    /// whose keys are in --data-dir (the issuer authenticates its identity key).
    #[arg(long, requires = "data_dir")]
    pub claim: bool,
    /// The relayer's data directory (with --claim).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

/// `wesh rewards`: prints the issuer's reward ledger of one epoch.
pub async fn show_rewards(args: RewardsArgs) -> Result<(), String> {
    let (peer, addr) = crate::keys::parse_peer_addr(&args.issuer, "--issuer")?;
    let identity = match (&args.data_dir, args.claim) {
        (Some(dir), true) => {
            if !dir.join("identity.key").exists() {
                return Err(format!("no node keys in {}", dir.display()));
            }
            NodeKeys::load_or_create(dir)
                .map_err(|e| e.to_string())?
                .identity
        }
        _ => NodeKeys::generate().identity,
    };
    let (_stop_tx, stop) = watch::channel(false);
    let net = start_swarm(identity, &[], &[(peer, addr)], stop)
        .await
        .map_err(|e| e.to_string())?;
    let mut control = net.control.clone();
    if args.claim {
        let units = super::calls::claim_reward(&mut control, peer, args.epoch).await?;
        println!("claimed {units} units for epoch {}", args.epoch);
    } else {
        let table = super::calls::fetch_rewards(&mut control, peer, args.epoch).await?;
        print!("{table}");
    }
    Ok(())
}

/// An issuer node running in this process.
pub struct RunningIssuer {
    pub net: crate::net::swarm::NetHandle,
    pub state: Arc<Mutex<IssuerState>>,
    pub stats: Arc<IssuerStats>,
}

/// Starts an issuer: spent set in `dir/spent`, epoch keys in `dir/issuer-keys`.
pub async fn start_issuer(
    keys: &NodeKeys,
    dir: &std::path::Path,
    listen: &[Multiaddr],
    epoch_seconds: u64,
    free_tokens_per_epoch: u32,
    stop: watch::Receiver<bool>,
) -> Result<RunningIssuer, String> {
    let keys_dir = dir.join("issuer-keys");
    std::fs::create_dir_all(&keys_dir).map_err(|e| format!("{}: {e}", keys_dir.display()))?;
    let spent = SpentStore::open(dir.join("spent")).map_err(|e| e.0)?;
    let issuer = Issuer::new(FreeQuotaPolicy::new(free_tokens_per_epoch), spent)
        .with_params(TOKEN_VALIDITY_EPOCHS, REWARD_POOL_PER_EPOCH);
    let mut state = IssuerState {
        issuer,
        epoch_seconds,
        keys_dir: Some(keys_dir),
    };
    state.current_epoch()?;
    let net = start_swarm(keys.identity.clone(), listen, &[], stop.clone())
        .await
        .map_err(|e| e.to_string())?;
    let stats = Arc::new(IssuerStats::default());
    let state = Arc::new(Mutex::new(state));
    serve(net.control.clone(), state.clone(), stats.clone(), stop)?;
    Ok(RunningIssuer { net, state, stats })
}

pub async fn run_issuer(args: IssuerArgs) -> Result<(), String> {
    let dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("wesh-issuer"));
    let keys = NodeKeys::load_or_create(&dir).map_err(|e| e.to_string())?;
    let listen = args
        .listen
        .iter()
        .map(|a| {
            a.parse::<Multiaddr>()
                .map_err(|e| format!("--listen {a:?}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (stop_tx, stop) = watch::channel(false);
    let issuer = start_issuer(
        &keys,
        &dir,
        &listen,
        args.epoch_seconds,
        args.free_tokens_per_epoch,
        stop,
    )
    .await?;
    let net = &issuer.net;
    let epoch = crate::issuer::epoch_at(crate::pki::service::unix_now(), args.epoch_seconds);
    tracing::info!(peer_id = %net.peer_id, addrs = ?net.listen_addrs, epoch, "node running");
    let r = crate::role::wait_for_signal().await;
    let _ = stop_tx.send(true);
    r
}
