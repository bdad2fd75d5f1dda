//! A per-peer token bucket, with time passed in: how often one peer may make a node do a
//! costly thing (answer a directory sync, start one). Refusing costs a map lookup, so the
//! excess is dropped before any parsing or signature check.

use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: u32,
    /// When `tokens` was last brought up to date (Unix ms).
    updated_ms: u64,
}

/// Allows each key `burst` actions at once, then one per `refill_ms`; tracks at most
/// `max_keys` keys (bounded memory under a flood of fresh identities).
#[derive(Debug, Clone)]
pub struct RateLimiter<K> {
    burst: u32,
    refill_ms: u64,
    max_keys: usize,
    buckets: BTreeMap<K, Bucket>,
}

impl<K: Ord + Clone> RateLimiter<K> {
    /// `burst` of at least 1 and `refill_ms` of at least 1 ms (smaller values are raised).
    pub fn new(burst: u32, refill_ms: u64, max_keys: usize) -> Self {
        RateLimiter {
            burst: burst.max(1),
            refill_ms: refill_ms.max(1),
            max_keys,
            buckets: BTreeMap::new(),
        }
    }

    /// Whether `key` may act at `now_ms`; if so, its allowance is spent.
    pub fn allow(&mut self, now_ms: u64, key: &K) -> bool {
        if !self.buckets.contains_key(key) && !self.make_room(now_ms) {
            return false;
        }
        let (burst, refill_ms) = (self.burst, self.refill_ms);
        let bucket = self.buckets.entry(key.clone()).or_insert(Bucket {
            tokens: burst,
            updated_ms: now_ms,
        });
        refill(bucket, burst, refill_ms, now_ms);
        if bucket.tokens == 0 {
            return false;
        }
        bucket.tokens -= 1;
        true
    }

    /// Keys tracked now.
    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }

    /// Forgets keys whose allowance has fully refilled (they are indistinguishable from
    /// new ones) when the map is full; false if every tracked key is still limited.
    fn make_room(&mut self, now_ms: u64) -> bool {
        if self.buckets.len() < self.max_keys {
            return true;
        }
        let (burst, refill_ms) = (self.burst, self.refill_ms);
        self.buckets.retain(|_, b| {
            refill(b, burst, refill_ms, now_ms);
            b.tokens < burst
        });
        self.buckets.len() < self.max_keys
    }
}

fn refill(bucket: &mut Bucket, burst: u32, refill_ms: u64, now_ms: u64) {
    let elapsed = now_ms.saturating_sub(bucket.updated_ms);
    let earned = elapsed / refill_ms;
    if earned == 0 {
        return;
    }
    let tokens = u64::from(bucket.tokens).saturating_add(earned);
    bucket.tokens = u32::try_from(tokens.min(u64::from(burst))).unwrap_or(burst);
    // keep the remainder of a partly earned token, unless the bucket is full
    bucket.updated_ms = if bucket.tokens == burst {
        now_ms
    } else {
        bucket.updated_ms + earned * refill_ms
    };
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_peer_gets_its_burst_then_one_per_refill_and_others_are_not_affected() {
        let mut l = RateLimiter::new(3, 1000, 16);
        let t = 1_000_000;
        assert!((0..3).all(|_| l.allow(t, &"a")));
        assert!(!l.allow(t, &"a"), "the burst is spent");
        assert!(!l.allow(t + 999, &"a"), "not yet refilled");
        assert!(l.allow(t, &"b"), "another peer has its own allowance");
        assert!(l.allow(t + 1000, &"a"));
        assert!(!l.allow(t + 1500, &"a"));
        // the half-earned token is kept: the next one comes at t + 2000
        assert!(l.allow(t + 2000, &"a"));
        // a long pause refills the burst, never more
        assert!((0..3).all(|_| l.allow(t + 60_000, &"a")));
        assert!(!l.allow(t + 60_000, &"a"));
        // time going backwards earns nothing
        assert!(!l.allow(t, &"a"));
    }

    #[test]
    fn the_tracked_peers_are_bounded_and_refilled_ones_are_forgotten_first() {
        let mut l = RateLimiter::new(1, 1000, 2);
        let t = 5_000;
        assert!(l.allow(t, &1));
        assert!(l.allow(t, &2));
        assert!(
            !l.allow(t, &3),
            "full of limited peers: a new one is refused"
        );
        assert_eq!(l.tracked(), 2);
        // once peer 1 and 2 have refilled they are forgotten to make room
        assert!(l.allow(t + 1000, &3));
        assert!(l.tracked() <= 2);
    }
}
