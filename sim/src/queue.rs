//! The discrete-event queue: items in order of due time, so a run depends on nothing but
//! its seed and configuration.
//!
//! A calendar: a ring of buckets [`BUCKET_NS`] wide covering the next [`RING_BUCKETS`]
//! buckets, each an unsorted list, sorted once when the clock reaches it; items due
//! further ahead wait in a binary heap until their bucket comes into the ring. An item is
//! written once and read once, in order, so the queue can carry whole packets (a large
//! run's packets then never sit in a table read from cold memory at every hop, which was
//! most of the time at 10⁶ clients). Items due at the same time come out in an order
//! fixed by the run (the order they were scheduled in, within the ring).

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// Width of a bucket, as a power of two of nanoseconds: 2^16 ns = 65.5 µs, about a
/// thousand items a bucket at 10⁶ clients (a bucket sorts in the core's own cache).
const BUCKET_SHIFT: u32 = 20;
/// Buckets in the ring: 2^16 × 65.5 µs = 4.3 s ahead, beyond nearly every hold and gap.
const RING_BUCKETS: usize = 1 << 12;

/// An item due beyond the ring, ordered by due time then by when it was scheduled.
struct Far<T> {
    at: u64,
    seq: u64,
    item: T,
}

impl<T> PartialEq for Far<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl<T> Eq for Far<T> {}
impl<T> PartialOrd for Far<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Far<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// Items waiting for their time (nanoseconds of virtual time). Nothing may be scheduled
/// before the last item taken (true of a discrete-event run): it then counts as due at
/// that time.
pub struct EventQueue<T> {
    ring: Vec<Vec<(u64, T)>>,
    /// Items in the ring.
    in_ring: usize,
    /// The bucket being taken, latest first (taken from the end).
    current: Vec<(u64, T)>,
    /// Absolute index (time >> BUCKET_SHIFT) of `current`.
    current_bucket: u64,
    far: BinaryHeap<Reverse<Far<T>>>,
    far_seq: u64,
    last: u64,
    len: usize,
}

impl<T> Default for EventQueue<T> {
    fn default() -> Self {
        EventQueue {
            ring: (0..RING_BUCKETS).map(|_| Vec::new()).collect(),
            in_ring: 0,
            current: Vec::new(),
            current_bucket: 0,
            far: BinaryHeap::new(),
            far_seq: 0,
            last: 0,
            len: 0,
        }
    }
}

fn bucket_of(at: u64) -> u64 {
    at >> BUCKET_SHIFT
}

fn slot(bucket: u64) -> usize {
    (bucket % RING_BUCKETS as u64) as usize
}

impl<T> EventQueue<T> {
    /// Schedules `item` at `at`.
    pub fn schedule(&mut self, at: u64, item: T) {
        let at = at.max(self.last);
        let b = bucket_of(at);
        self.len += 1;
        if b <= self.current_bucket {
            // into the bucket being taken, after the items due at the same time
            let i = self.current.partition_point(|(t, _)| *t > at);
            self.current.insert(i, (at, item));
        } else if b < self.current_bucket + RING_BUCKETS as u64 {
            // no reuse of emptied lists: a bucket gets its first items while far ahead,
            // and 4,096 buckets each holding a full bucket's room took 4 GB at 10^6
            // clients; growing a list from empty costs less than a copy of it
            if let Some(list) = self.ring.get_mut(slot(b)) {
                list.push((at, item));
                self.in_ring += 1;
            }
        } else {
            self.far_seq += 1;
            self.far.push(Reverse(Far {
                at,
                seq: self.far_seq,
                item,
            }));
        }
    }

    /// The next item, if one is due at or before `until`.
    pub fn pop_until(&mut self, until: u64) -> Option<(u64, T)> {
        loop {
            if let Some(&(t, _)) = self.current.last() {
                if t > until {
                    return None;
                }
                let item = self.current.pop()?;
                self.len -= 1;
                self.last = t;
                return Some(item);
            }
            if self.len == 0 {
                return None;
            }
            // the next bucket with anything in it: the next one, or (with the ring empty)
            // the first far item's
            let next = if self.in_ring > 0 {
                self.current_bucket + 1
            } else {
                let far = self.far.peek().map_or(u64::MAX, |f| bucket_of(f.0.at));
                far.max(self.current_bucket + 1)
            };
            if next
                .checked_shl(BUCKET_SHIFT)
                .is_none_or(|start| start > until)
            {
                return None;
            }
            self.enter_bucket(next);
        }
    }

