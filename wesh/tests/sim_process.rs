//! `wesh sim` as a real process: one JSON object per run with the documented fields, the
//! same seed gives the same results, a sweep gives one line per point, and entropy follows
//! the Loopix trends (it grows with the mixing delay and with the number of clients).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::{json_lines, succeed, wesh};

fn sim(args: &[&str]) -> Vec<serde_json::Value> {
    json_lines(
        wesh()
            .args(["sim", "--json", "--seconds", "20", "--burn-in-seconds", "5"])
            .args(args),
    )
}

fn entropy(j: &serde_json::Value) -> f64 {
    j["anonymity"]["entropy_bits"].as_f64().unwrap()
}

#[test]
fn sim_reports_deterministic_metrics_that_follow_the_loopix_trends() {
    let a = sim(&["--clients", "500", "--mean-delay-ms", "50", "--seed", "3"]);
    let again = sim(&["--clients", "500", "--mean-delay-ms", "50", "--seed", "3"]);
    assert_eq!(a.len(), 1);
    for field in ["anonymity", "latency_ms", "bandwidth", "mix"] {
        assert_eq!(a[0][field], again[0][field], "{field} differs for one seed");
    }
    for path in [
        "/anonymity/entropy_bits",
        "/anonymity/entropy_bits_p5",
        "/anonymity/epsilon",
        "/anonymity/delta",
        "/anonymity/targets",
        "/latency_ms/p99",
        "/bandwidth/client_up_bytes_per_s",
        "/bandwidth/client_down_bytes_per_s",
        "/mix/pool_mean",
        "/sim/events",
        "/sim/wall_seconds",
        "/sim/peak_rss_bytes",
    ] {
        assert!(a[0].pointer(path).is_some(), "no {path}");
    }
    assert_eq!(a[0]["anonymity"]["targets"], 100);
    let sweep = sim(&[
        "--clients",
        "500",
        "--seed",
        "3",
        "--sweep",
        "mean-delay-ms=50,500",
        "--sweep",
        "clients=50,500",
    ]);
    assert_eq!(sweep.len(), 4, "one line per point of the grid");
    let e = |delay: f64, clients: u64| {
        sweep
            .iter()
            .find(|j| {
                j["config"]["mean_delay_ms"].as_f64() == Some(delay)
                    && j["config"]["clients"].as_u64() == Some(clients)
            })
            .map(entropy)
            .unwrap()
    };
    assert!(e(500.0, 500) > e(50.0, 500) + 1.0, "longer holds mix more");
    assert!(e(500.0, 500) > e(500.0, 50) + 1.0, "more clients mix more");
    assert_eq!(
        e(50.0, 500),
        entropy(&a[0]),
        "the sweep point is the same run"
    );
}

/// `--real-sphinx` from the command line: real packets, every hop unwrapped, no mismatch.
#[test]
fn real_sphinx_runs_real_packets() {
    let j = sim(&["--clients", "20", "--real-sphinx", "--seed", "4"]);
    assert!(
        j[0]["sim"]["sphinx_hops"].as_u64().unwrap() > 0,
        "{}",
        j[0]["sim"]
    );
    assert_eq!(j[0]["sim"]["sphinx_mismatches"], 0);
    assert_eq!(j[0]["config"]["real_sphinx"], true);
}

#[test]
fn bad_settings_are_refused_by_name() {
    for (args, expected) in [
        (vec!["--layers", "4"], "layers"),
        (vec!["--corrupt-fraction", "2"], "corrupt_fraction"),
        (vec!["--sweep", "speed=1"], "speed"),
        (vec!["--profile", "laptop"], "laptop"),
        (vec!["--real-sphinx", "--clients", "20000"], "real_sphinx"),
    ] {
        let out = wesh().arg("sim").args(&args).output().unwrap();
        assert!(!out.status.success(), "{args:?} was taken");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// `--plot DIR` draws the sweep: entropy against the first swept setting (one line per
/// value of the second) and the latency CDFs, as SVG files named on stderr; a directory
/// that cannot be made is a clear error.
#[test]
fn plots_draw_a_sweep_and_an_unwritable_directory_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = succeed(
        wesh()
            .args([
                "sim",
                "--seconds",
                "5",
                "--burn-in-seconds",
                "2",
                "--clients",
                "50",
            ])
            .args(["--sweep", "mean-delay-ms=50,200", "--sweep", "width=1,2"])
            .arg("--plot")
            .arg(dir.path()),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    for name in ["entropy.svg", "latency.svg"] {
        assert!(err.contains(name), "{name} not named: {err}");
        let svg = std::fs::read_to_string(dir.path().join(name)).unwrap();
        assert!(svg.starts_with("<svg"), "{name} is not an SVG");
    }
    let entropy = std::fs::read_to_string(dir.path().join("entropy.svg")).unwrap();
    for label in ["mean-delay-ms", "width=1", "width=2", "bits"] {
        assert!(entropy.contains(label), "entropy.svg lacks {label}");
    }
    let latency = std::fs::read_to_string(dir.path().join("latency.svg")).unwrap();
    assert!(latency.contains("mean-delay-ms=200 width=2"));

    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let out = wesh()
        .args([
            "sim",
            "--seconds",
            "2",
            "--burn-in-seconds",
            "1",
            "--clients",
            "20",
        ])
        .arg("--plot")
        .arg(file.join("plots"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("cannot create"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}
