//! Admission of `/wesh/pki-sync/1` streams at the serving side: a per-peer rate limit, and
//! caps on streams open at once per peer and overall. The shell asks before it reads a
//! single byte and reports when a stream ends; refusals are counted by reason.

use crate::params::{
    RATE_LIMIT_MAX_PEERS, SYNC_SERVE_BURST, SYNC_SERVE_MAX_STREAMS,
    SYNC_SERVE_MAX_STREAMS_PER_PEER, SYNC_SERVE_REFILL_MS,
};
use crate::rate_limit::RateLimiter;
use std::collections::BTreeMap;

/// Why a sync stream was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SyncRefusal {
    #[error("too many sync streams open")]
    Busy,
    #[error("too many sync streams open for this peer")]
    PeerBusy,
    #[error("sync requests from this peer come too fast")]
    RateLimited,
}

impl SyncRefusal {
    pub fn reason(self) -> &'static str {
        match self {
            Self::Busy => "busy",
            Self::PeerBusy => "peer_busy",
            Self::RateLimited => "rate_limited",
        }
    }
}

/// What a relay's sync server lets in.
#[derive(Debug, Clone)]
pub struct SyncServeGate<K> {
    limiter: RateLimiter<K>,
    open: BTreeMap<K, usize>,
    total: usize,
    max_total: usize,
    max_per_peer: usize,
    admitted: u64,
    refused: BTreeMap<&'static str, u64>,
}

impl<K: Ord + Clone> Default for SyncServeGate<K> {
    fn default() -> Self {
        Self::new(
            SYNC_SERVE_BURST,
            SYNC_SERVE_REFILL_MS,
            SYNC_SERVE_MAX_STREAMS,
            SYNC_SERVE_MAX_STREAMS_PER_PEER,
        )
    }
}

impl<K: Ord + Clone> SyncServeGate<K> {
    pub fn new(burst: u32, refill_ms: u64, max_total: usize, max_per_peer: usize) -> Self {
        SyncServeGate {
            limiter: RateLimiter::new(burst, refill_ms, RATE_LIMIT_MAX_PEERS),
            open: BTreeMap::new(),
            total: 0,
            max_total,
            max_per_peer,
            admitted: 0,
            refused: BTreeMap::new(),
        }
    }

    /// Whether a stream `peer` opened at `now_ms` is served. An admitted stream must be
    /// reported to [`SyncServeGate::close`] when it ends, however it ends.
    pub fn admit(&mut self, now_ms: u64, peer: &K) -> Result<(), SyncRefusal> {
        let verdict = if self.total >= self.max_total {
            Err(SyncRefusal::Busy)
        } else if self.open.get(peer).copied().unwrap_or(0) >= self.max_per_peer {
            Err(SyncRefusal::PeerBusy)
        } else if !self.limiter.allow(now_ms, peer) {
            Err(SyncRefusal::RateLimited)
        } else {
            Ok(())
        };
        match verdict {
            Ok(()) => {
                *self.open.entry(peer.clone()).or_default() += 1;
                self.total += 1;
                self.admitted += 1;
            }
            Err(r) => *self.refused.entry(r.reason()).or_default() += 1,
        }
        verdict
    }

    /// An admitted stream of `peer` ended.
    pub fn close(&mut self, peer: &K) {
        if let Some(n) = self.open.get_mut(peer) {
            *n = n.saturating_sub(1);
            self.total = self.total.saturating_sub(1);
            if *n == 0 {
                self.open.remove(peer);
            }
        }
    }

    /// Streams open now.
    pub fn open_streams(&self) -> usize {
        self.total
    }

    /// Streams admitted so far.
    pub fn admitted(&self) -> u64 {
        self.admitted
    }

    /// Streams refused so far, by reason.
    pub fn refused(&self) -> &BTreeMap<&'static str, u64> {
        &self.refused
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_flooding_peer_is_capped_while_another_peer_is_still_served() {
        let mut g = SyncServeGate::new(10, 200, 4, 2);
        let t = 1_000;
        assert_eq!(g.admit(t, &"flood"), Ok(()));
        assert_eq!(g.admit(t, &"flood"), Ok(()));
        for _ in 0..100 {
            assert_eq!(g.admit(t, &"flood"), Err(SyncRefusal::PeerBusy));
        }
        assert_eq!(g.admit(t, &"honest"), Ok(()));
        g.close(&"honest");
        // streams that end free their slots; the rate limit still applies
        g.close(&"flood");
        g.close(&"flood");
        let mut served = 0;
        for _ in 0..100 {
            if g.admit(t, &"flood").is_ok() {
                served += 1;
                g.close(&"flood");
            }
        }
        assert_eq!(served, 8, "the rest of the burst of 10");
        assert_eq!(g.admit(t + 200, &"flood"), Ok(()), "one more per 200 ms");
        g.close(&"flood");
        assert_eq!(g.refused().get("peer_busy"), Some(&100));
        assert_eq!(g.refused().get("rate_limited"), Some(&92));
        assert_eq!(g.open_streams(), 0);
    }

    #[test]
    fn the_total_is_capped_across_peers() {
        let mut g = SyncServeGate::new(10, 200, 3, 2);
        for p in 0..3 {
            assert_eq!(g.admit(0, &p), Ok(()));
        }
        assert_eq!(g.admit(0, &9), Err(SyncRefusal::Busy));
        g.close(&0);
        assert_eq!(g.admit(0, &9), Ok(()));
        // closing what was never admitted changes nothing
        g.close(&42);
        assert_eq!(g.open_streams(), 3);
    }
}
