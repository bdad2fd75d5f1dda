//! `wesh issuer`: the token issuer as a process.

use super::IssuerError;
use super::reward_loop::{DirectoryView, RewardLoopSpec, spawn_reward_loop};
use super::service::{IssuerState, IssuerStats, serve};
use crate::clock::unix_now;
use crate::credit::IssuerAddress;
use crate::keys::NodeKeys;
use crate::net::swarm::{start_swarm, start_swarm_with_gossip};
use crate::pki::service::{PkiService, PkiStatus};
use crate::storage::reward_store::RewardStore;
use crate::storage::spent_store::SpentStore;
use clap::Args;
use libp2p::{Multiaddr, PeerId};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;
use wesh_payments::params::{FREE_TOKENS_PER_EPOCH, REWARD_POOL_PER_EPOCH, TOKEN_VALIDITY_EPOCHS};
use wesh_payments::{FreeQuotaPolicy, Issuer, IssuerBook};

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
    /// A node of the gossip PKI to join (multiaddr ending in /p2p/<peer id>); repeat for
    /// several. The issuer announces its token keys there in a signed issuer descriptor;
    /// without it, the descriptor spreads from the providers that connect to the issuer.
    /// The network's PKI epochs must be --epoch-seconds long.
    #[arg(long)]
    pub bootstrap: Vec<String>,
    /// Addresses to announce in the issuer descriptor (default: the listen addresses).
    #[arg(long)]
    pub announce: Vec<String>,
    /// Test loops per second the secret shopper sends through the network during each
    /// epoch (with --bootstrap: it follows the directory); each epoch is then settled from
    /// its scores and the work the relays report. 0 turns the shopper and settlement off.
    #[arg(long, default_value_t = 2.0)]
    pub monitor_loops_per_second: f64,
    #[command(flatten)]
    pub metrics: crate::cli::MetricsArgs,
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
pub async fn show_rewards(args: RewardsArgs) -> Result<(), IssuerError> {
    let (peer, addr) = crate::keys::parse_peer_addr(&args.issuer, "--issuer")?;
    let identity = match (&args.data_dir, args.claim) {
        (Some(dir), true) => {
            if !dir.join("identity.key").exists() {
                return Err(IssuerError::NoNodeKeys(dir.clone()));
            }
            NodeKeys::load_or_create(dir)?.identity
        }
        _ => NodeKeys::generate().identity,
    };
    let (_stop_tx, stop) = watch::channel(false);
    let net = start_swarm(identity, &[], &[(peer, addr)], stop).await?;
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
    /// With the gossip PKI: what the issuer's PKI agent holds and has published.
    pub pki_status: Option<Arc<Mutex<PkiStatus>>>,
    /// With the gossip PKI: the routing view of the directory (for the secret shopper).
    pub directory: Option<DirectoryWatch>,
}

impl RunningIssuer {
    /// Takes the providers allowed to redeem from a routing view someone else follows (an
    /// issuer started without the PKI, e.g. inside the testnet, beside relays that run it).
    pub fn follow_routing_view(
        &self,
        mut view: watch::Receiver<Option<Arc<wesh_mix::Topology>>>,
        mut stop: watch::Receiver<bool>,
    ) {
        let state = self.state.clone();
        tokio::spawn(async move {
            loop {
                let providers: Vec<[u8; 32]> = view
                    .borrow_and_update()
                    .as_ref()
                    .map(|t| t.providers().iter().map(|p| p.id.0).collect())
                    .unwrap_or_default();
                lock_state(&state).set_directory_providers(providers);
                tokio::select! {
                    r = view.changed() => if r.is_err() { return },
                    _ = stop.changed() => return,
                }
            }
        });
    }
}

