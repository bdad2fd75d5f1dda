//! `wesh testnet --attacks`: the attacks of the security review (spec/security.md), each run
//! against the live testnet while honest traffic flows, each reporting whether the network
//! refused it and what was observed. One file per attack; this module names them, parses the
//! list and runs the selected ones.

mod api_access;
mod desk;
mod equivocation_spam;
mod loop_id_leak;
mod mix_entry_bypass;
mod pki_sync_flood;
mod reassembly_flood;
mod replica_flood;
mod self_redeem;

use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use wesh_mix::NodeId;
use wesh_shell::topology_file::Role;

/// Every attack `--attacks` knows, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AttackName {
    /// A web page POSTs API lines to the local app API.
    ApiCrossOrigin,
    /// A local process calls the app API without the cookie.
    ApiNoCredential,
    /// Junk and repeated `/wesh/pki-sync/1` traffic at a relay.
    PkiSyncFlood,
    /// Equivocation proofs minted by throwaway keys.
    EquivocationSpam,
    /// Packets filling a rendezvous desk's internal mailboxes through the mixnet.
    DeskWedge,
    /// A forged binding record injected into a desk's internal mailbox.
    DeskBindingHijack,
    /// First fragments claiming huge messages, to fill reassembly buffers.
    ReassemblyFlood,
    /// A client sends Sphinx packets straight to a layer-1 mix, skipping its provider's credit.
    MixEntryBypass,
    /// A client redeems its own token at the issuer, then spends it at a provider.
    SelfRedeem,
    /// Unauthenticated mass group registrations and fetches at a replica.
    ReplicaFlood,
    /// A provider reads its clients' loop ids and payload kinds at the last hop.
    LoopIdLeak,
}

impl AttackName {
    pub const ALL: [AttackName; 11] = [
        AttackName::ApiCrossOrigin,
        AttackName::ApiNoCredential,
        AttackName::PkiSyncFlood,
        AttackName::EquivocationSpam,
        AttackName::DeskWedge,
        AttackName::DeskBindingHijack,
        AttackName::ReassemblyFlood,
        AttackName::MixEntryBypass,
        AttackName::SelfRedeem,
        AttackName::ReplicaFlood,
        AttackName::LoopIdLeak,
    ];

    /// The name used on the command line and in the JSON report.
    pub fn as_str(self) -> &'static str {
        match self {
            AttackName::ApiCrossOrigin => "api-cross-origin",
            AttackName::ApiNoCredential => "api-no-credential",
            AttackName::PkiSyncFlood => "pki-sync-flood",
            AttackName::EquivocationSpam => "equivocation-spam",
            AttackName::DeskWedge => "desk-wedge",
            AttackName::DeskBindingHijack => "desk-binding-hijack",
            AttackName::ReassemblyFlood => "reassembly-flood",
            AttackName::MixEntryBypass => "mix-entry-bypass",
            AttackName::SelfRedeem => "self-redeem",
            AttackName::ReplicaFlood => "replica-flood",
            AttackName::LoopIdLeak => "loop-id-leak",
        }
    }

    /// Attacks in the same lane run one after the other: both desk attacks read the
    /// providers' `internal_refused` counter.
    fn lane(self) -> &'static str {
        match self {
            AttackName::DeskWedge | AttackName::DeskBindingHijack => "desk",
            other => other.as_str(),
        }
    }

    /// Whether the attack needs the token issuer (the testnet then runs with payments).
    pub fn needs_payments(self) -> bool {
        matches!(self, AttackName::SelfRedeem | AttackName::MixEntryBypass)
    }

    /// Whether the attack needs the Wesh story (its API server, desks and replicas).
    pub fn needs_wesh(self) -> bool {
        matches!(
            self,
            AttackName::ApiCrossOrigin | AttackName::ApiNoCredential
        )
    }
}

/// Parses `--attacks`: `all`, or a comma list of names.
pub fn parse_attack_list(s: &str) -> Result<Vec<AttackName>, String> {
    if s.trim() == "all" {
        return Ok(AttackName::ALL.to_vec());
    }
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some(a) = AttackName::ALL.iter().find(|a| a.as_str() == part) else {
            let known: Vec<&str> = AttackName::ALL.iter().map(|a| a.as_str()).collect();
            return Err(format!(
                "unknown attack {part:?}; known: all, {}",
                known.join(", ")
            ));
        };
        if !out.contains(a) {
            out.push(*a);
        }
    }
    if out.is_empty() {
        return Err("no attack named (use `all` or a comma list)".into());
    }
    out.sort();
    Ok(out)
}

/// What one attack got: refused or not, and the figures that show it.
#[derive(Debug, Clone, Serialize)]
pub struct AttackReport {
    pub refused: bool,
    pub observed: BTreeMap<String, serde_json::Value>,
}

