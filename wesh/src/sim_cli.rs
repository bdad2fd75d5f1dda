//! `wesh sim`: the anonymity lab's command line. It reads the configuration (a profile's
//! defaults, then `--config FILE`, then flags, then each `--sweep` point), runs the
//! simulator (`wesh-sim`, which reads no clock and no file), and writes what it reports:
//! JSON lines, a text summary, CSV files. The wall time and peak memory are measured here.

use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;
use wesh_sim::{SimConfig, SimReport};

#[derive(Debug, Args)]
#[command(
    long_about = "Simulate the mixnet on a virtual clock with the production cores (client \
    streams, Poisson holds, routes, layers, profiles) and measure what a global passive \
    adversary learns: the entropy of target messages, sender-receiver unlinkability \
    (epsilon, delta), latency, bandwidth and mix pools. Packets are opaque handles, so a \
    million clients fit on a laptop. The same seed and configuration give the same results \
    (but for the wall time). Metrics are defined in spec/anonymity.md.\n\n\
    Example: wesh sim --clients 1000 --mean-delay-ms 200 --seconds 60 --json\n\
    Sweep:   wesh sim --sweep mean-delay-ms=50,100,200,500 --csv out/\n\
    Plot:    wesh sim --sweep mean-delay-ms=50,100,200,500 --sweep clients=100,1000 --plot out/"
)]
pub struct SimArgs {
    /// Start from this client profile's rates and pull schedule (default, mobile, fast).
    #[arg(long, default_value = "default")]
    pub profile: String,
    /// A TOML file setting any of the fields below (names with underscores:
    /// `mean_delay_ms = 200`); flags win over it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Clients (each at provider `index mod providers`).
    #[arg(long)]
    pub clients: Option<u32>,
    /// Mix layers (the production topology has 3).
    #[arg(long)]
    pub layers: Option<u32>,
    /// Mixes per layer.
    #[arg(long)]
    pub width: Option<u32>,
    /// Providers.
    #[arg(long)]
    pub providers: Option<u32>,
    /// λ_P: real-or-drop packets per client per second.
    #[arg(long)]
    pub lambda_p: Option<f64>,
    /// λ_L: loops per client per second.
    #[arg(long)]
    pub lambda_l: Option<f64>,
    /// λ_D: drops per client per second.
    #[arg(long)]
    pub lambda_d: Option<f64>,
    /// λ_M: loops per mix and provider per second.
    #[arg(long)]
    pub lambda_m: Option<f64>,
    /// Mean hold per hop, in milliseconds (exponential).
    #[arg(long)]
    pub mean_delay_ms: Option<f64>,
    /// Real messages each client writes per second.
    #[arg(long)]
    pub message_rate: Option<f64>,
    /// Time between a client's pulls, in milliseconds.
    #[arg(long)]
    pub pull_interval_ms: Option<f64>,
    /// Payloads a pull takes at most.
    #[arg(long)]
    pub pull_slots: Option<u32>,
    /// Latency of every link, in milliseconds.
    #[arg(long)]
    pub link_latency_ms: Option<f64>,
    /// Target messages whose entropy is measured.
    #[arg(long)]
    pub targets: Option<u32>,
    /// Seconds simulated before measuring.
    #[arg(long)]
    pub burn_in_seconds: Option<f64>,
    /// Seconds measured.
    #[arg(long)]
    pub seconds: Option<f64>,
    /// Seconds simulated after measuring, so the targets leave the mixnet.
    #[arg(long)]
    pub cooldown_seconds: Option<f64>,
    /// Fraction of mixes and providers the adversary controls (it sees through their pools).
    #[arg(long)]
    pub corrupt_fraction: Option<f64>,
    /// Seed of the run (every random choice derives from it).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Make every packet a real Sphinx packet, built by the production builder and
    /// unwrapped by each node's processor, which decide its next hop and hold (about
    /// 0.3 ms a hop: at most 10,000 clients). The same seed gives the same results as
    /// without it; `sim.sphinx_mismatches` counts any header that disagreed.
    #[arg(long)]
    pub real_sphinx: bool,
    /// A grid: `NAME=v1,v2,...` (repeat for more dimensions); one run per point.
    #[arg(long, value_name = "NAME=V1,V2,...")]
    pub sweep: Vec<String>,
    /// One JSON object per run on stdout, one per line.
    #[arg(long)]
    pub json: bool,
    /// Write `runs.csv` (a row per run) and `targets.csv` (a row per target) in DIR.
    #[arg(long, value_name = "DIR")]
    pub csv: Option<PathBuf>,
    /// Draw the runs in DIR as SVG: `entropy.svg` (entropy against the first `--sweep`
    /// setting, one line per value of the others; without a sweep, the targets'
    /// entropies) and `latency.svg` (each run's latency CDF).
    #[arg(long, value_name = "DIR")]
    pub plot: Option<PathBuf>,
}

use crate::sim_plot::Point;

