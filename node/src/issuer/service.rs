//! Serving the issuer's three protocols over one libp2p node.

use super::calls::{Redeemed, encode_redeemed};
use super::{
    CLAIM_PROTOCOL, ISSUE_PROTOCOL, KEYS_PROTOCOL, MAX_ISSUE_BYTES, MAX_REDEEM_BATCH,
    MAX_WORK_REPORTS_PER_EPOCH, REDEEM_PROTOCOL, REWARDS_PROTOCOL, WORK_PROTOCOL, epoch_at,
};
use crate::keys::node_id_of_peer;
use crate::mailboxes::exchange::read_bounded;
use crate::pki::service::unix_now;
use crate::storage::reward_store::RewardStore;
use crate::storage::spent_store::SpentStore;
use futures::{AsyncWriteExt, StreamExt};
use libp2p::{PeerId, StreamProtocol};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::watch;
use wesh_payments::params::TOKEN_BYTES;
use wesh_payments::{
    ClaimError, Credential, EpochRewards, FreeQuotaPolicy, Issuer, IssuerKey, ShopperScores,
    WorkReport, decode_request, decode_token, encode_response,
};

/// What the issuer has done (for logs, the testnet and tests).
#[derive(Debug, Default)]
pub struct IssuerStats {
    pub tokens_issued: AtomicU64,
    pub requests_refused: AtomicU64,
    pub tokens_redeemed: AtomicU64,
    pub double_spends_rejected: AtomicU64,
    pub redemptions_refused: AtomicU64,
}

pub struct IssuerState {
    pub issuer: Issuer<FreeQuotaPolicy, SpentStore>,
    pub epoch_seconds: u64,
    /// Where each epoch's signing key is kept (PKCS#8 DER, mode 0600); None: memory only.
    pub keys_dir: Option<PathBuf>,
    /// Where settled reward epochs and their claims are kept; None: memory only.
    pub rewards_store: Option<RewardStore>,
    /// Settled epochs known to be in `rewards_store`.
    pub rewards_saved: BTreeSet<u64>,
    /// Work the relays reported, per epoch not settled yet: node → packets.
    pub work: BTreeMap<u64, BTreeMap<[u8; 32], u64>>,
}

impl IssuerState {
    /// The current epoch, with its signing key installed (loaded or generated).
    pub fn current_epoch(&mut self) -> Result<u64, String> {
        let epoch = epoch_at(unix_now(), self.epoch_seconds);
        self.ensure_key(epoch)?;
        Ok(epoch)
    }

    /// Installs the signing key of `epoch`: loaded from the keys directory, or generated
    /// and written there (a restart then signs and verifies with the same key). Keys of
    /// the current epoch and the next are announced in the PKI; the issuer signs only
    /// with the current one.
    pub fn ensure_key(&mut self, epoch: u64) -> Result<(), String> {
        if self
            .issuer
            .published_keys()
            .iter()
            .any(|k| k.epoch == epoch)
        {
            return Ok(());
        }
        let path = self
            .keys_dir
            .as_ref()
            .map(|d| d.join(format!("{epoch}.der")));
        let key = match path.as_ref().map(std::fs::read) {
            Some(Ok(der)) => IssuerKey::from_pkcs8_der(epoch, &der).map_err(|e| e.to_string())?,
            _ => {
                let key =
                    IssuerKey::generate(epoch, &mut rand::rng()).map_err(|e| e.to_string())?;
                if let Some(p) = &path {
                    let der = key.to_pkcs8_der().map_err(|e| e.to_string())?;
                    crate::keys::write_secret_file(p, &der).map_err(|e| e.to_string())?;
                }
                key
            }
        };
        self.issuer.install_key(key).map_err(|e| e.to_string())?;
        let _ = self.issuer.prune(epoch_at(unix_now(), self.epoch_seconds));
        Ok(())
    }

    /// Loads the settled epochs kept in the reward store into the ledger.
    pub fn load_rewards(&mut self) -> Result<usize, String> {
        let Some(store) = &self.rewards_store else {
            return Ok(0);
        };
        let epochs = store.load()?;
        let n = epochs.len();
        for rewards in epochs {
            let epoch = rewards.epoch;
            self.issuer
                .rewards_mut()
                .record(rewards)
                .map_err(|e| e.to_string())?;
            self.rewards_saved.insert(epoch);
        }
        Ok(n)
    }

