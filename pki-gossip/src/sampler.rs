//! `ViewSampler`: when to compare directory digests with a sampled peer, whom to ask, and
//! whether routes may be built yet. The node shells (relays and clients) only carry out
//! its decisions; the simulator can drive the same rules.

use crate::params::PkiParams;
use crate::view::ViewCheck;
use rand::{Rng, RngExt};
use std::time::Duration;

/// Between checks while the view is not confirmed.
pub const VIEW_CHECK_FAST: Duration = Duration::from_secs(1);

pub struct ViewSampler<P: Ord + Clone> {
    params: PkiParams,
    check: ViewCheck<P>,
    disagreements: u64,
    checks: u64,
}

impl<P: Ord + Clone> ViewSampler<P> {
    pub fn new(params: PkiParams) -> Self {
        let check = ViewCheck::new(0, [0; 32], &params);
        ViewSampler {
            params,
            check,
            disagreements: 0,
            checks: 0,
        }
    }

    /// The local directory for `epoch` now has `digest`. A new epoch starts a new tally.
    pub fn set_local(&mut self, epoch: u64, digest: [u8; 32]) {
        if self.check.epoch() != epoch {
            self.check = ViewCheck::new(epoch, digest, &self.params);
        }
        self.check.set_local_digest(digest);
    }

    /// Starts a fresh tally for `epoch` needing `needed` samples (a small network may
    /// have fewer peers than `view_min_samples`).
    pub fn restart(&mut self, epoch: u64, digest: [u8; 32], needed: usize) {
        let params = PkiParams {
            view_min_samples: needed.max(1),
            ..self.params.clone()
        };
        self.check = ViewCheck::new(epoch, digest, &params);
    }

    /// Samples a tally needs when `peers` other nodes are known.
    pub fn samples_needed(&self, peers: usize) -> usize {
        self.params.view_min_samples.min(peers).max(1)
    }

    /// A peer answered: its digest, and whether it had to send its directory (ours differed).
    pub fn record(&mut self, peer: P, digest: [u8; 32], differed: bool) {
        self.checks += 1;
        if differed {
            self.disagreements += 1;
        }
        self.check.record(peer, digest);
    }

    /// Routes may be built over the local view (a configured share of samples agree).
    pub fn confirmed(&self) -> bool {
        self.params.view_min_samples == 0 || self.check.is_confirmed()
    }

    /// How long until the next check: every second until confirmed, then 1/60 of an epoch
    /// (1 to 30 s), so a diverging view is caught within the epoch.
    pub fn next_interval(&self) -> Duration {
        if self.confirmed() {
            Duration::from_secs((self.params.epoch_length_secs / 60).clamp(1, 30))
        } else {
            VIEW_CHECK_FAST
        }
    }

    /// One peer drawn uniformly from `peers` (the directory, not our connections, which
    /// an attacker may control).
    pub fn pick<R: Rng + ?Sized>(&self, peers: &[P], rng: &mut R) -> Option<P> {
        if peers.is_empty() {
            return None;
        }
        peers.get(rng.random_range(0..peers.len())).cloned()
    }

    pub fn disagreements(&self) -> u64 {
        self.disagreements
    }

    pub fn checks(&self) -> u64 {
        self.checks
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn params(samples: usize) -> PkiParams {
        PkiParams {
            view_min_samples: samples,
            ..PkiParams::with_epoch_length(600).unwrap()
        }
    }

    #[test]
    fn checks_fast_until_confirmed_then_slow() {
        let mut s = ViewSampler::<u8>::new(params(3));
        s.set_local(5, [1; 32]);
        assert!(!s.confirmed());
        assert_eq!(s.next_interval(), VIEW_CHECK_FAST);
        s.record(1, [1; 32], false);
        s.record(2, [9; 32], true);
        assert!(!s.confirmed(), "2 samples of 3 needed");
        s.record(3, [1; 32], false);
        assert!(
            !s.confirmed(),
            "2 of 3 agree: 66.7 % is under the 67 % default"
        );
        s.record(4, [1; 32], false);
        assert!(s.confirmed(), "3 of 4 agree");
        assert_eq!(s.next_interval(), Duration::from_secs(10));
        assert_eq!((s.checks(), s.disagreements()), (4, 1));
        // a new epoch starts a new tally
        s.set_local(6, [1; 32]);
        assert!(!s.confirmed());
    }

    #[test]
    fn small_networks_need_fewer_samples_and_zero_disables() {
        let mut s = ViewSampler::<u8>::new(params(5));
        assert_eq!(s.samples_needed(2), 2);
        s.restart(1, [4; 32], s.samples_needed(2));
        s.record(1, [4; 32], false);
        s.record(2, [4; 32], false);
        assert!(s.confirmed());
        assert!(ViewSampler::<u8>::new(params(0)).confirmed());
    }

    #[test]
    fn picks_only_from_the_given_peers() {
        let s = ViewSampler::<u8>::new(params(5));
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        assert_eq!(s.pick(&[], &mut rng), None);
        for _ in 0..50 {
            assert!([7u8, 8, 9].contains(&s.pick(&[7, 8, 9], &mut rng).unwrap()));
        }
    }
}
