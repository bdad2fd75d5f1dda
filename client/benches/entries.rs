//! Entries sealed+signed and opened+verified per second (256-byte payload), at the envelope
//! level and for a full ratcheted message (message key, device signature, envelope).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use wesh_client::entry::{Entry, LamportClock, LogKind};
use wesh_client::group::{GroupKind, GroupSecrets};
use wesh_client::identity::Identity;
use wesh_client::session::GroupSession;

fn envelope(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let (group, _) = GroupSecrets::generate(&mut rng, GroupKind::MultiMember).unwrap();
    let payload = vec![7u8; 256];
    let clock = LamportClock {
        time: 42,
        id: [1; 32],
    };
    let parents = vec![[2u8; 32]];
    let mut g = c.benchmark_group("entry");
    g.throughput(Throughput::Elements(1));
    g.bench_function("seal_sign", |b| {
        b.iter(|| {
            Entry::seal(
                &mut rng,
                &group.write_keys(),
                LogKind::Message,
                clock,
                parents.clone(),
                black_box(&payload),
            )
            .unwrap()
        })
    });
    let bytes = Entry::seal(
        &mut rng,
        &group.write_keys(),
        LogKind::Message,
        clock,
        parents.clone(),
        &payload,
    )
    .unwrap()
    .encode();
    let verifier = group.verifier();
    g.bench_function("verify_open", |b| {
        b.iter(|| {
            let e = Entry::decode_verified(black_box(&bytes), &verifier).unwrap();
            e.open(group.entry_encryption_key()).unwrap()
        })
    });
    g.finish();
}

/// Alice and Bob in one multi-member group with chain keys exchanged.
fn pair(seed: u64) -> (ChaCha20Rng, GroupSession, GroupSession) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let alice = Identity::generate(&mut rng);
    let bob = Identity::generate(&mut rng);
    let (mut a, out_a) = GroupSession::create_multi_member(&mut rng, alice.account_key()).unwrap();
    let (mut b, out_b) =
        GroupSession::join_multi_member(&mut rng, &a.invitation(), bob.account_key()).unwrap();
    let mut queue: Vec<Vec<u8>> = out_a.into_iter().chain(out_b).collect();
    while let Some(e) = queue.pop() {
        queue.extend(a.ingest_metadata(&mut rng, &e).unwrap());
        queue.extend(b.ingest_metadata(&mut rng, &e).unwrap());
    }
    (rng, a, b)
}

fn ratcheted_message(c: &mut Criterion) {
    let payload = vec![7u8; 256];
    let mut g = c.benchmark_group("message");
    g.throughput(Throughput::Elements(1));
    let (mut rng, mut a, _) = pair(2);
    g.bench_function("send", |bch| {
        bch.iter(|| a.send_message(&mut rng, black_box(&payload)).unwrap())
    });
    // Receiving consumes a message key, so each iteration gets a fresh message, sent by a
    // sender used for nothing else so counters stay in the receiver's window (setup untimed).
    let (mut rng, mut a, mut b) = pair(3);
    g.bench_function("receive", |bch| {
        bch.iter_batched(
            || a.send_message(&mut rng, &payload).unwrap(),
            |m| b.ingest_message(&m).unwrap().unwrap(),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, envelope, ratcheted_message);
criterion_main!(benches);
