//! What a provider stores for a client: `SURB-ack slot ‖ seal(recipient, inner)`, always
//! [`DELIVERY_BYTES`] long. The provider can read the slot (to fire it once the payload is
//! stored) and nothing else: not the kind, not a fragment's header, not a loop's or an
//! ack's id. `inner` is `body length (u16) ‖ MixPayload ‖ zeros`.
//!
//! An ack's stored payload is the exception the provider cannot see: the SURB-ack of the
//! fragment it answers carried only its front (a cover slot SURB and the ack sealed to the
//! sender), and the recipient's provider padded it ([`crate::ack_slot::ack_plaintext`]).
//! The recipient therefore tries the sealed ack where an ack keeps it when the full seal
//! does not open.

use crate::ack_slot::{ACK_SEALED_RANGE, AckSlot};
use crate::error::{BuildError, PayloadError};
use crate::params::{ACK_SLOT_BYTES, DELIVERY_BYTES, DELIVERY_INNER_BYTES};
use crate::payload::MixPayload;
use crate::payload_seal::{ReceiveKey, seal};
use rand::Rng;
use zeroize::Zeroizing;

/// Largest encoded [`MixPayload`] a stored payload holds.
pub const MAX_INNER_PAYLOAD_BYTES: usize = DELIVERY_INNER_BYTES - 2;

/// The stored payload carrying `payload` to the holder of `recipient` (an X25519 key),
/// led by `slot`.
pub fn seal_delivery<R: Rng + ?Sized>(
    rng: &mut R,
    slot: &AckSlot,
    recipient: &[u8; 32],
    payload: &MixPayload,
) -> Result<Vec<u8>, BuildError> {
    let encoded = Zeroizing::new(payload.encode());
    let len = u16::try_from(encoded.len())
        .ok()
        .filter(|&l| usize::from(l) <= MAX_INNER_PAYLOAD_BYTES)
        .ok_or(BuildError::MessageTooLong {
            len: encoded.len(),
            max: MAX_INNER_PAYLOAD_BYTES,
        })?;
    let mut inner = Zeroizing::new(vec![0u8; DELIVERY_INNER_BYTES]);
    inner[..2].copy_from_slice(&len.to_be_bytes());
    inner[2..2 + encoded.len()].copy_from_slice(&encoded);
    let mut out = Vec::with_capacity(DELIVERY_BYTES);
    slot.encode_into(&mut out);
    let sealed = seal(rng, recipient, &inner).map_err(|e| BuildError::Seal(e.to_string()))?;
    out.extend_from_slice(&sealed);
    debug_assert_eq!(out.len(), DELIVERY_BYTES);
    Ok(out)
}

/// The stored payload carrying `payload` to the holder of `recipient`, led by a cover slot
/// whose SURBs both run along `route` with no delays: for callers with a route but no
/// client core (tools and tests; a client draws routes and delays per slot).
pub fn seal_with_cover_over<R: Rng + ?Sized>(
    rng: &mut R,
    route: &[crate::topology::RouteNode],
    recipient: &[u8; 32],
    payload: &MixPayload,
) -> Result<Vec<u8>, BuildError> {
    let delays = vec![std::time::Duration::ZERO; route.len()];
    let r = crate::ack_slot::SlotRoute {
        route,
        delays: &delays,
    };
    let slot = AckSlot::cover(rng, r, r)?;
    seal_delivery(rng, &slot, recipient, payload)
}

/// [`seal_with_cover_over`] a uniformly random route of `topology` from `storing_provider`
/// (the provider that will store the payload and fire its slot) to a random provider.
pub fn seal_with_random_cover<R: Rng + ?Sized>(
    rng: &mut R,
    topology: &crate::topology::Topology,
    storing_provider: &crate::node_id::NodeId,
    recipient: &[u8; 32],
    payload: &MixPayload,
) -> Result<Vec<u8>, BuildError> {
    let to = topology.random_provider(rng)?.id;
    let route = topology.forward_route(rng, storing_provider, &to)?;
    seal_with_cover_over(rng, &route, recipient, payload)
}

/// The slot of a stored payload (what its provider fires), refusing anything that is not
/// a well-formed stored payload.
pub fn slot_of(stored: &[u8]) -> Result<AckSlot, PayloadError> {
    if stored.len() != DELIVERY_BYTES {
        return Err(PayloadError::WrongLength(stored.len()));
    }
    Ok(AckSlot::decode_prefix(stored)?.0)
}

/// Opens a stored payload with the first of `keys` it was sealed to: the payload, or an
/// ack. `NotForUs` when none opens it (not sealed to us, altered, or junk).
pub fn open_delivery(keys: &[&ReceiveKey], stored: &[u8]) -> Result<MixPayload, PayloadError> {
    if stored.len() != DELIVERY_BYTES {
        return Err(PayloadError::WrongLength(stored.len()));
    }
    let sealed = &stored[ACK_SLOT_BYTES..];
    for key in keys {
        if let Some(inner) = key.open(sealed) {
            return decode_inner(&inner);
        }
    }
    let ack = &stored[ACK_SEALED_RANGE];
    for key in keys {
        if let Some(inner) = key.open(ack) {
            return match MixPayload::decode(&inner)? {
                p @ MixPayload::Ack { .. } => Ok(p),
                _ => Err(PayloadError::NotForUs),
            };
        }
    }
    Err(PayloadError::NotForUs)
}

