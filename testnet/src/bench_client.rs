//! `wesh bench client`: what an idle client costs at a traffic profile (`--profile`, as
//! `wesh client`): CPU as a share of one core, and the bytes on its connections per day.
//! The client runs as its own process (`wesh client`) against a real network started here
//! (3 mixes, 1 provider, a static topology). Its CPU time is read from /proc; its bytes
//! are its own transport counters (below Noise and Yamux), scraped from its `--metrics`
//! endpoint at both ends of the interval. The network's own CPU time over the same
//! interval is reported beside it as the baseline measured in the same run.
//! Targets: CPU under 3 % of one core (issue "Wesh over the mixnet"); bandwidth within the
//! profile's budget (issue 18: `default` ≤ 1.5 GB/day, `mobile` ≤ 300 MB/day).

use clap::Args;
use serde::Serialize;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wesh_mix::params::DEFAULT_MEAN_HOP_DELAY;
use wesh_mix::{RouteNode, Topology};
use wesh_shell::drivers::packet_path::{RelayHandle, RelaySpec, start_relay};
use wesh_shell::keys::NodeKeys;
use wesh_shell::storage::{MailboxLimits, MailboxStore};
use wesh_shell::topology_file::{NodeEntry, Role, TopologyFile};

#[derive(Debug, Clone, Args)]
pub struct ClientBenchArgs {
    /// Seconds of measurement (after a warm-up of two seconds).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(2..=600))]
    pub seconds: u64,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub traffic: wesh_config::ProfileArgs,
}

/// Bytes on the client's connections, per day at the measured rate.
#[derive(Debug, Serialize)]
pub struct Bandwidth {
    pub up_bytes_per_day: f64,
    pub down_bytes_per_day: f64,
    pub total_bytes_per_day: f64,
    /// What the profile's model predicts (Sphinx packets and pull answers, no framing).
    pub modelled_bytes_per_day: f64,
    /// The profile's budget, if it has one.
    pub budget_bytes_per_day: Option<f64>,
    /// total / budget (below 1 meets it).
    pub ratio_to_budget: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct ClientBenchReport {
    /// The traffic profile's name (overrides keep it).
    pub profile: String,
    pub measured_seconds: f64,
    /// The idle client's CPU time over wall time, in % of one core.
    pub client_cpu_percent: f64,
    /// The target, in % of one core.
    pub target_percent: f64,
    /// client_cpu_percent / target_percent (below 1 meets the target).
    pub ratio_to_target: f64,
    /// The network's CPU (this process: 3 mixes and a provider relaying the client's
    /// cover and their own loops) over the same interval, in % of one core.
    pub network_cpu_percent: f64,
    pub bandwidth: Bandwidth,
}

/// Budgets of issue 18, bytes per day (up and down together).
fn budget_of(profile: &str) -> Option<f64> {
    match profile {
        "default" => Some(1.5e9),
        "mobile" => Some(3e8),
        _ => None,
    }
}

const TARGET_PERCENT: f64 = 3.0;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// CPU time of a process in seconds: the sum over its threads of the time on a CPU from
/// /proc/<pid>/task/*/schedstat (nanoseconds; clock ticks of /proc/<pid>/stat are 10 ms,
/// too coarse for a client using about 1 %).
fn cpu_seconds(pid: &str) -> Result<f64, String> {
    let mut ns: u64 = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).map_err(err)? {
        let path = task.map_err(err)?.path().join("schedstat");
        // a thread that ended between the listing and the read is skipped
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        let first = text.split_whitespace().next().ok_or("bad schedstat")?;
        ns += first.parse::<u64>().map_err(err)?;
    }
    Ok(ns as f64 / 1e9)
}

