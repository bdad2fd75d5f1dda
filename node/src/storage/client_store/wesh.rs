//! The Wesh account of a `wesh client --api`: its seed (in `client_keys`) and the journal
//! of every input its device took (`wesh_journal`), from which the device is rebuilt at
//! start. A journal append and the removal of the inbox messages it consumed are one
//! synced write, so a crash neither loses a message nor feeds it twice.

use super::{CF_INBOX, CF_KEYS, CF_WESH_JOURNAL, ClientStore, ClientStoreError, seq_of};
use rocksdb::{IteratorMode, WriteBatch};
use zeroize::Zeroizing;

const SEED: &str = "wesh_seed";

impl ClientStore {
    /// The Wesh account seed, created (random) and stored on first use.
    pub fn wesh_seed(&self) -> Result<Zeroizing<[u8; 32]>, ClientStoreError> {
        if let Some(seed) = self.secret(SEED)? {
            return Ok(seed);
        }
        let mut seed = Zeroizing::new([0u8; 32]);
        rand::fill(&mut seed[..]);
        self.db
            .put_cf_opt(self.cf(CF_KEYS)?, SEED, seed.as_ref(), &self.synced)?;
        Ok(seed)
    }

    /// Every journal record, oldest first.
    pub fn wesh_journal(&self) -> Result<Vec<Vec<u8>>, ClientStoreError> {
        let mut out = Vec::new();
        for item in self
            .db
            .iterator_cf(self.cf(CF_WESH_JOURNAL)?, IteratorMode::Start)
        {
            let (_, v) = item?;
            out.push(v.to_vec());
        }
        Ok(out)
    }

    /// Appends `records` and removes the inbox messages `consumed`, in one synced write.
    pub fn append_wesh_journal(
        &self,
        records: &[Vec<u8>],
        consumed: &[u64],
    ) -> Result<(), ClientStoreError> {
        if records.is_empty() && consumed.is_empty() {
            return Ok(());
        }
        let journal = self.cf(CF_WESH_JOURNAL)?;
        let mut next = match self.db.iterator_cf(journal, IteratorMode::End).next() {
            Some(item) => {
                let (k, _) = item?;
                seq_of(&k, CF_WESH_JOURNAL)?.saturating_add(1)
            }
            None => 1,
        };
        let mut batch = WriteBatch::default();
        for r in records {
            batch.put_cf(journal, next.to_be_bytes(), r);
            next = next.saturating_add(1);
        }
        let inbox = self.cf(CF_INBOX)?;
        for s in consumed {
            batch.delete_cf(inbox, s.to_be_bytes());
        }
        Ok(self.db.write_opt(batch, &self.synced)?)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use wesh_mix::MessageId;

    #[test]
    fn seed_and_journal_survive_a_reopen_and_consume_the_inbox() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("client.db");
        let (seed, seq) = {
            let store = ClientStore::open(&path).unwrap();
            let seed = store.wesh_seed().unwrap();
            assert_eq!(*store.wesh_seed().unwrap(), *seed, "created once");
            let seq = store
                .deliver(&MessageId([1; 16]), b"wesh envelope", 10)
                .unwrap();
            let other = store.deliver(&MessageId([2; 16]), b"plain", 11).unwrap();
            store
                .append_wesh_journal(&[b"one".to_vec(), b"two".to_vec()], &[seq])
                .unwrap();
            store
                .append_wesh_journal(&[b"three".to_vec()], &[])
                .unwrap();
            let left: Vec<u64> = store.inbox(0).unwrap().iter().map(|m| m.seq).collect();
            assert_eq!(
                left,
                vec![other],
                "only the consumed message left the inbox"
            );
            (*seed, seq)
        };
        let store = ClientStore::open(&path).unwrap();
        assert_eq!(*store.wesh_seed().unwrap(), seed);
        assert_eq!(
            store.wesh_journal().unwrap(),
            vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]
        );
        assert!(store.inbox(0).unwrap().iter().all(|m| m.seq != seq));
    }
}
