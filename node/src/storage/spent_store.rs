//! The issuer's global spent set on rocksdb: one key per redeemed token (its `SpentId`),
//! valued by the key epoch it was signed under so whole epochs can be pruned.
//!
//! `insert_if_absent` is check-then-put under `&mut self` with a synced write: of two
//! redemptions of one token, exactly one is told it was new, and a redemption that was
//! answered "accepted" survives a crash.
//!
//! A provider keeps its clients' credit ledgers in the same database (column family
//! `credit`, key = the client's peer id, value = `wesh_payments::LedgerRecord`), so that
//! the spend of a token and the credit it buys are one synced write batch: a crash can
//! lose both or neither (the contract of `wesh_payments::LedgerStore`).

use libp2p::PeerId;
use rocksdb::{ColumnFamilyDescriptor, DB, IteratorMode, Options, WriteBatch, WriteOptions};
use std::path::Path;
use wesh_payments::error::StoreError;
use wesh_payments::spent::SpentSet;
use wesh_payments::token::SpentId;
use wesh_payments::{Epoch, LedgerRecord, LedgerStore};

/// Column family of the provider's credit ledgers.
const CREDIT_CF: &str = "credit";

/// A credit record: (key, value) in the `credit` column family.
pub type CreditRecord = (Vec<u8>, Vec<u8>);

pub struct SpentStore {
    db: DB,
    synced: WriteOptions,
    count: usize,
    /// A credit record to write in the same batch as the next new spent entry.
    staged: Option<CreditRecord>,
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
        let mut count = 0;
        for item in db.iterator(IteratorMode::Start) {
            item.map_err(err)?;
            count += 1;
        }
        let mut synced = WriteOptions::default();
        synced.set_sync(true);
        Ok(SpentStore {
            db,
            synced,
            count,
            staged: None,
        })
    }

    fn credit_cf(&self) -> Result<&rocksdb::ColumnFamily, StoreError> {
        self.db
            .cf_handle(CREDIT_CF)
            .ok_or_else(|| StoreError("no credit column family".into()))
    }

    /// Writes credit records and deletes the keys `forget`, in one synced batch.
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
}

impl SpentSet for SpentStore {
    fn insert_if_absent(&mut self, id: SpentId, key_epoch: Epoch) -> Result<bool, StoreError> {
        let staged = self.staged.take();
        if self.db.get_pinned(id.0).map_err(err)?.is_some() {
            return Ok(false);
        }
        let mut batch = WriteBatch::default();
        batch.put(id.0, key_epoch.to_be_bytes());
        if let Some((k, v)) = staged {
            batch.put_cf(self.credit_cf()?, k, v);
        }
        self.db.write_opt(batch, &self.synced).map_err(err)?;
        self.count += 1;
        Ok(true)
    }

    fn contains(&self, id: &SpentId) -> Result<bool, StoreError> {
        Ok(self.db.get_pinned(id.0).map_err(err)?.is_some())
    }

    fn prune_before(&mut self, oldest: Epoch) -> Result<usize, StoreError> {
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
        self.count = self.count.saturating_sub(removed);
        Ok(removed)
    }

    fn len(&self) -> usize {
        self.count
    }
}

impl LedgerStore<PeerId> for SpentStore {
    fn stage_ledger(&mut self, client: &PeerId, record: LedgerRecord) {
        self.staged = Some((client.to_bytes(), record.encode()));
    }

    fn clear_staged_ledger(&mut self) {
        self.staged = None;
    }

    fn write_ledgers(
        &mut self,
        write: &[(PeerId, LedgerRecord)],
        forget: &[PeerId],
    ) -> Result<(), StoreError> {
        let records: Vec<CreditRecord> = write
            .iter()
            .map(|(p, r)| (p.to_bytes(), r.encode()))
            .collect();
        let forget: Vec<Vec<u8>> = forget.iter().map(|p| p.to_bytes()).collect();
        self.write_credits(&records, &forget)
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
        let record = |balance| LedgerRecord {
            balance,
            dropped: 0,
            last_active: 0,
        };
        let (a, b, c, d) = (
            PeerId::random(),
            PeerId::random(),
            PeerId::random(),
            PeerId::random(),
        );
        let dir = tempfile::tempdir().unwrap();
        {
            let mut s = SpentStore::open(dir.path()).unwrap();
            s.stage_ledger(&a, record(1000));
            assert!(s.insert_if_absent(SpentId([1; 32]), 5).unwrap());
            // a second spend of the token writes nothing, not even its staged credit
            s.stage_ledger(&b, record(1000));
            assert!(!s.insert_if_absent(SpentId([1; 32]), 5).unwrap());
            // a record staged for a token refused before the insert is dropped
            s.stage_ledger(&c, record(1000));
            s.clear_staged_ledger();
            assert!(s.insert_if_absent(SpentId([2; 32]), 5).unwrap());
            s.write_ledgers(&[(d, record(7))], &[]).unwrap();
        }
        let s = SpentStore::open(dir.path()).unwrap();
        let mut expected = vec![
            (a.to_bytes(), record(1000).encode()),
            (d.to_bytes(), record(7).encode()),
        ];
        expected.sort();
        assert_eq!(s.credits().unwrap(), expected);
        assert_eq!(s.len(), 2, "credit records are not spent entries");
    }
}
