//! Replication view: what a replication device or server receives (Group ID public key, the
//! Group Secret Sig with the entry verification key it signs, Attachment Key). It can verify
//! and store entries but holds no key able to decrypt them.

use ed25519_dalek::VerifyingKey;

use crate::codec::{Reader, Writer};
use crate::crypto::{SecretKey32, sign, verify, verifying_key};
use crate::entry::{Entry, EntryVerifier, LogKind};
use crate::error::{DecodeError, Result};
use crate::group::{GroupSecrets, secret_sig_message};
use crate::log::Log;
use crate::params::WIRE_VERSION;

pub const REPLICATION_VIEW_TAG: u8 = 0x20;
pub const REPLICATION_VIEW_LEN: usize = 2 + 32 + 32 + 64 + 32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicationView {
    pub group_id: VerifyingKey,
    pub entry_verify_key: VerifyingKey,
    pub secret_sig: [u8; 64],
    /// Decrypts attachment content IDs only, never entries or messages.
    pub attachment_key: SecretKey32,
}

impl ReplicationView {
    pub fn of(group: &GroupSecrets) -> Self {
        Self {
            group_id: *group.group_id(),
            entry_verify_key: group.entry_verify_key(),
            secret_sig: *group.secret_sig(),
            attachment_key: group.attachment_key().clone(),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(REPLICATION_VIEW_LEN);
        w.u8(WIRE_VERSION)
            .u8(REPLICATION_VIEW_TAG)
            .bytes(self.group_id.as_bytes())
            .bytes(self.entry_verify_key.as_bytes())
            .bytes(&self.secret_sig)
            .bytes(self.attachment_key.expose());
        w.finish()
    }

    /// Decodes a view and checks that the Group ID key vouches for the entry key.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        r.version()?;
        let tag = r.u8()?;
        if tag != REPLICATION_VIEW_TAG {
            return Err(DecodeError::UnknownTag {
                what: "replication view",
                tag,
            }
            .into());
        }
        let group_id = verifying_key(&r.array()?, "group ID")?;
        let entry_verify_key = verifying_key(&r.array()?, "entry verify key")?;
        let secret_sig: [u8; 64] = r.array()?;
        let attachment_key = SecretKey32::from_bytes(r.array()?);
        r.finish()?;
        verify(
            &group_id,
            &secret_sig_message(group_id.as_bytes(), &entry_verify_key),
            &secret_sig,
            "group secret sig",
        )?;
        Ok(Self {
            group_id,
            entry_verify_key,
            secret_sig,
            attachment_key,
        })
    }

    pub fn verifier(&self) -> EntryVerifier {
        EntryVerifier {
            group_id: self.group_id.to_bytes(),
            verify_key: self.entry_verify_key,
        }
    }
}

/// A replication server's copy of one group's logs.
#[derive(Debug)]
pub struct ReplicaStore {
    pub metadata: Log,
    pub messages: Log,
}

impl ReplicaStore {
    pub fn new(view: &ReplicationView) -> Self {
        Self {
            metadata: Log::new(LogKind::Metadata, view.verifier()),
            messages: Log::new(LogKind::Message, view.verifier()),
        }
    }

    /// Verifies then stores an entry; outsider or tampered entries never reach storage.
    pub fn ingest(&mut self, bytes: &[u8]) -> Result<bool> {
        let entry = Entry::decode_verified(bytes, self.metadata.verifier())?;
        match entry.log() {
            LogKind::Metadata => self.metadata.insert(entry),
            LogKind::Message => self.messages.insert(entry),
        }
    }
}

/// Domain of the registration proof (never the prefix of a signed entry, whose signed
/// bytes start with the entry header).
const REGISTRATION_DOMAIN: &[u8] = b"wesh/v1/replica-register";

/// Bytes of an encoded [`ReplicaRegistration`]: view ‖ provider ‖ signature.
pub const REPLICA_REGISTRATION_LEN: usize = REPLICATION_VIEW_LEN + 32 + 64;

/// ReplicationServiceRegisterGroup as a member sends it to one provider: the group's
/// [`ReplicationView`] and a proof of membership, a signature by the group's entry
/// signing key (derived from the group secret, which only members hold) over the view's
/// keys and the provider's id. A view alone (which the provider, or anyone it leaks to,
/// holds) registers nothing; a proof made for one provider is refused by every other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaRegistration {
    pub view: ReplicationView,
    pub provider: [u8; 32],
    pub signature: [u8; 64],
}

fn registration_message(view: &ReplicationView, provider: &[u8; 32]) -> Vec<u8> {
    [
        REGISTRATION_DOMAIN,
        provider,
        view.group_id.as_bytes(),
        view.entry_verify_key.as_bytes(),
    ]
    .concat()
}

impl ReplicaRegistration {
    /// A member's registration of `group` at `provider`.
    pub fn sign(group: &GroupSecrets, provider: [u8; 32]) -> Self {
        let view = ReplicationView::of(group);
        let signature = sign(
            group.write_keys().signing_key,
            &registration_message(&view, &provider),
        );
        Self {
            view,
            provider,
            signature,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(REPLICA_REGISTRATION_LEN);
        w.bytes(&self.view.encode())
            .bytes(&self.provider)
            .bytes(&self.signature);
        w.finish()
    }

    /// Decodes a registration and checks the view (the Group ID key vouches for the entry
    /// key) and the proof (the entry key signed this provider's id). `provider` is the id
    /// of whoever decodes it: a registration made for another provider is refused.
    pub fn decode_for(bytes: &[u8], provider: &[u8; 32]) -> Result<Self> {
        let view_bytes =
            bytes
                .get(..REPLICATION_VIEW_LEN)
                .ok_or(DecodeError::LengthOutOfRange {
                    what: "replica registration",
                    len: bytes.len(),
                })?;
        let view = ReplicationView::decode(view_bytes)?;
        let mut r = Reader::new(bytes.get(REPLICATION_VIEW_LEN..).unwrap_or_default());
        let for_provider: [u8; 32] = r.array()?;
        let signature: [u8; 64] = r.array()?;
        r.finish()?;
        if for_provider != *provider {
            return Err(crate::error::WeshError::InvalidParameter(
                "registration made for another provider",
            ));
        }
        verify(
            &view.entry_verify_key,
            &registration_message(&view, provider),
            &signature,
            "replica registration proof",
        )?;
        Ok(Self {
            view,
            provider: for_provider,
            signature,
        })
    }
}
