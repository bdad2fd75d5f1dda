//! `wesh bench mix`: a real mix node over loopback at saturation, against raw
//! sphinx-packet processing measured in the same run.
//!
//! Three parties share this machine: a load generator that writes pre-built packets as
//! fast as the link takes them, the mix node under test, and a sink that counts what the
//! mix forwards. `workers` is the number of Sphinx threads the node runs; by default one
//! core is left to the network I/O of all three parties, so `ratio` =
//! node rate / (raw rate of one core × workers) measures the node's own overhead.

use clap::Args;
use futures::{AsyncWriteExt, StreamExt};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde::Serialize;
use sphinx_packet::{ProcessedPacketData, SphinxPacket};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use wesh_mix::params::PACKET_BYTES;
use wesh_mix::{NodeId, RouteNode, Topology, build_packet, seed_from};
use wesh_shell::drivers::packet_path::{RelaySpec, start_relay};
use wesh_shell::keys::NodeKeys;
use wesh_shell::net::SPHINX_PROTOCOL;
use wesh_shell::net::frames::read_frame;
use wesh_shell::net::swarm::start_swarm;
use wesh_shell::topology_file::Role;
use x25519_dalek::StaticSecret;

#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Seconds of measurement at saturation (after a warm-up of one second).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=120))]
    pub seconds: u64,
    /// Sphinx worker threads in the node under test (default: cores − 1, at least 1).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
pub struct MixBenchReport {
    /// Mean of the raw rate measured just before and just after the node run (the
    /// machine's speed drifts; comparing against both ends of the run cancels most of it).
    pub raw_process_per_s: f64,
    pub raw_before_per_s: f64,
    pub raw_after_per_s: f64,
    pub node_packets_per_s: f64,
    pub workers: usize,
    pub ratio: f64,
    pub build_per_s: f64,
    pub packets_prepared: usize,
    pub measured_seconds: f64,
    pub node_drops: u64,
    pub cores: usize,
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Raw sphinx-packet cost of one hop: decode, process, encode the next packet.
fn raw_rate(packet: &[u8], secret: &StaticSecret, min_time: Duration) -> Result<f64, String> {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < min_time {
        for _ in 0..64 {
            let p = SphinxPacket::from_bytes(packet).map_err(err)?;
            match p.process(secret).map_err(err)?.data {
                ProcessedPacketData::ForwardHop {
                    next_hop_packet, ..
                } => {
                    std::hint::black_box(next_hop_packet.to_bytes());
                }
                ProcessedPacketData::FinalHop { .. } => {
                    return Err("bench packet ended early".into());
                }
            }
            n += 1;
        }
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

/// Builds `count` distinct packets for `route` on every core.
fn build_many(route: &[RouteNode], dest: NodeId, count: usize) -> Result<Vec<Vec<u8>>, String> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let per = count.div_ceil(threads);
    let results: Vec<Result<Vec<Vec<u8>>, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(move || {
                    let mut rng = ChaCha20Rng::from_seed(seed_from(&mut rand::rng()));
                    (0..per)
                        .map(|_| {
                            build_packet(&mut rng, route, dest, b"bench", &[Duration::ZERO; 2])
                                .map_err(err)
                        })
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("builder thread died".into()))
            })
            .collect()
    });
    let mut all = Vec::with_capacity(count);
    for r in results {
        all.extend(r?);
    }
    all.truncate(count);
    Ok(all)
}

