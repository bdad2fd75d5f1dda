//! The replication provider's side (sans I/O): groups registered with their
//! [`ReplicationView`] (it verifies entries but cannot open them), and the checks on the
//! entries members send. The node persists what this accepts and serves it back as
//! history.

use std::collections::{HashMap, HashSet};

use crate::entry::{Entry, EntryHash, EntryVerifier};
use crate::error::{Result, WeshError};
use crate::replication::ReplicationView;

use super::envelope::Outer;

/// Counters of the replication service.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReplicaStats {
    pub groups: u64,
    pub entries_kept: u64,
    pub entries_duplicate: u64,
    pub refused_unknown_group: u64,
    pub refused_invalid_entry: u64,
    pub refused_envelope: u64,
}

/// Verified entries of one group to keep, in arrival order.
#[derive(Debug, PartialEq, Eq)]
pub struct Accepted {
    pub group_id: [u8; 32],
    pub entries: Vec<(EntryHash, Vec<u8>)>,
}

#[derive(Debug, Default)]
pub struct ReplicaKeeper {
    groups: HashMap<[u8; 32], (EntryVerifier, HashSet<EntryHash>)>,
    stats: ReplicaStats,
}

impl ReplicaKeeper {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn stats(&self) -> &ReplicaStats {
        &self.stats
    }

    pub fn is_registered(&self, group_id: &[u8; 32]) -> bool {
        self.groups.contains_key(group_id)
    }

    /// Registers a group from its encoded view (ReplicationServiceRegisterGroup); returns
    /// the group ID. Registering again is harmless.
    pub fn register(&mut self, view: &[u8]) -> Result<[u8; 32]> {
        let view = ReplicationView::decode(view)?;
        let id = view.group_id.to_bytes();
        if let std::collections::hash_map::Entry::Vacant(v) = self.groups.entry(id) {
            v.insert((view.verifier(), HashSet::new()));
            self.stats.groups += 1;
        }
        Ok(id)
    }

    /// Restores an entry kept earlier (after a restart), without counting it again.
    pub fn restore(&mut self, group_id: &[u8; 32], hash: EntryHash) {
        if let Some((_, seen)) = self.groups.get_mut(group_id) {
            seen.insert(hash);
        }
    }

    /// Checks one replication envelope; returns the new, verified entries to keep.
    /// Forged entries and entries of unregistered groups are refused and counted.
    pub fn on_message(&mut self, bytes: &[u8]) -> Result<Accepted> {
        let (group_id, entries) = match Outer::decode(bytes) {
            Ok(Outer::Replica { group_id, entries }) => (group_id, entries),
            Ok(Outer::Sealed(_)) => {
                self.stats.refused_envelope += 1;
                return Err(WeshError::InvalidParameter(
                    "sealed envelope sent to a replication mailbox",
                ));
            }
            Err(e) => {
                self.stats.refused_envelope += 1;
                return Err(e);
            }
        };
        let Some((verifier, seen)) = self.groups.get_mut(&group_id) else {
            self.stats.refused_unknown_group += 1;
            return Err(WeshError::InvalidParameter("group not registered here"));
        };
        let mut kept = Vec::new();
        for e in entries {
            match Entry::decode_verified(&e, verifier) {
                Ok(entry) => {
                    if seen.insert(*entry.hash()) {
                        kept.push((*entry.hash(), e));
                    } else {
                        self.stats.entries_duplicate += 1;
                    }
                }
                Err(_) => self.stats.refused_invalid_entry += 1,
            }
        }
        self.stats.entries_kept += kept.len() as u64;
        Ok(Accepted {
            group_id,
            entries: kept,
        })
    }
}
