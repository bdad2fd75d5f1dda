//! One Wesh device on the mixnet, sans I/O: its identity, contacts, groups, handshakes in
//! progress, and the mapping of groups onto mailboxes. Calls return nothing to send
//! directly; what must go out is queued as [`Outgoing`] (drain with
//! [`WeshDevice::take_outgoing`]) and what the app should see as [`WeshEvent`]s.
//!
//! Rules (see `spec/wesh-over-mixnet.md`):
//! - every member device announces its mailbox in the group's metadata log;
//! - an entry this device writes goes to every other member device's mailbox, sealed to
//!   that device's key, and to every replication provider of the group;
//! - when a device learns a new member device's mailbox it sends it the whole metadata log
//!   and the messages it wrote itself (the replication provider serves everyone else's);
//! - contact requests reach the responder through its rendezvous mailbox; answers come
//!   back to the requester's own mailbox.
//!
//! Every call that changes the device also journals its input (drain with
//! [`WeshDevice::take_journal`]), from which [`WeshDevice::restore`] rebuilds the device
//! after a restart: see [`super::journal`].

use std::collections::{BTreeMap, BTreeSet};

use ed25519_dalek::{SigningKey, VerifyingKey};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use crate::codec::Writer;
use crate::crypto::{sha256, verifying_key};
use crate::entry::LogKind;
use crate::error::{DecodeError, Result, WeshError};
use crate::group::{GroupKind, GroupSecrets};
use crate::handshake::{
    ContactRequestGate, EstablishedContact, RequesterAwaitingAccept, RequesterAwaitingHello,
    ResponderAwaitingAcknowledge, ResponderAwaitingAuthenticate, TAG_REQUESTER_ACKNOWLEDGE,
    TAG_REQUESTER_AUTHENTICATE, TAG_REQUESTER_HELLO, TAG_RESPONDER_ACCEPT, TAG_RESPONDER_HELLO,
    start_request,
};
use crate::identity::{ContactCard, Identity};
use crate::rendezvous::{RendezvousSeed, RotationPeriod};
use crate::session::GroupSession;

use super::account_sync::AccountSync;
use super::envelope::{FLOW_ID_LEN, Inner, MailboxAddress, Outer, ReplyTo, batches};
use super::invitation::MixnetInvitation;
use super::journal::{Check, DeviceLink, Input, JournalRecord};
use super::params::{ENVELOPE_TARGET_BYTES, MAX_DEFERRED_MESSAGES, MAX_PENDING_HANDSHAKES};
use super::rendezvous_mailbox::{RendezvousRegistration, registration, rendezvous_address};
use super::rendezvous_wire::{RendezvousFrame, rendezvous_service_mailbox};
use super::sealed_box::{open_with, seal_to};

mod direct_contacts;
mod direct_logs;
pub use direct_contacts::DirectContact;
pub use direct_logs::DirectLogs;

const REPLICA_MAILBOX_DOMAIN: &[u8] = b"wesh/v1/replica-mailbox";

/// The seed of a group's replica mailbox identity (both sides compute it; the provider
/// opens the payloads sealed to it).
pub fn replica_mailbox_seed(group_id: &[u8; 32]) -> [u8; 32] {
    sha256(&[REPLICA_MAILBOX_DOMAIN, group_id])
}

/// The mailbox a replication provider keeps for a group: the Ed25519 public key of
/// [`replica_mailbox_seed`], since senders seal payloads to the mailbox id.
pub fn replica_mailbox(group_id: &[u8; 32]) -> [u8; 32] {
    crate::crypto::public_of_seed(&replica_mailbox_seed(group_id))
}

/// What a device sends a member device it has just learnt of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LogPush {
    /// The whole metadata log and this device's messages: it learnt of the new device from
    /// the device's own announcement, so nobody else may have given it the log yet.
    Whole,
    /// Only what this device wrote: it learnt of the new device from a member that
    /// already pushed the new device its log (the introducer).
    OwnEntries,
}

/// What a queued message carries (for counters and logs; the bytes are opaque).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutgoingKind {
    /// Entries of a group for a member device.
    Entries { group_id: [u8; 32], count: usize },
    /// Entries of a group for its replication provider.
    Replica { group_id: [u8; 32], count: usize },
    /// A contact request handshake message.
    Handshake,
}

/// One mixnet message to send (reliably) to a mailbox.
#[derive(Clone, Debug)]
pub struct Outgoing {
    pub to: MailboxAddress,
    pub bytes: Vec<u8>,
    pub kind: OutgoingKind,
}

impl Outgoing {
    /// Whether nobody waits for this message: a replication provider's copy is read only by
    /// members who were offline, so it may leave after the copies for member devices
    /// (the mixnet client's background class).
    pub fn background(&self) -> bool {
        matches!(self.kind, OutgoingKind::Replica { .. })
    }
}

/// What the app hears about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WeshEvent {
    /// A requester proved who it is; answer with `contact_request_accept` or `_discard`.
    ContactRequestReceived { account: [u8; 32] },
    /// The handshake completed; the contact group exists on this device.
    ContactEstablished {
        account: [u8; 32],
        group_id: [u8; 32],
    },
    /// This device is now a member of a multi-member group.
    GroupJoined { group_id: [u8; 32] },
    /// An app message was opened.
    MessageReceived(GroupMessage),
}

/// An opened app message of a group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupMessage {
    pub group_id: [u8; 32],
    pub member_id: [u8; 32],
    pub device_id: [u8; 32],
    pub counter: u64,
    pub payload: Vec<u8>,
    /// Whether this device wrote it.
    pub own: bool,
}

/// Counters of what arrived and what was refused.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WeshStats {
    pub envelopes_received: u64,
    pub entries_accepted: u64,
    /// Entries this device already had (mixnet retransmissions, several senders).
    pub entries_duplicate: u64,
    /// Envelopes for a group this device is not in.
    pub refused_unknown_group: u64,
    /// Entries that failed verification (forged, wrong group, malformed).
    pub refused_invalid_entry: u64,
    /// Envelopes that could not be opened or decoded.
    pub refused_envelope: u64,
    /// Handshake messages refused (replayed, out of order, bad proof, unknown flow).
    pub refused_handshake: u64,
    pub messages_sent: u64,
    pub messages_received: u64,
    /// Contact-group messages written before the contact joined (sent once it did).
    pub messages_deferred: u64,
}

/// Kind of group, as the API reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum GroupRole {
    Account,
    Contact,
    MultiMember,
}

/// A summary of one group's metadata (GroupMetadataList).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupMetadataView {
    pub group_id: [u8; 32],
    pub role: GroupRole,
    /// member ID → its device IDs
    pub members: BTreeMap<[u8; 32], BTreeSet<[u8; 32]>>,
    pub device_mailboxes: BTreeMap<[u8; 32], MailboxAddress>,
    /// Other devices whose messages this device can open (it holds their chain key).
    pub readable_devices: BTreeSet<[u8; 32]>,
    pub replicas: Vec<MailboxAddress>,
    pub metadata_entries: usize,
    pub message_entries: usize,
}

