//! Errors of the mix core.

use thiserror::Error;

/// Why a packet could not be built.
#[derive(Debug, Error)]
pub enum BuildError {
    #[error("message of {len} bytes exceeds the {max}-byte packet plaintext")]
    MessageTooLong { len: usize, max: usize },
    #[error("topology has no node in {0}")]
    EmptyLayer(&'static str),
    #[error("route of {0} hops is not between 1 and 5")]
    RouteLength(usize),
    #[error("sphinx: {0}")]
    Sphinx(String),
    #[error("seal: {0}")]
    Seal(String),
    #[error("message needs {need} reply blocks, {have} available")]
    NotEnoughSurbs { need: usize, have: usize },
}

/// Why a node dropped a packet it received. Each reason is counted by the node.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    #[error("frame is {0} bytes, not a packet")]
    WrongSize(usize),
    #[error("header does not decode")]
    MalformedHeader,
    #[error("header MAC does not verify under any live key")]
    BadMac,
    #[error("replay tag already seen")]
    Replay,
    #[error("payload does not unwrap")]
    BadPayload,
}

impl DropReason {
    /// Stable name for counters and logs.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::WrongSize(_) => "wrong_size",
            DropReason::MalformedHeader => "malformed_header",
            DropReason::BadMac => "bad_mac",
            DropReason::Replay => "replay",
            DropReason::BadPayload => "bad_payload",
        }
    }
}

/// Why a final-hop payload could not be read.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum PayloadError {
    #[error("empty payload")]
    Empty,
    #[error("unknown payload kind {0}")]
    UnknownKind(u8),
    #[error("payload truncated")]
    Truncated,
    #[error("malformed fragment: {0}")]
    Fragment(#[from] crate::fragment::FragmentError),
    #[error("SURB-ack does not parse")]
    BadSurbAck,
    #[error("reply block does not parse")]
    BadSurb,
    #[error("stored payload of {0} bytes, not a full mix plaintext")]
    WrongLength(usize),
    /// Sealed to another key, altered, or junk.
    #[error("payload is not sealed to any of our keys")]
    NotForUs,
    /// Bytes after a fixed-size kind (drop, loop, ack): one encoding per payload.
    #[error("trailing bytes after the payload")]
    TrailingBytes,
}

/// A rate outside `[0, MAX_STREAM_RATE]` or not finite.
#[derive(Debug, Error, PartialEq)]
#[error("rate {0} packets/s is not in [0, {max}]", max = crate::params::MAX_STREAM_RATE)]
pub struct RateError(pub f64);
