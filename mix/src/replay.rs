//! Replay filter: the tags of every packet a Sphinx key has processed.

use crate::params::REPLAY_TAG_KEPT_BYTES;
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

/// Replay tags are HKDF outputs, uniformly random to anyone without the node's key, so the
/// map can hash them by taking 8 of their bytes instead of running SipHash.
#[derive(Default)]
struct TagHasher(u64);

impl Hasher for TagHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for (i, b) in bytes.iter().take(8).enumerate() {
            self.0 ^= u64::from(*b) << (8 * i);
        }
    }
}

type Tag = [u8; REPLAY_TAG_KEPT_BYTES];

/// The set of replay tags seen under one Sphinx key. It lives and dies with its key.
#[derive(Default)]
pub struct ReplayFilter {
    seen: HashSet<Tag, BuildHasherDefault<TagHasher>>,
}

impl ReplayFilter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `tag`; false if it was already there (the packet is a replay).
    pub fn insert(&mut self, tag: &[u8; 32]) -> bool {
        self.seen.insert(Self::kept(tag))
    }

    /// The part of a tag the filter keeps (and a journal stores).
    pub fn kept(tag: &[u8; 32]) -> [u8; REPLAY_TAG_KEPT_BYTES] {
        let mut kept = [0u8; REPLAY_TAG_KEPT_BYTES];
        kept.copy_from_slice(&tag[..REPLAY_TAG_KEPT_BYTES]);
        kept
    }

    /// Restores a kept tag (from a journal written before a restart).
    pub fn insert_kept(&mut self, kept: [u8; REPLAY_TAG_KEPT_BYTES]) -> bool {
        self.seen.insert(kept)
    }

    pub fn contains(&self, tag: &[u8; 32]) -> bool {
        let mut kept = [0u8; REPLAY_TAG_KEPT_BYTES];
        kept.copy_from_slice(&tag[..REPLAY_TAG_KEPT_BYTES]);
        self.seen.contains(&kept)
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_insert_is_a_replay() {
        let mut f = ReplayFilter::new();
        let a = [7u8; 32];
        let mut b = [7u8; 32];
        b[3] = 8;
        assert!(f.insert(&a));
        assert!(!f.insert(&a));
        assert!(f.insert(&b));
        assert!(f.contains(&a) && f.contains(&b));
        assert_eq!(f.len(), 2);
    }
}
