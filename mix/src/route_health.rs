//! Which mixes a client should avoid for a while, learnt from its own acks and timeouts.
//!
//! Each reliable attempt crosses up to six mixes (three forward, three on its SURB-ack's way
//! back). An ack proves they all forwarded; a timeout says at least one of them lost a
//! packet. A timeout marks the attempt's mixes, an ack clears them, and a mark makes its mix
//! *suspect* for [`SUSPECT_FOR`]; routes avoid suspect mixes
//! ([`Topology::forward_route_avoiding`]). Providers are never judged: both ends of a route
//! are fixed.
//!
//! Evidence is dated by when the attempt *left* (it crossed its mixes within a few hop
//! delays of that), not by when its ack or timeout arrived: an ack proves its mixes worked
//! then, not now. A timeout does not mark a mix that an attempt sent at the same time or
//! later got through: that mix was alive, so the loss belongs to another mix of the route.
//! Without this rule every honest mix that shared a route with a dead one would be marked
//! as often as it is cleared, and a whole layer would look suspect. Conversely a late ack
//! of an attempt sent before a mix died does not clear the mark that a later attempt's
//! timeout put on it: acks arrive seconds after their packets crossed, and dating them by
//! arrival would shield a dead mix for a whole round of retransmissions.
//!
//! Sans-I/O and bounded: at most one entry per mix of the current topology
//! ([`RouteHealth::prune`]), each forgotten once its newest evidence is older than the window.
//!
//! [`SUSPECT_FOR`]: crate::params::SUSPECT_FOR
//! [`Topology::forward_route_avoiding`]: crate::topology::Topology::forward_route_avoiding

use crate::node_id::NodeId;
use crate::topology::{RouteNode, Topology};
use std::collections::HashMap;
use std::time::Duration;

/// The mixes one attempt crossed (forward route and ack route) and when it left: what its
/// ack or its timeout is evidence about.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AttemptRoute {
    pub sent_at: Duration,
    pub mixes: Vec<NodeId>,
}

impl AttemptRoute {
    /// The mixes of `forward` and `back` (both provider → mixes → provider; the providers at
    /// their ends are left out).
    pub fn new(sent_at: Duration, forward: &[RouteNode], back: &[RouteNode]) -> Self {
        let mixes = [forward, back]
            .into_iter()
            .flat_map(|route| inner(route).iter().map(|n| n.id))
            .collect();
        AttemptRoute { sent_at, mixes }
    }
}

/// A route without its first and last hop (the providers).
fn inner(route: &[RouteNode]) -> &[RouteNode] {
    route.get(1..route.len().saturating_sub(1)).unwrap_or(&[])
}

#[derive(Debug, Clone, Copy, Default)]
struct Evidence {
    /// When the newest timeout that blamed this mix fired (the window runs from here),
    /// unless an attempt sent later was acked since.
    failed_at: Option<Duration>,
    /// When the newest blamed attempt left.
    failed_sent_at: Option<Duration>,
    /// When the newest acked attempt through this mix left.
    succeeded_sent_at: Option<Duration>,
}

impl Evidence {
    fn newest(&self) -> Option<Duration> {
        self.failed_at.max(self.succeeded_sent_at)
    }
}

/// One client's view of which mixes lose its packets.
#[derive(Debug, Clone)]
pub struct RouteHealth {
    suspect_for: Duration,
    evidence: HashMap<NodeId, Evidence>,
}

impl RouteHealth {
    /// A mix stays suspect for `suspect_for` after its last failure mark (zero turns
    /// avoidance off).
    pub fn new(suspect_for: Duration) -> Self {
        RouteHealth {
            suspect_for,
            evidence: HashMap::new(),
        }
    }

    pub fn suspect_for(&self) -> Duration {
        self.suspect_for
    }

    pub fn set_suspect_for(&mut self, suspect_for: Duration) {
        self.suspect_for = suspect_for;
    }

    /// The attempt along `route` was acked (at `_now`): every mix on it worked when the
    /// attempt crossed it. Clears marks put by attempts that left no later than this one.
    pub fn record_success(&mut self, route: &AttemptRoute, _now: Duration) {
        for mix in &route.mixes {
            let e = self.evidence.entry(*mix).or_default();
            e.succeeded_sent_at = e.succeeded_sent_at.max(Some(route.sent_at));
            if e.failed_sent_at.is_some_and(|f| f <= route.sent_at) {
                e.failed_at = None;
                e.failed_sent_at = None;
            }
        }
    }

    /// The attempt along `route` timed out at `now`: its mixes are marked, except those that
    /// an attempt sent at the same time or later got through.
    pub fn record_failure(&mut self, route: &AttemptRoute, now: Duration) {
        for mix in &route.mixes {
            let e = self.evidence.entry(*mix).or_default();
            if e.succeeded_sent_at.is_some_and(|s| s >= route.sent_at) {
                continue;
            }
            e.failed_at = Some(now);
            e.failed_sent_at = e.failed_sent_at.max(Some(route.sent_at));
        }
    }

    /// Whether routes built at `now` should avoid `mix`.
    pub fn is_suspect(&self, mix: &NodeId, now: Duration) -> bool {
        self.evidence
            .get(mix)
            .and_then(|e| e.failed_at)
            .is_some_and(|f| now.saturating_sub(f) < self.suspect_for)
    }

    /// How many mixes are suspect at `now`.
    pub fn suspects(&self, now: Duration) -> usize {
        self.evidence
            .keys()
            .filter(|mix| self.is_suspect(mix, now))
            .count()
    }

