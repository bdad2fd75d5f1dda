//! The same entropy metric from a live network: what a global passive observer of its
//! links saw, replayed through the simulator's [`PoolVector`] and [`EntropyMeter`].
//!
//! The observer sees each packet leave a relay and arrive at the next (the same bytes on
//! one link), never which departure of a relay was which of its arrivals. Like the
//! simulator's adversary it is told two things a link alone does not show: which
//! arrivals end at a provider (a stored payload never leaves) and which departures are a
//! relay's own new cover (it enters the next pool with no estimate). Both make it a little
//! stronger than a pure link observer, so the entropy it reports is a lower bound.

use crate::meter::{EntropyMeter, EntropySummary};
use crate::pool_vector::{PoolVector, TargetVector};
use std::collections::HashMap;

/// One thing the observer saw, at nanoseconds since the trace's origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkEvent {
    /// A client put a packet on the link to its provider; `eligible` when it may be a
    /// target (a packet of the client's real stream, not a loop).
    Sent { tag: u64, eligible: bool },
    /// A packet that the relay will forward entered its pool.
    Pooled { relay: u32, tag: u64 },
    /// A packet left the relay; `exit` when it left the last mix layer (for a provider).
    Departed { relay: u32, tag: u64, exit: bool },
}

/// A time-stamped list of [`LinkEvent`]s, in any order (it is sorted before replay).
#[derive(Debug, Clone, Default)]
pub struct LinkTrace {
    events: Vec<(u64, LinkEvent)>,
}

/// The entropy of the targets the observer followed, and how many it chose.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TraceAnonymity {
    pub entropy: EntropySummary,
    /// Packets put on client links during the target window.
    pub client_packets: u64,
    /// Times a packet left the last mix layer (over the whole trace).
    pub exits: u64,
}

impl LinkTrace {
    pub fn record(&mut self, at_ns: u64, event: LinkEvent) {
        self.events.push((at_ns, event));
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Replays the trace: up to `targets` targets, the first eligible client packet at
    /// or after each of `targets` instants spread evenly over `[from_ns, to_ns)`.
    pub fn analyse(&self, from_ns: u64, to_ns: u64, targets: u32) -> TraceAnonymity {
        let mut events = self.events.clone();
        // stable: events of one instant keep the order they were recorded in
        events.sort_by_key(|(at, _)| *at);
        let span = to_ns.saturating_sub(from_ns);
        let instant = |k: u32| from_ns + span / u64::from(targets.max(1)) * u64::from(k);
        let mut meter = EntropyMeter::new(targets);
        let mut pools: HashMap<u32, PoolVector> = HashMap::new();
        let mut in_flight: HashMap<u64, TargetVector> = HashMap::new();
        let (mut next, mut client_packets, mut exits) = (0u32, 0u64, 0u64);
        for (at, event) in events {
            match event {
                LinkEvent::Sent { tag, eligible } => {
                    let window = (from_ns..to_ns).contains(&at);
                    client_packets += u64::from(window);
                    if eligible && window && next < targets && at >= instant(next) {
                        in_flight.insert(tag, vec![(next, 1.0)]);
                        meter.sent(next);
                        next += 1;
                    }
                }
                LinkEvent::Pooled { relay, tag } => {
                    let v = in_flight.remove(&tag).unwrap_or_default();
                    pools.entry(relay).or_default().arrive(&v);
                }
                LinkEvent::Departed { relay, tag, exit } => {
                    let v = pools.entry(relay).or_default().depart();
                    if exit {
                        exits += 1;
                        meter.exit(&v);
                    } else if !v.is_empty() {
                        in_flight.insert(tag, v);
                    }
                }
            }
        }
        TraceAnonymity {
            entropy: meter.summary(),
            client_packets,
            exits,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use LinkEvent::*;

    #[test]
    fn a_target_alone_in_every_pool_has_no_entropy() {
        let mut t = LinkTrace::default();
        t.record(
            0,
            Sent {
                tag: 1,
                eligible: true,
            },
        );
        t.record(1, Pooled { relay: 0, tag: 1 });
        t.record(
            2,
            Departed {
                relay: 0,
                tag: 2,
                exit: false,
            },
        );
        t.record(3, Pooled { relay: 1, tag: 2 });
        t.record(
            4,
            Departed {
                relay: 1,
                tag: 3,
                exit: true,
            },
        );
        let a = t.analyse(0, 10, 1);
        assert_eq!(a.entropy.targets, 1);
        assert_eq!(a.entropy.mean_bits, 0.0);
        assert_eq!(a.entropy.mass, 1.0);
        assert_eq!(a.exits, 1);
    }

    #[test]
    fn a_target_pooled_with_three_others_has_two_bits_in_any_recording_order() {
        let mut t = LinkTrace::default();
        // three untagged packets already wait in the last mix
        for tag in 10..13 {
            t.record(5, Pooled { relay: 7, tag });
        }
        t.record(
            20,
            Departed {
                relay: 7,
                tag: 100,
                exit: true,
            },
        );
        t.record(
            21,
            Departed {
                relay: 7,
                tag: 101,
                exit: true,
            },
        );
        t.record(
            22,
            Departed {
                relay: 7,
                tag: 102,
                exit: true,
            },
        );
        t.record(
            23,
            Departed {
                relay: 7,
                tag: 103,
                exit: true,
            },
        );
        t.record(10, Pooled { relay: 7, tag: 1 });
        t.record(
            9,
            Sent {
                tag: 1,
                eligible: true,
            },
        );
        // a loop is never a target; a packet sent before the window neither
        t.record(
            1,
            Sent {
                tag: 10,
                eligible: true,
            },
        );
        t.record(
            9,
            Sent {
                tag: 11,
                eligible: false,
            },
        );
        let a = t.analyse(8, 30, 1);
        assert_eq!(a.entropy.targets, 1);
        // each departure takes the pool's mean: 1/4, 1/4, 1/4, 1/4 of the target
        assert!((a.entropy.mean_bits - 2.0).abs() < 1e-9, "{a:?}");
        assert!((a.entropy.mass - 1.0).abs() < 1e-9);
        assert_eq!(a.client_packets, 2);
    }

    #[test]
    fn targets_spread_over_the_window_and_unsent_targets_do_not_count() {
        let mut t = LinkTrace::default();
        for i in 0..10u64 {
            t.record(
                i * 10,
                Sent {
                    tag: i,
                    eligible: true,
                },
            );
        }
        // 4 instants over [0, 100): 0, 25, 50, 75 take the packets of 0, 30, 50, 80
        let a = t.analyse(0, 100, 4);
        assert_eq!(a.entropy.targets, 4);
        // none left the mixnet: no mass, no entropy
        assert_eq!(a.entropy.mass, 0.0);
        let a = t.analyse(0, 100, 20);
        assert_eq!(a.entropy.targets, 10, "one packet cannot be two targets");
    }
}
