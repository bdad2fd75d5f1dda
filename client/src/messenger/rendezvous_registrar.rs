//! The responder's side of its rendezvous registration (sans I/O): when to send its
//! rendezvous provider an update (new point, refresh, acks of forwards received, SURBs
//! running low), and revoking the old mailbox when the point moves.
//!
//! Soft state, outside the device's journal: after a restart the first poll registers
//! again, and forwards not acked before it are forwarded again by the desk (the device
//! refuses the duplicates).

use std::collections::BTreeSet;

use super::envelope::MailboxAddress;
use super::params::{
    MAX_RDV_ACKS, RDV_ACK_DELAY_MS, RDV_REFRESH_MS, RDV_SURB_RENEW_RETRY_MS, RDV_SURBS_KEPT,
    RDV_SURBS_LOW, RDV_SURBS_PER_UPDATE,
};
use super::rendezvous_mailbox::RendezvousRegistration;
use subtle::ConstantTimeEq;

use super::rendezvous_wire::{RendezvousUpdate, forward_tag, rendezvous_service_mailbox};
use crate::crypto::sha256;

/// An update to send: complete `update.surbs` with `surbs_wanted` reply SURBs for
/// `to.provider` (and `update.surbs_expire_at` with when they die), encode it as a
/// [`super::rendezvous_wire::RendezvousFrame::Update`], send it to `to`, and tell the
/// registrar when to renew them ([`RendezvousRegistrar::surbs_attached`]).
#[derive(Debug)]
pub struct UpdateRequest {
    pub to: MailboxAddress,
    pub update: RendezvousUpdate,
    pub surbs_wanted: usize,
}

struct Active {
    registration: RendezvousRegistration,
    last_sent: Option<u64>,
    /// What we think the desk holds: SURBs sent minus forwards received.
    surbs_left: usize,
    /// When the SURBs sent last must be replaced (their keys retire soon after).
    renew_at: Option<u64>,
}

#[derive(Default)]
pub struct RendezvousRegistrar {
    active: Option<Active>,
    revoke: Vec<RendezvousRegistration>,
    acks: BTreeSet<u64>,
    first_ack_at: Option<u64>,
    last_seq: u64,
}

impl RendezvousRegistrar {
    pub fn new() -> Self {
        Self::default()
    }

    /// Where the device's current point says to register (call it often: the point
    /// rotates and the seed can be renewed). A new address makes the old one revoked.
    pub fn set(&mut self, registration: RendezvousRegistration) {
        if let Some(a) = &self.active
            && a.registration.address == registration.address
        {
            return;
        }
        if let Some(old) = self.active.take() {
            self.revoke.push(old.registration);
            self.acks.clear();
            self.first_ack_at = None;
        }
        self.active = Some(Active {
            registration,
            last_sent: None,
            surbs_left: 0,
            renew_at: None,
        });
    }

    /// The SURBs of the last update that asked for them left at `now`; built on the
    /// current view, they should be replaced from `renew_at` (Unix milliseconds; the
    /// shell knows the mixes' key epochs). A `renew_at` already past (the next view is
    /// late) is tried again after [`RDV_SURB_RENEW_RETRY_MS`].
    pub fn surbs_attached(&mut self, now: u64, renew_at: u64) {
        if let Some(a) = self.active.as_mut() {
            a.renew_at = Some(renew_at.max(now.saturating_add(RDV_SURB_RENEW_RETRY_MS)));
        }
    }

    /// The rendezvous mailbox registered now, if any.
    pub fn address(&self) -> Option<MailboxAddress> {
        self.active.as_ref().map(|a| a.registration.address)
    }

