//! A packet a core wants sent, and what kind of traffic it is (for the sender's metrics only:
//! on the wire all kinds look alike).

use crate::node_id::NodeId;
use crate::topology::ClientAddress;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrafficKind {
    /// A queued real message, with the id `enqueue` returned.
    Real { id: u64, to: ClientAddress },
    /// A loop that should come back to the sender.
    Loop { id: u64 },
    /// Drop cover (from the drop stream, or the real stream with an empty queue).
    Drop,
    /// Fragment `index` of the reliable message `message` (the id `send_message` returned);
    /// `retransmission` when an earlier attempt was not acked in time.
    Fragment {
        message: u64,
        index: u32,
        retransmission: bool,
    },
}

/// Send `packet` to `first_hop` now.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub first_hop: NodeId,
    pub packet: Vec<u8>,
    pub kind: TrafficKind,
    /// Sum of the per-hop delays the sender drew for this packet.
    pub sampled_delay: Duration,
}
