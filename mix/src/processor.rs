//! What a mix or provider does with one received packet: decode, find the key whose MAC
//! verifies, check the replay tag, and only then unwrap the payload.

use crate::error::DropReason;
use crate::node_id::NodeId;
use crate::params::{MAX_HOP_DELAY, PACKET_BYTES, REPLAY_TAG_KEPT_BYTES, SPHINX_HEADER_BYTES};
use crate::replay::ReplayFilter;
use sphinx_packet::header::SphinxHeader;
use sphinx_packet::payload::Payload;
use sphinx_packet::{ProcessedPacketData, SphinxPacket};
use std::time::Duration;
use x25519_dalek::StaticSecret;

/// One Sphinx key and the replay filter that lives and dies with it.
struct KeySlot {
    epoch: u64,
    secret: StaticSecret,
    filter: ReplayFilter,
}

/// The outcome of processing a valid packet.
#[derive(Debug)]
pub enum Processed {
    /// Hold for `delay`, then send `packet` to `next_hop`.
    Forward {
        next_hop: NodeId,
        packet: Vec<u8>,
        delay: Duration,
        /// The header asked for more than `MAX_HOP_DELAY`.
        clamped: bool,
    },
    /// This node is the last hop: `plaintext` is for the client `destination`.
    Final {
        destination: NodeId,
        plaintext: Vec<u8>,
    },
}

/// Sphinx processing state of one node (or one worker shard of it).
pub struct MixProcessor {
    slots: Vec<KeySlot>,
    /// Tags recorded since the last `take_journal`, when the node persists them.
    journal: Option<Vec<(u64, [u8; REPLAY_TAG_KEPT_BYTES])>>,
}

impl MixProcessor {
    /// A processor holding one key, for epoch `epoch`.
    pub fn new(epoch: u64, secret: StaticSecret) -> Self {
        MixProcessor {
            slots: vec![KeySlot {
                epoch,
                secret,
                filter: ReplayFilter::new(),
            }],
            journal: None,
        }
    }

    /// Adds the key of another epoch (rotation: the next key goes live, the previous one
    /// stays for its grace period). A key already present keeps its filter.
    pub fn add_key(&mut self, epoch: u64, secret: StaticSecret) {
        if self.slots.iter().all(|s| s.epoch != epoch) {
            self.slots.push(KeySlot {
                epoch,
                secret,
                filter: ReplayFilter::new(),
            });
        }
    }

    /// Installs exactly `keys` (epoch, secret), tried in the given order. A key already
    /// held keeps its replay filter; keys not listed are retired with theirs.
    pub fn set_keys(&mut self, keys: Vec<(u64, StaticSecret)>) {
        let mut old: Vec<KeySlot> = std::mem::take(&mut self.slots);
        for (epoch, secret) in keys {
            let filter = match old.iter().position(|s| s.epoch == epoch) {
                Some(i) => old.swap_remove(i).filter,
                None => ReplayFilter::new(),
            };
            self.slots.push(KeySlot {
                epoch,
                secret,
                filter,
            });
        }
    }

    /// Starts recording new replay tags for [`MixProcessor::take_journal`].
    pub fn enable_journal(&mut self) {
        self.journal.get_or_insert_with(Vec::new);
    }

    /// Replay tags (epoch, kept bytes) recorded since the last call, for persistence.
    pub fn take_journal(&mut self) -> Vec<(u64, [u8; REPLAY_TAG_KEPT_BYTES])> {
        self.journal
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Loads tags persisted before a restart into the filter of `epoch`'s key (if held).
    pub fn preload(
        &mut self,
        epoch: u64,
        tags: impl IntoIterator<Item = [u8; REPLAY_TAG_KEPT_BYTES]>,
    ) -> usize {
        let Some(slot) = self.slots.iter_mut().find(|s| s.epoch == epoch) else {
            return 0;
        };
        tags.into_iter()
            .filter(|t| slot.filter.insert_kept(*t))
            .count()
    }

    /// Retires a key and its replay filter.
    pub fn retire_key(&mut self, epoch: u64) {
        self.slots.retain(|s| s.epoch != epoch);
    }

    /// Epochs of the live keys.
    pub fn live_epochs(&self) -> Vec<u64> {
        self.slots.iter().map(|s| s.epoch).collect()
    }

    /// Tags currently remembered across all live keys.
    pub fn replay_tags(&self) -> usize {
        self.slots.iter().map(|s| s.filter.len()).sum()
    }

    pub fn process(&mut self, frame: &[u8]) -> Result<Processed, DropReason> {
        if frame.len() != PACKET_BYTES {
            return Err(DropReason::WrongSize(frame.len()));
        }
        let (header_bytes, payload_bytes) = frame.split_at(SPHINX_HEADER_BYTES);
        let header =
            SphinxHeader::from_bytes(header_bytes).map_err(|_| DropReason::MalformedHeader)?;
        // Find the live key under which the header MAC verifies.
        let found = self.slots.iter_mut().find_map(|slot| {
            let expanded = header.compute_expanded_shared_secret(&slot.secret);
            header
                .ensure_header_integrity(&expanded)
                .ok()
                .map(|()| (slot, expanded))
        });
        let (slot, expanded) = found.ok_or(DropReason::BadMac)?;
        // Replay check before any payload work: a replayed packet costs one DH, nothing more.
        if !slot.filter.insert(expanded.replay_tag()) {
            return Err(DropReason::Replay);
        }
        if let Some(journal) = &mut self.journal {
            journal.push((slot.epoch, ReplayFilter::kept(expanded.replay_tag())));
        }
        let payload = Payload::from_bytes(payload_bytes).map_err(|_| DropReason::BadPayload)?;
        let processed = SphinxPacket { header, payload }
            .process_with_expanded_secret(&expanded)
            .map_err(|_| DropReason::BadPayload)?;
        match processed.data {
            ProcessedPacketData::ForwardHop {
                next_hop_packet,
                next_hop_address,
                delay,
            } => {
                let asked = delay.to_duration();
                Ok(Processed::Forward {
                    next_hop: NodeId(*next_hop_address.as_bytes()),
                    packet: next_hop_packet.to_bytes(),
                    delay: asked.min(MAX_HOP_DELAY),
                    clamped: asked > MAX_HOP_DELAY,
                })
            }
            ProcessedPacketData::FinalHop {
                destination,
                payload,
                ..
            } => {
                let plaintext = payload
                    .recover_plaintext()
                    .map_err(|_| DropReason::BadPayload)?;
                Ok(Processed::Final {
                    destination: NodeId(destination.as_bytes()),
                    plaintext,
                })
            }
        }
    }
}

/// Which of `shards` workers owns a frame. Identical packets (and so identical replay
/// tags) share the header's group element, so sharding by it lets each worker keep its
/// own replay filter with no lock between workers.
pub fn shard_of(frame: &[u8], shards: usize) -> usize {
    if shards <= 1 {
        return 0;
    }
    (frame_tag(frame) % shards as u64) as usize
}

/// What tells one hop's packet from every other on a link: the first 8 bytes of its
/// header's group element, which every hop re-blinds (a link observer's packet identity).
pub fn frame_tag(frame: &[u8]) -> u64 {
    let mut x = [0u8; 8];
    if let Some(b) = frame.get(..8) {
        x.copy_from_slice(b);
    }
    u64::from_le_bytes(x)
}
