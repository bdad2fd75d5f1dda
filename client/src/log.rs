//! Append-only logs as a CRDT (grow-only set of signed entries). Entries link to their
//! parents and are read in `compareClock` order, with the entry hash as final tie-break, so
//! any two replicas holding the same set of entries list them identically whatever the
//! order in which they were received.

// Ordered collections only: a device is rebuilt by replaying its inputs
// (`messenger::journal`), so nothing may follow a per-process random hash order.
use std::collections::{BTreeMap, BTreeSet};

use crate::entry::{Entry, EntryHash, EntryVerifier, LamportClock, LogKind};
use crate::error::{Result, WeshError};
use crate::params::MAX_PARENTS;

/// Storage behind a log; the core never does I/O itself, a host can plug a database here.
pub trait EntryStore {
    /// Stores a verified entry; returns `false` if it was already present.
    fn insert(&mut self, entry: Entry) -> Result<bool>;
    fn get(&self, hash: &EntryHash) -> Option<&Entry>;
    fn contains(&self, hash: &EntryHash) -> bool;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Entries in log order.
    fn iter_sorted(&self) -> Box<dyn Iterator<Item = &Entry> + '_>;
}

/// In-memory store: hash index plus an ordered index by (clock, hash).
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    by_hash: BTreeMap<EntryHash, Entry>,
    order: BTreeSet<(LamportClock, EntryHash)>,
}

impl EntryStore for MemoryStore {
    fn insert(&mut self, entry: Entry) -> Result<bool> {
        let hash = *entry.hash();
        if self.by_hash.contains_key(&hash) {
            return Ok(false);
        }
        self.order.insert((entry.clock(), hash));
        self.by_hash.insert(hash, entry);
        Ok(true)
    }
    fn get(&self, hash: &EntryHash) -> Option<&Entry> {
        self.by_hash.get(hash)
    }
    fn contains(&self, hash: &EntryHash) -> bool {
        self.by_hash.contains_key(hash)
    }
    fn len(&self) -> usize {
        self.by_hash.len()
    }
    fn iter_sorted(&self) -> Box<dyn Iterator<Item = &Entry> + '_> {
        Box::new(self.order.iter().filter_map(|(_, h)| self.by_hash.get(h)))
    }
}

/// One of a group's two logs.
#[derive(Debug, Clone)]
pub struct Log<S: EntryStore = MemoryStore> {
    kind: LogKind,
    verifier: EntryVerifier,
    store: S,
    heads: BTreeSet<EntryHash>,
    referenced: BTreeSet<EntryHash>,
    max_time: u64,
}

impl Log<MemoryStore> {
    pub fn new(kind: LogKind, verifier: EntryVerifier) -> Self {
        Self::with_store(kind, verifier, MemoryStore::default())
    }
}

impl<S: EntryStore> Log<S> {
    pub fn with_store(kind: LogKind, verifier: EntryVerifier, store: S) -> Self {
        Self {
            kind,
            verifier,
            store,
            heads: BTreeSet::new(),
            referenced: BTreeSet::new(),
            max_time: 0,
        }
    }

    pub fn kind(&self) -> LogKind {
        self.kind
    }
    pub fn verifier(&self) -> &EntryVerifier {
        &self.verifier
    }
    pub fn len(&self) -> usize {
        self.store.len()
    }
    pub fn is_empty(&self) -> bool {
        self.store.is_empty()
    }
    pub fn get(&self, hash: &EntryHash) -> Option<&Entry> {
        self.store.get(hash)
    }
    pub fn contains(&self, hash: &EntryHash) -> bool {
        self.store.contains(hash)
    }

    /// Verifies raw bytes and stores them; returns the entry and whether it was new.
    pub fn ingest(&mut self, bytes: &[u8]) -> Result<(Entry, bool)> {
        let entry = Entry::decode_verified(bytes, &self.verifier)?;
        let new = self.insert(entry.clone())?;
        Ok((entry, new))
    }

    /// Stores an already verified entry (e.g. one we sealed, or from a verified replica).
    pub fn insert(&mut self, entry: Entry) -> Result<bool> {
        if entry.log() != self.kind {
            return Err(WeshError::WrongLog);
        }
        if entry.group_id() != self.verifier.group_id {
            return Err(WeshError::WrongGroup);
        }
        let hash = *entry.hash();
        let time = entry.clock().time;
        let parents = entry.parents().to_vec();
        if !self.store.insert(entry)? {
            return Ok(false);
        }
        self.max_time = self.max_time.max(time);
        for p in parents {
            self.heads.remove(&p);
            self.referenced.insert(p);
        }
        if !self.referenced.contains(&hash) {
            self.heads.insert(hash);
        }
        Ok(true)
    }

    /// Union with another replica of the same log (entries there are already verified).
    pub fn merge(&mut self, other: &Log<impl EntryStore>) -> Result<usize> {
        if other.kind != self.kind || other.verifier != self.verifier {
            return Err(WeshError::WrongGroup);
        }
        let mut added = 0;
        for entry in other.store.iter_sorted() {
            if !self.store.contains(entry.hash()) && self.insert(entry.clone())? {
                added += 1;
            }
        }
        Ok(added)
    }

    /// Entries no other entry points to; a new entry takes (at most MAX_PARENTS of) them.
    pub fn heads(&self) -> Vec<EntryHash> {
        self.heads.iter().rev().take(MAX_PARENTS).copied().collect()
    }

    /// Parents some entry names that the log does not hold (a sync cut short leaves
    /// them; the next one asks for them first).
    pub fn missing_parents(&self) -> Vec<EntryHash> {
        self.referenced
            .iter()
            .filter(|h| !self.store.contains(h))
            .copied()
            .collect()
    }

    /// Lamport clock for the next entry by `author`: one past everything seen.
    pub fn next_clock(&self, author: [u8; 32]) -> LamportClock {
        LamportClock {
            time: self.max_time.saturating_add(1),
            id: author,
        }
    }

    pub fn iter_sorted(&self) -> impl Iterator<Item = &Entry> {
        self.store.iter_sorted()
    }

    pub fn sorted_hashes(&self) -> Vec<EntryHash> {
        self.iter_sorted().map(|e| *e.hash()).collect()
    }
}
