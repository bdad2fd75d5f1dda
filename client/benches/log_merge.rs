//! Merging two replicas of a log, each holding 100,000 entries (50,000 shared, 50,000 own).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use wesh_client::entry::{Entry, LogKind};
use wesh_client::group::{GroupKind, GroupSecrets};
use wesh_client::log::Log;

const PER_LOG: usize = 100_000;

fn append(rng: &mut ChaCha20Rng, group: &GroupSecrets, log: &mut Log, author: u8, n: usize) {
    for i in 0..n {
        let clock = log.next_clock([author; 32]);
        let e = Entry::seal(
            rng,
            &group.write_keys(),
            LogKind::Message,
            clock,
            log.heads(),
            &i.to_be_bytes(),
        )
        .unwrap();
        log.insert(e).unwrap();
    }
}

fn merge(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let (group, _) = GroupSecrets::generate(&mut rng, GroupKind::MultiMember).unwrap();
    let mut shared = Log::new(LogKind::Message, group.verifier());
    append(&mut rng, &group, &mut shared, 0, PER_LOG / 2);
    let mut left = shared.clone();
    let mut right = shared;
    append(&mut rng, &group, &mut left, 1, PER_LOG / 2);
    append(&mut rng, &group, &mut right, 2, PER_LOG / 2);
    assert_eq!(left.len(), PER_LOG);

    let mut g = c.benchmark_group("log");
    g.sample_size(10);
    g.throughput(Throughput::Elements(PER_LOG as u64));
    g.bench_function("merge_2x100k", |b| {
        b.iter_batched(
            || left.clone(),
            |mut l| {
                let added = l.merge(&right).unwrap();
                assert_eq!(added, PER_LOG / 2);
                l
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, merge);
criterion_main!(benches);
