//! One member device's view of a group: its keys, the two logs, the member list, the chain
//! keys received from other devices, and the rules for each entry type.

// Ordered collections only: a device is rebuilt by replaying its inputs
// (`messenger::journal`), so nothing may follow a per-process random hash order.
use std::collections::{BTreeMap, BTreeSet};

use ed25519_dalek::{SigningKey, VerifyingKey};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::crypto::{
    SecretKey32, aead_open, aead_seal, agree, derive_key32, sign, verify, verifying_key,
    x25519_public, x25519_secret,
};
use crate::entry::{Entry, EntryHash, LogKind};
use crate::error::{Result, WeshError};
use crate::group::{GroupKind, GroupSecrets, derive_member_key};
use crate::invitation::{decode_invitation, encode_invitation};
use crate::log::Log;
use crate::params::{
    AEAD_NONCE_LEN, MAX_MESSAGE_LEN, MAX_MESSAGES_FROM_UNKNOWN_DEVICES, MAX_UNOPENED_MESSAGES,
};
use crate::payload::{Payload, SEALED_CHAIN_LEN};
use crate::ratchet::{ReceivingChain, SendingChain};
use crate::replication::ReplicationView;

const INIT_MEMBER_DOMAIN: &[u8] = b"wesh/v1/init-member";
const MEMBER_DEVICE_DOMAIN: &[u8] = b"wesh/v1/member-device";
const ALIAS_PROOF_DOMAIN: &[u8] = b"wesh/v1/alias-proof";
const MESSAGE_SIG_DOMAIN: &[u8] = b"wesh/v1/message";
const INFO_SECRET_ENTRY: &[u8] = b"wesh/v1/secret-entry";

/// Message keys are single-use, so a fixed nonce is safe (and saves 12 bytes per message).
const MESSAGE_NONCE: [u8; AEAD_NONCE_LEN] = [0u8; AEAD_NONCE_LEN];

/// A message opened from the message log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    pub member_id: [u8; 32],
    pub device_id: [u8; 32],
    pub counter: u64,
    pub plaintext: Vec<u8>,
}

/// Alias resolver: HMAC-SHA256 keyed by the alias public key over the group ID.
pub fn alias_resolver(alias_public: &VerifyingKey, group_id: &[u8; 32]) -> [u8; 32] {
    match <Hmac<Sha256> as KeyInit>::new_from_slice(alias_public.as_bytes()) {
        Ok(mut mac) => {
            mac.update(group_id);
            mac.finalize().into_bytes().into()
        }
        // HMAC takes keys of any length; unreachable, but never panic.
        Err(_) => [0u8; 32],
    }
}

fn message_aad(group_id: &[u8; 32], device_id: &[u8; 32], counter: u64) -> Vec<u8> {
    [group_id.as_slice(), device_id, &counter.to_be_bytes()].concat()
}

fn message_sig_input(group_id: &[u8; 32], counter: u64, sealed: &[u8]) -> Vec<u8> {
    [MESSAGE_SIG_DOMAIN, group_id, &counter.to_be_bytes(), sealed].concat()
}

/// Key sealing a Secret entry: X25519 of (sender device, receiver member), bound to the group.
fn secret_entry_key(shared: &SecretKey32, group_id: &[u8; 32]) -> Result<SecretKey32> {
    derive_key32(shared.expose(), group_id, INFO_SECRET_ENTRY)
}

/// Verified message kept for a later decryption attempt: member, device, counter, box.
type UnopenedMessage = ([u8; 32], [u8; 32], u64, Vec<u8>);

