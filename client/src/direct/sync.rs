//! The logs of the groups two devices share, brought level over a direct link.
//!
//! Each side sends the heads of each shared group's metadata and message logs; the other
//! asks for the ones it lacks, and for the parents of what it receives that it lacks in
//! turn, until both have everything. What a link holds is bounded whatever the peer
//! does ([`DIRECT_MAX_HASHES`] asked for at once, [`DIRECT_MAX_WANTED`] remembered),
//! every entry is verified by its log before it is kept (the CRDT drops duplicates), and
//! a sync cut anywhere resumes from the logs themselves: the next link starts again from
//! the heads, and only what is still missing is asked for.
//!
//! Messages (inside a [`super::DirectSession`]): `kind ‖ channel (16) ‖ log (1)` then
//! - heads, want: `count (u16) ‖ count × hash (32)`;
//! - entries: `count (u16) ‖ count × (length (u32) ‖ encoded entry)`.

use std::collections::{BTreeSet, VecDeque};

use super::beacon::Tag;
use super::frame::{MessageHead, Reader};
use super::session::{DirectError, SharedGroup, by_channel};
use crate::entry::{EntryHash, LogKind};
use crate::params::{
    DIRECT_ENTRIES_BUDGET, DIRECT_MAX_HASHES, DIRECT_MAX_HELD_BYTES, DIRECT_MAX_WANTED,
    MAX_ENTRY_CIPHERTEXT_LEN,
};

const HEADS: u8 = 1;
const WANT: u8 = 2;
const ENTRIES: u8 = 3;
const LOGS: [LogKind; 2] = [LogKind::Metadata, LogKind::Message];

/// The device's logs, as a link needs them; `group` is the index the session was
/// started with.
pub trait SyncLogs {
    fn heads(&self, group: usize, log: LogKind) -> Vec<EntryHash>;
    fn contains(&self, group: usize, log: LogKind, hash: &EntryHash) -> bool;
    /// Parents named by entries the log holds that it does not hold itself.
    fn missing(&self, group: usize, log: LogKind) -> Vec<EntryHash>;
    /// The entry's encoded bytes, if the log has it.
    fn encoded(&self, group: usize, log: LogKind, hash: &EntryHash) -> Option<Vec<u8>>;
    /// Checks an entry for this group and log without keeping it (an entry that does
    /// not verify is an error).
    fn verify(&self, group: usize, log: LogKind, bytes: &[u8]) -> crate::Result<Verified>;
    /// Keeps verified entries, oldest first; returns how many were new.
    fn keep(&mut self, group: usize, log: LogKind, entries: Vec<Vec<u8>>) -> crate::Result<u64>;
}

/// What a link needs of a verified entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub hash: EntryHash,
    pub parents: Vec<EntryHash>,
    /// Its Lamport clock (time, then author), the log's order.
    pub time: u64,
    pub author: [u8; 32],
}

/// A received entry held until the walk back to what the device has is done, so that
/// entries are kept oldest first (the app opens them in that order), metadata first.
#[derive(Debug)]
struct Held {
    group: usize,
    log: LogKind,
    time: u64,
    author: [u8; 32],
    hash: EntryHash,
    bytes: Vec<u8>,
}

/// What a link did, for the app's direct-link state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncStats {
    pub entries_sent: u64,
    pub entries_received: u64,
    /// Received entries the device did not have.
    pub entries_new: u64,
}

type Key = (usize, LogKind, EntryHash);

/// One link's sync of its shared groups.
#[derive(Debug)]
pub struct DirectSync {
    shared: Vec<SharedGroup>,
    /// Hashes to ask for, and those asked for and not received.
    wanted: VecDeque<Key>,
    asked: BTreeSet<Key>,
    known_wanted: BTreeSet<Key>,
    held: Vec<Held>,
    held_keys: BTreeSet<Key>,
    held_bytes: usize,
    pub stats: SyncStats,
}

impl DirectSync {
    pub fn new(shared: Vec<SharedGroup>) -> Self {
        DirectSync {
            shared,
            wanted: VecDeque::new(),
            asked: BTreeSet::new(),
            known_wanted: BTreeSet::new(),
            held: Vec::new(),
            held_keys: BTreeSet::new(),
            held_bytes: 0,
            stats: SyncStats::default(),
        }
    }

