//! Mail over a direct link: a message the device would send through the mixnet to a
//! mailbox goes over the link instead (or as well) when the peer said it takes mail for
//! that mailbox, on a group both are in. This is how a contact request made over a local
//! record travels (the responder's rendezvous mailbox, the requester's reply mailbox),
//! and how mail for a nearby member's device reaches it with the providers down.
//!
//! Messages (inside a [`super::DirectSession`], told from sync messages by their kind):
//! - addresses: `4 ‖ channel (16) ‖ 0 ‖ count (u16) ‖ count × (provider (32) ‖ mailbox (32))`:
//!   the mailboxes the sender takes mail for from members of this channel's group;
//! - mail: `5 ‖ channel ‖ 0 ‖ 1 (u16) ‖ to (64) ‖ length (u32) ‖ bytes`.
//!
//! A peer can only hand over mail for a mailbox this device declared on that channel;
//! anything else is refused. What the bytes are (sealed envelopes, rendezvous frames) is
//! the device's business, checked as mail from the mixnet is.

use super::beacon::Tag;
use super::frame::{MessageHead, Reader};
use super::session::{DirectError, SharedGroup, by_channel};
use crate::params::{DIRECT_MAX_ADDRESSES, DIRECT_MAX_FRAME};

const ADDRESSES: u8 = 4;
const MAIL: u8 = 5;

/// A mailbox: its provider's id and the mailbox's own 32 bytes.
pub type Address = [u8; 64];

/// Mail the peer handed over, for one of this device's declared mailboxes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// The group (index the session was started with) whose channel carried it.
    pub group: usize,
    pub to: Address,
    pub bytes: Vec<u8>,
}

/// One link's mail: what each side declared.
#[derive(Debug, Default)]
pub struct DirectMail {
    shared: Vec<SharedGroup>,
    own: Vec<(usize, Address)>,
    peer: Vec<(usize, Address)>,
}

impl DirectMail {
    pub fn new(shared: Vec<SharedGroup>) -> Self {
        DirectMail {
            shared,
            ..DirectMail::default()
        }
    }

    /// Whether a message on the link is mail (otherwise it is sync).
    pub fn is_mail(message: &[u8]) -> bool {
        matches!(message.first(), Some(&ADDRESSES | &MAIL))
    }

    /// This device takes mail for `addresses` from the members of `group` (at most
    /// [`DIRECT_MAX_ADDRESSES`] in all): the message telling the peer, if it shares it.
    pub fn declare(&mut self, group: usize, addresses: &[Address]) -> Option<Vec<u8>> {
        let g = *self.shared.iter().find(|g| g.index == group)?;
        let room = DIRECT_MAX_ADDRESSES.saturating_sub(self.own.len());
        let addresses = addresses.get(..addresses.len().min(room))?;
        if addresses.is_empty() {
            return None;
        }
        self.own.extend(addresses.iter().map(|a| (group, *a)));
        let mut m = header(ADDRESSES, &g.channel, addresses.len());
        for a in addresses {
            m.extend_from_slice(a);
        }
        Some(m)
    }

    /// Whether the peer takes mail for `to`.
    pub fn reaches(&self, to: &Address) -> bool {
        self.peer.iter().any(|(_, a)| a == to)
    }

    /// `bytes` for mailbox `to`, as a link message, if the peer takes mail for it.
    pub fn mail(&self, to: &Address, bytes: &[u8]) -> Option<Vec<u8>> {
        let (group, _) = self.peer.iter().find(|(_, a)| a == to)?;
        let g = self.shared.iter().find(|g| g.index == *group)?;
        if bytes.len() > DIRECT_MAX_FRAME - 256 {
            return None;
        }
        let mut m = header(MAIL, &g.channel, 1);
        m.extend_from_slice(to);
        m.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        m.extend_from_slice(bytes);
        Some(m)
    }

