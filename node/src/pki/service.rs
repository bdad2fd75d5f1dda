//! Drives a relay's `PkiAgent` with real events and carries out what it decides.

use super::convert::address_book;
use super::sync::{
    PKI_SYNC_PROTOCOL, SyncAnswer, encode_answer, read_request, request, write_answer,
};
use crate::net::swarm::{NetEvent, NetHandle};
use futures::StreamExt;
use libp2p::PeerId;
use libp2p::gossipsub::MessageAcceptance;
use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot, watch};
use wesh_pki::{PkiAction, PkiAgent, Verdict};
use x25519_dalek::StaticSecret;

/// Gossip message kinds on the PKI topic (first byte).
pub const GOSSIP_DESCRIPTOR: u8 = 1;
pub const GOSSIP_PROOF: u8 = 2;
/// Peers a node dials on its own initiative to join the gossip mesh.
const GOSSIP_DIAL_TARGET: usize = 8;

/// What the relay must apply.
pub enum PkiOutput {
    Keys(Vec<(u64, StaticSecret)>),
    Topology(wesh_pki::Topology),
}

/// A summary others (the testnet, `wesh pki show`) can read at any time.
#[derive(Debug, Clone, Default)]
pub struct PkiStatus {
    pub epoch: u64,
    pub epochs_rotated: u64,
    pub digest: [u8; 32],
    pub descriptors: usize,
    pub rejected: BTreeMap<String, u64>,
    pub published: u64,
    /// A configurable share of sampled peers reported our directory digest.
    pub view_confirmed: bool,
    /// Sampled peers whose directory differed from ours (each then sent theirs).
    pub view_disagreements: u64,
    pub view_checks: u64,
    /// Token keys announced by each issuer descriptor valid for the current epoch (the
    /// key id of each was checked against its SPKI when the descriptor was decoded).
    /// Whose keys to use is the reader's choice: its configured issuer.
    pub issuer_keys: BTreeMap<[u8; 32], Vec<wesh_pki::EpochTokenKey>>,
}

pub use crate::clock::{unix_now, unix_now_ms, until_unix};

/// A sync request waiting for the agent: (epoch, requester's digest, where the answer goes).
type SnapshotRequest = (u64, [u8; 32], oneshot::Sender<Vec<u8>>);

/// The issuer's token keys to announce, asked for with the epoch about to be published
/// (it should return the keys of that epoch and the next).
pub type TokenKeySource = Box<dyn FnMut(u64) -> Vec<wesh_pki::EpochTokenKey> + Send>;

pub struct PkiService {
    pub agent: PkiAgent,
    pub net: NetHandle,
    pub events: mpsc::UnboundedReceiver<NetEvent>,
    pub outputs: mpsc::UnboundedSender<PkiOutput>,
    pub status: Arc<Mutex<PkiStatus>>,
    pub keyring_path: Option<PathBuf>,
    pub bootstrap: Vec<PeerId>,
}

