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
    REPLICA_MAX_GROUPS_PER_REGISTRANT, REPLICA_MAX_TOTAL_BYTES, REPLICA_REGISTRATION_TERM_SECS,
    REPLICA_RENEWAL_WINDOW_SECS,
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
    /// Registrations renewed for a new term (paid again).
    pub renewals: u64,
    /// Registrations and renewals charged (the provider's replication work, reported to
    /// the issuer with its relaying).
    pub registrations_charged: u64,
    /// Groups deleted because their term ended unrenewed.
    pub groups_expired: u64,
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
    /// What one paid registration lasts, in seconds.
    pub term_secs: u64,
    /// The last seconds of a term in which it can be renewed.
    pub renewal_window_secs: u64,
}

impl Default for ReplicaLimits {
    fn default() -> Self {
        Self {
            max_groups: REPLICA_MAX_GROUPS,
            max_groups_per_registrant: REPLICA_MAX_GROUPS_PER_REGISTRANT,
            max_entries_per_group: REPLICA_MAX_ENTRIES_PER_GROUP,
            max_bytes_per_group: REPLICA_MAX_BYTES_PER_GROUP,
            max_total_bytes: REPLICA_MAX_TOTAL_BYTES,
            term_secs: REPLICA_REGISTRATION_TERM_SECS,
            renewal_window_secs: REPLICA_RENEWAL_WINDOW_SECS,
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
    /// End of the paid term, in Unix seconds.
    expires_at: u64,
}

/// A registered group as the provider stores it: the registration (with its proof), the
/// registrant and the end of its term (u64 big-endian Unix seconds), so a restart
/// restores the caps' accounting and the term.
pub const STORED_GROUP_LEN: usize = REPLICA_REGISTRATION_LEN + 32 + 8;
/// The form stored before terms (no expiry: a restart starts a full term).
const STORED_GROUP_LEN_NO_TERM: usize = REPLICA_REGISTRATION_LEN + 32;

/// What a registration asks of the provider, once its proof is checked.
#[derive(Debug, PartialEq, Eq)]
pub enum Registration {
    /// A group new here: charge, store `record`, open its mailbox, then
    /// [`ReplicaKeeper::admit`].
    New { group_id: [u8; 32], record: Vec<u8> },
    /// A kept group in its renewal window: charge, store `record`, then
    /// [`ReplicaKeeper::renew`].
    Renewal { group_id: [u8; 32], record: Vec<u8> },
    /// A kept group before its renewal window: nothing to do, the term ends at
    /// `expires_at`.
    Current { group_id: [u8; 32], expires_at: u64 },
}

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

    /// ReplicationServiceRegisterGroup from `registrant` (the peer that sent it) at `now`
    /// (Unix seconds): checks the caps first (cheap), then the view and the membership
    /// proof; says what the registration asks. Nothing changes here until the caller has
    /// charged and stored the record ([`Self::admit`], [`Self::renew`]).
    pub fn register(
        &mut self,
        registration: &[u8],
        registrant: [u8; 32],
        now: u64,
    ) -> core::result::Result<Registration, RegistrationRefused> {
        let claimed: Option<[u8; 32]> = registration.get(2..34).and_then(|g| g.try_into().ok());
        let known = claimed.and_then(|g| self.groups.get(&g));
        if known.is_none() {
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
        let (kept_until, kept_by) =
            known.map_or((None, None), |g| (Some(g.expires_at), g.registrant));
        let checked = match ReplicaRegistration::decode_for(registration, &self.provider) {
            Ok(r) => r,
            Err(e) => {
                self.stats.refused_registration_proof += 1;
                return Err(RegistrationRefused::BadProof(e));
            }
        };
        let group_id = checked.view.group_id.to_bytes();
        let until = now.saturating_add(self.limits.term_secs);
        match kept_until {
            None => Ok(Registration::New {
                group_id,
                record: stored_record(registration, &registrant, until),
            }),
            Some(expires_at)
                if now.saturating_add(self.limits.renewal_window_secs) < expires_at =>
            {
                Ok(Registration::Current {
                    group_id,
                    expires_at,
                })
            }
            // the caps keep counting the group against whoever registered it first
            Some(_) => Ok(Registration::Renewal {
                group_id,
                record: stored_record(registration, &kept_by.unwrap_or(registrant), until),
            }),
        }
    }

    /// Keeps a [`Registration::New`] group (charged and stored) under `registrant`.
    pub fn admit(&mut self, record: &[u8]) -> Result<u64> {
        let (view, registrant, expires_at) = self.read_record(record, None)?;
        if !self.groups.contains_key(&view.group_id.to_bytes()) {
            self.insert(&view, registrant, expires_at);
        }
        Ok(expires_at)
    }

    /// Extends a [`Registration::Renewal`] group (charged and stored) to the record's term.
    pub fn renew(&mut self, record: &[u8]) -> Result<u64> {
        let (view, _, expires_at) = self.read_record(record, None)?;
        let g = self
            .groups
            .get_mut(&view.group_id.to_bytes())
            .ok_or(WeshError::InvalidParameter("group not registered here"))?;
        g.expires_at = g.expires_at.max(expires_at);
        self.stats.renewals += 1;
        Ok(g.expires_at)
    }

    /// Unregisters the groups whose term ended by `now` (Unix seconds); the caller deletes
    /// their entries and their mailbox.
    pub fn expire(&mut self, now: u64) -> Vec<[u8; 32]> {
        let ended: Vec<[u8; 32]> = self
            .groups
            .iter()
            .filter(|(_, g)| g.expires_at <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in &ended {
            self.unregister(id);
            self.stats.groups_expired += 1;
        }
        ended
    }

    /// The end of `group_id`'s term (Unix seconds), if it is kept here.
    pub fn expires_at(&self, group_id: &[u8; 32]) -> Option<u64> {
        self.groups.get(group_id).map(|g| g.expires_at)
    }

    /// Reads a stored record: the view, the registrant and the term's end (`now` plus a
    /// term for the forms stored before terms; a bare view has no registrant).
    fn read_record(
        &self,
        record: &[u8],
        now: Option<u64>,
    ) -> Result<(ReplicationView, Option<[u8; 32]>, u64)> {
        let fresh = now.map(|n| n.saturating_add(self.limits.term_secs));
        if record.len() != STORED_GROUP_LEN && record.len() != STORED_GROUP_LEN_NO_TERM {
            let until = fresh.ok_or(WeshError::InvalidParameter("stored registration"))?;
            return Ok((ReplicationView::decode(record)?, None, until));
        }
        let (reg, rest) = record.split_at(REPLICA_REGISTRATION_LEN);
        let reg = ReplicaRegistration::decode_for(reg, &self.provider)?;
        let (who, term) = rest.split_at(32);
        let who: [u8; 32] = who
            .try_into()
            .map_err(|_| WeshError::InvalidParameter("stored registrant"))?;
        let until = match <[u8; 8]>::try_from(term) {
            Ok(t) => u64::from_be_bytes(t),
            Err(_) => fresh.ok_or(WeshError::InvalidParameter("stored term"))?,
        };
        Ok((reg.view, Some(who), until))
    }

    fn insert(&mut self, view: &ReplicationView, registrant: Option<[u8; 32]>, expires_at: u64) {
        self.groups.insert(
            view.group_id.to_bytes(),
            Replicated {
                verifier: view.verifier(),
                seen: BTreeSet::new(),
                registrant,
                entries: 0,
                bytes: 0,
                expires_at,
            },
        );
        if let Some(r) = registrant {
            *self.per_registrant.entry(r).or_default() += 1;
        }
        self.stats.groups = self.groups.len() as u64;
    }

    /// Counts a registration or renewal the requester paid for.
    pub(super) fn count_charged(&mut self) {
        self.stats.registrations_charged += 1;
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

    /// Restores a group from its stored record (after a restart at `now`, Unix seconds):
    /// the registration is checked again (its proof names this provider). Records stored
    /// before terms start a full term; a bare view (stored before registrations carried
    /// proofs) is restored without a registrant. Caps do not apply: the groups were
    /// admitted under them. An expired group is restored too: the next [`Self::expire`]
    /// deletes it with its entries.
    pub fn restore_group(&mut self, record: &[u8], now: u64) -> Result<[u8; 32]> {
        let (view, registrant, expires_at) = self.read_record(record, Some(now))?;
        let id = view.group_id.to_bytes();
        if !self.groups.contains_key(&id) {
            self.insert(&view, registrant, expires_at);
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

/// `registration ‖ registrant ‖ expires_at` (see [`STORED_GROUP_LEN`]).
fn stored_record(registration: &[u8], registrant: &[u8; 32], expires_at: u64) -> Vec<u8> {
    [registration, &registrant[..], &expires_at.to_be_bytes()[..]].concat()
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
    /// The group is kept until `expires_at` (Unix seconds); register again in the last
    /// [`REPLICA_RENEWAL_WINDOW_SECS`] to renew.
    Registered {
        group_id: [u8; 32],
        expires_at: u64,
    },
    /// Registering (or renewing) costs `price` credit units at this provider and the
    /// requester holds too few: spend a token there and register again.
    Unpaid {
        price: u64,
        reason: String,
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
const RESP_UNPAID: u8 = 0x83;
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
            Self::Registered {
                group_id,
                expires_at,
            } => {
                w.u8(RESP_REGISTERED).bytes(group_id).u64(*expires_at);
            }
            Self::Unpaid { price, reason } => {
                w.u8(RESP_UNPAID).u64(*price);
                w.var_bytes(truncated(reason));
            }
            Self::Entries { entries, more } => {
                w.u8(RESP_ENTRIES).u8(u8::from(*more));
                w.u32(u32::try_from(entries.len()).unwrap_or(u32::MAX));
                for (seq, e) in entries {
                    w.u64(*seq).var_bytes(e);
                }
            }
            Self::Refused { reason } => {
                w.u8(RESP_REFUSED).var_bytes(truncated(reason));
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
                expires_at: r.u64()?,
            },
            RESP_UNPAID => Self::Unpaid {
                price: r.u64()?,
                reason: read_reason(&mut r)?,
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
                reason: read_reason(&mut r)?,
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

/// A reason's bytes, cut to [`MAX_REASON`] at a character boundary.
fn truncated(reason: &str) -> &[u8] {
    let mut end = reason.len().min(MAX_REASON);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason.as_bytes().get(..end).unwrap_or_default()
}

fn read_reason(r: &mut crate::codec::Reader<'_>) -> Result<String> {
    // strict UTF-8: a lossy read would give one reason many encodings
    Ok(
        String::from_utf8(r.var_bytes("reason", 0, MAX_REASON)?.to_vec())
            .map_err(|_| crate::error::DecodeError::NonCanonical("reason not UTF-8"))?,
    )
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
            ReplicaResponse::Registered {
                group_id: [2; 32],
                expires_at: 1_700_000_000,
            },
            ReplicaResponse::Unpaid {
                price: 1_000,
                reason: "0 held".into(),
            },
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
