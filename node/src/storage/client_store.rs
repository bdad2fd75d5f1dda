//! A client's durable state (rocksdb): its keys, the messages it received, the fragments of
//! messages still being reassembled, and the messages it is sending.
//!
//! Column families:
//! - `client_keys`: `identity` / `mailbox_key` / `pull_secret` (32-byte secrets),
//!   `provider` (32-byte node id), `provider_addr` (multiaddr text);
//! - `inbox`: `seq (u64 BE)` → `received_at (u64 BE, Unix s) ‖ message`;
//! - `pulled`: `message id (16) ‖ fragment index (u32 BE)` → the pulled payload, written
//!   (synced) before the client confirms it to its provider, deleted in the same write that
//!   puts the completed message in `inbox`: a crash between pull and reassembly loses
//!   nothing, and a completed message is never rebuilt twice;
//! - `outbox`: `local id (u64 BE)` → `recipient provider (32) ‖ recipient client (32) ‖
//!   message`, until every fragment is acked. After a restart the outbox is sent again
//!   (at-least-once: a message whose acks were in flight at the crash may arrive twice,
//!   under two different wire ids).
//! - `wesh_journal`: `seq (u64 BE)` → one encoded Wesh journal record (see [`wesh`]).

use rocksdb::{
    ColumnFamilyDescriptor, DB, Direction, IteratorMode, Options, WriteBatch, WriteOptions,
};
use std::path::{Path, PathBuf};
use wesh_mix::params::MESSAGE_ID_BYTES;
use wesh_mix::{ClientAddress, MessageId, NodeId};
use zeroize::Zeroizing;

const CF_KEYS: &str = "client_keys";
const CF_INBOX: &str = "inbox";
const CF_PULLED: &str = "pulled";
const CF_OUTBOX: &str = "outbox";
const CF_WESH_JOURNAL: &str = "wesh_journal";
const CFS: [&str; 5] = [CF_KEYS, CF_INBOX, CF_PULLED, CF_OUTBOX, CF_WESH_JOURNAL];

mod pulled;
pub mod wesh;

#[derive(Debug, thiserror::Error)]
pub enum ClientStoreError {
    #[error("cannot open client database at {}: {source}", .path.display())]
    Open {
        path: PathBuf,
        source: rocksdb::Error,
    },
    #[error("client database operation failed: {0}")]
    Db(#[from] rocksdb::Error),
    #[error("column family {0} is missing from the client database")]
    MissingColumnFamily(&'static str),
    #[error("damaged record in {cf}: {detail}")]
    Corrupt { cf: &'static str, detail: String },
}

/// The secrets a client runs with (zeroed on drop).
pub struct ClientKeys {
    pub identity: Zeroizing<[u8; 32]>,
    pub mailbox_key: Zeroizing<[u8; 32]>,
    pub pull_secret: Zeroizing<[u8; 32]>,
}

/// A message in the inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxMessage {
    pub seq: u64,
    pub received_at: u64,
    pub bytes: Vec<u8>,
}

/// A message still being sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    pub id: u64,
    pub to: ClientAddress,
    pub bytes: Vec<u8>,
}

pub struct ClientStore {
    db: DB,
    synced: WriteOptions,
}

impl std::fmt::Debug for ClientStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientStore").finish_non_exhaustive()
    }
}

impl ClientStore {
    pub fn open(path: impl AsRef<Path>) -> Result<Self, ClientStoreError> {
        let path = path.as_ref();
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_compression_type(rocksdb::DBCompressionType::None);
        let cfs = CFS.map(|name| ColumnFamilyDescriptor::new(name, Options::default()));
        let db =
            DB::open_cf_descriptors(&opts, path, cfs).map_err(|source| ClientStoreError::Open {
                path: path.to_path_buf(),
                source,
            })?;
        let mut synced = WriteOptions::default();
        synced.set_sync(true);
        Ok(ClientStore { db, synced })
    }

