//! `pki-sync-flood`: one relay is flooded over `/wesh/pki-sync/1` from both sides.
//!
//! As a requester, the attacker opens streams that never send their request (each would
//! once hold a relay task for ever) and a burst of full-directory requests from one
//! identity. As a responder, its identities (and one of them reconnecting in a loop)
//! answer the syncs the relay starts on every connection with junk: 100,000 one-byte
//! "descriptors", an absurd count, and forged descriptors. Refused when the excess was
//! refused (rate limit, per-peer cap, read timeout, cheap parse), an honest sync from
//! another peer is answered within [`HONEST_SYNC_BOUND_MS`] during the flood, and the
//! relay's epoch and directory digest still agree with the other relays afterwards.

use super::{AttackReport, AttackTargets, RelayTarget};
use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::{Multiaddr, PeerId, identity::Keypair};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use wesh_pki::params::{MIN_DESCRIPTOR_BYTES, SYNC_SERVE_BURST, SYNC_SERVE_READ_TIMEOUT_MS};
use wesh_pki::sync_wire::{MAX_SYNC_DESCRIPTORS, SYNC_REQUEST_BYTES};
use wesh_shell::net::swarm::{NetHandle, start_swarm};
use wesh_shell::pki::service::PkiStatus;
use wesh_shell::pki::sync::{PKI_SYNC_PROTOCOL, request};

/// Requests in the burst from one identity.
const BURST: usize = 100;
/// Streams opened that never send their request.
const SILENT: usize = 2;
/// Identities that connect once each and answer the relay's sync with junk.
const JUNK_RESPONDERS: usize = 3;
/// Times one of them reconnects in a loop.
const RECONNECTS: usize = 6;
/// An honest sync during the flood must be answered within this. Unit: milliseconds.
const HONEST_SYNC_BOUND_MS: u64 = 2_000;
/// A silent stream must be closed by the relay within its read timeout plus this slack.
const SILENT_SLACK_MS: u64 = 3_000;

fn status(r: &RelayTarget) -> Option<PkiStatus> {
    r.pki_status.as_ref()?.lock().ok().map(|s| s.clone())
}

async fn node(
    key: Keypair,
    book: &[(PeerId, Multiaddr)],
) -> Option<(NetHandle, watch::Sender<bool>)> {
    let (stop_tx, stop) = watch::channel(false);
    let net = start_swarm(key, &[], book, stop).await.ok()?;
    Some((net, stop_tx))
}

/// The junk answer number `n` (rotating): tiny descriptors, an absurd count, forgeries
/// (for `epoch`, so that only their signature is wrong).
fn junk_answer(n: u64, epoch: u64) -> Vec<u8> {
    let mut a = vec![1u8];
    a.extend_from_slice(&[0x5a; 32]);
    match n % 3 {
        0 => {
            a.extend_from_slice(&MAX_SYNC_DESCRIPTORS.to_be_bytes());
            for i in 0..MAX_SYNC_DESCRIPTORS {
                a.extend_from_slice(&1u16.to_be_bytes());
                a.push(i as u8);
            }
        }
        1 => a.extend_from_slice(&u32::MAX.to_be_bytes()),
        _ => {
            let forged: Vec<Vec<u8>> = (0..1000u64).map(|i| forged_descriptor(i, epoch)).collect();
            a.extend_from_slice(&(forged.len() as u32).to_be_bytes());
            for d in forged {
                a.extend_from_slice(&(d.len() as u16).to_be_bytes());
                a.extend_from_slice(&d);
            }
        }
    }
    a
}

/// A well-formed descriptor whose signature does not verify (costs a check to refuse).
fn forged_descriptor(i: u64, epoch: u64) -> Vec<u8> {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&i.to_be_bytes());
    seed[8] = 0xf1;
    let key = wesh_pki::SigningKey::from_bytes(&seed);
    let mut bytes = wesh_pki::DescriptorBuilder::new(wesh_pki::Role::Issuer, 1, epoch)
        .sign(&key)
        .map(|d| d.as_bytes().to_vec())
        .unwrap_or_else(|_| vec![0; MIN_DESCRIPTOR_BYTES]);
    if let Some(last) = bytes.last_mut() {
        *last ^= 1;
    }
    bytes
}

