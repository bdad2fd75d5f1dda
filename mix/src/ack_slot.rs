//! The SURB-ack slot that leads every payload stored for a client. Once the recipient's
//! provider has stored the payload durably, it sends one packet on the slot's SURB; for a
//! fragment that packet is the ack going home to the sender, for anything else (loops,
//! acks, unreliable messages, data on reply blocks) it is cover that ends as a drop at a
//! random provider. Every slot is real and built alike, so the provider that fires it
//! cannot tell which (spec/security.md, `loop-id-leak`).
//!
//! Layout: `SURB body ‖ ack body` ([`ACK_SLOT_BYTES`]). The SURB's first hop is always
//! the storing provider, so it is not written down ([`crate::sphinx_surb`]). The ack body
//! ([`ACK_BODY_BYTES`]) is what the SURB carries; for an ack it is the front of the ack's
//! own stored payload at the sender's provider: a cover SURB body (the ack's own slot) ‖
//! the ack sealed to the sender. The provider pads it to a full payload with random bytes
//! and fresh X25519 keys where a stored payload has keys ([`ack_plaintext`]), so an ack
//! is shaped like every other stored payload.

use crate::error::{BuildError, PayloadError};
use crate::node_id::NodeId;
use crate::params::{
    ACK_BODY_BYTES, ACK_SEALED_BYTES, ACK_SLOT_BYTES, DELIVERY_BYTES, SLOT_SURB_BYTES,
};
use crate::payload::MixPayload;
use crate::payload_seal::{ReceiveKey, seal};
use crate::sphinx_surb::SphinxSurb;
use crate::topology::RouteNode;
use rand::{Rng, RngExt};
use std::fmt;
use std::time::Duration;

/// Where X25519 public keys sit in a stored payload: the slot SURB's header, the ack
/// body's SURB header, the ack body's seal, the payload's seal. An ack's stored payload
/// has its own keys at the first two; the provider puts fresh keys at the others.
const KEY_OFFSETS: [usize; 4] = [0, SLOT_SURB_BYTES, 2 * SLOT_SURB_BYTES, ACK_SLOT_BYTES];

/// A route and its per-hop delays, as a slot's builder takes them.
#[derive(Debug, Clone, Copy)]
pub struct SlotRoute<'a> {
    pub route: &'a [RouteNode],
    pub delays: &'a [Duration],
}

/// One slot: [`ACK_SLOT_BYTES`] on the wire.
#[derive(Clone, PartialEq, Eq)]
pub struct AckSlot {
    surb_body: Vec<u8>,
    ack_body: Vec<u8>,
}

impl fmt::Debug for AckSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // the seeds let the holder compute the packet at every hop: never printed
        f.debug_struct("AckSlot").finish_non_exhaustive()
    }
}

impl AckSlot {
    /// A slot that brings `Ack { id }` home to `sender`: `back` runs from the recipient's
    /// provider to the sender's provider, `cover` (the ack's own slot) from the sender's
    /// provider to any provider; `sender_key` is the sender's receive key.
    pub fn ack<R: Rng + ?Sized>(
        rng: &mut R,
        back: SlotRoute<'_>,
        sender: NodeId,
        sender_key: &[u8; 32],
        id: u64,
        cover: SlotRoute<'_>,
    ) -> Result<Self, BuildError> {
        let surb = SphinxSurb::build(rng, back.route, back.delays, sender)?;
        let ack_body = ack_body(rng, cover, sender_key, id)?;
        Self::from_parts(&surb, ack_body)
    }

    /// A cover slot: its SURB runs along `route` (first = the provider that will store the
    /// payload) to the cover destination; its ack body is shaped like an ack's (a cover
    /// SURB along `body` and a seal to a throwaway key), and is dropped on arrival.
    pub fn cover<R: Rng + ?Sized>(
        rng: &mut R,
        route: SlotRoute<'_>,
        body: SlotRoute<'_>,
    ) -> Result<Self, BuildError> {
        let surb = SphinxSurb::build(rng, route.route, route.delays, COVER)?;
        let throwaway = ReceiveKey::random(rng).public();
        let id: u64 = rng.random();
        let ack_body = ack_body(rng, body, &throwaway, id)?;
        Self::from_parts(&surb, ack_body)
    }

