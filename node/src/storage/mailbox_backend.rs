//! The mailbox contract ([`MailboxBackend`]) on the durable [`MailboxStore`]: the shell
//! shares the store behind an `Arc`, so the contract is implemented for `&MailboxStore`.

use super::mailbox_store::{MailboxStore, StoreError};
use wesh_mix::mailbox::{BackendError, MailboxBackend, MailboxId, MailboxKeys, PullSecret};
use wesh_mix::mailbox::{Refusal, Registered};

impl From<StoreError> for BackendError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Refused(refusal) => BackendError::Refused(refusal),
            other => BackendError::Storage(Box::new(other)),
        }
    }
}

impl MailboxBackend for &MailboxStore {
    fn register(
        &mut self,
        mailbox: MailboxId,
        public_key: [u8; 32],
        pull_secret: PullSecret,
    ) -> Result<Registered, BackendError> {
        Ok(self.register_with_pull_secret(&mailbox.0, &public_key, pull_secret.as_bytes())?)
    }

    fn key_of(&self, mailbox: &MailboxId) -> Option<MailboxKeys> {
        let lookup = || -> Result<Option<MailboxKeys>, StoreError> {
            let (Some(public_key), Some(secret)) =
                (self.mailbox_key(&mailbox.0)?, self.pull_secret(&mailbox.0)?)
            else {
                return Ok(None);
            };
            Ok(Some(MailboxKeys {
                public_key,
                pull_secret: PullSecret(*secret),
            }))
        };
        lookup()
            .inspect_err(|e| tracing::warn!(error = %e, "mailbox lookup failed"))
            .ok()
            .flatten()
    }

    fn store(
        &mut self,
        mailbox: &MailboxId,
        payload: &[u8],
        now: u64,
    ) -> Result<u64, BackendError> {
        Ok(MailboxStore::store(self, &mailbox.0, payload, now)?)
    }

    fn fetch(
        &mut self,
        mailbox: &MailboxId,
        from: u64,
        max: usize,
        now: u64,
    ) -> Result<Vec<(u64, Vec<u8>)>, BackendError> {
        Ok(self.fetch_from(&mailbox.0, from, max, now)?)
    }

    fn remaining(&self, mailbox: &MailboxId) -> Result<u64, BackendError> {
        let stats = self.stats(&mailbox.0)?.ok_or(Refusal::UnknownMailbox)?;
        Ok(u64::from(stats.count))
    }

    fn delete(&mut self, mailbox: &MailboxId, seqs: &[u64]) -> Result<u32, BackendError> {
        let deleted = MailboxStore::delete(self, &mailbox.0, seqs)?;
        Ok(u32::try_from(deleted).unwrap_or(u32::MAX))
    }

    fn expire(&mut self, now: u64) -> Result<usize, BackendError> {
        Ok(MailboxStore::expire(self, now)?.payloads)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::storage::MailboxLimits;
    use wesh_mix::NodeId;
    use wesh_mix::mailbox::{MailboxClient, MailboxServer};

    /// The whole protocol (register, challenge, pull, confirm) against rocksdb, and the pull
    /// secret surviving a reopen.
    #[test]
    fn protocol_round_trip_over_rocksdb() {
        let dir = tempfile::tempdir().unwrap();
        let provider = NodeId([7; 32]);
        let mut rng = rand::rng();
        let client = MailboxClient::generate(provider, &mut rng);
        let mut server = MailboxServer::new(provider);
        let now = 1_000;
        {
            let store = MailboxStore::open(dir.path(), MailboxLimits::default()).unwrap();
            let mut backend = &store;
            let r = server.handle(&client.register_request(), now, &mut rng, &mut backend);
            client.on_register_response(&r).unwrap();
            store
                .store(client.mailbox().as_bytes(), b"hello", now)
                .unwrap();
        }
        let store = MailboxStore::open(dir.path(), MailboxLimits::default()).unwrap();
        let mut backend = &store;
        let c = server.handle(&client.challenge_request(), now, &mut rng, &mut backend);
        let (pull, pending) = client.pull_request(&c, 16).unwrap();
        let r = server.handle(&pull, now, &mut rng, &mut backend);
        assert_eq!(r.len(), wesh_mix::params::PULL_RESPONSE_BYTES);
        let pulled = client.open_pull_response(&pending, &r).unwrap();
        assert_eq!(pulled.payloads.len(), 1);
        assert_eq!(pulled.payloads[0].1, b"hello");
        let seqs: Vec<u64> = pulled.payloads.iter().map(|(s, _)| *s).collect();
        let r = server.handle(
            &client.confirm_request(&seqs).unwrap(),
            now,
            &mut rng,
            &mut backend,
        );
        assert_eq!(client.on_confirm_response(&r).unwrap(), 1);
        assert_eq!(backend.remaining(&client.mailbox()).unwrap(), 0);
        // an empty mailbox answers with exactly as many bytes
        let c = server.handle(&client.challenge_request(), now, &mut rng, &mut backend);
        let (pull, _) = client.pull_request(&c, 16).unwrap();
        let empty = server.handle(&pull, now, &mut rng, &mut backend);
        assert_eq!(empty.len(), wesh_mix::params::PULL_RESPONSE_BYTES);
        // someone else's key for the same mailbox is refused
        let thief =
            MailboxClient::from_parts(provider, client.mailbox(), &[9; 32], PullSecret([1; 32]));
        let r = server.handle(&thief.register_request(), now, &mut rng, &mut backend);
        assert!(thief.on_register_response(&r).is_err());
    }

    /// A payload past the TTL is not handed out: the pull is as if the mailbox were empty.
    #[test]
    fn pulls_skip_payloads_past_the_ttl() {
        let dir = tempfile::tempdir().unwrap();
        let provider = NodeId([7; 32]);
        let mut rng = rand::rng();
        let client = MailboxClient::generate(provider, &mut rng);
        let mut server = MailboxServer::new(provider);
        let limits = MailboxLimits {
            ttl: std::time::Duration::from_secs(60),
            ..MailboxLimits::default()
        };
        let store = MailboxStore::open(dir.path(), limits).unwrap();
        let t0 = 1_000;
        let mut backend = &store;
        let r = server.handle(&client.register_request(), t0, &mut rng, &mut backend);
        client.on_register_response(&r).unwrap();
        store
            .store(client.mailbox().as_bytes(), b"old", t0)
            .unwrap();
        let pull_at = |now: u64, server: &mut MailboxServer| {
            let mut backend = &store;
            let mut rng = rand::rng();
            let c = server.handle(&client.challenge_request(), now, &mut rng, &mut backend);
            let (pull, pending) = client.pull_request(&c, 16).unwrap();
            let r = server.handle(&pull, now, &mut rng, &mut backend);
            client.open_pull_response(&pending, &r).unwrap()
        };
        assert_eq!(
            pull_at(t0 + 59, &mut server).payloads.len(),
            1,
            "within the TTL"
        );
        let late = pull_at(t0 + 60, &mut server);
        assert!(late.payloads.is_empty(), "expired at stored_at + ttl");
        assert_eq!(late.remaining, 0);
    }
}
