//! `MailboxSync`: the client's rules for keeping up with its mailbox at its provider, as
//! a sans-I/O state machine (the wire exchanges themselves are [`crate::MailboxClient`]'s).
//!
//! - Register first, again after a failure with a doubling wait
//!   ([`REGISTER_BACKOFF_FIRST`] to [`REGISTER_BACKOFF_MAX`]).
//! - A fixed schedule, whatever the mailbox holds: every `pull_interval` one tick, and each
//!   tick is a Confirm (of what the client kept from the previous pull; empty, but sent
//!   all the same, when nothing was kept) then a pull. Pulling again at once while mail
//!   waits, or confirming only after non-empty pulls, would show an observer of the
//!   client's link when mail arrives (issue 15, item 7). A backlog drains at
//!   `PULL_SLOTS` payloads per tick.
//! - Pulled payloads are confirmed (deleted at the provider) only after the client kept
//!   them; what was not kept stays at the provider for a later pull.
//! - What the client's store does with each reliable-delivery event ([`store_effect`]):
//!   a received message goes to the inbox, a delivered, failed or abandoned message
//!   leaves the outbox or the kept fragments.
//!
//! One step is in flight at a time: the shell runs the step [`MailboxSync::poll`] gives,
//! reports its outcome through `handle_*`, and sleeps until [`MailboxSync::poll_timeout`].
//! Time is a [`Duration`] since any fixed origin.

use crate::client_event::ClientEvent;
use crate::delivery::open_delivery;
use crate::fragment::MessageId;
use crate::params::{REGISTER_BACKOFF_FIRST, REGISTER_BACKOFF_MAX};
use crate::payload::MixPayload;
use crate::payload_seal::ReceiveKey;
use std::time::Duration;

/// What the shell must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailboxStep {
    /// Register the mailbox; report with [`MailboxSync::handle_registered`].
    Register,
    /// Pull the mailbox; report with [`MailboxSync::handle_pulled`] (and, if payloads
    /// came, keep them and report with [`MailboxSync::handle_kept`]).
    Pull,
    /// Let the provider delete these payloads (they are kept); report with
    /// [`MailboxSync::handle_confirmed`].
    Confirm(Vec<u64>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// Not registered; the next attempt waits `backoff` after a failure.
    Registering { backoff: Duration },
    /// Registered, waiting for the tick; its Confirm carries `kept`.
    Idle { kept: Vec<u64> },
    /// The tick's Confirm is in flight; the pull follows.
    Confirming,
    /// The tick's pull is in flight.
    Pulling,
    /// Pulled payloads with these sequence numbers are being kept by the client.
    Keeping { seqs: Vec<u64> },
}

pub struct MailboxSync {
    pull_interval: Duration,
    phase: Phase,
    /// When the next step may start; `None` while one is in flight.
    due: Option<Duration>,
    /// When the current tick was due: the next one is one interval after it, however long
    /// the tick took.
    tick: Duration,
}

impl MailboxSync {
    /// Registers at once, then ticks (confirm, pull) every `pull_interval`.
    pub fn new(now: Duration, pull_interval: Duration) -> Self {
        MailboxSync {
            pull_interval,
            phase: Phase::Registering {
                backoff: REGISTER_BACKOFF_FIRST,
            },
            due: Some(now),
            tick: now,
        }
    }

    /// Whether the provider accepted the registration.
    pub fn registered(&self) -> bool {
        !matches!(self.phase, Phase::Registering { .. })
    }

    /// The step to run now, if one is due and none is in flight.
    pub fn poll(&mut self, now: Duration) -> Option<MailboxStep> {
        if self.due.is_none_or(|due| now < due) {
            return None;
        }
        let step = match &mut self.phase {
            Phase::Registering { .. } => MailboxStep::Register,
            Phase::Idle { kept } => {
                let kept = std::mem::take(kept);
                self.tick = self.due.unwrap_or(now);
                self.phase = Phase::Confirming;
                MailboxStep::Confirm(kept)
            }
            Phase::Confirming => return None,
            Phase::Pulling => MailboxStep::Pull,
            // waiting for the client to keep them: nothing to send
            Phase::Keeping { .. } => return None,
        };
        self.due = None;
        Some(step)
    }

    /// When a step is due next; `None` while one is in flight.
    pub fn poll_timeout(&self) -> Option<Duration> {
        self.due
    }

    /// The registration answer came (`ok`) or the exchange failed.
    pub fn handle_registered(&mut self, now: Duration, ok: bool) {
        match (&self.phase, ok) {
            (Phase::Registering { .. }, true) => {
                self.phase = Phase::Idle { kept: Vec::new() };
                self.due = Some(now);
            }
            (Phase::Registering { backoff }, false) => {
                let backoff = *backoff;
                self.due = Some(now + backoff);
                self.phase = Phase::Registering {
                    backoff: (backoff * 2).min(REGISTER_BACKOFF_MAX),
                };
            }
            _ => {}
        }
    }

