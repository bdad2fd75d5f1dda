//! Canonical encoding of every `/wesh/mailbox/1` frame.
//!
//! A frame is `version (1) ‖ type (1) ‖ body`. Every body has a fixed layout (only Confirm
//! has a count), integers are big-endian, and decoding is strict: wrong version, unknown
//! type, short or long bodies, trailing bytes, out-of-range counts and non-canonical seq
//! lists are errors, so each message has exactly one encoding.

use super::{MailboxId, PullSecret};
use crate::params::{
    MAILBOX_NONCE_BYTES, MAILBOX_WIRE_VERSION, MAX_CONFIRM_SEQS, MAX_MAILBOX_REQUEST_BYTES,
    MAX_MAILBOX_RESPONSE_BYTES, PULL_HEADER_BYTES, PULL_SLOT_BYTES, PULL_SLOTS,
};
use thiserror::Error;

/// Bytes of an Ed25519 signature.
pub const SIGNATURE_BYTES: usize = 64;
/// Bytes of an Ed25519 public key.
pub const PUBLIC_KEY_BYTES: usize = 32;
/// Bytes of the sealed part of a pull response of `slots` slots: header then every slot.
pub const fn pull_sealed_bytes(slots: usize) -> usize {
    PULL_HEADER_BYTES + slots * PULL_SLOT_BYTES
}

/// Bytes of a whole pull response frame of `slots` slots: version ‖ type ‖ nonce ‖
/// sealed part.
pub const fn pull_response_bytes(slots: usize) -> usize {
    2 + MAILBOX_NONCE_BYTES + pull_sealed_bytes(slots)
}

/// Bytes of the largest sealed part (`PULL_SLOTS` slots).
pub const PULL_SEALED_BYTES: usize = pull_sealed_bytes(PULL_SLOTS);

const T_REGISTER: u8 = 0x01;
const T_CHALLENGE_REQUEST: u8 = 0x02;
const T_PULL: u8 = 0x03;
const T_CONFIRM: u8 = 0x04;
const T_REGISTERED: u8 = 0x81;
const T_CHALLENGE: u8 = 0x82;
const T_PULL_RESPONSE: u8 = 0x83;
const T_CONFIRMED: u8 = 0x84;
const T_REFUSED: u8 = 0x85;

/// Why a frame does not decode.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WireError {
    #[error("empty frame")]
    Empty,
    #[error("frame of {len} bytes exceeds the limit of {max}")]
    TooLong { len: usize, max: usize },
    #[error("unsupported mailbox wire version {0}")]
    UnsupportedVersion(u8),
    #[error("unknown message type {0:#04x}")]
    UnknownType(u8),
    #[error("a response type was sent as a request, or the reverse: {0:#04x}")]
    WrongDirection(u8),
    #[error("frame truncated")]
    Truncated,
    #[error("{0} trailing bytes")]
    Trailing(usize),
    #[error("pull max {0} outside 1..=PULL_SLOTS")]
    BadMax(u16),
    #[error("confirm count {0} above MAX_CONFIRM_SEQS")]
    BadSeqCount(usize),
    #[error("a confirm's unused seq slots are not zero")]
    NonZeroPadding,
    #[error("confirm seqs are not strictly increasing")]
    SeqsNotIncreasing,
    #[error("unknown refusal reason {0}")]
    UnknownReason(u8),
    #[error("a sealed pull answer of {0} bytes is not a whole number (1..=PULL_SLOTS) of slots")]
    BadSealedLength(usize),
}

/// Why a provider refused a request (one byte on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
#[repr(u8)]
pub enum RefusalReason {
    #[error("malformed request")]
    Malformed = 1,
    #[error("unknown mailbox")]
    UnknownMailbox = 2,
    #[error("bad signature")]
    BadSignature = 3,
    #[error("unknown or already used challenge")]
    UnknownChallenge = 4,
    #[error("challenge expired")]
    ChallengeExpired = 5,
    #[error("mailbox registered with another key")]
    MailboxTaken = 6,
    #[error("invalid or weak mailbox key")]
    BadKey = 7,
    #[error("registration not allowed by this provider")]
    NotAllowed = 8,
    #[error("storage unavailable")]
    Unavailable = 9,
    #[error("unsupported protocol version")]
    UnsupportedVersion = 10,
}

impl RefusalReason {
    fn from_code(code: u8) -> Result<Self, WireError> {
        use RefusalReason::*;
        Ok(match code {
            1 => Malformed,
            2 => UnknownMailbox,
            3 => BadSignature,
            4 => UnknownChallenge,
            5 => ChallengeExpired,
            6 => MailboxTaken,
            7 => BadKey,
            8 => NotAllowed,
            9 => Unavailable,
            10 => UnsupportedVersion,
            other => return Err(WireError::UnknownReason(other)),
        })
    }
}

