//! Reply blocks: what a holder needs to send a SURB's creator one packet without learning
//! where it goes. A responder hands a batch of them to its rendezvous provider, which
//! forwards contact requests with them, so the rendezvous provider never learns the
//! responder's provider or network address (spec/wesh-over-mixnet.md §4).
//!
//! A block is `SURB ‖ slot ‖ seal key` ([`REPLY_SURB_BYTES`]): the SURB's route is
//! `holder's provider → L1 → L2 → L3 → creator's provider`, its destination the creator,
//! its delays drawn by the creator; the slot is a cover slot from the creator's provider
//! (the holder cannot build one: it does not know that provider); the seal key is an
//! X25519 key of the creator's, not its identity, so that the holder cannot name the
//! creator. The packet is then an ordinary stored payload ([`crate::delivery`]). Mixes'
//! replay filters make each SURB usable once: a second packet on the same SURB repeats its
//! header, hence its replay tag, and is dropped at the first mix.

use crate::ack_slot::AckSlot;
use crate::delivery::seal_delivery;
use crate::error::{BuildError, PayloadError};
use crate::fragment::split_message;
use crate::node_id::NodeId;
use crate::params::{ACK_SLOT_BYTES, REPLY_SURB_BYTES, SURB_BYTES};
use crate::payload::MixPayload;
use crate::sphinx_surb::SphinxSurb;
use crate::topology::RouteNode;
use rand::Rng;
use std::fmt;
use std::time::Duration;

/// A serialized reply block, always [`REPLY_SURB_BYTES`] long and known to parse.
#[derive(Clone, PartialEq, Eq)]
pub struct ReplySurb {
    surb: SphinxSurb,
    slot: AckSlot,
    seal_key: [u8; 32],
}

impl fmt::Debug for ReplySurb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // the payload key seeds are the holder's secret: never printed
        f.debug_struct("ReplySurb").finish_non_exhaustive()
    }
}

impl ReplySurb {
    /// A block along `route` (first = the holder's provider, last = the creator's) for the
    /// client `destination`, with `delays[i]` the hold time at `route[i]`, `slot` a cover
    /// slot from the creator's provider and `seal_key` the creator's reply key.
    pub fn build<R: Rng + ?Sized>(
        rng: &mut R,
        route: &[RouteNode],
        delays: &[Duration],
        destination: NodeId,
        slot: AckSlot,
        seal_key: [u8; 32],
    ) -> Result<Self, BuildError> {
        Ok(ReplySurb {
            surb: SphinxSurb::build(rng, route, delays, destination)?,
            slot,
            seal_key,
        })
    }

    /// Reads a block of exactly [`REPLY_SURB_BYTES`] bytes, refusing one that does not
    /// parse.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PayloadError> {
        if bytes.len() != REPLY_SURB_BYTES {
            return Err(PayloadError::BadSurb);
        }
        let (surb, rest) = bytes.split_at(SURB_BYTES);
        let (slot, key) = rest.split_at(ACK_SLOT_BYTES);
        let surb = SphinxSurb::from_bytes(surb)?;
        let (slot, _) = AckSlot::decode_prefix(slot).map_err(|_| PayloadError::BadSurb)?;
        let seal_key: [u8; 32] = key.try_into().map_err(|_| PayloadError::BadSurb)?;
        Ok(ReplySurb {
            surb,
            slot,
            seal_key,
        })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(REPLY_SURB_BYTES);
        out.extend_from_slice(self.surb.as_bytes());
        self.slot.encode_into(&mut out);
        out.extend_from_slice(&self.seal_key);
        out
    }

    /// The packet carrying `payload` to the creator on this block, and where to send it
    /// first (the SURB's first hop, normally the provider holding it).
    pub fn into_packet<R: Rng + ?Sized>(
        self,
        rng: &mut R,
        payload: &MixPayload,
    ) -> Result<(NodeId, Vec<u8>), BuildError> {
        let stored = seal_delivery(rng, &self.slot, &self.seal_key, payload)?;
        self.surb.into_packet(&stored)
    }
}

/// Sends `message` to a SURB's creator on `surbs`, one fragment per block: the packets and
/// their first hops. The creator reassembles the fragments like any reliable message
/// ([`crate::ClientTraffic::on_received`]); nothing acks them, so a caller that needs
/// delivery asks the creator to confirm through the layer above. Fails without using any
/// block when there are fewer blocks than fragments.
pub fn reply_packets<R: Rng + ?Sized>(
    rng: &mut R,
    message: &[u8],
    surbs: &mut Vec<ReplySurb>,
) -> Result<Vec<(NodeId, Vec<u8>)>, BuildError> {
    let (_, fragments) = split_message(rng, message).map_err(|_| BuildError::MessageTooLong {
        len: message.len(),
        max: crate::params::MAX_MESSAGE_BYTES,
    })?;
    if fragments.len() > surbs.len() {
        return Err(BuildError::NotEnoughSurbs {
            need: fragments.len(),
            have: surbs.len(),
        });
    }
    let mut out = Vec::with_capacity(fragments.len());
    for fragment in fragments {
        let Some(surb) = surbs.pop() else {
            break;
        };
        out.push(surb.into_packet(rng, &MixPayload::SurbData { fragment })?);
    }
    Ok(out)
}

/// Reply blocks a message of `len` bytes needs with [`reply_packets`].
pub fn surbs_needed(len: usize) -> usize {
    crate::fragment::fragment_count(len)
}
