//! `DirectoryFollower`: how a node keeps its directory in step with the network, as a
//! sans-I/O state machine shared by clients and relays (spec/pki.md §7).
//!
//! It owns the node's [`PkiAgent`] and its [`ViewSampler`], and decides when to sync with
//! whom, what an answer or a silence means, and when a view may be installed. The shell
//! carries out [`FollowerAction`]s, reports what came back through `handle_*`, and wakes
//! it at [`DirectoryFollower::poll_timeout`]. Time is Unix milliseconds, passed in.
//!
//! - A **client** syncs from its provider (`home`) a few times per epoch, and after every
//!   directory change asks a round of relays sampled from the directory (never the
//!   provider, never its connections) whether they hold the same directory. It installs a
//!   view only once enough of them agree: a provider that withholds descriptors is
//!   caught. A provider that *invents* relays is not: the relays are sampled from the
//!   directory it gave, so its inventions confirm its digest (spec/security.md §5).
//! - A **relay** takes in gossip, syncs with every peer that connects, checks its digest
//!   against one sampled peer at a time, and installs every view at once (it forwards
//!   what others route; whether its view is confirmed is reported, not enforced).
//!
//! Every sync carries a deadline: a peer that has not answered by then counts as failed,
//! and a sampled relay that never answers is replaced by another, so it cannot freeze
//! the view.

use crate::agent::{PkiAction, PkiAgent, Verdict};
use crate::descriptor::NodeId;
use crate::params::{
    CONNECT_SYNC_BURST, CONNECT_SYNC_REFILL_MS, GOSSIP_DESCRIPTOR, GOSSIP_DIAL_TARGET,
    GOSSIP_PROOF, HOME_SYNC_MAX_INTERVAL_MS, HOME_SYNCS_PER_EPOCH, RATE_LIMIT_MAX_PEERS,
    SYNC_TIMEOUT_MS, UNCONFIRMED_RETRY_MS,
};
use crate::rate_limit::RateLimiter;
use crate::sampler::ViewSampler;
use crate::topology::Topology;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use zeroize::Zeroizing;

/// Which side of the network the follower serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Following {
    /// A client of provider `home`: views are installed only once sampled relays agree.
    Client { home: NodeId },
    /// A relay (or the issuer) `me`: views are installed at once.
    Relay { me: NodeId },
}

/// What the shell must do.
#[derive(Debug)]
pub enum FollowerAction {
    /// Ask `peer` for its digest of `epoch` (and its directory if it differs from
    /// `digest`), and report the outcome before `deadline_ms` (Unix ms) with
    /// [`DirectoryFollower::handle_sync_answer`] or `handle_sync_failed`; after the
    /// deadline the follower counts it as failed.
    Sync {
        peer: NodeId,
        epoch: u64,
        digest: [u8; 32],
        deadline_ms: u64,
    },
    /// The directory's topology changed: learn the addresses it announces.
    Directory(Topology),
    /// Connect to this peer (a relay joining the gossip mesh).
    Dial(NodeId),
    /// Routes may be built over this view from now on.
    InstallView(Topology),
    /// Gossip these bytes on the PKI topic (a descriptor or a proof, kind byte first).
    Gossip(Vec<u8>),
    /// The Sphinx secrets the packet processor must hold (see [`PkiAction::InstallKeys`]).
    InstallKeys(Vec<(u64, Zeroizing<[u8; 32]>)>),
    /// The key ring changed: persist [`PkiAgent::keyring_bytes`].
    PersistKeys,
}

/// A client's round of samples: relays are asked one at a time (as each answers or
/// fails), so a round opens one new connection at a time.
#[derive(Debug)]
struct Round {
    /// Relays of the directory not asked yet in this round.
    untried: Vec<NodeId>,
    /// Answers still needed.
    missing: usize,
}

/// Why a sync was asked for: it decides what its answer counts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Home,
    Sample,
    Check,
}

