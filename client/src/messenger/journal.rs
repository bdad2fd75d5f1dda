//! The input journal of a [`WeshDevice`]: how a device survives a restart.
//!
//! **Why a journal.** A device is deterministic: its 32-byte seed fixes its RNG, and its
//! state (keys, ratchets, logs, handshakes) is a function of the inputs it took: API calls
//! with their `now` and provider lists, mixnet messages, history. So the device records
//! each state-changing input as a [`JournalRecord`] ([`WeshDevice::take_journal`] drains
//! them), the node appends them to its database, and [`WeshDevice::restore`] rebuilds the
//! device at start by replaying them with the outputs thrown away (they were sent the first
//! time). Against a snapshot of the state after every change, the journal is append-only
//! and costs O(1) per input (the input's own bytes), needs no serialization of ratchets and
//! logs, and cannot store a half-written state. The price is the replay: a restart redoes
//! every input's work (signature checks, sealed boxes), so it grows with the account's
//! history.
//!
//! **What records hold.** The inputs verbatim: contact cards, invitations, app payloads
//! in clear, received messages, and a linked device's account and alias keys. The journal
//! is as secret as the keys; keep it where the seed is kept.
//!
//! **What is journaled.** Every `&mut self` call that can change the device: the API calls
//! (`contact_request_*`, `multi_member_group_*`, `app_message_send`,
//! `replication_register_group`, `renew_rendezvous_seed`, `set_auto_accept`,
//! `set_rotation_period`), the history cursors of the app (`set_history_cursor`: where
//! the last history fetch from each replication provider ended) and deliveries (`on_message`, `ingest_history`), when they
//! succeed or when they fail after changing state (a handshake step that consumed its
//! flow, a batch with some good entries, RNG output drawn). A refusal that changed
//! nothing (garbage, a message for another device or an unknown group) is left out, so
//! spam does not grow the journal. The first record says how the device was made
//! ([`Input::NewAccount`], or [`Input::LinkedDevice`] for a device made by
//! [`WeshDevice::link_new_device`]); a journal without one is a new account's (the
//! node's journals before it existed). `link_new_device` changes nothing on the device it
//! is called on, so it journals nothing there.
//!
//! **Checks.** Each record carries a [`Check`] of the device after the input: its RNG
//! position, group and contact counts, and a digest of its state's shape (home,
//! settings, handshakes in progress, each group's log sizes, messages and deliveries). A
//! replay that diverges, because a record was damaged or the code now does something else
//! with an input, stops with [`RestoreError::Diverged`] naming the record, instead of
//! rebuilding a device whose keys and counters differ from what its peers know. The state
//! uses ordered maps only, since a per-process hash order would make replays differ.
//!
//! **Stats.** [`super::WeshStats`] after a restore count what the replay did: refusals
//! that were not journaled are not counted again.
//!
//! **Format.** `version ‖ check ‖ tag ‖ fields`, big-endian, every variable field
//! length-prefixed. Version 2 carries the digest; version 1 (written before it existed) is
//! still read. Tag 15 (history cursor) was added within version 2: journals written
//! before it load unchanged, older code refuses a journal holding one (unknown tag). Lengths are bounded by the bytes present, not by fixed caps: a record the
//! device wrote must always decode, or one odd input would make the account
//! unrestorable.

use std::borrow::Borrow;

use thiserror::Error;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::{MailboxAddress, WeshDevice};
use crate::codec::{Reader, Writer};
use crate::error::{DecodeError, WeshError};
use crate::rendezvous::RotationPeriod;

/// Record without the state digest.
const VERSION_WITHOUT_DIGEST: u8 = 1;
/// Current record version.
const VERSION: u8 = 2;

