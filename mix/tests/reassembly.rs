//! Reassembly: any order, duplicates ignored, bad fragments refused, bounded memory, timeouts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use std::time::Duration;
use wesh_mix::params::{FRAGMENT_DATA_BYTES, MAX_MESSAGE_BYTES, REASSEMBLY_FRAGMENT_CHARGE};
use wesh_mix::*;

fn split(len: usize, seed: u64) -> (MessageId, Vec<u8>, Vec<Fragment>) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let msg: Vec<u8> = (0..len).map(|i| (i * 7 + seed as usize) as u8).collect();
    let (id, frags) = split_message(&mut rng, &msg).unwrap();
    (id, msg, frags)
}

fn limits(max_bytes: usize, max_messages: usize) -> ReassemblyLimits {
    ReassemblyLimits {
        max_bytes,
        max_messages,
        max_message_bytes: MAX_MESSAGE_BYTES,
        idle_timeout: Duration::from_secs(60),
    }
}

const T0: Duration = Duration::from_secs(1);

#[test]
fn out_of_order_with_duplicates_completes_once() {
    let (id, msg, frags) = split(5 * FRAGMENT_DATA_BYTES + 3, 1);
    let mut r = Reassembler::new(ReassemblyLimits::default());
    for i in [5, 2, 2, 0, 3, 0] {
        let got = r.accept(frags[i].clone(), T0).unwrap();
        assert!(matches!(got, Accepted::Stored { .. } | Accepted::Duplicate));
    }
    assert_eq!(r.accept(frags[2].clone(), T0).unwrap(), Accepted::Duplicate);
    assert_eq!(r.reserved_bytes(), 4 * REASSEMBLY_FRAGMENT_CHARGE);
    assert!(matches!(
        r.accept(frags[1].clone(), T0).unwrap(),
        Accepted::Stored {
            received: 5,
            count: 6
        }
    ));
    assert_eq!(
        r.accept(frags[4].clone(), T0).unwrap(),
        Accepted::Complete { id, bytes: msg }
    );
    assert_eq!((r.in_progress(), r.reserved_bytes()), (0, 0));
    // a late retransmission of a finished message does not start a new reassembly
    assert_eq!(r.accept(frags[3].clone(), T0).unwrap(), Accepted::Duplicate);
    assert_eq!(r.in_progress(), 0);
}

#[test]
fn single_fragment_and_empty_messages() {
    let mut r = Reassembler::new(ReassemblyLimits::default());
    for len in [0, 1, FRAGMENT_DATA_BYTES] {
        let (id, msg, frags) = split(len, len as u64);
        assert_eq!(frags.len(), 1);
        assert_eq!(
            r.accept(frags[0].clone(), T0).unwrap(),
            Accepted::Complete { id, bytes: msg }
        );
        assert_eq!(r.accept(frags[0].clone(), T0).unwrap(), Accepted::Duplicate);
    }
}

#[test]
fn inconsistent_and_malformed_fragments_are_rejected() {
    let (_, _, frags) = split(3 * FRAGMENT_DATA_BYTES, 2);
    let mut r = Reassembler::new(ReassemblyLimits::default());
    r.accept(frags[0].clone(), T0).unwrap();
    // same message id, different (but self-consistent) geometry
    let mut other = frags[1].clone();
    other.total_len = (4 * FRAGMENT_DATA_BYTES) as u32;
    other.count = 4;
    assert_eq!(
        r.accept(other, T0).unwrap_err(),
        ReassemblyError::Inconsistent
    );
    // count mismatch, index out of range, wrong size, oversize: typed, nothing stored
    let mut f = frags[1].clone();
    f.count = 7;
    assert!(matches!(
        r.accept(f, T0),
        Err(ReassemblyError::Malformed(
            FragmentError::CountMismatch { .. }
        ))
    ));
    let mut f = frags[1].clone();
    f.index = 3;
    assert!(matches!(
        r.accept(f, T0),
        Err(ReassemblyError::Malformed(
            FragmentError::IndexOutOfRange { .. }
        ))
    ));
    let mut f = frags[1].clone();
    f.data.truncate(10);
    assert!(matches!(
        r.accept(f, T0),
        Err(ReassemblyError::Malformed(
            FragmentError::WrongDataLength { .. }
        ))
    ));
    let mut f = frags[1].clone();
    f.total_len = (MAX_MESSAGE_BYTES + 1) as u32;
    assert!(matches!(
        r.accept(f, T0),
        Err(ReassemblyError::Malformed(
            FragmentError::MessageTooLong { .. }
        ))
    ));
    assert_eq!(r.in_progress(), 1);
    assert_eq!(r.reserved_bytes(), REASSEMBLY_FRAGMENT_CHARGE);
}

