//! MailboxStore against a real rocksdb in a temporary directory. TTL behaviour is driven by
//! explicit `now` values, never by sleeping.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use wesh_node::storage::{MailboxLimits, MailboxStore, Registered, StoreError};

const NOW: u64 = 1_700_000_000;
const DAY: u64 = 24 * 60 * 60;

fn pubkey(seed: u8) -> [u8; 32] {
    ed25519_dalek::SigningKey::from_bytes(&[seed; 32])
        .verifying_key()
        .to_bytes()
}

/// A registered mailbox in a fresh store.
fn fresh(limits: MailboxLimits) -> (tempfile::TempDir, MailboxStore, [u8; 32]) {
    let dir = tempfile::tempdir().unwrap();
    let store = MailboxStore::open(dir.path().join("db"), limits).unwrap();
    let mb = [0xa5; 32];
    assert_eq!(
        store.register(&mb, &pubkey(1)).unwrap(),
        Registered::Created
    );
    (dir, store, mb)
}

/// A full-size payload unique to `n`, so no two collide in the duplicate index.
fn payload(n: u64) -> Vec<u8> {
    let mut p = vec![0u8; 2031];
    for (i, chunk) in p.chunks_mut(8).enumerate() {
        let word = n.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ i as u64;
        chunk.copy_from_slice(&word.to_be_bytes()[..chunk.len()]);
    }
    p
}

#[test]
fn round_trip_keeps_order_and_delete_removes() {
    let (_dir, store, mb) = fresh(MailboxLimits::default());
    let seqs: Vec<u64> = (0..5)
        .map(|n| store.store(&mb, &payload(n), NOW).unwrap())
        .collect();
    assert_eq!(seqs, vec![0, 1, 2, 3, 4]);

    let got = store.fetch(&mb, 100, NOW).unwrap();
    let expected: Vec<(u64, Vec<u8>)> = (0..5).map(|n| (n, payload(n))).collect();
    assert_eq!(got, expected);
    // `max` caps the answer and keeps the oldest.
    let first_two = store.fetch(&mb, 2, NOW).unwrap();
    assert_eq!(first_two, expected[..2].to_vec());

    assert_eq!(store.delete(&mb, &[0, 2, 77]).unwrap(), 2);
    let left: Vec<u64> = store
        .fetch(&mb, 100, NOW)
        .unwrap()
        .into_iter()
        .map(|p| p.0)
        .collect();
    assert_eq!(left, vec![1, 3, 4]);
    // Deleting again finds nothing.
    assert_eq!(store.delete(&mb, &[0, 2]).unwrap(), 0);
}

#[test]
fn mailboxes_are_kept_apart() {
    let (_dir, store, a) = fresh(MailboxLimits::default());
    // Ids differing in the last byte only: a prefix-bound mistake would leak between them.
    let mut b = a;
    b[31] ^= 1;
    store.register(&b, &pubkey(2)).unwrap();
    store.store(&a, b"for a", NOW).unwrap();
    store.store(&b, b"for b", NOW).unwrap();
    assert_eq!(
        store.fetch(&a, 10, NOW).unwrap(),
        vec![(0, b"for a".to_vec())]
    );
    assert_eq!(
        store.fetch(&b, 10, NOW).unwrap(),
        vec![(0, b"for b".to_vec())]
    );
    assert_eq!(store.delete(&a, &[0]).unwrap(), 1);
    assert_eq!(store.fetch(&b, 10, NOW).unwrap().len(), 1);
}

#[test]
fn payload_count_quota_refuses_and_stores_nothing() {
    let limits = MailboxLimits {
        quota_payloads: 3,
        ..MailboxLimits::default()
    };
    let (_dir, store, mb) = fresh(limits);
    for n in 0..3 {
        store.store(&mb, &payload(n), NOW).unwrap();
    }
    let err = store.store(&mb, &payload(3), NOW).unwrap_err();
    assert!(
        matches!(err, StoreError::PayloadQuotaExceeded { limit: 3, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("quota of 3 payloads"), "{err}");
    assert_eq!(store.fetch(&mb, 10, NOW).unwrap().len(), 3);
    // Deleting makes room again; the refused payload did not use up a sequence number.
    store.delete(&mb, &[0]).unwrap();
    assert_eq!(store.store(&mb, &payload(3), NOW).unwrap(), 3);
}

#[test]
fn byte_quota_refuses_and_stores_nothing() {
    let limits = MailboxLimits {
        quota_bytes: 5_000,
        ..MailboxLimits::default()
    };
    let (_dir, store, mb) = fresh(limits);
    store.store(&mb, &payload(0), NOW).unwrap();
    store.store(&mb, &payload(1), NOW).unwrap();
    let err = store.store(&mb, &payload(2), NOW).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::ByteQuotaExceeded {
                held: 4062,
                len: 2031,
                limit: 5000,
                ..
            }
        ),
        "{err}"
    );
    // A smaller payload still fits exactly: 4062 + 938 = 5000.
    assert_eq!(store.store(&mb, &[7u8; 938], NOW).unwrap(), 2);
    assert_eq!(store.stats(&mb).unwrap().unwrap().bytes, 5_000);
}

