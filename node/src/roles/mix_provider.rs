//! Running `wesh mix` / `wesh provider` until a signal arrives.

use crate::cli::{IdArgs, RoleArgs};
use crate::drivers::packet_path::{PkiSetup, RelaySpec, start_relay};
use crate::keys::NodeKeys;
use crate::topology_file::{NodeEntry, Role, TopologyFile};
use libp2p::Multiaddr;
use libp2p::multiaddr::Error as AddrError;
use std::path::PathBuf;
use thiserror::Error;
use wesh_config::NodeConfig;
use wesh_metrics::services::{ServiceStats, ServicesSource};
use wesh_metrics::{Exposition, FnSource, Sample};

/// Why `wesh mix`, `wesh provider` or `wesh id` stopped.
#[derive(Debug, Error)]
pub enum RoleError {
    #[error(transparent)]
    Config(#[from] wesh_config::ConfigError),
    #[error("invalid listen address {0:?}: {1}")]
    Listen(String, AddrError),
    #[error("invalid --announce {0:?}: {1}")]
    Announce(String, AddrError),
    #[error("invalid --addr {0:?}: {1}")]
    Addr(String, AddrError),
    #[error(transparent)]
    Keys(#[from] crate::keys::KeyError),
    #[error(transparent)]
    PeerAddr(#[from] crate::keys::PeerAddrError),
    #[error(transparent)]
    TopologyFile(#[from] crate::topology_file::TopologyFileError),
    #[error("pki.epoch_seconds: {0}")]
    Epoch(wesh_pki::ParamError),
    #[error(transparent)]
    Mailboxes(#[from] crate::storage::StoreError),
    #[error(transparent)]
    Spent(#[from] wesh_payments::error::StoreError),
    #[error(transparent)]
    Replica(#[from] crate::storage::replica_store::ReplicaStoreError),
    #[error(transparent)]
    Relay(#[from] crate::drivers::packet_path::RelayError),
    #[error(transparent)]
    Issuer(#[from] crate::credit::IssuerAddressError),
    #[error(transparent)]
    Services(#[from] crate::roles::services::RelayServicesError),
    #[error(transparent)]
    Signal(#[from] SignalError),
    #[error("a mix needs --layer 1, 2 or 3")]
    MixWithoutLayer,
    #[error("a provider has no --layer")]
    ProviderWithLayer,
    #[error(transparent)]
    Metrics(#[from] crate::net::metrics_http::MetricsServeError),
}

#[derive(Debug, Error)]
#[error("cannot listen for {0}: {1}")]
pub struct SignalError(&'static str, std::io::Error);

/// The mailbox store's limits from the `[mailbox]` section.
fn mailbox_limits(cfg: &NodeConfig) -> crate::storage::MailboxLimits {
    crate::storage::MailboxLimits {
        ttl: std::time::Duration::from_secs(cfg.mailbox.ttl_seconds),
        quota_payloads: cfg.mailbox.quota_payloads,
        quota_bytes: cfg.mailbox.quota_bytes,
        ..Default::default()
    }
}

/// Loads config + flags, starts the relay, waits for SIGINT/SIGTERM, stops gracefully.
pub async fn run_role(role: Role, args: RoleArgs) -> Result<(), RoleError> {
    let mut cfg = match &args.config {
        Some(p) => NodeConfig::load(p)?,
        None => NodeConfig::default(),
    };
    if !args.listen.is_empty() {
        cfg.listen = args.listen.clone();
    }
    if cfg.listen.is_empty() {
        cfg.listen = vec!["/ip4/0.0.0.0/tcp/4000".to_string()];
    }
    if let Some(d) = &args.data_dir {
        cfg.data_dir = Some(d.clone());
    }
    if let Some(t) = &args.topology {
        cfg.topology = Some(t.clone());
    }
    if let Some(w) = args.workers {
        cfg.workers = w;
    }
    if !args.bootstrap.is_empty() {
        cfg.pki.bootstrap = args.bootstrap.clone();
    }
    if !args.announce.is_empty() {
        cfg.pki.announce = args.announce.clone();
    }
    if let Some(e) = args.epoch_seconds {
        cfg.pki.epoch_seconds = e;
    }
    cfg.validate()?;
    let listen = cfg
        .listen
        .iter()
        .map(|a| {
            a.parse::<Multiaddr>()
                .map_err(|e| RoleError::Listen(a.clone(), e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let role_name = match role {
        Role::Mix => "mix",
        Role::Provider => "provider",
    };
    let data_dir = cfg
        .data_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("wesh-{role_name}")));
    let keys = NodeKeys::load_or_create(&data_dir)?;
    let (topology, addresses) = match &cfg.topology {
        Some(p) => {
            let st = TopologyFile::load(p)?;
            (Some(st.topology), st.addresses)
        }
        None => (None, Vec::new()),
    };
    let pki = match &cfg.topology {
        Some(_) => None,
        None => Some(pki_setup(&cfg, &data_dir)?),
    };
    let node_id = keys.node_id()?;
    if let Some(t) = &topology
        && t.node(&node_id).is_none()
    {
        tracing::warn!(%node_id, "this node is not in its topology file: nobody will route through it");
    }
    let mailboxes = match role {
        Role::Provider => {
            let path = data_dir.join("mailboxes");
            let store = crate::storage::MailboxStore::open(&path, mailbox_limits(&cfg))?;
            tracing::info!(path = %path.display(), "mailbox store open");
            Some(std::sync::Arc::new(store))
        }
        Role::Mix => None,
    };
    let issuer = match &args.issuer {
        Some(text) => Some(crate::credit::IssuerAddress::parse(
            text,
            args.issuer_epoch_seconds,
        )?),
        None => None,
    };
    let payments = match (&issuer, role) {
        (Some(issuer), Role::Provider) => {
            let spent = crate::storage::spent_store::SpentStore::open(data_dir.join("spent"))?;
            tracing::info!(issuer = %issuer.addr, "clients pay for sending with this issuer's tokens");
            Some(crate::drivers::packet_path::ProviderPayments {
                credit: std::sync::Arc::new(crate::credit::provider::ProviderCredit::new(
                    spent,
                    args.issuer_epoch_seconds,
                )),
                issuer: issuer.clone(),
                redeem_every: crate::credit::DEFAULT_REDEEM_EVERY,
            })
        }
        // a mix only reports its work (it charges nobody)
        (Some(_), Role::Mix) | (None, _) => None,
    };
    let handle = start_relay(RelaySpec {
        keys,
        role,
        listen,
        workers: cfg.worker_count(),
        mean_hop_delay: cfg.mean_hop_delay(),
        loop_rate: cfg.mixing.loop_rate,
        addresses,
        topology,
        hook: None,
        pki,
        data_dir: Some(data_dir.clone()),
        mailboxes,
        payments,
    })
    .await?;
    // relays tell the issuer their work; a provider keeps the sealed entries of Wesh
    // groups registered with it and is a rendezvous point for contact requests
    let services =
        crate::roles::services::start_relay_services(&handle, &data_dir.join("replica"), issuer)?;
    tracing::info!(role = role_name, peer_id = %handle.net.peer_id, node_id = %hex::encode(node_id.0), addrs = ?handle.listen_addrs(), "node running");
    if let Some(addr) = &args.metrics.metrics {
        let addr = crate::net::metrics_http::parse_metrics_addr(addr)?;
        let exposition = std::sync::Arc::new(relay_exposition(&handle, role_name, &services));
        let bound =
            crate::net::metrics_http::serve_metrics(addr, exposition, handle.shutdown_watch())
                .await?;
        tracing::info!(%bound, "metrics on http://{bound}/metrics");
    }
    wait_for_signal().await?;
    tracing::info!("shutting down");
    // they hold the mailbox store, which must close before the process exits
    drop(services);
    // waits for the replay journal to be on disk
    handle.stop().await;
    Ok(())
}

/// What `--metrics` serves for a relay: its counters, hold times, bytes on the wire, PKI
/// view, (providers) replication and rendezvous desk, and (with payments) credit.
fn relay_exposition(
    handle: &crate::drivers::packet_path::RelayHandle,
    role: &str,
    services: &crate::roles::services::RelayServices,
) -> Exposition {
    let mut e = Exposition::new(role);
    e.add_source(handle.metrics.clone());
    e.add_source(handle.net.bytes.clone());
    e.add_histogram(
        "wesh_hop_hold_seconds",
        "How long packets were held at this hop (Poisson mixing delay).",
        handle.metrics.hold_seconds.0.clone(),
    );
    if let Some(pki) = handle.pki_status.clone() {
        e.add_source(wesh_metrics::pki::PkiSource(pki));
    }
    if let Some(credit) = handle.credit.clone() {
        e.add_source(FnSource(move |out: &mut Vec<Sample>| {
            credit.stats.samples(credit.clients(), out)
        }));
    }
    if let Some(store) = handle.mailboxes.clone() {
        e.add_source(FnSource(move |out: &mut Vec<Sample>| {
            if let Ok((mailboxes, payloads, bytes)) = store.totals() {
                out.extend(wesh_metrics::relay::store_samples(
                    mailboxes, payloads, bytes,
                ));
            }
        }));
    }
    if let (Some(r), Some(d)) = (services.replication.clone(), services.rendezvous.clone()) {
        e.add_source(ServicesSource(move || ServiceStats {
            replication: r.stats(),
            replication_exchanges_refused: r.exchanges_refused(),
            desk: d.stats(),
        }));
    }
    e
}

/// The gossip PKI settings of a role, from config and flags.
fn pki_setup(cfg: &NodeConfig, data_dir: &std::path::Path) -> Result<PkiSetup, RoleError> {
    let params =
        wesh_pki::PkiParams::with_epoch_length(cfg.pki.epoch_seconds).map_err(RoleError::Epoch)?;
    let mut bootstrap = Vec::new();
    for b in &cfg.pki.bootstrap {
        bootstrap.push(crate::keys::parse_peer_addr(b, "--bootstrap")?);
    }
    for a in &cfg.pki.announce {
        a.parse::<Multiaddr>()
            .map_err(|e| RoleError::Announce(a.clone(), e))?;
    }
    if bootstrap.is_empty() {
        tracing::info!("no --bootstrap: starting a new network (others bootstrap from this node)");
    }
    Ok(PkiSetup {
        params,
        bootstrap,
        announce: cfg.pki.announce.clone(),
        capacity_pps: cfg.pki.capacity_pps,
        keyring_path: Some(data_dir.join("sphinx-keyring.bin")),
    })
}

pub async fn wait_for_signal() -> Result<(), SignalError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).map_err(|e| SignalError("SIGTERM", e))?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.map_err(|e| SignalError("SIGINT", e)),
        _ = term.recv() => Ok(()),
    }
}

/// `wesh id`: the `[[node]]` entry other nodes put in their topology file for this one.
pub fn print_id(args: IdArgs) -> Result<(), RoleError> {
    let role: Role = args.role.into();
    if role == Role::Mix && args.layer.is_none() {
        return Err(RoleError::MixWithoutLayer);
    }
    if role == Role::Provider && args.layer.is_some() {
        return Err(RoleError::ProviderWithLayer);
    }
    for a in &args.addr {
        a.parse::<Multiaddr>()
            .map_err(|e| RoleError::Addr(a.clone(), e))?;
    }
    let keys = NodeKeys::load_or_create(&args.data_dir)?;
    let id = keys.node_id()?;
    let file = TopologyFile {
        nodes: vec![NodeEntry {
            id: hex::encode(id.0),
            role,
            layer: args.layer,
            sphinx_key: hex::encode(keys.sphinx_public().as_bytes()),
            addrs: args.addr,
        }],
    };
    print!("{}", file.to_toml()?);
    Ok(())
}
