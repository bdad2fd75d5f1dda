//! End-to-end packet path through in-memory processors, with a virtual clock.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha20Rng;
use std::time::Duration;
use wesh_mix::params::{MAX_HOP_DELAY, PACKET_BYTES};
use wesh_mix::*;
use x25519_dalek::StaticSecret;

mod common;
use common::{Net, client, keys, net, traffic};

/// Runs a packet hop by hop; returns the final (node, destination, plaintext) and the hops.
fn deliver(
    net: &mut Net,
    first: NodeId,
    mut packet: Vec<u8>,
) -> (NodeId, NodeId, Vec<u8>, Vec<Duration>) {
    let mut at = first;
    let mut delays = Vec::new();
    loop {
        let p = net.processors.get_mut(&at).unwrap();
        match p.process(&packet).unwrap() {
            Processed::Forward {
                next_hop,
                packet: next,
                delay,
                clamped,
            } => {
                assert!(!clamped);
                assert_eq!(next.len(), PACKET_BYTES);
                delays.push(delay);
                at = next_hop;
                packet = next;
            }
            Processed::Final {
                destination,
                plaintext,
            } => return (at, destination, plaintext, delays),
        }
    }
}

#[test]
fn real_message_crosses_five_hops_with_sender_drawn_delays() {
    let mut n = net(2);
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let route = n
        .topology
        .forward_route(&mut rng, &NodeId([1; 32]), &NodeId([2; 32]))
        .unwrap();
    let delays = vec![
        Duration::from_millis(5),
        Duration::from_millis(6),
        Duration::from_millis(7),
        Duration::from_millis(8),
        Duration::ZERO,
    ];
    let body = MixPayload::Real(b"hello mixnet".to_vec()).encode();
    let pkt = build_packet(&mut rng, &route, NodeId([77; 32]), &body, &delays).unwrap();
    assert_eq!(pkt.len(), PACKET_BYTES);
    let (last, dest, plain, seen) = deliver(&mut n, route[0].id, pkt);
    assert_eq!(last, NodeId([2; 32]));
    assert_eq!(dest, NodeId([77; 32]));
    assert_eq!(
        MixPayload::decode(&plain).unwrap(),
        MixPayload::Real(b"hello mixnet".to_vec())
    );
    assert_eq!(seen, delays[..4].to_vec());
}

#[test]
fn replayed_packet_is_dropped_before_payload_work() {
    let mut n = net(1);
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let route = n
        .topology
        .forward_route(&mut rng, &NodeId([1; 32]), &NodeId([2; 32]))
        .unwrap();
    let pkt = build_packet(
        &mut rng,
        &route,
        NodeId([5; 32]),
        b"x",
        &[Duration::ZERO; 5],
    )
    .unwrap();
    let p = n.processors.get_mut(&NodeId([1; 32])).unwrap();
    assert!(p.process(&pkt).is_ok());
    assert_eq!(p.process(&pkt).unwrap_err(), DropReason::Replay);
    assert_eq!(p.replay_tags(), 1);
}

#[test]
fn header_bit_flips_are_dropped_everywhere_in_the_header() {
    let mut n = net(1);
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let route = n
        .topology
        .forward_route(&mut rng, &NodeId([1; 32]), &NodeId([2; 32]))
        .unwrap();
    let pkt = build_packet(
        &mut rng,
        &route,
        NodeId([5; 32]),
        b"x",
        &[Duration::ZERO; 5],
    )
    .unwrap();
    let p = n.processors.get_mut(&NodeId([1; 32])).unwrap();
    for i in (0..wesh_mix::params::SPHINX_HEADER_BYTES).step_by(7) {
        let mut bad = pkt.clone();
        bad[i] ^= 0x10;
        let err = p.process(&bad).unwrap_err();
        assert!(
            matches!(err, DropReason::BadMac | DropReason::MalformedHeader),
            "byte {i}: {err:?}"
        );
    }
    // none of the tampered copies burnt the original's replay tag
    assert!(p.process(&pkt).is_ok());
}