    /// A forward arrived for `mailbox` with `id`: acked in the next update. False if it is
    /// not for the current registration (nothing to ack: an old mailbox was revoked), or
    /// if its tag shows it did not come from our desk (acking a forged id would delete
    /// someone else's drop).
    pub fn on_forward(
        &mut self,
        now: u64,
        mailbox: &[u8; 32],
        id: u64,
        tag: &[u8; 32],
        envelope: &[u8],
    ) -> bool {
        let Some(a) = self.active.as_mut() else {
            return false;
        };
        if a.registration.address.mailbox != *mailbox {
            return false;
        }
        let auth_hash = sha256(&[a.registration.auth.as_slice()]);
        let expected = forward_tag(&auth_hash, mailbox, id, envelope);
        if !bool::from(expected.ct_eq(tag)) {
            return false;
        }
        a.surbs_left = a.surbs_left.saturating_sub(1);
        if self.acks.len() < MAX_RDV_ACKS {
            self.acks.insert(id);
        }
        self.first_ack_at.get_or_insert(now);
        true
    }

    /// Forgets what the desk was told (after going offline: registering again at the
    /// next poll costs one update).
    pub fn reset(&mut self) {
        if let Some(a) = self.active.as_mut() {
            a.last_sent = None;
            a.surbs_left = 0;
            a.renew_at = None;
        }
    }

    /// Updates due at `now` (milliseconds).
    pub fn poll(&mut self, now: u64) -> Vec<UpdateRequest> {
        let mut out: Vec<UpdateRequest> = Vec::new();
        for old in std::mem::take(&mut self.revoke) {
            let seq = self.next_seq(now);
            out.push(request(&old, seq, true, Vec::new(), 0));
        }
        let Some(a) = self.active.as_ref() else {
            return out;
        };
        let since = a.last_sent.map(|at| now.saturating_sub(at));
        // a new registration, a refresh, SURBs whose keys retire soon or a desk running
        // low gets SURBs; an update that only acks carries none: 5 reply blocks are 7
        // fragments on the real stream, which would hold the handshake replies queued
        // behind them
        let renew = a.renew_at.is_some_and(|r| now >= r);
        let wants_surbs = renew
            || since.is_none_or(|s| {
                s >= RDV_REFRESH_MS || (a.surbs_left < RDV_SURBS_LOW && s >= RDV_ACK_DELAY_MS)
            });
        let acks_due = self
            .first_ack_at
            .is_some_and(|f| now.saturating_sub(f) >= RDV_ACK_DELAY_MS);
        if !wants_surbs && !acks_due {
            return out;
        }
        let surbs = if wants_surbs { RDV_SURBS_PER_UPDATE } else { 0 };
        let seq = self.next_seq(now);
        let acks: Vec<u64> = std::mem::take(&mut self.acks).into_iter().collect();
        self.first_ack_at = None;
        if let Some(a) = self.active.as_mut() {
            out.push(request(&a.registration, seq, false, acks, surbs));
            if surbs > 0 {
                // the refresh clock restarts with each batch of SURBs, not with acks
                a.last_sent = Some(now);
                a.renew_at = None;
            }
            a.surbs_left = (a.surbs_left + surbs).min(RDV_SURBS_KEPT);
        }
        out
    }

    fn next_seq(&mut self, now: u64) -> u64 {
        self.last_seq = now.max(self.last_seq.saturating_add(1));
        self.last_seq
    }
}

