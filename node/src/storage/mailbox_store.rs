//! Durable short-term mailboxes: a provider keeps final-hop payloads for offline users until
//! they fetch and confirm them, or until the TTL runs out.
//!
//! Column families (one rocksdb database per node):
//! - `mailbox_meta`: `mailbox` → registration (Ed25519 key, quota, next sequence number,
//!   running count/bytes), see [`MailboxMeta`].
//! - `mailboxes`: `mailbox ‖ seq (u64 BE)` → `stored_at (u64 BE) ‖ payload`; a mailbox's
//!   payloads are contiguous and oldest first, so fetch and expiry are bounded range scans.
//! - `mailbox_dedup`: `mailbox ‖ sha256(payload)` → `seq ‖ stored_at`; a payload arriving
//!   twice within the TTL is stored once. The entry outlives a client's delete (until the
//!   TTL), so a retransmission of an already delivered payload is not delivered again.
//!
//! Every acknowledged write is one synced `WriteBatch` that carries the payloads, their
//! duplicate-index entries and the updated registration record together: the counters and
//! `next_seq` can never disagree with the payloads, even after a crash, and sequence numbers
//! never repeat across restarts. Read-modify-write of the registration records is serialised
//! by one writer lock; reads (fetch, lookups) take no lock.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use rocksdb::{
    BlockBasedOptions, ColumnFamily, ColumnFamilyDescriptor, DB, DBCompressionType, Options,
    ReadOptions, WriteBatch, WriteOptions,
};
use sha2::{Digest, Sha256};

use super::codec::{
    DEDUP_KEY_LEN, DEDUP_VALUE_LEN, MAILBOX_LEN, MailboxId, MailboxMeta, PAYLOAD_KEY_LEN,
    PUBKEY_LEN, STAMP_LEN, decode_dedup_value, decode_payload_value, dedup_key, encode_dedup_value,
    encode_payload_value, payload_key, payload_seq, payload_upper_bound,
};

/// Defaults of [`MailboxLimits`], with their units and reasons.
pub mod params {
    use std::time::Duration;

    /// How long an undelivered payload is kept: 7 days. Covers a client that is offline over
    /// a long weekend or a trip with slack, while bounding how much history a provider holds
    /// (and could be compelled to hand over).
    pub const DEFAULT_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);

    /// Most payloads one mailbox holds: 10 000. About 6.5 such 1 MiB messages (685 fragments
    /// each) — ample for a week of personal traffic, and it caps per-mailbox index work.
    pub const DEFAULT_QUOTA_PAYLOADS: u32 = 10_000;

    /// Most payload bytes one mailbox holds: 64 MiB. Above the 10 000 × 2031 B ≈ 19.4 MiB the
    /// count quota allows for full-size payloads, so the count quota binds first by default;
    /// the byte quota matters when an operator raises the count. 1 000 mailboxes at their
    /// byte quota fit in 64 GiB of disk.
    pub const DEFAULT_QUOTA_BYTES: u64 = 64 * 1024 * 1024;

    /// Largest payload accepted, in bytes: the plaintext a final-hop Sphinx packet carries
    /// (`wesh_mix::params::MAX_PLAINTEXT_BYTES`, 2031 B). Anything bigger cannot come from
    /// the mixnet, so it is refused rather than stored.
    pub const MAX_PAYLOAD_BYTES: usize = wesh_mix::params::MAX_PLAINTEXT_BYTES;

    /// Duplicate-index entries re-checked and deleted per lock hold during [`expire`], so a
    /// large sweep never holds off acknowledged writes for long.
    ///
    /// [`expire`]: super::MailboxStore::expire
    pub const EXPIRE_CHUNK: usize = 4096;

    /// Old write-ahead log files kept for reuse: 2. Overwriting a log whose blocks are
    /// allocated already spares each synced write a journal commit for the file's growth;
    /// two cover the rotation (one being reused while the next becomes obsolete).
    pub const WAL_RECYCLE_FILES: usize = 2;

    /// Write-ahead log bytes after which the column families still holding the oldest log
    /// are flushed: 128 MiB, two generations of the 64 MiB payload memtable. Without a cap
    /// rocksdb allows 4 × all write buffers (≈ 1.2 GiB here), which the rarely written
    /// registrations would keep alive: no log would become reusable and a restart would
    /// replay all of it.
    pub const MAX_TOTAL_WAL_BYTES: u64 = 128 << 20;
}

const CF_META: &str = "mailbox_meta";
const CF_PAYLOADS: &str = "mailboxes";
const CF_DEDUP: &str = "mailbox_dedup";
/// `mailbox` → the 32-byte pull secret its owner registered (seals its pull answers).
const CF_PULL: &str = "mailbox_pull";
const OUR_CFS: [&str; 4] = [CF_META, CF_PAYLOADS, CF_DEDUP, CF_PULL];

/// A deletion whose sequence numbers span fewer than `2 × count + DENSE_SLACK` is done with
/// one range scan rather than a point lookup per number.
const DENSE_SLACK: u64 = 64;

/// Marks a database as ours, in the default column family, so a foreign rocksdb directory is
/// refused instead of silently getting our column families added.
const FORMAT_KEY: &[u8] = b"wesh.format";
const FORMAT_VALUE: &[u8] = b"wesh-mailbox-store v1";

/// Limits of a [`MailboxStore`]; quotas are copied into a mailbox's record when it registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailboxLimits {
    /// How long a payload is kept after it is stored (whole seconds; see [`params::DEFAULT_TTL`]).
    pub ttl: Duration,
    /// Most payloads a mailbox holds (see [`params::DEFAULT_QUOTA_PAYLOADS`]).
    pub quota_payloads: u32,
    /// Most payload bytes a mailbox holds (see [`params::DEFAULT_QUOTA_BYTES`]).
    pub quota_bytes: u64,
    /// Largest payload accepted (see [`params::MAX_PAYLOAD_BYTES`]).
    pub max_payload_bytes: usize,
}

