//! What a replication provider keeps (rocksdb, its own database): the registered groups'
//! replication views, and each group's verified entries under `group ‖ seq` (big-endian
//! sequence numbers, so one prefix scan serves history in arrival order).
//!
//! Entries are written with synced writes before the fragments that carried them are
//! deleted from the replica mailbox, so a crash between the two only re-reads them (the
//! keeper drops duplicates by hash).

use rocksdb::{
    ColumnFamilyDescriptor, DB, Direction, IteratorMode, Options, WriteBatch, WriteOptions,
};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use thiserror::Error;

const CF_GROUPS: &str = "replica_groups";
const CF_ENTRIES: &str = "replica_entries";

#[derive(Debug, Error)]
pub enum ReplicaStoreError {
    #[error("replica store: {0}")]
    Db(#[from] rocksdb::Error),
    #[error("replica store: column family {0} missing")]
    MissingCf(&'static str),
    #[error("replica store: corrupt key in {0}")]
    Corrupt(&'static str),
}

/// (group ID, bytes) pairs: views or entries.
pub type GroupBytes = Vec<([u8; 32], Vec<u8>)>;
/// A page of history: (seq, entry) pairs and whether more follow.
pub use wesh_client::messenger::replica_answer::HistoryPage;

pub struct ReplicaStore {
    db: DB,
    synced: WriteOptions,
    /// group → last sequence number used
    last_seq: Mutex<HashMap<[u8; 32], u64>>,
}

impl std::fmt::Debug for ReplicaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicaStore").finish_non_exhaustive()
    }
}

fn entry_key(group: &[u8; 32], seq: u64) -> [u8; 40] {
    let mut k = [0u8; 40];
    k[..32].copy_from_slice(group);
    k[32..].copy_from_slice(&seq.to_be_bytes());
    k
}

fn split_key(key: &[u8]) -> Option<([u8; 32], u64)> {
    let group: [u8; 32] = key.get(..32)?.try_into().ok()?;
    let seq = u64::from_be_bytes(key.get(32..40)?.try_into().ok()?);
    (key.len() == 40).then_some((group, seq))
}

impl ReplicaStore {
    pub fn open(path: impl AsRef<Path>) -> Result<Self, ReplicaStoreError> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_compression_type(rocksdb::DBCompressionType::None);
        let cfs = [CF_GROUPS, CF_ENTRIES]
            .into_iter()
            .map(|n| ColumnFamilyDescriptor::new(n, Options::default()));
        let db = DB::open_cf_descriptors(&opts, path.as_ref(), cfs)?;
        let mut last = HashMap::new();
        {
            let cf = db
                .cf_handle(CF_ENTRIES)
                .ok_or(ReplicaStoreError::MissingCf(CF_ENTRIES))?;
            for item in db.iterator_cf(cf, IteratorMode::Start) {
                let (k, _) = item?;
                let (g, seq) = split_key(&k).ok_or(ReplicaStoreError::Corrupt(CF_ENTRIES))?;
                let e = last.entry(g).or_insert(0);
                *e = (*e).max(seq);
            }
        }
        let mut synced = WriteOptions::default();
        synced.set_sync(true);
        Ok(Self {
            db,
            synced,
            last_seq: Mutex::new(last),
        })
    }

    fn cf(&self, name: &'static str) -> Result<&rocksdb::ColumnFamily, ReplicaStoreError> {
        self.db
            .cf_handle(name)
            .ok_or(ReplicaStoreError::MissingCf(name))
    }
}

/// What a replication provider keeps, behind a trait so the service can be driven over
/// any durable log (and a failing one in tests).
pub trait ReplicaLog: Send + Sync {
    /// Keeps a group's replication view (durably).
    fn put_group(&self, group: &[u8; 32], view: &[u8]) -> Result<(), ReplicaStoreError>;
    /// Every registered group's view.
    fn groups(&self) -> Result<GroupBytes, ReplicaStoreError>;
    /// Appends verified entries of `group` durably, all or nothing.
    fn append(&self, group: &[u8; 32], entries: &[Vec<u8>]) -> Result<(), ReplicaStoreError>;
    /// Up to `max` entries (and `max_bytes`) of `group` after `after`, oldest first, and
    /// whether more follow.
    fn fetch(
        &self,
        group: &[u8; 32],
        after: u64,
        max: usize,
        max_bytes: usize,
    ) -> Result<HistoryPage, ReplicaStoreError>;
    /// Every stored entry of every group (to rebuild the keeper's duplicate filter).
    fn all_entries(&self) -> Result<GroupBytes, ReplicaStoreError>;
    /// Deletes `group`'s registration and entries (its term ended), all or nothing.
    fn remove_group(&self, group: &[u8; 32]) -> Result<(), ReplicaStoreError>;
}

