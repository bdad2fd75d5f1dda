//! When a replication provider reads each group's replica mailbox (sans I/O). A group is
//! read when a payload was stored in its mailbox, again at once while a read filled its
//! batch, at its reassembly deadline, and after a failed keep; never because time passed.
//! So a round's work is proportional to the groups that changed, not to the groups
//! registered: a provider holding thousands of idle groups reads none of them.
//!
//! Driven as: [`ReplicaSchedule::handle_stored`] (the shell saw a payload stored),
//! [`ReplicaSchedule::poll_due`] (which groups to read now), [`ReplicaSchedule::handle_read`]
//! (how the read went), [`ReplicaSchedule::poll_timeout`] (when to wake without a store).
//! Times are milliseconds on the shell's core clock.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::params::REPLICA_KEEP_RETRY_MS;
use super::replica_mailbox;

/// How one read of a group's replica mailbox went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadOutcome {
    /// Everything there was read; a reassembly in progress gives up at `deadline`.
    Done { deadline: Option<u64> },
    /// The read filled its batch: more may be waiting.
    More,
    /// A message could not be kept (a storage error): its fragments stay for a retry.
    Failed,
}

#[derive(Debug, Default)]
pub struct ReplicaSchedule {
    /// replica mailbox → its group
    by_mailbox: HashMap<[u8; 32], [u8; 32]>,
    /// groups to read at the next round
    due: BTreeSet<[u8; 32]>,
    /// group → when to read it even if nothing is stored
    deadlines: BTreeMap<[u8; 32], u64>,
}

impl ReplicaSchedule {
    pub fn new() -> Self {
        Self::default()
    }

    /// Follows `group`'s replica mailbox; `read_now` when payloads may already wait there
    /// (a group restored at start), not for a group registered just now.
    pub fn watch(&mut self, group: [u8; 32], read_now: bool) {
        self.by_mailbox.insert(replica_mailbox(&group), group);
        if read_now {
            self.due.insert(group);
        }
    }

    /// Stops following `group`.
    pub fn unwatch(&mut self, group: &[u8; 32]) {
        self.by_mailbox.remove(&replica_mailbox(group));
        self.due.remove(group);
        self.deadlines.remove(group);
    }

    /// A payload was stored in `mailbox`; returns whether it is a replica mailbox (then
    /// the worker should wake).
    pub fn handle_stored(&mut self, mailbox: &[u8; 32]) -> bool {
        match self.by_mailbox.get(mailbox) {
            Some(group) => {
                self.due.insert(*group);
                true
            }
            None => false,
        }
    }

    /// The groups to read at `now` (each handed out once until it is due again).
    pub fn poll_due(&mut self, now: u64) -> Vec<[u8; 32]> {
        let reached: Vec<[u8; 32]> = self
            .deadlines
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(g, _)| *g)
            .collect();
        for g in &reached {
            self.deadlines.remove(g);
        }
        let mut due = std::mem::take(&mut self.due);
        due.extend(reached);
        due.into_iter().collect()
    }

    /// How the read of `group` at `now` went.
    pub fn handle_read(&mut self, now: u64, group: [u8; 32], outcome: ReadOutcome) {
        if !self.by_mailbox.contains_key(&replica_mailbox(&group)) {
            return;
        }
        match outcome {
            ReadOutcome::More => {
                self.due.insert(group);
            }
            ReadOutcome::Failed => self.at(group, now.saturating_add(REPLICA_KEEP_RETRY_MS)),
            ReadOutcome::Done { deadline: Some(at) } => self.at(group, at),
            ReadOutcome::Done { deadline: None } => {
                self.deadlines.remove(&group);
            }
        }
    }

    fn at(&mut self, group: [u8; 32], at: u64) {
        let slot = self.deadlines.entry(group).or_insert(at);
        *slot = (*slot).min(at);
    }

    /// Whether a round is due now (something stored, or a read to continue).
    pub fn has_due(&self) -> bool {
        !self.due.is_empty()
    }

    /// The earliest deadline, if any.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.deadlines.values().min().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(i: u32) -> [u8; 32] {
        let mut g = [0u8; 32];
        g[..4].copy_from_slice(&i.to_be_bytes());
        g
    }

    /// Issue 15 item 10: the worker scanned every registered group every 200 ms. With
    /// 4,096 idle groups and one that received mail, a round must read exactly that one.
    #[test]
    fn a_round_reads_only_groups_that_received_mail() {
        let mut s = ReplicaSchedule::new();
        for i in 0..4096 {
            s.watch(group(i), false);
        }
        assert!(s.poll_due(0).is_empty(), "idle groups are never read");
        assert_eq!(s.poll_timeout(), None, "nor woken for");
        assert!(!s.handle_stored(&[7; 32]), "a client's mailbox is not ours");
        assert!(s.handle_stored(&replica_mailbox(&group(42))));
        assert!(s.handle_stored(&replica_mailbox(&group(42))));
        assert_eq!(s.poll_due(1), vec![group(42)]);
        s.handle_read(1, group(42), ReadOutcome::Done { deadline: None });
        let mut reads = 0;
        for now in 2..1000 {
            reads += s.poll_due(now).len();
        }
        assert_eq!(reads, 0, "nothing changed, nothing read");
    }

    #[test]
    fn a_full_batch_a_reassembly_and_a_failure_bring_the_group_back() {
        let mut s = ReplicaSchedule::new();
        s.watch(group(1), true);
        assert_eq!(
            s.poll_due(0),
            vec![group(1)],
            "restored groups are read once"
        );
        s.handle_read(0, group(1), ReadOutcome::More);
        assert_eq!(s.poll_due(0), vec![group(1)]);
        s.handle_read(0, group(1), ReadOutcome::Done { deadline: Some(50) });
        assert!(s.poll_due(49).is_empty());
        assert_eq!(s.poll_timeout(), Some(50));
        assert_eq!(s.poll_due(50), vec![group(1)]);
        s.handle_read(50, group(1), ReadOutcome::Failed);
        assert_eq!(s.poll_timeout(), Some(50 + REPLICA_KEEP_RETRY_MS));
        assert!(s.poll_due(50 + REPLICA_KEEP_RETRY_MS - 1).is_empty());
        assert_eq!(s.poll_due(50 + REPLICA_KEEP_RETRY_MS), vec![group(1)]);
        s.unwatch(&group(1));
        assert!(!s.handle_stored(&replica_mailbox(&group(1))));
        s.handle_read(0, group(1), ReadOutcome::More);
        assert!(s.poll_due(u64::MAX).is_empty());
    }
}