    /// Makes bucket `b` the one being taken: its ring list and the far items now due in
    /// it, sorted.
    fn enter_bucket(&mut self, b: u64) {
        self.current_bucket = b;
        let mut taken = match self.ring.get_mut(slot(b)) {
            Some(list) => std::mem::take(list),
            None => Vec::new(),
        };
        self.in_ring -= taken.len();
        // far items that entered the ring's horizon go to their buckets; this one's
        // join `taken`
        let horizon = b + RING_BUCKETS as u64;
        while let Some(f) = self.far.peek() {
            let fb = bucket_of(f.0.at);
            if fb >= horizon {
                break;
            }
            let Some(Reverse(f)) = self.far.pop() else {
                break;
            };
            if fb <= b {
                taken.push((f.at, f.item));
            } else if let Some(list) = self.ring.get_mut(slot(fb)) {
                list.push((f.at, f.item));
                self.in_ring += 1;
            }
        }
        // latest first; a stable sort keeps items due at the same time in the order
        // they were scheduled, taken from the end: reverse that order first
        taken.reverse();
        taken.sort_by_key(|item| Reverse(item.0));
        self.current = taken;
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn items_come_out_in_time_order() {
        let mut q = EventQueue::default();
        q.schedule(5, 'a');
        q.schedule(1, 'b');
        q.schedule(7, 'c');
        assert_eq!(q.pop_until(0), None);
        assert_eq!(q.pop_until(10), Some((1, 'b')));
        assert_eq!(q.pop_until(4), None, "5 is not due at 4");
        assert_eq!(q.pop_until(10), Some((5, 'a')));
        assert_eq!(q.pop_until(10), Some((7, 'c')));
        assert!(q.is_empty());
    }

    #[test]
    fn items_due_together_come_out_as_scheduled() {
        let mut q = EventQueue::default();
        let far = (100 * RING_BUCKETS as u64) << BUCKET_SHIFT;
        for i in 0..5 {
            q.schedule(1_000_000, i);
            q.schedule(far, 10 + i);
        }
        let out: Vec<i32> = std::iter::from_fn(|| q.pop_until(u64::MAX).map(|x| x.1)).collect();
        assert_eq!(out, vec![0, 1, 2, 3, 4, 10, 11, 12, 13, 14]);
    }

    /// Against a sort, with items scheduled while others are taken, as a run does, near
    /// (same bucket), within the ring and beyond it.
    #[test]
    fn interleaved_scheduling_keeps_time_order() {
        let mut q = EventQueue::default();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let ring_ns = (RING_BUCKETS as u64) << BUCKET_SHIFT;
        let gap = move |r: u64| match r % 4 {
            0 => r % 1_000,
            1 => r % 1_000_000,
            2 => r % 2_000_000_000,
            _ => r % (3 * ring_ns),
        };
        for i in 0..1000u64 {
            let r = next();
            q.schedule(gap(r), i);
        }
        let mut last = 0;
        let mut taken = 0u64;
        while let Some((t, _)) = q.pop_until(u64::MAX) {
            assert!(t >= last, "{t} after {last}");
            last = t;
            taken += 1;
            if taken < 20_000 {
                let r = next();
                q.schedule(t + gap(r), taken);
            }
        }
        assert_eq!(taken, 20_000 + 999);
        assert!(q.is_empty());
    }

    #[test]
    fn nothing_is_taken_past_the_limit_and_the_rest_stays() {
        let mut q = EventQueue::default();
        q.schedule(10, 1);
        q.schedule(1 << 40, 2);
        assert_eq!(q.pop_until(1 << 30), Some((10, 1)));
        assert_eq!(q.pop_until(1 << 30), None);
        assert_eq!(q.len(), 1);
        // scheduled late, after a look ahead that stopped at the limit
        q.schedule(20, 3);
        assert_eq!(q.pop_until(1 << 41), Some((20, 3)));
        assert_eq!(q.pop_until(1 << 41), Some((1 << 40, 2)));
    }
}
