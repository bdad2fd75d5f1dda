//! What a message from the client's mailbox is, for the app: a Wesh envelope, a rendezvous
//! forward (an envelope the rendezvous desk relayed on a reply SURB), another rendezvous
//! frame, or something that is not Wesh at all.

use crate::messenger::envelope::Outer;
use crate::messenger::rendezvous_wire::RendezvousFrame;

#[derive(Debug, PartialEq, Eq)]
pub enum Incoming<'a> {
    /// A Wesh envelope for the device; leaves the inbox whatever the device makes of it.
    Envelope(&'a [u8]),
    /// An envelope forwarded by a rendezvous desk: acked if its tag shows it came from
    /// our desk, then given to the device; leaves the inbox.
    Forward {
        mailbox: [u8; 32],
        id: u64,
        tag: [u8; 32],
        envelope: Vec<u8>,
    },
    /// A rendezvous frame with nothing for a device (or a damaged one): dropped, and it
    /// leaves the inbox.
    OtherRendezvousFrame,
    /// Not Wesh: the device is shown it (and counts the refusal), but it stays in the
    /// inbox for `wesh inbox --data-dir`.
    Foreign(&'a [u8]),
}

impl<'a> Incoming<'a> {
    pub fn classify(bytes: &'a [u8]) -> Self {
        if RendezvousFrame::is_frame(bytes) {
            return match RendezvousFrame::decode(bytes) {
                Ok(RendezvousFrame::Forward {
                    mailbox,
                    id,
                    tag,
                    envelope,
                }) => Incoming::Forward {
                    mailbox,
                    id,
                    tag,
                    envelope,
                },
                Ok(_) | Err(_) => Incoming::OtherRendezvousFrame,
            };
        }
        if Outer::decode(bytes).is_ok() {
            Incoming::Envelope(bytes)
        } else {
            Incoming::Foreign(bytes)
        }
    }

    /// Whether the message leaves the client's inbox once journaled.
    pub fn consumed(&self) -> bool {
        !matches!(self, Incoming::Foreign(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messenger::rendezvous_wire::RendezvousUpdate;

    #[test]
    fn messages_are_told_apart() {
        assert_eq!(
            Incoming::classify(b"plain text"),
            Incoming::Foreign(b"plain text")
        );
        assert!(!Incoming::classify(b"plain text").consumed());
        let update = RendezvousFrame::Update(RendezvousUpdate {
            mailbox: [1; 32],
            auth: zeroize::Zeroizing::new([2; 32]),
            seq: 1,
            revoke: false,
            acks: Vec::new(),
            surbs: Vec::new(),
            surbs_expire_at: u64::MAX,
        })
        .encode();
        assert_eq!(Incoming::classify(&update), Incoming::OtherRendezvousFrame);
        assert!(Incoming::classify(&update).consumed());
        let forward = RendezvousFrame::Forward {
            mailbox: [3; 32],
            id: 9,
            tag: [4; 32],
            envelope: b"sealed".to_vec(),
        }
        .encode();
        assert!(matches!(
            Incoming::classify(&forward),
            Incoming::Forward { id: 9, .. }
        ));
    }
}