    /// Settles `epoch` and writes it to the reward store before returning.
    pub fn settle(
        &mut self,
        epoch: u64,
        scores: &ShopperScores,
        reports: &[WorkReport],
    ) -> Result<EpochRewards, String> {
        let settled = self
            .issuer
            .settle(epoch, scores, reports)
            .map_err(|e| e.to_string())?
            .clone();
        self.persist_unsaved()?;
        Ok(settled)
    }

    /// Writes settled epochs not yet in the store (settled through `issuer` directly,
    /// as the testnet does).
    pub fn persist_unsaved(&mut self) -> Result<(), String> {
        let Some(store) = &self.rewards_store else {
            return Ok(());
        };
        for rewards in self.issuer.rewards().epochs() {
            if !self.rewards_saved.contains(&rewards.epoch) {
                store.put(rewards)?;
                self.rewards_saved.insert(rewards.epoch);
            }
        }
        Ok(())
    }

    /// Records `node`'s work for `epoch` (the current or the previous epoch, once).
    pub fn report_work(&mut self, epoch: u64, node: [u8; 32], packets: u64) -> Result<(), String> {
        let current = epoch_at(unix_now(), self.epoch_seconds);
        if epoch > current || epoch + 1 < current {
            return Err(format!(
                "epoch {epoch} is not the current ({current}) or the previous one"
            ));
        }
        if self.issuer.rewards().table(epoch).is_some() {
            return Err(format!("epoch {epoch} is already settled"));
        }
        // older epochs nobody settled are dropped
        self.work.retain(|e, _| e + 1 >= current);
        let reports = self.work.entry(epoch).or_default();
        if reports.contains_key(&node) {
            return Err(format!("work for epoch {epoch} already reported"));
        }
        if reports.len() >= MAX_WORK_REPORTS_PER_EPOCH {
            return Err("too many reports for this epoch".into());
        }
        reports.insert(node, packets);
        Ok(())
    }

    /// The work reported for `epoch` (taken: settlement uses it once).
    pub fn take_work(&mut self, epoch: u64) -> Vec<WorkReport> {
        self.work
            .remove(&epoch)
            .unwrap_or_default()
            .into_iter()
            .map(|(node, packets)| WorkReport { node, packets })
            .collect()
    }

    /// Claims `node`'s entry of `epoch`: the claimed entry is durable before it counts,
    /// so a crash cannot let it be claimed again.
    pub fn claim(&mut self, epoch: u64, node: &[u8; 32]) -> Result<u64, String> {
        self.persist_unsaved()?;
        if let Some(store) = &self.rewards_store {
            let mut record = self
                .issuer
                .rewards()
                .epoch(epoch)
                .cloned()
                .ok_or_else(|| ClaimError::NotSettled.to_string())?;
            let entry = record
                .entries
                .get_mut(node)
                .ok_or_else(|| ClaimError::NoEntry.to_string())?;
            if entry.claimed {
                return Err(ClaimError::AlreadyClaimed.to_string());
            }
            entry.claimed = true;
            store.put(&record)?;
        }
        self.issuer
            .rewards_mut()
            .claim(epoch, node)
            .map_err(|e| e.to_string())
    }

    /// The token keys of `epoch` and `epoch + 1` (generated if needed), as an issuer
    /// descriptor announces them.
    pub fn announced_keys(&mut self, epoch: u64) -> Vec<wesh_pki::EpochTokenKey> {
        for e in [epoch, epoch.saturating_add(1)] {
            if let Err(e) = self.ensure_key(e) {
                tracing::error!(error = %e, "cannot install an issuer key");
            }
        }
        self.issuer
            .published_keys()
            .into_iter()
            .filter(|k| k.epoch == epoch || k.epoch == epoch.saturating_add(1))
            .map(|k| wesh_pki::EpochTokenKey {
                epoch: k.epoch,
                key_id: k.key_id.0,
                spki: k.spki,
            })
            .collect()
    }
}