#[test]
fn truncated_and_garbage_payloads_are_errors_not_panics() {
    let (_, _, frags) = split(2 * FRAGMENT_DATA_BYTES, 3);
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let n = {
        let topo_nodes: Vec<RouteNode> = (0..5u8)
            .map(|t| RouteNode {
                id: NodeId([t + 1; 32]),
                sphinx_key: x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(
                    [t + 1; 32],
                )),
            })
            .collect();
        topo_nodes
    };
    let zero = [Duration::ZERO; 5];
    let route = SlotRoute {
        route: &n,
        delays: &zero,
    };
    let slot = AckSlot::cover(&mut rng, route, route).unwrap();
    let keys = ClientKeys::from_ed25519_seed(&[2; 32]);
    let fragment = MixPayload::Fragment {
        fragment: frags[0].clone(),
    };
    let good = seal_delivery(&mut rng, &slot, &keys.identity.public(), &fragment).unwrap();
    assert_eq!(
        good.len(),
        params::MAX_PLAINTEXT_BYTES,
        "every stored payload fills a packet"
    );
    let inner = fragment.encode();
    for cut in (0..inner.len()).step_by(13) {
        assert!(MixPayload::decode(&inner[..cut]).is_err(), "cut {cut}");
    }
    // an unknown fragment version is a typed error
    let mut bad = inner.clone();
    bad[1] = 2;
    assert_eq!(
        MixPayload::decode(&bad),
        Err(PayloadError::Fragment(FragmentError::UnsupportedVersion(2)))
    );
    let mut c = ClientTraffic::new(
        ClientAddress {
            provider: NodeId([1; 32]),
            client: ClientKeys::id_of_seed(&[2; 32]),
        },
        keys,
        ClientTrafficConfig::default(),
        Duration::ZERO,
        [1; 32],
    )
    .unwrap();
    assert!(matches!(
        c.on_received(&good, T0)[..],
        [] | [ClientEvent::MessageReceived { .. }]
    ));
    let ev = c.on_received(&good[..good.len() - 1], T0);
    assert!(matches!(ev[..], [ClientEvent::Rejected(_)]));
    assert!(matches!(
        c.on_received(&[], T0)[..],
        [ClientEvent::Rejected(RejectReason::Payload(
            PayloadError::WrongLength(0)
        ))]
    ));
}

#[test]
fn memory_and_message_bounds_are_enforced_by_evicting_the_longest_idle() {
    let (id_a, _, a) = split(4 * FRAGMENT_DATA_BYTES, 10);
    let (id_b, _, b) = split(4 * FRAGMENT_DATA_BYTES, 11);
    let (_, msg_c, c) = split(2 * FRAGMENT_DATA_BYTES, 12);
    let t1 = T0 + Duration::from_secs(1);
    // two messages at most: a third evicts the one idle the longest
    let mut r = Reassembler::new(limits(usize::MAX, 2));
    r.accept(a[0].clone(), T0).unwrap();
    r.accept(b[0].clone(), t1).unwrap();
    r.accept(c[0].clone(), t1).unwrap();
    let evicted = r.take_evicted();
    assert_eq!(evicted.len(), 1);
    assert_eq!(evicted[0].id, id_a);
    assert_eq!(r.in_progress(), 2);
    // three fragments' worth: the bytes bound holds, the oldest goes first
    let mut r = Reassembler::new(limits(3 * REASSEMBLY_FRAGMENT_CHARGE, 10));
    r.accept(a[3].clone(), T0).unwrap();
    r.accept(b[1].clone(), T0).unwrap();
    r.accept(b[2].clone(), t1).unwrap();
    assert_eq!(r.reserved_bytes(), 3 * REASSEMBLY_FRAGMENT_CHARGE);
    r.accept(c[1].clone(), t1).unwrap();
    assert_eq!(r.take_evicted()[0].id, id_a);
    assert_eq!(
        r.accept(c[0].clone(), t1).unwrap(),
        Accepted::Complete {
            id: c[0].message,
            bytes: msg_c
        }
    );
    assert!(r.holds(&id_b, 1) && r.holds(&id_b, 2));
    assert_eq!(r.reserved_bytes(), 2 * REASSEMBLY_FRAGMENT_CHARGE);
    // limits below one fragment: refused, never a panic
    let mut r = Reassembler::new(limits(REASSEMBLY_FRAGMENT_CHARGE - 1, 10));
    assert!(matches!(
        r.accept(a[0].clone(), T0).unwrap_err(),
        ReassemblyError::MemoryFull { .. }
    ));
}

