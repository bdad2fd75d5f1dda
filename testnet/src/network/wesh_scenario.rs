//! The Wesh story of the testnet: three accounts (alice, bob, carol) exchange contact cards
//! and become contacts through rendezvous mailboxes, alice creates a group with a
//! replication provider and invites the others through their contact groups, everyone
//! writes to the group through the mixnet, carol goes offline, misses messages, comes back
//! and catches up from the replication provider and her mailbox. Every step goes through
//! the same typed API an app uses ([`ApiRequest`]).

use super::summary::{WeshLatency, WeshSection, percentile, round2};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use wesh_client::messenger::{MailboxAddress, WeshEvent};
use wesh_mix::{ClientTrafficConfig, NodeId};
use wesh_shell::drivers::client_traffic::{ClientSpec, ClientState};
use wesh_shell::replication::ReplicaService;
use wesh_shell::wesh_app::api::MessageView;
use wesh_shell::wesh_app::runner::MakeClientSpec;
use wesh_shell::wesh_app::{
    ApiClient, ApiError, ApiRequest, ApiResponse, ProviderBook, WeshApp, WeshAppEvent, WeshAppSpec,
    WeshDevice, start_api_server, start_wesh_app,
};

pub const NAMES: [&str; 3] = ["alice", "bob", "carol"];
/// Marks an app message that carries a group invitation (the scenario's tiny app format).
const INVITE_PREFIX: &[u8] = b"wesh-invite:";
/// Messages each member writes while everyone is online, and while carol is away.
const ONLINE_MESSAGES: usize = 2;
/// Pause between two rounds of group messages (each member writes one per round): a
/// chat's pace, not a burst. A round leaves as 2 interactive packets per writer (the
/// other members) and a background one (the replica): 1 s and 0.5 s of the default
/// λ_P = 2/s.
const ROUND_GAP: Duration = Duration::from_secs(2);
/// One round while carol is away: what she catches up on is the same for one round as
/// for two, and the story keeps its time for a slow catch-up (it must end within the
/// testnet's traffic and settle windows, 55 s at the check's 40 s).
const OFFLINE_MESSAGES: usize = 1;
/// Time left for carol's copies to land in her mailbox before she comes back (they are
/// acked once stored; one pull interval and the holds of a packet are well inside it).
const LAND_WAIT: Duration = Duration::from_secs(1);

pub struct ScenarioSetup {
    pub providers: ProviderBook,
    /// (provider node, its address) per account, round robin.
    pub homes: Vec<(NodeId, libp2p::Multiaddr)>,
    pub traffic: ClientTrafficConfig,
    /// The name of the clients' profile (reported).
    pub profile: String,
    /// The clients' pull interval (the profile's): the story's waits scale with it.
    pub pull_interval: Duration,
    pub make_spec: Arc<dyn Fn(ClientState, libp2p::Multiaddr) -> ClientSpec + Send + Sync>,
    pub replication_provider: NodeId,
    pub replicas: Vec<(NodeId, Arc<ReplicaService>)>,
    pub desks: Vec<Arc<wesh_shell::rendezvous::RendezvousService>>,
    pub deadline: Instant,
    /// Told where the app API listens once it does (the attacks aim at it).
    pub api_announce: tokio::sync::watch::Sender<Option<super::attacks::ApiTarget>>,
}

/// What one message became: when it was sent, and when each other member opened it.
struct Tracked {
    sent_at: Instant,
    sender: usize,
    while_offline: bool,
    received: HashMap<usize, Instant>,
}

#[derive(Default)]
struct Observed {
    /// payload → tracking
    messages: BTreeMap<Vec<u8>, Tracked>,
}

fn err(e: ApiError) -> String {
    e.to_string()
}

async fn call(app: &WeshApp, r: ApiRequest) -> Result<ApiResponse, String> {
    app.call(r).await.map_err(err)
}

