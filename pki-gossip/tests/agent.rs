//! The PKI agent as nodes run it: publish per epoch, converge, rotate keys with grace.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ed25519_dalek::SigningKey;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use wesh_pki::{EpochClock, OwnNode, PkiAction, PkiAgent, PkiParams, Role, SphinxKeyRing, Verdict};

const EPOCH: u64 = 100;
const GRACE: u64 = 20;

fn params() -> PkiParams {
    PkiParams {
        grace_period_secs: GRACE,
        ..PkiParams::with_epoch_length(EPOCH).unwrap()
    }
}

fn relay(i: u8, role: Role, now: u64) -> PkiAgent {
    let p = params();
    let ring = SphinxKeyRing::new(EpochClock::from_params(&p).unwrap(), GRACE).unwrap();
    let own = OwnNode {
        signing_key: SigningKey::from_bytes(&[i; 32]),
        role,
        addresses: vec![format!("/ip4/127.0.0.1/tcp/{}", 4000 + u16::from(i))],
        capacity_pps: 1000,
    };
    PkiAgent::relay(p, own, ring, 0, now).unwrap()
}

fn published(actions: &[PkiAction]) -> Vec<Vec<u8>> {
    actions
        .iter()
        .filter_map(|a| {
            if let PkiAction::Publish(b) = a {
                Some(b.clone())
            } else {
                None
            }
        })
        .collect()
}

fn installed(actions: &[PkiAction]) -> Option<Vec<u64>> {
    actions.iter().find_map(|a| {
        if let PkiAction::InstallKeys(k) = a {
            Some(k.iter().map(|(e, _)| *e).collect())
        } else {
            None
        }
    })
}

#[test]
fn relays_converge_and_observer_follows() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let now = 10 * EPOCH + 5;
    let roles = [
        Role::Mix,
        Role::Mix,
        Role::Mix,
        Role::Provider,
        Role::Mix,
        Role::Mix,
        Role::Mix,
    ];
    let mut nodes: Vec<PkiAgent> = roles
        .iter()
        .enumerate()
        .map(|(i, r)| relay(i as u8 + 1, *r, now))
        .collect();
    let mut gossip = Vec::new();
    for n in &mut nodes {
        let actions = n.tick(now, &mut rng);
        assert_eq!(
            installed(&actions),
            Some(vec![10, 11]),
            "current key first, next key ready"
        );
        gossip.extend(published(&actions));
    }
    assert_eq!(gossip.len(), nodes.len());
    for n in &mut nodes {
        for g in &gossip {
            let (v, _) = n.on_descriptor(g, now);
            assert!(matches!(v, Verdict::Accept | Verdict::Ignore));
        }
    }
    let digest = nodes[0].digest();
    assert!(nodes.iter().all(|n| n.digest() == digest));
    let t = nodes[0].topology();
    assert!(t.is_routable());
    assert_eq!(t.layers.iter().map(Vec::len).sum::<usize>(), 6);

    let mut client = PkiAgent::observer(params(), now).unwrap();
    let mut saw_topology = false;
    for d in nodes[2].snapshot() {
        let (_, actions) = client.on_descriptor(&d, now);
        saw_topology |= actions.iter().any(|a| matches!(a, PkiAction::Topology(_)));
    }
    assert!(saw_topology);
    assert_eq!(client.digest(), digest);
    // a second sync is all duplicates: ignored and counted, no topology change
    for d in nodes[2].snapshot() {
        let (v, actions) = client.on_descriptor(&d, now);
        assert_eq!(v, Verdict::Ignore);
        assert!(actions.is_empty());
    }
    assert_eq!(client.rejections().get("duplicate"), Some(&7));
}

#[test]
fn rotation_publishes_each_epoch_and_keeps_previous_key_for_grace() {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let start = 10 * EPOCH + 1;
    let mut n = relay(9, Role::Mix, start);
    let first = n.tick(start, &mut rng);
    assert_eq!(published(&first).len(), 1);
    assert!(
        published(&n.tick(start + 1, &mut rng)).is_empty(),
        "one publication per epoch"
    );
    assert_eq!(n.next_tick(start + 1), 11 * EPOCH);

    let boundary = 11 * EPOCH;
    let actions = n.tick(boundary, &mut rng);
    assert_eq!(published(&actions).len(), 1);
    assert_eq!(
        installed(&actions),
        Some(vec![11, 10, 12]),
        "previous key live during grace"
    );
    assert_eq!(n.epochs_rotated(), 1);
    assert_eq!(
        n.next_tick(boundary),
        boundary + GRACE,
        "wake up to retire the previous key"
    );
    let actions = n.tick(boundary + GRACE, &mut rng);
    assert_eq!(installed(&actions), Some(vec![11, 12]));
    assert!(actions.iter().any(|a| matches!(a, PkiAction::PersistKeys)));
    assert!(n.keyring_bytes().is_some());
}

#[test]
fn garbage_and_forgeries_are_rejected_with_reasons() {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let now = 10 * EPOCH;
    let mut a = relay(1, Role::Mix, now);
    let mut b = relay(2, Role::Mix, now);
    let good = published(&a.tick(now, &mut rng)).pop().unwrap();
    b.tick(now, &mut rng);
    assert!(matches!(
        b.on_descriptor(b"garbage", now).0,
        Verdict::Reject(_)
    ));
    let mut forged = good.clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    assert_eq!(
        b.on_descriptor(&forged, now).0,
        Verdict::Reject("bad_signature")
    );
    assert_eq!(
        b.on_descriptor(&vec![0; 5000], now).0,
        Verdict::Reject("oversized")
    );
    // stale: counted, but an honest peer whose epoch lags ours may forward it: no blame
    assert_eq!(b.on_descriptor(&good, now + 10 * EPOCH).0, Verdict::Ignore);
    assert_eq!(b.on_descriptor(&good, now).0, Verdict::Accept);
    let r = b.rejections();
    assert_eq!(
        (
            r.get("bad_signature"),
            r.get("oversized"),
            r.get("stale_epoch")
        ),
        (Some(&1), Some(&1), Some(&1))
    );
}

#[test]
fn a_descriptor_for_the_next_epoch_waits_for_that_epoch() {
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let now = 10 * EPOCH + 50;
    let mut a = relay(1, Role::Mix, now);
    let mut b = relay(2, Role::Mix, now);
    let first = published(&a.tick(now, &mut rng)).pop().unwrap();
    b.tick(now, &mut rng);
    assert_eq!(b.on_descriptor(&first, now).0, Verdict::Accept);
    let before = b.digest();
    // a ticks into epoch 11 a moment before b does
    let next = published(&a.tick(11 * EPOCH, &mut rng)).pop().unwrap();
    let (v, actions) = b.on_descriptor(&next, 11 * EPOCH - 1);
    assert_eq!(v, Verdict::Accept, "forwarded");
    assert!(actions.is_empty(), "b's current topology is untouched");
    assert_eq!(b.digest(), before);
    assert!(
        b.topology()
            .layers
            .iter()
            .flatten()
            .any(|n| n.identity.0 == SigningKey::from_bytes(&[1; 32]).verifying_key().to_bytes())
    );
    // once b reaches epoch 11 the held descriptor is in
    b.tick(11 * EPOCH, &mut rng);
    assert_eq!(
        b.on_descriptor(&next, 11 * EPOCH).0,
        Verdict::Ignore,
        "already applied"
    );
}