pub struct DirectoryFollower {
    agent: PkiAgent,
    view: ViewSampler<NodeId>,
    following: Following,
    rng: ChaCha20Rng,
    actions: VecDeque<FollowerAction>,
    /// Unix seconds of the agent's next tick; kept until the tick ran (an event at the
    /// boundary must not push it past the boundary).
    tick_due: u64,
    /// Client: next sync from the provider. Relay: next single-peer check.
    sync_due_ms: u64,
    outstanding: BTreeMap<NodeId, (u64, Purpose)>,
    /// Client: the running sample round (`None`: no round).
    round: Option<Round>,
    round_wanted: bool,
    /// Client: the view a finished round found, waiting for the gate.
    pending_view: Option<Topology>,
    /// The directory's latest topology, not acted on yet (one answer may change it many
    /// times: only the last counts).
    changed: Option<Topology>,
    installed: bool,
    /// Directory members other than us and our provider, sorted.
    peers: Vec<NodeId>,
    dialed: BTreeSet<NodeId>,
    published: u64,
    /// Relay: how often a (re)connecting peer may make us sync with it.
    connect_syncs: RateLimiter<NodeId>,
    connect_syncs_limited: u64,
    /// Sync answers dropped at a descriptor no honest peer would have sent.
    answers_cut: u64,
}

impl DirectoryFollower {
    pub fn new(agent: PkiAgent, following: Following, now_ms: u64, seed: [u8; 32]) -> Self {
        let view = ViewSampler::new(agent.directory().params().clone());
        let mut follower = DirectoryFollower {
            agent,
            view,
            following,
            rng: ChaCha20Rng::from_seed(seed),
            actions: VecDeque::new(),
            tick_due: 0,
            sync_due_ms: now_ms,
            outstanding: BTreeMap::new(),
            round: None,
            round_wanted: false,
            pending_view: None,
            changed: None,
            installed: false,
            peers: Vec::new(),
            dialed: BTreeSet::new(),
            published: 0,
            connect_syncs: RateLimiter::new(
                CONNECT_SYNC_BURST,
                CONNECT_SYNC_REFILL_MS,
                RATE_LIMIT_MAX_PEERS,
            ),
            connect_syncs_limited: 0,
            answers_cut: 0,
        };
        follower
            .view
            .set_local(follower.agent.epoch(), follower.agent.digest());
        if let Following::Relay { .. } = following {
            follower.sync_due_ms = now_ms + interval_ms(follower.view.next_interval());
        }
        follower
    }

    pub fn agent(&self) -> &PkiAgent {
        &self.agent
    }

    /// Issuer: the token keys its descriptors announce (see [`PkiAgent::set_token_keys`]).
    pub fn set_token_keys(&mut self, keys: Vec<crate::EpochTokenKey>) {
        self.agent.set_token_keys(keys);
    }

    pub fn view(&self) -> &ViewSampler<NodeId> {
        &self.view
    }

    /// Descriptors of our own this node has gossiped.
    pub fn published(&self) -> u64 {
        self.published
    }

    /// Whether the next `poll` ticks the agent (an issuer refreshes its token keys first).
    pub fn tick_due(&self, now_ms: u64) -> bool {
        now_ms / 1000 >= self.tick_due
    }

    /// A peer we dialed on our own (bootstrap): it counts toward the dial target.
    pub fn handle_dialed(&mut self, peer: NodeId) {
        self.dialed.insert(peer);
    }

    /// Connect-triggered syncs skipped because the peer reconnected too often.
    pub fn connect_syncs_limited(&self) -> u64 {
        self.connect_syncs_limited
    }

    /// Sync answers dropped at a descriptor no honest peer would have sent.
    pub fn answers_cut(&self) -> u64 {
        self.answers_cut
    }

    /// A peer connected: relays compare directories with it at once, unless it
    /// reconnects faster than [`CONNECT_SYNC_REFILL_MS`] allows (then sampled checks
    /// and gossip carry on without it).
    pub fn handle_connected(&mut self, now_ms: u64, peer: NodeId) {
        if let Following::Relay { .. } = self.following {
            if self.connect_syncs.allow(now_ms, &peer) {
                self.ask(now_ms, peer, Purpose::Check);
            } else {
                self.connect_syncs_limited += 1;
            }
        }
    }

