//! The sender's side of reliable delivery: which fragments still have to leave, which are in
//! flight until when, and what an ack or a timeout does to them.
//!
//! Sans-I/O: the owner pops the next fragment to send ([`RetransmitQueue::pop_next`]), builds
//! the packet with a fresh route and SURB-ack, and reports it with the ack id and the ack
//! deadline ([`RetransmitQueue::sent`]). The deadline is `now + forward delays + ack-route
//! delays + margin`: every delay on both paths was drawn by the sender, so only link latency
//! and the provider's write are unknown, and the margin covers those.
//!
//! Every ack id ever issued for a fragment stays valid until its message ends: a late ack of
//! an earlier attempt proves delivery just as well.
//!
//! Each in-flight attempt also keeps its route's mixes, and its ack or timeout hands them
//! back ([`AckOutcome::route`], [`Expired::failed_routes`]) as evidence for `RouteHealth`.
//! Only the current attempt of a fragment keeps its route, so memory grows with what is in
//! flight, not with the retry history.

use crate::fragment::Fragment;
use crate::params::{MAX_FRAGMENT_RETRANSMISSIONS, RETRANSMIT_MARGIN};
use crate::route_health::AttemptRoute;
use crate::topology::ClientAddress;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::Duration;

/// How long to wait for an ack beyond the drawn delays, and how often to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetransmitConfig {
    pub margin: Duration,
    /// Retransmissions of one fragment after its first send.
    pub max_retransmissions: u32,
}

impl Default for RetransmitConfig {
    fn default() -> Self {
        RetransmitConfig {
            margin: RETRANSMIT_MARGIN,
            max_retransmissions: MAX_FRAGMENT_RETRANSMISSIONS,
        }
    }
}

impl RetransmitConfig {
    /// The config of a client that pulls its mailbox every `pull_interval`: an ack waits
    /// there until the next pull, so its deadline covers one interval more than
    /// [`RETRANSMIT_MARGIN`]. Without it a client that pulls every 8 s (`mobile`) resent
    /// every fragment before seeing its ack, and the resends filled its slow real stream.
    pub fn for_pull_interval(pull_interval: Duration) -> Self {
        RetransmitConfig {
            margin: RETRANSMIT_MARGIN.saturating_add(pull_interval),
            ..RetransmitConfig::default()
        }
    }
}

/// Why a message was given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureReason {
    /// Fragment `index` was sent `attempts` times and never acked.
    RetriesExhausted { index: u32, attempts: u32 },
}

/// The end of a reliable message on the sender's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetransmitEvent {
    /// Every fragment was acked by the recipient's provider.
    Delivered {
        message: u64,
    },
    Failed {
        message: u64,
        reason: FailureReason,
    },
}

/// What an ack did: the end of its message if it was the last fragment, and the route of the
/// attempt it acknowledged if that was the fragment's current attempt (the one whose route is
/// kept), for `RouteHealth`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AckOutcome {
    pub event: Option<RetransmitEvent>,
    pub route: Option<AttemptRoute>,
}

/// What the ack deadlines passed at some `now` did: messages given up, and the route of every
/// attempt that timed out, for `RouteHealth`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expired {
    pub events: Vec<RetransmitEvent>,
    pub failed_routes: Vec<AttemptRoute>,
}

/// Which fresh fragments leave first. The real stream's rate is the same whatever it
/// carries, so the order is the sender's business: copies a person waits for (a message to
/// a member's device, a handshake) go before copies nobody waits for (a replication
/// provider's copy, kept for members who are offline).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SendClass {
    #[default]
    Interactive,
    Background,
}

impl SendClass {
    /// [`SendClass::Background`] when nobody waits for the message, else interactive.
    pub fn background_if(background: bool) -> Self {
        if background {
            SendClass::Background
        } else {
            SendClass::Interactive
        }
    }

    fn slot(self) -> usize {
        match self {
            SendClass::Interactive => 0,
            SendClass::Background => 1,
        }
    }
}

/// A fragment's attempt waiting for its ack.
#[derive(Debug, Clone)]
struct InFlight {
    ack_id: u64,
    deadline: Duration,
    route: AttemptRoute,
}

/// A fragment due to leave.
#[derive(Debug, Clone)]
pub struct PendingFragment {
    pub message: u64,
    pub to: ClientAddress,
    pub fragment: Fragment,
    /// A previous attempt timed out.
    pub retransmission: bool,
}

struct OutgoingMessage {
    to: ClientAddress,
    class: SendClass,
    fragments: Vec<Fragment>,
    acked: Vec<bool>,
    attempts: Vec<u32>,
    /// Each fragment's current attempt, while it waits for its ack.
    current: Vec<Option<InFlight>>,
    unacked: usize,
    /// Every ack id issued for this message (to forget them when it ends).
    ack_ids: Vec<u64>,
}

