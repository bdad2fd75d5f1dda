//! Canonical binary encoding of descriptors (layout in spec/pki.md §2).
//!
//! Every field has exactly one encoding, so equal content means equal bytes and
//! the digest of a set of descriptors is well defined. The decoder checks every
//! rule the encoder enforces; the builder cannot sign what decode would reject.

use ed25519_dalek::VerifyingKey;
use sha2::{Digest, Sha256};

use crate::descriptor::{DescriptorContent, EpochSphinxKey, EpochTokenKey, NodeId, Role};
use crate::error::CodecError;
use crate::params::{
    ENCODING_VERSION, MAX_ADDRESS_LEN, MAX_ADDRESSES, MAX_DESCRIPTOR_BYTES, MAX_SPHINX_KEYS,
    MAX_TOKEN_KEY_SPKI_BYTES, MAX_TOKEN_KEYS,
};

/// Ed25519 signature length at the end of every encoded descriptor.
pub const SIGNATURE_LEN: usize = 64;

/// Bytes of the fixed-size header (version .. capacity).
pub const FIXED_HEADER_LEN: usize = 1 + 1 + 2 + 32 + 8 + 8 + 8 + 4;

/// Bytes per Sphinx key entry (epoch u64 + key).
pub const SPHINX_KEY_ENTRY_LEN: usize = 8 + 32;

/// Fixed bytes of a token key entry before the SPKI (epoch u64 + key id + SPKI length u16).
pub const TOKEN_KEY_ENTRY_HEADER_LEN: usize = 8 + 32 + 2;

/// The token key id of an SPKI: SHA-256 (spec/payments.md §2).
pub fn token_key_id(spki: &[u8]) -> [u8; 32] {
    Sha256::digest(spki).into()
}

/// Bounds-checked cursor over untrusted bytes.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.rest.len() {
            return None;
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Some(head)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N).and_then(|s| s.try_into().ok())
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        self.array::<1>().map(|[b]| b)
    }

    pub(crate) fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_be_bytes)
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_be_bytes)
    }

    pub(crate) fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_be_bytes)
    }

    pub(crate) fn remaining(&self) -> usize {
        self.rest.len()
    }
}

