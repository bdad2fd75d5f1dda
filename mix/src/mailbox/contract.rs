//! One test suite for the [`MailboxBackend`] contract, run against every backend: the
//! in-memory one in this crate's tests, the node's rocksdb store in the node's tests.
//! Time is passed in (Unix seconds); nothing sleeps.

use super::backend::{BackendError, MailboxBackend};
use super::semantics::{MailboxLimits, Refusal, Registered, check_public_key};
use super::{MailboxId, PullSecret};
use crate::params::MAX_PLAINTEXT_BYTES;
use std::fmt::Debug;
use std::time::Duration;
use thiserror::Error;

/// A rule of the contract the backend broke.
#[derive(Debug, Error)]
#[error("mailbox contract broken ({rule}): {detail}")]
pub struct Violation {
    pub rule: &'static str,
    pub detail: String,
}

const NOW: u64 = 1_700_000_000;
const DAY: u64 = 24 * 60 * 60;

fn ensure_eq<T: PartialEq + Debug>(rule: &'static str, got: T, want: T) -> Result<(), Violation> {
    if got == want {
        return Ok(());
    }
    Err(Violation {
        rule,
        detail: format!("got {got:?}, want {want:?}"),
    })
}

fn ok<T>(rule: &'static str, r: Result<T, BackendError>) -> Result<T, Violation> {
    r.map_err(|e| Violation {
        rule,
        detail: format!("unexpected error: {e}"),
    })
}

fn refused<T: Debug>(
    rule: &'static str,
    r: Result<T, BackendError>,
    want: &Refusal,
) -> Result<(), Violation> {
    match r {
        Err(BackendError::Refused(got)) if got == *want => Ok(()),
        other => Err(Violation {
            rule,
            detail: format!("got {other:?}, want refusal {want:?}"),
        }),
    }
}

/// An Ed25519 public key made from `seed`.
fn key(seed: u8) -> [u8; 32] {
    ed25519_dalek::SigningKey::from_bytes(&[seed; 32])
        .verifying_key()
        .to_bytes()
}

/// A full-size payload unique to `n`.
fn payload(n: u64) -> Vec<u8> {
    let mut p = vec![0u8; MAX_PLAINTEXT_BYTES];
    for (i, chunk) in p.chunks_mut(8).enumerate() {
        let word = n.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ i as u64;
        chunk.copy_from_slice(&word.to_be_bytes()[..chunk.len()]);
    }
    p
}

fn seqs(items: &[(u64, Vec<u8>)]) -> Vec<u64> {
    items.iter().map(|(s, _)| *s).collect()
}

/// A backend with `limits` and one mailbox registered (with key 1).
fn with_mailbox<B: MailboxBackend>(
    open: &mut impl FnMut(MailboxLimits) -> B,
    limits: MailboxLimits,
) -> Result<(B, MailboxId), Violation> {
    let mut b = open(limits);
    let mb = MailboxId([0xa5; 32]);
    let r = ok("register", b.register(mb, key(1), PullSecret([1; 32])))?;
    ensure_eq("a new mailbox is created", r, Registered::Created)?;
    Ok((b, mb))
}

/// Runs every check of the contract on backends made by `open` (a fresh, empty backend
/// with the given limits each call).
pub fn check_contract<B: MailboxBackend>(
    mut open: impl FnMut(MailboxLimits) -> B,
) -> Result<(), Violation> {
    numbering_order_and_delete(&mut open)?;
    mailboxes_are_apart(&mut open)?;
    count_quota(&mut open)?;
    byte_quota(&mut open)?;
    unknown_mailbox(&mut open)?;
    payload_sizes(&mut open)?;
    registration(&mut open)?;
    duplicates(&mut open)?;
    expiry(&mut open)?;
    expired_payloads_make_room(&mut open)?;
    Ok(())
}