/// Reliable messages of one sender, from queueing to delivery or failure.
pub struct RetransmitQueue {
    config: RetransmitConfig,
    messages: HashMap<u64, OutgoingMessage>,
    /// Fragments never sent, per message, served round-robin across messages: one small
    /// message waits for one fragment of each message ahead of it, not for all of them
    /// (a rendezvous update of 7 fragments must not hold a 1-fragment reply for 3 s).
    /// One round per [`SendClass`]: a background fragment leaves only when no interactive
    /// one waits.
    fresh: [VecDeque<(u64, VecDeque<u32>)>; 2],
    retry: VecDeque<(u64, u32)>,
    deadlines: BTreeSet<(Duration, u64)>,
    /// ack id → (message, fragment index)
    acks: HashMap<u64, (u64, u32)>,
    /// Fragments not yet acked, across messages (the memory bound is on this).
    pending: usize,
}

impl RetransmitQueue {
    pub fn new(config: RetransmitConfig) -> Self {
        RetransmitQueue {
            config,
            messages: HashMap::new(),
            fresh: [VecDeque::new(), VecDeque::new()],
            retry: VecDeque::new(),
            deadlines: BTreeSet::new(),
            acks: HashMap::new(),
            pending: 0,
        }
    }

    pub fn config(&self) -> RetransmitConfig {
        self.config
    }

    pub fn set_config(&mut self, config: RetransmitConfig) {
        self.config = config;
    }

    /// Fragments not yet acked (queued or in flight).
    pub fn pending_fragments(&self) -> usize {
        self.pending
    }

    /// Messages not yet delivered or failed.
    pub fn messages(&self) -> usize {
        self.messages.len()
    }

    /// Queues all fragments of a message (in order) under `message`, behind the messages of
    /// its class.
    pub fn add_message(
        &mut self,
        message: u64,
        to: ClientAddress,
        fragments: Vec<Fragment>,
        class: SendClass,
    ) {
        let n = fragments.len();
        let indices: VecDeque<u32> = (0..n).filter_map(|i| u32::try_from(i).ok()).collect();
        if !indices.is_empty() {
            self.fresh[class.slot()].push_back((message, indices));
        }
        self.pending += n;
        self.messages.insert(
            message,
            OutgoingMessage {
                to,
                class,
                fragments,
                acked: vec![false; n],
                attempts: vec![0; n],
                current: vec![None; n],
                unacked: n,
                ack_ids: Vec::new(),
            },
        );
    }

    /// Whether an ack id is already in use (the owner draws ids at random).
    pub fn knows_ack(&self, ack_id: u64) -> bool {
        self.acks.contains_key(&ack_id)
    }

    /// Whether any fragment waits to be sent.
    pub fn has_pending_send(&mut self) -> bool {
        self.skip_stale();
        !self.retry.is_empty() || self.fresh.iter().any(|f| !f.is_empty())
    }

    /// Whether a timed-out fragment waits to be sent again (these go first).
    pub fn has_retransmission(&mut self) -> bool {
        self.skip_stale();
        !self.retry.is_empty()
    }

    fn is_live(&self, (message, index): (u64, u32)) -> bool {
        self.messages
            .get(&message)
            .and_then(|m| m.acked.get(index as usize))
            .is_some_and(|acked| !acked)
    }

    /// Drops queue heads whose message ended or whose fragment was acked meanwhile.
    fn skip_stale(&mut self) {
        while let Some(&head) = self.retry.front() {
            if self.is_live(head) {
                break;
            }
            self.retry.pop_front();
        }
        for slot in 0..self.fresh.len() {
            self.skip_stale_fresh(slot);
        }
    }

    fn skip_stale_fresh(&mut self, slot: usize) {
        while let Some((message, indices)) = self.fresh[slot].front() {
            let message = *message;
            let live = indices.iter().position(|&i| self.is_live((message, i)));
            match (live, self.fresh[slot].front_mut()) {
                (Some(first), Some((_, indices))) => {
                    indices.drain(..first);
                    break;
                }
                _ => {
                    self.fresh[slot].pop_front();
                }
            }
        }
    }

    /// The next fragment to send: retransmissions first, then fresh fragments, interactive
    /// before background, taking turns across the messages of a class (each message's
    /// fragments in order).
    pub fn pop_next(&mut self) -> Option<PendingFragment> {
        self.skip_stale();
        let (retransmission, (message, index)) = match self.retry.pop_front() {
            Some(x) => (true, x),
            None => (false, self.pop_fresh()?),
        };
        let m = self.messages.get(&message)?;
        Some(PendingFragment {
            message,
            to: m.to,
            fragment: m.fragments.get(index as usize)?.clone(),
            retransmission,
        })
    }