impl AttackReport {
    /// An attack that could not run: not refused, with the reason.
    pub fn not_run(why: impl Into<String>) -> Self {
        let mut observed = BTreeMap::new();
        observed.insert("not_run".into(), serde_json::Value::String(why.into()));
        AttackReport {
            refused: false,
            observed,
        }
    }
}

/// One relay of the testnet as an attacker (and the judge) sees it.
#[derive(Clone)]
pub struct RelayTarget {
    pub id: NodeId,
    pub peer: libp2p::PeerId,
    pub addr: libp2p::Multiaddr,
    pub role: Role,
    /// 0, 1, 2 for mixes; 3 for providers.
    pub layer: usize,
    pub metrics: Arc<wesh_metrics::RelayMetrics>,
    pub mailboxes: Option<Arc<wesh_shell::storage::MailboxStore>>,
    /// The relay's PKI summary (`None` with a static topology).
    pub pki_status: Option<Arc<std::sync::Mutex<wesh_shell::pki::service::PkiStatus>>>,
    /// Providers with payments: their credit and redemption counters.
    pub credit: Option<Arc<wesh_shell::credit::provider::ProviderCredit>>,
}

/// The Wesh story's app API, as a local process would find it.
#[derive(Clone, Debug)]
pub struct ApiTarget {
    pub addr: std::net::SocketAddr,
    /// The data directory the app's API cookie is written to.
    pub data_dir: std::path::PathBuf,
}

/// Everything the attacks may aim at.
#[derive(Clone)]
pub struct AttackTargets {
    pub relays: Vec<RelayTarget>,
    pub issuer: Option<wesh_shell::credit::IssuerAddress>,
    pub pki: Option<wesh_pki::PkiParams>,
    pub desks: Vec<Arc<wesh_shell::rendezvous::RendezvousService>>,
    pub replicas: Vec<(NodeId, Arc<wesh_shell::replication::ReplicaService>)>,
    /// Filled by the Wesh story once its API server listens.
    pub api: Option<tokio::sync::watch::Receiver<Option<ApiTarget>>>,
    /// Makes the spec of an attacker's own client at a provider (its address), with the
    /// testnet's PKI and payments, so attacks go through the mixnet like any client.
    pub make_client: MakeClient,
    /// The testnet's Loopix rates (attackers send faster: see [`start_attacker`]).
    pub traffic: wesh_mix::ClientTrafficConfig,
    /// The provider of each of `desks` (same order).
    pub desk_nodes: Vec<NodeId>,
    /// Makes the spec of a new client on provider `i` (modulo their number) with these
    /// rates, for attacks that need clients of their own.
    pub new_client: Option<NewClient>,
}

/// See [`AttackTargets::new_client`].
pub type NewClient = Arc<
    dyn Fn(
            usize,
            wesh_mix::ClientTrafficConfig,
        ) -> Option<wesh_shell::drivers::client_traffic::ClientSpec>
        + Send
        + Sync,
>;

pub type MakeClient = Arc<
    dyn Fn(
            wesh_shell::drivers::client_traffic::ClientState,
            libp2p::Multiaddr,
        ) -> wesh_shell::drivers::client_traffic::ClientSpec
        + Send
        + Sync,
>;

/// One token of the free quota of client key `me`, fetched from the issuer over `control`
/// (what any client can get, and what the payment attacks then misuse).
pub async fn one_free_token(
    control: &mut libp2p_stream::Control,
    issuer: libp2p::PeerId,
    me: NodeId,
) -> Result<wesh_payments::Token, String> {
    let key = wesh_shell::issuer::calls::fetch_keys(control, issuer)
        .await
        .map_err(|e| format!("issuer keys: {e}"))?
        .into_iter()
        .max_by_key(|k| k.epoch)
        .ok_or("the issuer has no key")?;
    let mut wallet = wesh_payments::Wallet::new(wesh_payments::params::TOKEN_VALIDITY_EPOCHS);
    wesh_shell::issuer::calls::fetch_tokens(
        control,
        issuer,
        &key,
        wesh_payments::Credential::ClientKey(me.0),
        1,
        &mut wallet,
    )
    .await
    .map_err(|e| format!("issuance: {e}"))?;
    Ok(wallet.pop(key.epoch).ok_or("no token granted")?)
}

/// A client of the attack's own on provider `provider` (modulo their number) sending
/// `rate` real packets/s, with its events, once it can send (15 s at most).
pub async fn start_observed_client(
    targets: &AttackTargets,
    provider: usize,
    rate: f64,
) -> Result<
    (
        wesh_shell::drivers::client_traffic::RunningClient,
        tokio::sync::mpsc::UnboundedReceiver<wesh_shell::drivers::client_traffic::ClientEvent>,
    ),
    String,