fn numbering_order_and_delete<B: MailboxBackend>(
    open: &mut impl FnMut(MailboxLimits) -> B,
) -> Result<(), Violation> {
    let (mut b, mb) = with_mailbox(open, MailboxLimits::default())?;
    let mut got = Vec::new();
    for n in 0..5 {
        got.push(ok("store", b.store(&mb, &payload(n), NOW))?);
    }
    ensure_eq("numbered from 0 up", got, vec![0, 1, 2, 3, 4])?;
    let all = ok("fetch", b.fetch(&mb, 0, 100, NOW))?;
    let want: Vec<(u64, Vec<u8>)> = (0..5).map(|n| (n, payload(n))).collect();
    ensure_eq("fetch returns all, oldest first", &all, &want)?;
    let two = ok("fetch", b.fetch(&mb, 0, 2, NOW))?;
    ensure_eq("max keeps the oldest", seqs(&two), vec![0, 1])?;
    let later = ok("fetch", b.fetch(&mb, 3, 100, NOW))?;
    ensure_eq("fetch from a number", seqs(&later), vec![3, 4])?;
    ensure_eq(
        "delete counts what existed",
        ok("delete", b.delete(&mb, &[0, 2, 77]))?,
        2,
    )?;
    ensure_eq("remaining", ok("remaining", b.remaining(&mb))?, 3)?;
    let left = ok("fetch", b.fetch(&mb, 0, 100, NOW))?;
    ensure_eq("deleted payloads are gone", seqs(&left), vec![1, 3, 4])?;
    ensure_eq(
        "deleting again finds nothing",
        ok("delete", b.delete(&mb, &[0, 2]))?,
        0,
    )?;
    ensure_eq(
        "numbers are not reused",
        ok("store", b.store(&mb, &payload(5), NOW))?,
        5,
    )
}

fn mailboxes_are_apart<B: MailboxBackend>(
    open: &mut impl FnMut(MailboxLimits) -> B,
) -> Result<(), Violation> {
    let (mut b, a) = with_mailbox(open, MailboxLimits::default())?;
    // ids differing in the last byte only: a prefix mistake would leak between them
    let mut other = a.0;
    other[31] ^= 1;
    let other = MailboxId(other);
    ok("register", b.register(other, key(2), PullSecret([2; 32])))?;
    ok("store", b.store(&a, b"for a", NOW))?;
    ensure_eq(
        "each mailbox numbers from 0",
        ok("store", b.store(&other, b"for b", NOW))?,
        0,
    )?;
    let got = ok("fetch", b.fetch(&a, 0, 10, NOW))?;
    ensure_eq("kept apart", got, vec![(0, b"for a".to_vec())])?;
    ensure_eq("delete in one", ok("delete", b.delete(&a, &[0]))?, 1)?;
    let got = ok("fetch", b.fetch(&other, 0, 10, NOW))?;
    ensure_eq("the other keeps its own", got.len(), 1)
}

fn count_quota<B: MailboxBackend>(
    open: &mut impl FnMut(MailboxLimits) -> B,
) -> Result<(), Violation> {
    let limits = MailboxLimits {
        quota_payloads: 3,
        ..MailboxLimits::default()
    };
    let (mut b, mb) = with_mailbox(open, limits)?;
    for n in 0..3 {
        ok("store", b.store(&mb, &payload(n), NOW))?;
    }
    refused(
        "count quota",
        b.store(&mb, &payload(3), NOW),
        &Refusal::PayloadQuotaExceeded { limit: 3 },
    )?;
    ensure_eq(
        "a refusal stores nothing",
        ok("fetch", b.fetch(&mb, 0, 10, NOW))?.len(),
        3,
    )?;
    ok("delete", b.delete(&mb, &[0]))?;
    ensure_eq(
        "a refusal uses up no number",
        ok("store", b.store(&mb, &payload(3), NOW))?,
        3,
    )
}

