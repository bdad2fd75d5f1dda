//! Splitting a message into fragments that each fit one Sphinx packet, and the fragment
//! header on the wire.
//!
//! Layout (big endian): version ‖ message id (16) ‖ message length (u32) ‖ index (u32) ‖
//! count (u32) ‖ data length (u16) ‖ data. Every fragment but the last carries exactly
//! [`FRAGMENT_DATA_BYTES`]; the header is checked against that rule on its own, so a
//! fragment is rejected before it touches any reassembly state.

use crate::params::{
    FRAGMENT_DATA_BYTES, FRAGMENT_FORMAT_VERSION, FRAGMENT_HEADER_BYTES, MAX_MESSAGE_BYTES,
    MESSAGE_ID_BYTES,
};
use rand::Rng;
use std::fmt;
use thiserror::Error;

/// Random id shared by all fragments of one message.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(pub [u8; MESSAGE_ID_BYTES]);

impl MessageId {
    pub fn random<R: Rng + ?Sized>(rng: &mut R) -> Self {
        let mut id = [0u8; MESSAGE_ID_BYTES];
        rng.fill_bytes(&mut id);
        MessageId(id)
    }
}

impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageId({})", hex::encode(self.0))
    }
}

/// Why a message cannot be fragmented or a fragment is not well formed.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum FragmentError {
    #[error("message of {len} bytes exceeds the {max}-byte limit")]
    MessageTooLong { len: usize, max: usize },
    #[error("fragment of {len} bytes is shorter than its {need}-byte header")]
    Truncated { len: usize, need: usize },
    #[error("fragment format version {0} is not supported")]
    UnsupportedVersion(u8),
    #[error("fragment declares {declared} data bytes but carries {actual}")]
    LengthMismatch { declared: usize, actual: usize },
    #[error("fragment count {count} does not match a {total_len}-byte message")]
    CountMismatch { count: u32, total_len: u32 },
    #[error("fragment index {index} is out of range for {count} fragments")]
    IndexOutOfRange { index: u32, count: u32 },
    #[error("fragment {index} carries {len} bytes, expected {expected}")]
    WrongDataLength {
        index: u32,
        len: usize,
        expected: usize,
    },
}

/// One piece of a message.
#[derive(Clone, PartialEq, Eq)]
pub struct Fragment {
    pub message: MessageId,
    /// Length of the whole message.
    pub total_len: u32,
    pub index: u32,
    pub count: u32,
    pub data: Vec<u8>,
}

impl fmt::Debug for Fragment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fragment")
            .field("message", &self.message)
            .field("total_len", &self.total_len)
            .field("index", &self.index)
            .field("count", &self.count)
            .field("data_len", &self.data.len())
            .finish()
    }
}

/// Fragments a message of `total_len` bytes needs (an empty message still sends one).
pub fn fragment_count(total_len: usize) -> usize {
    total_len.div_ceil(FRAGMENT_DATA_BYTES).max(1)
}

/// Data bytes fragment `index` of a `total_len`-byte message carries.
fn expected_data_len(total_len: usize, index: usize) -> usize {
    let start = index.saturating_mul(FRAGMENT_DATA_BYTES);
    total_len.saturating_sub(start).min(FRAGMENT_DATA_BYTES)
}

/// Splits `message` into fragments under a fresh random id.
pub fn split_message<R: Rng + ?Sized>(
    rng: &mut R,
    message: &[u8],
) -> Result<(MessageId, Vec<Fragment>), FragmentError> {
    if message.len() > MAX_MESSAGE_BYTES {
        return Err(FragmentError::MessageTooLong {
            len: message.len(),
            max: MAX_MESSAGE_BYTES,
        });
    }
    let id = MessageId::random(rng);
    // MAX_MESSAGE_BYTES < 2^32, so these conversions cannot fail after the check above.
    let total_len = u32::try_from(message.len()).map_err(|_| FragmentError::MessageTooLong {
        len: message.len(),
        max: MAX_MESSAGE_BYTES,
    })?;
    let count = fragment_count(message.len());
    let count_u32 = u32::try_from(count).map_err(|_| FragmentError::MessageTooLong {
        len: message.len(),
        max: MAX_MESSAGE_BYTES,
    })?;
    let mut chunks: Vec<&[u8]> = message.chunks(FRAGMENT_DATA_BYTES).collect();
    if chunks.is_empty() {
        chunks.push(&[]);
    }
    let fragments = chunks
        .into_iter()
        .zip(0u32..)
        .map(|(data, index)| Fragment {
            message: id,
            total_len,
            index,
            count: count_u32,
            data: data.to_vec(),
        })
        .collect();
    Ok((id, fragments))
}

impl Fragment {
    /// Checks the fragment against the rules every honest sender follows.
    pub fn validate(&self) -> Result<(), FragmentError> {
        let total = self.total_len as usize;
        if total > MAX_MESSAGE_BYTES {
            return Err(FragmentError::MessageTooLong {
                len: total,
                max: MAX_MESSAGE_BYTES,
            });
        }
        if self.count as usize != fragment_count(total) {
            return Err(FragmentError::CountMismatch {
                count: self.count,
                total_len: self.total_len,
            });
        }
        if self.index >= self.count {
            return Err(FragmentError::IndexOutOfRange {
                index: self.index,
                count: self.count,
            });
        }
        let expected = expected_data_len(total, self.index as usize);
        if self.data.len() != expected {
            return Err(FragmentError::WrongDataLength {
                index: self.index,
                len: self.data.len(),
                expected,
            });
        }
        Ok(())
    }

