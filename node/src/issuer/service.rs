//! Serving the issuer's six protocols over one libp2p node. The rules are
//! `wesh_payments::IssuerBook`'s (work reports, claims durable before they count) and
//! `Issuer`'s (issuance, redemption); this holds the state behind a lock, keeps the epoch
//! keys on disk, and moves bytes.

use super::{
    CLAIM_PROTOCOL, ISSUE_PROTOCOL, IssuerError, KEYS_PROTOCOL, REDEEM_PROTOCOL, REWARDS_PROTOCOL,
    WORK_PROTOCOL, epoch_at,
};
use crate::clock::unix_now;
use crate::keys::node_id_of_peer;
use crate::storage::reward_store::RewardStore;
use crate::storage::spent_store::SpentStore;
use libp2p::{PeerId, StreamProtocol};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::watch;
use wesh_payments::wire::issuer::{MAX_ISSUE_BYTES, MAX_REDEEM_REQUEST_BYTES};
use wesh_payments::wire::{
    Answer, IssueAnswer, IssueRefusal, Redeemed, SpendRefusal, encode_keys_answer,
};
use wesh_payments::{FreeQuotaPolicy, IssuerBook, IssuerKey, Refusal};

/// What the issuer has done (for logs, the testnet and tests).
#[derive(Debug, Default)]
pub struct IssuerStats {
    pub tokens_issued: AtomicU64,
    pub requests_refused: AtomicU64,
    pub tokens_redeemed: AtomicU64,
    pub double_spends_rejected: AtomicU64,
    pub redemptions_refused: AtomicU64,
    /// Redemption batches refused whole: the peer is not a provider of the directory.
    pub redeemers_refused: AtomicU64,
}

pub type Book = IssuerBook<FreeQuotaPolicy, SpentStore, RewardStore>;

pub struct IssuerState {
    pub book: Book,
    pub epoch_seconds: u64,
    /// Where each epoch's signing key is kept (PKCS#8 DER, mode 0600); None: memory only.
    pub keys_dir: Option<PathBuf>,
    /// The providers of the directory the issuer follows: the only peers that redeem.
    directory_providers: BTreeSet<[u8; 32]>,
}

impl IssuerState {
    /// The issuer over `book`, with the settled epochs of its archive restored.
    pub fn new(
        mut book: Book,
        restored: Vec<wesh_payments::EpochRewards>,
        epoch_seconds: u64,
        keys_dir: Option<PathBuf>,
    ) -> Result<Self, IssuerError> {
        let n = book.restore(restored)?;
        if n > 0 {
            tracing::info!(epochs = n, "settled reward epochs restored");
        }
        Ok(IssuerState {
            book,
            epoch_seconds,
            keys_dir,
            directory_providers: BTreeSet::new(),
        })
    }

    /// The providers of the directory as it stands now (the PKI's verified view).
    pub fn set_directory_providers(&mut self, providers: impl IntoIterator<Item = [u8; 32]>) {
        self.directory_providers = providers.into_iter().collect();
    }

    /// Answers a redemption request of `node` (the authenticated peer's node id).
    fn answer_redeem(&mut self, node: Option<[u8; 32]>, request: &[u8]) -> Redeemed {
        let now = self.current_epoch().ok();
        self.book
            .answer_redeem(now, node, &self.directory_providers, request)
    }

    /// The payments epoch now.
    pub fn epoch_now(&self) -> u64 {
        epoch_at(unix_now(), self.epoch_seconds)
    }

    /// The current epoch, with its signing key installed (loaded or generated).
    pub fn current_epoch(&mut self) -> Result<u64, IssuerError> {
        let epoch = self.epoch_now();
        self.ensure_key(epoch)?;
        Ok(epoch)
    }

