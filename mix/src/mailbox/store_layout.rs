//! Byte layouts of the mailbox store's records, kept in one place so a layout change is one
//! edit and each layout can be tested without a database.
//!
//! All integers are big-endian: in keys that makes bytewise order equal numeric order, so a
//! mailbox's payloads sit contiguously and oldest first; in values it is merely consistent.

use super::MailboxUsage;

/// Bytes of a mailbox id.
pub const MAILBOX_LEN: usize = 32;
/// Bytes of a mailbox public key (Ed25519).
pub const PUBKEY_LEN: usize = 32;
/// Bytes of a SHA-256 digest.
pub const DIGEST_LEN: usize = 32;
/// `mailbox ‖ seq`.
pub const PAYLOAD_KEY_LEN: usize = MAILBOX_LEN + 8;
/// `stored_at` prefix of a payload value.
pub const STAMP_LEN: usize = 8;
/// `mailbox ‖ sha256(payload)`.
pub const DEDUP_KEY_LEN: usize = MAILBOX_LEN + DIGEST_LEN;
/// `seq ‖ stored_at`.
pub const DEDUP_VALUE_LEN: usize = 16;

/// A mailbox id.
pub type MailboxId = [u8; MAILBOX_LEN];

/// Key of payload `seq` in `mailbox`.
pub fn payload_key(mailbox: &MailboxId, seq: u64) -> [u8; PAYLOAD_KEY_LEN] {
    let mut key = [0u8; PAYLOAD_KEY_LEN];
    key[..MAILBOX_LEN].copy_from_slice(mailbox);
    key[MAILBOX_LEN..].copy_from_slice(&seq.to_be_bytes());
    key
}

/// Exclusive upper bound of every payload key of `mailbox`: `mailbox ‖ ff×8 ‖ 00` sorts right
/// after the largest possible key, and unlike "mailbox + 1" it cannot overflow.
pub fn payload_upper_bound(mailbox: &MailboxId) -> [u8; PAYLOAD_KEY_LEN + 1] {
    let mut key = [0u8; PAYLOAD_KEY_LEN + 1];
    key[..MAILBOX_LEN].copy_from_slice(mailbox);
    key[MAILBOX_LEN..PAYLOAD_KEY_LEN].copy_from_slice(&[0xff; 8]);
    key
}

/// The sequence number of a payload key, if the key is well-formed and belongs to `mailbox`.
pub fn payload_seq(key: &[u8], mailbox: &MailboxId) -> Option<u64> {
    let (prefix, seq) = key.split_first_chunk::<MAILBOX_LEN>()?;
    if prefix != mailbox {
        return None;
    }
    let seq: [u8; 8] = seq.try_into().ok()?;
    Some(u64::from_be_bytes(seq))
}

/// Writes `stored_at ‖ payload` into `buf` (cleared first), so one buffer is reused across a
/// whole batch instead of allocating per payload.
pub fn encode_payload_value(buf: &mut Vec<u8>, stored_at: u64, payload: &[u8]) {
    buf.clear();
    buf.reserve(STAMP_LEN + payload.len());
    buf.extend_from_slice(&stored_at.to_be_bytes());
    buf.extend_from_slice(payload);
}

/// Splits a payload value into `(stored_at, payload)`; `None` if too short to hold a stamp.
pub fn decode_payload_value(value: &[u8]) -> Option<(u64, &[u8])> {
    let (stamp, payload) = value.split_first_chunk::<STAMP_LEN>()?;
    Some((u64::from_be_bytes(*stamp), payload))
}

/// Key of the duplicate index entry for `digest` in `mailbox`.
pub fn dedup_key(mailbox: &MailboxId, digest: &[u8; DIGEST_LEN]) -> [u8; DEDUP_KEY_LEN] {
    let mut key = [0u8; DEDUP_KEY_LEN];
    key[..MAILBOX_LEN].copy_from_slice(mailbox);
    key[MAILBOX_LEN..].copy_from_slice(digest);
    key
}

/// Exclusive upper bound of every duplicate index key of `mailbox` (`mailbox ‖ ff×32 ‖ 00`).
pub fn dedup_upper_bound(mailbox: &MailboxId) -> [u8; DEDUP_KEY_LEN + 1] {
    let mut key = [0u8; DEDUP_KEY_LEN + 1];
    key[..MAILBOX_LEN].copy_from_slice(mailbox);
    key[MAILBOX_LEN..DEDUP_KEY_LEN].copy_from_slice(&[0xff; DIGEST_LEN]);
    key
}

/// `seq ‖ stored_at` of a duplicate index entry.
pub fn encode_dedup_value(seq: u64, stored_at: u64) -> [u8; DEDUP_VALUE_LEN] {
    let mut value = [0u8; DEDUP_VALUE_LEN];
    value[..8].copy_from_slice(&seq.to_be_bytes());
    value[8..].copy_from_slice(&stored_at.to_be_bytes());
    value
}

/// `(seq, stored_at)` of a duplicate index entry; `None` unless exactly 16 bytes.
pub fn decode_dedup_value(value: &[u8]) -> Option<(u64, u64)> {
    let value: &[u8; DEDUP_VALUE_LEN] = value.try_into().ok()?;
    let (seq, stamp) = value.split_at(8);
    Some((
        u64::from_be_bytes(seq.try_into().ok()?),
        u64::from_be_bytes(stamp.try_into().ok()?),
    ))
}

