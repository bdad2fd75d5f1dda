//! Contact requests without revealing where the responder lives: the responder's public
//! rendezvous point (the Wesh spec's `rendezvousPoint`, rotating) selects, by rendezvous
//! hashing, one provider of the directory and a rendezvous mailbox id derived from the
//! point. The responder registers the mailbox at that provider's desk with reply SURBs
//! (`rendezvous_desk`); a requester holding the contact card computes the same provider and
//! mailbox and drops the Requester Hello there, sealed to the responder's account key, and
//! the desk forwards it on a SURB. Neither the requester nor the rendezvous provider learns
//! the responder's provider (see `spec/wesh-over-mixnet.md` §4 for what they do learn).

use ed25519_dalek::SigningKey;
use zeroize::Zeroizing;

use crate::crypto::{hkdf_sha256, sha256};
use crate::error::{Result, WeshError};

use super::envelope::MailboxAddress;

const PROVIDER_DOMAIN: &[u8] = b"wesh/v1/rdv-provider";
const MAILBOX_DOMAIN: &[u8] = b"wesh/v1/rdv-mailbox";
const AUTH_INFO: &[u8] = b"wesh/v1/rdv-auth";

/// The rendezvous address of `point` among `providers` (highest random weight), or an error
/// when the directory lists no provider.
pub fn rendezvous_address(point: &[u8; 32], providers: &[[u8; 32]]) -> Result<MailboxAddress> {
    let provider = providers
        .iter()
        .max_by_key(|p| sha256(&[PROVIDER_DOMAIN, point, p.as_slice()]))
        .ok_or(WeshError::InvalidParameter("no provider to rendezvous at"))?;
    Ok(MailboxAddress {
        provider: *provider,
        mailbox: sha256(&[MAILBOX_DOMAIN, point]),
    })
}

/// What the responder needs to register its rendezvous mailbox: the secret only it can
/// derive (from its account key), so a requester who knows the point cannot refresh, ack
/// or revoke the registration.
#[derive(Clone)]
pub struct RendezvousRegistration {
    pub point: [u8; 32],
    pub address: MailboxAddress,
    /// Proves the registration to the desk (it keeps the hash of the first one it saw).
    pub auth: Zeroizing<[u8; 32]>,
}

impl core::fmt::Debug for RendezvousRegistration {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RendezvousRegistration")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

pub fn registration(
    account: &SigningKey,
    point: [u8; 32],
    providers: &[[u8; 32]],
) -> Result<RendezvousRegistration> {
    let address = rendezvous_address(&point, providers)?;
    let secret = Zeroizing::new(account.to_bytes());
    let mut auth = Zeroizing::new([0u8; 32]);
    hkdf_sha256(secret.as_slice(), &point, AUTH_INFO, auth.as_mut())?;
    Ok(RendezvousRegistration {
        point,
        address,
        auth,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_party_computes_one_address_and_points_spread() {
        let providers: Vec<[u8; 32]> = (0..5u8).map(|i| [i; 32]).collect();
        let mut reversed = providers.clone();
        reversed.reverse();
        let mut hits = [0usize; 5];
        for i in 0..200u32 {
            let point = sha256(&[&i.to_be_bytes()]);
            let a = rendezvous_address(&point, &providers).unwrap();
            assert_eq!(a, rendezvous_address(&point, &reversed).unwrap());
            hits[usize::from(a.provider[0])] += 1;
        }
        assert!(hits.iter().all(|h| *h > 10), "{hits:?}");
        assert!(rendezvous_address(&[0; 32], &[]).is_err());
        let mut rng = <rand_chacha::ChaCha20Rng as rand::SeedableRng>::seed_from_u64(3);
        let account = crate::crypto::generate_signing_key(&mut rng);
        let r1 = registration(&account, [1; 32], &providers).unwrap();
        let r2 = registration(&account, [2; 32], &providers).unwrap();
        assert_ne!(*r1.auth, *r2.auth);
        assert_ne!(r1.address.mailbox, r2.address.mailbox);
    }
}
