//! A digest of everything a run did, in order: two runs with the same seed must end with
//! the same digest (the harness's determinism check).

use sha2::{Digest, Sha256};
use std::time::Duration;

/// Bytes of a packet folded into the trace: the start of a Sphinx header is its group
/// element, different for every packet, so hashing whole 2 KiB frames would add nothing
/// but time.
const PACKET_PREFIX: usize = 32;

pub struct TraceDigest {
    hasher: Sha256,
    events: u64,
}

impl Default for TraceDigest {
    fn default() -> Self {
        TraceDigest {
            hasher: Sha256::new(),
            events: 0,
        }
    }
}

impl std::fmt::Debug for TraceDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceDigest")
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}

impl TraceDigest {
    /// Folds in one event: when, what kind, where, and a packet's prefix if it has one.
    pub fn record(&mut self, at: Duration, tag: u8, node: &[u8], packet: Option<&[u8]>) {
        self.hasher.update(at.as_nanos().to_le_bytes());
        self.hasher.update([tag]);
        self.hasher.update(node);
        if let Some(p) = packet {
            self.hasher.update((p.len() as u64).to_le_bytes());
            self.hasher.update(&p[..p.len().min(PACKET_PREFIX)]);
        }
        self.events += 1;
    }

    pub fn events(&self) -> u64 {
        self.events
    }

    /// The digest so far.
    pub fn digest(&self) -> [u8; 32] {
        self.hasher.clone().finalize().into()
    }
}
