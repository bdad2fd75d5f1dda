//! Canonical byte encodings and strict decoders (exact lengths, no trailing bytes).
//!
//! Token (354 bytes), big-endian:
//! `token_type u16 ‖ nonce [32] ‖ challenge_digest [32] ‖ token_key_id [32] ‖ authenticator [256]`.

use crate::error::{DecodeError, Refusal};
use crate::issuance::{Credential, IssuanceRequest, IssuanceResponse};
use crate::params::{
    AUTHENTICATOR_BYTES, DIGEST_BYTES, MAX_BLINDED_PER_REQUEST, NONCE_BYTES, TOKEN_BYTES,
    TOKEN_TYPE_BLIND_RSA,
};
use crate::token::{Token, TokenKeyId};

const CREDENTIAL_CLIENT_KEY: u8 = 1;
const CREDENTIAL_VOUCHER: u8 = 2;

/// Reads fixed-size fields off untrusted bytes without ever slicing past the end.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, tail) = self.rest.split_first_chunk::<N>()?;
        self.rest = tail;
        Some(*head)
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        self.array::<1>().map(|[b]| b)
    }

    pub(crate) fn u16(&mut self) -> Option<u16> {
        self.array::<2>().map(u16::from_be_bytes)
    }

    pub(crate) fn u64(&mut self) -> Option<u64> {
        self.array::<8>().map(u64::from_be_bytes)
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.array::<4>().map(u32::from_be_bytes)
    }

    /// The next `n` bytes.
    pub(crate) fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = self.rest.split_at_checked(n)?;
        self.rest = tail;
        Some(head)
    }

    /// Everything left.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.rest)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }
}

/// Encodes a token canonically (354 bytes).
pub fn encode_token(token: &Token) -> Vec<u8> {
    let mut out = Vec::with_capacity(TOKEN_BYTES);
    out.extend_from_slice(&token.input());
    out.extend_from_slice(&token.authenticator);
    out
}

/// Decodes a token; refuses short, long and foreign-type input.
pub fn decode_token(bytes: &[u8]) -> Result<Token, Refusal> {
    let mut r = Reader::new(bytes);
    let token_type = r.u16().ok_or(Refusal::Truncated)?;
    if token_type != TOKEN_TYPE_BLIND_RSA {
        return Err(Refusal::UnsupportedTokenType);
    }
    let nonce = r.array::<NONCE_BYTES>().ok_or(Refusal::Truncated)?;
    let challenge_digest = r.array::<DIGEST_BYTES>().ok_or(Refusal::Truncated)?;
    let key_id = r.array::<DIGEST_BYTES>().ok_or(Refusal::Truncated)?;
    let authenticator = r.array::<AUTHENTICATOR_BYTES>().ok_or(Refusal::Truncated)?;
    if !r.is_empty() {
        return Err(Refusal::TrailingBytes);
    }
    Ok(Token {
        token_type,
        nonce,
        challenge_digest,
        token_key_id: TokenKeyId(key_id),
        authenticator,
    })
}

/// `token_type u16 ‖ epoch u64 ‖ truncated_key_id u8 ‖ credential_tag u8 ‖ credential [32]
/// ‖ count u16 ‖ blinded [256] × count`.
pub fn encode_request(req: &IssuanceRequest) -> Vec<u8> {
    let mut out = Vec::with_capacity(46 + req.blinded.len() * AUTHENTICATOR_BYTES);
    out.extend_from_slice(&req.token_type.to_be_bytes());
    out.extend_from_slice(&req.epoch.to_be_bytes());
    out.push(req.truncated_key_id);
    match &req.credential {
        Credential::ClientKey(k) => {
            out.push(CREDENTIAL_CLIENT_KEY);
            out.extend_from_slice(k);
        }
        Credential::Voucher(v) => {
            out.push(CREDENTIAL_VOUCHER);
            out.extend_from_slice(v);
        }
    }
    // Count fits: the wallet never builds more than MAX_BLINDED_PER_REQUEST (< 2^16).
    out.extend_from_slice(&(req.blinded.len() as u16).to_be_bytes());
    for b in &req.blinded {
        out.extend_from_slice(b);
    }
    out
}

/// Strict decoder of [`encode_request`].
pub fn decode_request(bytes: &[u8]) -> Result<IssuanceRequest, DecodeError> {
    let mut r = Reader::new(bytes);
    let token_type = r.u16().ok_or(DecodeError::Truncated)?;
    if token_type != TOKEN_TYPE_BLIND_RSA {
        return Err(DecodeError::UnsupportedTokenType);
    }
    let epoch = r.u64().ok_or(DecodeError::Truncated)?;
    let truncated_key_id = r.u8().ok_or(DecodeError::Truncated)?;
    let tag = r.u8().ok_or(DecodeError::Truncated)?;
    let value = r.array::<32>().ok_or(DecodeError::Truncated)?;
    let credential = match tag {
        CREDENTIAL_CLIENT_KEY => Credential::ClientKey(value),
        CREDENTIAL_VOUCHER => Credential::Voucher(value),
        other => return Err(DecodeError::UnknownCredential(other)),
    };
    let blinded = read_blobs(&mut r)?;
    Ok(IssuanceRequest {
        token_type,
        epoch,
        truncated_key_id,
        credential,
        blinded,
    })
}

/// `count u16 ‖ blind_signature [256] × count`.
pub fn encode_response(resp: &IssuanceResponse) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + resp.blind_signatures.len() * AUTHENTICATOR_BYTES);
    out.extend_from_slice(&(resp.blind_signatures.len() as u16).to_be_bytes());
    for s in &resp.blind_signatures {
        out.extend_from_slice(s);
    }
    out
}

/// Strict decoder of [`encode_response`].
pub fn decode_response(bytes: &[u8]) -> Result<IssuanceResponse, DecodeError> {
    let mut r = Reader::new(bytes);
    let blind_signatures = read_blobs(&mut r)?;
    Ok(IssuanceResponse { blind_signatures })
}

fn read_blobs(r: &mut Reader<'_>) -> Result<Vec<[u8; AUTHENTICATOR_BYTES]>, DecodeError> {
    let count = usize::from(r.u16().ok_or(DecodeError::Truncated)?);
    if count > MAX_BLINDED_PER_REQUEST {
        return Err(DecodeError::BadCount(count));
    }
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        out.push(
            r.array::<AUTHENTICATOR_BYTES>()
                .ok_or(DecodeError::Truncated)?,
        );
    }
    if !r.is_empty() {
        return Err(DecodeError::TrailingBytes);
    }
    Ok(out)
}