struct GroupState {
    session: GroupSession,
    role: GroupRole,
    /// Devices that were sent this device's log (so they are not sent it again).
    pushed: BTreeSet<[u8; 32]>,
    /// Replicas that were sent this device's log.
    pushed_replicas: BTreeSet<MailboxAddress>,
    messages: Vec<GroupMessage>,
    /// Contact groups: app messages written before the contact's member was known. Its
    /// chain key for them would start after them (the ratchet never goes back), so they
    /// are sealed only once it has joined.
    deferred: Vec<Vec<u8>>,
}

/// What the requester waits for.
enum RequesterStep {
    Hello(RequesterAwaitingHello),
    Accept(RequesterAwaitingAccept),
}

struct RequesterFlow {
    step: RequesterStep,
    rdv: MailboxAddress,
    responder: VerifyingKey,
    /// The responder's contact direct key (from its card), to meet it over a direct link.
    direct: crate::direct::DirectKey,
}

/// What the responder waits for.
enum ResponderStep {
    Authenticate(ResponderAwaitingAuthenticate),
    /// Authenticated; the app has not decided yet. Holds the Accept to send.
    Decision(ResponderAwaitingAcknowledge, Vec<u8>),
    Acknowledge(ResponderAwaitingAcknowledge),
}

struct ResponderFlow {
    step: ResponderStep,
    reply: ReplyTo,
}

pub struct WeshDevice {
    identity: Identity,
    home: MailboxAddress,
    rng: ChaCha20Rng,
    period: RotationPeriod,
    gate: ContactRequestGate,
    auto_accept: bool,
    requests_out: BTreeMap<[u8; FLOW_ID_LEN], RequesterFlow>,
    requests_in: BTreeMap<[u8; FLOW_ID_LEN], ResponderFlow>,
    /// contact account ID → contact group ID
    contacts: BTreeMap<[u8; 32], [u8; 32]>,
    groups: BTreeMap<[u8; 32], GroupState>,
    account_group: [u8; 32],
    outbox: Vec<Outgoing>,
    events: Vec<WeshEvent>,
    stats: WeshStats,
    /// Inputs taken since the last [`WeshDevice::take_journal`] (see [`super::journal`]).
    journal: Vec<JournalRecord>,
    /// (group, replication provider) → last history sequence number taken from it, so a
    /// restart neither fetches the history again nor skips any (journaled).
    history_cursors: BTreeMap<([u8; 32], [u8; 32]), u64>,
}

impl core::fmt::Debug for WeshDevice {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WeshDevice")
            .field("identity", &self.identity)
            .field("home", &self.home)
            .field("contacts", &self.contacts.len())
            .field("groups", &self.groups.len())
            .finish_non_exhaustive()
    }
}

impl WeshDevice {
    /// A new account on this device, receiving at `home`. `seed` seeds the device's RNG
    /// (tests pass a fixed one; the node passes OS randomness).
    pub fn new_account(seed: [u8; 32], home: MailboxAddress) -> Result<Self> {
        let mut rng = ChaCha20Rng::from_seed(seed);
        let identity = Identity::generate(&mut rng);
        let (secrets, _group_key) = GroupSecrets::generate(&mut rng, GroupKind::Account)?;
        let mut device = Self::with_identity(rng, identity, secrets, home)?;
        device.record(Input::NewAccount { home });
        Ok(device)
    }

    /// A second device of this device's account (what scanning a link QR code gives):
    /// same account, alias and rendezvous seed, a new device key, the account group's
    /// secrets, and this device's mailbox to reach first.
    ///
    /// This device does not change (it learns the new one from the entries the new one
    /// sends it), so nothing is journaled here; the new device's journal starts with the
    /// link.
    pub fn link_new_device(&mut self, seed: [u8; 32], home: MailboxAddress) -> Result<Self> {
        let link = self.device_link()?;
        let linked = Self::from_link(seed, home, link)?;
        debug_assert!(
            linked
                .group(&self.account_group)
                .is_ok_and(|g| g.pushed.contains(&self.device_id()))
        );
        Ok(linked)
    }

    /// What a new device of this account is made from (encode it as a link code with
    /// [`DeviceLink::encode`] for a device in another process). Holds the account's
    /// secrets. Changes nothing here.
    pub fn device_link(&self) -> Result<DeviceLink> {
        let account = self.group(&self.account_group)?;
        Ok(DeviceLink {
            account_key: self.identity.account_key().to_bytes(),
            alias_key: self.identity.alias_key().to_bytes(),
            rendezvous_seed: self.identity.rendezvous_seed().0,
            account_invitation: account.session.invitation(),
            sibling_metadata: account.session.metadata_entries(),
        })
    }

    /// The device `link` describes, with its RNG seeded by `seed`, receiving at `home`.
    /// Its journal starts with the link ([`Input::LinkedDevice`]); its first outputs
    /// introduce it to its sibling.
    pub fn from_link(seed: [u8; 32], home: MailboxAddress, link: DeviceLink) -> Result<Self> {
        let mut rng = ChaCha20Rng::from_seed(seed);
        let identity = Identity::linked(
            SigningKey::from_bytes(&link.account_key),
            SigningKey::from_bytes(&link.alias_key),
            RendezvousSeed(link.rendezvous_seed),
            &mut rng,
        );
        let secrets = crate::invitation::decode_invitation(&link.account_invitation)?;
        let mut linked = Self::with_identity(rng, identity, secrets, home)?;
        // The new device knows where its sibling is; the sibling learns the new device from
        // the Member and mailbox entries it is sent.
        let account_group = linked.account_group;
        // ingesting the sibling's Member and mailbox entries sends it this device's log
        linked.ingest_entries(account_group, &link.sibling_metadata)?;
        linked.record(Input::LinkedDevice { home, link });
        Ok(linked)
    }

    fn with_identity(
        mut rng: ChaCha20Rng,
        identity: Identity,
        account_secrets: GroupSecrets,
        home: MailboxAddress,
    ) -> Result<Self> {
        let (mut session, _) = GroupSession::account(
            &mut rng,
            account_secrets,
            identity.account_key(),
            identity.device_key(),
        )?;
        session.announce_mailbox(&mut rng, home.provider, home.mailbox)?;
        let account_group = session.group_id();
        let mut device = Self {
            identity,
            home,
            rng,
            period: RotationPeriod::default(),
            gate: ContactRequestGate::new(),
            auto_accept: false,
            requests_out: BTreeMap::new(),
            requests_in: BTreeMap::new(),
            contacts: BTreeMap::new(),
            groups: BTreeMap::new(),
            account_group,
            outbox: Vec::new(),
            events: Vec::new(),
            stats: WeshStats::default(),
            journal: Vec::new(),
            history_cursors: BTreeMap::new(),
        };
        device
            .groups
            .insert(account_group, GroupState::new(session, GroupRole::Account));
        Ok(device)
    }