fn lock_state(state: &Mutex<IssuerState>) -> std::sync::MutexGuard<'_, IssuerState> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// How an issuer joins the gossip PKI to announce its token keys.
#[derive(Debug, Clone, Default)]
pub struct IssuerPki {
    /// Nodes to join through (none: the descriptor spreads from the peers that connect).
    pub bootstrap: Vec<(PeerId, Multiaddr)>,
    /// Addresses to announce; empty = the listen addresses.
    pub announce: Vec<String>,
}

/// Starts an issuer: spent set in `dir/spent`, epoch keys in `dir/issuer-keys`, settled
/// reward epochs in `dir/rewards`. Without `pki`, clients and providers fetch its keys
/// over `/wesh/issuer/keys/1`; with it, the issuer also joins the gossip PKI (PKI epochs
/// of `epoch_seconds`) and publishes an issuer descriptor announcing the token keys of
/// the current and the next epoch at every epoch start.
pub async fn start_issuer_with_pki(
    keys: &NodeKeys,
    dir: &std::path::Path,
    listen: &[Multiaddr],
    epoch_seconds: u64,
    free_tokens_per_epoch: u32,
    pki: Option<IssuerPki>,
    stop: watch::Receiver<bool>,
) -> Result<RunningIssuer, IssuerError> {
    let keys_dir = dir.join("issuer-keys");
    std::fs::create_dir_all(&keys_dir).map_err(|e| IssuerError::DataDir(keys_dir.clone(), e))?;
    let spent = SpentStore::open(dir.join("spent"))?;
    let issuer = Issuer::new(FreeQuotaPolicy::new(free_tokens_per_epoch), spent)
        .with_params(TOKEN_VALIDITY_EPOCHS, REWARD_POOL_PER_EPOCH);
    let rewards = RewardStore::open(dir.join("rewards"))?;
    let restored = rewards.load()?;
    let book = IssuerBook::new(issuer, rewards);
    let mut state = IssuerState::new(book, restored, epoch_seconds, Some(keys_dir))?;
    state.current_epoch()?;
    let bootstrap = pki
        .as_ref()
        .map(|p| p.bootstrap.clone())
        .unwrap_or_default();
    let (net, events) = start_swarm_with_gossip(
        keys.identity.clone(),
        listen,
        &bootstrap,
        pki.is_some(),
        stop.clone(),
    )
    .await?;
    let stats = Arc::new(IssuerStats::default());
    let state = Arc::new(Mutex::new(state));
    serve(
        net.control.clone(),
        state.clone(),
        stats.clone(),
        stop.clone(),
    )?;
    let (pki_status, directory) = match pki {
        Some(setup) => {
            let (status, directory) = start_issuer_pki(
                keys,
                &net,
                events,
                epoch_seconds,
                setup,
                state.clone(),
                stop,
            )?;
            (Some(status), Some(directory))
        }
        None => (None, None),
    };
    Ok(RunningIssuer {
        net,
        state,
        stats,
        pki_status,
        directory,
    })
}

/// The directory's routing view as the issuer's PKI agent follows it.
pub type DirectoryWatch = watch::Receiver<Option<DirectoryView>>;

