//! Wire formats of the payments protocols between nodes (spec/payments.md §11, §12): one
//! request and one answer per stream. Every decoder is strict (exact lengths, no trailing
//! bytes, bounded counts) and never panics; refusals travel as one-byte codes.
//!
//! Answers with a verdict are framed `0 ‖ body` (done) or `1 ‖ code (u8)` (refused).

pub mod codes;
pub mod credit;
pub mod issuer;

pub use codes::{ClaimRefusal, IssueRefusal, SpendRefusal, WorkRefusal};
pub use credit::{CreditAnswer, CreditRequest};
pub use issuer::{
    Answer, ClaimAnswer, IssueAnswer, Redeemed, WorkAnswer, WorkRequest, decode_epoch,
    decode_keys_answer, decode_redeem_request, encode_keys_answer, encode_redeem_request,
};

use crate::error::{DecodeError, KeyError};
use thiserror::Error;

/// Why received bytes are not a message of the protocol.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WireError {
    #[error("message truncated")]
    Truncated,
    #[error("bytes after the end of the message")]
    TrailingBytes,
    #[error("unknown message tag {0}")]
    UnknownTag(u8),
    #[error("unknown refusal code {0}")]
    UnknownCode(u8),
    #[error("count {0} out of range")]
    BadCount(usize),
    #[error("issuance message: {0}")]
    Issuance(#[from] DecodeError),
    #[error("issuer key refused: {0}")]
    Key(#[from] KeyError),
}

/// A refusal reason with a stable one-byte code.
pub trait Code: Sized + Copy {
    fn code(self) -> u8;
    fn from_code(code: u8) -> Option<Self>;
}

const DONE: u8 = 0;
const REFUSED: u8 = 1;

/// `1 ‖ code`.
fn encode_refused<R: Code>(refusal: R) -> Vec<u8> {
    vec![REFUSED, refusal.code()]
}

/// Splits `0 ‖ body` / `1 ‖ code`.
fn split_answer<R: Code>(bytes: &[u8]) -> Result<Result<&[u8], R>, WireError> {
    match bytes.split_first() {
        Some((&DONE, body)) => Ok(Ok(body)),
        Some((&REFUSED, [code])) => R::from_code(*code)
            .map(Err)
            .ok_or(WireError::UnknownCode(*code)),
        Some((&REFUSED, [])) => Err(WireError::Truncated),
        Some((&REFUSED, _)) => Err(WireError::TrailingBytes),
        Some((&tag, _)) => Err(WireError::UnknownTag(tag)),
        None => Err(WireError::Truncated),
    }
}
