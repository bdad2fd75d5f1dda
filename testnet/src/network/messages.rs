//! The testnet's reliable-message workload: bodies that prove their own integrity, and the
//! tally of what was sent, received, acked, retransmitted.

use super::summary::{MessageLatency, MessagesSection, percentile, round2};
use std::collections::{HashMap, HashSet};
use std::time::Instant;

const MAGIC: &[u8; 4] = b"WMSG";
/// magic ‖ sender (u32) ‖ seq (u64) ‖ length (u32)
const HEADER: usize = 4 + 4 + 8 + 4;

/// A message body of `len` bytes (at least the header) whose filler is a function of
/// (sender, seq, position), so the recipient can check every byte.
pub fn encode_body(sender: u32, seq: u64, len: usize) -> Vec<u8> {
    let len = len.max(HEADER);
    let mut b = Vec::with_capacity(len);
    b.extend_from_slice(MAGIC);
    b.extend_from_slice(&sender.to_be_bytes());
    b.extend_from_slice(&seq.to_be_bytes());
    b.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
    b.extend((HEADER..len).map(|i| filler(sender, seq, i)));
    b
}

fn filler(sender: u32, seq: u64, i: usize) -> u8 {
    let x = (i as u64)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(seq.wrapping_mul(31))
        .wrapping_add(u64::from(sender));
    (x >> 56) as u8
}

/// `(sender, seq)` and whether every byte is as [`encode_body`] made it.
pub fn decode_body(body: &[u8]) -> Option<((u32, u64), bool)> {
    if body.len() < HEADER || &body[..4] != MAGIC {
        return None;
    }
    let sender = u32::from_be_bytes(body[4..8].try_into().ok()?);
    let seq = u64::from_be_bytes(body[8..16].try_into().ok()?);
    let len = u32::from_be_bytes(body[16..20].try_into().ok()?) as usize;
    let intact = len == body.len()
        && body[HEADER..]
            .iter()
            .enumerate()
            .all(|(i, b)| *b == filler(sender, seq, HEADER + i));
    Some(((sender, seq), intact))
}

struct Sent {
    at: Instant,
    bytes: usize,
    /// The recipient was offline when it was sent.
    offline: bool,
}

/// Reliable messages of one run.
#[derive(Default)]
pub struct MessageTally {
    sent: HashMap<(u32, u64), Sent>,
    /// (sender, the sender's id) → (sender, seq)
    by_id: HashMap<(u32, u64), (u32, u64)>,
    received: HashSet<(u32, u64)>,
    corrupted: u64,
    latencies: Vec<f64>,
    max_bytes: usize,
    acked: HashSet<(u32, u64)>,
    failed: HashSet<(u32, u64)>,
    pub fragments_sent: u64,
    pub retransmissions: u64,
    /// (sender, seq) of the bulk message and when it arrived.
    pub bulk: Option<((u32, u64), Option<Instant>)>,
}

impl MessageTally {
    pub fn sent(&mut self, key: (u32, u64), id: u64, bytes: usize, offline: bool) {
        self.by_id.insert((key.0, id), key);
        self.sent.insert(
            key,
            Sent {
                at: Instant::now(),
                bytes,
                offline,
            },
        );
    }

    pub fn received(&mut self, body: &[u8], at: Instant) {
        let Some((key, intact)) = decode_body(body) else {
            self.corrupted += 1;
            return;
        };
        if !intact {
            self.corrupted += 1;
            return;
        }
        let Some(sent) = self.sent.get(&key) else {
            return;
        };
        if self.received.insert(key) {
            self.latencies
                .push(at.duration_since(sent.at).as_secs_f64() * 1e3);
            self.max_bytes = self.max_bytes.max(body.len());
            if let Some((bulk, arrived)) = &mut self.bulk
                && *bulk == key
            {
                *arrived = Some(at);
            }
        }
    }

    fn key_of(&self, sender: u32, id: u64) -> Option<(u32, u64)> {
        self.by_id.get(&(sender, id)).copied()
    }

