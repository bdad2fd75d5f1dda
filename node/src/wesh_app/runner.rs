//! The task that drives one app core ([`AppCore`]) with a running client: API calls,
//! mailbox messages and timers in; the core's actions out, in order (journal writes,
//! mixnet sends, rendezvous updates completed with reply SURBs, history fetches).

use super::providers::ProviderBook;
use crate::clock::{monotonic, unix_now_ms};
use crate::drivers::client_traffic::{
    ClientError, ClientEvent, ClientSpec, ClientState, RunningClient,
};
use crate::replication::calls::{CallError, fetch_history, register_group};
use crate::storage::client_store::ClientStore;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc, oneshot};
use wesh_client::app::{
    Action, ApiError, ApiRequest, ApiResponse, CallId, FetchedPage, HistoryFetch,
    WeshApp as AppCore,
};
use wesh_client::messenger::params::APP_RENDEZVOUS_CHECK_MS;
use wesh_client::messenger::rendezvous_registrar::UpdateRequest;
use wesh_client::messenger::rendezvous_wire::RendezvousFrame;
use wesh_client::messenger::{JournalRecord, MailboxAddress, Outgoing, WeshDevice, WeshEvent};
use wesh_mix::{ClientAddress, NodeId};

/// Builds the client spec for a (re)start from the client's state and the observer the
/// app listens to.
pub type MakeClientSpec =
    Box<dyn Fn(ClientState, mpsc::UnboundedSender<ClientEvent>) -> ClientSpec + Send>;

pub struct WeshAppSpec {
    pub device: WeshDevice,
    /// The providers rendezvous hashing picks among; with `follow_directory` this is
    /// replaced by the providers of the client's directory view whenever it changes.
    pub providers: ProviderBook,
    pub follow_directory: bool,
    pub state: ClientState,
    pub client_spec: MakeClientSpec,
    /// Durable account (`wesh client --api`): the core's journal records are appended
    /// here (with the inbox messages they consumed) before anything after them happens.
    /// Without it the account lives in memory only.
    pub store: Option<Arc<ClientStore>>,
}

/// What an app hears, stamped with when it happened.
#[derive(Debug, Clone)]
pub enum WeshAppEvent {
    Wesh {
        at: Instant,
        event: WeshEvent,
    },
    /// A mixnet message carrying Wesh data was given up by the client.
    SendFailed {
        reason: String,
    },
}

type Reply<T> = oneshot::Sender<Result<T, ApiError>>;

enum Command {
    Call(ApiRequest, Reply<ApiResponse>),
    GoOffline(Reply<()>),
    ComeOnline(Reply<usize>),
    Shutdown,
}

/// Handle to a running Wesh app (cheap to clone).
#[derive(Clone)]
pub struct WeshApp {
    commands: mpsc::Sender<Command>,
    events: broadcast::Sender<WeshAppEvent>,
    pub account: [u8; 32],
    /// The underlying client's readiness flags.
    pub client: crate::drivers::client_traffic::ClientHandle,
}

impl WeshApp {
    async fn ask<T>(&self, command: impl FnOnce(Reply<T>) -> Command) -> Result<T, ApiError> {
        let stopped = || ApiError::Unavailable("the app stopped".into());
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(command(tx))
            .await
            .map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }

    /// One API call.
    pub async fn call(&self, request: ApiRequest) -> Result<ApiResponse, ApiError> {
        self.ask(|tx| Command::Call(request, tx)).await
    }

    /// Events from now on (messages, contacts, groups).
    pub fn subscribe(&self) -> broadcast::Receiver<WeshAppEvent> {
        self.events.subscribe()
    }

    /// Disconnects from the network, keeping every state (what sleeping does to a phone).
    pub async fn go_offline(&self) -> Result<(), ApiError> {
        self.ask(Command::GoOffline).await
    }

    /// Reconnects, fetches the history of replicated groups, and resumes pulling the
    /// mailbox. Returns how many entries the replication providers returned.
    pub async fn come_online(&self) -> Result<usize, ApiError> {
        self.ask(Command::ComeOnline).await
    }

    pub async fn shutdown(&self) {
        let _ = self.commands.send(Command::Shutdown).await;
    }

    /// Resolves when the app has stopped (after `shutdown`, or on its own when its journal
    /// cannot be written).
    pub async fn stopped(&self) {
        self.commands.closed().await
    }
}

