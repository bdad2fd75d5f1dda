//! `wesh client`: a client whose keys, inbox, partial messages and outbox live in rocksdb;
//! `wesh inbox`: what it received.

use crate::client_node::{ClientEvent, ClientSpec, ClientState, start_client};
use crate::keys::node_id_of_peer;
use crate::storage::client_store::ClientStore;
use clap::Args;
use libp2p::identity::{Keypair, ed25519};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use wesh_mix::mailbox::{MailboxClient, MailboxId, PullSecret};
use wesh_mix::{ClientAddress, ClientTrafficConfig, NodeId};

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
    /// How often to pull the mailbox, in milliseconds.
    #[arg(long, default_value_t = crate::mailboxes::params::DEFAULT_PULL_INTERVAL.as_millis() as u64, value_parser = clap::value_parser!(u64).range(10..=600_000))]
    pub pull_interval_ms: u64,
    /// Pay for sending with tokens of this issuer (needed when the provider charges): a
    /// multiaddr ending in /p2p/<peer id>.
    #[arg(long)]
    pub issuer: Option<String>,
    /// The issuer's payments epoch length in seconds (with --issuer).
    #[arg(long, default_value_t = 3600)]
    pub issuer_epoch_seconds: u64,
}

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
    format!("{}:{}", hex::encode(a.provider.0), hex::encode(a.client.0))
}

pub fn parse_address(s: &str) -> Result<ClientAddress, String> {
    let (p, c) = s
        .split_once(':')
        .ok_or_else(|| format!("address {s:?} is not <provider hex>:<client hex>"))?;
    let id = |h: &str, what: &str| -> Result<NodeId, String> {
        let b = hex::decode(h).map_err(|e| format!("{what} id {h:?}: {e}"))?;
        let b: [u8; 32] = b
            .try_into()
            .map_err(|_| format!("{what} id {h:?} is not 32 bytes"))?;
        Ok(NodeId(b))
    };
    Ok(ClientAddress {
        provider: id(p, "provider")?,
        client: id(c, "client")?,
    })
}

fn parse_send(s: &str) -> Result<(ClientAddress, PathBuf), String> {
    let (a, p) = s
        .split_once('=')
        .ok_or_else(|| format!("--send {s:?} is not ADDRESS=PATH"))?;
    Ok((parse_address(a)?, PathBuf::from(p)))
}

pub async fn run_client(args: ClientArgs) -> Result<(), String> {
    let sends = args
        .send
        .iter()
        .map(|s| parse_send(s))
        .collect::<Result<Vec<_>, _>>()?;
    let mut outgoing = Vec::new();
    for (to, path) in sends {
        let bytes =
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if bytes.len() > wesh_mix::params::MAX_MESSAGE_BYTES {
            return Err(format!(
                "{} is {} bytes; a message holds at most {}",
                path.display(),
                bytes.len(),
                wesh_mix::params::MAX_MESSAGE_BYTES
            ));
        }
        outgoing.push((to, bytes));
    }
    let dir = data_dir(&args.data_dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let store = Arc::new(ClientStore::open(dir.join("client.db")).map_err(|e| e.to_string())?);
    let (provider, provider_addr) =
        match (&args.provider, store.provider().map_err(|e| e.to_string())?) {
            (Some(p), _) => {
                let (peer, addr) = crate::keys::parse_peer_addr(p, "--provider")?;
                let id = node_id_of_peer(&peer)
                    .ok_or_else(|| format!("--provider {p:?}: not an Ed25519 peer id"))?;
                store.set_provider(&id, p).map_err(|e| e.to_string())?;
                (id, addr)
            }
            (None, Some((id, addr))) => (
                id,
                addr.parse()
                    .map_err(|e| format!("stored provider address {addr:?}: {e}"))?,
            ),
            (None, None) => {
                return Err("first start: give --provider <multiaddr/p2p/peer id>".into());
            }
        };
    let keys = store.keys().map_err(|e| e.to_string())?;
    let mut secret = *keys.identity;
    let identity = Keypair::from(ed25519::Keypair::from(
        ed25519::SecretKey::try_from_bytes(&mut secret).map_err(|e| e.to_string())?,
    ));
    let me = crate::keys::node_id_of(&identity.public()).map_err(|e| e.to_string())?;
    let mailbox = MailboxClient::from_parts(
        provider,
        MailboxId(me.0),
        &keys.mailbox_key,
        PullSecret(*keys.pull_secret),
    );
    let state = ClientState::with(identity, Arc::new(mailbox), ClientTrafficConfig::default())
        .map_err(|e| e.to_string())?;
    let (topology, pki) = match &args.topology {
        Some(p) => {
            let t = crate::topology_file::TopologyFile::load(p).map_err(|e| e.to_string())?;
            (Some(t.topology), None)
        }
        None => (
            None,
            Some(
                wesh_pki::PkiParams::with_epoch_length(args.epoch_seconds)
                    .map_err(|e| format!("--epoch-seconds: {e}"))?,
            ),
        ),
    };
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let mut spec = ClientSpec::new(state, provider_addr);
    spec.topology = topology;
    spec.pki = pki;
    spec.pull_interval = Duration::from_millis(args.pull_interval_ms);
    spec.observer = Some(events_tx);
    spec.store = Some(store.clone());
    spec.payments = match &args.issuer {
        Some(text) => Some(crate::credit::IssuerAddress::parse(
            text,
            args.issuer_epoch_seconds,
        )?),
        None => None,
    };
    let client = start_client(spec).await.map_err(|e| e.to_string())?;
    let address = client.handle.address;
    // stdout: the address others send to
    println!("client address: {}", format_address(&address));
    let mut waiting = std::collections::HashSet::new();
    for (to, bytes) in outgoing {
        let len = bytes.len();
        let id = client
            .handle
            .send_message(to, bytes)
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(id, bytes = len, to = %format_address(&to), "message queued");
        waiting.insert(id);
    }
    let done_early = args.exit_when_sent;
    let result = loop {
        if done_early && waiting.is_empty() {
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
                    if waiting.remove(&id) && done_early {
                        break Err(format!("message {id} failed: {reason}"));
                    }
                }
                Some(_) => {}
                None => break Err("client stopped".into()),
            },
            s = crate::role::wait_for_signal() => { break s }
        }
    };
    client.shutdown();
    // Close the database only once the client's tasks let go of it: returning from main
    // while one of them is inside a rocksdb write aborts the process at exit.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while Arc::strong_count(&store) > 1 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(store);
    result
}

pub fn show_inbox(args: InboxArgs) -> Result<(), String> {
    let dir = data_dir(&args.data_dir);
    let path = dir.join("client.db");
    if !path.exists() {
        return Err(format!("no client data in {}", dir.display()));
    }
    let store = ClientStore::open(&path)
        .map_err(|e| format!("{e} (is `wesh client` running on this directory?)"))?;
    let messages = store.inbox(0).map_err(|e| e.to_string())?;
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
        store.remove_inbox(&seqs).map_err(|e| e.to_string())?;
    }
    Ok(())
}