/// One state-changing input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// How the device was made: [`WeshDevice::new_account`] (first record only).
    NewAccount {
        home: MailboxAddress,
    },
    /// How the device was made: [`WeshDevice::link_new_device`] (first record only).
    LinkedDevice {
        home: MailboxAddress,
        link: DeviceLink,
    },
    ContactRequestSend {
        card: Vec<u8>,
        now: u64,
        providers: Vec<[u8; 32]>,
    },
    ContactRequestAccept {
        account: [u8; 32],
    },
    ContactRequestDiscard {
        account: [u8; 32],
    },
    MultiMemberGroupCreate,
    MultiMemberGroupJoin {
        invitation: Vec<u8>,
    },
    AppMessageSend {
        group: [u8; 32],
        payload: Vec<u8>,
    },
    ReplicationRegisterGroup {
        group: [u8; 32],
        provider: [u8; 32],
    },
    Message {
        bytes: Vec<u8>,
    },
    History {
        group: [u8; 32],
        entries: Vec<Vec<u8>>,
    },
    RenewRendezvousSeed,
    SetAutoAccept {
        on: bool,
    },
    SetRotationPeriod {
        period: RotationPeriod,
    },
    /// The history of `group` at replication provider `provider` was taken up to
    /// sequence number `last` ([`WeshDevice::set_history_cursor`]).
    HistoryCursor {
        group: [u8; 32],
        provider: [u8; 32],
        last: u64,
    },
}

/// What a linked device was made from: its account's shared secrets and its sibling's
/// account group log at the time. Secret; wiped on drop and not printed.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct DeviceLink {
    pub(crate) account_key: [u8; 32],
    pub(crate) alias_key: [u8; 32],
    pub(crate) rendezvous_seed: [u8; 32],
    pub(crate) account_invitation: Vec<u8>,
    pub(crate) sibling_metadata: Vec<Vec<u8>>,
}

/// Tag of an encoded link code (`version ‖ 0x36 ‖ fields`).
pub const TAG_LINK_CODE: u8 = 0x36;

impl DeviceLink {
    fn write(&self, w: &mut Writer) {
        w.bytes(&self.account_key)
            .bytes(&self.alias_key)
            .bytes(&self.rendezvous_seed)
            .var_bytes(&self.account_invitation);
        write_list(w, &self.sibling_metadata);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(DeviceLink {
            account_key: r.array()?,
            alias_key: r.array()?,
            rendezvous_seed: r.array()?,
            account_invitation: read_field(r, "account invitation")?,
            sibling_metadata: read_list(r, "sibling metadata")?,
        })
    }

    /// The link code a new device is made from (`version ‖ 0x36 ‖ account key ‖ alias key
    /// ‖ rendezvous seed ‖ account invitation ‖ sibling metadata`): the whole account's
    /// secrets, to move over a secure channel only; wiped on drop.
    pub fn encode(&self) -> zeroize::Zeroizing<Vec<u8>> {
        let mut w = Writer::new();
        w.u8(crate::params::WIRE_VERSION).u8(TAG_LINK_CODE);
        self.write(&mut w);
        zeroize::Zeroizing::new(w.finish())
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        r.version()?;
        let tag = r.u8()?;
        if tag != TAG_LINK_CODE {
            return Err(DecodeError::UnknownTag {
                what: "link code",
                tag,
            });
        }
        let link = Self::read(&mut r)?;
        r.finish()?;
        Ok(link)
    }
}

impl core::fmt::Debug for DeviceLink {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DeviceLink")
            .field("sibling_metadata", &self.sibling_metadata.len())
            .finish_non_exhaustive()
    }
}

/// What the device looked like after an input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Check {
    /// The RNG's word position: every key, nonce and ephemeral drawn moves it.
    pub rng_position: u128,
    pub groups: u32,
    pub contacts: u32,
    /// Truncated SHA-256 of the state's shape; `None` in version-1 records.
    pub digest: Option<u64>,
}

impl Check {
    /// Whether a replay that reached `got` did what this record says.
    pub fn matches(&self, got: &Check) -> bool {
        self.rng_position == got.rng_position
            && self.groups == got.groups
            && self.contacts == got.contacts
            && self.digest.is_none_or(|d| got.digest == Some(d))
    }
}

/// One journaled input and the device's check after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalRecord {
    pub input: Input,
    pub check: Check,
}