/// Version byte leading every metadata record, so a future layout can be told apart.
const META_VERSION: u8 = 1;
/// version ‖ pubkey ‖ quota_payloads u32 ‖ quota_bytes u64 ‖ next_seq u64 ‖ count u32 ‖
/// bytes u64 ‖ low_seq u64.
pub const META_LEN: usize = 1 + PUBKEY_LEN + 4 + 8 + 8 + 4 + 8 + 8;

/// A mailbox registration: its key, its [`MailboxUsage`] (quotas, counters, next sequence
/// number: in one record so one write keeps them and the payloads consistent) and `low_seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailboxMeta {
    /// The owner's Ed25519 public key.
    pub pubkey: [u8; PUBKEY_LEN],
    pub usage: MailboxUsage,
    /// No payload below this sequence number exists: scans start here, so they do not wade
    /// through the tombstones that deleted payloads leave at the head of a mailbox.
    pub low_seq: u64,
}

impl MailboxMeta {
    /// The record's bytes.
    pub fn encode(&self) -> [u8; META_LEN] {
        let mut out = [0u8; META_LEN];
        let mut at = 0;
        let mut put = |bytes: &[u8]| {
            out[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        };
        let u = &self.usage;
        put(&[META_VERSION]);
        put(&self.pubkey);
        put(&u.quota_payloads.to_be_bytes());
        put(&u.quota_bytes.to_be_bytes());
        put(&u.next_seq.to_be_bytes());
        put(&u.count.to_be_bytes());
        put(&u.bytes.to_be_bytes());
        put(&self.low_seq.to_be_bytes());
        out
    }

    /// Parses a record; `None` if the length or version is wrong.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != META_LEN {
            return None;
        }
        let (&version, rest) = bytes.split_first()?;
        if version != META_VERSION {
            return None;
        }
        let (pubkey, rest) = rest.split_first_chunk::<PUBKEY_LEN>()?;
        let (quota_payloads, rest) = rest.split_first_chunk::<4>()?;
        let (quota_bytes, rest) = rest.split_first_chunk::<8>()?;
        let (next_seq, rest) = rest.split_first_chunk::<8>()?;
        let (count, rest) = rest.split_first_chunk::<4>()?;
        let (bytes, rest) = rest.split_first_chunk::<8>()?;
        let (low_seq, _) = rest.split_first_chunk::<8>()?;
        Some(Self {
            pubkey: *pubkey,
            usage: MailboxUsage {
                quota_payloads: u32::from_be_bytes(*quota_payloads),
                quota_bytes: u64::from_be_bytes(*quota_bytes),
                next_seq: u64::from_be_bytes(*next_seq),
                count: u32::from_be_bytes(*count),
                bytes: u64::from_be_bytes(*bytes),
            },
            low_seq: u64::from_be_bytes(*low_seq),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn payload_keys_sort_by_mailbox_then_seq() {
        let a = [1u8; 32];
        let b = [2u8; 32];
        assert!(payload_key(&a, 255) < payload_key(&a, 256));
        assert!(payload_key(&a, u64::MAX) < payload_key(&b, 0));
        assert!(payload_key(&a, u64::MAX).as_slice() < payload_upper_bound(&a).as_slice());
        assert!(payload_upper_bound(&a).as_slice() < payload_key(&b, 0).as_slice());
        // The bound holds even for the all-ones mailbox, where "mailbox + 1" would overflow.
        let ones = [0xff; 32];
        assert!(payload_key(&ones, u64::MAX).as_slice() < payload_upper_bound(&ones).as_slice());
    }

    #[test]
    fn payload_seq_checks_prefix_and_length() {
        let a = [7u8; 32];
        assert_eq!(payload_seq(&payload_key(&a, 42), &a), Some(42));
        assert_eq!(payload_seq(&payload_key(&[8u8; 32], 42), &a), None);
        assert_eq!(payload_seq(&payload_key(&a, 42)[..39], &a), None);
    }

    #[test]
    fn payload_value_round_trips_and_rejects_short() {
        let mut buf = vec![9u8; 100];
        encode_payload_value(&mut buf, 1234, b"hello");
        assert_eq!(buf.len(), 13);
        assert_eq!(decode_payload_value(&buf), Some((1234, &b"hello"[..])));
        assert_eq!(decode_payload_value(&buf[..7]), None);
    }

    #[test]
    fn dedup_value_round_trips_and_rejects_wrong_length() {
        let v = encode_dedup_value(5, 99);
        assert_eq!(decode_dedup_value(&v), Some((5, 99)));
        assert_eq!(decode_dedup_value(&v[..15]), None);
    }

    #[test]
    fn meta_round_trips_and_rejects_damage() {
        let meta = MailboxMeta {
            pubkey: [3; 32],
            usage: MailboxUsage {
                quota_payloads: 10,
                quota_bytes: 1 << 40,
                next_seq: u64::MAX - 1,
                count: 7,
                bytes: 12_345,
            },
            low_seq: 3,
        };
        let bytes = meta.encode();
        assert_eq!(MailboxMeta::decode(&bytes), Some(meta));
        assert_eq!(MailboxMeta::decode(&bytes[..META_LEN - 1]), None);
        let mut bad_version = bytes;
        bad_version[0] = 2;
        assert_eq!(MailboxMeta::decode(&bad_version), None);
    }
}
