//! Durable mailbox throughput with group commit, against raw rocksdb doing the same disk work.
//!
//! One iteration = one batch of 256 payloads of 2031 bytes for 4 mailboxes, made durable by a
//! single synced write, then read back. Timed: the synced write and the read-back. Untimed:
//! deleting the batch again, so every iteration sees a mailbox of the same size (the provider's
//! steady state: clients fetch and confirm) and fetch returns exactly the payloads just stored.
//!
//! - `mailbox_store`: `MailboxStore::store_batch` + `fetch` per mailbox.
//! - `raw_rocksdb`: a synced `WriteBatch` of the same 256 key/values + a `get_pinned` loop.
//!
//! Payloads per second for both, and their ratio, are printed at the end.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::Cell;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rocksdb::{DB, DBCompressionType, Options, WriteBatch, WriteOptions};
use wesh_node::storage::{MailboxLimits, MailboxStore};

const BATCH: usize = 256;
const MAILBOXES: usize = 4;
const PAYLOAD_BYTES: usize = 2031;
const NOW: u64 = 1_700_000_000;

/// Payloads and time measured so far, warm-up included.
#[derive(Default)]
struct Tally {
    payloads: Cell<u64>,
    time: Cell<Duration>,
}

impl Tally {
    fn add(&self, payloads: u64, time: Duration) {
        self.payloads.set(self.payloads.get() + payloads);
        self.time.set(self.time.get() + time);
    }

    fn rate(&self) -> f64 {
        self.payloads.get() as f64 / self.time.get().as_secs_f64().max(f64::MIN_POSITIVE)
    }
}

/// `BATCH` items over `MAILBOXES` mailboxes, made unique per call by `counter` (the store
/// would deduplicate repeated bytes and skip the write).
fn refill(items: &mut [([u8; 32], Vec<u8>)], counter: &mut u64) {
    for item in items {
        *counter += 1;
        item.1[..8].copy_from_slice(&counter.to_be_bytes());
    }
}

fn mailbox_id(i: usize) -> [u8; 32] {
    let mut id = [0x6d; 32];
    id[31] = i as u8;
    id
}

fn bench_mailbox(c: &mut Criterion) {
    let mut group = c.benchmark_group("durable_batch_256x2031B");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(10);

    let store_tally = Tally::default();
    let raw_tally = Tally::default();

    // --- MailboxStore ---
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
    let mut items: Vec<([u8; 32], Vec<u8>)> = (0..BATCH)
        .map(|i| (mailbox_id(i % MAILBOXES), vec![0xab; PAYLOAD_BYTES]))
        .collect();
    let mut counter = 0u64;
    let per_mailbox = BATCH / MAILBOXES;
    group.bench_function("mailbox_store", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                refill(&mut items, &mut counter);
                let start = Instant::now();
                let results = store.store_batch(&items, NOW).unwrap();
                let mut fetched = Vec::with_capacity(MAILBOXES);
                for i in 0..MAILBOXES {
                    let got = store.fetch(&mailbox_id(i), per_mailbox, NOW).unwrap();
                    assert_eq!(got.len(), per_mailbox);
                    fetched.push(black_box(got));
                }
                timed += start.elapsed();
                assert!(results.iter().all(Result::is_ok));
                for (i, got) in fetched.iter().enumerate() {
                    let seqs: Vec<u64> = got.iter().map(|p| p.0).collect();
                    store.delete(&mailbox_id(i), &seqs).unwrap();
                }
            }
            store_tally.add(iters * BATCH as u64, timed);
            timed
        })
    });

    // --- raw rocksdb: same keys, values and sync, none of the bookkeeping ---
    let raw_dir = tempfile::tempdir().unwrap();
    let mut opts = Options::default();
    opts.create_if_missing(true);
    opts.set_compression_type(DBCompressionType::None);
    let db = DB::open(&opts, raw_dir.path()).unwrap();
    let mut synced = WriteOptions::default();
    synced.set_sync(true);
    let mut seq = 0u64;
    let mut value = vec![0xab; 8 + PAYLOAD_BYTES];
    group.bench_function("raw_rocksdb", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                let keys: Vec<[u8; 40]> = (0..BATCH)
                    .map(|i| {
                        seq += 1;
                        let mut k = [0u8; 40];
                        k[..32].copy_from_slice(&mailbox_id(i % MAILBOXES));
                        k[32..].copy_from_slice(&seq.to_be_bytes());
                        k
                    })
                    .collect();
                let start = Instant::now();
                let mut batch = WriteBatch::default();
                for k in &keys {
                    value[8..16].copy_from_slice(&k[32..]);
                    batch.put(k, &value);
                }
                db.write_opt(batch, &synced).unwrap();
                for k in &keys {
                    let got = db.get_pinned(k).unwrap().unwrap();
                    black_box(got.to_vec());
                }
                timed += start.elapsed();
                let mut del = WriteBatch::default();
                for k in &keys {
                    del.delete(k);
                }
                db.write_opt(del, &synced).unwrap();
            }
            raw_tally.add(iters * BATCH as u64, timed);
            timed
        })
    });
    group.finish();

    let (ours, raw) = (store_tally.rate(), raw_tally.rate());
    println!(
        "durable payloads/s (batches of {BATCH} × {PAYLOAD_BYTES} B, store + read back): \
         mailbox_store {ours:.0}/s, raw rocksdb {raw:.0}/s, ratio {:.2}",
        ours / raw
    );
}

criterion_group!(benches, bench_mailbox);
criterion_main!(benches);
