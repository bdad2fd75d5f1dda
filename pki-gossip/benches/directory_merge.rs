//! Merging 10,000 gossiped descriptors into an empty directory, and the work a
//! node does per epoch on the result (digest, topology).

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use wesh_pki::{Directory, PkiParams};

#[path = "support/fixtures.rs"]
mod fixtures;

const NODES: usize = 10_000;

fn fresh_directory() -> Option<Directory> {
    Directory::new(PkiParams::default()).ok()
}

fn directory_merge(c: &mut Criterion) {
    let descriptors = fixtures::encoded_descriptors(NODES);
    let mut group = c.benchmark_group("directory");
    group.sample_size(10);
    group.throughput(Throughput::Elements(NODES as u64));
    group.bench_function("merge_10000", |b| {
        b.iter_batched(
            fresh_directory,
            |directory| {
                let mut directory = directory?;
                for bytes in &descriptors {
                    let _ = black_box(directory.insert(bytes, fixtures::NOW));
                }
                Some(directory.len())
            },
            BatchSize::LargeInput,
        )
    });
    let mut full = fresh_directory();
    if let Some(directory) = full.as_mut() {
        for bytes in &descriptors {
            let _ = directory.insert(bytes, fixtures::NOW);
        }
    }
    group.bench_function("regossip_duplicates_10000", |b| {
        b.iter(|| {
            let directory = full.as_mut()?;
            for bytes in &descriptors {
                let _ = black_box(directory.insert(bytes, fixtures::NOW));
            }
            Some(())
        })
    });
    group.throughput(Throughput::Elements(1));
    group.bench_function("digest_10000", |b| {
        b.iter(|| full.as_ref().map(|d| black_box(d.digest(fixtures::EPOCH))))
    });
    group.bench_function("topology_10000", |b| {
        b.iter(|| {
            full.as_ref()
                .map(|d| black_box(d.topology(fixtures::EPOCH)))
        })
    });
    group.finish();
}

criterion_group!(benches, directory_merge);
criterion_main!(benches);
