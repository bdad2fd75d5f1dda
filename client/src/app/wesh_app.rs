//! [`WeshApp`]: a [`WeshDevice`] as an app runs it, sans I/O. The shell feeds it API
//! calls, mailbox messages, network outcomes and the time, and carries out the
//! [`Action`]s it gives, in order.

use std::collections::{BTreeMap, VecDeque};

use super::action::{Action, CallId, HistoryFetch};
use super::api::{ApiError, ApiRequest};
use super::catch_up::{CatchUp, FetchedPage};
use super::incoming::Incoming;
use super::replica_terms::ReplicaTerms;
use crate::messenger::params::{
    APP_HISTORY_RESUME_MS, APP_RENDEZVOUS_CHECK_MS, APP_RENDEZVOUS_RETRY_MS, APP_SEND_RETRY_MS,
};
use crate::messenger::rendezvous_registrar::RendezvousRegistrar;
use crate::messenger::{Outgoing, WeshDevice};

/// The app core. Time (`now`) is Unix milliseconds: rendezvous points rotate on the wall
/// clock.
pub struct WeshApp {
    pub(super) device: WeshDevice,
    /// Node IDs of the providers rendezvous hashing picks among (sorted).
    pub(super) providers: Vec<[u8; 32]>,
    pub(super) online: bool,
    registrar: RendezvousRegistrar,
    next_rendezvous_check: u64,
    /// What the device produced and the client has not taken (offline, or refused).
    outbox: Vec<Outgoing>,
    send_retry_at: Option<u64>,
    /// Inbox messages taken since the last `Persist`.
    consumed: Vec<u64>,
    catch_up: Option<CatchUp>,
    /// Where a catch-up that ran out of budget continues, and when.
    history_resume: Option<(u64, Vec<HistoryFetch>)>,
    /// Replica registrations waiting for the network: call → (group, provider).
    pub(super) registering: BTreeMap<CallId, ([u8; 32], [u8; 32])>,
    /// Replication terms: when to renew a group's registration at its providers.
    replica_terms: ReplicaTerms,
    pub(super) actions: VecDeque<Action>,
}

impl WeshApp {
    /// An app around `device`, online (its client is running), checking its rendezvous
    /// registration at the first timeout.
    pub fn new(device: WeshDevice, providers: Vec<[u8; 32]>, now: u64) -> Self {
        let mut app = WeshApp {
            device,
            providers: Vec::new(),
            online: true,
            registrar: RendezvousRegistrar::new(),
            next_rendezvous_check: now,
            outbox: Vec::new(),
            send_retry_at: None,
            consumed: Vec::new(),
            catch_up: None,
            history_resume: None,
            registering: BTreeMap::new(),
            replica_terms: ReplicaTerms::new(now),
            actions: VecDeque::new(),
        };
        app.handle_providers(providers);
        app
    }

    pub fn device(&self) -> &WeshDevice {
        &self.device
    }

    pub fn is_online(&self) -> bool {
        self.online
    }