    /// Installs the signing key of `epoch`: loaded from the keys directory, or generated
    /// and written there (a restart then signs and verifies with the same key). Keys of
    /// the current epoch and the next are announced in the PKI; the issuer signs only
    /// with the current one.
    pub fn ensure_key(&mut self, epoch: u64) -> Result<(), IssuerError> {
        let issuer = self.book.issuer_mut();
        if issuer.published_keys().iter().any(|k| k.epoch == epoch) {
            return Ok(());
        }
        let bad = |e| IssuerError::Key(epoch, e);
        let path = self
            .keys_dir
            .as_ref()
            .map(|d| d.join(format!("{epoch}.der")));
        let key = match path.as_ref().map(std::fs::read) {
            Some(Ok(der)) => IssuerKey::from_pkcs8_der(epoch, &der).map_err(bad)?,
            _ => {
                let key = IssuerKey::generate(epoch, &mut rand::rng()).map_err(bad)?;
                if let Some(p) = &path {
                    let der = key.to_pkcs8_der().map_err(bad)?;
                    crate::keys::write_secret_file(p, &der)?;
                }
                key
            }
        };
        issuer.install_key(key).map_err(bad)?;
        let _ = issuer.prune(epoch_at(unix_now(), self.epoch_seconds));
        Ok(())
    }

