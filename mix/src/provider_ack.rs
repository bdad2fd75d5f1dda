//! What the recipient's provider does with a packet at the final hop: store the payload
//! as-is and, once the store is durable, send the packet its slot builds
//! ([`crate::ack_slot`]): the ack home for a fragment, cover for anything else. The
//! provider cannot tell which; it fires every slot alike.
//!
//! Acking only after the write means an ack promises "in the recipient's mailbox", so the
//! sender may forget the fragment; a crash between write and ack costs a retransmission,
//! which the recipient's reassembly drops as a duplicate.

use crate::delivery::slot_of;
use crate::error::{BuildError, PayloadError};
use crate::node_id::NodeId;
use rand::Rng;
use thiserror::Error;

/// A packet to send after the store: to `first_hop` (the provider itself, which then
/// processes it like any packet it receives).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckPacket {
    pub first_hop: NodeId,
    pub packet: Vec<u8>,
}

/// Why a slot's packet cannot be built.
#[derive(Debug, Error)]
pub enum AckError {
    #[error("payload: {0}")]
    Payload(#[from] PayloadError),
    #[error("ack packet: {0}")]
    Build(#[from] BuildError),
}

/// Whether a final-hop payload is worth storing: a stored payload of the right size whose
/// slot parses. Anything else no honest sender builds, and its recipient could not read
/// it, so it is neither stored nor acked.
pub fn storable(plaintext: &[u8]) -> bool {
    slot_of(plaintext).is_ok()
}

/// The packet to send once `plaintext` (a final-hop payload) is stored at provider `me`.
pub fn ack_after_store<R: Rng + ?Sized>(
    me: &NodeId,
    rng: &mut R,
    plaintext: &[u8],
) -> Result<AckPacket, AckError> {
    let (first_hop, packet) = slot_of(plaintext)?.fire(me, rng)?;
    Ok(AckPacket { first_hop, packet })
}