    fn from_parts(surb: &SphinxSurb, ack_body: Vec<u8>) -> Result<Self, BuildError> {
        let mut surb_body = Vec::with_capacity(SLOT_SURB_BYTES);
        surb.body_into(&mut surb_body);
        if surb_body.len() != SLOT_SURB_BYTES || ack_body.len() != ACK_BODY_BYTES {
            return Err(BuildError::Sphinx("slot of the wrong size".into()));
        }
        Ok(AckSlot {
            surb_body,
            ack_body,
        })
    }

    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.surb_body);
        out.extend_from_slice(&self.ack_body);
    }

    /// Reads a slot off the front of `bytes`; returns it and the rest. The SURB is parsed
    /// (with a placeholder first hop) so that a broken one is refused here.
    pub fn decode_prefix(bytes: &[u8]) -> Result<(Self, &[u8]), PayloadError> {
        let (surb_body, rest) = bytes
            .split_at_checked(SLOT_SURB_BYTES)
            .ok_or(PayloadError::Truncated)?;
        let (ack_body, rest) = rest
            .split_at_checked(ACK_BODY_BYTES)
            .ok_or(PayloadError::Truncated)?;
        SphinxSurb::from_body(&NodeId([0; 32]), surb_body).map_err(|_| PayloadError::BadSurbAck)?;
        Ok((
            AckSlot {
                surb_body: surb_body.to_vec(),
                ack_body: ack_body.to_vec(),
            },
            rest,
        ))
    }

    /// The packet the provider `me` sends once it has stored the payload this slot led:
    /// the ack body padded into a full payload ([`ack_plaintext`]), on the SURB whose first
    /// hop is `me`. Returns the first hop (always `me`) and the packet.
    pub fn fire<R: Rng + ?Sized>(
        &self,
        me: &NodeId,
        rng: &mut R,
    ) -> Result<(NodeId, Vec<u8>), BuildError> {
        let surb = SphinxSurb::from_body(me, &self.surb_body)
            .map_err(|_| BuildError::Sphinx("slot SURB does not parse".into()))?;
        surb.into_packet(&ack_plaintext(rng, &self.ack_body))
    }
}

/// An ack body: the body of a cover SURB along `cover` (the ack's own slot) ‖ `Ack { id }`
/// sealed to `key`.
fn ack_body<R: Rng + ?Sized>(
    rng: &mut R,
    cover: SlotRoute<'_>,
    key: &[u8; 32],
    id: u64,
) -> Result<Vec<u8>, BuildError> {
    let surb = SphinxSurb::build(rng, cover.route, cover.delays, COVER)?;
    let mut body = Vec::with_capacity(ACK_BODY_BYTES);
    surb.body_into(&mut body);
    let sealed = seal(rng, key, &MixPayload::Ack { id }.encode())
        .map_err(|e| BuildError::Seal(e.to_string()))?;
    body.extend_from_slice(&sealed);
    Ok(body)
}

/// Where cover ends: the all-zero destination, which providers discard.
const COVER: NodeId = crate::hop_rules::COVER_DESTINATION;

/// An ack body padded to a full stored payload: random bytes after it, with fresh X25519
/// public keys at the key offsets it does not cover, so that the sender's provider sees a
/// payload shaped like any other.
pub fn ack_plaintext<R: Rng + ?Sized>(rng: &mut R, ack_body: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; DELIVERY_BYTES];
    let n = ack_body.len().min(DELIVERY_BYTES);
    out[..n].copy_from_slice(&ack_body[..n]);
    rng.fill_bytes(&mut out[n..]);
    for at in KEY_OFFSETS {
        if at >= n && at + 32 <= DELIVERY_BYTES {
            out[at..at + 32].copy_from_slice(&ReceiveKey::random(rng).public());
        }
    }
    out
}

/// Where the sealed ack sits in an ack's stored payload: after the ack's own slot SURB.
pub(crate) const ACK_SEALED_RANGE: std::ops::Range<usize> =
    SLOT_SURB_BYTES..SLOT_SURB_BYTES + ACK_SEALED_BYTES;
