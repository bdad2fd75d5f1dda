//! A multi-member group invitation for the mixnet: the group's invitation (secrets) plus
//! where the inviting device receives, so the joiner can introduce itself. It carries the
//! group secret: share it only over a secure channel (a contact group, a QR code).

use crate::codec::{Reader, Writer};
use crate::error::{DecodeError, Result};
use crate::invitation::INVITATION_LEN;
use crate::params::WIRE_VERSION;

use super::envelope::MailboxAddress;

pub const MIXNET_INVITATION_TAG: u8 = 0x34;

#[derive(Clone, PartialEq, Eq)]
pub struct MixnetInvitation {
    pub group: Vec<u8>,
    pub inviter_device: [u8; 32],
    pub inviter: MailboxAddress,
}

impl core::fmt::Debug for MixnetInvitation {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("MixnetInvitation(<secret>)")
    }
}

impl MixnetInvitation {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u8(WIRE_VERSION)
            .u8(MIXNET_INVITATION_TAG)
            .var_bytes(&self.group)
            .bytes(&self.inviter_device)
            .bytes(&self.inviter.provider)
            .bytes(&self.inviter.mailbox);
        w.finish()
    }

    /// Decodes and checks the framing; the group part is checked by `decode_invitation`
    /// when joining.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        r.version()?;
        let tag = r.u8()?;
        if tag != MIXNET_INVITATION_TAG {
            return Err(DecodeError::UnknownTag {
                what: "group invitation",
                tag,
            }
            .into());
        }
        let group = r
            .var_bytes("group invitation", INVITATION_LEN, INVITATION_LEN)?
            .to_vec();
        let inv = Self {
            group,
            inviter_device: r.array()?,
            inviter: MailboxAddress {
                provider: r.array()?,
                mailbox: r.array()?,
            },
        };
        r.finish()?;
        Ok(inv)
    }
}
