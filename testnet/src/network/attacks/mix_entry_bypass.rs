//! `mix-entry-bypass` (issue 15 item 8): a client skips its provider, where it would pay
//! credit for every packet, and hands real Sphinx packets straight to a layer-1 mix over
//! `/wesh/sphinx/1`. The packets are routed layer 1 → layer 2 → layer 3 → a provider, to
//! a mailbox the attacker registered there. Refused when none of them reaches the mailbox
//! and the mix counts them as refused at admission (not from the previous layer).

use super::{AttackReport, AttackTargets};
use futures::AsyncWriteExt;
use rand::SeedableRng;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use wesh_mix::mailbox::MailboxClient;
use wesh_mix::{MixPayload, NodeId, Topology, build_packet};
use wesh_shell::keys::NodeKeys;
use wesh_shell::mailboxes::puller::Puller;
use wesh_shell::net::SPHINX_PROTOCOL;
use wesh_shell::topology_file::Role;

/// Packets the attacker sends (each a real packet to its own mailbox).
const PACKETS: usize = 20;
/// Longest wait for the layer-1 mix to judge the attacker's frames.
const CROSSING: Duration = Duration::from_secs(10);
/// Then how long a frame that got through gets to cross the three mixes (zero hop delays;
/// forwarding and the mailbox write take milliseconds).
const SETTLE: Duration = Duration::from_secs(3);

pub async fn run(targets: &AttackTargets) -> AttackReport {
    match attempt(targets).await {
        Ok(report) => report,
        Err(why) => AttackReport::not_run(why),
    }
}

/// The routing view as any client gets it: the directory a provider serves, checked
/// descriptor by descriptor.
async fn directory_view(
    net: &wesh_shell::net::swarm::NetHandle,
    provider: libp2p::PeerId,
    params: &wesh_pki::PkiParams,
) -> Result<Topology, String> {
    let mut s = net
        .control
        .clone()
        .open_stream(provider, wesh_shell::pki::sync::PKI_SYNC_PROTOCOL)
        .await
        .map_err(|e| format!("pki sync: {e}"))?;
    let answer = wesh_shell::pki::sync::request(&mut s, 0, [0; 32])
        .await
        .map_err(|e| format!("pki sync: {e}"))?;
    let mut directory = wesh_pki::Directory::new(params.clone()).map_err(|e| e.to_string())?;
    let now = wesh_shell::clock::unix_now();
    for d in answer.descriptors.unwrap_or_default() {
        let _ = directory.insert(&d, now);
    }
    let t = directory.topology(directory.clock().epoch_at(now));
    wesh_shell::pki::convert::routing_view(&t).ok_or_else(|| "directory not routable".into())
}

