//! `reassembly-flood`: an attacker client sends first fragments that claim 4 MiB messages
//! (crafted with the mix core's fragment encoder, through the mixnet like any packet) to a
//! rendezvous desk's service mailbox and to an honest client's mailbox, then an honest
//! multi-fragment message to each (three fragments to the client; to the desk a
//! registration carrying three reply blocks, five fragments). Before the fix each claim reserved 4 MiB at the
//! receiver: 16 of them filled the 64 MiB budget, the client refused every multi-fragment
//! message and the desk stopped reading its mailbox. Refused when both honest messages
//! arrive while the flood is held, and what the receivers hold stays within their budgets
//! (far below what the flood claimed).

use super::{AttackReport, AttackTargets};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use wesh_client::messenger::rendezvous_wire::{
    RendezvousFrame, RendezvousUpdate, rendezvous_service_mailbox,
};
use wesh_mix::fragment::fragment_count;
use wesh_mix::params::{
    FRAGMENT_DATA_BYTES, MAX_MESSAGE_BYTES, OWN_MAILBOX_REASSEMBLY_MAX_BYTES,
    REASSEMBLY_FRAGMENT_CHARGE, REASSEMBLY_MAX_BYTES,
};
use wesh_mix::{ClientAddress, ClientTrafficConfig, Fragment, MessageId, MixPayload, NodeId};
use wesh_shell::drivers::client_traffic::ClientEvent;

/// First fragments per target, each claiming [`MAX_MESSAGE_BYTES`] (16 × 4 MiB = the old
/// 64 MiB budget).
const CLAIMS: usize = 16;
/// The attacker's real-stream rate (packets/s): the flood leaves in about a second.
const ATTACK_RATE: f64 = 40.0;
/// How long the honest messages may take to arrive.
const ARRIVAL_TIMEOUT: Duration = Duration::from_secs(25);
/// Longest the flood is given to reach its targets before the honest messages leave: they
/// leave as soon as the victim holds every claim (the victim drains its mailbox at its
/// profile's pull rate, beside its honest traffic).
const FLOOD_SETTLE: Duration = Duration::from_secs(15);

/// A first fragment claiming a 4 MiB message that will never be sent (the client core seals
/// it like any payload; its slot is cover, since the attacker does not want acks).
fn claim(rng: &mut ChaCha20Rng) -> Option<MixPayload> {
    let fragment = Fragment {
        message: MessageId::random(rng),
        total_len: u32::try_from(MAX_MESSAGE_BYTES).ok()?,
        index: 0,
        count: u32::try_from(fragment_count(MAX_MESSAGE_BYTES)).ok()?,
        data: vec![0xA5; FRAGMENT_DATA_BYTES],
    };
    Some(MixPayload::Fragment { fragment })
}

pub async fn run(targets: &AttackTargets) -> AttackReport {
    match attack(targets).await {
        Ok(report) => report,
        Err(why) => AttackReport::not_run(why),
    }
}

