//! Typed errors. `Refusal` names and codes are stable: logs use `as_str()`, the wire `code()`.

use thiserror::Error;

/// Why a token was refused (at a provider or at the issuer's redemption).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
pub enum Refusal {
    #[error("token shorter than its encoding")]
    Truncated,
    #[error("bytes after the end of the token")]
    TrailingBytes,
    #[error("token type is not supported")]
    UnsupportedTokenType,
    #[error("token key id names no known issuer key")]
    UnknownKey,
    #[error("token's issuer epoch has not started yet")]
    NotYetValid,
    #[error("token's issuer epoch is past its validity")]
    Expired,
    #[error("challenge digest does not match the key's epoch")]
    ChallengeMismatch,
    #[error("authenticator does not verify")]
    BadSignature,
    #[error("token already spent")]
    AlreadySpent,
    #[error("spent set unavailable")]
    SpentSetUnavailable,
}

impl Refusal {
    /// Stable snake_case name, for metrics and logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            Refusal::Truncated => "truncated",
            Refusal::TrailingBytes => "trailing_bytes",
            Refusal::UnsupportedTokenType => "unsupported_token_type",
            Refusal::UnknownKey => "unknown_key",
            Refusal::NotYetValid => "not_yet_valid",
            Refusal::Expired => "expired",
            Refusal::ChallengeMismatch => "challenge_mismatch",
            Refusal::BadSignature => "bad_signature",
            Refusal::AlreadySpent => "already_spent",
            Refusal::SpentSetUnavailable => "spent_set_unavailable",
        }
    }

    /// Every refusal, in code order.
    pub const ALL: [Refusal; 10] = [
        Refusal::Truncated,
        Refusal::TrailingBytes,
        Refusal::UnsupportedTokenType,
        Refusal::UnknownKey,
        Refusal::NotYetValid,
        Refusal::Expired,
        Refusal::ChallengeMismatch,
        Refusal::BadSignature,
        Refusal::AlreadySpent,
        Refusal::SpentSetUnavailable,
    ];

    /// Its byte on the wire (1..=10, stable; spec/payments.md §12).
    pub fn code(self) -> u8 {
        Self::ALL
            .iter()
            .position(|r| *r == self)
            .and_then(|i| u8::try_from(i + 1).ok())
            .unwrap_or(0)
    }

    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.get(usize::from(code).checked_sub(1)?).copied()
    }
}

/// A packet arrived on a connection with no credit left. The client should spend a
/// token (each buys `packets_per_token` packets) and resend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("no credit: spend a token (each buys {packets_per_token} packets)")]
pub struct NoCredit {
    pub packets_per_token: u64,
}

/// Why an issuance policy refused (part of) a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PolicyRefusal {
    #[error("free quota for this epoch is used up")]
    QuotaExhausted,
    #[error("credential kind not accepted by this policy")]
    CredentialNotAccepted,
    #[error("voucher unknown or used up")]
    VoucherInvalid,
}

/// Why the issuer refused an issuance request.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IssueError {
    #[error("token type is not supported")]
    UnsupportedTokenType,
    #[error("request carries no blinded message")]
    EmptyRequest,
    #[error("request carries {0} blinded messages, more than allowed")]
    TooManyBlinded(usize),
    #[error("no issuer key for epoch {0}")]
    UnknownEpoch(u64),
    #[error("request is for epoch {requested}, issuer is at {current}")]
    WrongEpoch { requested: u64, current: u64 },
    #[error("truncated key id does not match the epoch key")]
    KeyMismatch,
    #[error("blinded message is malformed")]
    MalformedBlindedMessage,
    #[error("policy refused: {0}")]
    Policy(#[from] PolicyRefusal),
    #[error("signing failed")]
    Signing,
}

/// Errors of wire decoding of issuance messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("message truncated")]
    Truncated,
    #[error("bytes after the end of the message")]
    TrailingBytes,
    #[error("unsupported token type")]
    UnsupportedTokenType,
    #[error("unknown credential tag {0}")]
    UnknownCredential(u8),
    #[error("count {0} out of range")]
    BadCount(usize),
}

/// Errors of key handling (generation, import, publication).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum KeyError {
    #[error("RSA key generation failed")]
    Generation,
    #[error("key encoding invalid")]
    Encoding,
    #[error("key id does not match the public key")]
    KeyIdMismatch,
    #[error("key is not {expected} bits")]
    WrongSize { expected: usize },
}

/// Errors of the client wallet.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WalletError {
    #[error("blinding failed")]
    Blinding,
    #[error("response carries {got} signatures for {expected} requests")]
    CountMismatch { expected: usize, got: usize },
    #[error("blind signature does not finalize to a valid token")]
    BadBlindSignature,
    #[error("requested {0} tokens; allowed 1..={1}")]
    BadCount(usize, usize),
}

/// A storage backend failed (the in-memory one never does).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("store failure: {0}")]
pub struct StoreError(pub String);

/// Why a reward claim failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ClaimError {
    #[error("epoch not settled")]
    NotSettled,
    #[error("no reward entry for this node in this epoch")]
    NoEntry,
    #[error("reward already claimed")]
    AlreadyClaimed,
}

/// Why settling an epoch failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SettleError {
    #[error("epoch {0} already settled")]
    AlreadySettled(u64),
}
