//! Node descriptors: what a node announces about itself, signed by its identity key.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use crate::codec;
use crate::error::CodecError;
use crate::params::{DESCRIPTOR_SIGNING_DOMAIN, PROTOCOL_VERSION};

/// A node's 32-byte Ed25519 identity public key: how Sphinx headers and the
/// directory name a node.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct NodeId(pub [u8; 32]);

impl std::fmt::Debug for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NodeId({})", hex::encode(self.0))
    }
}

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// What a node does in the network.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Role {
    /// A mix in one of the stratified layers.
    Mix,
    /// A provider: entry/exit point and mailbox for clients.
    Provider,
    /// The credential issuer; not a routing hop.
    Issuer,
}

impl Role {
    /// Wire byte (spec/pki.md §2).
    pub fn to_byte(self) -> u8 {
        match self {
            Self::Mix => 1,
            Self::Provider => 2,
            Self::Issuer => 3,
        }
    }

    /// Parses the wire byte.
    pub fn from_byte(byte: u8) -> Result<Self, CodecError> {
        match byte {
            1 => Ok(Self::Mix),
            2 => Ok(Self::Provider),
            3 => Ok(Self::Issuer),
            other => Err(CodecError::UnknownRole(other)),
        }
    }

    /// Whether packets are routed through nodes of this role (so they need Sphinx keys).
    pub fn routes_packets(self) -> bool {
        matches!(self, Self::Mix | Self::Provider)
    }
}

/// An X25519 Sphinx public key bound to the epoch in which it is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EpochSphinxKey {
    pub epoch: u64,
    pub public: [u8; 32],
}

/// An issuer's token-signing public key bound to the epoch it signs in
/// (spec/payments.md §2). Only issuer descriptors carry them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EpochTokenKey {
    pub epoch: u64,
    /// SHA-256 of `spki`; the decoder refuses a descriptor where it is not.
    pub key_id: [u8; 32],
    /// SubjectPublicKeyInfo, DER (RSASSA-PSS, RFC 9578 §6.5). Only its length is checked
    /// here; the payments code parses it (RSA-2048) before trusting it.
    pub spki: Vec<u8>,
}

impl EpochTokenKey {
    /// A key whose id is computed from its SPKI.
    pub fn new(epoch: u64, spki: Vec<u8>) -> Self {
        Self {
            epoch,
            key_id: crate::codec::token_key_id(&spki),
            spki,
        }
    }
}

/// The signed fields of a descriptor, as plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescriptorContent {
    pub identity: NodeId,
    pub role: Role,
    pub protocol_version: u16,
    /// Strictly increases with every new descriptor the node signs.
    pub sequence: u64,
    /// First epoch the descriptor is valid for.
    pub issue_epoch: u64,
    /// Last epoch the descriptor is valid for (inclusive).
    pub expiry_epoch: u64,
    /// Packets per second the node is willing to mix.
    pub capacity_pps: u32,
    /// Sphinx keys in strictly increasing epoch order.
    pub sphinx_keys: Vec<EpochSphinxKey>,
    /// libp2p multiaddrs as text, in the node's order of preference.
    pub addresses: Vec<String>,
    /// Issuers only: token keys in strictly increasing epoch order.
    pub token_keys: Vec<EpochTokenKey>,
}

impl DescriptorContent {
    /// Whether the descriptor's validity window includes `epoch`.
    pub fn covers(&self, epoch: u64) -> bool {
        self.issue_epoch <= epoch && epoch <= self.expiry_epoch
    }

    /// The Sphinx public key bound to `epoch`, if listed.
    pub fn sphinx_key_for(&self, epoch: u64) -> Option<[u8; 32]> {
        self.sphinx_keys
            .iter()
            .find(|k| k.epoch == epoch)
            .map(|k| k.public)
    }

    /// The token key bound to `epoch`, if listed (issuer descriptors).
    pub fn token_key_for(&self, epoch: u64) -> Option<&EpochTokenKey> {
        self.token_keys.iter().find(|k| k.epoch == epoch)
    }
}

/// A canonically encoded, signed descriptor. Only obtainable by decoding bytes or
/// by [`DescriptorBuilder::sign`], so content and bytes always agree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    content: DescriptorContent,
    /// Signed body followed by the 64-byte signature.
    encoded: Vec<u8>,
}

