//! The mailbox owner's side: builds each request and checks each response. Sans-I/O like
//! the server: the client shell opens one stream per exchange and passes bytes through.

use super::auth::{confirm_message, pull_message, register_message, sign};
use super::seal::{SealError, open_pull, pull_cipher};
use super::wire::{PUBLIC_KEY_BYTES, RefusalReason, Request, Response, WireError};
use super::{MailboxId, PullSecret};
use crate::NodeId;
use crate::params::{MAILBOX_NONCE_BYTES, MAX_CONFIRM_SEQS, PULL_SLOTS};
use ed25519_dalek::SigningKey;
use rand::CryptoRng;
use thiserror::Error;
use zeroize::Zeroizing;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ClientError {
    #[error("malformed response: {0}")]
    Wire(#[from] WireError),
    #[error("refused by the provider: {0}")]
    Refused(RefusalReason),
    #[error("unexpected response type")]
    Unexpected,
    #[error("pull max {0} outside 1..=PULL_SLOTS")]
    BadMax(u16),
    #[error("pull response for another challenge")]
    NonceMismatch,
    #[error("pull response does not open: {0}")]
    Seal(#[from] SealError),
    #[error("confirm takes at most MAX_CONFIRM_SEQS distinct seqs, got {0}")]
    BadSeqCount(usize),
}

/// A pull in flight: what the client needs to check its response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingPull {
    pub nonce: [u8; MAILBOX_NONCE_BYTES],
    pub max: u16,
}

/// The real payloads of one pull response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pulled {
    /// `(seq, payload)`: store the payloads, then confirm the seqs.
    pub payloads: Vec<(u64, Vec<u8>)>,
    /// Payloads the provider still holds beyond these (pull again if non-zero).
    pub remaining: u32,
}

/// One mailbox at one provider.
pub struct MailboxClient {
    provider: NodeId,
    mailbox: MailboxId,
    key: SigningKey,
    pull_secret: PullSecret,
}

impl std::fmt::Debug for MailboxClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailboxClient")
            .field("provider", &self.provider)
            .field("mailbox", &self.mailbox)
            .finish_non_exhaustive()
    }
}

impl MailboxClient {
    /// A fresh mailbox: random id, Ed25519 key and pull secret.
    pub fn generate<R: CryptoRng + ?Sized>(provider: NodeId, rng: &mut R) -> Self {
        let mut mailbox = [0u8; 32];
        rng.fill_bytes(&mut mailbox);
        let mut key = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(key.as_mut());
        let mut secret = PullSecret([0; 32]);
        rng.fill_bytes(&mut secret.0);
        Self::from_parts(provider, MailboxId(mailbox), &key, secret)
    }

    /// Restores a mailbox from what [`Self::secret_key`] and [`Self::pull_secret`] gave.
    pub fn from_parts(
        provider: NodeId,
        mailbox: MailboxId,
        secret_key: &[u8; 32],
        pull_secret: PullSecret,
    ) -> Self {
        MailboxClient {
            provider,
            mailbox,
            key: SigningKey::from_bytes(secret_key),
            pull_secret,
        }
    }

    pub fn provider(&self) -> &NodeId {
        &self.provider
    }

    pub fn mailbox(&self) -> MailboxId {
        self.mailbox
    }

    pub fn public_key(&self) -> [u8; PUBLIC_KEY_BYTES] {
        self.key.verifying_key().to_bytes()
    }

    /// The Ed25519 secret key, for persisting the mailbox.
    pub fn secret_key(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.key.to_bytes())
    }

    pub fn pull_secret(&self) -> &PullSecret {
        &self.pull_secret
    }

    pub fn register_request(&self) -> Vec<u8> {
        let public_key = self.public_key();
        let message = register_message(
            &self.provider,
            &self.mailbox,
            &public_key,
            self.pull_secret.as_bytes(),
        );
        Request::Register {
            mailbox: self.mailbox,
            public_key,
            pull_secret: self.pull_secret.clone(),
            proof: sign(&self.key, &message),
        }
        .encode()
    }

    pub fn on_register_response(&self, response: &[u8]) -> Result<(), ClientError> {
        match decode(response)? {
            Response::Registered => Ok(()),
            _ => Err(ClientError::Unexpected),
        }
    }

    pub fn challenge_request(&self) -> Vec<u8> {
        Request::ChallengeRequest {
            mailbox: self.mailbox,
        }
        .encode()
    }

    /// From the provider's Challenge, the signed Pull for at most `max` payloads. Expiry is
    /// left to the provider: `expires_at` is on its clock, not ours.
    pub fn pull_request(
        &self,
        challenge_response: &[u8],
        max: u16,
    ) -> Result<(Vec<u8>, PendingPull), ClientError> {
        match decode(challenge_response)? {
            Response::Challenge { nonce, .. } => self.pull_request_with(nonce, max),
            _ => Err(ClientError::Unexpected),
        }
    }

    /// The signed Pull for a given nonce (what [`Self::pull_request`] builds).
    pub fn pull_request_with(
        &self,
        nonce: [u8; MAILBOX_NONCE_BYTES],
        max: u16,
    ) -> Result<(Vec<u8>, PendingPull), ClientError> {
        if max == 0 || usize::from(max) > PULL_SLOTS {
            return Err(ClientError::BadMax(max));
        }
        let message = pull_message(&self.provider, &self.mailbox, &nonce, max);
        let request = Request::Pull {
            mailbox: self.mailbox,
            nonce,
            max,
            signature: sign(&self.key, &message),
        };
        Ok((request.encode(), PendingPull { nonce, max }))
    }

    /// Checks and opens a pull response: every slot must authenticate under this pull's
    /// key; returns the real payloads only.
    pub fn open_pull_response(
        &self,
        pending: &PendingPull,
        response: &[u8],
    ) -> Result<Pulled, ClientError> {
        let Response::PullResponse { nonce, sealed } = decode(response)? else {
            return Err(ClientError::Unexpected);
        };
        if nonce != pending.nonce {
            return Err(ClientError::NonceMismatch);
        }
        let cipher = pull_cipher(&self.pull_secret, &self.provider, &self.mailbox, &nonce)?;
        let opened = open_pull(&cipher, &sealed, pending.max)?;
        Ok(Pulled {
            payloads: opened.payloads,
            remaining: opened.remaining,
        })
    }

    /// The signed Confirm for these seqs (sorted and deduplicated here). Send it only once
    /// the payloads are stored: the provider deletes them for good.
    pub fn confirm_request(&self, seqs: &[u64]) -> Result<Vec<u8>, ClientError> {
        let mut seqs = seqs.to_vec();
        seqs.sort_unstable();
        seqs.dedup();
        if seqs.len() > MAX_CONFIRM_SEQS {
            return Err(ClientError::BadSeqCount(seqs.len()));
        }
        let message = confirm_message(&self.provider, &self.mailbox, &seqs);
        Ok(Request::Confirm {
            mailbox: self.mailbox,
            signature: sign(&self.key, &message),
            seqs,
        }
        .encode())
    }

    /// How many payloads the provider deleted.
    pub fn on_confirm_response(&self, response: &[u8]) -> Result<u32, ClientError> {
        match decode(response)? {
            Response::Confirmed { deleted } => Ok(deleted),
            _ => Err(ClientError::Unexpected),
        }
    }
}

/// Decodes a response, turning a refusal into an error.
fn decode(response: &[u8]) -> Result<Response, ClientError> {
    match Response::decode(response)? {
        Response::Refused(reason) => Err(ClientError::Refused(reason)),
        other => Ok(other),
    }
}