/// Answers every sync the relay opens to this node with junk.
fn serve_junk(net: &NetHandle, served: Arc<AtomicU64>, epoch: u64) {
    let mut control = net.control.clone();
    let Ok(mut incoming) = control.accept(PKI_SYNC_PROTOCOL) else {
        return;
    };
    tokio::spawn(async move {
        while let Some((_, mut s)) = incoming.next().await {
            let n = served.fetch_add(1, Relaxed);
            tokio::spawn(async move {
                let mut req = [0u8; SYNC_REQUEST_BYTES];
                let _ = s.read_exact(&mut req).await;
                let _ = s.write_all(&junk_answer(n, epoch)).await;
                let _ = s.close().await;
            });
        }
    });
}

/// Opens a stream and sends nothing; returns how long the relay took to close it.
async fn silent_stream(net: &NetHandle, to: PeerId) -> Option<u64> {
    let mut control = net.control.clone();
    let mut s = control.open_stream(to, PKI_SYNC_PROTOCOL).await.ok()?;
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let wait = Duration::from_millis(SYNC_SERVE_READ_TIMEOUT_MS + 10_000);
    // the relay either closes (0 bytes / error) or we give up
    match tokio::time::timeout(wait, s.read(&mut buf)).await {
        Ok(_) => Some(started.elapsed().as_millis() as u64),
        Err(_) => None,
    }
}

/// One full-directory request; `Ok(ms)` if answered.
async fn one_sync(net: &NetHandle, to: PeerId) -> Result<u64, ()> {
    let started = Instant::now();
    let mut control = net.control.clone();
    let mut s = control
        .open_stream(to, PKI_SYNC_PROTOCOL)
        .await
        .map_err(|_| ())?;
    let work = request(&mut s, 0, [0; 32]);
    match tokio::time::timeout(Duration::from_secs(15), work).await {
        Ok(Ok(_)) => Ok(started.elapsed().as_millis() as u64),
        _ => Err(()),
    }
}

/// The digest most relays hold, and at which epoch.
fn majority_digest(targets: &AttackTargets) -> Option<(u64, [u8; 32])> {
    let mut count: BTreeMap<(u64, [u8; 32]), usize> = BTreeMap::new();
    for s in targets.relays.iter().filter_map(status) {
        *count.entry((s.epoch, s.digest)).or_default() += 1;
    }
    count.into_iter().max_by_key(|(_, n)| *n).map(|(k, _)| k)
}