impl Descriptor {
    /// Parses canonical bytes. Does not verify the signature: see [`Descriptor::verify`].
    pub fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        let content = codec::decode_descriptor(bytes)?;
        Ok(Self {
            content,
            encoded: bytes.to_vec(),
        })
    }

    /// Parses and verifies in one step.
    pub fn decode_verified(bytes: &[u8]) -> Result<Self, VerifyError> {
        let descriptor = Self::decode(bytes).map_err(VerifyError::Codec)?;
        descriptor.verify()?;
        Ok(descriptor)
    }

    /// Checks the identity key's signature over domain ‖ body (strict Ed25519:
    /// rejects small-order keys and malleable signatures).
    pub fn verify(&self) -> Result<(), VerifyError> {
        let bad = |_| VerifyError::BadSignature;
        let key = VerifyingKey::from_bytes(&self.content.identity.0).map_err(bad)?;
        let (body, sig) = self.split();
        let signature = Signature::from_slice(sig).map_err(bad)?;
        key.verify_strict(&signed_message(body), &signature)
            .map_err(bad)
    }

    pub fn content(&self) -> &DescriptorContent {
        &self.content
    }

    pub fn identity(&self) -> NodeId {
        self.content.identity
    }

    pub fn sequence(&self) -> u64 {
        self.content.sequence
    }

    /// The full canonical encoding (body ‖ signature), as gossiped.
    pub fn as_bytes(&self) -> &[u8] {
        &self.encoded
    }

    /// The signed part only; two descriptors with equal bodies have equal content.
    pub fn signed_body(&self) -> &[u8] {
        self.split().0
    }

    fn split(&self) -> (&[u8], &[u8]) {
        let body_len = self.encoded.len().saturating_sub(codec::SIGNATURE_LEN);
        self.encoded.split_at(body_len)
    }
}

/// Failure of [`Descriptor::decode_verified`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Codec(CodecError),
    #[error("signature does not verify")]
    BadSignature,
}

fn signed_message(body: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(DESCRIPTOR_SIGNING_DOMAIN.len() + body.len());
    message.extend_from_slice(DESCRIPTOR_SIGNING_DOMAIN);
    message.extend_from_slice(body);
    message
}

/// Builds and signs a descriptor. The identity is taken from the signing key, so a
/// builder cannot produce a descriptor that names someone else.
#[derive(Debug, Clone)]
pub struct DescriptorBuilder {
    role: Role,
    protocol_version: u16,
    sequence: u64,
    issue_epoch: u64,
    expiry_epoch: u64,
    capacity_pps: u32,
    sphinx_keys: Vec<EpochSphinxKey>,
    addresses: Vec<String>,
    token_keys: Vec<EpochTokenKey>,
}

impl DescriptorBuilder {
    /// A descriptor valid for `issue_epoch` and the next epoch, protocol [`PROTOCOL_VERSION`].
    pub fn new(role: Role, sequence: u64, issue_epoch: u64) -> Self {
        Self {
            role,
            protocol_version: PROTOCOL_VERSION,
            sequence,
            issue_epoch,
            expiry_epoch: issue_epoch.saturating_add(1),
            capacity_pps: 0,
            sphinx_keys: Vec::new(),
            addresses: Vec::new(),
            token_keys: Vec::new(),
        }
    }

    pub fn expiry_epoch(mut self, epoch: u64) -> Self {
        self.expiry_epoch = epoch;
        self
    }

    pub fn protocol_version(mut self, version: u16) -> Self {
        self.protocol_version = version;
        self
    }

    pub fn capacity_pps(mut self, capacity: u32) -> Self {
        self.capacity_pps = capacity;
        self
    }

    /// Adds a Sphinx key; keys are sorted by epoch when signing.
    pub fn sphinx_key(mut self, epoch: u64, public: [u8; 32]) -> Self {
        self.sphinx_keys.push(EpochSphinxKey { epoch, public });
        self
    }

    /// Adds an issuer token key; keys are sorted by epoch when signing. Signing fails
    /// unless the role is [`Role::Issuer`] and `key.key_id` is the SHA-256 of `key.spki`.
    pub fn token_key(mut self, key: EpochTokenKey) -> Self {
        self.token_keys.push(key);
        self
    }

    pub fn address(mut self, multiaddr: impl Into<String>) -> Self {
        self.addresses.push(multiaddr.into());
        self
    }

    /// Encodes canonically and signs. Fails on anything decode would reject.
    pub fn sign(mut self, identity: &SigningKey) -> Result<Descriptor, CodecError> {
        self.sphinx_keys.sort_by_key(|k| k.epoch);
        self.token_keys.sort_by_key(|k| k.epoch);
        let content = DescriptorContent {
            identity: NodeId(identity.verifying_key().to_bytes()),
            role: self.role,
            protocol_version: self.protocol_version,
            sequence: self.sequence,
            issue_epoch: self.issue_epoch,
            expiry_epoch: self.expiry_epoch,
            capacity_pps: self.capacity_pps,
            sphinx_keys: self.sphinx_keys,
            addresses: self.addresses,
            token_keys: self.token_keys,
        };
        let mut encoded = codec::encode_body(&content)?;
        let signature = identity.sign(&signed_message(&encoded));
        encoded.extend_from_slice(&signature.to_bytes());
        if encoded.len() > crate::params::MAX_DESCRIPTOR_BYTES {
            return Err(CodecError::Oversized {
                len: encoded.len(),
                max: crate::params::MAX_DESCRIPTOR_BYTES,
            });
        }
        Ok(Descriptor { content, encoded })
    }
}
