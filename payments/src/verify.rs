//! Token verification shared by providers (admission) and the issuer (redemption).

use crate::Epoch;
use crate::error::Refusal;
use crate::keys::KeyDirectory;
use crate::params::TOKEN_TYPE_BLIND_RSA;
use crate::token::{Token, epoch_challenge_digest};
use blind_rsa_signatures::Signature;

/// Checks everything about a token except whether it was spent: type, known key, key
/// epoch live at `now` (valid for `validity_epochs` epochs from its own), challenge
/// digest of that epoch, and the RSA signature. Cheap checks run before the RSA one.
pub fn verify_token(
    keys: &KeyDirectory,
    token: &Token,
    now: Epoch,
    validity_epochs: u64,
) -> Result<(), Refusal> {
    if token.token_type != TOKEN_TYPE_BLIND_RSA {
        return Err(Refusal::UnsupportedTokenType);
    }
    let key = keys.get(&token.token_key_id).ok_or(Refusal::UnknownKey)?;
    if now < key.epoch {
        return Err(Refusal::NotYetValid);
    }
    if now - key.epoch >= validity_epochs {
        return Err(Refusal::Expired);
    }
    if token.challenge_digest != epoch_challenge_digest(key.epoch) {
        return Err(Refusal::ChallengeMismatch);
    }
    key.public
        .verify(
            &Signature(token.authenticator.to_vec()),
            None,
            token.input(),
        )
        .map_err(|_| Refusal::BadSignature)
}

/// Verifies `token` and records it in `spent`, refusing one already recorded. The one rule
/// a provider's admission (its local spent set) and the issuer's redemption (the global
/// one) share: a token buys something exactly once per spent set.
pub fn verify_and_spend<S: crate::spent::SpentSet + ?Sized>(
    keys: &KeyDirectory,
    spent: &mut S,
    token: &Token,
    now: Epoch,
    validity_epochs: u64,
) -> Result<(), Refusal> {
    verify_token(keys, token, now, validity_epochs)?;
    let key_epoch = keys
        .get(&token.token_key_id)
        .map(|k| k.epoch)
        .ok_or(Refusal::UnknownKey)?;
    let fresh = spent
        .insert_if_absent(token.spent_id(), key_epoch)
        .map_err(|_| Refusal::SpentSetUnavailable)?;
    if fresh {
        Ok(())
    } else {
        Err(Refusal::AlreadySpent)
    }
}
