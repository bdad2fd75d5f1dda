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
use wesh_pki::{DirectoryFollower, FollowerAction, Following, PkiAgent, Verdict};
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

/// Where the follower's decisions go.
struct RelayShell {
    net: NetHandle,
    outputs: mpsc::UnboundedSender<PkiOutput>,
    status: Arc<Mutex<PkiStatus>>,
    keyring_path: Option<PathBuf>,
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
                    let (ours, snapshot) = follower.answer_sync(epoch, digest);
                    let _ = reply.send(encode_answer(ours, snapshot.as_deref()));
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
        if let Ok(mut s) = self.status.lock() {
            *s = follower.status();
        }
    }
}
