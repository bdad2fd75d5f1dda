//! A real relay over loopback: valid packets are forwarded while a bad peer throws garbage,
//! truncated frames and replays at it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use futures::{AsyncWriteExt, StreamExt};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha20Rng;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use wesh_mix::params::PACKET_BYTES;
use wesh_mix::{RouteNode, Topology, build_packet};
use wesh_node::keys::NodeKeys;
use wesh_node::metrics::get;
use wesh_node::net::SPHINX_PROTOCOL;
use wesh_node::net::frames::read_frame;
use wesh_node::net::swarm::start_swarm;
use wesh_node::relay::{RelaySpec, start_relay};
use wesh_node::topology_file::Role;

async fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_peer_does_not_harm_good_traffic() {
    let localhost: libp2p::Multiaddr = "/ip4/127.0.0.1/tcp/0".parse().unwrap();
    let (_stop_tx, stop) = watch::channel(false);
    let mix_keys = NodeKeys::generate();
    let sink_keys = NodeKeys::generate();
    let mix = RouteNode {
        id: mix_keys.node_id().unwrap(),
        sphinx_key: mix_keys.sphinx_public(),
    };
    let sink = RouteNode {
        id: sink_keys.node_id().unwrap(),
        sphinx_key: sink_keys.sphinx_public(),
    };

    // sink: counts forwarded frames
    let sink_net = start_swarm(
        sink_keys.identity.clone(),
        std::slice::from_ref(&localhost),
        &[],
        stop.clone(),
    )
    .await
    .unwrap();
    let got = Arc::new(AtomicU64::new(0));
    let mut incoming = sink_net.control.clone().accept(SPHINX_PROTOCOL).unwrap();
    let g = got.clone();
    tokio::spawn(async move {
        while let Some((_, mut s)) = incoming.next().await {
            let g = g.clone();
            tokio::spawn(async move {
                while let Ok(Some(f)) = read_frame(&mut s, PACKET_BYTES).await {
                    assert_eq!(f.len(), PACKET_BYTES);
                    g.fetch_add(1, Relaxed);
                }
            });
        }
    });

    let topology = Topology::new(vec![vec![mix], vec![sink], vec![sink]], vec![sink]).unwrap();
    let node = start_relay(RelaySpec {
        keys: mix_keys,
        role: Role::Mix,
        listen: vec![localhost.clone()],
        workers: 2,
        mean_hop_delay: Duration::from_millis(5),
        loop_rate: 0.0,
        addresses: vec![(sink_net.peer_id, sink_net.listen_addrs[0].clone())],
        topology: Some(topology),
        replay_attack: false,
        pki: None,
        data_dir: None,
    })
    .await
    .unwrap();
    let node_addr = node.listen_addrs()[0].clone();
    let node_peer = node.net.peer_id;

    // bad peer: random frames, one replayed valid packet, then a truncated frame
    let mut rng = ChaCha20Rng::seed_from_u64(42);
    let replayed = build_packet(
        &mut rng,
        &[mix, sink],
        sink.id,
        b"replay me",
        &[Duration::from_millis(1), Duration::ZERO],
    )
    .unwrap();
    let bad = start_swarm(
        NodeKeys::generate().identity,
        &[],
        &[(node_peer, node_addr.clone())],
        stop.clone(),
    )
    .await
    .unwrap();
    let mut s = bad
        .control
        .clone()
        .open_stream(node_peer, SPHINX_PROTOCOL)
        .await
        .unwrap();
    for _ in 0..100 {
        let junk: Vec<u8> = (0..PACKET_BYTES).map(|_| rng.random()).collect();
        s.write_all(&junk).await.unwrap();
    }
    for _ in 0..3 {
        s.write_all(&replayed).await.unwrap();
    }
    s.write_all(&[1, 2, 3]).await.unwrap();
    s.close().await.unwrap();

    // good peer: 50 valid packets with real (small) delays
    let good = start_swarm(
        NodeKeys::generate().identity,
        &[],
        &[(node_peer, node_addr)],
        stop.clone(),
    )
    .await
    .unwrap();
    let mut s = good
        .control
        .clone()
        .open_stream(node_peer, SPHINX_PROTOCOL)
        .await
        .unwrap();
    for i in 0..50u32 {
        let d = [Duration::from_millis(u64::from(i % 7)), Duration::ZERO];
        let p = build_packet(&mut rng, &[mix, sink], sink.id, &i.to_be_bytes(), &d).unwrap();
        s.write_all(&p).await.unwrap();
    }
    s.flush().await.unwrap();

    let m = node.metrics.clone();
    wait_for("51 forwarded packets", || got.load(Relaxed) == 51).await;
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
    assert!(get(&m.held_count) == 51);
    node.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_protection_survives_a_restart() {
    let localhost: libp2p::Multiaddr = "/ip4/127.0.0.1/tcp/0".parse().unwrap();
    let (_stop_tx, stop) = watch::channel(false);
    let dir = tempfile::tempdir().unwrap();
    let sink_keys = NodeKeys::generate();
    let sink = RouteNode {
        id: sink_keys.node_id().unwrap(),
        sphinx_key: sink_keys.sphinx_public(),
    };
    let sink_net = start_swarm(
        sink_keys.identity.clone(),
        std::slice::from_ref(&localhost),
        &[],
        stop.clone(),
    )
    .await
    .unwrap();
    let got = Arc::new(AtomicU64::new(0));
    let mut incoming = sink_net.control.clone().accept(SPHINX_PROTOCOL).unwrap();
    let g = got.clone();
    tokio::spawn(async move {
        while let Some((_, mut s)) = incoming.next().await {
            let g = g.clone();
            tokio::spawn(async move {
                while let Ok(Some(_)) = read_frame(&mut s, PACKET_BYTES).await {
                    g.fetch_add(1, Relaxed);
                }
            });
        }
    });
    let mix_keys = NodeKeys::load_or_create(dir.path()).unwrap();
    let mix = RouteNode {
        id: mix_keys.node_id().unwrap(),
        sphinx_key: mix_keys.sphinx_public(),
    };
    let topology = Topology::new(vec![vec![mix], vec![sink], vec![sink]], vec![sink]).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let packet = build_packet(
        &mut rng,
        &[mix, sink],
        sink.id,
        b"once",
        &[Duration::ZERO; 2],
    )
    .unwrap();
    let fresh = build_packet(
        &mut rng,
        &[mix, sink],
        sink.id,
        b"new",
        &[Duration::ZERO; 2],
    )
    .unwrap();

    let start = |keys: NodeKeys| {
        start_relay(RelaySpec {
            keys,
            role: Role::Mix,
            listen: vec![localhost.clone()],
            workers: 2,
            mean_hop_delay: Duration::ZERO,
            loop_rate: 0.0,
            addresses: vec![(sink_net.peer_id, sink_net.listen_addrs[0].clone())],
            topology: Some(topology.clone()),
            replay_attack: false,
            pki: None,
            data_dir: Some(dir.path().to_path_buf()),
        })
    };
    let send = |node_peer: libp2p::PeerId, addr: libp2p::Multiaddr, frames: Vec<Vec<u8>>| {
        let stop = stop.clone();
        async move {
            let peer = start_swarm(
                NodeKeys::generate().identity,
                &[],
                &[(node_peer, addr)],
                stop,
            )
            .await
            .unwrap();
            let mut s = peer
                .control
                .clone()
                .open_stream(node_peer, SPHINX_PROTOCOL)
                .await
                .unwrap();
            for f in frames {
                s.write_all(&f).await.unwrap();
            }
            s.flush().await.unwrap();
            peer
        }
    };

    let first = start(NodeKeys::load_or_create(dir.path()).unwrap())
        .await
        .unwrap();
    let _p1 = send(
        first.net.peer_id,
        first.listen_addrs()[0].clone(),
        vec![packet.clone()],
    )
    .await;
    wait_for("the first copy forwarded", || got.load(Relaxed) == 1).await;
    first.stop().await;

    let second = start(NodeKeys::load_or_create(dir.path()).unwrap())
        .await
        .unwrap();
    let m = second.metrics.clone();
    let _p2 = send(
        second.net.peer_id,
        second.listen_addrs()[0].clone(),
        vec![packet, fresh],
    )
    .await;
    wait_for("the replay dropped and the fresh packet forwarded", || {
        get(&m.drop_replay) == 1 && got.load(Relaxed) == 2
    })
    .await;
    assert_eq!(get(&m.forwarded), 1);
    second.stop().await;
}