    fn cf(&self, name: &'static str) -> Result<&rocksdb::ColumnFamily, ClientStoreError> {
        self.db
            .cf_handle(name)
            .ok_or(ClientStoreError::MissingColumnFamily(name))
    }

    fn secret(&self, name: &str) -> Result<Option<Zeroizing<[u8; 32]>>, ClientStoreError> {
        match self.db.get_pinned_cf(self.cf(CF_KEYS)?, name)? {
            None => Ok(None),
            Some(v) => {
                let bytes: [u8; 32] =
                    v.as_ref()
                        .try_into()
                        .map_err(|_| ClientStoreError::Corrupt {
                            cf: CF_KEYS,
                            detail: format!("{name} is {} bytes", v.len()),
                        })?;
                Ok(Some(Zeroizing::new(bytes)))
            }
        }
    }

    /// The client's keys, created (random) and stored on first use.
    pub fn keys(&self) -> Result<ClientKeys, ClientStoreError> {
        let names = ["identity", "mailbox_key", "pull_secret"];
        let mut found = Vec::new();
        for name in names {
            found.push(self.secret(name)?);
        }
        if let [Some(identity), Some(mailbox_key), Some(pull_secret)] = &mut found[..] {
            return Ok(ClientKeys {
                identity: identity.clone(),
                mailbox_key: mailbox_key.clone(),
                pull_secret: pull_secret.clone(),
            });
        }
        let mut batch = WriteBatch::default();
        let mut fresh = Vec::new();
        for name in names {
            let mut k = Zeroizing::new([0u8; 32]);
            rand::fill(&mut k[..]);
            batch.put_cf(self.cf(CF_KEYS)?, name, k.as_ref());
            fresh.push(k);
        }
        self.db.write_opt(batch, &self.synced)?;
        let [identity, mailbox_key, pull_secret]: [Zeroizing<[u8; 32]>; 3] =
            fresh.try_into().map_err(|_| ClientStoreError::Corrupt {
                cf: CF_KEYS,
                detail: "key generation".into(),
            })?;
        Ok(ClientKeys {
            identity,
            mailbox_key,
            pull_secret,
        })
    }

    /// The provider this client registered with, and its address.
    pub fn provider(&self) -> Result<Option<(NodeId, String)>, ClientStoreError> {
        let cf = self.cf(CF_KEYS)?;
        let id = self.db.get_pinned_cf(cf, "provider")?;
        let addr = self.db.get_pinned_cf(cf, "provider_addr")?;
        match (id, addr) {
            (Some(id), Some(addr)) => {
                let id: [u8; 32] =
                    id.as_ref()
                        .try_into()
                        .map_err(|_| ClientStoreError::Corrupt {
                            cf: CF_KEYS,
                            detail: "provider id".into(),
                        })?;
                Ok(Some((
                    NodeId(id),
                    String::from_utf8_lossy(&addr).into_owned(),
                )))
            }
            _ => Ok(None),
        }
    }

    pub fn set_provider(&self, id: &NodeId, addr: &str) -> Result<(), ClientStoreError> {
        let cf = self.cf(CF_KEYS)?;
        let mut batch = WriteBatch::default();
        batch.put_cf(cf, "provider", id.0);
        batch.put_cf(cf, "provider_addr", addr.as_bytes());
        Ok(self.db.write_opt(batch, &self.synced)?)
    }

    /// Keeps pulled fragments (one synced write) before they are confirmed to the provider.
    pub fn keep_pulled(
        &self,
        fragments: &[(MessageId, u32, &[u8])],
    ) -> Result<(), ClientStoreError> {
        if fragments.is_empty() {
            return Ok(());
        }
        let cf = self.cf(CF_PULLED)?;
        let mut batch = WriteBatch::default();
        for (id, index, payload) in fragments {
            batch.put_cf(cf, pulled_key(id, *index), payload);
        }
        Ok(self.db.write_opt(batch, &self.synced)?)
    }

