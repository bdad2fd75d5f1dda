//! The gossip PKI with real nodes: convergence from one bootstrap address, key rotation
//! without loss, and separate processes finding each other.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::{one_network, start, testnet_json, wesh};

use std::time::{Duration, Instant};

#[test]
fn twenty_relays_converge_from_one_bootstrap_address() {
    let j = testnet_json(&[
        "--mixes-per-layer",
        "6",
        "--providers",
        "2",
        "--clients",
        "2",
        "--seconds",
        "2",
        "--epoch-seconds",
        "600",
        "--mean-delay-ms",
        "20",
    ]);
    let pki = &j["pki"];
    assert_eq!(pki["converged"], true, "{pki}");
    assert_eq!(pki["descriptors"], 20);
    let after = pki["converged_after_ms"].as_u64().unwrap();
    assert!(after < 30_000, "took {after} ms");
    assert_eq!(j["packets"]["real_delivered"], j["packets"]["real_sent"]);
}

#[test]
fn epoch_rotations_mid_run_lose_no_packet() {
    let j = testnet_json(&[
        "--seconds",
        "12",
        "--epoch-seconds",
        "4",
        "--mean-delay-ms",
        "50",
    ]);
    let p = &j["packets"];
    assert!(
        j["pki"]["epochs_rotated"].as_u64().unwrap() >= 2,
        "{}",
        j["pki"]
    );
    assert!(p["real_sent"].as_u64().unwrap() > 0);
    assert_eq!(p["real_delivered"], p["real_sent"]);
    assert_eq!(p["loop_returned"], p["loop_sent"]);
    for (reason, n) in p["dropped"].as_object().unwrap() {
        assert_eq!(n.as_u64(), Some(0), "dropped for {reason}");
    }
}

#[test]
fn separate_processes_join_through_a_bootstrap_node() {
    let _one = one_network();
    let a_dir = tempfile::tempdir().unwrap();
    let b_dir = tempfile::tempdir().unwrap();
    let a = start("mix", a_dir.path(), &["--epoch-seconds", "600"]);
    let boot = format!("{}/p2p/{}", a.addr, a.peer);
    let _b = start(
        "provider",
        b_dir.path(),
        &["--epoch-seconds", "600", "--bootstrap", &boot],
    );
    assert!(
        a_dir.path().join("sphinx-keyring.bin").exists(),
        "key ring persisted"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = wesh()
            .args([
                "pki",
                "show",
                "--epoch-seconds",
                "600",
                "--json",
                "--peer",
                &boot,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let j: serde_json::Value =
            serde_json::from_str(String::from_utf8(out.stdout).unwrap().trim()).unwrap();
        let roles: Vec<&str> = j["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["role"].as_str().unwrap())
            .collect();
        if roles.len() == 2 {
            assert!(
                roles.contains(&"mix") && roles.contains(&"provider"),
                "{roles:?}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "bootstrap node never learnt the provider: {j}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}