fn byte_quota<B: MailboxBackend>(
    open: &mut impl FnMut(MailboxLimits) -> B,
) -> Result<(), Violation> {
    let limits = MailboxLimits {
        quota_bytes: 5_000,
        ..MailboxLimits::default()
    };
    let (mut b, mb) = with_mailbox(open, limits)?;
    ok("store", b.store(&mb, &payload(0), NOW))?;
    ok("store", b.store(&mb, &payload(1), NOW))?;
    let held = 2 * MAX_PLAINTEXT_BYTES as u64;
    refused(
        "byte quota",
        b.store(&mb, &payload(2), NOW),
        &Refusal::ByteQuotaExceeded {
            held,
            len: MAX_PLAINTEXT_BYTES as u64,
            limit: 5_000,
        },
    )?;
    let fill = vec![7u8; (5_000 - held) as usize];
    ensure_eq(
        "exactly at the quota fits",
        ok("store", b.store(&mb, &fill, NOW))?,
        2,
    )
}

fn unknown_mailbox<B: MailboxBackend>(
    open: &mut impl FnMut(MailboxLimits) -> B,
) -> Result<(), Violation> {
    let mut b = open(MailboxLimits::default());
    let nobody = MailboxId([0x11; 32]);
    let unknown = Refusal::UnknownMailbox;
    refused("store to unknown", b.store(&nobody, b"x", NOW), &unknown)?;
    refused("fetch of unknown", b.fetch(&nobody, 0, 10, NOW), &unknown)?;
    refused("delete in unknown", b.delete(&nobody, &[0]), &unknown)?;
    refused("remaining of unknown", b.remaining(&nobody), &unknown)?;
    ensure_eq("no key for unknown", b.key_of(&nobody), None)
}

fn payload_sizes<B: MailboxBackend>(
    open: &mut impl FnMut(MailboxLimits) -> B,
) -> Result<(), Violation> {
    let (mut b, mb) = with_mailbox(open, MailboxLimits::default())?;
    refused(
        "oversized payload",
        b.store(&mb, &vec![0u8; MAX_PLAINTEXT_BYTES + 1], NOW),
        &Refusal::PayloadTooLarge {
            len: MAX_PLAINTEXT_BYTES + 1,
            max: MAX_PLAINTEXT_BYTES,
        },
    )?;
    refused(
        "empty payload",
        b.store(&mb, &[], NOW),
        &Refusal::EmptyPayload,
    )?;
    ensure_eq(
        "nothing stored",
        ok("fetch", b.fetch(&mb, 0, 10, NOW))?,
        vec![],
    )?;
    let full = vec![1u8; MAX_PLAINTEXT_BYTES];
    ensure_eq(
        "the largest fits",
        ok("store", b.store(&mb, &full, NOW))?,
        0,
    )
}

fn registration<B: MailboxBackend>(
    open: &mut impl FnMut(MailboxLimits) -> B,
) -> Result<(), Violation> {
    let (mut b, mb) = with_mailbox(open, MailboxLimits::default())?;
    ok("store", b.store(&mb, b"kept", NOW))?;
    let again = ok("register", b.register(mb, key(1), PullSecret([9; 32])))?;
    ensure_eq("same key again", again, Registered::AlreadyRegistered)?;
    let keys = b.key_of(&mb).map(|k| (k.public_key, k.pull_secret));
    ensure_eq(
        "registering again replaces the pull secret",
        keys,
        Some((key(1), PullSecret([9; 32]))),
    )?;
    refused(
        "another key",
        b.register(mb, key(2), PullSecret([2; 32])),
        &Refusal::KeyMismatch,
    )?;
    ensure_eq(
        "the first key stays",
        b.key_of(&mb).map(|k| k.public_key),
        Some(key(1)),
    )?;
    let got = ok("fetch", b.fetch(&mb, 0, 10, NOW))?;
    ensure_eq("payloads stay", got, vec![(0, b"kept".to_vec())])?;
    let Some(bad) = (0u8..=255)
        .map(|b| [b; 32])
        .find(|k| check_public_key(k).is_err())
    else {
        return Ok(());
    };
    refused(
        "not an Ed25519 key",
        b.register(MailboxId([0x33; 32]), bad, PullSecret([3; 32])),
        &Refusal::InvalidPublicKey,
    )
}

