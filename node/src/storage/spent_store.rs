//! The issuer's global spent set on rocksdb: one key per redeemed token (its `SpentId`),
//! valued by the key epoch it was signed under so whole epochs can be pruned.
//!
//! `insert_if_absent` is check-then-put under one lock with a synced write: of two
//! redemptions of one token, exactly one is told it was new, and a redemption that was
//! answered "accepted" survives a crash.
//!
//! A provider keeps its clients' credit ledgers in the same database (column family
//! `credit`), so that the spend of a token and the credit it buys are one synced write
//! batch: a crash can lose both or neither, never leave the credit without the spend
//! (which would let the token buy it again). See `crate::credit::provider`.

use rocksdb::{ColumnFamilyDescriptor, DB, IteratorMode, Options, WriteBatch, WriteOptions};
use std::path::Path;
use std::sync::Mutex;

/// Column family of the provider's credit ledgers: key = client peer id (bytes),
/// value = whatever `crate::credit::provider` encodes.
const CREDIT_CF: &str = "credit";

/// A credit record: (key, value) in the `credit` column family.
pub type CreditRecord = (Vec<u8>, Vec<u8>);
use wesh_payments::Epoch;
use wesh_payments::error::StoreError;
use wesh_payments::spent::SpentSet;
use wesh_payments::token::SpentId;

pub struct SpentStore {
    db: DB,
    synced: WriteOptions,
    /// Serialises check-then-put; holds the entry count.
    count: Mutex<usize>,
    /// A credit record to write in the same batch as the next new spent entry.
    staged: Mutex<Option<CreditRecord>>,
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
        opts.create_missing_column_families(true);
        opts.set_compression_type(rocksdb::DBCompressionType::None);
        let mut cf_opts = Options::default();
        cf_opts.set_compression_type(rocksdb::DBCompressionType::None);
        let cfs = [ColumnFamilyDescriptor::new(CREDIT_CF, cf_opts)];
        let db = DB::open_cf_descriptors(&opts, path.as_ref(), cfs).map_err(err)?;
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
            staged: Mutex::new(None),
        })
    }

    fn credit_cf(&self) -> Result<&rocksdb::ColumnFamily, StoreError> {
        self.db
            .cf_handle(CREDIT_CF)
            .ok_or_else(|| StoreError("no credit column family".into()))
    }

    fn staged(&self) -> std::sync::MutexGuard<'_, Option<CreditRecord>> {
        self.staged
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Stages a credit record (`key`, `value`) to be written in the same synced batch as
    /// the next spent entry `insert_if_absent` adds; an insert that finds the token
    /// already spent, or fails, writes neither and drops the record.
    pub fn stage_credit(&self, key: Vec<u8>, value: Vec<u8>) {
        *self.staged() = Some((key, value));
    }

    /// Drops a staged record that no insert took (the token was refused before).
    pub fn clear_staged_credit(&self) {
        *self.staged() = None;
    }

    /// Writes credit records and deletes the keys `forget`, in one batch (synced: it
    /// returns once they are durable).
    pub fn write_credits(
        &self,
        records: &[CreditRecord],
        forget: &[Vec<u8>],
    ) -> Result<(), StoreError> {
        let cf = self.credit_cf()?;
        let mut batch = WriteBatch::default();
        for (k, v) in records {
            batch.put_cf(cf, k, v);
        }
        for k in forget {
            batch.delete_cf(cf, k);
        }
        self.db.write_opt(batch, &self.synced).map_err(err)
    }

    /// Every credit record, in key order.
    pub fn credits(&self) -> Result<Vec<CreditRecord>, StoreError> {
        let cf = self.credit_cf()?;
        self.db
            .iterator_cf(cf, IteratorMode::Start)
            .map(|item| item.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(err))
            .collect()
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
        let staged = self.staged().take();
        if self.db.get_pinned(id.0).map_err(err)?.is_some() {
            return Ok(false);
        }
        let mut batch = WriteBatch::default();
        batch.put(id.0, key_epoch.to_be_bytes());
        if let Some((k, v)) = staged {
            batch.put_cf(self.credit_cf()?, k, v);
        }
        self.db.write_opt(batch, &self.synced).map_err(err)?;
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

    #[test]
    fn a_staged_credit_lands_with_a_new_spend_only() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut s = SpentStore::open(dir.path()).unwrap();
            s.stage_credit(b"peer-a".to_vec(), b"1000".to_vec());
            assert!(s.insert_if_absent(SpentId([1; 32]), 5).unwrap());
            // a second spend of the token writes nothing, not even its staged credit
            s.stage_credit(b"peer-b".to_vec(), b"1000".to_vec());
            assert!(!s.insert_if_absent(SpentId([1; 32]), 5).unwrap());
            // a record staged for a token refused before the insert is dropped
            s.stage_credit(b"peer-c".to_vec(), b"1000".to_vec());
            s.clear_staged_credit();
            assert!(s.insert_if_absent(SpentId([2; 32]), 5).unwrap());
            s.write_credits(&[(b"peer-d".to_vec(), b"7".to_vec())], &[])
                .unwrap();
        }
        let s = SpentStore::open(dir.path()).unwrap();
        assert_eq!(
            s.credits().unwrap(),
            vec![
                (b"peer-a".to_vec(), b"1000".to_vec()),
                (b"peer-d".to_vec(), b"7".to_vec())
            ]
        );
        assert_eq!(s.len(), 2, "credit records are not spent entries");
    }
}
