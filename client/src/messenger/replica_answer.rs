//! How a replication provider answers `/wesh/replication/1` (sans I/O): a registration is
//! checked by the [`ReplicaKeeper`] (caps, then the member's proof), its record kept and
//! its mailbox opened before it is confirmed; history is served only for registered
//! groups, bounded in count and bytes.
//! The provider's storage is behind [`ReplicaArchive`].

use super::params::{
    REPLICA_MAX_FETCH_ENTRIES, REPLICA_MAX_RESPONSE_BYTES, REPLICA_REGISTRATION_PRICE,
    REPLICA_RESPONSE_HEADROOM,
};
use super::replica::{Registration, ReplicaKeeper, ReplicaRequest, ReplicaResponse};

/// A failure of the provider's storage, reported to the requester as a refusal.
pub type ArchiveError = Box<dyn std::error::Error + Send + Sync>;

/// Kept entries: (sequence number, entry), and whether more follow.
pub type HistoryPage = (Vec<(u64, Vec<u8>)>, bool);

/// What a replication provider keeps. Contract: `put_group` (the keeper's record of the
/// registration, given back to [`ReplicaKeeper::restore_group`]) is durable when it returns;
/// `fetch` returns entries in sequence order after `after`, at most `max` of them and at
/// most `budget` bytes (at least one entry if any is left), and says whether more follow.
pub trait ReplicaArchive {
    /// Charges the requester `price` credit units at this provider; `Err` says why it
    /// cannot pay (a provider that takes no payments charges nothing).
    fn charge(&mut self, price: u64) -> Result<(), ArchiveError>;
    fn put_group(&mut self, group: &[u8; 32], record: &[u8]) -> Result<(), ArchiveError>;
    /// Opens the group's replica mailbox (keyed with the group id: nobody holds its
    /// private key, so only the provider's own worker reads it).
    fn open_mailbox(&mut self, group: &[u8; 32]) -> Result<(), ArchiveError>;
    fn fetch(
        &self,
        group: &[u8; 32],
        after: u64,
        max: usize,
        budget: usize,
    ) -> Result<HistoryPage, ArchiveError>;
}

