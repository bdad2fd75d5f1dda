//! `/wesh/pki-sync/1` messages: compare directory digests, and send the directory if they
//! differ (the shell moves the bytes).
//!
//! Request: version (1 byte) ‖ epoch (u64 BE) ‖ the requester's digest for that epoch (32).
//! Answer: status (1 byte: 0 = same digest, 1 = different) ‖ the responder's digest (32) ‖
//! if different: count (u32 BE) and that many descriptors, each a u16 BE length and the
//! bytes. Every length is bounded before anything is allocated or parsed: a count over
//! what a directory holds, or a length outside a descriptor's possible sizes, ends the
//! answer. A request with an all-zero digest asks for the whole directory (a node that
//! has none yet).

use crate::params::{MAX_DESCRIPTOR_BYTES, MIN_DESCRIPTOR_BYTES};
use thiserror::Error;

/// Version byte of a sync request.
pub const SYNC_VERSION: u8 = 1;
/// Bytes of a sync request.
pub const SYNC_REQUEST_BYTES: usize = 41;
/// Descriptors one answer may carry: an answer is a snapshot of a directory, so no more
/// than a directory holds ([`crate::params::DEFAULT_MAX_DIRECTORY_ENTRIES`]; ~30 MB of routing
/// descriptors at that size; tested equal).
pub const MAX_SYNC_DESCRIPTORS: u32 = 100_000;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SyncWireError {
    #[error("unknown sync version {0}")]
    Version(u8),
    #[error("unknown sync status {0}")]
    Status(u8),
    #[error("sync answer announces {0} descriptors")]
    Count(u32),
    #[error("descriptor of {0} bytes in sync answer")]
    DescriptorLength(usize),
    #[error("sync answer cut short")]
    Truncated,
}

/// What a peer answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncAnswer {
    pub digest: [u8; 32],
    /// `None` when the peer's digest equals ours.
    pub descriptors: Option<Vec<Vec<u8>>>,
}

pub fn encode_request(epoch: u64, digest: [u8; 32]) -> [u8; SYNC_REQUEST_BYTES] {
    let mut req = [0u8; SYNC_REQUEST_BYTES];
    req[0] = SYNC_VERSION;
    req[1..9].copy_from_slice(&epoch.to_be_bytes());
    req[9..].copy_from_slice(&digest);
    req
}

/// A request's (epoch, digest).
pub fn decode_request(req: &[u8; SYNC_REQUEST_BYTES]) -> Result<(u64, [u8; 32]), SyncWireError> {
    if req[0] != SYNC_VERSION {
        return Err(SyncWireError::Version(req[0]));
    }
    let mut epoch = [0u8; 8];
    epoch.copy_from_slice(&req[1..9]);
    let mut digest = [0u8; 32];
    digest.copy_from_slice(&req[9..]);
    Ok((u64::from_be_bytes(epoch), digest))
}

pub fn encode_answer(digest: [u8; 32], descriptors: Option<&[Vec<u8>]>) -> Vec<u8> {
    let mut out = vec![u8::from(descriptors.is_some())];
    out.extend_from_slice(&digest);
    if let Some(descs) = descriptors {
        let count = u32::try_from(descs.len())
            .unwrap_or(u32::MAX)
            .min(MAX_SYNC_DESCRIPTORS);
        out.extend_from_slice(&count.to_be_bytes());
        for d in descs.iter().take(count as usize) {
            let len = u16::try_from(d.len()).unwrap_or(0);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(d.get(..usize::from(len)).unwrap_or_default());
        }
    }
    out
}

#[derive(Debug)]
enum Part {
    Head,
    Count,
    Length,
    Descriptor,
    Done,
}

/// Reads an answer piece by piece: the shell reads exactly [`AnswerReader::wanted`] bytes
/// and feeds them, until it wants none; each length is checked before it is read.
#[derive(Debug)]
pub struct AnswerReader {
    part: Part,
    wanted: usize,
    digest: [u8; 32],
    left: u32,
    descriptors: Option<Vec<Vec<u8>>>,
}

impl Default for AnswerReader {
    fn default() -> Self {
        AnswerReader {
            part: Part::Head,
            wanted: 33,
            digest: [0; 32],
            left: 0,
            descriptors: None,
        }
    }
}

impl AnswerReader {
    /// Bytes to read next; 0 once the answer is complete.
    pub fn wanted(&self) -> usize {
        self.wanted
    }

