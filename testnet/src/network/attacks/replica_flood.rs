//! `replica-flood`: attacker nodes flood a replication provider over `/wesh/replication/1`.
//!
//! Before the fix a provider registered any group anyone sent (a view, no proof), without
//! limit, kept every registered group's entries without quota, and its worker read every
//! group's mailbox every 200 ms. The attacker here registers fresh groups without proof
//! (the old form), with a proof made for another provider, and with valid proofs (it
//! mints its own groups, so it is their member) from several identities, and floods
//! fetches with more streams at once than the provider admits. Refused when no
//! registration without a valid proof was taken, none without payment when the provider
//! takes payments (issue 18), each identity got at most
//! `REPLICA_MAX_GROUPS_PER_REGISTRANT` groups, the provider's groups and bytes stayed
//! within the caps, and excess streams were dropped. The Wesh story's honest replication
//! runs at the same time (its figures are in the summary's `wesh` section).

use super::{AttackReport, AttackTargets, RelayTarget};
use futures::{AsyncReadExt, AsyncWriteExt};
use libp2p::{Multiaddr, PeerId, identity::Keypair};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use wesh_client::group::{GroupKind, GroupSecrets};
use wesh_client::messenger::params::{
    REPLICA_MAX_EXCHANGES_PER_PEER, REPLICA_MAX_GROUPS, REPLICA_MAX_GROUPS_PER_REGISTRANT,
    REPLICA_MAX_TOTAL_BYTES,
};
use wesh_client::messenger::replica::{ReplicaRequest, ReplicaResponse};
use wesh_client::replication::{ReplicaRegistration, ReplicationView};
use wesh_shell::net::swarm::{NetHandle, start_swarm};
use wesh_shell::replication::{REPLICATION_PROTOCOL, ReplicaService};

/// Fresh groups registered without proof (a bare view, the old request).
const BARE: usize = 150;
/// Fresh groups registered with a member's proof made for another provider.
const WRONG_PROVIDER: usize = 50;
/// Identities registering fresh groups with valid proofs, and groups each tries.
const IDENTITIES: usize = 3;
const PROVEN_PER_IDENTITY: usize = REPLICA_MAX_GROUPS_PER_REGISTRANT + 36;
/// History fetches, and how many streams the attacker keeps open at once.
const FETCHES: usize = 400;
const PARALLEL: usize = 4 * REPLICA_MAX_EXCHANGES_PER_PEER;
/// Largest answer read, in bytes.
const MAX_ANSWER: usize = 4 << 20;

/// What one exchange came to.
enum Outcome {
    Registered,
    Entries,
    Refused(String),
    /// Refused until paid.
    Unpaid,
    /// The stream was closed unanswered (the provider's gate) or failed.
    Dropped,
}

async fn exchange(net: &NetHandle, to: PeerId, request: Vec<u8>) -> Outcome {
    let mut control = net.control.clone();
    let work = async {
        let mut s = control.open_stream(to, REPLICATION_PROTOCOL).await.ok()?;
        s.write_all(&request).await.ok()?;
        s.close().await.ok()?;
        let mut answer = Vec::new();
        (&mut s)
            .take(MAX_ANSWER as u64)
            .read_to_end(&mut answer)
            .await
            .ok()?;
        ReplicaResponse::decode(&answer).ok()
    };
    match tokio::time::timeout(Duration::from_secs(10), work).await {
        Ok(Some(ReplicaResponse::Registered { .. })) => Outcome::Registered,
        Ok(Some(ReplicaResponse::Entries { .. })) => Outcome::Entries,
        Ok(Some(ReplicaResponse::Refused { reason })) => Outcome::Refused(reason),
        Ok(Some(ReplicaResponse::Unpaid { .. })) => Outcome::Unpaid,
        _ => Outcome::Dropped,
    }
}

/// Runs `requests` with at most `parallel` in flight; counts the outcomes.
async fn run_all(
    net: &NetHandle,
    to: PeerId,
    requests: Vec<Vec<u8>>,
    parallel: usize,
) -> BTreeMap<&'static str, u64> {
    use futures::StreamExt;
    let outcomes: Vec<Outcome> = futures::stream::iter(requests)
        .map(|r| exchange(net, to, r))
        .buffer_unordered(parallel)
        .collect()
        .await;
    let mut counts = BTreeMap::new();
    for o in outcomes {
        let key = match o {
            Outcome::Registered => "registered",
            Outcome::Entries => "answered",
            Outcome::Refused(r) if r.contains("registrant") => "refused_cap",
            Outcome::Refused(r) if r.contains("provider keeps") => "refused_cap",
            Outcome::Refused(r) if r.contains("not registered") => "refused_unknown_group",
            Outcome::Unpaid => "refused_unpaid",
            Outcome::Refused(_) => "refused_proof",
            Outcome::Dropped => "dropped_or_failed",
        };
        *counts.entry(key).or_default() += 1;
    }
    counts
}

