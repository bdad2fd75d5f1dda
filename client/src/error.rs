//! Typed errors. Every failure on untrusted input maps to one of these; nothing panics.

use thiserror::Error;

/// Failure to parse bytes received from the network or storage.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("input ended after {have} bytes, {need} more needed")]
    Truncated { have: usize, need: usize },
    #[error("{0} unexpected bytes after the end of the structure")]
    TrailingBytes(usize),
    #[error("unsupported wire version {0}")]
    UnsupportedVersion(u8),
    #[error("unknown {what} tag {tag}")]
    UnknownTag { what: &'static str, tag: u8 },
    #[error("{what} length {len} is outside the allowed range")]
    LengthOutOfRange { what: &'static str, len: usize },
    #[error("non-canonical encoding: {0}")]
    NonCanonical(&'static str),
    #[error("bytes are not a valid {0}")]
    InvalidKey(&'static str),
}

/// Every error the protocol core returns.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WeshError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("signature verification failed: {0}")]
    BadSignature(&'static str),
    #[error("authenticated decryption failed: {0}")]
    DecryptionFailed(&'static str),
    #[error("entry belongs to another group")]
    WrongGroup,
    #[error("entry belongs to the other log")]
    WrongLog,
    #[error("device is not a known member device of this group")]
    UnknownDevice,
    #[error("member is not known in this group")]
    UnknownMember,
    #[error("no chain key received yet for this device")]
    MissingChainKey,
    #[error(
        "message counter {counter} is older than the chain (next {next}) and not in the window"
    )]
    CounterAlreadyUsed { counter: u64, next: u64 },
    #[error("message counter {counter} is beyond the window (next {next}, window {window})")]
    CounterBeyondWindow {
        counter: u64,
        next: u64,
        window: u64,
    },
    #[error("sending chain counter exhausted")]
    CounterExhausted,
    #[error("handshake message replayed")]
    Replay,
    #[error("requester is blocked")]
    Blocked,
    #[error("shared secret is all-zero (low-order public key)")]
    NonContributory,
    #[error("invalid parameter: {0}")]
    InvalidParameter(&'static str),
    #[error("payload too large: {0} bytes")]
    TooLarge(usize),
    #[error("storage failure: {0}")]
    Storage(&'static str),
}

pub type Result<T> = core::result::Result<T, WeshError>;
