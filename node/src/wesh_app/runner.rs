//! The task that drives one [`WeshDevice`]: API calls in, mixnet messages in and out,
//! the rendezvous registration (reply SURBs at the rendezvous provider's desk), going
//! offline and catching up.

use super::api::{
    ApiError, ApiRequest, ApiResponse, message_view, metadata_view, parse_hex, parse_id,
};
use super::providers::ProviderBook;
use crate::client_node::{ClientEvent, ClientSpec, ClientState, RunningClient, start_client};
use crate::pki::service::{unix_now, unix_now_ms};
use crate::replication::calls::{fetch_history, register_group};
use crate::storage::client_store::ClientStore;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc, oneshot};
use wesh_client::messenger::envelope::Outer;
use wesh_client::messenger::journal::{self, Applied, Input};
use wesh_client::messenger::rendezvous_registrar::{RendezvousRegistrar, UpdateRequest};
use wesh_client::messenger::rendezvous_wire::RendezvousFrame;
use wesh_client::messenger::{Outgoing, WeshDevice, WeshEvent};
use wesh_mix::{ClientAddress, NodeId};

/// How often the rendezvous registration is checked (rotation, seed renewal, acks of
/// forwards, refresh).
const RENDEZVOUS_CHECK: Duration = Duration::from_secs(2);

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
    /// Durable account (`wesh client --api`): the device's journal is appended here
    /// before anything it produced leaves, and Wesh messages are taken out of the inbox
    /// in the same write. Without it the account lives in memory only.
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

enum Command {
    Call(ApiRequest, oneshot::Sender<Result<ApiResponse, ApiError>>),
    GoOffline(oneshot::Sender<Result<(), ApiError>>),
    ComeOnline(oneshot::Sender<Result<usize, ApiError>>),
    Shutdown,
}

/// Handle to a running Wesh app (cheap to clone).
#[derive(Clone)]
pub struct WeshApp {
    commands: mpsc::Sender<Command>,
    events: broadcast::Sender<WeshAppEvent>,
    pub account: [u8; 32],
    /// The underlying client's readiness flags.
    pub client: crate::client_node::ClientHandle,
}

impl WeshApp {
    /// One API call.
    pub async fn call(&self, request: ApiRequest) -> Result<ApiResponse, ApiError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Call(request, tx))
            .await
            .map_err(|_| ApiError::Unavailable("the app stopped".into()))?;
        rx.await
            .map_err(|_| ApiError::Unavailable("the app stopped".into()))?
    }

    /// Events from now on (messages, contacts, groups).
    pub fn subscribe(&self) -> broadcast::Receiver<WeshAppEvent> {
        self.events.subscribe()
    }

    /// Disconnects from the network, keeping every state (what sleeping does to a phone).
    pub async fn go_offline(&self) -> Result<(), ApiError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::GoOffline(tx))
            .await
            .map_err(|_| ApiError::Unavailable("the app stopped".into()))?;
        rx.await
            .map_err(|_| ApiError::Unavailable("the app stopped".into()))?
    }

    /// Reconnects, fetches the history of replicated groups, and resumes pulling the
    /// mailbox. Returns how many entries the replication providers returned.
    pub async fn come_online(&self) -> Result<usize, ApiError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::ComeOnline(tx))
            .await
            .map_err(|_| ApiError::Unavailable("the app stopped".into()))?;
        rx.await
            .map_err(|_| ApiError::Unavailable("the app stopped".into()))?
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
    device: WeshDevice,
    providers: ProviderBook,
    follow_directory: bool,
    client: Option<RunningClient>,
    state: Option<ClientState>,
    make_spec: MakeClientSpec,
    client_events: mpsc::UnboundedSender<ClientEvent>,
    rendezvous: RendezvousRegistrar,
    pending: Vec<Outgoing>,
    events: broadcast::Sender<WeshAppEvent>,
    /// (group, replica provider) → last history sequence number seen
    history: HashMap<([u8; 32], [u8; 32]), u64>,
    store: Option<Arc<ClientStore>>,
    /// Inbox messages the device took since the last journal write.
    consumed: Vec<u64>,
    /// Journal records (encoded) not written yet.
    journal: Vec<Vec<u8>>,
    /// A journal write failed: the app stops.
    halted: bool,
}

