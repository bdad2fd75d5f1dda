//! Keeping a group's replication alive: a registration lasts one paid term at its provider
//! ([`REPLICA_REGISTRATION_TERM_SECS`]), and any member's app renews it in the term's last
//! [`REPLICA_RENEWAL_WINDOW_SECS`]. The app learns a term's end from the provider's answer;
//! after a restart it does not know it, so it registers again once (free outside the
//! window: the provider answers the current term).

use std::collections::{BTreeMap, BTreeSet};

use crate::messenger::WeshDevice;
use crate::messenger::params::{APP_REPLICA_TERM_CHECK_MS, REPLICA_RENEWAL_WINDOW_SECS};

/// A (group, replication provider) pair.
pub type Replica = ([u8; 32], [u8; 32]);

/// The terms this app knows and the renewals it has asked for. Time is Unix milliseconds,
/// terms are Unix seconds (as providers state them).
#[derive(Debug, Default)]
pub struct ReplicaTerms {
    /// End of each known term.
    ends: BTreeMap<Replica, u64>,
    /// Renewals handed to the shell and not answered yet.
    waiting: BTreeSet<Replica>,
    /// A renewal that failed is not asked again before this.
    retry_at: BTreeMap<Replica, u64>,
    next_check: u64,
}

impl ReplicaTerms {
    /// Terms of an app started at `now`: the first check is a check interval later (or
    /// when the app comes online), as terms are days long.
    pub fn new(now: u64) -> Self {
        Self {
            next_check: now.saturating_add(APP_REPLICA_TERM_CHECK_MS),
            ..Self::default()
        }
    }

    /// When [`Self::due`] has something to say next.
    pub fn next_check(&self) -> u64 {
        self.next_check
    }

    /// The replicas of `device`'s groups at `providers` whose term is unknown or in its
    /// renewal window at `now`, not waiting and not failed lately. They count as waiting
    /// until [`Self::handle_answer`].
    pub fn due(&mut self, now: u64, device: &WeshDevice, providers: &[[u8; 32]]) -> Vec<Replica> {
        self.next_check = now.saturating_add(APP_REPLICA_TERM_CHECK_MS);
        let now_secs = now / 1000;
        let mut due = Vec::new();
        for group in device.group_ids() {
            let Ok(meta) = device.group_metadata(&group) else {
                continue;
            };
            for replica in meta.replicas {
                let key = (group, replica.provider);
                let renewable = self
                    .ends
                    .get(&key)
                    .is_none_or(|end| now_secs.saturating_add(REPLICA_RENEWAL_WINDOW_SECS) >= *end);
                let resting = self.retry_at.get(&key).is_some_and(|at| now < *at);
                if providers.contains(&replica.provider)
                    && renewable
                    && !resting
                    && self.waiting.insert(key)
                {
                    due.push(key);
                }
            }
        }
        due
    }

    /// The provider keeps `replica` until `end` (its answer to a registration or renewal).
    pub fn handle_term(&mut self, replica: Replica, end: u64) {
        self.waiting.remove(&replica);
        self.retry_at.remove(&replica);
        self.ends.insert(replica, end);
    }

    /// A renewal of `replica` failed: tried again at the first check an hour on.
    pub fn handle_failure(&mut self, now: u64, replica: Replica) {
        self.waiting.remove(&replica);
        self.retry_at
            .insert(replica, now.saturating_add(APP_REPLICA_TERM_CHECK_MS));
    }

    /// The end of `replica`'s term, if the app knows it.
    pub fn term_end(&self, replica: &Replica) -> Option<u64> {
        self.ends.get(replica).copied()
    }

    /// Offline: answers that were waiting will not come.
    pub fn handle_offline(&mut self) {
        self.waiting.clear();
    }
}
