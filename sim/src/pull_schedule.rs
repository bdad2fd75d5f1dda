//! A client's mailbox as its pulls will empty it, worked out when a payload is stored
//! instead of by a pull event per client per interval.
//!
//! A client pulls at `phase + k·interval` (k = 0, 1, …) and each pull takes at most
//! `slots` payloads, oldest first. Payloads are stored in time order, so the pull that
//! takes a payload is known the moment it is stored: the first pull at or after it, unless
//! the payloads stored before it already fill that pull's slots, and then the next one
//! with room. Keeping only the last pull handed out and how many of its slots are taken
//! gives exactly the FIFO a queue of payloads and a pull event would, with no event, no
//! queue and nothing to touch when a client's mailbox is empty (at 10⁶ clients the pull
//! events were a twelfth of all events, and each read a mailbox from cold memory).

/// When a client pulls and how much each pull takes, in nanoseconds of virtual time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PullTimes {
    pub phase: u64,
    pub interval: u64,
    pub slots: u32,
}

impl PullTimes {
    /// Index of the first pull at or after `t`.
    fn first_at_or_after(&self, t: u64) -> u64 {
        let interval = self.interval.max(1);
        match t.checked_sub(self.phase) {
            None | Some(0) => 0,
            Some(d) => d.div_ceil(interval),
        }
    }

    /// Pulls in `[from, to)`.
    pub fn count_in(&self, from: u64, to: u64) -> u64 {
        let before = |x: u64| -> u64 {
            match x.checked_sub(self.phase) {
                None | Some(0) => 0,
                Some(d) => (d - 1) / self.interval.max(1) + 1,
            }
        };
        before(to).saturating_sub(before(from))
    }

    fn at(&self, k: u64) -> u64 {
        self.phase.saturating_add(k.saturating_mul(self.interval))
    }
}

/// The last pull that has taken payloads, and how many.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MailboxSlots {
    pull: u64,
    taken: u32,
}

impl MailboxSlots {
    /// A payload stored at `t` (not before the last one stored): when the client pulls it.
    pub fn store(&mut self, t: u64, times: &PullTimes) -> u64 {
        let first = times.first_at_or_after(t);
        if first > self.pull {
            self.pull = first;
            self.taken = 0;
        }
        if self.taken >= times.slots.max(1) {
            self.pull += 1;
            self.taken = 0;
        }
        self.taken += 1;
        times.at(self.pull)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::collections::VecDeque;

    /// Against a queue emptied by pull events, as the simulator did before.
    #[test]
    fn matches_a_queue_emptied_by_pulls() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..200 {
            let times = PullTimes {
                phase: next() % 1_000,
                interval: 1 + next() % 1_000,
                slots: 1 + (next() % 4) as u32,
            };
            // bursts of payloads: some pulls cannot take all that waits
            let mut stores: Vec<u64> = (0..300).map(|_| next() % 50_000).collect();
            if round % 2 == 0 {
                stores.iter_mut().for_each(|s| *s /= 10);
            }
            stores.sort_unstable();

            let mut slots = MailboxSlots::default();
            let fast: Vec<u64> = stores.iter().map(|&t| slots.store(t, &times)).collect();

            // the queue: stores at t happen before a pull at t (as a store then a pull
            // event due at the same time would)
            let mut queue: VecDeque<usize> = VecDeque::new();
            let mut slow = vec![u64::MAX; stores.len()];
            let mut i = 0;
            let mut k = 0;
            while slow.contains(&u64::MAX) {
                let pull_at = times.at(k);
                while i < stores.len() && stores[i] <= pull_at {
                    queue.push_back(i);
                    i += 1;
                }
                for _ in 0..times.slots {
                    if let Some(j) = queue.pop_front() {
                        slow[j] = pull_at;
                    }
                }
                k += 1;
            }
            assert_eq!(fast, slow, "{times:?}");
        }
    }

    #[test]
    fn counts_pulls_in_a_window() {
        let times = PullTimes {
            phase: 30,
            interval: 100,
            slots: 3,
        };
        // pulls at 30, 130, 230, 330, ...
        assert_eq!(times.count_in(0, 30), 0);
        assert_eq!(times.count_in(0, 31), 1);
        assert_eq!(times.count_in(30, 130), 1);
        assert_eq!(times.count_in(31, 331), 3);
        assert_eq!(times.count_in(0, 1_030), 10);
        assert_eq!(times.count_in(500, 400), 0);
    }

    #[test]
    fn a_full_pull_passes_payloads_to_the_next() {
        let times = PullTimes {
            phase: 0,
            interval: 10,
            slots: 2,
        };
        let mut s = MailboxSlots::default();
        assert_eq!(s.store(1, &times), 10);
        assert_eq!(s.store(2, &times), 10);
        assert_eq!(s.store(3, &times), 20, "pull 10 is full");
        assert_eq!(
            s.store(25, &times),
            30,
            "an empty mailbox waits for the next pull"
        );
        assert_eq!(
            s.store(30, &times),
            30,
            "stored as the pull happens: it takes it"
        );
    }
}