    pub fn account_id(&self) -> [u8; 32] {
        self.identity.account_id()
    }
    pub fn device_id(&self) -> [u8; 32] {
        self.identity.device_key().verifying_key().to_bytes()
    }
    pub fn home(&self) -> MailboxAddress {
        self.home
    }
    pub fn account_group(&self) -> [u8; 32] {
        self.account_group
    }
    /// What the journal checks after each input: the RNG position, the group and contact
    /// counts, and a digest of the rest of the state's shape (home, settings, handshakes in
    /// progress, each group's logs, messages and deliveries). Counts rather than contents:
    /// cheap enough to take around every input, and a replay that went another way
    /// almost always differs in one of them.
    pub(super) fn check(&self) -> Check {
        let mut w = Writer::new();
        w.bytes(&self.home.provider)
            .bytes(&self.home.mailbox)
            .u8(u8::from(self.auto_accept))
            .u64(self.period.secs());
        // handshakes and their steps (some steps move without drawing randomness)
        let requester_at = |step: fn(&RequesterStep) -> bool| {
            self.requests_out.values().filter(|f| step(&f.step)).count() as u64
        };
        let responder_at = |step: fn(&ResponderStep) -> bool| {
            self.requests_in.values().filter(|f| step(&f.step)).count() as u64
        };
        w.u64(self.requests_out.len() as u64)
            .u64(requester_at(|s| matches!(s, RequesterStep::Hello(_))))
            .u64(self.requests_in.len() as u64)
            .u64(responder_at(|s| matches!(s, ResponderStep::Decision(..))))
            .u64(responder_at(|s| matches!(s, ResponderStep::Acknowledge(_))));
        for (id, g) in &self.groups {
            let s = &g.session;
            w.bytes(id);
            for n in [
                s.metadata_log().len(),
                s.message_log().len(),
                s.unopened_len(),
                s.held_len(),
                g.messages.len(),
                g.deferred.len(),
                g.pushed.len(),
                g.pushed_replicas.len(),
            ] {
                w.u64(n as u64);
            }
        }
        let digest = sha256(&[w.as_slice()]);
        Check {
            rng_position: self.rng.get_word_pos(),
            groups: u32::try_from(self.groups.len()).unwrap_or(u32::MAX),
            contacts: u32::try_from(self.contacts.len()).unwrap_or(u32::MAX),
            digest: digest.first_chunk().copied().map(u64::from_be_bytes),
        }
    }

    /// Journals an input that cannot fail.
    fn record(&mut self, input: Input) {
        let check = self.check();
        self.journal.push(JournalRecord { input, check });
    }

    /// Journals an input that succeeded, or failed after changing state (its replay must
    /// change it the same way). A refusal that changed nothing is left out, so garbage
    /// from the network does not grow the journal.
    fn record_outcome(&mut self, before: Check, ok: bool, input: impl FnOnce() -> Input) {
        let check = self.check();
        if ok || check != before {
            self.journal.push(JournalRecord {
                input: input(),
                check,
            });
        }
    }

    /// Runs `run` and journals `input` by [`Self::record_outcome`]'s rule.
    fn journaled<T>(
        &mut self,
        input: impl FnOnce() -> Input,
        run: impl FnOnce(&mut Self) -> Result<T>,
    ) -> Result<T> {
        let before = self.check();
        let result = run(self);
        self.record_outcome(before, result.is_ok(), input);
        result
    }

    /// The journal records of the inputs taken since the last call, oldest first: append
    /// them to durable storage before sending what [`Self::take_outgoing`] returns, and
    /// [`WeshDevice::restore`] rebuilds this device from all of them. The device keeps
    /// them until they are taken.
    pub fn take_journal(&mut self) -> Vec<JournalRecord> {
        std::mem::take(&mut self.journal)
    }

    /// Drops what replaying an input produced (it went out the first time).
    pub(super) fn drop_outputs(&mut self) {
        self.outbox.clear();
        self.events.clear();
        self.journal.clear();
    }

    /// The last record, if the journal has grown beyond `len` records.
    pub(super) fn record_beyond(&mut self, len: usize) -> Option<JournalRecord> {
        if self.journal.len() > len {
            self.journal.pop()
        } else {
            None
        }
    }

    pub(super) fn journal_len(&self) -> usize {
        self.journal.len()
    }

    pub fn stats(&self) -> &WeshStats {
        &self.stats
    }
    /// Accept every authenticated contact request without asking the app.
    pub fn set_auto_accept(&mut self, on: bool) {
        self.auto_accept = on;
        self.record(Input::SetAutoAccept { on });
    }
    /// Rotation period of the public rendezvous point (default 24 h).
    pub fn set_rotation_period(&mut self, period: RotationPeriod) {
        self.period = period;
        self.record(Input::SetRotationPeriod { period });
    }
    pub fn take_outgoing(&mut self) -> Vec<Outgoing> {
        std::mem::take(&mut self.outbox)
    }
    pub fn take_events(&mut self) -> Vec<WeshEvent> {
        std::mem::take(&mut self.events)
    }
    /// Contact account IDs and their contact group IDs.
    pub fn contacts(&self) -> &BTreeMap<[u8; 32], [u8; 32]> {
        &self.contacts
    }
    /// IDs of every group this device is in (account, contact and multi-member).
    pub fn group_ids(&self) -> Vec<[u8; 32]> {
        self.groups.keys().copied().collect()
    }

    fn group(&self, id: &[u8; 32]) -> Result<&GroupState> {
        self.groups
            .get(id)
            .ok_or(WeshError::InvalidParameter("unknown group"))
    }
    fn group_mut(&mut self, id: &[u8; 32]) -> Result<&mut GroupState> {
        self.groups
            .get_mut(id)
            .ok_or(WeshError::InvalidParameter("unknown group"))
    }

    // ------------------------------------------------------------------ contacts

    /// ContactRequestReference: the contact card to share (account ID and rendezvous seed).
    pub fn contact_request_reference(&self) -> Vec<u8> {
        self.identity.contact_card().encode()
    }

    /// Where this device must keep its rendezvous registration now (give it to a
    /// `RendezvousRegistrar`; the address changes with rotation and seed renewal).
    pub fn rendezvous_registration(
        &self,
        now: u64,
        providers: &[[u8; 32]],
    ) -> Result<RendezvousRegistration> {
        let point = self.identity.public_rendezvous_point(now, self.period);
        registration(self.identity.account_key(), point, providers)
    }

    /// Renews the rendezvous seed: old contact cards stop working, and the old rendezvous
    /// registration is revoked (the registrar does it when the registration changes).
    pub fn renew_rendezvous_seed(&mut self) {
        self.identity.renew_rendezvous_seed(&mut self.rng);
        self.record(Input::RenewRendezvousSeed);
    }

    /// ContactRequestSend: starts the handshake with the owner of `card`.
    pub fn contact_request_send(
        &mut self,
        card: &[u8],
        now: u64,
        providers: &[[u8; 32]],
    ) -> Result<()> {
        self.journaled(
            || Input::ContactRequestSend {
                card: card.to_vec(),
                now,
                providers: providers.to_vec(),
            },
            |d| d.start_contact_request(card, now, providers),
        )
    }

    fn start_contact_request(
        &mut self,
        card: &[u8],
        now: u64,
        providers: &[[u8; 32]],
    ) -> Result<()> {
        let card = ContactCard::decode(card)?;
        let responder = card.account_id;
        if responder.to_bytes() == self.account_id() {
            return Err(WeshError::InvalidParameter(
                "cannot add yourself as a contact",
            ));
        }
        if self.contacts.contains_key(responder.as_bytes()) {
            return Err(WeshError::InvalidParameter("already a contact"));
        }
        if self.requests_out.len() >= MAX_PENDING_HANDSHAKES {
            return Err(WeshError::InvalidParameter(
                "too many contact requests in progress",
            ));
        }
        let rdv = rendezvous_address(&card.rendezvous_point(now, self.period), providers)?;
        let direct =
            crate::direct::DirectKey::derive(&card.rendezvous_seed.0, responder.as_bytes())?;
        let (state, hello) = start_request(
            &mut self.rng,
            self.identity.account_key(),
            self.identity.alias_public(),
            responder,
        );
        let mut flow = [0u8; FLOW_ID_LEN];
        self.rng.fill_bytes(&mut flow);
        let reply = Some(ReplyTo {
            address: self.home,
            device: self.device_id(),
        });
        self.send_to_rendezvous(rdv, &responder, flow, reply, hello)?;
        self.requests_out.insert(
            flow,
            RequesterFlow {
                step: RequesterStep::Hello(state),
                rdv,
                responder,
                direct,
            },
        );
        Ok(())
    }

