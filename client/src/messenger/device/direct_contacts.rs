//! Contact requests over a direct link (the seed's *local record*, without its list of
//! rendezvous points): a device that holds someone's contact card and has a request
//! pending meets that someone nearby and runs the handshake over the link.
//!
//! The card's owner offers a direct key derived from its rendezvous seed (only card
//! holders have it); the requester offers the same key for each request it has pending.
//! On a match, the owner says it takes mail for its rendezvous mailboxes and the
//! requester for its home mailbox ([`crate::direct::DirectMail`]); the handshake's
//! messages, addressed as they would be through the mixnet, go over the link when the peer
//! takes mail for their mailbox ([`WeshDevice::direct_route`]), and arrive through
//! [`WeshDevice::on_message`] with the same checks.

use super::{MailboxAddress, Outgoing, WeshDevice};
use crate::direct::{Address, DirectKey};
use crate::error::Result;
use crate::messenger::rendezvous_mailbox::rendezvous_address;
use crate::messenger::rendezvous_wire::{RendezvousFrame, rendezvous_service_mailbox};

/// What a contact direct key stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectContact {
    /// This account's own card: others' requests to it.
    OwnCard,
    /// A request this device made to the account with this id.
    Request([u8; 32]),
}

/// A mailbox as a direct link names it.
pub fn address(m: &MailboxAddress) -> Address {
    let mut a = [0u8; 64];
    a[..32].copy_from_slice(&m.provider);
    a[32..].copy_from_slice(&m.mailbox);
    a
}

impl WeshDevice {
    /// The contact direct keys to offer on a link: this account's card, and one per
    /// account this device has a request pending with.
    pub fn direct_contact_keys(&self) -> Result<Vec<(DirectContact, DirectKey)>> {
        let own = DirectKey::derive(&self.identity.rendezvous_seed().0, &self.account_id())?;
        let mut keys = vec![(DirectContact::OwnCard, own)];
        for f in self.requests_out.values() {
            let who = DirectContact::Request(f.responder.to_bytes());
            if !keys.iter().any(|(c, _)| *c == who) {
                keys.push((who, f.direct.clone()));
            }
        }
        Ok(keys)
    }

    /// The mailboxes to declare on a matched contact channel: for this account's card,
    /// its rendezvous mailboxes of this period and the last (a requester may have
    /// addressed either); for a request, this device's home.
    pub fn direct_contact_addresses(
        &self,
        contact: DirectContact,
        now: u64,
        providers: &[[u8; 32]],
    ) -> Result<Vec<Address>> {
        match contact {
            DirectContact::Request(_) => Ok(vec![address(&self.home)]),
            DirectContact::OwnCard => {
                let mut out = Vec::new();
                let secs = self.period.secs();
                for t in [now, now.saturating_sub(secs)] {
                    let point = self.identity.public_rendezvous_point(t, self.period);
                    let a = address(&rendezvous_address(&point, providers)?);
                    if !out.contains(&a) {
                        out.push(a);
                    }
                }
                Ok(out)
            }
        }
    }

    /// Where an outgoing message would go over a direct link, and what it carries there:
    /// a message for a rendezvous desk is its envelope, for the rendezvous mailbox the
    /// desk would forward it to; anything else goes as it is to its mailbox.
    pub fn direct_route(out: &Outgoing) -> (Address, Vec<u8>) {
        if out.to.mailbox == rendezvous_service_mailbox()
            && let Ok(RendezvousFrame::Drop { mailbox, envelope }) =
                RendezvousFrame::decode(&out.bytes)
        {
            let to = MailboxAddress {
                provider: out.to.provider,
                mailbox,
            };
            return (address(&to), envelope);
        }
        (address(&out.to), out.bytes.clone())
    }
}