    /// The first non-empty class's front message's next fresh fragment; the message goes
    /// to the back of its round if it has more.
    fn pop_fresh(&mut self) -> Option<(u64, u32)> {
        let round = self.fresh.iter_mut().find(|f| !f.is_empty())?;
        let (message, mut indices) = round.pop_front()?;
        let index = indices.pop_front()?;
        if !indices.is_empty() {
            round.push_back((message, indices));
        }
        Some((message, index))
    }

    /// Puts back a fragment whose packet could not be built; it is the next to go.
    pub fn unpop(&mut self, p: PendingFragment) {
        let key = (p.message, p.fragment.index);
        if p.retransmission {
            self.retry.push_front(key);
            return;
        }
        let Some(class) = self.messages.get(&p.message).map(|m| m.class) else {
            return;
        };
        let round = &mut self.fresh[class.slot()];
        // its message went to the back of the round (if it has more): bring it back
        let mut indices = match round.back() {
            Some((m, _)) if *m == p.message => round
                .pop_back()
                .map(|(_, indices)| indices)
                .unwrap_or_default(),
            _ => VecDeque::new(),
        };
        indices.push_front(p.fragment.index);
        round.push_front((p.message, indices));
    }

    /// Records that `p` left under `ack_id` along `route`; without an ack by `deadline` it is
    /// resent.
    pub fn sent(
        &mut self,
        p: &PendingFragment,
        ack_id: u64,
        deadline: Duration,
        route: AttemptRoute,
    ) {
        let index = p.fragment.index;
        let Some(m) = self.messages.get_mut(&p.message) else {
            return;
        };
        let i = index as usize;
        if let Some(a) = m.attempts.get_mut(i) {
            *a += 1;
        }
        if let Some(cur) = m.current.get_mut(i) {
            // A fragment has at most one deadline: the newest attempt's.
            let attempt = InFlight {
                ack_id,
                deadline,
                route,
            };
            if let Some(old) = cur.replace(attempt) {
                self.deadlines.remove(&(old.deadline, old.ack_id));
            }
        }
        m.ack_ids.push(ack_id);
        self.acks.insert(ack_id, (p.message, index));
        self.deadlines.insert((deadline, ack_id));
    }

    /// An ack arrived. Unknown and repeated acks are ignored (an empty outcome).
    pub fn ack(&mut self, ack_id: u64) -> AckOutcome {
        let mut outcome = AckOutcome::default();
        let Some(&(message, index)) = self.acks.get(&ack_id) else {
            return outcome;
        };
        let Some(m) = self.messages.get_mut(&message) else {
            return outcome;
        };
        let i = index as usize;
        match m.acked.get_mut(i) {
            Some(acked) if !*acked => *acked = true,
            _ => return outcome,
        }
        m.unacked -= 1;
        self.pending -= 1;
        if let Some(Some(current)) = m.current.get_mut(i).map(Option::take) {
            self.deadlines.remove(&(current.deadline, current.ack_id));
            // A late ack of an earlier attempt says nothing about the current one's route.
            if current.ack_id == ack_id {
                outcome.route = Some(current.route);
            }
        }
        if m.unacked == 0 {
            self.finish(message);
            outcome.event = Some(RetransmitEvent::Delivered { message });
        }
        outcome
    }

    /// Forgets a message and every ack id and deadline it still holds.
    fn finish(&mut self, message: u64) {
        let Some(m) = self.messages.remove(&message) else {
            return;
        };
        for id in &m.ack_ids {
            self.acks.remove(id);
        }
        for attempt in m.current.iter().flatten() {
            self.deadlines.remove(&(attempt.deadline, attempt.ack_id));
        }
        self.pending -= m.unacked;
    }

    /// Handles every ack deadline passed at `now`: the fragment is queued for retransmission,
    /// or, past the retry bound, its whole message fails.
    pub fn expire(&mut self, now: Duration) -> Expired {
        let mut expired = Expired::default();
        while let Some(&(deadline, ack_id)) = self.deadlines.first() {
            if deadline > now {
                break;
            }
            self.deadlines.pop_first();
            let Some(&(message, index)) = self.acks.get(&ack_id) else {
                continue;
            };
            let Some(m) = self.messages.get_mut(&message) else {
                continue;
            };
            let i = index as usize;
            if let Some(attempt) = m.current.get_mut(i).and_then(Option::take) {
                expired.failed_routes.push(attempt.route);
            }
            let attempts = m.attempts.get(i).copied().unwrap_or(0);
            if attempts > self.config.max_retransmissions {
                self.finish(message);
                expired.events.push(RetransmitEvent::Failed {
                    message,
                    reason: FailureReason::RetriesExhausted { index, attempts },
                });
            } else {
                self.retry.push_back((message, index));
            }
        }
        expired
    }

    /// The earliest ack deadline.
    pub fn next_deadline(&self) -> Option<Duration> {
        self.deadlines.first().map(|&(d, _)| d)
    }
}
