//! The rendezvous provider's side of contact requests (sans I/O): responders register a
//! rendezvous mailbox with reply SURBs, requesters drop sealed envelopes for it, and the
//! desk forwards each drop to the responder on one of its SURBs until the responder acks
//! it (spec/wesh-over-mixnet.md §4).
//!
//! The desk never learns where the responder lives: a SURB names only its first hop (this
//! provider); the rest of its route is sealed in its header. Registrations are bound to
//! the hash of the first update's `auth` (a secret derived from the responder's account
//! key and the point), so only the responder can refresh, ack or revoke.
//!
//! The shell keeps every held drop durably under the id it passes to [`RendezvousDesk::hold`]
//! and deletes it when the desk reports the id gone ([`DeskOutcome::Updated`],
//! [`RendezvousDesk::expire`]), and keeps which secret each mailbox is bound to
//! ([`RendezvousDesk::take_binding_changes`]); SURBs are soft state that responders refresh
//! every `RDV_REFRESH_MS`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use subtle::ConstantTimeEq;
use thiserror::Error;

use crate::crypto::sha256;

use super::params::{
    RDV_HELD_PER_MAILBOX, RDV_HELD_TOTAL, RDV_HELD_TTL_MS, RDV_LATE_UPDATE_WINDOW_MS,
    RDV_LATE_UPDATES_REMEMBERED, RDV_REGISTRATION_TTL_MS, RDV_REGISTRATIONS_MAX, RDV_RETRY_MAX_MS,
    RDV_RETRY_MS, RDV_SURB_EXPIRY_MARGIN_MS, RDV_SURB_TTL_MS, RDV_SURBS_KEPT,
};
use super::rendezvous_wire::{RendezvousFrame, RendezvousUpdate, forward_tag};

/// Why the desk refused a message.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DeskError {
    #[error("not a rendezvous frame: {0}")]
    Decode(#[from] crate::error::WeshError),
    #[error("a forward is not for a desk")]
    NotForDesk,
    #[error("update for the mailbox does not carry its registration's secret")]
    BadAuth,
    #[error("update is not newer than the last one")]
    Stale,
    #[error("the desk holds {0} registrations already")]
    TooManyRegistrations(usize),
    #[error("the mailbox holds {0} drops already")]
    MailboxFull(usize),
    #[error("the desk holds {0} drops already")]
    DeskFull(usize),
}

/// What an accepted message asks of the shell.
#[derive(Debug, PartialEq, Eq)]
pub enum DeskOutcome {
    /// A registration was made, refreshed or revoked; `gone` are held drops to delete
    /// (acked, or dropped with a revoked registration).
    Updated { gone: Vec<u64> },
    /// A drop to keep durably, then to pass to [`RendezvousDesk::hold`] with its id.
    Hold {
        mailbox: [u8; 32],
        envelope: Vec<u8>,
    },
}

/// A packet to send: `frame` (a forward) on the reply SURB `surb`.
#[derive(Debug, PartialEq, Eq)]
pub struct DeskForward {
    pub id: u64,
    pub surb: Vec<u8>,
    pub frame: Vec<u8>,
}

/// Counters for operators and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeskStats {
    pub registrations: usize,
    pub held: usize,
    pub updates: u64,
    pub drops: u64,
    pub forwards: u64,
    pub acked: u64,
    pub refused: u64,
    pub expired: u64,
}

struct Registration {
    auth_hash: [u8; 32],
    /// The newest update's sequence number.
    seq: u64,
    /// Sequence numbers applied within [`RDV_LATE_UPDATE_WINDOW_MS`] of `seq` (at most
    /// [`RDV_LATE_UPDATES_REMEMBERED`]): an update overtaken by a newer one is still
    /// applied once, never twice.
    applied: BTreeSet<u64>,
    /// (usable until, SURB), oldest first.
    surbs: VecDeque<(u64, Vec<u8>)>,
    updated_at: u64,
}

struct Held {
    mailbox: [u8; 32],
    envelope: Vec<u8>,
    received_at: u64,
    attempts: u32,
    next_try_at: u64,
}