async fn start_network(
    dir: &std::path::Path,
) -> Result<(Vec<RelayHandle>, TopologyFile, String), String> {
    let localhost: libp2p::Multiaddr = "/ip4/127.0.0.1/tcp/0".parse().map_err(err)?;
    let keys: Vec<NodeKeys> = (0..4).map(|_| NodeKeys::generate()).collect();
    let nodes: Vec<RouteNode> = keys
        .iter()
        .map(|k| {
            Ok(RouteNode {
                id: k.node_id().map_err(err)?,
                sphinx_key: k.sphinx_public(),
            })
        })
        .collect::<Result<_, String>>()?;
    let topology = Topology::new(
        vec![vec![nodes[0]], vec![nodes[1]], vec![nodes[2]]],
        vec![nodes[3]],
    )
    .map_err(err)?;
    let mut relays = Vec::new();
    for (i, k) in keys.into_iter().enumerate() {
        let role = if i == 3 {
            wesh_shell::topology_file::Role::Provider
        } else {
            wesh_shell::topology_file::Role::Mix
        };
        let mailboxes = match role {
            Role::Provider => Some(Arc::new(
                MailboxStore::open(dir.join("provider"), MailboxLimits::default()).map_err(err)?,
            )),
            Role::Mix => None,
        };
        relays.push(
            start_relay(RelaySpec {
                keys: k,
                role,
                listen: vec![localhost.clone()],
                workers: 1,
                mean_hop_delay: DEFAULT_MEAN_HOP_DELAY,
                loop_rate: wesh_mix::params::DEFAULT_MIX_LOOP_RATE,
                addresses: Vec::new(),
                topology: Some(topology.clone()),
                hook: None,
                pki: None,
                data_dir: None,
                mailboxes,
                payments: None,
            })
            .await
            .map_err(err)?,
        );
    }
    let mut file = TopologyFile::default();
    for (i, (r, n)) in relays.iter().zip(&nodes).enumerate() {
        let addr = r
            .listen_addrs()
            .first()
            .cloned()
            .ok_or("relay has no address")?;
        file.nodes.push(NodeEntry {
            id: hex::encode(n.id.0),
            role: if i == 3 { Role::Provider } else { Role::Mix },
            layer: (i < 3).then_some(i as u8 + 1),
            sphinx_key: hex::encode(n.sphinx_key.as_bytes()),
            addrs: vec![addr.to_string()],
        });
    }
    for r in &relays {
        for n in &file.nodes {
            if let (Some(peer), Some(a)) = (
                hex::decode(&n.id)
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .and_then(|b| wesh_shell::keys::peer_id_of(&wesh_mix::NodeId(b))),
                n.addrs.first().and_then(|a| a.parse().ok()),
            ) {
                r.net.add_address(peer, a);
            }
        }
    }
    let provider = &relays[3];
    let provider_addr = format!(
        "{}/p2p/{}",
        provider
            .listen_addrs()
            .first()
            .ok_or("provider has no address")?,
        provider.net.peer_id
    );
    Ok((relays, file, provider_addr))
}

pub async fn run_client_bench(args: ClientBenchArgs) -> Result<(), String> {
    let profile = args
        .traffic
        .resolve(&Default::default())
        .map_err(|e| e.to_string())?;
    let dir = tempfile::tempdir().map_err(err)?;
    let (relays, file, provider_addr) = start_network(dir.path()).await?;
    for r in &relays {
        r.start_cover();
    }
    let topo_path = dir.path().join("topology.toml");
    std::fs::write(&topo_path, file.to_toml().map_err(err)?).map_err(err)?;
    let exe = std::env::current_exe().map_err(err)?;
    let mut child = Command::new(exe)
        .args(["client", "--data-dir"])
        .arg(dir.path().join("client"))
        .args(["--provider", &provider_addr, "--topology"])
        .arg(&topo_path)
        .args(["--metrics", "127.0.0.1:0"])
        .args(args.traffic.to_args())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the client: {e}"))?;
    let pid = child.id().to_string();
    let stdout = child.stdout.take().ok_or("no client stdout")?;
    // the client prints its metrics address, then its own address once it runs
    let ready = tokio::task::spawn_blocking(move || {
        let mut metrics = None;
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("metrics: http://") {
                metrics = url.strip_suffix("/metrics").map(str::to_string);
            }
            if line.contains("client address") {
                return metrics;
            }
        }
        None
    });
    let ready = tokio::time::timeout(Duration::from_secs(20), ready).await;
    let result = match ready {
        Ok(Ok(Some(metrics))) => measure(&pid, &metrics, args.seconds, &profile).await,
        _ => Err("the client did not start within 20 s".to_string()),
    };
    let _ = child.kill();
    let _ = child.wait();
    for r in relays {
        r.shutdown();
    }
    let report = result?;
    if args.json {
        println!("{}", serde_json::to_string(&report).map_err(err)?);
    } else {
        let b = &report.bandwidth;
        println!(
            "idle client at the {} profile (λ_P {}/s, λ_L {}/s, λ_D {}/s, {} slots every {} ms): {:.2} % of one core over {:.1} s (target < {TARGET_PERCENT} %, ratio {:.2}); the network of 4 relays used {:.2} %",
            profile.name,
            profile.traffic.real_rate,
            profile.traffic.loop_rate,
            profile.traffic.drop_rate,
            profile.pull_slots,
            profile.pull_interval.as_millis(),
            report.client_cpu_percent,
            report.measured_seconds,
            report.ratio_to_target,
            report.network_cpu_percent
        );
        println!(
            "bandwidth: {:.0} MB/day up, {:.0} MB/day down, {:.0} MB/day in all (model {:.0} MB/day{})",
            b.up_bytes_per_day / 1e6,
            b.down_bytes_per_day / 1e6,
            b.total_bytes_per_day / 1e6,
            b.modelled_bytes_per_day / 1e6,
            match (b.budget_bytes_per_day, b.ratio_to_budget) {
                (Some(budget), Some(r)) =>
                    format!("; budget {:.0} MB/day, ratio {r:.2}", budget / 1e6),
                _ => String::new(),
            }
        );
    }
    Ok(())
}