    /// The tick's Confirm went through or failed (a payload not deleted comes back with a
    /// later pull and the traffic core drops the duplicate); the pull follows at once.
    pub fn handle_confirmed(&mut self, now: Duration) {
        if self.phase == Phase::Confirming {
            self.phase = Phase::Pulling;
            self.due = Some(now);
        }
    }

    /// A pull answered with the payloads' sequence numbers and how many still wait (they
    /// come at the next ticks), or failed (`None`). With payloads the client must keep
    /// them and call `handle_kept`.
    pub fn handle_pulled(&mut self, _now: Duration, pulled: Option<(Vec<u64>, u32)>) {
        if self.phase != Phase::Pulling {
            return;
        }
        match pulled {
            Some((seqs, _)) if !seqs.is_empty() => {
                self.phase = Phase::Keeping { seqs };
                self.due = None;
            }
            _ => self.next_tick(Vec::new()),
        }
    }

    /// The client kept the pulled payloads durably (`kept`): the next tick confirms them.
    /// If it could not, nothing is confirmed and they stay at the provider for a later
    /// pull.
    pub fn handle_kept(&mut self, _now: Duration, kept: bool) {
        let Phase::Keeping { seqs } = &mut self.phase else {
            return;
        };
        let seqs = if kept {
            std::mem::take(seqs)
        } else {
            Vec::new()
        };
        self.next_tick(seqs);
    }

    fn next_tick(&mut self, kept: Vec<u64>) {
        self.phase = Phase::Idle { kept };
        self.due = Some(self.tick + self.pull_interval);
    }
}

/// The pulled payloads a client keeps before confirming them: fragments of reliable
/// messages, as (message, fragment index, payload), once opened with one of `keys`.
/// Anything else is handled at once.
pub fn kept_fragments<'a>(
    keys: &[&ReceiveKey],
    payloads: &'a [Vec<u8>],
) -> Vec<(MessageId, u32, &'a [u8])> {
    payloads
        .iter()
        .filter_map(|p| match open_delivery(keys, p) {
            Ok(MixPayload::Fragment { fragment, .. } | MixPayload::SurbData { fragment }) => {
                Some((fragment.message, fragment.index, p.as_slice()))
            }
            _ => None,
        })
        .collect()
}

/// What a client's store does with a reliable-delivery event.
#[derive(Debug, PartialEq, Eq)]
pub enum StoreEffect<'a> {
    /// A message arrived: into the inbox (its fragments are no longer needed).
    Deliver { id: &'a MessageId, bytes: &'a [u8] },
    /// Our message is settled (delivered or given up): out of the outbox.
    RemoveOutbox(u64),
    /// An incomplete incoming message was abandoned: forget its kept fragments.
    ForgetPulled(&'a MessageId),
}