impl PkiService {
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        self.run_with_token_keys(shutdown, None).await
    }

    /// Like `run`; an issuer passes where its token keys come from, asked before every
    /// tick so the descriptor published at an epoch start carries that epoch's keys.
    pub async fn run_with_token_keys(
        mut self,
        mut shutdown: watch::Receiver<bool>,
        mut token_keys: Option<TokenKeySource>,
    ) {
        let (synced_tx, mut synced) = mpsc::unbounded_channel::<(PeerId, SyncAnswer)>();
        let (snap_tx, mut snapshots) = mpsc::channel::<SnapshotRequest>(64);
        let mut view =
            wesh_pki::ViewSampler::<PeerId>::new(self.agent.directory().params().clone());
        view.set_local(self.agent.epoch(), self.agent.digest());
        let mut next_check =
            tokio::time::Instant::from_std(crate::clock::monotonic()) + view.next_interval();
        let mut known: Vec<PeerId> = Vec::new();
        self.serve_sync(snap_tx, shutdown.clone());
        let mut dialed: HashSet<PeerId> = HashSet::new();
        for p in &self.bootstrap {
            self.net.dial(*p);
            dialed.insert(*p);
        }
        // a Send RNG (the task moves between threads), seeded from the OS
        let mut rng = <rand_chacha::ChaCha20Rng as rand::SeedableRng>::from_seed(
            wesh_mix::seed_from(&mut rand::rng()),
        );
        self.refresh_token_keys(&mut token_keys);
        let actions = self.agent.tick(unix_now(), &mut rng);
        self.apply(actions, &mut dialed, &mut known);
        // the due time is kept until the tick has run: recomputing it after an event that
        // arrived at the boundary would skip the boundary's tick
        let mut tick_due = self.agent.next_tick(unix_now());
        loop {
            if unix_now() >= tick_due {
                self.refresh_token_keys(&mut token_keys);
                let actions = self.agent.tick(unix_now(), &mut rng);
                self.apply(actions, &mut dialed, &mut known);
                tick_due = self.agent.next_tick(unix_now());
            }
            tokio::select! {
                _ = tokio::time::sleep(until_unix(tick_due)) => {}
                _ = tokio::time::sleep_until(next_check) => {
                    // compare digests with one relay the sampler draws from the directory
                    next_check = tokio::time::Instant::from_std(crate::clock::monotonic()) + view.next_interval();
                    if let Some(peer) = view.pick(&known, &mut rng) {
                        self.sync_with(peer, synced_tx.clone());
                    }
                }
                ev = self.events.recv() => match ev {
                    Some(NetEvent::Gossip { id, source, data }) => {
                        let (verdict, actions) = match data.split_first() {
                            Some((&GOSSIP_DESCRIPTOR, d)) => self.agent.on_descriptor(d, unix_now()),
                            Some((&GOSSIP_PROOF, p)) => self.agent.on_proof(p),
                            _ => (Verdict::Reject("unknown_gossip"), Vec::new()),
                        };
                        if let Verdict::Reject(reason) = verdict {
                            tracing::debug!(%source, reason, "gossip rejected");
                        }
                        let acceptance = match verdict {
                            Verdict::Accept => MessageAcceptance::Accept,
                            Verdict::Ignore => MessageAcceptance::Ignore,
                            Verdict::Reject(_) => MessageAcceptance::Reject,
                        };
                        self.net.report(id, source, acceptance);
                        self.apply(actions, &mut dialed, &mut known);
                    }
                    Some(NetEvent::Connected(peer)) => self.sync_with(peer, synced_tx.clone()),
                    None => return,
                },
                Some((peer, answer)) = synced.recv() => {
                    let differed = answer.descriptors.is_some();
                    if let Some(descs) = answer.descriptors {
                        tracing::debug!(%peer, "directory views differ: merging the peer's");
                        for d in descs {
                            let (_, actions) = self.agent.on_descriptor(&d, unix_now());
                            self.apply(actions, &mut dialed, &mut known);
                        }
                    }
                    view.set_local(self.agent.epoch(), self.agent.digest());
                    view.record(peer, answer.digest, differed);
                }
                Some((epoch, digest, reply)) = snapshots.recv() => {
                    let same = epoch == self.agent.epoch() && digest == self.agent.digest();
                    let snapshot = (!same).then(|| self.agent.snapshot());
                    let _ = reply.send(encode_answer(self.agent.digest(), snapshot.as_deref()));
                }
                _ = shutdown.changed() => if *shutdown.borrow() { return },
            }
            view.set_local(self.agent.epoch(), self.agent.digest());
            self.publish_status(view.confirmed(), view.disagreements(), view.checks());
        }
    }

    fn refresh_token_keys(&mut self, source: &mut Option<TokenKeySource>) {
        if let Some(source) = source {
            let epoch = self.agent.directory().clock().epoch_at(unix_now());
            self.agent.set_token_keys(source(epoch));
        }
    }

    /// Asks `peer` for its digest (and its directory if ours differs).
    fn sync_with(&self, peer: PeerId, done: mpsc::UnboundedSender<(PeerId, SyncAnswer)>) {
        let mut control = self.net.control.clone();
        let (epoch, digest) = (self.agent.epoch(), self.agent.digest());
        tokio::spawn(async move {
            // clients do not serve the protocol: a failure here is normal
            if let Ok(mut s) = control.open_stream(peer, PKI_SYNC_PROTOCOL).await
                && let Ok(answer) = request(&mut s, epoch, digest).await
            {
                let _ = done.send((peer, answer));
            }
        });
    }

    fn serve_sync(
        &self,
        snapshots: mpsc::Sender<SnapshotRequest>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut control = self.net.control.clone();
        let Ok(mut incoming) = control.accept(PKI_SYNC_PROTOCOL) else {
            tracing::warn!("pki sync protocol already registered");
            return;
        };
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    next = incoming.next() => {
                        let Some((peer, mut stream)) = next else { return };
                        let snapshots = snapshots.clone();
                        tokio::spawn(async move {
                            let Ok((epoch, digest)) = read_request(&mut stream).await else { return };
                            let (tx, rx) = oneshot::channel();
                            if snapshots.send((epoch, digest, tx)).await.is_err() { return }
                            let Ok(answer) = rx.await else { return };
                            if let Err(e) = write_answer(&mut stream, &answer).await {
                                tracing::debug!(%peer, error = %e, "pki sync answer failed");
                            }
                        });
                    }
                    _ = shutdown.changed() => return,
                }
            }
        });
    }

    fn apply(
        &mut self,
        actions: Vec<PkiAction>,
        dialed: &mut HashSet<PeerId>,
        known: &mut Vec<PeerId>,
    ) {
        for action in actions {
            match action {
                PkiAction::Publish(bytes) => {
                    let mut m = vec![GOSSIP_DESCRIPTOR];
                    m.extend_from_slice(&bytes);
                    self.net.publish(m);
                    if let Ok(mut s) = self.status.lock() {
                        s.published += 1;
                    }
                }
                PkiAction::PublishProof(bytes) => {
                    let mut m = vec![GOSSIP_PROOF];
                    m.extend_from_slice(&bytes);
                    self.net.publish(m);
                }
                PkiAction::InstallKeys(keys) => {
                    let keys = keys
                        .into_iter()
                        .map(|(e, s)| (e, StaticSecret::from(*s)))
                        .collect();
                    let _ = self.outputs.send(PkiOutput::Keys(keys));
                }
                PkiAction::Topology(t) => {
                    let book = address_book(&t);
                    *known = book
                        .iter()
                        .map(|(p, _)| *p)
                        .filter(|p| *p != self.net.peer_id)
                        .collect();
                    known.dedup();
                    for (peer, addr) in book {
                        if peer == self.net.peer_id {
                            continue;
                        }
                        self.net.add_address(peer, addr);
                        if dialed.len() < GOSSIP_DIAL_TARGET && dialed.insert(peer) {
                            self.net.dial(peer);
                        }
                    }
                    let _ = self.outputs.send(PkiOutput::Topology(t));
                }
                PkiAction::PersistKeys => self.persist_keys(),
            }
        }
    }

    fn persist_keys(&self) {
        let (Some(path), Some(bytes)) = (&self.keyring_path, self.agent.keyring_bytes()) else {
            return;
        };
        // write-then-rename, so a crash never leaves half a key file
        let tmp = path.with_extension("tmp");
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut f| f.write_all(&bytes).and_then(|()| f.sync_all()))
            .and_then(|()| std::fs::rename(&tmp, path));
        if let Err(e) = written {
            tracing::error!(path = %path.display(), error = %e, "cannot persist the Sphinx key ring");
        }
    }

    fn publish_status(&self, view_confirmed: bool, view_disagreements: u64, view_checks: u64) {
        if let Ok(mut s) = self.status.lock() {
            s.view_confirmed = view_confirmed;
            s.view_disagreements = view_disagreements;
            s.view_checks = view_checks;
            s.epoch = self.agent.epoch();
            s.epochs_rotated = self.agent.epochs_rotated();
            s.digest = self.agent.digest();
            s.descriptors = self.agent.directory().valid_for(self.agent.epoch()).count();
            s.issuer_keys = self
                .agent
                .directory()
                .valid_for(self.agent.epoch())
                .filter(|d| d.content().role == wesh_pki::Role::Issuer)
                .map(|d| (d.identity().0, d.content().token_keys.clone()))
                .collect();
            s.rejected = self
                .agent
                .rejections()
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect();
        }
    }
}