async fn attempt(targets: &AttackTargets) -> Result<AttackReport, String> {
    let params = targets
        .pki
        .as_ref()
        .ok_or("the testnet runs without the PKI")?;
    let provider = targets
        .relays
        .iter()
        .find(|r| r.role == Role::Provider && r.mailboxes.is_some())
        .ok_or("no provider keeps mailboxes")?;
    let keys = NodeKeys::generate();
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    let book: Vec<_> = targets
        .relays
        .iter()
        .map(|r| (r.peer, r.addr.clone()))
        .collect();
    let net = wesh_shell::net::swarm::start_swarm(keys.identity.clone(), &[], &book, stop)
        .await
        .map_err(|e| e.to_string())?;
    let mut control = net.control.clone();
    let view = directory_view(&net, provider.peer, params).await?;

    // a fresh mailbox of the attacker's at the provider: where the packets would land
    let mut rng = rand_chacha::ChaCha20Rng::from_seed(wesh_mix::seed_from(&mut rand::rng()));
    let mailbox = Arc::new(MailboxClient::generate(provider.id, &mut rng));
    let mailbox_id = mailbox.mailbox();
    Puller::new(control.clone(), provider.peer, mailbox, 1)
        .map_err(|e| e.to_string())?
        .register()
        .await
        .map_err(|e| format!("mailbox registration: {e}"))?;

    // the entry: a layer-1 mix of the view that the testnet runs (its counters are read)
    let entry = view
        .layers()
        .first()
        .and_then(|l| {
            l.iter().find_map(|n| {
                targets
                    .relays
                    .iter()
                    .find(|r| r.id == n.id)
                    .map(|r| (*n, r))
            })
        })
        .ok_or("no layer-1 mix")?;
    let (entry_node, entry_relay) = entry;
    let exit = view
        .provider(&provider.id)
        .copied()
        .ok_or("provider not in the view")?;
    let refused_before = entry_relay.metrics.drop_not_previous_hop.load(Relaxed);
    let forwarded_before = entry_relay.metrics.forwarded.load(Relaxed);
    let stored_before = stored(provider, &mailbox_id);

    let mut stream = control
        .open_stream(entry_relay.peer, SPHINX_PROTOCOL)
        .await
        .map_err(|e| format!("cannot reach the layer-1 mix: {e}"))?;
    let mut sent = 0u64;
    for id in 0..PACKETS as u64 {
        let route = [
            entry_node,
            view.random_mix(1, &mut rng).map_err(|e| e.to_string())?,
            view.random_mix(2, &mut rng).map_err(|e| e.to_string())?,
            exit,
        ];
        // a well-formed stored payload (sealed, with a slot), so that only the entry rule
        // can keep it out of the mailbox
        let cover = view
            .forward_route(&mut rng, &exit.id, &exit.id)
            .map_err(|e| e.to_string())?;
        let key = wesh_mix::ReceiveKey::random(&mut rng).public();
        let loop_payload = MixPayload::Loop { id };
        let plaintext = wesh_mix::seal_with_cover_over(&mut rng, &cover, &key, &loop_payload)
            .map_err(|e| e.to_string())?;
        let packet = build_packet(
            &mut rng,
            &route,
            NodeId(mailbox_id.0),
            &plaintext,
            &[Duration::ZERO; 4],
        )
        .map_err(|e| e.to_string())?;
        if stream.write_all(&packet).await.is_err() {
            break;
        }
        sent += 1;
    }
    let _ = stream.flush().await;
    // until the mix has judged every frame (or one got through), at most CROSSING: a
    // loaded machine may take longer than a fixed pause to read them
    let judged = || {
        let delivered = stored(provider, &mailbox_id).saturating_sub(stored_before);
        let refused = entry_relay
            .metrics
            .drop_not_previous_hop
            .load(Relaxed)
            .saturating_sub(refused_before);
        (delivered, refused)
    };
    let by = std::time::Instant::now() + CROSSING;
    while judged().1 < sent && std::time::Instant::now() < by {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // what got through would have crossed the mixnet by now
    tokio::time::sleep(SETTLE).await;
    let (delivered, refused_at_entry) = judged();

    let mut observed = BTreeMap::new();
    observed.insert("packets_sent".into(), json!(sent));
    observed.insert("delivered_to_mailbox".into(), json!(delivered));
    observed.insert("refused_at_layer_1".into(), json!(refused_at_entry));
    observed.insert(
        "layer_1_forwarded_meanwhile".into(),
        json!(
            entry_relay
                .metrics
                .forwarded
                .load(Relaxed)
                .saturating_sub(forwarded_before)
        ),
    );
    Ok(AttackReport {
        refused: sent > 0 && delivered == 0 && refused_at_entry >= sent,
        observed,
    })
}

/// Payloads ever stored in `mailbox` at `provider` (the judge reads the store).
fn stored(provider: &super::RelayTarget, mailbox: &wesh_mix::MailboxId) -> u64 {
    provider
        .mailboxes
        .as_ref()
        .and_then(|m| m.stats(&mailbox.0).ok().flatten())
        .map_or(0, |u| u.next_seq)
}