impl Default for MailboxLimits {
    fn default() -> Self {
        Self {
            ttl: params::DEFAULT_TTL,
            quota_payloads: params::DEFAULT_QUOTA_PAYLOADS,
            quota_bytes: params::DEFAULT_QUOTA_BYTES,
            max_payload_bytes: params::MAX_PAYLOAD_BYTES,
        }
    }
}

impl MailboxLimits {
    fn validate(&self) -> Result<(), StoreError> {
        if self.ttl.as_secs() == 0 {
            return Err(StoreError::InvalidLimits("ttl must be at least one second"));
        }
        if self.quota_payloads == 0 || self.quota_bytes == 0 {
            return Err(StoreError::InvalidLimits("quotas must be non-zero"));
        }
        if self.max_payload_bytes == 0 {
            return Err(StoreError::InvalidLimits(
                "max_payload_bytes must be non-zero",
            ));
        }
        Ok(())
    }
}

/// Outcome of a successful registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registered {
    /// The mailbox is new.
    Created,
    /// The mailbox already existed with this very key; nothing changed.
    AlreadyRegistered,
}

/// What a mailbox currently holds and may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailboxStats {
    /// Payloads held (expired ones not yet removed included).
    pub payloads: u32,
    /// Payload bytes held.
    pub bytes: u64,
    /// Sequence number the next payload will get.
    pub next_seq: u64,
    /// Payload quota.
    pub quota_payloads: u32,
    /// Byte quota.
    pub quota_bytes: u64,
}

/// What [`MailboxStore::expire`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExpireReport {
    /// Payloads past their TTL.
    pub payloads: usize,
    /// Duplicate-index entries past their TTL.
    pub dedup_entries: usize,
}

/// First 8 bytes of a mailbox id in hex: enough to tell mailboxes apart in a log line.
struct Short<'a>(&'a [u8]);

impl fmt::Display for Short<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len().min(8);
        write!(f, "{}…", hex::encode(&self.0[..n]))
    }
}