/// Accepts contact requests, joins groups it is invited to, and records message arrivals.
fn spawn_app_loop(index: usize, app: WeshApp, observed: Arc<Mutex<Observed>>) {
    let mut events = app.subscribe();
    tokio::spawn(async move {
        loop {
            let ev = match events.recv().await {
                Ok(ev) => ev,
                // a burst larger than the channel: keep going with what follows
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "wesh story fell behind its events");
                    continue;
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            };
            let WeshAppEvent::Wesh { at, event } = ev else {
                continue;
            };
            match event {
                WeshEvent::ContactRequestReceived { account } => {
                    let r = app
                        .call(ApiRequest::ContactRequestAccept {
                            account: hex::encode(account),
                        })
                        .await;
                    if let Err(e) = r {
                        tracing::warn!(error = %e, "accept failed");
                    }
                }
                WeshEvent::MessageReceived(m) => {
                    if let Some(inv) = m.payload.strip_prefix(INVITE_PREFIX) {
                        let r = app
                            .call(ApiRequest::MultiMemberGroupJoin {
                                invitation: hex::encode(inv),
                            })
                            .await;
                        if let Err(e) = r {
                            tracing::warn!(error = %e, "join failed");
                        }
                    } else if let Some(t) = observed.lock().await.messages.get_mut(&m.payload) {
                        t.received.entry(index).or_insert(at);
                    }
                }
                _ => {}
            }
        }
    });
}