    /// Bytes of the encoded fragment.
    pub fn encoded_len(&self) -> usize {
        FRAGMENT_HEADER_BYTES + self.data.len()
    }

    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.reserve(self.encoded_len());
        out.push(FRAGMENT_FORMAT_VERSION);
        out.extend_from_slice(&self.message.0);
        out.extend_from_slice(&self.total_len.to_be_bytes());
        out.extend_from_slice(&self.index.to_be_bytes());
        out.extend_from_slice(&self.count.to_be_bytes());
        // data never exceeds FRAGMENT_DATA_BYTES < 2^16 for a validated fragment
        let len = u16::try_from(self.data.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&self.data);
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// Parses and validates one fragment; `bytes` must be exactly the fragment.
    pub fn decode(bytes: &[u8]) -> Result<Self, FragmentError> {
        let truncated = FragmentError::Truncated {
            len: bytes.len(),
            need: FRAGMENT_HEADER_BYTES,
        };
        let (header, data) = bytes
            .split_at_checked(FRAGMENT_HEADER_BYTES)
            .ok_or(truncated)?;
        let mut r = Reader(header);
        let version = r.u8().ok_or(truncated)?;
        if version != FRAGMENT_FORMAT_VERSION {
            return Err(FragmentError::UnsupportedVersion(version));
        }
        let message = MessageId(r.array().ok_or(truncated)?);
        let total_len = u32::from_be_bytes(r.array().ok_or(truncated)?);
        let index = u32::from_be_bytes(r.array().ok_or(truncated)?);
        let count = u32::from_be_bytes(r.array().ok_or(truncated)?);
        let declared = u16::from_be_bytes(r.array().ok_or(truncated)?) as usize;
        if declared != data.len() {
            return Err(FragmentError::LengthMismatch {
                declared,
                actual: data.len(),
            });
        }
        let fragment = Fragment {
            message,
            total_len,
            index,
            count,
            data: data.to_vec(),
        };
        fragment.validate()?;
        Ok(fragment)
    }
}

/// Reads fixed-size fields off the front of a slice without ever indexing past its end.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::params::MAX_PLAINTEXT_BYTES;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn fragment_data_bytes_is_1036() {
        assert_eq!(FRAGMENT_DATA_BYTES, 1036);
        assert_eq!(fragment_count(1 << 20), 1013);
        // slot + seal + body length + kind byte + a full fragment fill the plaintext exactly
        assert_eq!(
            crate::params::ACK_SLOT_BYTES
                + crate::params::SEAL_OVERHEAD_BYTES
                + 2
                + 1
                + FRAGMENT_HEADER_BYTES
                + FRAGMENT_DATA_BYTES,
            MAX_PLAINTEXT_BYTES
        );
    }

    #[test]
    fn split_sizes_and_round_trip() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        for len in [0, 1, FRAGMENT_DATA_BYTES, FRAGMENT_DATA_BYTES + 1, 10_000] {
            let msg: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let (id, frags) = split_message(&mut rng, &msg).unwrap();
            assert_eq!(frags.len(), fragment_count(len));
            let mut joined = Vec::new();
            for f in &frags {
                assert_eq!(f.message, id);
                let back = Fragment::decode(&f.encode()).unwrap();
                assert_eq!(&back, f);
                joined.extend_from_slice(&back.data);
            }
            assert_eq!(joined, msg);
        }
    }

    #[test]
    fn oversize_message_is_refused() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let err = split_message(&mut rng, &vec![0; MAX_MESSAGE_BYTES + 1]).unwrap_err();
        assert!(matches!(err, FragmentError::MessageTooLong { .. }));
    }

    fn sample() -> Fragment {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let (_, frags) = split_message(&mut rng, &[7u8; 2500]).unwrap();
        frags[1].clone()
    }

    #[test]
    fn malformed_headers_are_typed_errors() {
        let good = sample().encode();
        // every truncation is an error, never a panic
        for cut in 0..good.len() {
            assert!(Fragment::decode(&good[..cut]).is_err(), "cut {cut}");
        }
        let mut bad = good.clone();
        bad[0] = 9;
        assert_eq!(
            Fragment::decode(&bad),
            Err(FragmentError::UnsupportedVersion(9))
        );
        let mut f = sample();
        f.count = 5;
        assert!(matches!(
            Fragment::decode(&f.encode()),
            Err(FragmentError::CountMismatch { .. })
        ));
        let mut f = sample();
        f.index = 3;
        assert!(matches!(
            Fragment::decode(&f.encode()),
            Err(FragmentError::IndexOutOfRange { .. })
        ));
        let mut f = sample();
        f.data.pop();
        assert!(matches!(
            Fragment::decode(&f.encode()),
            Err(FragmentError::WrongDataLength { .. })
        ));
        let mut extra = good.clone();
        extra.push(0);
        assert!(matches!(
            Fragment::decode(&extra),
            Err(FragmentError::LengthMismatch { .. })
        ));
        let mut f = sample();
        f.total_len = u32::MAX;
        assert!(matches!(
            Fragment::decode(&f.encode()),
            Err(FragmentError::MessageTooLong { .. })
        ));
    }
}
