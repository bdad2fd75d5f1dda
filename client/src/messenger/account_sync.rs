//! Messages in the account group that keep an account's devices in step: each contact and
//! each multi-member group a device gets is posted there, with the group's metadata log as
//! it stood, so a linked device (now or later) joins the same groups and introduces itself.

use crate::codec::{Reader, Writer};
use crate::error::{DecodeError, Result};
use crate::invitation::INVITATION_LEN;
use crate::params::WIRE_VERSION;

use super::params::{MAX_ENCODED_ENTRY, MAX_ENTRIES_PER_ENVELOPE};

const TAG_CONTACT: u8 = 0x40;
const TAG_GROUP: u8 = 0x41;

#[derive(Clone, PartialEq, Eq)]
pub enum AccountSync {
    Contact {
        account: [u8; 32],
        metadata: Vec<Vec<u8>>,
    },
    Group {
        invitation: Vec<u8>,
        metadata: Vec<Vec<u8>>,
    },
}

fn put_list(w: &mut Writer, list: &[Vec<u8>]) {
    let n = list.len().min(MAX_ENTRIES_PER_ENVELOPE);
    w.u16(u16::try_from(n).unwrap_or(u16::MAX));
    for e in list.iter().take(n) {
        w.var_bytes(e);
    }
}

fn get_list(r: &mut Reader<'_>) -> Result<Vec<Vec<u8>>> {
    let n = usize::from(r.u16()?);
    if n > MAX_ENTRIES_PER_ENVELOPE {
        return Err(DecodeError::LengthOutOfRange {
            what: "account sync entries",
            len: n,
        }
        .into());
    }
    (0..n)
        .map(|_| Ok(r.var_bytes("entry", 1, MAX_ENCODED_ENTRY)?.to_vec()))
        .collect()
}

impl AccountSync {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u8(WIRE_VERSION);
        match self {
            AccountSync::Contact { account, metadata } => {
                w.u8(TAG_CONTACT).bytes(account);
                put_list(&mut w, metadata);
            }
            AccountSync::Group {
                invitation,
                metadata,
            } => {
                w.u8(TAG_GROUP).var_bytes(invitation);
                put_list(&mut w, metadata);
            }
        }
        w.finish()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        r.version()?;
        let sync = match r.u8()? {
            TAG_CONTACT => AccountSync::Contact {
                account: r.array()?,
                metadata: get_list(&mut r)?,
            },
            TAG_GROUP => AccountSync::Group {
                invitation: r
                    .var_bytes("invitation", INVITATION_LEN, INVITATION_LEN)?
                    .to_vec(),
                metadata: get_list(&mut r)?,
            },
            tag => {
                return Err(DecodeError::UnknownTag {
                    what: "account sync",
                    tag,
                }
                .into());
            }
        };
        r.finish()?;
        Ok(sync)
    }
}
