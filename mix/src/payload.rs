//! What a final hop finds inside a Sphinx payload: a kind byte, then the body.
//!
//! Kinds let the recipient tell its own loops from real traffic. Real bodies are opaque to
//! the mix layer (the client layers above seal them end to end).

use crate::error::PayloadError;

const KIND_REAL: u8 = 1;
const KIND_LOOP: u8 = 2;
const KIND_DROP: u8 = 3;

/// Contents of one packet's plaintext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MixPayload {
    /// Application bytes for the recipient client.
    Real(Vec<u8>),
    /// A loop returning to its sender; the id lets the sender match it to its departure.
    Loop { id: u64 },
    /// Drop cover: the recipient's provider discards it.
    Drop,
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
        }
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, PayloadError> {
        let (&kind, rest) = bytes.split_first().ok_or(PayloadError::Empty)?;
        match kind {
            KIND_REAL => Ok(MixPayload::Real(rest.to_vec())),
            KIND_LOOP => {
                let id: [u8; 8] = rest
                    .get(..8)
                    .and_then(|b| b.try_into().ok())
                    .ok_or(PayloadError::Truncated)?;
                Ok(MixPayload::Loop {
                    id: u64::from_be_bytes(id),
                })
            }
            KIND_DROP => Ok(MixPayload::Drop),
            other => Err(PayloadError::UnknownKind(other)),
        }
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
}