async fn node(book: &[(PeerId, Multiaddr)]) -> Option<(NetHandle, watch::Sender<bool>)> {
    let (stop_tx, stop) = watch::channel(false);
    let net = start_swarm(Keypair::generate_ed25519(), &[], book, stop)
        .await
        .ok()?;
    Some((net, stop_tx))
}

fn fresh_group(rng: &mut ChaCha20Rng) -> Option<GroupSecrets> {
    GroupSecrets::generate(rng, GroupKind::MultiMember)
        .ok()
        .map(|(g, _)| g)
}

/// The old request: a fresh group's view with no proof.
fn bare_registration(rng: &mut ChaCha20Rng) -> Option<Vec<u8>> {
    let view = ReplicationView::of(&fresh_group(rng)?).encode();
    let mut r = vec![wesh_client::params::WIRE_VERSION, 1];
    r.extend_from_slice(&u32::try_from(view.len()).ok()?.to_be_bytes());
    r.extend_from_slice(&view);
    Some(r)
}

fn registration(rng: &mut ChaCha20Rng, provider: [u8; 32]) -> Option<(Vec<u8>, [u8; 32])> {
    let group = fresh_group(rng)?;
    let registration = ReplicaRegistration::sign(&group, provider).encode();
    Some((
        ReplicaRequest::Register { registration }.encode(),
        group.group_id_bytes(),
    ))
}

fn fetch(group: [u8; 32]) -> Vec<u8> {
    ReplicaRequest::Fetch {
        group_id: group,
        after: 0,
        max: u16::MAX,
    }
    .encode()
}

/// Opens `n` streams at once and starts a request on each that never ends; returns on
/// how many the partial request could be written (a stream the provider dropped at once
/// usually fails here). They are held until the provider's timeout or this returns.
async fn hold_silent_streams(net: &NetHandle, to: PeerId, n: usize) -> usize {
    let opens = (0..n).map(|_| {
        let mut control = net.control.clone();
        async move {
            let mut s = control.open_stream(to, REPLICATION_PROTOCOL).await.ok()?;
            // one byte of a request, never finished: the provider waits for the rest
            s.write_all(&[wesh_client::params::WIRE_VERSION])
                .await
                .ok()?;
            s.flush().await.ok()?;
            Some(s)
        }
    });
    let streams: Vec<_> = futures::future::join_all(opens)
        .await
        .into_iter()
        .flatten()
        .collect();
    // the provider has admitted or dropped each by now
    tokio::time::sleep(Duration::from_millis(500)).await;
    let opened = streams.len();
    drop(streams);
    opened
}

fn add(into: &mut BTreeMap<&'static str, u64>, from: &BTreeMap<&'static str, u64>) {
    for (k, v) in from {
        *into.entry(k).or_default() += v;
    }
}

/// The provider the Wesh story replicates at (the last provider), with its service.
fn target(targets: &AttackTargets) -> Option<(&RelayTarget, Arc<ReplicaService>)> {
    targets
        .relays
        .iter()
        .rev()
        .filter(|r| r.layer == 3)
        .find_map(|r| {
            let service = targets.replicas.iter().find(|(id, _)| *id == r.id)?;
            Some((r, service.1.clone()))
        })
}