#[test]
fn idle_messages_time_out_and_are_reported() {
    let (id_a, _, a) = split(3 * FRAGMENT_DATA_BYTES, 20);
    let (id_b, msg_b, b) = split(2 * FRAGMENT_DATA_BYTES, 21);
    let mut r = Reassembler::new(limits(usize::MAX, 10));
    r.accept(a[0].clone(), Duration::from_secs(0)).unwrap();
    r.accept(b[0].clone(), Duration::from_secs(0)).unwrap();
    r.accept(a[1].clone(), Duration::from_secs(30)).unwrap();
    assert_eq!(r.next_deadline(), Some(Duration::from_secs(60)));
    assert!(r.expire(Duration::from_secs(59)).is_empty());
    let gone = r.expire(Duration::from_secs(60));
    assert_eq!(
        gone,
        vec![Abandoned {
            id: id_b,
            received: 1,
            count: 2
        }]
    );
    assert_eq!(r.reserved_bytes(), 2 * REASSEMBLY_FRAGMENT_CHARGE);
    // progress at 30 s keeps a alive until 90 s
    assert_eq!(r.next_deadline(), Some(Duration::from_secs(90)));
    let gone = r.expire(Duration::from_secs(90));
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].id, id_a);
    assert_eq!(
        (r.in_progress(), r.reserved_bytes(), r.next_deadline()),
        (0, 0, None)
    );
    // b's remaining fragments now start over (and can still complete from scratch)
    r.accept(b[1].clone(), Duration::from_secs(100)).unwrap();
    assert_eq!(
        r.accept(b[0].clone(), Duration::from_secs(100)).unwrap(),
        Accepted::Complete {
            id: id_b,
            bytes: msg_b
        }
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any size, any delivery order, any duplicates: exactly one intact message comes out,
    /// on the last distinct fragment.
    #[test]
    fn fragment_reassemble_round_trip(
        len in 0usize..40_000,
        seed in any::<u64>(),
        order in proptest::collection::vec(any::<u32>(), 0..80),
    ) {
        let (id, msg, frags) = split(len, seed);
        let n = frags.len();
        // a permutation from the random keys, plus duplicates drawn from the same keys
        let mut sequence: Vec<usize> = (0..n).collect();
        let mut keys: Vec<(u32, usize)> = sequence
            .iter()
            .map(|&i| (order.get(i).copied().unwrap_or(i as u32), i))
            .collect();
        keys.sort();
        sequence = keys.into_iter().map(|(_, i)| i).collect();
        for (k, key) in order.iter().enumerate() {
            let dup = (*key as usize) % n;
            let at = k % (sequence.len() + 1);
            sequence.insert(at, dup);
        }
        let mut r = Reassembler::new(ReassemblyLimits::default());
        let mut seen = std::collections::HashSet::new();
        let mut completed = Vec::new();
        for i in sequence {
            // wire round trip too
            let f = Fragment::decode(&frags[i].encode()).unwrap();
            let first = seen.insert(i);
            match r.accept(f, T0).unwrap() {
                Accepted::Complete { id: got, bytes } => {
                    prop_assert!(first);
                    prop_assert_eq!(seen.len(), n);
                    prop_assert_eq!(got, id);
                    completed.push(bytes);
                }
                Accepted::Stored { received, count } => {
                    prop_assert!(first);
                    prop_assert_eq!(received as usize, seen.len());
                    prop_assert_eq!(count as usize, n);
                }
                Accepted::Duplicate => prop_assert!(!first || seen.len() > n),
            }
        }
        prop_assert_eq!(completed.len(), 1);
        prop_assert_eq!(&completed[0], &msg);
        prop_assert_eq!(r.reserved_bytes(), 0);
    }
}
