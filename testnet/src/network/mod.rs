//! `wesh testnet`: a whole mixnet on loopback in one process (every node with its own
//! libp2p swarm and real TCP sockets), a synthetic message load, a drain, and a summary.

pub mod attacks;
pub mod faults;
pub mod link_observer;
pub mod messages;
pub mod rewards;
pub mod summary;
pub mod wesh_scenario;

use clap::Args;
use messages::{MessageTally, encode_body};
use rand::RngExt;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};
use summary::{Summary, percentile, round2};
use thiserror::Error;
use tokio::sync::mpsc;
use wesh_metrics::get;
use wesh_mix::params::{self, MIX_LAYERS};
use wesh_mix::{
    ClientTrafficConfig, MixPayload, PoissonStream, RouteNode, Topology, TrafficKind, decode_probe,
};
use wesh_shell::drivers::client_traffic::{
    ClientEvent, ClientSpec, ClientState, RunningClient, start_client,
};
use wesh_shell::drivers::packet_path::{PkiSetup, RelayHandle, RelaySpec, start_relay};
use wesh_shell::keys::{NodeKeys, peer_id_of};
use wesh_shell::storage::{MailboxLimits, MailboxStore};
use wesh_shell::topology_file::Role;

#[derive(Debug, Clone, Args)]
pub struct TestnetArgs {
    /// Seconds of traffic before the clients stop sending and the network drains. The
    /// Wesh story runs only when this is at least 35 (it needs about 30 s).
    #[arg(long, default_value_t = 40)]
    pub seconds: u64,
    /// Mixes in each of the 3 layers.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=32))]
    pub mixes_per_layer: u64,
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=32))]
    pub providers: u64,
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(2..=256))]
    pub clients: u64,
    /// Mean per-hop mixing delay in milliseconds (1/μ).
    #[arg(long, default_value_t = params::DEFAULT_MEAN_HOP_DELAY.as_millis() as u64)]
    pub mean_delay_ms: u64,
    /// Client real-stream rate λ_P (packets/s).
    #[arg(long, default_value_t = params::DEFAULT_CLIENT_REAL_RATE)]
    pub real_rate: f64,
    /// Client loop-cover rate λ_L (packets/s).
    #[arg(long, default_value_t = params::DEFAULT_CLIENT_LOOP_RATE)]
    pub loop_rate: f64,
    /// Client drop-cover rate λ_D (packets/s).
    #[arg(long, default_value_t = params::DEFAULT_CLIENT_DROP_RATE)]
    pub drop_rate: f64,
    /// Mix loop-cover rate λ_M (packets/s per mix).
    #[arg(long, default_value_t = params::DEFAULT_MIX_LOOP_RATE)]
    pub mix_loop_rate: f64,
    /// Messages each client's user writes per second (must stay below λ_P to keep up).
    #[arg(long, default_value_t = 1.0)]
    pub message_rate: f64,
    /// Sphinx worker threads per node.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub workers: u64,
    /// Make the first provider send every packet it forwards twice, as an attacker
    /// replaying captured packets would; the next hop must drop the copies.
    #[arg(long)]
    pub replay_attack: bool,
    /// Epoch length of the gossip PKI: Sphinx keys rotate and descriptors are republished
    /// every epoch.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(4..=86_400))]
    pub epoch_seconds: u64,
    /// Reliable messages each client's user sends per second (fragmented, acked by the
    /// recipient's provider once stored, retransmitted when an ack is late).
    #[arg(long, default_value_t = 0.3)]
    pub reliable_rate: f64,
    /// Size of one large reliable message client 0 sends to client 1 at the start, in
    /// bytes (0: none).
    #[arg(long, default_value_t = 1_048_576, value_parser = clap::value_parser!(u64).range(0..=wesh_mix::params::MAX_MESSAGE_BYTES as u64))]
    pub bulk_bytes: u64,
    /// Real-stream rate λ_P (packets/s) of the client sending the large message: at the
    /// default 2/s a MiB (685 fragments) would take six minutes.
    #[arg(long, default_value_t = 60.0)]
    pub bulk_rate: f64,
    /// Clients that go offline (connections closed) at a quarter of the run and come back
    /// at three fifths; what is sent to them meanwhile waits in their mailboxes.
    #[arg(long, default_value_t = 1)]
    pub offline_clients: u64,
    /// Kill one mix (layer 2) at this second of the run: what it held is lost, senders
    /// retransmit over other routes.
    #[arg(long)]
    pub kill_mix_at: Option<u64>,
    /// After the traffic stops, how long reliable messages may still take to arrive
    /// (retransmissions keep flowing meanwhile), in seconds.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub settle_seconds: u64,
    /// How often the synthetic clients pull their mailboxes, in milliseconds.
    #[arg(long, default_value_t = params::DEFAULT_PULL_INTERVAL.as_millis() as u64, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub pull_interval_ms: u64,
    /// Slots in every pull answer of the synthetic clients (1 to 16). They are busy
    /// clients (each gets --message-rate messages a second from the others, plus the acks
    /// of what it sends), so they pull more than the default profile's 4.
    #[arg(long, default_value_t = 8, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=16))]
    pub pull_slots: usize,
    /// How often the two clients of the large message pull, in milliseconds, 16 payloads
    /// per pull. Clients pull on a fixed schedule (never faster because mail waits), so the
    /// receiver (fragments) and the sender (their acks) of a bulk transfer have to tick
    /// faster, as the sender sends faster.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub bulk_pull_interval_ms: u64,
    /// Run a token issuer: clients buy sending credit at their providers with blind-signed
    /// tokens, providers redeem them at the issuer.
    #[arg(long)]
    pub payments: bool,
    /// (implies --payments) An attacker spends one token twice at one provider and once
    /// more at another; the provider and the issuer must refuse the double spends.
    #[arg(long)]
    pub double_spend_attack: bool,
    /// Make the first layer-1 mix silently drop this fraction of the packets it should
    /// forward (0 to 1): the secret shopper should score it about that much lower.
    #[arg(long, default_value_t = 0.0)]
    pub dropping_mix: f64,
    /// Give every node the topology directly instead of running the gossip PKI.
    #[arg(long)]
    pub static_topology: bool,
    /// Traffic profile of the Wesh story's three clients (`default`, `mobile` or `fast`,
    /// as `wesh client --profile`): the story shows what users of that profile get
    /// (reported as `wesh.client_profile`).
    #[arg(long, default_value = "default")]
    pub wesh_profile: String,
    /// Skip the Wesh story (three accounts become contacts, form a replicated group,
    /// write to it, one goes offline and catches up); only the synthetic load runs.
    #[arg(long)]
    pub no_wesh: bool,
    /// Run attacks of the security review against the live network while honest traffic
    /// flows, and report per attack whether it was refused: `all`, or a comma list of
    /// api-cross-origin, api-no-credential, pki-sync-flood, equivocation-spam, desk-wedge,
    /// desk-binding-hijack, reassembly-flood, mix-entry-bypass, self-redeem, replica-flood,
    /// loop-id-leak (spec/security.md). Attacks that need the issuer turn payments on.
    #[arg(long, value_parser = parse_attacks)]
    pub attacks: Option<AttackList>,
    /// Print one JSON object on stdout instead of the readable summary.
    #[arg(long)]
    pub json: bool,
}

