//! The replication provider's side (sans I/O): groups registered with their
//! [`ReplicationView`] (it verifies entries but cannot open them), and the checks on the
//! entries members send. The node persists what this accepts and serves it back as
//! history.

// Ordered: `group_ids` lists the same groups in the same order on every run.
use std::collections::{BTreeMap, BTreeSet};

use crate::entry::{Entry, EntryHash, EntryVerifier};
use crate::error::{Result, WeshError};
use crate::replication::{REPLICA_REGISTRATION_LEN, ReplicaRegistration, ReplicationView};

use super::envelope::Outer;
use super::params::{
    REPLICA_MAX_BYTES_PER_GROUP, REPLICA_MAX_ENTRIES_PER_GROUP, REPLICA_MAX_GROUPS,
    REPLICA_MAX_GROUPS_PER_REGISTRANT, REPLICA_MAX_TOTAL_BYTES,
};

/// Counters of the replication service.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReplicaStats {
    pub groups: u64,
    pub entries_kept: u64,
    /// Entry bytes kept, over all groups.
    pub bytes_kept: u64,
    pub entries_duplicate: u64,
    pub refused_unknown_group: u64,
    pub refused_invalid_entry: u64,
    pub refused_envelope: u64,
    /// Registrations without a valid membership proof for this provider.
    pub refused_registration_proof: u64,
    /// Registrations beyond the registrant's or the provider's group cap.
    pub refused_registration_cap: u64,
    /// Valid entries refused because their group or the provider is full.
    pub refused_over_quota: u64,
}

/// Why a replication provider refuses a registration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistrationRefused {
    #[error("bad registration: {0}")]
    BadProof(WeshError),
    #[error("this registrant keeps {0} groups here already")]
    RegistrantFull(usize),
    #[error("this provider keeps {0} groups already")]
    ProviderFull(usize),
}

/// What a replication provider accepts at most (defaults: [`super::params`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplicaLimits {
    pub max_groups: usize,
    pub max_groups_per_registrant: usize,
    pub max_entries_per_group: u64,
    pub max_bytes_per_group: u64,
    pub max_total_bytes: u64,
}

impl Default for ReplicaLimits {
    fn default() -> Self {
        Self {
            max_groups: REPLICA_MAX_GROUPS,
            max_groups_per_registrant: REPLICA_MAX_GROUPS_PER_REGISTRANT,
            max_entries_per_group: REPLICA_MAX_ENTRIES_PER_GROUP,
            max_bytes_per_group: REPLICA_MAX_BYTES_PER_GROUP,
            max_total_bytes: REPLICA_MAX_TOTAL_BYTES,
        }
    }
}

/// Verified entries of one group to keep, in arrival order.
#[derive(Debug, PartialEq, Eq)]
pub struct Accepted {
    pub group_id: [u8; 32],
    pub entries: Vec<(EntryHash, Vec<u8>)>,
}

/// One registered group.
#[derive(Debug)]
struct Replicated {
    verifier: EntryVerifier,
    seen: BTreeSet<EntryHash>,
    /// Who registered it (None: restored from before registrants were recorded).
    registrant: Option<[u8; 32]>,
    entries: u64,
    bytes: u64,
}

/// A registered group as the provider stores it: the registration (with its proof)
/// followed by the registrant, so a restart restores the caps' accounting.
pub const STORED_GROUP_LEN: usize = REPLICA_REGISTRATION_LEN + 32;

#[derive(Debug)]
pub struct ReplicaKeeper {
    /// This provider's node id (registrations name it).
    provider: [u8; 32],
    limits: ReplicaLimits,
    groups: BTreeMap<[u8; 32], Replicated>,
    per_registrant: BTreeMap<[u8; 32], usize>,
    stats: ReplicaStats,
}

impl ReplicaKeeper {
    /// The keeper of provider `provider`, with the default limits.
    pub fn new(provider: [u8; 32]) -> Self {
        Self::with_limits(provider, ReplicaLimits::default())
    }

    pub fn with_limits(provider: [u8; 32], limits: ReplicaLimits) -> Self {
        Self {
            provider,
            limits,
            groups: BTreeMap::new(),
            per_registrant: BTreeMap::new(),
            stats: ReplicaStats::default(),
        }
    }

    pub fn stats(&self) -> &ReplicaStats {
        &self.stats
    }

    pub fn is_registered(&self, group_id: &[u8; 32]) -> bool {
        self.groups.contains_key(group_id)
    }

    /// ReplicationServiceRegisterGroup from `registrant` (the peer that sent it): checks
    /// the caps first (cheap), then the view and the membership proof; returns the group
    /// ID and the record to store ([`Self::restore_group`] takes it back after a
    /// restart). Registering a group already kept is harmless and changes nothing.
    pub fn register(
        &mut self,
        registration: &[u8],
        registrant: [u8; 32],
    ) -> core::result::Result<([u8; 32], Vec<u8>), RegistrationRefused> {
        let claimed: Option<[u8; 32]> = registration.get(2..34).and_then(|g| g.try_into().ok());
        let known = claimed.is_some_and(|g| self.groups.contains_key(&g));
        if !known {
            let mine = self.per_registrant.get(&registrant).copied().unwrap_or(0);
            if mine >= self.limits.max_groups_per_registrant {
                self.stats.refused_registration_cap += 1;
                return Err(RegistrationRefused::RegistrantFull(mine));
            }
            if self.groups.len() >= self.limits.max_groups {
                self.stats.refused_registration_cap += 1;
                return Err(RegistrationRefused::ProviderFull(self.groups.len()));
            }
        }
        let checked = match ReplicaRegistration::decode_for(registration, &self.provider) {
            Ok(r) => r,
            Err(e) => {
                self.stats.refused_registration_proof += 1;
                return Err(RegistrationRefused::BadProof(e));
            }
        };
        let id = checked.view.group_id.to_bytes();
        let record = [registration, &registrant[..]].concat();
        if !self.groups.contains_key(&id) {
            self.insert(&checked.view, Some(registrant));
        }
        Ok((id, record))
    }