/// Why a journal could not rebuild its device.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RestoreError {
    /// A record is not a journal record (damaged, or written by a newer version).
    #[error("journal record {index}: {source}")]
    Decode { index: usize, source: DecodeError },
    /// Replaying the record did not leave the device as it was the first time (the
    /// record was changed, or this code treats the input differently).
    #[error(
        "journal record {index}: the replay diverged (expected {expected:?}, got {got:?}); this version cannot rebuild the account"
    )]
    Diverged {
        index: usize,
        expected: Check,
        got: Check,
    },
    /// The journal is of a device receiving at `recorded`, not at the home given.
    #[error(
        "journal record {index}: the device receives at mailbox {} of provider {}, not at the home given",
        hex::encode(recorded.mailbox),
        hex::encode(recorded.provider)
    )]
    HomeMismatch {
        index: usize,
        recorded: MailboxAddress,
    },
    /// The creation record (or the new account) could not make a device.
    #[error("journal record {index}: cannot make the device: {source}")]
    Create { index: usize, source: WeshError },
    /// A creation record after the first.
    #[error("journal record {index}: only the first record can make the device")]
    MisplacedCreation { index: usize },
}

/// What an input returned: the group it created or joined, if any.
pub type Applied = crate::Result<Option<[u8; 32]>>;

/// Gives `input` to `device`: the API call or delivery it records (the device journals it
/// itself). Creation records make devices, they are not inputs to one.
pub fn apply(device: &mut WeshDevice, input: &Input) -> Applied {
    let done = |r: crate::Result<()>| r.map(|()| None);
    match input {
        Input::NewAccount { .. } | Input::LinkedDevice { .. } => Err(WeshError::InvalidParameter(
            "a creation record is not an input to a device",
        )),
        Input::ContactRequestSend {
            card,
            now,
            providers,
        } => done(device.contact_request_send(card, *now, providers)),
        Input::ContactRequestAccept { account } => done(device.contact_request_accept(account)),
        Input::ContactRequestDiscard { account } => done(device.contact_request_discard(account)),
        Input::MultiMemberGroupCreate => device.multi_member_group_create().map(Some),
        Input::MultiMemberGroupJoin { invitation } => {
            device.multi_member_group_join(invitation).map(Some)
        }
        Input::AppMessageSend { group, payload } => done(device.app_message_send(group, payload)),
        Input::ReplicationRegisterGroup { group, provider } => device
            .replication_register_group(group, *provider)
            .map(|_| None),
        Input::Message { bytes } => done(device.on_message(bytes)),
        Input::History { group, entries } => done(device.ingest_history(*group, entries.clone())),
        Input::RenewRendezvousSeed => {
            device.renew_rendezvous_seed();
            Ok(None)
        }
        Input::SetAutoAccept { on } => {
            device.set_auto_accept(*on);
            Ok(None)
        }
        Input::SetRotationPeriod { period } => {
            device.set_rotation_period(*period);
            Ok(None)
        }
        Input::HistoryCursor {
            group,
            provider,
            last,
        } => {
            device.set_history_cursor(*group, *provider, *last);
            Ok(None)
        }
    }
}

/// Applies `input` and returns, with the call's result, the record it added to the
/// device's journal (None if it was refused without changing anything). For a shell that
/// journals input by input; records already waiting in the device stay there.
pub fn apply_and_record(device: &mut WeshDevice, input: Input) -> (Applied, Option<JournalRecord>) {
    let waiting = device.journal_len();
    let result = apply(device, &input);
    (result, device.record_beyond(waiting))
}

/// [`WeshDevice::restore`] from encoded records (decoded one at a time).
pub fn restore(
    seed: [u8; 32],
    home: MailboxAddress,
    records: &[Vec<u8>],
) -> Result<WeshDevice, RestoreError> {
    replay(
        seed,
        home,
        records.iter().enumerate().map(|(index, bytes)| {
            JournalRecord::decode(bytes).map_err(|source| RestoreError::Decode { index, source })
        }),
    )
}