pub async fn run(targets: &AttackTargets) -> AttackReport {
    let Some(victim) = targets
        .relays
        .iter()
        .filter(|r| r.pki_status.is_some())
        .min_by_key(|r| (r.layer, r.id))
    else {
        return AttackReport::not_run("no relay runs the gossip PKI (static topology?)");
    };
    let Some(before) = status(victim) else {
        return AttackReport::not_run("the relay's PKI status is unreadable");
    };
    let book = [(victim.peer, victim.addr.clone())];
    let mut observed = BTreeMap::new();

    // 1. junk responders: each connection makes the relay sync with us
    let served = Arc::new(AtomicU64::new(0));
    let mut keep = Vec::new();
    let looping = Keypair::generate_ed25519();
    for i in 0..JUNK_RESPONDERS {
        let key = if i == 0 {
            looping.clone()
        } else {
            Keypair::generate_ed25519()
        };
        let Some((net, stop)) = node(key, &book).await else {
            return AttackReport::not_run("cannot start an attacker node");
        };
        serve_junk(&net, served.clone(), before.epoch);
        net.dial(victim.peer);
        keep.push((net, stop));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // the first one reconnects in a loop (a fresh swarm with the same key each time)
    if let Some((_, stop)) = keep.first() {
        let _ = stop.send(true);
    }
    for _ in 0..RECONNECTS {
        let Some((net, stop)) = node(looping.clone(), &book).await else {
            break;
        };
        serve_junk(&net, served.clone(), before.epoch);
        net.dial(victim.peer);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let _ = stop.send(true);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // 2. the requester flood: silent streams, then a burst, and an honest sync meanwhile
    let Some((flooder, _flood_stop)) = node(Keypair::generate_ed25519(), &book).await else {
        return AttackReport::not_run("cannot start an attacker node");
    };
    let Some((honest, _honest_stop)) = node(Keypair::generate_ed25519(), &book).await else {
        return AttackReport::not_run("cannot start the honest node");
    };
    let to = victim.peer;
    let silent: Vec<_> = (0..SILENT)
        .map(|_| {
            let net = flooder.clone();
            tokio::spawn(async move { silent_stream(&net, to).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let burst = futures::future::join_all((0..BURST).map(|_| one_sync(&flooder, victim.peer)));
    let honest_sync = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        one_sync(&honest, victim.peer).await
    };
    let (burst, honest_ms) = tokio::join!(burst, honest_sync);
    let burst_answered = burst.iter().filter(|r| r.is_ok()).count();
    let mut silent_closed_ms = Vec::new();
    for h in silent {
        silent_closed_ms.push(h.await.ok().flatten());
    }
    // the rate limit refills: a second wave later is served again (not a permanent ban)
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let later = one_sync(&flooder, victim.peer).await.is_ok();

    // 3. the relay still agrees with the network
    let mut agrees = false;
    let mut after = status(victim);
    for _ in 0..10 {
        after = status(victim);
        if let (Some(a), Some((epoch, digest))) = (&after, majority_digest(targets))
            && a.epoch == epoch
            && a.digest == digest
        {
            agrees = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for (_, stop) in keep {
        let _ = stop.send(true);
    }
    let after = after.unwrap_or_default();
    let silent_bound = SYNC_SERVE_READ_TIMEOUT_MS + SILENT_SLACK_MS;
    let silent_ok = silent_closed_ms
        .iter()
        .all(|c| c.is_some_and(|ms| ms <= silent_bound));
    let burst_ok = burst_answered <= SYNC_SERVE_BURST as usize && burst_answered < BURST;
    let honest_ok = honest_ms.is_ok_and(|ms| ms <= HONEST_SYNC_BOUND_MS);
    let refused_streams = after
        .sync_streams_refused
        .saturating_sub(before.sync_streams_refused);
    let limited = after
        .connect_syncs_limited
        .saturating_sub(before.connect_syncs_limited);
    let cut = after.answers_cut.saturating_sub(before.answers_cut);
    let junk_kept = after.descriptors != before.descriptors && !agrees;
    observed.insert("victim".into(), json!(hex::encode(&victim.id.0[..8])));
    observed.insert("burst_requests".into(), json!(BURST));
    observed.insert("burst_answered".into(), json!(burst_answered));
    observed.insert("relay_streams_refused".into(), json!(refused_streams));
    observed.insert(
        "silent_streams_closed_after_ms".into(),
        json!(silent_closed_ms),
    );
    observed.insert("silent_bound_ms".into(), json!(silent_bound));
    observed.insert("honest_sync_ms".into(), json!(honest_ms.ok()));
    observed.insert("honest_sync_bound_ms".into(), json!(HONEST_SYNC_BOUND_MS));
    observed.insert("served_again_after_refill".into(), json!(later));
    observed.insert("junk_answers_served".into(), json!(served.load(Relaxed)));
    observed.insert("relay_answers_cut".into(), json!(cut));
    observed.insert("relay_reconnect_syncs_limited".into(), json!(limited));
    observed.insert("relay_epoch".into(), json!(after.epoch));
    observed.insert("relay_epochs_rotated".into(), json!(after.epochs_rotated));
    observed.insert("relay_digest_agrees".into(), json!(agrees));
    let refused = burst_ok
        && refused_streams > 0
        && silent_ok
        && honest_ok
        && agrees
        && !junk_kept
        && limited > 0;
    AttackReport { refused, observed }
}