    /// Mixes with evidence held (bounded by the topology's mixes after `prune`).
    pub fn tracked(&self) -> usize {
        self.evidence.len()
    }

    /// Forgets mixes that left `topology` and evidence older than the window.
    pub fn prune(&mut self, topology: &Topology, now: Duration) {
        if self.evidence.is_empty() {
            return;
        }
        let window = self.suspect_for;
        self.evidence.retain(|mix, e| {
            e.newest().is_some_and(|t| now.saturating_sub(t) < window)
                && topology.layer_of(mix).is_some()
        });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::params::SUSPECT_FOR;
    use crate::topology::tests::{node, topology};

    const S: fn(u64) -> Duration = Duration::from_secs;

    fn mix(tag: u8) -> NodeId {
        NodeId([tag; 32])
    }

    fn attempt(sent_at: u64, tags: &[u8]) -> AttemptRoute {
        AttemptRoute {
            sent_at: S(sent_at),
            mixes: tags.iter().map(|t| mix(*t)).collect(),
        }
    }

    #[test]
    fn attempt_route_keeps_only_the_mixes_of_both_routes() {
        let forward = [1, 10, 20, 30, 2].map(node);
        let back = [2, 11, 21, 31, 1].map(node);
        let a = AttemptRoute::new(S(3), &forward, &back);
        assert_eq!(a.sent_at, S(3));
        assert_eq!(a.mixes, [10, 20, 30, 11, 21, 31].map(mix).to_vec());
    }

    #[test]
    fn a_timeout_marks_every_mix_of_the_attempt_until_the_window_ends() {
        let mut h = RouteHealth::new(SUSPECT_FOR);
        h.record_failure(&attempt(0, &[10, 20, 30, 11, 21, 31]), S(7));
        for tag in [10, 20, 30, 11, 21, 31] {
            assert!(h.is_suspect(&mix(tag), S(7)));
        }
        assert!(!h.is_suspect(&mix(12), S(7)), "a mix never seen is fine");
        assert_eq!(h.suspects(S(7)), 6);
        // suspicion lasts exactly the window after the mark
        assert!(h.is_suspect(&mix(20), S(7) + SUSPECT_FOR - Duration::from_millis(1)));
        assert!(!h.is_suspect(&mix(20), S(7) + SUSPECT_FOR));
        assert_eq!(h.suspects(S(7) + SUSPECT_FOR), 0);
        // a new timeout renews the mark
        h.record_failure(&attempt(60, &[20]), S(67));
        assert!(h.is_suspect(&mix(20), S(100)));
    }

    #[test]
    fn an_ack_clears_the_marks_of_its_mixes() {
        let mut h = RouteHealth::new(SUSPECT_FOR);
        h.record_failure(&attempt(0, &[10, 20, 30]), S(7));
        h.record_success(&attempt(5, &[10, 21, 30]), S(8));
        assert!(!h.is_suspect(&mix(10), S(8)));
        assert!(!h.is_suspect(&mix(30), S(8)));
        assert!(h.is_suspect(&mix(20), S(8)), "not on the acked route");
        assert_eq!(h.suspects(S(8)), 1);
    }

    #[test]
    fn a_mix_that_a_later_attempt_got_through_is_not_blamed() {
        let mut h = RouteHealth::new(SUSPECT_FOR);
        // an attempt that left at t = 4 got through 20: alive after the lost one left at 3
        h.record_success(&attempt(4, &[20]), S(6));
        h.record_failure(&attempt(3, &[10, 20, 30]), S(9));
        assert!(!h.is_suspect(&mix(20), S(9)));
        assert!(h.is_suspect(&mix(10), S(9)));
        // an attempt that left after 20's last success does blame it
        h.record_failure(&attempt(5, &[20]), S(12));
        assert!(h.is_suspect(&mix(20), S(12)));
    }

    #[test]
    fn a_late_ack_of_an_older_attempt_does_not_clear_a_newer_mark() {
        let mut h = RouteHealth::new(SUSPECT_FOR);
        // 20 dies at t = 2: the attempt sent at 3 times out; one sent at 1 is acked late
        h.record_failure(&attempt(3, &[20]), S(8));
        h.record_success(&attempt(1, &[20]), S(9));
        assert!(h.is_suspect(&mix(20), S(9)));
        // an ack of an attempt as recent as the lost one clears it
        h.record_success(&attempt(3, &[20]), S(10));
        assert!(!h.is_suspect(&mix(20), S(10)));
    }

    #[test]
    fn zero_window_never_suspects() {
        let mut h = RouteHealth::new(Duration::ZERO);
        h.record_failure(&attempt(0, &[10]), S(7));
        assert!(!h.is_suspect(&mix(10), S(7)));
    }

    #[test]
    fn prune_forgets_old_evidence_and_mixes_outside_the_topology() {
        let t = topology(2);
        let mut h = RouteHealth::new(SUSPECT_FOR);
        h.record_failure(&attempt(0, &[10, 99]), S(1));
        h.record_success(&attempt(30, &[20]), S(31));
        h.prune(&t, S(30));
        assert_eq!(h.tracked(), 2, "99 is not a mix of the topology");
        assert!(h.is_suspect(&mix(10), S(30)));
        h.prune(&t, S(1) + SUSPECT_FOR);
        assert_eq!(h.tracked(), 1, "10's mark expired");
        h.prune(&t, S(30) + SUSPECT_FOR);
        assert_eq!(h.tracked(), 0);
    }
}
