//! The input journal of a [`WeshDevice`]: how a device survives a restart.
//!
//! A device is deterministic: its seed fixes its RNG, and its state is a function of the
//! inputs it took (API calls with their `now`, mixnet messages, history). So instead of
//! snapshotting the state (keys, ratchets, logs) after every change, the node appends
//! each state-changing input to a journal (O(1) per input, append-only) and rebuilds the
//! device at start by replaying it ([`restore`]) with the outputs thrown away (they were
//! sent the first time).
//!
//! Each record carries a [`Check`] of the device after the input (its RNG position and
//! its group and contact counts): a replay that diverges, because the code changed what
//! an input does or a record was damaged, stops with [`JournalError::Diverged`] naming
//! the record instead of rebuilding a device whose keys differ from what its peers know.
//!
//! Records hold app payloads in clear and contact cards: the journal is as secret as the
//! keys. Mixnet messages refused before any state changed (not addressed to this
//! device, unknown group) are not journaled ([`worth_keeping`]), so garbage does not grow
//! it. Refusal counters ([`super::WeshStats`]) restart from what the replay counts.
//! Not journaled (the node never calls them): `link_new_device`, `set_rotation_period`.

use super::{WeshDevice, WeshStats};
use crate::codec::{Reader, Writer};
use crate::error::DecodeError;
use thiserror::Error;

/// Longest record field (a mixnet message, a payload), in bytes: the mixnet's largest
/// message (4 MiB) with room to spare.
pub const MAX_RECORD_FIELD: usize = 8 << 20;
/// Most history entries in one record.
pub const MAX_HISTORY_ENTRIES: usize = 65_536;
/// Most providers listed in one contact request record.
pub const MAX_PROVIDERS: usize = 4096;
const RECORD_VERSION: u8 = 1;

/// One state-changing input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
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
}

/// What the device looked like after an input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Check {
    pub rng_position: u128,
    pub groups: u32,
    pub contacts: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalRecord {
    pub input: Input,
    pub check: Check,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum JournalError {
    #[error("journal record {index}: {source}")]
    Decode { index: usize, source: DecodeError },
    #[error(
        "journal record {index}: the replay diverged (expected {expected:?}, got {got:?}); the account cannot be rebuilt by this version"
    )]
    Diverged {
        index: usize,
        expected: Check,
        got: Check,
    },
    #[error("cannot create the account: {0}")]
    Create(String),
}

/// The check of `device` now.
pub fn check_of(device: &WeshDevice) -> Check {
    let (rng_position, groups, contacts) = device.journal_state();
    Check {
        rng_position,
        groups: u32::try_from(groups).unwrap_or(u32::MAX),
        contacts: u32::try_from(contacts).unwrap_or(u32::MAX),
    }
}

/// What an input returned: the group it created or joined, if any.
pub type Applied = crate::Result<Option<[u8; 32]>>;

/// Gives `input` to `device` (what the API call or the network delivery does).
pub fn apply(device: &mut WeshDevice, input: &Input) -> Applied {
    let done = |r: crate::Result<()>| r.map(|()| None);
    match input {
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
    }
}

/// Whether an input that gave `result` must be journaled: any success, and any failure
/// that may have changed state. A message refused before it was opened (not for this
/// device, or for a group it is not in) changed nothing but counters.
pub fn worth_keeping(
    before: &WeshStats,
    after: &WeshStats,
    check_before: Check,
    check_after: Check,
    input: &Input,
    result: &Applied,
) -> bool {
    if result.is_ok() || check_before != check_after {
        return true;
    }
    match input {
        Input::Message { .. } => {
            after.refused_envelope == before.refused_envelope
                && after.refused_unknown_group == before.refused_unknown_group
        }
        // the API's own calls fail before they change anything (bad argument, unknown
        // group), except through the RNG, which the check covers
        _ => false,
    }
}

/// Applies `input` and returns the record to journal, if any, with the call's result.
pub fn apply_and_record(device: &mut WeshDevice, input: Input) -> (Applied, Option<JournalRecord>) {
    let stats_before = device.stats().clone();
    let check_before = check_of(device);
    let result = apply(device, &input);
    let check = check_of(device);
    let keep = worth_keeping(
        &stats_before,
        device.stats(),
        check_before,
        check,
        &input,
        &result,
    );
    (result, keep.then_some(JournalRecord { input, check }))
}

