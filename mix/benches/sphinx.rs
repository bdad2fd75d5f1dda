//! Packet build and process costs: raw sphinx-packet against the mix core's processor
//! (replay check, size check, next-hop encoding included).

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use sphinx_packet::SphinxPacket;
use std::hint::black_box;
use std::time::Duration;
use wesh_mix::{MixProcessor, NodeId, RouteNode, build_packet};
use x25519_dalek::{PublicKey, StaticSecret};

fn route() -> (Vec<RouteNode>, StaticSecret) {
    let first = StaticSecret::from([1u8; 32]);
    let route = (1..=5u8)
        .map(|i| {
            let s = StaticSecret::from([i; 32]);
            RouteNode {
                id: NodeId([i; 32]),
                sphinx_key: PublicKey::from(&s),
            }
        })
        .collect();
    (route, first)
}

fn benches(c: &mut Criterion) {
    let (route, first_secret) = route();
    let delays = [Duration::from_millis(1); 5];
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let body = vec![7u8; 1024];

    c.bench_function("build 5-hop packet", |b| {
        b.iter(|| build_packet(&mut rng, black_box(&route), NodeId([9; 32]), &body, &delays))
    });

    let packet =
        build_packet(&mut rng, &route, NodeId([9; 32]), &body, &delays).unwrap_or_default();
    c.bench_function(
        "raw sphinx-packet process (decode + process + encode)",
        |b| {
            b.iter(|| {
                let p = SphinxPacket::from_bytes(black_box(&packet)).ok();
                p.and_then(|p| p.process(&first_secret).ok())
                    .map(|out| match out.data {
                        sphinx_packet::ProcessedPacketData::ForwardHop {
                            next_hop_packet, ..
                        } => next_hop_packet.to_bytes(),
                        sphinx_packet::ProcessedPacketData::FinalHop { .. } => Vec::new(),
                    })
            })
        },
    );

    let mut processor = MixProcessor::new(0, StaticSecret::from([1u8; 32]));
    let mut rng2 = ChaCha20Rng::seed_from_u64(2);
    c.bench_function("MixProcessor::process (replay filter included)", |b| {
        b.iter_batched(
            || build_packet(&mut rng2, &route, NodeId([9; 32]), &body, &delays).unwrap_or_default(),
            |p| processor.process(&p).map(|_| ()),
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(sphinx, benches);
criterion_main!(sphinx);