async fn wait_for<F, Fut>(deadline: Instant, what: &str, mut check: F) -> Result<(), String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    loop {
        if check().await {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("timed out waiting for {what}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn contacts_of(app: &WeshApp) -> Vec<(String, String)> {
    match app.call(ApiRequest::ContactList).await {
        Ok(ApiResponse::Contacts { contacts }) => contacts,
        _ => Vec::new(),
    }
}

async fn group_devices(app: &WeshApp, group: &str) -> (usize, usize) {
    let (members, devices, _) = group_view(app, group).await;
    (members, devices)
}

/// Members, device mailboxes, and other devices whose messages this one can open.
async fn group_view(app: &WeshApp, group: &str) -> (usize, usize, usize) {
    match app
        .call(ApiRequest::GroupMetadataList {
            group: group.to_string(),
        })
        .await
    {
        Ok(ApiResponse::Metadata(m)) => (
            m.members.len(),
            m.device_mailboxes.len(),
            m.readable_devices.len(),
        ),
        _ => (0, 0, 0),
    }
}

/// A contact is usable once both sides know the other's device mailbox.
async fn contact_ready(a: &WeshApp, b: &WeshApp) -> bool {
    let b_account = hex::encode(b.account);
    let Some((_, group)) = contacts_of(a)
        .await
        .into_iter()
        .find(|(acc, _)| *acc == b_account)
    else {
        return false;
    };
    group_devices(a, &group).await.1 == 2 && group_devices(b, &group).await.1 == 2
}

pub async fn run(setup: ScenarioSetup) -> WeshSection {
    let mut section = WeshSection {
        accounts: NAMES.len() as u64,
        real_rate: setup.traffic.real_rate,
        client_profile: setup.profile.clone(),
        ..Default::default()
    };
    let started = Instant::now();
    let observed = Arc::new(Mutex::new(Observed::default()));
    match run_inner(&setup, &mut section, started, observed.clone()).await {
        Ok(()) => {}
        Err(e) => {
            tracing::warn!(error = %e, "wesh scenario stopped early");
            section.error = Some(e);
        }
    }
    section.seconds = round2(started.elapsed().as_secs_f64());
    let o = observed.lock().await;
    section.group_messages_sent = o.messages.len() as u64;
    let mut latencies = Vec::new();
    for t in o.messages.values() {
        let everyone = (0..NAMES.len())
            .filter(|r| *r != t.sender)
            .all(|r| t.received.contains_key(&r));
        if everyone {
            section.group_messages_delivered += 1;
        }
        for (r, at) in &t.received {
            // carol's catch-up is not network latency
            if !(t.while_offline && *r == 2) {
                let ms = at.duration_since(t.sent_at).as_secs_f64() * 1000.0;
                tracing::debug!(
                    from = NAMES[t.sender],
                    to = NAMES[*r],
                    sent_s = t.sent_at.duration_since(started).as_secs_f64(),
                    ms,
                    "group message latency"
                );
                latencies.push(ms);
            }
        }
    }
    finish(&mut section, &latencies);
    for d in &setup.desks {
        let stats = d.stats();
        section.rendezvous_drops += stats.drops;
        section.rendezvous_forwards += stats.forwards;
        section.rendezvous_acked += stats.acked;
    }
    for (node, r) in &setup.replicas {
        if *node == setup.replication_provider {
            section.replica_entries_kept = r.stats().entries_kept;
            section.replica_refused = r.stats().refused_invalid_entry;
        }
    }
    section
}

async fn run_inner(
    setup: &ScenarioSetup,
    section: &mut WeshSection,
    started: Instant,
    observed: Arc<Mutex<Observed>>,
) -> Result<(), String> {
    let deadline = setup.deadline;
    // 1. three accounts, each a client of a provider, with its own Wesh device
    let mut apps = Vec::new();
    if setup.homes.is_empty() {
        return Err("no provider".into());
    }
    for i in 0..NAMES.len() {
        let (provider, addr) = &setup.homes[i % setup.homes.len()];
        let state = ClientState::generate(*provider, setup.traffic).map_err(|e| e.to_string())?;
        let me = state.core.address();
        let home = MailboxAddress {
            provider: me.provider.0,
            mailbox: me.client.0,
        };
        let mut seed = [0u8; 32];
        rand::Rng::fill_bytes(&mut rand::rng(), &mut seed);
        let device = WeshDevice::new_account(seed, home).map_err(|e| e.to_string())?;
        let make = setup.make_spec.clone();
        let addr = addr.clone();
        let client_spec: MakeClientSpec = Box::new(move |state, observer| {
            let mut spec = make(state, addr.clone());
            spec.observer = Some(observer);
            spec
        });
        let app = start_wesh_app(WeshAppSpec {
            device,
            providers: setup.providers.clone(),
            follow_directory: false,
            state,
            client_spec,
            store: None,
        })
        .await
        .map_err(err)?;
        spawn_app_loop(i, app.clone(), observed.clone());
        apps.push(app);
    }
    wait_for(deadline, "the Wesh clients to be ready", || async {
        apps.iter().all(|a| {
            a.client.mailbox_ready.load(Relaxed)
                && a.client.topology_ready.load(Relaxed)
                && a.client.credit_ready.load(Relaxed)
        })
    })
    .await?;

    // bob's app is driven through the local API socket, as a separate app process would,
    // with the cookie from his data directory
    let bob_dir = tempfile::Builder::new()
        .prefix("wesh-story-bob-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    use wesh_shell::wesh_app::CookieFile;
    let cookie = wesh_shell::wesh_app::ApiCookie::generate();
    cookie
        .write_to_dir(bob_dir.path())
        .map_err(|e| e.to_string())?;
    let server = start_api_server(
        apps[1].clone(),
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        false,
        cookie.clone(),
    )
    .await
    .map_err(|e| e.to_string())?;
    setup
        .api_announce
        .send_replace(Some(super::attacks::ApiTarget {
            addr: server.local_addr(),
            data_dir: bob_dir.path().to_path_buf(),
        }));
    let bob = Arc::new(Mutex::new(
        ApiClient::connect(&server.local_addr().to_string(), &cookie)
            .await
            .map_err(err)?,
    ));
    // a bad argument gets a typed error and the connection stays usable
    let refused = bob
        .lock()
        .await
        .call(ApiRequest::AppMessageSend {
            group: "not hex".into(),
            payload: String::new(),
        })
        .await;
    section.api_bad_argument_refused = matches!(refused, Err(ApiError::BadArgument { .. }));
    let via = |i: usize, r: ApiRequest| {
        let bob = bob.clone();
        let app = apps[i].clone();
        async move {
            if i == 1 {
                bob.lock().await.call(r).await.map_err(err)
            } else {
                call(&app, r).await
            }
        }
    };

    // 2. contact requests: alice → bob, alice → carol, bob → carol
    let pairs = [(0usize, 1usize), (0, 2), (1, 2)];
    for (from, to) in pairs {
        let ApiResponse::ContactRequestReference { reference } =
            via(to, ApiRequest::ContactRequestReference).await?
        else {
            return Err("no contact card".into());
        };
        via(from, ApiRequest::ContactRequestSend { contact: reference }).await?;
    }
    section.contact_requests_sent = pairs.len() as u64;
    // ten messages in a row, each waiting for a pull at least, and at a slow profile
    // (mobile: 5 s pulls, 0.4 real packets/s) a 7-fragment rendezvous registration first
    let contacts_wait = Duration::from_secs(40).max(setup.pull_interval * 50);
    let contacts_deadline = deadline.min(Instant::now() + contacts_wait);
    // the group needs only alice's two contacts: bob and carol's forms meanwhile, and is
    // counted at the end
    let all_contacts = watch_contacts(&apps, &pairs, started);
    let alices = [pairs[0], pairs[1]];
    let _ = wait_for(contacts_deadline, "alice's contacts", || async {
        let mut n = 0;
        for (a, b) in alices {
            if contact_ready(&apps[a], &apps[b]).await {
                n += 1;
            }
        }
        n == alices.len()
    })
    .await;
    for (a, b) in alices {
        if contact_ready(&apps[a], &apps[b]).await {
            section.contacts_established += 1;
        }
    }
    if section.contacts_established < alices.len() as u64 {
        section.contacts_after_s = round2(started.elapsed().as_secs_f64());
        return Err(format!(
            "only {} of alice's {} contacts established",
            section.contacts_established,
            alices.len()
        ));
    }
    let result = group_and_messages(setup, section, started, observed, &apps, &via, &bob).await;
    // bob and carol's contact, however the rest went
    let _ = wait_for(deadline, "bob and carol's contact", || async {
        all_contacts.borrow().is_some()
    })
    .await;
    section.contacts_established = 0;
    for (a, b) in pairs {
        if contact_ready(&apps[a], &apps[b]).await {
            section.contacts_established += 1;
        }
    }
    section.contacts_after_s = all_contacts.borrow().unwrap_or_default();
    server.shutdown();
    for a in &apps {
        if let Ok(ApiResponse::Stats(s)) = a.call(ApiRequest::Stats).await {
            section.entries_refused += s.refused_invalid_entry + s.refused_envelope;
            section.entries_duplicate += s.entries_duplicate;
        }
        a.shutdown().await;
    }
    result
}

/// Seconds since `started` when every pair was a contact (`None` until then), polled in
/// the background while the story goes on.
fn watch_contacts(
    apps: &[WeshApp],
    pairs: &[(usize, usize)],
    started: Instant,
) -> tokio::sync::watch::Receiver<Option<f64>> {
    let (tx, rx) = tokio::sync::watch::channel(None);
    let apps = apps.to_vec();
    let pairs = pairs.to_vec();
    tokio::spawn(async move {
        loop {
            let mut all = true;
            for (a, b) in &pairs {
                all &= contact_ready(&apps[*a], &apps[*b]).await;
            }
            if all {
                let _ = tx.send(Some(round2(started.elapsed().as_secs_f64())));
                return;
            }
            if tx.is_closed() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    rx
}

/// The group, its messages, carol's absence and catch-up.
async fn group_and_messages<V, F>(
    setup: &ScenarioSetup,
    section: &mut WeshSection,
    started: Instant,
    observed: Arc<Mutex<Observed>>,
    apps: &[WeshApp],
    via: &V,
    bob: &Arc<Mutex<ApiClient>>,
) -> Result<(), String>
where
    V: Fn(usize, ApiRequest) -> F,
    F: std::future::Future<Output = Result<ApiResponse, String>>,
{
    let deadline = setup.deadline;
    // 3. alice creates the group, registers it at the replication provider, and invites
    // bob and carol through their contact groups
    let ApiResponse::Group { group } = call(&apps[0], ApiRequest::MultiMemberGroupCreate).await?
    else {
        return Err("no group".into());
    };
    call(
        &apps[0],
        ApiRequest::ReplicationServiceRegisterGroup {
            group: group.clone(),
            provider: hex::encode(setup.replication_provider.0),
        },
    )
    .await?;
    section.replication_provider = hex::encode(&setup.replication_provider.0[..8]);
    let ApiResponse::Invitation { invitation } = call(
        &apps[0],
        ApiRequest::MultiMemberGroupInvitationCreate {
            group: group.clone(),
        },
    )
    .await?
    else {
        return Err("no invitation".into());
    };
    let invite = [
        INVITE_PREFIX,
        &hex::decode(&invitation).map_err(|e| e.to_string())?,
    ]
    .concat();
    let alice_contacts = contacts_of(&apps[0]).await;
    for (_, contact_group) in alice_contacts {
        call(
            &apps[0],
            ApiRequest::AppMessageSend {
                group: contact_group,
                payload: hex::encode(&invite),
            },
        )
        .await?;
    }
    // formed: every member knows every device and can open what each other one writes
    // (holds its chain key), so the first messages do not wait for the last chain keys
    wait_for(deadline, "every member to see the whole group", || async {
        for a in apps {
            if group_view(a, &group).await != (3, 3, 2) {
                return false;
            }
        }
        true
    })
    .await?;
    section.group_members = 3;
    section.group_after_s = round2(started.elapsed().as_secs_f64());

    // 4. everyone writes while online
    let send = |sender: usize, n: usize, while_offline: bool| {
        let via = &via;
        let group = group.clone();
        let observed = observed.clone();
        async move {
            let payload = format!("{} says hello #{n}", NAMES[sender]).into_bytes();
            observed.lock().await.messages.insert(
                payload.clone(),
                Tracked {
                    sent_at: Instant::now(),
                    sender,
                    while_offline,
                    received: HashMap::new(),
                },
            );
            via(
                sender,
                ApiRequest::AppMessageSend {
                    group,
                    payload: hex::encode(payload),
                },
            )
            .await
        }
    };
    let round_gap = round_gap(setup.traffic.real_rate);
    for n in 0..ONLINE_MESSAGES {
        if n > 0 {
            tokio::time::sleep(round_gap).await;
        }
        for s in 0..apps.len() {
            send(s, n, false).await?;
        }
    }
    let all_delivered = |offline_ok: bool| {
        let observed = observed.clone();
        async move {
            let o = observed.lock().await;
            o.messages.values().all(|t| {
                (0..NAMES.len())
                    .filter(|r| *r != t.sender && !(offline_ok && *r == 2 && t.while_offline))
                    .all(|r| t.received.contains_key(&r))
            })
        }
    };
    wait_for(deadline, "the group messages", || all_delivered(false)).await?;

    // 5. carol goes offline; alice and bob keep writing
    apps[2].go_offline().await.map_err(err)?;
    let away = Instant::now();
    for n in ONLINE_MESSAGES..ONLINE_MESSAGES + OFFLINE_MESSAGES {
        if n > ONLINE_MESSAGES {
            tokio::time::sleep(round_gap).await;
        }
        for s in 0..2 {
            send(s, n, true).await?;
        }
    }
    wait_for(
        deadline,
        "alice and bob to see each other's messages",
        || all_delivered(true),
    )
    .await?;
    // give carol's copies time to land in her mailbox (they are acked once stored)
    tokio::time::sleep(LAND_WAIT).await;
    section.offline_seconds = round2(away.elapsed().as_secs_f64());

    // 6. carol comes back: history from the replication provider, then her mailbox
    let fetched = apps[2].come_online().await.map_err(err)?;
    section.history_entries_fetched = fetched as u64;
    let caught = match wait_for(deadline, "carol to catch up", || all_delivered(false)).await {
        Ok(()) => Ok(()),
        Err(e) => Err(format!("{e}: {}", missing(&observed).await)),
    };
    section.offline_caught_up = caught.is_ok();
    {
        let o = observed.lock().await;
        section.offline_missed = o.messages.values().filter(|t| t.while_offline).count() as u64;
    }
    if let ApiResponse::Messages { messages } = call(
        &apps[2],
        ApiRequest::GroupMessageList {
            group: group.clone(),
            follow: false,
        },
    )
    .await?
    {
        section.carol_messages = messages.iter().filter(|m: &&MessageView| !m.own).count() as u64;
    }
    // the replication provider verified and kept the entries, but holds no plaintext
    if let (Some((_, replica)), Ok(gid)) = (
        setup
            .replicas
            .iter()
            .find(|(n, _)| *n == setup.replication_provider),
        wesh_shell::wesh_app::api::parse_id("group", &group),
    ) {
        let stored = replica.stored_entries(&gid).concat();
        let o = observed.lock().await;
        let hits = o
            .messages
            .keys()
            .filter(|p| stored.windows(p.len()).any(|w| w == p.as_slice()))
            .count();
        section.replica_plaintext_hits = Some(hits as u64);
        section.replica_bytes = stored.len() as u64;
    }
    // bob's messages, listed through the socket: the ones alice and carol wrote
    if let Ok(ApiResponse::Messages { messages }) = bob
        .lock()
        .await
        .call(ApiRequest::GroupMessageList {
            group: group.clone(),
            follow: false,
        })
        .await
    {
        section.api_bob_messages = messages.len() as u64;
    }
    caught
}

/// The messages some member has not opened yet, as "sender #n → receivers", for the
/// error of a story that timed out.
async fn missing(observed: &Mutex<Observed>) -> String {
    let o = observed.lock().await;
    let mut gaps: Vec<String> = o
        .messages
        .iter()
        .filter_map(|(payload, t)| {
            let lacking: Vec<&str> = (0..NAMES.len())
                .filter(|r| *r != t.sender && !t.received.contains_key(r))
                .map(|r| NAMES[r])
                .collect();
            (!lacking.is_empty()).then(|| {
                format!(
                    "\"{}\" (sent {:.1} s ago) not opened by {}",
                    String::from_utf8_lossy(payload),
                    t.sent_at.elapsed().as_secs_f64(),
                    lacking.join(", ")
                )
            })
        })
        .collect();
    gaps.sort();
    gaps.join("; ")
}

/// Time between two rounds of messages: [`ROUND_GAP`], or longer when the profile's real
/// stream is slow, so that a round (two member copies per sender) takes at most half of
/// each sender's λ_P and the story measures latency, not a queue that only grows.
fn round_gap(real_rate: f64) -> Duration {
    Duration::from_secs_f64((4.0 / real_rate.max(0.01)).max(ROUND_GAP.as_secs_f64()))
}

/// Counts and latencies from what the scenario observed.
pub fn finish(section: &mut WeshSection, latencies: &[f64]) {
    let mut v = latencies.to_vec();
    v.sort_by(f64::total_cmp);
    section.latency_ms = WeshLatency {
        p50: round2(percentile(&v, 50.0)),
        p99: round2(percentile(&v, 99.0)),
        max: round2(v.last().copied().unwrap_or(0.0)),
        samples: v.len() as u64,
    };
}