impl WeshDevice {
    /// Rebuilds a device from its seed, its home mailbox and every record of its journal,
    /// oldest first (an empty journal gives a new account). Replays each input, checks
    /// the device against the record after each, and drops what the replay produced:
    /// after it, [`Self::take_outgoing`], [`Self::take_events`] and
    /// [`Self::take_journal`] are empty.
    pub fn restore(
        seed: [u8; 32],
        home: MailboxAddress,
        records: &[JournalRecord],
    ) -> Result<Self, RestoreError> {
        replay(seed, home, records.iter().map(Ok))
    }
}

fn replay<R: Borrow<JournalRecord>>(
    seed: [u8; 32],
    home: MailboxAddress,
    records: impl IntoIterator<Item = Result<R, RestoreError>>,
) -> Result<WeshDevice, RestoreError> {
    let mut device = None;
    for (index, record) in records.into_iter().enumerate() {
        let record = record?;
        let record = record.borrow();
        let mut d = match device.take() {
            None => first_device(seed, home, &record.input)?,
            Some(_) if is_creation(&record.input) => {
                return Err(RestoreError::MisplacedCreation { index });
            }
            Some(mut d) => {
                // the first run's result is known and irrelevant: only the state matters
                let _ = apply(&mut d, &record.input);
                d
            }
        };
        let got = d.check();
        if !record.check.matches(&got) {
            return Err(RestoreError::Diverged {
                index,
                expected: record.check,
                got,
            });
        }
        d.drop_outputs();
        device = Some(d);
    }
    let mut device = match device {
        Some(d) => d,
        None => WeshDevice::new_account(seed, home)
            .map_err(|source| RestoreError::Create { index: 0, source })?,
    };
    device.drop_outputs();
    Ok(device)
}

fn is_creation(input: &Input) -> bool {
    matches!(input, Input::NewAccount { .. } | Input::LinkedDevice { .. })
}

/// The device after the journal's first record: the one it makes, or a new account that
/// took it (journals written before creation records existed).
fn first_device(
    seed: [u8; 32],
    home: MailboxAddress,
    input: &Input,
) -> Result<WeshDevice, RestoreError> {
    let create = |source| RestoreError::Create { index: 0, source };
    let same_home = |recorded: &MailboxAddress| {
        if *recorded == home {
            Ok(())
        } else {
            Err(RestoreError::HomeMismatch {
                index: 0,
                recorded: *recorded,
            })
        }
    };
    match input {
        Input::NewAccount { home: recorded } => {
            same_home(recorded)?;
            WeshDevice::new_account(seed, home).map_err(create)
        }
        Input::LinkedDevice {
            home: recorded,
            link,
        } => {
            same_home(recorded)?;
            WeshDevice::from_link(seed, home, link.clone()).map_err(create)
        }
        _ => {
            let mut d = WeshDevice::new_account(seed, home).map_err(create)?;
            let _ = apply(&mut d, input);
            Ok(d)
        }
    }
}

const T_CONTACT_SEND: u8 = 1;
const T_CONTACT_ACCEPT: u8 = 2;
const T_CONTACT_DISCARD: u8 = 3;
const T_GROUP_CREATE: u8 = 4;
const T_GROUP_JOIN: u8 = 5;
const T_APP_MESSAGE: u8 = 6;
const T_REPLICATION: u8 = 7;
const T_MESSAGE: u8 = 8;
const T_HISTORY: u8 = 9;
const T_RENEW_SEED: u8 = 10;
const T_AUTO_ACCEPT: u8 = 11;
const T_ROTATION_PERIOD: u8 = 12;
const T_NEW_ACCOUNT: u8 = 13;
const T_LINKED_DEVICE: u8 = 14;
const T_HISTORY_CURSOR: u8 = 15;

