//! View consistency: compare our directory digest with digests reported by
//! sampled peers before building routes (spec/pki.md §7).

use std::collections::BTreeMap;

use crate::params::PkiParams;

/// Outcome of a [`ViewCheck`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewStatus {
    /// Enough samples, and at least the required share match our digest.
    Confirmed { agreeing: usize, samples: usize },
    /// Enough samples, but too few match: our view (or theirs) is partitioned.
    Disputed { agreeing: usize, samples: usize },
    /// Fewer samples than the minimum: keep sampling.
    InsufficientSamples { samples: usize, needed: usize },
}

/// Digests reported by sampled peers for one epoch, one vote per peer.
///
/// `P` is whatever the node uses to name peers (e.g. libp2p `PeerId`).
#[derive(Debug, Clone)]
pub struct ViewCheck<P: Ord> {
    epoch: u64,
    local_digest: [u8; 32],
    reports: BTreeMap<P, [u8; 32]>,
    min_samples: usize,
    confirm_percent: u8,
    disagreements_recorded: u64,
}

impl<P: Ord> ViewCheck<P> {
    /// A check for `epoch` against our current digest, thresholds from `params`.
    pub fn new(epoch: u64, local_digest: [u8; 32], params: &PkiParams) -> Self {
        Self {
            epoch,
            local_digest,
            reports: BTreeMap::new(),
            min_samples: params.view_min_samples,
            confirm_percent: params.view_confirm_percent,
            disagreements_recorded: 0,
        }
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Our digest changed (a descriptor arrived): samples are re-judged against it.
    pub fn set_local_digest(&mut self, digest: [u8; 32]) {
        self.local_digest = digest;
    }

    /// Records a peer's digest, replacing its earlier report (one vote per peer, so
    /// a chatty peer cannot outvote others). Returns whether it matches ours.
    pub fn record(&mut self, peer: P, digest: [u8; 32]) -> bool {
        let agrees = digest == self.local_digest;
        if !agrees {
            self.disagreements_recorded = self.disagreements_recorded.saturating_add(1);
        }
        self.reports.insert(peer, digest);
        agrees
    }

    /// Forgets a peer's report (e.g. it disconnected or was found faulty).
    pub fn forget(&mut self, peer: &P) {
        self.reports.remove(peer);
    }

    /// Peers whose latest report differs from our digest.
    pub fn disagreeing(&self) -> usize {
        self.reports
            .values()
            .filter(|d| **d != self.local_digest)
            .count()
    }

    /// Every mismatching report ever recorded, for a metrics counter.
    pub fn disagreements_recorded(&self) -> u64 {
        self.disagreements_recorded
    }

    pub fn status(&self) -> ViewStatus {
        let samples = self.reports.len();
        if samples < self.min_samples.max(1) {
            return ViewStatus::InsufficientSamples {
                samples,
                needed: self.min_samples.max(1),
            };
        }
        let agreeing = samples - self.disagreeing();
        // agreeing / samples >= percent / 100, in integers.
        let confirmed = agreeing.saturating_mul(100)
            >= samples.saturating_mul(usize::from(self.confirm_percent));
        if confirmed {
            ViewStatus::Confirmed { agreeing, samples }
        } else {
            ViewStatus::Disputed { agreeing, samples }
        }
    }

    /// The route-building gate.
    pub fn is_confirmed(&self) -> bool {
        matches!(self.status(), ViewStatus::Confirmed { .. })
    }
}
