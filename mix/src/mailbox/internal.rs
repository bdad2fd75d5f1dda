//! Provider-internal mailboxes: where a provider's own services keep state (a rendezvous
//! desk's held drops and bindings). Their ids are public constants, so without a rule
//! anyone could fill them through the mixnet (a final hop addressed to the id) or
//! register them first through the mailbox protocol. The rule: a final hop never stores
//! into one, and the mailbox protocol never registers one; only the provider's own code,
//! which writes the store directly, uses them.

use sha2::{Digest, Sha256};

/// Every internal mailbox; a new provider service adds its own here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InternalMailbox {
    /// The drops a rendezvous desk holds until their responder's reply blocks come.
    RendezvousHeld,
    /// Which secret each rendezvous mailbox is bound to (authenticated records).
    RendezvousBindings,
}

impl InternalMailbox {
    pub const ALL: [InternalMailbox; 2] = [
        InternalMailbox::RendezvousHeld,
        InternalMailbox::RendezvousBindings,
    ];

    /// Its domain; the id is SHA-256 of it (unchanged since the desk came, so a provider's
    /// held drops survive the upgrade).
    fn domain(self) -> &'static [u8] {
        match self {
            InternalMailbox::RendezvousHeld => b"wesh/v1/rdv-held",
            InternalMailbox::RendezvousBindings => b"wesh/v1/rdv-bindings",
        }
    }

    pub fn id(self) -> [u8; 32] {
        Sha256::digest(self.domain()).into()
    }

    /// Whether `mailbox` is one of the provider's internal mailboxes.
    pub fn is_internal(mailbox: &[u8; 32]) -> bool {
        InternalMailbox::ALL.iter().any(|m| m.id() == *mailbox)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct_and_recognised() {
        let a = InternalMailbox::RendezvousHeld.id();
        let b = InternalMailbox::RendezvousBindings.id();
        assert_ne!(a, b);
        assert!(InternalMailbox::is_internal(&a) && InternalMailbox::is_internal(&b));
        assert!(!InternalMailbox::is_internal(&[7; 32]));
    }
}
