//! Drives a relay's `PkiAgent` with real events and carries out what it decides.

use super::convert::address_book;
use super::sync::{PKI_SYNC_PROTOCOL, answer, request};
use crate::net::swarm::{NetEvent, NetHandle};
use futures::StreamExt;
use libp2p::PeerId;
use libp2p::gossipsub::MessageAcceptance;
use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
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
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// How long until Unix second `at` begins.
pub fn until_unix(at: u64) -> Duration {
    until(at)
}

fn until(at: u64) -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Duration::from_secs(at).saturating_sub(now)
}

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
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let (synced_tx, mut synced) = mpsc::unbounded_channel::<Vec<Vec<u8>>>();
        let (snap_tx, mut snapshots) = mpsc::channel::<oneshot::Sender<Vec<Vec<u8>>>>(64);
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
        let actions = self.agent.tick(unix_now(), &mut rng);
        self.apply(actions, &mut dialed);
        loop {
            let wake = until(self.agent.next_tick(unix_now()));
            tokio::select! {
                _ = tokio::time::sleep(wake) => {
                    let actions = self.agent.tick(unix_now(), &mut rng);
                    self.apply(actions, &mut dialed);
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
                        self.apply(actions, &mut dialed);
                    }
                    Some(NetEvent::Connected(peer)) => {
                        let mut control = self.net.control.clone();
                        let tx = synced_tx.clone();
                        tokio::spawn(async move {
                            // clients do not serve the protocol: a failure here is normal
                            if let Ok(mut s) = control.open_stream(peer, PKI_SYNC_PROTOCOL).await
                                && let Ok(descs) = request(&mut s).await
                            {
                                let _ = tx.send(descs);
                            }
                        });
                    }
                    None => return,
                },
                Some(descs) = synced.recv() => {
                    for d in descs {
                        let (_, actions) = self.agent.on_descriptor(&d, unix_now());
                        self.apply(actions, &mut dialed);
                    }
                }
                Some(reply) = snapshots.recv() => { let _ = reply.send(self.agent.snapshot()); }
                _ = shutdown.changed() => if *shutdown.borrow() { return },
            }
            self.publish_status();
        }
    }

    fn serve_sync(
        &self,
        snapshots: mpsc::Sender<oneshot::Sender<Vec<Vec<u8>>>>,
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
                            let (tx, rx) = oneshot::channel();
                            if snapshots.send(tx).await.is_err() { return }
                            let Ok(descs) = rx.await else { return };
                            if let Err(e) = answer(&mut stream, &descs).await {
                                tracing::debug!(%peer, error = %e, "pki sync answer failed");
                            }
                        });
                    }
                    _ = shutdown.changed() => return,
                }
            }
        });
    }

    fn apply(&mut self, actions: Vec<PkiAction>, dialed: &mut HashSet<PeerId>) {
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
                    for (peer, addr) in address_book(&t) {
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

    fn publish_status(&self) {
        if let Ok(mut s) = self.status.lock() {
            s.epoch = self.agent.epoch();
            s.epochs_rotated = self.agent.epochs_rotated();
            s.digest = self.agent.digest();
            s.descriptors = self.agent.directory().valid_for(self.agent.epoch()).count();
            s.rejected = self
                .agent
                .rejections()
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect();
        }
    }
}