    /// Contact requests waiting for the app's decision: requester account IDs.
    pub fn contact_requests_pending(&self) -> Vec<[u8; 32]> {
        self.requests_in
            .values()
            .filter_map(|f| match &f.step {
                ResponderStep::Decision(s, _) => Some(s.requester().account_id.to_bytes()),
                _ => None,
            })
            .collect()
    }

    fn flow_of_requester(&self, account: &[u8; 32]) -> Option<[u8; FLOW_ID_LEN]> {
        self.requests_in.iter().find_map(|(flow, f)| match &f.step {
            ResponderStep::Decision(s, _) if s.requester().account_id.as_bytes() == account => {
                Some(*flow)
            }
            _ => None,
        })
    }

    /// ContactRequestAccept: sends the Accept to a requester that proved its identity.
    pub fn contact_request_accept(&mut self, account: &[u8; 32]) -> Result<()> {
        self.journaled(
            || Input::ContactRequestAccept { account: *account },
            |d| d.accept_flow(d.pending_flow(account)?),
        )
    }

    /// ContactRequestDiscard: forgets a pending request (the requester hears nothing).
    pub fn contact_request_discard(&mut self, account: &[u8; 32]) -> Result<()> {
        self.journaled(
            || Input::ContactRequestDiscard { account: *account },
            |d| {
                let flow = d.pending_flow(account)?;
                d.requests_in.remove(&flow);
                Ok(())
            },
        )
    }

    fn pending_flow(&self, account: &[u8; 32]) -> Result<[u8; FLOW_ID_LEN]> {
        self.flow_of_requester(account)
            .ok_or(WeshError::InvalidParameter(
                "no pending contact request from this account",
            ))
    }

    fn accept_flow(&mut self, flow: [u8; FLOW_ID_LEN]) -> Result<()> {
        let Some(f) = self.requests_in.remove(&flow) else {
            return Err(WeshError::InvalidParameter("unknown handshake"));
        };
        let ResponderStep::Decision(state, accept) = f.step else {
            self.requests_in.insert(flow, f);
            return Err(WeshError::InvalidParameter(
                "handshake not awaiting a decision",
            ));
        };
        let device = verifying_key(&f.reply.device, "requester device")?;
        self.send_handshake(f.reply.address, &device, flow, None, accept)?;
        self.requests_in.insert(
            flow,
            ResponderFlow {
                step: ResponderStep::Acknowledge(state),
                reply: f.reply,
            },
        );
        Ok(())
    }

    fn send_handshake(
        &mut self,
        to: MailboxAddress,
        key: &VerifyingKey,
        flow: [u8; FLOW_ID_LEN],
        reply: Option<ReplyTo>,
        message: Vec<u8>,
    ) -> Result<()> {
        let inner = Inner::Handshake {
            flow,
            reply,
            message,
        };
        let sealed = seal_to(&mut self.rng, key, &inner.encode())?;
        self.outbox.push(Outgoing {
            to,
            bytes: Outer::Sealed(sealed).encode(),
            kind: OutgoingKind::Handshake,
        });
        Ok(())
    }

    /// A requester's handshake message: dropped at the rendezvous provider's desk for the
    /// rendezvous mailbox `rdv`, which forwards it to the responder on its reply SURBs.
    fn send_to_rendezvous(
        &mut self,
        rdv: MailboxAddress,
        key: &VerifyingKey,
        flow: [u8; FLOW_ID_LEN],
        reply: Option<ReplyTo>,
        message: Vec<u8>,
    ) -> Result<()> {
        self.send_handshake(rdv, key, flow, reply, message)?;
        if let Some(out) = self.outbox.last_mut() {
            out.bytes = RendezvousFrame::Drop {
                mailbox: rdv.mailbox,
                envelope: std::mem::take(&mut out.bytes),
            }
            .encode();
            out.to = MailboxAddress {
                provider: rdv.provider,
                mailbox: rendezvous_service_mailbox(),
            };
        }
        Ok(())
    }

    fn on_handshake(
        &mut self,
        to_account: bool,
        flow: [u8; FLOW_ID_LEN],
        reply: Option<ReplyTo>,
        message: &[u8],
    ) -> Result<()> {
        let tag = *message
            .get(1)
            .ok_or(WeshError::Decode(DecodeError::Truncated {
                have: 0,
                need: 2,
            }))?;
        match (to_account, tag) {
            (true, TAG_REQUESTER_HELLO) => {
                let reply = reply.ok_or(WeshError::InvalidParameter("hello without reply"))?;
                if self.requests_in.contains_key(&flow) {
                    return Err(WeshError::Replay);
                }
                if self.requests_in.len() >= MAX_PENDING_HANDSHAKES {
                    return Err(WeshError::InvalidParameter(
                        "too many handshakes in progress",
                    ));
                }
                let (state, answer) = self.gate.on_hello(
                    &mut self.rng,
                    self.identity.account_key(),
                    self.identity.alias_public(),
                    message,
                )?;
                let device = verifying_key(&reply.device, "requester device")?;
                self.send_handshake(reply.address, &device, flow, None, answer)?;
                self.requests_in.insert(
                    flow,
                    ResponderFlow {
                        step: ResponderStep::Authenticate(state),
                        reply,
                    },
                );
                Ok(())
            }
            (true, TAG_REQUESTER_AUTHENTICATE) => {
                let f = self.requests_in.remove(&flow).ok_or(WeshError::Replay)?;
                let ResponderStep::Authenticate(state) = f.step else {
                    self.requests_in.insert(flow, f);
                    return Err(WeshError::Replay);
                };
                let (next, accept) = state.on_authenticate(&self.gate, message)?;
                let account = next.requester().account_id.to_bytes();
                if self.contacts.contains_key(&account) {
                    return Err(WeshError::InvalidParameter("already a contact"));
                }
                self.requests_in.insert(
                    flow,
                    ResponderFlow {
                        step: ResponderStep::Decision(next, accept),
                        reply: f.reply,
                    },
                );
                if self.auto_accept {
                    self.accept_flow(flow)
                } else {
                    self.events
                        .push(WeshEvent::ContactRequestReceived { account });
                    Ok(())
                }
            }
            (true, TAG_REQUESTER_ACKNOWLEDGE) => {
                let f = self.requests_in.remove(&flow).ok_or(WeshError::Replay)?;
                let ResponderStep::Acknowledge(state) = f.step else {
                    self.requests_in.insert(flow, f);
                    return Err(WeshError::Replay);
                };
                let contact = state.on_acknowledge(message)?;
                self.establish(&contact, Some(f.reply))
            }
            (false, TAG_RESPONDER_HELLO) => {
                let f = self.requests_out.remove(&flow).ok_or(WeshError::Replay)?;
                let RequesterStep::Hello(state) = f.step else {
                    self.requests_out.insert(flow, f);
                    return Err(WeshError::Replay);
                };
                let (next, auth) = state.on_responder_hello(message)?;
                self.send_to_rendezvous(f.rdv, &f.responder, flow, None, auth)?;
                self.requests_out.insert(
                    flow,
                    RequesterFlow {
                        step: RequesterStep::Accept(next),
                        ..f
                    },
                );
                Ok(())
            }
            (false, TAG_RESPONDER_ACCEPT) => {
                let f = self.requests_out.remove(&flow).ok_or(WeshError::Replay)?;
                let RequesterStep::Accept(state) = f.step else {
                    self.requests_out.insert(flow, f);
                    return Err(WeshError::Replay);
                };
                let (contact, ack) = state.on_accept(message)?;
                self.send_to_rendezvous(f.rdv, &f.responder, flow, None, ack)?;
                self.establish(&contact, None)
            }
            _ => Err(WeshError::InvalidParameter("unexpected handshake message")),
        }
    }

