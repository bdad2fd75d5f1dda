//! Helpers shared by the in-memory post offices of the messenger tests.

use wesh_client::messenger::MailboxAddress;
use wesh_client::messenger::rendezvous_wire::RendezvousFrame;

/// Where a message ends up and what it carries: a drop for a rendezvous mailbox is
/// unwrapped as the rendezvous provider's desk forwards it (its SURB path is tested in
/// `rendezvous_desk` and the node's tests); anything else stays as sent.
pub fn through_desk(to: MailboxAddress, bytes: Vec<u8>) -> (MailboxAddress, Vec<u8>) {
    match RendezvousFrame::decode(&bytes) {
        Ok(RendezvousFrame::Drop { mailbox, envelope }) => (
            MailboxAddress {
                provider: to.provider,
                mailbox,
            },
            envelope,
        ),
        _ => (to, bytes),
    }
}