pub async fn run(targets: &AttackTargets) -> AttackReport {
    let Some((relay, service)) = target(targets) else {
        return AttackReport::not_run("no provider runs a replication service");
    };
    let before = service.stats();
    let dropped_before = service.exchanges_refused();
    let book = [(relay.peer, relay.addr.clone())];
    let mut rng = ChaCha20Rng::from_seed(rand::random());
    let provider = relay.id.0;

    // 1. registrations without a valid proof, from one identity
    let Some((net, _stop)) = node(&book).await else {
        return AttackReport::not_run("cannot start the attacker node");
    };
    let mut unproven: Vec<Vec<u8>> = (0..BARE)
        .filter_map(|_| bare_registration(&mut rng))
        .collect();
    let elsewhere = {
        let mut p = provider;
        p[0] ^= 0xff;
        p
    };
    unproven.extend(
        (0..WRONG_PROVIDER).filter_map(|_| registration(&mut rng, elsewhere).map(|(r, _)| r)),
    );
    let unproven_sent = unproven.len() as u64;
    let unproven_counts = run_all(&net, relay.peer, unproven, REPLICA_MAX_EXCHANGES_PER_PEER).await;

    // 2. valid proofs for fresh groups the attacker minted, from several identities
    let mut proven_counts = BTreeMap::new();
    let mut max_per_identity = 0u64;
    let mut attacker_groups = Vec::new();
    let mut nodes = vec![];
    for _ in 0..IDENTITIES {
        let Some((n, stop)) = node(&book).await else {
            continue;
        };
        let (requests, groups): (Vec<Vec<u8>>, Vec<[u8; 32]>) = (0..PROVEN_PER_IDENTITY)
            .filter_map(|_| registration(&mut rng, provider))
            .unzip();
        let counts = run_all(&n, relay.peer, requests, REPLICA_MAX_EXCHANGES_PER_PEER).await;
        max_per_identity = max_per_identity.max(counts.get("registered").copied().unwrap_or(0));
        add(&mut proven_counts, &counts);
        attacker_groups.extend(groups);
        nodes.push((n, stop));
    }

    // 3. a fetch flood, more streams at once than one peer is admitted: half for the
    // attacker's own groups, half for groups nobody registered
    let fetches: Vec<Vec<u8>> = (0..FETCHES)
        .map(
            |i| match attacker_groups.get(i % attacker_groups.len().max(1)) {
                Some(g) if i % 2 == 0 => fetch(*g),
                _ => fetch(rand::random()),
            },
        )
        .collect();
    let fetch_counts = run_all(&net, relay.peer, fetches, PARALLEL).await;

    // 4. streams that hold an exchange open with a request that never ends: beyond the
    // per-peer cap the provider drops them unread
    let gate_before = service.exchanges_refused();
    let held = hold_silent_streams(&net, relay.peer, PARALLEL).await;
    let silent_dropped = service.exchanges_refused().saturating_sub(gate_before);

    let after = service.stats();
    let dropped = service.exchanges_refused().saturating_sub(dropped_before);
    let new_groups = after.groups.saturating_sub(before.groups);
    let get = |m: &BTreeMap<&'static str, u64>, k: &str| m.get(k).copied().unwrap_or(0);
    let unproven_taken = get(&unproven_counts, "registered");
    let proven_sent = (IDENTITIES * PROVEN_PER_IDENTITY) as u64;
    let cap = REPLICA_MAX_GROUPS_PER_REGISTRANT as u64;
    // with payments on (the testnet's default) the attacker's identities hold no credit at
    // the provider, so every proven registration is refused unpaid before any cap is
    // reached; without payments the per-registrant cap refuses the excess
    let unpaid = get(&proven_counts, "refused_unpaid");
    let refused = unproven_taken == 0
        && get(&unproven_counts, "refused_proof") > 0
        && max_per_identity <= cap
        && (get(&proven_counts, "refused_cap") > 0
            || (unpaid > 0 && get(&proven_counts, "registered") == 0))
        && silent_dropped > 0
        // the story's own registration may land during the attack
        && new_groups <= IDENTITIES as u64 * cap + 1
        && after.groups <= REPLICA_MAX_GROUPS as u64
        && after.bytes_kept <= REPLICA_MAX_TOTAL_BYTES;

    let mut observed = BTreeMap::new();
    observed.insert("unproven_registrations_sent".into(), json!(unproven_sent));
    observed.insert("unproven_registered".into(), json!(unproven_taken));
    observed.insert("unproven_outcomes".into(), json!(unproven_counts));
    observed.insert("proven_registrations_sent".into(), json!(proven_sent));
    observed.insert("proven_outcomes".into(), json!(proven_counts));
    observed.insert("attacker_identities".into(), json!(IDENTITIES + 1));
    observed.insert("max_groups_per_identity".into(), json!(max_per_identity));
    observed.insert("groups_cap_per_identity".into(), json!(cap));
    observed.insert("fetches_sent".into(), json!(FETCHES));
    observed.insert("fetch_outcomes".into(), json!(fetch_counts));
    observed.insert("streams_dropped_by_gate".into(), json!(dropped));
    observed.insert("silent_streams_attempted".into(), json!(PARALLEL));
    observed.insert("silent_streams_written".into(), json!(held));
    observed.insert(
        "silent_streams_dropped_unread".into(),
        json!(silent_dropped),
    );
    observed.insert("provider_groups_before".into(), json!(before.groups));
    observed.insert("provider_groups_after".into(), json!(after.groups));
    observed.insert("provider_groups_cap".into(), json!(REPLICA_MAX_GROUPS));
    observed.insert(
        "provider_bytes_kept_before".into(),
        json!(before.bytes_kept),
    );
    observed.insert("provider_bytes_kept_after".into(), json!(after.bytes_kept));
    observed.insert(
        "refused_registration_proof".into(),
        json!(after.refused_registration_proof - before.refused_registration_proof),
    );
    observed.insert(
        "refused_registration_cap".into(),
        json!(after.refused_registration_cap - before.refused_registration_cap),
    );
    observed.insert(
        "honest_entries_kept_meanwhile".into(),
        json!(after.entries_kept - before.entries_kept),
    );
    AttackReport { refused, observed }
}