    /// A gossiped PKI message; the verdict says whether to forward it.
    pub fn handle_gossip(&mut self, now_ms: u64, data: &[u8]) -> Verdict {
        let (verdict, actions) = match data.split_first() {
            Some((&GOSSIP_DESCRIPTOR, d)) => self.agent.on_descriptor(d, now_ms / 1000),
            Some((&GOSSIP_PROOF, p)) => self.agent.on_proof(p, now_ms / 1000),
            _ => (Verdict::Reject("unknown_gossip"), Vec::new()),
        };
        self.take_agent_actions(actions);
        self.view.set_local(self.agent.epoch(), self.agent.digest());
        self.settle(now_ms);
        verdict
    }

    /// What to answer a peer's sync request: our digest, and our directory if the
    /// peer's digest for its epoch differs from ours.
    pub fn answer_sync(&self, epoch: u64, digest: [u8; 32]) -> ([u8; 32], Option<Vec<Vec<u8>>>) {
        let ours = self.agent.digest();
        let same = epoch == self.agent.epoch() && digest == ours;
        (ours, (!same).then(|| self.agent.snapshot()))
    }

    /// `peer` answered a sync: its digest, and its directory if ours differed.
    pub fn handle_sync_answer(
        &mut self,
        now_ms: u64,
        peer: NodeId,
        digest: [u8; 32],
        descriptors: Option<Vec<Vec<u8>>>,
    ) {
        let asked = self.outstanding.remove(&peer).map(|(_, p)| p);
        let differed = descriptors.is_some();
        // every descriptor is verified by the directory: merging one from any answer is
        // safe. An honest peer sends only descriptors it verified, so the first one that
        // is invalid whatever our clock (forged, malformed) ends the answer: a junk answer
        // costs one check, not one per descriptor.
        for d in descriptors.unwrap_or_default() {
            let (verdict, actions) = self.agent.on_descriptor(&d, now_ms / 1000);
            self.take_agent_actions(actions);
            if let Verdict::Reject(_) = verdict {
                self.answers_cut += 1;
                break;
            }
        }
        self.view.set_local(self.agent.epoch(), self.agent.digest());
        match asked {
            // a late answer (the deadline already counted it as failed) casts no vote
            None => {}
            Some(Purpose::Home) => self.after_home_sync(),
            Some(Purpose::Check) => self.view.record(peer, digest, differed),
            Some(Purpose::Sample) => {
                self.view.record(peer, digest, differed);
                if let Some(round) = self.round.as_mut() {
                    round.missing = round.missing.saturating_sub(1);
                }
                self.ask_next_sample(now_ms);
            }
        }
        self.settle(now_ms);
    }

    /// A sync with `peer` failed (no stream, an error, or the shell's timeout).
    pub fn handle_sync_failed(&mut self, now_ms: u64, peer: NodeId) {
        if let Some((_, purpose)) = self.outstanding.remove(&peer) {
            self.on_failed(now_ms, purpose);
        }
        self.settle(now_ms);
    }

    /// Runs what is due at `now_ms` and returns what the shell must do.
    pub fn poll(&mut self, now_ms: u64) -> Vec<FollowerAction> {
        if self.tick_due(now_ms) {
            let actions = self.agent.tick(now_ms / 1000, &mut self.rng);
            self.take_agent_actions(actions);
            self.tick_due = self.agent.next_tick(now_ms / 1000);
            self.view.set_local(self.agent.epoch(), self.agent.digest());
        }
        let expired: Vec<(NodeId, Purpose)> = self
            .outstanding
            .iter()
            .filter(|(_, (deadline, _))| *deadline <= now_ms)
            .map(|(peer, (_, purpose))| (*peer, *purpose))
            .collect();
        for (peer, purpose) in expired {
            self.outstanding.remove(&peer);
            self.on_failed(now_ms, purpose);
        }
        if now_ms >= self.sync_due_ms {
            match self.following {
                Following::Client { home } => {
                    self.sync_due_ms = now_ms + self.home_interval_ms();
                    self.ask(now_ms, home, Purpose::Home);
                }
                Following::Relay { .. } => {
                    self.sync_due_ms = now_ms + interval_ms(self.view.next_interval());
                    if let Some(peer) = self.view.pick(&self.peers, &mut self.rng) {
                        self.ask(now_ms, peer, Purpose::Check);
                    }
                }
            }
        }
        self.settle(now_ms);
        self.actions.drain(..).collect()
    }