#[test]
fn unknown_mailbox_is_refused_everywhere() {
    let (_dir, store, _mb) = fresh(MailboxLimits::default());
    let nobody = [0x11; 32];
    assert!(matches!(
        store.store(&nobody, b"x", NOW),
        Err(StoreError::UnknownMailbox { mailbox }) if mailbox == nobody
    ));
    assert!(matches!(
        store.fetch(&nobody, 10, NOW),
        Err(StoreError::UnknownMailbox { .. })
    ));
    assert!(matches!(
        store.delete(&nobody, &[0]),
        Err(StoreError::UnknownMailbox { .. })
    ));
    assert_eq!(store.mailbox_key(&nobody).unwrap(), None);
    assert_eq!(store.stats(&nobody).unwrap(), None);
}

#[test]
fn oversized_and_empty_payloads_are_refused() {
    let (_dir, store, mb) = fresh(MailboxLimits::default());
    let err = store.store(&mb, &[0u8; 2032], NOW).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::PayloadTooLarge {
                len: 2032,
                max: 2031
            }
        ),
        "{err}"
    );
    assert!(matches!(
        store.store(&mb, &[], NOW),
        Err(StoreError::EmptyPayload)
    ));
    assert_eq!(store.fetch(&mb, 10, NOW).unwrap(), vec![]);
    // The limit itself is accepted and is the first sequence number handed out.
    assert_eq!(store.store(&mb, &[1u8; 2031], NOW).unwrap(), 0);
}

#[test]
fn reregistering_is_idempotent_but_a_new_key_is_refused() {
    let (_dir, store, mb) = fresh(MailboxLimits::default());
    store.store(&mb, b"kept", NOW).unwrap();
    assert_eq!(
        store.register(&mb, &pubkey(1)).unwrap(),
        Registered::AlreadyRegistered
    );
    let err = store.register(&mb, &pubkey(2)).unwrap_err();
    assert!(matches!(err, StoreError::KeyMismatch { .. }), "{err}");
    assert_eq!(store.mailbox_key(&mb).unwrap(), Some(pubkey(1)));
    // Neither call disturbed the mailbox.
    assert_eq!(
        store.fetch(&mb, 10, NOW).unwrap(),
        vec![(0, b"kept".to_vec())]
    );
}

#[test]
fn duplicate_payload_is_stored_once_within_the_ttl() {
    let limits = MailboxLimits {
        ttl: Duration::from_secs(DAY),
        ..MailboxLimits::default()
    };
    let (_dir, store, mb) = fresh(limits);
    assert_eq!(store.store(&mb, &payload(9), NOW).unwrap(), 0);
    assert_eq!(store.store(&mb, &payload(9), NOW + 10).unwrap(), 0);
    assert_eq!(store.fetch(&mb, 10, NOW + 10).unwrap().len(), 1);
    // Still a duplicate after the client took it: a retransmission is not delivered twice.
    store.delete(&mb, &[0]).unwrap();
    assert_eq!(store.store(&mb, &payload(9), NOW + 20).unwrap(), 0);
    assert_eq!(store.fetch(&mb, 10, NOW + 20).unwrap(), vec![]);
    // The same bytes for another mailbox are that mailbox's own payload.
    let other = [0x22; 32];
    store.register(&other, &pubkey(3)).unwrap();
    assert_eq!(store.store(&other, &payload(9), NOW).unwrap(), 0);
    assert_eq!(store.fetch(&other, 10, NOW).unwrap().len(), 1);
    // Once the TTL has run out the bytes are new again.
    assert_eq!(store.store(&mb, &payload(9), NOW + DAY).unwrap(), 1);
}