pub async fn run_mix_bench(args: BenchArgs) -> Result<(), String> {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let workers = args
        .workers
        .unwrap_or(cores.saturating_sub(1).max(1))
        .max(1);
    let mix_keys = NodeKeys::generate();
    let sink_keys = NodeKeys::generate();
    let mix = RouteNode {
        id: mix_keys.node_id().map_err(err)?,
        sphinx_key: mix_keys.sphinx_public(),
    };
    let sink = RouteNode {
        id: sink_keys.node_id().map_err(err)?,
        sphinx_key: sink_keys.sphinx_public(),
    };
    let route = [mix, sink];

    // 1. raw rate on one core, and the cost of building packets
    let secret = StaticSecret::from(mix_keys.sphinx_secret.to_bytes());
    let probe = build_many(&route, sink.id, 1)?
        .pop()
        .ok_or("no packet built")?;
    let (probe2, secret2) = (probe.clone(), secret.clone());
    let raw_before =
        tokio::task::spawn_blocking(move || raw_rate(&probe, &secret, Duration::from_millis(1500)))
            .await
            .map_err(err)??;
    let raw = raw_before;
    let t = Instant::now();
    let sample = build_many(&route, sink.id, 2000)?;
    let build_per_s = sample.len() as f64 / t.elapsed().as_secs_f64();
    drop(sample);

    // 2. enough distinct packets to keep the node saturated for warm-up + measurement
    // (each must be new: the node's replay filter drops repeats)
    let needed = (raw * workers as f64 * (args.seconds as f64 + 1.5) * 1.1) as usize;
    let packets = tokio::task::spawn_blocking(move || build_many(&route, sink.id, needed))
        .await
        .map_err(err)??;

    // 3. the node under test, the sink, and the load generator, all on loopback
    let localhost: libp2p::Multiaddr = "/ip4/127.0.0.1/tcp/0".parse().map_err(err)?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let sink_net = start_swarm(
        sink_keys.identity.clone(),
        std::slice::from_ref(&localhost),
        &[],
        stop_rx.clone(),
    )
    .await
    .map_err(err)?;
    let received = Arc::new(AtomicU64::new(0));
    let mut sink_control = sink_net.control.clone();
    let mut incoming = sink_control.accept(SPHINX_PROTOCOL).map_err(err)?;
    let counter = received.clone();
    tokio::spawn(async move {
        while let Some((_, mut stream)) = incoming.next().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                while let Ok(Some(_)) = read_frame(&mut stream, PACKET_BYTES).await {
                    counter.fetch_add(1, Relaxed);
                }
            });
        }
    });
    let sink_addr = sink_net
        .listen_addrs
        .first()
        .cloned()
        .ok_or("sink has no address")?;
    // the load generator is a provider of the view: a layer-1 mix admits only providers
    let load_keys = NodeKeys::generate();
    let load = RouteNode {
        id: load_keys.node_id().map_err(err)?,
        sphinx_key: load_keys.sphinx_public(),
    };
    let topology =
        Topology::new(vec![vec![mix], vec![sink], vec![sink]], vec![sink, load]).map_err(err)?;
    let node = start_relay(RelaySpec {
        keys: mix_keys,
        role: Role::Mix,
        listen: vec![localhost.clone()],
        workers,
        mean_hop_delay: Duration::ZERO,
        loop_rate: 0.0,
        addresses: vec![(sink_net.peer_id, sink_addr)],
        topology: Some(topology),
        hook: None,
        pki: None,
        data_dir: None,
        mailboxes: None,
        payments: None,
    })
    .await
    .map_err(err)?;
    let node_addr = node
        .listen_addrs()
        .first()
        .cloned()
        .ok_or("node has no address")?;
    let node_peer = node.net.peer_id;
    let load_net = start_swarm(
        load_keys.identity.clone(),
        &[],
        &[(node_peer, node_addr)],
        stop_rx.clone(),
    )
    .await
    .map_err(err)?;
    let mut control = load_net.control.clone();
    let mut stream = control
        .open_stream(node_peer, SPHINX_PROTOCOL)
        .await
        .map_err(err)?;
    let total = packets.len();
    let writer = tokio::spawn(async move {
        for (i, p) in packets.iter().enumerate() {
            if stream.write_all(p).await.is_err() {
                return i;
            }
        }
        let _ = stream.flush().await;
        total
    });

    // 4. measure at saturation after a warm-up
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (c1, t1) = (received.load(Relaxed), Instant::now());
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let (c2, t2) = (received.load(Relaxed), Instant::now());
    let exhausted = writer.is_finished() && c2 as usize >= total;
    let node_rate = (c2 - c1) as f64 / t2.duration_since(t1).as_secs_f64();
    let node_drops: u64 = node.metrics.drops().iter().map(|(_, n)| n).sum();
    let _ = stop_tx.send(true);
    writer.abort();
    node.shutdown();
    let raw_after = tokio::task::spawn_blocking(move || {
        raw_rate(&probe2, &secret2, Duration::from_millis(1500))
    })
    .await
    .map_err(err)??;
    let raw = (raw_before + raw_after) / 2.0;
    if exhausted {
        tracing::warn!(
            "the load generator ran out of packets before the end: the figure is a lower bound"
        );
    }
    let report = MixBenchReport {
        raw_process_per_s: raw.round(),
        raw_before_per_s: raw_before.round(),
        raw_after_per_s: raw_after.round(),
        node_packets_per_s: node_rate.round(),
        workers,
        ratio: ((node_rate / (raw * workers as f64)) * 1000.0).round() / 1000.0,
        build_per_s: build_per_s.round(),
        packets_prepared: total,
        measured_seconds: t2.duration_since(t1).as_secs_f64(),
        node_drops,
        cores,
    };
    if args.json {
        println!("{}", serde_json::to_string(&report).map_err(err)?);
    } else {
        println!(
            "mix node: {:.0} packets/s with {} Sphinx worker(s); raw sphinx-packet: {:.0}/s on one core\nratio node / (raw x workers) = {:.3}   (packet build: {:.0}/s on {} cores; node drops: {})",
            report.node_packets_per_s,
            workers,
            report.raw_process_per_s,
            report.ratio,
            report.build_per_s,
            cores,
            node_drops
        );
    }
    Ok(())
}
