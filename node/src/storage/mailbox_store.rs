//! Durable short-term mailboxes in rocksdb: the `MailboxBackend` contract of
//! `wesh_mix::mailbox` (its rules are computed there, by `semantics`), on disk.
//!
//! Column families (one rocksdb database per node):
//! - `mailbox_meta`: `mailbox` → registration (Ed25519 key, [`MailboxUsage`], `low_seq`).
//! - `mailboxes`: `mailbox ‖ seq (u64 BE)` → `stored_at (u64 BE) ‖ payload`; a mailbox's
//!   payloads are contiguous and oldest first, so fetch and expiry are bounded range scans.
//! - `mailbox_dedup`: `mailbox ‖ sha256(payload)` → `seq ‖ stored_at` (the duplicate window).
//! - `mailbox_pull`: `mailbox` → the 32-byte pull secret its owner registered.
//!
//! Every acknowledged write is one synced `WriteBatch` carrying the payloads, their index
//! entries and the updated registration records, so the counters and `next_seq` never
//! disagree with the payloads, even after a crash. Read-modify-writes of registration
//! records are serialised by one writer lock; reads take no lock.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use rocksdb::{
    BlockBasedOptions, ColumnFamily, ColumnFamilyDescriptor, DB, DBCompressionType, Options,
    ReadOptions, WriteBatch, WriteOptions,
};
use sha2::{Digest, Sha256};
use wesh_mix::mailbox::semantics::check_public_key;
pub use wesh_mix::mailbox::{MailboxLimits, MailboxUsage, Refusal, Registered};

use wesh_mix::mailbox::store_layout::{
    DEDUP_KEY_LEN, MAILBOX_LEN, MailboxId, MailboxMeta, PUBKEY_LEN, STAMP_LEN, decode_dedup_value,
    decode_payload_value, dedup_key, dedup_upper_bound, encode_dedup_value, encode_payload_value,
    payload_key, payload_seq, payload_upper_bound,
};

/// The mailbox defaults (the protocol's, in `wesh_mix::params`) and the store's tuning.
pub mod params {
    pub use wesh_mix::params::{
        MAILBOX_QUOTA_BYTES as DEFAULT_QUOTA_BYTES,
        MAILBOX_QUOTA_PAYLOADS as DEFAULT_QUOTA_PAYLOADS, MAILBOX_TTL as DEFAULT_TTL,
        MAX_PLAINTEXT_BYTES as MAX_PAYLOAD_BYTES,
    };

    /// Duplicate-index entries re-checked and deleted per lock hold during an expiry sweep,
    /// so a large sweep never holds off acknowledged writes for long.
    pub const EXPIRE_CHUNK: usize = 4096;

    /// Old write-ahead log files kept for reuse: overwriting a log whose blocks are
    /// allocated already spares each synced write a journal commit for the file's growth;
    /// two cover the rotation (one being reused while the next becomes obsolete).
    pub const WAL_RECYCLE_FILES: usize = 2;

    /// Write-ahead log bytes after which the column families holding the oldest log are
    /// flushed: 128 MiB, two generations of the 64 MiB payload memtable. Without a cap the
    /// rarely written registrations would keep every log alive and a restart would replay
    /// all of it.
    pub const MAX_TOTAL_WAL_BYTES: u64 = 128 << 20;
}

const CF_META: &str = "mailbox_meta";
const CF_PAYLOADS: &str = "mailboxes";
const CF_DEDUP: &str = "mailbox_dedup";
const CF_PULL: &str = "mailbox_pull";
const OUR_CFS: [&str; 4] = [CF_META, CF_PAYLOADS, CF_DEDUP, CF_PULL];

/// Marks a database as ours, in the default column family, so a foreign rocksdb directory is
/// refused instead of silently getting our column families added.
const FORMAT_KEY: &[u8] = b"wesh.format";
const FORMAT_VALUE: &[u8] = b"wesh-mailbox-store v1";

/// What [`MailboxStore::expire`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExpireReport {
    /// Payloads past their TTL.
    pub payloads: usize,
    /// Duplicate-index entries past their TTL.
    pub dedup_entries: usize,
}