pub struct GroupSession {
    secrets: GroupSecrets,
    member: SigningKey,
    device: SigningKey,
    sending: SendingChain,
    /// member ID → its device IDs
    members: BTreeMap<[u8; 32], BTreeSet<[u8; 32]>>,
    device_owner: BTreeMap<[u8; 32], [u8; 32]>,
    /// Members allowed in account and contact groups (their account IDs); None = anyone with
    /// the invitation (multi-member groups).
    allowed_members: Option<BTreeSet<[u8; 32]>>,
    creator: Option<[u8; 32]>,
    chains: BTreeMap<[u8; 32], ReceivingChain>,
    shared_with: BTreeSet<[u8; 32]>,
    aliases: BTreeMap<[u8; 32], ([u8; 32], [u8; 64])>,
    pending: Vec<(Entry, Payload)>,
    /// device ID → (provider, mailbox) where it receives entries, with the clock of the
    /// announcing entry (a later announcement replaces an earlier one).
    mailboxes: BTreeMap<[u8; 32], (crate::entry::LamportClock, [u8; 32], [u8; 32])>,
    /// Replication providers of the group: (provider, mailbox).
    replicas: BTreeSet<([u8; 32], [u8; 32])>,
    /// Stored messages not opened yet (chain key not received, or beyond the window).
    unopened: BTreeMap<EntryHash, UnopenedMessage>,
    /// Signed message entries whose device is not known yet: the mixnet reorders, so a
    /// member's first message can arrive before the metadata that introduces its device.
    /// Retried by [`GroupSession::retry_unopened`].
    from_unknown_devices: Vec<Vec<u8>>,
    metadata: Log,
    messages: Log,
}

impl core::fmt::Debug for GroupSession {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("GroupSession")
            .field("group", &self.secrets)
            .field("member_id", &hex::encode(self.member_id()))
            .field("device_id", &hex::encode(self.device_id()))
            .field("members", &self.members.len())
            .finish_non_exhaustive()
    }
}

impl GroupSession {
    /// Joins `secrets` as `member` with `device`; returns the session and the entries to publish
    /// (the Member entry announcing this device).
    pub fn new<R: rand::CryptoRng + ?Sized>(
        rng: &mut R,
        secrets: GroupSecrets,
        member: SigningKey,
        device: SigningKey,
        allowed_members: Option<BTreeSet<[u8; 32]>>,
    ) -> Result<(Self, Vec<Vec<u8>>)> {
        let ctx = secrets.ratchet_context();
        let chain = SecretKey32::random(rng);
        let device_id = device.verifying_key().to_bytes();
        let mut chains = BTreeMap::new();
        chains.insert(
            device_id,
            ReceivingChain::new(chain.clone(), 0, ctx.clone()),
        );
        let verifier = secrets.verifier();
        let mut session = Self {
            sending: SendingChain::new(chain, 0, ctx),
            secrets,
            member,
            device,
            members: BTreeMap::new(),
            device_owner: BTreeMap::new(),
            allowed_members,
            creator: None,
            chains,
            shared_with: BTreeSet::new(),
            aliases: BTreeMap::new(),
            pending: Vec::new(),
            mailboxes: BTreeMap::new(),
            replicas: BTreeSet::new(),
            unopened: BTreeMap::new(),
            from_unknown_devices: Vec::new(),
            metadata: Log::new(LogKind::Metadata, verifier.clone()),
            messages: Log::new(LogKind::Message, verifier),
        };
        let gid = session.group_id();
        let member_sig = sign(
            &session.member,
            &[MEMBER_DEVICE_DOMAIN, &gid, &device_id].concat(),
        );
        let announce = Payload::Member {
            member_id: session.member_id(),
            device_id,
            member_sig,
        };
        let out = session.post_metadata(rng, &announce)?;
        Ok((session, out))
    }

    /// Creates a multi-member group: random secrets, Init Member entry signed with the Group ID
    /// key (dropped when this returns), then this device's Member entry.
    pub fn create_multi_member<R: rand::CryptoRng + ?Sized>(
        rng: &mut R,
        account: &SigningKey,
    ) -> Result<(Self, Vec<Vec<u8>>)> {
        let (secrets, group_key) = GroupSecrets::generate(rng, GroupKind::MultiMember)?;
        let gid = secrets.group_id_bytes();
        let member = derive_member_key(account, &gid)?;
        let member_id = member.verifying_key().to_bytes();
        let group_sig = sign(&group_key, &[INIT_MEMBER_DOMAIN, &gid, &member_id].concat());
        drop(group_key);
        let device = crate::crypto::generate_signing_key(rng);
        let (mut session, mut out) = Self::new(rng, secrets, member, device, None)?;
        let init = session.post_metadata(
            rng,
            &Payload::InitMember {
                member_id,
                group_sig,
            },
        )?;
        out.splice(0..0, init);
        Ok((session, out))
    }