    /// The next action to carry out.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When [`Self::handle_timeout`] wants to run next.
    pub fn poll_timeout(&self) -> u64 {
        [
            Some(self.next_rendezvous_check),
            self.send_retry_at,
            self.catch_up.as_ref().and_then(CatchUp::next_retry),
            self.history_resume.as_ref().map(|(at, _)| *at),
            self.online.then(|| self.replica_terms.next_check()),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(self.next_rendezvous_check)
    }

    /// Timers: the rendezvous registration check, replication terms to renew, messages
    /// to hand the client again, history fetches to retry, a catch-up to continue.
    pub fn handle_timeout(&mut self, now: u64) {
        if now >= self.next_rendezvous_check {
            self.check_rendezvous(now);
        }
        if self.online && now >= self.replica_terms.next_check() {
            self.check_replica_terms(now);
        }
        if self.send_retry_at.is_some_and(|at| now >= at) {
            self.send_retry_at = None;
            self.release_outbox();
        }
        if let Some(c) = self.catch_up.as_mut() {
            let due = c.due(now);
            self.actions
                .extend(due.into_iter().map(Action::FetchHistory));
        }
        self.resume_catch_up(now);
    }

    /// Continues a catch-up that ran out of budget, once it is due and no round runs.
    fn resume_catch_up(&mut self, now: u64) {
        if self.catch_up.is_some() || !self.online {
            return;
        }
        let Some((at, fetches)) = self.history_resume.take() else {
            return;
        };
        if now < at {
            self.history_resume = Some((at, fetches));
            return;
        }
        let (catch_up, fetches) = CatchUp::resume(fetches);
        self.actions
            .extend(fetches.into_iter().map(Action::FetchHistory));
        self.catch_up = Some(catch_up);
        self.finish_catch_up(now);
    }

    /// The providers rendezvous hashing picks among (the directory's, as the client
    /// knows them).
    pub fn handle_providers(&mut self, mut providers: Vec<[u8; 32]>) {
        providers.sort_unstable();
        providers.dedup();
        self.providers = providers;
    }

    /// A message from the client's mailbox (`inbox_seq`: its place in the durable inbox,
    /// if it is kept there).
    pub fn handle_message(&mut self, now: u64, bytes: &[u8], inbox_seq: Option<u64>) {
        let incoming = Incoming::classify(bytes);
        if let (true, Some(seq)) = (incoming.consumed(), inbox_seq) {
            self.consumed.push(seq);
        }
        // refusals are counted in the device's stats; nothing else to do with them
        match incoming {
            Incoming::Envelope(bytes) | Incoming::Foreign(bytes) => {
                let _ = self.device.on_message(bytes);
            }
            Incoming::Forward {
                mailbox,
                id,
                tag,
                envelope,
            } => {
                // acked whatever the device makes of it (the desk must stop resending), if
                // it came from our desk
                self.registrar
                    .on_forward(now, &mailbox, id, &tag, &envelope);
                let _ = self.device.on_message(&envelope);
            }
            Incoming::OtherRendezvousFrame => {}
        }
        self.flush();
    }

    /// An API call; its [`Action::Answer`] comes after what it must wait for.
    pub fn handle_api(&mut self, now: u64, call: CallId, request: ApiRequest) {
        let result = self.call(now, call, request);
        self.flush();
        match result {
            Ok(Some(response)) => self.actions.push_back(Action::Answer {
                call,
                result: Ok(response),
            }),
            // answered when the network has done its part
            Ok(None) => {}
            Err(e) => self.actions.push_back(Action::Answer {
                call,
                result: Err(e),
            }),
        }
    }

    /// The client was stopped (keeping its state): nothing is sent until
    /// [`Self::handle_online`], and the rendezvous desk is told everything again then.
    pub fn handle_offline(&mut self) {
        self.online = false;
        self.registrar.reset();
        self.replica_terms.handle_offline();
    }

    /// The client runs again: register at once, learn or renew replication terms, send
    /// what waited, fetch the history of replicated groups; [`Action::CaughtUp`] answers `call` when the fetches are done.
    pub fn handle_online(&mut self, now: u64, call: CallId) {
        self.online = true;
        self.check_rendezvous(now);
        self.check_replica_terms(now);
        self.release_outbox();
        // a new round starts from the journaled cursors: nothing left to resume
        self.history_resume = None;
        let (catch_up, fetches) = CatchUp::start(call, &self.device, &self.providers);
        self.actions
            .extend(fetches.into_iter().map(Action::FetchHistory));
        self.catch_up = Some(catch_up);
        self.finish_catch_up(now);
    }

    /// The result of an [`Action::FetchHistory`]: one page of history, or `None` if the
    /// fetch failed. The next page, if the round's budget allows, comes as another
    /// [`Action::FetchHistory`].
    pub fn handle_history(&mut self, now: u64, fetch: HistoryFetch, result: Option<FetchedPage>) {
        let Some(c) = self.catch_up.as_mut().filter(|c| c.expects(&fetch)) else {
            return;
        };
        match result {
            Some(page) => {
                let next = c.on_page(&fetch, page.entries.len(), page.last, page.more);
                // some entries may be refused (the device counts them); the cursor moves
                // past them all, since fetching them again would not change that
                let _ = self.device.ingest_history(fetch.group, page.entries);
                if page.last > fetch.after {
                    self.device
                        .set_history_cursor(fetch.group, fetch.provider, page.last);
                }
                self.flush();
                self.actions.extend(next.map(Action::FetchHistory));
            }
            None => c.on_failure(now, fetch),
        }
        self.finish_catch_up(now);
    }

    fn finish_catch_up(&mut self, now: u64) {
        if let Some(fetched) = self.catch_up.as_ref().and_then(CatchUp::finished)
            && let Some(mut c) = self.catch_up.take()
        {
            let later = c.take_later();
            if !later.is_empty() {
                self.history_resume = Some((now.saturating_add(APP_HISTORY_RESUME_MS), later));
            }
            if let Some(call) = c.call() {
                self.actions.push_back(Action::CaughtUp { call, fetched });
            }
        }
    }

    /// The client could not take a message (its queue was full): handed again later.
    pub fn handle_send_refused(&mut self, now: u64, out: Outgoing) {
        self.outbox.push(out);
        self.send_retry_at
            .get_or_insert(now.saturating_add(APP_SEND_RETRY_MS));
    }

    /// A rendezvous update did not leave at `now` (most often: the client has no view of
    /// the network yet, just after start): registered again after
    /// [`APP_RENDEZVOUS_RETRY_MS`], not at the next periodic check, since a contact
    /// request cannot reach this account before it is registered.
    pub fn handle_rendezvous_update_failed(&mut self, now: u64) {
        self.registrar.reset();
        self.next_rendezvous_check = self
            .next_rendezvous_check
            .min(now.saturating_add(APP_RENDEZVOUS_RETRY_MS));
    }

    /// A rendezvous update with reply SURBs left at `now`; they should be replaced from
    /// `renew_at` (Unix milliseconds: halfway through the key grace of the epoch whose
    /// view they were built on).
    pub fn handle_rendezvous_surbs_sent(&mut self, now: u64, renew_at: u64) {
        self.registrar.surbs_attached(now, renew_at);
    }

    /// The outcome of an [`Action::RegisterReplica`]: the end of the group's term at the
    /// provider (Unix seconds).
    pub fn handle_replica_registered(&mut self, call: CallId, outcome: Result<u64, ApiError>) {
        let Some((group, provider)) = self.registering.remove(&call) else {
            return;
        };
        let result = outcome.and_then(|end| {
            self.replica_terms.handle_term((group, provider), end);
            self.device
                .replication_register_group(&group, provider)
                .map(|_| super::api::ApiResponse::Done)
                .map_err(ApiError::from)
        });
        self.flush();
        self.actions.push_back(Action::Answer { call, result });
    }

    /// The outcome of an [`Action::RenewReplica`].
    pub fn handle_replica_renewed(
        &mut self,
        now: u64,
        group: [u8; 32],
        provider: [u8; 32],
        outcome: Result<u64, ApiError>,
    ) {
        match outcome {
            Ok(end) => self.replica_terms.handle_term((group, provider), end),
            Err(_) => self.replica_terms.handle_failure(now, (group, provider)),
        }
    }

    /// Registers again the replicated groups whose term is unknown or ends soon.
    fn check_replica_terms(&mut self, now: u64) {
        for (group, provider) in self.replica_terms.due(now, &self.device, &self.providers) {
            match self.device.replication_registration(&group, provider) {
                Ok(r) => self.actions.push_back(Action::RenewReplica {
                    group,
                    provider,
                    registration: r.encode(),
                }),
                Err(_) => self.replica_terms.handle_failure(now, (group, provider)),
            }
        }
    }

    /// Keeps the registration at the desk the current public rendezvous point selects
    /// (registers, refreshes reply SURBs, acks forwards, revokes a moved point).
    pub(super) fn check_rendezvous(&mut self, now: u64) {
        self.next_rendezvous_check = now.saturating_add(APP_RENDEZVOUS_CHECK_MS);
        // no providers yet: nowhere to register
        if let Ok(r) = self
            .device
            .rendezvous_registration(now / 1000, &self.providers)
        {
            self.registrar.set(r);
        }
        if self.online {
            let updates = self.registrar.poll(now);
            self.actions
                .extend(updates.into_iter().map(Action::UpdateRendezvous));
        }
    }

    /// After every input: its journal records (and the inbox messages it consumed) are
    /// persisted before its events and messages go out.
    pub(super) fn flush(&mut self) {
        let records = self.device.take_journal();
        if !records.is_empty() || !self.consumed.is_empty() {
            self.actions.push_back(Action::Persist {
                records,
                consumed: std::mem::take(&mut self.consumed),
            });
        }
        self.actions
            .extend(self.device.take_events().into_iter().map(Action::Event));
        self.outbox.extend(self.device.take_outgoing());
        if self.send_retry_at.is_none() {
            self.release_outbox();
        }
    }

    fn release_outbox(&mut self) {
        if self.online {
            self.actions.extend(self.outbox.drain(..).map(Action::Send));
        }
    }
}