    /// A mail message from the peer: mail for this device, or nothing (a declaration).
    pub fn receive(&mut self, message: &[u8]) -> Result<Option<Mail>, DirectError> {
        let mut r = Reader(message);
        let head = r.head()?;
        if head.sub != 0 {
            return Err(DirectError::Malformed("mail message"));
        }
        let (kind, count) = (head.kind, head.count);
        let g = by_channel(&self.shared, &head.channel)?;
        let out = match kind {
            ADDRESSES => {
                if self.peer.len() + count > DIRECT_MAX_ADDRESSES {
                    return Err(DirectError::Malformed("addresses (too many)"));
                }
                for _ in 0..count {
                    let a: Address = r.array("address")?;
                    self.peer.push((g.index, a));
                }
                None
            }
            MAIL if count == 1 => {
                let to: Address = r.array("mail address")?;
                if !self
                    .own
                    .iter()
                    .any(|(group, a)| *group == g.index && *a == to)
                {
                    return Err(DirectError::Malformed(
                        "mail for a mailbox not declared here",
                    ));
                }
                let len = r.u32("mail length")? as usize;
                let bytes = r.take(len, "mail")?.to_vec();
                Some(Mail {
                    group: g.index,
                    to,
                    bytes,
                })
            }
            _ => return Err(DirectError::Malformed("mail message kind")),
        };
        if !r.0.is_empty() {
            return Err(DirectError::Malformed("mail message (trailing bytes)"));
        }
        Ok(out)
    }
}

fn header(kind: u8, channel: &Tag, count: usize) -> Vec<u8> {
    MessageHead {
        kind,
        channel: *channel,
        sub: 0,
        count,
    }
    .encode()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::params::DIRECT_TAG_LEN;

    fn shared() -> Vec<SharedGroup> {
        vec![
            SharedGroup {
                index: 0,
                channel: [1; DIRECT_TAG_LEN],
            },
            SharedGroup {
                index: 3,
                channel: [2; DIRECT_TAG_LEN],
            },
        ]
    }

    #[test]
    fn mail_goes_to_declared_mailboxes_only() {
        let (mut a, mut b) = (DirectMail::new(shared()), DirectMail::new(shared()));
        let home = [7u8; 64];
        let declared = b.declare(3, &[home]).unwrap();
        assert!(DirectMail::is_mail(&declared));
        assert_eq!(a.receive(&declared).unwrap(), None);
        assert!(a.reaches(&home));
        assert!(!a.reaches(&[8u8; 64]));
        assert_eq!(a.mail(&[8u8; 64], b"x"), None, "not declared: no mail");
        let m = a.mail(&home, b"sealed envelope").unwrap();
        assert_eq!(
            b.receive(&m).unwrap(),
            Some(Mail {
                group: 3,
                to: home,
                bytes: b"sealed envelope".to_vec()
            })
        );
    }

    #[test]
    fn mail_for_an_undeclared_mailbox_or_channel_is_refused() {
        let (mut a, mut b) = (DirectMail::new(shared()), DirectMail::new(shared()));
        let declared = b.declare(0, &[[7u8; 64]]).unwrap();
        a.receive(&declared).unwrap();
        // a forges mail for another of b's mailboxes
        let mut forged = a.mail(&[7u8; 64], b"x").unwrap();
        forged[20] ^= 1; // inside `to`
        assert!(matches!(b.receive(&forged), Err(DirectError::Malformed(_))));
        // on the other channel than declared
        let mut other = a.mail(&[7u8; 64], b"x").unwrap();
        other[1..17].copy_from_slice(&[2; DIRECT_TAG_LEN]);
        assert!(matches!(b.receive(&other), Err(DirectError::Malformed(_))));
        assert_eq!(b.declare(9, &[[1; 64]]), None, "not a shared group");
        assert!(matches!(b.receive(&[5, 1]), Err(DirectError::Malformed(_))));
    }

    #[test]
    fn a_peer_cannot_declare_without_bound() {
        let mut a = DirectMail::new(shared());
        let mut b = DirectMail::new(shared());
        let many: Vec<Address> = (0..DIRECT_MAX_ADDRESSES + 5)
            .map(|i| [i as u8; 64])
            .collect();
        let m = b.declare(0, &many).unwrap();
        a.receive(&m).unwrap();
        assert_eq!(b.declare(0, &[[0xee; 64]]), None, "own limit reached");
        let mut too_many = header(ADDRESSES, &[1; DIRECT_TAG_LEN], 1);
        too_many.extend_from_slice(&[0xee; 64]);
        assert!(matches!(
            a.receive(&too_many),
            Err(DirectError::Malformed(_))
        ));
    }
}
