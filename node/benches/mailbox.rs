//! Durable mailbox throughput with group commit, against raw rocksdb doing the same disk work.
//!
//! One cycle = one batch of `BATCH` (default 256; `WESH_BENCH_BATCH` overrides) payloads of
//! 2,031 bytes spread over 4 mailboxes, in two timed phases:
//!
//! 1. store: made durable by a single synced write;
//! 2. fetch + delete: read back, then deleted with a single synced write (the provider's
//!    steady state: clients fetch and confirm, so every cycle sees mailboxes of the same
//!    size and fetch returns exactly the payloads just stored).
//!
//! - `mailbox_store`: `MailboxStore::store_batch`, then `fetch` per mailbox and one
//!   `delete_batch`.
//! - `raw_rocksdb`: the same keys and values (`mailbox ‖ seq` → `stamp ‖ payload`) in one
//!   database with default options plus the store's write-ahead-log settings (recycled log
//!   files, capped log size: the same cost per fsync): a synced `WriteBatch` of puts, then a
//!   `get_pinned` loop that copies each value out and a synced `WriteBatch` of deletes. No
//!   hashing, duplicate index, registration records or quota checks.
//!
//! Criterion times whole cycles of each. The machine's speed drifts (shared 2-core VM), so
//! the ratio is taken from a separate pass that alternates the two cycle by cycle (ABBA)
//! and times each phase; it prints payloads/s per phase and the ratios at the end.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rocksdb::{DB, DBCompressionType, Options, WriteBatch, WriteOptions};
use wesh_shell::storage::{MailboxLimits, MailboxStore, params};

const MAILBOXES: usize = 4;
const PAYLOAD_BYTES: usize = 2031;
const NOW: u64 = 1_700_000_000;
/// Cycles of each kind in the alternating pass (a few in `cargo test --benches`).
const ROUNDS: usize = 400;