/// Errors of the mailbox store. None of them leaves a partial write behind.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The limits given to [`MailboxStore::open`] are unusable.
    #[error("invalid mailbox limits: {0}")]
    InvalidLimits(&'static str),
    /// The database path exists but is not a directory.
    #[error("mailbox database path {} exists but is not a directory", .path.display())]
    NotADirectory {
        /// The path given.
        path: PathBuf,
    },
    /// rocksdb refused to open the database (damaged files, locked by another process, …).
    #[error("cannot open mailbox database at {}: {source}", .path.display())]
    Open {
        /// The path given.
        path: PathBuf,
        /// rocksdb's reason.
        source: rocksdb::Error,
    },
    /// The directory holds a rocksdb database that is not a mailbox store.
    #[error("{} holds a database that is not a wesh mailbox store ({reason})", .path.display())]
    ForeignDatabase {
        /// The path given.
        path: PathBuf,
        /// What gave it away.
        reason: String,
    },
    /// A read or write failed inside rocksdb.
    #[error("mailbox database operation failed: {0}")]
    Db(#[from] rocksdb::Error),
    /// A column family this code creates is missing from the open database.
    #[error("column family {0} is missing from the mailbox database")]
    MissingColumnFamily(&'static str),
    /// A record does not parse: the database is damaged or was written by other code.
    #[error("damaged record in column family {cf}: {detail}")]
    Corrupt {
        /// Column family of the record.
        cf: &'static str,
        /// Which record and what is wrong with it.
        detail: String,
    },
    /// The public key is not a valid Ed25519 point.
    #[error("mailbox public key is not a valid Ed25519 public key")]
    InvalidPublicKey,
    /// The mailbox is registered with another key; re-registration would hand it over.
    #[error("mailbox {} is already registered with a different public key", Short(.mailbox))]
    KeyMismatch {
        /// The mailbox.
        mailbox: MailboxId,
    },
    /// No such mailbox is registered.
    #[error("mailbox {} is not registered", Short(.mailbox))]
    UnknownMailbox {
        /// The mailbox.
        mailbox: MailboxId,
    },
    /// Empty payloads carry nothing and are refused.
    #[error("payload is empty")]
    EmptyPayload,
    /// The payload exceeds [`MailboxLimits::max_payload_bytes`].
    #[error("payload of {len} bytes exceeds the {max}-byte limit")]
    PayloadTooLarge {
        /// Bytes given.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// The mailbox holds its quota of payloads.
    #[error("mailbox {} is full: it holds its quota of {limit} payloads", Short(.mailbox))]
    PayloadQuotaExceeded {
        /// The mailbox.
        mailbox: MailboxId,
        /// Its payload quota.
        limit: u32,
    },
    /// The payload would take the mailbox over its byte quota.
    #[error(
        "mailbox {} is full: {held} + {len} bytes would exceed its {limit}-byte quota",
        Short(.mailbox)
    )]
    ByteQuotaExceeded {
        /// The mailbox.
        mailbox: MailboxId,
        /// Payload bytes already held.
        held: u64,
        /// Bytes of the refused payload.
        len: u64,
        /// Its byte quota.
        limit: u64,
    },
    /// The mailbox has used every sequence number (2^64 payloads; not reachable in practice).
    #[error("mailbox {} has exhausted its sequence numbers", Short(.mailbox))]
    SequenceExhausted {
        /// The mailbox.
        mailbox: MailboxId,
    },
}

/// The durable mailbox store. `Send + Sync`: share it behind an `Arc`.
pub struct MailboxStore {
    db: DB,
    path: PathBuf,
    limits: MailboxLimits,
    ttl_secs: u64,
    /// Serialises every read-modify-write of registration records and the duplicate index;
    /// guards the working memory of a write, reused so the hot path does not allocate per
    /// batch. The database is the only state (the scratch is cleared before each use), so
    /// a poisoned lock carries no broken invariant and is simply taken over.
    writer: Mutex<Scratch>,
    synced: WriteOptions,
    unsynced: WriteOptions,
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

impl MailboxStore {
    /// Opens (or creates) the store at `path`.
    ///
    /// Refuses a path that is a file, a damaged database, and a rocksdb database that is
    /// not a mailbox store.
    pub fn open(path: impl AsRef<Path>, limits: MailboxLimits) -> Result<Self, StoreError> {
        let path = path.as_ref();
        limits.validate()?;
        if let Ok(meta) = std::fs::metadata(path)
            && !meta.is_dir()
        {
            return Err(StoreError::NotADirectory {
                path: path.to_path_buf(),
            });
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
        let existing = path.join("CURRENT").exists();
        if existing {
            let found = DB::list_cf(&db_opts, path).map_err(open_err)?;
            if let Some(missing) = OUR_CFS.iter().find(|cf| !found.iter().any(|f| f == *cf)) {
                return Err(StoreError::ForeignDatabase {
                    path: path.to_path_buf(),
                    reason: format!("no column family {missing}"),
                });
            }
        }

        // Synced writes dominate: reuse old log files (see the params for why and how many).
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
            ttl_secs: limits.ttl.as_secs(),
            writer: Mutex::new(Scratch::default()),
            synced,
            unsynced,
        };
        store.check_format()?;
        Ok(store)
    }

    /// Checks the format marker, writing it into a database that is still empty (a fresh one,
    /// or one whose creation was interrupted before the marker was written).
    fn check_format(&self) -> Result<(), StoreError> {
        match self.db.get_pinned(FORMAT_KEY)? {
            Some(value) if value.as_ref() == FORMAT_VALUE => Ok(()),
            Some(value) => Err(StoreError::ForeignDatabase {
                path: self.path.clone(),
                reason: format!(
                    "format marker {:?}, expected {:?}",
                    String::from_utf8_lossy(&value),
                    String::from_utf8_lossy(FORMAT_VALUE)
                ),
            }),
            None => {
                for name in OUR_CFS {
                    let mut it = self.db.raw_iterator_cf(self.cf(name)?);
                    it.seek_to_first();
                    it.status()?;
                    if it.valid() {
                        return Err(StoreError::ForeignDatabase {
                            path: self.path.clone(),
                            reason: format!("no format marker but {name} holds data"),
                        });
                    }
                }
                self.db.put_opt(FORMAT_KEY, FORMAT_VALUE, &self.synced)?;
                Ok(())
            }
        }
    }

    /// The limits the store was opened with.
    pub fn limits(&self) -> &MailboxLimits {
        &self.limits
    }

    /// Registers `mailbox` for the Ed25519 key `pubkey` with the store's default quotas.
    /// Idempotent for the same key; a different key for an existing mailbox is refused.
    pub fn register(
        &self,
        mailbox: &MailboxId,
        pubkey: &[u8; PUBKEY_LEN],
    ) -> Result<Registered, StoreError> {
        self.register_with_quota(
            mailbox,
            pubkey,
            self.limits.quota_payloads,
            self.limits.quota_bytes,
        )
    }

    /// [`register`](Self::register) with explicit quotas (e.g. a paid tier). Re-registering
    /// with the same key leaves the existing quotas as they are.
    pub fn register_with_quota(
        &self,
        mailbox: &MailboxId,
        pubkey: &[u8; PUBKEY_LEN],
        quota_payloads: u32,
        quota_bytes: u64,
    ) -> Result<Registered, StoreError> {
        if quota_payloads == 0 || quota_bytes == 0 {
            return Err(StoreError::InvalidLimits("quotas must be non-zero"));
        }
        ed25519_dalek::VerifyingKey::from_bytes(pubkey)
            .map_err(|_| StoreError::InvalidPublicKey)?;
        let _guard = self.lock();
        match self.load_meta(mailbox)? {
            Some(meta) if meta.pubkey == *pubkey => Ok(Registered::AlreadyRegistered),
            Some(_) => Err(StoreError::KeyMismatch { mailbox: *mailbox }),
            None => {
                let meta = MailboxMeta {
                    pubkey: *pubkey,
                    quota_payloads,
                    quota_bytes,
                    next_seq: 0,
                    count: 0,
                    bytes: 0,
                    low_seq: 0,
                };
                self.db
                    .put_cf_opt(self.cf(CF_META)?, mailbox, meta.encode(), &self.synced)?;
                Ok(Registered::Created)
            }
        }
    }

    /// Registers `mailbox` (default quotas) and sets the secret its pull answers are sealed
    /// with, in one synced write. Registering again with the same key replaces the secret
    /// and keeps the payloads; another key is refused.
    pub fn register_with_pull_secret(
        &self,
        mailbox: &MailboxId,
        pubkey: &[u8; PUBKEY_LEN],
        pull_secret: &[u8; 32],
    ) -> Result<Registered, StoreError> {
        ed25519_dalek::VerifyingKey::from_bytes(pubkey)
            .map_err(|_| StoreError::InvalidPublicKey)?;
        let _guard = self.lock();
        let mut batch = WriteBatch::default();
        let outcome = match self.load_meta(mailbox)? {
            Some(meta) if meta.pubkey == *pubkey => Registered::AlreadyRegistered,
            Some(_) => return Err(StoreError::KeyMismatch { mailbox: *mailbox }),
            None => {
                let meta = MailboxMeta {
                    pubkey: *pubkey,
                    quota_payloads: self.limits.quota_payloads,
                    quota_bytes: self.limits.quota_bytes,
                    next_seq: 0,
                    count: 0,
                    bytes: 0,
                    low_seq: 0,
                };
                batch.put_cf(self.cf(CF_META)?, mailbox, meta.encode());
                Registered::Created
            }
        };
        batch.put_cf(self.cf(CF_PULL)?, mailbox, pull_secret);
        self.db.write_opt(batch, &self.synced)?;
        Ok(outcome)
    }

    /// The pull secret registered for `mailbox`, if any (zeroed when dropped).
    pub fn pull_secret(
        &self,
        mailbox: &MailboxId,
    ) -> Result<Option<zeroize::Zeroizing<[u8; 32]>>, StoreError> {
        match self.db.get_pinned_cf(self.cf(CF_PULL)?, mailbox)? {
            None => Ok(None),
            Some(bytes) => {
                let secret: [u8; 32] =
                    bytes.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                        cf: CF_PULL,
                        detail: format!("pull secret of {} bytes", bytes.len()),
                    })?;
                Ok(Some(zeroize::Zeroizing::new(secret)))
            }
        }
    }

    /// The public key `mailbox` is registered with, if any.
    pub fn mailbox_key(&self, mailbox: &MailboxId) -> Result<Option<[u8; PUBKEY_LEN]>, StoreError> {
        Ok(self.load_meta(mailbox)?.map(|meta| meta.pubkey))
    }

    /// Counters and quotas of `mailbox`, if registered.
    pub fn stats(&self, mailbox: &MailboxId) -> Result<Option<MailboxStats>, StoreError> {
        Ok(self.load_meta(mailbox)?.map(|meta| MailboxStats {
            payloads: meta.count,
            bytes: meta.bytes,
            next_seq: meta.next_seq,
            quota_payloads: meta.quota_payloads,
            quota_bytes: meta.quota_bytes,
        }))
    }

    /// Stores `payload` for `mailbox` at time `now` (Unix seconds) and returns its sequence
    /// number once the write is synced to disk. A payload already held (same bytes, within
    /// the TTL) is not stored again; its existing sequence number is returned.
    pub fn store(&self, mailbox: &MailboxId, payload: &[u8], now: u64) -> Result<u64, StoreError> {
        // One item in, one outcome out (the fallback is unreachable).
        let mut results = self.store_batch(&[(*mailbox, payload)], now)?;
        results.pop().unwrap_or(Err(StoreError::EmptyPayload))
    }

    /// Stores many payloads with one synced write (group commit): the way to reach high
    /// durable throughput. Each item gets its own outcome; refused items store nothing.
    /// The outer error means the write itself (or the batch's duplicate-index read) failed
    /// and none of the batch was stored.
    ///
    /// The payloads are hashed before the writer lock is taken; under the lock the
    /// registrations are loaded once per mailbox, the duplicate index is read with one
    /// batched lookup, and the new records are appended to the write in key order (which
    /// keeps rocksdb's memtable inserts next to each other).
    pub fn store_batch<P: AsRef<[u8]>>(
        &self,
        items: &[(MailboxId, P)],
        now: u64,
    ) -> Result<Vec<Result<u64, StoreError>>, StoreError> {
        // Size checks and duplicate-index keys need no lock.
        let mut checked: Vec<Result<[u8; DEDUP_KEY_LEN], StoreError>> = items
            .iter()
            .map(|(mailbox, payload)| {
                let payload = payload.as_ref();
                self.check_payload(payload)?;
                let digest: [u8; 32] = Sha256::digest(payload).into();
                Ok(dedup_key(mailbox, &digest))
            })
            .collect();

        let mut guard = self.lock();
        let Scratch {
            metas,
            keys,
            known,
            payloads,
            dedup,
            value,
            ..
        } = &mut *guard;
        metas.clear();
        keys.clear();
        payloads.clear();
        dedup.clear();

        // Registrations, once per mailbox; the keys worth a duplicate-index lookup.
        let mut batch_bytes = 0;
        for (check, (mailbox, payload)) in checked.iter_mut().zip(items) {
            if let Ok(key) = check {
                match staged_in(self, metas, mailbox) {
                    Ok(Some(_)) => {
                        keys.push(*key);
                        // Value and key of the payload, plus its index entry and framing.
                        batch_bytes += payload.as_ref().len() + 200;
                    }
                    Ok(None) => *check = Err(StoreError::UnknownMailbox { mailbox: *mailbox }),
                    Err(err) => *check = Err(err),
                }
            }
        }
        keys.sort_unstable();
        keys.dedup();
        self.lookup_duplicates(keys, known, now)?;

        let mut batch = WriteBatch::with_capacity_bytes(batch_bytes + 1024);
        let mut results = Vec::with_capacity(items.len());
        for (index, (check, (mailbox, payload))) in checked.into_iter().zip(items).enumerate() {
            let outcome = check.and_then(|key| {
                let slot = keys.partition_point(|k| *k < key);
                match known.get(slot) {
                    Some(Known::Seq(seq)) => return Ok(*seq),
                    Some(Known::Damaged(detail)) => {
                        return Err(StoreError::Corrupt {
                            cf: CF_DEDUP,
                            detail: detail.clone(),
                        });
                    }
                    Some(Known::Absent) | None => {}
                }
                let len = payload.as_ref().len();
                let seq = self.stage_new(metas, mailbox, len as u64, now, &mut batch)?;
                payloads.push((payload_key(mailbox, seq), index));
                dedup.push((key, encode_dedup_value(seq, now)));
                if let Some(known) = known.get_mut(slot) {
                    *known = Known::Seq(seq);
                }
                Ok(seq)
            });
            results.push(outcome);
        }

        let payload_cf = self.cf(CF_PAYLOADS)?;
        payloads.sort_unstable_by_key(|p| p.0);
        for (key, index) in payloads.iter() {
            if let Some((_, payload)) = items.get(*index) {
                encode_payload_value(value, now, payload.as_ref());
                batch.put_cf(payload_cf, key, value.as_slice());
            }
        }
        let dedup_cf = self.cf(CF_DEDUP)?;
        dedup.sort_unstable_by_key(|d| d.0);
        for (key, record) in dedup.iter() {
            batch.put_cf(dedup_cf, key, record);
        }
        self.commit(metas, batch, &self.synced)?;
        Ok(results)
    }

    /// Refuses empty and oversized payloads.
    fn check_payload(&self, payload: &[u8]) -> Result<(), StoreError> {
        if payload.is_empty() {
            return Err(StoreError::EmptyPayload);
        }
        if payload.len() > self.limits.max_payload_bytes {
            return Err(StoreError::PayloadTooLarge {
                len: payload.len(),
                max: self.limits.max_payload_bytes,
            });
        }
        Ok(())
    }

    /// Fills `known` (in step with the sorted `keys`) with the live duplicates the index
    /// holds, in one batched read.
    fn lookup_duplicates(
        &self,
        keys: &[[u8; DEDUP_KEY_LEN]],
        known: &mut Vec<Known>,
        now: u64,
    ) -> Result<(), StoreError> {
        known.clear();
        if keys.is_empty() {
            return Ok(());
        }
        let found = self
            .db
            .batched_multi_get_cf(self.cf(CF_DEDUP)?, keys.iter(), true);
        for (key, value) in keys.iter().zip(found) {
            known.push(match value? {
                None => Known::Absent,
                Some(value) => match dedup_record(key, &value) {
                    Ok((seq, stored_at)) if !self.is_expired(stored_at, now) => Known::Seq(seq),
                    Ok(_) => Known::Absent,
                    Err(StoreError::Corrupt { detail, .. }) => Known::Damaged(detail),
                    Err(err) => return Err(err),
                },
            });
        }
        Ok(())
    }

    /// Takes the next sequence number of `mailbox` for a new payload of `len` bytes, first
    /// sweeping its expired payloads if the quota would refuse it. `mailbox` is loaded.
    fn stage_new(
        &self,
        metas: &mut HashMap<MailboxId, Staged>,
        mailbox: &MailboxId,
        len: u64,
        now: u64,
        sweep: &mut WriteBatch,
    ) -> Result<u64, StoreError> {
        let Some(staged) = metas.get_mut(mailbox) else {
            return Err(StoreError::UnknownMailbox { mailbox: *mailbox });
        };
        if staged.check_quota(mailbox, len).is_err() && !staged.swept {
            // Expired payloads still count until removed: free them before refusing.
            staged.swept = true;
            self.sweep_expired(mailbox, now, staged, sweep)?;
        }
        staged.check_quota(mailbox, len)?;
        let seq = staged.meta.next_seq;
        staged.meta.next_seq = seq
            .checked_add(1)
            .ok_or(StoreError::SequenceExhausted { mailbox: *mailbox })?;
        staged.meta.count = staged.meta.count.saturating_add(1);
        staged.meta.bytes = staged.meta.bytes.saturating_add(len);
        staged.dirty = true;
        Ok(seq)
    }

    /// Adds the changed registration records to `batch` and writes it.
    fn commit(
        &self,
        metas: &HashMap<MailboxId, Staged>,
        mut batch: WriteBatch,
        write: &WriteOptions,
    ) -> Result<(), StoreError> {
        let meta_cf = self.cf(CF_META)?;
        for (mailbox, staged) in metas {
            if staged.dirty {
                batch.put_cf(meta_cf, mailbox, staged.meta.encode());
            }
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
        let Some(meta) = self.load_meta(mailbox)? else {
            return Err(StoreError::UnknownMailbox { mailbox: *mailbox });
        };
        let mut out = Vec::new();
        let mut expired = Vec::new();
        {
            let mut it = self.mailbox_iter(mailbox, meta.low_seq, true)?;
            while out.len() < max {
                let Some((key, value)) = it.item() else { break };
                let seq = payload_seq(key, mailbox).ok_or_else(|| corrupt_payload_key(key))?;
                let (stored_at, payload) =
                    decode_payload_value(value).ok_or_else(|| corrupt_payload_value(seq))?;
                if self.is_expired(stored_at, now) {
                    expired.push(seq);
                } else {
                    out.push((seq, payload.to_vec()));
                }
                it.next();
            }
            it.status()?;
        }
        if !expired.is_empty() {
            // Not synced: losing this removal in a crash only means expire() redoes it.
            self.remove_one(mailbox, &expired, &self.unsynced)?;
        }
        Ok(out)
    }

    /// Deletes the payloads `seqs` of `mailbox` (the client confirmed them) with a synced
    /// write; returns how many were there. Unknown sequence numbers are ignored.
    pub fn delete(&self, mailbox: &MailboxId, seqs: &[u64]) -> Result<usize, StoreError> {
        self.remove_one(mailbox, seqs, &self.synced)
    }

    /// [`delete`](Self::delete) for many mailboxes with one synced write (group commit, as
    /// [`store_batch`](Self::store_batch) does for stores). Each entry gets its own outcome
    /// (how many of its payloads were there, or why it was refused); the outer error means
    /// the write failed and nothing was deleted. A mailbox may appear more than once.
    pub fn delete_batch<S: AsRef<[u64]>>(
        &self,
        requests: &[(MailboxId, S)],
    ) -> Result<Vec<Result<usize, StoreError>>, StoreError> {
        self.remove_many(requests, &self.synced)
    }

    /// Removes every payload and duplicate-index entry past the TTL at `now`.
    ///
    /// Per mailbox the scan stops at the first live payload: payloads are stored in
    /// sequence order with the caller's clock, so older ones come first. A payload stamped
    /// out of order (the clock went back) waits for the next pass; fetch skips it anyway.
    /// Writes are not synced: a removal lost in a crash is redone by the next pass.
    pub fn expire(&self, now: u64) -> Result<ExpireReport, StoreError> {
        let mut report = ExpireReport::default();
        for mailbox in self.mailbox_ids()? {
            // One lock hold per mailbox, so acknowledged writes interleave with the sweep.
            let mut guard = self.lock();
            let metas = &mut guard.metas;
            metas.clear();
            let mut batch = WriteBatch::default();
            if let Some(staged) = staged_in(self, metas, &mailbox)? {
                report.payloads += self.sweep_expired(&mailbox, now, staged, &mut batch)?;
            }
            self.commit(metas, batch, &self.unsynced)?;
        }
        report.dedup_entries = self.expire_dedup(now)?;
        Ok(report)
    }

    fn expire_dedup(&self, now: u64) -> Result<usize, StoreError> {
        let cf = self.cf(CF_DEDUP)?;
        let mut candidates: Vec<[u8; DEDUP_KEY_LEN]> = Vec::new();
        let mut removed = 0;
        let mut opts = ReadOptions::default();
        opts.fill_cache(false);
        let mut it = self.db.raw_iterator_cf_opt(cf, opts);
        it.seek_to_first();
        loop {
            let done = match it.item() {
                Some((key, value)) => {
                    let (_, stored_at) = dedup_record(key, value)?;
                    if self.is_expired(stored_at, now) {
                        let key: [u8; DEDUP_KEY_LEN] =
                            key.try_into().map_err(|_| StoreError::Corrupt {
                                cf: CF_DEDUP,
                                detail: format!("{}-byte key", key.len()),
                            })?;
                        candidates.push(key);
                    }
                    false
                }
                None => true,
            };
            if !done {
                it.next();
            }
            if candidates.len() >= params::EXPIRE_CHUNK || (done && !candidates.is_empty()) {
                removed += self.remove_dedup(&candidates, now)?;
                candidates.clear();
            }
            if done {
                break;
            }
        }
        it.status()?;
        Ok(removed)
    }

    /// Deletes the given duplicate-index entries that are still expired: a store may have
    /// refreshed one since the lock-free scan saw it.
    fn remove_dedup(&self, keys: &[[u8; DEDUP_KEY_LEN]], now: u64) -> Result<usize, StoreError> {
        let cf = self.cf(CF_DEDUP)?;
        let _guard = self.lock();
        let mut batch = WriteBatch::default();
        for key in keys {
            let still_expired = match self.db.get_pinned_cf(cf, key)? {
                Some(value) => {
                    decode_dedup_value(&value).is_none_or(|(_, at)| self.is_expired(at, now))
                }
                None => false,
            };
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

    /// [`remove_many`](Self::remove_many) for one mailbox, with its refusal as the error.
    fn remove_one(
        &self,
        mailbox: &MailboxId,
        seqs: &[u64],
        write: &WriteOptions,
    ) -> Result<usize, StoreError> {
        // One request in, one outcome out (the fallback is unreachable).
        let mut results = self.remove_many(&[(*mailbox, seqs)], write)?;
        results
            .pop()
            .unwrap_or(Err(StoreError::UnknownMailbox { mailbox: *mailbox }))
    }

    /// Deletes the given payloads of each mailbox in one write under the writer lock,
    /// keeping the counters in step.
    fn remove_many<S: AsRef<[u64]>>(
        &self,
        requests: &[(MailboxId, S)],
        write: &WriteOptions,
    ) -> Result<Vec<Result<usize, StoreError>>, StoreError> {
        let mut guard = self.lock();
        let Scratch { metas, seqs, .. } = &mut *guard;
        metas.clear();
        let mut batch = WriteBatch::default();
        let results = requests
            .iter()
            .map(|(mailbox, wanted)| {
                self.stage_removal(metas, seqs, mailbox, wanted.as_ref(), &mut batch)
            })
            .collect();
        self.commit(metas, batch, write)?;
        Ok(results)
    }

    /// Stages deletion of `wanted` of `mailbox`; returns how many of them were there.
    ///
    /// A dense set of sequence numbers (the usual confirmation of what a fetch returned) is
    /// found with one range scan, which also finds the new lowest live payload; a sparse
    /// one with point lookups.
    fn stage_removal(
        &self,
        metas: &mut HashMap<MailboxId, Staged>,
        seqs: &mut Vec<u64>,
        mailbox: &MailboxId,
        wanted: &[u64],
        batch: &mut WriteBatch,
    ) -> Result<usize, StoreError> {
        let Some(staged) = staged_in(self, metas, mailbox)? else {
            return Err(StoreError::UnknownMailbox { mailbox: *mailbox });
        };
        // Each seq once, and none this write already removes: the batch is not visible to
        // reads, so a repeat would be counted twice.
        seqs.clear();
        seqs.extend_from_slice(wanted);
        seqs.sort_unstable();
        seqs.dedup();
        if !staged.removed.is_empty() {
            seqs.retain(|seq| staged.removed.binary_search(seq).is_err());
        }
        let (Some(&first), Some(&last)) = (seqs.first(), seqs.last()) else {
            return Ok(0);
        };
        // low_seq is the lowest live payload (or past the end): only deleting it moves it.
        let moves_low = seqs.binary_search(&staged.meta.low_seq).is_ok();
        let cf = self.cf(CF_PAYLOADS)?;
        let mut removed = 0;
        let dense = last - first < 2 * seqs.len() as u64 + DENSE_SLACK;
        if dense {
            let low = staged.meta.low_seq;
            let mut new_low = None;
            let mut it = self.mailbox_iter(mailbox, first, false)?;
            while let Some((key, value)) = it.item() {
                let seq = payload_seq(key, mailbox).ok_or_else(|| corrupt_payload_key(key))?;
                let kept = staged.removed.binary_search(&seq).is_err();
                if seq > last {
                    if moves_low && new_low.is_none() && kept {
                        new_low = Some(seq);
                    }
                    if !moves_low || new_low.is_some() {
                        break;
                    }
                } else if seqs.binary_search(&seq).is_ok() {
                    // A damaged value is deleted too: the client asked for it to go.
                    batch.delete_cf(cf, key);
                    staged.release(value.len().saturating_sub(STAMP_LEN) as u64);
                    removed += 1;
                } else if new_low.is_none() && seq >= low && kept {
                    new_low = Some(seq);
                }
                it.next();
            }
            it.status()?;
            if moves_low {
                let past = staged.removed.last().map_or(last, |&r| r.max(last));
                staged.meta.low_seq = new_low.unwrap_or(past.saturating_add(1));
                staged.dirty = true;
            }
        } else {
            for &seq in seqs.iter() {
                let key = payload_key(mailbox, seq);
                if let Some(value) = self.db.get_pinned_cf(cf, key)? {
                    batch.delete_cf(cf, key);
                    staged.release(value.len().saturating_sub(STAMP_LEN) as u64);
                    removed += 1;
                }
            }
        }
        staged.removed.extend_from_slice(seqs);
        staged.removed.sort_unstable();
        if moves_low && !dense {
            let low = staged.meta.low_seq;
            staged.meta.low_seq = self.next_live_seq(mailbox, low, &staged.removed)?;
            staged.dirty = true;
        }
        Ok(removed)
    }

    /// The lowest payload at or above `from` that is not in `skip` (sorted), or one past the
    /// largest of `skip` when there is none. Passes over only the skipped payloads.
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
        let mut new_low = None;
        while let Some((key, value)) = it.item() {
            let seq = payload_seq(key, mailbox).ok_or_else(|| corrupt_payload_key(key))?;
            let (stored_at, payload) =
                decode_payload_value(value).ok_or_else(|| corrupt_payload_value(seq))?;
            if !self.is_expired(stored_at, now) {
                new_low = Some(seq);
                break;
            }
            batch.delete_cf(cf, key);
            staged.release(payload.len() as u64);
            removed += 1;
            // Past the last removed one; payloads staged in this batch come later still.
            new_low = Some(seq.saturating_add(1));
            it.next();
        }
        it.status()?;
        if let Some(low) = new_low
            && removed > 0
        {
            staged.meta.low_seq = low;
            staged.dirty = true;
        }
        Ok(removed)
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

    fn mailbox_ids(&self) -> Result<Vec<MailboxId>, StoreError> {
        let mut ids = Vec::new();
        let mut it = self.db.raw_iterator_cf(self.cf(CF_META)?);
        it.seek_to_first();
        while let Some(key) = it.key() {
            let id: MailboxId = key.try_into().map_err(|_| StoreError::Corrupt {
                cf: CF_META,
                detail: format!("{}-byte key, expected {MAILBOX_LEN}", key.len()),
            })?;
            ids.push(id);
            it.next();
        }
        it.status()?;
        Ok(ids)
    }

    fn load_meta(&self, mailbox: &MailboxId) -> Result<Option<MailboxMeta>, StoreError> {
        match self.db.get_pinned_cf(self.cf(CF_META)?, mailbox)? {
            None => Ok(None),
            Some(bytes) => {
                MailboxMeta::decode(&bytes)
                    .map(Some)
                    .ok_or_else(|| StoreError::Corrupt {
                        cf: CF_META,
                        detail: format!(
                            "registration of mailbox {} does not parse ({} bytes)",
                            Short(mailbox),
                            bytes.len()
                        ),
                    })
            }
        }
    }

    /// Expired once `ttl` whole seconds have passed: alive at `stored_at + ttl - 1`, gone at
    /// `stored_at + ttl`.
    fn is_expired(&self, stored_at: u64, now: u64) -> bool {
        now >= stored_at.saturating_add(self.ttl_secs)
    }

    fn cf(&self, name: &'static str) -> Result<&ColumnFamily, StoreError> {
        self.db
            .cf_handle(name)
            .ok_or(StoreError::MissingColumnFamily(name))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Scratch> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn corrupt_payload_key(key: &[u8]) -> StoreError {
    StoreError::Corrupt {
        cf: CF_PAYLOADS,
        detail: format!("malformed key {}", hex::encode(key)),
    }
}

fn corrupt_payload_value(seq: u64) -> StoreError {
    StoreError::Corrupt {
        cf: CF_PAYLOADS,
        detail: format!("payload {seq} has no store time"),
    }
}

/// A registration record being updated within one write.
struct Staged {
    meta: MailboxMeta,
    dirty: bool,
    swept: bool,
    /// Sequence numbers this write deletes (sorted), so a mailbox named twice in one
    /// [`MailboxStore::delete_batch`] is not counted twice.
    removed: Vec<u64>,
}

impl Staged {
    fn release(&mut self, len: u64) {
        self.meta.count = self.meta.count.saturating_sub(1);
        self.meta.bytes = self.meta.bytes.saturating_sub(len);
        self.dirty = true;
    }

    fn check_quota(&self, mailbox: &MailboxId, len: u64) -> Result<(), StoreError> {
        let meta = &self.meta;
        if meta.count >= meta.quota_payloads {
            return Err(StoreError::PayloadQuotaExceeded {
                mailbox: *mailbox,
                limit: meta.quota_payloads,
            });
        }
        if meta.bytes.saturating_add(len) > meta.quota_bytes {
            return Err(StoreError::ByteQuotaExceeded {
                mailbox: *mailbox,
                held: meta.bytes,
                len,
                limit: meta.quota_bytes,
            });
        }
        Ok(())
    }
}

/// The record of `mailbox` as staged so far in `metas`, loaded on first use; `None` if the
/// mailbox is not registered.
fn staged_in<'m>(
    store: &MailboxStore,
    metas: &'m mut HashMap<MailboxId, Staged>,
    mailbox: &MailboxId,
) -> Result<Option<&'m mut Staged>, StoreError> {
    Ok(match metas.entry(*mailbox) {
        Entry::Occupied(entry) => Some(entry.into_mut()),
        Entry::Vacant(entry) => match store.load_meta(mailbox)? {
            Some(meta) => Some(entry.insert(Staged {
                meta,
                dirty: false,
                swept: false,
                removed: Vec::new(),
            })),
            None => None,
        },
    })
}

/// What the duplicate index says about one key of a batch.
enum Known {
    /// No live entry: the payload is new (so far).
    Absent,
    /// The same payload is held (or staged in this batch) under this sequence number.
    Seq(u64),
    /// The entry does not parse; the text says which.
    Damaged(String),
}

/// Working memory of the write being built, guarded by the writer lock and kept between
/// writes so the hot path does not allocate per batch (cleared, its buffers keep their
/// capacity).
#[derive(Default)]
struct Scratch {
    /// Registration records the write reads or changes.
    metas: HashMap<MailboxId, Staged>,
    /// Distinct duplicate-index keys of the batch, sorted.
    keys: Vec<[u8; DEDUP_KEY_LEN]>,
    /// What the index holds for each of `keys`, in step.
    known: Vec<Known>,
    /// New payloads: key and index of the item, appended to the write in key order.
    payloads: Vec<([u8; PAYLOAD_KEY_LEN], usize)>,
    /// New duplicate-index entries, appended to the write in key order.
    dedup: Vec<([u8; DEDUP_KEY_LEN], [u8; DEDUP_VALUE_LEN])>,
    /// A payload value being encoded.
    value: Vec<u8>,
    /// Sequence numbers of a deletion, sorted.
    seqs: Vec<u64>,
}

/// A dedup record (sequence, store time), or a `Corrupt` error naming the entry.
fn dedup_record(key: &[u8], value: &[u8]) -> Result<(u64, u64), StoreError> {
    decode_dedup_value(value).ok_or_else(|| StoreError::Corrupt {
        cf: CF_DEDUP,
        detail: format!(
            "entry {} has a {}-byte value",
            hex::encode(key),
            value.len()
        ),
    })
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
    fn defaults_are_valid_and_documented_values() {
        let limits = MailboxLimits::default();
        assert!(limits.validate().is_ok());
        assert_eq!(limits.ttl, Duration::from_secs(604_800));
        assert_eq!(limits.max_payload_bytes, 2031);
        // The count quota binds first for full-size payloads, as params explains.
        assert!(
            u64::from(limits.quota_payloads) * limits.max_payload_bytes as u64
                <= limits.quota_bytes
        );
    }

    #[test]
    fn invalid_limits_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let limits = MailboxLimits {
            ttl: Duration::from_millis(500),
            ..MailboxLimits::default()
        };
        let err = MailboxStore::open(dir.path(), limits).unwrap_err();
        assert!(matches!(err, StoreError::InvalidLimits(_)), "{err}");
    }

    #[test]
    fn invalid_public_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path(), MailboxLimits::default());
        // Roughly half of all y-coordinates have no point on the curve: take the first.
        let bad = (0u8..=255)
            .map(|b| {
                let mut k = [0u8; 32];
                k[0] = b;
                k
            })
            .find(|k| ed25519_dalek::VerifyingKey::from_bytes(k).is_err())
            .unwrap();
        let err = store.register(&[1; 32], &bad).unwrap_err();
        assert!(matches!(err, StoreError::InvalidPublicKey), "{err}");
        assert_eq!(store.mailbox_key(&[1; 32]).unwrap(), None);
    }

    #[test]
    fn counters_follow_store_delete_and_lazy_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let limits = MailboxLimits {
            ttl: Duration::from_secs(100),
            ..MailboxLimits::default()
        };
        let store = open(dir.path(), limits);
        let mb = [4u8; 32];
        store.register(&mb, &pubkey(4)).unwrap();
        store.store(&mb, &[1; 10], 1_000).unwrap();
        store.store(&mb, &[2; 20], 1_050).unwrap();
        store.store(&mb, &[3; 30], 1_050).unwrap();
        let stats = store.stats(&mb).unwrap().unwrap();
        assert_eq!((stats.payloads, stats.bytes, stats.next_seq), (3, 60, 3));
        // Deleting the same seq twice in one call counts it once.
        assert_eq!(store.delete(&mb, &[1, 1, 99]).unwrap(), 1);
        let stats = store.stats(&mb).unwrap().unwrap();
        assert_eq!((stats.payloads, stats.bytes), (2, 40));
        // At 1100 the first payload is past its TTL: fetch skips and removes it.
        let got = store.fetch(&mb, 10, 1_100).unwrap();
        assert_eq!(got, vec![(2, vec![3; 30])]);
        let stats = store.stats(&mb).unwrap().unwrap();
        assert_eq!((stats.payloads, stats.bytes), (1, 30));
    }

    #[test]
    fn full_mailbox_frees_expired_payloads_before_refusing() {
        let dir = tempfile::tempdir().unwrap();
        let limits = MailboxLimits {
            ttl: Duration::from_secs(100),
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
            Err(StoreError::PayloadQuotaExceeded { limit: 2, .. })
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
        assert_eq!(store.stats(&mb).unwrap().unwrap().payloads, 2);
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
        assert!(matches!(results[2], Err(StoreError::UnknownMailbox { .. })));
        assert_eq!(results[3].as_ref().unwrap(), &0);
        let stats = store.stats(&mb).unwrap().unwrap();
        assert_eq!((stats.payloads, stats.bytes), (6, 6 * 8));
        assert_eq!(held(&store, &mb), (4..10).collect::<Vec<_>>());
        assert_eq!(low_seq(&store, &mb), 4);
    }

    #[test]
    fn low_seq_follows_dense_and_sparse_deletions() {
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
        assert_eq!(store.stats(&mb).unwrap().unwrap().payloads, 0);
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
                store.stats(&mb).unwrap().unwrap().payloads as usize,
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
