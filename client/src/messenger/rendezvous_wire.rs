//! What travels to and from a rendezvous provider's desk (spec/wesh-over-mixnet.md §4):
//!
//! ```text
//! frame   = version ‖ 0x35 ‖ kind ‖ body
//! update  = 1 ‖ mailbox(32) ‖ auth(32) ‖ seq(u64) ‖ revoke(u8) ‖ u16 n ‖ n × id(u64)
//!             ‖ u16 m ‖ m × surb(460) ‖ surbs_expire_at(u64)
//!                                                     responder → its rendezvous provider
//! drop    = 2 ‖ mailbox(32) ‖ u32 len ‖ envelope      requester → rendezvous provider
//! forward = 3 ‖ mailbox(32) ‖ id(u64) ‖ tag(32) ‖ u32 len ‖ envelope
//!                                                     rendezvous provider → responder,
//!                                                     on one of the responder's SURBs
//! tag     = HMAC-SHA256(SHA-256(auth), "wesh/v1/rdv-forward" ‖ mailbox ‖ id ‖ envelope)
//! ```
//!
//! Updates and drops go to the provider's service mailbox
//! ([`rendezvous_service_mailbox`]); the `mailbox` field names the rendezvous mailbox (derived
//! from the public rendezvous point). `auth` is a secret only the responder derives; it
//! travels inside the Sphinx payload, so only the rendezvous provider sees it. The forward's
//! tag lets the responder ack only forwards that came from its desk: anyone who knows its
//! mailbox could otherwise send it forged forwards whose acks delete other requesters'
//! drops.

use zeroize::Zeroizing;

use crate::codec::{Reader, Writer};
use crate::crypto::sha256;
use crate::error::{DecodeError, Result};
use crate::params::WIRE_VERSION;

use super::params::{MAX_RDV_ACKS, MAX_RDV_ENVELOPE, MAX_SURBS_PER_UPDATE, RDV_SURB_BYTES};

pub const TAG_RENDEZVOUS: u8 = 0x35;
const KIND_UPDATE: u8 = 1;
const KIND_DROP: u8 = 2;
const KIND_FORWARD: u8 = 3;

const SERVICE_DOMAIN: &[u8] = b"wesh/v1/rdv-service";

/// The seed of the rendezvous service's identity: public on purpose (every provider runs
/// the service, and payloads are sealed to it only so that they look like all others;
/// the provider that stores them is the service).
pub fn rendezvous_service_seed() -> [u8; 32] {
    sha256(&[SERVICE_DOMAIN])
}

/// The mailbox at every provider where rendezvous updates and drops are sent; only the
/// provider itself reads it. An Ed25519 public key (of [`rendezvous_service_seed`]), as
/// every mailbox id is, since senders seal payloads to it.
pub fn rendezvous_service_mailbox() -> [u8; 32] {
    crate::crypto::public_of_seed(&rendezvous_service_seed())
}

/// A responder's registration at its rendezvous provider: reply blocks to forward drops
/// with, and the ids of forwards it received.
#[derive(Clone, PartialEq, Eq)]
pub struct RendezvousUpdate {
    pub mailbox: [u8; 32],
    pub auth: Zeroizing<[u8; 32]>,
    /// Strictly increasing per mailbox (the responder uses its clock in milliseconds), so a
    /// duplicated update is not applied twice.
    pub seq: u64,
    /// Ends the registration (seed renewed, point rotated): the desk forgets the mailbox.
    pub revoke: bool,
    pub acks: Vec<u64>,
    /// Serialized reply SURBs, each [`RDV_SURB_BYTES`] long.
    pub surbs: Vec<Vec<u8>>,
    /// Unix milliseconds at which a mix on the SURBs' routes retires the Sphinx key they
    /// were built for: a forward on one of them after that is lost, so the desk stops
    /// using them before ([`u64::MAX`]: keys that never rotate).
    pub surbs_expire_at: u64,
}

impl core::fmt::Debug for RendezvousUpdate {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RendezvousUpdate")
            .field("seq", &self.seq)
            .field("revoke", &self.revoke)
            .field("acks", &self.acks.len())
            .field("surbs", &self.surbs.len())
            .field("surbs_expire_at", &self.surbs_expire_at)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RendezvousFrame {
    Update(RendezvousUpdate),
    Drop {
        mailbox: [u8; 32],
        envelope: Vec<u8>,
    },
    Forward {
        mailbox: [u8; 32],
        id: u64,
        tag: [u8; 32],
        envelope: Vec<u8>,
    },
}

const FORWARD_DOMAIN: &[u8] = b"wesh/v1/rdv-forward";

/// The tag of a forward, keyed with the hash of the registration's secret (what the desk
/// keeps, and the responder can compute).
pub fn forward_tag(auth_hash: &[u8; 32], mailbox: &[u8; 32], id: u64, envelope: &[u8]) -> [u8; 32] {
    use hmac::{Hmac, KeyInit, Mac};
    // HMAC accepts keys of any length: this cannot fail for a 32-byte key.
    match <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(auth_hash) {
        Ok(mut mac) => {
            mac.update(FORWARD_DOMAIN);
            mac.update(mailbox);
            mac.update(&id.to_be_bytes());
            mac.update(envelope);
            mac.finalize().into_bytes().into()
        }
        Err(_) => [0u8; 32],
    }
}

fn count(n: usize) -> u16 {
    // callers bound every list below u16::MAX (MAX_RDV_ACKS, MAX_SURBS_PER_UPDATE)
    u16::try_from(n).unwrap_or(u16::MAX)
}

impl RendezvousFrame {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u8(WIRE_VERSION).u8(TAG_RENDEZVOUS);
        match self {
            RendezvousFrame::Update(u) => {
                let acks = &u.acks[..u.acks.len().min(MAX_RDV_ACKS)];
                let surbs = &u.surbs[..u.surbs.len().min(MAX_SURBS_PER_UPDATE)];
                w.u8(KIND_UPDATE)
                    .bytes(&u.mailbox)
                    .bytes(u.auth.as_slice())
                    .u64(u.seq)
                    .u8(u8::from(u.revoke))
                    .u16(count(acks.len()));
                for a in acks {
                    w.u64(*a);
                }
                w.u16(count(surbs.len()));
                for s in surbs {
                    w.bytes(s);
                }
                w.u64(u.surbs_expire_at);
            }
            RendezvousFrame::Drop { mailbox, envelope } => {
                w.u8(KIND_DROP).bytes(mailbox).var_bytes(envelope);
            }
            RendezvousFrame::Forward {
                mailbox,
                id,
                tag,
                envelope,
            } => {
                w.u8(KIND_FORWARD)
                    .bytes(mailbox)
                    .u64(*id)
                    .bytes(tag)
                    .var_bytes(envelope);
            }
        }
        w.finish()
    }