fn duplicates<B: MailboxBackend>(
    open: &mut impl FnMut(MailboxLimits) -> B,
) -> Result<(), Violation> {
    let limits = MailboxLimits {
        ttl: Duration::from_secs(DAY),
        ..MailboxLimits::default()
    };
    let (mut b, mb) = with_mailbox(open, limits)?;
    ensure_eq(
        "first copy",
        ok("store", b.store(&mb, &payload(9), NOW))?,
        0,
    )?;
    ensure_eq(
        "a copy gets its number",
        ok("store", b.store(&mb, &payload(9), NOW + 10))?,
        0,
    )?;
    ensure_eq(
        "stored once",
        ok("fetch", b.fetch(&mb, 0, 10, NOW + 10))?.len(),
        1,
    )?;
    ok("delete", b.delete(&mb, &[0]))?;
    let again = ok("store", b.store(&mb, &payload(9), NOW + 20))?;
    ensure_eq("a delivered payload is not stored again", again, 0)?;
    ensure_eq(
        "not delivered twice",
        ok("fetch", b.fetch(&mb, 0, 10, NOW + 20))?,
        vec![],
    )?;
    let other = MailboxId([0x22; 32]);
    ok("register", b.register(other, key(3), PullSecret([3; 32])))?;
    ensure_eq(
        "per mailbox",
        ok("store", b.store(&other, &payload(9), NOW))?,
        0,
    )?;
    let late = ok("store", b.store(&mb, &payload(9), NOW + DAY))?;
    ensure_eq("past the TTL it is new", late, 1)
}

fn expiry<B: MailboxBackend>(open: &mut impl FnMut(MailboxLimits) -> B) -> Result<(), Violation> {
    let limits = MailboxLimits {
        ttl: Duration::from_secs(DAY),
        ..MailboxLimits::default()
    };
    let (mut b, mb) = with_mailbox(open, limits)?;
    ok("store", b.store(&mb, &payload(0), NOW))?;
    ok("store", b.store(&mb, &payload(1), NOW + 100))?;
    let alive = ok("fetch", b.fetch(&mb, 0, 10, NOW + DAY - 1))?;
    ensure_eq("alive until stored_at + ttl", alive.len(), 2)?;
    let lazy = ok("fetch", b.fetch(&mb, 0, 10, NOW + DAY))?;
    ensure_eq("fetch skips the expired", seqs(&lazy), vec![1])?;
    ok("expire", b.expire(NOW + DAY + 100))?;
    ensure_eq(
        "expire removes them all",
        ok("remaining", b.remaining(&mb))?,
        0,
    )?;
    ensure_eq(
        "gone for any now",
        ok("fetch", b.fetch(&mb, 0, 10, NOW))?,
        vec![],
    )?;
    let next = ok("store", b.store(&mb, &payload(2), NOW + DAY + 100))?;
    ensure_eq("numbers go on after expiry", next, 2)
}

fn expired_payloads_make_room<B: MailboxBackend>(
    open: &mut impl FnMut(MailboxLimits) -> B,
) -> Result<(), Violation> {
    let limits = MailboxLimits {
        ttl: Duration::from_secs(60),
        quota_payloads: 2,
        ..MailboxLimits::default()
    };
    let (mut b, mb) = with_mailbox(open, limits)?;
    ok("store", b.store(&mb, &payload(0), NOW))?;
    ok("store", b.store(&mb, &payload(1), NOW))?;
    refused(
        "full while alive",
        b.store(&mb, &payload(2), NOW + 59),
        &Refusal::PayloadQuotaExceeded { limit: 2 },
    )?;
    let seq = ok("store", b.store(&mb, &payload(2), NOW + 60))?;
    ensure_eq("expired payloads do not make a mailbox full", seq, 2)?;
    ensure_eq(
        "the expired are swept",
        ok("remaining", b.remaining(&mb))?,
        1,
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::mailbox::InMemoryBackend;

    #[test]
    fn the_in_memory_backend_keeps_the_contract() {
        check_contract(|limits| InMemoryBackend::new(limits).unwrap()).unwrap();
    }
}