    pub fn acked(&mut self, sender: u32, id: u64) {
        if let Some(k) = self.key_of(sender, id) {
            self.acked.insert(k);
        }
    }

    pub fn failed(&mut self, sender: u32, id: u64) {
        if let Some(k) = self.key_of(sender, id) {
            self.failed.insert(k);
        }
    }

    /// Every message is either received or given up.
    pub fn settled(&self) -> bool {
        self.sent
            .keys()
            .all(|k| self.received.contains(k) || self.failed.contains(k))
    }

    /// The messages not settled yet, as "sender/seq (age, bytes[, offline])", for the log
    /// of a run whose settling took long.
    pub fn pending(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .sent
            .iter()
            .filter(|(k, _)| !self.received.contains(k) && !self.failed.contains(k))
            .map(|((from, seq), s)| {
                format!(
                    "{from}/{seq} ({:.1} s, {} B{})",
                    s.at.elapsed().as_secs_f64(),
                    s.bytes,
                    if s.offline { ", offline" } else { "" }
                )
            })
            .collect();
        v.sort();
        v
    }

    /// When the bulk message was sent and how big it is.
    pub fn bulk_sent(&self) -> Option<(Instant, usize)> {
        let (key, _) = self.bulk?;
        self.sent.get(&key).map(|s| (s.at, s.bytes))
    }

    pub fn section(&self) -> MessagesSection {
        let mut lat = self.latencies.clone();
        lat.sort_by(f64::total_cmp);
        let offline: Vec<_> = self.sent.iter().filter(|(_, s)| s.offline).collect();
        let delivered = self.received.len() as u64;
        let failed = self
            .failed
            .iter()
            .filter(|k| !self.received.contains(k))
            .count() as u64;
        MessagesSection {
            sent: self.sent.len() as u64,
            delivered,
            lost: (self.sent.len() as u64).saturating_sub(delivered + failed),
            failed,
            acked: self.acked.len() as u64,
            corrupted: self.corrupted,
            fragments_sent: self.fragments_sent,
            retransmissions: self.retransmissions,
            offline_sent: offline.len() as u64,
            offline_delivered: offline
                .iter()
                .filter(|(k, _)| self.received.contains(k))
                .count() as u64,
            max_message_bytes: self.max_bytes as u64,
            latency_ms: MessageLatency {
                p50: round2(percentile(&lat, 50.0)),
                p99: round2(percentile(&lat, 99.0)),
                max: round2(lat.last().copied().unwrap_or(0.0)),
            },
            bulk: None,
            killed_mix_at_s: None,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn bodies_check_every_byte() {
        let b = encode_body(3, 9, 5000);
        assert_eq!(b.len(), 5000);
        assert_eq!(decode_body(&b), Some(((3, 9), true)));
        let mut bad = b.clone();
        bad[4000] ^= 1;
        assert_eq!(decode_body(&bad), Some(((3, 9), false)));
        assert_eq!(decode_body(&b[..4999]), Some(((3, 9), false)));
        assert_eq!(decode_body(b"nope"), None);
    }

    #[test]
    fn tally_counts_offline_and_lost() {
        let mut t = MessageTally::default();
        t.sent((0, 1), 11, 100, false);
        t.sent((1, 1), 12, 100, true);
        t.sent((1, 2), 13, 100, true);
        assert!(!t.settled());
        t.received(&encode_body(0, 1, 100), Instant::now());
        t.received(&encode_body(1, 1, 100), Instant::now());
        t.received(&encode_body(1, 1, 100), Instant::now()); // duplicate
        t.failed(1, 13);
        assert!(t.settled());
        let s = t.section();
        assert_eq!((s.sent, s.delivered, s.lost, s.failed), (3, 2, 0, 1));
        assert_eq!((s.offline_sent, s.offline_delivered), (2, 1));
        assert_eq!(s.max_message_bytes, 100);
    }
}
