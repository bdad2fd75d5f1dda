//! Packets cross the in-memory mixnet on the virtual clock: a reliable message between two
//! plain clients is delivered, acked and reassembled, and mix loops come back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};
use wesh_mix::NodeId;
use wesh_tests::memnet::{Endpoint, MemNet, MemNetConfig};

#[test]
fn a_reliable_message_crosses_the_mixnet() {
    let wall = Instant::now();
    let mut net = MemNet::new(MemNetConfig::default()).unwrap();
    net.observer.set_on(true);
    let a = net.add_client(0).unwrap();
    let b = net.add_client(1).unwrap();
    let body: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    let id = net.send_message(a, b, body.clone()).unwrap();
    let took = net
        .run_until(Duration::from_secs(60), |n| {
            n.client(a).unwrap().delivered.contains(&id) && !n.client(b).unwrap().inbox.is_empty()
        })
        .unwrap();
    assert_eq!(net.client(b).unwrap().inbox, vec![body]);
    assert!(net.mixes().any(|m| m.stats.loops_returned > 0));
    // an observer sees only stratified links: client → its provider → layer 1 → 2 → 3 →
    // provider (a provider's SURB-ack to itself never touches a link)
    let t = net.topology().clone();
    let position = |id: &NodeId| match t.layer_of(id) {
        Some(layer) => layer + 1,
        None => 0,
    };
    assert!(!net.observer.frames().is_empty());
    for f in net.observer.frames() {
        match f.from {
            Endpoint::Client(c) => assert_eq!(f.to, net.client(c).unwrap().provider()),
            Endpoint::Relay(from) => {
                assert_eq!(position(&f.to), (position(&from) + 1) % 4, "{f:?}")
            }
        }
    }
    println!(
        "delivered in {took:?} virtual, {:?} wall, {} events, {:?}",
        wall.elapsed(),
        net.trace_events(),
        net.stats
    );
}

#[test]
fn the_seed_decides_the_run() {
    let run = |seed| {
        let mut net = MemNet::new(MemNetConfig {
            seed,
            ..MemNetConfig::default()
        })
        .unwrap();
        let a = net.add_client(0).unwrap();
        let b = net.add_client(1).unwrap();
        net.send_message(a, b, vec![7; 5_000]).unwrap();
        net.run_for(Duration::from_secs(5));
        (net.trace_digest(), net.trace_events())
    };
    let first = run(3);
    assert!(first.1 > 100, "things happened");
    assert_eq!(run(3), first, "same seed, same trace");
    assert_ne!(run(4).0, first.0, "another seed, another trace");
}
