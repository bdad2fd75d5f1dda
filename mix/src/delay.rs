//! Per-hop delays drawn by the sender: one Exp(mean) sample per delaying hop (Loopix).

use crate::params::MAX_HOP_DELAY;
use rand::Rng;
use rand_distr::{Distribution, Exp};
use sphinx_packet::header::delays::Delay;
use std::time::Duration;

/// Draws the hold time of each hop of a route.
#[derive(Debug, Clone, Copy)]
pub struct HopDelaySampler {
    mean: Duration,
    exp: Option<Exp<f64>>,
}

impl HopDelaySampler {
    /// `mean` zero means "no mixing delay" (benchmarks, loopback tests of raw throughput).
    pub fn new(mean: Duration) -> Self {
        let secs = mean.as_secs_f64();
        let exp = if secs > 0.0 {
            Exp::new(1.0 / secs).ok()
        } else {
            None
        };
        HopDelaySampler { mean, exp }
    }

    pub fn mean(&self) -> Duration {
        self.mean
    }

    /// One hop's delay, truncated at [`MAX_HOP_DELAY`] so nodes never need to clamp it.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Duration {
        match &self.exp {
            None => Duration::ZERO,
            Some(exp) => {
                let secs = exp.sample(rng);
                Duration::try_from_secs_f64(secs)
                    .unwrap_or(MAX_HOP_DELAY)
                    .min(MAX_HOP_DELAY)
            }
        }
    }

    /// Delays for a route of `hops` nodes. The final hop does not delay (it delivers), so
    /// its entry is zero; sphinx-packet still wants one entry per node.
    pub fn for_route<R: Rng + ?Sized>(&self, rng: &mut R, hops: usize) -> Vec<Duration> {
        (0..hops)
            .map(|i| {
                if i + 1 == hops {
                    Duration::ZERO
                } else {
                    self.sample(rng)
                }
            })
            .collect()
    }
}

pub(crate) fn to_sphinx_delay(d: Duration) -> Delay {
    Delay::new_from_nanos(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    /// Kolmogorov–Smirnov test of the drawn delays against Exp(mean), fixed seed.
    #[test]
    fn delays_fit_exponential_distribution() {
        let mean = Duration::from_millis(200);
        let sampler = HopDelaySampler::new(mean);
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let n = 20_000;
        let mut xs: Vec<f64> = (0..n)
            .map(|_| sampler.sample(&mut rng).as_secs_f64())
            .collect();
        xs.sort_by(f64::total_cmp);
        let lambda = 1.0 / mean.as_secs_f64();
        let mut d_max: f64 = 0.0;
        for (i, x) in xs.iter().enumerate() {
            let cdf = 1.0 - (-lambda * x).exp();
            let lo = i as f64 / n as f64;
            let hi = (i + 1) as f64 / n as f64;
            d_max = d_max.max((cdf - lo).abs()).max((hi - cdf).abs());
        }
        // critical value at alpha = 0.01 is 1.63 / sqrt(n)
        let critical = 1.63 / (n as f64).sqrt();
        assert!(d_max < critical, "KS statistic {d_max} >= {critical}");
        let sample_mean = xs.iter().sum::<f64>() / n as f64;
        assert!((sample_mean / mean.as_secs_f64() - 1.0).abs() < 0.03);
    }

    #[test]
    fn zero_mean_gives_zero_delays() {
        let sampler = HopDelaySampler::new(Duration::ZERO);
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        assert!(sampler.for_route(&mut rng, 5).iter().all(|d| d.is_zero()));
    }

    #[test]
    fn final_hop_has_no_delay_and_draws_are_truncated() {
        let sampler = HopDelaySampler::new(Duration::from_secs(100));
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        for _ in 0..100 {
            let d = sampler.for_route(&mut rng, 5);
            assert_eq!(d.len(), 5);
            assert_eq!(d[4], Duration::ZERO);
            assert!(d.iter().all(|x| *x <= MAX_HOP_DELAY));
        }
    }
}
