//! What the adversary's estimates add up to (spec/anonymity.md defines each metric).
//!
//! - [`EntropyMeter`]: each time a packet leaves the last mix layer, −p·log2 p is added to
//!   the sum of every target it may be; a target's sum is the Shannon entropy of where it
//!   left the mixnet, in bits.
//! - [`LinkMeter`]: for each packet really sent by A that leaves the last layer,
//!   ε_i = ln(Pr[A]/Pr[B]) (B symmetric); ε = |mean ε_i| and δ = the share of packets whose
//!   denominator was 0.

/// Per-target entropy sums and the probability mass accounted for.
#[derive(Debug, Clone)]
pub struct EntropyMeter {
    bits: Vec<f64>,
    mass: Vec<f64>,
    sent: Vec<bool>,
}

impl EntropyMeter {
    pub fn new(targets: u32) -> Self {
        let k = targets as usize;
        Self {
            bits: vec![0.0; k],
            mass: vec![0.0; k],
            sent: vec![false; k],
        }
    }

    /// Target `k` left its sender.
    pub fn sent(&mut self, k: u32) {
        if let Some(s) = self.sent.get_mut(k as usize) {
            *s = true;
        }
    }

    /// A packet carrying `v` left the last mix layer.
    pub fn exit(&mut self, v: &[(u32, f64)]) {
        for &(t, p) in v {
            if p > 0.0
                && let (Some(b), Some(m)) =
                    (self.bits.get_mut(t as usize), self.mass.get_mut(t as usize))
            {
                *b -= p * p.log2();
                *m += p;
            }
        }
    }

    /// Entropy (bits) and mass accounted of each target that was sent.
    pub fn per_target(&self) -> Vec<(f64, f64)> {
        self.bits
            .iter()
            .zip(&self.mass)
            .zip(&self.sent)
            .filter(|(_, sent)| **sent)
            .map(|((b, m), _)| (*b, *m))
            .collect()
    }
}

/// What an [`EntropyMeter`] says over its targets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EntropySummary {
    /// Mean entropy over the targets that were sent, in bits.
    pub mean_bits: f64,
    /// The 5th percentile of the targets' entropies, in bits.
    pub p5_bits: f64,
    /// Mean probability mass accounted per target (1: every target left the mixnet).
    pub mass: f64,
    pub targets: usize,
}

impl EntropyMeter {
    pub fn summary(&self) -> EntropySummary {
        let per_target = self.per_target();
        let n = per_target.len();
        let mean = |f: fn(&(f64, f64)) -> f64| {
            if n > 0 {
                per_target.iter().map(f).sum::<f64>() / n as f64
            } else {
                0.0
            }
        };
        let mut bits: Vec<f64> = per_target.iter().map(|(b, _)| *b).collect();
        bits.sort_by(f64::total_cmp);
        let i = ((0.05 * n as f64).ceil() as usize).clamp(1, n.max(1)) - 1;
        EntropySummary {
            mean_bits: mean(|(b, _)| *b),
            p5_bits: bits.get(i).copied().unwrap_or(0.0),
            mass: mean(|(_, m)| *m),
            targets: n,
        }
    }
}

/// Sender–receiver unlinkability between two target senders A and B.
#[derive(Debug, Clone, Default)]
pub struct LinkMeter {
    sum: f64,
    finite: u64,
    undefined: u64,
}

impl LinkMeter {
    /// A packet really from A (`from_a`) or B left the last layer with estimate
    /// `[Pr A, Pr B, Pr others]`.
    pub fn exit(&mut self, from_a: bool, estimate: [f64; 3]) {
        let (mine, other) = if from_a {
            (estimate[0], estimate[1])
        } else {
            (estimate[1], estimate[0])
        };
        if other > 0.0 && mine > 0.0 {
            self.sum += (mine / other).ln();
            self.finite += 1;
        } else {
            self.undefined += 1;
        }
    }

    /// (ε, δ, packets counted).
    pub fn result(&self) -> (f64, f64, u64) {
        let n = self.finite + self.undefined;
        let epsilon = if self.finite > 0 {
            (self.sum / self.finite as f64).abs()
        } else {
            0.0
        };
        let delta = if n > 0 {
            self.undefined as f64 / n as f64
        } else {
            0.0
        };
        (epsilon, delta, n)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_target_spread_evenly_over_n_exits_has_log2_n_bits() {
        let mut m = EntropyMeter::new(2);
        m.sent(0);
        for _ in 0..8 {
            m.exit(&[(0, 0.125)]);
        }
        let t = m.per_target();
        assert_eq!(t.len(), 1, "target 1 never left");
        assert!((t[0].0 - 3.0).abs() < 1e-12);
        assert!((t[0].1 - 1.0).abs() < 1e-12);
    }

    #[test]
    fn epsilon_and_delta_follow_the_estimates() {
        let mut l = LinkMeter::default();
        l.exit(true, [0.5, 0.5, 0.0]);
        l.exit(false, [0.5, 0.5, 0.0]);
        assert_eq!(l.result(), (0.0, 0.0, 2));
        l.exit(true, [0.9, 0.0, 0.1]);
        let (e, d, n) = l.result();
        assert_eq!((e, n), (0.0, 3));
        assert!((d - 1.0 / 3.0).abs() < 1e-12);
        let mut l = LinkMeter::default();
        l.exit(true, [0.8, 0.2, 0.0]);
        assert!((l.result().0 - 4f64.ln()).abs() < 1e-12);
    }
}