/// A change to which secret a rendezvous mailbox is bound to, for the shell to keep
/// durably ([`RendezvousDesk::take_binding_changes`]), so that a restart does not let
/// someone else bind the mailbox first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BindingChange {
    Bound {
        mailbox: [u8; 32],
        auth_hash: [u8; 32],
    },
    Unbound {
        mailbox: [u8; 32],
    },
}

#[derive(Default)]
pub struct RendezvousDesk {
    registrations: BTreeMap<[u8; 32], Registration>,
    held: BTreeMap<u64, Held>,
    bindings: Vec<BindingChange>,
    stats: DeskStats,
}

impl RendezvousDesk {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn stats(&self) -> DeskStats {
        DeskStats {
            registrations: self.registrations.len(),
            held: self.held.len(),
            ..self.stats.clone()
        }
    }

    /// Whether `mailbox` has a live registration (tests, tools).
    pub fn is_registered(&self, mailbox: &[u8; 32]) -> bool {
        self.registrations.contains_key(mailbox)
    }

    /// A message from the service mailbox at `now` (milliseconds).
    pub fn on_message(&mut self, now: u64, bytes: &[u8]) -> Result<DeskOutcome, DeskError> {
        let result = match RendezvousFrame::decode(bytes) {
            Err(e) => Err(DeskError::Decode(e)),
            Ok(RendezvousFrame::Update(u)) => self.update(now, u),
            Ok(RendezvousFrame::Drop { mailbox, envelope }) => self
                .room_for(&mailbox)
                .map(|()| DeskOutcome::Hold { mailbox, envelope }),
            Ok(RendezvousFrame::Forward { .. }) => Err(DeskError::NotForDesk),
        };
        match &result {
            Ok(DeskOutcome::Updated { .. }) => self.stats.updates += 1,
            // a drop counts once the shell kept it (`hold`): a failed store is retried
            Ok(DeskOutcome::Hold { .. }) => {}
            Err(_) => self.stats.refused += 1,
        }
        result
    }

    fn room_for(&self, mailbox: &[u8; 32]) -> Result<(), DeskError> {
        if self.held.len() >= RDV_HELD_TOTAL {
            return Err(DeskError::DeskFull(self.held.len()));
        }
        let here = self.held.values().filter(|h| h.mailbox == *mailbox).count();
        if here >= RDV_HELD_PER_MAILBOX {
            return Err(DeskError::MailboxFull(here));
        }
        Ok(())
    }

