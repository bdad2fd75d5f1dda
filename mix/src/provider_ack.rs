//! What the recipient's provider does with a packet at the final hop: store the plaintext
//! as-is, and, if it is a fragment, send the ack its SURB-ack builds once the store is durable.
//!
//! Acking only after the write means an ack promises "in the recipient's mailbox", so the
//! sender may forget the fragment; a crash between write and ack costs a retransmission,
//! which the recipient's reassembly drops as a duplicate.

use crate::error::{BuildError, PayloadError};
use crate::node_id::NodeId;
use crate::payload::MixPayload;
use thiserror::Error;

/// An ack packet to send after the store: to `first_hop` (the SURB's first hop — normally
/// the provider itself, which then processes it like any packet it receives).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckPacket {
    pub first_hop: NodeId,
    pub packet: Vec<u8>,
}

/// Why a fragment's ack cannot be built (the plaintext should still be stored).
#[derive(Debug, Error)]
pub enum AckError {
    #[error("payload: {0}")]
    Payload(#[from] PayloadError),
    #[error("ack packet: {0}")]
    Build(#[from] BuildError),
}

/// Whether a final-hop payload is worth storing: false for a fragment (its SURB-ack well
/// formed) whose header fails the checks every reassembler applies (malformed, claiming more
/// than any message may be). Such a payload is neither stored nor acked, since the ack
/// would tell its sender "delivered" for a fragment the recipient will drop. Anything that
/// is not a fragment is stored as before.
pub fn storable(plaintext: &[u8]) -> bool {
    MixPayload::decode(plaintext).is_ok()
        || !matches!(MixPayload::surb_ack_of(plaintext), Ok(Some(_)))
}

/// The ack to send once `plaintext` (a final-hop payload) is stored: `Ok(None)` for payloads
/// that are not fragments. Cheap: only the SURB-ack prefix is parsed, the fragment is not
/// copied.
pub fn ack_after_store(plaintext: &[u8]) -> Result<Option<AckPacket>, AckError> {
    let Some(ack) = MixPayload::surb_ack_of(plaintext)? else {
        return Ok(None);
    };
    let (first_hop, packet) = ack.into_packet()?;
    Ok(Some(AckPacket { first_hop, packet }))
}