/// Starts the client and the app around `spec.device`.
pub async fn start_wesh_app(spec: WeshAppSpec) -> Result<WeshApp, ApiError> {
    let (client_tx, client_rx) = mpsc::unbounded_channel();
    let client = start_client((spec.client_spec)(spec.state, client_tx.clone()))
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
    for p in spec.providers.all() {
        p.introduce(&client.net);
    }
    let mut runner = Runner {
        device: spec.device,
        providers: spec.providers,
        follow_directory: spec.follow_directory,
        client: Some(client),
        state: None,
        make_spec: spec.client_spec,
        client_events: client_tx,
        rendezvous: RendezvousRegistrar::new(),
        pending: Vec::new(),
        events,
        history: HashMap::new(),
        store: spec.store,
        consumed: Vec::new(),
        journal: Vec::new(),
        halted: false,
    };
    runner.take_inbox_backlog();
    tokio::spawn(runner.run(commands_rx, client_rx));
    Ok(app)
}

impl Runner {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut client_rx: mpsc::UnboundedReceiver<ClientEvent>,
    ) {
        let mut tick = tokio::time::interval(RENDEZVOUS_CHECK);
        loop {
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    Some(Command::Call(req, reply)) => {
                        let r = self.call(req).await;
                        // the answer goes out once what the call changed is durable
                        self.flush().await;
                        let _ = reply.send(r);
                    }
                    Some(Command::GoOffline(reply)) => {
                        let _ = reply.send(self.go_offline().await);
                    }
                    Some(Command::ComeOnline(reply)) => {
                        let r = self.come_online().await;
                        let _ = reply.send(r);
                    }
                    Some(Command::Shutdown) | None => {
                        if let Some(c) = self.client.take() {
                            c.shutdown();
                        }
                        return;
                    }
                },
                ev = client_rx.recv() => match ev {
                    Some(ClientEvent::MessageReceived { bytes, inbox_seq, .. }) => {
                        self.take_message(&bytes, inbox_seq);
                    }
                    Some(ClientEvent::MessageFailed { reason, .. }) => {
                        let _ = self.events.send(WeshAppEvent::SendFailed { reason });
                    }
                    Some(_) => {}
                    None => {}
                },
                _ = tick.tick() => {
                    self.refresh_providers();
                    self.ensure_rendezvous().await;
                }
            }
            self.flush().await;
            if self.halted {
                if let Some(c) = self.client.take() {
                    c.shutdown();
                }
                return;
            }
        }
    }

    /// Takes the providers of the client's current directory view (they decide where
    /// rendezvous points live, so every client must use the directory's list).
    fn refresh_providers(&mut self) {
        if !self.follow_directory {
            return;
        }
        let Some(client) = &self.client else {
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
                self.providers = book;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "directory providers refused"),
        }
    }

    /// Keeps the rendezvous registration at the desk of the provider the current public
    /// rendezvous point selects: registers, refreshes the reply SURBs, acks forwards, and
    /// revokes the old registration when the point moves.
    async fn ensure_rendezvous(&mut self) {
        match self
            .device
            .rendezvous_registration(unix_now(), &self.providers.ids())
        {
            Ok(r) => {
                if self.rendezvous.address() != Some(r.address) {
                    tracing::info!(
                        provider = %hex::encode(r.address.provider),
                        "registering the rendezvous point (reply blocks at this provider's desk)"
                    );
                }
                self.rendezvous.set(r);
            }
            Err(e) => {
                tracing::warn!(error = %e, "no rendezvous registration");
                return;
            }
        }
        if self.client.is_none() {
            return;
        }
        for request in self.rendezvous.poll(unix_now_ms()) {
            if let Err(e) = self.send_update(request).await {
                // said again at the next check
                tracing::debug!(error = %e, "rendezvous update not sent");
                self.rendezvous.reset();
            }
        }
    }

    /// Completes an update with reply SURBs for the rendezvous provider and sends it.
    async fn send_update(&mut self, request: UpdateRequest) -> Result<(), String> {
        let Some(client) = &self.client else {
            return Err("offline".into());
        };
        let UpdateRequest {
            to,
            mut update,
            surbs_wanted,
        } = request;
        if surbs_wanted > 0 {
            let surbs = client
                .handle
                .reply_surbs(NodeId(to.provider), surbs_wanted)
                .await
                .map_err(|e| e.to_string())?;
            update.surbs = surbs.iter().map(|s| s.as_bytes().to_vec()).collect();
        }
        let to = ClientAddress {
            provider: NodeId(to.provider),
            client: NodeId(to.mailbox),
        };
        client
            .handle
            .send_message(to, RendezvousFrame::Update(update).encode())
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Gives a mixnet message to the device. A Wesh envelope leaves the inbox (with the
    /// next journal write) whether the device kept it or refused it; anything else stays
    /// there for `wesh inbox`.
    fn take_message(&mut self, bytes: &[u8], inbox_seq: Option<u64>) {
        let mut wesh = Outer::decode(bytes).is_ok();
        let mut bytes = bytes;
        let forwarded;
        if RendezvousFrame::is_frame(bytes) {
            wesh = true;
            match RendezvousFrame::decode(bytes) {
                Ok(RendezvousFrame::Forward {
                    mailbox,
                    id,
                    tag,
                    envelope,
                }) => {
                    // acked whatever the device makes of it (the desk must stop resending),
                    // if it came from our desk
                    if !self
                        .rendezvous
                        .on_forward(unix_now_ms(), &mailbox, id, &tag, &envelope)
                    {
                        tracing::debug!(id, "rendezvous forward not acked (stale or forged)");
                    }
                    forwarded = envelope;
                    bytes = &forwarded;
                }
                Ok(_) | Err(_) => {
                    tracing::debug!("rendezvous frame that is not a forward ignored");
                    if let Some(seq) = inbox_seq {
                        self.consumed.push(seq);
                    }
                    return;
                }
            }
        }
        if let Err(e) = self.input(Input::Message {
            bytes: bytes.to_vec(),
        }) {
            tracing::debug!(error = %e, "wesh message refused");
        }
        if let (true, Some(seq)) = (wesh, inbox_seq) {
            self.consumed.push(seq);
        }
    }

    /// Gives an input to the device, keeping the journal records it made (with a store).
    fn input(&mut self, input: Input) -> Applied {
        let result = journal::apply(&mut self.device, &input);
        self.collect_journal();
        result
    }

    /// Takes the device's new journal records (kept for the next write with a store; the
    /// testnet's in-memory accounts drop them).
    fn collect_journal(&mut self) {
        let records = self.device.take_journal();
        if self.store.is_some() {
            self.journal.extend(records.iter().map(|r| r.encode()));
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
                    self.take_message(&m.bytes, Some(m.seq));
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot read the inbox"),
        }
    }

    /// Makes the device's new journal records durable (and drops the inbox messages they
    /// consumed). False if the write failed: then nothing the device produced may leave,
    /// or a restart could reuse a ratchet key for a different message.
    fn persist(&mut self) -> bool {
        self.collect_journal();
        let Some(store) = &self.store else {
            return true;
        };
        match store.append_wesh_journal(&self.journal, &self.consumed) {
            Ok(()) => {
                self.consumed.clear();
                self.journal.clear();
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot write the wesh journal; stopping the account");
                false
            }
        }
    }

    async fn flush(&mut self) {
        if !self.persist() {
            self.halted = true;
            return;
        }
        let now = crate::clock::monotonic();
        for event in self.device.take_events() {
            let _ = self.events.send(WeshAppEvent::Wesh { at: now, event });
        }
        self.pending.extend(self.device.take_outgoing());
        let Some(client) = &self.client else {
            return;
        };
        let mut kept = Vec::new();
        for out in std::mem::take(&mut self.pending) {
            let to = ClientAddress {
                provider: NodeId(out.to.provider),
                client: NodeId(out.to.mailbox),
            };
            match client.handle.send_message(to, out.bytes.clone()).await {
                Ok(_) => {}
                Err(crate::client_node::ClientError::Enqueue(e)) => {
                    tracing::debug!(error = %e, "send queue full; keeping the message");
                    kept.push(out);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot send a wesh message");
                    kept.push(out);
                }
            }
        }
        self.pending = kept;
    }

    async fn go_offline(&mut self) -> Result<(), ApiError> {
        let client = self.client.take().ok_or(ApiError::Offline)?;
        self.rendezvous.reset();
        let state = client
            .go_offline()
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))?;
        self.state = Some(state);
        Ok(())
    }

    async fn come_online(&mut self) -> Result<usize, ApiError> {
        let state = self
            .state
            .take()
            .ok_or(ApiError::Refused("already online".into()))?;
        let client = start_client((self.make_spec)(state, self.client_events.clone()))
            .await
            .map_err(|e| ApiError::Unavailable(format!("cannot restart the client: {e}")))?;
        for p in self.providers.all() {
            p.introduce(&client.net);
        }
        self.client = Some(client);
        self.ensure_rendezvous().await;
        self.catch_up().await
    }

    /// Fetches what replication providers kept for this device's groups.
    async fn catch_up(&mut self) -> Result<usize, ApiError> {
        let Some(net) = self.client.as_ref().map(|c| c.net.clone()) else {
            return Err(ApiError::Offline);
        };
        let mut control = net.control.clone();
        let mut fetched = 0;
        for group in self.device.group_ids() {
            let Ok(meta) = self.device.group_metadata(&group) else {
                continue;
            };
            for replica in meta.replicas {
                let Some(p) = self.providers.get(&replica.provider).cloned() else {
                    continue;
                };
                p.introduce(&net);
                let after = self
                    .history
                    .get(&(group, replica.provider))
                    .copied()
                    .unwrap_or(0);
                let mut result = fetch_history(&mut control, p.peer, group, after).await;
                if result.is_err() {
                    // the address may reach the swarm just after the first dial: once more
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    result = fetch_history(&mut control, p.peer, group, after).await;
                }
                match result {
                    Ok((entries, last)) => {
                        fetched += entries.len();
                        self.history.insert((group, replica.provider), last);
                        if let Err(e) = self.input(Input::History { group, entries }) {
                            tracing::debug!(error = %e, "some history entries refused");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "history fetch failed"),
                }
            }
        }
        Ok(fetched)
    }

    /// The group an input created or joined.
    fn created_group(&mut self, input: Input) -> Result<[u8; 32], ApiError> {
        self.input(input)?
            .ok_or_else(|| ApiError::Unavailable("the device named no group".into()))
    }

    async fn call(&mut self, req: ApiRequest) -> Result<ApiResponse, ApiError> {
        let d = &mut self.device;
        Ok(match req {
            ApiRequest::DeviceLinkCreate => ApiResponse::DeviceLink {
                code: hex::encode(d.device_link()?.encode().as_slice()),
            },
            ApiRequest::ContactRequestResetReference => {
                self.input(Input::RenewRendezvousSeed)?;
                // revoke the old registration and register the new point now
                self.ensure_rendezvous().await;
                ApiResponse::ContactRequestReference {
                    reference: hex::encode(self.device.contact_request_reference()),
                }
            }
            ApiRequest::ContactRequestReference => ApiResponse::ContactRequestReference {
                reference: hex::encode(d.contact_request_reference()),
            },
            ApiRequest::ContactRequestSend { contact } => {
                let card = parse_hex("contact", &contact)?;
                let providers = self.providers.ids();
                self.input(Input::ContactRequestSend {
                    card,
                    now: unix_now(),
                    providers,
                })?;
                ApiResponse::Done
            }
            ApiRequest::ContactRequestAccept { account } => {
                let account = parse_id("account", &account)?;
                self.input(Input::ContactRequestAccept { account })?;
                ApiResponse::Done
            }
            ApiRequest::ContactRequestDiscard { account } => {
                let account = parse_id("account", &account)?;
                self.input(Input::ContactRequestDiscard { account })?;
                ApiResponse::Done
            }
            ApiRequest::ContactRequestList => ApiResponse::Accounts {
                accounts: d
                    .contact_requests_pending()
                    .iter()
                    .map(hex::encode)
                    .collect(),
            },
            ApiRequest::ContactList => ApiResponse::Contacts {
                contacts: d
                    .contacts()
                    .iter()
                    .map(|(a, g)| (hex::encode(a), hex::encode(g)))
                    .collect(),
            },
            ApiRequest::MultiMemberGroupCreate => ApiResponse::Group {
                group: hex::encode(self.created_group(Input::MultiMemberGroupCreate)?),
            },
            ApiRequest::MultiMemberGroupInvitationCreate { group } => ApiResponse::Invitation {
                invitation: hex::encode(
                    d.multi_member_group_invitation_create(&parse_id("group", &group)?)?,
                ),
            },
            ApiRequest::MultiMemberGroupJoin { invitation } => {
                let invitation = parse_hex("invitation", &invitation)?;
                ApiResponse::Group {
                    group: hex::encode(
                        self.created_group(Input::MultiMemberGroupJoin { invitation })?,
                    ),
                }
            }
            ApiRequest::GroupList => ApiResponse::Groups {
                groups: d
                    .group_ids()
                    .into_iter()
                    .filter_map(|g| {
                        d.group_metadata(&g)
                            .ok()
                            .map(|m| (hex::encode(g), format!("{:?}", m.role)))
                    })
                    .collect(),
            },
            ApiRequest::AppMessageSend { group, payload } => {
                let group = parse_id("group", &group)?;
                let payload = parse_hex("payload", &payload)?;
                self.input(Input::AppMessageSend { group, payload })?;
                ApiResponse::Done
            }
            ApiRequest::GroupMessageList { group, .. } => ApiResponse::Messages {
                messages: d
                    .group_message_list(&parse_id("group", &group)?)?
                    .iter()
                    .map(message_view)
                    .collect(),
            },
            ApiRequest::GroupMetadataList { group } => ApiResponse::Metadata(metadata_view(
                &d.group_metadata(&parse_id("group", &group)?)?,
            )),
            ApiRequest::ReplicationServiceRegisterGroup { group, provider } => {
                let group = parse_id("group", &group)?;
                let provider = parse_id("provider", &provider)?;
                let p = self
                    .providers
                    .get(&provider)
                    .ok_or(ApiError::BadArgument {
                        field: "provider".into(),
                        reason: "not a known provider".into(),
                    })?
                    .clone();
                let view = d.replication_view(&group)?;
                let client = self.client.as_ref().ok_or(ApiError::Offline)?;
                p.introduce(&client.net);
                let mut control = client.net.control.clone();
                register_group(&mut control, p.peer, view.encode())
                    .await
                    .map_err(|e| ApiError::Unavailable(e.to_string()))?;
                self.input(Input::ReplicationRegisterGroup { group, provider })?;
                ApiResponse::Done
            }
            ApiRequest::Stats => ApiResponse::Stats(d.stats().clone()),
        })
    }
}
