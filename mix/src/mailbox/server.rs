//! The provider's side: a sans-I/O state machine that answers one request frame with one
//! response frame. Its only state is the table of outstanding pull challenges.

use super::auth::{confirm_message, parse_key, pull_message, register_message, verify};
use super::backend::{BackendError, MailboxBackend};
use super::seal::{pull_cipher, seal_pull};
use super::wire::{PUBLIC_KEY_BYTES, RefusalReason, Request, Response, SIGNATURE_BYTES, WireError};
use super::{MailboxId, PullSecret};
use crate::NodeId;
use crate::params::{
    CHALLENGE_LIFETIME_SECS, MAILBOX_NONCE_BYTES, MAX_CHALLENGES_PER_MAILBOX,
    MAX_OUTSTANDING_CHALLENGES, PULL_SLOTS,
};
use rand::CryptoRng;
use std::collections::{BTreeMap, HashMap};
use subtle::ConstantTimeEq;

#[derive(Debug, Clone)]
struct Outstanding {
    serial: u64,
    nonce: [u8; MAILBOX_NONCE_BYTES],
    expires_at: u64,
}

/// Answers `/wesh/mailbox/1` requests for one provider.
#[derive(Debug)]
pub struct MailboxServer {
    provider: NodeId,
    lifetime: u64,
    max_outstanding: usize,
    max_per_mailbox: usize,
    /// Issue counter: orders challenges oldest first.
    next_serial: u64,
    by_mailbox: HashMap<MailboxId, Vec<Outstanding>>,
    /// serial → (mailbox, expires_at), oldest first, for eviction and purging.
    order: BTreeMap<u64, (MailboxId, u64)>,
}

impl MailboxServer {
    /// A server with the limits of `params`.
    pub fn new(provider: NodeId) -> Self {
        Self::with_limits(
            provider,
            CHALLENGE_LIFETIME_SECS,
            MAX_OUTSTANDING_CHALLENGES,
            MAX_CHALLENGES_PER_MAILBOX,
        )
    }

    /// `lifetime` in seconds; both maxima are raised to at least 1.
    pub fn with_limits(
        provider: NodeId,
        lifetime: u64,
        max_outstanding: usize,
        max_per_mailbox: usize,
    ) -> Self {
        MailboxServer {
            provider,
            lifetime,
            max_outstanding: max_outstanding.max(1),
            max_per_mailbox: max_per_mailbox.max(1),
            next_serial: 0,
            by_mailbox: HashMap::new(),
            order: BTreeMap::new(),
        }
    }

    pub fn provider(&self) -> &NodeId {
        &self.provider
    }

    /// Challenges issued and neither used, expired-and-purged nor evicted.
    pub fn outstanding_challenges(&self) -> usize {
        self.order.len()
    }

    /// Answers one request frame (`now` in Unix seconds). Always returns a response frame;
    /// the caller writes it and closes the stream.
    pub fn handle<R: CryptoRng + ?Sized>(
        &mut self,
        request: &[u8],
        now: u64,
        rng: &mut R,
        backend: &mut impl MailboxBackend,
    ) -> Vec<u8> {
        self.respond(request, now, rng, backend).encode()
    }

    /// [`Self::handle`] before encoding, for callers that count outcomes.
    pub fn respond<R: CryptoRng + ?Sized>(
        &mut self,
        request: &[u8],
        now: u64,
        rng: &mut R,
        backend: &mut impl MailboxBackend,
    ) -> Response {
        let request = match Request::decode(request) {
            Ok(request) => request,
            Err(WireError::UnsupportedVersion(_)) => {
                return Response::Refused(RefusalReason::UnsupportedVersion);
            }
            Err(_) => return Response::Refused(RefusalReason::Malformed),
        };
        let outcome = match request {
            Request::Register {
                mailbox,
                public_key,
                pull_secret,
                proof,
            } => self.register(mailbox, public_key, pull_secret, &proof, backend),
            Request::ChallengeRequest { mailbox } => self.challenge(mailbox, now, rng, backend),
            Request::Pull {
                mailbox,
                nonce,
                max,
                signature,
            } => self.pull(mailbox, &nonce, max, &signature, now, backend),
            Request::Confirm {
                mailbox,
                seqs,
                signature,
            } => self.confirm(mailbox, &seqs, &signature, backend),
        };
        outcome.unwrap_or_else(Response::Refused)
    }