    /// The next `wanted()` bytes.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), SyncWireError> {
        if bytes.len() != self.wanted {
            return Err(SyncWireError::Truncated);
        }
        match self.part {
            Part::Head => {
                self.digest.copy_from_slice(&bytes[1..]);
                match bytes[0] {
                    0 => self.done(),
                    1 => self.expect(Part::Count, 4),
                    other => return Err(SyncWireError::Status(other)),
                }
            }
            Part::Count => {
                let count =
                    u32::from_be_bytes(bytes.try_into().map_err(|_| SyncWireError::Truncated)?);
                if count > MAX_SYNC_DESCRIPTORS {
                    return Err(SyncWireError::Count(count));
                }
                self.left = count;
                self.descriptors = Some(Vec::with_capacity(count.min(1024) as usize));
                self.next_descriptor();
            }
            Part::Length => {
                let len = usize::from(u16::from_be_bytes(
                    bytes.try_into().map_err(|_| SyncWireError::Truncated)?,
                ));
                // checked before the bytes are even read: nothing shorter than the
                // smallest descriptor can be one, so junk costs no parse and no digest
                if !(MIN_DESCRIPTOR_BYTES..=MAX_DESCRIPTOR_BYTES).contains(&len) {
                    return Err(SyncWireError::DescriptorLength(len));
                }
                self.expect(Part::Descriptor, len);
            }
            Part::Descriptor => {
                if let Some(d) = self.descriptors.as_mut() {
                    d.push(bytes.to_vec());
                }
                self.left -= 1;
                self.next_descriptor();
            }
            Part::Done => return Err(SyncWireError::Truncated),
        }
        Ok(())
    }

    /// The answer, once complete.
    pub fn finish(self) -> Result<SyncAnswer, SyncWireError> {
        match self.part {
            Part::Done => Ok(SyncAnswer {
                digest: self.digest,
                descriptors: self.descriptors,
            }),
            _ => Err(SyncWireError::Truncated),
        }
    }

    fn next_descriptor(&mut self) {
        if self.left == 0 {
            self.done();
        } else {
            self.expect(Part::Length, 2);
        }
    }

    fn expect(&mut self, part: Part, wanted: usize) {
        self.part = part;
        self.wanted = wanted;
    }

    fn done(&mut self) {
        self.expect(Part::Done, 0);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Feeds `bytes` the way the shell does; `Truncated` if they run out.
    fn read(bytes: Vec<u8>) -> Result<SyncAnswer, SyncWireError> {
        let mut r = AnswerReader::default();
        let mut rest = bytes.as_slice();
        while r.wanted() > 0 {
            if rest.len() < r.wanted() {
                return Err(SyncWireError::Truncated);
            }
            let (now, later) = rest.split_at(r.wanted());
            r.feed(now)?;
            rest = later;
        }
        r.finish()
    }

    #[test]
    fn answers_round_trip_and_absurd_lengths_are_refused() {
        let same = read(encode_answer([7; 32], None)).unwrap();
        assert_eq!((same.digest, same.descriptors), ([7; 32], None));
        let descs = vec![vec![1; MIN_DESCRIPTOR_BYTES], vec![9; MAX_DESCRIPTOR_BYTES]];
        let full = read(encode_answer([8; 32], Some(&descs))).unwrap();
        assert_eq!(full.descriptors, Some(descs.clone()));
        let mut truncated = encode_answer([8; 32], Some(&descs));
        truncated.truncate(truncated.len() - 1);
        assert_eq!(read(truncated), Err(SyncWireError::Truncated));
        let mut huge = vec![1u8];
        huge.extend_from_slice(&[0; 32]);
        huge.extend_from_slice(&[0xff; 4]);
        assert_eq!(read(huge), Err(SyncWireError::Count(u32::MAX)));
        let mut long = vec![1u8];
        long.extend_from_slice(&[0; 32]);
        long.extend_from_slice(&[0, 0, 0, 1, 0xff, 0xff]);
        assert_eq!(read(long), Err(SyncWireError::DescriptorLength(65535)));
        let mut status = vec![9u8];
        status.extend_from_slice(&[0; 32]);
        assert_eq!(read(status), Err(SyncWireError::Status(9)));
    }

    /// An answer announcing `count` descriptors, the first of `len` bytes.
    fn answer_with(count: u32, len: u16) -> Vec<u8> {
        let mut a = vec![1u8];
        a.extend_from_slice(&[0; 32]);
        a.extend_from_slice(&count.to_be_bytes());
        a.extend_from_slice(&len.to_be_bytes());
        a.extend(std::iter::repeat_n(7u8, usize::from(len)));
        a
    }

    #[test]
    fn descriptors_shorter_than_the_smallest_valid_one_are_refused_before_they_are_read() {
        // a 1-byte "descriptor": refused on its length, its byte never read nor parsed
        let mut r = AnswerReader::default();
        r.feed(&answer_with(100_000, 1)[..33]).unwrap();
        r.feed(&100_000u32.to_be_bytes()).unwrap();
        assert_eq!(
            r.feed(&1u16.to_be_bytes()),
            Err(SyncWireError::DescriptorLength(1))
        );
        let short = u16::try_from(MIN_DESCRIPTOR_BYTES - 1).unwrap();
        assert_eq!(
            read(answer_with(1, short)),
            Err(SyncWireError::DescriptorLength(MIN_DESCRIPTOR_BYTES - 1))
        );
        let smallest = u16::try_from(MIN_DESCRIPTOR_BYTES).unwrap();
        assert_eq!(
            read(answer_with(1, smallest))
                .unwrap()
                .descriptors
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn an_answer_may_announce_no_more_descriptors_than_a_directory_holds() {
        assert_eq!(
            usize::try_from(MAX_SYNC_DESCRIPTORS).unwrap(),
            crate::params::DEFAULT_MAX_DIRECTORY_ENTRIES
        );
        let over = MAX_SYNC_DESCRIPTORS + 1;
        assert_eq!(
            read(answer_with(over, 200)),
            Err(SyncWireError::Count(over))
        );
    }

    #[test]
    fn requests_round_trip_and_other_versions_are_refused() {
        let req = encode_request(42, [3; 32]);
        assert_eq!(decode_request(&req), Ok((42, [3; 32])));
        let mut other = req;
        other[0] = 2;
        assert_eq!(decode_request(&other), Err(SyncWireError::Version(2)));
    }
}
