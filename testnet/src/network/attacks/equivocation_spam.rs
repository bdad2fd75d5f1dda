//! `equivocation-spam`: the attacker mints equivocation proofs with throwaway keys (two
//! conflicting descriptors signed by a fresh key, a perfectly valid proof) and gossips them
//! on the PKI topic to a few relays. Before the fix every relay kept each one for ever and
//! passed it on. Refused when no relay keeps one (`proofs_kept` in the relays' PKI
//! status) while the relays did receive them (their `proof_unknown_identity` counters).

use super::{AttackReport, AttackTargets, RelayTarget};
use libp2p::identity::Keypair;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::watch;
use wesh_pki::params::GOSSIP_PROOF;
use wesh_pki::{DescriptorBuilder, EquivocationProof, Role, SigningKey};
use wesh_shell::net::swarm::start_swarm_with_gossip;
use wesh_shell::pki::service::PkiStatus;

/// Proofs minted, one fresh key each.
const PROOFS: usize = 40;
/// Relays the attacker connects to (its gossip reaches them directly).
const RELAYS_DIALED: usize = 4;

fn status(r: &RelayTarget) -> Option<PkiStatus> {
    r.pki_status.as_ref()?.lock().ok().map(|s| s.clone())
}

/// A valid proof against a key nobody knows: two descriptors, one sequence, two addresses.
fn throwaway_proof(epoch: u64) -> Option<Vec<u8>> {
    let key = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let sphinx = |e: u64| {
        let s = x25519_dalek::StaticSecret::from(rand::random::<[u8; 32]>());
        (e, x25519_dalek::PublicKey::from(&s).to_bytes())
    };
    let (k0, k1) = (sphinx(epoch), sphinx(epoch + 1));
    let build = |addr: &str| {
        DescriptorBuilder::new(Role::Mix, 1, epoch)
            .expiry_epoch(epoch + 1)
            .capacity_pps(100)
            .address(addr)
            .sphinx_key(k0.0, k0.1)
            .sphinx_key(k1.0, k1.1)
            .sign(&key)
            .ok()
    };
    let a = build("/ip4/192.0.2.1/tcp/4000")?;
    let b = build("/ip4/192.0.2.2/tcp/4000")?;
    let mut msg = vec![GOSSIP_PROOF];
    msg.extend_from_slice(&EquivocationProof::new(a, b).ok()?.to_bytes());
    Some(msg)
}

fn sum(statuses: &[PkiStatus], f: impl Fn(&PkiStatus) -> u64) -> u64 {
    statuses.iter().map(f).sum()
}

fn unknown(s: &PkiStatus) -> u64 {
    s.rejected
        .get("proof_unknown_identity")
        .copied()
        .unwrap_or(0)
}

pub async fn run(targets: &AttackTargets) -> AttackReport {
    let relays: Vec<&RelayTarget> = targets
        .relays
        .iter()
        .filter(|r| r.pki_status.is_some())
        .collect();
    let before: Vec<PkiStatus> = relays.iter().filter_map(|r| status(r)).collect();
    let Some(epoch) = before.iter().map(|s| s.epoch).max() else {
        return AttackReport::not_run("no relay runs the gossip PKI (static topology?)");
    };
    let dialed: Vec<&RelayTarget> = relays.iter().copied().take(RELAYS_DIALED).collect();
    let book: Vec<_> = dialed.iter().map(|r| (r.peer, r.addr.clone())).collect();
    let (stop_tx, stop) = watch::channel(false);
    let Ok((net, _events)) =
        start_swarm_with_gossip(Keypair::generate_ed25519(), &[], &book, true, stop).await
    else {
        return AttackReport::not_run("cannot start the attacker node");
    };
    for r in &dialed {
        net.dial(r.peer);
    }
    // let the subscriptions reach the relays (gossipsub heartbeats every 500 ms)
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut minted = 0;
    for _ in 0..PROOFS {
        if let Some(p) = throwaway_proof(epoch) {
            net.publish(p);
            minted += 1;
            // the swarm keeps a short publish queue: pace the proofs
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // what arrived is judged at once; give gossip a few heartbeats to carry it
    let mut after: Vec<PkiStatus> = Vec::new();
    for _ in 0..12 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        after = relays.iter().filter_map(|r| status(r)).collect();
        if sum(&after, unknown) >= sum(&before, unknown) + minted as u64 {
            break;
        }
    }
    let _ = stop_tx.send(true);
    let kept_before = sum(&before, |s| s.proofs_kept as u64);
    let kept_after = sum(&after, |s| s.proofs_kept as u64);
    let refused_seen = sum(&after, unknown).saturating_sub(sum(&before, unknown));
    let relays_reached = before
        .iter()
        .zip(&after)
        .filter(|(b, a)| unknown(a) > unknown(b))
        .count();
    let excluded_delta = after
        .iter()
        .zip(&before)
        .map(|(a, b)| a.descriptors as i64 - b.descriptors as i64)
        .min()
        .unwrap_or(0);
    let mut observed = BTreeMap::new();
    observed.insert("proofs_minted".into(), json!(minted));
    observed.insert("relays_dialed".into(), json!(dialed.len()));
    observed.insert("relays_reached".into(), json!(relays_reached));
    observed.insert(
        "proofs_refused_unknown_identity".into(),
        json!(refused_seen),
    );
    observed.insert("proofs_kept_before".into(), json!(kept_before));
    observed.insert("proofs_kept_after".into(), json!(kept_after));
    observed.insert("least_descriptor_change".into(), json!(excluded_delta));
    // refused: the spam reached relays and none kept a single proof
    let refused = minted > 0 && relays_reached > 0 && kept_after == kept_before;
    AttackReport { refused, observed }
}