/// Runs the issuer's PKI agent: an issuer descriptor (no Sphinx keys) with the token keys
/// of the current and next epoch, republished at each epoch start. Returns its status and
/// the routing view of the directory it follows.
fn start_issuer_pki(
    keys: &NodeKeys,
    net: &crate::net::swarm::NetHandle,
    events: tokio::sync::mpsc::UnboundedReceiver<crate::net::swarm::NetEvent>,
    epoch_seconds: u64,
    setup: IssuerPki,
    state: Arc<Mutex<IssuerState>>,
    stop: watch::Receiver<bool>,
) -> Result<(Arc<Mutex<PkiStatus>>, DirectoryWatch), IssuerError> {
    let params = wesh_pki::PkiParams::with_epoch_length(epoch_seconds)?;
    let ed = keys
        .identity
        .clone()
        .try_into_ed25519()
        .map_err(|_| IssuerError::IdentityKey)?;
    let secret: [u8; 32] = ed
        .secret()
        .as_ref()
        .try_into()
        .map_err(|_| IssuerError::IdentityKey)?;
    let addresses = if setup.announce.is_empty() {
        net.listen_addrs.iter().map(|a| a.to_string()).collect()
    } else {
        setup.announce
    };
    let own = wesh_pki::OwnNode {
        signing_key: ed25519_dalek::SigningKey::from_bytes(&secret),
        role: wesh_pki::Role::Issuer,
        addresses,
        capacity_pps: 0,
    };
    let now = unix_now();
    // the Unix time only grows: a restarted issuer signs with higher sequences
    let agent = wesh_pki::PkiAgent::issuer(params, own, now, now)?;
    let status = Arc::new(Mutex::new(PkiStatus::default()));
    // an issuer routes nothing; its secret shopper follows the directory's routing view
    let (outputs, mut out_rx) = tokio::sync::mpsc::unbounded_channel();
    let (view_tx, view_rx) = watch::channel(None);
    let redeemers = state.clone();
    tokio::spawn(async move {
        while let Some(out) = out_rx.recv().await {
            let crate::pki::service::PkiOutput::Topology(t) = out else {
                continue;
            };
            // only the providers of the verified directory redeem (spec/payments.md)
            lock_state(&redeemers)
                .set_directory_providers(t.providers.iter().map(|p| p.identity.0));
            if let Some(routing) = crate::pki::convert::routing_view(&t) {
                let providers = t
                    .providers
                    .iter()
                    .filter_map(|n| {
                        let addr = n.addresses.iter().find_map(|a| a.parse().ok())?;
                        Some((wesh_mix::NodeId(n.identity.0), addr))
                    })
                    .collect();
                view_tx.send_replace(Some(DirectoryView {
                    routing: Arc::new(routing),
                    providers,
                }));
            }
        }
    });
    let service = PkiService {
        agent,
        net: net.clone(),
        events,
        outputs,
        status: status.clone(),
        keyring_path: None,
        bootstrap: setup.bootstrap.iter().map(|(p, _)| *p).collect(),
    };
    // RSA key generation (once per epoch, for the next epoch) blocks this task briefly
    let source: crate::pki::service::TokenKeySource = Box::new(move |epoch| {
        state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .announced_keys(epoch)
    });
    tokio::spawn(service.run_with_token_keys(stop, Some(source)));
    Ok((status, view_rx))
}

