//! What a client learns from reliable traffic: received messages, delivered and failed sends.

use crate::fragment::MessageId;
use crate::payload::MixPayload;
use crate::reassembly::{Abandoned, ReassemblyError};
use crate::retransmit::FailureReason;

/// Returned by `ClientTraffic::on_received` and `ClientTraffic::take_events`.
#[derive(Debug, PartialEq, Eq)]
pub enum ClientEvent {
    /// A reliable message was reassembled. `id` is the sender's random wire id (the sender's
    /// own `u64` id never leaves the sender).
    MessageReceived { id: MessageId, bytes: Vec<u8> },
    /// Every fragment of our message `id` (as `send_message` returned it) was acked.
    MessageDelivered { id: u64 },
    /// Our message `id` was given up.
    MessageFailed { id: u64, reason: FailureReason },
    /// An incomplete incoming message timed out, or was evicted to make room, and was dropped.
    IncomingAbandoned(Abandoned),
    /// An incoming fragment or payload was refused.
    Rejected(RejectReason),
    /// A payload outside reliable delivery (`Real`, `Loop`, `Drop`): handled by the caller as
    /// before.
    Other(MixPayload),
}

#[derive(Debug, PartialEq, Eq)]
pub enum RejectReason {
    Payload(crate::error::PayloadError),
    Reassembly(ReassemblyError),
}
