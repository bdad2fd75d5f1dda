//! MailboxStore against a real rocksdb in a temporary directory. TTL behaviour is driven by
//! explicit `now` values, never by sleeping.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::sync::Arc;

use wesh_mix::mailbox::contract::check_contract;
use wesh_shell::storage::{MailboxLimits, MailboxStore, Refusal, Registered, StoreError};

const NOW: u64 = 1_700_000_000;

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

/// The one mailbox contract of `wesh_mix::mailbox`, the same suite the in-memory backend
/// passes: numbering, order, quotas, duplicates, lazy expiry, registration.
#[test]
fn the_rocksdb_store_keeps_the_mailbox_contract() {
    let mut dirs = Vec::new();
    check_contract(|limits| {
        let dir = tempfile::tempdir().unwrap();
        let store: &'static MailboxStore = Box::leak(Box::new(
            MailboxStore::open(dir.path().join("db"), limits).unwrap(),
        ));
        dirs.push(dir);
        store
    })
    .unwrap();
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
    assert!(matches!(
        results[1],
        Err(StoreError::Refused(Refusal::UnknownMailbox))
    ));
    assert!(matches!(
        results[2],
        Err(StoreError::Refused(Refusal::PayloadTooLarge { .. }))
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
    assert_eq!(store.stats(&mb).unwrap().unwrap().count, 200);
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