type Shared = Arc<Mutex<IssuerState>>;

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, IssuerState> {
    s.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Serves keys, issuance and redemption until `shutdown`.
pub fn serve(
    control: libp2p_stream::Control,
    state: Shared,
    stats: Arc<IssuerStats>,
    shutdown: watch::Receiver<bool>,
) -> Result<(), String> {
    for protocol in [
        KEYS_PROTOCOL,
        ISSUE_PROTOCOL,
        REDEEM_PROTOCOL,
        REWARDS_PROTOCOL,
        CLAIM_PROTOCOL,
        WORK_PROTOCOL,
    ] {
        let mut incoming = control
            .clone()
            .accept(protocol.clone())
            .map_err(|_| format!("{protocol} registered twice"))?;
        let (state, stats, mut stop) = (state.clone(), stats.clone(), shutdown.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    next = incoming.next() => match next {
                        Some((peer, stream)) => {
                            tokio::spawn(answer(protocol.clone(), peer, stream, state.clone(), stats.clone()));
                        }
                        None => return,
                    },
                    _ = stop.changed() => return,
                }
            }
        });
    }
    Ok(())
}

async fn answer(
    protocol: StreamProtocol,
    peer: PeerId,
    mut stream: libp2p::Stream,
    state: Shared,
    stats: Arc<IssuerStats>,
) {
    let limit = if protocol == REDEEM_PROTOCOL {
        2 + MAX_REDEEM_BATCH * TOKEN_BYTES
    } else {
        MAX_ISSUE_BYTES
    };
    let Ok(request) = read_bounded(&mut stream, limit).await else {
        return;
    };
    // RSA signing and synced writes block: keep them off the async workers
    let answered = tokio::task::spawn_blocking(move || {
        let mut s = lock(&state);
        if protocol == KEYS_PROTOCOL {
            keys_answer(&mut s)
        } else if protocol == REWARDS_PROTOCOL {
            rewards_answer(&mut s, &request)
        } else if protocol == CLAIM_PROTOCOL {
            claim_answer(&mut s, peer, &request)
        } else if protocol == WORK_PROTOCOL {
            work_answer(&mut s, peer, &request)
        } else if protocol == ISSUE_PROTOCOL {
            issue_answer(&mut s, peer, &request, &stats)
        } else {
            redeem_answer(&mut s, peer, &request, &stats)
        }
    })
    .await;
    if let Ok(response) = answered {
        let _ = stream.write_all(&response).await;
        let _ = stream.close().await;
    }
}

fn keys_answer(s: &mut IssuerState) -> Vec<u8> {
    let current = match s.current_epoch() {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(error = %e, "no issuer key");
            epoch_at(unix_now(), s.epoch_seconds)
        }
    };
    // keys already usable: the next epoch's key is announced in the PKI only
    let keys: Vec<_> = s
        .issuer
        .published_keys()
        .into_iter()
        .filter(|k| k.epoch <= current)
        .collect();
    let mut out = vec![u8::try_from(keys.len()).unwrap_or(0)];
    for k in keys.iter().take(255) {
        out.extend_from_slice(&k.epoch.to_be_bytes());
        out.extend_from_slice(&u16::try_from(k.spki.len()).unwrap_or(0).to_be_bytes());
        out.extend_from_slice(&k.spki);
    }
    out
}

fn rewards_answer(s: &mut IssuerState, request: &[u8]) -> Vec<u8> {
    let Some(epoch) = request.try_into().ok().map(u64::from_be_bytes) else {
        return b"malformed request: expected an epoch (u64)\n".to_vec();
    };
    if let Err(e) = s.persist_unsaved() {
        tracing::error!(error = %e, "settled rewards not persisted");
    }
    match s.issuer.rewards().table(epoch) {
        Some(table) => table.into_bytes(),
        None => format!("no rewards settled for epoch {epoch}\n").into_bytes(),
    }
}