/// Client → provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `proof` signs [`super::auth::register_message`] with the mailbox key.
    Register {
        mailbox: MailboxId,
        public_key: [u8; PUBLIC_KEY_BYTES],
        pull_secret: PullSecret,
        proof: [u8; SIGNATURE_BYTES],
    },
    ChallengeRequest {
        mailbox: MailboxId,
    },
    /// `signature` signs [`super::auth::pull_message`]; `max` is 1..=PULL_SLOTS.
    Pull {
        mailbox: MailboxId,
        nonce: [u8; MAILBOX_NONCE_BYTES],
        max: u16,
        signature: [u8; SIGNATURE_BYTES],
    },
    /// `seqs` strictly increasing, 0..=MAX_CONFIRM_SEQS of them (empty: the fixed-schedule
    /// confirm of a tick that kept nothing); `signature` signs
    /// [`super::auth::confirm_message`].
    Confirm {
        mailbox: MailboxId,
        seqs: Vec<u64>,
        signature: [u8; SIGNATURE_BYTES],
    },
}

/// Provider → client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    Registered,
    Challenge {
        nonce: [u8; MAILBOX_NONCE_BYTES],
        /// Unix seconds after which the provider refuses the nonce.
        expires_at: u64,
    },
    /// `sealed` is the sealed header, then 1..=`PULL_SLOTS` sealed slots (as many as the
    /// pull's `max`): [`pull_sealed_bytes`] of that count.
    PullResponse {
        nonce: [u8; MAILBOX_NONCE_BYTES],
        sealed: Vec<u8>,
    },
    Confirmed {
        deleted: u32,
    },
    Refused(RefusalReason),
}

impl Request {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(2 + 200);
        out.push(MAILBOX_WIRE_VERSION);
        match self {
            Request::Register {
                mailbox,
                public_key,
                pull_secret,
                proof,
            } => {
                out.push(T_REGISTER);
                out.extend_from_slice(mailbox.as_bytes());
                out.extend_from_slice(public_key);
                out.extend_from_slice(pull_secret.as_bytes());
                out.extend_from_slice(proof);
            }
            Request::ChallengeRequest { mailbox } => {
                out.push(T_CHALLENGE_REQUEST);
                out.extend_from_slice(mailbox.as_bytes());
            }
            Request::Pull {
                mailbox,
                nonce,
                max,
                signature,
            } => {
                out.push(T_PULL);
                out.extend_from_slice(mailbox.as_bytes());
                out.extend_from_slice(nonce);
                out.extend_from_slice(&max.to_be_bytes());
                out.extend_from_slice(signature);
            }
            Request::Confirm {
                mailbox,
                seqs,
                signature,
            } => {
                out.push(T_CONFIRM);
                out.extend_from_slice(mailbox.as_bytes());
                // callers build Confirm through the client, which caps the count; saturate
                // rather than wrap so a bad count is refused by the decoder, never misread
                let count = u16::try_from(seqs.len()).unwrap_or(u16::MAX);
                out.extend_from_slice(&count.to_be_bytes());
                for seq in seqs {
                    out.extend_from_slice(&seq.to_be_bytes());
                }
                // every Confirm has the same size: unused slots are zero
                for _ in seqs.len()..MAX_CONFIRM_SEQS {
                    out.extend_from_slice(&0u64.to_be_bytes());
                }
                out.extend_from_slice(signature);
            }
        }
        out
    }

    pub fn decode(frame: &[u8]) -> Result<Self, WireError> {
        let (kind, mut r) = open_frame(frame, MAX_MAILBOX_REQUEST_BYTES)?;
        let request = match kind {
            T_REGISTER => Request::Register {
                mailbox: MailboxId(r.array()?),
                public_key: r.array()?,
                pull_secret: PullSecret(r.array()?),
                proof: r.array()?,
            },
            T_CHALLENGE_REQUEST => Request::ChallengeRequest {
                mailbox: MailboxId(r.array()?),
            },
            T_PULL => {
                let mailbox = MailboxId(r.array()?);
                let nonce = r.array()?;
                let max = r.u16()?;
                if max == 0 || usize::from(max) > PULL_SLOTS {
                    return Err(WireError::BadMax(max));
                }
                Request::Pull {
                    mailbox,
                    nonce,
                    max,
                    signature: r.array()?,
                }
            }
            T_CONFIRM => {
                let mailbox = MailboxId(r.array()?);
                let count = usize::from(r.u16()?);
                if count > MAX_CONFIRM_SEQS {
                    return Err(WireError::BadSeqCount(count));
                }
                let mut seqs = Vec::with_capacity(count);
                for slot in 0..MAX_CONFIRM_SEQS {
                    let seq = r.u64()?;
                    if slot >= count {
                        // one encoding per message: unused slots are zero
                        if seq != 0 {
                            return Err(WireError::NonZeroPadding);
                        }
                        continue;
                    }
                    if seqs.last().is_some_and(|&last| last >= seq) {
                        return Err(WireError::SeqsNotIncreasing);
                    }
                    seqs.push(seq);
                }
                Request::Confirm {
                    mailbox,
                    seqs,
                    signature: r.array()?,
                }
            }
            T_REGISTERED | T_CHALLENGE | T_PULL_RESPONSE | T_CONFIRMED | T_REFUSED => {
                return Err(WireError::WrongDirection(kind));
            }
            other => return Err(WireError::UnknownType(other)),
        };
        r.finish()?;
        Ok(request)
    }
}