    /// Whether `bytes` start like a rendezvous frame (cheap; no full decode).
    pub fn is_frame(bytes: &[u8]) -> bool {
        bytes.get(..2) == Some(&[WIRE_VERSION, TAG_RENDEZVOUS][..])
    }

    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        r.version()?;
        let tag = r.u8()?;
        if tag != TAG_RENDEZVOUS {
            return Err(DecodeError::UnknownTag {
                what: "rendezvous frame",
                tag,
            }
            .into());
        }
        let frame = match r.u8()? {
            KIND_UPDATE => {
                let mailbox = r.array()?;
                let auth = Zeroizing::new(r.array()?);
                let seq = r.u64()?;
                let revoke = match r.u8()? {
                    0 => false,
                    1 => true,
                    _ => return Err(DecodeError::NonCanonical("revoke flag").into()),
                };
                let n = usize::from(r.u16()?);
                if n > MAX_RDV_ACKS {
                    return Err(DecodeError::LengthOutOfRange {
                        what: "rendezvous acks",
                        len: n,
                    }
                    .into());
                }
                let acks = (0..n)
                    .map(|_| r.u64())
                    .collect::<core::result::Result<_, _>>()?;
                let m = usize::from(r.u16()?);
                if m > MAX_SURBS_PER_UPDATE {
                    return Err(DecodeError::LengthOutOfRange {
                        what: "rendezvous reply blocks",
                        len: m,
                    }
                    .into());
                }
                let surbs = (0..m)
                    .map(|_| r.take(RDV_SURB_BYTES).map(<[u8]>::to_vec))
                    .collect::<core::result::Result<_, _>>()?;
                let surbs_expire_at = r.u64()?;
                RendezvousFrame::Update(RendezvousUpdate {
                    mailbox,
                    auth,
                    seq,
                    revoke,
                    acks,
                    surbs,
                    surbs_expire_at,
                })
            }
            KIND_DROP => RendezvousFrame::Drop {
                mailbox: r.array()?,
                envelope: r
                    .var_bytes("rendezvous envelope", 1, MAX_RDV_ENVELOPE)?
                    .to_vec(),
            },
            KIND_FORWARD => RendezvousFrame::Forward {
                mailbox: r.array()?,
                id: r.u64()?,
                tag: r.array()?,
                envelope: r
                    .var_bytes("rendezvous envelope", 1, MAX_RDV_ENVELOPE)?
                    .to_vec(),
            },
            tag => {
                return Err(DecodeError::UnknownTag {
                    what: "rendezvous frame kind",
                    tag,
                }
                .into());
            }
        };
        r.finish()?;
        Ok(frame)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn frames_round_trip_and_bad_ones_are_refused() {
        let update = RendezvousFrame::Update(RendezvousUpdate {
            mailbox: [1; 32],
            auth: Zeroizing::new([2; 32]),
            seq: 77,
            revoke: false,
            acks: vec![3, 4],
            surbs: vec![vec![5; RDV_SURB_BYTES]; 2],
            surbs_expire_at: 1_700_000_000_000,
        });
        let drop = RendezvousFrame::Drop {
            mailbox: [6; 32],
            envelope: vec![7; 100],
        };
        let forward = RendezvousFrame::Forward {
            mailbox: [6; 32],
            id: 9,
            tag: forward_tag(&[1; 32], &[6; 32], 9, &[8; 100]),
            envelope: vec![8; 100],
        };
        assert_ne!(
            forward_tag(&[1; 32], &[6; 32], 9, &[8; 100]),
            forward_tag(&[1; 32], &[6; 32], 10, &[8; 100])
        );
        for f in [update, drop, forward] {
            let bytes = f.encode();
            assert!(RendezvousFrame::is_frame(&bytes));
            assert_eq!(RendezvousFrame::decode(&bytes).unwrap(), f);
            for cut in 0..bytes.len() {
                assert!(RendezvousFrame::decode(&bytes[..cut]).is_err());
            }
            let mut longer = bytes.clone();
            longer.push(0);
            assert!(RendezvousFrame::decode(&longer).is_err());
        }
        let too_big = RendezvousFrame::Drop {
            mailbox: [0; 32],
            envelope: vec![0; MAX_RDV_ENVELOPE + 1],
        };
        assert!(RendezvousFrame::decode(&too_big.encode()).is_err());
        assert!(!RendezvousFrame::is_frame(&[WIRE_VERSION, 0x30]));
    }
}