/// Errors of the mailbox store. None of them leaves a partial write behind.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A rule of the mailbox contract refused the request.
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("mailbox database path {} exists but is not a directory", .0.display())]
    NotADirectory(PathBuf),
    /// rocksdb refused to open the database (damaged files, locked by another process, …).
    #[error("cannot open mailbox database at {}: {source}", .path.display())]
    Open {
        path: PathBuf,
        source: rocksdb::Error,
    },
    #[error("{} holds a database that is not a wesh mailbox store ({reason})", .path.display())]
    ForeignDatabase { path: PathBuf, reason: String },
    #[error("mailbox database operation failed: {0}")]
    Db(#[from] rocksdb::Error),
    #[error("column family {0} is missing from the mailbox database")]
    MissingColumnFamily(&'static str),
    /// A record does not parse: the database is damaged or was written by other code.
    #[error("damaged record in column family {cf}: {detail}")]
    Corrupt { cf: &'static str, detail: String },
}

fn corrupt(cf: &'static str, detail: String) -> StoreError {
    StoreError::Corrupt { cf, detail }
}

/// Told which mailboxes received a payload, once the write is durable: a service that
/// reads its own mailboxes (the replication worker) wakes on it instead of scanning them.
/// It runs inside the store's write: it must be quick and must not call the store.
pub type StoreObserver = Arc<dyn Fn(&MailboxId) + Send + Sync>;

/// The durable mailbox store. `Send + Sync`: share it behind an `Arc`.
pub struct MailboxStore {
    db: DB,
    path: PathBuf,
    limits: MailboxLimits,
    /// Serialises every read-modify-write of registration records and the duplicate index.
    /// It guards no memory, so a poisoned lock is simply taken over.
    writer: Mutex<()>,
    synced: WriteOptions,
    unsynced: WriteOptions,
    observers: RwLock<Vec<StoreObserver>>,
}

impl fmt::Debug for MailboxStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailboxStore")
            .field("path", &self.path)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

fn cf_options(write_buffer_bytes: usize) -> Options {
    let mut opts = Options::default();
    // The crate is built without compression libraries; say so rather than rely on fallback.
    opts.set_compression_type(DBCompressionType::None);
    opts.set_write_buffer_size(write_buffer_bytes);
    // Point lookups (registration, duplicate check, delete) mostly miss on SST files: a
    // bloom filter answers those without a disk read.
    let mut table = BlockBasedOptions::default();
    table.set_bloom_filter(10.0, false);
    opts.set_block_based_table_factory(&table);
    opts
}

/// A registration record being updated within one write.
struct Staged {
    meta: MailboxMeta,
    dirty: bool,
    /// Expired payloads were swept in this write already.
    swept: bool,
    /// Sequence numbers this write deletes (sorted): the batch is not visible to reads, so
    /// a mailbox named twice in one write must not count a payload twice.
    removed: Vec<u64>,
}

/// The registration records one write reads or changes.
type StagedMetas = HashMap<MailboxId, Staged>;

impl MailboxStore {
    /// Opens (or creates) the store at `path`. Refuses a path that is a file, a damaged
    /// database, and a rocksdb database that is not a mailbox store.
    pub fn open(path: impl AsRef<Path>, limits: MailboxLimits) -> Result<Self, StoreError> {
        let path = path.as_ref();
        limits.validate()?;
        if std::fs::metadata(path).is_ok_and(|meta| !meta.is_dir()) {
            return Err(StoreError::NotADirectory(path.to_path_buf()));
        }
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let mut db_opts = Options::default();
        db_opts.create_if_missing(true);
        db_opts.create_missing_column_families(true);
        db_opts.set_compression_type(DBCompressionType::None);
        db_opts.increase_parallelism(2);
        db_opts.set_max_background_jobs(2);
        // An existing database must already have our column families: otherwise it is
        // someone else's, and opening it would add ours to it.
        if path.join("CURRENT").exists() {
            let found = DB::list_cf(&db_opts, path).map_err(open_err)?;
            if let Some(missing) = OUR_CFS.iter().find(|cf| !found.iter().any(|f| f == *cf)) {
                return Err(StoreError::ForeignDatabase {
                    path: path.to_path_buf(),
                    reason: format!("no column family {missing}"),
                });
            }
        }
        db_opts.set_recycle_log_file_num(params::WAL_RECYCLE_FILES);
        db_opts.set_max_total_wal_size(params::MAX_TOTAL_WAL_BYTES);
        // Duplicate-index lookups nearly always miss: a whole-key bloom filter on the
        // memtable answers most of them without a skip-list search.
        let mut dedup_opts = cf_options(16 << 20);
        dedup_opts.set_memtable_prefix_bloom_ratio(0.1);
        dedup_opts.set_memtable_whole_key_filtering(true);
        let descriptors = [
            ColumnFamilyDescriptor::new(CF_META, cf_options(8 << 20)),
            // Payloads are most of the write volume: a larger memtable lets a payload that is
            // fetched and deleted soon die in memory instead of being flushed and compacted.
            ColumnFamilyDescriptor::new(CF_PAYLOADS, cf_options(64 << 20)),
            ColumnFamilyDescriptor::new(CF_DEDUP, dedup_opts),
            ColumnFamilyDescriptor::new(CF_PULL, cf_options(1 << 20)),
        ];
        let db = DB::open_cf_descriptors(&db_opts, path, descriptors).map_err(open_err)?;
        let mut synced = WriteOptions::default();
        synced.set_sync(true);
        let mut unsynced = WriteOptions::default();
        unsynced.set_sync(false);
        let store = Self {
            db,
            path: path.to_path_buf(),
            limits,
            writer: Mutex::new(()),
            synced,
            unsynced,
            observers: RwLock::new(Vec::new()),
        };
        store.check_format()?;
        Ok(store)
    }

    /// Checks the format marker, writing it into a database that is still empty (a fresh one,
    /// or one whose creation was interrupted before the marker was written).
    fn check_format(&self) -> Result<(), StoreError> {
        let foreign = |reason| StoreError::ForeignDatabase {
            path: self.path.clone(),
            reason,
        };
        match self.db.get_pinned(FORMAT_KEY)? {
            Some(value) if value.as_ref() == FORMAT_VALUE => Ok(()),
            Some(value) => Err(foreign(format!(
                "format marker {:?}",
                String::from_utf8_lossy(&value)
            ))),
            None => {
                for name in OUR_CFS {
                    let mut it = self.db.raw_iterator_cf(self.cf(name)?);
                    it.seek_to_first();
                    it.status()?;
                    if it.valid() {
                        return Err(foreign(format!("no format marker but {name} holds data")));
                    }
                }
                self.db.put_opt(FORMAT_KEY, FORMAT_VALUE, &self.synced)?;
                Ok(())
            }
        }
    }

    /// Registers `mailbox` for the Ed25519 key `pubkey` with the store's default quotas.
    /// Idempotent for the same key; a different key for an existing mailbox is refused.
    pub fn register(
        &self,
        mailbox: &MailboxId,
        pubkey: &[u8; PUBKEY_LEN],
    ) -> Result<Registered, StoreError> {
        self.register_as(mailbox, pubkey, self.limits.new_usage(), None)
    }

    /// [`register`](Self::register) with explicit quotas (e.g. a provider's own mailboxes).
    /// Registering again with the same key leaves the existing quotas as they are.
    pub fn register_with_quota(
        &self,
        mailbox: &MailboxId,
        pubkey: &[u8; PUBKEY_LEN],
        quota_payloads: u32,
        quota_bytes: u64,
    ) -> Result<Registered, StoreError> {
        MailboxLimits {
            quota_payloads,
            quota_bytes,
            ..self.limits
        }
        .validate()?;
        let usage = MailboxUsage::new(quota_payloads, quota_bytes);
        self.register_as(mailbox, pubkey, usage, None)
    }

    /// Registers `mailbox` (default quotas) and sets the secret its pull answers are sealed
    /// with, in one synced write. Registering again with the same key replaces the secret.
    pub fn register_with_pull_secret(
        &self,
        mailbox: &MailboxId,
        pubkey: &[u8; PUBKEY_LEN],
        pull_secret: &[u8; 32],
    ) -> Result<Registered, StoreError> {
        self.register_as(mailbox, pubkey, self.limits.new_usage(), Some(pull_secret))
    }

    fn register_as(
        &self,
        mailbox: &MailboxId,
        pubkey: &[u8; PUBKEY_LEN],
        usage: MailboxUsage,
        pull_secret: Option<&[u8; 32]>,
    ) -> Result<Registered, StoreError> {
        check_public_key(pubkey)?;
        let _guard = self.lock();
        let mut batch = WriteBatch::default();
        let outcome = match self.load_meta(mailbox)? {
            Some(meta) if meta.pubkey == *pubkey => Registered::AlreadyRegistered,
            Some(_) => return Err(Refusal::KeyMismatch.into()),
            None => {
                let meta = MailboxMeta {
                    pubkey: *pubkey,
                    usage,
                    low_seq: usage.next_seq,
                };
                batch.put_cf(self.cf(CF_META)?, mailbox, meta.encode());
                Registered::Created
            }
        };
        if let Some(secret) = pull_secret {
            batch.put_cf(self.cf(CF_PULL)?, mailbox, secret);
        }
        if !batch.is_empty() {
            self.db.write_opt(batch, &self.synced)?;
        }
        Ok(outcome)
    }

    /// Deletes `mailbox` with all it holds (registration, payloads, duplicate index, pull
    /// secret) in one synced write; false if it was not registered.
    pub fn unregister(&self, mailbox: &MailboxId) -> Result<bool, StoreError> {
        let _guard = self.lock();
        if self.load_meta(mailbox)?.is_none() {
            return Ok(false);
        }
        let mut batch = WriteBatch::default();
        batch.delete_cf(self.cf(CF_META)?, mailbox);
        batch.delete_cf(self.cf(CF_PULL)?, mailbox);
        let (payloads, dedup) = (self.cf(CF_PAYLOADS)?, self.cf(CF_DEDUP)?);
        batch.delete_range_cf(
            payloads,
            &payload_key(mailbox, 0)[..],
            &payload_upper_bound(mailbox)[..],
        );
        batch.delete_range_cf(
            dedup,
            &dedup_key(mailbox, &[0; 32])[..],
            &dedup_upper_bound(mailbox)[..],
        );
        self.db.write_opt(batch, &self.synced)?;
        Ok(true)
    }

    /// The pull secret registered for `mailbox`, if any (zeroed when dropped).
    pub fn pull_secret(
        &self,
        mailbox: &MailboxId,
    ) -> Result<Option<zeroize::Zeroizing<[u8; 32]>>, StoreError> {
        let Some(bytes) = self.db.get_pinned_cf(self.cf(CF_PULL)?, mailbox)? else {
            return Ok(None);
        };
        let secret: [u8; 32] = bytes
            .as_ref()
            .try_into()
            .map_err(|_| corrupt(CF_PULL, format!("pull secret of {} bytes", bytes.len())))?;
        Ok(Some(zeroize::Zeroizing::new(secret)))
    }

    /// The public key `mailbox` is registered with, if any.
    pub fn mailbox_key(&self, mailbox: &MailboxId) -> Result<Option<[u8; PUBKEY_LEN]>, StoreError> {
        Ok(self.load_meta(mailbox)?.map(|meta| meta.pubkey))
    }

    /// Counters, quotas and next sequence number of `mailbox`, if registered.
    pub fn stats(&self, mailbox: &MailboxId) -> Result<Option<MailboxUsage>, StoreError> {
        Ok(self.load_meta(mailbox)?.map(|meta| meta.usage))
    }

    /// Stores `payload` for `mailbox` at `now` (Unix seconds) and returns its sequence number
    /// once the write is synced. A payload already held (same bytes, within the TTL) is not
    /// stored again; its existing sequence number is returned.
    pub fn store(&self, mailbox: &MailboxId, payload: &[u8], now: u64) -> Result<u64, StoreError> {
        let mut results = self.store_batch(&[(*mailbox, payload)], now)?;
        results.pop().unwrap_or(Err(Refusal::EmptyPayload.into()))
    }

    /// Stores many payloads with one synced write (group commit). Each item gets its own
    /// outcome; refused items store nothing. The outer error means the write failed and
    /// none of the batch was stored.
    pub fn store_batch<P: AsRef<[u8]>>(
        &self,
        items: &[(MailboxId, P)],
        now: u64,
    ) -> Result<Vec<Result<u64, StoreError>>, StoreError> {
        // Size checks and index keys need no lock.
        let keys: Vec<Result<[u8; DEDUP_KEY_LEN], Refusal>> = items
            .iter()
            .map(|(mailbox, payload)| {
                let payload = payload.as_ref();
                self.limits.check_payload(payload.len())?;
                Ok(dedup_key(mailbox, &Sha256::digest(payload).into()))
            })
            .collect();
        let _guard = self.lock();
        let mut known = self.live_duplicates(keys.iter().filter_map(|k| k.as_ref().ok()), now)?;
        let (payload_cf, dedup_cf) = (self.cf(CF_PAYLOADS)?, self.cf(CF_DEDUP)?);
        let mut metas = StagedMetas::new();
        let mut batch = WriteBatch::default();
        let (mut puts, mut index, mut value) = (Vec::new(), Vec::new(), Vec::new());
        let mut results = Vec::with_capacity(items.len());
        for (key, (mailbox, payload)) in keys.into_iter().zip(items) {
            let key = match key {
                Ok(key) => key,
                Err(refusal) => {
                    results.push(Err(refusal.into()));
                    continue;
                }
            };
            if let Some(&seq) = known.get(&key) {
                results.push(Ok(seq));
                continue;
            }
            let staged = match self.staged(&mut metas, mailbox) {
                Ok(staged) => staged,
                Err(e) => {
                    results.push(Err(e));
                    continue;
                }
            };
            let len = payload.as_ref().len() as u64;
            if staged.meta.usage.fits(len).is_err() && !staged.swept {
                // Expired payloads still count until removed: free them before refusing.
                staged.swept = true;
                self.sweep_expired(mailbox, now, staged, &mut batch)?;
            }
            match staged.meta.usage.admit(len) {
                Ok(seq) => {
                    staged.dirty = true;
                    puts.push((payload_key(mailbox, seq), payload.as_ref()));
                    index.push((key, encode_dedup_value(seq, now)));
                    known.insert(key, seq);
                    results.push(Ok(seq));
                }
                Err(refusal) => results.push(Err(refusal.into())),
            }
        }
        // in key order: rocksdb's memtable inserts then land next to each other
        puts.sort_unstable_by_key(|p| p.0);
        index.sort_unstable_by_key(|d| d.0);
        for (key, payload) in puts {
            encode_payload_value(&mut value, now, payload);
            batch.put_cf(payload_cf, key, &value);
        }
        for (key, record) in index {
            batch.put_cf(dedup_cf, key, record);
        }
        self.commit(&metas, batch, &self.synced)?;
        self.tell_observers(metas.iter().filter(|(_, s)| s.dirty).map(|(m, _)| m));
        Ok(results)
    }

    /// Adds an observer of stores (see [`StoreObserver`]).
    pub fn observe_stores(&self, observer: StoreObserver) {
        self.observers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(observer);
    }

    fn tell_observers<'m>(&self, stored: impl Iterator<Item = &'m MailboxId>) {
        let observers = self
            .observers
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        if observers.is_empty() {
            return;
        }
        for mailbox in stored {
            for observe in observers.iter() {
                observe(mailbox);
            }
        }
    }

    /// The live entries of the duplicate index among `keys`, read in one batch. A damaged
    /// entry counts as absent: the payload is stored again and the entry rewritten.
    fn live_duplicates<'k>(
        &self,
        keys: impl Iterator<Item = &'k [u8; DEDUP_KEY_LEN]>,
        now: u64,
    ) -> Result<HashMap<[u8; DEDUP_KEY_LEN], u64>, StoreError> {
        let mut keys: Vec<&[u8; DEDUP_KEY_LEN]> = keys.collect();
        keys.sort_unstable();
        keys.dedup();
        let found = self
            .db
            .batched_multi_get_cf(self.cf(CF_DEDUP)?, keys.iter().copied(), true);
        let mut live = HashMap::new();
        for (key, value) in keys.into_iter().zip(found) {
            if let Some((seq, stored_at)) = value?.and_then(|v| decode_dedup_value(&v))
                && !self.limits.is_expired(stored_at, now)
            {
                live.insert(*key, seq);
            }
        }
        Ok(live)
    }

    /// Adds the changed registration records to `batch` and writes it.
    fn commit(
        &self,
        metas: &StagedMetas,
        mut batch: WriteBatch,
        write: &WriteOptions,
    ) -> Result<(), StoreError> {
        let meta_cf = self.cf(CF_META)?;
        for (mailbox, staged) in metas.iter().filter(|(_, s)| s.dirty) {
            batch.put_cf(meta_cf, mailbox, staged.meta.encode());
        }
        if !batch.is_empty() {
            self.db.write_opt(batch, write)?;
        }
        Ok(())
    }

    /// Up to `max` payloads of `mailbox`, oldest first, as `(seq, payload)`, skipping those
    /// past the TTL at `now` (which are removed on the way).
    pub fn fetch(
        &self,
        mailbox: &MailboxId,
        max: usize,
        now: u64,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        self.fetch_from(mailbox, 0, max, now)
    }

    /// [`fetch`](Self::fetch) of the payloads numbered `from` or more.
    pub fn fetch_from(
        &self,
        mailbox: &MailboxId,
        from: u64,
        max: usize,
        now: u64,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let meta = self.load_meta(mailbox)?.ok_or(Refusal::UnknownMailbox)?;
        let mut out = Vec::new();
        let mut expired = Vec::new();
        let mut it = self.mailbox_iter(mailbox, meta.low_seq.max(from), true)?;
        while out.len() < max {
            let Some((key, value)) = it.item() else { break };
            let seq = payload_seq(key, mailbox).ok_or_else(|| corrupt_payload_key(key))?;
            let (stored_at, payload) =
                decode_payload_value(value).ok_or_else(|| corrupt_payload_value(seq))?;
            if self.limits.is_expired(stored_at, now) {
                expired.push(seq);
            } else {
                out.push((seq, payload.to_vec()));
            }
            it.next();
        }
        it.status()?;
        drop(it);
        if !expired.is_empty() {
            // Not synced: losing this removal in a crash only means expire() redoes it.
            self.remove(&[(*mailbox, expired)], &self.unsynced)?;
        }
        Ok(out)
    }

    /// Deletes the payloads `seqs` of `mailbox` with a synced write; returns how many were
    /// there. Unknown sequence numbers are ignored.
    pub fn delete(&self, mailbox: &MailboxId, seqs: &[u64]) -> Result<usize, StoreError> {
        let mut results = self.remove(&[(*mailbox, seqs)], &self.synced)?;
        results.pop().unwrap_or(Ok(0))
    }

    /// [`delete`](Self::delete) for many mailboxes with one synced write (group commit).
    /// Each entry gets its own outcome; the outer error means nothing was deleted. A mailbox
    /// may appear more than once.
    pub fn delete_batch<S: AsRef<[u64]>>(
        &self,
        requests: &[(MailboxId, S)],
    ) -> Result<Vec<Result<usize, StoreError>>, StoreError> {
        self.remove(requests, &self.synced)
    }

    fn remove<S: AsRef<[u64]>>(
        &self,
        requests: &[(MailboxId, S)],
        write: &WriteOptions,
    ) -> Result<Vec<Result<usize, StoreError>>, StoreError> {
        let _guard = self.lock();
        let mut metas = StagedMetas::new();
        let mut batch = WriteBatch::default();
        let results = requests
            .iter()
            .map(|(mailbox, seqs)| {
                self.stage_removal(&mut metas, mailbox, seqs.as_ref(), &mut batch)
            })
            .collect();
        self.commit(&metas, batch, write)?;
        Ok(results)
    }

    /// Stages deletion of `wanted` of `mailbox` (one batched read finds which exist and how
    /// big they are); returns how many were there. Moves `low_seq` past the deleted head.
    fn stage_removal(
        &self,
        metas: &mut StagedMetas,
        mailbox: &MailboxId,
        wanted: &[u64],
        batch: &mut WriteBatch,
    ) -> Result<usize, StoreError> {
        let staged = self.staged(metas, mailbox)?;
        let mut seqs: Vec<u64> = wanted
            .iter()
            .copied()
            .filter(|seq| staged.removed.binary_search(seq).is_err())
            .collect();
        seqs.sort_unstable();
        seqs.dedup();
        let cf = self.cf(CF_PAYLOADS)?;
        let mut found = Vec::new();
        let low = staged.meta.low_seq;
        let moves_low = seqs.binary_search(&low).is_ok();
        let (mut new_low, mut scanned) = (None, false);
        match (seqs.first(), seqs.last()) {
            // dense (the usual confirmation of what a fetch returned): one range scan, which
            // also finds the new lowest live payload
            (Some(&first), Some(&last)) if last - first < 2 * seqs.len() as u64 + 64 => {
                let mut it = self.mailbox_iter(mailbox, first, false)?;
                while let Some((key, value)) = it.item() {
                    let seq = payload_seq(key, mailbox).ok_or_else(|| corrupt_payload_key(key))?;
                    let deleted = seqs.binary_search(&seq).is_ok();
                    if !deleted && seq >= low && new_low.is_none() {
                        new_low = staged.removed.binary_search(&seq).is_err().then_some(seq);
                    }
                    if seq > last && (!moves_low || new_low.is_some()) {
                        break;
                    }
                    if deleted {
                        found.push((payload_key(mailbox, seq), value.len()));
                    }
                    it.next();
                }
                it.status()?;
                scanned = true;
            }
            _ => {
                let keys: Vec<_> = seqs.iter().map(|&seq| payload_key(mailbox, seq)).collect();
                for (key, value) in keys
                    .iter()
                    .zip(self.db.batched_multi_get_cf(cf, &keys, true))
                {
                    found.extend(value?.map(|v| (*key, v.len())));
                }
            }
        }
        let removed = found.len();
        for (key, len) in found {
            batch.delete_cf(cf, key);
            staged
                .meta
                .usage
                .release(len.saturating_sub(STAMP_LEN) as u64);
            staged.dirty = true;
        }
        staged.removed.extend(seqs);
        staged.removed.sort_unstable();
        if moves_low {
            // a scan that found no live payload went to the end of the mailbox
            let past = staged.removed.last().map_or(low, |r| r.saturating_add(1));
            staged.meta.low_seq = match new_low {
                Some(seq) => seq,
                None if scanned => past,
                None => self.next_live_seq(mailbox, low, &staged.removed)?,
            };
            staged.dirty = true;
        }
        Ok(removed)
    }

    /// The lowest payload at or above `from` that is not in `skip` (sorted), or one past the
    /// largest of `skip` when there is none.
    fn next_live_seq(
        &self,
        mailbox: &MailboxId,
        from: u64,
        skip: &[u64],
    ) -> Result<u64, StoreError> {
        let mut it = self.mailbox_iter(mailbox, from, false)?;
        while let Some(key) = it.key() {
            let seq = payload_seq(key, mailbox).ok_or_else(|| corrupt_payload_key(key))?;
            if skip.binary_search(&seq).is_err() {
                return Ok(seq);
            }
            it.next();
        }
        it.status()?;
        Ok(skip
            .last()
            .map_or(from, |last| last.saturating_add(1))
            .max(from))
    }

    /// Removes every payload and duplicate-index entry past the TTL at `now`.
    ///
    /// Per mailbox the scan stops at the first live payload: payloads are stored in sequence
    /// order with the caller's clock, so older ones come first (one stamped out of order
    /// waits for the next pass; fetch skips it anyway). Not synced: a removal lost in a
    /// crash is redone by the next pass.
    pub fn expire(&self, now: u64) -> Result<ExpireReport, StoreError> {
        let mut report = ExpireReport::default();
        for mailbox in self.mailbox_ids()? {
            // One lock hold per mailbox, so acknowledged writes interleave with the sweep.
            let _guard = self.lock();
            let mut metas = StagedMetas::new();
            let mut batch = WriteBatch::default();
            let staged = self.staged(&mut metas, &mailbox)?;
            report.payloads += self.sweep_expired(&mailbox, now, staged, &mut batch)?;
            self.commit(&metas, batch, &self.unsynced)?;
        }
        report.dedup_entries = self.expire_dedup(now)?;
        Ok(report)
    }

    /// Removes the expired duplicate-index entries, [`params::EXPIRE_CHUNK`] per lock hold.
    fn expire_dedup(&self, now: u64) -> Result<usize, StoreError> {
        let cf = self.cf(CF_DEDUP)?;
        let mut opts = ReadOptions::default();
        opts.fill_cache(false);
        let mut it = self.db.raw_iterator_cf_opt(cf, opts);
        it.seek_to_first();
        let mut removed = 0;
        let mut candidates = Vec::new();
        loop {
            let item = it.item();
            if let Some((key, value)) = item {
                let (_, stored_at) = decode_dedup_value(value).ok_or_else(|| {
                    corrupt(
                        CF_DEDUP,
                        format!("entry {} does not parse", hex::encode(key)),
                    )
                })?;
                if self.limits.is_expired(stored_at, now) {
                    candidates.push(key.to_vec());
                }
            }
            if candidates.len() >= params::EXPIRE_CHUNK
                || (item.is_none() && !candidates.is_empty())
            {
                removed += self.remove_dedup(&candidates, now)?;
                candidates.clear();
            }
            if item.is_none() {
                break;
            }
            it.next();
        }
        it.status()?;
        Ok(removed)
    }

    /// Deletes the given duplicate-index entries that are still expired: a store may have
    /// refreshed one since the lock-free scan saw it.
    fn remove_dedup(&self, keys: &[Vec<u8>], now: u64) -> Result<usize, StoreError> {
        let cf = self.cf(CF_DEDUP)?;
        let _guard = self.lock();
        let mut batch = WriteBatch::default();
        for key in keys {
            let still_expired = self.db.get_pinned_cf(cf, key)?.is_some_and(|v| {
                decode_dedup_value(&v).is_none_or(|(_, at)| self.limits.is_expired(at, now))
            });
            if still_expired {
                batch.delete_cf(cf, key);
            }
        }
        let removed = batch.len();
        if removed > 0 {
            self.db.write_opt(batch, &self.unsynced)?;
        }
        Ok(removed)
    }

    /// Stages deletion of the expired payloads at the head of `mailbox`; returns how many.
    /// Reads the database, not `batch`: call at most once per mailbox per batch.
    fn sweep_expired(
        &self,
        mailbox: &MailboxId,
        now: u64,
        staged: &mut Staged,
        batch: &mut WriteBatch,
    ) -> Result<usize, StoreError> {
        let cf = self.cf(CF_PAYLOADS)?;
        let mut it = self.mailbox_iter(mailbox, staged.meta.low_seq, false)?;
        let mut removed = 0;
        while let Some((key, value)) = it.item() {
            let seq = payload_seq(key, mailbox).ok_or_else(|| corrupt_payload_key(key))?;
            let (stored_at, payload) =
                decode_payload_value(value).ok_or_else(|| corrupt_payload_value(seq))?;
            if !self.limits.is_expired(stored_at, now) {
                break;
            }
            batch.delete_cf(cf, key);
            staged.meta.usage.release(payload.len() as u64);
            // Past the last removed one; payloads staged in this batch come later still.
            staged.meta.low_seq = seq.saturating_add(1);
            staged.dirty = true;
            removed += 1;
            it.next();
        }
        it.status()?;
        Ok(removed)
    }

    /// The record of `mailbox` as staged so far in this write, loaded on first use.
    fn staged<'m>(
        &self,
        metas: &'m mut StagedMetas,
        mailbox: &MailboxId,
    ) -> Result<&'m mut Staged, StoreError> {
        Ok(match metas.entry(*mailbox) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => {
                let meta = self.load_meta(mailbox)?.ok_or(Refusal::UnknownMailbox)?;
                entry.insert(Staged {
                    meta,
                    dirty: false,
                    swept: false,
                    removed: Vec::new(),
                })
            }
        })
    }

    /// A raw iterator over `mailbox`'s payloads from `from` on, positioned at the first.
    fn mailbox_iter(
        &self,
        mailbox: &MailboxId,
        from: u64,
        fill_cache: bool,
    ) -> Result<rocksdb::DBRawIterator<'_>, StoreError> {
        let lower = payload_key(mailbox, from);
        let mut opts = ReadOptions::default();
        opts.set_iterate_lower_bound(lower);
        opts.set_iterate_upper_bound(payload_upper_bound(mailbox));
        opts.fill_cache(fill_cache);
        let mut it = self.db.raw_iterator_cf_opt(self.cf(CF_PAYLOADS)?, opts);
        it.seek(lower);
        Ok(it)
    }

    /// Mailboxes registered, and payloads and payload bytes held over all of them: a scan
    /// of the registrations, for `--metrics` (not for the packet path).
    pub fn totals(&self) -> Result<(u64, u64, u64), StoreError> {
        let (mut mailboxes, mut payloads, mut bytes) = (0, 0, 0);
        let mut it = self.db.raw_iterator_cf(self.cf(CF_META)?);
        it.seek_to_first();
        while let Some(usage) = it.value().and_then(MailboxMeta::decode).map(|m| m.usage) {
            mailboxes += 1;
            payloads += u64::from(usage.count);
            bytes += usage.bytes;
            it.next();
        }
        it.status()?;
        Ok((mailboxes, payloads, bytes))
    }

    fn mailbox_ids(&self) -> Result<Vec<MailboxId>, StoreError> {
        let mut ids = Vec::new();
        let mut it = self.db.raw_iterator_cf(self.cf(CF_META)?);
        it.seek_to_first();
        while let Some(key) = it.key() {
            ids.push(key.try_into().map_err(|_| {
                corrupt(
                    CF_META,
                    format!("{}-byte key, expected {MAILBOX_LEN}", key.len()),
                )
            })?);
            it.next();
        }
        it.status()?;
        Ok(ids)
    }

    fn load_meta(&self, mailbox: &MailboxId) -> Result<Option<MailboxMeta>, StoreError> {
        let Some(bytes) = self.db.get_pinned_cf(self.cf(CF_META)?, mailbox)? else {
            return Ok(None);
        };
        let meta = MailboxMeta::decode(&bytes).ok_or_else(|| {
            let id = hex::encode(&mailbox[..8]);
            corrupt(CF_META, format!("registration of {id}… does not parse"))
        })?;
        Ok(Some(meta))
    }

    fn cf(&self, name: &'static str) -> Result<&ColumnFamily, StoreError> {
        self.db
            .cf_handle(name)
            .ok_or(StoreError::MissingColumnFamily(name))
    }

    fn lock(&self) -> MutexGuard<'_, ()> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn corrupt_payload_key(key: &[u8]) -> StoreError {
    corrupt(CF_PAYLOADS, format!("malformed key {}", hex::encode(key)))
}

