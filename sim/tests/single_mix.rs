//! The entropy metric against a closed form: one Poisson mix (M/M/∞: Poisson arrivals at
//! rate λ, exponential holds of mean 1/μ) holds N = λ/μ packets on average. A target that
//! enters it leaves with departure j with probability about (1/N)·e^(−j/N): each departure
//! takes the pool's mean, which every arrival dilutes by n/(n+1). The entropy of that
//! geometric spread is log2(e·N) bits (spec/anonymity.md §closed form). The simulator's
//! pool and meter must find it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha12Rng;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use wesh_sim::meter::EntropyMeter;
use wesh_sim::pool_vector::PoolVector;

/// Mean entropy over `targets` targets sent into one mix holding `n` packets on average.
fn single_mix_entropy(n: f64, targets: u32, seed: u64) -> (f64, f64) {
    let mut rng = ChaCha12Rng::seed_from_u64(seed);
    let (lambda, mu) = (100.0, 100.0 / n);
    let exp =
        |rng: &mut ChaCha12Rng, rate: f64| -> f64 { -(1.0 - rng.random::<f64>()).ln() / rate };
    let mut pool = PoolVector::default();
    let mut meter = EntropyMeter::new(targets);
    // departures: (time, seq) in a min-heap
    let mut departures: BinaryHeap<Reverse<(u64, u64)>> = BinaryHeap::new();
    let (mut t, mut seq) = (0.0f64, 0u64);
    let mut next_arrival = exp(&mut rng, lambda);
    let warmup = 20.0 * n / lambda + 10.0 / mu;
    let spacing = 30.0 * n / lambda; // a target's mass is gone long before the next
    let mut next_target = (warmup, 0u32);
    let end = warmup + spacing * f64::from(targets) + 40.0 / mu;
    while t < end {
        let dep = departures.peek().map(|Reverse((d, _))| *d as f64 / 1e9);
        match dep {
            Some(d) if d <= next_arrival => {
                t = d;
                departures.pop();
                let v = pool.depart();
                meter.exit(&v);
            }
            _ => {
                t = next_arrival;
                next_arrival = t + exp(&mut rng, lambda);
                let v = if next_target.1 < targets && t >= next_target.0 {
                    let k = next_target.1;
                    meter.sent(k);
                    next_target = (next_target.0 + spacing, k + 1);
                    vec![(k, 1.0)]
                } else {
                    Vec::new()
                };
                pool.arrive(&v);
                let leave = t + exp(&mut rng, mu);
                departures.push(Reverse(((leave * 1e9) as u64, seq)));
                seq += 1;
            }
        }
    }
    let per = meter.per_target();
    let mean = per.iter().map(|(b, _)| b).sum::<f64>() / per.len() as f64;
    let mass = per.iter().map(|(_, m)| m).sum::<f64>() / per.len() as f64;
    (mean, mass)
}

#[test]
fn one_poisson_mix_gives_log2_of_e_times_its_pool() {
    for n in [20.0, 50.0, 200.0] {
        let (h, mass) = single_mix_entropy(n, 300, 7);
        let expected = (std::f64::consts::E * n).log2();
        assert!(mass > 0.999, "N={n}: mass {mass}");
        assert!(
            (h - expected).abs() < 0.15,
            "N={n}: {h:.3} bits, closed form {expected:.3}"
        );
    }
}
