//! Sphinx key rotation across epochs, grace period and persistence.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use wesh_pki::{EpochClock, KeyPhase, KeyRingError, ParamError, SphinxKeyRing};
use x25519_dalek::PublicKey;

const EPOCH: u64 = 100;
const GRACE: u64 = 10;

fn ring() -> SphinxKeyRing {
    SphinxKeyRing::new(EpochClock::new(0, EPOCH).unwrap(), GRACE).unwrap()
}

fn live_epochs(ring: &SphinxKeyRing, now: u64) -> Vec<(u64, KeyPhase)> {
    ring.live_keys(now)
        .iter()
        .map(|k| (k.epoch, k.phase))
        .collect()
}

#[test]
fn rotation_across_epochs_with_grace() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let mut ring = ring();

    let first = ring.rotate(550, &mut rng);
    assert_eq!(first.generated, vec![5, 6]);
    assert!(first.retired.is_empty());
    assert_eq!(live_epochs(&ring, 550), vec![(5, KeyPhase::Current)]);
    // The next epoch's key exists (published ahead) but does not decrypt yet.
    assert!(ring.public_key(6).is_some());
    assert!(ring.secret_for(6, 550).is_none());
    assert_eq!(
        ring.published_keys(550)
            .iter()
            .map(|(e, _)| *e)
            .collect::<Vec<_>>(),
        vec![5, 6]
    );
    let key6 = ring.public_key(6).unwrap();

    // Epoch 6 begins: 5 is in grace, 7 is generated, 6 is the same key published before.
    let at_boundary = ring.rotate(600, &mut rng);
    assert_eq!(at_boundary.generated, vec![7]);
    assert!(at_boundary.retired.is_empty());
    assert_eq!(ring.public_key(6), Some(key6));
    assert_eq!(
        live_epochs(&ring, 605),
        vec![(5, KeyPhase::Grace), (6, KeyPhase::Current)]
    );
    assert!(ring.secret_for(5, 609).is_some());

    // Grace over: 5 is no longer live, and rotate erases it.
    assert!(ring.secret_for(5, 610).is_none());
    assert_eq!(live_epochs(&ring, 610), vec![(6, KeyPhase::Current)]);
    let after_grace = ring.rotate(610, &mut rng);
    assert!(after_grace.generated.is_empty());
    assert_eq!(after_grace.retired, vec![5]);
    assert_eq!(ring.held_epochs(), vec![6, 7]);
    assert!(ring.public_key(5).is_none());

    // The secret held matches the public key announced.
    let secret = ring.secret_for(6, 650).unwrap();
    assert_eq!(PublicKey::from(secret).to_bytes(), key6);
}

#[test]
fn rotate_is_idempotent_and_skips_missed_epochs() {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let mut ring = ring();
    ring.rotate(150, &mut rng);
    assert_eq!(ring.rotate(160, &mut rng), Default::default());
    // Node was down for many epochs: everything old goes, keys for now are made.
    let resumed = ring.rotate(1_050, &mut rng);
    assert_eq!(resumed.generated, vec![10, 11]);
    assert_eq!(resumed.retired, vec![1, 2]);
    assert!(live_epochs(&ring, 1_050).iter().all(|(e, _)| *e == 10));
}

#[test]
fn keys_differ_per_epoch_and_per_seed() {
    let mut ring_a = ring();
    let mut ring_b = ring();
    ring_a.rotate(0, &mut ChaCha20Rng::seed_from_u64(3));
    ring_b.rotate(0, &mut ChaCha20Rng::seed_from_u64(4));
    assert_ne!(ring_a.public_key(0), ring_a.public_key(1));
    assert_ne!(ring_a.public_key(0), ring_b.public_key(0));
    let mut ring_c = ring();
    ring_c.rotate(0, &mut ChaCha20Rng::seed_from_u64(3));
    assert_eq!(ring_a.public_key(0), ring_c.public_key(0));
}

#[test]
fn persistence_round_trips_and_rejects_bad_bytes() {
    let mut ring = ring();
    ring.rotate(605, &mut ChaCha20Rng::seed_from_u64(5));
    let bytes = ring.to_bytes();
    assert_eq!(bytes.len(), 2 + 2 * 40);
    let clock = EpochClock::new(0, EPOCH).unwrap();
    let restored = SphinxKeyRing::from_bytes(clock, GRACE, &bytes).unwrap();
    assert_eq!(restored.held_epochs(), ring.held_epochs());
    assert_eq!(restored.public_key(7), ring.public_key(7));
    assert_eq!(restored.live_keys(605), ring.live_keys(605));

    assert_eq!(
        SphinxKeyRing::from_bytes(clock, GRACE, &bytes[..41]).unwrap_err(),
        KeyRingError::Truncated
    );
    assert_eq!(
        SphinxKeyRing::from_bytes(clock, GRACE, &[bytes.as_slice(), &[0]].concat()).unwrap_err(),
        KeyRingError::TrailingBytes(1)
    );
    assert_eq!(
        SphinxKeyRing::from_bytes(clock, GRACE, &[9, 0]).unwrap_err(),
        KeyRingError::UnknownVersion(9)
    );
    let mut swapped = bytes.to_vec();
    swapped[2..10].copy_from_slice(&8u64.to_be_bytes());
    assert_eq!(
        SphinxKeyRing::from_bytes(clock, GRACE, &swapped).unwrap_err(),
        KeyRingError::NotAscending
    );
}

#[test]
fn grace_must_be_shorter_than_an_epoch() {
    let clock = EpochClock::new(0, EPOCH).unwrap();
    assert_eq!(
        SphinxKeyRing::new(clock, EPOCH).unwrap_err(),
        ParamError::GraceTooLong {
            grace: EPOCH,
            epoch: EPOCH
        }
    );
    assert!(!format!("{:?}", ring()).is_empty());
}

#[test]
fn debug_output_never_shows_secrets() {
    let mut ring = ring();
    ring.rotate(0, &mut ChaCha20Rng::seed_from_u64(6));
    let secret_hex = hex::encode(ring.secret_for(0, 0).unwrap().as_bytes());
    assert!(!format!("{ring:?}").contains(&secret_hex[..16]));
}
