//! A simulated packet, small enough to travel in the event queue itself (56 bytes: with
//! its due time, one cache line), and the draws that make it so.
//!
//! Its holds are not stored: hop `i` of packet `serial` holds for the production
//! sampler's draw from a generator seeded by (run key, serial, i), so the hold is the same
//! whenever it is asked for: at each hop in an opaque run, all at once when a
//! `--real-sphinx` run builds the header. Both modes then draw the same holds and the
//! run's own generator the same values in the same order.

use rand::SeedableRng;
use rand::rngs::SmallRng;
use wesh_mix::HopDelaySampler;
use wesh_mix::params::MIX_LAYERS;

/// Longest route: a provider, every layer, a provider.
pub const MAX_ROUTE: usize = MIX_LAYERS + 2;

/// What a packet is, as only its sender and its last node know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A real message to client `to`, written at `written` (ns).
    Real { to: u32, written: u64 },
    /// The real stream had nothing to send.
    Drop,
    /// A client's loop back to itself.
    Loop,
    /// The SURB-ack of a stored real message, back to its sender.
    Ack { to: u32 },
    /// A mix's or provider's loop back to itself.
    RelayLoop,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet {
    /// Numbers the packets of a run in the order they were made; its holds come from it.
    pub serial: u64,
    /// When it left its sender (ns).
    pub sent: u64,
    pub kind: Kind,
    /// Its handle while in flight (the estimates' and the Sphinx lab's key).
    pub handle: u32,
    /// The sending client (`u32::MAX` for relay loops and acks).
    pub sender: u32,
    /// Node indices of the route, from the first node that holds it.
    pub route: [u16; MAX_ROUTE],
    pub len: u8,
    /// Index in `route` of the node it is at or travelling to.
    pub hop: u8,
}

impl Packet {
    pub fn at(&self) -> u16 {
        self.route.get(usize::from(self.hop)).copied().unwrap_or(0)
    }

    pub fn is_last_hop(&self) -> bool {
        self.hop + 1 >= self.len
    }
}

/// The holds of every packet of a run.
#[derive(Debug, Clone)]
pub struct HoldDraws {
    sampler: HopDelaySampler,
    key: u64,
}

impl HoldDraws {
    pub fn new(sampler: HopDelaySampler, key: u64) -> Self {
        HoldDraws { sampler, key }
    }

    /// The hold of packet `serial` at hop `hop`, in ns.
    pub fn hold(&self, serial: u64, hop: u8) -> u64 {
        let seed = self.key ^ serial.wrapping_mul(8).wrapping_add(u64::from(hop));
        let mut rng = SmallRng::seed_from_u64(seed);
        let d = self.sampler.sample(&mut rng);
        u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
    }
}

/// Handles of packets in flight: the lowest free one is not needed, only reuse (a
/// handle's estimate vectors keep their room).
#[derive(Debug, Default)]
pub struct Handles {
    next: u32,
    free: Vec<u32>,
}

impl Handles {
    pub fn take(&mut self) -> u32 {
        self.free.pop().unwrap_or_else(|| {
            self.next += 1;
            self.next - 1
        })
    }

    pub fn give_back(&mut self, h: u32) {
        self.free.push(h);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_packet_and_its_due_time_fill_one_cache_line() {
        assert!(
            std::mem::size_of::<Packet>() <= 56,
            "{}",
            std::mem::size_of::<Packet>()
        );
    }

    #[test]
    fn holds_are_the_same_whenever_asked_and_exponential() {
        let draws = HoldDraws::new(HopDelaySampler::new(Duration::from_millis(200)), 7);
        assert_eq!(draws.hold(12, 3), draws.hold(12, 3));
        assert_ne!(draws.hold(12, 3), draws.hold(12, 2));
        assert_ne!(draws.hold(12, 3), draws.hold(13, 3));
        let n = 20_000u64;
        let mean = (0..n).map(|s| draws.hold(s, 1) as f64).sum::<f64>() / n as f64;
        // the standard error of the mean of 20,000 exponential draws is 0.7 %
        assert!((mean / 200e6 - 1.0).abs() < 0.03, "mean {mean} ns");
    }

    #[test]
    fn handles_are_reused() {
        let mut h = Handles::default();
        let (a, b) = (h.take(), h.take());
        assert_ne!(a, b);
        h.give_back(a);
        assert_eq!(h.take(), a);
        assert_eq!(h.take(), 2);
    }
}
