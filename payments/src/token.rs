//! The token: Privacy Pass type 0x0002 layout, with an epoch challenge as its challenge.

use crate::Epoch;
use crate::params::{
    AUTHENTICATOR_BYTES, DIGEST_BYTES, EPOCH_CHALLENGE_DOMAIN, NONCE_BYTES, TOKEN_INPUT_BYTES,
    TOKEN_TYPE_BLIND_RSA,
};
use sha2::{Digest, Sha256};
use std::fmt;

/// SHA-256 of an issuer key's SPKI (RFC 9578 token_key_id).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenKeyId(pub [u8; DIGEST_BYTES]);

impl TokenKeyId {
    /// The key id of a public key in its SPKI encoding.
    pub fn of_spki(spki: &[u8]) -> Self {
        Self(Sha256::digest(spki).into())
    }

    /// Last byte, as RFC 9578's truncated_token_key_id in issuance requests.
    pub fn truncated(&self) -> u8 {
        self.0[DIGEST_BYTES - 1]
    }
}

impl fmt::Debug for TokenKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenKeyId({})", hex::encode(&self.0[..8]))
    }
}

/// Identifies a token in spent sets: SHA-256 of its token input. Keyed on the signed
/// input, not the authenticator, so a token cannot be re-spent with another signature.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpentId(pub [u8; DIGEST_BYTES]);

impl fmt::Debug for SpentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpentId({})", hex::encode(&self.0[..8]))
    }
}

/// The challenge digest every token of `epoch` carries: SHA-256(domain ‖ type ‖ epoch).
/// It has no per-client or per-provider field, so it adds nothing to link a token.
pub fn epoch_challenge_digest(epoch: Epoch) -> [u8; DIGEST_BYTES] {
    let mut h = Sha256::new();
    h.update(EPOCH_CHALLENGE_DOMAIN);
    h.update(TOKEN_TYPE_BLIND_RSA.to_be_bytes());
    h.update(epoch.to_be_bytes());
    h.finalize().into()
}

/// A spendable token. It is a bearer credential: Debug shows the key id only.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    pub token_type: u16,
    pub nonce: [u8; NONCE_BYTES],
    pub challenge_digest: [u8; DIGEST_BYTES],
    pub token_key_id: TokenKeyId,
    pub authenticator: [u8; AUTHENTICATOR_BYTES],
}

impl Token {
    /// token_type ‖ nonce ‖ challenge_digest ‖ token_key_id: the message the issuer signs
    /// blindly (RFC 9578 §6.1 token_input).
    pub fn input(&self) -> [u8; TOKEN_INPUT_BYTES] {
        token_input(
            self.token_type,
            &self.nonce,
            &self.challenge_digest,
            &self.token_key_id,
        )
    }

    /// This token's key in spent sets.
    pub fn spent_id(&self) -> SpentId {
        SpentId(Sha256::digest(self.input()).into())
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("token_type", &self.token_type)
            .field("token_key_id", &self.token_key_id)
            .finish_non_exhaustive()
    }
}

/// Builds a token input from its fields.
pub fn token_input(
    token_type: u16,
    nonce: &[u8; NONCE_BYTES],
    challenge_digest: &[u8; DIGEST_BYTES],
    key_id: &TokenKeyId,
) -> [u8; TOKEN_INPUT_BYTES] {
    let mut out = [0u8; TOKEN_INPUT_BYTES];
    let (ty, rest) = out.split_at_mut(2);
    ty.copy_from_slice(&token_type.to_be_bytes());
    let (n, rest) = rest.split_at_mut(NONCE_BYTES);
    n.copy_from_slice(nonce);
    let (c, k) = rest.split_at_mut(DIGEST_BYTES);
    c.copy_from_slice(challenge_digest);
    k.copy_from_slice(&key_id.0);
    out
}
