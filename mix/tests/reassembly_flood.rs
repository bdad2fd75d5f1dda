//! A flood of first fragments claiming huge messages (issue 15 item 4): it must neither
//! reserve what it only claims nor keep honest messages out, and idle partial messages go.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use std::time::Duration;
use wesh_mix::fragment::fragment_count;
use wesh_mix::params::{
    FRAGMENT_DATA_BYTES, MAX_MESSAGE_BYTES, REASSEMBLY_FRAGMENT_CHARGE, REASSEMBLY_IDLE_TIMEOUT,
};
use wesh_mix::*;

const T0: Duration = Duration::from_secs(1);

/// The first fragment of a message that will never be sent, claiming `claim` bytes.
fn claim(seed: u64, claim: usize) -> Fragment {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    Fragment {
        message: MessageId::random(&mut rng),
        total_len: claim as u32,
        index: 0,
        count: fragment_count(claim) as u32,
        data: vec![0xAA; FRAGMENT_DATA_BYTES],
    }
}

fn honest(seed: u64, len: usize) -> (Vec<u8>, Vec<Fragment>) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let msg: Vec<u8> = (0..len).map(|i| (i as u8) ^ (seed as u8)).collect();
    let (_, frags) = split_message(&mut rng, &msg).unwrap();
    (msg, frags)
}

fn complete(r: &mut Reassembler, frags: &[Fragment], now: Duration) -> Option<Vec<u8>> {
    let mut out = None;
    for f in frags {
        if let Accepted::Complete { bytes, .. } = r.accept(f.clone(), now).unwrap() {
            out = Some(bytes);
        }
    }
    out
}

#[test]
fn sixteen_claims_of_4_mib_do_not_block_an_honest_message() {
    let mut r = Reassembler::new(ReassemblyLimits::default());
    for seed in 0..16 {
        r.accept(claim(seed, MAX_MESSAGE_BYTES), T0).unwrap();
    }
    // what is held is what arrived, not what was claimed
    assert_eq!(r.in_progress(), 16);
    assert_eq!(r.reserved_bytes(), 16 * REASSEMBLY_FRAGMENT_CHARGE);
    let (msg, frags) = honest(100, 3 * FRAGMENT_DATA_BYTES - 10);
    assert_eq!(frags.len(), 3);
    assert_eq!(complete(&mut r, &frags, T0), Some(msg));
    assert_eq!(r.in_progress(), 16);
}

#[test]
fn a_full_budget_evicts_the_longest_idle_partial_not_the_newcomer() {
    // room for 8 fragments: the flood fills it, an honest message still completes
    let limits = ReassemblyLimits {
        max_bytes: 8 * REASSEMBLY_FRAGMENT_CHARGE,
        max_messages: 1_000,
        max_message_bytes: MAX_MESSAGE_BYTES,
        idle_timeout: Duration::from_secs(60),
    };
    let mut r = Reassembler::new(limits);
    for seed in 0..8 {
        r.accept(claim(seed, MAX_MESSAGE_BYTES), T0).unwrap();
    }
    assert_eq!(r.reserved_bytes(), limits.max_bytes);
    let (msg, frags) = honest(200, 3 * FRAGMENT_DATA_BYTES);
    let later = T0 + Duration::from_secs(1);
    // the flood goes on between the honest fragments: each newcomer evicts the oldest
    r.accept(frags[0].clone(), later).unwrap();
    r.accept(claim(50, MAX_MESSAGE_BYTES), later).unwrap();
    r.accept(frags[1].clone(), later).unwrap();
    r.accept(claim(51, MAX_MESSAGE_BYTES), later).unwrap();
    let done = r.accept(frags[2].clone(), later).unwrap();
    assert_eq!(
        done,
        Accepted::Complete {
            id: frags[0].message,
            bytes: msg
        }
    );
    assert!(r.reserved_bytes() <= limits.max_bytes);
    let evicted = r.take_evicted();
    assert_eq!(
        evicted.len(),
        4,
        "each of the four arrivals that needed room evicted one idle claim"
    );
    assert!(evicted.iter().all(|a| a.received == 1));
    assert!(r.take_evicted().is_empty(), "each eviction reported once");
}

#[test]
fn the_message_count_budget_also_evicts_rather_than_refuses() {
    let limits = ReassemblyLimits {
        max_bytes: usize::MAX,
        max_messages: 4,
        max_message_bytes: MAX_MESSAGE_BYTES,
        idle_timeout: Duration::from_secs(60),
    };
    let mut r = Reassembler::new(limits);
    for seed in 0..4 {
        r.accept(claim(seed, 2 * FRAGMENT_DATA_BYTES), T0).unwrap();
    }
    let (msg, frags) = honest(300, 2 * FRAGMENT_DATA_BYTES + 1);
    assert_eq!(
        complete(&mut r, &frags, T0 + Duration::from_secs(1)),
        Some(msg)
    );
    assert_eq!(r.take_evicted().len(), 1);
    assert!(r.in_progress() <= 4);
}

#[test]
fn a_claim_beyond_the_per_message_budget_is_refused() {
    let limits = ReassemblyLimits {
        max_message_bytes: 64 * 1024,
        ..ReassemblyLimits::default()
    };
    let mut r = Reassembler::new(limits);
    assert!(matches!(
        r.accept(claim(1, 64 * 1024 + 1), T0),
        Err(ReassemblyError::TooLarge { .. })
    ));
    assert_eq!((r.in_progress(), r.reserved_bytes()), (0, 0));
    r.accept(claim(2, 64 * 1024), T0).unwrap();
}

