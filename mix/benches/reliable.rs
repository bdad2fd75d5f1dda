//! Cost of reliable delivery for a 1 MiB message: fragmenting it and building every fragment
//! packet with its SURB-ack slot and seal (the sender's work), and opening and reassembling
//! it (the recipient's work).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use std::hint::black_box;
use std::time::Duration;
use wesh_mix::*;
use x25519_dalek::{PublicKey, StaticSecret};

const MIB: usize = 1 << 20;

fn topology() -> Topology {
    let node = |tag: u8| RouteNode {
        id: NodeId([tag; 32]),
        sphinx_key: PublicKey::from(&StaticSecret::from([tag; 32])),
    };
    let layers = (0..3u8)
        .map(|l| (0..3).map(|i| node(10 * (l + 1) + i)).collect())
        .collect();
    Topology::new(layers, vec![node(1), node(2)]).unwrap()
}

fn fragment_and_build(c: &mut Criterion) {
    let topo = topology();
    let (me, peer) = (NodeId([1; 32]), NodeId([2; 32]));
    let sender = ClientKeys::from_ed25519_seed(&[100; 32]);
    let recipient = ClientKeys::from_ed25519_seed(&[101; 32]);
    let recipient_id = ClientKeys::id_of_seed(&[101; 32]);
    let sampler = HopDelaySampler::new(Duration::from_millis(200));
    let message = vec![0x5a; MIB];
    let mut g = c.benchmark_group("reliable");
    g.sample_size(10);
    g.bench_function("fragment_and_build_packets_1MiB", |b| {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        b.iter(|| {
            let (_, fragments) = split_message(&mut rng, &message).unwrap();
            let mut bytes = 0;
            for (i, fragment) in fragments.into_iter().enumerate() {
                let forward = topo.forward_route(&mut rng, &me, &peer).unwrap();
                let back = topo.forward_route(&mut rng, &peer, &me).unwrap();
                let back_delays = sampler.for_route(&mut rng, back.len());
                let cover = topo.forward_route(&mut rng, &me, &peer).unwrap();
                let cover_delays = sampler.for_route(&mut rng, cover.len());
                let slot = AckSlot::ack(
                    &mut rng,
                    SlotRoute {
                        route: &back,
                        delays: &back_delays,
                    },
                    ClientKeys::id_of_seed(&[100; 32]),
                    &sender.identity.public(),
                    i as u64,
                    SlotRoute {
                        route: &cover,
                        delays: &cover_delays,
                    },
                )
                .unwrap();
                let payload = MixPayload::Fragment { fragment };
                let stored =
                    seal_delivery(&mut rng, &slot, &recipient.identity.public(), &payload).unwrap();
                let delays = sampler.for_route(&mut rng, forward.len());
                let packet =
                    build_packet(&mut rng, &forward, recipient_id, &stored, &delays).unwrap();
                bytes += packet.len();
            }
            black_box(bytes)
        })
    });
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let (_, fragments) = split_message(&mut rng, &message).unwrap();
    // what the recipient actually receives: sealed stored payloads, opened and reassembled
    let slot = {
        let route = topo.forward_route(&mut rng, &peer, &me).unwrap();
        let delays = sampler.for_route(&mut rng, route.len());
        let r = SlotRoute {
            route: &route,
            delays: &delays,
        };
        AckSlot::cover(&mut rng, r, r).unwrap()
    };
    let stored: Vec<Vec<u8>> = fragments
        .into_iter()
        .map(|fragment| {
            let payload = MixPayload::Fragment { fragment };
            seal_delivery(&mut rng, &slot, &recipient.identity.public(), &payload).unwrap()
        })
        .collect();
    g.bench_function("open_and_reassemble_1MiB", |b| {
        b.iter_batched(
            || Reassembler::new(ReassemblyLimits::default()),
            |mut r| {
                let mut done = None;
                for s in &stored {
                    let Ok(MixPayload::Fragment { fragment: f }) =
                        open_delivery(&[&recipient.identity], s)
                    else {
                        panic!("does not open");
                    };
                    if let Accepted::Complete { bytes, .. } = r.accept(f, Duration::ZERO).unwrap() {
                        done = Some(bytes.len());
                    }
                }
                assert_eq!(done, Some(MIB));
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, fragment_and_build);
criterion_main!(benches);