    /// Every kept fragment (to rebuild reassembly after a restart).
    pub fn pulled(&self) -> Result<Vec<Vec<u8>>, ClientStoreError> {
        let mut out = Vec::new();
        for item in self
            .db
            .iterator_cf(self.cf(CF_PULLED)?, IteratorMode::Start)
        {
            let (_, v) = item?;
            out.push(v.to_vec());
        }
        Ok(out)
    }

    /// Drops the kept fragments of a message that will not complete (reassembly gave up).
    pub fn forget_pulled(&self, id: &MessageId) -> Result<(), ClientStoreError> {
        let mut batch = WriteBatch::default();
        self.stage_forget(&mut batch, id)?;
        Ok(self.db.write_opt(batch, &self.synced)?)
    }

    /// Stages the deletion of every kept fragment of message `id`.
    fn stage_forget(&self, batch: &mut WriteBatch, id: &MessageId) -> Result<(), ClientStoreError> {
        let pulled = self.cf(CF_PULLED)?;
        batch.delete_range_cf(pulled, pulled_key(id, 0), pulled_key(id, u32::MAX));
        batch.delete_cf(pulled, pulled_key(id, u32::MAX));
        Ok(())
    }

    /// Puts a completed message in the inbox and drops its fragments, in one synced write.
    pub fn deliver(&self, id: &MessageId, bytes: &[u8], now: u64) -> Result<u64, ClientStoreError> {
        let inbox = self.cf(CF_INBOX)?;
        let seq = match self.db.iterator_cf(inbox, IteratorMode::End).next() {
            Some(item) => {
                let (k, _) = item?;
                seq_of(&k, CF_INBOX)?.saturating_add(1)
            }
            None => 1,
        };
        let mut batch = WriteBatch::default();
        let mut value = Vec::with_capacity(8 + bytes.len());
        value.extend_from_slice(&now.to_be_bytes());
        value.extend_from_slice(bytes);
        batch.put_cf(inbox, seq.to_be_bytes(), value);
        self.stage_forget(&mut batch, id)?;
        self.db.write_opt(batch, &self.synced)?;
        Ok(seq)
    }

    /// Inbox messages from `from_seq` on.
    pub fn inbox(&self, from_seq: u64) -> Result<Vec<InboxMessage>, ClientStoreError> {
        let mut out = Vec::new();
        let start = from_seq.to_be_bytes();
        let mode = IteratorMode::From(&start, Direction::Forward);
        for item in self.db.iterator_cf(self.cf(CF_INBOX)?, mode) {
            let (k, v) = item?;
            let seq = seq_of(&k, CF_INBOX)?;
            if v.len() < 8 {
                return Err(ClientStoreError::Corrupt {
                    cf: CF_INBOX,
                    detail: format!("message {seq} has no time"),
                });
            }
            let (at, bytes) = v.split_at(8);
            out.push(InboxMessage {
                seq,
                received_at: u64::from_be_bytes(at.try_into().unwrap_or([0; 8])),
                bytes: bytes.to_vec(),
            });
        }
        Ok(out)
    }

    pub fn remove_inbox(&self, seqs: &[u64]) -> Result<(), ClientStoreError> {
        let cf = self.cf(CF_INBOX)?;
        let mut batch = WriteBatch::default();
        for s in seqs {
            batch.delete_cf(cf, s.to_be_bytes());
        }
        Ok(self.db.write_opt(batch, &self.synced)?)
    }

    pub fn add_outbox(&self, m: &OutboxMessage) -> Result<(), ClientStoreError> {
        let mut v = Vec::with_capacity(64 + m.bytes.len());
        v.extend_from_slice(&m.to.provider.0);
        v.extend_from_slice(&m.to.client.0);
        v.extend_from_slice(&m.bytes);
        Ok(self
            .db
            .put_cf_opt(self.cf(CF_OUTBOX)?, m.id.to_be_bytes(), v, &self.synced)?)
    }

