//! Error and rejection types. Every bad input maps to one of these, never a panic.

use crate::equivocation::EquivocationProof;

/// A parameter set that would break an invariant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    #[error("epoch length must be positive")]
    ZeroEpochLength,
    #[error("grace period {grace}s must be shorter than the epoch ({epoch}s)")]
    GraceTooLong { grace: u64, epoch: u64 },
    #[error("view confirm share must be 1..=100 percent, got {0}")]
    BadPercent(u8),
}

/// Why bytes are not a canonical descriptor (or why a builder could not encode one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("input ends early")]
    Truncated,
    #[error("{0} trailing bytes after the descriptor")]
    TrailingBytes(usize),
    #[error("descriptor of {len} bytes exceeds {max}")]
    Oversized { len: usize, max: usize },
    #[error("unknown encoding version {0}")]
    UnknownEncodingVersion(u8),
    #[error("unknown role byte {0}")]
    UnknownRole(u8),
    #[error("identity key is not a valid, non-weak Ed25519 point")]
    InvalidIdentityKey,
    #[error("{0} Sphinx keys, at most 2 allowed")]
    TooManySphinxKeys(usize),
    #[error("Sphinx key epochs must be strictly increasing")]
    SphinxKeysNotAscending,
    #[error("Sphinx key is non-canonical or of low order")]
    InvalidSphinxKey,
    #[error("{0} addresses, too many")]
    TooManyAddresses(usize),
    #[error("address length {0} outside 2..=200")]
    AddressLength(usize),
    #[error("address is not a well-formed multiaddr text")]
    AddressSyntax,
    #[error("address listed twice")]
    DuplicateAddress,
    #[error("token keys in a descriptor whose role is not issuer")]
    TokenKeysOnNonIssuer,
    #[error("{0} token keys, at most 2 allowed")]
    TooManyTokenKeys(usize),
    #[error("token key epochs must be strictly increasing")]
    TokenKeysNotAscending,
    #[error("token key SPKI of {0} bytes outside 1..=400")]
    TokenKeyLength(usize),
    #[error("token key id of epoch {epoch} is not the SHA-256 of its SPKI")]
    TokenKeyIdMismatch { epoch: u64 },
}

/// Why a gossiped descriptor was not taken into the directory.
///
/// [`Rejection::reason`] gives a stable snake_case name for metrics; the names in
/// [`Rejection::ALL_REASONS`] never change meaning.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("descriptor of {len} bytes exceeds the size limit")]
    Oversized { len: usize },
    #[error("malformed descriptor: {0}")]
    Malformed(CodecError),
    #[error("unsupported protocol version {0}")]
    UnsupportedProtocol(u16),
    #[error("signature does not verify")]
    BadSignature,
    #[error("descriptor expired at epoch {expiry}, now {current}")]
    StaleEpoch { expiry: u64, current: u64 },
    #[error("descriptor issued for epoch {issue}, too far past {current}")]
    FutureEpoch { issue: u64, current: u64 },
    #[error("expiry epoch before issue epoch or lifetime too long")]
    BadLifetime,
    #[error("a routing node lacks a Sphinx key for an epoch it covers")]
    MissingSphinxKeys,
    #[error("a Sphinx key is bound to an epoch the descriptor does not cover")]
    SphinxKeyOutsideWindow,
    #[error("an issuer descriptor carries Sphinx keys")]
    UnexpectedSphinxKeys,
    #[error("a routing node lists no address")]
    MissingAddresses,
    #[error("a routing node declares zero capacity")]
    ZeroCapacity,
    #[error("an issuer token key is bound to an epoch the descriptor does not cover")]
    TokenKeyOutsideWindow,
    #[error("descriptor already held")]
    Duplicate,
    #[error("sequence {received} older than held {held}")]
    OlderSequence { held: u64, received: u64 },
    #[error("equivocation: two descriptors with one sequence number")]
    Equivocation(Box<EquivocationProof>),
    #[error("identity excluded for equivocation")]
    Excluded,
    #[error("directory is full")]
    DirectoryFull,
}

