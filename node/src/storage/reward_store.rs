//! The issuer's settled reward epochs on rocksdb, so `wesh rewards --epoch N` and claims
//! survive a restart. Key = epoch (u64 BE); value = the whole `EpochRewards`, claims
//! included, rewritten (synced) at settlement and at every claim — before the claim is
//! answered, so a crash can never let an entry be claimed twice.
//!
//! Record: `version (1) ‖ epoch u64 ‖ pool u64 ‖ undistributed u64 ‖ count u32 ‖
//! count × (node [32] ‖ score f64 bits u64 ‖ reported u64 ‖ counted u64 ‖ units u64 ‖
//! claimed u8 (0/1))`, integers big-endian, nodes in increasing order; decoded strictly.

use rocksdb::{DB, IteratorMode, Options, WriteOptions};
use std::collections::BTreeMap;
use std::path::Path;
use wesh_payments::{EpochRewards, RewardEntry};

const RECORD_VERSION: u8 = 1;
const HEADER_LEN: usize = 1 + 8 + 8 + 8 + 4;
const ENTRY_LEN: usize = 32 + 8 * 4 + 1;

pub struct RewardStore {
    db: DB,
    synced: WriteOptions,
}

impl std::fmt::Debug for RewardStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RewardStore").finish_non_exhaustive()
    }
}

impl RewardStore {
    pub fn open(path: impl AsRef<Path>) -> Result<Self, String> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        let db = DB::open(&opts, path.as_ref())
            .map_err(|e| format!("reward store {}: {e}", path.as_ref().display()))?;
        let mut synced = WriteOptions::default();
        synced.set_sync(true);
        Ok(RewardStore { db, synced })
    }

    /// Writes (or rewrites) an epoch; returns once it is durable.
    pub fn put(&self, rewards: &EpochRewards) -> Result<(), String> {
        self.db
            .put_opt(rewards.epoch.to_be_bytes(), encode(rewards), &self.synced)
            .map_err(|e| format!("cannot write the rewards of epoch {}: {e}", rewards.epoch))
    }

    /// Every stored epoch; a record that does not decode is an error naming its epoch.
    pub fn load(&self) -> Result<Vec<EpochRewards>, String> {
        let mut out = Vec::new();
        for item in self.db.iterator(IteratorMode::Start) {
            let (k, v) = item.map_err(|e| e.to_string())?;
            let rewards =
                decode(&v).map_err(|e| format!("reward record {}: {e}", hex::encode(&k)))?;
            if k.as_ref() != rewards.epoch.to_be_bytes() {
                return Err(format!(
                    "reward record {} holds epoch {}",
                    hex::encode(&k),
                    rewards.epoch
                ));
            }
            out.push(rewards);
        }
        Ok(out)
    }
}

pub fn encode(r: &EpochRewards) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + r.entries.len() * ENTRY_LEN);
    out.push(RECORD_VERSION);
    out.extend_from_slice(&r.epoch.to_be_bytes());
    out.extend_from_slice(&r.pool.to_be_bytes());
    out.extend_from_slice(&r.undistributed.to_be_bytes());
    out.extend_from_slice(
        &u32::try_from(r.entries.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    for e in r.entries.values() {
        out.extend_from_slice(&e.node);
        out.extend_from_slice(&e.score.to_bits().to_be_bytes());
        out.extend_from_slice(&e.reported.to_be_bytes());
        out.extend_from_slice(&e.counted.to_be_bytes());
        out.extend_from_slice(&e.units.to_be_bytes());
        out.push(u8::from(e.claimed));
    }
    out
}

fn u64_at(b: &[u8], at: usize) -> Result<u64, String> {
    b.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| "truncated".to_string())
}

pub fn decode(b: &[u8]) -> Result<EpochRewards, String> {
    match b.first() {
        Some(&RECORD_VERSION) => {}
        Some(v) => return Err(format!("unknown record version {v}")),
        None => return Err("empty record".into()),
    }
    if b.len() < HEADER_LEN {
        return Err(format!(
            "record of {} bytes, shorter than its header",
            b.len()
        ));
    }
    let count = b
        .get(25..29)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_be_bytes)
        .ok_or("truncated")?;
    let expected = usize::try_from(count)
        .ok()
        .and_then(|n| n.checked_mul(ENTRY_LEN))
        .and_then(|n| n.checked_add(HEADER_LEN));
    if expected != Some(b.len()) {
        return Err(format!(
            "record of {} bytes does not hold {count} entries",
            b.len()
        ));
    }
    let mut entries = BTreeMap::new();
    for chunk in b[HEADER_LEN..].chunks(ENTRY_LEN) {
        let node: [u8; 32] = chunk
            .get(..32)
            .and_then(|s| s.try_into().ok())
            .ok_or("truncated")?;
        let score = f64::from_bits(u64_at(chunk, 32)?);
        if !(0.0..=1.0).contains(&score) {
            return Err(format!("score {score} outside [0, 1]"));
        }
        let claimed = match chunk.get(64) {
            Some(0) => false,
            Some(1) => true,
            _ => return Err("claimed flag is not 0 or 1".into()),
        };
        let entry = RewardEntry {
            node,
            score,
            reported: u64_at(chunk, 40)?,
            counted: u64_at(chunk, 48)?,
            units: u64_at(chunk, 56)?,
            claimed,
        };
        if entries.insert(node, entry).is_some() {
            return Err("a node listed twice".into());
        }
    }
    Ok(EpochRewards {
        epoch: u64_at(b, 1)?,
        pool: u64_at(b, 9)?,
        undistributed: u64_at(b, 17)?,
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
        assert_eq!(decode(&encode(&r)), Ok(r.clone()));
        let bytes = encode(&r);
        assert_eq!(
            decode(&bytes[..bytes.len() - 1]),
            Err(format!(
                "record of {} bytes does not hold 2 entries",
                bytes.len() - 1
            ))
        );
        let mut bad = bytes.clone();
        bad[0] = 3;
        assert_eq!(decode(&bad), Err("unknown record version 3".into()));
        let mut bad = bytes.clone();
        let last = bad.len() - 1;
        bad[last] = 2;
        assert_eq!(decode(&bad), Err("claimed flag is not 0 or 1".into()));
        let mut bad = bytes.clone();
        bad[25..29].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(decode(&bad).unwrap_err().contains("does not hold"));
        assert_eq!(decode(&[]), Err("empty record".into()));
        assert!(
            decode(&[1, 0])
                .unwrap_err()
                .contains("shorter than its header")
        );
    }

    #[test]
    fn epochs_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = RewardStore::open(dir.path()).unwrap();
            s.put(&sample(3)).unwrap();
            s.put(&sample(9)).unwrap();
            let mut claimed = sample(3);
            claimed.entries.get_mut(&[1; 32]).unwrap().claimed = true;
            s.put(&claimed).unwrap();
        }
        let s = RewardStore::open(dir.path()).unwrap();
        let loaded = s.load().unwrap();
        assert_eq!(loaded.len(), 2);
        assert!(
            loaded[0].entries[&[1; 32]].claimed,
            "the rewrite replaced it"
        );
        assert_eq!(loaded[1], sample(9));
    }
}