#[test]
fn idle_claims_expire_after_the_idle_limit() {
    let mut r = Reassembler::new(ReassemblyLimits::default());
    for seed in 0..16 {
        r.accept(claim(seed, MAX_MESSAGE_BYTES), T0).unwrap();
    }
    assert_eq!(r.next_deadline(), Some(T0 + REASSEMBLY_IDLE_TIMEOUT));
    assert!(
        r.expire(T0 + REASSEMBLY_IDLE_TIMEOUT - Duration::from_secs(1))
            .is_empty()
    );
    assert_eq!(r.expire(T0 + REASSEMBLY_IDLE_TIMEOUT).len(), 16);
    assert_eq!((r.in_progress(), r.reserved_bytes()), (0, 0));
}

#[test]
fn holds_says_which_fragments_the_reassembler_keeps() {
    let mut r = Reassembler::new(ReassemblyLimits::default());
    let (_, frags) = honest(400, 2 * FRAGMENT_DATA_BYTES);
    r.accept(frags[0].clone(), T0).unwrap();
    assert!(r.holds(&frags[0].message, 0));
    assert!(!r.holds(&frags[0].message, 1));
    r.accept(frags[1].clone(), T0).unwrap();
    assert!(!r.holds(&frags[0].message, 0), "complete: nothing held");
}

/// The client core: the same 16 packets aimed at a client do not block its messages.
#[test]
fn a_client_still_receives_multi_fragment_messages_under_the_flood() {
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let nodes: Vec<RouteNode> = (0..5u8)
        .map(|t| RouteNode {
            id: NodeId([t + 1; 32]),
            sphinx_key: x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(
                [t + 1; 32],
            )),
        })
        .collect();
    let zero = [Duration::ZERO; 5];
    let keys = ClientKeys::from_ed25519_seed(&[2; 32]);
    let to = keys.identity.public();
    let mut payload = |fragment: Fragment| {
        let r = SlotRoute {
            route: &nodes,
            delays: &zero,
        };
        let slot = AckSlot::cover(&mut rng, r, r).unwrap();
        seal_delivery(&mut rng, &slot, &to, &MixPayload::Fragment { fragment }).unwrap()
    };
    let mut c = ClientTraffic::new(
        ClientAddress {
            provider: NodeId([1; 32]),
            client: ClientKeys::id_of_seed(&[2; 32]),
        },
        keys.clone(),
        ClientTrafficConfig::default(),
        Duration::ZERO,
        [1; 32],
    )
    .unwrap();
    for seed in 0..16 {
        assert!(
            c.on_received(&payload(claim(seed, MAX_MESSAGE_BYTES)), T0)
                .is_empty()
        );
    }
    let (msg, frags) = honest(500, 3 * FRAGMENT_DATA_BYTES - 1);
    let mut events = Vec::new();
    for f in frags {
        events.extend(c.on_received(&payload(f), T0));
    }
    assert!(
        matches!(&events[..], [ClientEvent::MessageReceived { bytes, .. }] if *bytes == msg),
        "{events:?}"
    );
}

/// The final hop cannot read what it stores (issue 15 item 6), so it no longer refuses a
/// fragment its recipient will drop, as it did for item 4: it stores and fires the slot of
/// any well-formed stored payload and refuses anything else. A false ack only fools the
/// sender that crafted the fragment; the recipient's budgets still bound what it holds.
#[test]
fn the_final_hop_stores_and_acks_every_well_formed_payload_and_nothing_else() {
    let mut rng = ChaCha20Rng::seed_from_u64(10);
    let nodes: Vec<RouteNode> = (0..5u8)
        .map(|t| RouteNode {
            id: NodeId([t + 1; 32]),
            sphinx_key: x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(
                [t + 1; 32],
            )),
        })
        .collect();
    let zero = [Duration::ZERO; 5];
    let r = SlotRoute {
        route: &nodes,
        delays: &zero,
    };
    let slot = AckSlot::cover(&mut rng, r, r).unwrap();
    let key = ClientKeys::from_ed25519_seed(&[4; 32]).identity.public();
    let mut oversized = claim(2, MAX_MESSAGE_BYTES);
    oversized.total_len = (MAX_MESSAGE_BYTES + 1) as u32;
    let payload = MixPayload::Fragment {
        fragment: oversized,
    };
    let good = seal_delivery(&mut rng, &slot, &key, &payload).unwrap();
    assert!(provider_ack::storable(&good));
    let provider = NodeId([1; 32]);
    assert_eq!(
        ack_after_store(&provider, &mut rng, &good)
            .unwrap()
            .first_hop,
        provider,
        "the slot's first hop is the provider that stored the payload"
    );
    assert!(!provider_ack::storable(&good[..good.len() - 1]));
    assert!(!provider_ack::storable(&MixPayload::Drop.encode()));
    assert!(!provider_ack::storable(
        &MixPayload::Real(b"x".to_vec()).encode()
    ));
    assert!(ack_after_store(&provider, &mut rng, b"junk").is_err());
}
