//! The secret-shopper monitor's shell: it sends the test loops `wesh_payments::ShopperMonitor`
//! plans (explicit routes: entry provider, one mix per layer, exit provider) as ordinary
//! Sphinx loop packets, pays for them like any client, pulls them back from a mailbox at
//! every provider, and reports which came back. The scoring is the core's.

use crate::credit::IssuerAddress;
use crate::credit::keeper::{KeeperStats, keep_credit};
use crate::keys::peer_id_of;
use crate::mailboxes::puller::Puller;
use crate::net::links::Links;
use crate::net::swarm::{NetHandle, start_swarm};
use libp2p::Multiaddr;
use libp2p::identity::Keypair;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::watch;
use wesh_mix::mailbox::{MailboxClient, MailboxId, PullSecret};
use wesh_mix::{
    ClientKeys, HopDelaySampler, MixPayload, NodeId, Topology, build_packet, open_delivery,
    seal_with_random_cover,
};
use wesh_payments::{ShopperMonitor, ShopperScores, TestLoop, TopologyError};

/// Why the monitor cannot start or send a loop.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error("topology: {0}")]
    Topology(#[from] TopologyError),
    #[error(transparent)]
    Key(#[from] crate::keys::KeyError),
    #[error(transparent)]
    Net(#[from] crate::net::swarm::NetError),
    #[error("a node of the loop left the topology")]
    NodeLeft,
    #[error("the loop has no entry provider")]
    EmptyRoute,
    #[error("the entry provider's id is no peer id")]
    NotAPeer,
    #[error("cannot build the loop packet: {0}")]
    Build(#[from] wesh_mix::BuildError),
    #[error("link to the entry provider is full")]
    LinkFull,
}

/// A running monitor.
pub struct Monitor {
    core: Arc<Mutex<ShopperMonitor>>,
    net: NetHandle,
    links: Arc<Links>,
    me: NodeId,
    /// What its loops are sealed to (they are stored payloads like a client's).
    keys: Arc<ClientKeys>,
    delays: HopDelaySampler,
    pub sent: AtomicU64,
    pub returned: Arc<AtomicU64>,
    pub credit_ready: Vec<Arc<AtomicBool>>,
    shutdown: watch::Sender<bool>,
}

impl Monitor {
    /// Connects to every provider of `topology`, registers a mailbox at each, keeps
    /// credit at each (when `issuer` is given) and starts pulling.
    pub async fn start(
        topology: &Topology,
        providers: &[(NodeId, Multiaddr)],
        issuer: Option<IssuerAddress>,
        mean_hop_delay: Duration,
        pull_interval: Duration,
    ) -> Result<Monitor, MonitorError> {
        let layers: Vec<Vec<[u8; 32]>> = topology
            .layers()
            .iter()
            .map(|l| l.iter().map(|n| n.id.0).collect())
            .collect();
        let ids: Vec<[u8; 32]> = topology.providers().iter().map(|n| n.id.0).collect();
        let core = ShopperMonitor::new(layers, ids)?;
        let identity = Keypair::generate_ed25519();
        let me = crate::keys::node_id_of(&identity.public())?;
        let keys = Arc::new(crate::keys::client_keys_of(&identity)?);
        let (shutdown, stop) = watch::channel(false);
        let book: Vec<_> = providers
            .iter()
            .filter_map(|(id, a)| Some((peer_id_of(id)?, a.clone())))
            .collect();
        let net = start_swarm(identity, &[], &book, stop.clone()).await?;
        let links = Links::new(
            net.control.clone(),
            tokio::runtime::Handle::current(),
            Arc::new(AtomicU64::new(0)),
        );
        let core = Arc::new(Mutex::new(core));
        let returned = Arc::new(AtomicU64::new(0));
        let mut credit_ready = Vec::new();
        for (id, _) in providers {
            let Some(peer) = peer_id_of(id) else { continue };
            let mut secret = PullSecret([0; 32]);
            rand::fill(&mut secret.0);
            let mut key = zeroize::Zeroizing::new([0u8; 32]);
            rand::fill(&mut key[..]);
            let mailbox = MailboxClient::from_parts(*id, MailboxId(me.0), &key, secret);
            // the monitor's loops return at its own rate; a full answer drains them
            let Ok(puller) = Puller::new(
                net.control.clone(),
                peer,
                Arc::new(mailbox),
                wesh_mix::params::PULL_SLOTS,
            ) else {
                continue;
            };
            tokio::spawn(pull_returns(
                puller,
                keys.clone(),
                core.clone(),
                returned.clone(),
                pull_interval,
                stop.clone(),
            ));
            let ready = Arc::new(AtomicBool::new(issuer.is_none()));
            if let Some(issuer) = &issuer {
                tokio::spawn(keep_credit(
                    net.clone(),
                    peer,
                    issuer.clone(),
                    me.0,
                    ready.clone(),
                    Arc::new(KeeperStats::default()),
                    stop.clone(),
                ));
            }
            credit_ready.push(ready);
        }
        Ok(Monitor {
            core,
            net,
            links,
            me,
            keys,
            delays: HopDelaySampler::new(mean_hop_delay),
            sent: AtomicU64::new(0),
            returned,
            credit_ready,
            shutdown,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ShopperMonitor> {
        self.core.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends one planned loop along its route (keys from `topology`).
    pub fn send(&self, test: &TestLoop, topology: &Topology) -> Result<(), MonitorError> {
        let route = test
            .route
            .iter()
            .map(|id| topology.node(&NodeId(*id)).copied())
            .collect::<Option<Vec<_>>>()
            .ok_or(MonitorError::NodeLeft)?;
        let mut rng = rand::rng();
        let delays = self.delays.for_route(&mut rng, route.len());
        let entry = route.first().ok_or(MonitorError::EmptyRoute)?;
        let last = route.last().ok_or(MonitorError::EmptyRoute)?;
        // sealed behind a cover slot like a client's loop, so the provider storing it
        // cannot tell a test loop from any other payload
        let payload = MixPayload::Loop { id: test.id };
        let key = self.keys.identity.public();
        let stored = seal_with_random_cover(&mut rng, topology, &last.id, &key, &payload)?;
        let packet = build_packet(&mut rng, &route, self.me, &stored, &delays)?;
        let peer = peer_id_of(&entry.id).ok_or(MonitorError::NotAPeer)?;
        self.links
            .sender(peer)
            .try_send(packet)
            .map_err(|_| MonitorError::LinkFull)?;
        self.sent.fetch_add(1, Relaxed);
        Ok(())
    }

    pub fn scores(&self) -> ShopperScores {
        self.lock().scores()
    }

    pub fn net(&self) -> &NetHandle {
        &self.net
    }

    pub fn stop(&self) {
        let _ = self.shutdown.send(true);
    }
}

async fn pull_returns(
    mut puller: Puller,
    keys: Arc<ClientKeys>,
    core: Arc<Mutex<ShopperMonitor>>,
    returned: Arc<AtomicU64>,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    while let Err(e) = puller.register().await {
        tracing::debug!(error = %e, "monitor mailbox registration failed; retrying");
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = stop.changed() => return,
        }
    }
    loop {
        if let Ok(pulled) = puller.pull().await {
            let seqs: Vec<u64> = pulled.payloads.iter().map(|(s, _)| *s).collect();
            for (_, p) in &pulled.payloads {
                if let Ok(MixPayload::Loop { id }) = open_delivery(&[&keys.identity], p) {
                    let fresh = core
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .record_return(id);
                    if fresh {
                        returned.fetch_add(1, Relaxed);
                    }
                }
            }
            if !seqs.is_empty() {
                let _ = puller.confirm(&seqs).await;
            }
            if pulled.remaining > 0 {
                continue;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Sends the loops the core plans for `run_for` at `loops_per_second`, as a Poisson stream,
/// each over the routing view current when it leaves; returns how many.
pub fn spawn_loops(
    monitor: Arc<Monitor>,
    epoch: u64,
    mut view: watch::Receiver<Option<Arc<Topology>>>,
    run_for: Duration,
    loops_per_second: f64,
) -> u64 {
    let (loops, rate) = monitor.lock().plan_run(
        epoch,
        loops_per_second,
        run_for.as_secs_f64(),
        &mut rand::rng(),
    );
    let planned = loops.len() as u64;
    // every planned loop is sent (an unsent one would count as lost for its nodes)
    tokio::spawn(async move {
        for test in loops {
            let gap = wesh_payments::pacing_gap(&mut rand::rng(), rate);
            tokio::time::sleep(Duration::from_secs_f64(gap)).await;
            let current = view.borrow_and_update().clone();
            if let Some(t) = current
                && let Err(e) = monitor.send(&test, &t)
            {
                tracing::debug!(error = %e, "test loop not sent");
            }
        }
    });
    planned
}

/// Waits (at most `within`) until every planned loop was sent and has come back or cannot
/// any more: loops still in flight must not count as dropped.
pub async fn wait_for_loops(monitor: &Monitor, planned: u64, within: Duration) {
    let deadline = crate::clock::monotonic() + within;
    let (sent, returned) = (&monitor.sent, &monitor.returned);
    while crate::clock::monotonic() < deadline
        && !wesh_payments::loops_settled(planned, sent.load(Relaxed), returned.load(Relaxed))
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