    /// Creates the contact group, announces this device's mailbox in it, and (responder)
    /// sends the first entries to the requester's mailbox.
    fn establish(&mut self, contact: &EstablishedContact, reply: Option<ReplyTo>) -> Result<()> {
        let account = contact.account_id.to_bytes();
        let (mut session, mut entries) = GroupSession::contact(
            &mut self.rng,
            self.identity.account_key(),
            self.identity.device_key(),
            &contact.account_id,
        )?;
        entries.extend(session.announce_mailbox(
            &mut self.rng,
            self.home.provider,
            self.home.mailbox,
        )?);
        let group_id = session.group_id();
        let mut state = GroupState::new(session, GroupRole::Contact);
        if let Some(reply) = reply {
            let device = verifying_key(&reply.device, "requester device")?;
            state.pushed.insert(reply.device);
            let all = state.session.metadata_entries();
            self.groups.insert(group_id, state);
            self.send_entries_to(reply.address, &device, group_id, all)?;
        } else {
            self.groups.insert(group_id, state);
        }
        self.contacts.insert(account, group_id);
        self.events
            .push(WeshEvent::ContactEstablished { account, group_id });
        self.sync_to_account(AccountSync::Contact {
            account,
            metadata: self.group(&group_id)?.session.metadata_entries(),
        })?;
        Ok(())
    }

    // ------------------------------------------------------------------ groups

    /// MultiMemberGroupCreate: a new group with this device as its first member.
    pub fn multi_member_group_create(&mut self) -> Result<[u8; 32]> {
        self.journaled(|| Input::MultiMemberGroupCreate, Self::create_group)
    }

    fn create_group(&mut self) -> Result<[u8; 32]> {
        let (mut session, _) =
            GroupSession::create_multi_member(&mut self.rng, self.identity.account_key())?;
        session.announce_mailbox(&mut self.rng, self.home.provider, self.home.mailbox)?;
        let group_id = session.group_id();
        self.groups
            .insert(group_id, GroupState::new(session, GroupRole::MultiMember));
        self.events.push(WeshEvent::GroupJoined { group_id });
        self.sync_group_to_account(group_id)?;
        Ok(group_id)
    }

    /// MultiMemberGroupInvitationCreate: the group's secrets and where to reach this device
    /// (share it over a secure channel, such as a contact group).
    pub fn multi_member_group_invitation_create(&self, group_id: &[u8; 32]) -> Result<Vec<u8>> {
        let state = self.group(group_id)?;
        if state.role != GroupRole::MultiMember {
            return Err(WeshError::InvalidParameter("not a multi-member group"));
        }
        Ok(MixnetInvitation {
            group: state.session.invitation(),
            inviter_device: state.session.device_id(),
            inviter: self.home,
        }
        .encode())
    }

    /// MultiMemberGroupJoin: joins from an invitation and introduces this device to the
    /// inviter, which answers with the group's metadata.
    pub fn multi_member_group_join(&mut self, invitation: &[u8]) -> Result<[u8; 32]> {
        self.journaled(
            || Input::MultiMemberGroupJoin {
                invitation: invitation.to_vec(),
            },
            |d| d.join_group(invitation),
        )
    }

    fn join_group(&mut self, invitation: &[u8]) -> Result<[u8; 32]> {
        let inv = MixnetInvitation::decode(invitation)?;
        let (mut session, _) = GroupSession::join_multi_member(
            &mut self.rng,
            &inv.group,
            self.identity.account_key(),
        )?;
        let group_id = session.group_id();
        if self.groups.contains_key(&group_id) {
            return Err(WeshError::InvalidParameter(
                "already a member of this group",
            ));
        }
        session.announce_mailbox(&mut self.rng, self.home.provider, self.home.mailbox)?;
        let mut state = GroupState::new(session, GroupRole::MultiMember);
        let inviter = verifying_key(&inv.inviter_device, "inviter device")?;
        let mine = state.session.metadata_entries();
        if inv.inviter_device != state.session.device_id() {
            state.pushed.insert(inv.inviter_device);
        }
        self.groups.insert(group_id, state);
        self.send_entries_to(inv.inviter, &inviter, group_id, mine)?;
        self.events.push(WeshEvent::GroupJoined { group_id });
        self.sync_group_to_account(group_id)?;
        Ok(group_id)
    }

    /// AppMessageSend: seals `payload` into the group's message log and sends it.
    pub fn app_message_send(&mut self, group_id: &[u8; 32], payload: &[u8]) -> Result<()> {
        self.journaled(
            || Input::AppMessageSend {
                group: *group_id,
                payload: payload.to_vec(),
            },
            |d| d.send_app_message(group_id, payload),
        )
    }

    fn send_app_message(&mut self, group_id: &[u8; 32], payload: &[u8]) -> Result<()> {
        if *group_id == self.account_group {
            return Err(WeshError::InvalidParameter(
                "the account group carries no app messages",
            ));
        }
        let state = self
            .groups
            .get_mut(group_id)
            .ok_or(WeshError::InvalidParameter("unknown group"))?;
        if state.role == GroupRole::Contact && state.session.members().len() < 2 {
            if state.deferred.len() >= MAX_DEFERRED_MESSAGES {
                return Err(WeshError::InvalidParameter(
                    "too many messages waiting for the contact to join its group",
                ));
            }
            state.deferred.push(payload.to_vec());
            self.stats.messages_deferred += 1;
            return Ok(());
        }
        let entry = state.session.send_message(&mut self.rng, payload)?;
        let device_id = self.group(group_id)?.session.device_id();
        let member_id = self.group(group_id)?.session.member_id();
        self.stats.messages_sent += 1;
        let state = self.group_mut(group_id)?;
        let counter = state.messages.iter().filter(|m| m.own).count() as u64;
        state.messages.push(GroupMessage {
            group_id: *group_id,
            member_id,
            device_id,
            counter,
            payload: payload.to_vec(),
            own: true,
        });
        self.publish(*group_id, vec![entry])
    }

