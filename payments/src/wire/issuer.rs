//! The issuer's protocols (spec/payments.md §11), one request and one answer per stream:
//! - `/wesh/issuer/keys/1`: request `1` (version); answer `count (u8)`, then per key
//!   `epoch (u64) ‖ SPKI length (u16) ‖ SPKI` (the receiver recomputes the key id and
//!   checks the key);
//! - `/wesh/issuer/issue/1`: request `crate::encode_request`; answer
//!   `0 ‖ crate::encode_response` or `1 ‖ code` ([`IssueRefusal`]);
//! - `/wesh/issuer/redeem/1`: request `count (u16) ‖ count × token (354 B)`; answer
//!   `accepted (u32) ‖ refused (u16) ‖ refused × (index (u16) ‖ code (u8))`
//!   ([`SpendRefusal`]);
//! - `/wesh/issuer/rewards/1`: request `epoch (u64)`; answer the epoch's ledger as text;
//! - `/wesh/issuer/claim/1`: request `epoch (u64)`; answer `0 ‖ units (u64)` or
//!   `1 ‖ code` ([`ClaimRefusal`]);
//! - `/wesh/issuer/work/1`: request `epoch (u64) ‖ packets (u64)`; answer `0` or
//!   `1 ‖ code` ([`WorkRefusal`]).

use super::{
    ClaimRefusal, Code, IssueRefusal, SpendRefusal, WireError, WorkRefusal, encode_refused,
    split_answer,
};
use crate::codec::{Reader, decode_response, decode_token, encode_response, encode_token};
use crate::error::Refusal;
use crate::issuance::IssuanceResponse;
use crate::keys::{PublishedKey, VerifyingKey};
use crate::params::{MAX_BLINDED_PER_REQUEST, MAX_REDEEM_BATCH, TOKEN_BYTES};
use crate::token::{Token, TokenKeyId};

/// The keys request (its version byte).
pub const KEYS_REQUEST: [u8; 1] = [1];
/// Largest keys answer: a few epochs of 2048-bit keys.
pub const MAX_KEYS_ANSWER_BYTES: usize = 64 * 1024;
/// Largest issue request or answer (`MAX_BLINDED_PER_REQUEST` blinded messages of 256 B
/// plus framing).
pub const MAX_ISSUE_BYTES: usize = 64 * 1024;
/// Largest redemption request.
pub const MAX_REDEEM_REQUEST_BYTES: usize = 2 + MAX_REDEEM_BATCH * TOKEN_BYTES;
/// Largest redemption answer (every token refused).
pub const MAX_REDEEM_ANSWER_BYTES: usize = 6 + MAX_REDEEM_BATCH * 3;
/// Largest rewards answer (the ledger table of one epoch).
pub const MAX_REWARDS_ANSWER_BYTES: usize = 1 << 20;
/// Largest claim or work answer.
pub const MAX_VERDICT_ANSWER_BYTES: usize = 16;
/// Most keys one keys answer lists (its count is a u8).
const MAX_KEYS: usize = u8::MAX as usize;

const _: () = assert!(MAX_BLINDED_PER_REQUEST * 256 + 64 <= MAX_ISSUE_BYTES);

/// The body of a `0 ‖ body` answer.
pub trait Body: Sized {
    fn put(&self, out: &mut Vec<u8>);
    fn take(bytes: &[u8]) -> Result<Self, WireError>;
}

impl Body for () {
    fn put(&self, _: &mut Vec<u8>) {}

    fn take(bytes: &[u8]) -> Result<Self, WireError> {
        if bytes.is_empty() {
            Ok(())
        } else {
            Err(WireError::TrailingBytes)
        }
    }
}

impl Body for u64 {
    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_be_bytes());
    }

    fn take(bytes: &[u8]) -> Result<Self, WireError> {
        decode_epoch(bytes)
    }
}

impl Body for IssuanceResponse {
    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&encode_response(self));
    }

    fn take(bytes: &[u8]) -> Result<Self, WireError> {
        Ok(decode_response(bytes)?)
    }
}