    /// When `poll` has work next (Unix ms).
    pub fn poll_timeout(&self) -> u64 {
        let deadlines = self.outstanding.values().map(|(d, _)| *d);
        deadlines
            .chain([self.tick_due.saturating_mul(1000), self.sync_due_ms])
            .min()
            .unwrap_or(self.sync_due_ms)
    }

    /// Client: between syncs from the provider, fast until a view is installed.
    fn home_interval_ms(&self) -> u64 {
        if self.installed {
            (self.agent.directory().params().epoch_length_secs * 1000 / HOME_SYNCS_PER_EPOCH)
                .clamp(1000, HOME_SYNC_MAX_INTERVAL_MS)
        } else {
            UNCONFIRMED_RETRY_MS
        }
    }

    fn ask(&mut self, now_ms: u64, peer: NodeId, purpose: Purpose) {
        if self.outstanding.contains_key(&peer) {
            return;
        }
        let deadline_ms = now_ms + SYNC_TIMEOUT_MS;
        self.outstanding.insert(peer, (deadline_ms, purpose));
        self.actions.push_back(FollowerAction::Sync {
            peer,
            epoch: self.agent.epoch(),
            digest: self.agent.digest(),
            deadline_ms,
        });
    }

    fn on_failed(&mut self, now_ms: u64, purpose: Purpose) {
        match purpose {
            Purpose::Home => self.after_home_sync(),
            // a silent relay casts no vote: ask another one of the round instead
            Purpose::Sample => self.ask_next_sample(now_ms),
            Purpose::Check => {}
        }
    }

    /// Client: after every sync from the provider, answered or not, an unconfirmed view
    /// is checked again (unless a round is under way: its end decides).
    fn after_home_sync(&mut self) {
        if !self.view.confirmed() && self.round.is_none() {
            self.round_wanted = true;
        }
    }

    fn take_agent_actions(&mut self, actions: Vec<PkiAction>) {
        for action in actions {
            match action {
                PkiAction::Publish(bytes) => {
                    self.published += 1;
                    self.actions.push_back(gossip(GOSSIP_DESCRIPTOR, &bytes));
                }
                PkiAction::PublishProof(bytes) => {
                    self.actions.push_back(gossip(GOSSIP_PROOF, &bytes));
                }
                PkiAction::InstallKeys(keys) => {
                    self.actions.push_back(FollowerAction::InstallKeys(keys));
                }
                PkiAction::PersistKeys => self.actions.push_back(FollowerAction::PersistKeys),
                PkiAction::Topology(t) => self.changed = Some(t),
            }
        }
    }

    fn on_topology(&mut self, t: Topology) {
        let (me, home) = match self.following {
            Following::Client { home } => (None, Some(home)),
            Following::Relay { me } => (Some(me), None),
        };
        let mut peers: Vec<NodeId> = t
            .layers
            .iter()
            .flatten()
            .chain(t.providers.iter())
            .map(|n| n.identity)
            .filter(|id| Some(*id) != me && Some(*id) != home)
            .collect();
        peers.sort();
        peers.dedup();
        self.peers = peers;
        self.actions.push_back(FollowerAction::Directory(t.clone()));
        match self.following {
            // a change during a round is judged by that round: votes are compared with
            // our digest when it ends
            Following::Client { .. } => self.round_wanted |= self.round.is_none(),
            Following::Relay { .. } => {
                for peer in &self.peers {
                    if self.dialed.len() >= GOSSIP_DIAL_TARGET {
                        break;
                    }
                    if self.dialed.insert(*peer) {
                        self.actions.push_back(FollowerAction::Dial(*peer));
                    }
                }
                self.installed = true;
                self.actions.push_back(FollowerAction::InstallView(t));
            }
        }
    }

