//! The stored form of a settled epoch (an issuer's archive keeps one per epoch, rewritten
//! at every claim): `version (2) ‖ epoch u64 ‖ pool u64 ‖ undistributed u64 ‖ count u32
//! ‖ count × (node [32] ‖ score f64 bits u64 ‖ reported u64 ‖ counted u64 ‖ replicas u64
//! ‖ units u64 ‖ claimed u8 (0/1))`, integers big-endian, nodes in increasing order;
//! decoded strictly. Version 1 (before replication counted) has no `replicas` and still
//! reads (as 0).

use crate::codec::Reader;
use crate::rewards::{EpochRewards, RewardEntry};
use std::collections::BTreeMap;
use thiserror::Error;

const RECORD_VERSION: u8 = 2;
const RECORD_VERSION_1: u8 = 1;
const HEADER_LEN: usize = 1 + 8 + 8 + 8 + 4;
const ENTRY_LEN: usize = 32 + 8 * 5 + 1;
const ENTRY_LEN_1: usize = 32 + 8 * 4 + 1;

/// Why a stored epoch cannot be read.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum RewardRecordError {
    #[error("empty record")]
    Empty,
    #[error("unknown record version {0}")]
    UnknownVersion(u8),
    #[error("record of {len} bytes does not hold {count} entries")]
    WrongLength { len: usize, count: u32 },
    #[error("score {0} outside [0, 1]")]
    BadScore(f64),
    #[error("claimed flag is not 0 or 1")]
    BadFlag,
    #[error("a node listed twice")]
    DuplicateNode,
    /// Nodes are listed in ascending order (one encoding per record).
    #[error("nodes not in ascending order")]
    Unordered,
}

pub fn encode_rewards(r: &EpochRewards) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + r.entries.len() * ENTRY_LEN);
    out.push(RECORD_VERSION);
    for v in [r.epoch, r.pool, r.undistributed] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    let count = u32::try_from(r.entries.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&count.to_be_bytes());
    for e in r.entries.values() {
        out.extend_from_slice(&e.node);
        for v in [
            e.score.to_bits(),
            e.reported,
            e.counted,
            e.replicas,
            e.units,
        ] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        out.push(u8::from(e.claimed));
    }
    out
}