    /// Joins a multi-member group from an invitation, with a fresh random member device.
    pub fn join_multi_member<R: rand::CryptoRng + ?Sized>(
        rng: &mut R,
        invitation: &[u8],
        account: &SigningKey,
    ) -> Result<(Self, Vec<Vec<u8>>)> {
        let secrets = decode_invitation(invitation)?;
        if secrets.kind() != GroupKind::MultiMember {
            return Err(WeshError::InvalidParameter(
                "invitation is not for a multi-member group",
            ));
        }
        let member = derive_member_key(account, &secrets.group_id_bytes())?;
        let device = crate::crypto::generate_signing_key(rng);
        Self::new(rng, secrets, member, device, None)
    }

    /// Contact group with `their_account`: derived secrets, members are the two account IDs.
    pub fn contact<R: rand::CryptoRng + ?Sized>(
        rng: &mut R,
        account: &SigningKey,
        device: &SigningKey,
        their_account: &VerifyingKey,
    ) -> Result<(Self, Vec<Vec<u8>>)> {
        let secrets = GroupSecrets::contact(account, their_account)?;
        let allowed =
            BTreeSet::from([account.verifying_key().to_bytes(), their_account.to_bytes()]);
        Self::new(rng, secrets, account.clone(), device.clone(), Some(allowed))
    }

    /// Account group (all devices of one account). `secrets` come from `GroupSecrets::generate`
    /// on the first device and reach later devices through an invitation.
    pub fn account<R: rand::CryptoRng + ?Sized>(
        rng: &mut R,
        secrets: GroupSecrets,
        account: &SigningKey,
        device: &SigningKey,
    ) -> Result<(Self, Vec<Vec<u8>>)> {
        if secrets.kind() != GroupKind::Account {
            return Err(WeshError::InvalidParameter("not an account group"));
        }
        let allowed = BTreeSet::from([account.verifying_key().to_bytes()]);
        Self::new(rng, secrets, account.clone(), device.clone(), Some(allowed))
    }

    pub fn group_id(&self) -> [u8; 32] {
        self.secrets.group_id_bytes()
    }
    pub fn secrets(&self) -> &GroupSecrets {
        &self.secrets
    }
    pub fn member_id(&self) -> [u8; 32] {
        self.member.verifying_key().to_bytes()
    }
    pub fn device_id(&self) -> [u8; 32] {
        self.device.verifying_key().to_bytes()
    }
    /// This device's key in the group (sealing key for what is sent to it).
    pub(crate) fn device_key(&self) -> &SigningKey {
        &self.device
    }
    pub fn creator(&self) -> Option<[u8; 32]> {
        self.creator
    }
    pub fn members(&self) -> &BTreeMap<[u8; 32], BTreeSet<[u8; 32]>> {
        &self.members
    }
    pub fn has_chain_for(&self, device_id: &[u8; 32]) -> bool {
        self.chains.contains_key(device_id)
    }
    pub fn metadata_log(&self) -> &Log {
        &self.metadata
    }
    pub fn message_log(&self) -> &Log {
        &self.messages
    }
    pub fn invitation(&self) -> Vec<u8> {
        encode_invitation(&self.secrets)
    }
    pub fn replication_view(&self) -> ReplicationView {
        ReplicationView::of(&self.secrets)
    }

    /// Seals `payload` onto `log` with the next clock and current heads, stores it, and for
    /// metadata applies it; returns every entry to publish (it first, then any responses).
    fn post(
        &mut self,
        rng: &mut (impl rand::CryptoRng + ?Sized),
        log: LogKind,
        payload: &Payload,
    ) -> Result<Vec<Vec<u8>>> {
        let target = if log == LogKind::Metadata {
            &self.metadata
        } else {
            &self.messages
        };
        let clock = target.next_clock(self.device_id());
        let parents = target.heads();
        let entry = Entry::seal(
            rng,
            &self.secrets.write_keys(),
            log,
            clock,
            parents,
            &payload.encode(),
        )?;
        let bytes = entry.encode();
        if log == LogKind::Metadata {
            self.metadata.insert(entry.clone())?;
            let mut out = vec![bytes];
            out.extend(self.apply_metadata(rng, entry, payload.clone())?);
            Ok(out)
        } else {
            self.messages.insert(entry)?;
            Ok(vec![bytes])
        }
    }