#[test]
fn payload_tampering_is_not_delivered_intact() {
    let mut n = net(1);
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let route = n
        .topology
        .forward_route(&mut rng, &NodeId([1; 32]), &NodeId([2; 32]))
        .unwrap();
    let mut pkt = build_packet(
        &mut rng,
        &route,
        NodeId([5; 32]),
        b"secret",
        &[Duration::ZERO; 5],
    )
    .unwrap();
    let last = pkt.len() - 100;
    pkt[last] ^= 1;
    match common::walk(&mut n, route[0].id, pkt).1 {
        Ok((_, plaintext)) => panic!("tampered payload delivered: {plaintext:?}"),
        Err(e) => assert_eq!(e, DropReason::BadPayload),
    }
}

#[test]
fn garbage_and_wrong_sizes_are_dropped_without_panic() {
    let mut n = net(1);
    let p = n.processors.get_mut(&NodeId([1; 32])).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    for len in [
        0usize,
        1,
        31,
        32,
        PACKET_BYTES - 1,
        PACKET_BYTES + 1,
        70_000,
    ] {
        let junk: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        assert_eq!(p.process(&junk).unwrap_err(), DropReason::WrongSize(len));
    }
    for _ in 0..200 {
        let junk: Vec<u8> = (0..PACKET_BYTES).map(|_| rng.random()).collect();
        assert!(p.process(&junk).is_err());
    }
    assert_eq!(
        p.replay_tags(),
        0,
        "garbage must not fill the replay filter"
    );
}