impl Response {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(match self {
            Response::PullResponse { .. } => MAX_MAILBOX_RESPONSE_BYTES,
            _ => 2 + 40,
        });
        out.push(MAILBOX_WIRE_VERSION);
        match self {
            Response::Registered => out.push(T_REGISTERED),
            Response::Challenge { nonce, expires_at } => {
                out.push(T_CHALLENGE);
                out.extend_from_slice(nonce);
                out.extend_from_slice(&expires_at.to_be_bytes());
            }
            Response::PullResponse { nonce, sealed } => {
                out.push(T_PULL_RESPONSE);
                out.extend_from_slice(nonce);
                out.extend_from_slice(sealed);
            }
            Response::Confirmed { deleted } => {
                out.push(T_CONFIRMED);
                out.extend_from_slice(&deleted.to_be_bytes());
            }
            Response::Refused(reason) => {
                out.push(T_REFUSED);
                out.push(*reason as u8);
            }
        }
        out
    }

    pub fn decode(frame: &[u8]) -> Result<Self, WireError> {
        let (kind, mut r) = open_frame(frame, MAX_MAILBOX_RESPONSE_BYTES)?;
        let response = match kind {
            T_REGISTERED => Response::Registered,
            T_CHALLENGE => Response::Challenge {
                nonce: r.array()?,
                expires_at: r.u64()?,
            },
            T_PULL_RESPONSE => {
                let nonce = r.array()?;
                let sealed = r.rest();
                let slots = sealed.len().saturating_sub(PULL_HEADER_BYTES) / PULL_SLOT_BYTES;
                if slots == 0 || slots > PULL_SLOTS || sealed.len() != pull_sealed_bytes(slots) {
                    return Err(WireError::BadSealedLength(sealed.len()));
                }
                Response::PullResponse {
                    nonce,
                    sealed: sealed.to_vec(),
                }
            }
            T_CONFIRMED => Response::Confirmed { deleted: r.u32()? },
            T_REFUSED => Response::Refused(RefusalReason::from_code(r.u8()?)?),
            T_REGISTER | T_CHALLENGE_REQUEST | T_PULL | T_CONFIRM => {
                return Err(WireError::WrongDirection(kind));
            }
            other => return Err(WireError::UnknownType(other)),
        };
        r.finish()?;
        Ok(response)
    }
}

/// Checks the size limit and version, and returns the type byte and a reader on the body.
fn open_frame(frame: &[u8], max: usize) -> Result<(u8, Reader<'_>), WireError> {
    if frame.len() > max {
        return Err(WireError::TooLong {
            len: frame.len(),
            max,
        });
    }
    let (&version, rest) = frame.split_first().ok_or(WireError::Empty)?;
    if version != MAILBOX_WIRE_VERSION {
        return Err(WireError::UnsupportedVersion(version));
    }
    let (&kind, body) = rest.split_first().ok_or(WireError::Truncated)?;
    Ok((kind, Reader(body)))
}

