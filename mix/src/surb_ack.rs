//! SURB-acks: a reply block the sender puts in every fragment packet so that the recipient's
//! provider, once it has stored the fragment, can send an ack back without knowing who the
//! sender is.
//!
//! The SURB's route is recipient's provider → L1 → L2 → L3 → sender's provider, its
//! destination the sender client, its delays drawn by the sender (so the sender knows when to
//! expect the ack). The ack packet is an ordinary full-size Sphinx packet whose plaintext is
//! `MixPayload::Ack { id }`.
//!
//! The SURB is a [`ReplySurb`] (seeded: its holder can predict the ack's payload at every
//! hop; the ack carries nothing but a random id, and the holder is the recipient's
//! provider, which already knows it relayed an ack).

use crate::error::{BuildError, PayloadError};
use crate::node_id::NodeId;
use crate::params::{ACK_ID_BYTES, SURB_BYTES};
use crate::payload::MixPayload;
use crate::reply_surb::ReplySurb;
use crate::topology::RouteNode;
use rand::Rng;
use std::fmt;
use std::time::Duration;

/// An ack id and the SURB that carries it home. Always [`SURB_ACK_BYTES`] long on the
/// wire.
///
/// [`SURB_ACK_BYTES`]: crate::params::SURB_ACK_BYTES
#[derive(Clone, PartialEq, Eq)]
pub struct SurbAck {
    pub id: u64,
    surb: ReplySurb,
}

impl fmt::Debug for SurbAck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SurbAck").field("id", &self.id).finish()
    }
}

impl SurbAck {
    /// Builds a SURB along `route` (first element = the recipient's provider, last = the
    /// sender's provider) for the client `destination`, with `delays[i]` the hold time at
    /// `route[i]`.
    pub fn build<R: Rng + ?Sized>(
        rng: &mut R,
        route: &[RouteNode],
        delays: &[Duration],
        destination: NodeId,
        id: u64,
    ) -> Result<Self, BuildError> {
        Ok(SurbAck {
            id,
            surb: ReplySurb::build(rng, route, delays, destination)?,
        })
    }

    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.id.to_be_bytes());
        out.extend_from_slice(self.surb.as_bytes());
    }

    /// Reads a SURB-ack off the front of `bytes`; returns it and the rest.
    pub fn decode_prefix(bytes: &[u8]) -> Result<(Self, &[u8]), PayloadError> {
        let (id, rest) = bytes
            .split_first_chunk::<ACK_ID_BYTES>()
            .ok_or(PayloadError::Truncated)?;
        let (surb, rest) = rest
            .split_at_checked(SURB_BYTES)
            .ok_or(PayloadError::Truncated)?;
        // Parsed once so that a broken SURB is refused here, not when the provider acks.
        let surb = ReplySurb::from_bytes(surb).map_err(|_| PayloadError::BadSurbAck)?;
        Ok((
            SurbAck {
                id: u64::from_be_bytes(*id),
                surb,
            },
            rest,
        ))
    }

    /// Turns the SURB-ack into the ack packet: where to send it first (the SURB's first hop,
    /// normally the provider holding it) and the full-size packet carrying `Ack { id }`.
    pub fn into_packet(self) -> Result<(NodeId, Vec<u8>), BuildError> {
        let plaintext = MixPayload::Ack { id: self.id }.encode();
        self.surb.into_packet(&plaintext)
    }
}
