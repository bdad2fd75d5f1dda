//! What a packet carries for its recipient: a kind byte, then the body.
//!
//! Kinds let the recipient tell its own loops from real traffic. For a client (or a
//! provider service) the payload is sealed to the recipient inside a stored payload
//! ([`crate::delivery`]), so its provider reads none of this; a mix's own loops and drop
//! cover travel as they are (the final hop of a mix loop is the mix itself, and drops are
//! discarded unread).

use crate::error::PayloadError;
use crate::fragment::Fragment;
use crate::params::ACK_ID_BYTES;

const KIND_REAL: u8 = 1;
const KIND_LOOP: u8 = 2;
const KIND_DROP: u8 = 3;
const KIND_FRAGMENT: u8 = 4;
const KIND_ACK: u8 = 5;
const KIND_SURB_DATA: u8 = 6;

/// Contents of one packet's plaintext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MixPayload {
    /// Application bytes for the recipient client.
    Real(Vec<u8>),
    /// A loop returning to its sender; the id lets the sender match it to its departure.
    Loop { id: u64 },
    /// Drop cover: the recipient's provider discards it.
    Drop,
    /// One fragment of a reliable message (its SURB-ack is the stored payload's slot).
    Fragment { fragment: Fragment },
    /// The ack of a stored fragment, travelling home on a SURB-ack.
    Ack { id: u64 },
    /// One fragment of a message travelling to a SURB's creator on a reply SURB
    /// ([`crate::reply_surb`]); it has no SURB-ack (its sender has no route to the
    /// creator). Layout: kind ‖ fragment.
    SurbData { fragment: Fragment },
}

impl MixPayload {
    pub fn encode(&self) -> Vec<u8> {
        match self {
            MixPayload::Real(body) => {
                let mut out = Vec::with_capacity(1 + body.len());
                out.push(KIND_REAL);
                out.extend_from_slice(body);
                out
            }
            MixPayload::Loop { id } => {
                let mut out = vec![KIND_LOOP];
                out.extend_from_slice(&id.to_be_bytes());
                out
            }
            MixPayload::Drop => vec![KIND_DROP],
            MixPayload::Fragment { fragment } => {
                let mut out = Vec::with_capacity(1 + fragment.encoded_len());
                out.push(KIND_FRAGMENT);
                fragment.encode_into(&mut out);
                out
            }
            MixPayload::Ack { id } => {
                let mut out = vec![KIND_ACK];
                out.extend_from_slice(&id.to_be_bytes());
                out
            }
            MixPayload::SurbData { fragment } => {
                let mut out = Vec::with_capacity(1 + fragment.encoded_len());
                out.push(KIND_SURB_DATA);
                fragment.encode_into(&mut out);
                out
            }
        }
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, PayloadError> {
        let (&kind, rest) = bytes.split_first().ok_or(PayloadError::Empty)?;
        match kind {
            KIND_REAL => Ok(MixPayload::Real(rest.to_vec())),
            KIND_LOOP => Ok(MixPayload::Loop {
                id: u64::from_be_bytes(exact::<8>(rest)?),
            }),
            KIND_DROP => {
                exact::<0>(rest)?;
                Ok(MixPayload::Drop)
            }
            KIND_FRAGMENT => Ok(MixPayload::Fragment {
                fragment: Fragment::decode(rest)?,
            }),
            KIND_ACK => Ok(MixPayload::Ack {
                id: u64::from_be_bytes(exact::<ACK_ID_BYTES>(rest)?),
            }),
            KIND_SURB_DATA => Ok(MixPayload::SurbData {
                fragment: Fragment::decode(rest)?,
            }),
            other => Err(PayloadError::UnknownKind(other)),
        }
    }
}

/// The body of a fixed-size kind: exactly `N` bytes, so each payload has one encoding.
fn exact<const N: usize>(rest: &[u8]) -> Result<[u8; N], PayloadError> {
    match rest.split_first_chunk::<N>() {
        Some((body, [])) => Ok(*body),
        Some(_) => Err(PayloadError::TrailingBytes),
        None => Err(PayloadError::Truncated),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        for p in [
            MixPayload::Real(b"hi".to_vec()),
            MixPayload::Loop { id: 42 },
            MixPayload::Drop,
        ] {
            assert_eq!(MixPayload::decode(&p.encode()), Ok(p));
        }
        assert_eq!(MixPayload::decode(&[]), Err(PayloadError::Empty));
        assert_eq!(MixPayload::decode(&[2, 1, 2]), Err(PayloadError::Truncated));
        assert_eq!(MixPayload::decode(&[9]), Err(PayloadError::UnknownKind(9)));
    }

    #[test]
    fn ack_round_trip_and_truncation() {
        let ack = MixPayload::Ack { id: u64::MAX - 3 };
        assert_eq!(MixPayload::decode(&ack.encode()), Ok(ack));
        assert_eq!(
            MixPayload::decode(&[5, 1, 2, 3]),
            Err(PayloadError::Truncated)
        );
    }

    /// Found by fuzz/mix_payload: `[3, 0, 10]` decoded as `Drop` and re-encoded as `[3]`,
    /// so one value had many encodings (trailing bytes after a loop or ack id, too).
    #[test]
    fn trailing_bytes_after_a_fixed_size_kind_are_refused() {
        for bytes in [
            &[3u8, 0, 10][..],
            &[2, 0, 0, 0, 0, 0, 0, 0, 1, 0],
            &[5, 0, 0, 0, 0, 0, 0, 0, 1, 7],
        ] {
            assert_eq!(MixPayload::decode(bytes), Err(PayloadError::TrailingBytes));
        }
    }
}