> {
    use std::sync::atomic::Ordering::Relaxed;
    let make = targets
        .new_client
        .as_ref()
        .ok_or("the testnet gives no way to start a client")?;
    // an instrument, not a user: loops at 1/s so that an attack watching them sees some
    // within its window whatever the default profile's λ_L
    let traffic = wesh_mix::ClientTrafficConfig {
        real_rate: rate,
        loop_rate: OBSERVED_LOOP_RATE,
        ..wesh_mix::ClientTrafficConfig::default()
    };
    let mut spec = make(provider, traffic).ok_or("cannot make a client spec")?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    spec.observer = Some(tx);
    let client = wesh_shell::drivers::client_traffic::start_client(spec)
        .await
        .map_err(|e| e.to_string())?;
    let h = &client.handle;
    let ready = std::time::Instant::now();
    while !(h.mailbox_ready.load(Relaxed)
        && h.topology_ready.load(Relaxed)
        && h.credit_ready.load(Relaxed))
    {
        if ready.elapsed() > std::time::Duration::from_secs(15) {
            return Err("a client of the attack did not get ready within 15 s".into());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Ok((client, rx))
}

/// An attacker's client at `provider`, sending `real_rate` packets/s, once it can send
/// (mailbox registered, directory and credit in hand; 20 s at most).
/// λ_L of the clients the attacks observe, packets/s.
const OBSERVED_LOOP_RATE: f64 = 1.0;

pub async fn start_attacker(
    targets: &AttackTargets,
    provider: &RelayTarget,
    real_rate: f64,
) -> Result<wesh_shell::drivers::client_traffic::RunningClient, String> {
    use std::sync::atomic::Ordering::Relaxed;
    let traffic = wesh_mix::ClientTrafficConfig {
        real_rate,
        ..targets.traffic
    };
    let state = wesh_shell::drivers::client_traffic::ClientState::generate(provider.id, traffic)
        .map_err(|e| format!("attacker client: {e}"))?;
    let spec = (targets.make_client)(state, provider.addr.clone());
    let client = wesh_shell::drivers::client_traffic::start_client(spec)
        .await
        .map_err(|e| format!("attacker client: {e}"))?;
    let h = &client.handle;
    let ready = || {
        h.mailbox_ready.load(Relaxed)
            && h.topology_ready.load(Relaxed)
            && h.credit_ready.load(Relaxed)
    };
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while !ready() {
        if tokio::time::Instant::now() > deadline {
            client.shutdown();
            return Err("the attacker's client was not ready within 20 s".into());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Ok(client)
}

/// Runs the selected attacks at the same time (so they fit in the run while honest traffic
/// flows), except those that read the same counters, which take turns; reports them by
/// name.
pub async fn run(
    selected: Vec<AttackName>,
    targets: AttackTargets,
) -> BTreeMap<String, AttackReport> {
    let mut lanes: BTreeMap<&'static str, Vec<AttackName>> = BTreeMap::new();
    for a in selected {
        lanes.entry(a.lane()).or_default().push(a);
    }
    let targets = &targets;
    let lanes = lanes.into_values().map(|attacks| async move {
        let mut out = Vec::new();
        for a in attacks {
            let report = run_one(a, targets).await;
            tracing::info!(attack = a.as_str(), refused = report.refused, "attack done");
            out.push((a.as_str().to_string(), report));
        }
        out
    });
    futures::future::join_all(lanes)
        .await
        .into_iter()
        .flatten()
        .collect()
}

async fn run_one(a: AttackName, targets: &AttackTargets) -> AttackReport {
    match a {
        AttackName::ApiCrossOrigin => {
            api_access::cross_origin(api_access::wait_for_api(targets.api.clone()).await).await
        }
        AttackName::ApiNoCredential => {
            api_access::no_credential(api_access::wait_for_api(targets.api.clone()).await).await
        }
        AttackName::PkiSyncFlood => pki_sync_flood::run(targets).await,
        AttackName::DeskWedge => desk::wedge(targets).await,
        AttackName::DeskBindingHijack => desk::binding_hijack(targets).await,
        AttackName::EquivocationSpam => equivocation_spam::run(targets).await,
        AttackName::MixEntryBypass => mix_entry_bypass::run(targets).await,
        AttackName::SelfRedeem => self_redeem::run(targets).await,
        AttackName::ReassemblyFlood => reassembly_flood::run(targets).await,
        AttackName::ReplicaFlood => replica_flood::run(targets).await,
        AttackName::LoopIdLeak => loop_id_leak::run(targets).await,
        // each attack lands with its defence; until then it is reported as not run
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn all_and_lists_parse_and_unknown_names_are_refused() {
        assert_eq!(parse_attack_list("all").unwrap().len(), 11);
        assert_eq!(
            parse_attack_list("self-redeem, desk-wedge,self-redeem").unwrap(),
            vec![AttackName::DeskWedge, AttackName::SelfRedeem]
        );
        let e = parse_attack_list("desk-wedge,nope").unwrap_err();
        assert!(e.contains("nope") && e.contains("desk-wedge"), "{e}");
        assert!(parse_attack_list(" , ").is_err());
        for a in AttackName::ALL {
            assert_eq!(parse_attack_list(a.as_str()).unwrap(), vec![a]);
        }
    }
}
