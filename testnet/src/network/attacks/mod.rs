//! `wesh testnet --attacks`: the attacks of the security review (spec/security.md), each run
//! against the live testnet while honest traffic flows, each reporting whether the network
//! refused it and what was observed. One file per attack; this module names them, parses the
//! list and runs the selected ones.

mod api_access;
mod equivocation_spam;
mod pki_sync_flood;
mod replica_flood;

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
    pub metrics: Arc<wesh_shell::metrics::RelayMetrics>,
    pub mailboxes: Option<Arc<wesh_shell::storage::MailboxStore>>,
    /// The relay's PKI summary (`None` with a static topology).
    pub pki_status: Option<Arc<std::sync::Mutex<wesh_shell::pki::service::PkiStatus>>>,
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
}

/// Runs the selected attacks one after the other (each is short) and reports them by name.
pub async fn run(
    selected: Vec<AttackName>,
    targets: AttackTargets,
) -> BTreeMap<String, AttackReport> {
    let mut out = BTreeMap::new();
    for a in selected {
        let report = run_one(a, &targets).await;
        tracing::info!(attack = a.as_str(), refused = report.refused, "attack done");
        out.insert(a.as_str().to_string(), report);
    }
    out
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
        AttackName::EquivocationSpam => equivocation_spam::run(targets).await,
        AttackName::ReplicaFlood => replica_flood::run(targets).await,
        // each attack lands with its defence; until then it is reported as not run
        other => AttackReport::not_run(format!("{} is not implemented yet", other.as_str())),
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