    /// The view a replication provider needs for `group_id` (verifies, cannot read).
    pub fn replication_view(
        &self,
        group_id: &[u8; 32],
    ) -> Result<crate::replication::ReplicationView> {
        let state = self.group(group_id)?;
        if state.role == GroupRole::Account {
            return Err(WeshError::InvalidParameter(
                "the account group is not replicated",
            ));
        }
        Ok(state.session.replication_view())
    }

    /// ReplicationServiceRegisterGroup's request for `provider`: the view and this
    /// member's proof (signed with the group's entry key), which only that provider takes.
    pub fn replication_registration(
        &self,
        group_id: &[u8; 32],
        provider: [u8; 32],
    ) -> Result<crate::replication::ReplicaRegistration> {
        self.replication_view(group_id)?;
        let state = self.group(group_id)?;
        Ok(crate::replication::ReplicaRegistration::sign(
            state.session.secrets(),
            provider,
        ))
    }

    /// ReplicationServiceRegisterGroup (the member's half): adds `provider` as the group's
    /// replication provider and sends it the log. Returns the view to register there (it
    /// lets the provider verify entries, not read them).
    pub fn replication_register_group(
        &mut self,
        group_id: &[u8; 32],
        provider: [u8; 32],
    ) -> Result<crate::replication::ReplicationView> {
        self.journaled(
            || Input::ReplicationRegisterGroup {
                group: *group_id,
                provider,
            },
            |d| d.register_replica(group_id, provider),
        )
    }

    fn register_replica(
        &mut self,
        group_id: &[u8; 32],
        provider: [u8; 32],
    ) -> Result<crate::replication::ReplicationView> {
        let mailbox = replica_mailbox(group_id);
        let state = self
            .groups
            .get_mut(group_id)
            .ok_or(WeshError::InvalidParameter("unknown group"))?;
        let view = state.session.replication_view();
        let entries = state
            .session
            .add_replica(&mut self.rng, provider, mailbox)?;
        self.publish(*group_id, entries)?;
        self.push_log_to_new_replicas(*group_id)?;
        Ok(view)
    }

    /// GroupMessageList: the app messages opened so far, in arrival order.
    pub fn group_message_list(&self, group_id: &[u8; 32]) -> Result<&[GroupMessage]> {
        Ok(&self.group(group_id)?.messages)
    }

    /// GroupMetadataList, summarised: members, devices, mailboxes, replicas.
    pub fn group_metadata(&self, group_id: &[u8; 32]) -> Result<GroupMetadataView> {
        let s = &self.group(group_id)?;
        Ok(GroupMetadataView {
            group_id: *group_id,
            role: s.role,
            members: s.session.members().clone(),
            device_mailboxes: s
                .session
                .device_mailboxes()
                .map(|(d, provider, mailbox)| (d, MailboxAddress { provider, mailbox }))
                .collect(),
            readable_devices: s
                .session
                .members()
                .values()
                .flatten()
                .filter(|d| **d != s.session.device_id() && s.session.has_chain_for(d))
                .copied()
                .collect(),
            replicas: s
                .session
                .replicas()
                .iter()
                .map(|(provider, mailbox)| MailboxAddress {
                    provider: *provider,
                    mailbox: *mailbox,
                })
                .collect(),
            metadata_entries: s.session.metadata_log().len(),
            message_entries: s.session.message_log().len(),
        })
    }

    // ------------------------------------------------------------------ sending

    /// Sends `entries` this device wrote to every other member device and every replica.
    fn publish(&mut self, group_id: [u8; 32], entries: Vec<Vec<u8>>) -> Result<()> {
        self.publish_where(group_id, entries, |_| true)
    }