fn len_u32(n: usize) -> u32 {
    // nothing the device takes comes near 4 GiB or 4 G items (mixnet messages are ≤ 4 MiB)
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn write_home(w: &mut Writer, home: &MailboxAddress) {
    w.bytes(&home.provider).bytes(&home.mailbox);
}

fn read_home(r: &mut Reader<'_>) -> Result<MailboxAddress, DecodeError> {
    Ok(MailboxAddress {
        provider: r.array()?,
        mailbox: r.array()?,
    })
}

fn write_list(w: &mut Writer, items: &[Vec<u8>]) {
    w.u32(len_u32(items.len()));
    for item in items {
        w.var_bytes(item);
    }
}

/// A length-prefixed field: as long as the record holds (see the module doc).
fn read_field(r: &mut Reader<'_>, what: &'static str) -> Result<Vec<u8>, DecodeError> {
    Ok(r.var_bytes(what, 0, usize::MAX)?.to_vec())
}

/// A count of items of at least `item_len` bytes each, no more than the record holds
/// (so garbage cannot make the decoder allocate).
fn read_count(
    r: &mut Reader<'_>,
    what: &'static str,
    item_len: usize,
) -> Result<usize, DecodeError> {
    let n = r.u32()? as usize;
    if n.saturating_mul(item_len) > r.remaining() {
        return Err(DecodeError::LengthOutOfRange { what, len: n });
    }
    Ok(n)
}

fn read_list(r: &mut Reader<'_>, what: &'static str) -> Result<Vec<Vec<u8>>, DecodeError> {
    let n = read_count(r, what, 4)?;
    (0..n).map(|_| read_field(r, what)).collect()
}

impl JournalRecord {
    /// `version ‖ rng position u128 ‖ groups u32 ‖ contacts u32 ‖ [digest u64, version 2]
    /// ‖ tag ‖ fields`.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        let c = &self.check;
        w.u8(if c.digest.is_some() {
            VERSION
        } else {
            VERSION_WITHOUT_DIGEST
        })
        .bytes(&c.rng_position.to_be_bytes())
        .u32(c.groups)
        .u32(c.contacts);
        if let Some(d) = c.digest {
            w.u64(d);
        }
        match &self.input {
            Input::NewAccount { home } => {
                w.u8(T_NEW_ACCOUNT);
                write_home(&mut w, home);
            }
            Input::LinkedDevice { home, link } => {
                w.u8(T_LINKED_DEVICE);
                write_home(&mut w, home);
                link.write(&mut w);
            }
            Input::ContactRequestSend {
                card,
                now,
                providers,
            } => {
                w.u8(T_CONTACT_SEND).var_bytes(card).u64(*now);
                w.u32(len_u32(providers.len()));
                for p in providers {
                    w.bytes(p);
                }
            }
            Input::ContactRequestAccept { account } => {
                w.u8(T_CONTACT_ACCEPT).bytes(account);
            }
            Input::ContactRequestDiscard { account } => {
                w.u8(T_CONTACT_DISCARD).bytes(account);
            }
            Input::MultiMemberGroupCreate => {
                w.u8(T_GROUP_CREATE);
            }
            Input::MultiMemberGroupJoin { invitation } => {
                w.u8(T_GROUP_JOIN).var_bytes(invitation);
            }
            Input::AppMessageSend { group, payload } => {
                w.u8(T_APP_MESSAGE).bytes(group).var_bytes(payload);
            }
            Input::ReplicationRegisterGroup { group, provider } => {
                w.u8(T_REPLICATION).bytes(group).bytes(provider);
            }
            Input::Message { bytes } => {
                w.u8(T_MESSAGE).var_bytes(bytes);
            }
            Input::History { group, entries } => {
                w.u8(T_HISTORY).bytes(group);
                write_list(&mut w, entries);
            }
            Input::RenewRendezvousSeed => {
                w.u8(T_RENEW_SEED);
            }
            Input::SetAutoAccept { on } => {
                w.u8(T_AUTO_ACCEPT).u8(u8::from(*on));
            }
            Input::SetRotationPeriod { period } => {
                w.u8(T_ROTATION_PERIOD).u64(period.secs());
            }
            Input::HistoryCursor {
                group,
                provider,
                last,
            } => {
                w.u8(T_HISTORY_CURSOR)
                    .bytes(group)
                    .bytes(provider)
                    .u64(*last);
            }
        }
        w.finish()
    }

    /// Decodes one record; any malformed input gives a typed error.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let version = r.u8()?;
        if version != VERSION && version != VERSION_WITHOUT_DIGEST {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let rng_position = u128::from_be_bytes(r.array()?);
        let groups = r.u32()?;
        let contacts = r.u32()?;
        let digest = if version == VERSION {
            Some(r.u64()?)
        } else {
            None
        };
        let check = Check {
            rng_position,
            groups,
            contacts,
            digest,
        };
        let input = match r.u8()? {
            T_NEW_ACCOUNT => Input::NewAccount {
                home: read_home(&mut r)?,
            },
            T_LINKED_DEVICE => Input::LinkedDevice {
                home: read_home(&mut r)?,
                link: DeviceLink::read(&mut r)?,
            },
            T_CONTACT_SEND => {
                let card = read_field(&mut r, "contact card")?;
                let now = r.u64()?;
                let n = read_count(&mut r, "provider list", 32)?;
                let providers = (0..n).map(|_| r.array()).collect::<Result<_, _>>()?;
                Input::ContactRequestSend {
                    card,
                    now,
                    providers,
                }
            }
            T_CONTACT_ACCEPT => Input::ContactRequestAccept {
                account: r.array()?,
            },
            T_CONTACT_DISCARD => Input::ContactRequestDiscard {
                account: r.array()?,
            },
            T_GROUP_CREATE => Input::MultiMemberGroupCreate,
            T_GROUP_JOIN => Input::MultiMemberGroupJoin {
                invitation: read_field(&mut r, "invitation")?,
            },
            T_APP_MESSAGE => Input::AppMessageSend {
                group: r.array()?,
                payload: read_field(&mut r, "payload")?,
            },
            T_REPLICATION => Input::ReplicationRegisterGroup {
                group: r.array()?,
                provider: r.array()?,
            },
            T_MESSAGE => Input::Message {
                bytes: read_field(&mut r, "message")?,
            },
            T_HISTORY => Input::History {
                group: r.array()?,
                entries: read_list(&mut r, "history entries")?,
            },
            T_RENEW_SEED => Input::RenewRendezvousSeed,
            T_AUTO_ACCEPT => match r.u8()? {
                0 => Input::SetAutoAccept { on: false },
                1 => Input::SetAutoAccept { on: true },
                tag => {
                    return Err(DecodeError::UnknownTag {
                        what: "auto-accept flag",
                        tag,
                    });
                }
            },
            T_ROTATION_PERIOD => Input::SetRotationPeriod {
                period: RotationPeriod::from_secs(r.u64()?)
                    .map_err(|_| DecodeError::NonCanonical("rotation period of 0 s"))?,
            },
            T_HISTORY_CURSOR => Input::HistoryCursor {
                group: r.array()?,
                provider: r.array()?,
                last: r.u64()?,
            },
            tag => {
                return Err(DecodeError::UnknownTag {
                    what: "journal record",
                    tag,
                });
            }
        };
        r.finish()?;
        Ok(JournalRecord { input, check })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    fn bytes() -> impl Strategy<Value = Vec<u8>> {
        vec(any::<u8>(), 0..40)
    }

    fn home() -> impl Strategy<Value = MailboxAddress> {
        (any::<[u8; 32]>(), any::<[u8; 32]>())
            .prop_map(|(provider, mailbox)| MailboxAddress { provider, mailbox })
    }

    fn input() -> impl Strategy<Value = Input> {
        prop_oneof![
            home().prop_map(|home| Input::NewAccount { home }),
            (home(), any::<[[u8; 32]; 3]>(), bytes(), vec(bytes(), 0..4)).prop_map(
                |(home, [a, b, c], inv, meta)| Input::LinkedDevice {
                    home,
                    link: DeviceLink {
                        account_key: a,
                        alias_key: b,
                        rendezvous_seed: c,
                        account_invitation: inv,
                        sibling_metadata: meta,
                    },
                }
            ),
            (bytes(), any::<u64>(), vec(any::<[u8; 32]>(), 0..4)).prop_map(
                |(card, now, providers)| Input::ContactRequestSend {
                    card,
                    now,
                    providers
                }
            ),
            any::<[u8; 32]>().prop_map(|account| Input::ContactRequestAccept { account }),
            any::<[u8; 32]>().prop_map(|account| Input::ContactRequestDiscard { account }),
            Just(Input::MultiMemberGroupCreate),
            bytes().prop_map(|invitation| Input::MultiMemberGroupJoin { invitation }),
            (any::<[u8; 32]>(), bytes())
                .prop_map(|(group, payload)| Input::AppMessageSend { group, payload }),
            (any::<[u8; 32]>(), any::<[u8; 32]>())
                .prop_map(|(group, provider)| Input::ReplicationRegisterGroup { group, provider }),
            bytes().prop_map(|bytes| Input::Message { bytes }),
            (any::<[u8; 32]>(), vec(bytes(), 0..4))
                .prop_map(|(group, entries)| Input::History { group, entries }),
            Just(Input::RenewRendezvousSeed),
            any::<bool>().prop_map(|on| Input::SetAutoAccept { on }),
            (1..=u64::MAX).prop_map(|s| Input::SetRotationPeriod {
                period: RotationPeriod::from_secs(s).unwrap()
            }),
            (any::<[u8; 32]>(), any::<[u8; 32]>(), any::<u64>()).prop_map(
                |(group, provider, last)| Input::HistoryCursor {
                    group,
                    provider,
                    last
                }
            ),
        ]
    }

    fn record() -> impl Strategy<Value = JournalRecord> {
        (
            input(),
            any::<u128>(),
            any::<u32>(),
            any::<u32>(),
            any::<Option<u64>>(),
        )
            .prop_map(
                |(input, rng_position, groups, contacts, digest)| JournalRecord {
                    input,
                    check: Check {
                        rng_position,
                        groups,
                        contacts,
                        digest,
                    },
                },
            )
    }

    proptest! {
        #[test]
        fn records_round_trip(r in record()) {
            let bytes = r.encode();
            prop_assert_eq!(JournalRecord::decode(&bytes).unwrap(), r);
            // every strict prefix is refused with an error
            for cut in 0..bytes.len() {
                prop_assert!(JournalRecord::decode(&bytes[..cut]).is_err());
            }
        }

        #[test]
        fn random_bytes_decode_without_panicking(bytes in vec(any::<u8>(), 0..300)) {
            if let Ok(r) = JournalRecord::decode(&bytes) {
                // one encoding per record
                prop_assert_eq!(r.encode(), bytes);
            }
        }

        #[test]
        fn damaged_records_decode_without_panicking(
            r in record(),
            at in any::<prop::sample::Index>(),
            flip in 1..=255u8,
        ) {
            let mut bytes = r.encode();
            let i = at.index(bytes.len());
            bytes[i] ^= flip;
            if let Ok(d) = JournalRecord::decode(&bytes) {
                prop_assert_eq!(d.encode(), bytes);
            }
        }
    }

    #[test]
    fn version_1_records_are_read() {
        // as the node wrote them before the digest: version 1, check, tag, fields
        let mut w = Writer::new();
        w.u8(1)
            .bytes(&7u128.to_be_bytes())
            .u32(2)
            .u32(1)
            .u8(T_AUTO_ACCEPT)
            .u8(1);
        let r = JournalRecord::decode(&w.finish()).unwrap();
        assert_eq!(r.input, Input::SetAutoAccept { on: true });
        assert_eq!(r.check.digest, None);
        let got = Check {
            digest: Some(9),
            ..r.check
        };
        assert!(r.check.matches(&got), "no digest to compare");
        assert!(!got.matches(&r.check));
    }

    #[test]
    fn counts_beyond_the_record_are_refused_before_allocating() {
        let mut w = Writer::new();
        w.u8(VERSION)
            .bytes(&[0; 16])
            .u32(0)
            .u32(0)
            .u64(0)
            .u8(T_HISTORY)
            .bytes(&[0; 32])
            .u32(u32::MAX);
        assert!(matches!(
            JournalRecord::decode(&w.finish()),
            Err(DecodeError::LengthOutOfRange { .. })
        ));
    }
}
