//! What a run reports (`wesh sim --json`: one object per run). spec/anonymity.md defines
//! each field.

use crate::config::SimConfig;
use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SimReport {
    pub config: SimConfig,
    pub anonymity: AnonymitySection,
    /// A real message's packet from the sender's link to its recipient's mailbox (the
    /// mixnet's own latency), for packets sent in the measured phase.
    pub latency_ms: Percentiles,
    /// A real message from the moment it is written to the recipient's pull (adds the
    /// wait for the sender's real stream and for the recipient's pull).
    pub delivery_latency_ms: Percentiles,
    pub bandwidth: BandwidthSection,
    pub mix: MixSection,
    pub sim: RunSection,
    /// (entropy bits, mass accounted) of each target sent, for `--csv`.
    #[serde(skip)]
    pub per_target: Vec<(f64, f64)>,
    /// The latency's quantiles at 0, 1/CDF_POINTS, …, 1 (milliseconds), for `--plot`.
    #[serde(skip)]
    pub latency_cdf: Vec<f64>,
}

/// Points of a latency CDF kept per run (`--plot`): a few hundred draw a smooth curve
/// whatever the run's size.
pub const CDF_POINTS: usize = 200;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AnonymitySection {
    /// Mean over targets of the entropy of where the target left the last mix layer.
    pub entropy_bits: f64,
    /// Its 5th percentile over targets.
    pub entropy_bits_p5: f64,
    /// 2^entropy_bits.
    pub anonymity_set: f64,
    /// Targets sent (tagged packets that left their sender).
    pub targets: u64,
    /// Mean over targets of the probability mass that left the last layer by the end of
    /// the run (1: every target was accounted for; below 1 the cooldown was too short).
    pub mass_accounted: f64,
    /// Sender–receiver unlinkability of two target senders A and B: |mean ln(Pr A/Pr B)|.
    pub epsilon: f64,
    /// Share of A's and B's packets whose estimate ruled the other sender out.
    pub delta: f64,
    /// Packets of A and B counted for ε and δ.
    pub link_packets: u64,
    /// Mixes and providers whose pools the adversary sees through.
    pub corrupt_relays: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
    pub samples: u64,
}

impl Percentiles {
    /// Of `values` (any order).
    pub fn of(values: Vec<f64>) -> Self {
        Self::with_cdf(values, 0).0
    }

    /// Of `values` (any order), and their quantiles at `points + 1` evenly spaced levels
    /// (none when `points` is 0 or there are no values).
    pub fn with_cdf(mut values: Vec<f64>, points: usize) -> (Self, Vec<f64>) {
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let cdf = if points > 0 && n > 0 {
            (0..=points)
                .filter_map(|k| values.get((k * (n - 1)) / points).copied())
                .collect()
        } else {
            Vec::new()
        };
        let at = |q: f64| -> f64 {
            if n == 0 {
                return 0.0;
            }
            let i = ((q * n as f64).ceil() as usize).clamp(1, n) - 1;
            values.get(i).copied().unwrap_or(0.0)
        };
        let mean = if n > 0 {
            values.iter().sum::<f64>() / n as f64
        } else {
            0.0
        };
        let p = Percentiles {
            p50: round3(at(0.50)),
            p99: round3(at(0.99)),
            max: round3(values.last().copied().unwrap_or(0.0)),
            mean: round3(mean),
            samples: n as u64,
        };
        (p, cdf)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BandwidthSection {
    /// Sphinx packets a client sends on its three streams, in bytes per second.
    pub client_up_bytes_per_s: f64,
    /// Pull answers a client downloads (the profile's slots, full or not), bytes per second.
    pub client_down_bytes_per_s: f64,
    /// Packets per second a client sends.
    pub client_packets_per_s: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MixSection {
    /// Mean packets held by a mix (λ/μ for exponential holds).
    pub pool_mean: f64,
    /// The least of the mixes' mean pools.
    pub pool_min: f64,
    /// Packets a mix receives per second, mean over mixes.
    pub load_pps: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunSection {
    pub clients: u64,
    pub mixes: u64,
    pub providers: u64,
    /// Events the simulator processed.
    pub events: u64,
    /// Virtual seconds simulated (burn-in, measured phase and cooldown).
    pub virtual_seconds: f64,
    /// Measured by the caller (not part of a run's deterministic result).
    pub wall_seconds: f64,
    pub events_per_s: f64,
    pub peak_rss_bytes: u64,
    /// `--real-sphinx`: packets built, hops unwrapped by the nodes' processors, and
    /// disagreements between a header and what the simulator drew (0 expected).
    pub sphinx_packets: u64,
    pub sphinx_hops: u64,
    pub sphinx_mismatches: u64,
}

/// Three decimals: enough for milliseconds and bits, and stable text across platforms.
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_sample() {
        let p = Percentiles::of((1..=100).map(f64::from).collect());
        assert_eq!((p.p50, p.p99, p.max, p.samples), (50.0, 99.0, 100.0, 100));
        assert_eq!(Percentiles::of(Vec::new()).samples, 0);
    }

    #[test]
    fn a_cdf_runs_from_the_minimum_to_the_maximum() {
        let (_, cdf) = Percentiles::with_cdf((1..=101).rev().map(f64::from).collect(), 4);
        assert_eq!(cdf, vec![1.0, 26.0, 51.0, 76.0, 101.0]);
        assert!(Percentiles::with_cdf(Vec::new(), 4).1.is_empty());
    }
}