/// Why `wesh sim` stops.
#[derive(Debug, thiserror::Error)]
pub enum SimCliError {
    #[error("{0}")]
    Config(String),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Sim(#[from] wesh_sim::SimError),
    #[error(transparent)]
    Plot(#[from] crate::sim_plot::PlotError),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

impl SimArgs {
    /// The base configuration: profile, then file, then flags.
    fn base(&self) -> Result<SimConfig, SimCliError> {
        let mut cfg = SimConfig::named_profile(&self.profile)
            .map_err(|e| SimCliError::Config(e.to_string()))?;
        if let Some(path) = &self.config {
            let text = std::fs::read_to_string(path).map_err(|source| SimCliError::Read {
                path: path.clone(),
                source,
            })?;
            let table: toml::Table = toml::from_str(&text)
                .map_err(|e| SimCliError::Config(format!("{}: {e}", path.display())))?;
            for (name, value) in table {
                let v = match value {
                    toml::Value::String(s) => s,
                    other => other.to_string(),
                };
                cfg.set(&name, &v)
                    .map_err(|e| SimCliError::Config(format!("{}: {e}", path.display())))?;
            }
        }
        let flags: [(&str, Option<String>); 20] = [
            ("clients", self.clients.map(|v| v.to_string())),
            ("layers", self.layers.map(|v| v.to_string())),
            ("width", self.width.map(|v| v.to_string())),
            ("providers", self.providers.map(|v| v.to_string())),
            ("lambda_p", self.lambda_p.map(|v| v.to_string())),
            ("lambda_l", self.lambda_l.map(|v| v.to_string())),
            ("lambda_d", self.lambda_d.map(|v| v.to_string())),
            ("lambda_m", self.lambda_m.map(|v| v.to_string())),
            ("mean_delay_ms", self.mean_delay_ms.map(|v| v.to_string())),
            ("message_rate", self.message_rate.map(|v| v.to_string())),
            (
                "pull_interval_ms",
                self.pull_interval_ms.map(|v| v.to_string()),
            ),
            ("pull_slots", self.pull_slots.map(|v| v.to_string())),
            (
                "link_latency_ms",
                self.link_latency_ms.map(|v| v.to_string()),
            ),
            ("targets", self.targets.map(|v| v.to_string())),
            (
                "burn_in_seconds",
                self.burn_in_seconds.map(|v| v.to_string()),
            ),
            ("seconds", self.seconds.map(|v| v.to_string())),
            (
                "cooldown_seconds",
                self.cooldown_seconds.map(|v| v.to_string()),
            ),
            (
                "corrupt_fraction",
                self.corrupt_fraction.map(|v| v.to_string()),
            ),
            ("seed", self.seed.map(|v| v.to_string())),
            ("real_sphinx", self.real_sphinx.then(|| "true".to_string())),
        ];
        for (name, value) in flags {
            if let Some(v) = value {
                cfg.set(name, &v).map_err(SimCliError::Config)?;
            }
        }
        Ok(cfg)
    }

    /// Every run of the grid (the base alone without `--sweep`), each validated.
    fn runs(&self) -> Result<Vec<(Point, SimConfig)>, SimCliError> {
        let mut points: Vec<Point> = vec![Vec::new()];
        for spec in &self.sweep {
            let (name, values) = spec.split_once('=').ok_or_else(|| {
                SimCliError::Config(format!("--sweep {spec:?}: expected NAME=V1,V2,..."))
            })?;
            let values: Vec<&str> = values.split(',').map(str::trim).collect();
            if values.iter().any(|v| v.is_empty()) {
                return Err(SimCliError::Config(format!(
                    "--sweep {spec:?}: empty value"
                )));
            }
            points = points
                .into_iter()
                .flat_map(|p| {
                    values.iter().map(move |v| {
                        let mut q = p.clone();
                        q.push((name.to_string(), v.to_string()));
                        q
                    })
                })
                .collect();
        }
        let base = self.base()?;
        points
            .into_iter()
            .map(|point| {
                let mut cfg = base.clone();
                for (name, value) in &point {
                    cfg.set(name, value)
                        .map_err(|e| SimCliError::Config(format!("--sweep: {e}")))?;
                }
                cfg.validate()
                    .map_err(|e| SimCliError::Config(e.to_string()))?;
                Ok((point, cfg))
            })
            .collect()
    }
}

/// Runs `wesh sim`.
pub fn sim(args: SimArgs) -> Result<(), SimCliError> {
    let runs = args.runs()?;
    let total = runs.len();
    let mut reports = Vec::with_capacity(total);
    let show_progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
    for (i, (point, cfg)) in runs.into_iter().enumerate() {
        let bar = show_progress.then(|| {
            let bar = indicatif::ProgressBar::new(1000);
            let label = if point.is_empty() {
                "simulating".to_string()
            } else {
                let p: Vec<String> = point.iter().map(|(n, v)| format!("{n}={v}")).collect();
                format!("run {}/{total} {}", i + 1, p.join(" "))
            };
            bar.set_style(
                indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {percent}% {elapsed}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar.set_message(label);
            bar
        });
        let started = Instant::now();
        let mut report = wesh_sim::run(&cfg, &mut |done| {
            if let Some(b) = &bar {
                b.set_position((done * 1000.0) as u64);
            }
        })?;
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        let wall = started.elapsed().as_secs_f64();
        report.sim.wall_seconds = wesh_sim::report::round3(wall);
        report.sim.events_per_s = (report.sim.events as f64 / wall.max(1e-9)).round();
        report.sim.peak_rss_bytes = peak_rss_bytes();
        let text = if args.json {
            format!("{}\n", serde_json::to_string(&report)?)
        } else {
            summary(&point, &report)
        };
        let mut out = std::io::stdout().lock();
        match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            Ok(()) => {}
            // the reader has gone (`| head`): the runs and the CSV files go on
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            Err(source) => {
                return Err(SimCliError::Write {
                    path: "stdout".into(),
                    source,
                });
            }
        }
        reports.push((point, report));
    }
    if let Some(dir) = &args.csv {
        write_csv(dir, &reports)?;
    }
    if let Some(dir) = &args.plot {
        for path in crate::sim_plot::write_plots(dir, &reports)? {
            eprintln!("wrote {}", path.display());
        }
    }
    Ok(())
}

/// The process's peak resident memory (Linux `VmHWM`), 0 where unknown.
fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn summary(point: &Point, r: &SimReport) -> String {
    let a = &r.anonymity;
    let mut s = String::new();
    if !point.is_empty() {
        let p: Vec<String> = point.iter().map(|(n, v)| format!("{n}={v}")).collect();
        s.push_str(&format!("[{}]\n", p.join(" ")));
    }
    s.push_str(&format!(
        "wesh sim: {} clients, {} mixes, {} providers, {:.0} s simulated ({} events in {:.1} s)\n",
        r.sim.clients,
        r.sim.mixes,
        r.sim.providers,
        r.sim.virtual_seconds,
        r.sim.events,
        r.sim.wall_seconds
    ));
    s.push_str(&format!(
        "  entropy {:.2} bits (p5 {:.2}, anonymity set {:.0}) over {} targets; epsilon {:.3}, delta {:.3}\n",
        a.entropy_bits, a.entropy_bits_p5, a.anonymity_set, a.targets, a.epsilon, a.delta
    ));
    s.push_str(&format!(
        "  latency p50 {:.0} ms, p99 {:.0} ms (delivered: p50 {:.0} ms, p99 {:.0} ms)\n",
        r.latency_ms.p50, r.latency_ms.p99, r.delivery_latency_ms.p50, r.delivery_latency_ms.p99
    ));
    s.push_str(&format!(
        "  client {:.0} B/s up, {:.0} B/s down; mix pool {:.1} (min {:.1}), {:.0} packets/s\n",
        r.bandwidth.client_up_bytes_per_s,
        r.bandwidth.client_down_bytes_per_s,
        r.mix.pool_mean,
        r.mix.pool_min,
        r.mix.load_pps
    ));
    s
}

fn write_csv(dir: &PathBuf, reports: &[(Point, SimReport)]) -> Result<(), SimCliError> {
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::write(&path, text))
            .map_err(|source| SimCliError::Write { path, source })
    };
    let mut runs = String::from(
        "run,point,clients,mean_delay_ms,lambda_p,lambda_l,lambda_d,lambda_m,corrupt_fraction,seed,\
         entropy_bits,entropy_bits_p5,targets,mass_accounted,epsilon,delta,latency_p50_ms,\
         latency_p99_ms,delivery_p50_ms,delivery_p99_ms,client_up_bytes_per_s,\
         client_down_bytes_per_s,pool_mean,load_pps,events,wall_seconds\n",
    );
    let mut targets = String::from("run,target,entropy_bits,mass\n");
    for (i, (point, r)) in reports.iter().enumerate() {
        let c = &r.config;
        let p: Vec<String> = point.iter().map(|(n, v)| format!("{n}={v}")).collect();
        runs.push_str(&format!(
            "{i},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
            p.join(" "),
            c.clients,
            c.mean_delay_ms,
            c.lambda_p,
            c.lambda_l,
            c.lambda_d,
            c.lambda_m,
            c.corrupt_fraction,
            c.seed,
            r.anonymity.entropy_bits,
            r.anonymity.entropy_bits_p5,
            r.anonymity.targets,
            r.anonymity.mass_accounted,
            r.anonymity.epsilon,
            r.anonymity.delta,
            r.latency_ms.p50,
            r.latency_ms.p99,
            r.delivery_latency_ms.p50,
            r.delivery_latency_ms.p99,
            r.bandwidth.client_up_bytes_per_s,
            r.bandwidth.client_down_bytes_per_s,
            r.mix.pool_mean,
            r.mix.load_pps,
            r.sim.events,
            r.sim.wall_seconds
        ));
        for (k, (bits, mass)) in r.per_target.iter().enumerate() {
            targets.push_str(&format!("{i},{k},{bits:.6},{mass:.6}\n"));
        }
    }
    write("runs.csv", runs)?;
    write("targets.csv", targets)
}