struct Runner {
    core: AppCore,
    providers: ProviderBook,
    follow_directory: bool,
    client: Option<RunningClient>,
    state: Option<ClientState>,
    make_spec: MakeClientSpec,
    client_events: mpsc::UnboundedSender<ClientEvent>,
    events: broadcast::Sender<WeshAppEvent>,
    store: Option<Arc<ClientStore>>,
    next_call: CallId,
    calls: HashMap<CallId, Reply<ApiResponse>>,
    catch_ups: HashMap<CallId, Reply<usize>>,
    /// The rendezvous provider last registered at (for the log).
    registered_at: Option<[u8; 32]>,
    /// A journal write failed: the app stops.
    halted: bool,
}

/// Starts the client and the app around `spec.device`.
pub async fn start_wesh_app(spec: WeshAppSpec) -> Result<WeshApp, ApiError> {
    let (client_tx, client_rx) = mpsc::unbounded_channel();
    let client = start_client(
        (spec.client_spec)(spec.state, client_tx.clone()),
        &spec.providers,
    )
    .await
    .map_err(|e| ApiError::Unavailable(format!("cannot start the client: {e}")))?;
    let (events, _) = broadcast::channel(4096);
    let (commands, commands_rx) = mpsc::channel(256);
    let app = WeshApp {
        commands,
        events: events.clone(),
        account: spec.device.account_id(),
        client: client.handle.clone(),
    };
    let mut runner = Runner {
        core: AppCore::new(spec.device, spec.providers.ids(), unix_now_ms()),
        providers: spec.providers,
        follow_directory: spec.follow_directory,
        client: Some(client),
        state: None,
        make_spec: spec.client_spec,
        client_events: client_tx,
        events,
        store: spec.store,
        next_call: 0,
        calls: HashMap::new(),
        catch_ups: HashMap::new(),
        registered_at: None,
        halted: false,
    };
    runner.take_inbox_backlog();
    // the account in every line the app logs (a testnet runs several in one process)
    let span = tracing::info_span!("app", account = %hex::encode(&app.account[..4]));
    tokio::spawn(tracing::Instrument::instrument(
        runner.run(commands_rx, client_rx),
        span,
    ));
    Ok(app)
}

/// Starts a client and tells its swarm where the providers listen.
async fn start_client(
    spec: ClientSpec,
    providers: &ProviderBook,
) -> Result<RunningClient, ClientError> {
    let client = crate::drivers::client_traffic::start_client(spec).await?;
    for p in providers.all() {
        p.introduce(&client.net);
    }
    Ok(client)
}

fn client_address(to: MailboxAddress) -> ClientAddress {
    ClientAddress {
        provider: NodeId(to.provider),
        client: NodeId(to.mailbox),
    }
}