async fn attack(targets: &AttackTargets) -> Result<AttackReport, String> {
    let (Some(desk), Some(desk_node)) = (targets.desks.first(), targets.desk_nodes.first()) else {
        return Err("no rendezvous desk in the testnet".into());
    };
    let desk_store = targets
        .relays
        .iter()
        .find(|r| r.id == *desk_node)
        .and_then(|r| r.mailboxes.clone())
        .ok_or("the desk's mailbox store is not reachable")?;
    let (attacker, _attacker_events) =
        super::start_observed_client(targets, 0, ATTACK_RATE).await?;
    let (victim, mut victim_events) =
        super::start_observed_client(targets, 1, ClientTrafficConfig::default().real_rate).await?;
    let desk_address = ClientAddress {
        provider: *desk_node,
        client: NodeId(rendezvous_service_mailbox()),
    };
    let victim_address = victim.handle.address;
    let service_mailbox = rendezvous_service_mailbox();
    let desk_before = desk.stats();

    // 1. the flood: 16 claims of 4 MiB at each target
    let mut rng = ChaCha20Rng::from_rng(&mut rand::rng());
    for to in [desk_address, victim_address] {
        for _ in 0..CLAIMS {
            let payload = claim(&mut rng).ok_or("cannot craft a claim")?;
            attacker
                .handle
                .send_payload(to, payload, None)
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    let settle_until = Instant::now() + FLOOD_SETTLE;
    let (victim_held_after_flood, victim_partials_after_flood) = loop {
        let held = victim
            .handle
            .reassembly_held()
            .await
            .map_err(|e| e.to_string())?;
        if held.1 >= CLAIMS || Instant::now() >= settle_until {
            break held;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    // 2. honest three-fragment messages to the same targets
    let honest_len = 3 * FRAGMENT_DATA_BYTES - 100;
    let to_victim: Vec<u8> = (0..honest_len).map(|i| (i % 251) as u8).collect();
    // to the desk: a registration with three reply blocks (about 4 KiB, several fragments)
    let (blocks, life) = attacker
        .handle
        .reply_surbs(*desk_node, 3)
        .await
        .map_err(|e| e.to_string())?;
    let update = RendezvousFrame::Update(RendezvousUpdate {
        mailbox: rand::random(),
        auth: rand::random::<[u8; 32]>().into(),
        seq: 1,
        revoke: false,
        acks: Vec::new(),
        surbs: blocks.iter().map(wesh_mix::ReplySurb::to_bytes).collect(),
        surbs_expire_at: life.expire_at_ms,
    })
    .encode();
    attacker
        .handle
        .send_message(victim_address, to_victim.clone())
        .await
        .map_err(|e| e.to_string())?;
    attacker
        .handle
        .send_message(desk_address, update)
        .await
        .map_err(|e| e.to_string())?;

    // 3. did they arrive, and what do the receivers hold?
    let started = Instant::now();
    let mut victim_got = false;
    let mut desk_got = false;
    let mut peak_desk_mailbox = 0u32;
    while started.elapsed() < ARRIVAL_TIMEOUT && !(victim_got && desk_got) {
        while let Ok(ev) = victim_events.try_recv() {
            if let ClientEvent::MessageReceived { bytes, .. } = ev
                && bytes == to_victim
            {
                victim_got = true;
            }
        }
        desk_got = desk.stats().updates > desk_before.updates;
        if let Ok(Some(usage)) = desk_store.stats(&service_mailbox) {
            peak_desk_mailbox = peak_desk_mailbox.max(usage.count);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (victim_held, victim_partials) = victim
        .handle
        .reassembly_held()
        .await
        .map_err(|e| e.to_string())?;
    let desk_mailbox_now = desk_store
        .stats(&service_mailbox)
        .ok()
        .flatten()
        .map_or(0, |u| u.count);
    attacker.shutdown();
    victim.shutdown();

    let claimed = CLAIMS * MAX_MESSAGE_BYTES;
    // what the desk's reader holds are the fragments it keeps in its service mailbox
    let desk_held_bound = (peak_desk_mailbox as usize) * REASSEMBLY_FRAGMENT_CHARGE;
    let victim_within = victim_held.max(victim_held_after_flood) <= REASSEMBLY_MAX_BYTES
        && victim_held_after_flood < claimed;
    let desk_within = desk_held_bound <= OWN_MAILBOX_REASSEMBLY_MAX_BYTES;
    let flood_landed = victim_partials_after_flood >= CLAIMS;
    let refused = victim_got && desk_got && victim_within && desk_within && flood_landed;
    let mut observed = BTreeMap::new();
    observed.insert("claims_per_target".into(), json!(CLAIMS));
    observed.insert("bytes_claimed_per_target".into(), json!(claimed));
    observed.insert("honest_to_client_arrived".into(), json!(victim_got));
    observed.insert("honest_to_desk_arrived".into(), json!(desk_got));
    observed.insert(
        "client_partials_after_flood".into(),
        json!(victim_partials_after_flood),
    );
    observed.insert(
        "client_held_bytes_after_flood".into(),
        json!(victim_held_after_flood),
    );
    observed.insert("client_held_bytes_at_end".into(), json!(victim_held));
    observed.insert("client_partials_at_end".into(), json!(victim_partials));
    observed.insert("client_budget_bytes".into(), json!(REASSEMBLY_MAX_BYTES));
    observed.insert(
        "desk_mailbox_payloads_peak".into(),
        json!(peak_desk_mailbox),
    );
    observed.insert(
        "desk_mailbox_payloads_at_end".into(),
        json!(desk_mailbox_now),
    );
    observed.insert("desk_held_bytes_bound".into(), json!(desk_held_bound));
    observed.insert(
        "desk_budget_bytes".into(),
        json!(OWN_MAILBOX_REASSEMBLY_MAX_BYTES),
    );
    observed.insert(
        "seconds_to_arrive".into(),
        json!((started.elapsed().as_secs_f64() * 10.0).round() / 10.0),
    );
    Ok(AttackReport { refused, observed })
}
