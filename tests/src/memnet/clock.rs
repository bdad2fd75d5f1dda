//! The virtual clock every node of the harness reads: time only moves when the event
//! queue hands out the next event.

use std::time::Duration;

/// Unix time (seconds) the virtual clock starts at: the Wesh cores take Unix seconds and
/// milliseconds (rendezvous rotation, desk timers), the mix cores a `Duration` since start.
pub const UNIX_ORIGIN_SECS: u64 = 1_800_000_000;

/// Virtual time since the start of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct VirtualClock {
    now: Duration,
}

impl VirtualClock {
    pub fn new() -> Self {
        Self::default()
    }

    /// Time since the start (what the mix cores take as `now`).
    pub fn now(&self) -> Duration {
        self.now
    }

    /// Unix seconds (mailbox server, Wesh device calls).
    pub fn unix_secs(&self) -> u64 {
        UNIX_ORIGIN_SECS + self.now.as_secs()
    }

    /// Unix milliseconds (rendezvous desk and registrar).
    pub fn unix_ms(&self) -> u64 {
        UNIX_ORIGIN_SECS * 1000 + u64::try_from(self.now.as_millis()).unwrap_or(u64::MAX)
    }

    /// Moves to `at`; time never goes back (an event scheduled in the past runs now).
    pub(crate) fn advance_to(&mut self, at: Duration) {
        self.now = self.now.max(at);
    }
}
