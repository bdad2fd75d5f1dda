//! How long a reply block (SURB) built on an epoch's view keeps working, and when its owner
//! should replace it. Pure arithmetic on [`PkiParams`]: the caller supplies the epoch.
//!
//! A SURB's header is sealed to the Sphinx keys its route's mixes published for the epoch
//! of the view it was built on. A relay keeps that key until the grace period of the next
//! epoch ends ([`crate::SphinxKeyRing`]); a packet on the SURB after that is undecryptable
//! and silently lost. A holder of SURBs (a rendezvous desk) must stop using them before,
//! and their owner must send new ones built on the next view: halfway through the grace,
//! when the next epoch's descriptors have spread and the old SURBs still work.

use crate::epoch::EpochClock;
use crate::params::{PkiParams, ROUTE_EXPIRY_MARGIN_MS};

/// The life of reply blocks built on one epoch's view, in Unix milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyBlockLife {
    /// Send fresh reply blocks from then on (built on the next epoch's view).
    pub renew_at_ms: u64,
    /// The last relay on the route forgets the key: the blocks are dead.
    pub expire_at_ms: u64,
}

impl ReplyBlockLife {
    /// Blocks over keys that never rotate (a static topology).
    pub const FOREVER: ReplyBlockLife = ReplyBlockLife {
        renew_at_ms: u64::MAX,
        expire_at_ms: u64::MAX,
    };

    /// Reply blocks built on the view of `epoch`.
    pub fn of_epoch(params: &PkiParams, epoch: u64) -> ReplyBlockLife {
        let clock = EpochClock::from_params(params).unwrap_or_default();
        let next = clock.epoch_start(epoch.saturating_add(1));
        let secs_to_ms = |s: u64| s.saturating_mul(1000);
        ReplyBlockLife {
            renew_at_ms: secs_to_ms(next.saturating_add(params.grace_period_secs / 2)),
            expire_at_ms: secs_to_ms(next.saturating_add(params.grace_period_secs)),
        }
    }

    /// Whether routes over this view may still be built at `now_ms`: a packet built now
    /// must cross its mixes before the last of them forgets the view's keys
    /// ([`ROUTE_EXPIRY_MARGIN_MS`] before `expire_at_ms`). A client back from offline
    /// sends on the view it kept while this holds, instead of waiting for the directory.
    pub fn routes_usable_at(&self, now_ms: u64) -> bool {
        self.expire_at_ms == u64::MAX
            || now_ms.saturating_add(ROUTE_EXPIRY_MARGIN_MS) < self.expire_at_ms
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::SphinxKeyRing;

    #[test]
    fn blocks_die_with_the_last_key_of_their_epoch() {
        let params = PkiParams::with_epoch_length(60).unwrap();
        let life = ReplyBlockLife::of_epoch(&params, 10);
        // epoch 11 starts at 660 s; the grace of epoch 10's key is 10 s
        assert_eq!(life.expire_at_ms, 670_000);
        assert_eq!(life.renew_at_ms, 665_000);
        // the key ring agrees: epoch 10's key decrypts until then, not after
        let clock = EpochClock::from_params(&params).unwrap();
        let mut ring = SphinxKeyRing::new(clock, params.grace_period_secs).unwrap();
        let mut rng = <rand_chacha::ChaCha20Rng as rand::SeedableRng>::seed_from_u64(1);
        ring.rotate(600, &mut rng);
        let mut live = |ring: &mut SphinxKeyRing, at: u64| {
            ring.rotate(at, &mut rng);
            ring.live_keys(at).iter().any(|k| k.epoch == 10)
        };
        assert!(live(&mut ring, 669));
        assert!(!live(&mut ring, 670));
        assert_eq!(ReplyBlockLife::FOREVER.expire_at_ms, u64::MAX);
        // routes over the view are built until the margin before the keys retire
        assert!(life.routes_usable_at(670_000 - ROUTE_EXPIRY_MARGIN_MS - 1));
        assert!(!life.routes_usable_at(670_000 - ROUTE_EXPIRY_MARGIN_MS));
        assert!(ReplyBlockLife::FOREVER.routes_usable_at(u64::MAX - 1));
    }
}