pub fn decode_rewards(b: &[u8]) -> Result<EpochRewards, RewardRecordError> {
    let mut r = Reader::new(b);
    let (entry_len, with_replicas) = match r.u8() {
        Some(RECORD_VERSION) => (ENTRY_LEN, true),
        Some(RECORD_VERSION_1) => (ENTRY_LEN_1, false),
        Some(v) => return Err(RewardRecordError::UnknownVersion(v)),
        None => return Err(RewardRecordError::Empty),
    };
    let header = (r.u64(), r.u64(), r.u64(), r.u32());
    let (Some(epoch), Some(pool), Some(undistributed), Some(count)) = header else {
        return Err(RewardRecordError::WrongLength {
            len: b.len(),
            count: 0,
        });
    };
    let expected = usize::try_from(count)
        .ok()
        .and_then(|n| n.checked_mul(entry_len))
        .and_then(|n| n.checked_add(HEADER_LEN));
    if expected != Some(b.len()) {
        return Err(RewardRecordError::WrongLength {
            len: b.len(),
            count,
        });
    }
    let mut entries = BTreeMap::new();
    for _ in 0..count {
        let (node, score, reported, counted) = (r.array::<32>(), r.u64(), r.u64(), r.u64());
        let replicas = if with_replicas { r.u64() } else { Some(0) };
        let fields = (node, score, reported, counted, replicas, r.u64(), r.u8());
        let (
            Some(node),
            Some(score),
            Some(reported),
            Some(counted),
            Some(replicas),
            Some(units),
            Some(flag),
        ) = fields
        else {
            return Err(RewardRecordError::WrongLength {
                len: b.len(),
                count,
            });
        };
        let score = f64::from_bits(score);
        if !(0.0..=1.0).contains(&score) {
            return Err(RewardRecordError::BadScore(score));
        }
        let claimed = match flag {
            0 => false,
            1 => true,
            _ => return Err(RewardRecordError::BadFlag),
        };
        let entry = RewardEntry {
            node,
            score,
            reported,
            counted,
            replicas,
            units,
            claimed,
        };
        // Ascending, as `encode_rewards` writes them: one encoding per record.
        match entries.last_key_value() {
            Some((last, _)) if *last == node => return Err(RewardRecordError::DuplicateNode),
            Some((last, _)) if *last > node => return Err(RewardRecordError::Unordered),
            _ => {}
        }
        entries.insert(node, entry);
    }
    Ok(EpochRewards {
        epoch,
        pool,
        undistributed,
        entries,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sample(epoch: u64) -> EpochRewards {
        let entry = |n: u8, units: u64, claimed: bool| RewardEntry {
            node: [n; 32],
            score: 0.5 + f64::from(n) / 100.0,
            reported: 100 * u64::from(n),
            counted: 90 * u64::from(n),
            replicas: u64::from(n),
            units,
            claimed,
        };
        EpochRewards {
            epoch,
            pool: 1_000_000,
            entries: [(1, 400_000, false), (2, 599_999, true)]
                .into_iter()
                .map(|(n, u, c)| ([n; 32], entry(n, u, c)))
                .collect(),
            undistributed: 1,
        }
    }

    #[test]
    fn records_round_trip_and_bad_ones_are_refused_with_reasons() {
        let r = sample(7);
        let bytes = encode_rewards(&r);
        assert_eq!(decode_rewards(&bytes), Ok(r));
        let short = &bytes[..bytes.len() - 1];
        assert_eq!(
            decode_rewards(short),
            Err(RewardRecordError::WrongLength {
                len: short.len(),
                count: 2
            })
        );
        let mut bad = bytes.clone();
        bad[0] = 3;
        assert_eq!(
            decode_rewards(&bad),
            Err(RewardRecordError::UnknownVersion(3))
        );
        let mut bad = bytes.clone();
        let last = bad.len() - 1;
        bad[last] = 2;
        assert_eq!(decode_rewards(&bad), Err(RewardRecordError::BadFlag));
        let mut bad = bytes.clone();
        bad[25..29].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            decode_rewards(&bad),
            Err(RewardRecordError::WrongLength { .. })
        ));
        assert_eq!(decode_rewards(&[]), Err(RewardRecordError::Empty));
        assert!(matches!(
            decode_rewards(&[1, 0]),
            Err(RewardRecordError::WrongLength { .. })
        ));
    }

    /// Found by fuzz/reward_record: a record listing its nodes out of order decoded, and
    /// encoded back in order: two encodings of one record.
    /// Archives written before replication counted (version 1, no `replicas`) still read,
    /// with 0 replicas; written again they take the current form.
    #[test]
    fn version_1_records_still_read() {
        let mut r = sample(9);
        for e in r.entries.values_mut() {
            e.replicas = 0;
        }
        let mut v1 = encode_rewards(&r)[..HEADER_LEN].to_vec();
        v1[0] = RECORD_VERSION_1;
        for e in r.entries.values() {
            v1.extend_from_slice(&e.node);
            for v in [e.score.to_bits(), e.reported, e.counted, e.units] {
                v1.extend_from_slice(&v.to_be_bytes());
            }
            v1.push(u8::from(e.claimed));
        }
        assert_eq!(decode_rewards(&v1), Ok(r.clone()));
        assert_eq!(encode_rewards(&r)[0], RECORD_VERSION);
        assert!(decode_rewards(&v1[..v1.len() - 1]).is_err());
    }

    #[test]
    fn nodes_out_of_order_are_refused() {
        let mut bytes = encode_rewards(&sample(4));
        let (header, body) = bytes.split_at_mut(HEADER_LEN);
        assert!(body.len() >= 2 * ENTRY_LEN, "{}", header.len());
        let (a, b) = body.split_at_mut(ENTRY_LEN);
        a.swap_with_slice(&mut b[..ENTRY_LEN]);
        assert_eq!(decode_rewards(&bytes), Err(RewardRecordError::Unordered));
    }
}