pub async fn run_issuer(args: IssuerArgs) -> Result<(), IssuerError> {
    let dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("wesh-issuer"));
    let keys = NodeKeys::load_or_create(&dir)?;
    let multiaddr = |what: &'static str, a: &String| {
        a.parse::<Multiaddr>().map_err(|source| IssuerError::Addr {
            what,
            addr: a.clone(),
            source,
        })
    };
    let listen = args
        .listen
        .iter()
        .map(|a| multiaddr("--listen", a))
        .collect::<Result<Vec<_>, _>>()?;
    let mut bootstrap = Vec::new();
    for b in &args.bootstrap {
        let peer = crate::keys::parse_peer_addr(b, "--bootstrap")?;
        bootstrap.push(peer);
    }
    for a in &args.announce {
        multiaddr("--announce", a)?;
    }
    let pki = IssuerPki {
        bootstrap,
        announce: args.announce.clone(),
    };
    let (stop_tx, stop) = watch::channel(false);
    let stop_rx = stop.clone();
    let issuer = start_issuer_with_pki(
        &keys,
        &dir,
        &listen,
        args.epoch_seconds,
        args.free_tokens_per_epoch,
        Some(pki),
        stop,
    )
    .await?;
    let net = &issuer.net;
    if !(args.monitor_loops_per_second >= 0.0 && args.monitor_loops_per_second <= 1000.0) {
        return Err(IssuerError::MonitorRate);
    }
    match (&issuer.directory, args.monitor_loops_per_second > 0.0) {
        (Some(directory), true) if !args.bootstrap.is_empty() => {
            let me = IssuerAddress {
                peer: net.peer_id,
                addr: reachable_self(&net.listen_addrs)?,
                epoch_seconds: args.epoch_seconds,
            };
            spawn_reward_loop(
                RewardLoopSpec {
                    issuer: me,
                    loops_per_second: args.monitor_loops_per_second,
                    mean_hop_delay: wesh_mix::params::DEFAULT_MEAN_HOP_DELAY,
                },
                directory.clone(),
                issuer.state.clone(),
                stop_rx.clone(),
            );
            tracing::info!(
                loops_per_second = args.monitor_loops_per_second,
                "secret shopper on: epochs are settled from its scores and the relays' work"
            );
        }
        _ => tracing::info!("no secret shopper (it needs --bootstrap): epochs are not settled"),
    }
    let epoch = crate::issuer::epoch_at(unix_now(), args.epoch_seconds);
    tracing::info!(peer_id = %net.peer_id, addrs = ?net.listen_addrs, epoch, "node running");
    if let Some(addr) = &args.metrics.metrics {
        let addr = crate::net::metrics_http::parse_metrics_addr(addr)?;
        let bound = crate::net::metrics_http::serve_metrics(
            addr,
            Arc::new(issuer_exposition(&issuer)),
            stop_rx.clone(),
        )
        .await?;
        tracing::info!(%bound, "metrics on http://{bound}/metrics");
    }
    let r = crate::roles::mix_provider::wait_for_signal().await;
    let _ = stop_tx.send(true);
    Ok(r?)
}

/// What `--metrics` serves for an issuer: issuance and redemption counters, bytes on the
/// wire, its PKI view.
fn issuer_exposition(issuer: &RunningIssuer) -> wesh_metrics::Exposition {
    use wesh_metrics::{FnSource, Sample};
    let mut e = wesh_metrics::Exposition::new("issuer");
    e.add_source(issuer.net.bytes.clone());
    let stats = issuer.stats.clone();
    e.add_source(FnSource(move |out: &mut Vec<Sample>| {
        let c = Sample::counted;
        out.extend([
            c(
                "wesh_issuer_tokens_issued",
                "Tokens blind-signed.",
                &stats.tokens_issued,
            ),
            c(
                "wesh_issuer_requests_refused",
                "Issuance requests refused.",
                &stats.requests_refused,
            ),
            c(
                "wesh_issuer_tokens_redeemed",
                "Tokens providers redeemed.",
                &stats.tokens_redeemed,
            ),
            c(
                "wesh_issuer_double_spends",
                "Redeemed tokens already spent.",
                &stats.double_spends_rejected,
            ),
            c(
                "wesh_issuer_redemptions_refused",
                "Redemptions refused.",
                &stats.redemptions_refused,
            ),
        ]);
    }));
    if let Some(pki) = issuer.pki_status.clone() {
        e.add_source(wesh_metrics::pki::PkiSource(pki));
    }
    e
}

/// An address of this process its own monitor can dial: a listen address, with an
/// unspecified IP (0.0.0.0, ::) replaced by loopback.
fn reachable_self(listen: &[Multiaddr]) -> Result<Multiaddr, IssuerError> {
    use libp2p::multiaddr::Protocol;
    let first = listen.first().ok_or(IssuerError::NoListenAddress)?;
    Ok(first
        .iter()
        .map(|p| match p {
            Protocol::Ip4(ip) if ip.is_unspecified() => {
                Protocol::Ip4(std::net::Ipv4Addr::LOCALHOST)
            }
            Protocol::Ip6(ip) if ip.is_unspecified() => {
                Protocol::Ip6(std::net::Ipv6Addr::LOCALHOST)
            }
            other => other,
        })
        .collect())
}