impl ReplicaKeeper {
    /// The answer to one request frame from `peer` (the registrant of what it registers)
    /// at `now` (Unix seconds).
    pub fn answer(
        &mut self,
        request: &[u8],
        peer: [u8; 32],
        now: u64,
        archive: &mut impl ReplicaArchive,
    ) -> ReplicaResponse {
        let refused = |reason: String| ReplicaResponse::Refused { reason };
        match ReplicaRequest::decode(request) {
            Err(e) => {
                // a registration of the old form (a view without proof) lands here
                if request.get(1) == Some(&1) {
                    self.count_unproven_registration();
                }
                refused(format!("bad request: {e}"))
            }
            Ok(ReplicaRequest::Register { registration }) => {
                let asked = match self.register(&registration, peer, now) {
                    Ok(r) => r,
                    Err(e) => return refused(e.to_string()),
                };
                let (group_id, record, new) = match asked {
                    Registration::Current {
                        group_id,
                        expires_at,
                    } => {
                        return ReplicaResponse::Registered {
                            group_id,
                            expires_at,
                        };
                    }
                    Registration::New { group_id, record } => (group_id, record, true),
                    Registration::Renewal { group_id, record } => (group_id, record, false),
                };
                if let Err(e) = archive.charge(REPLICA_REGISTRATION_PRICE) {
                    return ReplicaResponse::Unpaid {
                        price: REPLICA_REGISTRATION_PRICE,
                        reason: format!("replication is paid: {e}"),
                    };
                }
                self.count_charged();
                let stored = archive
                    .put_group(&group_id, &record)
                    .map_err(|e| format!("cannot keep the group: {e}"))
                    .and_then(|()| match new {
                        true => archive
                            .open_mailbox(&group_id)
                            .map_err(|e| format!("cannot open the replica mailbox: {e}")),
                        false => Ok(()),
                    });
                let kept = stored.and_then(|()| {
                    match new {
                        true => self.admit(&record),
                        false => self.renew(&record),
                    }
                    .map_err(|e| format!("cannot keep the group: {e}"))
                });
                match kept {
                    Ok(expires_at) => ReplicaResponse::Registered {
                        group_id,
                        expires_at,
                    },
                    Err(reason) => refused(reason),
                }
            }
            Ok(ReplicaRequest::Fetch {
                group_id,
                after,
                max,
            }) => {
                if !self.is_registered(&group_id) {
                    return refused("group not registered here".into());
                }
                let max = usize::from(max).clamp(1, REPLICA_MAX_FETCH_ENTRIES);
                let budget = REPLICA_MAX_RESPONSE_BYTES - REPLICA_RESPONSE_HEADROOM;
                match archive.fetch(&group_id, after, max, budget) {
                    Ok((entries, more)) => ReplicaResponse::Entries { entries, more },
                    Err(e) => refused(format!("history unavailable: {e}")),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use crate::identity::Identity;
    use crate::messenger::envelope::Outer;
    use crate::messenger::params::{REPLICA_REGISTRATION_TERM_SECS, REPLICA_RENEWAL_WINDOW_SECS};
    use crate::messenger::replica::ReplicaLimits;
    use crate::replication::ReplicaRegistration;
    use crate::session::GroupSession;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    /// Counts what the core asked of the storage.
    #[derive(Default)]
    struct Counting {
        calls: usize,
        charged: u64,
        /// Credit the requester holds (`None`: a provider without payments).
        credit: Option<u64>,
    }

    impl ReplicaArchive for Counting {
        fn charge(&mut self, price: u64) -> Result<(), ArchiveError> {
            match &mut self.credit {
                Some(held) if *held < price => Err(format!("{held} held").into()),
                Some(held) => {
                    *held -= price;
                    self.charged += price;
                    Ok(())
                }
                None => Ok(()),
            }
        }
        fn put_group(&mut self, _: &[u8; 32], _: &[u8]) -> Result<(), ArchiveError> {
            self.calls += 1;
            Ok(())
        }
        fn open_mailbox(&mut self, _: &[u8; 32]) -> Result<(), ArchiveError> {
            self.calls += 1;
            Ok(())
        }
        fn fetch(
            &self,
            _: &[u8; 32],
            _: u64,
            _: usize,
            _: usize,
        ) -> Result<HistoryPage, ArchiveError> {
            Ok((vec![(1, vec![1])], false))
        }
    }

    fn refusal(r: ReplicaResponse) -> String {
        match r {
            ReplicaResponse::Refused { reason } => reason,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn garbage_bad_views_and_unregistered_groups_are_refused_without_touching_storage() {
        let mut keeper = ReplicaKeeper::new(PROVIDER);
        let mut archive = Counting::default();
        assert!(
            refusal(keeper.answer(&[0xff, 1, 2], PEER, NOW, &mut archive))
                .starts_with("bad request")
        );
        let bad_view = ReplicaRequest::Register {
            registration: vec![7; 40],
        }
        .encode();
        // refused as a frame or as a view; nothing is kept for it
        refusal(keeper.answer(&bad_view, PEER, NOW, &mut archive));
        let fetch = ReplicaRequest::Fetch {
            group_id: [3; 32],
            after: 0,
            max: 10,
        }
        .encode();
        assert_eq!(
            refusal(keeper.answer(&fetch, PEER, NOW, &mut archive)),
            "group not registered here"
        );
        assert_eq!(archive.calls, 0);
    }

    const PROVIDER: [u8; 32] = [0xaa; 32];
    /// Unix seconds of the tests' registrations.
    const NOW: u64 = 1_700_000_000;
    const PEER: [u8; 32] = [0x11; 32];

    fn fresh_group(seed: u64) -> GroupSession {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let member = Identity::generate(&mut rng);
        GroupSession::create_multi_member(&mut rng, member.account_key())
            .unwrap()
            .0
    }

    fn register_request(group: &GroupSession, provider: [u8; 32]) -> Vec<u8> {
        ReplicaRequest::Register {
            registration: ReplicaRegistration::sign(group.secrets(), provider).encode(),
        }
        .encode()
    }

    fn registered(r: ReplicaResponse) -> [u8; 32] {
        match r {
            ReplicaResponse::Registered { group_id, .. } => group_id,
            other => panic!("{other:?}"),
        }
    }

    /// Issue 15 item 10: registration was unauthenticated. A view alone (what the provider
    /// itself, or anyone it leaks to, holds), a proof for another provider and a proof
    /// signed by a non-member key must all be refused, and nothing kept for them.
    #[test]
    fn a_registration_without_a_members_proof_for_this_provider_is_refused() {
        let mut keeper = ReplicaKeeper::new(PROVIDER);
        let mut archive = Counting::default();
        let group = fresh_group(1);
        // the old form: a view, no proof
        let mut bare = vec![crate::params::WIRE_VERSION, 1];
        let view = group.replication_view().encode();
        bare.extend_from_slice(&(view.len() as u32).to_be_bytes());
        bare.extend_from_slice(&view);
        refusal(keeper.answer(&bare, PEER, NOW, &mut archive));
        // a member's proof made for another provider
        refusal(keeper.answer(
            &register_request(&group, [0xbb; 32]),
            PEER,
            NOW,
            &mut archive,
        ));
        // the view with a proof signed by someone without the group secret
        let mut forged = ReplicaRegistration::sign(group.secrets(), PROVIDER);
        forged.signature = ReplicaRegistration::sign(fresh_group(2).secrets(), PROVIDER).signature;
        let forged = ReplicaRequest::Register {
            registration: forged.encode(),
        }
        .encode();
        refusal(keeper.answer(&forged, PEER, NOW, &mut archive));
        assert_eq!(archive.calls, 0, "nothing stored for refused registrations");
        assert_eq!(keeper.stats().groups, 0);
        assert_eq!(keeper.stats().refused_registration_proof, 3);
        // a member's proof for this provider registers
        let id =
            registered(keeper.answer(&register_request(&group, PROVIDER), PEER, NOW, &mut archive));
        assert_eq!(id, group.group_id());
        assert_eq!(archive.calls, 2);
    }

    /// Issue 18 item 5: registering a group costs the registrant
    /// [`REPLICA_REGISTRATION_PRICE`] credit units at the provider, once per group. Without
    /// the credit the registration is refused and nothing is kept; a registered group
    /// registers again for free.
    #[test]
    fn a_registration_is_paid_once_and_refused_without_credit() {
        let mut keeper = ReplicaKeeper::new(PROVIDER);
        let mut archive = Counting {
            credit: Some(REPLICA_REGISTRATION_PRICE - 1),
            ..Counting::default()
        };
        let group = fresh_group(7);
        let why = match keeper.answer(&register_request(&group, PROVIDER), PEER, NOW, &mut archive)
        {
            ReplicaResponse::Unpaid { price, reason } => {
                assert_eq!(price, REPLICA_REGISTRATION_PRICE);
                reason
            }
            other => panic!("{other:?}"),
        };
        assert!(why.contains("replication is paid"), "{why}");
        assert_eq!(archive.calls, 0, "nothing kept for an unpaid registration");
        assert!(!keeper.is_registered(&group.group_id()));
        archive.credit = Some(REPLICA_REGISTRATION_PRICE + 5);
        registered(keeper.answer(&register_request(&group, PROVIDER), PEER, NOW, &mut archive));
        assert_eq!(archive.charged, REPLICA_REGISTRATION_PRICE);
        assert_eq!(archive.credit, Some(5));
        registered(keeper.answer(&register_request(&group, PROVIDER), PEER, NOW, &mut archive));
        assert_eq!(archive.charged, REPLICA_REGISTRATION_PRICE, "charged once");
    }

    /// Issue 15 item 10: group registration was unlimited. Per registrant and in total,
    /// registrations beyond the caps are refused before any signature is checked; a group
    /// already kept registers again (idempotent) whatever the caps.
    #[test]
    fn registrations_beyond_the_registrant_and_provider_caps_are_refused() {
        let limits = ReplicaLimits {
            max_groups: 5,
            max_groups_per_registrant: 3,
            ..ReplicaLimits::default()
        };
        let mut keeper = ReplicaKeeper::with_limits(PROVIDER, limits);
        let mut archive = Counting::default();
        let groups: Vec<GroupSession> = (10..20).map(fresh_group).collect();
        for g in &groups[..3] {
            registered(keeper.answer(&register_request(g, PROVIDER), PEER, NOW, &mut archive));
        }
        let fourth = refusal(keeper.answer(
            &register_request(&groups[3], PROVIDER),
            PEER,
            NOW,
            &mut archive,
        ));
        assert!(fourth.contains("registrant"), "{fourth}");
        registered(keeper.answer(
            &register_request(&groups[0], PROVIDER),
            PEER,
            NOW,
            &mut archive,
        ));
        for g in &groups[3..5] {
            registered(keeper.answer(&register_request(g, PROVIDER), [2; 32], NOW, &mut archive));
        }
        let full = refusal(keeper.answer(
            &register_request(&groups[5], PROVIDER),
            [3; 32],
            NOW,
            &mut archive,
        ));
        assert!(full.contains("provider"), "{full}");
        assert_eq!(keeper.stats().groups, 5);
        assert_eq!(keeper.stats().refused_registration_cap, 2);
        assert_eq!(keeper.registered_by(&PEER), 3);
    }

    fn envelope(group: &GroupSession) -> (Vec<u8>, Vec<Vec<u8>>) {
        let entries: Vec<Vec<u8>> = group
            .metadata_log()
            .iter_sorted()
            .map(|e| e.encode())
            .collect();
        let outer = Outer::Replica {
            group_id: group.group_id(),
            entries: entries.clone(),
        };
        (outer.encode(), entries)
    }

    /// Issue 15 item 10: a group's (and the provider's) stored entries and bytes had no
    /// bound. Entries beyond a group's entry or byte quota, or the provider's byte total,
    /// are refused and counted, and forgetting entries frees their room.
    #[test]
    fn entries_beyond_the_group_and_total_quotas_are_refused() {
        let group = fresh_group(30);
        let (message, entries) = envelope(&group);
        assert!(entries.len() >= 2, "the metadata log has a few entries");
        let one = entries[0].len() as u64;
        let limits = ReplicaLimits {
            max_entries_per_group: 1,
            ..ReplicaLimits::default()
        };
        let mut keeper = ReplicaKeeper::with_limits(PROVIDER, limits);
        let mut archive = Counting::default();
        registered(keeper.answer(&register_request(&group, PROVIDER), PEER, NOW, &mut archive));
        let accepted = keeper.on_message(&message).unwrap();
        assert_eq!(accepted.entries.len(), 1);
        assert_eq!(keeper.stats().refused_over_quota, entries.len() as u64 - 1);
        keeper.forget(&accepted);
        assert_eq!(keeper.stats().bytes_kept, 0);
        assert_eq!(
            keeper.on_message(&message).unwrap().entries.len(),
            1,
            "room again"
        );

        let total = entries.iter().map(|e| e.len() as u64).sum::<u64>();
        for limits in [
            ReplicaLimits {
                max_bytes_per_group: total - 1,
                ..ReplicaLimits::default()
            },
            ReplicaLimits {
                max_total_bytes: total - 1,
                ..ReplicaLimits::default()
            },
        ] {
            let mut keeper = ReplicaKeeper::with_limits(PROVIDER, limits);
            registered(keeper.answer(&register_request(&group, PROVIDER), PEER, NOW, &mut archive));
            let kept = keeper.on_message(&message).unwrap().entries.len();
            assert!(kept < entries.len() && kept >= 1, "{kept}");
            assert!(keeper.stats().bytes_kept < total);
            assert!(keeper.stats().bytes_kept >= one);
            assert!(keeper.stats().refused_over_quota >= 1);
        }
    }

    /// A restart restores the groups with their registrants (the caps still count them),
    /// their usage and their term; a record whose proof names another provider is not
    /// restored.
    #[test]
    fn restored_groups_keep_their_registrant_usage_and_term() {
        let group = fresh_group(40);
        let (message, _) = envelope(&group);
        let mut keeper = ReplicaKeeper::new(PROVIDER);
        let registration = ReplicaRegistration::sign(group.secrets(), PROVIDER).encode();
        let Ok(Registration::New {
            group_id: id,
            record,
        }) = keeper.register(&registration, PEER, NOW)
        else {
            panic!("a new group")
        };
        let until = keeper.admit(&record).unwrap();
        assert_eq!(until, NOW + REPLICA_REGISTRATION_TERM_SECS);
        let kept = keeper.on_message(&message).unwrap();
        let mut again = ReplicaKeeper::new(PROVIDER);
        // restarted a day later: the term is the stored one, not a new one
        assert_eq!(again.restore_group(&record, NOW + 86_400).unwrap(), id);
        assert_eq!(again.expires_at(&id), Some(until));
        for (_, e) in &kept.entries {
            again.restore_entry(&id, e);
        }
        assert_eq!(again.registered_by(&PEER), 1);
        assert_eq!(again.stats().bytes_kept, keeper.stats().bytes_kept);
        assert!(
            again.on_message(&message).unwrap().entries.is_empty(),
            "all duplicates"
        );
        // a record stored before terms starts a full term at the restart
        let old_form = &record[..record.len() - 8];
        let mut old = ReplicaKeeper::new(PROVIDER);
        old.restore_group(old_form, NOW + 5).unwrap();
        assert_eq!(
            old.expires_at(&id),
            Some(NOW + 5 + REPLICA_REGISTRATION_TERM_SECS)
        );
        assert!(
            ReplicaKeeper::new([0xbb; 32])
                .restore_group(&record, NOW)
                .is_err()
        );
    }

    fn expiry(r: ReplicaResponse) -> u64 {
        match r {
            ReplicaResponse::Registered { expires_at, .. } => expires_at,
            other => panic!("{other:?}"),
        }
    }

    /// Issue 18 item 5: a registration lasts one paid term. Registering again before the
    /// renewal window is free and changes nothing; inside the window it is paid again and
    /// extends the term from then; without credit the renewal is refused as unpaid and the
    /// old term stands; a term that ends unrenewed unregisters the group (its registrant's
    /// cap is freed) and its entries are refused from then on.
    #[test]
    fn a_registration_lasts_one_paid_term_and_is_renewed_only_in_its_window() {
        let group = fresh_group(50);
        let (message, _) = envelope(&group);
        let request = register_request(&group, PROVIDER);
        let mut keeper = ReplicaKeeper::new(PROVIDER);
        let mut archive = Counting {
            credit: Some(10 * REPLICA_REGISTRATION_PRICE),
            ..Counting::default()
        };
        let first = expiry(keeper.answer(&request, PEER, NOW, &mut archive));
        assert_eq!(first, NOW + REPLICA_REGISTRATION_TERM_SECS);
        let early = first - REPLICA_RENEWAL_WINDOW_SECS - 1;
        assert_eq!(
            expiry(keeper.answer(&request, [2; 32], early, &mut archive)),
            first
        );
        assert_eq!(archive.charged, REPLICA_REGISTRATION_PRICE, "early: free");
        let calls = archive.calls;
        let late = first - 60;
        let renewed = expiry(keeper.answer(&request, [2; 32], late, &mut archive));
        assert_eq!(renewed, late + REPLICA_REGISTRATION_TERM_SECS);
        assert_eq!(archive.charged, 2 * REPLICA_REGISTRATION_PRICE);
        assert_eq!(archive.calls, calls + 1, "the new term is stored");
        assert_eq!(keeper.stats().renewals, 1);
        assert_eq!(
            keeper.registered_by(&PEER),
            1,
            "still counted to its registrant"
        );
        assert_eq!(keeper.registered_by(&[2; 32]), 0);

        archive.credit = Some(0);
        let broke = renewed - 60;
        match keeper.answer(&request, PEER, broke, &mut archive) {
            ReplicaResponse::Unpaid { price, .. } => assert_eq!(price, REPLICA_REGISTRATION_PRICE),
            other => panic!("{other:?}"),
        }
        assert_eq!(keeper.expires_at(&group.group_id()), Some(renewed));

        assert!(keeper.expire(renewed - 1).is_empty());
        assert_eq!(keeper.expire(renewed), vec![group.group_id()]);
        assert_eq!(keeper.stats().groups_expired, 1);
        assert_eq!(keeper.stats().groups, 0);
        assert_eq!(keeper.registered_by(&PEER), 0);
        assert!(
            keeper.on_message(&message).is_err(),
            "an expired group takes nothing"
        );
    }
}
