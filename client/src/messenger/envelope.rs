//! What travels in one mixnet message between Wesh devices (see `spec/wesh-over-mixnet.md`):
//!
//! ```text
//! outer  = version ‖ 0x30 ‖ sealed_box(inner)              to a device or account key
//!        | version ‖ 0x31 ‖ group_id ‖ entries               to a replication provider
//! inner  = version ‖ 0x32 ‖ group_id ‖ entries               group entries
//!        | version ‖ 0x33 ‖ flow(16) ‖ reply? ‖ message      contact request handshake
//! entries = u16 count ‖ count × (u32 len ‖ entry)
//! reply?  = 0 | 1 ‖ provider(32) ‖ mailbox(32) ‖ device(32)
//! ```
//!
//! Replication envelopes are not sealed: the replication provider must read the entries to
//! verify and keep them (they are sealed with the group secret, which it does not hold).

use crate::codec::{Reader, Writer};
use crate::error::{DecodeError, Result};
use crate::params::{MAX_ENTRY_CIPHERTEXT_LEN, WIRE_VERSION};

use super::params::{MAX_ENCODED_ENTRY, MAX_ENTRIES_PER_ENVELOPE, MAX_HANDSHAKE_MESSAGE};

pub const TAG_SEALED: u8 = 0x30;
pub const TAG_REPLICA: u8 = 0x31;
pub const TAG_GROUP_ENTRIES: u8 = 0x32;
pub const TAG_HANDSHAKE: u8 = 0x33;

/// Length of a handshake flow id, in bytes.
pub const FLOW_ID_LEN: usize = 16;

/// A provider and a mailbox there: where a device (or a replication provider) receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MailboxAddress {
    pub provider: [u8; 32],
    pub mailbox: [u8; 32],
}

/// Where a handshake's answers go: the requester's mailbox, sealed to its device key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyTo {
    pub address: MailboxAddress,
    pub device: [u8; 32],
}

/// The outer layer, as the recipient's provider could see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outer {
    Sealed(Vec<u8>),
    Replica {
        group_id: [u8; 32],
        entries: Vec<Vec<u8>>,
    },
}

/// What a sealed box holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inner {
    GroupEntries {
        group_id: [u8; 32],
        entries: Vec<Vec<u8>>,
    },
    Handshake {
        flow: [u8; FLOW_ID_LEN],
        reply: Option<ReplyTo>,
        message: Vec<u8>,
    },
}

fn put_entries(w: &mut Writer, entries: &[Vec<u8>]) {
    // callers chunk to MAX_ENTRIES_PER_ENVELOPE; the cast is checked there
    w.u16(u16::try_from(entries.len()).unwrap_or(u16::MAX));
    for e in entries {
        w.var_bytes(e);
    }
}

fn get_entries(r: &mut Reader<'_>) -> Result<Vec<Vec<u8>>> {
    let count = usize::from(r.u16()?);
    if count == 0 || count > MAX_ENTRIES_PER_ENVELOPE {
        return Err(DecodeError::LengthOutOfRange {
            what: "entries per envelope",
            len: count,
        }
        .into());
    }
    (0..count)
        .map(|_| Ok(r.var_bytes("entry", 1, MAX_ENCODED_ENTRY)?.to_vec()))
        .collect()
}

impl Outer {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u8(WIRE_VERSION);
        match self {
            Outer::Sealed(b) => {
                w.u8(TAG_SEALED).bytes(b);
            }
            Outer::Replica { group_id, entries } => {
                w.u8(TAG_REPLICA).bytes(group_id);
                put_entries(&mut w, entries);
            }
        }
        w.finish()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        r.version()?;
        match r.u8()? {
            TAG_SEALED => {
                let rest = bytes.get(2..).unwrap_or_default();
                if rest.len() > MAX_ENTRY_CIPHERTEXT_LEN * 4 {
                    return Err(DecodeError::LengthOutOfRange {
                        what: "sealed envelope",
                        len: rest.len(),
                    }
                    .into());
                }
                Ok(Outer::Sealed(rest.to_vec()))
            }
            TAG_REPLICA => {
                let group_id = r.array()?;
                let entries = get_entries(&mut r)?;
                r.finish()?;
                Ok(Outer::Replica { group_id, entries })
            }
            tag => Err(DecodeError::UnknownTag {
                what: "envelope",
                tag,
            }
            .into()),
        }
    }
}

