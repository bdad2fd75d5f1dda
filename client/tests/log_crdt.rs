//! Property tests: replicas of a log converge to the same sorted list whatever the
//! interleaving, duplication, partitions and merge order; garbage never gets in.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use wesh_client::entry::{Entry, LogKind, compare_clock};
use wesh_client::group::{GroupKind, GroupSecrets};
use wesh_client::log::Log;

#[derive(Debug, Clone)]
enum Op {
    /// Replica `r` appends an entry on top of its heads.
    Append(usize),
    /// Replica `to` receives everything replica `from` has (a partition heals one way).
    Sync { from: usize, to: usize },
}

const REPLICAS: usize = 3;

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..REPLICAS).prop_map(Op::Append),
        1 => (0..REPLICAS, 0..REPLICAS).prop_map(|(from, to)| Op::Sync { from, to }),
    ]
}

fn run(ops: &[Op], seed: u64) -> (GroupSecrets, Vec<Log>) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let (group, _) = GroupSecrets::generate(&mut rng, GroupKind::MultiMember).unwrap();
    let authors: Vec<[u8; 32]> = (0..REPLICAS as u8).map(|i| [i; 32]).collect();
    let mut logs: Vec<Log> = (0..REPLICAS)
        .map(|_| Log::new(LogKind::Message, group.verifier()))
        .collect();
    for (n, op) in ops.iter().enumerate() {
        match *op {
            Op::Append(r) => {
                let clock = logs[r].next_clock(authors[r]);
                let parents = logs[r].heads();
                let e = Entry::seal(
                    &mut rng,
                    &group.write_keys(),
                    LogKind::Message,
                    clock,
                    parents,
                    &n.to_be_bytes(),
                )
                .unwrap();
                logs[r].insert(e).unwrap();
            }
            Op::Sync { from, to } => {
                let src = logs[from].clone();
                logs[to].merge(&src).unwrap();
            }
        }
    }
    (group, logs)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn replicas_converge_under_any_delivery(
        ops in proptest::collection::vec(op(), 1..30),
        seed in any::<u64>(),
        order in any::<u64>(),
        dup_every in 1usize..4,
    ) {
        let (group, logs) = run(&ops, seed);
        // Reference: merge all replicas in index order.
        let mut reference = Log::new(LogKind::Message, group.verifier());
        for l in &logs {
            reference.merge(l).unwrap();
        }
        let expected = reference.sorted_hashes();

        // Merging in reverse order gives the same list.
        let mut reversed = Log::new(LogKind::Message, group.verifier());
        for l in logs.iter().rev() {
            reversed.merge(l).unwrap();
        }
        prop_assert_eq!(reversed.sorted_hashes(), expected.clone());

        // Delivering every encoded entry one by one, shuffled and duplicated, gives the same.
        let mut wire: Vec<Vec<u8>> = Vec::new();
        for (i, e) in reference.iter_sorted().enumerate() {
            wire.push(e.encode());
            if i % dup_every == 0 {
                wire.push(e.encode());
            }
        }
        let mut rng = ChaCha20Rng::seed_from_u64(order);
        for i in (1..wire.len()).rev() {
            let j = (rand::Rng::next_u64(&mut rng) % (i as u64 + 1)) as usize;
            wire.swap(i, j);
        }
        let mut shuffled = Log::new(LogKind::Message, group.verifier());
        for bytes in &wire {
            shuffled.ingest(bytes).unwrap();
        }
        prop_assert_eq!(shuffled.sorted_hashes(), expected.clone());
        prop_assert_eq!(shuffled.heads(), reference.heads());

        // The list respects compareClock and every parent precedes its child.
        let entries: Vec<_> = reference.iter_sorted().cloned().collect();
        for w in entries.windows(2) {
            prop_assert!(compare_clock(&w[0].clock(), &w[1].clock()).is_le());
        }
        for e in &entries {
            for p in e.parents() {
                let parent = reference.get(p).unwrap();
                prop_assert!(parent.clock().time < e.clock().time);
            }
        }
        let appended = ops.iter().filter(|o| matches!(o, Op::Append(_))).count();
        prop_assert_eq!(expected.len(), appended);
    }

    #[test]
    fn garbage_never_enters_a_log(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let (group, _) = GroupSecrets::generate(&mut rng, GroupKind::MultiMember).unwrap();
        let mut log = Log::new(LogKind::Metadata, group.verifier());
        prop_assert!(log.ingest(&bytes).is_err());
        prop_assert!(log.is_empty());
    }

    #[test]
    fn any_single_bit_flip_is_rejected(seed in any::<u64>(), bit in 0usize..4096) {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let (group, _) = GroupSecrets::generate(&mut rng, GroupKind::MultiMember).unwrap();
        let mut log = Log::new(LogKind::Metadata, group.verifier());
        let clock = log.next_clock([1; 32]);
        let e = Entry::seal(&mut rng, &group.write_keys(), LogKind::Metadata, clock, vec![[9; 32], [3; 32]], b"payload").unwrap();
        let mut bytes = e.encode();
        let bit = bit % (bytes.len() * 8);
        bytes[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(log.ingest(&bytes).is_err());
        prop_assert!(log.is_empty());
    }
}

#[test]
fn log_refuses_other_log_kind_and_other_group() {
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let (g1, _) = GroupSecrets::generate(&mut rng, GroupKind::MultiMember).unwrap();
    let (g2, _) = GroupSecrets::generate(&mut rng, GroupKind::MultiMember).unwrap();
    let mut meta = Log::new(LogKind::Metadata, g1.verifier());
    let clock = meta.next_clock([1; 32]);
    let msg = Entry::seal(
        &mut rng,
        &g1.write_keys(),
        LogKind::Message,
        clock,
        vec![],
        b"x",
    )
    .unwrap();
    assert!(meta.ingest(&msg.encode()).is_err());
    let foreign = Entry::seal(
        &mut rng,
        &g2.write_keys(),
        LogKind::Metadata,
        clock,
        vec![],
        b"x",
    )
    .unwrap();
    assert!(meta.ingest(&foreign.encode()).is_err());
    let mut other = Log::new(LogKind::Metadata, g2.verifier());
    other.insert(foreign).unwrap();
    assert!(meta.merge(&other).is_err());
    assert!(meta.is_empty());
    // Non-canonical parents (descending) are refused even with a valid signature.
    let e = Entry::seal(
        &mut rng,
        &g1.write_keys(),
        LogKind::Metadata,
        clock,
        vec![[1; 32], [2; 32]],
        b"x",
    )
    .unwrap();
    let mut bytes = e.encode();
    let start = 3 + 32 + 32 + 8 + 2;
    bytes[start..start + 32].copy_from_slice(&[2; 32]);
    bytes[start + 32..start + 64].copy_from_slice(&[1; 32]);
    assert!(meta.ingest(&bytes).is_err());
    assert!(meta.ingest(&e.encode()).is_ok());
}