#[test]
fn absurd_delays_are_clamped() {
    let mut n = net(1);
    let mut rng = ChaCha20Rng::seed_from_u64(6);
    let route = n
        .topology
        .forward_route(&mut rng, &NodeId([1; 32]), &NodeId([2; 32]))
        .unwrap();
    let huge = Duration::from_secs(365 * 24 * 3600);
    let pkt = build_packet(&mut rng, &route, NodeId([5; 32]), b"x", &[huge; 5]).unwrap();
    match n
        .processors
        .get_mut(&route[0].id)
        .unwrap()
        .process(&pkt)
        .unwrap()
    {
        Processed::Forward { delay, clamped, .. } => {
            assert!(clamped);
            assert_eq!(delay, MAX_HOP_DELAY);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn previous_epoch_key_still_works_and_retired_key_does_not() {
    let mut n = net(1);
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let route = n
        .topology
        .forward_route(&mut rng, &NodeId([1; 32]), &NodeId([2; 32]))
        .unwrap();
    let pkt = build_packet(
        &mut rng,
        &route,
        NodeId([5; 32]),
        b"x",
        &[Duration::ZERO; 5],
    )
    .unwrap();
    let p = n.processors.get_mut(&NodeId([1; 32])).unwrap();
    p.add_key(1, StaticSecret::from([200; 32]));
    assert_eq!(p.live_epochs(), vec![0, 1]);
    let pkt2 = build_packet(
        &mut rng,
        &route,
        NodeId([5; 32]),
        b"y",
        &[Duration::ZERO; 5],
    )
    .unwrap();
    assert!(p.process(&pkt).is_ok(), "old key accepted during grace");
    p.retire_key(0);
    assert_eq!(p.process(&pkt2).unwrap_err(), DropReason::BadMac);
}

#[test]
fn client_streams_on_a_virtual_clock_deliver_reals_and_loops() {
    let mut n = net(2);
    let me = client(1, 100);
    let peer = client(2, 101);
    let config = ClientTrafficConfig {
        real_rate: 4.0,
        loop_rate: 2.0,
        drop_rate: 1.0,
        mean_hop_delay: Duration::from_millis(50),
        real_timing: Default::default(),
    };
    let mut c = traffic(1, 100, config, [9; 32]);
    for i in 0..20u8 {
        c.enqueue(peer, vec![i; 10]).unwrap();
    }
    let (mut reals, mut loops, mut drops) = (Vec::new(), 0, 0);
    let mut loop_ids = Vec::new();
    let (my_keys, peer_keys) = (keys(100), keys(101));
    let end = Duration::from_secs(60);
    while let Some(at) = c.next_deadline() {
        if at > end {
            break;
        }
        for out in c.poll(at, &n.topology) {
            let out = out.unwrap();
            assert_eq!(out.first_hop, me.provider);
            let (last, dest, plain, _) = deliver(&mut n, out.first_hop, out.packet);
            let opened = match out.kind {
                TrafficKind::Drop => MixPayload::decode(&plain).unwrap(),
                kind => {
                    // what the provider stores: one size, a slot it can fire, nothing else
                    assert_eq!(plain.len(), params::DELIVERY_BYTES);
                    assert!(provider_ack::storable(&plain));
                    // (a first byte of 1 "reads" as a real body of any bytes: that says nothing)
                    assert!(
                        matches!(MixPayload::decode(&plain), Err(_) | Ok(MixPayload::Real(_))),
                        "sealed: {kind:?}"
                    );
                    let key = if dest == me.client {
                        &my_keys
                    } else {
                        &peer_keys
                    };
                    open_delivery(&[&key.identity], &plain).unwrap()
                }
            };
            match (out.kind, opened) {
                (TrafficKind::Real { to, .. }, MixPayload::Real(body)) => {
                    assert_eq!((last, dest), (to.provider, to.client));
                    reals.push(body[0]);
                }
                (TrafficKind::Loop { id }, MixPayload::Loop { id: back }) => {
                    assert_eq!((last, dest, id), (me.provider, me.client, back));
                    loop_ids.push(id);
                    loops += 1;
                }
                (TrafficKind::Drop, MixPayload::Drop) => {
                    assert_eq!(dest, NodeId([0; 32]));
                    drops += 1;
                }
                other => panic!("kind mismatch {other:?}"),
            }
        }
    }
    assert_eq!(reals, (0..20).collect::<Vec<u8>>(), "queue drains in order");
    // 60 s: ~120 loops, ~60 drop-stream + ~220 empty-queue real ticks
    assert!((80..=160).contains(&loops), "loops {loops}");
    // loop ids are random: their gaps count nothing (they used to follow the message ids)
    let steps = loop_ids
        .windows(2)
        .filter(|w| w[1] > w[0] && w[1] - w[0] < 1000);
    assert_eq!(
        steps.count(),
        0,
        "loop ids look like a counter: {loop_ids:?}"
    );
    assert!(drops > 200, "drops {drops}");
    assert_eq!(c.queued(), 0);
}

#[test]
fn mix_loops_come_back_to_the_mix() {
    let mut n = net(2);
    for layer in 0..3 {
        let me = n.topology.layers()[layer][1].id;
        let mut cover = MixCover::new(
            me,
            5.0,
            Duration::from_millis(10),
            Duration::ZERO,
            [layer as u8; 32],
        )
        .unwrap();
        let mut back = 0;
        while let Some(at) = cover.next_deadline() {
            if at > Duration::from_secs(10) {
                break;
            }
            for out in cover.poll(at, &n.topology) {
                let out = out.unwrap();
                let (last, dest, plain, hops) = deliver(&mut n, out.first_hop, out.packet);
                assert_eq!((last, dest), (me, me));
                assert_eq!(hops.len(), 3);
                assert!(matches!(
                    MixPayload::decode(&plain).unwrap(),
                    MixPayload::Loop { .. }
                ));
                back += 1;
            }
        }
        assert!(back > 20, "layer {layer}: {back}");
    }
}

#[test]
fn rates_change_from_now_on_and_keep_queued_messages() {
    let n = net(2);
    let peer = client(2, 4);
    let slow = ClientTrafficConfig {
        real_rate: 1.0,
        loop_rate: 0.0,
        drop_rate: 0.0,
        mean_hop_delay: Duration::from_millis(50),
        real_timing: Default::default(),
    };
    let mut c = traffic(1, 3, slow, [5; 32]);
    for i in 0..50u8 {
        c.enqueue(peer, vec![i; 10]).unwrap();
    }
    let count_until = |c: &mut ClientTraffic, end: Duration| {
        let mut sent = 0;
        while let Some(at) = c.next_deadline().filter(|at| *at <= end) {
            sent += c.poll(at, &n.topology).len();
        }
        sent
    };
    let before = count_until(&mut c, Duration::from_secs(10));
    assert!((3..=20).contains(&before), "about 1/s: {before}");
    c.set_rates(
        ClientTrafficConfig {
            real_rate: 20.0,
            ..slow
        },
        Duration::from_secs(10),
    )
    .unwrap();
    let after = count_until(&mut c, Duration::from_secs(11));
    assert!(after >= 8, "about 20/s: {after}");
    assert_eq!(c.queued(), 50 - before - after, "the queue was kept");
    assert!(
        c.set_rates(
            ClientTrafficConfig {
                real_rate: -1.0,
                ..slow
            },
            Duration::from_secs(11)
        )
        .is_err()
    );
}

#[test]
fn oversized_messages_are_refused_at_enqueue() {
    let mut c = traffic(1, 3, ClientTrafficConfig::default(), [1; 32]);
    let err = c
        .enqueue(client(2, 4), vec![0; MAX_BODY_BYTES + 1])
        .unwrap_err();
    assert!(matches!(err, EnqueueError::TooLong { .. }));
    assert!(c.enqueue(client(2, 4), vec![0; MAX_BODY_BYTES]).is_ok());
}

#[test]
fn shards_are_stable_for_identical_packets() {
    let frame = vec![3u8; PACKET_BYTES];
    let s = shard_of(&frame, 4);
    assert_eq!(s, shard_of(&frame.clone(), 4));
    assert!(s < 4);
    assert_eq!(shard_of(&frame, 1), 0);
}

#[test]
fn set_keys_keeps_filters_of_kept_keys_and_retires_the_rest() {
    let mut n = net(1);
    let mut rng = ChaCha20Rng::seed_from_u64(8);
    let route = n
        .topology
        .forward_route(&mut rng, &NodeId([1; 32]), &NodeId([2; 32]))
        .unwrap();
    let pkt = build_packet(
        &mut rng,
        &route,
        NodeId([5; 32]),
        b"x",
        &[Duration::ZERO; 5],
    )
    .unwrap();
    let p = n.processors.get_mut(&NodeId([1; 32])).unwrap();
    assert!(p.process(&pkt).is_ok());
    p.set_keys(vec![
        (7, StaticSecret::from([9; 32])),
        (0, StaticSecret::from([1; 32])),
    ]);
    assert_eq!(p.live_epochs(), vec![7, 0]);
    assert_eq!(
        p.process(&pkt).unwrap_err(),
        DropReason::Replay,
        "filter survived"
    );
    p.set_keys(vec![(7, StaticSecret::from([9; 32]))]);
    assert_eq!(
        p.process(&pkt).unwrap_err(),
        DropReason::BadMac,
        "epoch 0 key retired"
    );
}

#[test]
fn journaled_tags_restore_replay_protection_after_a_restart() {
    let mut n = net(1);
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let route = n
        .topology
        .forward_route(&mut rng, &NodeId([1; 32]), &NodeId([2; 32]))
        .unwrap();
    let pkt = build_packet(
        &mut rng,
        &route,
        NodeId([5; 32]),
        b"x",
        &[Duration::ZERO; 5],
    )
    .unwrap();
    let p = n.processors.get_mut(&NodeId([1; 32])).unwrap();
    p.enable_journal();
    assert!(p.process(&pkt).is_ok());
    let journal = p.take_journal();
    assert_eq!(journal.len(), 1);
    assert!(p.take_journal().is_empty());
    // a "restarted" node with the same key and the journal loaded
    let mut restarted = MixProcessor::new(0, StaticSecret::from([1; 32]));
    assert_eq!(restarted.preload(0, journal.iter().map(|(_, t)| *t)), 1);
    assert_eq!(
        restarted.preload(7, journal.iter().map(|(_, t)| *t)),
        0,
        "no such key"
    );
    assert_eq!(restarted.process(&pkt).unwrap_err(), DropReason::Replay);
}