    pub fn remove_outbox(&self, id: u64) -> Result<(), ClientStoreError> {
        Ok(self
            .db
            .delete_cf_opt(self.cf(CF_OUTBOX)?, id.to_be_bytes(), &self.synced)?)
    }

    pub fn outbox(&self) -> Result<Vec<OutboxMessage>, ClientStoreError> {
        let mut out = Vec::new();
        for item in self
            .db
            .iterator_cf(self.cf(CF_OUTBOX)?, IteratorMode::Start)
        {
            let (k, v) = item?;
            let id = seq_of(&k, CF_OUTBOX)?;
            let corrupt = || ClientStoreError::Corrupt {
                cf: CF_OUTBOX,
                detail: format!("message {id} is {} bytes", v.len()),
            };
            let provider: [u8; 32] = v
                .get(..32)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(corrupt)?;
            let client: [u8; 32] = v
                .get(32..64)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(corrupt)?;
            out.push(OutboxMessage {
                id,
                to: ClientAddress {
                    provider: NodeId(provider),
                    client: NodeId(client),
                },
                bytes: v[64..].to_vec(),
            });
        }
        Ok(out)
    }
}

fn pulled_key(id: &MessageId, index: u32) -> [u8; MESSAGE_ID_BYTES + 4] {
    let mut k = [0u8; MESSAGE_ID_BYTES + 4];
    k[..MESSAGE_ID_BYTES].copy_from_slice(&id.0);
    k[MESSAGE_ID_BYTES..].copy_from_slice(&index.to_be_bytes());
    k
}

fn seq_of(key: &[u8], cf: &'static str) -> Result<u64, ClientStoreError> {
    let b: [u8; 8] = key.try_into().map_err(|_| ClientStoreError::Corrupt {
        cf,
        detail: format!("{}-byte key", key.len()),
    })?;
    Ok(u64::from_be_bytes(b))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn keys_persist_and_fragments_go_with_delivery() {
        let dir = tempfile::tempdir().unwrap();
        let id = MessageId([3; MESSAGE_ID_BYTES]);
        let other = MessageId([4; MESSAGE_ID_BYTES]);
        let first = {
            let s = ClientStore::open(dir.path()).unwrap();
            let k = s.keys().unwrap();
            s.keep_pulled(&[(id, 0, b"a"), (id, 1, b"b"), (other, 0, b"c")])
                .unwrap();
            s.add_outbox(&OutboxMessage {
                id: 7,
                to: ClientAddress {
                    provider: NodeId([1; 32]),
                    client: NodeId([2; 32]),
                },
                bytes: b"out".to_vec(),
            })
            .unwrap();
            *k.identity
        };
        let s = ClientStore::open(dir.path()).unwrap();
        assert_eq!(*s.keys().unwrap().identity, first, "keys survive a reopen");
        assert_eq!(s.pulled().unwrap().len(), 3);
        assert_eq!(s.deliver(&id, b"whole", 100).unwrap(), 1);
        assert_eq!(
            s.pulled().unwrap(),
            vec![b"c".to_vec()],
            "only the other message's fragment stays"
        );
        s.keep_pulled(&[(MessageId([5; MESSAGE_ID_BYTES]), 3, b"d")])
            .unwrap();
        s.forget_pulled(&MessageId([5; MESSAGE_ID_BYTES])).unwrap();
        assert_eq!(
            s.pulled().unwrap(),
            vec![b"c".to_vec()],
            "abandoned fragments go"
        );
        assert_eq!(s.deliver(&other, b"second", 101).unwrap(), 2);
        let inbox = s.inbox(0).unwrap();
        assert_eq!(inbox.len(), 2);
        assert_eq!(inbox[0].bytes, b"whole");
        s.remove_inbox(&[1]).unwrap();
        assert_eq!(s.inbox(0).unwrap().len(), 1);
        let out = s.outbox().unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].bytes, b"out");
        s.remove_outbox(7).unwrap();
        assert!(s.outbox().unwrap().is_empty());
    }
}
