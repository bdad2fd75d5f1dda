//! Drives a relay's `DirectoryFollower` (`wesh_pki`) with real events and carries out
//! what it decides: gossip, syncs, dials, keys and views.

use super::convert::address_book;
use super::sync::{
    PKI_SYNC_PROTOCOL, SyncOutcome, encode_answer, read_request, spawn_sync, write_answer,
};
use crate::keys::{node_id_of_peer, peer_id_of};
use crate::net::swarm::{NetEvent, NetHandle};
use futures::StreamExt;
use libp2p::PeerId;
use libp2p::gossipsub::MessageAcceptance;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use wesh_pki::{DirectoryFollower, FollowerAction, Following, PkiAgent, SyncServeGate, Verdict};
use x25519_dalek::StaticSecret;

/// What the relay must apply.
pub enum PkiOutput {
    Keys(Vec<(u64, StaticSecret)>),
    Topology(wesh_pki::Topology),
}

/// A summary others (the testnet, `wesh pki show`) can read at any time.
pub type PkiStatus = wesh_pki::FollowerStatus;

pub use crate::clock::{unix_now, unix_now_ms, until_unix};

/// A sync request waiting for the agent: (epoch, requester's digest, where the answer goes).
type SnapshotRequest = (u64, [u8; 32], oneshot::Sender<Arc<Vec<u8>>>);

/// Who may open `/wesh/pki-sync/1` streams to us now (the rule is the core's).
type SharedGate = Arc<Mutex<SyncServeGate<PeerId>>>;

/// An admitted sync stream: its slot is given back however the stream's task ends.
struct GateSlot {
    gate: SharedGate,
    peer: PeerId,
}

impl Drop for GateSlot {
    fn drop(&mut self) {
        if let Ok(mut g) = self.gate.lock() {
            g.close(&self.peer);
        }
    }
}

/// The full answer last encoded, for the directory generation and epoch it was made at
/// (a flood of zero-digest requests then costs one encoding per directory change).
#[derive(Default)]
struct AnswerCache {
    key: Option<(u64, u64)>,
    full: Arc<Vec<u8>>,
}

impl AnswerCache {
    fn answer(
        &mut self,
        follower: &DirectoryFollower,
        epoch: u64,
        digest: [u8; 32],
    ) -> Arc<Vec<u8>> {
        let agent = follower.agent();
        let ours = agent.digest();
        if epoch == agent.epoch() && digest == ours {
            return Arc::new(encode_answer(ours, None));
        }
        let key = (agent.directory().generation(), agent.epoch());
        if self.key != Some(key) {
            self.full = Arc::new(encode_answer(ours, Some(&agent.snapshot())));
            self.key = Some(key);
        }
        self.full.clone()
    }
}

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

/// Where the follower's decisions go.
struct RelayShell {
    net: NetHandle,
    outputs: mpsc::UnboundedSender<PkiOutput>,
    status: Arc<Mutex<PkiStatus>>,
    keyring_path: Option<PathBuf>,
    gate: SharedGate,
}

