//! `wesh client`: a client whose keys, inbox, partial messages and outbox live in rocksdb;
//! `wesh inbox`: what it received.

use crate::drivers::client_traffic::{
    ClientError, ClientEvent, ClientSpec, ClientState, start_client,
};
use crate::keys::node_id_of_peer;
use crate::storage::client_store::{ClientStore, ClientStoreError};
use clap::Args;
use libp2p::identity::{Keypair, ed25519};
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio::sync::mpsc;
use wesh_mix::mailbox::{MailboxClient, MailboxId, PullSecret};
use wesh_mix::{ClientAddress, NodeId};

#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// Directory for the client's keys and messages (rocksdb). Default ./wesh-client.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The provider to use: a multiaddr ending in /p2p/<peer id>. Needed on first start;
    /// remembered afterwards.
    #[arg(long)]
    pub provider: Option<String>,
    /// Static topology file instead of following the provider's directory (gossip PKI).
    #[arg(long)]
    pub topology: Option<PathBuf>,
    /// The network's PKI epoch length in seconds.
    #[arg(long, default_value_t = wesh_pki::params::DEFAULT_EPOCH_LENGTH_SECS)]
    pub epoch_seconds: u64,
    /// Send a file's bytes as one message: ADDRESS=PATH, where ADDRESS is the recipient's
    /// client address as `wesh client` prints it. Repeat for several.
    #[arg(long)]
    pub send: Vec<String>,
    /// Exit once every message given with --send is acked (stored at the recipient's
    /// provider) instead of running until a signal.
    #[arg(long)]
    pub exit_when_sent: bool,
    /// TOML config file; its `[traffic]` section sets the profile and rates (see
    /// `wesh config example client`). Flags override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub traffic: wesh_config::client::ProfileArgs,
    #[command(flatten)]
    pub metrics: crate::cli::MetricsArgs,
    /// Pay for sending with tokens of this issuer (needed when the provider charges): a
    /// multiaddr ending in /p2p/<peer id>.
    #[arg(long)]
    pub issuer: Option<String>,
    /// The issuer's payments epoch length in seconds (with --issuer).
    #[arg(long, default_value_t = 3600)]
    pub issuer_epoch_seconds: u64,
    /// Run a Wesh account in this client and serve its app API (JSON lines over TCP,
    /// see `wesh contact --help`) on this address. The account and its journal live in
    /// --data-dir. The API has no authentication: it listens on loopback only unless
    /// --api-allow-remote is given.
    #[arg(long, value_name = "IP:PORT", num_args = 0..=1, default_missing_value = DEFAULT_API, conflicts_with_all = ["send", "exit_when_sent"])]
    pub api: Option<String>,
    /// Serve the API on a non-loopback address (anyone who reaches it acts as the account).
    #[arg(long, requires = "api")]
    pub api_allow_remote: bool,
    /// Make this client a new device of an existing account, from the link code that
    /// `wesh account link` wrote to this file (`-` reads it from stdin). Only for a data
    /// dir without an account; the device then syncs the account's contacts and groups.
    /// Later starts need no flag. Delete the file afterwards: it holds the account's keys.
    #[arg(long, value_name = "FILE", requires = "api")]
    pub link_from: Option<PathBuf>,
}