impl Rejection {
    /// Every reason name, for pre-registering per-reason counters.
    pub const ALL_REASONS: &'static [&'static str] = &[
        "oversized",
        "malformed",
        "unsupported_protocol",
        "bad_signature",
        "stale_epoch",
        "future_epoch",
        "bad_lifetime",
        "missing_sphinx_keys",
        "sphinx_key_outside_window",
        "unexpected_sphinx_keys",
        "missing_addresses",
        "zero_capacity",
        "token_key_outside_window",
        "duplicate",
        "older_sequence",
        "equivocation",
        "excluded",
        "directory_full",
    ];

    /// Whether the descriptor is invalid whatever the receiver's clock or state, so the
    /// peer that sent it did not check it (honest peers forward only what they verified):
    /// gossipsub then lowers its score, and a sync answer stops there. Rejections that
    /// depend on time or on what we hold (stale, future, duplicate, older, equivocation,
    /// excluded, full) can come from honest peers and blame nobody.
    pub fn blames_sender(&self) -> bool {
        !matches!(
            self,
            Self::StaleEpoch { .. }
                | Self::FutureEpoch { .. }
                | Self::Duplicate
                | Self::OlderSequence { .. }
                | Self::Equivocation(_)
                | Self::Excluded
                | Self::DirectoryFull
        )
    }

    /// Stable name of the reason, one of [`Rejection::ALL_REASONS`].
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Oversized { .. } => "oversized",
            Self::Malformed(_) => "malformed",
            Self::UnsupportedProtocol(_) => "unsupported_protocol",
            Self::BadSignature => "bad_signature",
            Self::StaleEpoch { .. } => "stale_epoch",
            Self::FutureEpoch { .. } => "future_epoch",
            Self::BadLifetime => "bad_lifetime",
            Self::MissingSphinxKeys => "missing_sphinx_keys",
            Self::SphinxKeyOutsideWindow => "sphinx_key_outside_window",
            Self::UnexpectedSphinxKeys => "unexpected_sphinx_keys",
            Self::MissingAddresses => "missing_addresses",
            Self::ZeroCapacity => "zero_capacity",
            Self::TokenKeyOutsideWindow => "token_key_outside_window",
            Self::Duplicate => "duplicate",
            Self::OlderSequence { .. } => "older_sequence",
            Self::Equivocation(_) => "equivocation",
            Self::Excluded => "excluded",
            Self::DirectoryFull => "directory_full",
        }
    }
}

/// Why an equivocation proof is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EquivocationError {
    #[error("proof encoding: {0}")]
    Encoding(&'static str),
    #[error("descriptor in proof: {0}")]
    Descriptor(CodecError),
    #[error("a descriptor in the proof has a bad signature")]
    BadSignature,
    #[error("the descriptors have different identities")]
    DifferentIdentities,
    #[error("the descriptors have different sequence numbers")]
    DifferentSequences,
    #[error("the descriptors sign the same content")]
    SameContent,
}

/// Why a gossiped equivocation proof was not kept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofRefusal {
    /// Not a proof: whoever sent it could have checked (the sender is to blame).
    #[error("invalid proof: {0}")]
    Invalid(EquivocationError),
    /// About an identity the directory holds no valid descriptor of (a throwaway key).
    #[error("proof about an identity without a descriptor in the window")]
    UnknownIdentity,
    /// Its descriptors expired: the node would have dropped out anyway.
    #[error("proof whose descriptors have expired")]
    Expired,
    /// The directory keeps `MAX_EQUIVOCATION_PROOFS` at most.
    #[error("equivocation proof store is full")]
    Full,
}

impl ProofRefusal {
    /// Stable name of the reason, for the rejection counters.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "bad_proof",
            Self::UnknownIdentity => "proof_unknown_identity",
            Self::Expired => "proof_expired",
            Self::Full => "proofs_full",
        }
    }
}

/// Why persisted key-ring bytes could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyRingError {
    #[error("key ring bytes end early")]
    Truncated,
    #[error("{0} trailing bytes after the key ring")]
    TrailingBytes(usize),
    #[error("unknown key ring format version {0}")]
    UnknownVersion(u8),
    #[error("key ring epochs must be strictly increasing")]
    NotAscending,
    #[error(transparent)]
    Params(#[from] ParamError),
}