    fn post_metadata(
        &mut self,
        rng: &mut (impl rand::CryptoRng + ?Sized),
        payload: &Payload,
    ) -> Result<Vec<Vec<u8>>> {
        self.post(rng, LogKind::Metadata, payload)
    }

    /// Verifies, stores and applies a metadata entry. Returns the entries this device must
    /// publish in response (Secret entries for newly seen members).
    pub fn ingest_metadata<R: rand::CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        bytes: &[u8],
    ) -> Result<Vec<Vec<u8>>> {
        let entry = Entry::decode_verified(bytes, self.metadata.verifier())?;
        if entry.log() != LogKind::Metadata {
            return Err(WeshError::WrongLog);
        }
        let payload = Payload::decode(&entry.open(self.secrets.entry_encryption_key())?)?;
        if payload.is_message() {
            return Err(WeshError::WrongLog);
        }
        self.check_stateless(&entry, &payload)?;
        if !self.metadata.insert(entry.clone())? {
            return Ok(Vec::new());
        }
        self.apply_metadata(rng, entry, payload)
    }

    /// Signature checks that need no group state, done before storage.
    fn check_stateless(&self, entry: &Entry, payload: &Payload) -> Result<()> {
        let gid = self.group_id();
        match payload {
            Payload::InitMember {
                member_id,
                group_sig,
            } => verify(
                self.secrets.group_id(),
                &[INIT_MEMBER_DOMAIN, &gid, member_id].concat(),
                group_sig,
                "init member",
            ),
            Payload::Member {
                member_id,
                device_id,
                member_sig,
            } => {
                if entry.clock().id != *device_id {
                    return Err(WeshError::BadSignature(
                        "member entry not authored by its device",
                    ));
                }
                if self
                    .allowed_members
                    .as_ref()
                    .is_some_and(|allowed| !allowed.contains(member_id))
                {
                    return Err(WeshError::BadSignature("member not allowed in this group"));
                }
                let key = verifying_key(member_id, "member ID")?;
                verify(
                    &key,
                    &[MEMBER_DEVICE_DOMAIN, &gid, device_id].concat(),
                    member_sig,
                    "member entry",
                )
            }
            Payload::Secret { sender_device, .. } => {
                if entry.clock().id != *sender_device {
                    return Err(WeshError::BadSignature(
                        "secret entry not authored by its device",
                    ));
                }
                Ok(())
            }
            Payload::DeviceMailbox { device_id, .. } => {
                if entry.clock().id != *device_id {
                    return Err(WeshError::BadSignature(
                        "mailbox entry not authored by its device",
                    ));
                }
                Ok(())
            }
            Payload::Alias { .. } | Payload::ReplicaMailbox { .. } | Payload::Message { .. } => {
                Ok(())
            }
        }
    }

    fn apply_metadata(
        &mut self,
        rng: &mut (impl rand::CryptoRng + ?Sized),
        entry: Entry,
        payload: Payload,
    ) -> Result<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        match self.apply_one(rng, &entry, &payload, &mut out) {
            Ok(()) => {}
            // Dependencies (the sender's Member entry) may arrive later: keep and retry.
            Err(WeshError::UnknownDevice | WeshError::UnknownMember) => {
                self.pending.push((entry, payload));
                return Ok(out);
            }
            Err(e) => return Err(e),
        }
        loop {
            let pending = std::mem::take(&mut self.pending);
            let before = pending.len();
            for (e, p) in pending {
                // A pending entry that turns out invalid is dropped from the queue; it stays
                // in the log (it was signed by the group) but has no effect.
                if let Err(WeshError::UnknownDevice | WeshError::UnknownMember) =
                    self.apply_one(rng, &e, &p, &mut out)
                {
                    self.pending.push((e, p));
                }
            }
            if self.pending.len() == before {
                break;
            }
        }
        Ok(out)
    }

    fn apply_one(
        &mut self,
        rng: &mut (impl rand::CryptoRng + ?Sized),
        entry: &Entry,
        payload: &Payload,
        out: &mut Vec<Vec<u8>>,
    ) -> Result<()> {
        match payload {
            Payload::InitMember { member_id, .. } => {
                self.creator.get_or_insert(*member_id);
                self.members.entry(*member_id).or_default();
                Ok(())
            }
            Payload::Member {
                member_id,
                device_id,
                ..
            } => {
                if self
                    .device_owner
                    .get(device_id)
                    .is_some_and(|owner| owner != member_id)
                {
                    return Err(WeshError::BadSignature(
                        "device already claimed by another member",
                    ));
                }
                self.device_owner.insert(*device_id, *member_id);
                self.members
                    .entry(*member_id)
                    .or_default()
                    .insert(*device_id);
                self.share_chain_with(rng, *member_id, out)
            }
            Payload::Secret {
                sender_device,
                receiver_member,
                nonce,
                sealed_chain,
            } => {
                let sender_member = *self
                    .device_owner
                    .get(sender_device)
                    .ok_or(WeshError::UnknownDevice)?;
                if *receiver_member == self.member_id() && !self.chains.contains_key(sender_device)
                {
                    let (chain, counter) = self.open_chain(sender_device, nonce, sealed_chain)?;
                    self.chains.insert(
                        *sender_device,
                        ReceivingChain::new(chain, counter, self.secrets.ratchet_context()),
                    );
                }
                // Bilateral exchange: answer a newcomer who has shared with us.
                self.share_chain_with(rng, sender_member, out)
            }
            Payload::Alias {
                member_id,
                resolver,
                proof,
            } => {
                if !self.members.contains_key(member_id) {
                    return Err(WeshError::UnknownMember);
                }
                self.aliases.insert(*resolver, (*member_id, *proof));
                Ok(())
            }
            Payload::DeviceMailbox {
                device_id,
                provider,
                mailbox,
            } => {
                if !self.device_owner.contains_key(device_id) {
                    return Err(WeshError::UnknownDevice);
                }
                let clock = entry.clock();
                let newer = self.mailboxes.get(device_id).is_none_or(|(seen, _, _)| {
                    crate::entry::compare_clock(&clock, seen) == core::cmp::Ordering::Greater
                });
                if newer {
                    self.mailboxes
                        .insert(*device_id, (clock, *provider, *mailbox));
                }
                Ok(())
            }
            Payload::ReplicaMailbox { provider, mailbox } => {
                // only a known member device may add a replication provider
                if !self.device_owner.contains_key(&entry.clock().id) {
                    return Err(WeshError::UnknownDevice);
                }
                self.replicas.insert((*provider, *mailbox));
                Ok(())
            }
            Payload::Message { .. } => Err(WeshError::WrongLog),
        }
    }

    /// Announces where this device receives the group's entries; returns the entries to
    /// publish.
    pub fn announce_mailbox<R: rand::CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        provider: [u8; 32],
        mailbox: [u8; 32],
    ) -> Result<Vec<Vec<u8>>> {
        let device_id = self.device_id();
        if self
            .mailboxes
            .get(&device_id)
            .is_some_and(|(_, p, m)| *p == provider && *m == mailbox)
        {
            return Ok(Vec::new());
        }
        self.post_metadata(
            rng,
            &Payload::DeviceMailbox {
                device_id,
                provider,
                mailbox,
            },
        )
    }

    /// Adds a replication provider's mailbox to the group; returns the entries to publish.
    pub fn add_replica<R: rand::CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        provider: [u8; 32],
        mailbox: [u8; 32],
    ) -> Result<Vec<Vec<u8>>> {
        if self.replicas.contains(&(provider, mailbox)) {
            return Ok(Vec::new());
        }
        self.post_metadata(rng, &Payload::ReplicaMailbox { provider, mailbox })
    }

    /// Where each member device (this one included) receives entries: device → (provider,
    /// mailbox).
    pub fn device_mailboxes(&self) -> impl Iterator<Item = ([u8; 32], [u8; 32], [u8; 32])> + '_ {
        self.mailboxes
            .iter()
            .map(|(device, (_, provider, mailbox))| (*device, *provider, *mailbox))
    }

    /// The group's replication providers: (provider, mailbox).
    pub fn replicas(&self) -> &BTreeSet<([u8; 32], [u8; 32])> {
        &self.replicas
    }

    /// The member a device belongs to, once its Member entry is known.
    pub fn device_member(&self, device_id: &[u8; 32]) -> Option<[u8; 32]> {
        self.device_owner.get(device_id).copied()
    }

    /// Every metadata entry, encoded, in log order (what a new member device needs).
    pub fn metadata_entries(&self) -> Vec<Vec<u8>> {
        self.metadata.iter_sorted().map(Entry::encode).collect()
    }

    /// The message entries this device wrote, encoded, in log order.
    pub fn own_message_entries(&self) -> Vec<Vec<u8>> {
        let me = self.device_id();
        self.messages
            .iter_sorted()
            .filter(|e| e.clock().id == me)
            .map(Entry::encode)
            .collect()
    }

    /// Every message entry, encoded, in log order.
    pub fn message_entries(&self) -> Vec<Vec<u8>> {
        self.messages.iter_sorted().map(Entry::encode).collect()
    }

    /// Whether an encoded entry belongs on the metadata log (after verifying it). Lets a
    /// caller route entries that arrive mixed in one batch.
    pub fn entry_log(&self, bytes: &[u8]) -> Result<LogKind> {
        Ok(self.entry_origin(bytes)?.0)
    }

    /// Which log an encoded entry belongs on and which device wrote it (its clock's id),
    /// after verifying it.
    pub fn entry_origin(&self, bytes: &[u8]) -> Result<(LogKind, [u8; 32])> {
        let entry = Entry::decode_verified(bytes, self.metadata.verifier())?;
        Ok((entry.log(), entry.clock().id))
    }

    /// The metadata entries, encoded, each with the device that wrote it, in log order.
    pub fn metadata_entries_by_writer(&self) -> Vec<([u8; 32], Vec<u8>)> {
        self.metadata
            .iter_sorted()
            .map(|e| (e.clock().id, e.encode()))
            .collect()
    }

    fn open_chain(
        &self,
        sender_device: &[u8; 32],
        nonce: &[u8; AEAD_NONCE_LEN],
        sealed: &[u8; SEALED_CHAIN_LEN],
    ) -> Result<(SecretKey32, u64)> {
        let sender = verifying_key(sender_device, "device ID")?;
        let shared = agree(&x25519_secret(&self.member), &x25519_public(&sender))?;
        let key = secret_entry_key(&shared, &self.group_id())?;
        let aad = [self.group_id().as_slice(), sender_device, &self.member_id()].concat();
        let plain = zeroize::Zeroizing::new(aead_open(
            key.expose(),
            nonce,
            &aad,
            sealed,
            "secret entry",
        )?);
        let mut chain = [0u8; 32];
        let mut counter = [0u8; 8];
        chain.copy_from_slice(
            plain
                .get(..32)
                .ok_or(WeshError::DecryptionFailed("secret entry"))?,
        );
        counter.copy_from_slice(
            plain
                .get(32..40)
                .ok_or(WeshError::DecryptionFailed("secret entry"))?,
        );
        let chain_key = SecretKey32::from_bytes(chain);
        zeroize::Zeroize::zeroize(&mut chain);
        Ok((chain_key, u64::from_be_bytes(counter)))
    }

    /// Posts a Secret entry with this device's current chain key for `member` (once).
    fn share_chain_with(
        &mut self,
        rng: &mut (impl rand::CryptoRng + ?Sized),
        member: [u8; 32],
        out: &mut Vec<Vec<u8>>,
    ) -> Result<()> {
        // Our own member gets our chain too once it has another device (linked devices hold
        // the same member key, so they can open it).
        let me = self.device_id();
        let is_self_only = member == self.member_id()
            && !self
                .members
                .get(&member)
                .is_some_and(|devices| devices.iter().any(|d| *d != me));
        if is_self_only || self.shared_with.contains(&member) {
            return Ok(());
        }
        let receiver = verifying_key(&member, "member ID")?;
        let shared = agree(&x25519_secret(&self.device), &x25519_public(&receiver))?;
        let key = secret_entry_key(&shared, &self.group_id())?;
        let device_id = self.device_id();
        let aad = [self.group_id().as_slice(), &device_id, &member].concat();
        let (chain, counter) = self.sending.current();
        let plain =
            zeroize::Zeroizing::new([chain.expose().as_slice(), &counter.to_be_bytes()].concat());
        let mut nonce = [0u8; AEAD_NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let sealed = aead_seal(key.expose(), &nonce, &aad, &plain)?;
        let sealed_chain: [u8; SEALED_CHAIN_LEN] = sealed
            .try_into()
            .map_err(|_| WeshError::InvalidParameter("sealed chain length"))?;
        self.shared_with.insert(member);
        let payload = Payload::Secret {
            sender_device: device_id,
            receiver_member: member,
            nonce,
            sealed_chain,
        };
        let entry = Entry::seal(
            rng,
            &self.secrets.write_keys(),
            LogKind::Metadata,
            self.metadata.next_clock(device_id),
            self.metadata.heads(),
            &payload.encode(),
        )?;
        out.push(entry.encode());
        self.metadata.insert(entry)?;
        Ok(())
    }

    /// Discloses this member's alias in this group (irreversible, as the spec warns).
    pub fn disclose_alias<R: rand::CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        alias: &SigningKey,
    ) -> Result<Vec<Vec<u8>>> {
        let gid = self.group_id();
        let resolver = alias_resolver(&alias.verifying_key(), &gid);
        let member_id = self.member_id();
        let proof = sign(
            alias,
            &[ALIAS_PROOF_DOMAIN, &gid, &resolver, &member_id].concat(),
        );
        self.post_metadata(
            rng,
            &Payload::Alias {
                member_id,
                resolver,
                proof,
            },
        )
    }

    /// Member ID of the contact whose alias public key is `alias_public`, if disclosed here.
    pub fn identify(&self, alias_public: &VerifyingKey) -> Option<[u8; 32]> {
        let gid = self.group_id();
        let resolver = alias_resolver(alias_public, &gid);
        let (member, proof) = self.aliases.get(&resolver)?;
        verify(
            alias_public,
            &[ALIAS_PROOF_DOMAIN, &gid, &resolver, member].concat(),
            proof,
            "alias proof",
        )
        .ok()?;
        Some(*member)
    }

    /// Seals `plaintext` with the next message key; returns the entry to publish.
    pub fn send_message<R: rand::CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        plaintext: &[u8],
    ) -> Result<Vec<u8>> {
        if plaintext.len() > MAX_MESSAGE_LEN {
            return Err(WeshError::TooLarge(plaintext.len()));
        }
        let gid = self.group_id();
        let device_id = self.device_id();
        let (counter, key) = self.sending.next_message_key()?;
        let sealed = aead_seal(
            key.expose(),
            &MESSAGE_NONCE,
            &message_aad(&gid, &device_id, counter),
            plaintext,
        )?;
        drop(key);
        let device_sig = sign(&self.device, &message_sig_input(&gid, counter, &sealed));
        let payload = Payload::Message {
            device_id,
            counter,
            sealed,
            device_sig,
        };
        let out = self.post(rng, LogKind::Message, &payload)?;
        out.into_iter()
            .next()
            .ok_or(WeshError::Storage("no entry produced"))
    }

    /// Verifies and stores a message entry, then opens it with the sender's ratchet.
    /// Returns `Ok(None)` for an entry already in the log.
    pub fn ingest_message(&mut self, bytes: &[u8]) -> Result<Option<ReceivedMessage>> {
        let entry = Entry::decode_verified(bytes, self.messages.verifier())?;
        if entry.log() != LogKind::Message {
            return Err(WeshError::WrongLog);
        }
        let Payload::Message {
            device_id,
            counter,
            sealed,
            device_sig,
        } = Payload::decode(&entry.open(self.secrets.entry_encryption_key())?)?
        else {
            return Err(WeshError::WrongLog);
        };
        if entry.clock().id != device_id {
            return Err(WeshError::BadSignature(
                "message not authored by its device",
            ));
        }
        let gid = self.group_id();
        let device_key = verifying_key(&device_id, "device ID")?;
        verify(
            &device_key,
            &message_sig_input(&gid, counter, &sealed),
            &device_sig,
            "message",
        )?;
        let Some(member_id) = self.device_owner.get(&device_id).copied() else {
            if self.from_unknown_devices.len() < MAX_MESSAGES_FROM_UNKNOWN_DEVICES
                && !self.from_unknown_devices.iter().any(|b| b == bytes)
            {
                self.from_unknown_devices.push(bytes.to_vec());
            }
            return Err(WeshError::UnknownDevice);
        };
        let hash = *entry.hash();
        if !self.messages.insert(entry)? && !self.unopened.contains_key(&hash) {
            return Ok(None);
        }
        match self.open_message(member_id, device_id, counter, &sealed) {
            Ok(message) => {
                self.unopened.remove(&hash);
                Ok(Some(message))
            }
            Err(e @ (WeshError::MissingChainKey | WeshError::CounterBeyondWindow { .. })) => {
                if self.unopened.len() < MAX_UNOPENED_MESSAGES {
                    self.unopened
                        .insert(hash, (member_id, device_id, counter, sealed));
                }
                Err(e)
            }
            Err(e) => {
                self.unopened.remove(&hash);
                Err(e)
            }
        }
    }

    /// Retries stored messages that could not be opened yet, in log order; returns those that
    /// now open (call after new chain keys arrive).
    pub fn retry_unopened(&mut self) -> Vec<ReceivedMessage> {
        let mut opened = Vec::new();
        for bytes in std::mem::take(&mut self.from_unknown_devices) {
            // still unknown: ingest_message keeps it again; invalid now: dropped
            if let Ok(Some(m)) = self.ingest_message(&bytes) {
                opened.push(m);
            }
        }
        let mut order: Vec<_> = self
            .unopened
            .iter()
            .filter_map(|(h, (_, _, c, _))| self.messages.get(h).map(|e| (e.clock(), *c, *h)))
            .collect();
        order.sort();
        for (_, _, hash) in order {
            if let Some((member, device, counter, sealed)) = self.unopened.remove(&hash) {
                match self.open_message(member, device, counter, &sealed) {
                    Ok(m) => opened.push(m),
                    Err(WeshError::MissingChainKey | WeshError::CounterBeyondWindow { .. }) => {
                        self.unopened
                            .insert(hash, (member, device, counter, sealed));
                    }
                    Err(_) => {}
                }
            }
        }
        opened
    }

    pub fn unopened_len(&self) -> usize {
        self.unopened.len()
    }

    /// Entries held until what they depend on arrives: metadata waiting for its sender's
    /// Member entry, messages from devices not known yet.
    pub fn held_len(&self) -> usize {
        self.pending.len() + self.from_unknown_devices.len()
    }

    /// Opens a message already in the log (e.g. after its chain key arrived late).
    fn open_message(
        &mut self,
        member_id: [u8; 32],
        device_id: [u8; 32],
        counter: u64,
        sealed: &[u8],
    ) -> Result<ReceivedMessage> {
        let aad = message_aad(&self.group_id(), &device_id, counter);
        let chain = self
            .chains
            .get_mut(&device_id)
            .ok_or(WeshError::MissingChainKey)?;
        let plaintext = chain.with_message_key(counter, |key| {
            aead_open(key.expose(), &MESSAGE_NONCE, &aad, sealed, "message")
        })?;
        Ok(ReceivedMessage {
            member_id,
            device_id,
            counter,
            plaintext,
        })
    }

    /// Entry hashes of the message log in log order (what a UI would list).
    pub fn message_order(&self) -> Vec<EntryHash> {
        self.messages.sorted_hashes()
    }
}
