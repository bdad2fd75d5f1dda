//! The timing of a client's send stream: Poisson (Loopix's, the default) or paced (one
//! packet every 1/λ from a random phase, for metered profiles). Both run whatever the
//! queue holds; spec/mixnet.md ("Client profiles") says what each hides and costs.

use crate::error::RateError;
use crate::paced_stream::PacedStream;
use crate::params::MAX_CATCH_UP;
use crate::poisson::PoissonStream;
use rand::Rng;
use std::time::Duration;

/// Where a stream schedules its next event after one due at `due` fired at `now`: from
/// `due`, or from `now` if the caller woke up more than [`MAX_CATCH_UP`] late (a
/// suspended laptop must not burst the missed events).
pub(crate) fn resume_from(due: Duration, now: Duration) -> Duration {
    if now.saturating_sub(due) > MAX_CATCH_UP {
        now
    } else {
        due
    }
}

/// How a stream's events are spaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StreamTiming {
    /// Exponential gaps (Loopix).
    #[default]
    Poisson,
    /// Equal gaps from a random phase: no bursts, so a budget holds in every window.
    Paced,
}

impl StreamTiming {
    /// The name in configuration files and `--help`.
    pub fn name(self) -> &'static str {
        match self {
            StreamTiming::Poisson => "poisson",
            StreamTiming::Paced => "paced",
        }
    }

    /// The timing called `name` (`poisson`, `paced`).
    pub fn named(name: &str) -> Option<Self> {
        match name {
            "poisson" => Some(StreamTiming::Poisson),
            "paced" => Some(StreamTiming::Paced),
            _ => None,
        }
    }
}

/// One send stream with either timing.
#[derive(Debug, Clone)]
pub enum SendStream {
    Poisson(PoissonStream),
    Paced(PacedStream),
}

impl SendStream {
    pub fn new<R: Rng + ?Sized>(
        timing: StreamTiming,
        rate: f64,
        now: Duration,
        rng: &mut R,
    ) -> Result<Self, RateError> {
        Ok(match timing {
            StreamTiming::Poisson => SendStream::Poisson(PoissonStream::new(rate, now, rng)?),
            StreamTiming::Paced => SendStream::Paced(PacedStream::new(rate, now, rng)?),
        })
    }

    /// When the next event is due; `None` for a silent or stopped stream.
    pub fn next_at(&self) -> Option<Duration> {
        match self {
            SendStream::Poisson(s) => s.next_at(),
            SendStream::Paced(s) => s.next_at(),
        }
    }

    /// Consumes one due event: true if one was due at `now`.
    pub fn fire<R: Rng + ?Sized>(&mut self, now: Duration, rng: &mut R) -> bool {
        match self {
            SendStream::Poisson(s) => s.fire(now, rng),
            SendStream::Paced(s) => s.fire(now),
        }
    }

    pub fn stop(&mut self) {
        match self {
            SendStream::Poisson(s) => s.stop(),
            SendStream::Paced(s) => s.stop(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn both_timings_keep_their_rate_and_names_round_trip() {
        for timing in [StreamTiming::Poisson, StreamTiming::Paced] {
            assert_eq!(StreamTiming::named(timing.name()), Some(timing));
            let mut rng = ChaCha20Rng::seed_from_u64(7);
            let mut s = SendStream::new(timing, 2.0, Duration::ZERO, &mut rng).unwrap();
            let mut n = 0u32;
            while let Some(at) = s.next_at().filter(|t| *t < Duration::from_secs(1_000)) {
                while s.fire(at, &mut rng) {
                    n += 1;
                }
            }
            // 2,000 expected; a Poisson count has sd 45
            assert!((1_800..=2_200).contains(&n), "{timing:?}: {n}");
        }
        assert_eq!(StreamTiming::named("bursty"), None);
    }
}
