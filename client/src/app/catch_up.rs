//! Catching up after going offline: which histories to fetch (every replicated group, at
//! each replication provider the app knows, after its journaled cursor), one page at a
//! time, one retry of a failed fetch, and when the round is over.
//!
//! A round is bounded: at most [`APP_HISTORY_MAX_PAGES`] pages per group and replica and
//! [`APP_HISTORY_MAX_ENTRIES`] entries in all. What is left when a budget runs out is
//! handed back ([`CatchUp::take_later`]) and fetched in a later round, so a replica that
//! always answers "more" cannot keep the app fetching; one that says "more" without
//! moving its sequence number on is not asked again in this round.

use std::collections::{BTreeMap, BTreeSet};

use super::action::{CallId, HistoryFetch};
use crate::messenger::WeshDevice;
use crate::messenger::params::{
    APP_HISTORY_MAX_ENTRIES, APP_HISTORY_MAX_PAGES, APP_HISTORY_RETRY_MS,
};

/// One page of history a replica answered to a [`HistoryFetch`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchedPage {
    /// The entries after the fetch's `after`, oldest first.
    pub entries: Vec<Vec<u8>>,
    /// The sequence number of the last one (the fetch's `after` if there were none).
    pub last: u64,
    /// Whether the replica keeps more after `last`.
    pub more: bool,
}

/// A catch-up round in progress.
#[derive(Debug)]
pub struct CatchUp {
    /// The come-online call it answers (none for a round that continues an earlier one).
    call: Option<CallId>,
    /// Fetches handed to the shell and not answered yet.
    waiting: BTreeSet<([u8; 32], [u8; 32])>,
    /// Fetches that failed once, with when to try them again.
    retries: Vec<(u64, HistoryFetch)>,
    retried: BTreeSet<([u8; 32], [u8; 32])>,
    /// Pages taken this round per (group, replica).
    pages: BTreeMap<([u8; 32], [u8; 32]), u32>,
    /// Where to continue in a later round.
    later: Vec<HistoryFetch>,
    fetched: usize,
}

impl CatchUp {
    /// The catch-up `call` asked for, and the fetches it starts with.
    pub fn start(
        call: CallId,
        device: &WeshDevice,
        providers: &[[u8; 32]],
    ) -> (Self, Vec<HistoryFetch>) {
        let mut fetches = Vec::new();
        for group in device.group_ids() {
            let Ok(meta) = device.group_metadata(&group) else {
                continue;
            };
            for replica in meta.replicas {
                if providers.contains(&replica.provider) {
                    fetches.push(HistoryFetch {
                        group,
                        provider: replica.provider,
                        after: device.history_cursor(&group, &replica.provider),
                    });
                }
            }
        }
        Self::round(Some(call), fetches)
    }

    /// A round that continues where an earlier one stopped ([`Self::take_later`]).
    pub fn resume(fetches: Vec<HistoryFetch>) -> (Self, Vec<HistoryFetch>) {
        Self::round(None, fetches)
    }

    fn round(call: Option<CallId>, fetches: Vec<HistoryFetch>) -> (Self, Vec<HistoryFetch>) {
        let catch_up = CatchUp {
            call,
            waiting: fetches.iter().map(|f| (f.group, f.provider)).collect(),
            retries: Vec::new(),
            retried: BTreeSet::new(),
            pages: BTreeMap::new(),
            later: Vec::new(),
            fetched: 0,
        };
        (catch_up, fetches)
    }

    pub fn call(&self) -> Option<CallId> {
        self.call
    }

    /// Whether this answer belongs to the catch-up.
    pub fn expects(&self, fetch: &HistoryFetch) -> bool {
        self.waiting.contains(&(fetch.group, fetch.provider))
    }

