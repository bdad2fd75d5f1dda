//! Refusal codes: why a provider or the issuer said no, one byte each on the wire. Codes
//! are stable (never reused); a decoder refuses codes it does not know.

use super::Code;
use crate::error::{ClaimError, IssueError, PolicyRefusal, Refusal};

/// Defines a fieldless refusal enum with its messages and its wire codes.
macro_rules! refusal_codes {
    ($(#[$meta:meta])* pub enum $name:ident {
        $($(#[doc = $doc:literal])* $variant:ident = $code:literal => $msg:literal,)+
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
        pub enum $name {
            $($(#[doc = $doc])* #[error($msg)] $variant,)+
        }

        impl $name {
            /// Every refusal of this kind.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
        }

        impl Code for $name {
            fn code(self) -> u8 {
                match self {
                    $($name::$variant => $code,)+
                }
            }

            fn from_code(code: u8) -> Option<Self> {
                match code {
                    $($code => Some($name::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

/// Why a provider refused a spend (`/wesh/credit/1`), or the issuer a token it was
/// asked to redeem (`/wesh/issuer/redeem/1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum SpendRefusal {
    #[error("token refused: {0}")]
    Token(Refusal),
    #[error("malformed request")]
    MalformedRequest,
    #[error("the service cannot answer now (storage or keys)")]
    Unavailable,
    /// A redemption from a peer that is not a provider of the issuer's directory.
    #[error("only providers of the directory redeem")]
    NotAProvider,
}

const MALFORMED_REQUEST: u8 = 0x40;
const UNAVAILABLE: u8 = 0x41;
const NOT_A_PROVIDER: u8 = 0x42;

impl SpendRefusal {
    /// Not the token's fault (the provider lacks its issuer key, or its store failed): the
    /// client keeps the token and spends it later (the client's top-up policy).
    pub fn token_still_good(self) -> bool {
        matches!(
            self,
            SpendRefusal::Token(Refusal::UnknownKey | Refusal::SpentSetUnavailable)
                | SpendRefusal::Unavailable
                | SpendRefusal::NotAProvider
        )
    }
}

impl Code for SpendRefusal {
    /// Token refusals keep `Refusal::code` (1..=10).
    fn code(self) -> u8 {
        match self {
            SpendRefusal::Token(r) => r.code(),
            SpendRefusal::MalformedRequest => MALFORMED_REQUEST,
            SpendRefusal::Unavailable => UNAVAILABLE,
            SpendRefusal::NotAProvider => NOT_A_PROVIDER,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            MALFORMED_REQUEST => Some(SpendRefusal::MalformedRequest),
            UNAVAILABLE => Some(SpendRefusal::Unavailable),
            NOT_A_PROVIDER => Some(SpendRefusal::NotAProvider),
            other => Refusal::from_code(other).map(SpendRefusal::Token),
        }
    }
}

refusal_codes! {
    /// Why the issuer refused an issuance request (`/wesh/issuer/issue/1`).
    pub enum IssueRefusal {
        MalformedRequest = 1 => "malformed issuance request",
        /// A `ClientKey` credential that is not the requesting peer's own key.
        NotRequestersKey = 2 => "the client key credential must be the requesting peer's key",
        Unavailable = 3 => "the issuer has no key for this epoch",
        UnsupportedTokenType = 4 => "token type is not supported",
        EmptyRequest = 5 => "request carries no blinded message",
        TooManyBlinded = 6 => "request carries more blinded messages than allowed",
        UnknownEpoch = 7 => "no issuer key for the epoch",
        WrongEpoch = 8 => "request is not for the issuer's current epoch",
        KeyMismatch = 9 => "truncated key id does not match the epoch key",
        MalformedBlindedMessage = 10 => "blinded message is malformed",
        QuotaExhausted = 11 => "free quota for this epoch is used up",
        CredentialNotAccepted = 12 => "credential kind not accepted by this policy",
        VoucherInvalid = 13 => "voucher unknown or used up",
        Signing = 14 => "signing failed",
    }
}

impl From<&IssueError> for IssueRefusal {
    fn from(e: &IssueError) -> Self {
        match e {
            IssueError::UnsupportedTokenType => IssueRefusal::UnsupportedTokenType,
            IssueError::EmptyRequest => IssueRefusal::EmptyRequest,
            IssueError::TooManyBlinded(_) => IssueRefusal::TooManyBlinded,
            IssueError::UnknownEpoch(_) => IssueRefusal::UnknownEpoch,
            IssueError::WrongEpoch { .. } => IssueRefusal::WrongEpoch,
            IssueError::KeyMismatch => IssueRefusal::KeyMismatch,
            IssueError::MalformedBlindedMessage => IssueRefusal::MalformedBlindedMessage,
            IssueError::Policy(PolicyRefusal::QuotaExhausted) => IssueRefusal::QuotaExhausted,
            IssueError::Policy(PolicyRefusal::CredentialNotAccepted) => {
                IssueRefusal::CredentialNotAccepted
            }
            IssueError::Policy(PolicyRefusal::VoucherInvalid) => IssueRefusal::VoucherInvalid,
            IssueError::Signing => IssueRefusal::Signing,
        }
    }
}

refusal_codes! {
    /// Why the issuer refused a reward claim (`/wesh/issuer/claim/1`).
    pub enum ClaimRefusal {
        NotSettled = 1 => "epoch not settled",
        NoEntry = 2 => "no reward entry for this node in this epoch",
        AlreadyClaimed = 3 => "reward already claimed",
        MalformedRequest = 4 => "malformed request: expected an epoch (u64)",
        NotANode = 5 => "the claimant is not an Ed25519 node",
        /// The claim could not be made durable: it does not count.
        Unavailable = 6 => "the issuer cannot store the claim now",
    }
}

impl From<ClaimError> for ClaimRefusal {
    fn from(e: ClaimError) -> Self {
        match e {
            ClaimError::NotSettled => ClaimRefusal::NotSettled,
            ClaimError::NoEntry => ClaimRefusal::NoEntry,
            ClaimError::AlreadyClaimed => ClaimRefusal::AlreadyClaimed,
        }
    }
}

refusal_codes! {
    /// Why the issuer refused a work report (`/wesh/issuer/work/1`).
    pub enum WorkRefusal {
        NotRecentEpoch = 1 => "the epoch is not the current or the previous one",
        AlreadySettled = 2 => "the epoch is already settled",
        AlreadyReported = 3 => "work for this epoch already reported",
        TooManyReports = 4 => "too many reports for this epoch",
        MalformedRequest = 5 => "malformed request: expected epoch (u64) and packets (u64)",
        NotANode = 6 => "the reporter is not an Ed25519 node",
    }
}
