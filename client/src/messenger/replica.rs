//! The replication provider's side (sans I/O): groups registered with their
//! [`ReplicationView`] (it verifies entries but cannot open them), and the checks on the
//! entries members send. The node persists what this accepts and serves it back as
//! history.

// Ordered: `group_ids` lists the same groups in the same order on every run.
use std::collections::{BTreeMap, BTreeSet};

use crate::entry::{Entry, EntryHash, EntryVerifier};
use crate::error::{Result, WeshError};
use crate::replication::ReplicationView;

use super::envelope::Outer;

/// Counters of the replication service.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
    groups: BTreeMap<[u8; 32], (EntryVerifier, BTreeSet<EntryHash>)>,
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
        if let std::collections::btree_map::Entry::Vacant(v) = self.groups.entry(id) {
            v.insert((view.verifier(), BTreeSet::new()));
            self.stats.groups += 1;
        }
        Ok(id)
    }

    /// Restores an entry kept earlier (after a restart) into the duplicate filter, without
    /// counting it again. Entries that no longer verify are ignored.
    pub fn restore_entry(&mut self, group_id: &[u8; 32], bytes: &[u8]) {
        if let Some((verifier, seen)) = self.groups.get_mut(group_id)
            && let Ok(entry) = Entry::decode_verified(bytes, verifier)
        {
            seen.insert(*entry.hash());
        }
    }

    /// The registered groups.
    pub fn group_ids(&self) -> Vec<[u8; 32]> {
        self.groups.keys().copied().collect()
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

    /// Undoes [`on_message`](Self::on_message) for entries the caller could not keep, so
    /// they count as new when they come again.
    pub fn forget(&mut self, accepted: &Accepted) {
        if let Some((_, seen)) = self.groups.get_mut(&accepted.group_id) {
            for (hash, _) in &accepted.entries {
                seen.remove(hash);
            }
        }
        self.stats.entries_kept = self
            .stats
            .entries_kept
            .saturating_sub(accepted.entries.len() as u64);
    }
}

/// Requests of `/wesh/replication/1` (one per stream).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplicaRequest {
    /// ReplicationServiceRegisterGroup: the group's [`ReplicationView`], encoded.
    Register { view: Vec<u8> },
    /// Entries kept for `group_id` after sequence number `after` (0 = from the start).
    Fetch {
        group_id: [u8; 32],
        after: u64,
        max: u16,
    },
}

/// Answers of `/wesh/replication/1`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplicaResponse {
    Registered {
        group_id: [u8; 32],
    },
    /// Entries with their sequence numbers, oldest first; `more` says whether to fetch
    /// again after the last one.
    Entries {
        entries: Vec<(u64, Vec<u8>)>,
        more: bool,
    },
    Refused {
        reason: String,
    },
}

const REQ_REGISTER: u8 = 1;
const REQ_FETCH: u8 = 2;
const RESP_REGISTERED: u8 = 0x81;
const RESP_ENTRIES: u8 = 0x82;
const RESP_REFUSED: u8 = 0x8f;

/// Longest refusal reason, in bytes.
const MAX_REASON: usize = 256;

impl ReplicaRequest {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = crate::codec::Writer::new();
        w.u8(crate::params::WIRE_VERSION);
        match self {
            Self::Register { view } => {
                w.u8(REQ_REGISTER).var_bytes(view);
            }
            Self::Fetch {
                group_id,
                after,
                max,
            } => {
                w.u8(REQ_FETCH).bytes(group_id).u64(*after).u16(*max);
            }
        }
        w.finish()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let mut r = crate::codec::Reader::new(bytes);
        r.version()?;
        let req = match r.u8()? {
            REQ_REGISTER => Self::Register {
                view: r
                    .var_bytes(
                        "replication view",
                        crate::replication::REPLICATION_VIEW_LEN,
                        crate::replication::REPLICATION_VIEW_LEN,
                    )?
                    .to_vec(),
            },
            REQ_FETCH => Self::Fetch {
                group_id: r.array()?,
                after: r.u64()?,
                max: r.u16()?,
            },
            tag => {
                return Err(crate::error::DecodeError::UnknownTag {
                    what: "replication request",
                    tag,
                }
                .into());
            }
        };
        r.finish()?;
        Ok(req)
    }
}