/// An answer with a verdict: done with `T`, or refused for `R`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer<T, R> {
    Done(T),
    Refused(R),
}

/// `/wesh/issuer/issue/1`'s answer.
pub type IssueAnswer = Answer<IssuanceResponse, IssueRefusal>;
/// `/wesh/issuer/claim/1`'s answer: the units claimed.
pub type ClaimAnswer = Answer<u64, ClaimRefusal>;
/// `/wesh/issuer/work/1`'s answer.
pub type WorkAnswer = Answer<(), WorkRefusal>;

impl<T: Body, R: Code> Answer<T, R> {
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Answer::Done(body) => {
                let mut out = vec![0];
                body.put(&mut out);
                out
            }
            Answer::Refused(r) => encode_refused(*r),
        }
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        Ok(match split_answer::<R>(bytes)? {
            Ok(body) => Answer::Done(T::take(body)?),
            Err(refusal) => Answer::Refused(refusal),
        })
    }
}

impl<T, R> From<Result<T, R>> for Answer<T, R> {
    fn from(r: Result<T, R>) -> Self {
        match r {
            Ok(t) => Answer::Done(t),
            Err(e) => Answer::Refused(e),
        }
    }
}

impl<T, R> From<Answer<T, R>> for Result<T, R> {
    fn from(a: Answer<T, R>) -> Self {
        match a {
            Answer::Done(t) => Ok(t),
            Answer::Refused(e) => Err(e),
        }
    }
}

/// An epoch request (`/wesh/issuer/rewards/1`, `/wesh/issuer/claim/1`): exactly 8 bytes.
pub fn decode_epoch(bytes: &[u8]) -> Result<u64, WireError> {
    let array: [u8; 8] = bytes.try_into().map_err(|_| {
        if bytes.len() < 8 {
            WireError::Truncated
        } else {
            WireError::TrailingBytes
        }
    })?;
    Ok(u64::from_be_bytes(array))
}

/// The keys answer: at most 255 keys (the rest are left out).
pub fn encode_keys_answer(keys: &[PublishedKey]) -> Vec<u8> {
    let keys: Vec<&PublishedKey> = keys
        .iter()
        .filter(|k| u16::try_from(k.spki.len()).is_ok())
        .take(MAX_KEYS)
        .collect();
    let mut out = vec![u8::try_from(keys.len()).unwrap_or(u8::MAX)];
    for k in keys {
        out.extend_from_slice(&k.epoch.to_be_bytes());
        out.extend_from_slice(&u16::try_from(k.spki.len()).unwrap_or(0).to_be_bytes());
        out.extend_from_slice(&k.spki);
    }
    out
}

/// Decodes a keys answer; every key is checked (key id = SHA-256 of the SPKI, RSA-2048).
pub fn decode_keys_answer(bytes: &[u8]) -> Result<Vec<PublishedKey>, WireError> {
    let mut r = Reader::new(bytes);
    let count = r.u8().ok_or(WireError::Truncated)?;
    let mut keys = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        let epoch = r.u64().ok_or(WireError::Truncated)?;
        let len = r.u16().ok_or(WireError::Truncated)?;
        let spki = r.bytes(usize::from(len)).ok_or(WireError::Truncated)?;
        let published = PublishedKey {
            epoch,
            key_id: TokenKeyId::of_spki(spki),
            spki: spki.to_vec(),
        };
        VerifyingKey::from_published(&published)?;
        keys.push(published);
    }
    if !r.is_empty() {
        return Err(WireError::TrailingBytes);
    }
    Ok(keys)
}

/// A redemption request; at most `MAX_REDEEM_BATCH` tokens.
pub fn encode_redeem_request(tokens: &[Token]) -> Result<Vec<u8>, WireError> {
    let count = u16::try_from(tokens.len())
        .ok()
        .filter(|_| tokens.len() <= MAX_REDEEM_BATCH)
        .ok_or(WireError::BadCount(tokens.len()))?;
    let mut out = Vec::with_capacity(2 + tokens.len() * TOKEN_BYTES);
    out.extend_from_slice(&count.to_be_bytes());
    for t in tokens {
        out.extend_from_slice(&encode_token(t));
    }
    Ok(out)
}

