//! How many descriptors per second one core can decode and verify.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wesh_pki::Descriptor;

#[path = "support/fixtures.rs"]
mod fixtures;

fn descriptor_verification(c: &mut Criterion) {
    let descriptors = fixtures::encoded_descriptors(64);
    let mut group = c.benchmark_group("descriptor");
    group.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    group.bench_function("decode_and_verify", |b| {
        b.iter(|| {
            i = (i + 1) % descriptors.len();
            black_box(Descriptor::decode_verified(black_box(&descriptors[i])).is_ok())
        })
    });
    group.bench_function("decode_only", |b| {
        b.iter(|| {
            i = (i + 1) % descriptors.len();
            black_box(Descriptor::decode(black_box(&descriptors[i])).is_ok())
        })
    });
    group.finish();
}

criterion_group!(benches, descriptor_verification);
criterion_main!(benches);