impl ReplicaResponse {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = crate::codec::Writer::new();
        w.u8(crate::params::WIRE_VERSION);
        match self {
            Self::Registered { group_id } => {
                w.u8(RESP_REGISTERED).bytes(group_id);
            }
            Self::Entries { entries, more } => {
                w.u8(RESP_ENTRIES).u8(u8::from(*more));
                w.u32(u32::try_from(entries.len()).unwrap_or(u32::MAX));
                for (seq, e) in entries {
                    w.u64(*seq).var_bytes(e);
                }
            }
            Self::Refused { reason } => {
                let r = reason.as_bytes();
                w.u8(RESP_REFUSED)
                    .var_bytes(r.get(..MAX_REASON.min(r.len())).unwrap_or_default());
            }
        }
        w.finish()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let mut r = crate::codec::Reader::new(bytes);
        r.version()?;
        let resp = match r.u8()? {
            RESP_REGISTERED => Self::Registered {
                group_id: r.array()?,
            },
            RESP_ENTRIES => {
                let more = match r.u8()? {
                    0 => false,
                    1 => true,
                    _ => return Err(crate::error::DecodeError::NonCanonical("more flag").into()),
                };
                let n = usize::try_from(r.u32()?).unwrap_or(usize::MAX);
                if n > super::params::MAX_ENTRIES_PER_ENVELOPE {
                    return Err(crate::error::DecodeError::LengthOutOfRange {
                        what: "history entries",
                        len: n,
                    }
                    .into());
                }
                let mut entries = Vec::with_capacity(n);
                for _ in 0..n {
                    let seq = r.u64()?;
                    let e = r
                        .var_bytes("entry", 1, super::params::MAX_ENCODED_ENTRY)?
                        .to_vec();
                    entries.push((seq, e));
                }
                Self::Entries { entries, more }
            }
            RESP_REFUSED => Self::Refused {
                // strict UTF-8: a lossy read would give one reason many encodings
                reason: String::from_utf8(r.var_bytes("reason", 0, MAX_REASON)?.to_vec())
                    .map_err(|_| crate::error::DecodeError::NonCanonical("reason not UTF-8"))?,
            },
            tag => {
                return Err(crate::error::DecodeError::UnknownTag {
                    what: "replication response",
                    tag,
                }
                .into());
            }
        };
        r.finish()?;
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn wire_round_trips_and_truncations_fail() {
        let reqs = [
            ReplicaRequest::Fetch {
                group_id: [1; 32],
                after: 9,
                max: 100,
            },
            ReplicaRequest::Register {
                view: vec![0; crate::replication::REPLICATION_VIEW_LEN],
            },
        ];
        for q in reqs {
            let b = q.encode();
            assert_eq!(ReplicaRequest::decode(&b).unwrap(), q);
            for cut in 0..b.len() {
                assert!(ReplicaRequest::decode(&b[..cut]).is_err());
            }
        }
        let resps = [
            ReplicaResponse::Registered { group_id: [2; 32] },
            ReplicaResponse::Entries {
                entries: vec![(1, vec![1, 2]), (2, vec![3])],
                more: true,
            },
            ReplicaResponse::Refused {
                reason: "no".into(),
            },
        ];
        for a in resps {
            let b = a.encode();
            assert_eq!(ReplicaResponse::decode(&b).unwrap(), a);
            for cut in 0..b.len() {
                assert!(ReplicaResponse::decode(&b[..cut]).is_err());
            }
        }
        assert!(ReplicaRequest::decode(&[crate::params::WIRE_VERSION, 7]).is_err());
    }

    /// Found by fuzz/replica_wire: a refusal reason that is not UTF-8 decoded (with
    /// replacement characters) and re-encoded to other bytes.
    #[test]
    fn a_refusal_reason_that_is_not_utf8_is_refused() {
        let mut bytes = ReplicaResponse::Refused {
            reason: "ab".into(),
        }
        .encode();
        let last = bytes.len() - 1;
        bytes[last] = 0x8f;
        assert!(ReplicaResponse::decode(&bytes).is_err());
    }
}