/// Rebuilds a device from its seed, its home mailbox and its journal (a new account when
/// the journal is empty). Outputs of the replay are dropped.
pub fn restore(
    seed: [u8; 32],
    home: super::MailboxAddress,
    records: &[Vec<u8>],
) -> Result<WeshDevice, JournalError> {
    let mut device =
        WeshDevice::new_account(seed, home).map_err(|e| JournalError::Create(e.to_string()))?;
    for (index, bytes) in records.iter().enumerate() {
        let record = JournalRecord::decode(bytes)
            .map_err(|source| JournalError::Decode { index, source })?;
        // the first run's result is known and irrelevant: only the state matters
        let _ = apply(&mut device, &record.input);
        let got = check_of(&device);
        if got != record.check {
            return Err(JournalError::Diverged {
                index,
                expected: record.check,
                got,
            });
        }
        device.take_outgoing();
        device.take_events();
    }
    Ok(device)
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

impl JournalRecord {
    /// `version ‖ rng position u128 ‖ groups u32 ‖ contacts u32 ‖ tag ‖ fields`.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u8(RECORD_VERSION)
            .bytes(&self.check.rng_position.to_be_bytes())
            .u32(self.check.groups)
            .u32(self.check.contacts);
        match &self.input {
            Input::ContactRequestSend {
                card,
                now,
                providers,
            } => {
                w.u8(T_CONTACT_SEND).var_bytes(card).u64(*now);
                w.u32(u32::try_from(providers.len()).unwrap_or(u32::MAX));
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
                w.u32(u32::try_from(entries.len()).unwrap_or(u32::MAX));
                for e in entries {
                    w.var_bytes(e);
                }
            }
            Input::RenewRendezvousSeed => {
                w.u8(T_RENEW_SEED);
            }
            Input::SetAutoAccept { on } => {
                w.u8(T_AUTO_ACCEPT).u8(u8::from(*on));
            }
        }
        w.finish()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let v = r.u8()?;
        if v != RECORD_VERSION {
            return Err(DecodeError::UnsupportedVersion(v));
        }
        let check = Check {
            rng_position: u128::from_be_bytes(r.array()?),
            groups: r.u32()?,
            contacts: r.u32()?,
        };
        let field = |r: &mut Reader<'_>, what| -> Result<Vec<u8>, DecodeError> {
            Ok(r.var_bytes(what, 0, MAX_RECORD_FIELD)?.to_vec())
        };
        let input = match r.u8()? {
            T_CONTACT_SEND => {
                let card = field(&mut r, "contact card")?;
                let now = r.u64()?;
                let n = r.u32()? as usize;
                if n > MAX_PROVIDERS {
                    return Err(DecodeError::LengthOutOfRange {
                        what: "provider list",
                        len: n,
                    });
                }
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
                invitation: field(&mut r, "invitation")?,
            },
            T_APP_MESSAGE => Input::AppMessageSend {
                group: r.array()?,
                payload: field(&mut r, "payload")?,
            },
            T_REPLICATION => Input::ReplicationRegisterGroup {
                group: r.array()?,
                provider: r.array()?,
            },
            T_MESSAGE => Input::Message {
                bytes: field(&mut r, "message")?,
            },
            T_HISTORY => {
                let group = r.array()?;
                let n = r.u32()? as usize;
                if n > MAX_HISTORY_ENTRIES {
                    return Err(DecodeError::LengthOutOfRange {
                        what: "history entries",
                        len: n,
                    });
                }
                let entries = (0..n)
                    .map(|_| field(&mut r, "history entry"))
                    .collect::<Result<_, _>>()?;
                Input::History { group, entries }
            }
            T_RENEW_SEED => Input::RenewRendezvousSeed,
            T_AUTO_ACCEPT => match r.u8()? {
                0 => Input::SetAutoAccept { on: false },
                1 => Input::SetAutoAccept { on: true },
                t => {
                    return Err(DecodeError::UnknownTag {
                        what: "auto-accept flag",
                        tag: t,
                    });
                }
            },
            t => {
                return Err(DecodeError::UnknownTag {
                    what: "journal record",
                    tag: t,
                });
            }
        };
        r.finish()?;
        Ok(JournalRecord { input, check })
    }
}
