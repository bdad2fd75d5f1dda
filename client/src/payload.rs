//! Plaintext bodies of entries (what the group-secret box contains), one variant per entry
//! type of the spec, with their canonical encodings.

use crate::codec::{Reader, Writer};
use crate::error::{DecodeError, Result};
use crate::params::{AEAD_NONCE_LEN, AEAD_TAG_LEN, MAX_ENTRY_CIPHERTEXT_LEN};

/// Sealed `chain key ‖ counter` inside a Secret entry: 32 + 8 bytes plus the AEAD tag.
pub const SEALED_CHAIN_LEN: usize = 32 + 8 + AEAD_TAG_LEN;

pub const TAG_INIT_MEMBER: u8 = 1;
pub const TAG_MEMBER: u8 = 2;
pub const TAG_SECRET: u8 = 3;
pub const TAG_ALIAS: u8 = 4;
pub const TAG_MESSAGE: u8 = 5;
pub const TAG_DEVICE_MAILBOX: u8 = 6;
pub const TAG_REPLICA_MAILBOX: u8 = 7;

#[derive(Clone, PartialEq, Eq)]
pub enum Payload {
    /// Creator's member ID, signed by the Group ID private key (then discarded).
    InitMember {
        member_id: [u8; 32],
        group_sig: [u8; 64],
    },
    /// A member device announces itself; `member_sig` signs the device ID with the member key.
    Member {
        member_id: [u8; 32],
        device_id: [u8; 32],
        member_sig: [u8; 64],
    },
    /// Sender device's chain key and counter, sealed for one receiver member.
    Secret {
        sender_device: [u8; 32],
        receiver_member: [u8; 32],
        nonce: [u8; AEAD_NONCE_LEN],
        sealed_chain: [u8; SEALED_CHAIN_LEN],
    },
    /// Alias resolver (HMAC of the group ID keyed by the alias public key) and its proof.
    Alias {
        member_id: [u8; 32],
        resolver: [u8; 32],
        proof: [u8; 64],
    },
    /// Where a member device receives the group's entries (wesh over the mixnet): its
    /// provider and mailbox. Sealed like every entry, so only members learn it.
    DeviceMailbox {
        device_id: [u8; 32],
        provider: [u8; 32],
        mailbox: [u8; 32],
    },
    /// A replication provider that keeps the group's sealed entries, and the mailbox there
    /// that receives them (see `spec/wesh-over-mixnet.md`).
    ReplicaMailbox {
        provider: [u8; 32],
        mailbox: [u8; 32],
    },
    /// A message sealed with a ratchet message key and signed by the device key.
    Message {
        device_id: [u8; 32],
        counter: u64,
        sealed: Vec<u8>,
        device_sig: [u8; 64],
    },
}

impl core::fmt::Debug for Payload {
    // Only the type: contents are either secret or useless in logs.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let name = match self {
            Self::InitMember { .. } => "InitMember",
            Self::Member { .. } => "Member",
            Self::Secret { .. } => "Secret",
            Self::Alias { .. } => "Alias",
            Self::DeviceMailbox { .. } => "DeviceMailbox",
            Self::ReplicaMailbox { .. } => "ReplicaMailbox",
            Self::Message { .. } => "Message",
        };
        write!(f, "Payload::{name}")
    }
}

impl Payload {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        match self {
            Self::InitMember {
                member_id,
                group_sig,
            } => {
                w.u8(TAG_INIT_MEMBER).bytes(member_id).bytes(group_sig);
            }
            Self::Member {
                member_id,
                device_id,
                member_sig,
            } => {
                w.u8(TAG_MEMBER)
                    .bytes(member_id)
                    .bytes(device_id)
                    .bytes(member_sig);
            }
            Self::Secret {
                sender_device,
                receiver_member,
                nonce,
                sealed_chain,
            } => {
                w.u8(TAG_SECRET)
                    .bytes(sender_device)
                    .bytes(receiver_member)
                    .bytes(nonce)
                    .bytes(sealed_chain);
            }
            Self::Alias {
                member_id,
                resolver,
                proof,
            } => {
                w.u8(TAG_ALIAS)
                    .bytes(member_id)
                    .bytes(resolver)
                    .bytes(proof);
            }
            Self::DeviceMailbox {
                device_id,
                provider,
                mailbox,
            } => {
                w.u8(TAG_DEVICE_MAILBOX)
                    .bytes(device_id)
                    .bytes(provider)
                    .bytes(mailbox);
            }
            Self::ReplicaMailbox { provider, mailbox } => {
                w.u8(TAG_REPLICA_MAILBOX).bytes(provider).bytes(mailbox);
            }
            Self::Message {
                device_id,
                counter,
                sealed,
                device_sig,
            } => {
                w.u8(TAG_MESSAGE)
                    .bytes(device_id)
                    .u64(*counter)
                    .var_bytes(sealed)
                    .bytes(device_sig);
            }
        }
        w.finish()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        let payload = match r.u8()? {
            TAG_INIT_MEMBER => Self::InitMember {
                member_id: r.array()?,
                group_sig: r.array()?,
            },
            TAG_MEMBER => Self::Member {
                member_id: r.array()?,
                device_id: r.array()?,
                member_sig: r.array()?,
            },
            TAG_SECRET => Self::Secret {
                sender_device: r.array()?,
                receiver_member: r.array()?,
                nonce: r.array()?,
                sealed_chain: r.array()?,
            },
            TAG_ALIAS => Self::Alias {
                member_id: r.array()?,
                resolver: r.array()?,
                proof: r.array()?,
            },
            TAG_DEVICE_MAILBOX => Self::DeviceMailbox {
                device_id: r.array()?,
                provider: r.array()?,
                mailbox: r.array()?,
            },
            TAG_REPLICA_MAILBOX => Self::ReplicaMailbox {
                provider: r.array()?,
                mailbox: r.array()?,
            },
            TAG_MESSAGE => Self::Message {
                device_id: r.array()?,
                counter: r.u64()?,
                sealed: r
                    .var_bytes("message box", AEAD_TAG_LEN, MAX_ENTRY_CIPHERTEXT_LEN)?
                    .to_vec(),
                device_sig: r.array()?,
            },
            tag => {
                return Err(DecodeError::UnknownTag {
                    what: "payload",
                    tag,
                }
                .into());
            }
        };
        r.finish()?;
        Ok(payload)
    }

    /// Whether this payload belongs on the message log (else the metadata log).
    pub fn is_message(&self) -> bool {
        matches!(self, Self::Message { .. })
    }
}
