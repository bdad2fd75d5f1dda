//! What the app core asks its shell to do, in order.

use super::api::{ApiError, ApiResponse};
use crate::messenger::rendezvous_registrar::UpdateRequest;
use crate::messenger::{JournalRecord, Outgoing, WeshEvent};

/// Names an API call (or a come-online) from the shell's side, so its answer can be
/// matched to whoever asked.
pub type CallId = u64;

/// One history fetch: the entries of `group` that replication provider `provider` keeps
/// after sequence number `after`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct HistoryFetch {
    pub group: [u8; 32],
    pub provider: [u8; 32],
    pub after: u64,
}

/// Carry these out in the order [`super::WeshApp::poll_action`] gives them: an action may
/// only happen once every `Persist` before it is durable.
#[derive(Debug)]
pub enum Action {
    /// Append `records` to the account's journal and remove the inbox messages
    /// `consumed`, in one durable write. If it fails, stop the account: nothing after it
    /// may happen (a restart could otherwise reuse a ratchet key for another message).
    /// A shell without a store drops it.
    Persist {
        records: Vec<JournalRecord>,
        consumed: Vec<u64>,
    },
    /// A Wesh message to send through the mixnet (give it back with
    /// [`super::WeshApp::handle_send_refused`] if the client cannot take it).
    Send(Outgoing),
    /// A rendezvous update: complete it with `surbs_wanted` reply SURBs for its provider
    /// and when they expire, send it, and report when to renew them
    /// ([`super::WeshApp::handle_rendezvous_surbs_sent`]) or a failure
    /// ([`super::WeshApp::handle_rendezvous_update_failed`]).
    UpdateRendezvous(UpdateRequest),
    /// Fetch one page of this history (one `/wesh/replication/1` exchange) and give the
    /// result to [`super::WeshApp::handle_history`].
    FetchHistory(HistoryFetch),
    /// Register the group at `provider` (send it `registration`: the group's replication
    /// view and this member's proof) and give the outcome (the end of the group's term
    /// there, Unix seconds) to
    /// [`super::WeshApp::handle_replica_registered`].
    RegisterReplica {
        call: CallId,
        provider: [u8; 32],
        registration: Vec<u8>,
    },
    /// Register `group` at `provider` again (send it `registration`, as for
    /// [`Action::RegisterReplica`]) to learn or renew its term, and give the outcome to
    /// [`super::WeshApp::handle_replica_renewed`].
    RenewReplica {
        group: [u8; 32],
        provider: [u8; 32],
        registration: Vec<u8>,
    },
    /// For the app's listeners.
    Event(WeshEvent),
    /// The answer to an API call.
    Answer {
        call: CallId,
        result: Result<ApiResponse, ApiError>,
    },
    /// The answer to a come-online: how many history entries replicas returned.
    CaughtUp { call: CallId, fetched: usize },
}