fn decode_inner(inner: &[u8]) -> Result<MixPayload, PayloadError> {
    let (len, rest) = inner
        .split_first_chunk::<2>()
        .ok_or(PayloadError::Truncated)?;
    let len = usize::from(u16::from_be_bytes(*len));
    let (body, padding) = rest.split_at_checked(len).ok_or(PayloadError::Truncated)?;
    // one encoding per payload: the padding is zeros
    if padding.iter().any(|&b| b != 0) {
        return Err(PayloadError::TrailingBytes);
    }
    MixPayload::decode(body)
}

/// Stored payloads for unit tests: sealed to a key, led by a cover slot over a made-up
/// route (a SURB needs keys, not a live topology).
#[cfg(test)]
pub(crate) mod test_payloads {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::ack_slot::SlotRoute;
    use crate::node_id::NodeId;
    use crate::topology::RouteNode;
    use std::time::Duration;
    use x25519_dalek::{PublicKey, StaticSecret};

    pub(crate) fn made_up_route<R: Rng + ?Sized>(rng: &mut R) -> Vec<RouteNode> {
        (0..5u8)
            .map(|i| {
                let mut seed = [0u8; 32];
                rng.fill_bytes(&mut seed);
                RouteNode {
                    id: NodeId([i + 1; 32]),
                    sphinx_key: PublicKey::from(&StaticSecret::from(seed)),
                }
            })
            .collect()
    }

    pub(crate) fn cover_slot<R: Rng + ?Sized>(rng: &mut R) -> AckSlot {
        let route = made_up_route(rng);
        let delays = [Duration::ZERO; 5];
        let r = SlotRoute {
            route: &route,
            delays: &delays,
        };
        AckSlot::cover(rng, r, r).unwrap()
    }

    pub(crate) fn sealed<R: Rng + ?Sized>(
        rng: &mut R,
        to: &ReceiveKey,
        payload: &MixPayload,
    ) -> Vec<u8> {
        let route = made_up_route(rng);
        seal_with_cover_over(rng, &route, &to.public(), payload).unwrap()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::test_payloads::*;
    use super::*;
    use crate::ack_slot::{SlotRoute, ack_plaintext};
    use crate::node_id::NodeId;
    use crate::params::DELIVERY_BYTES;
    use crate::payload_seal::ClientKeys;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;
    use std::time::Duration;

    #[test]
    fn every_kind_is_the_same_size_and_opens_only_for_its_recipient() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let keys = ClientKeys::from_ed25519_seed(&[3; 32]);
        let other = ClientKeys::from_ed25519_seed(&[4; 32]);
        let (_, fragments) = crate::fragment::split_message(&mut rng, b"hello").unwrap();
        for payload in [
            MixPayload::Loop { id: 7 },
            MixPayload::Real(vec![9; MAX_INNER_PAYLOAD_BYTES - 1]),
            MixPayload::Fragment {
                fragment: fragments[0].clone(),
            },
        ] {
            let stored = sealed(&mut rng, &keys.identity, &payload);
            assert_eq!(stored.len(), DELIVERY_BYTES);
            assert!(slot_of(&stored).is_ok());
            assert_eq!(open_delivery(&[&keys.identity], &stored), Ok(payload));
            assert_eq!(
                open_delivery(&[&other.identity, &other.reply], &stored),
                Err(PayloadError::NotForUs)
            );
        }
        let too_long = MixPayload::Real(vec![0; MAX_INNER_PAYLOAD_BYTES]);
        let slot = cover_slot(&mut rng);
        assert!(seal_delivery(&mut rng, &slot, &keys.identity.public(), &too_long).is_err());
    }

    #[test]
    fn an_ack_opens_at_its_sender_after_the_providers_padding() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let sender = ClientKeys::from_ed25519_seed(&[5; 32]);
        let sender_id = ClientKeys::id_of_seed(&[5; 32]);
        let back = made_up_route(&mut rng);
        let cover = made_up_route(&mut rng);
        let delays = [Duration::ZERO; 5];
        let slot = AckSlot::ack(
            &mut rng,
            SlotRoute {
                route: &back,
                delays: &delays,
            },
            sender_id,
            &sender.identity.public(),
            0xfeed,
            SlotRoute {
                route: &cover,
                delays: &delays,
            },
        )
        .unwrap();
        let mut wire = Vec::new();
        slot.encode_into(&mut wire);
        // what the sender's provider stores: the ack body, padded by the recipient's provider
        let ack_body = &wire[crate::params::SLOT_SURB_BYTES..];
        let stored = ack_plaintext(&mut rng, ack_body);
        assert_eq!(stored.len(), DELIVERY_BYTES);
        assert!(
            slot_of(&stored).is_ok(),
            "an ack has a slot like any payload"
        );
        assert_eq!(
            open_delivery(&[&sender.identity], &stored),
            Ok(MixPayload::Ack { id: 0xfeed })
        );
        assert_eq!(
            open_delivery(&[&sender.reply], &stored),
            Err(PayloadError::NotForUs)
        );
        // the slot fires at whichever provider stores it
        assert!(
            slot_of(&stored)
                .unwrap()
                .fire(&NodeId([1; 32]), &mut rng)
                .is_ok()
        );
    }

    #[test]
    fn junk_is_refused_without_panicking() {
        let keys = ClientKeys::from_ed25519_seed(&[3; 32]);
        for junk in [
            vec![],
            vec![0u8; 10],
            vec![0u8; DELIVERY_BYTES],
            vec![0xff; DELIVERY_BYTES],
        ] {
            assert!(open_delivery(&[&keys.identity], &junk).is_err());
        }
        assert!(slot_of(&[0u8; 5]).is_err());
    }
}