/// A redemption batch: each token decoded on its own (one foreign token is refused by
/// its index, not the batch).
pub fn decode_redeem_request(bytes: &[u8]) -> Result<Vec<Result<Token, Refusal>>, WireError> {
    let mut r = Reader::new(bytes);
    let count = usize::from(r.u16().ok_or(WireError::Truncated)?);
    if count > MAX_REDEEM_BATCH {
        return Err(WireError::BadCount(count));
    }
    let body = r.rest();
    match body.len().cmp(&(count * TOKEN_BYTES)) {
        std::cmp::Ordering::Less => return Err(WireError::Truncated),
        std::cmp::Ordering::Greater => return Err(WireError::TrailingBytes),
        std::cmp::Ordering::Equal => {}
    }
    Ok(body.chunks_exact(TOKEN_BYTES).map(decode_token).collect())
}

/// The issuer's verdict on a redemption batch.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Redeemed {
    pub accepted: u32,
    /// (index in the batch, why)
    pub refused: Vec<(u16, SpendRefusal)>,
}

impl Redeemed {
    /// A whole batch refused (malformed, or the issuer cannot redeem now).
    pub fn batch_refused(why: SpendRefusal) -> Self {
        Redeemed {
            accepted: 0,
            refused: vec![(0, why)],
        }
    }

    /// Whether the issuer refused the whole batch for a reason that is not the tokens'
    /// (it cannot redeem now, or does not know the asker as a provider of its directory
    /// yet): the provider keeps the tokens and redeems them in a later round.
    pub fn batch_to_retry(&self) -> bool {
        self.accepted == 0
            && matches!(
                self.refused.as_slice(),
                [(0, SpendRefusal::Unavailable | SpendRefusal::NotAProvider)]
            )
    }

    pub fn encode(&self) -> Vec<u8> {
        let refused = &self.refused[..self.refused.len().min(usize::from(u16::MAX))];
        let mut out = self.accepted.to_be_bytes().to_vec();
        out.extend_from_slice(&u16::try_from(refused.len()).unwrap_or(0).to_be_bytes());
        for (i, why) in refused {
            out.extend_from_slice(&i.to_be_bytes());
            out.push(why.code());
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        let accepted = r.u32().ok_or(WireError::Truncated)?;
        let n = r.u16().ok_or(WireError::Truncated)?;
        let mut refused = Vec::with_capacity(usize::from(n).min(MAX_REDEEM_BATCH));
        for _ in 0..n {
            let index = r.u16().ok_or(WireError::Truncated)?;
            let code = r.u8().ok_or(WireError::Truncated)?;
            let why = SpendRefusal::from_code(code).ok_or(WireError::UnknownCode(code))?;
            refused.push((index, why));
        }
        if !r.is_empty() {
            return Err(WireError::TrailingBytes);
        }
        Ok(Redeemed { accepted, refused })
    }
}

/// A relay's work report: the Sphinx packets it received in a payments epoch, and (a
/// provider) the replication registrations it was paid for in it. `epoch ‖ packets ‖
/// replica_registrations`, u64 big-endian each (a mix reports 0 registrations).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkRequest {
    pub epoch: u64,
    pub packets: u64,
    pub replica_registrations: u64,
}

impl WorkRequest {
    pub fn encode(&self) -> [u8; 24] {
        let mut out = [0; 24];
        out[..8].copy_from_slice(&self.epoch.to_be_bytes());
        out[8..16].copy_from_slice(&self.packets.to_be_bytes());
        out[16..].copy_from_slice(&self.replica_registrations.to_be_bytes());
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        let epoch = r.u64().ok_or(WireError::Truncated)?;
        let packets = r.u64().ok_or(WireError::Truncated)?;
        let replica_registrations = r.u64().ok_or(WireError::Truncated)?;
        if !r.is_empty() {
            return Err(WireError::TrailingBytes);
        }
        Ok(WorkRequest {
            epoch,
            packets,
            replica_registrations,
        })
    }
}