    fn update(&mut self, now: u64, u: RendezvousUpdate) -> Result<DeskOutcome, DeskError> {
        let auth_hash = sha256(&[u.auth.as_slice()]);
        // an update older than the newest one: its fragments crossed the mixnet more
        // slowly than a later update's (a batch of reply blocks is several fragments, an
        // update that only acks is one). Its SURBs and acks still count; it revokes and
        // re-dates nothing.
        let mut late = false;
        match self.registrations.get(&u.mailbox) {
            Some(r) => {
                if !bool::from(r.auth_hash.ct_eq(&auth_hash)) {
                    return Err(DeskError::BadAuth);
                }
                if u.seq <= r.seq {
                    let oldest = r.applied.first().copied().unwrap_or(r.seq);
                    let in_window =
                        u.seq >= r.seq.saturating_sub(RDV_LATE_UPDATE_WINDOW_MS) && u.seq > oldest;
                    if u.revoke || !in_window || r.applied.contains(&u.seq) {
                        return Err(DeskError::Stale);
                    }
                    late = true;
                }
            }
            None if u.revoke => return Ok(DeskOutcome::Updated { gone: Vec::new() }),
            None if self.registrations.len() >= RDV_REGISTRATIONS_MAX => {
                return Err(DeskError::TooManyRegistrations(self.registrations.len()));
            }
            None => {}
        }
        let mine = |h: &Held| h.mailbox == u.mailbox;
        let gone: Vec<u64> = if u.revoke {
            self.registrations.remove(&u.mailbox);
            self.bindings
                .push(BindingChange::Unbound { mailbox: u.mailbox });
            self.held
                .iter()
                .filter(|(_, h)| mine(h))
                .map(|(id, _)| *id)
                .collect()
        } else {
            if !self.registrations.contains_key(&u.mailbox) {
                self.bindings.push(BindingChange::Bound {
                    mailbox: u.mailbox,
                    auth_hash,
                });
            }
            let r = self
                .registrations
                .entry(u.mailbox)
                .or_insert_with(|| Registration {
                    auth_hash,
                    seq: 0,
                    applied: BTreeSet::new(),
                    surbs: VecDeque::new(),
                    updated_at: now,
                });
            r.applied.insert(u.seq);
            if !late {
                r.seq = u.seq;
                r.updated_at = now;
            }
            let floor = r.seq.saturating_sub(RDV_LATE_UPDATE_WINDOW_MS);
            // the oldest seq stays as the floor below which everything is stale
            while r.applied.len() > RDV_LATE_UPDATES_REMEMBERED
                || r.applied.iter().nth(1).is_some_and(|s| *s < floor)
            {
                r.applied.pop_first();
            }
            // a SURB is used until the desk's own TTL, or until shortly before the key it
            // was built for retires (a forward must cross its mixes before that)
            let until = now
                .saturating_add(RDV_SURB_TTL_MS)
                .min(u.surbs_expire_at.saturating_sub(RDV_SURB_EXPIRY_MARGIN_MS));
            if until > now {
                let batch = u.surbs.into_iter().map(|s| (until, s));
                if late {
                    // older than what the desk holds: used last, dropped first
                    for surb in batch.rev() {
                        r.surbs.push_front(surb);
                    }
                } else {
                    r.surbs.extend(batch);
                }
            }
            while r.surbs.len() > RDV_SURBS_KEPT {
                r.surbs.pop_front();
            }
            u.acks
                .iter()
                .filter(|id| self.held.get(id).is_some_and(mine))
                .copied()
                .collect()
        };
        for id in &gone {
            self.held.remove(id);
        }
        self.stats.acked += if u.revoke { 0 } else { gone.len() as u64 };
        Ok(DeskOutcome::Updated { gone })
    }

    /// Bindings made or ended since the last call (registrations, revocations, expiry).
    pub fn take_binding_changes(&mut self) -> Vec<BindingChange> {
        std::mem::take(&mut self.bindings)
    }

    /// Restores a binding kept before a restart: the mailbox is registered again (without
    /// SURBs, until its responder's next update) and only that secret can update it.
    pub fn restore_binding(&mut self, mailbox: [u8; 32], auth_hash: [u8; 32], now: u64) {
        self.registrations.insert(
            mailbox,
            Registration {
                auth_hash,
                seq: 0,
                applied: BTreeSet::new(),
                surbs: VecDeque::new(),
                updated_at: now,
            },
        );
    }

    /// Keeps a drop the shell stored durably under `id` (also at restart, with the time
    /// it was first received). Forwarded at the next [`Self::poll`].
    pub fn hold(&mut self, id: u64, mailbox: [u8; 32], envelope: Vec<u8>, received_at: u64) {
        self.stats.drops += 1;
        self.restore_held(id, mailbox, envelope, received_at);
    }

    /// Takes back a drop kept before a restart (already counted then).
    pub fn restore_held(
        &mut self,
        id: u64,
        mailbox: [u8; 32],
        envelope: Vec<u8>,
        received_at: u64,
    ) {
        self.held.insert(
            id,
            Held {
                mailbox,
                envelope,
                received_at,
                attempts: 0,
                next_try_at: 0,
            },
        );
    }