/// Encodes the signed body (everything but the signature), validating as decode does.
pub fn encode_body(content: &DescriptorContent) -> Result<Vec<u8>, CodecError> {
    check_identity(&content.identity)?;
    check_sphinx_keys(&content.sphinx_keys)?;
    check_addresses(&content.addresses)?;
    check_token_keys(content.role, &content.token_keys)?;

    let mut out = Vec::with_capacity(MAX_DESCRIPTOR_BYTES);
    out.push(ENCODING_VERSION);
    out.push(content.role.to_byte());
    out.extend_from_slice(&content.protocol_version.to_be_bytes());
    out.extend_from_slice(&content.identity.0);
    out.extend_from_slice(&content.sequence.to_be_bytes());
    out.extend_from_slice(&content.issue_epoch.to_be_bytes());
    out.extend_from_slice(&content.expiry_epoch.to_be_bytes());
    out.extend_from_slice(&content.capacity_pps.to_be_bytes());
    // Counts fit in a byte: checked above against MAX_SPHINX_KEYS / MAX_ADDRESSES.
    out.push(u8::try_from(content.sphinx_keys.len()).unwrap_or(u8::MAX));
    for key in &content.sphinx_keys {
        out.extend_from_slice(&key.epoch.to_be_bytes());
        out.extend_from_slice(&key.public);
    }
    out.push(u8::try_from(content.addresses.len()).unwrap_or(u8::MAX));
    for address in &content.addresses {
        out.push(u8::try_from(address.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(address.as_bytes());
    }
    // Counts and lengths fit: checked above against MAX_TOKEN_KEYS / the SPKI limit.
    out.push(u8::try_from(content.token_keys.len()).unwrap_or(u8::MAX));
    for key in &content.token_keys {
        out.extend_from_slice(&key.epoch.to_be_bytes());
        out.extend_from_slice(&key.key_id);
        out.extend_from_slice(
            &u16::try_from(key.spki.len())
                .unwrap_or(u16::MAX)
                .to_be_bytes(),
        );
        out.extend_from_slice(&key.spki);
    }
    Ok(out)
}

/// Decodes a full descriptor (body ‖ signature), rejecting anything non-canonical.
pub fn decode_descriptor(bytes: &[u8]) -> Result<DescriptorContent, CodecError> {
    if bytes.len() > MAX_DESCRIPTOR_BYTES {
        return Err(CodecError::Oversized {
            len: bytes.len(),
            max: MAX_DESCRIPTOR_BYTES,
        });
    }
    let mut r = Reader::new(bytes);
    let version = r.u8().ok_or(CodecError::Truncated)?;
    if version != ENCODING_VERSION {
        return Err(CodecError::UnknownEncodingVersion(version));
    }
    let role = Role::from_byte(r.u8().ok_or(CodecError::Truncated)?)?;
    let protocol_version = r.u16().ok_or(CodecError::Truncated)?;
    let identity = NodeId(r.array().ok_or(CodecError::Truncated)?);
    check_identity(&identity)?;
    let sequence = r.u64().ok_or(CodecError::Truncated)?;
    let issue_epoch = r.u64().ok_or(CodecError::Truncated)?;
    let expiry_epoch = r.u64().ok_or(CodecError::Truncated)?;
    let capacity_pps = r.u32().ok_or(CodecError::Truncated)?;

    let key_count = usize::from(r.u8().ok_or(CodecError::Truncated)?);
    if key_count > MAX_SPHINX_KEYS {
        return Err(CodecError::TooManySphinxKeys(key_count));
    }
    let mut sphinx_keys = Vec::with_capacity(key_count);
    for _ in 0..key_count {
        let epoch = r.u64().ok_or(CodecError::Truncated)?;
        let public = r.array().ok_or(CodecError::Truncated)?;
        sphinx_keys.push(EpochSphinxKey { epoch, public });
    }
    check_sphinx_keys(&sphinx_keys)?;

    let address_count = usize::from(r.u8().ok_or(CodecError::Truncated)?);
    if address_count > MAX_ADDRESSES {
        return Err(CodecError::TooManyAddresses(address_count));
    }
    let mut addresses = Vec::with_capacity(address_count);
    for _ in 0..address_count {
        let len = usize::from(r.u8().ok_or(CodecError::Truncated)?);
        let raw = r.take(len).ok_or(CodecError::Truncated)?;
        let text = std::str::from_utf8(raw).map_err(|_| CodecError::AddressSyntax)?;
        addresses.push(text.to_owned());
    }
    check_addresses(&addresses)?;

    let token_key_count = usize::from(r.u8().ok_or(CodecError::Truncated)?);
    if token_key_count > 0 && role != Role::Issuer {
        return Err(CodecError::TokenKeysOnNonIssuer);
    }
    if token_key_count > MAX_TOKEN_KEYS {
        return Err(CodecError::TooManyTokenKeys(token_key_count));
    }
    let mut token_keys = Vec::with_capacity(token_key_count);
    for _ in 0..token_key_count {
        let epoch = r.u64().ok_or(CodecError::Truncated)?;
        let key_id = r.array().ok_or(CodecError::Truncated)?;
        let len = usize::from(r.u16().ok_or(CodecError::Truncated)?);
        // bounded before it is read or hashed
        check_spki_len(len)?;
        let spki = r.take(len).ok_or(CodecError::Truncated)?.to_vec();
        token_keys.push(EpochTokenKey {
            epoch,
            key_id,
            spki,
        });
    }
    check_token_keys(role, &token_keys)?;

    r.take(SIGNATURE_LEN).ok_or(CodecError::Truncated)?;
    if r.remaining() != 0 {
        return Err(CodecError::TrailingBytes(r.remaining()));
    }
    Ok(DescriptorContent {
        identity,
        role,
        protocol_version,
        sequence,
        issue_epoch,
        expiry_epoch,
        capacity_pps,
        sphinx_keys,
        addresses,
        token_keys,
    })
}

fn check_spki_len(len: usize) -> Result<(), CodecError> {
    if (1..=MAX_TOKEN_KEY_SPKI_BYTES).contains(&len) {
        Ok(())
    } else {
        Err(CodecError::TokenKeyLength(len))
    }
}

/// Token keys: issuers only, at most [`MAX_TOKEN_KEYS`], epochs strictly increasing,
/// SPKI of 1..=[`MAX_TOKEN_KEY_SPKI_BYTES`] bytes, key id = SHA-256(SPKI).
fn check_token_keys(role: Role, keys: &[EpochTokenKey]) -> Result<(), CodecError> {
    if !keys.is_empty() && role != Role::Issuer {
        return Err(CodecError::TokenKeysOnNonIssuer);
    }
    if keys.len() > MAX_TOKEN_KEYS {
        return Err(CodecError::TooManyTokenKeys(keys.len()));
    }
    if keys
        .windows(2)
        .any(|w| matches!(w, [a, b] if a.epoch >= b.epoch))
    {
        return Err(CodecError::TokenKeysNotAscending);
    }
    for key in keys {
        check_spki_len(key.spki.len())?;
        // public data: no constant-time comparison needed
        if token_key_id(&key.spki) != key.key_id {
            return Err(CodecError::TokenKeyIdMismatch { epoch: key.epoch });
        }
    }
    Ok(())
}

fn check_identity(identity: &NodeId) -> Result<(), CodecError> {
    let key = VerifyingKey::from_bytes(&identity.0).map_err(|_| CodecError::InvalidIdentityKey)?;
    // A weak (small-order) key lets anyone forge signatures that verify under it.
    if key.is_weak() {
        return Err(CodecError::InvalidIdentityKey);
    }
    Ok(())
}

fn check_sphinx_keys(keys: &[EpochSphinxKey]) -> Result<(), CodecError> {
    if keys.len() > MAX_SPHINX_KEYS {
        return Err(CodecError::TooManySphinxKeys(keys.len()));
    }
    if keys
        .windows(2)
        .any(|w| matches!(w, [a, b] if a.epoch >= b.epoch))
    {
        return Err(CodecError::SphinxKeysNotAscending);
    }
    if keys.iter().any(|k| !is_usable_x25519_public(&k.public)) {
        return Err(CodecError::InvalidSphinxKey);
    }
    Ok(())
}

/// The canonical u-coordinates of the points of small order on Curve25519 and its
/// twist (little-endian; the list libsodium rejects). Non-canonical aliases are
/// excluded earlier by the canonical-form check.
const SMALL_ORDER_U: [[u8; 32]; 5] = [
    [0; 32],
    {
        let mut one = [0; 32];
        one[0] = 1;
        one
    },
    [
        0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4,
        0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49,
        0xb8, 0x00,
    ],
    [
        0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83, 0xef,
        0x5b, 0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f,
        0x11, 0x57,
    ],
    // p - 1
    {
        let mut p_minus_1 = [0xff; 32];
        p_minus_1[0] = 0xec;
        p_minus_1[31] = 0x7f;
        p_minus_1
    },
];

/// Canonical (u < p, top bit clear) and not of small order. A small-order key makes
/// every Sphinx shared secret with this hop a constant anyone can compute.
/// A table lookup instead of a scalar multiplication keeps decode cheap.
pub(crate) fn is_usable_x25519_public(key: &[u8; 32]) -> bool {
    if key[31] & 0x80 != 0 {
        return false;
    }
    // u >= p = 2^255 - 19 happens only for 0x7f ff..ff followed by a low byte >= 0xed.
    let at_least_p = key[31] == 0x7f && key[1..31].iter().all(|&b| b == 0xff) && key[0] >= 0xed;
    !at_least_p && !SMALL_ORDER_U.contains(key)
}

fn check_addresses(addresses: &[String]) -> Result<(), CodecError> {
    if addresses.len() > MAX_ADDRESSES {
        return Err(CodecError::TooManyAddresses(addresses.len()));
    }
    for (i, address) in addresses.iter().enumerate() {
        check_multiaddr_text(address)?;
        if addresses.iter().take(i).any(|earlier| earlier == address) {
            return Err(CodecError::DuplicateAddress);
        }
    }
    Ok(())
}

/// Shape of a multiaddr's text form without depending on libp2p: `/`-separated,
/// non-empty segments of a conservative ASCII set. The node parses it for real.
fn check_multiaddr_text(address: &str) -> Result<(), CodecError> {
    let len = address.len();
    if !(2..=MAX_ADDRESS_LEN).contains(&len) {
        return Err(CodecError::AddressLength(len));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "/.-_:%+=~[]".contains(c);
    let well_formed = address.starts_with('/')
        && !address.ends_with('/')
        && !address.contains("//")
        && address.chars().all(allowed);
    if well_formed {
        Ok(())
    } else {
        Err(CodecError::AddressSyntax)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn small_order_table_is_exactly_what_x25519_maps_to_zero() {
        for u in SMALL_ORDER_U {
            // X25519 clamps scalars to multiples of the cofactor: small order -> 0.
            assert_eq!(
                x25519_dalek::x25519([0x42; 32], u),
                [0u8; 32],
                "{}",
                hex::encode(u)
            );
            assert!(!is_usable_x25519_public(&u));
        }
        let mut p = [0xff; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        assert!(!is_usable_x25519_public(&p));
        let mut high_bit = [9u8; 32];
        assert!(is_usable_x25519_public(&high_bit));
        high_bit[31] |= 0x80;
        assert!(!is_usable_x25519_public(&high_bit));
    }
}
