//! The issuer's settled reward epochs on rocksdb, so `wesh rewards --epoch N` and claims
//! survive a restart: the archive of `wesh_payments::IssuerBook`. Key = epoch (u64 BE);
//! value = the whole epoch, claims included (`wesh_payments::encode_rewards`), rewritten
//! (synced) at settlement and at every claim — before the claim is answered.

use rocksdb::{DB, IteratorMode, Options, WriteOptions};
use std::path::{Path, PathBuf};
use wesh_payments::{
    EpochRewards, RewardArchive, RewardRecordError, StoreError, decode_rewards, encode_rewards,
};

/// Why the reward store cannot be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum RewardStoreError {
    #[error("reward store {0}: {1}")]
    Open(PathBuf, rocksdb::Error),
    #[error("reward store: {0}")]
    Read(#[from] rocksdb::Error),
    #[error("reward record {key}: {source}")]
    Record {
        key: String,
        source: RewardRecordError,
    },
    #[error("reward record {key} holds epoch {epoch}")]
    WrongKey { key: String, epoch: u64 },
}

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
    pub fn open(path: impl AsRef<Path>) -> Result<Self, RewardStoreError> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        let db = DB::open(&opts, path.as_ref())
            .map_err(|e| RewardStoreError::Open(path.as_ref().to_path_buf(), e))?;
        let mut synced = WriteOptions::default();
        synced.set_sync(true);
        Ok(RewardStore { db, synced })
    }

    /// Every stored epoch; a record that does not decode is an error naming its key.
    pub fn load(&self) -> Result<Vec<EpochRewards>, RewardStoreError> {
        let mut out = Vec::new();
        for item in self.db.iterator(IteratorMode::Start) {
            let (k, v) = item?;
            let key = hex::encode(&k);
            let rewards = decode_rewards(&v).map_err(|source| RewardStoreError::Record {
                key: key.clone(),
                source,
            })?;
            if k.as_ref() != rewards.epoch.to_be_bytes() {
                let epoch = rewards.epoch;
                return Err(RewardStoreError::WrongKey { key, epoch });
            }
            out.push(rewards);
        }
        Ok(out)
    }
}

impl RewardArchive for RewardStore {
    /// Writes (or rewrites) an epoch; returns once it is durable.
    fn put(&mut self, rewards: &EpochRewards) -> Result<(), StoreError> {
        let key = rewards.epoch.to_be_bytes();
        self.db
            .put_opt(key, encode_rewards(rewards), &self.synced)
            .map_err(|e| StoreError(format!("rewards of epoch {}: {e}", rewards.epoch)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sample(epoch: u64, claimed: bool) -> EpochRewards {
        let entry = wesh_payments::RewardEntry {
            node: [1; 32],
            score: 0.5,
            reported: 100,
            counted: 90,
            replicas: 2,
            units: 400_000,
            claimed,
        };
        EpochRewards {
            epoch,
            pool: 1_000_000,
            entries: [([1; 32], entry)].into_iter().collect(),
            undistributed: 600_000,
        }
    }

    #[test]
    fn epochs_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut s = RewardStore::open(dir.path()).unwrap();
            s.put(&sample(3, false)).unwrap();
            s.put(&sample(9, false)).unwrap();
            s.put(&sample(3, true)).unwrap();
        }
        let s = RewardStore::open(dir.path()).unwrap();
        let loaded = s.load().unwrap();
        assert_eq!(
            loaded,
            vec![sample(3, true), sample(9, false)],
            "the rewrite replaced it"
        );
    }
}