    /// Acts on a changed directory; then, for a client: starts a wanted round, ends a
    /// round that is decided or that nobody is left to answer, and installs a found view
    /// once the gate opens.
    fn settle(&mut self, now_ms: u64) {
        if let Some(t) = self.changed.take() {
            self.on_topology(t);
        }
        let Following::Client { .. } = self.following else {
            return;
        };
        if self.round.is_none() && self.round_wanted {
            self.round_wanted = false;
            // a fresh tally over relays drawn from the directory, distinct within a round
            let needed = self.view.samples_needed(self.peers.len());
            self.view
                .restart(self.agent.epoch(), self.agent.digest(), needed);
            self.round = Some(Round {
                untried: self.peers.clone(),
                missing: needed,
            });
            self.ask_next_sample(now_ms);
        }
        let sampling = self
            .outstanding
            .values()
            .any(|(_, p)| *p == Purpose::Sample);
        // enough agreeing samples decide the round: a slow relay does not hold it up
        if self.round.is_some() && (!sampling || self.view.confirmed()) {
            self.round = None;
            self.outstanding.retain(|_, (_, p)| *p != Purpose::Sample);
            let t = self.agent.topology();
            self.pending_view = t.is_routable().then_some(t);
        }
        // routes are built only over a view enough sampled relays confirm
        if self.view.confirmed() {
            if let Some(t) = self.pending_view.take() {
                self.installed = true;
                self.actions.push_back(FollowerAction::InstallView(t));
            }
        } else if self.round.is_none() {
            // not confirmed: ask the provider again soon, and check again after it answers
            self.sync_due_ms = self.sync_due_ms.min(now_ms + UNCONFIRMED_RETRY_MS);
        }
    }

    /// Client: asks the next relay of the round while answers are missing (none when
    /// the round has asked every relay of the directory).
    fn ask_next_sample(&mut self, now_ms: u64) {
        let Some(round) = self.round.as_mut().filter(|r| r.missing > 0) else {
            return;
        };
        let Some(peer) = self.view.pick(&round.untried, &mut self.rng) else {
            return;
        };
        round.untried.retain(|p| *p != peer);
        self.ask(now_ms, peer, Purpose::Sample);
    }
}

fn gossip(kind: u8, bytes: &[u8]) -> FollowerAction {
    let mut m = Vec::with_capacity(bytes.len() + 1);
    m.push(kind);
    m.extend_from_slice(bytes);
    FollowerAction::Gossip(m)
}