/// The attacks `--attacks` selected.
#[derive(Debug, Clone)]
pub struct AttackList(pub Vec<attacks::AttackName>);

fn parse_attacks(s: &str) -> Result<AttackList, String> {
    attacks::parse_attack_list(s).map(AttackList)
}

#[derive(Debug, Error)]
pub enum TestnetError {
    #[error("relay: {0}")]
    Relay(#[from] wesh_shell::drivers::packet_path::RelayError),
    #[error("client: {0}")]
    Client(#[from] wesh_shell::drivers::client_traffic::ClientError),
    #[error("{0}")]
    Setup(String),
}

struct Node {
    keys_public: RouteNode,
    handle: RelayHandle,
}

/// What the event collector tallies from the clients.
#[derive(Default)]
struct Tally {
    real_sent: HashMap<(u32, u64), (Instant, Duration)>,
    real_delivered: HashSet<(u32, u64)>,
    latencies: Vec<f64>,
    sampled: Vec<f64>,
    loops_sent: HashSet<(u32, u64)>,
    loops_returned: HashSet<(u32, u64)>,
    drops: u64,
    /// The links' observer, told what each client sends.
    link: Option<Arc<link_observer::LinkObserver>>,
}

impl Tally {
    fn absorb(&mut self, ev: ClientEvent) {
        match ev {
            ClientEvent::Sent {
                client,
                kind,
                at,
                sampled_delay,
                ..
            } => match kind {
                TrafficKind::Real { id, .. } => {
                    self.real_sent.insert((client, id), (at, sampled_delay));
                }
                TrafficKind::Loop { id } => {
                    self.loops_sent.insert((client, id));
                }
                TrafficKind::Drop => self.drops += 1,
                // reliable (fragmented) messages are tallied by the message layer
                TrafficKind::Fragment { .. } => {}
            },
            ClientEvent::Received {
                client,
                payload,
                at,
            } => match payload {
                MixPayload::Real(body) => {
                    if let Some(key) = decode_probe(&body)
                        && let Some((sent_at, sampled)) = self.real_sent.get(&key)
                        && self.real_delivered.insert(key)
                    {
                        self.latencies
                            .push(at.duration_since(*sent_at).as_secs_f64() * 1e3);
                        self.sampled.push(sampled.as_secs_f64() * 1e3);
                    }
                }
                MixPayload::Loop { id } => {
                    if self.loops_sent.contains(&(client, id)) {
                        self.loops_returned.insert((client, id));
                    }
                }
                MixPayload::Drop
                | MixPayload::Fragment { .. }
                | MixPayload::Ack { .. }
                | MixPayload::SurbData { .. } => {}
            },
            // reliable messages are tallied by `MessageTally`
            ClientEvent::MessageReceived { .. }
            | ClientEvent::MessageDelivered { .. }
            | ClientEvent::MessageFailed { .. } => {}
        }
    }

    fn settled(&self) -> bool {
        self.real_delivered.len() == self.real_sent.len()
            && self.loops_returned.len() == self.loops_sent.len()
    }
}

/// True once every relay holds a descriptor of every relay and all directories agree.
async fn wait_converged(all: &[&Node], within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        let statuses: Vec<_> = all
            .iter()
            .filter_map(|n| {
                n.handle
                    .pki_status
                    .as_ref()?
                    .lock()
                    .ok()
                    .map(|s| (s.descriptors, s.digest))
            })
            .collect();
        let agreed = statuses.len() == all.len()
            && statuses
                .iter()
                .all(|(count, digest)| *count >= all.len() && *digest == statuses[0].1);
        if agreed {
            return true;
        }
        if Instant::now() > deadline {
            let views: Vec<String> = statuses
                .iter()
                .map(|(n, d)| format!("{n}:{}", hex::encode(&d[..3])))
                .collect();
            tracing::warn!(relays = all.len(), views = %views.join(" "), "directories disagree (descriptors:digest per relay)");
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn run(args: TestnetArgs) -> Result<Summary, TestnetError> {
    let mean_delay = Duration::from_millis(args.mean_delay_ms);
    let profile = wesh_mix::ClientProfile::named(&args.wesh_profile)
        .map_err(|e| TestnetError::Setup(format!("--wesh-profile: {e}")))?;
    if mean_delay > params::MAX_HOP_DELAY {
        return Err(TestnetError::Setup(format!(
            "--mean-delay-ms {} exceeds the {} s maximum hop delay",
            args.mean_delay_ms,
            params::MAX_HOP_DELAY.as_secs()
        )));
    }
    if !(0.0..=1.0).contains(&args.dropping_mix) {
        return Err(TestnetError::Setup(format!(
            "--dropping-mix {} is not a fraction between 0 and 1",
            args.dropping_mix
        )));
    }
    let started_setup = Instant::now();
    let localhost: libp2p::Multiaddr = "/ip4/127.0.0.1/tcp/0"
        .parse()
        .map_err(|e| TestnetError::Setup(format!("{e}")))?;
    let width = args.mixes_per_layer as usize;
    let pki_params = if args.static_topology {
        None
    } else {
        // the previous key stays live for half an epoch: far longer than any packet
        // needs to cross the network (P[4 hops > 5 s] is negligible at 200 ms per hop)
        let p = wesh_pki::PkiParams::with_epoch_length(args.epoch_seconds)
            .map_err(|e| TestnetError::Setup(format!("--epoch-seconds: {e}")))?;
        Some(wesh_pki::PkiParams {
            grace_period_secs: args.epoch_seconds / 2,
            ..p
        })
    };
    let mut bootstrap: Vec<(libp2p::PeerId, libp2p::Multiaddr)> = Vec::new();
    // each provider's mailboxes in a real rocksdb, removed when the run ends
    let store_root = tempfile::Builder::new()
        .prefix("wesh-testnet-")
        .tempdir()
        .map_err(|e| TestnetError::Setup(format!("cannot create a temporary directory: {e}")))?;

    // 0. the token issuer
    let selected_attacks = args.attacks.clone().map(|a| a.0).unwrap_or_default();
    let payments = args.payments
        || args.double_spend_attack
        || selected_attacks.iter().any(|a| a.needs_payments());
    let (issuer_stop_tx, issuer_stop) = tokio::sync::watch::channel(false);
    let issuer = if payments {
        let keys = NodeKeys::generate();
        let running = wesh_shell::issuer::role::start_issuer_with_pki(
            &keys,
            &store_root.path().join("issuer"),
            std::slice::from_ref(&localhost),
            PAYMENTS_EPOCH_SECONDS,
            wesh_payments::params::FREE_TOKENS_PER_EPOCH,
            None,
            issuer_stop,
        )
        .await
        .map_err(|e| TestnetError::Setup(e.to_string()))?;
        let addr = running
            .net
            .listen_addrs
            .first()
            .cloned()
            .ok_or_else(|| TestnetError::Setup("issuer has no listen address".into()))?;
        let address = wesh_shell::credit::IssuerAddress {
            peer: running.net.peer_id,
            addr,
            epoch_seconds: PAYMENTS_EPOCH_SECONDS,
        };
        Some((running, address))
    } else {
        None
    };
    let issuer_address = issuer.as_ref().map(|(_, a)| a.clone());

    // 1. relays: mixes layer by layer, then providers, each watched by the links' observer
    let observer = link_observer::LinkObserver::new();
    let mut mixes: Vec<Vec<Node>> = Vec::new();
    let mut providers: Vec<Node> = Vec::new();
    for layer in 0..=MIX_LAYERS {
        let (role, count) = if layer < MIX_LAYERS {
            (Role::Mix, width)
        } else {
            (Role::Provider, args.providers as usize)
        };
        let mut row = Vec::new();
        for i in 0..count {
            let keys = NodeKeys::generate();
            let keys_public = RouteNode {
                id: keys
                    .node_id()
                    .map_err(|e| TestnetError::Setup(e.to_string()))?,
                sphinx_key: keys.sphinx_public(),
            };
            let mailboxes = match role {
                Role::Provider => Some(Arc::new(
                    MailboxStore::open(
                        store_root.path().join(format!("provider-{i}")),
                        MailboxLimits::default(),
                    )
                    .map_err(|e| TestnetError::Setup(e.to_string()))?,
                )),
                Role::Mix => None,
            };
            let handle = start_relay(RelaySpec {
                keys,
                role,
                listen: vec![localhost.clone()],
                workers: args.workers as usize,
                mean_hop_delay: mean_delay,
                loop_rate: args.mix_loop_rate,
                addresses: Vec::new(),
                topology: None,
                hook: Some(observer.hook(
                    (layer * width + i) as u32,
                    faults::relay_fault(
                        args.replay_attack && role == Role::Provider && i == 0,
                        // the first mix of layer 1 cheats when asked to
                        if layer == 0 && i == 0 {
                            args.dropping_mix
                        } else {
                            0.0
                        },
                    ),
                )),
                pki: pki_params.as_ref().map(|params| PkiSetup {
                    params: params.clone(),
                    bootstrap: bootstrap.clone(),
                    announce: Vec::new(),
                    capacity_pps: 10_000,
                    keyring_path: None,
                }),
                data_dir: None,
                mailboxes,
                payments: match (&issuer_address, role) {
                    (Some(issuer), Role::Provider) => {
                        Some(wesh_shell::drivers::packet_path::ProviderPayments {
                            credit: Arc::new(wesh_shell::credit::provider::ProviderCredit::new(
                                wesh_shell::storage::spent_store::SpentStore::open(
                                    store_root.path().join(format!("provider-{i}-spent")),
                                )
                                .map_err(|e| TestnetError::Setup(e.0))?,
                                PAYMENTS_EPOCH_SECONDS,
                            )),
                            issuer: issuer.clone(),
                            redeem_every: Duration::from_secs(5),
                        })
                    }
                    _ => None,
                },
            })
            .await?;
            // the first relay is everyone else's bootstrap peer
            if bootstrap.is_empty() && pki_params.is_some() {
                let addr = handle
                    .listen_addrs()
                    .first()
                    .cloned()
                    .ok_or_else(|| TestnetError::Setup("relay has no listen address".into()))?;
                bootstrap.push((handle.net.peer_id, addr));
            }
            row.push(Node {
                keys_public,
                handle,
            });
        }
        if layer < MIX_LAYERS {
            mixes.push(row)
        } else {
            providers = row
        }
    }
    let all: Vec<&Node> = mixes.iter().flatten().chain(providers.iter()).collect();
    // the issuer runs without the PKI here: it takes the providers that may redeem from
    // the directory the first provider follows
    if let (Some((running, _)), Some(first)) = (&issuer, providers.first()) {
        running.follow_routing_view(first.handle.routing_watch(), issuer_stop_tx.subscribe());
    }
    let topology = Topology::new(
        mixes
            .iter()
            .map(|l| l.iter().map(|n| n.keys_public).collect())
            .collect(),
        providers.iter().map(|n| n.keys_public).collect(),
    )
    .map_err(|e| TestnetError::Setup(e.to_string()))?;
    let mut book = Vec::new();
    for n in &all {
        let peer = peer_id_of(&n.keys_public.id)
            .ok_or_else(|| TestnetError::Setup("bad node id".into()))?;
        let addr = n
            .handle
            .listen_addrs()
            .first()
            .cloned()
            .ok_or_else(|| TestnetError::Setup("relay has no listen address".into()))?;
        book.push((peer, addr));
    }
    if pki_params.is_none() {
        for n in &all {
            for (peer, addr) in &book {
                n.handle.net.add_address(*peer, addr.clone());
            }
        }
    } else if !wait_converged(&all, Duration::from_secs(30)).await {
        return Err(TestnetError::Setup(
            "the gossip PKI did not converge within 30 s".into(),
        ));
    }
    let pki_converged_after = started_setup.elapsed();
    // the same services as `wesh mix` and `wesh provider`: every provider can be a
    // replication provider for Wesh groups and is a rendezvous desk for contact requests;
    // with payments, every relay reports its work to the issuer
    let mut replicas = Vec::new();
    let mut desks = Vec::new();
    let mut desk_nodes = Vec::new();
    let mut services = Vec::new();
    for (i, n) in all.iter().enumerate() {
        let s = wesh_shell::roles::services::start_relay_services(
            &n.handle,
            &store_root.path().join(format!("relay-{i}-replica")),
            issuer_address.clone(),
        )
        .map_err(|e| TestnetError::Setup(e.to_string()))?;
        if let Some(r) = &s.replication {
            replicas.push((n.keys_public.id, r.clone()));
        }
        if let Some(d) = &s.rendezvous {
            desks.push(d.clone());
            desk_nodes.push(n.keys_public.id);
        }
        services.push(s);
    }

    // 2. clients, each on a provider, reporting to one collector
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let traffic = ClientTrafficConfig {
        real_rate: args.real_rate,
        loop_rate: args.loop_rate,
        drop_rate: args.drop_rate,
        mean_hop_delay: mean_delay,
        real_timing: Default::default(),
    };
    let n_clients = args.clients as usize;
    let bulk = args.bulk_bytes > 0;
    // the offline clients are the last ones; clients 0 and 1 (the bulk pair) stay online
    let n_offline = (args.offline_clients as usize).min(n_clients.saturating_sub(2));
    let pull_interval = Duration::from_millis(args.pull_interval_ms);
    let provider_of = |i: usize| &providers[i % providers.len()];
    let spec_for = |i: usize, state: ClientState| -> Result<ClientSpec, TestnetError> {
        let addr = provider_of(i)
            .handle
            .listen_addrs()
            .first()
            .cloned()
            .ok_or_else(|| TestnetError::Setup("provider has no address".into()))?;
        Ok(ClientSpec {
            state,
            index: i as u32,
            provider_addr: addr,
            topology: pki_params.is_none().then(|| topology.clone()),
            pki: pki_params.clone(),
            pull_interval: if bulk && i <= 1 {
                Duration::from_millis(args.bulk_pull_interval_ms)
            } else {
                pull_interval
            },
            pull_slots: if bulk && i <= 1 {
                params::PULL_SLOTS
            } else {
                args.pull_slots
            },
            bytes: Arc::default(),
            observer: Some(events_tx.clone()),
            store: None,
            payments: issuer_address.clone(),
        })
    };
    let mut clients: Vec<Option<RunningClient>> = Vec::new();
    for i in 0..n_clients {
        let mut t = traffic;
        if bulk && i == 0 {
            t.real_rate = args.bulk_rate;
        }
        let state = ClientState::generate(provider_of(i).keys_public.id, t)?;
        clients.push(Some(start_client(spec_for(i, state)?).await?));
    }
    let handles: Vec<_> = clients.iter().flatten().map(|c| c.handle.clone()).collect();
    // every client's mailbox must be registered before traffic starts
    wait_until(
        Duration::from_secs(10),
        "clients did not register their mailboxes within 10 s",
        || handles.iter().all(|h| h.mailbox_ready.load(Relaxed)),
    )
    .await?;
    if pki_params.is_none() {
        for n in &all {
            n.handle.set_topology(topology.clone()).await;
        }
    }
    for n in &all {
        n.handle.start_cover();
    }
    wait_until(
        Duration::from_secs(15),
        "clients got no routable directory within 15 s",
        || handles.iter().all(|h| h.topology_ready.load(Relaxed)),
    )
    .await?;
    wait_until(
        Duration::from_secs(15),
        "clients got no sending credit within 15 s",
        || handles.iter().all(|h| h.credit_ready.load(Relaxed)),
    )
    .await?;
    // the Wesh story tells the attacks where its app API listens
    let (api_announce, api_target) = tokio::sync::watch::channel(None);
    let wesh = if args.no_wesh || args.seconds < WESH_MIN_SECONDS {
        None
    } else {
        let mut homes = Vec::new();
        let mut list = Vec::new();
        for p in &providers {
            let addr = p
                .handle
                .listen_addrs()
                .first()
                .cloned()
                .ok_or_else(|| TestnetError::Setup("provider has no address".into()))?;
            homes.push((p.keys_public.id, addr.clone()));
            list.push((p.keys_public.id, addr));
        }
        let topology = pki_params.is_none().then(|| topology.clone());
        let pki = pki_params.clone();
        let issuer = issuer_address.clone();
        let (story_interval, story_slots) = (profile.pull_interval, profile.pull_slots);
        let make_spec: Arc<dyn Fn(ClientState, libp2p::Multiaddr) -> ClientSpec + Send + Sync> =
            Arc::new(move |state, addr| ClientSpec {
                state,
                index: 1000,
                provider_addr: addr,
                topology: topology.clone(),
                pki: pki.clone(),
                pull_interval: story_interval,
                pull_slots: story_slots,
                bytes: Arc::default(),
                observer: None,
                store: None,
                payments: issuer.clone(),
            });
        let setup = wesh_scenario::ScenarioSetup {
            providers: wesh_shell::wesh_app::ProviderBook::new(list)
                .map_err(|e| TestnetError::Setup(e.to_string()))?,
            homes,
            traffic: ClientTrafficConfig {
                mean_hop_delay: mean_delay,
                ..profile.traffic
            },
            profile: profile.name.clone(),
            pull_interval: profile.pull_interval,
            make_spec,
            // the last provider keeps the group (alice's home is the first)
            replication_provider: providers
                .last()
                .map(|p| p.keys_public.id)
                .ok_or_else(|| TestnetError::Setup("no provider".into()))?,
            replicas: replicas.clone(),
            desks: desks.clone(),
            deadline: Instant::now() + Duration::from_secs(args.seconds + args.settle_seconds),
            api_announce,
        };
        Some(tokio::spawn(wesh_scenario::run(setup)))
    };
    let attack = match (&issuer_address, args.double_spend_attack) {
        (Some(issuer), true) => Some(double_spend_attack(issuer, &providers).await?),
        _ => None,
    };
    // the secret shopper pays and loops like a client, through every mix and provider
    let reward_epoch =
        wesh_shell::issuer::epoch_at(wesh_shell::pki::service::unix_now(), PAYMENTS_EPOCH_SECONDS);
    let monitor = match (&issuer_address, providers.first()) {
        (Some(issuer), Some(first)) => {
            let view = first
                .handle
                .routing_view()
                .ok_or_else(|| TestnetError::Setup("no routing view for the monitor".into()))?;
            let book: Vec<_> = providers
                .iter()
                .filter_map(|p| Some((p.keys_public.id, p.handle.listen_addrs().first()?.clone())))
                .collect();
            let m = Arc::new(
                wesh_shell::monitor::Monitor::start(
                    &view,
                    &book,
                    Some(issuer.clone()),
                    mean_delay,
                    pull_interval,
                )
                .await
                .map_err(|e| TestnetError::Setup(e.to_string()))?,
            );
            wait_until(
                Duration::from_secs(15),
                "the monitor got no sending credit within 15 s",
                || m.credit_ready.iter().all(|r| r.load(Relaxed)),
            )
            .await?;
            let planned = wesh_shell::monitor::spawn_loops(
                m.clone(),
                reward_epoch,
                first.handle.routing_watch(),
                Duration::from_secs(args.seconds),
                rewards::MONITOR_LOOPS_PER_SECOND,
            );
            Some((m, planned))
        }
        _ => None,
    };
    // the attacks run while the story and the probes do
    let attacks_task = if selected_attacks.is_empty() {
        None
    } else {
        let mut relays = Vec::new();
        for (layer, row) in mixes.iter().chain(std::iter::once(&providers)).enumerate() {
            for n in row {
                let Some(addr) = n.handle.listen_addrs().first().cloned() else {
                    continue;
                };
                relays.push(attacks::RelayTarget {
                    id: n.keys_public.id,
                    peer: n.handle.net.peer_id,
                    addr,
                    role: n.handle.role,
                    layer,
                    metrics: n.handle.metrics.clone(),
                    mailboxes: n.handle.mailboxes.clone(),
                    pki_status: n.handle.pki_status.clone(),
                    credit: n.handle.credit.clone(),
                });
            }
        }
        let targets = attacks::AttackTargets {
            relays,
            issuer: issuer_address.clone(),
            pki: pki_params.clone(),
            desks: desks.clone(),
            replicas: replicas.clone(),
            api: wesh.is_some().then_some(api_target),
            make_client: {
                let pki = pki_params.clone();
                let topology = pki_params.is_none().then(|| topology.clone());
                let issuer = issuer_address.clone();
                // attackers' clients drain their mailboxes at once (the attacks time them)
                let pull_slots = params::PULL_SLOTS;
                Arc::new(move |state, addr| ClientSpec {
                    state,
                    index: 2000,
                    provider_addr: addr,
                    topology: topology.clone(),
                    pki: pki.clone(),
                    pull_interval,
                    pull_slots,
                    bytes: Arc::default(),
                    observer: None,
                    store: None,
                    payments: issuer.clone(),
                })
            },
            traffic,
            desk_nodes: desk_nodes.clone(),
            new_client: Some(attack_client_maker(
                &providers,
                pki_params.is_none().then(|| topology.clone()),
                pki_params.clone(),
                issuer_address.clone(),
                pull_interval,
            )),
        };
        Some(tokio::spawn(attacks::run(
            selected_attacks.clone(),
            targets,
        )))
    };

    // 3. traffic: users write probes (single packets) and reliable messages to random
    // other users (Poisson); one client goes offline and back; one mix may die
    let mut tally = Tally {
        link: Some(observer.clone()),
        ..Tally::default()
    };
    let mut msgs = MessageTally::default();
    let started = Instant::now();
    let run_for = Duration::from_secs(args.seconds);
    let mut rng = rand::rng();
    let always_online = n_clients - n_offline;
    let mut writes = PoissonStream::new(
        args.message_rate * always_online as f64,
        Duration::ZERO,
        &mut rng,
    )
    .map_err(|e| TestnetError::Setup(format!("--message-rate: {e}")))?;
    let mut reliable_writes = PoissonStream::new(
        args.reliable_rate * n_clients as f64,
        Duration::ZERO,
        &mut rng,
    )
    .map_err(|e| TestnetError::Setup(format!("--reliable-rate: {e}")))?;
    let addresses: Vec<_> = handles.iter().map(|h| h.address).collect();
    let mut seqs = vec![0u64; n_clients];
    let mut offline_states: Vec<Option<ClientState>> = (0..n_clients).map(|_| None).collect();
    let offline_at = run_for / 4;
    let back_at = run_for * 3 / 5;
    let mut went_offline = false;
    let mut came_back = false;
    let kill_at = args.kill_mix_at.map(Duration::from_secs);
    let mut killed = false;
    let mut send = |from: usize, to: usize, len: usize, clients: &[Option<RunningClient>]| {
        let c = clients.get(from).and_then(|c| c.as_ref())?;
        seqs[from] += 1;
        let seq = seqs[from];
        let offline = clients.get(to).is_none_or(|c| c.is_none());
        Some((
            c.handle.clone(),
            (from as u32, seq),
            encode_body(from as u32, seq, len),
            offline,
        ))
    };
    if bulk {
        let len = args.bulk_bytes as usize;
        if let Some((h, key, body, offline)) = send(0, 1, len, &clients) {
            let id = h.send_message(addresses[1], body).await?;
            msgs.sent(key, id, len, offline);
            msgs.bulk = Some((key, None));
        }
    }
    loop {
        let now = started.elapsed();
        let next = [writes.next_at(), reliable_writes.next_at()]
            .into_iter()
            .flatten()
            .chain([
                run_for,
                if went_offline { run_for } else { offline_at },
                if came_back { run_for } else { back_at },
                kill_at.filter(|_| !killed).unwrap_or(run_for),
            ])
            .min()
            .unwrap_or(run_for)
            .min(run_for);
        if next > now {
            tokio::select! {
                _ = tokio::time::sleep_until((started + next).into()) => {}
                ev = events.recv() => { if let Some(ev) = ev { absorb(&mut tally, &mut msgs, ev) } continue }
            }
        }
        let now = started.elapsed();
        if now >= run_for {
            break;
        }
        if n_offline > 0 && !went_offline && now >= offline_at {
            went_offline = true;
            for i in always_online..n_clients {
                if let Some(c) = clients[i].take() {
                    offline_states[i] = Some(c.go_offline().await?);
                }
            }
            // make sure each offline client has mail waiting when it comes back
            for (i, to) in addresses.iter().enumerate().skip(always_online) {
                let from = i % always_online;
                if let Some((h, key, body, offline)) = send(from, i, 600, &clients) {
                    let len = body.len();
                    let id = h.send_message(*to, body).await?;
                    msgs.sent(key, id, len, offline);
                }
            }
        }
        if went_offline && !came_back && now >= back_at {
            came_back = true;
            for i in always_online..n_clients {
                if let Some(state) = offline_states[i].take() {
                    clients[i] = Some(start_client(spec_for(i, state)?).await?);
                }
            }
        }
        if let Some(at) = kill_at
            && !killed
            && now >= at
        {
            killed = true;
            if let Some(victim) = mixes.get(1).and_then(|l| l.first()) {
                tracing::info!(mix = %victim.keys_public.id, "killing a layer-2 mix");
                victim.handle.halt();
            }
        }
        while writes.fire(now, &mut rng) {
            if always_online < 2 {
                break;
            }
            let from = rng.random_range(0..always_online);
            let mut to = rng.random_range(0..always_online - 1);
            if to >= from {
                to += 1;
            }
            if let Some(c) = &clients[from]
                && let Err(e) = c.handle.probe(addresses[to]).await
            {
                tracing::warn!(error = %e, "client refused a message");
            }
        }
        while reliable_writes.fire(now, &mut rng) {
            let from = rng.random_range(0..n_clients);
            let mut to = rng.random_range(0..n_clients - 1);
            if to >= from {
                to += 1;
            }
            // a few fragments' worth at most, most fit one packet
            let len = rng.random_range(64..4000);
            if let Some((h, key, body, offline)) = send(from, to, len, &clients) {
                let len = body.len();
                match h.send_message(addresses[to], body).await {
                    Ok(id) => msgs.sent(key, id, len, offline),
                    Err(e) => tracing::warn!(error = %e, "client refused a reliable message"),
                }
            }
        }
    }
    if went_offline && !came_back {
        for i in always_online..n_clients {
            if let Some(state) = offline_states[i].take() {
                clients[i] = Some(start_client(spec_for(i, state)?).await?);
            }
        }
    }

    // 4. no new messages; reliable ones finish (streams still running, so retransmissions
    // can leave), then the streams stop and in-flight packets drain
    // with the Wesh story running (its deadline is the end of the settle window), the
    // synthetic messages get 3 s less, so that a run where both take their whole time
    // still drains and reports within seconds + settle + a few (the check gives the
    // command 58 s at --seconds 40)
    let settle_cap = Duration::from_secs(args.settle_seconds).saturating_sub(if wesh.is_some() {
        SETTLE_BEFORE_STORY_END
    } else {
        Duration::ZERO
    });
    let settle_started = Instant::now();
    tracing::info!(
        at_s = round2(started.elapsed().as_secs_f64()),
        pending = ?msgs.pending(),
        "testnet: traffic stopped"
    );
    while !msgs.settled() && settle_started.elapsed() < settle_cap {
        tokio::select! {
            ev = events.recv() => if let Some(ev) = ev { absorb(&mut tally, &mut msgs, ev) },
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
    }
    tracing::info!(
        at_s = round2(started.elapsed().as_secs_f64()),
        settled = msgs.settled(),
        "testnet: reliable messages settled"
    );
    // the Wesh story ends by its own deadline (the end of the settle window)
    let wesh_section = match wesh {
        Some(task) => match task.await {
            Ok(section) => Some(section),
            Err(e) => {
                tracing::warn!(error = %e, "wesh scenario task failed");
                None
            }
        },
        None => None,
    };
    tracing::info!(
        at_s = round2(started.elapsed().as_secs_f64()),
        "testnet: story done"
    );
    for c in clients.iter().flatten() {
        c.handle.stop_sending().await;
    }
    for n in &all {
        n.handle.stop_cover();
    }
    let drain_started = Instant::now();
    let drain_cap = if killed {
        // loops and probes the dead mix held never come back: do not wait for them
        Duration::from_secs(3)
    } else {
        (mean_delay * 40).clamp(Duration::from_secs(5), Duration::from_secs(20))
    };
    // every injected replay has reached the node that must drop it
    let replays_settled = |all: &[&Node]| {
        let injected: u64 = all
            .iter()
            .map(|n| get(&n.handle.metrics.replays_injected))
            .sum();
        let dropped: u64 = all.iter().map(|n| get(&n.handle.metrics.drop_replay)).sum();
        injected == dropped
    };
    let mix_loops = |all: &[&Node]| {
        let s: u64 = all
            .iter()
            .map(|n| get(&n.handle.metrics.mix_loops_sent))
            .sum();
        let r: u64 = all
            .iter()
            .map(|n| get(&n.handle.metrics.mix_loops_returned))
            .sum();
        (s, r)
    };
    // a short quiet period first, so that packets handed to links just before the stop
    // have been reported as sent
    let quiet_until = Instant::now() + Duration::from_millis(100);
    let mut drained = false;
    while drain_started.elapsed() < drain_cap {
        let (ms, mr) = mix_loops(&all);
        if Instant::now() > quiet_until && tally.settled() && ms == mr && replays_settled(&all) {
            drained = true;
            break;
        }
        tokio::select! {
            ev = events.recv() => if let Some(ev) = ev { absorb(&mut tally, &mut msgs, ev) },
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
    }
    while let Ok(ev) = events.try_recv() {
        absorb(&mut tally, &mut msgs, ev);
    }
    let drain_ms = drain_started.elapsed().as_millis() as u64;
    // where the run's time went after the traffic (a check times the whole command)
    let phase = |what: &str| {
        tracing::info!(
            at_s = round2(started.elapsed().as_secs_f64()),
            "testnet: {what}"
        )
    };
    phase("drained");
    let elapsed = started.elapsed().as_secs_f64();

    // 5. summary
    let mut s = Summary {
        seconds: args.seconds,
        drain_ms,
        drained,
        ..Default::default()
    };
    s.nodes.layers = MIX_LAYERS;
    s.wesh = wesh_section;
    if let Some(task) = attacks_task {
        match task.await {
            Ok(reports) => s.attacks = Some(reports),
            Err(e) => tracing::warn!(error = %e, "attacks task failed"),
        }
    }
    s.nodes.mixes_per_layer = width;
    s.nodes.providers = providers.len();
    s.nodes.clients = clients.len();
    let (mix_sent, mix_back) = mix_loops(&all);
    let p = &mut s.packets;
    p.real_sent = tally.real_sent.len() as u64;
    p.real_delivered = tally.real_delivered.len() as u64;
    p.client_loop_sent = tally.loops_sent.len() as u64;
    p.client_loop_returned = tally.loops_returned.len() as u64;
    p.mix_loop_sent = mix_sent;
    p.mix_loop_returned = mix_back;
    p.loop_sent = p.client_loop_sent + mix_sent;
    p.loop_returned = p.client_loop_returned + mix_back;
    p.drop_sent = tally.drops;
    p.client_send_failures = handles.iter().map(|h| get(&h.send_failures)).sum();
    let mut held_sum = 0u64;
    let mut held_n = 0u64;
    let mut pools = Vec::new();
    for n in &all {
        let m = &n.handle.metrics;
        p.replays_dropped += get(&m.drop_replay);
        p.replays_injected += get(&m.replays_injected);
        p.forwarded += get(&m.forwarded);
        p.delay_clamped += get(&m.delay_clamped);
        for (reason, count) in m.drops() {
            *p.dropped.entry(reason.to_string()).or_default() += count;
        }
        held_sum += get(&m.held_ns_sum);
        held_n += get(&m.held_count);
        if n.handle.role == Role::Mix {
            pools.push(get(&m.received) as f64 / elapsed * mean_delay.as_secs_f64());
        }
    }
    let mut lat = tally.latencies.clone();
    lat.sort_by(f64::total_cmp);
    let mean = |v: &[f64]| {
        if v.is_empty() {
            0.0
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    };
    s.latency_ms.p50 = round2(percentile(&lat, 50.0));
    s.latency_ms.p90 = round2(percentile(&lat, 90.0));
    s.latency_ms.p99 = round2(percentile(&lat, 99.0));
    s.latency_ms.max = round2(lat.last().copied().unwrap_or(0.0));
    s.latency_ms.mean = round2(mean(&lat));
    s.latency_ms.sampled_mean = round2(mean(&tally.sampled));
    s.latency_ms.overhead_mean = round2(mean(&lat) - mean(&tally.sampled));
    let mut overhead: Vec<f64> = tally
        .latencies
        .iter()
        .zip(&tally.sampled)
        .map(|(measured, drawn)| measured - drawn)
        .collect();
    overhead.sort_by(f64::total_cmp);
    s.latency_ms.overhead_p50 = round2(percentile(&overhead, 50.0));
    s.latency_ms.overhead_p99 = round2(percentile(&overhead, 99.0));
    s.mixing_delay_ms.configured_mean_per_hop = mean_delay.as_secs_f64() * 1e3;
    s.mixing_delay_ms.samples = held_n;
    s.mixing_delay_ms.measured_mean_per_hop = if held_n > 0 {
        round2(held_sum as f64 / held_n as f64 / 1e6)
    } else {
        0.0
    };
    s.mixing.lambda_over_mu_min =
        round2(pools.iter().copied().fold(f64::INFINITY, f64::min).min(1e9));
    s.mixing.lambda_over_mu_mean = round2(mean(&pools));
    phase("counted");
    s.anonymity = Some(observer.measure(
        &link_observer::LiveShape {
            clients: n_clients as u32,
            width: width as u32,
            providers: providers.len() as u32,
            mean_delay,
            mix_loop_rate: args.mix_loop_rate,
            mixes: (MIX_LAYERS * width) as u32,
            provider_ids: providers.iter().map(|p| p.keys_public.id).collect(),
        },
        started,
        started + run_for,
    ));
    s.messages = msgs.section();
    s.messages.killed_mix_at_s = args.kill_mix_at.filter(|_| killed);
    if let (Some((_, arrived)), Some((sent_at, bytes))) = (msgs.bulk, msgs.bulk_sent()) {
        let seconds = arrived.map(|a| a.duration_since(sent_at).as_secs_f64());
        s.messages.bulk = Some(summary::BulkSection {
            bytes: bytes as u64,
            fragments: bytes.div_ceil(params::FRAGMENT_DATA_BYTES) as u64,
            delivered: arrived.is_some(),
            seconds: round2(seconds.unwrap_or(0.0)),
            goodput_kib_s: round2(seconds.map_or(0.0, |t| bytes as f64 / 1024.0 / t)),
            sender_real_rate: args.bulk_rate,
        });
    }

    if let (Some((running, address)), true) = (&issuer, payments) {
        let mut section = payments_section(running, address, &providers, &handles, attack).await;
        if let Some((m, planned)) = &monitor {
            wesh_shell::monitor::wait_for_loops(m, *planned, Duration::from_secs(5)).await;
            section.rewards = rewards::settle(running, m, reward_epoch, &all, &replicas);
            section.second_claims_refused =
                rewards::claim_all(address, reward_epoch, &all, &mut section.rewards).await;
            section.reward_epoch = Some(reward_epoch);
            section.reward_table = running
                .state
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .book
                .issuer()
                .rewards()
                .table(reward_epoch);
            m.stop();
        }
        s.payments = Some(section);
        phase("payments settled");
    }
    if let Some(params) = &pki_params {
        // a killed mix keeps its last directory: judge the living
        let victim = mixes
            .get(1)
            .and_then(|l| l.first())
            .map(|n| n.keys_public.id);
        let living: Vec<&Node> = all
            .iter()
            .copied()
            .filter(|n| !(killed && Some(n.keys_public.id) == victim))
            .collect();
        let converged = wait_converged(&living, Duration::from_secs(5)).await;
        phase("directories compared");
        let statuses: Vec<_> = all
            .iter()
            .filter_map(|n| n.handle.pki_status.as_ref()?.lock().ok().map(|s| s.clone()))
            .collect();
        let mut rejected = std::collections::BTreeMap::new();
        for st in &statuses {
            for (k, v) in &st.rejected {
                *rejected.entry(k.clone()).or_insert(0u64) += v;
            }
        }
        s.pki = Some(summary::PkiSection {
            mode: "gossip".into(),
            epoch_seconds: params.epoch_length_secs,
            converged,
            converged_after_ms: pki_converged_after.as_millis() as u64,
            epochs_rotated: statuses.iter().map(|s| s.epochs_rotated).min().unwrap_or(0),
            descriptors: statuses.first().map(|s| s.descriptors).unwrap_or(0),
            descriptors_published: statuses.iter().map(|s| s.published).sum(),
            descriptors_rejected: rejected,
            directory_digest: statuses
                .first()
                .map(|s| hex::encode(&s.digest[..8]))
                .unwrap_or_default(),
            views_confirmed: statuses.iter().filter(|s| s.view_confirmed).count(),
            view_disagreements: statuses.iter().map(|s| s.view_disagreements).sum(),
        });
    }
    phase("summarised");
    for c in clients.into_iter().flatten() {
        c.shutdown();
    }
    // the replication services and rendezvous desks hold the providers' mailbox stores
    drop(replicas);
    drop(desks);
    drop(services);
    for n in mixes.into_iter().flatten().chain(providers) {
        n.handle.stop().await;
    }
    if let Some((running, _)) = issuer {
        let _ = issuer_stop_tx.send(true);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Arc::strong_count(&running.state) > 1 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    phase("stopped");
    drop(store_root);
    Ok(s)
}

/// How much sooner than the Wesh story's deadline the synthetic messages stop settling.
const SETTLE_BEFORE_STORY_END: Duration = Duration::from_secs(3);

/// Shortest run (--seconds) that includes the Wesh story: it needs about 30 s on loopback
/// with the default rates, and must end by the end of the settle window.
const WESH_MIN_SECONDS: u64 = 35;

/// Payments epochs in the testnet: long enough that no key rotates during a run.
const PAYMENTS_EPOCH_SECONDS: u64 = 3600;

/// What the attacker's spends got.
#[derive(Debug, Clone, Default)]
struct AttackOutcome {
    first: bool,
    again_same_provider_refused: bool,
    other_provider_accepted: bool,
}

/// An attacker with one token spends it at provider 0, again at provider 0, then at
/// provider 1 (which cannot know yet: only the issuer's redemption catches it).
/// What the attacks use to start clients of their own, on the testnet's providers, that
/// report to nobody (their traffic is not counted as the testnet's).
fn attack_client_maker(
    providers: &[Node],
    topology: Option<Topology>,
    pki: Option<wesh_pki::PkiParams>,
    payments: Option<wesh_shell::credit::IssuerAddress>,
    pull_interval: Duration,
) -> attacks::NewClient {
    let book: Vec<(wesh_mix::NodeId, libp2p::Multiaddr)> = providers
        .iter()
        .filter_map(|n| Some((n.keys_public.id, n.handle.listen_addrs().first()?.clone())))
        .collect();
    Arc::new(move |i, traffic| {
        let (provider, addr) = book.get(i % book.len().max(1))?.clone();
        let state = ClientState::generate(provider, traffic).ok()?;
        let mut spec = ClientSpec::new(state, addr);
        spec.index = u32::MAX - i as u32;
        spec.topology = topology.clone();
        spec.pki = pki.clone();
        spec.payments = payments.clone();
        spec.pull_interval = pull_interval;
        // the attacks time what reaches these clients: full answers, whatever the profile
        spec.pull_slots = params::PULL_SLOTS;
        Some(spec)
    })
}

async fn double_spend_attack(
    issuer: &wesh_shell::credit::IssuerAddress,
    providers: &[Node],
) -> Result<AttackOutcome, TestnetError> {
    use wesh_shell::credit::CreditAnswer;
    use wesh_shell::credit::keeper::spend_at;
    let setup = |e: String| TestnetError::Setup(format!("double-spend attacker: {e}"));
    let keys = NodeKeys::generate();
    let me = keys.node_id().map_err(|e| setup(e.to_string()))?;
    let (_stop, stop) = tokio::sync::watch::channel(false);
    let mut book = vec![(issuer.peer, issuer.addr.clone())];
    for p in providers.iter().take(2) {
        if let Some(a) = p.handle.listen_addrs().first() {
            book.push((p.handle.net.peer_id, a.clone()));
        }
    }
    let net = wesh_shell::net::swarm::start_swarm(keys.identity.clone(), &[], &book, stop)
        .await
        .map_err(|e| setup(e.to_string()))?;
    let mut control = net.control.clone();
    let token = attacks::one_free_token(&mut control, issuer.peer, me)
        .await
        .map_err(setup)?;
    let (Some(a), Some(b)) = (providers.first(), providers.get(1)) else {
        return Err(setup("needs two providers".into()));
    };
    let accepted = |r: &Result<CreditAnswer, wesh_shell::issuer::calls::CallError>| {
        matches!(r, Ok(CreditAnswer::Balance { .. }))
    };
    let first = spend_at(&mut control, a.handle.net.peer_id, &token).await;
    let again = spend_at(&mut control, a.handle.net.peer_id, &token).await;
    let other = spend_at(&mut control, b.handle.net.peer_id, &token).await;
    tracing::info!(?first, ?again, ?other, "double-spend attack");
    Ok(AttackOutcome {
        first: accepted(&first),
        again_same_provider_refused: matches!(again, Ok(CreditAnswer::Refused(_))),
        other_provider_accepted: accepted(&other),
    })
}

/// Redeems what every provider still holds, then counts.
async fn payments_section(
    issuer: &wesh_shell::issuer::role::RunningIssuer,
    address: &wesh_shell::credit::IssuerAddress,
    providers: &[Node],
    clients: &[wesh_shell::drivers::client_traffic::ClientHandle],
    attack: Option<AttackOutcome>,
) -> summary::PaymentsSection {
    for p in providers {
        if let Some(credit) = &p.handle.credit
            && let Err(e) =
                wesh_shell::credit::redeemer::redeem_collected(&p.handle.net, address, credit).await
        {
            tracing::warn!(error = %e, "final redemption failed");
        }
    }
    let mut s = summary::PaymentsSection {
        tokens_issued: get(&issuer.stats.tokens_issued),
        tokens_redeemed: get(&issuer.stats.tokens_redeemed),
        double_spends_rejected: get(&issuer.stats.double_spends_rejected),
        tokens_fetched_by_clients: clients
            .iter()
            .map(|c| get(&c.credit_stats.tokens_fetched))
            .sum(),
        ..Default::default()
    };
    for p in providers {
        if let Some(c) = &p.handle.credit {
            s.tokens_spent += get(&c.stats.tokens_spent);
            s.tokens_refused_by_providers += get(&c.stats.tokens_refused);
            s.double_spends_rejected += get(&c.stats.double_spends_rejected);
            s.frames_without_credit += get(&c.stats.frames_without_credit);
        }
    }
    if let Some(a) = attack {
        s.attack = Some(summary::AttackSection {
            first_spend_accepted: a.first,
            same_provider_refused: a.again_same_provider_refused,
            other_provider_accepted_locally: a.other_provider_accepted,
            caught_at_redemption: get(&issuer.stats.double_spends_rejected) > 0,
        });
    }
    s
}

fn absorb(tally: &mut Tally, msgs: &mut MessageTally, ev: ClientEvent) {
    if let (ClientEvent::Sent { at, tag, kind, .. }, Some(link)) = (&ev, &tally.link) {
        link.client_sent(*at, *tag, kind);
    }
    match ev {
        ClientEvent::MessageReceived { bytes, at, .. } => msgs.received(&bytes, at),
        ClientEvent::MessageDelivered { client, id, .. } => msgs.acked(client, id),
        ClientEvent::MessageFailed { client, id, reason } => {
            tracing::warn!(client, id, %reason, "reliable message failed");
            msgs.failed(client, id)
        }
        ClientEvent::Sent {
            kind: TrafficKind::Fragment { retransmission, .. },
            ..
        } => {
            msgs.fragments_sent += 1;
            if retransmission {
                msgs.retransmissions += 1;
            }
        }
        other => tally.absorb(other),
    }
}

async fn wait_until(
    within: Duration,
    failure: &str,
    done: impl Fn() -> bool,
) -> Result<(), TestnetError> {
    let by = Instant::now() + within;
    while !done() {
        if Instant::now() > by {
            return Err(TestnetError::Setup(failure.into()));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}
