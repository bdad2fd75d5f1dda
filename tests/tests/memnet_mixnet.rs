//! The harness itself: packets cross the in-memory mixnet on the virtual clock over
//! stratified links only, the seed decides the run, an offline client is silent while its
//! mail waits, and a killed mix is silent while what is sent to it is lost.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};
use wesh_mix::NodeId;
use wesh_tests::memnet::{Endpoint, Fault, MemNet, MemNetConfig};

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

#[test]
fn an_offline_client_sends_nothing_and_its_mail_waits_at_its_provider() {
    let mut net = MemNet::new(MemNetConfig::default()).unwrap();
    net.observer.set_on(true);
    let a = net.add_client(0).unwrap();
    let b = net.add_client(1).unwrap();
    net.run_for(Duration::from_secs(1));
    net.go_offline(b).unwrap();
    let went = net.now();
    let id = net.send_message(a, b, vec![3; 4_000]).unwrap();
    net.run_until(Duration::from_secs(30), |n| {
        n.client(a).unwrap().delivered.contains(&id)
    })
    .expect("acked by b's provider while b is away");
    let provider = net.client(b).unwrap().provider();
    let mailbox = net.client(b).unwrap().address().client.0;
    assert!(net.provider(&provider).unwrap().stored(&mailbox) >= 3);
    assert!(net.client(b).unwrap().inbox.is_empty());
    let sent_while_away = net
        .observer
        .frames()
        .iter()
        .filter(|f| f.from == Endpoint::Client(b) && f.sent_at > went)
        .count();
    assert_eq!(sent_while_away, 0, "no cover from an offline client");
    assert_eq!(net.come_online(b).unwrap(), 0, "no replicas to fetch from");
    net.run_until(Duration::from_secs(5), |n| {
        !n.client(b).unwrap().inbox.is_empty()
    })
    .expect("pulled once back");
    assert_eq!(net.client(b).unwrap().inbox, vec![vec![3; 4_000]]);
    assert_eq!(
        net.provider(&provider).unwrap().stored(&mailbox),
        0,
        "confirmed, deleted"
    );
}

#[test]
fn a_killed_mix_goes_silent_and_what_is_sent_to_it_is_lost() {
    let mut net = MemNet::new(MemNetConfig::default()).unwrap();
    net.observer.set_on(true);
    let _a = net.add_client(0).unwrap();
    net.run_for(Duration::from_secs(2));
    let victim = net.topology().layers()[0][0].id;
    net.kill_mix(victim);
    let killed_at = net.now();
    net.run_for(Duration::from_secs(10));
    assert!(net.stats.frames_lost > 0);
    assert!(
        net.observer
            .frames()
            .iter()
            .all(|f| f.sent_at <= killed_at || f.from != Endpoint::Relay(victim)),
        "nothing leaves a dead mix"
    );
}

#[test]
fn a_replaying_mix_is_stopped_by_the_next_hops_replay_filter() {
    let mut net = MemNet::new(MemNetConfig::default()).unwrap();
    let a = net.add_client(0).unwrap();
    let b = net.add_client(1).unwrap();
    let cheat = net.topology().layers()[0][0].id;
    net.set_fault(cheat, Fault::Replays);
    let id = net.send_message(a, b, vec![9; 10_000]).unwrap();
    net.run_until(Duration::from_secs(30), |n| {
        n.client(a).unwrap().delivered.contains(&id) && !n.client(b).unwrap().inbox.is_empty()
    })
    .unwrap();
    let replays: u64 = net
        .mixes()
        .filter(|m| net.topology().layer_of(&m.id) == Some(1))
        .map(|m| m.stats.replays_dropped)
        .sum();
    assert!(replays > 0, "layer 2 saw the copies and dropped them");
    assert_eq!(net.client(b).unwrap().inbox, vec![vec![9; 10_000]], "once");
}

#[test]
fn a_lossy_mix_costs_retransmissions_and_loses_nothing() {
    let mut net = MemNet::new(MemNetConfig::default()).unwrap();
    let a = net.add_client(0).unwrap();
    let b = net.add_client(1).unwrap();
    let lossy = net.topology().layers()[2][1].id;
    net.set_fault(lossy, Fault::Drops(0.5));
    let body: Vec<u8> = (0..30_000u32).map(|i| (i % 13) as u8).collect();
    let id = net.send_message(a, b, body.clone()).unwrap();
    net.run_until(Duration::from_secs(120), |n| {
        n.client(a).unwrap().delivered.contains(&id) && !n.client(b).unwrap().inbox.is_empty()
    })
    .unwrap();
    assert!(net.client(a).unwrap().reliable_stats().retransmissions > 0);
    assert!(net.stats.frames_lost > 0);
    assert_eq!(net.client(b).unwrap().inbox, vec![body]);
}