impl Runner {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut client_rx: mpsc::UnboundedReceiver<ClientEvent>,
    ) {
        self.carry_out().await;
        while !self.halted {
            // capped: a wall clock set back must not put the core's timers to sleep
            let wake = (self.core.poll_timeout().saturating_sub(unix_now_ms()))
                .min(APP_RENDEZVOUS_CHECK_MS);
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    Some(Command::Call(request, reply)) => {
                        let call = self.next_call();
                        self.calls.insert(call, reply);
                        self.core.handle_api(unix_now_ms(), call, request);
                    }
                    Some(Command::GoOffline(reply)) => {
                        let _ = reply.send(self.go_offline().await);
                    }
                    Some(Command::ComeOnline(reply)) => self.come_online(reply).await,
                    Some(Command::Shutdown) | None => break,
                },
                ev = client_rx.recv() => match ev {
                    Some(ClientEvent::MessageReceived { bytes, inbox_seq, .. }) => {
                        tracing::debug!(bytes = bytes.len(), ?inbox_seq, "wesh message received");
                        self.core.handle_message(unix_now_ms(), &bytes, inbox_seq);
                    }
                    Some(ClientEvent::MessageFailed { reason, .. }) => {
                        let _ = self.events.send(WeshAppEvent::SendFailed { reason });
                    }
                    _ => {}
                },
                _ = tokio::time::sleep(Duration::from_millis(wake)) => {
                    self.refresh_providers();
                    self.core.handle_timeout(unix_now_ms());
                }
            }
            self.carry_out().await;
        }
        if let Some(c) = self.client.take() {
            c.shutdown();
        }
    }

    fn next_call(&mut self) -> CallId {
        self.next_call = self.next_call.wrapping_add(1);
        self.next_call
    }

    /// Carries out the core's actions in order; stops at a journal write that failed.
    async fn carry_out(&mut self) {
        while let Some(action) = self.core.poll_action() {
            match action {
                Action::Persist { records, consumed } => {
                    if !self.persist(&records, &consumed) {
                        self.halted = true;
                        return;
                    }
                }
                Action::Send(out) => self.send(out).await,
                Action::UpdateRendezvous(request) => self.send_update(request).await,
                Action::FetchHistory(fetch) => {
                    let result = self.fetch(fetch).await;
                    self.core.handle_history(unix_now_ms(), fetch, result);
                }
                Action::RegisterReplica {
                    call,
                    provider,
                    registration,
                } => {
                    let outcome = self.register_replica(provider, registration).await;
                    self.core.handle_replica_registered(call, outcome);
                }
                Action::RenewReplica {
                    group,
                    provider,
                    registration,
                } => {
                    let outcome = self.register_replica(provider, registration).await;
                    if let Err(e) = &outcome {
                        tracing::info!(error = %e, "replication renewal failed; tried again later");
                    }
                    let now = unix_now_ms();
                    self.core
                        .handle_replica_renewed(now, group, provider, outcome);
                }
                Action::Event(event) => {
                    let at = monotonic();
                    let _ = self.events.send(WeshAppEvent::Wesh { at, event });
                }
                Action::Answer { call, result } => {
                    if let Some(reply) = self.calls.remove(&call) {
                        let _ = reply.send(result);
                    }
                }
                Action::CaughtUp { call, fetched } => {
                    if let Some(reply) = self.catch_ups.remove(&call) {
                        let _ = reply.send(Ok(fetched));
                    }
                }
            }
        }
    }

    /// Appends journal records and drops the inbox messages they consumed, in one synced
    /// write. False if it failed: then nothing after it may happen.
    fn persist(&self, records: &[JournalRecord], consumed: &[u64]) -> bool {
        let Some(store) = &self.store else {
            return true;
        };
        let encoded: Vec<Vec<u8>> = records.iter().map(JournalRecord::encode).collect();
        match store.append_wesh_journal(&encoded, consumed) {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, "cannot write the wesh journal; stopping the account");
                false
            }
        }
    }

    async fn send(&mut self, out: Outgoing) {
        let Some(client) = &self.client else {
            return self.core.handle_send_refused(unix_now_ms(), out);
        };
        let to = client_address(out.to);
        let class = wesh_mix::SendClass::background_if(out.background());
        tracing::debug!(kind = ?out.kind, bytes = out.bytes.len(), ?class, "wesh message queued");
        if let Err(e) = client
            .handle
            .send_message_as(to, out.bytes.clone(), class)
            .await
        {
            tracing::debug!(error = %e, "wesh message not taken by the client; kept");
            self.core.handle_send_refused(unix_now_ms(), out);
        }
    }

    /// Completes a rendezvous update with reply SURBs for its provider and sends it.
    async fn send_update(&mut self, request: UpdateRequest) {
        let UpdateRequest {
            to,
            mut update,
            surbs_wanted,
        } = request;
        if !update.revoke && self.registered_at != Some(to.provider) {
            tracing::info!(
                provider = %hex::encode(to.provider),
                "registering the rendezvous point (reply blocks at this provider's desk)"
            );
            self.registered_at = Some(to.provider);
        }
        let Some(client) = &self.client else {
            self.core.handle_rendezvous_update_failed(unix_now_ms());
            return;
        };
        let sent = async {
            let mut renew_at = None;
            if surbs_wanted > 0 {
                let (surbs, life) = client
                    .handle
                    .reply_surbs(NodeId(to.provider), surbs_wanted)
                    .await?;
                update.surbs = surbs.iter().map(|s| s.to_bytes()).collect();
                update.surbs_expire_at = life.expire_at_ms;
                renew_at = Some(life.renew_at_ms);
            }
            tracing::debug!(
                surbs = update.surbs.len(),
                acks = update.acks.len(),
                revoke = update.revoke,
                "rendezvous update sent"
            );
            let frame = RendezvousFrame::Update(update).encode();
            client
                .handle
                .send_message(client_address(to), frame)
                .await?;
            Ok::<_, ClientError>(renew_at)
        };
        match sent.await {
            Ok(Some(renew_at)) => self
                .core
                .handle_rendezvous_surbs_sent(unix_now_ms(), renew_at),
            Ok(None) => {}
            Err(e) => {
                // said again at the next check
                tracing::debug!(error = %e, "rendezvous update not sent");
                self.core.handle_rendezvous_update_failed(unix_now_ms());
            }
        }
    }

    /// One page of what `fetch.provider` keeps of the group after `fetch.after`.
    async fn fetch(&mut self, fetch: HistoryFetch) -> Option<FetchedPage> {
        let net = &self.client.as_ref()?.net;
        let p = self.providers.get(&fetch.provider)?;
        p.introduce(net);
        let mut control = net.control.clone();
        let page = fetch_history(&mut control, p.peer, fetch.group, fetch.after)
            .await
            .map_err(|e| tracing::warn!(error = %e, "history fetch failed"))
            .ok()?;
        tracing::debug!(
            after = fetch.after,
            entries = page.entries.len(),
            last = page.last,
            more = page.more,
            "history page fetched"
        );
        Some(page)
    }

    async fn register_replica(
        &mut self,
        provider: [u8; 32],
        registration: Vec<u8>,
    ) -> Result<u64, ApiError> {
        let client = self.client.as_ref().ok_or(ApiError::Offline)?;
        let p = self.providers.get(&provider).ok_or(ApiError::BadArgument {
            field: "provider".into(),
            reason: "not a known provider".into(),
        })?;
        p.introduce(&client.net);
        let mut control = client.net.control.clone();
        let unavailable = |e: CallError| ApiError::Unavailable(e.to_string());
        match register_group(&mut control, p.peer, registration.clone()).await {
            // the provider asks for payment: spend a token there, then once more
            Err(CallError::Unpaid { price, reason }) => {
                let Some((issuer, me)) = &client.payments else {
                    return Err(unavailable(CallError::Unpaid { price, reason }));
                };
                crate::credit::keeper::pay_at(&mut control, p.peer, issuer, *me, price)
                    .await
                    .map_err(|e| {
                        ApiError::Unavailable(format!("cannot pay for replication: {e}"))
                    })?;
                register_group(&mut control, p.peer, registration)
                    .await
                    .map_err(unavailable)
            }
            other => other.map_err(unavailable),
        }
    }

    /// Takes the providers of the client's current directory view (they decide where
    /// rendezvous points live, so every client must use the directory's list).
    fn refresh_providers(&mut self) {
        let Some(client) = self.client.as_ref().filter(|_| self.follow_directory) else {
            return;
        };
        let listed = client.handle.directory_providers.borrow().clone();
        if listed.is_empty() {
            return;
        }
        match ProviderBook::with_addresses(listed) {
            Ok(book) if book != self.providers => {
                for p in book.all() {
                    p.introduce(&client.net);
                }
                tracing::info!(
                    providers = book.all().len(),
                    "provider list from the directory"
                );
                self.core.handle_providers(book.ids());
                self.providers = book;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "directory providers refused"),
        }
    }

    /// Wesh messages that reached the inbox while the app was not running.
    fn take_inbox_backlog(&mut self) {
        let Some(store) = self.store.clone() else {
            return;
        };
        match store.inbox(0) {
            Ok(messages) => {
                for m in messages {
                    self.core
                        .handle_message(unix_now_ms(), &m.bytes, Some(m.seq));
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot read the inbox"),
        }
    }

    async fn go_offline(&mut self) -> Result<(), ApiError> {
        let client = self.client.take().ok_or(ApiError::Offline)?;
        tracing::debug!("going offline");
        self.core.handle_offline();
        let state = client
            .go_offline()
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))?;
        self.state = Some(state);
        Ok(())
    }

    /// Restarts the client; the core answers once it caught up.
    async fn come_online(&mut self, reply: Reply<usize>) {
        let Some(state) = self.state.take() else {
            let _ = reply.send(Err(ApiError::Refused("already online".into())));
            return;
        };
        tracing::debug!("coming back online");
        let spec = (self.make_spec)(state, self.client_events.clone());
        match start_client(spec, &self.providers).await {
            Ok(client) => {
                self.client = Some(client);
                let call = self.next_call();
                self.catch_ups.insert(call, reply);
                self.core.handle_online(unix_now_ms(), call);
            }
            Err(e) => {
                let reason = format!("cannot restart the client: {e}");
                let _ = reply.send(Err(ApiError::Unavailable(reason)));
            }
        }
    }
}
