//! `wesh sim` as a real process: one JSON object per run with the documented fields, the
//! same seed gives the same results, a sweep gives one line per point, and entropy follows
//! the Loopix trends (it grows with the mixing delay and with the number of clients).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::{json_lines, wesh};

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

#[test]
fn bad_settings_are_refused_by_name() {
    for (args, expected) in [
        (vec!["--layers", "4"], "layers"),
        (vec!["--corrupt-fraction", "2"], "corrupt_fraction"),
        (vec!["--sweep", "speed=1"], "speed"),
        (vec!["--profile", "laptop"], "laptop"),
    ] {
        let out = wesh().arg("sim").args(&args).output().unwrap();
        assert!(!out.status.success(), "{args:?} was taken");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}
