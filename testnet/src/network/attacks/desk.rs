//! `desk-wedge` and `desk-binding-hijack`: a rendezvous desk's internal mailboxes (the
//! drops it holds, the bindings it rebuilds at a restart) have public ids. The attacker's
//! own client sends packets addressed to them through the mixnet (to fill "held" and stop
//! the desk, or to plant a binding record that hands a responder's mailbox to it after a
//! restart), and registers them first through the mailbox protocol. Each packet reaches the
//! final hop, which either stores it or counts it as refused (`internal_refused`), so the
//! counter tells exactly what happened to all of them.

use super::{AttackReport, AttackTargets, RelayTarget, start_attacker};
use serde_json::json;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use wesh_mix::mailbox::{InternalMailbox, MailboxClient, RefusalReason, Response};
use wesh_mix::{ClientAddress, NodeId};
use wesh_shell::topology_file::Role;

/// Packets sent to each internal mailbox of each provider.
const PACKETS_PER_MAILBOX: u64 = 4;
/// The attacker's λ_P, packets/s (its provider charges it like anyone).
const ATTACK_RATE: f64 = 20.0;
/// How long the packets may take to cross the mixnet.
const PATIENCE: Duration = Duration::from_secs(15);

/// `desk-wedge` and `desk-binding-hijack` both read the providers' `internal_refused`
/// counter: one floods at a time, so each counts only its own packets.
static ONE_FLOOD: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn providers(targets: &AttackTargets) -> Vec<&RelayTarget> {
    targets
        .relays
        .iter()
        .filter(|r| r.role == Role::Provider && r.mailboxes.is_some())
        .collect()
}

fn refused_so_far(providers: &[&RelayTarget]) -> u64 {
    providers
        .iter()
        .map(|p| p.metrics.internal_refused.load(Relaxed))
        .sum()
}

fn internal_counts(providers: &[&RelayTarget]) -> u64 {
    providers
        .iter()
        .filter_map(|p| p.mailboxes.as_ref())
        .flat_map(|m| {
            InternalMailbox::ALL
                .iter()
                .filter_map(|i| m.stats(&i.id()).ok().flatten().map(|u| u64::from(u.count)))
                .collect::<Vec<_>>()
        })
        .sum()
}

/// Sends `body` to every internal mailbox of every provider from a fresh attacker client;
/// (packets sent, how many the providers refused meanwhile).
async fn flood(targets: &AttackTargets, body: &[u8]) -> Result<(u64, u64), String> {
    let ps = providers(targets);
    let home = ps.first().ok_or("no provider keeps mailboxes")?;
    let _alone = ONE_FLOOD.lock().await;
    let attacker = start_attacker(targets, home, ATTACK_RATE).await?;
    let before = refused_so_far(&ps);
    let mut sent = 0;
    for p in &ps {
        for internal in InternalMailbox::ALL {
            let to = ClientAddress {
                provider: p.id,
                client: NodeId(internal.id()),
            };
            for _ in 0..PACKETS_PER_MAILBOX {
                // an internal id is no key: the attacker seals to a key of its own, so the
                // packet is a well-formed stored payload that only the final hop's rule
                // can keep out
                let key = wesh_mix::ReceiveKey::random(&mut rand::rng()).public();
                let payload = wesh_mix::MixPayload::Real(body.to_vec());
                if attacker
                    .handle
                    .send_payload(to, payload, Some(key))
                    .await
                    .is_ok()
                {
                    sent += 1;
                }
            }
        }
    }
    // every packet ends at its final hop, stored or refused: wait for all of them
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while refused_so_far(&ps) - before < sent && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let refused = refused_so_far(&ps) - before;
    attacker.shutdown();
    Ok((sent, refused))
}

pub async fn wedge(targets: &AttackTargets) -> AttackReport {
    let ps = providers(targets);
    let held_before = internal_counts(&ps);
    match flood(targets, &[0xee; 1000]).await {
        Ok((sent, refused)) => {
            let held_after = internal_counts(&ps);
            AttackReport {
                refused: sent > 0 && refused == sent,
                observed: [
                    ("packets_sent".to_string(), json!(sent)),
                    ("refused_at_final_hop".to_string(), json!(refused)),
                    ("internal_records_before".to_string(), json!(held_before)),
                    ("internal_records_after".to_string(), json!(held_after)),
                ]
                .into_iter()
                .collect(),
            }
        }
        Err(e) => AttackReport::not_run(e),
    }
}

pub async fn binding_hijack(targets: &AttackTargets) -> AttackReport {
    // a binding record as the desk wrote them before they were sealed: the attacker's
    // secret for the mailbox [7; 32]
    let record = [[7u8; 32], [5u8; 32]].concat();
    let (sent, refused) = match flood(targets, &record).await {
        Ok(r) => r,
        Err(e) => return AttackReport::not_run(e),
    };
    // then it tries to own the internal ids through the mailbox protocol
    let ps = providers(targets);
    let (registrations, registrations_refused) = match register_internal(targets, &ps).await {
        Ok(r) => r,
        Err(e) => return AttackReport::not_run(e),
    };
    AttackReport {
        refused: sent > 0
            && refused == sent
            && registrations > 0
            && registrations_refused == registrations,
        observed: [
            ("records_sent".to_string(), json!(sent)),
            ("records_refused_at_final_hop".to_string(), json!(refused)),
            ("registrations_tried".to_string(), json!(registrations)),
            (
                "registrations_refused".to_string(),
                json!(registrations_refused),
            ),
        ]
        .into_iter()
        .collect(),
    }
}

/// Registers each provider's internal mailbox ids under the attacker's key; (tried,
/// refused as not allowed).
async fn register_internal(
    targets: &AttackTargets,
    ps: &[&RelayTarget],
) -> Result<(u64, u64), String> {
    let home = ps.first().ok_or("no provider keeps mailboxes")?;
    let attacker = start_attacker(targets, home, targets.traffic.real_rate).await?;
    let mut control = attacker.net.control.clone();
    let mut rng = <rand_chacha::ChaCha20Rng as rand::SeedableRng>::from_seed(wesh_mix::seed_from(
        &mut rand::rng(),
    ));
    let (mut tried, mut refused) = (0, 0);
    for p in ps {
        attacker.net.add_address(p.peer, p.addr.clone());
        for internal in InternalMailbox::ALL {
            let key = MailboxClient::generate(p.id, &mut rng);
            let squatter = MailboxClient::from_parts(
                p.id,
                wesh_mix::mailbox::MailboxId(internal.id()),
                &key.secret_key(),
                key.pull_secret().clone(),
            );
            tried += 1;
            let answer = tokio::time::timeout(Duration::from_secs(10), async {
                let mut s = control
                    .open_stream(p.peer, wesh_shell::mailboxes::MAILBOX_STREAM)
                    .await
                    .map_err(|e| e.to_string())?;
                wesh_shell::mailboxes::exchange::request(&mut s, &squatter.register_request())
                    .await
                    .map_err(|e| e.to_string())
            })
            .await;
            if let Ok(Ok(bytes)) = answer
                && matches!(
                    Response::decode(&bytes),
                    Ok(Response::Refused(RefusalReason::NotAllowed))
                )
            {
                refused += 1;
            }
        }
    }
    attacker.shutdown();
    Ok((tried, refused))
}
