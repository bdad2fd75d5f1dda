//! The mailbox protocol core's storage ([`MailboxBackend`]) on the durable [`MailboxStore`].
//!
//! Built per request with the request's `now`, so fetches skip payloads past the TTL.

use super::mailbox_store::{MailboxStore, StoreError};
use wesh_mix::mailbox::{BackendError, MailboxBackend, MailboxId, MailboxKeys, PullSecret};

/// A [`MailboxStore`] seen through the protocol core's storage trait at time `now`
/// (Unix seconds).
pub struct StoreBackend<'a> {
    store: &'a MailboxStore,
    now: u64,
}

impl<'a> StoreBackend<'a> {
    pub fn new(store: &'a MailboxStore, now: u64) -> Self {
        StoreBackend { store, now }
    }
}

fn backend_error(e: StoreError) -> BackendError {
    match e {
        StoreError::UnknownMailbox { .. } => BackendError::UnknownMailbox,
        StoreError::KeyMismatch { .. } | StoreError::InvalidPublicKey => BackendError::NotAllowed,
        StoreError::PayloadQuotaExceeded { .. } | StoreError::ByteQuotaExceeded { .. } => {
            BackendError::Full
        }
        StoreError::PayloadTooLarge { len, .. } => BackendError::PayloadTooLong(len),
        other => BackendError::Storage(other.to_string()),
    }
}

impl MailboxBackend for StoreBackend<'_> {
    fn register(
        &mut self,
        mailbox: MailboxId,
        public_key: [u8; 32],
        pull_secret: PullSecret,
    ) -> Result<(), BackendError> {
        self.store
            .register_with_pull_secret(&mailbox.0, &public_key, pull_secret.as_bytes())
            .map(|_| ())
            .map_err(backend_error)
    }

    fn key_of(&self, mailbox: &MailboxId) -> Option<MailboxKeys> {
        let lookup = || -> Result<Option<MailboxKeys>, StoreError> {
            let Some(public_key) = self.store.mailbox_key(&mailbox.0)? else {
                return Ok(None);
            };
            let Some(secret) = self.store.pull_secret(&mailbox.0)? else {
                return Ok(None);
            };
            Ok(Some(MailboxKeys {
                public_key,
                pull_secret: PullSecret(*secret),
            }))
        };
        match lookup() {
            Ok(keys) => keys,
            Err(e) => {
                tracing::warn!(error = %e, "mailbox lookup failed");
                None
            }
        }
    }

    fn fetch(
        &mut self,
        mailbox: &MailboxId,
        max: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, BackendError> {
        self.store
            .fetch(&mailbox.0, max, self.now)
            .map_err(backend_error)
    }

    fn remaining(&self, mailbox: &MailboxId) -> Result<u64, BackendError> {
        match self.store.stats(&mailbox.0) {
            Ok(Some(stats)) => Ok(u64::from(stats.payloads)),
            Ok(None) => Err(BackendError::UnknownMailbox),
            Err(e) => Err(backend_error(e)),
        }
    }

    fn delete(&mut self, mailbox: &MailboxId, seqs: &[u64]) -> Result<u32, BackendError> {
        self.store
            .delete(&mailbox.0, seqs)
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
            .map_err(backend_error)
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
            let mut backend = StoreBackend::new(&store, now);
            let r = server.handle(&client.register_request(), now, &mut rng, &mut backend);
            client.on_register_response(&r).unwrap();
            store
                .store(client.mailbox().as_bytes(), b"hello", now)
                .unwrap();
        }
        let store = MailboxStore::open(dir.path(), MailboxLimits::default()).unwrap();
        let mut backend = StoreBackend::new(&store, now);
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
        let mut backend = StoreBackend::new(&store, t0);
        let r = server.handle(&client.register_request(), t0, &mut rng, &mut backend);
        client.on_register_response(&r).unwrap();
        store
            .store(client.mailbox().as_bytes(), b"old", t0)
            .unwrap();
        let pull_at = |now: u64, server: &mut MailboxServer| {
            let mut backend = StoreBackend::new(&store, now);
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
