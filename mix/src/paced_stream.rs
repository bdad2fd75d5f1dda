//! A paced stream: one event every 1/λ exactly, from a random phase.
//!
//! The alternative to [`crate::PoissonStream`] for the real-or-drop stream of a metered
//! client (spec/mixnet.md, "Client profiles"). Like a Poisson stream it runs whatever the
//! queue holds, so its times say nothing about traffic; unlike one it has no bursts, so
//! a fixed budget holds in every short window and a message never waits more than one
//! period for its slot. The phase is drawn once, so clients are not in step.

use crate::error::RateError;
use crate::params::MAX_STREAM_RATE;
use rand::{Rng, RngExt};
use std::time::Duration;

/// Event times of one paced stream (rate λ events per second).
#[derive(Debug, Clone)]
pub struct PacedStream {
    period: Option<Duration>,
    next_at: Option<Duration>,
}

impl PacedStream {
    /// A stream whose first event falls uniformly within one period after `now`. Rate 0
    /// never fires.
    pub fn new<R: Rng + ?Sized>(rate: f64, now: Duration, rng: &mut R) -> Result<Self, RateError> {
        if !rate.is_finite() || !(0.0..=MAX_STREAM_RATE).contains(&rate) {
            return Err(RateError(rate));
        }
        let period = (rate > 0.0)
            .then(|| Duration::try_from_secs_f64(1.0 / rate).ok())
            .flatten();
        let next_at = period.map(|p| now + p.mul_f64(rng.random::<f64>()));
        Ok(PacedStream { period, next_at })
    }

    /// When the next event is due; `None` for a silent stream.
    pub fn next_at(&self) -> Option<Duration> {
        self.next_at
    }

    /// Consumes one due event: true if an event was due at `now` (and schedules the next,
    /// one period later; from `now` if the caller woke up more than `MAX_CATCH_UP` late,
    /// so that a suspended laptop does not burst the missed events).
    pub fn fire(&mut self, now: Duration) -> bool {
        match (self.next_at, self.period) {
            (Some(at), Some(period)) if at <= now => {
                let base = crate::send_stream::resume_from(at, now);
                self.next_at = Some(base + period);
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

    /// Every window of 15 s holds rate × 15 events, give or take one, whatever the phase:
    /// what a metered profile's budget relies on.
    #[test]
    fn every_window_holds_the_same_count() {
        for seed in 0..20 {
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            let mut s = PacedStream::new(0.4, Duration::ZERO, &mut rng).unwrap();
            let mut times = Vec::new();
            while let Some(at) = s.next_at() {
                if at > Duration::from_secs(600) {
                    break;
                }
                assert!(s.fire(at));
                times.push(at);
            }
            assert!(
                times[0] < Duration::from_millis(2_500),
                "phase within a period"
            );
            for start in (0..580).map(Duration::from_secs) {
                let end = start + Duration::from_secs(15);
                let n = times.iter().filter(|t| **t >= start && **t < end).count();
                assert!(
                    (5..=7).contains(&n),
                    "seed {seed}: {n} events from {start:?}"
                );
            }
        }
    }

    #[test]
    fn silent_invalid_late_and_stopped() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        assert!(
            PacedStream::new(0.0, Duration::ZERO, &mut rng)
                .unwrap()
                .next_at()
                .is_none()
        );
        assert!(PacedStream::new(-1.0, Duration::ZERO, &mut rng).is_err());
        assert!(PacedStream::new(f64::NAN, Duration::ZERO, &mut rng).is_err());
        assert!(PacedStream::new(1e9, Duration::ZERO, &mut rng).is_err());
        // a long sleep: one event, then the schedule restarts from now
        let mut s = PacedStream::new(10.0, Duration::ZERO, &mut rng).unwrap();
        let now = Duration::from_secs(60);
        let mut fired = 0;
        while s.fire(now) {
            fired += 1;
        }
        assert_eq!(fired, 1, "no burst after a long sleep");
        assert_eq!(s.next_at(), Some(now + Duration::from_millis(100)));
        assert!(!s.fire(now));
        s.stop();
        assert!(s.next_at().is_none());
    }
}
