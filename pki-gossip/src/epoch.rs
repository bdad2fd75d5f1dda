//! Mapping from Unix time to epochs. Pure arithmetic: the caller supplies `now`.

use crate::error::ParamError;
use crate::params::DEFAULT_EPOCH_LENGTH_SECS;

/// Epoch `e` spans `[genesis + e·length, genesis + (e+1)·length)` in Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EpochClock {
    genesis_unix_secs: u64,
    length_secs: u64,
}

impl Default for EpochClock {
    /// One-hour epochs counted from the Unix epoch.
    fn default() -> Self {
        Self {
            genesis_unix_secs: 0,
            length_secs: DEFAULT_EPOCH_LENGTH_SECS,
        }
    }
}

impl EpochClock {
    /// Epochs of `length_secs` seconds starting at `genesis_unix_secs`.
    pub fn new(genesis_unix_secs: u64, length_secs: u64) -> Result<Self, ParamError> {
        if length_secs == 0 {
            return Err(ParamError::ZeroEpochLength);
        }
        Ok(Self {
            genesis_unix_secs,
            length_secs,
        })
    }

    /// Clock for a validated parameter set.
    pub fn from_params(params: &crate::params::PkiParams) -> Result<Self, ParamError> {
        Self::new(params.genesis_unix_secs, params.epoch_length_secs)
    }

    pub fn length_secs(&self) -> u64 {
        self.length_secs
    }

    /// Epoch containing `now`; times before genesis belong to epoch 0.
    pub fn epoch_at(&self, now: u64) -> u64 {
        now.saturating_sub(self.genesis_unix_secs) / self.length_secs
    }

    /// Unix time at which `epoch` starts, saturating at `u64::MAX`.
    pub fn epoch_start(&self, epoch: u64) -> u64 {
        epoch
            .saturating_mul(self.length_secs)
            .saturating_add(self.genesis_unix_secs)
    }

    /// Seconds since the start of the epoch containing `now`.
    pub fn secs_into_epoch(&self, now: u64) -> u64 {
        now.saturating_sub(self.epoch_start(self.epoch_at(now)))
    }

    /// Seconds until the next epoch starts (a timer the node can arm).
    pub fn secs_until_next_epoch(&self, now: u64) -> u64 {
        self.epoch_start(self.epoch_at(now).saturating_add(1))
            .saturating_sub(now)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn maps_time_to_epochs_and_back() {
        let clock = EpochClock::new(1_000, 60).unwrap();
        assert_eq!(clock.epoch_at(0), 0);
        assert_eq!(clock.epoch_at(1_059), 0);
        assert_eq!(clock.epoch_at(1_060), 1);
        assert_eq!(clock.epoch_start(3), 1_180);
        assert_eq!(clock.secs_into_epoch(1_185), 5);
        assert_eq!(clock.secs_until_next_epoch(1_185), 55);
        assert_eq!(clock.epoch_start(u64::MAX), u64::MAX);
    }

    #[test]
    fn default_is_one_hour_and_zero_length_is_refused() {
        assert_eq!(EpochClock::default().length_secs(), 3_600);
        assert_eq!(EpochClock::default().epoch_at(7_200), 2);
        assert_eq!(EpochClock::new(0, 0), Err(ParamError::ZeroEpochLength));
    }
}