fn claim_answer(s: &mut IssuerState, peer: PeerId, request: &[u8]) -> Vec<u8> {
    let refused = |reason: &str| {
        let mut out = vec![1];
        out.extend_from_slice(reason.as_bytes());
        out
    };
    let Some(epoch) = request.try_into().ok().map(u64::from_be_bytes) else {
        return refused("malformed request: expected an epoch (u64)");
    };
    let Some(node) = node_id_of_peer(&peer) else {
        return refused("the claimant is not an Ed25519 node");
    };
    match s.claim(epoch, &node.0) {
        Ok(units) => {
            tracing::info!(%peer, epoch, units, "reward claimed");
            let mut out = vec![0];
            out.extend_from_slice(&units.to_be_bytes());
            out
        }
        Err(e) => refused(&e),
    }
}

fn work_answer(s: &mut IssuerState, peer: PeerId, request: &[u8]) -> Vec<u8> {
    let refused = |reason: &str| {
        let mut out = vec![1];
        out.extend_from_slice(reason.as_bytes());
        out
    };
    let fields: Option<([u8; 8], [u8; 8])> = (request.len() == 16)
        .then(|| Some((request[..8].try_into().ok()?, request[8..].try_into().ok()?)))
        .flatten();
    let Some((epoch, packets)) = fields else {
        return refused("malformed request: expected epoch (u64) and packets (u64)");
    };
    let Some(node) = node_id_of_peer(&peer) else {
        return refused("the reporter is not an Ed25519 node");
    };
    let (epoch, packets) = (u64::from_be_bytes(epoch), u64::from_be_bytes(packets));
    match s.report_work(epoch, node.0, packets) {
        Ok(()) => {
            tracing::info!(%peer, epoch, packets, "work reported");
            vec![0]
        }
        Err(e) => refused(&e),
    }
}

fn refuse(reason: &str, stats: &IssuerStats) -> Vec<u8> {
    stats.requests_refused.fetch_add(1, Relaxed);
    let mut out = vec![1];
    out.extend_from_slice(reason.as_bytes());
    out
}

fn issue_answer(s: &mut IssuerState, peer: PeerId, request: &[u8], stats: &IssuerStats) -> Vec<u8> {
    let request = match decode_request(request) {
        Ok(r) => r,
        Err(e) => return refuse(&e.to_string(), stats),
    };
    if let Credential::ClientKey(key) = &request.credential
        && node_id_of_peer(&peer).map(|n| n.0) != Some(*key)
    {
        return refuse(
            "the client key credential must be the requesting peer's key",
            stats,
        );
    }
    let epoch = match s.current_epoch() {
        Ok(e) => e,
        Err(e) => return refuse(&e, stats),
    };
    match s.issuer.issue(epoch, &request, &mut rand::rng()) {
        Ok(response) => {
            stats
                .tokens_issued
                .fetch_add(response.blind_signatures.len() as u64, Relaxed);
            let mut out = vec![0];
            out.extend_from_slice(&encode_response(&response));
            out
        }
        Err(e) => refuse(&e.to_string(), stats),
    }
}

