//! A Poisson process on a caller-supplied clock: exponential gaps between events.

use crate::error::RateError;
use crate::params::MAX_STREAM_RATE;
use rand::Rng;
use rand_distr::{Distribution, Exp};
use std::time::Duration;

/// Event times of one Poisson stream (rate λ events per second).
#[derive(Debug, Clone)]
pub struct PoissonStream {
    gap: Option<Exp<f64>>,
    next_at: Option<Duration>,
}

impl PoissonStream {
    /// A stream whose first event is one exponential gap after `now`. Rate 0 never fires.
    pub fn new<R: Rng + ?Sized>(rate: f64, now: Duration, rng: &mut R) -> Result<Self, RateError> {
        if !rate.is_finite() || !(0.0..=MAX_STREAM_RATE).contains(&rate) {
            return Err(RateError(rate));
        }
        let gap = if rate > 0.0 {
            Exp::new(rate).ok()
        } else {
            None
        };
        let mut stream = PoissonStream { gap, next_at: None };
        stream.next_at = stream.draw_after(now, rng);
        Ok(stream)
    }

    fn draw_after<R: Rng + ?Sized>(&self, t: Duration, rng: &mut R) -> Option<Duration> {
        let gap = self.gap.as_ref()?;
        let secs = gap.sample(rng);
        Some(t + Duration::try_from_secs_f64(secs).unwrap_or(Duration::from_secs(3600)))
    }

    /// When the next event is due; `None` for a silent stream.
    pub fn next_at(&self) -> Option<Duration> {
        self.next_at
    }

    /// Consumes one due event: true if an event was due at `now` (and schedules the next).
    pub fn fire<R: Rng + ?Sized>(&mut self, now: Duration, rng: &mut R) -> bool {
        match self.next_at {
            Some(at) if at <= now => {
                let base = crate::send_stream::resume_from(at, now);
                self.next_at = self.draw_after(base, rng);
                true
            }
            _ => false,
        }
    }

    /// Stops the stream for good (testnet drain, shutdown).
    pub fn stop(&mut self) {
        self.next_at = None;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn event_count_matches_rate_on_virtual_clock() {
        let mut rng = ChaCha20Rng::seed_from_u64(11);
        let mut s = PoissonStream::new(5.0, Duration::ZERO, &mut rng).unwrap();
        let mut n = 0u32;
        let mut now = Duration::ZERO;
        let end = Duration::from_secs(2000);
        while let Some(at) = s.next_at() {
            if at > end {
                break;
            }
            now = now.max(at);
            while s.fire(now, &mut rng) {
                n += 1;
            }
        }
        // expectation 10_000, sd 100: a 5 sd band
        assert!((9_500..=10_500).contains(&n), "got {n}");
    }

    #[test]
    fn silent_and_invalid_rates() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        assert!(
            PoissonStream::new(0.0, Duration::ZERO, &mut rng)
                .unwrap()
                .next_at()
                .is_none()
        );
        assert!(PoissonStream::new(-1.0, Duration::ZERO, &mut rng).is_err());
        assert!(PoissonStream::new(f64::NAN, Duration::ZERO, &mut rng).is_err());
        assert!(PoissonStream::new(1e9, Duration::ZERO, &mut rng).is_err());
    }

    #[test]
    fn late_wakeup_does_not_burst() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let mut s = PoissonStream::new(100.0, Duration::ZERO, &mut rng).unwrap();
        let now = Duration::from_secs(60);
        let mut fired = 0;
        while s.fire(now, &mut rng) {
            fired += 1;
        }
        assert!(fired < 300, "burst of {fired} after a long sleep");
        assert!(s.next_at().unwrap() > now);
    }

    #[test]
    fn not_due_does_not_fire() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let mut s = PoissonStream::new(1.0, Duration::from_secs(10), &mut rng).unwrap();
        assert!(!s.fire(Duration::from_secs(10), &mut rng));
    }
}