    fn register(
        &mut self,
        mailbox: MailboxId,
        public_key: [u8; PUBLIC_KEY_BYTES],
        pull_secret: PullSecret,
        proof: &[u8; SIGNATURE_BYTES],
        backend: &mut impl MailboxBackend,
    ) -> Result<Response, RefusalReason> {
        // a provider's internal mailboxes are its own, never a peer's (see `internal`)
        if super::internal::InternalMailbox::is_internal(&mailbox.0) {
            return Err(RefusalReason::NotAllowed);
        }
        parse_key(&public_key).ok_or(RefusalReason::BadKey)?;
        let message = register_message(&self.provider, &mailbox, &public_key, &pull_secret.0);
        if !verify(&public_key, &message, proof) {
            return Err(RefusalReason::BadSignature);
        }
        // checked here too, so that no backend lets another key take a mailbox over
        if backend
            .key_of(&mailbox)
            .is_some_and(|known| known.public_key != public_key)
        {
            return Err(RefusalReason::MailboxTaken);
        }
        backend
            .register(mailbox, public_key, pull_secret)
            .map_err(|e| match e {
                BackendError::Refused(_) => RefusalReason::NotAllowed,
                BackendError::Storage(_) => RefusalReason::Unavailable,
            })?;
        Ok(Response::Registered)
    }

    fn challenge<R: CryptoRng + ?Sized>(
        &mut self,
        mailbox: MailboxId,
        now: u64,
        rng: &mut R,
        backend: &impl MailboxBackend,
    ) -> Result<Response, RefusalReason> {
        backend
            .key_of(&mailbox)
            .ok_or(RefusalReason::UnknownMailbox)?;
        self.purge_expired(now);
        // bounded memory: forget this mailbox's oldest, then the provider's oldest
        while self
            .by_mailbox
            .get(&mailbox)
            .is_some_and(|v| v.len() >= self.max_per_mailbox)
        {
            let Some(oldest) = self
                .by_mailbox
                .get(&mailbox)
                .and_then(|v| v.first().map(|o| o.serial))
            else {
                break;
            };
            self.forget(&mailbox, oldest);
        }
        while self.order.len() >= self.max_outstanding {
            let Some((&serial, &(owner, _))) = self.order.first_key_value() else {
                break;
            };
            self.forget(&owner, serial);
        }
        let mut nonce = [0u8; MAILBOX_NONCE_BYTES];
        rng.fill_bytes(&mut nonce);
        let expires_at = now.saturating_add(self.lifetime);
        let serial = self.next_serial;
        self.next_serial = self.next_serial.wrapping_add(1);
        self.order.insert(serial, (mailbox, expires_at));
        self.by_mailbox
            .entry(mailbox)
            .or_default()
            .push(Outstanding {
                serial,
                nonce,
                expires_at,
            });
        Ok(Response::Challenge { nonce, expires_at })
    }

    fn pull(
        &mut self,
        mailbox: MailboxId,
        nonce: &[u8; MAILBOX_NONCE_BYTES],
        max: u16,
        signature: &[u8; SIGNATURE_BYTES],
        now: u64,
        backend: &mut impl MailboxBackend,
    ) -> Result<Response, RefusalReason> {
        let keys = backend
            .key_of(&mailbox)
            .ok_or(RefusalReason::UnknownMailbox)?;
        // single use: the challenge is gone whatever happens next
        let challenge = self
            .take_challenge(&mailbox, nonce)
            .ok_or(RefusalReason::UnknownChallenge)?;
        if now > challenge.expires_at {
            return Err(RefusalReason::ChallengeExpired);
        }
        let message = pull_message(&self.provider, &mailbox, nonce, max);
        if !verify(&keys.public_key, &message, signature) {
            return Err(RefusalReason::BadSignature);
        }
        let max = usize::from(max).min(PULL_SLOTS);
        let mut payloads = backend
            .fetch(&mailbox, 0, max, now)
            .map_err(|_| RefusalReason::Unavailable)?;
        payloads.truncate(max);
        let stored = backend
            .remaining(&mailbox)
            .map_err(|_| RefusalReason::Unavailable)?;
        let more = stored.saturating_sub(payloads.len() as u64);
        let more = u32::try_from(more).unwrap_or(u32::MAX);
        let cipher = pull_cipher(&keys.pull_secret, &self.provider, &mailbox, nonce)
            .map_err(|_| RefusalReason::Unavailable)?;
        // as many slots as asked for, real or dummy; an oversized stored payload breaks
        // the backend contract: refuse loudly
        let sealed =
            seal_pull(&cipher, more, &payloads, max).map_err(|_| RefusalReason::Unavailable)?;
        Ok(Response::PullResponse {
            nonce: *nonce,
            sealed,
        })
    }

