//! The discrete-event queue: events ordered by due time, then by the order they were
//! scheduled in (so equal times never depend on anything but the run itself).

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::time::Duration;
use wesh_mix::NodeId;

/// Something that happens at a virtual time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A packet reaches a mix or provider over a link.
    Arrive { to: NodeId, packet: Vec<u8> },
    /// A relay's hold of a processed packet ends: it goes on the link to `to`.
    Release {
        from: NodeId,
        to: NodeId,
        packet: Vec<u8>,
    },
    /// A client's traffic core asked to be polled (`generation` tells stale wakes apart).
    ClientWake { client: usize, generation: u64 },
    /// A client pulls its mailbox (`generation` tells the chain of an earlier online
    /// period apart).
    Pull { client: usize, generation: u64 },
    /// A Wesh device checks its rendezvous registration.
    DeviceTick { client: usize },
    /// A mix's loop cover stream is due.
    MixCover { mix: NodeId },
    /// A provider's own-mailbox workers (rendezvous desk, replication) run a round.
    ProviderRound { provider: NodeId },
}

impl Event {
    /// A short, stable tag for the trace digest.
    pub fn tag(&self) -> u8 {
        match self {
            Event::Arrive { .. } => 1,
            Event::Release { .. } => 2,
            Event::ClientWake { .. } => 3,
            Event::Pull { .. } => 4,
            Event::DeviceTick { .. } => 5,
            Event::MixCover { .. } => 6,
            Event::ProviderRound { .. } => 7,
        }
    }
}

#[derive(Debug)]
struct Scheduled {
    at: Duration,
    seq: u64,
    event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    /// Reversed: the heap pops the earliest event (ties: the first scheduled).
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// Events waiting for their time.
#[derive(Debug, Default)]
pub struct EventQueue {
    heap: BinaryHeap<Scheduled>,
    next_seq: u64,
}

impl EventQueue {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn schedule(&mut self, at: Duration, event: Event) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Scheduled { at, seq, event });
    }

    /// When the next event is due.
    pub fn next_at(&self) -> Option<Duration> {
        self.heap.peek().map(|s| s.at)
    }

    /// The next event if it is due at or before `until`.
    pub fn pop_until(&mut self, until: Duration) -> Option<(Duration, Event)> {
        if self.next_at()? > until {
            return None;
        }
        self.heap.pop().map(|s| (s.at, s.event))
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn earliest_first_then_scheduling_order() {
        let mut q = EventQueue::new();
        let ms = Duration::from_millis;
        let pull = |client| Event::Pull {
            client,
            generation: 0,
        };
        q.schedule(ms(5), pull(1));
        q.schedule(ms(1), pull(2));
        q.schedule(ms(5), pull(3));
        assert_eq!(q.pop_until(ms(0)), None);
        let order: Vec<_> = std::iter::from_fn(|| q.pop_until(ms(10)))
            .map(|(_, e)| e)
            .collect();
        assert_eq!(order, vec![pull(2), pull(1), pull(3)]);
        assert!(q.is_empty());
    }
}
