//! The issuer's global spent set on rocksdb: one key per redeemed token (its `SpentId`),
//! valued by the key epoch it was signed under so whole epochs can be pruned.
//!
//! `insert_if_absent` is check-then-put under one lock with a synced write: of two
//! redemptions of one token, exactly one is told it was new, and a redemption that was
//! answered "accepted" survives a crash.

use rocksdb::{DB, IteratorMode, Options, WriteBatch, WriteOptions};
use std::path::Path;
use std::sync::Mutex;
use wesh_payments::Epoch;
use wesh_payments::error::StoreError;
use wesh_payments::spent::SpentSet;
use wesh_payments::token::SpentId;

pub struct SpentStore {
    db: DB,
    synced: WriteOptions,
    /// Serialises check-then-put; holds the entry count.
    count: Mutex<usize>,
}

impl std::fmt::Debug for SpentStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpentStore").finish_non_exhaustive()
    }
}

fn err(e: rocksdb::Error) -> StoreError {
    StoreError(e.to_string())
}

impl SpentStore {
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.set_compression_type(rocksdb::DBCompressionType::None);
        let db = DB::open(&opts, path.as_ref()).map_err(err)?;
        let mut n = 0;
        for item in db.iterator(IteratorMode::Start) {
            item.map_err(err)?;
            n += 1;
        }
        let mut synced = WriteOptions::default();
        synced.set_sync(true);
        Ok(SpentStore {
            db,
            synced,
            count: Mutex::new(n),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, usize> {
        self.count
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl SpentSet for SpentStore {
    fn insert_if_absent(&mut self, id: SpentId, key_epoch: Epoch) -> Result<bool, StoreError> {
        let mut count = self.lock();
        if self.db.get_pinned(id.0).map_err(err)?.is_some() {
            return Ok(false);
        }
        self.db
            .put_opt(id.0, key_epoch.to_be_bytes(), &self.synced)
            .map_err(err)?;
        *count += 1;
        Ok(true)
    }

    fn contains(&self, id: &SpentId) -> Result<bool, StoreError> {
        Ok(self.db.get_pinned(id.0).map_err(err)?.is_some())
    }

    fn prune_before(&mut self, oldest: Epoch) -> Result<usize, StoreError> {
        let mut count = self.lock();
        let mut batch = WriteBatch::default();
        for item in self.db.iterator(IteratorMode::Start) {
            let (k, v) = item.map_err(err)?;
            let epoch = <[u8; 8]>::try_from(v.as_ref())
                .map(u64::from_be_bytes)
                .map_err(|_| StoreError(format!("spent entry of {} bytes", v.len())))?;
            if epoch < oldest {
                batch.delete(k);
            }
        }
        let removed = batch.len();
        self.db.write_opt(batch, &self.synced).map_err(err)?;
        *count = count.saturating_sub(removed);
        Ok(removed)
    }

    fn len(&self) -> usize {
        *self.lock()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn spent_ids_survive_reopen_and_prune_by_epoch() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut s = SpentStore::open(dir.path()).unwrap();
            assert!(s.insert_if_absent(SpentId([1; 32]), 5).unwrap());
            assert!(
                !s.insert_if_absent(SpentId([1; 32]), 5).unwrap(),
                "second spend"
            );
            assert!(s.insert_if_absent(SpentId([2; 32]), 9).unwrap());
        }
        let mut s = SpentStore::open(dir.path()).unwrap();
        assert_eq!(s.len(), 2);
        assert!(
            !s.insert_if_absent(SpentId([1; 32]), 5).unwrap(),
            "after a reopen too"
        );
        assert_eq!(s.prune_before(6).unwrap(), 1);
        assert!(!s.contains(&SpentId([1; 32])).unwrap());
        assert!(s.contains(&SpentId([2; 32])).unwrap());
        assert_eq!(s.len(), 1);
    }
}