pub fn store_effect(ev: &ClientEvent) -> Option<StoreEffect<'_>> {
    match ev {
        ClientEvent::MessageReceived { id, bytes } => Some(StoreEffect::Deliver { id, bytes }),
        ClientEvent::MessageDelivered { id } | ClientEvent::MessageFailed { id, .. } => {
            Some(StoreEffect::RemoveOutbox(*id))
        }
        ClientEvent::IncomingAbandoned(a) => Some(StoreEffect::ForgetPulled(&a.id)),
        ClientEvent::Rejected(_) | ClientEvent::Other(_) => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    const INTERVAL: Duration = Duration::from_millis(500);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn registered_at(now: Duration) -> MailboxSync {
        let mut m = MailboxSync::new(now, INTERVAL);
        assert_eq!(m.poll(now), Some(MailboxStep::Register));
        m.handle_registered(now, true);
        m
    }

    #[test]
    fn registration_retries_with_a_doubling_wait_up_to_the_cap() {
        let mut m = MailboxSync::new(ms(0), INTERVAL);
        let mut now = ms(0);
        let mut waits = Vec::new();
        for _ in 0..10 {
            assert_eq!(m.poll(now), Some(MailboxStep::Register));
            assert_eq!(m.poll(now), None, "one step in flight");
            assert_eq!(m.poll_timeout(), None);
            m.handle_registered(now, false);
            assert!(!m.registered());
            let next = m.poll_timeout().unwrap();
            assert_eq!(m.poll(next - ms(1)), None);
            waits.push(next - now);
            now = next;
        }
        assert_eq!(waits[..4], [ms(50), ms(100), ms(200), ms(400)]);
        assert_eq!(*waits.last().unwrap(), REGISTER_BACKOFF_MAX);
        assert_eq!(m.poll(now), Some(MailboxStep::Register));
        m.handle_registered(now, true);
        assert!(m.registered());
        assert_eq!(
            m.poll(now),
            Some(MailboxStep::Confirm(vec![])),
            "ticks at once once registered"
        );
    }

    /// One tick from `at`: the Confirm it sends, then the pull's outcome.
    fn tick(m: &mut MailboxSync, at: Duration, pulled: Option<(Vec<u64>, u32)>) -> Vec<u64> {
        if at > Duration::ZERO {
            assert_eq!(m.poll(at - ms(1)), None, "not before its time");
        }
        let Some(MailboxStep::Confirm(seqs)) = m.poll(at) else {
            panic!("a tick starts with a confirm")
        };
        assert_eq!(m.poll(at), None, "one step in flight");
        m.handle_confirmed(at + ms(2));
        assert_eq!(m.poll(at + ms(2)), Some(MailboxStep::Pull));
        m.handle_pulled(at + ms(4), pulled);
        seqs
    }

    #[test]
    fn ticks_on_a_fixed_schedule_whatever_the_mailbox_holds() {
        let mut m = registered_at(ms(0));
        // empty, full with more waiting, failed: the same pattern, one interval apart
        assert_eq!(tick(&mut m, ms(0), Some((vec![], 0))), Vec::<u64>::new());
        assert_eq!(m.poll_timeout(), Some(ms(500)));
        assert!(tick(&mut m, ms(500), Some((vec![], 3))).is_empty());
        assert_eq!(
            m.poll_timeout(),
            Some(ms(1000)),
            "more waiting: no early pull"
        );
        assert!(tick(&mut m, ms(1000), None).is_empty());
        assert_eq!(m.poll_timeout(), Some(ms(1500)));
    }

    #[test]
    fn kept_payloads_are_confirmed_at_the_next_tick_and_others_never() {
        let mut m = registered_at(ms(0));
        tick(&mut m, ms(0), Some((vec![7, 8], 4)));
        // keeping is the client's: nothing to do until it reports
        assert_eq!(m.poll(ms(5)), None);
        assert_eq!(m.poll_timeout(), None);
        m.handle_kept(ms(300), true);
        assert_eq!(
            m.poll_timeout(),
            Some(ms(500)),
            "a slow keep does not move the tick"
        );
        assert_eq!(tick(&mut m, ms(500), Some((vec![9], 0))), vec![7, 8]);
        m.handle_kept(ms(505), false);
        // not kept: the next tick confirms nothing (they come back with a later pull)
        assert!(tick(&mut m, ms(1000), Some((vec![], 0))).is_empty());
    }

    #[test]
    fn outcomes_out_of_turn_are_ignored() {
        let mut m = MailboxSync::new(ms(0), INTERVAL);
        m.handle_pulled(ms(0), Some((vec![1], 0)));
        m.handle_kept(ms(0), true);
        m.handle_confirmed(ms(0));
        assert_eq!(m.poll(ms(0)), Some(MailboxStep::Register));
        m.handle_registered(ms(1), true);
        m.handle_registered(ms(1), false);
        assert!(m.registered());
    }

    #[test]
    fn settled_messages_leave_the_outbox_and_abandoned_ones_their_fragments() {
        use crate::retransmit::FailureReason;
        let id = MessageId([3; crate::params::MESSAGE_ID_BYTES]);
        let received = ClientEvent::MessageReceived {
            id,
            bytes: vec![1, 2],
        };
        assert_eq!(
            store_effect(&received),
            Some(StoreEffect::Deliver {
                id: &id,
                bytes: &[1, 2]
            })
        );
        assert_eq!(
            store_effect(&ClientEvent::MessageDelivered { id: 4 }),
            Some(StoreEffect::RemoveOutbox(4))
        );
        let failed = ClientEvent::MessageFailed {
            id: 5,
            reason: FailureReason::RetriesExhausted {
                index: 0,
                attempts: 3,
            },
        };
        assert_eq!(store_effect(&failed), Some(StoreEffect::RemoveOutbox(5)));
        let abandoned = ClientEvent::IncomingAbandoned(crate::reassembly::Abandoned {
            id,
            received: 1,
            count: 2,
        });
        assert_eq!(
            store_effect(&abandoned),
            Some(StoreEffect::ForgetPulled(&id))
        );
        let key = ReceiveKey::from_ed25519_seed(&[1; 32]);
        assert!(kept_fragments(&[&key], &[vec![0xff; 3]]).is_empty());
        let mut rng = <rand_chacha::ChaCha20Rng as rand::SeedableRng>::seed_from_u64(3);
        let (_, fragments) = crate::fragment::split_message(&mut rng, b"kept").unwrap();
        let payload = MixPayload::Fragment {
            fragment: fragments[0].clone(),
        };
        let stored = vec![crate::delivery::test_payloads::sealed(
            &mut rng, &key, &payload,
        )];
        assert_eq!(kept_fragments(&[&key], &stored).len(), 1);
        let other = ReceiveKey::from_ed25519_seed(&[2; 32]);
        assert!(kept_fragments(&[&other], &stored).is_empty());
    }
}