fn redeem_answer(
    s: &mut IssuerState,
    peer: PeerId,
    request: &[u8],
    stats: &IssuerStats,
) -> Vec<u8> {
    let mut result = Redeemed::default();
    let Some(provider) = node_id_of_peer(&peer) else {
        return encode_redeemed(&result);
    };
    let count = request
        .get(..2)
        .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
        .unwrap_or(0);
    let body = request.get(2..).unwrap_or(&[]);
    if count > MAX_REDEEM_BATCH || body.len() != count * TOKEN_BYTES {
        result.refused.push((0, "malformed batch".into()));
        stats.redemptions_refused.fetch_add(1, Relaxed);
        return encode_redeemed(&result);
    }
    let now = match s.current_epoch() {
        Ok(e) => e,
        Err(e) => {
            result.refused.push((0, e));
            return encode_redeemed(&result);
        }
    };
    for (i, chunk) in body.chunks(TOKEN_BYTES).enumerate() {
        let index = u16::try_from(i).unwrap_or(u16::MAX);
        let verdict = decode_token(chunk).and_then(|t| s.issuer.redeem(now, provider.0, &t));
        match verdict {
            Ok(()) => {
                result.accepted += 1;
                stats.tokens_redeemed.fetch_add(1, Relaxed);
            }
            Err(reason) => {
                if reason == wesh_payments::Refusal::AlreadySpent {
                    stats.double_spends_rejected.fetch_add(1, Relaxed);
                }
                stats.redemptions_refused.fetch_add(1, Relaxed);
                result.refused.push((index, reason.as_str().to_string()));
            }
        }
    }
    encode_redeemed(&result)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use wesh_payments::NodeScore;

    fn state(dir: &std::path::Path) -> IssuerState {
        let spent = SpentStore::open(dir.join("spent")).unwrap();
        let mut s = IssuerState {
            issuer: Issuer::new(FreeQuotaPolicy::new(5), spent),
            epoch_seconds: 3600,
            keys_dir: None,
            rewards_store: Some(RewardStore::open(dir.join("rewards")).unwrap()),
            rewards_saved: BTreeSet::new(),
            work: BTreeMap::new(),
        };
        s.load_rewards().unwrap();
        s
    }

    fn ask(s: &mut IssuerState, epoch: u64) -> String {
        String::from_utf8(rewards_answer(s, &epoch.to_be_bytes())).unwrap()
    }

    #[test]
    fn work_reports_are_taken_once_per_relay_and_recent_epoch() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = state(dir.path());
        let now = epoch_at(unix_now(), s.epoch_seconds);
        let peer = PeerId::from(libp2p::identity::Keypair::generate_ed25519().public());
        let report = |e: u64, p: u64| {
            let mut r = e.to_be_bytes().to_vec();
            r.extend_from_slice(&p.to_be_bytes());
            r
        };
        assert_eq!(work_answer(&mut s, peer, &report(now, 7)), vec![0]);
        let again = work_answer(&mut s, peer, &report(now, 9));
        assert!(String::from_utf8_lossy(&again).contains("already reported"));
        for bad in [
            report(now + 1, 1),
            report(now.saturating_sub(5), 1),
            vec![0; 3],
        ] {
            assert_eq!(work_answer(&mut s, peer, &bad)[0], 1, "refused");
        }
        let node = node_id_of_peer(&peer).unwrap().0;
        assert_eq!(s.take_work(now), vec![WorkReport { node, packets: 7 }]);
        assert!(s.take_work(now).is_empty(), "taken once");
    }

    #[test]
    fn settled_rewards_and_claims_survive_an_issuer_restart() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = ([1u8; 32], [2u8; 32], [3u8; 32]);
        let scores = ShopperScores {
            epoch: 40,
            nodes: [(a, 1.0), (b, 0.5), (c, 1.0)]
                .into_iter()
                .map(|(n, score)| {
                    let s = NodeScore {
                        loops_sent: 100,
                        loops_returned: (100.0 * score) as u64,
                        score: Some(score),
                    };
                    (n, s)
                })
                .collect(),
        };
        let reports: Vec<WorkReport> = [a, b, c]
            .iter()
            .map(|&node| WorkReport {
                node,
                packets: 1000,
            })
            .collect();
        let (table, units_b) = {
            let mut s = state(dir.path());
            let settled = s.settle(40, &scores, &reports).unwrap();
            assert!(settled.entries[&b].units > 0);
            // an epoch settled straight through the core (as the testnet does) is kept too
            s.issuer.settle(41, &scores, &reports).unwrap();
            assert_eq!(s.claim(40, &a).unwrap(), settled.entries[&a].units);
            (ask(&mut s, 40), settled.entries[&b].units)
        };
        assert!(table.contains("epoch 40"), "{table}");

        let mut s = state(dir.path());
        assert_eq!(ask(&mut s, 40), table, "the same ledger after the restart");
        assert!(ask(&mut s, 41).contains("epoch 41"));
        assert!(ask(&mut s, 42).contains("no rewards settled for epoch 42"));
        assert_eq!(
            s.claim(40, &a),
            Err("reward already claimed".into()),
            "a claim made before the restart stands"
        );
        assert_eq!(s.claim(40, &b), Ok(units_b));
        assert_eq!(
            s.settle(40, &scores, &reports).map(|_| ()),
            Err("epoch 40 already settled".into())
        );
        drop(s);
        let mut s = state(dir.path());
        assert_eq!(s.claim(40, &b), Err("reward already claimed".into()));
        assert_eq!(s.claim(41, &c).map(|u| u > 0), Ok(true));
    }
}