#[test]
fn payloads_expire_at_the_ttl_and_not_before() {
    let limits = MailboxLimits {
        ttl: Duration::from_secs(DAY),
        ..MailboxLimits::default()
    };
    let (_dir, store, mb) = fresh(limits);
    store.store(&mb, &payload(0), NOW).unwrap();
    store.store(&mb, &payload(1), NOW + 100).unwrap();

    let report = store.expire(NOW + DAY - 1).unwrap();
    assert_eq!(report.payloads, 0);
    assert_eq!(store.fetch(&mb, 10, NOW + DAY - 1).unwrap().len(), 2);

    // Fetch alone already hides the expired payload.
    let got: Vec<u64> = store
        .fetch(&mb, 10, NOW + DAY)
        .unwrap()
        .into_iter()
        .map(|p| p.0)
        .collect();
    assert_eq!(got, vec![1]);

    let report = store.expire(NOW + DAY + 100).unwrap();
    assert_eq!(report.payloads, 1);
    assert_eq!(report.dedup_entries, 2);
    assert_eq!(store.fetch(&mb, 10, NOW).unwrap(), vec![]);
    let stats = store.stats(&mb).unwrap().unwrap();
    assert_eq!((stats.payloads, stats.bytes), (0, 0));
    // Sequence numbers are not reused after expiry either.
    assert_eq!(store.store(&mb, &payload(2), NOW + DAY + 100).unwrap(), 2);
}

#[test]
fn sequence_numbers_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mb = [0x33; 32];
    {
        let store = MailboxStore::open(dir.path(), MailboxLimits::default()).unwrap();
        store.register(&mb, &pubkey(4)).unwrap();
        for n in 0..10 {
            store.store(&mb, &payload(n), NOW).unwrap();
        }
        // Even with the mailbox emptied, the numbers handed out must not come back.
        assert_eq!(store.delete(&mb, &(0..10).collect::<Vec<_>>()).unwrap(), 10);
    }
    let store = MailboxStore::open(dir.path(), MailboxLimits::default()).unwrap();
    assert_eq!(store.mailbox_key(&mb).unwrap(), Some(pubkey(4)));
    assert_eq!(store.store(&mb, &payload(100), NOW).unwrap(), 10);
    assert_eq!(store.stats(&mb).unwrap().unwrap().next_seq, 11);
}

#[test]
fn batch_reports_each_item_and_stores_only_accepted_ones() {
    let (_dir, store, mb) = fresh(MailboxLimits::default());
    let nobody = [0x44; 32];
    let items = vec![
        (mb, payload(0)),
        (nobody, payload(1)),
        (mb, vec![0u8; 4000]),
        (mb, payload(2)),
        (mb, payload(0)),
    ];
    let results = store.store_batch(&items, NOW).unwrap();
    assert_eq!(results.len(), 5);
    assert_eq!(results[0].as_ref().unwrap(), &0);
    assert!(matches!(results[1], Err(StoreError::UnknownMailbox { .. })));
    assert!(matches!(
        results[2],
        Err(StoreError::PayloadTooLarge { .. })
    ));
    assert_eq!(results[3].as_ref().unwrap(), &1);
    assert_eq!(
        results[4].as_ref().unwrap(),
        &0,
        "duplicate inside the batch"
    );
    let got = store.fetch(&mb, 10, NOW).unwrap();
    assert_eq!(got, vec![(0, payload(0)), (1, payload(2))]);
}

#[test]
fn concurrent_writers_get_distinct_sequence_numbers() {
    let (_dir, store, mb) = fresh(MailboxLimits::default());
    let store = Arc::new(store);
    let handles: Vec<_> = (0..4u64)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                (0..50)
                    .map(|n| store.store(&mb, &payload(t * 1000 + n), NOW).unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut seqs: Vec<u64> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (0..200).collect::<Vec<_>>());
    assert_eq!(store.stats(&mb).unwrap().unwrap().payloads, 200);
}

#[test]
fn a_file_where_the_directory_should_be_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("db");
    std::fs::write(&file, b"not a database").unwrap();
    let err = MailboxStore::open(&file, MailboxLimits::default()).unwrap_err();
    assert!(matches!(err, StoreError::NotADirectory { .. }), "{err}");
    assert!(err.to_string().contains("not a directory"), "{err}");
    // Nothing was written over the file.
    assert_eq!(std::fs::read(&file).unwrap(), b"not a database");
}

