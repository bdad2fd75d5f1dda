//! `--real-sphinx` on a small network: every packet is a real Sphinx packet unwrapped by
//! each node's processor, whose headers decide hops and holds, and the run reports
//! exactly what the opaque run with the same seed reports.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use wesh_sim::SimConfig;

fn small(real_sphinx: bool) -> SimConfig {
    SimConfig {
        clients: 30,
        width: 2,
        providers: 2,
        message_rate: 0.5,
        targets: 20,
        burn_in_seconds: 2.0,
        seconds: 6.0,
        cooldown_seconds: 4.0,
        seed: 5,
        real_sphinx,
        ..SimConfig::default()
    }
}

#[test]
fn real_packets_give_the_opaque_runs_metrics() {
    let opaque = wesh_sim::run(&small(false), &mut |_| {}).unwrap();
    let real = wesh_sim::run(&small(true), &mut |_| {}).unwrap();
    assert_eq!(opaque.sim.sphinx_hops, 0, "no Sphinx work without the flag");
    assert!(real.sim.sphinx_packets > 500, "{:?}", real.sim);
    // every packet is unwrapped at each of its nodes (most have 4 or 5)
    assert!(
        real.sim.sphinx_hops > 3 * real.sim.sphinx_packets / 2,
        "{:?}",
        real.sim
    );
    assert_eq!(real.sim.sphinx_mismatches, 0, "{:?}", real.sim);
    assert_eq!(opaque.anonymity, real.anonymity);
    assert_eq!(opaque.latency_ms, real.latency_ms);
    assert_eq!(opaque.delivery_latency_ms, real.delivery_latency_ms);
    assert_eq!(opaque.bandwidth, real.bandwidth);
    assert_eq!(opaque.mix, real.mix);
    assert_eq!(opaque.sim.events, real.sim.events);
    assert!(opaque.anonymity.targets > 0 && opaque.anonymity.entropy_bits > 0.0);
}

#[test]
fn real_sphinx_is_refused_for_large_runs() {
    let cfg = SimConfig {
        clients: 50_000,
        real_sphinx: true,
        ..SimConfig::default()
    };
    let e = wesh_sim::run(&cfg, &mut |_| {}).expect_err("refused");
    assert!(e.to_string().contains("real_sphinx"), "{e}");
}