    /// The first messages of a link: every shared log's heads, and asks for what an
    /// earlier link left missing.
    pub fn start(&mut self, logs: &impl SyncLogs) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let shared = self.shared.clone();
        for g in &shared {
            for log in LOGS {
                out.push(self.heads_message(g, log, logs));
                for h in logs.missing(g.index, log) {
                    self.want(g, log, h, logs);
                }
            }
        }
        out.extend(self.ask());
        out
    }

    /// A log of group `group` has new entries: its heads, for the peer to ask for them
    /// (none if the peer does not share the group).
    pub fn announce(&self, group: usize, log: LogKind, logs: &impl SyncLogs) -> Vec<Vec<u8>> {
        self.shared
            .iter()
            .filter(|g| g.index == group)
            .map(|g| self.heads_message(g, log, logs))
            .collect()
    }

    /// True when nothing is asked for or waiting to be.
    pub fn is_idle(&self) -> bool {
        self.wanted.is_empty() && self.asked.is_empty()
    }

    fn heads_message(&self, g: &SharedGroup, log: LogKind, logs: &impl SyncLogs) -> Vec<u8> {
        let heads = logs.heads(g.index, log);
        hashes_message(
            HEADS,
            &g.channel,
            log,
            &heads[..heads.len().min(DIRECT_MAX_HASHES)],
        )
    }

    /// A message from the peer: the replies to send.
    pub fn receive(
        &mut self,
        message: &[u8],
        logs: &mut impl SyncLogs,
    ) -> Result<Vec<Vec<u8>>, DirectError> {
        let mut r = Reader(message);
        let head = r.head()?;
        let (kind, count) = (head.kind, head.count);
        let log = match head.sub {
            0 => LogKind::Metadata,
            1 => LogKind::Message,
            _ => return Err(DirectError::Malformed("log kind")),
        };
        let g = by_channel(&self.shared, &head.channel)?;
        if count > DIRECT_MAX_HASHES {
            return Err(DirectError::Malformed("sync message (too many items)"));
        }
        let mut replies = Vec::new();
        match kind {
            HEADS => {
                for _ in 0..count {
                    let h: EntryHash = r.array("hash")?;
                    self.want(&g, log, h, logs);
                }
            }
            WANT => {
                let mut hashes = Vec::with_capacity(count);
                for _ in 0..count {
                    hashes.push(r.array::<32>("hash")?);
                }
                replies.extend(self.entries_messages(&g, log, &hashes, logs));
            }
            ENTRIES => {
                for _ in 0..count {
                    let len = r.u32("entry length")? as usize;
                    if len > MAX_ENTRY_CIPHERTEXT_LEN + 4096 {
                        return Err(DirectError::Malformed("entry (too large)"));
                    }
                    let bytes = r.take(len, "entry")?;
                    let v = logs
                        .verify(g.index, log, bytes)
                        .map_err(|_| DirectError::Malformed("entry (does not verify)"))?;
                    self.stats.entries_received += 1;
                    let key = (g.index, log, v.hash);
                    self.asked.remove(&key);
                    self.known_wanted.remove(&key);
                    if logs.contains(g.index, log, &v.hash) || self.held_keys.contains(&key) {
                        continue;
                    }
                    self.held_keys.insert(key);
                    self.held_bytes += bytes.len();
                    self.held.push(Held {
                        group: g.index,
                        log,
                        time: v.time,
                        author: v.author,
                        hash: v.hash,
                        bytes: bytes.to_vec(),
                    });
                    for p in v.parents {
                        self.want(&g, log, p, logs);
                    }
                }
            }
            _ => return Err(DirectError::Malformed("sync message kind")),
        }
        if !r.0.is_empty() {
            return Err(DirectError::Malformed("sync message (trailing bytes)"));
        }
        replies.extend(self.ask());
        if self.is_idle() || self.held_bytes > DIRECT_MAX_HELD_BYTES {
            self.keep(logs)?;
        }
        Ok(replies)
    }

    /// The link ends (or was cut): what it brought is kept.
    pub fn finish(&mut self, logs: &mut impl SyncLogs) -> Result<(), DirectError> {
        self.keep(logs)
    }

    /// Hands the held entries to the logs: per group, metadata then messages, each in
    /// clock order.
    fn keep(&mut self, logs: &mut impl SyncLogs) -> Result<(), DirectError> {
        let mut held = std::mem::take(&mut self.held);
        self.held_keys.clear();
        self.held_bytes = 0;
        held.sort_by(|a, b| {
            (a.group, a.log, a.time, a.author, a.hash)
                .cmp(&(b.group, b.log, b.time, b.author, b.hash))
        });
        let mut batch: Vec<Vec<u8>> = Vec::new();
        let mut current: Option<(usize, LogKind)> = None;
        for h in held {
            if current.is_some_and(|c| c != (h.group, h.log)) {
                self.keep_batch(current, std::mem::take(&mut batch), logs)?;
            }
            current = Some((h.group, h.log));
            batch.push(h.bytes);
        }
        self.keep_batch(current, batch, logs)
    }

    fn keep_batch(
        &mut self,
        at: Option<(usize, LogKind)>,
        batch: Vec<Vec<u8>>,
        logs: &mut impl SyncLogs,
    ) -> Result<(), DirectError> {
        let Some((group, log)) = at else {
            return Ok(());
        };
        if batch.is_empty() {
            return Ok(());
        }
        let new = logs
            .keep(group, log, batch)
            .map_err(|_| DirectError::Malformed("entry (refused by the device)"))?;
        self.stats.entries_new += new;
        Ok(())
    }

    fn want(&mut self, g: &SharedGroup, log: LogKind, hash: EntryHash, logs: &impl SyncLogs) {
        let key = (g.index, log, hash);
        if logs.contains(g.index, log, &hash)
            || self.held_keys.contains(&key)
            || self.asked.contains(&key)
            || self.known_wanted.contains(&key)
            || self.known_wanted.len() >= DIRECT_MAX_WANTED
        {
            return;
        }
        self.known_wanted.insert(key);
        self.wanted.push_back(key);
    }

    /// Want messages for as much as may be asked for now.
    fn ask(&mut self) -> Vec<Vec<u8>> {
        let mut by_log: Vec<(usize, LogKind, Vec<EntryHash>)> = Vec::new();
        while self.asked.len() < DIRECT_MAX_HASHES {
            let Some(key) = self.wanted.pop_front() else {
                break;
            };
            self.known_wanted.remove(&key);
            self.asked.insert(key);
            let (group, log, hash) = key;
            match by_log.iter_mut().find(|(g, l, _)| *g == group && *l == log) {
                Some((_, _, hashes)) => hashes.push(hash),
                None => by_log.push((group, log, vec![hash])),
            }
        }
        by_log
            .into_iter()
            .filter_map(|(group, log, hashes)| {
                let g = self.shared.iter().find(|g| g.index == group)?;
                Some(hashes_message(WANT, &g.channel, log, &hashes))
            })
            .collect()
    }

    /// The entries asked for that the log has, packed up to the budget per message.
    fn entries_messages(
        &mut self,
        g: &SharedGroup,
        log: LogKind,
        hashes: &[EntryHash],
        logs: &impl SyncLogs,
    ) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut batch: Vec<Vec<u8>> = Vec::new();
        let mut size = 0;
        for h in hashes {
            let Some(bytes) = logs.encoded(g.index, log, h) else {
                continue;
            };
            if !batch.is_empty() && size + bytes.len() > DIRECT_ENTRIES_BUDGET {
                out.push(entries_message(&g.channel, log, &batch));
                batch.clear();
                size = 0;
            }
            size += bytes.len();
            batch.push(bytes);
            self.stats.entries_sent += 1;
        }
        if !batch.is_empty() {
            out.push(entries_message(&g.channel, log, &batch));
        }
        out
    }
}

fn header(kind: u8, channel: &Tag, log: LogKind, count: usize) -> Vec<u8> {
    MessageHead {
        kind,
        channel: *channel,
        sub: log as u8,
        count,
    }
    .encode()
}

fn hashes_message(kind: u8, channel: &Tag, log: LogKind, hashes: &[EntryHash]) -> Vec<u8> {
    let mut m = header(kind, channel, log, hashes.len());
    for h in hashes {
        m.extend_from_slice(h);
    }
    m
}

fn entries_message(channel: &Tag, log: LogKind, entries: &[Vec<u8>]) -> Vec<u8> {
    let mut m = header(ENTRIES, channel, log, entries.len());
    for e in entries {
        m.extend_from_slice(&(e.len() as u32).to_be_bytes());
        m.extend_from_slice(e);
    }
    m
}