fn interval_ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::EpochClock;
    use crate::agent::OwnNode;
    use crate::descriptor::{DescriptorBuilder, Role};
    use crate::keyring::SphinxKeyRing;
    use crate::params::PkiParams;
    use ed25519_dalek::SigningKey;

    const EPOCH_SECS: u64 = 600;
    const EPOCH: u64 = 2000;
    /// The virtual clock starts 10 s into epoch 2000.
    const T0: u64 = (EPOCH * EPOCH_SECS + 10) * 1000;
    /// Nodes 1..=6 are mixes, 10 and 11 providers; a client's provider is 10.
    const NODES: [u8; 8] = [1, 2, 3, 4, 5, 6, 10, 11];

    fn params() -> PkiParams {
        PkiParams::with_epoch_length(EPOCH_SECS).unwrap()
    }

    fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }

    fn id(n: u8) -> NodeId {
        NodeId(key(n).verifying_key().to_bytes())
    }

    fn descriptor(n: u8) -> Vec<u8> {
        let role = if n >= 10 { Role::Provider } else { Role::Mix };
        DescriptorBuilder::new(role, 1, EPOCH)
            .expiry_epoch(EPOCH + 1)
            .capacity_pps(100)
            .sphinx_key(EPOCH, [n; 32])
            .sphinx_key(EPOCH + 1, [n + 100; 32])
            .address(format!("/ip4/127.0.0.1/tcp/{}", 4000 + u32::from(n)))
            .sign(&key(n))
            .unwrap()
            .as_bytes()
            .to_vec()
    }

    /// A peer of the simulated network: a directory holding these descriptors.
    struct Peer(PkiAgent);

    impl Peer {
        fn holding(nodes: &[u8]) -> Self {
            Self::with(nodes.iter().map(|n| descriptor(*n)))
        }

        fn with(descriptors: impl IntoIterator<Item = Vec<u8>>) -> Self {
            let mut agent = PkiAgent::observer(params(), T0 / 1000).unwrap();
            for d in descriptors {
                agent.on_descriptor(&d, T0 / 1000);
            }
            Peer(agent)
        }

        /// Its answer to a sync request, as `/wesh/pki-sync/1` carries it.
        fn answer(&self, epoch: u64, digest: [u8; 32]) -> ([u8; 32], Option<Vec<Vec<u8>>>) {
            let ours = self.0.digest();
            let same = epoch == self.0.epoch() && digest == ours;
            (ours, (!same).then(|| self.0.snapshot()))
        }
    }

    fn client() -> DirectoryFollower {
        let agent = PkiAgent::observer(params(), T0 / 1000).unwrap();
        DirectoryFollower::new(agent, Following::Client { home: id(10) }, T0, [7; 32])
    }

    type Sync = (NodeId, u64, [u8; 32], u64);

    fn syncs(actions: &[FollowerAction]) -> Vec<Sync> {
        actions
            .iter()
            .filter_map(|a| match a {
                FollowerAction::Sync {
                    peer,
                    epoch,
                    digest,
                    deadline_ms,
                } => Some((*peer, *epoch, *digest, *deadline_ms)),
                _ => None,
            })
            .collect()
    }

    fn installed(actions: &[FollowerAction]) -> Vec<Topology> {
        actions
            .iter()
            .filter_map(|a| match a {
                FollowerAction::InstallView(t) => Some(t.clone()),
                _ => None,
            })
            .collect()
    }

    fn answer(f: &mut DirectoryFollower, now: u64, s: &Sync, from: &Peer) {
        let (digest, descriptors) = from.answer(s.1, s.2);
        f.handle_sync_answer(now, s.0, digest, descriptors);
    }

    /// Polls at `now` and answers every sync at once (from the peer `who` names) until
    /// nothing more is asked; returns the views installed and the syncs answered.
    fn settle_at<'a>(
        f: &mut DirectoryFollower,
        now: u64,
        who: impl Fn(NodeId) -> &'a Peer,
    ) -> (Vec<Topology>, Vec<NodeId>) {
        let (mut views, mut asked) = (Vec::new(), Vec::new());
        for _ in 0..100 {
            let actions = f.poll(now);
            views.extend(installed(&actions));
            let s = syncs(&actions);
            if s.is_empty() {
                return (views, asked);
            }
            for sync in &s {
                asked.push(sync.0);
                answer(f, now, sync, who(sync.0));
            }
        }
        panic!("the follower keeps asking at one instant");
    }

    fn members(t: &Topology) -> Vec<NodeId> {
        t.layers
            .iter()
            .flatten()
            .chain(&t.providers)
            .map(|n| n.identity)
            .collect()
    }

    #[test]
    fn a_client_syncs_its_provider_fast_until_it_has_a_view_then_every_30_s() {
        let full = Peer::holding(&NODES);
        let mut f = client();
        let first = syncs(&f.poll(T0));
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].0, id(10), "the first sync is with the provider");
        assert_eq!(first[0].3, T0 + SYNC_TIMEOUT_MS);
        assert_eq!(f.poll_timeout(), T0 + UNCONFIRMED_RETRY_MS, "no view yet");
        answer(&mut f, T0 + 50, &first[0], &full);
        // one relay at a time, view_min_samples of them
        let mut asked = Vec::new();
        let mut views = Vec::new();
        for _ in 0..10 {
            let actions = f.poll(T0 + 100);
            views.extend(installed(&actions));
            let round = syncs(&actions);
            assert!(round.len() <= 1);
            for s in &round {
                asked.push(s.0);
                answer(&mut f, T0 + 100, s, &full);
            }
        }
        assert_eq!(asked.len(), 5, "view_min_samples relays");
        asked.sort();
        asked.dedup();
        assert_eq!(asked.len(), 5, "distinct within a round");
        assert!(!asked.contains(&id(10)), "the provider is never sampled");
        assert_eq!(views.len(), 1);
        assert_eq!(members(&views[0]).len(), 8);
        // with a view: the provider every quarter epoch, at most every 30 s
        let mut home = Vec::new();
        while f.poll_timeout() < T0 + 95_000 {
            let t = f.poll_timeout();
            let (views, asked) = settle_at(&mut f, t, |_| &full);
            assert!(views.is_empty() && asked.iter().all(|p| *p == id(10)));
            home.extend(asked.iter().map(|_| t));
        }
        assert_eq!(home.len(), 4, "{home:?}");
        for pair in home[1..].windows(2) {
            assert_eq!(pair[1] - pair[0], HOME_SYNC_MAX_INTERVAL_MS);
        }
    }

    #[test]
    fn a_view_is_installed_only_once_enough_sampled_relays_agree() {
        let full = Peer::holding(&NODES);
        // a part of the network that does not know mix 6
        let partial = Peer::holding(&[1, 2, 3, 4, 5, 10, 11]);
        // 3 of the 7 relays a client samples agree with its provider: a round of 5
        // has at most 3 agreeing (60 %, under the 67 % gate)
        let who = |p: NodeId| {
            if [id(3), id(4), id(5), id(6)].contains(&p) {
                &partial
            } else {
                &full
            }
        };
        let mut f = client();
        let mut t = T0;
        for _ in 0..20 {
            let (views, _) = settle_at(&mut f, t, who);
            assert!(views.is_empty(), "a disputed view was installed");
            assert!(!f.view().confirmed());
            let next = f.poll_timeout();
            assert!(next <= t + UNCONFIRMED_RETRY_MS, "asks again soon");
            t = next;
        }
        assert!(f.view().disagreements() >= 20);
        // once the partitioned relays learn mix 6, the view passes the gate
        let mut views = Vec::new();
        for _ in 0..5 {
            views.extend(settle_at(&mut f, t, |_| &full).0);
            t = f.poll_timeout();
        }
        assert!(!views.is_empty());
    }

    #[test]
    fn descriptors_the_provider_withholds_show_up_through_the_sampled_relays() {
        let full = Peer::holding(&NODES);
        // the provider hides mix 6 from its clients
        let provider = Peer::holding(&[1, 2, 3, 4, 5, 10, 11]);
        let who = |p: NodeId| if p == id(10) { &provider } else { &full };
        let mut f = client();
        let mut views = Vec::new();
        let mut t = T0;
        for _ in 0..5 {
            views.extend(settle_at(&mut f, t, who).0);
            t = f.poll_timeout();
        }
        assert!(!views.is_empty());
        assert!(
            views.iter().all(|v| members(v).contains(&id(6))),
            "only the full view is installed"
        );
    }

    #[test]
    fn a_sampled_relay_that_never_answers_is_replaced_after_the_deadline() {
        let full = Peer::holding(&NODES);
        let mut f = client();
        let home = syncs(&f.poll(T0));
        answer(&mut f, T0, &home[0], &full);
        let first = syncs(&f.poll(T0));
        assert_eq!(first.len(), 1);
        let (silent, deadline) = (first[0].0, first[0].3);
        assert_eq!(deadline, T0 + SYNC_TIMEOUT_MS);
        // the provider is asked again meanwhile; no other relay, no view
        while f.poll_timeout() < deadline {
            let t = f.poll_timeout();
            let actions = f.poll(t);
            assert!(installed(&actions).is_empty());
            for s in syncs(&actions) {
                assert_eq!(s.0, id(10), "the round waits for its relay");
                answer(&mut f, t, &s, &full);
            }
        }
        // the deadline passed: the silent relay is replaced by one not asked in this round
        let next: Vec<Sync> = syncs(&f.poll(deadline))
            .into_iter()
            .filter(|s| s.0 != id(10))
            .collect();
        assert_eq!(next.len(), 1);
        assert_ne!(next[0].0, silent);
        // its late answer casts no vote
        let checks = f.view().checks();
        answer(&mut f, deadline + 1, &first[0], &full);
        assert_eq!(f.view().checks(), checks);
        answer(&mut f, deadline + 2, &next[0], &full);
        let (views, asked) = settle_at(&mut f, deadline + 3, |_| &full);
        assert_eq!(views.len(), 1);
        assert!(!asked.contains(&silent));
    }

    #[test]
    fn a_failed_sync_is_asked_again_soon() {
        let mut f = client();
        let first = syncs(&f.poll(T0));
        f.handle_sync_failed(T0 + 20, first[0].0);
        assert!(f.poll(T0 + 20).is_empty());
        assert_eq!(f.poll_timeout(), T0 + UNCONFIRMED_RETRY_MS);
        assert_eq!(syncs(&f.poll(T0 + UNCONFIRMED_RETRY_MS)).len(), 1);
    }

    /// A relay (mix 1) after its first poll, and its own published descriptor.
    fn relay() -> (DirectoryFollower, Vec<FollowerAction>, Vec<u8>) {
        let p = params();
        let clock = EpochClock::from_params(&p).unwrap();
        let ring = SphinxKeyRing::new(clock, p.grace_period_secs).unwrap();
        let own = OwnNode {
            signing_key: key(1),
            role: Role::Mix,
            addresses: vec!["/ip4/127.0.0.1/tcp/4001".into()],
            capacity_pps: 100,
        };
        let agent = PkiAgent::relay(p, own, ring, 1, T0 / 1000).unwrap();
        let mut f = DirectoryFollower::new(agent, Following::Relay { me: id(1) }, T0, [3; 32]);
        let first = f.poll(T0);
        let own = first
            .iter()
            .find_map(|a| match a {
                FollowerAction::Gossip(m) if m.first() == Some(&GOSSIP_DESCRIPTOR) => {
                    Some(m[1..].to_vec())
                }
                _ => None,
            })
            .unwrap();
        (f, first, own)
    }

    fn gossiped(n: u8) -> Vec<u8> {
        let mut m = vec![GOSSIP_DESCRIPTOR];
        m.extend_from_slice(&descriptor(n));
        m
    }

    #[test]
    fn a_relay_publishes_installs_every_view_at_once_and_dials_a_few_peers() {
        let (mut f, first, _) = relay();
        assert!(
            first
                .iter()
                .any(|a| matches!(a, FollowerAction::InstallKeys(_)))
        );
        assert_eq!(f.published(), 1);
        assert!(
            f.poll_timeout() <= (EPOCH + 1) * EPOCH_SECS * 1000,
            "ticks at the next epoch"
        );
        let (mut dials, mut views) = (Vec::new(), 0);
        for n in &NODES[1..] {
            assert_eq!(f.handle_gossip(T0, &gossiped(*n)), Verdict::Accept);
            assert_eq!(f.handle_gossip(T0, &gossiped(*n)), Verdict::Ignore);
            for a in f.poll(T0) {
                match a {
                    FollowerAction::Dial(p) => dials.push(p),
                    FollowerAction::InstallView(_) => views += 1,
                    _ => {}
                }
            }
        }
        assert_eq!(views, 7, "every change installed at once");
        assert_eq!(dials.len(), 7);
        assert!(!dials.contains(&id(1)), "never itself");
        assert_eq!(
            f.handle_gossip(T0, &[9, 1, 2]),
            Verdict::Reject("unknown_gossip")
        );
    }

    #[test]
    fn a_relay_checks_one_sampled_peer_per_interval_and_each_peer_that_connects() {
        let (mut f, _, own) = relay();
        for n in &NODES[1..] {
            f.handle_gossip(T0, &gossiped(*n));
        }
        f.poll(T0);
        let full = Peer::with(NODES[1..].iter().map(|n| descriptor(*n)).chain([own]));
        f.handle_connected(T0, id(10));
        let s = syncs(&f.poll(T0));
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].0, id(10));
        answer(&mut f, T0, &s[0], &full);
        // one peer per second while unconfirmed
        let mut times = Vec::new();
        while !f.view().confirmed() {
            let t = f.poll_timeout();
            assert!(t < T0 + 60_000);
            for s in syncs(&f.poll(t)) {
                assert_ne!(s.0, id(1));
                times.push(t);
                answer(&mut f, t, &s, &full);
            }
        }
        assert!(times.len() >= 4);
        assert!(times.windows(2).all(|w| w[1] - w[0] == 1000));
        // confirmed: every 600 s / 60 = 10 s
        let a = f.poll_timeout();
        f.poll(a);
        let b = f.poll_timeout();
        assert_eq!(b - a, 10_000);
        assert_eq!(syncs(&f.poll(b)).len(), 1);
        // a peer gets our directory only when its digest differs
        let ours = f.agent().digest();
        assert_eq!(f.answer_sync(f.agent().epoch(), ours), (ours, None));
        let (_, descs) = f.answer_sync(f.agent().epoch(), [0; 32]);
        assert_eq!(descs.map(|d| d.len()), Some(8));
    }
}