    /// Forwards due at `now`: every held drop whose mailbox has a fresh SURB and whose
    /// retry time has come (newest SURB first: the likeliest to cross live keys).
    pub fn poll(&mut self, now: u64) -> Vec<DeskForward> {
        let mut out = Vec::new();
        for (id, h) in self.held.iter_mut() {
            if h.next_try_at > now {
                continue;
            }
            let Some(r) = self.registrations.get_mut(&h.mailbox) else {
                continue;
            };
            r.surbs.retain(|(until, _)| *until > now);
            let Some((_, surb)) = r.surbs.pop_back() else {
                continue;
            };
            h.attempts = h.attempts.saturating_add(1);
            let backoff = RDV_RETRY_MS
                .saturating_mul(1u64 << h.attempts.saturating_sub(1).min(16))
                .min(RDV_RETRY_MAX_MS);
            h.next_try_at = now.saturating_add(backoff);
            out.push(DeskForward {
                id: *id,
                surb,
                frame: RendezvousFrame::Forward {
                    mailbox: h.mailbox,
                    id: *id,
                    tag: forward_tag(&r.auth_hash, &h.mailbox, *id, &h.envelope),
                    envelope: h.envelope.clone(),
                }
                .encode(),
            });
        }
        self.stats.forwards += out.len() as u64;
        out
    }