    /// A fetch returned a page of `entries` entries ending at `last`; returns the fetch of
    /// the next page if this round goes on with it.
    pub fn on_page(
        &mut self,
        fetch: &HistoryFetch,
        entries: usize,
        last: u64,
        more: bool,
    ) -> Option<HistoryFetch> {
        let key = (fetch.group, fetch.provider);
        self.fetched = self.fetched.saturating_add(entries);
        let pages = self.pages.entry(key).or_default();
        *pages = pages.saturating_add(1);
        let next = HistoryFetch {
            after: last,
            ..*fetch
        };
        if !more || entries == 0 || last <= fetch.after {
            self.waiting.remove(&key);
            return None;
        }
        if *pages >= APP_HISTORY_MAX_PAGES || self.fetched >= APP_HISTORY_MAX_ENTRIES {
            self.waiting.remove(&key);
            self.later.push(next);
            return None;
        }
        Some(next)
    }

    /// A fetch failed: tried once more after [`APP_HISTORY_RETRY_MS`], then given up.
    pub fn on_failure(&mut self, now: u64, fetch: HistoryFetch) {
        let key = (fetch.group, fetch.provider);
        if self.retried.insert(key) {
            self.retries
                .push((now.saturating_add(APP_HISTORY_RETRY_MS), fetch));
        } else {
            self.waiting.remove(&key);
        }
    }

    /// Retries due at `now`.
    pub fn due(&mut self, now: u64) -> Vec<HistoryFetch> {
        let (due, later) = std::mem::take(&mut self.retries)
            .into_iter()
            .partition(|(at, _)| *at <= now);
        self.retries = later;
        due.into_iter().map(|(_, f)| f).collect()
    }

    pub fn next_retry(&self) -> Option<u64> {
        self.retries.iter().map(|(at, _)| *at).min()
    }

    /// The entries fetched, once every fetch was answered or given up.
    pub fn finished(&self) -> Option<usize> {
        self.waiting.is_empty().then_some(self.fetched)
    }

    /// The fetches to continue in a later round (the budget of this one ran out).
    pub fn take_later(&mut self) -> Vec<HistoryFetch> {
        std::mem::take(&mut self.later)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fetch(after: u64) -> HistoryFetch {
        HistoryFetch {
            group: [1; 32],
            provider: [2; 32],
            after,
        }
    }

    /// Issue 15 item 10: `fetch_history` looped while the replica said "more". A replica
    /// that always says "more" gets at most [`APP_HISTORY_MAX_PAGES`] fetches per round,
    /// and the round hands back where to continue.
    #[test]
    fn a_replica_that_always_says_more_gets_a_bounded_number_of_fetches_per_round() {
        let (mut c, first) = CatchUp::resume(vec![fetch(0)]);
        let mut next = first.first().copied();
        let mut fetches = 0;
        while let Some(f) = next {
            fetches += 1;
            assert!(fetches <= 1000, "unbounded");
            next = c.on_page(&f, 1, f.after + 1, true);
        }
        assert_eq!(fetches, APP_HISTORY_MAX_PAGES);
        assert_eq!(c.finished(), Some(APP_HISTORY_MAX_PAGES as usize));
        assert_eq!(
            c.take_later(),
            vec![fetch(u64::from(APP_HISTORY_MAX_PAGES))]
        );
    }

    #[test]
    fn the_entry_budget_ends_a_round_and_a_stuck_replica_is_dropped() {
        let (mut c, _) = CatchUp::resume(vec![fetch(0)]);
        let big = APP_HISTORY_MAX_ENTRIES;
        assert_eq!(c.on_page(&fetch(0), big, big as u64, true), None);
        assert_eq!(c.take_later(), vec![fetch(big as u64)]);
        // "more" without moving on: not asked again, not continued later
        let (mut c, _) = CatchUp::resume(vec![fetch(5)]);
        assert_eq!(c.on_page(&fetch(5), 0, 5, true), None);
        assert_eq!(c.finished(), Some(0));
        assert!(c.take_later().is_empty());
        // an honest end
        let (mut c, _) = CatchUp::resume(vec![fetch(5)]);
        assert_eq!(c.on_page(&fetch(5), 3, 8, true), Some(fetch(8)));
        assert_eq!(c.finished(), None);
        assert_eq!(c.on_page(&fetch(8), 2, 10, false), None);
        assert_eq!(c.finished(), Some(5));
    }
}