    /// The token keys of `epoch` and `epoch + 1` (generated if needed), as an issuer
    /// descriptor announces them.
    pub fn announced_keys(&mut self, epoch: u64) -> Vec<wesh_pki::EpochTokenKey> {
        let next = epoch.saturating_add(1);
        for e in [epoch, next] {
            if let Err(e) = self.ensure_key(e) {
                tracing::error!(error = %e, "cannot install an issuer key");
            }
        }
        self.book
            .issuer()
            .published_keys()
            .into_iter()
            .filter(|k| k.epoch == epoch || k.epoch == next)
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

/// Serves the issuer's protocols until `shutdown`, each bounded by
/// [`super::issuer_request_limits`].
pub fn serve(
    control: libp2p_stream::Control,
    state: Shared,
    stats: Arc<IssuerStats>,
    shutdown: watch::Receiver<bool>,
) -> Result<(), IssuerError> {
    for protocol in [
        KEYS_PROTOCOL,
        ISSUE_PROTOCOL,
        REDEEM_PROTOCOL,
        REWARDS_PROTOCOL,
        CLAIM_PROTOCOL,
        WORK_PROTOCOL,
    ] {
        let max_request = if protocol == REDEEM_PROTOCOL {
            MAX_REDEEM_REQUEST_BYTES
        } else {
            MAX_ISSUE_BYTES
        };
        let (state, stats) = (state.clone(), stats.clone());
        let p = protocol.clone();
        crate::net::request_server::serve_requests(
            control.clone(),
            protocol.clone(),
            super::issuer_request_limits(max_request),
            Arc::default(),
            move |peer, request| answer(p.clone(), peer, request, state.clone(), stats.clone()),
            shutdown.clone(),
        )
        .map_err(|_| IssuerError::Protocol(protocol.clone()))?;
    }
    Ok(())
}

async fn answer(
    protocol: StreamProtocol,
    peer: PeerId,
    request: Vec<u8>,
    state: Shared,
    stats: Arc<IssuerStats>,
) -> Option<Vec<u8>> {
    // RSA signing and synced writes block: keep them off the async workers
    let answered = tokio::task::spawn_blocking(move || {
        let mut s = lock(&state);
        let node = node_id_of_peer(&peer).map(|n| n.0);
        let (answer, done) = if protocol == KEYS_PROTOCOL {
            (keys_answer(&mut s), true)
        } else if protocol == REWARDS_PROTOCOL {
            let (text, stored) = s.book.answer_rewards(&request);
            if let Err(e) = stored {
                tracing::error!(error = %e, "settled rewards not persisted");
            }
            (text, true)
        } else if protocol == CLAIM_PROTOCOL {
            let answer = s.book.answer_claim(node, &request);
            (answer.encode(), matches!(answer, Answer::Done(_)))
        } else if protocol == WORK_PROTOCOL {
            let now = s.epoch_now();
            let answer = s.book.answer_work(now, node, &request);
            (answer.encode(), matches!(answer, Answer::Done(_)))
        } else if protocol == ISSUE_PROTOCOL {
            let answer = match s.current_epoch() {
                Ok(now) => s.book.answer_issue(now, node, &request, &mut rand::rng()),
                Err(_) => Answer::Refused(IssueRefusal::Unavailable),
            };
            stats.count_issue(&answer);
            (answer.encode(), matches!(answer, Answer::Done(_)))
        } else {
            let answer = s.answer_redeem(node, &request);
            stats.count_redeem(&answer);
            (answer.encode(), answer.refused.is_empty())
        };
        if done && (protocol == CLAIM_PROTOCOL || protocol == WORK_PROTOCOL) {
            tracing::info!(%peer, %protocol, "accepted");
        }
        answer
    })
    .await;
    answered.ok()
}

fn keys_answer(s: &mut IssuerState) -> Vec<u8> {
    let current = s.current_epoch().unwrap_or_else(|e| {
        tracing::error!(error = %e, "no issuer key");
        s.epoch_now()
    });
    let keys: Vec<_> = s.book.usable_keys(current).collect();
    encode_keys_answer(&keys)
}

impl IssuerStats {
    fn count_issue(&self, answer: &IssueAnswer) {
        match answer {
            Answer::Done(r) => {
                let issued = r.blind_signatures.len() as u64;
                self.tokens_issued.fetch_add(issued, Relaxed)
            }
            Answer::Refused(_) => self.requests_refused.fetch_add(1, Relaxed),
        };
    }

    fn count_redeem(&self, r: &Redeemed) {
        let refused = r.refused.len() as u64;
        let double = r.refused.iter().filter(|(_, why)| *why == ALREADY_SPENT);
        let double = double.count() as u64;
        if r.refused
            .iter()
            .any(|(_, why)| *why == SpendRefusal::NotAProvider)
        {
            self.redeemers_refused.fetch_add(1, Relaxed);
        }
        self.tokens_redeemed
            .fetch_add(u64::from(r.accepted), Relaxed);
        self.redemptions_refused.fetch_add(refused, Relaxed);
        self.double_spends_rejected.fetch_add(double, Relaxed);
    }
}

const ALREADY_SPENT: SpendRefusal = SpendRefusal::Token(Refusal::AlreadySpent);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use wesh_payments::wire::{ClaimAnswer, ClaimRefusal};
    use wesh_payments::{Issuer, NodeScore, ShopperScores, WorkReport};

    fn state(dir: &std::path::Path) -> IssuerState {
        let spent = SpentStore::open(dir.join("spent")).unwrap();
        let store = RewardStore::open(dir.join("rewards")).unwrap();
        let restored = store.load().unwrap();
        let book = IssuerBook::new(Issuer::new(FreeQuotaPolicy::new(5), spent), store);
        IssuerState::new(book, restored, 3600, None).unwrap()
    }

    fn ask(s: &mut IssuerState, epoch: u64) -> String {
        String::from_utf8(s.book.answer_rewards(&epoch.to_be_bytes()).0).unwrap()
    }

    fn claim_answer(s: &mut IssuerState, node: Option<[u8; 32]>, epoch: u64) -> ClaimAnswer {
        s.book.answer_claim(node, &epoch.to_be_bytes())
    }

    #[test]
    fn settled_rewards_and_claims_survive_an_issuer_restart() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = ([1u8; 32], [2u8; 32]);
        let score = NodeScore {
            loops_sent: 100,
            loops_returned: 100,
            score: Some(1.0),
        };
        let scores = ShopperScores {
            epoch: 40,
            nodes: [(a, score), (b, score)].into_iter().collect(),
        };
        let reports: Vec<WorkReport> = [a, b]
            .iter()
            .map(|&node| WorkReport {
                node,
                packets: 1000,
                replica_registrations: 0,
            })
            .collect();
        let (table, units_b) = {
            let mut s = state(dir.path());
            let settled = s.book.settle_with(40, &scores, &reports).unwrap();
            let claim = claim_answer(&mut s, Some(a), 40);
            assert_eq!(claim, Answer::Done(settled.entries[&a].units));
            (ask(&mut s, 40), settled.entries[&b].units)
        };
        assert!(table.contains("epoch 40"), "{table}");
        let mut s = state(dir.path());
        assert_eq!(ask(&mut s, 40), table, "the same ledger after the restart");
        assert!(ask(&mut s, 42).contains("no rewards settled for epoch 42"));
        assert_eq!(
            claim_answer(&mut s, Some(a), 40),
            Answer::Refused(ClaimRefusal::AlreadyClaimed),
            "a claim made before the restart stands"
        );
        assert_eq!(claim_answer(&mut s, Some(b), 40), Answer::Done(units_b));
    }
}