    /// Sends `entries` to the other member devices `keep` selects, and to every replica.
    fn publish_where(
        &mut self,
        group_id: [u8; 32],
        entries: Vec<Vec<u8>>,
        keep: impl Fn(&[u8; 32]) -> bool,
    ) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let session = &self.group(&group_id)?.session;
        let targets = device_targets(session, keep);
        let replicas = replica_addresses(session);
        for (device, address) in targets {
            let key = verifying_key(&device, "member device")?;
            self.send_entries_to(address, &key, group_id, entries.clone())?;
        }
        for address in replicas {
            self.send_replica(address, group_id, entries.clone());
        }
        Ok(())
    }

    fn send_entries_to(
        &mut self,
        to: MailboxAddress,
        device: &VerifyingKey,
        group_id: [u8; 32],
        entries: Vec<Vec<u8>>,
    ) -> Result<()> {
        for batch in batches(entries, ENVELOPE_TARGET_BYTES) {
            let count = batch.len();
            let inner = Inner::GroupEntries {
                group_id,
                entries: batch,
            };
            let sealed = seal_to(&mut self.rng, device, &inner.encode())?;
            self.outbox.push(Outgoing {
                to,
                bytes: Outer::Sealed(sealed).encode(),
                kind: OutgoingKind::Entries { group_id, count },
            });
        }
        Ok(())
    }

    fn send_replica(&mut self, to: MailboxAddress, group_id: [u8; 32], entries: Vec<Vec<u8>>) {
        for batch in batches(entries, ENVELOPE_TARGET_BYTES) {
            let count = batch.len();
            self.outbox.push(Outgoing {
                to,
                bytes: Outer::Replica {
                    group_id,
                    entries: batch,
                }
                .encode(),
                kind: OutgoingKind::Replica { group_id, count },
            });
        }
    }

    /// Sends the metadata log and this device's messages to member devices (and replicas)
    /// that have not had them yet.
    fn push_log_to_new_devices(&mut self, group_id: [u8; 32], push: LogPush) -> Result<usize> {
        let state = self.group_mut(&group_id)?;
        let pushed = &state.pushed;
        let fresh = device_targets(&state.session, |d| !pushed.contains(d));
        if fresh.is_empty() {
            return Ok(0);
        }
        let me = state.session.device_id();
        let metadata: Vec<([u8; 32], Vec<u8>)> = state
            .session
            .metadata_entries_by_writer()
            .into_iter()
            .filter(|(writer, _)| push == LogPush::Whole || *writer == me)
            .collect();
        let messages = state.session.own_message_entries();
        for (device, _) in &fresh {
            state.pushed.insert(*device);
        }
        let n = fresh.len();
        for (device, address) in fresh {
            let key = verifying_key(&device, "member device")?;
            // what it wrote itself, it has
            let mut log: Vec<Vec<u8>> = metadata
                .iter()
                .filter(|(writer, _)| *writer != device)
                .map(|(_, e)| e.clone())
                .collect();
            log.extend(messages.iter().cloned());
            self.send_entries_to(address, &key, group_id, log)?;
        }
        Ok(n)
    }

    /// Sends this device's `responses` to the devices it already knew (and to the
    /// replicas), with the `introduction` of new devices for the devices: the entries a
    /// new device announced itself with, so the others learn of it now instead of from
    /// the new device once it has learnt of them, a trip later.
    fn respond_to_known(
        &mut self,
        group_id: [u8; 32],
        responses: Vec<Vec<u8>>,
        introduction: Vec<Vec<u8>>,
        known: &BTreeSet<[u8; 32]>,
    ) -> Result<()> {
        if introduction.is_empty() {
            return self.publish_where(group_id, responses, |d| known.contains(d));
        }
        let session = &self.group(&group_id)?.session;
        let targets = device_targets(session, |d| known.contains(d));
        let replicas = replica_addresses(session);
        let mut bundle = introduction;
        bundle.extend(responses.iter().cloned());
        for (device, address) in targets {
            let key = verifying_key(&device, "member device")?;
            self.send_entries_to(address, &key, group_id, bundle.clone())?;
        }
        if !responses.is_empty() {
            for address in replicas {
                self.send_replica(address, group_id, responses.clone());
            }
        }
        Ok(())
    }

    fn push_log_to_new_replicas(&mut self, group_id: [u8; 32]) -> Result<()> {
        let state = self.group_mut(&group_id)?;
        let fresh: Vec<MailboxAddress> = replica_addresses(&state.session)
            .into_iter()
            .filter(|a| !state.pushed_replicas.contains(a))
            .collect();
        if fresh.is_empty() {
            return Ok(());
        }
        let mut log = state.session.metadata_entries();
        log.extend(state.session.own_message_entries());
        for a in &fresh {
            state.pushed_replicas.insert(*a);
        }
        for a in fresh {
            self.send_replica(a, group_id, log.clone());
        }
        Ok(())
    }

    // ------------------------------------------------------------------ receiving

    /// Handles one reassembled mixnet message from one of this device's mailboxes.
    /// Refusals are counted in [`WeshStats`] and returned; nothing refused is stored.
    pub fn on_message(&mut self, bytes: &[u8]) -> Result<()> {
        self.journaled(
            || Input::Message {
                bytes: bytes.to_vec(),
            },
            |d| d.receive(bytes),
        )
    }

    fn receive(&mut self, bytes: &[u8]) -> Result<()> {
        self.stats.envelopes_received += 1;
        let opened = match Outer::decode(bytes) {
            Ok(Outer::Sealed(sealed)) => self.open_sealed(&sealed),
            Ok(Outer::Replica { .. }) => Err(WeshError::InvalidParameter(
                "replication envelope sent to a device",
            )),
            Err(e) => Err(e),
        };
        let inner = opened.and_then(|(to_account, plain)| Ok((to_account, Inner::decode(&plain)?)));
        let (to_account, inner) = match inner {
            Ok(x) => x,
            Err(e) => {
                self.stats.refused_envelope += 1;
                return Err(e);
            }
        };
        match inner {
            Inner::GroupEntries { group_id, entries } if !to_account => {
                if !self.groups.contains_key(&group_id) {
                    self.stats.refused_unknown_group += 1;
                    return Err(WeshError::InvalidParameter("entries for an unknown group"));
                }
                self.ingest_entries(group_id, &entries)
            }
            Inner::GroupEntries { .. } => {
                self.stats.refused_envelope += 1;
                Err(WeshError::InvalidParameter(
                    "group entries sealed to the account key",
                ))
            }
            Inner::Handshake {
                flow,
                reply,
                message,
            } => {
                let r = self.on_handshake(to_account, flow, reply, &message);
                if r.is_err() {
                    self.stats.refused_handshake += 1;
                }
                r
            }
        }
    }

    /// Tries this device's keys: its device key (contact and account groups, handshake
    /// answers), its account key (rendezvous), then each multi-member group's device key
    /// (per group, so that members of two groups cannot link this device across them).
    fn open_sealed(&self, sealed: &[u8]) -> Result<(bool, Vec<u8>)> {
        if let Ok(plain) = open_with(self.identity.device_key(), sealed) {
            return Ok((false, plain));
        }
        if let Ok(plain) = open_with(self.identity.account_key(), sealed) {
            return Ok((true, plain));
        }
        self.groups
            .values()
            .filter(|g| g.role == GroupRole::MultiMember)
            .find_map(|g| open_with(g.session.device_key(), sealed).ok())
            .map(|plain| (false, plain))
            .ok_or(WeshError::DecryptionFailed("sealed box"))
    }

    /// Entries of `group_id` from history (a replication provider, a direct link): the
    /// same checks as entries from the mixnet.
    pub fn ingest_history(&mut self, group_id: [u8; 32], entries: Vec<Vec<u8>>) -> Result<()> {
        let before = self.check();
        let result = if self.groups.contains_key(&group_id) {
            self.ingest_entries(group_id, &entries)
        } else {
            self.stats.refused_unknown_group += 1;
            Err(WeshError::InvalidParameter("history for an unknown group"))
        };
        self.record_outcome(before, result.is_ok(), || Input::History {
            group: group_id,
            entries,
        });
        result
    }

    /// The last history sequence number taken from `provider` for `group_id` (0: none).
    pub fn history_cursor(&self, group_id: &[u8; 32], provider: &[u8; 32]) -> u64 {
        self.history_cursors
            .get(&(*group_id, *provider))
            .copied()
            .unwrap_or(0)
    }

    /// Moves the history cursor of (`group_id`, `provider`) to `last` (journaled; a
    /// cursor never goes back, so a stale answer changes nothing). Outside the journal's
    /// state digest: records written before cursors existed keep their checks.
    pub fn set_history_cursor(&mut self, group_id: [u8; 32], provider: [u8; 32], last: u64) {
        if last <= self.history_cursor(&group_id, &provider) {
            return;
        }
        self.history_cursors.insert((group_id, provider), last);
        self.record(Input::HistoryCursor {
            group: group_id,
            provider,
            last,
        });
    }

    fn ingest_entries(&mut self, group_id: [u8; 32], entries: &[Vec<u8>]) -> Result<()> {
        let mut responses = Vec::new();
        let mut opened = Vec::new();
        let mut first_error = None;
        let mut sync = Vec::new();
        let me = self.group(&group_id)?.session.device_id();
        let is_account = group_id == self.account_group;
        // Metadata first: messages need the chain keys and devices it brings.
        let state = self
            .groups
            .get_mut(&group_id)
            .ok_or(WeshError::InvalidParameter("unknown group"))?;
        let mut sorted: Vec<(LogKind, [u8; 32], &[u8])> = Vec::with_capacity(entries.len());
        let mut accepted = 0u64;
        let mut duplicate = 0u64;
        let mut invalid = 0u64;
        // metadata entries new to us, with their writer (to tell an announcement)
        let mut new_metadata: Vec<([u8; 32], Vec<u8>)> = Vec::new();
        for e in entries {
            match state.session.entry_origin(e) {
                Ok((kind, writer)) => sorted.push((kind, writer, e.as_slice())),
                Err(err) => {
                    invalid += 1;
                    first_error.get_or_insert(err);
                }
            }
        }
        sorted.sort_by_key(|(k, _, _)| *k != LogKind::Metadata);
        for (kind, writer, e) in sorted {
            let before = match kind {
                LogKind::Metadata => state.session.metadata_log().len(),
                LogKind::Message => state.session.message_log().len(),
            };
            let result = match kind {
                LogKind::Metadata => state.session.ingest_metadata(&mut self.rng, e).map(|out| {
                    responses.extend(out);
                    None
                }),
                LogKind::Message => state.session.ingest_message(e),
            };
            let after = match kind {
                LogKind::Metadata => state.session.metadata_log().len(),
                LogKind::Message => state.session.message_log().len(),
            };
            if after > before && kind == LogKind::Metadata {
                new_metadata.push((writer, e.to_vec()));
            }
            match result {
                Ok(m) => {
                    if after > before {
                        accepted += 1;
                    } else {
                        duplicate += 1;
                    }
                    if let Some(m) = m {
                        opened.push(m);
                    }
                }
                // kept, opened later when the sender's chain key or device arrives
                Err(
                    WeshError::MissingChainKey
                    | WeshError::CounterBeyondWindow { .. }
                    | WeshError::UnknownDevice,
                ) => {
                    accepted += 1;
                }
                Err(err) => {
                    if after > before {
                        // stored but had no effect (its dependencies may come later)
                        accepted += 1;
                    } else {
                        invalid += 1;
                        first_error.get_or_insert(err);
                    }
                }
            }
        }
        opened.extend(state.session.retry_unopened());
        for m in opened {
            let msg = GroupMessage {
                group_id,
                member_id: m.member_id,
                device_id: m.device_id,
                counter: m.counter,
                payload: m.plaintext,
                own: m.device_id == me,
            };
            if msg.own {
                continue;
            }
            if is_account {
                sync.push(msg.payload);
            } else {
                state.messages.push(msg.clone());
                self.events.push(WeshEvent::MessageReceived(msg));
                self.stats.messages_received += 1;
            }
        }
        self.stats.entries_accepted += accepted;
        self.stats.entries_duplicate += duplicate;
        self.stats.refused_invalid_entry += invalid;
        // New devices get the log (the responses are in it); the others just the
        // responses, and the announcement of the new devices if it came from them.
        let known_before: BTreeSet<[u8; 32]> = self.group(&group_id)?.pushed.clone();
        let fresh: BTreeSet<[u8; 32]> = {
            let session = &self.group(&group_id)?.session;
            device_targets(session, |d| !known_before.contains(d))
                .into_iter()
                .map(|(d, _)| d)
                .collect()
        };
        let announced = !is_account
            && !fresh.is_empty()
            && !new_metadata.is_empty()
            && new_metadata.iter().all(|(w, _)| fresh.contains(w));
        // deferred messages first, so that the log pushed to new devices holds them
        self.send_deferred(&group_id)?;
        let push = if is_account || announced {
            LogPush::Whole
        } else {
            LogPush::OwnEntries
        };
        let new_devices = self.push_log_to_new_devices(group_id, push)?;
        let introduction = if announced {
            new_metadata.into_iter().map(|(_, e)| e).collect()
        } else {
            Vec::new()
        };
        self.respond_to_known(group_id, responses, introduction, &known_before)?;
        self.push_log_to_new_replicas(group_id)?;
        if is_account && new_devices > 0 {
            // A new sibling cannot open what was posted before it shared chain keys with
            // us (forward secrecy of the ratchet): post the current state again.
            self.resync_account()?;
        }
        for payload in sync {
            if let Err(e) = self.apply_account_sync(&payload) {
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Sends a contact group's deferred messages once the contact's member is known.
    fn send_deferred(&mut self, group_id: &[u8; 32]) -> Result<()> {
        let state = self.group_mut(group_id)?;
        if state.deferred.is_empty() || state.session.members().len() < 2 {
            return Ok(());
        }
        for payload in std::mem::take(&mut state.deferred) {
            self.send_app_message(group_id, &payload)?;
        }
        Ok(())
    }

    // ------------------------------------------------------------------ linked devices

    fn resync_account(&mut self) -> Result<()> {
        let contacts: Vec<([u8; 32], [u8; 32])> =
            self.contacts.iter().map(|(a, g)| (*a, *g)).collect();
        for (account, group_id) in contacts {
            let metadata = self.group(&group_id)?.session.metadata_entries();
            self.sync_to_account(AccountSync::Contact { account, metadata })?;
        }
        let groups: Vec<[u8; 32]> = self
            .groups
            .iter()
            .filter(|(_, g)| g.role == GroupRole::MultiMember)
            .map(|(id, _)| *id)
            .collect();
        for g in groups {
            self.sync_group_to_account(g)?;
        }
        Ok(())
    }

    fn sync_group_to_account(&mut self, group_id: [u8; 32]) -> Result<()> {
        let state = self.group(&group_id)?;
        let sync = AccountSync::Group {
            invitation: state.session.invitation(),
            metadata: state.session.metadata_entries(),
        };
        self.sync_to_account(sync)
    }

    /// Posts a contact or group to the account group, so the account's other devices
    /// (now or linked later) follow it.
    fn sync_to_account(&mut self, sync: AccountSync) -> Result<()> {
        let account_group = self.account_group;
        let state = self
            .groups
            .get_mut(&account_group)
            .ok_or(WeshError::InvalidParameter("unknown group"))?;
        let entry = state.session.send_message(&mut self.rng, &sync.encode())?;
        self.publish(account_group, vec![entry])
    }

    fn apply_account_sync(&mut self, payload: &[u8]) -> Result<()> {
        match AccountSync::decode(payload)? {
            AccountSync::Contact { account, metadata } => {
                if self.contacts.contains_key(&account) {
                    return Ok(());
                }
                let their = verifying_key(&account, "contact account")?;
                let (mut session, _) = GroupSession::contact(
                    &mut self.rng,
                    self.identity.account_key(),
                    self.identity.device_key(),
                    &their,
                )?;
                session.announce_mailbox(&mut self.rng, self.home.provider, self.home.mailbox)?;
                let group_id = session.group_id();
                self.groups
                    .insert(group_id, GroupState::new(session, GroupRole::Contact));
                self.contacts.insert(account, group_id);
                self.events
                    .push(WeshEvent::ContactEstablished { account, group_id });
                self.ingest_entries(group_id, &metadata)
            }
            AccountSync::Group {
                invitation,
                metadata,
            } => {
                let secrets = crate::invitation::decode_invitation(&invitation)?;
                if self.groups.contains_key(&secrets.group_id_bytes()) {
                    return Ok(());
                }
                let (mut session, _) = GroupSession::join_multi_member(
                    &mut self.rng,
                    &invitation,
                    self.identity.account_key(),
                )?;
                session.announce_mailbox(&mut self.rng, self.home.provider, self.home.mailbox)?;
                let group_id = session.group_id();
                self.groups
                    .insert(group_id, GroupState::new(session, GroupRole::MultiMember));
                self.events.push(WeshEvent::GroupJoined { group_id });
                self.ingest_entries(group_id, &metadata)
            }
        }
    }
}

/// Other member devices of the session (not this one) that `keep` selects, with their
/// mailboxes.
fn device_targets(
    session: &GroupSession,
    keep: impl Fn(&[u8; 32]) -> bool,
) -> Vec<([u8; 32], MailboxAddress)> {
    let me = session.device_id();
    session
        .device_mailboxes()
        .filter(|(d, _, _)| *d != me && keep(d))
        .map(|(d, provider, mailbox)| (d, MailboxAddress { provider, mailbox }))
        .collect()
}

/// The group's replication mailboxes.
fn replica_addresses(session: &GroupSession) -> Vec<MailboxAddress> {
    session
        .replicas()
        .iter()
        .map(|(provider, mailbox)| MailboxAddress {
            provider: *provider,
            mailbox: *mailbox,
        })
        .collect()
}

impl GroupState {
    fn new(session: GroupSession, role: GroupRole) -> Self {
        Self {
            session,
            role,
            pushed: BTreeSet::new(),
            pushed_replicas: BTreeSet::new(),
            messages: Vec::new(),
            deferred: Vec::new(),
        }
    }
}