/// Why `wesh client` or `wesh inbox` stopped.
#[derive(Debug, Error)]
pub enum ClientRoleError {
    #[error(transparent)]
    Address(#[from] wesh_mix::AddressTextError),
    #[error("--send {0:?} is not ADDRESS=PATH")]
    Send(String),
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, io::Error),
    #[error("{path} is {len} bytes; a message holds at most {max}")]
    TooLarge {
        path: PathBuf,
        len: usize,
        max: usize,
    },
    #[error("--api {0:?}: not an IP:port address ({1})")]
    Api(String, std::net::AddrParseError),
    #[error(transparent)]
    ApiServer(#[from] crate::wesh_app::server::ApiServerError),
    #[error("{0}: {1}")]
    DataDir(PathBuf, io::Error),
    #[error(transparent)]
    Store(#[from] ClientStoreError),
    #[error("{0} (is `wesh client` running on this directory?)")]
    StoreBusy(ClientStoreError),
    #[error("no client data in {0}")]
    NoData(PathBuf),
    #[error(
        "--link-from: this data dir already holds a Wesh account; link a new device from a new --data-dir"
    )]
    LinkIntoAccount,
    #[error("--link-from {0}: {1}")]
    LinkRead(String, io::Error),
    #[error("--link-from: the file does not hold a hex link code")]
    LinkHex,
    #[error("--link-from: not a valid link code ({0})")]
    LinkCode(wesh_client::error::DecodeError),
    #[error(
        "this Wesh account lives at provider {0}; moving it to another provider is not supported yet (its contacts would keep writing to the old mailbox). Start without --provider, or use a new --data-dir"
    )]
    MovingAccount(String),
    #[error(transparent)]
    PeerAddr(#[from] crate::keys::PeerAddrError),
    #[error("--provider {0:?}: not an Ed25519 peer id")]
    ProviderNotEd25519(String),
    #[error("stored provider address {0:?}: {1}")]
    StoredProvider(String, libp2p::multiaddr::Error),
    #[error("first start: give --provider <multiaddr/p2p/peer id>")]
    NoProvider,
    #[error("the stored identity key is not an Ed25519 secret key")]
    IdentityKey,
    #[error(transparent)]
    Keys(#[from] crate::keys::KeyError),
    #[error(transparent)]
    TopologyFile(#[from] crate::topology_file::TopologyFileError),
    #[error("--epoch-seconds: {0}")]
    Epoch(wesh_pki::ParamError),
    #[error(transparent)]
    Issuer(#[from] crate::credit::IssuerAddressError),
    #[error(transparent)]
    Wesh(#[from] crate::wesh_app::client_service::WeshClientError),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("message {id} failed: {reason}")]
    MessageFailed { id: u64, reason: String },
    #[error("client stopped")]
    Stopped,
    #[error(transparent)]
    Signal(#[from] crate::roles::mix_provider::SignalError),
    #[error(transparent)]
    Profile(#[from] wesh_config::client::ProfileArgsError),
    #[error(transparent)]
    Metrics(#[from] crate::net::metrics_http::MetricsServeError),
}

/// Where `wesh client --api` listens, and where the API subcommands look, by default.
pub const DEFAULT_API: &str = "127.0.0.1:7447";

#[derive(Debug, Clone, Args)]
pub struct InboxArgs {
    /// The client's data directory (the client must not be running).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Print JSON lines (seq, received_at, bytes, hex).
    #[arg(long)]
    pub json: bool,
    /// Remove the listed messages from the inbox afterwards.
    #[arg(long)]
    pub delete: bool,
}

fn data_dir(d: &Option<PathBuf>) -> PathBuf {
    d.clone().unwrap_or_else(|| PathBuf::from("wesh-client"))
}

/// A client address as text: `<provider id hex>:<client id hex>`.
pub fn format_address(a: &ClientAddress) -> String {
    a.to_string()
}

fn parse_send(s: &str) -> Result<(ClientAddress, PathBuf), ClientRoleError> {
    let (a, p) = s
        .split_once('=')
        .ok_or_else(|| ClientRoleError::Send(s.to_string()))?;
    Ok((a.parse()?, PathBuf::from(p)))
}

/// What every (re)start of the client is built from.
#[derive(Clone)]
pub struct ClientSetup {
    pub provider_addr: libp2p::Multiaddr,
    pub topology: Option<wesh_mix::Topology>,
    pub pki: Option<wesh_pki::PkiParams>,
    pub profile: wesh_mix::ClientProfile,
    /// The bytes on the client's connections, across restarts (for `--metrics`).
    pub bytes: Arc<wesh_metrics::TransportBytes>,
    pub store: Arc<ClientStore>,
    pub payments: Option<crate::credit::IssuerAddress>,
    /// With a static topology: its providers (node, addresses); empty with the PKI.
    pub static_providers: Vec<(NodeId, Vec<libp2p::Multiaddr>)>,
}

impl ClientSetup {
    pub fn spec(
        &self,
        state: ClientState,
        observer: mpsc::UnboundedSender<ClientEvent>,
    ) -> ClientSpec {
        let mut spec = ClientSpec::new(state, self.provider_addr.clone());
        spec.topology = self.topology.clone();
        spec.pki = self.pki.clone();
        spec.pull_interval = self.profile.pull_interval;
        spec.pull_slots = self.profile.pull_slots;
        spec.bytes = self.bytes.clone();
        spec.observer = Some(observer);
        spec.store = Some(self.store.clone());
        spec.payments = self.payments.clone();
        spec
    }
}

fn read_outgoing(args: &ClientArgs) -> Result<Vec<(ClientAddress, Vec<u8>)>, ClientRoleError> {
    let sends = args
        .send
        .iter()
        .map(|s| parse_send(s))
        .collect::<Result<Vec<_>, _>>()?;
    let mut outgoing = Vec::new();
    for (to, path) in sends {
        let bytes = std::fs::read(&path).map_err(|e| ClientRoleError::Read(path.clone(), e))?;
        if bytes.len() > wesh_mix::params::MAX_MESSAGE_BYTES {
            return Err(ClientRoleError::TooLarge {
                path,
                len: bytes.len(),
                max: wesh_mix::params::MAX_MESSAGE_BYTES,
            });
        }
        outgoing.push((to, bytes));
    }
    Ok(outgoing)
}

pub async fn run_client(args: ClientArgs) -> Result<(), ClientRoleError> {
    let outgoing = read_outgoing(&args)?;
    let api = match &args.api {
        Some(a) => Some(
            a.parse::<std::net::SocketAddr>()
                .map_err(|e| ClientRoleError::Api(a.clone(), e))?,
        ),
        None => None,
    };
    if let Some(a) = api {
        crate::wesh_app::server::check_api_addr(a, args.api_allow_remote)?;
    }
    let dir = data_dir(&args.data_dir);
    std::fs::create_dir_all(&dir).map_err(|e| ClientRoleError::DataDir(dir.clone(), e))?;
    let store = Arc::new(ClientStore::open(dir.join("client.db"))?);
    if api.is_some() {
        refuse_moving_an_account(&args, &store)?;
    }
    let link = match &args.link_from {
        Some(path) => Some(read_link_code(path, &store)?),
        None => None,
    };
    let (state, setup) = setup_client(&args, store.clone())?;
    // lives as long as the client: its drop stops the metrics server
    let (_metrics_stop, metrics_stopped) = tokio::sync::watch::channel(false);
    if let Some(addr) = &args.metrics.metrics {
        let addr = crate::net::metrics_http::parse_metrics_addr(addr)?;
        let mut e = wesh_metrics::Exposition::new("client");
        e.add_source(setup.bytes.clone());
        e.add_source(wesh_metrics::client::ProfileSource(setup.profile.clone()));
        let bound =
            crate::net::metrics_http::serve_metrics(addr, Arc::new(e), metrics_stopped).await?;
        // stdout, like the client address: scripts read it
        println!("metrics: http://{bound}/metrics");
    }
    let result = match api {
        Some(addr) => crate::wesh_app::client_service::run_wesh_client(
            state,
            setup,
            addr,
            args.api_allow_remote,
            &dir,
            link,
        )
        .await
        .map_err(ClientRoleError::from),
        None => run_plain(state, setup, outgoing, args.exit_when_sent).await,
    };
    // Close the database only once the client's tasks let go of it: returning from main
    // while one of them is inside a rocksdb write aborts the process at exit.
    let deadline = crate::clock::monotonic() + Duration::from_secs(5);
    while Arc::strong_count(&store) > 1 && crate::clock::monotonic() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    result
}

/// The link code in `path` (`-`: stdin), for a data dir that has no Wesh account yet.
fn read_link_code(
    path: &std::path::Path,
    store: &ClientStore,
) -> Result<wesh_client::messenger::DeviceLink, ClientRoleError> {
    if !store.wesh_journal()?.is_empty() {
        return Err(ClientRoleError::LinkIntoAccount);
    }
    let unreadable = |e| ClientRoleError::LinkRead(path.display().to_string(), e);
    let text = if path.as_os_str() == "-" {
        let mut t = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut t).map_err(unreadable)?;
        t
    } else {
        std::fs::read_to_string(path).map_err(unreadable)?
    };
    let text = zeroize::Zeroizing::new(text);
    let bytes =
        zeroize::Zeroizing::new(hex::decode(text.trim()).map_err(|_| ClientRoleError::LinkHex)?);
    wesh_client::messenger::DeviceLink::decode(&bytes).map_err(ClientRoleError::LinkCode)
}

/// A Wesh account's contacts know it by its mailbox at its provider: moving it to another
/// provider would leave them writing to the old one (re-announcing is not built yet).
fn refuse_moving_an_account(args: &ClientArgs, store: &ClientStore) -> Result<(), ClientRoleError> {
    let (Some(wanted), Some((current, current_addr))) = (&args.provider, store.provider()?) else {
        return Ok(());
    };
    let (peer, _) = crate::keys::parse_peer_addr(wanted, "--provider")?;
    let moving = node_id_of_peer(&peer).is_some_and(|id| id != current);
    if moving && !store.wesh_journal()?.is_empty() {
        return Err(ClientRoleError::MovingAccount(current_addr));
    }
    Ok(())
}

/// The client's state and how to start it, from its store and flags.
fn setup_client(
    args: &ClientArgs,
    store: Arc<ClientStore>,
) -> Result<(ClientState, ClientSetup), ClientRoleError> {
    let (provider, provider_addr) = match (&args.provider, store.provider()?) {
        (Some(p), _) => {
            let (peer, addr) = crate::keys::parse_peer_addr(p, "--provider")?;
            let id = node_id_of_peer(&peer)
                .ok_or_else(|| ClientRoleError::ProviderNotEd25519(p.clone()))?;
            store.set_provider(&id, p)?;
            (id, addr)
        }
        (None, Some((id, addr))) => match addr.parse() {
            Ok(parsed) => (id, parsed),
            Err(e) => return Err(ClientRoleError::StoredProvider(addr, e)),
        },
        (None, None) => return Err(ClientRoleError::NoProvider),
    };
    let keys = store.keys()?;
    let mut secret = *keys.identity;
    let identity = Keypair::from(ed25519::Keypair::from(
        ed25519::SecretKey::try_from_bytes(&mut secret)
            .map_err(|_| ClientRoleError::IdentityKey)?,
    ));
    let me = crate::keys::node_id_of(&identity.public())?;
    let mailbox = MailboxClient::from_parts(
        provider,
        MailboxId(me.0),
        &keys.mailbox_key,
        PullSecret(*keys.pull_secret),
    );
    let file = match &args.config {
        Some(path) => wesh_config::client::ClientConfigFile::load(path)?,
        None => Default::default(),
    };
    let profile = args
        .traffic
        .resolve(&file.traffic)
        .map_err(wesh_config::client::ProfileArgsError::from)?;
    tracing::info!(
        profile = %profile.name,
        real_rate = profile.traffic.real_rate,
        loop_rate = profile.traffic.loop_rate,
        drop_rate = profile.traffic.drop_rate,
        pull_interval_ms = profile.pull_interval.as_millis() as u64,
        pull_slots = profile.pull_slots,
        "traffic profile"
    );
    let state = ClientState::with(identity, Arc::new(mailbox), profile.traffic)?;
    let traffic_profile = profile.clone();
    let (topology, pki, static_providers) = match &args.topology {
        Some(p) => {
            let t = crate::topology_file::TopologyFile::load(p)?;
            let providers = t
                .topology
                .providers()
                .iter()
                .map(|n| {
                    let addrs = t
                        .addresses
                        .iter()
                        .filter(|(peer, _)| crate::keys::peer_id_of(&n.id).as_ref() == Some(peer))
                        .map(|(_, a)| a.clone())
                        .collect();
                    (n.id, addrs)
                })
                .collect();
            (Some(t.topology), None, providers)
        }
        None => (
            None,
            Some(
                wesh_pki::PkiParams::with_epoch_length(args.epoch_seconds)
                    .map_err(ClientRoleError::Epoch)?,
            ),
            Vec::new(),
        ),
    };
    let payments = match &args.issuer {
        Some(text) => Some(crate::credit::IssuerAddress::parse(
            text,
            args.issuer_epoch_seconds,
        )?),
        None => None,
    };
    Ok((
        state,
        ClientSetup {
            provider_addr,
            topology,
            pki,
            profile: traffic_profile,
            bytes: Arc::default(),
            store,
            payments,
            static_providers,
        },
    ))
}

/// A client without the Wesh app: sends the --send files, keeps what arrives in its inbox.
async fn run_plain(
    state: ClientState,
    setup: ClientSetup,
    outgoing: Vec<(ClientAddress, Vec<u8>)>,
    exit_when_sent: bool,
) -> Result<(), ClientRoleError> {
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let client = start_client(setup.spec(state, events_tx)).await?;
    let address = client.handle.address;
    // stdout: the address others send to
    println!("client address: {}", format_address(&address));
    let mut waiting = std::collections::HashSet::new();
    for (to, bytes) in outgoing {
        let len = bytes.len();
        let id = client.handle.send_message(to, bytes).await?;
        tracing::info!(id, bytes = len, to = %format_address(&to), "message queued");
        waiting.insert(id);
    }
    let result = loop {
        if exit_when_sent && waiting.is_empty() {
            break Ok(());
        }
        tokio::select! {
            ev = events.recv() => match ev {
                Some(ClientEvent::MessageDelivered { id, .. }) => {
                    tracing::info!(id, "message delivered to the recipient's mailbox");
                    waiting.remove(&id);
                }
                Some(ClientEvent::MessageFailed { id, reason, .. }) => {
                    tracing::error!(id, %reason, "message failed");
                    if waiting.remove(&id) && exit_when_sent {
                        break Err(ClientRoleError::MessageFailed { id, reason });
                    }
                }
                Some(_) => {}
                None => break Err(ClientRoleError::Stopped),
            },
            s = crate::roles::mix_provider::wait_for_signal() => { break Ok(s?) }
        }
    };
    client.shutdown();
    result
}

pub fn show_inbox(args: InboxArgs) -> Result<(), ClientRoleError> {
    let dir = data_dir(&args.data_dir);
    let path = dir.join("client.db");
    if !path.exists() {
        return Err(ClientRoleError::NoData(dir));
    }
    let store = ClientStore::open(&path).map_err(ClientRoleError::StoreBusy)?;
    let messages = store.inbox(0)?;
    for m in &messages {
        if args.json {
            let line = serde_json::json!({
                "seq": m.seq,
                "received_at": m.received_at,
                "bytes": m.bytes.len(),
                "hex": hex::encode(&m.bytes),
            });
            println!("{line}");
        } else {
            let text = std::str::from_utf8(&m.bytes)
                .ok()
                .filter(|t| t.len() <= 200 && !t.chars().any(|c| c.is_control() && c != '\n'));
            match text {
                Some(t) => println!("#{} at {}: {:?}", m.seq, m.received_at, t),
                None => println!("#{} at {}: {} bytes", m.seq, m.received_at, m.bytes.len()),
            }
        }
    }
    if args.delete {
        let seqs: Vec<u64> = messages.iter().map(|m| m.seq).collect();
        store.remove_inbox(&seqs)?;
    }
    Ok(())
}