impl ReplicaLog for ReplicaStore {
    fn put_group(&self, group: &[u8; 32], view: &[u8]) -> Result<(), ReplicaStoreError> {
        self.db
            .put_cf_opt(self.cf(CF_GROUPS)?, group, view, &self.synced)?;
        Ok(())
    }

    fn groups(&self) -> Result<GroupBytes, ReplicaStoreError> {
        let mut out = Vec::new();
        for item in self
            .db
            .iterator_cf(self.cf(CF_GROUPS)?, IteratorMode::Start)
        {
            let (k, v) = item?;
            let g: [u8; 32] = k
                .as_ref()
                .try_into()
                .map_err(|_| ReplicaStoreError::Corrupt(CF_GROUPS))?;
            out.push((g, v.to_vec()));
        }
        Ok(out)
    }

    fn append(&self, group: &[u8; 32], entries: &[Vec<u8>]) -> Result<(), ReplicaStoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut last = self
            .last_seq
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut seq = last.get(group).copied().unwrap_or(0);
        let cf = self.cf(CF_ENTRIES)?;
        let mut batch = WriteBatch::default();
        for e in entries {
            seq += 1;
            batch.put_cf(cf, entry_key(group, seq), e);
        }
        self.db.write_opt(batch, &self.synced)?;
        last.insert(*group, seq);
        Ok(())
    }

    fn fetch(
        &self,
        group: &[u8; 32],
        after: u64,
        max: usize,
        max_bytes: usize,
    ) -> Result<HistoryPage, ReplicaStoreError> {
        let start = entry_key(group, after.saturating_add(1));
        let mut out = Vec::new();
        let mut bytes = 0usize;
        let it = self.db.iterator_cf(
            self.cf(CF_ENTRIES)?,
            IteratorMode::From(&start, Direction::Forward),
        );
        for item in it {
            let (k, v) = item?;
            let Some((g, seq)) = split_key(&k) else {
                return Err(ReplicaStoreError::Corrupt(CF_ENTRIES));
            };
            if g != *group {
                break;
            }
            if out.len() >= max || (bytes + v.len() > max_bytes && !out.is_empty()) {
                return Ok((out, true));
            }
            bytes += v.len();
            out.push((seq, v.to_vec()));
        }
        Ok((out, false))
    }

    fn remove_group(&self, group: &[u8; 32]) -> Result<(), ReplicaStoreError> {
        let mut batch = WriteBatch::default();
        batch.delete_cf(self.cf(CF_GROUPS)?, group);
        let mut end = [0xff; 41];
        end[..32].copy_from_slice(group);
        end[40] = 0;
        batch.delete_range_cf(self.cf(CF_ENTRIES)?, &entry_key(group, 0)[..], &end[..]);
        self.db.write_opt(batch, &self.synced)?;
        Ok(())
    }

    fn all_entries(&self) -> Result<GroupBytes, ReplicaStoreError> {
        let mut out = Vec::new();
        for item in self
            .db
            .iterator_cf(self.cf(CF_ENTRIES)?, IteratorMode::Start)
        {
            let (k, v) = item?;
            let (g, _) = split_key(&k).ok_or(ReplicaStoreError::Corrupt(CF_ENTRIES))?;
            out.push((g, v.to_vec()));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn append_fetch_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = ReplicaStore::open(dir.path()).unwrap();
            s.put_group(&[1; 32], b"view").unwrap();
            s.append(&[1; 32], &[vec![1], vec![2], vec![3]]).unwrap();
            s.append(&[2; 32], &[vec![9]]).unwrap();
            let (e, more) = s.fetch(&[1; 32], 0, 2, 1 << 20).unwrap();
            assert_eq!(e, vec![(1, vec![1]), (2, vec![2])]);
            assert!(more);
            let (e, more) = s.fetch(&[1; 32], 2, 10, 1 << 20).unwrap();
            assert_eq!(e, vec![(3, vec![3])]);
            assert!(!more);
        }
        let s = ReplicaStore::open(dir.path()).unwrap();
        s.append(&[1; 32], &[vec![4]]).unwrap();
        let (e, _) = s.fetch(&[1; 32], 3, 10, 1 << 20).unwrap();
        assert_eq!(e, vec![(4, vec![4])]);
        assert_eq!(s.groups().unwrap(), vec![([1; 32], b"view".to_vec())]);
        assert_eq!(s.all_entries().unwrap().len(), 5);
    }
}