    fn confirm(
        &mut self,
        mailbox: MailboxId,
        seqs: &[u64],
        signature: &[u8; SIGNATURE_BYTES],
        backend: &mut impl MailboxBackend,
    ) -> Result<Response, RefusalReason> {
        let keys = backend
            .key_of(&mailbox)
            .ok_or(RefusalReason::UnknownMailbox)?;
        let message = confirm_message(&self.provider, &mailbox, seqs);
        if !verify(&keys.public_key, &message, signature) {
            return Err(RefusalReason::BadSignature);
        }
        let deleted = backend
            .delete(&mailbox, seqs)
            .map_err(|_| RefusalReason::Unavailable)?;
        Ok(Response::Confirmed { deleted })
    }

    /// Removes and returns the challenge with this nonce issued for this mailbox. Compares
    /// against every outstanding nonce of the mailbox in constant time.
    fn take_challenge(
        &mut self,
        mailbox: &MailboxId,
        nonce: &[u8; MAILBOX_NONCE_BYTES],
    ) -> Option<Outstanding> {
        let list = self.by_mailbox.get(mailbox)?;
        let mut found = None;
        for (i, outstanding) in list.iter().enumerate() {
            if bool::from(outstanding.nonce.ct_eq(nonce)) {
                found = Some(i);
            }
        }
        let challenge = list.get(found?)?.clone();
        self.forget(mailbox, challenge.serial);
        Some(challenge)
    }

    fn forget(&mut self, mailbox: &MailboxId, serial: u64) {
        self.order.remove(&serial);
        if let Some(list) = self.by_mailbox.get_mut(mailbox) {
            list.retain(|o| o.serial != serial);
            if list.is_empty() {
                self.by_mailbox.remove(mailbox);
            }
        }
    }

    /// Drops expired challenges, oldest first (issue order is expiry order while the clock
    /// moves forward; if it steps back, purging is only delayed).
    fn purge_expired(&mut self, now: u64) {
        while let Some((&serial, &(mailbox, expires_at))) = self.order.first_key_value() {
            if expires_at >= now {
                break;
            }
            self.forget(&mailbox, serial);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::mailbox::{InMemoryBackend, MailboxClient};
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn nobody_registers_a_providers_internal_mailbox() {
        let provider = NodeId([9; 32]);
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let mut backend = InMemoryBackend::default();
        let mut server = MailboxServer::new(provider);
        for internal in crate::mailbox::InternalMailbox::ALL {
            let squatter = MailboxClient::generate(provider, &mut rng);
            let squatter = MailboxClient::from_parts(
                provider,
                MailboxId(internal.id()),
                &squatter.secret_key(),
                squatter.pull_secret().clone(),
            );
            let answer = server.handle(&squatter.register_request(), 0, &mut rng, &mut backend);
            assert_eq!(
                Response::decode(&answer).unwrap(),
                Response::Refused(RefusalReason::NotAllowed),
                "{internal:?}"
            );
            assert!(backend.key_of(&MailboxId(internal.id())).is_none());
        }
    }

    #[test]
    fn challenge_table_is_bounded() {
        let provider = NodeId([9; 32]);
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let mut backend = InMemoryBackend::default();
        let mut server = MailboxServer::with_limits(provider, 30, 4, 2);
        let clients: Vec<_> = (0..4)
            .map(|_| MailboxClient::generate(provider, &mut rng))
            .collect();
        for c in &clients {
            server.handle(&c.register_request(), 0, &mut rng, &mut backend);
        }
        for _ in 0..3 {
            server.handle(&clients[0].challenge_request(), 0, &mut rng, &mut backend);
        }
        assert_eq!(server.outstanding_challenges(), 2, "per-mailbox cap");
        for c in &clients {
            server.handle(&c.challenge_request(), 1, &mut rng, &mut backend);
        }
        assert_eq!(server.outstanding_challenges(), 4, "global cap");
        // all expired: the next request purges them
        server.handle(&clients[1].challenge_request(), 100, &mut rng, &mut backend);
        assert_eq!(server.outstanding_challenges(), 1);
    }
}