fn corrupt_payload_value(seq: u64) -> StoreError {
    corrupt(CF_PAYLOADS, format!("payload {seq} has no store time"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn pubkey(seed: u8) -> [u8; 32] {
        ed25519_dalek::SigningKey::from_bytes(&[seed; 32])
            .verifying_key()
            .to_bytes()
    }

    fn open(dir: &Path, limits: MailboxLimits) -> MailboxStore {
        MailboxStore::open(dir, limits).unwrap()
    }

    #[test]
    fn invalid_limits_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let limits = MailboxLimits {
            ttl: std::time::Duration::from_millis(500),
            ..MailboxLimits::default()
        };
        let err = MailboxStore::open(dir.path(), limits).unwrap_err();
        assert!(
            matches!(err, StoreError::Refused(Refusal::InvalidLimits(_))),
            "{err}"
        );
    }

    #[test]
    fn counters_follow_store_delete_and_lazy_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let limits = MailboxLimits {
            ttl: std::time::Duration::from_secs(100),
            ..MailboxLimits::default()
        };
        let store = open(dir.path(), limits);
        let mb = [4u8; 32];
        store.register(&mb, &pubkey(4)).unwrap();
        store.store(&mb, &[1; 10], 1_000).unwrap();
        store.store(&mb, &[2; 20], 1_050).unwrap();
        store.store(&mb, &[3; 30], 1_050).unwrap();
        let stats = store.stats(&mb).unwrap().unwrap();
        assert_eq!((stats.count, stats.bytes, stats.next_seq), (3, 60, 3));
        // Deleting the same seq twice in one call counts it once.
        assert_eq!(store.delete(&mb, &[1, 1, 99]).unwrap(), 1);
        let stats = store.stats(&mb).unwrap().unwrap();
        assert_eq!((stats.count, stats.bytes), (2, 40));
        // At 1100 the first payload is past its TTL: fetch skips and removes it.
        let got = store.fetch(&mb, 10, 1_100).unwrap();
        assert_eq!(got, vec![(2, vec![3; 30])]);
        let stats = store.stats(&mb).unwrap().unwrap();
        assert_eq!((stats.count, stats.bytes), (1, 30));
    }

    #[test]
    fn full_mailbox_frees_expired_payloads_before_refusing() {
        let dir = tempfile::tempdir().unwrap();
        let limits = MailboxLimits {
            ttl: std::time::Duration::from_secs(100),
            quota_payloads: 2,
            ..MailboxLimits::default()
        };
        let store = open(dir.path(), limits);
        let mb = [5u8; 32];
        store.register(&mb, &pubkey(5)).unwrap();
        store.store(&mb, b"a", 0).unwrap();
        store.store(&mb, b"b", 50).unwrap();
        assert!(matches!(
            store.store(&mb, b"c", 60),
            Err(StoreError::Refused(Refusal::PayloadQuotaExceeded {
                limit: 2
            }))
        ));
        // At 100 "a" has expired, which makes room for "c".
        assert_eq!(store.store(&mb, b"c", 100).unwrap(), 2);
        let got: Vec<u64> = store
            .fetch(&mb, 10, 100)
            .unwrap()
            .into_iter()
            .map(|p| p.0)
            .collect();
        assert_eq!(got, vec![1, 2]);
    }

    #[test]
    fn duplicate_within_one_batch_is_stored_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path(), MailboxLimits::default());
        let mb = [6u8; 32];
        store.register(&mb, &pubkey(6)).unwrap();
        let items = [
            (mb, b"same".to_vec()),
            (mb, b"other".to_vec()),
            (mb, b"same".to_vec()),
        ];
        let results: Vec<u64> = store
            .store_batch(&items, 10)
            .unwrap()
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(results, vec![0, 1, 0]);
        assert_eq!(store.stats(&mb).unwrap().unwrap().count, 2);
    }

    /// Stores `n` distinct 8-byte payloads in `mb` at time 1000, with seqs 0..n.
    fn fill(store: &MailboxStore, mb: &MailboxId, n: u64) {
        let items: Vec<(MailboxId, Vec<u8>)> =
            (0..n).map(|i| (*mb, i.to_be_bytes().to_vec())).collect();
        for result in store.store_batch(&items, 1_000).unwrap() {
            result.unwrap();
        }
    }

    fn low_seq(store: &MailboxStore, mb: &MailboxId) -> u64 {
        store.load_meta(mb).unwrap().unwrap().low_seq
    }

    fn held(store: &MailboxStore, mb: &MailboxId) -> Vec<u64> {
        let got = store.fetch(mb, usize::MAX, 1_000).unwrap();
        got.into_iter().map(|p| p.0).collect()
    }

    #[test]
    fn delete_batch_counts_each_payload_once_per_write() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path(), MailboxLimits::default());
        let mb = [7u8; 32];
        store.register(&mb, &pubkey(7)).unwrap();
        fill(&store, &mb, 10);
        let requests: Vec<(MailboxId, Vec<u64>)> = vec![
            (mb, vec![0, 1, 2]),
            (mb, vec![2, 3, 3]),
            ([0x77; 32], vec![1]),
            (mb, vec![42]),
        ];
        let results = store.delete_batch(&requests).unwrap();
        assert_eq!(results[0].as_ref().unwrap(), &3);
        assert_eq!(
            results[1].as_ref().unwrap(),
            &1,
            "2 went with the first entry"
        );
        assert!(matches!(
            results[2],
            Err(StoreError::Refused(Refusal::UnknownMailbox))
        ));
        assert_eq!(results[3].as_ref().unwrap(), &0);
        let stats = store.stats(&mb).unwrap().unwrap();
        assert_eq!((stats.count, stats.bytes), (6, 6 * 8));
        assert_eq!(held(&store, &mb), (4..10).collect::<Vec<_>>());
        assert_eq!(low_seq(&store, &mb), 4);
    }

    #[test]
    fn low_seq_follows_deletions() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path(), MailboxLimits::default());
        let mb = [8u8; 32];
        store.register(&mb, &pubkey(8)).unwrap();
        fill(&store, &mb, 200);
        // Not the lowest: low_seq stays.
        assert_eq!(store.delete(&mb, &[5, 6]).unwrap(), 2);
        assert_eq!(low_seq(&store, &mb), 0);
        // Sparse (point lookups): the lowest and one far away.
        assert_eq!(store.delete(&mb, &[0, 150, 10_000]).unwrap(), 2);
        assert_eq!(low_seq(&store, &mb), 1);
        // Dense (one scan) across the gap left by 5 and 6.
        assert_eq!(store.delete(&mb, &(1..=4).collect::<Vec<_>>()).unwrap(), 4);
        assert_eq!(low_seq(&store, &mb), 7);
        assert_eq!(
            store.delete(&mb, &(7..150).collect::<Vec<_>>()).unwrap(),
            143
        );
        assert_eq!(low_seq(&store, &mb), 151);
        // Everything: low_seq goes past the end, and the next payload lands there.
        assert_eq!(
            store.delete(&mb, &(151..200).collect::<Vec<_>>()).unwrap(),
            49
        );
        assert_eq!(low_seq(&store, &mb), 200);
        assert!(held(&store, &mb).is_empty());
        assert_eq!(store.stats(&mb).unwrap().unwrap().count, 0);
        assert_eq!(store.store(&mb, b"later", 1_000).unwrap(), 200);
        assert_eq!(held(&store, &mb), vec![200]);
    }

    #[test]
    fn one_write_deleting_a_mailbox_twice_keeps_low_seq_right() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path(), MailboxLimits::default());
        let cases: [(&[u64], &[u64], u64); 4] = [
            (&[0, 1, 2, 3, 4], &[5, 6, 7, 8, 9], 10),
            (&[5, 6, 7, 8, 9], &[0, 1, 2, 3, 4], 10),
            (&[3], &[0, 100], 1),
            (&[1, 2], &[0, 4], 3),
        ];
        for (n, (first, second, low)) in cases.into_iter().enumerate() {
            let mb = [n as u8 + 10; 32];
            store.register(&mb, &pubkey(n as u8 + 10)).unwrap();
            fill(&store, &mb, 10);
            let requests = [(mb, first.to_vec()), (mb, second.to_vec())];
            let removed: usize = store
                .delete_batch(&requests)
                .unwrap()
                .into_iter()
                .map(Result::unwrap)
                .sum();
            let gone = first.len() + second.iter().filter(|&&s| s < 10).count();
            assert_eq!(removed, gone, "case {n}");
            assert_eq!(low_seq(&store, &mb), low, "case {n}");
            let left = held(&store, &mb);
            assert_eq!(left.len(), 10 - gone, "case {n}");
            assert_eq!(
                store.stats(&mb).unwrap().unwrap().count as usize,
                left.len()
            );
        }
    }

    #[test]
    fn store_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<MailboxStore>();
    }
}