/// The client's (sent, received) transport bytes, from its metrics endpoint.
async fn client_bytes(metrics: &str) -> Result<(f64, f64), String> {
    let addr = wesh_shell::net::metrics_http::parse_metrics_addr(metrics).map_err(err)?;
    let body = wesh_shell::net::metrics_http::fetch_metrics(addr)
        .await
        .map_err(err)?;
    let s = wesh_metrics::Scraped::parse(&body).map_err(err)?;
    let get = |direction| {
        s.value("wesh_transport_bytes_total", &[("direction", direction)])
            .ok_or("the client's metrics lack wesh_transport_bytes_total")
    };
    Ok((get("sent")?, get("received")?))
}

async fn measure(
    pid: &str,
    metrics: &str,
    seconds: u64,
    profile: &wesh_mix::ClientProfile,
) -> Result<ClientBenchReport, String> {
    tokio::time::sleep(Duration::from_secs(2)).await;
    let me = std::process::id().to_string();
    let (up1, down1) = client_bytes(metrics).await?;
    let (c1, n1, t1) = (cpu_seconds(pid)?, cpu_seconds(&me)?, Instant::now());
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let (c2, n2, t2) = (cpu_seconds(pid)?, cpu_seconds(&me)?, Instant::now());
    let (up2, down2) = client_bytes(metrics).await?;
    let wall = t2.duration_since(t1).as_secs_f64();
    let pct = |a: f64, b: f64| (b - a).max(0.0) / wall * 100.0;
    let client = pct(c1, c2);
    let per_day =
        |a: f64, b: f64| ((b - a).max(0.0) / wall * wesh_mix::params::SECONDS_PER_DAY).round();
    let (up, down) = (per_day(up1, up2), per_day(down1, down2));
    let budget = budget_of(&profile.name);
    Ok(ClientBenchReport {
        profile: profile.name.clone(),
        measured_seconds: wall,
        client_cpu_percent: (client * 100.0).round() / 100.0,
        target_percent: TARGET_PERCENT,
        ratio_to_target: ((client / TARGET_PERCENT) * 100.0).round() / 100.0,
        network_cpu_percent: (pct(n1, n2) * 100.0).round() / 100.0,
        bandwidth: Bandwidth {
            up_bytes_per_day: up,
            down_bytes_per_day: down,
            total_bytes_per_day: up + down,
            modelled_bytes_per_day: profile.modelled_bytes_per_day().round(),
            budget_bytes_per_day: budget,
            ratio_to_budget: budget.map(|b| ((up + down) / b * 100.0).round() / 100.0),
        },
    })
}
