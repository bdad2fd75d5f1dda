//! The client wallet: blinds token inputs, finalizes blind signatures into tokens, keeps
//! unspent tokens and hands one out per spend.

use crate::Epoch;
use crate::error::WalletError;
use crate::issuance::{Credential, IssuanceRequest, IssuanceResponse};
use crate::keys::VerifyingKey;
use crate::params::{
    AUTHENTICATOR_BYTES, MAX_BLINDED_PER_REQUEST, NONCE_BYTES, TOKEN_TYPE_BLIND_RSA,
};
use crate::token::{Token, epoch_challenge_digest, token_input};
use blind_rsa_signatures::{BlindMessage, BlindSignature, BlindingResult, Secret};
use rand_core::CryptoRng;
use std::collections::VecDeque;
use std::fmt;
use zeroize::{Zeroize, Zeroizing};

/// One blinded token waiting for its blind signature.
struct PendingToken {
    nonce: [u8; NONCE_BYTES],
    blind_message: Vec<u8>,
    /// The blinding inverse: anyone holding it and the issuer's view links the token.
    secret: Zeroizing<Vec<u8>>,
}

/// Client-side state of one issuance request, consumed by [`Wallet::finalize`].
pub struct PendingIssuance {
    key: VerifyingKey,
    items: Vec<PendingToken>,
}

impl fmt::Debug for PendingIssuance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingIssuance")
            .field("epoch", &self.key.epoch)
            .field("count", &self.items.len())
            .finish_non_exhaustive()
    }
}

impl Drop for PendingIssuance {
    fn drop(&mut self) {
        for item in &mut self.items {
            item.nonce.zeroize();
        }
    }
}

/// Unspent tokens, oldest first (spent first, so fewer expire unused).
pub struct Wallet {
    validity_epochs: u64,
    tokens: VecDeque<(Epoch, Token)>,
}

impl fmt::Debug for Wallet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wallet")
            .field("unspent", &self.tokens.len())
            .finish()
    }
}

impl Wallet {
    /// An empty wallet; tokens older than `validity_epochs` epochs are discarded.
    pub fn new(validity_epochs: u64) -> Self {
        Self {
            validity_epochs,
            tokens: VecDeque::new(),
        }
    }

    /// Blinds `count` fresh token inputs for `key` (which must be the current epoch's
    /// issuer key). Only the returned request goes to the issuer.
    pub fn prepare_request<R: CryptoRng + ?Sized>(
        &self,
        key: &VerifyingKey,
        credential: Credential,
        count: usize,
        rng: &mut R,
    ) -> Result<(IssuanceRequest, PendingIssuance), WalletError> {
        if count == 0 || count > MAX_BLINDED_PER_REQUEST {
            return Err(WalletError::BadCount(count, MAX_BLINDED_PER_REQUEST));
        }
        let challenge = epoch_challenge_digest(key.epoch);
        let mut blinded = Vec::with_capacity(count);
        let mut items = Vec::with_capacity(count);
        for _ in 0..count {
            let mut nonce = [0u8; NONCE_BYTES];
            rng.fill_bytes(&mut nonce);
            let input = token_input(TOKEN_TYPE_BLIND_RSA, &nonce, &challenge, &key.key_id);
            let mut result = key
                .public
                .blind(rng, input)
                .map_err(|_| WalletError::Blinding)?;
            let secret = Zeroizing::new(std::mem::take(&mut result.secret.0));
            let msg: [u8; AUTHENTICATOR_BYTES] = result
                .blind_message
                .0
                .as_slice()
                .try_into()
                .map_err(|_| WalletError::Blinding)?;
            blinded.push(msg);
            items.push(PendingToken {
                nonce,
                blind_message: result.blind_message.0,
                secret,
            });
        }
        let request = IssuanceRequest {
            token_type: TOKEN_TYPE_BLIND_RSA,
            epoch: key.epoch,
            truncated_key_id: key.key_id.truncated(),
            credential,
            blinded,
        };
        Ok((
            request,
            PendingIssuance {
                key: key.clone(),
                items,
            },
        ))
    }

    /// Unblinds the issuer's response into tokens, checks each one, and stores them.
    /// Returns how many tokens were added (the policy may grant fewer than asked).
    pub fn finalize(
        &mut self,
        pending: PendingIssuance,
        response: &IssuanceResponse,
    ) -> Result<usize, WalletError> {
        let got = response.blind_signatures.len();
        if got > pending.items.len() {
            return Err(WalletError::CountMismatch {
                expected: pending.items.len(),
                got,
            });
        }
        let key = &pending.key;
        let challenge = epoch_challenge_digest(key.epoch);
        let mut fresh = Vec::with_capacity(got);
        for (item, blind_sig) in pending.items.iter().zip(&response.blind_signatures) {
            let input = token_input(TOKEN_TYPE_BLIND_RSA, &item.nonce, &challenge, &key.key_id);
            let mut blinding = BlindingResult {
                blind_message: BlindMessage(item.blind_message.clone()),
                secret: Secret(item.secret.to_vec()),
                msg_randomizer: None,
            };
            let finalized =
                key.public
                    .finalize(&BlindSignature(blind_sig.to_vec()), &blinding, input);
            blinding.secret.0.zeroize();
            let signature = finalized.map_err(|_| WalletError::BadBlindSignature)?;
            let authenticator: [u8; AUTHENTICATOR_BYTES] = signature
                .0
                .as_slice()
                .try_into()
                .map_err(|_| WalletError::BadBlindSignature)?;
            fresh.push(Token {
                token_type: TOKEN_TYPE_BLIND_RSA,
                nonce: item.nonce,
                challenge_digest: challenge,
                token_key_id: key.key_id,
                authenticator,
            });
        }
        // All-or-nothing: one bad signature means the issuer misbehaved on the batch.
        let added = fresh.len();
        self.tokens
            .extend(fresh.into_iter().map(|t| (key.epoch, t)));
        Ok(added)
    }

    /// Takes the oldest token still valid at `now`, dropping expired ones on the way.
    pub fn pop(&mut self, now: Epoch) -> Option<Token> {
        self.discard_expired(now);
        self.tokens.pop_front().map(|(_, t)| t)
    }

    /// Puts back a token whose spend did not reach a provider (it is still unspent).
    pub fn restore(&mut self, epoch: Epoch, token: Token) {
        self.tokens.push_front((epoch, token));
    }

    /// Drops tokens no provider would accept at `now`; returns how many.
    pub fn discard_expired(&mut self, now: Epoch) -> usize {
        let before = self.tokens.len();
        let validity = self.validity_epochs;
        self.tokens.retain(|(e, _)| now < *e || now - *e < validity);
        before - self.tokens.len()
    }

    /// Unspent tokens held.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }
}
