//! A real relay over loopback: valid packets are forwarded while a bad peer throws garbage,
//! truncated frames and replays at it; replay protection survives a restart.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::Sink;

use futures::AsyncWriteExt;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha20Rng;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use wesh_metrics::get;
use wesh_mix::params::PACKET_BYTES;
use wesh_mix::{RouteNode, Topology, build_packet};
use wesh_shell::drivers::packet_path::{RelayHandle, RelaySpec, start_relay};
use wesh_shell::keys::NodeKeys;
use wesh_shell::net::SPHINX_PROTOCOL;
use wesh_shell::net::swarm::{NetHandle, start_swarm};
use wesh_shell::topology_file::Role;

async fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A layer-1 mix that forwards to `sink`, optionally journaling replay tags in
/// `data_dir`. It admits frames only from the providers of its view (the previous hop of
/// layer 1): `senders` are made providers.
async fn start_mix(
    keys: NodeKeys,
    sink: &Sink,
    workers: usize,
    data_dir: Option<&Path>,
    senders: &[&NodeKeys],
) -> RelayHandle {
    let mix = RouteNode {
        id: keys.node_id().unwrap(),
        sphinx_key: keys.sphinx_public(),
    };
    let s = sink.node;
    start_relay(RelaySpec {
        keys,
        role: Role::Mix,
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
        workers,
        mean_hop_delay: Duration::from_millis(5),
        loop_rate: 0.0,
        addresses: vec![sink.address()],
        topology: Some(
            Topology::new(
                vec![vec![mix], vec![s], vec![s]],
                std::iter::once(s)
                    .chain(senders.iter().map(|k| RouteNode {
                        id: k.node_id().unwrap(),
                        sphinx_key: k.sphinx_public(),
                    }))
                    .collect(),
            )
            .unwrap(),
        ),
        hook: None,
        pki: None,
        data_dir: data_dir.map(Path::to_path_buf),
        mailboxes: None,
        payments: None,
    })
    .await
    .unwrap()
}

/// Opens a `/wesh/sphinx/1` stream to `node` as peer `from` and writes `frames`.
async fn send(
    node: &RelayHandle,
    frames: &[Vec<u8>],
    stop: watch::Receiver<bool>,
    from: &NodeKeys,
) -> NetHandle {
    let (peer, addr) = (node.net.peer_id, node.listen_addrs()[0].clone());
    let sender = start_swarm(from.identity.clone(), &[], &[(peer, addr)], stop)
        .await
        .unwrap();
    let mut s = sender
        .control
        .clone()
        .open_stream(peer, SPHINX_PROTOCOL)
        .await
        .unwrap();
    for f in frames {
        s.write_all(f).await.unwrap();
    }
    s.flush().await.unwrap();
    sender
}

fn route_of(keys: &NodeKeys, sink: &Sink) -> [RouteNode; 2] {
    [
        RouteNode {
            id: keys.node_id().unwrap(),
            sphinx_key: keys.sphinx_public(),
        },
        sink.node,
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_peer_does_not_harm_good_traffic() {
    let (_stop_tx, stop) = watch::channel(false);
    let sink = Sink::start(stop.clone()).await;
    let keys = NodeKeys::generate();
    let route = route_of(&keys, &sink);
    let (bad_keys, good_keys) = (NodeKeys::generate(), NodeKeys::generate());
    let node = start_mix(keys, &sink, 2, None, &[&bad_keys, &good_keys]).await;
    let mut rng = ChaCha20Rng::seed_from_u64(42);

    // bad peer: random frames, one valid packet three times, then a truncated frame
    let replayed = build_packet(
        &mut rng,
        &route,
        sink.node.id,
        b"replay me",
        &[Duration::from_millis(1), Duration::ZERO],
    )
    .unwrap();
    let mut bad: Vec<Vec<u8>> = (0..100)
        .map(|_| (0..PACKET_BYTES).map(|_| rng.random()).collect())
        .collect();
    bad.extend([replayed.clone(), replayed.clone(), replayed, vec![1, 2, 3]]);
    let _bad_peer = send(&node, &bad, stop.clone(), &bad_keys).await;

    // good peer: 50 valid packets with real (small) delays
    let good: Vec<Vec<u8>> = (0..50u32)
        .map(|i| {
            let d = [Duration::from_millis(u64::from(i % 7)), Duration::ZERO];
            build_packet(&mut rng, &route, sink.node.id, &i.to_be_bytes(), &d).unwrap()
        })
        .collect();
    let _good_peer = send(&node, &good, stop.clone(), &good_keys).await;

    let m = node.metrics.clone();
    wait_for("51 forwarded packets", || sink.count() == 51).await;
    wait_for("the bad frames to be counted", || {
        get(&m.drop_bad_mac) + get(&m.drop_malformed_header) == 100
    })
    .await;
    assert_eq!(
        get(&m.drop_replay),
        2,
        "two of the three copies are replays"
    );
    assert_eq!(get(&m.forwarded), 51);
    assert_eq!(get(&m.held_count), 51);
    node.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_protection_survives_a_restart() {
    let (_stop_tx, stop) = watch::channel(false);
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start(stop.clone()).await;
    let route = route_of(&NodeKeys::load_or_create(dir.path()).unwrap(), &sink);
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let packet = build_packet(
        &mut rng,
        &route,
        sink.node.id,
        b"once",
        &[Duration::ZERO; 2],
    )
    .unwrap();
    let fresh = build_packet(&mut rng, &route, sink.node.id, b"new", &[Duration::ZERO; 2]).unwrap();

    let provider = NodeKeys::generate();
    let first = start_mix(
        NodeKeys::load_or_create(dir.path()).unwrap(),
        &sink,
        2,
        Some(dir.path()),
        &[&provider],
    )
    .await;
    let _p1 = send(
        &first,
        std::slice::from_ref(&packet),
        stop.clone(),
        &provider,
    )
    .await;
    wait_for("the first copy forwarded", || sink.count() == 1).await;
    first.stop().await;

    let second = start_mix(
        NodeKeys::load_or_create(dir.path()).unwrap(),
        &sink,
        2,
        Some(dir.path()),
        &[&provider],
    )
    .await;
    let m = second.metrics.clone();
    let _p2 = send(&second, &[packet, fresh], stop.clone(), &provider).await;
    wait_for("the replay dropped and the fresh packet forwarded", || {
        get(&m.drop_replay) == 1 && sink.count() == 2
    })
    .await;
    assert_eq!(get(&m.forwarded), 1);
    second.stop().await;
}
