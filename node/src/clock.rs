//! The shell's one clock. Cores never read time: the shell reads it here and passes `now`
//! in (Unix seconds or milliseconds for the PKI and payments, time since an origin for the
//! mix and client cores), so a simulator can drive the same cores on a virtual clock.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch (0 if the system clock is before it).
pub fn unix_now() -> u64 {
    unix_duration().as_secs()
}

/// Milliseconds since the Unix epoch (0 if the system clock is before it).
pub fn unix_now_ms() -> u64 {
    u64::try_from(unix_duration().as_millis()).unwrap_or(u64::MAX)
}

/// How long until Unix second `at` begins (zero if it has).
pub fn until_unix(at: u64) -> Duration {
    Duration::from_secs(at).saturating_sub(unix_duration())
}

/// The monotonic clock: for deadlines and for measuring how long something took.
pub fn monotonic() -> Instant {
    Instant::now()
}

/// A deadline `after` from now on the monotonic clock.
pub fn deadline(after: Duration) -> Instant {
    monotonic() + after
}

fn unix_duration() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// The origin of a core's clock: the core's `now` is the time elapsed since it.
#[derive(Clone, Copy, Debug)]
pub struct CoreClock {
    origin: Instant,
}

impl CoreClock {
    /// A clock whose origin is this instant.
    pub fn start() -> Self {
        CoreClock {
            origin: monotonic(),
        }
    }

    /// The core's `now`.
    pub fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    /// The core time of a monotonic instant (zero if it is before the origin).
    pub fn at(&self, instant: Instant) -> Duration {
        instant.saturating_duration_since(self.origin)
    }

    /// The monotonic instant of a core time (for timers).
    pub fn instant(&self, at: Duration) -> Instant {
        self.origin + at
    }
}

impl Default for CoreClock {
    fn default() -> Self {
        Self::start()
    }
}