/// Bounds-checked cursor over untrusted bytes.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.0.len() < n {
            return Err(WireError::Truncated);
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        self.take(N)?.try_into().map_err(|_| WireError::Truncated)
    }

    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(u8::from_be_bytes(self.array()?))
    }

    fn u16(&mut self) -> Result<u16, WireError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// Everything left.
    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.0)
    }

    fn finish(self) -> Result<(), WireError> {
        match self.0.len() {
            0 => Ok(()),
            n => Err(WireError::Trailing(n)),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::params::{MAX_MAILBOX_REQUEST_BYTES, PULL_RESPONSE_BYTES};

    fn confirm(seqs: Vec<u64>) -> Request {
        Request::Confirm {
            mailbox: MailboxId([3; 32]),
            seqs,
            signature: [4; 64],
        }
    }

    #[test]
    fn requests_round_trip() {
        let requests = [
            Request::Register {
                mailbox: MailboxId([1; 32]),
                public_key: [2; 32],
                pull_secret: PullSecret([5; 32]),
                proof: [6; 64],
            },
            Request::ChallengeRequest {
                mailbox: MailboxId([7; 32]),
            },
            Request::Pull {
                mailbox: MailboxId([8; 32]),
                nonce: [9; 32],
                max: PULL_SLOTS as u16,
                signature: [10; 64],
            },
            confirm(vec![1, 5, u64::MAX]),
        ];
        for request in requests {
            assert_eq!(Request::decode(&request.encode()), Ok(request));
        }
    }

    #[test]
    fn responses_round_trip_and_pull_response_has_its_fixed_size() {
        let pull = Response::PullResponse {
            nonce: [1; 32],
            sealed: vec![2; PULL_SEALED_BYTES],
        };
        assert_eq!(pull.encode().len(), PULL_RESPONSE_BYTES);
        for response in [
            Response::Registered,
            Response::Challenge {
                nonce: [3; 32],
                expires_at: 1_700_000_000,
            },
            pull,
            Response::Confirmed { deleted: 12 },
            Response::Refused(RefusalReason::ChallengeExpired),
        ] {
            assert_eq!(Response::decode(&response.encode()), Ok(response));
        }
    }

    /// The figures quoted in spec/mixnet.md ("Mailboxes").
    #[test]
    fn frame_sizes_match_the_spec() {
        assert_eq!(PULL_RESPONSE_BYTES, 32_982);
        assert_eq!(MAX_MAILBOX_REQUEST_BYTES, 228);
        assert_eq!(crate::params::PULL_SLOT_BYTES, 2_058);
    }

    #[test]
    fn every_confirm_has_the_size_of_the_request_limit() {
        for n in [0, 1, MAX_CONFIRM_SEQS as u64] {
            let c = confirm((1..=n).collect()).encode();
            assert_eq!(c.len(), MAX_MAILBOX_REQUEST_BYTES, "{n} seqs");
            assert_eq!(Request::decode(&c), Ok(confirm((1..=n).collect())));
        }
        // a second encoding of the same confirm (non-zero padding) is refused
        let mut padded = confirm(vec![5]).encode();
        padded[2 + 32 + 2 + 8 + 7] = 1;
        assert_eq!(Request::decode(&padded), Err(WireError::NonZeroPadding));
    }

    #[test]
    fn strict_decoding() {
        assert_eq!(Request::decode(&[]), Err(WireError::Empty));
        assert_eq!(Request::decode(&[1]), Err(WireError::Truncated));
        assert_eq!(
            Request::decode(&[2, T_CHALLENGE_REQUEST]),
            Err(WireError::UnsupportedVersion(2))
        );
        assert_eq!(
            Request::decode(&[1, 0x7f]),
            Err(WireError::UnknownType(0x7f))
        );
        assert_eq!(
            Request::decode(&[1, T_REGISTERED]),
            Err(WireError::WrongDirection(T_REGISTERED))
        );
        let mut trailing = Request::ChallengeRequest {
            mailbox: MailboxId([0; 32]),
        }
        .encode();
        trailing.push(0);
        assert_eq!(Request::decode(&trailing), Err(WireError::Trailing(1)));
        assert_eq!(
            Request::decode(&confirm(vec![2, 2]).encode()),
            Err(WireError::SeqsNotIncreasing)
        );
        let mut too_many = confirm(vec![]).encode();
        too_many[2 + 32..2 + 32 + 2].copy_from_slice(&(MAX_CONFIRM_SEQS as u16 + 1).to_be_bytes());
        assert_eq!(
            Request::decode(&too_many),
            Err(WireError::BadSeqCount(MAX_CONFIRM_SEQS + 1))
        );
        let mut pull = Request::Pull {
            mailbox: MailboxId([8; 32]),
            nonce: [9; 32],
            max: 1,
            signature: [10; 64],
        }
        .encode();
        pull[2 + 64..2 + 66].copy_from_slice(&(PULL_SLOTS as u16 + 1).to_be_bytes());
        assert_eq!(
            Request::decode(&pull),
            Err(WireError::BadMax(PULL_SLOTS as u16 + 1))
        );
        assert_eq!(
            Response::decode(&[1, T_REFUSED, 0]),
            Err(WireError::UnknownReason(0))
        );
        let too_long = vec![1; MAX_MAILBOX_REQUEST_BYTES + 1];
        assert!(matches!(
            Request::decode(&too_long),
            Err(WireError::TooLong { .. })
        ));
    }
}