#[test]
fn a_damaged_database_is_refused_with_an_open_error() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = MailboxStore::open(dir.path(), MailboxLimits::default()).unwrap();
        store.register(&[1; 32], &pubkey(1)).unwrap();
    }
    // CURRENT names the live manifest; pointing it at garbage is a damaged database.
    std::fs::write(dir.path().join("CURRENT"), b"MANIFEST-999999\n").unwrap();
    let err = MailboxStore::open(dir.path(), MailboxLimits::default()).unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err}");
    assert!(
        err.to_string().contains("cannot open mailbox database"),
        "{err}"
    );
}

#[test]
fn a_foreign_rocksdb_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(true);
        let db = rocksdb::DB::open(&opts, dir.path()).unwrap();
        db.put(b"someone", b"else").unwrap();
    }
    let err = MailboxStore::open(dir.path(), MailboxLimits::default()).unwrap_err();
    assert!(matches!(err, StoreError::ForeignDatabase { .. }), "{err}");
    let cfs = rocksdb::DB::list_cf(&rocksdb::Options::default(), dir.path()).unwrap();
    assert_eq!(
        cfs,
        vec!["default".to_string()],
        "no column family was added"
    );
}

#[test]
fn a_second_open_of_the_same_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _first = MailboxStore::open(dir.path(), MailboxLimits::default()).unwrap();
    let err = MailboxStore::open(dir.path(), MailboxLimits::default()).unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err}");
}

const WRITER_ENV: &str = "WESH_MAILBOX_STORE_SIGKILL_WRITER_DIR";
const KILL_TEST: &str = "acknowledged_payloads_survive_sigkill";
const KILL_MAILBOX: [u8; 32] = [0x5c; 32];
/// The writer stops on its own after this many payloads, so a parent that died early does
/// not leave it running for long.
const WRITER_CAP: u64 = 20_000;

/// The child side: store payloads in a loop, announcing each only after `store` returned.
fn run_writer(dir: &str) {
    let store = MailboxStore::open(dir, MailboxLimits::default()).unwrap();
    let mut out = std::io::stdout().lock();
    for n in 0..WRITER_CAP {
        let seq = store.store(&KILL_MAILBOX, &payload(n), NOW).unwrap();
        writeln!(out, "ACK {seq} {n}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn acknowledged_payloads_survive_sigkill() {
    if let Ok(dir) = std::env::var(WRITER_ENV) {
        run_writer(&dir);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    {
        let store = MailboxStore::open(dir.path(), MailboxLimits::default()).unwrap();
        store.register(&KILL_MAILBOX, &pubkey(9)).unwrap();
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", KILL_TEST, "--nocapture", "--test-threads=1"])
        .env(WRITER_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut acked: BTreeMap<u64, u64> = BTreeMap::new();
    // Kept open until the child is dead: closing the pipe first would make its next write
    // fail and the child exit on its own instead of being killed.
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let Some(rest) = line.strip_prefix("ACK ") else {
            continue;
        };
        let mut parts = rest.split(' ');
        let seq: u64 = parts.next().unwrap().parse().unwrap();
        let n: u64 = parts.next().unwrap().parse().unwrap();
        acked.insert(seq, n);
        if acked.len() >= 250 {
            break;
        }
    }
    assert!(
        acked.len() >= 200,
        "only {} acks before the writer stopped",
        acked.len()
    );
    // Kill mid-stream: the child is still writing when it dies.
    let killed = Command::new("kill")
        .args(["-9", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(9),
        "the writer died of SIGKILL, not on its own"
    );
    drop(lines);

    let store = MailboxStore::open(dir.path(), MailboxLimits::default()).unwrap();
    let held: BTreeMap<u64, Vec<u8>> = store
        .fetch(&KILL_MAILBOX, usize::MAX, NOW)
        .unwrap()
        .into_iter()
        .collect();
    for (seq, n) in &acked {
        let got = held
            .get(seq)
            .unwrap_or_else(|| panic!("acknowledged payload {seq} lost"));
        assert_eq!(got, &payload(*n), "acknowledged payload {seq} damaged");
    }
    // Nothing reuses a number the dead writer may have handed out.
    let max_held = *held.keys().next_back().unwrap();
    let next = store.store(&KILL_MAILBOX, b"after the crash", NOW).unwrap();
    assert!(next > max_held);
}
