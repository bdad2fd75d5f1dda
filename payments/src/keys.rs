//! Issuer keys (one RSA-2048 key per epoch), their publication, and the verifier's
//! directory of known keys.

use crate::Epoch;
use crate::error::KeyError;
use crate::params::{AUTHENTICATOR_BYTES, RSA_MODULUS_BITS};
use crate::token::TokenKeyId;
use blind_rsa_signatures::{KeyPairSha384PSSDeterministic, SecretKeySha384PSSDeterministic};
use rand_core::CryptoRng;
use std::collections::BTreeMap;
use std::fmt;
use zeroize::Zeroizing;

/// RSABSSA-SHA384-PSS-Deterministic public key: the variant RFC 9578 type 0x0002 uses
/// (the 32-byte token nonce already randomises the message).
pub type PublicKey = blind_rsa_signatures::PublicKeySha384PSSDeterministic;
type SecretKey = SecretKeySha384PSSDeterministic;

/// The issuer's signing key for one epoch. Debug never prints key material; the RSA
/// private key is zeroized on drop by the `rsa` crate.
#[derive(Clone)]
pub struct IssuerKey {
    epoch: Epoch,
    key_id: TokenKeyId,
    spki: Vec<u8>,
    public: PublicKey,
    secret: SecretKey,
}

impl fmt::Debug for IssuerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuerKey")
            .field("epoch", &self.epoch)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl IssuerKey {
    /// Generates a fresh RSA-2048 key for `epoch`.
    pub fn generate<R: CryptoRng + ?Sized>(epoch: Epoch, rng: &mut R) -> Result<Self, KeyError> {
        let kp = KeyPairSha384PSSDeterministic::generate(rng, RSA_MODULUS_BITS)
            .map_err(|_| KeyError::Generation)?;
        Self::from_parts(epoch, kp.sk, kp.pk)
    }

    /// Restores a key from its PKCS#8 DER encoding (as persisted by the node).
    pub fn from_pkcs8_der(epoch: Epoch, der: &[u8]) -> Result<Self, KeyError> {
        let secret = SecretKey::from_der(der).map_err(|_| KeyError::Encoding)?;
        let public = secret.public_key().map_err(|_| KeyError::Encoding)?;
        Self::from_parts(epoch, secret, public)
    }

    /// PKCS#8 DER of the secret key, wiped when dropped.
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        self.secret
            .to_der()
            .map(Zeroizing::new)
            .map_err(|_| KeyError::Encoding)
    }

    fn from_parts(epoch: Epoch, secret: SecretKey, public: PublicKey) -> Result<Self, KeyError> {
        let spki = public.to_spki().map_err(|_| KeyError::Encoding)?;
        if public.components().n().len() != AUTHENTICATOR_BYTES {
            return Err(KeyError::WrongSize {
                expected: RSA_MODULUS_BITS,
            });
        }
        Ok(Self {
            epoch,
            key_id: TokenKeyId::of_spki(&spki),
            spki,
            public,
            secret,
        })
    }

    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    pub fn key_id(&self) -> TokenKeyId {
        self.key_id
    }

    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    pub(crate) fn secret_key(&self) -> &SecretKey {
        &self.secret
    }

    /// What the issuer publishes for this epoch (via the PKI).
    pub fn published(&self) -> PublishedKey {
        PublishedKey {
            epoch: self.epoch,
            key_id: self.key_id,
            spki: self.spki.clone(),
        }
    }
}

/// A public issuer key as distributed to wallets and providers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishedKey {
    pub epoch: Epoch,
    pub key_id: TokenKeyId,
    /// SubjectPublicKeyInfo with the RSASSA-PSS OID (RFC 9578 §6.5).
    pub spki: Vec<u8>,
}

/// A key a verifier accepts tokens under.
#[derive(Clone, Debug)]
pub struct VerifyingKey {
    pub epoch: Epoch,
    pub key_id: TokenKeyId,
    pub public: PublicKey,
}

impl VerifyingKey {
    /// Parses a published key, checking its key id is the SHA-256 of its SPKI and that
    /// it is RSA-2048.
    pub fn from_published(p: &PublishedKey) -> Result<Self, KeyError> {
        if TokenKeyId::of_spki(&p.spki) != p.key_id {
            return Err(KeyError::KeyIdMismatch);
        }
        let public = PublicKey::from_spki(&p.spki).map_err(|_| KeyError::Encoding)?;
        if public.components().n().len() != AUTHENTICATOR_BYTES {
            return Err(KeyError::WrongSize {
                expected: RSA_MODULUS_BITS,
            });
        }
        Ok(Self {
            epoch: p.epoch,
            key_id: p.key_id,
            public,
        })
    }
}

/// Keys a verifier knows, by key id; tokens under any other key are refused.
#[derive(Clone, Debug, Default)]
pub struct KeyDirectory {
    keys: BTreeMap<TokenKeyId, VerifyingKey>,
}

impl KeyDirectory {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a published key after checking it.
    pub fn insert_published(&mut self, p: &PublishedKey) -> Result<TokenKeyId, KeyError> {
        let key = VerifyingKey::from_published(p)?;
        let id = key.key_id;
        self.keys.insert(id, key);
        Ok(id)
    }

    pub fn get(&self, id: &TokenKeyId) -> Option<&VerifyingKey> {
        self.keys.get(id)
    }

    /// Forgets keys of epochs before `oldest` (their tokens are expired anyway; after
    /// pruning they are refused as `unknown_key` instead of `expired`).
    pub fn prune_before(&mut self, oldest: Epoch) {
        self.keys.retain(|_, k| k.epoch >= oldest);
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}
