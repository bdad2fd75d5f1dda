//! `MailboxSync`: the client's rules for keeping up with its mailbox at its provider, as
//! a sans-I/O state machine (the wire exchanges themselves are [`crate::MailboxClient`]'s).
//!
//! - Register first, again after a failure with a doubling wait
//!   ([`REGISTER_BACKOFF_FIRST`] to [`REGISTER_BACKOFF_MAX`]).
//! - Pull on a fixed schedule, but at once again while the provider says more is waiting.
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
use crate::fragment::MessageId;
use crate::params::{REGISTER_BACKOFF_FIRST, REGISTER_BACKOFF_MAX};
use crate::payload::MixPayload;
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
    /// Registered; `more` when the provider said payloads are still waiting.
    Pulling { more: bool },
    /// Pulled payloads with these sequence numbers are being kept by the client.
    Keeping { seqs: Vec<u64>, more: bool },
    /// Kept payloads may be confirmed.
    Confirming { seqs: Vec<u64>, more: bool },
}

pub struct MailboxSync {
    pull_interval: Duration,
    phase: Phase,
    /// When the next step may start; `None` while one is in flight.
    due: Option<Duration>,
}

impl MailboxSync {
    /// Registers at once, then pulls every `pull_interval` while the mailbox is empty.
    pub fn new(now: Duration, pull_interval: Duration) -> Self {
        MailboxSync {
            pull_interval,
            phase: Phase::Registering {
                backoff: REGISTER_BACKOFF_FIRST,
            },
            due: Some(now),
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
        let step = match &self.phase {
            Phase::Registering { .. } => MailboxStep::Register,
            Phase::Pulling { .. } => MailboxStep::Pull,
            // waiting for the client to keep them: nothing to send
            Phase::Keeping { .. } => return None,
            Phase::Confirming { seqs, .. } => MailboxStep::Confirm(seqs.clone()),
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
                self.phase = Phase::Pulling { more: false };
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

    /// A pull answered with the payloads' sequence numbers and how many still wait, or
    /// failed (`None`). With payloads the client must keep them and call `handle_kept`.
    pub fn handle_pulled(&mut self, now: Duration, pulled: Option<(Vec<u64>, u32)>) {
        if !matches!(self.phase, Phase::Pulling { .. }) {
            return;
        }
        match pulled {
            None => self.next_pull(now, false),
            Some((seqs, remaining)) if seqs.is_empty() => self.next_pull(now, remaining > 0),
            Some((seqs, remaining)) => {
                self.phase = Phase::Keeping {
                    seqs,
                    more: remaining > 0,
                };
                self.due = None;
            }
        }
    }

    /// The client kept the pulled payloads durably (`kept`), or could not: then nothing
    /// is confirmed and they stay at the provider for the next pull, a full interval later
    /// (an immediate retry would hammer a failing store).
    pub fn handle_kept(&mut self, now: Duration, kept: bool) {
        let Phase::Keeping { seqs, more } = &self.phase else {
            return;
        };
        if kept {
            self.phase = Phase::Confirming {
                seqs: seqs.clone(),
                more: *more,
            };
            self.due = Some(now);
        } else {
            self.next_pull(now, false);
        }
    }

    /// The confirmation went through or failed; a payload not deleted comes back with a
    /// later pull and the traffic core drops the duplicate.
    pub fn handle_confirmed(&mut self, now: Duration) {
        if let Phase::Confirming { more, .. } = self.phase {
            self.next_pull(now, more);
        }
    }

    fn next_pull(&mut self, now: Duration, more: bool) {
        self.phase = Phase::Pulling { more };
        self.due = Some(if more { now } else { now + self.pull_interval });
    }
}

/// The pulled payloads a client keeps before confirming them: fragments of reliable
/// messages, as (message, fragment index, payload). Anything else is handled at once.
pub fn kept_fragments(payloads: &[Vec<u8>]) -> Vec<(MessageId, u32, &[u8])> {
    payloads
        .iter()
        .filter_map(|p| match MixPayload::decode(p) {
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
            Some(MailboxStep::Pull),
            "pulls at once once registered"
        );
    }

    #[test]
    fn pulls_again_at_once_while_more_waits_and_on_schedule_otherwise() {
        let mut m = registered_at(ms(0));
        assert_eq!(m.poll(ms(0)), Some(MailboxStep::Pull));
        // an empty mailbox: next pull one interval later
        m.handle_pulled(ms(10), Some((vec![], 0)));
        assert_eq!(m.poll_timeout(), Some(ms(510)));
        assert_eq!(m.poll(ms(509)), None);
        assert_eq!(m.poll(ms(510)), Some(MailboxStep::Pull));
        // empty answer but more waiting (all dummies this time): again at once
        m.handle_pulled(ms(520), Some((vec![], 3)));
        assert_eq!(m.poll(ms(520)), Some(MailboxStep::Pull));
        // a failed pull waits for the schedule
        m.handle_pulled(ms(530), None);
        assert_eq!(m.poll_timeout(), Some(ms(1030)));
    }

    #[test]
    fn confirms_only_what_was_kept_then_pulls_the_rest_at_once() {
        let mut m = registered_at(ms(0));
        assert_eq!(m.poll(ms(0)), Some(MailboxStep::Pull));
        m.handle_pulled(ms(5), Some((vec![7, 8], 4)));
        // keeping is the client's: nothing to do until it reports
        assert_eq!(m.poll(ms(5)), None);
        assert_eq!(m.poll_timeout(), None);
        m.handle_kept(ms(6), true);
        assert_eq!(m.poll(ms(6)), Some(MailboxStep::Confirm(vec![7, 8])));
        m.handle_confirmed(ms(9));
        assert_eq!(m.poll(ms(9)), Some(MailboxStep::Pull), "4 more wait");
        // not kept: never confirmed, and pulled again on the schedule
        m.handle_pulled(ms(10), Some((vec![9], 0)));
        m.handle_kept(ms(11), false);
        assert_eq!(m.poll_timeout(), Some(ms(511)));
        assert_eq!(m.poll(ms(511)), Some(MailboxStep::Pull));
        // a failed confirm goes on (the duplicates come back and are dropped)
        m.handle_pulled(ms(512), Some((vec![9], 0)));
        m.handle_kept(ms(512), true);
        assert_eq!(m.poll(ms(512)), Some(MailboxStep::Confirm(vec![9])));
        m.handle_confirmed(ms(600));
        assert_eq!(m.poll_timeout(), Some(ms(1100)));
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
        assert!(kept_fragments(&[vec![0xff; 3]]).is_empty());
    }
}
