//! `/wesh/credit/1`, between a client and its provider:
//! - request `1 ‖ token (354 B)` (spend) or `2` (balance);
//! - answer `0 ‖ balance (u64) ‖ frames dropped for lack of credit (u64)`, or
//!   `1 ‖ code (u8)` ([`SpendRefusal`]).

use super::{SpendRefusal, WireError, encode_refused, split_answer};
use crate::codec::{Reader, decode_token, encode_token};
use crate::params::TOKEN_BYTES;
use crate::token::Token;

const OP_SPEND: u8 = 1;
const OP_BALANCE: u8 = 2;

/// Largest request a provider reads.
pub const MAX_CREDIT_REQUEST_BYTES: usize = 1 + TOKEN_BYTES;
/// Largest answer a client reads.
pub const MAX_CREDIT_ANSWER_BYTES: usize = 1 + 16;

/// What a client asks its provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreditRequest {
    Spend(Box<Token>),
    Balance,
}

impl CreditRequest {
    pub fn encode(&self) -> Vec<u8> {
        match self {
            CreditRequest::Spend(token) => {
                let mut out = vec![OP_SPEND];
                out.extend_from_slice(&encode_token(token));
                out
            }
            CreditRequest::Balance => vec![OP_BALANCE],
        }
    }

    /// A request the provider cannot take is refused with the reason to answer (a token
    /// that does not decode: its [`crate::Refusal`]).
    pub fn decode(bytes: &[u8]) -> Result<Self, SpendRefusal> {
        match bytes.split_first() {
            Some((&OP_SPEND, token)) => decode_token(token)
                .map(|t| CreditRequest::Spend(Box::new(t)))
                .map_err(SpendRefusal::Token),
            Some((&OP_BALANCE, [])) => Ok(CreditRequest::Balance),
            _ => Err(SpendRefusal::MalformedRequest),
        }
    }
}

/// The provider's answer to a spend or balance request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreditAnswer {
    Balance { balance: u64, dropped: u64 },
    Refused(SpendRefusal),
}

impl CreditAnswer {
    pub fn encode(&self) -> Vec<u8> {
        match self {
            CreditAnswer::Balance { balance, dropped } => {
                let mut out = vec![0];
                out.extend_from_slice(&balance.to_be_bytes());
                out.extend_from_slice(&dropped.to_be_bytes());
                out
            }
            CreditAnswer::Refused(refusal) => encode_refused(*refusal),
        }
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let body = match split_answer::<SpendRefusal>(bytes)? {
            Ok(body) => body,
            Err(refusal) => return Ok(CreditAnswer::Refused(refusal)),
        };
        let mut r = Reader::new(body);
        let balance = r.u64().ok_or(WireError::Truncated)?;
        let dropped = r.u64().ok_or(WireError::Truncated)?;
        if !r.is_empty() {
            return Err(WireError::TrailingBytes);
        }
        Ok(CreditAnswer::Balance { balance, dropped })
    }

    /// The balance and drops, or the refusal.
    pub fn into_result(self) -> Result<(u64, u64), SpendRefusal> {
        match self {
            CreditAnswer::Balance { balance, dropped } => Ok((balance, dropped)),
            CreditAnswer::Refused(r) => Err(r),
        }
    }
}