fn batch_size() -> usize {
    std::env::var("WESH_BENCH_BATCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n >= MAILBOXES)
        .unwrap_or(256)
}

fn mailbox_id(i: usize) -> [u8; 32] {
    let mut id = [0x6d; 32];
    id[31] = i as u8;
    id
}

/// Time spent in each phase of some cycles.
#[derive(Default, Clone, Copy)]
struct Phases {
    store: Duration,
    fetch_delete: Duration,
}

impl Phases {
    fn add(&mut self, other: Phases) {
        self.store += other.store;
        self.fetch_delete += other.fetch_delete;
    }

    fn total(&self) -> Duration {
        self.store + self.fetch_delete
    }
}

fn per_s(payloads: usize, time: Duration) -> f64 {
    payloads as f64 / time.as_secs_f64().max(f64::MIN_POSITIVE)
}

/// The store side: four registered mailboxes and a batch of items made unique per cycle
/// (the store would deduplicate repeated bytes and skip the write).
struct StoreSide {
    _dir: tempfile::TempDir,
    store: MailboxStore,
    items: Vec<([u8; 32], Vec<u8>)>,
    counter: u64,
    per_mailbox: usize,
}

impl StoreSide {
    fn new(batch: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let limits = MailboxLimits {
            quota_payloads: u32::MAX,
            quota_bytes: u64::MAX,
            ..MailboxLimits::default()
        };
        let store = MailboxStore::open(dir.path(), limits).unwrap();
        for i in 0..MAILBOXES {
            let key = ed25519_dalek::SigningKey::from_bytes(&[i as u8 + 1; 32]).verifying_key();
            store.register(&mailbox_id(i), &key.to_bytes()).unwrap();
        }
        let items = (0..batch)
            .map(|i| (mailbox_id(i % MAILBOXES), vec![0xab; PAYLOAD_BYTES]))
            .collect();
        Self {
            _dir: dir,
            store,
            items,
            counter: 0,
            per_mailbox: batch.div_ceil(MAILBOXES),
        }
    }

    fn cycle(&mut self) -> Phases {
        for item in &mut self.items {
            self.counter += 1;
            item.1[..8].copy_from_slice(&self.counter.to_be_bytes());
        }
        let start = Instant::now();
        let results = self.store.store_batch(&self.items, NOW).unwrap();
        let stored = start.elapsed();
        assert!(results.iter().all(Result::is_ok));

        let start = Instant::now();
        let mut confirm = Vec::with_capacity(MAILBOXES);
        let mut fetched = 0;
        for i in 0..MAILBOXES {
            let got = self
                .store
                .fetch(&mailbox_id(i), self.per_mailbox, NOW)
                .unwrap();
            fetched += got.len();
            let seqs: Vec<u64> = got.iter().map(|p| p.0).collect();
            black_box(got);
            confirm.push((mailbox_id(i), seqs));
        }
        let deleted = self.store.delete_batch(&confirm).unwrap();
        let fetch_delete = start.elapsed();
        assert_eq!(fetched, self.items.len());
        let deleted: usize = deleted.into_iter().map(Result::unwrap).sum();
        assert_eq!(deleted, self.items.len());
        Phases {
            store: stored,
            fetch_delete,
        }
    }
}

/// The raw side: one rocksdb database written and read the naive way.
struct RawSide {
    _dir: tempfile::TempDir,
    db: DB,
    synced: WriteOptions,
    keys: Vec<[u8; 40]>,
    value: Vec<u8>,
    seq: u64,
}

impl RawSide {
    fn new(batch: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.set_compression_type(DBCompressionType::None);
        opts.set_recycle_log_file_num(params::WAL_RECYCLE_FILES);
        opts.set_max_total_wal_size(params::MAX_TOTAL_WAL_BYTES);
        let db = DB::open(&opts, dir.path()).unwrap();
        let mut synced = WriteOptions::default();
        synced.set_sync(true);
        Self {
            _dir: dir,
            db,
            synced,
            keys: vec![[0; 40]; batch],
            value: vec![0xab; 8 + PAYLOAD_BYTES],
            seq: 0,
        }
    }

    fn cycle(&mut self) -> Phases {
        for (i, key) in self.keys.iter_mut().enumerate() {
            self.seq += 1;
            key[..32].copy_from_slice(&mailbox_id(i % MAILBOXES));
            key[32..].copy_from_slice(&self.seq.to_be_bytes());
        }
        let start = Instant::now();
        let mut batch = WriteBatch::default();
        for key in &self.keys {
            self.value[8..16].copy_from_slice(&key[32..]);
            batch.put(key, &self.value);
        }
        self.db.write_opt(batch, &self.synced).unwrap();
        let stored = start.elapsed();

        let start = Instant::now();
        for key in &self.keys {
            let got = self.db.get_pinned(key).unwrap().unwrap();
            black_box(got.to_vec());
        }
        let mut batch = WriteBatch::default();
        for key in &self.keys {
            batch.delete(key);
        }
        self.db.write_opt(batch, &self.synced).unwrap();
        Phases {
            store: stored,
            fetch_delete: start.elapsed(),
        }
    }
}

fn bench_mailbox(c: &mut Criterion) {
    let batch = batch_size();
    let mut store = StoreSide::new(batch);
    let mut raw = RawSide::new(batch);

    let mut group = c.benchmark_group(format!("durable_cycle_{batch}x{PAYLOAD_BYTES}B"));
    group.throughput(Throughput::Elements(batch as u64));
    group.sample_size(10);
    group.bench_function("mailbox_store", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| store.cycle().total()).sum())
    });
    group.bench_function("raw_rocksdb", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| raw.cycle().total()).sum())
    });
    group.finish();

    // The ratio: both sides alternate cycle by cycle, so drift hits them alike.
    let rounds = if std::env::args().any(|a| a == "--bench") {
        ROUNDS
    } else {
        2
    };
    let (mut ours, mut theirs) = (Phases::default(), Phases::default());
    for round in 0..rounds {
        if round % 4 == 0 || round % 4 == 3 {
            ours.add(store.cycle());
            theirs.add(raw.cycle());
        } else {
            theirs.add(raw.cycle());
            ours.add(store.cycle());
        }
    }
    let n = rounds * batch;
    let line = |name: &str, ours: Duration, theirs: Duration| {
        let (a, b) = (per_s(n, ours), per_s(n, theirs));
        println!(
            "  {name:<13} mailbox_store {a:>8.0}/s   raw rocksdb {b:>8.0}/s   ratio {:.2}",
            a / b
        );
    };
    println!(
        "durable payloads/s, {rounds} alternating cycles of {batch} × {PAYLOAD_BYTES} B \
         over {MAILBOXES} mailboxes:"
    );
    line("store", ours.store, theirs.store);
    line("fetch+delete", ours.fetch_delete, theirs.fetch_delete);
    line("whole cycle", ours.total(), theirs.total());
}

criterion_group!(benches, bench_mailbox);
criterion_main!(benches);