fn request(
    r: &RendezvousRegistration,
    seq: u64,
    revoke: bool,
    acks: Vec<u64>,
    surbs_wanted: usize,
) -> UpdateRequest {
    UpdateRequest {
        to: MailboxAddress {
            provider: r.address.provider,
            mailbox: rendezvous_service_mailbox(),
        },
        update: RendezvousUpdate {
            mailbox: r.address.mailbox,
            auth: r.auth.clone(),
            seq,
            revoke,
            acks,
            surbs: Vec::new(),
            surbs_expire_at: u64::MAX,
        },
        surbs_wanted,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use zeroize::Zeroizing;

    fn registration(mailbox: u8) -> RendezvousRegistration {
        RendezvousRegistration {
            point: [mailbox; 32],
            address: MailboxAddress {
                provider: [1; 32],
                mailbox: [mailbox; 32],
            },
            auth: Zeroizing::new([mailbox ^ 0xff; 32]),
        }
    }

    #[test]
    fn registers_refreshes_acks_and_revokes() {
        let mut r = RendezvousRegistrar::new();
        assert!(r.poll(0).is_empty());
        r.set(registration(7));
        let first = r.poll(1000);
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].surbs_wanted, RDV_SURBS_PER_UPDATE);
        assert_eq!(first[0].to.mailbox, rendezvous_service_mailbox());
        assert!(!first[0].update.revoke);
        assert!(r.poll(2000).is_empty(), "nothing new to say");
        // a forward from our desk is acked after the batching delay; a forged one is not
        let auth_hash = sha256(&[&[7 ^ 0xff; 32]]);
        let tag = |m: &[u8; 32], id| forward_tag(&auth_hash, m, id, b"env");
        assert!(
            !r.on_forward(2000, &[7; 32], 41, &[0; 32], b"env"),
            "forged"
        );
        assert!(
            !r.on_forward(2000, &[7; 32], 41, &tag(&[7; 32], 40), b"env"),
            "other id"
        );
        assert!(r.on_forward(2000, &[7; 32], 42, &tag(&[7; 32], 42), b"env"));
        assert!(
            !r.on_forward(2000, &[9; 32], 43, &tag(&[9; 32], 43), b"env"),
            "not our mailbox"
        );
        assert!(r.poll(2000 + RDV_ACK_DELAY_MS - 1).is_empty());
        let acked = r.poll(2000 + RDV_ACK_DELAY_MS);
        assert_eq!(acked[0].update.acks, vec![42]);
        assert!(acked[0].update.seq > first[0].update.seq);
        assert_eq!(
            acked[0].surbs_wanted, 0,
            "an ack does not resend reply blocks the desk still has"
        );
        // forwards that leave the desk low on SURBs bring a batch with their acks
        let mut at = 3000;
        for id in 50..50 + RDV_SURBS_PER_UPDATE as u64 {
            assert!(r.on_forward(at, &[7; 32], id, &tag(&[7; 32], id), b"env"));
            at += 1;
        }
        let low = r.poll(at + RDV_ACK_DELAY_MS);
        assert_eq!(low[0].surbs_wanted, RDV_SURBS_PER_UPDATE);
        assert_eq!(low[0].update.acks.len(), RDV_SURBS_PER_UPDATE);
        // refreshed on schedule (counted from the last batch of SURBs)
        let t = at + RDV_ACK_DELAY_MS + RDV_REFRESH_MS;
        assert!(r.poll(t - 1).is_empty());
        assert_eq!(r.poll(t).len(), 1);
        // the point moves: the old mailbox is revoked, the new one registered
        r.set(registration(8));
        let moved = r.poll(t + 1000);
        assert_eq!(moved.len(), 2);
        assert!(moved[0].update.revoke && moved[0].update.mailbox == [7; 32]);
        assert!(!moved[1].update.revoke && moved[1].update.mailbox == [8; 32]);
        assert!(moved[1].update.seq > moved[0].update.seq);
        // after going offline it registers again at once
        r.reset();
        assert_eq!(r.poll(t + 2000).len(), 1);
    }

    #[test]
    fn surbs_are_renewed_before_their_keys_retire() {
        let mut r = RendezvousRegistrar::new();
        r.set(registration(7));
        assert_eq!(r.poll(1000)[0].surbs_wanted, RDV_SURBS_PER_UPDATE);
        // built on a view whose keys retire soon: renewed then, long before the refresh
        let renew_at = 1000 + RDV_REFRESH_MS / 4;
        r.surbs_attached(1000, renew_at);
        assert!(r.poll(renew_at - 1).is_empty());
        let renewed = r.poll(renew_at);
        assert_eq!(renewed[0].surbs_wanted, RDV_SURBS_PER_UPDATE);
        assert!(r.poll(renew_at + 1).is_empty(), "once");
        // the next view is late: the new SURBs are no better, tried again after a while
        r.surbs_attached(renew_at, renew_at);
        assert!(r.poll(renew_at + RDV_SURB_RENEW_RETRY_MS - 1).is_empty());
        assert_eq!(r.poll(renew_at + RDV_SURB_RENEW_RETRY_MS).len(), 1);
        // keys that never rotate: only the regular refresh
        r.surbs_attached(renew_at + RDV_SURB_RENEW_RETRY_MS, u64::MAX);
        assert!(r.poll(renew_at + RDV_REFRESH_MS).is_empty());
    }
}
