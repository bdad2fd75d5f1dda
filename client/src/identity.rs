//! Account identity: account ID, alias and device key pairs (Ed25519 for signatures, their
//! X25519 form for key agreement) and the renewable public rendezvous seed.

use ed25519_dalek::{SigningKey, VerifyingKey};

use crate::codec::{Reader, Writer};
use crate::crypto::verifying_key;
use crate::error::{DecodeError, Result};
use crate::params::WIRE_VERSION;
use crate::rendezvous::{RendezvousSeed, RotationPeriod, current_rendezvous_point};

/// Wire tag of a contact card (after the version byte).
pub const CONTACT_CARD_TAG: u8 = 0x03;

/// All long-term secrets of one account on one device. `SigningKey` wipes itself on drop.
pub struct Identity {
    account: SigningKey,
    alias: SigningKey,
    device: SigningKey,
    rendezvous_seed: RendezvousSeed,
}

impl core::fmt::Debug for Identity {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Identity")
            .field("account_id", &hex::encode(self.account_id()))
            .field(
                "device_id",
                &hex::encode(self.device.verifying_key().as_bytes()),
            )
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// Account creation: the four generation steps of the spec.
    pub fn generate<R: rand::CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self {
            account: crate::crypto::generate_signing_key(rng),
            alias: crate::crypto::generate_signing_key(rng),
            device: crate::crypto::generate_signing_key(rng),
            rendezvous_seed: RendezvousSeed::random(rng),
        }
    }

    /// A second device of the same account: shares account and alias keys, own device key.
    pub fn link_device<R: rand::CryptoRng + ?Sized>(&self, rng: &mut R) -> Self {
        Self::linked(
            self.account.clone(),
            self.alias.clone(),
            self.rendezvous_seed.clone(),
            rng,
        )
    }

    /// A device of the account whose shared secrets are given (what a link carries).
    pub fn linked<R: rand::CryptoRng + ?Sized>(
        account: SigningKey,
        alias: SigningKey,
        rendezvous_seed: RendezvousSeed,
        rng: &mut R,
    ) -> Self {
        Self {
            account,
            alias,
            device: crate::crypto::generate_signing_key(rng),
            rendezvous_seed,
        }
    }

    /// The rendezvous seed (secret: with the account ID it finds the rendezvous points).
    pub fn rendezvous_seed(&self) -> &RendezvousSeed {
        &self.rendezvous_seed
    }

    pub fn account_key(&self) -> &SigningKey {
        &self.account
    }
    pub fn alias_key(&self) -> &SigningKey {
        &self.alias
    }
    pub fn device_key(&self) -> &SigningKey {
        &self.device
    }
    pub fn account_id(&self) -> [u8; 32] {
        self.account.verifying_key().to_bytes()
    }
    pub fn alias_public(&self) -> VerifyingKey {
        self.alias.verifying_key()
    }

    /// Replaces the seed: holders of the old contact card can no longer find us.
    pub fn renew_rendezvous_seed<R: rand::CryptoRng + ?Sized>(&mut self, rng: &mut R) {
        self.rendezvous_seed = RendezvousSeed::random(rng);
    }

    pub fn contact_card(&self) -> ContactCard {
        ContactCard {
            account_id: self.account.verifying_key(),
            rendezvous_seed: self.rendezvous_seed.clone(),
        }
    }

    /// Where this account listens for contact requests during the period containing `now`.
    pub fn public_rendezvous_point(&self, now: u64, period: RotationPeriod) -> [u8; 32] {
        current_rendezvous_point(&self.account_id(), &self.rendezvous_seed, now, period)
    }
}

/// What a responder shares (QR code, link) so requesters can find it: account ID + seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactCard {
    pub account_id: VerifyingKey,
    pub rendezvous_seed: RendezvousSeed,
}

impl ContactCard {
    pub const ENCODED_LEN: usize = 2 + 32 + 32;

    pub fn rendezvous_point(&self, now: u64, period: RotationPeriod) -> [u8; 32] {
        current_rendezvous_point(
            self.account_id.as_bytes(),
            &self.rendezvous_seed,
            now,
            period,
        )
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(Self::ENCODED_LEN);
        w.u8(WIRE_VERSION)
            .u8(CONTACT_CARD_TAG)
            .bytes(self.account_id.as_bytes())
            .bytes(&self.rendezvous_seed.0);
        w.finish()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        r.version()?;
        let tag = r.u8()?;
        if tag != CONTACT_CARD_TAG {
            return Err(DecodeError::UnknownTag {
                what: "contact card",
                tag,
            }
            .into());
        }
        let account_id = verifying_key(&r.array()?, "account ID")?;
        let rendezvous_seed = RendezvousSeed(r.array()?);
        r.finish()?;
        Ok(Self {
            account_id,
            rendezvous_seed,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn card_round_trip_renewal_and_debug_hides_secrets() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let mut id = Identity::generate(&mut rng);
        let card = id.contact_card();
        let bytes = card.encode();
        assert_eq!(ContactCard::decode(&bytes).unwrap(), card);
        for cut in 0..bytes.len() {
            assert!(ContactCard::decode(&bytes[..cut]).is_err());
        }
        let period = RotationPeriod::default();
        assert_eq!(
            card.rendezvous_point(1000, period),
            id.public_rendezvous_point(1000, period)
        );
        id.renew_rendezvous_seed(&mut rng);
        assert_ne!(
            card.rendezvous_point(1000, period),
            id.public_rendezvous_point(1000, period)
        );
        let dbg = format!("{id:?} {:?}", card.rendezvous_seed);
        assert!(!dbg.contains(&hex::encode(card.rendezvous_seed.0)));
        assert!(!dbg.contains(&hex::encode(id.account_key().to_bytes())));
    }
}
