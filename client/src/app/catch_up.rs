//! Catching up after going offline: which histories to fetch (every replicated group, at
//! each replication provider the app knows, after its journaled cursor), one retry of a
//! failed fetch, and when the catch-up is over.

use std::collections::BTreeSet;

use super::action::{CallId, HistoryFetch};
use crate::messenger::WeshDevice;
use crate::messenger::params::APP_HISTORY_RETRY_MS;

/// A catch-up in progress.
#[derive(Debug)]
pub struct CatchUp {
    call: CallId,
    /// Fetches handed to the shell and not answered yet.
    waiting: BTreeSet<([u8; 32], [u8; 32])>,
    /// Fetches that failed once, with when to try them again.
    retries: Vec<(u64, HistoryFetch)>,
    retried: BTreeSet<([u8; 32], [u8; 32])>,
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
        let catch_up = CatchUp {
            call,
            waiting: fetches.iter().map(|f| (f.group, f.provider)).collect(),
            retries: Vec::new(),
            retried: BTreeSet::new(),
            fetched: 0,
        };
        (catch_up, fetches)
    }

    pub fn call(&self) -> CallId {
        self.call
    }

    /// Whether this answer belongs to the catch-up.
    pub fn expects(&self, fetch: &HistoryFetch) -> bool {
        self.waiting.contains(&(fetch.group, fetch.provider))
    }

    /// A fetch returned `entries` entries.
    pub fn on_entries(&mut self, fetch: &HistoryFetch, entries: usize) {
        self.waiting.remove(&(fetch.group, fetch.provider));
        self.fetched += entries;
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
}