impl Inner {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u8(WIRE_VERSION);
        match self {
            Inner::GroupEntries { group_id, entries } => {
                w.u8(TAG_GROUP_ENTRIES).bytes(group_id);
                put_entries(&mut w, entries);
            }
            Inner::Handshake {
                flow,
                reply,
                message,
            } => {
                w.u8(TAG_HANDSHAKE).bytes(flow);
                match reply {
                    None => {
                        w.u8(0);
                    }
                    Some(r) => {
                        w.u8(1)
                            .bytes(&r.address.provider)
                            .bytes(&r.address.mailbox)
                            .bytes(&r.device);
                    }
                }
                w.var_bytes(message);
            }
        }
        w.finish()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        r.version()?;
        let inner = match r.u8()? {
            TAG_GROUP_ENTRIES => Inner::GroupEntries {
                group_id: r.array()?,
                entries: get_entries(&mut r)?,
            },
            TAG_HANDSHAKE => {
                let flow = r.array()?;
                let reply = match r.u8()? {
                    0 => None,
                    1 => Some(ReplyTo {
                        address: MailboxAddress {
                            provider: r.array()?,
                            mailbox: r.array()?,
                        },
                        device: r.array()?,
                    }),
                    _ => return Err(DecodeError::NonCanonical("reply flag").into()),
                };
                let message = r
                    .var_bytes("handshake message", 2, MAX_HANDSHAKE_MESSAGE)?
                    .to_vec();
                Inner::Handshake {
                    flow,
                    reply,
                    message,
                }
            }
            tag => {
                return Err(DecodeError::UnknownTag {
                    what: "sealed envelope",
                    tag,
                }
                .into());
            }
        };
        r.finish()?;
        Ok(inner)
    }
}

/// Splits entries into envelope-sized batches (count and bytes bounded).
pub fn batches(entries: Vec<Vec<u8>>, max_bytes: usize) -> Vec<Vec<Vec<u8>>> {
    let mut out: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut size = 0usize;
    for e in entries {
        let start_new = match out.last() {
            None => true,
            Some(b) => b.len() >= MAX_ENTRIES_PER_ENVELOPE || size + e.len() > max_bytes,
        };
        if start_new {
            out.push(Vec::new());
            size = 0;
        }
        size += e.len() + 4;
        if let Some(b) = out.last_mut() {
            b.push(e);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn round_trips_and_refuses_bad_frames() {
        let inner = Inner::Handshake {
            flow: [3; 16],
            reply: Some(ReplyTo {
                address: MailboxAddress {
                    provider: [1; 32],
                    mailbox: [2; 32],
                },
                device: [4; 32],
            }),
            message: vec![1, 0x10, 9, 9],
        };
        assert_eq!(Inner::decode(&inner.encode()).unwrap(), inner);
        let entries = Inner::GroupEntries {
            group_id: [7; 32],
            entries: vec![vec![1, 2, 3], vec![4]],
        };
        assert_eq!(Inner::decode(&entries.encode()).unwrap(), entries);
        let outer = Outer::Replica {
            group_id: [7; 32],
            entries: vec![vec![5; 10]],
        };
        assert_eq!(Outer::decode(&outer.encode()).unwrap(), outer);
        // every truncation of a structured frame is refused, never a panic
        for frame in [inner.encode(), entries.encode()] {
            for cut in 0..frame.len() {
                assert!(Inner::decode(&frame[..cut]).is_err());
            }
        }
        let mut empty = Writer::new();
        empty
            .u8(WIRE_VERSION)
            .u8(TAG_GROUP_ENTRIES)
            .bytes(&[0; 32])
            .u16(0);
        assert!(Inner::decode(&empty.finish()).is_err());
        assert!(Outer::decode(&[WIRE_VERSION, 0x99]).is_err());
    }

    #[test]
    fn batches_bound_count_and_bytes() {
        let entries: Vec<Vec<u8>> = (0..10).map(|i| vec![i; 100]).collect();
        let b = batches(entries, 250);
        assert!(b.iter().all(|x| x.len() <= 2));
        assert_eq!(b.iter().map(Vec::len).sum::<usize>(), 10);
    }
}