impl PkiService {
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        self.run_with_token_keys(shutdown, None).await
    }

    /// Like `run`; an issuer passes where its token keys come from, asked before every
    /// tick so the descriptor published at an epoch start carries that epoch's keys.
    pub async fn run_with_token_keys(
        self,
        mut shutdown: watch::Receiver<bool>,
        mut token_keys: Option<TokenKeySource>,
    ) {
        let PkiService {
            agent,
            net,
            mut events,
            outputs,
            status,
            keyring_path,
            bootstrap,
        } = self;
        let shell = RelayShell {
            net,
            outputs,
            status,
            keyring_path,
            gate: Arc::new(Mutex::new(SyncServeGate::default())),
        };
        let Some(me) = node_id_of_peer(&shell.net.peer_id) else {
            tracing::error!("the node's identity is not an Ed25519 key: no PKI");
            return;
        };
        let seed = wesh_mix::seed_from(&mut rand::rng());
        let mut follower = DirectoryFollower::new(
            agent,
            Following::Relay {
                me: wesh_pki::NodeId(me.0),
            },
            unix_now_ms(),
            seed,
        );
        let (synced_tx, mut synced) = mpsc::unbounded_channel::<SyncOutcome>();
        let (snap_tx, mut snapshots) = mpsc::channel::<SnapshotRequest>(64);
        shell.serve_sync(snap_tx, shutdown.clone());
        let mut answers = AnswerCache::default();
        for p in &bootstrap {
            shell.net.dial(*p);
            if let Some(n) = node_id_of_peer(p) {
                follower.handle_dialed(wesh_pki::NodeId(n.0));
            }
        }
        loop {
            let now = unix_now_ms();
            if let Some(source) = token_keys.as_mut()
                && follower.tick_due(now)
            {
                let epoch = follower.agent().directory().clock().epoch_at(now / 1000);
                follower.set_token_keys(source(epoch));
            }
            for action in follower.poll(now) {
                shell.apply(action, &follower, &synced_tx);
            }
            shell.publish_status(&follower);
            let wake = follower.poll_timeout().saturating_sub(unix_now_ms());
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(wake)) => {}
                ev = events.recv() => match ev {
                    Some(NetEvent::Gossip { id, source, data }) => {
                        let verdict = follower.handle_gossip(unix_now_ms(), &data);
                        if let Verdict::Reject(reason) = verdict {
                            tracing::debug!(%source, reason, "gossip rejected");
                        }
                        let acceptance = match verdict {
                            Verdict::Accept => MessageAcceptance::Accept,
                            Verdict::Ignore => MessageAcceptance::Ignore,
                            Verdict::Reject(_) => MessageAcceptance::Reject,
                        };
                        shell.net.report(id, source, acceptance);
                    }
                    Some(NetEvent::Connected(peer)) => {
                        if let Some(n) = node_id_of_peer(&peer) {
                            follower.handle_connected(unix_now_ms(), wesh_pki::NodeId(n.0));
                        }
                    }
                    None => return,
                },
                Some(outcome) = synced.recv() => outcome.report_to(&mut follower),
                Some((epoch, digest, reply)) = snapshots.recv() => {
                    let _ = reply.send(answers.answer(&follower, epoch, digest));
                }
                _ = shutdown.changed() => if *shutdown.borrow() { return },
            }
        }
    }
}

impl RelayShell {
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
        let gate = self.gate.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    next = incoming.next() => {
                        let Some((peer, mut stream)) = next else { return };
                        // admitted or refused before a byte is read: a refused stream is
                        // dropped (reset) at once
                        let admitted = gate
                            .lock()
                            .map(|mut g| g.admit(unix_now_ms(), &peer))
                            .unwrap_or(Err(wesh_pki::SyncRefusal::Busy));
                        if let Err(refusal) = admitted {
                            tracing::debug!(%peer, reason = refusal.reason(), "pki sync stream refused");
                            continue;
                        }
                        let slot = GateSlot { gate: gate.clone(), peer };
                        let snapshots = snapshots.clone();
                        tokio::spawn(async move {
                            let _slot = slot;
                            // every read and write is bounded (sync.rs): a silent or slow
                            // peer gives its slot back
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
        &self,
        action: FollowerAction,
        follower: &DirectoryFollower,
        synced: &mpsc::UnboundedSender<SyncOutcome>,
    ) {
        match action {
            FollowerAction::Sync {
                peer,
                epoch,
                digest,
                deadline_ms,
            } => spawn_sync(
                self.net.control.clone(),
                peer,
                epoch,
                digest,
                deadline_ms,
                synced.clone(),
            ),
            FollowerAction::Gossip(m) => self.net.publish(m),
            FollowerAction::InstallKeys(keys) => {
                let keys = keys
                    .into_iter()
                    .map(|(e, s)| (e, StaticSecret::from(*s)))
                    .collect();
                let _ = self.outputs.send(PkiOutput::Keys(keys));
            }
            FollowerAction::Directory(t) => {
                for (peer, addr) in address_book(&t) {
                    if peer != self.net.peer_id {
                        self.net.add_address(peer, addr);
                    }
                }
            }
            FollowerAction::Dial(n) => {
                if let Some(peer) = peer_id_of(&wesh_mix::NodeId(n.0)) {
                    self.net.dial(peer);
                }
            }
            FollowerAction::InstallView(t) => {
                let _ = self.outputs.send(PkiOutput::Topology(t));
            }
            FollowerAction::PersistKeys => self.persist_keys(follower.agent()),
        }
    }

    fn persist_keys(&self, agent: &PkiAgent) {
        let (Some(path), Some(bytes)) = (&self.keyring_path, agent.keyring_bytes()) else {
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

    fn publish_status(&self, follower: &DirectoryFollower) {
        let mut status = follower.status();
        if let Ok(g) = self.gate.lock() {
            status.sync_streams_served = g.admitted();
            status.sync_streams_refused = g.refused().values().sum();
        }
        if let Ok(mut s) = self.status.lock() {
            *s = status;
        }
    }
}