    fn insert(&mut self, view: &ReplicationView, registrant: Option<[u8; 32]>) {
        self.groups.insert(
            view.group_id.to_bytes(),
            Replicated {
                verifier: view.verifier(),
                seen: BTreeSet::new(),
                registrant,
                entries: 0,
                bytes: 0,
            },
        );
        if let Some(r) = registrant {
            *self.per_registrant.entry(r).or_default() += 1;
        }
        self.stats.groups = self.groups.len() as u64;
    }

    /// Counts a registration that did not even parse (an old-form view without proof).
    pub(super) fn count_unproven_registration(&mut self) {
        self.stats.refused_registration_proof += 1;
    }

    /// Drops a group registered by [`Self::register`] that the caller could not keep.
    pub fn unregister(&mut self, group_id: &[u8; 32]) {
        let Some(g) = self.groups.remove(group_id) else {
            return;
        };
        if let Some(r) = g.registrant
            && let Some(n) = self.per_registrant.get_mut(&r)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_registrant.remove(&r);
            }
        }
        self.stats.bytes_kept = self.stats.bytes_kept.saturating_sub(g.bytes);
        self.stats.groups = self.groups.len() as u64;
    }

    /// Restores a group from its stored record (after a restart): the registration is
    /// checked again (its proof names this provider). A bare view (stored before
    /// registrations carried proofs) is restored without a registrant. Caps do not apply:
    /// the groups were admitted under them.
    pub fn restore_group(&mut self, record: &[u8]) -> Result<[u8; 32]> {
        let (view, registrant) = if record.len() == STORED_GROUP_LEN {
            let (reg, who) = record.split_at(REPLICA_REGISTRATION_LEN);
            let reg = ReplicaRegistration::decode_for(reg, &self.provider)?;
            let who: [u8; 32] = who
                .try_into()
                .map_err(|_| WeshError::InvalidParameter("stored registrant"))?;
            (reg.view, Some(who))
        } else {
            (ReplicationView::decode(record)?, None)
        };
        let id = view.group_id.to_bytes();
        if !self.groups.contains_key(&id) {
            self.insert(&view, registrant);
        }
        Ok(id)
    }

    /// Restores an entry kept earlier (after a restart) into the duplicate filter and the
    /// group's usage, without counting it again. Entries that no longer verify are ignored.
    pub fn restore_entry(&mut self, group_id: &[u8; 32], bytes: &[u8]) {
        if let Some(g) = self.groups.get_mut(group_id)
            && let Ok(entry) = Entry::decode_verified(bytes, &g.verifier)
            && g.seen.insert(*entry.hash())
        {
            g.entries += 1;
            g.bytes += bytes.len() as u64;
            self.stats.bytes_kept += bytes.len() as u64;
        }
    }

    /// The registered groups.
    pub fn group_ids(&self) -> Vec<[u8; 32]> {
        self.groups.keys().copied().collect()
    }

    /// Groups `registrant` registered here.
    pub fn registered_by(&self, registrant: &[u8; 32]) -> usize {
        self.per_registrant.get(registrant).copied().unwrap_or(0)
    }

    /// Checks one replication envelope; returns the new, verified entries to keep.
    /// Forged entries, entries of unregistered groups and entries beyond the group's or
    /// the provider's quota are refused and counted.
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
        let Some(g) = self.groups.get_mut(&group_id) else {
            self.stats.refused_unknown_group += 1;
            return Err(WeshError::InvalidParameter("group not registered here"));
        };
        let limits = self.limits;
        let mut kept = Vec::new();
        for e in entries {
            let entry = match Entry::decode_verified(&e, &g.verifier) {
                Ok(entry) => entry,
                Err(_) => {
                    self.stats.refused_invalid_entry += 1;
                    continue;
                }
            };
            if g.seen.contains(entry.hash()) {
                self.stats.entries_duplicate += 1;
                continue;
            }
            let len = e.len() as u64;
            if g.entries >= limits.max_entries_per_group
                || g.bytes + len > limits.max_bytes_per_group
                || self.stats.bytes_kept + len > limits.max_total_bytes
            {
                self.stats.refused_over_quota += 1;
                continue;
            }
            g.seen.insert(*entry.hash());
            g.entries += 1;
            g.bytes += len;
            self.stats.bytes_kept += len;
            kept.push((*entry.hash(), e));
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
        if let Some(g) = self.groups.get_mut(&accepted.group_id) {
            for (hash, e) in &accepted.entries {
                if g.seen.remove(hash) {
                    let len = e.len() as u64;
                    g.entries = g.entries.saturating_sub(1);
                    g.bytes = g.bytes.saturating_sub(len);
                    self.stats.bytes_kept = self.stats.bytes_kept.saturating_sub(len);
                }
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
    /// ReplicationServiceRegisterGroup: an encoded [`ReplicaRegistration`] (the group's
    /// view and a member's proof).
    Register { registration: Vec<u8> },
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
            Self::Register { registration } => {
                w.u8(REQ_REGISTER).var_bytes(registration);
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
                registration: r
                    .var_bytes(
                        "replica registration",
                        REPLICA_REGISTRATION_LEN,
                        REPLICA_REGISTRATION_LEN,
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
                registration: vec![0; REPLICA_REGISTRATION_LEN],
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
