//! `loop-id-leak`: a provider reads what it stores for its clients. Before the fix the
//! final-hop plaintext was a bare mix payload: its kind byte told loops from real traffic,
//! loop ids followed the client's message counter (so their gaps counted messages sent),
//! and fragment headers and ack ids were in the clear; the length alone told a loop (9
//! bytes) from a fragment. The attack plays the provider: a store observer reads every
//! payload the provider stores, at the moment it is stored, and tries to read it as the
//! old format would let it. A client of the attack's own at that provider meanwhile sends
//! a reliable message to itself, so that its mailbox receives loops, fragments and acks.
//! Refused when the provider stored payloads of every kind (the client saw its loops come
//! back and its message delivered) and yet none of them decodes as a structured mix
//! payload and all have one length.

use super::{AttackReport, AttackTargets};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};
use wesh_mix::MixPayload;
use wesh_mix::params::DELIVERY_BYTES;
use wesh_shell::drivers::client_traffic::ClientEvent;
use wesh_shell::storage::MailboxStore;

/// How long the attack watches.
const WATCH: Duration = Duration::from_secs(20);
/// The client's real-stream rate (packets/s).
const RATE: f64 = 4.0;

/// What the curious provider saw.
#[derive(Default)]
struct Seen {
    payloads: u64,
    lengths: BTreeSet<usize>,
    /// Payloads that decode as a bare mix payload of a kind with structure (loop, drop,
    /// ack, fragment, SURB data). A real message's body is any bytes, so one payload in
    /// 256 "reads" as real by its first byte alone and tells nothing: not counted.
    readable: u64,
    /// Of those, loops (whose ids it could read).
    loop_ids_read: u64,
    /// The last seq read per mailbox.
    cursor: HashMap<[u8; 32], u64>,
}

pub async fn run(targets: &AttackTargets) -> AttackReport {
    match attack(targets).await {
        Ok(report) => report,
        Err(why) => AttackReport::not_run(why),
    }
}

async fn attack(targets: &AttackTargets) -> Result<AttackReport, String> {
    let (client, mut events) = super::start_observed_client(targets, 0, RATE).await?;
    let me = client.handle.address;
    let store = targets
        .relays
        .iter()
        .find(|r| r.id == me.provider)
        .and_then(|r| r.mailboxes.clone())
        .ok_or("the client's provider keeps no mailbox store")?;
    let seen = Arc::new(Mutex::new(Seen::default()));
    spy(&store, me.client.0, seen.clone());

    let message: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    let id = client
        .handle
        .send_message(me, message)
        .await
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let (mut loops_back, mut delivered, mut received) = (0u64, false, false);
    while started.elapsed() < WATCH && !(delivered && received && loops_back >= 3) {
        while let Ok(ev) = events.try_recv() {
            match ev {
                ClientEvent::Received {
                    payload: MixPayload::Loop { .. },
                    ..
                } => loops_back += 1,
                ClientEvent::MessageDelivered { id: d, .. } if d == id => delivered = true,
                ClientEvent::MessageReceived { .. } => received = true,
                _ => {}
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    client.shutdown();
    let seen = seen.lock().unwrap_or_else(PoisonError::into_inner);
    let one_length = seen.lengths.len() == 1 && seen.lengths.contains(&DELIVERY_BYTES);
    let refused = loops_back > 0 && delivered && received && seen.readable == 0 && one_length;
    let mut observed = BTreeMap::new();
    observed.insert(
        "payloads_stored_for_the_client".into(),
        json!(seen.payloads),
    );
    observed.insert("distinct_lengths".into(), json!(seen.lengths));
    observed.insert("readable_as_mix_payloads".into(), json!(seen.readable));
    observed.insert("loop_ids_read".into(), json!(seen.loop_ids_read));
    observed.insert("client_loops_returned".into(), json!(loops_back));
    observed.insert("client_message_delivered".into(), json!(delivered));
    observed.insert("client_message_received".into(), json!(received));
    Ok(AttackReport { refused, observed })
}

/// The curious provider: on every store into `mailbox`, reads the new payloads before the
/// client can pull them, and tries the old format on each.
fn spy(store: &Arc<MailboxStore>, mailbox: [u8; 32], seen: Arc<Mutex<Seen>>) {
    let weak: Weak<MailboxStore> = Arc::downgrade(store);
    store.observe_stores(Arc::new(move |stored: &[u8; 32]| {
        if *stored != mailbox {
            return;
        }
        let Some(store) = weak.upgrade() else { return };
        let mut seen = seen.lock().unwrap_or_else(PoisonError::into_inner);
        let from = seen.cursor.get(&mailbox).map_or(0, |c| c + 1);
        let Ok(items) = store.fetch_from(stored, from, 64, wesh_shell::clock::unix_now()) else {
            return;
        };
        for (seq, payload) in items {
            seen.cursor.insert(mailbox, seq);
            seen.payloads += 1;
            seen.lengths.insert(payload.len());
            if let Ok(p) = MixPayload::decode(&payload)
                && !matches!(p, MixPayload::Real(_))
            {
                seen.readable += 1;
                if matches!(p, MixPayload::Loop { .. }) {
                    seen.loop_ids_read += 1;
                }
            }
        }
    }));
}
