//! A rendezvous desk's durable binding record: `mailbox ‖ SHA-256(auth) ‖ tag`, the tag an
//! HMAC-SHA-256 under a key only the provider holds. At a restart the desk rebuilds its
//! bindings from these records; one it did not write itself (injected into its store by
//! any path) fails the tag and is dropped, so it cannot hand a responder's mailbox to
//! someone else.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Bytes of one record.
pub const BINDING_RECORD_BYTES: usize = 96;

fn tag(key: &[u8; 32], mailbox: &[u8; 32], auth_hash: &[u8; 32]) -> Option<Hmac<Sha256>> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).ok()?;
    mac.update(b"wesh/v1/rdv-binding-record\0");
    mac.update(mailbox);
    mac.update(auth_hash);
    Some(mac)
}

/// The record of `mailbox` bound to `auth_hash`.
pub fn seal_binding(key: &[u8; 32], mailbox: &[u8; 32], auth_hash: &[u8; 32]) -> Option<Vec<u8>> {
    let t = tag(key, mailbox, auth_hash)?.finalize().into_bytes();
    Some([mailbox.as_slice(), auth_hash.as_slice(), t.as_slice()].concat())
}

/// `(mailbox, auth_hash)` of a record this key sealed; `None` for anything else.
pub fn open_binding(key: &[u8; 32], record: &[u8]) -> Option<([u8; 32], [u8; 32])> {
    if record.len() != BINDING_RECORD_BYTES {
        return None;
    }
    let mailbox: [u8; 32] = record.get(..32)?.try_into().ok()?;
    let auth_hash: [u8; 32] = record.get(32..64)?.try_into().ok()?;
    // verify_slice compares in constant time
    tag(key, &mailbox, &auth_hash)?
        .verify_slice(record.get(64..)?)
        .ok()?;
    Some((mailbox, auth_hash))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn only_records_sealed_with_the_key_open() {
        let key = [3u8; 32];
        let r = seal_binding(&key, &[1; 32], &[2; 32]).unwrap();
        assert_eq!(r.len(), BINDING_RECORD_BYTES);
        assert_eq!(open_binding(&key, &r), Some(([1; 32], [2; 32])));
        assert_eq!(open_binding(&[4; 32], &r), None, "another key");
        let mut forged = r.clone();
        forged[0] ^= 1;
        assert_eq!(open_binding(&key, &forged), None, "another mailbox");
        // the old unauthenticated 64-byte form, or any other length
        assert_eq!(open_binding(&key, &r[..64]), None);
        assert_eq!(open_binding(&key, &[]), None);
    }
}