    /// Forgets registrations without an update for [`RDV_REGISTRATION_TTL_MS`] and drops
    /// held past [`RDV_HELD_TTL_MS`]; returns the held ids to delete.
    pub fn expire(&mut self, now: u64) -> Vec<u64> {
        let bindings = &mut self.bindings;
        self.registrations.retain(|mailbox, r| {
            let live = now.saturating_sub(r.updated_at) <= RDV_REGISTRATION_TTL_MS;
            if !live {
                bindings.push(BindingChange::Unbound { mailbox: *mailbox });
            }
            live
        });
        let gone: Vec<u64> = self
            .held
            .iter()
            .filter(|(_, h)| now.saturating_sub(h.received_at) > RDV_HELD_TTL_MS)
            .map(|(id, _)| *id)
            .collect();
        for id in &gone {
            self.held.remove(id);
        }
        self.stats.expired += gone.len() as u64;
        gone
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use crate::messenger::params::RDV_SURB_BYTES;
    use zeroize::Zeroizing;

    fn update(mailbox: u8, auth: u8, seq: u64, acks: Vec<u64>, surbs: u8) -> Vec<u8> {
        update_expiring(mailbox, auth, seq, acks, surbs, u64::MAX)
    }

    fn update_expiring(
        mailbox: u8,
        auth: u8,
        seq: u64,
        acks: Vec<u64>,
        surbs: u8,
        surbs_expire_at: u64,
    ) -> Vec<u8> {
        RendezvousFrame::Update(RendezvousUpdate {
            mailbox: [mailbox; 32],
            auth: Zeroizing::new([auth; 32]),
            seq,
            revoke: false,
            acks,
            surbs: (0..surbs).map(|i| vec![i; RDV_SURB_BYTES]).collect(),
            surbs_expire_at,
        })
        .encode()
    }

    fn drop_for(mailbox: u8) -> Vec<u8> {
        RendezvousFrame::Drop {
            mailbox: [mailbox; 32],
            envelope: vec![0xee; 300],
        }
        .encode()
    }

    fn hold(desk: &mut RendezvousDesk, id: u64, now: u64, bytes: &[u8]) {
        match desk.on_message(now, bytes).unwrap() {
            DeskOutcome::Hold { mailbox, envelope } => desk.hold(id, mailbox, envelope, now),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn drops_are_forwarded_on_surbs_until_acked() {
        let mut desk = RendezvousDesk::new();
        // a drop before any registration waits
        hold(&mut desk, 1, 0, &drop_for(7));
        assert!(desk.poll(0).is_empty());
        desk.on_message(10, &update(7, 1, 1, vec![], 2)).unwrap();
        let f = desk.poll(10);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].surb, vec![1; RDV_SURB_BYTES], "newest SURB first");
        let RendezvousFrame::Forward { id, envelope, .. } =
            RendezvousFrame::decode(&f[0].frame).unwrap()
        else {
            panic!()
        };
        assert_eq!((id, envelope.len()), (1, 300));
        // not again before the retry time, again after it, then out of SURBs
        assert!(desk.poll(10 + RDV_RETRY_MS - 1).is_empty());
        assert_eq!(desk.poll(10 + RDV_RETRY_MS).len(), 1);
        assert!(desk.poll(10 + 10 * RDV_RETRY_MS).is_empty());
        // the ack removes it; an ack for another mailbox's drop does nothing
        hold(&mut desk, 2, 20, &drop_for(8));
        let out = desk
            .on_message(30, &update(7, 1, 2, vec![1, 2], 1))
            .unwrap();
        assert_eq!(out, DeskOutcome::Updated { gone: vec![1] });
        assert_eq!(desk.stats().held, 1);
    }

    #[test]
    fn a_drop_counts_once_it_is_kept_and_not_again_after_a_restart() {
        let mut desk = RendezvousDesk::new();
        // the shell failed to keep it: the same drop comes again next round
        assert!(matches!(
            desk.on_message(0, &drop_for(7)).unwrap(),
            DeskOutcome::Hold { .. }
        ));
        assert_eq!(desk.stats().drops, 0);
        hold(&mut desk, 1, 1, &drop_for(7));
        assert_eq!((desk.stats().drops, desk.stats().held), (1, 1));
        // a restarted desk takes back what was kept without counting it again
        let mut restarted = RendezvousDesk::new();
        restarted.restore_held(1, [7; 32], vec![0xee; 300], 1);
        assert_eq!((restarted.stats().drops, restarted.stats().held), (0, 1));
    }

    #[test]
    fn only_the_first_registrant_updates_and_updates_are_ordered() {
        let mut desk = RendezvousDesk::new();
        desk.on_message(0, &update(7, 1, 5, vec![], 1)).unwrap();
        assert_eq!(
            desk.on_message(1, &update(7, 2, 6, vec![], 1)),
            Err(DeskError::BadAuth)
        );
        assert_eq!(
            desk.on_message(1, &update(7, 1, 5, vec![], 1)),
            Err(DeskError::Stale)
        );
        // a revoke with the wrong secret is refused; with the right one it ends everything
        hold(&mut desk, 3, 2, &drop_for(7));
        let revoke = |auth: u8, seq| {
            RendezvousFrame::Update(RendezvousUpdate {
                mailbox: [7; 32],
                auth: Zeroizing::new([auth; 32]),
                seq,
                revoke: true,
                acks: vec![],
                surbs: vec![],
                surbs_expire_at: u64::MAX,
            })
            .encode()
        };
        // the binding survives a restart: another secret is still refused
        let changes = desk.take_binding_changes();
        let [BindingChange::Bound { mailbox, auth_hash }] = changes.as_slice() else {
            panic!("{changes:?}")
        };
        let mut restarted = RendezvousDesk::new();
        restarted.restore_binding(*mailbox, *auth_hash, 2);
        assert_eq!(
            restarted.on_message(3, &update(7, 2, 1, vec![], 1)),
            Err(DeskError::BadAuth)
        );
        assert!(restarted.on_message(3, &update(7, 1, 1, vec![], 1)).is_ok());
        assert!(
            restarted.take_binding_changes().is_empty(),
            "not bound again"
        );
        assert_eq!(desk.on_message(3, &revoke(2, 9)), Err(DeskError::BadAuth));
        assert_eq!(
            desk.on_message(3, &revoke(1, 9)),
            Ok(DeskOutcome::Updated { gone: vec![3] })
        );
        assert!(!desk.is_registered(&[7; 32]));
        assert_eq!(
            desk.take_binding_changes(),
            vec![BindingChange::Unbound { mailbox: [7; 32] }]
        );
        assert_eq!(desk.stats().held, 0);
        assert!(desk.on_message(3, b"garbage").is_err());
        assert_eq!(desk.stats().refused, 4);
    }

    #[test]
    fn a_late_update_still_brings_its_surbs_and_acks_once() {
        let mut desk = RendezvousDesk::new();
        desk.on_message(0, &update(7, 1, 1_000, vec![], 1)).unwrap();
        hold(&mut desk, 1, 0, &drop_for(7));
        hold(&mut desk, 2, 0, &drop_for(7));
        assert_eq!(desk.poll(0).len(), 1, "one SURB, one forward");
        // the responder sent SURBs (seq 2_000, several fragments), then an update that
        // only acks (seq 3_000, one fragment), which arrives first
        let acks_only = update(7, 1, 3_000, vec![2], 0);
        assert_eq!(
            desk.on_message(10, &acks_only),
            Ok(DeskOutcome::Updated { gone: vec![2] })
        );
        let surbs = update(7, 1, 2_000, vec![1], 3);
        assert_eq!(
            desk.on_message(20, &surbs),
            Ok(DeskOutcome::Updated { gone: vec![1] }),
            "the late update's acks count"
        );
        hold(&mut desk, 3, 30, &drop_for(7));
        assert_eq!(desk.poll(30).len(), 1, "and its SURBs");
        // applied once: the same update again, or one older than the first, is stale
        assert_eq!(desk.on_message(40, &surbs), Err(DeskError::Stale));
        assert_eq!(
            desk.on_message(40, &update(7, 1, 900, vec![], 1)),
            Err(DeskError::Stale)
        );
        // a late revoke revokes nothing
        let revoke = RendezvousFrame::Update(RendezvousUpdate {
            mailbox: [7; 32],
            auth: Zeroizing::new([1; 32]),
            seq: 2_500,
            revoke: true,
            acks: vec![],
            surbs: vec![],
            surbs_expire_at: u64::MAX,
        })
        .encode();
        assert_eq!(desk.on_message(40, &revoke), Err(DeskError::Stale));
        assert!(desk.is_registered(&[7; 32]));
        // beyond the window, late updates are stale
        let newest = 3_000 + RDV_LATE_UPDATE_WINDOW_MS + 10;
        desk.on_message(50, &update(7, 1, newest, vec![], 0))
            .unwrap();
        assert_eq!(
            desk.on_message(60, &update(7, 1, 2_800, vec![], 1)),
            Err(DeskError::Stale)
        );
        assert!(
            desk.on_message(60, &update(7, 1, newest - 5, vec![], 1))
                .is_ok()
        );
    }

    #[test]
    fn surbs_are_not_used_once_their_keys_retire() {
        let mut desk = RendezvousDesk::new();
        hold(&mut desk, 1, 0, &drop_for(7));
        hold(&mut desk, 2, 0, &drop_for(7));
        // two SURBs whose mixes retire their keys at 100 s: usable until shortly before
        let expire = 100_000;
        desk.on_message(0, &update_expiring(7, 1, 1, vec![], 2, expire))
            .unwrap();
        let last_use = expire - RDV_SURB_EXPIRY_MARGIN_MS;
        assert!(
            desk.poll(last_use).is_empty(),
            "both drops wait for live SURBs"
        );
        assert_eq!(desk.stats().forwards, 0);
        // SURBs that arrive already past their use are not kept; fresh ones are used
        desk.on_message(
            last_use,
            &update_expiring(7, 1, 2, vec![], 2, last_use + RDV_SURB_EXPIRY_MARGIN_MS),
        )
        .unwrap();
        assert!(desk.poll(last_use).is_empty());
        desk.on_message(
            last_use,
            &update_expiring(7, 1, 3, vec![], 2, last_use + 2 * RDV_SURB_EXPIRY_MARGIN_MS),
        )
        .unwrap();
        assert_eq!(desk.poll(last_use).len(), 2);
    }

    #[test]
    fn bounds_and_expiry() {
        let mut desk = RendezvousDesk::new();
        for i in 0..RDV_HELD_PER_MAILBOX as u64 {
            hold(&mut desk, i, 0, &drop_for(7));
        }
        assert!(matches!(
            desk.on_message(0, &drop_for(7)),
            Err(DeskError::MailboxFull(_))
        ));
        hold(&mut desk, 1000, 5, &drop_for(8));
        // SURBs past their TTL are not used
        desk.on_message(0, &update(8, 1, 1, vec![], 1)).unwrap();
        assert!(desk.poll(RDV_SURB_TTL_MS + 1).is_empty());
        let gone = desk.expire(RDV_HELD_TTL_MS + 1);
        assert_eq!(gone.len(), RDV_HELD_PER_MAILBOX);
        assert_eq!(desk.expire(RDV_REGISTRATION_TTL_MS + 10), Vec::<u64>::new());
        assert!(!desk.is_registered(&[8; 32]));
        assert_eq!(desk.expire(RDV_HELD_TTL_MS + 6), vec![1000]);
    }
}
