//! The provider's side: token spends, per-client credit, and the debit of every Sphinx
//! frame a client sends.

use super::{CREDIT_PROTOCOL, CreditAnswer, OP_BALANCE, OP_SPEND};
use crate::issuer::epoch_at;
use crate::mailboxes::exchange::read_bounded;
use crate::pki::service::unix_now;
use crate::storage::spent_store::SpentStore;
use futures::{AsyncWriteExt, StreamExt};
use libp2p::PeerId;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::watch;
use wesh_payments::params::TOKEN_BYTES;
use wesh_payments::{Admission, CreditLedger, PublishedKey, Refusal, Token};

/// Counters of a provider's admission.
#[derive(Debug, Default)]
pub struct CreditStats {
    pub tokens_spent: AtomicU64,
    pub tokens_refused: AtomicU64,
    /// Refused because this provider had already seen the token.
    pub double_spends_rejected: AtomicU64,
    pub frames_without_credit: AtomicU64,
    pub tokens_redeemed: AtomicU64,
    /// Refused by the issuer at redemption as already spent elsewhere.
    pub redeem_double_spends: AtomicU64,
    pub redeem_refused: AtomicU64,
    /// Key refreshes served by the issuer's PKI descriptor / by `/wesh/issuer/keys/1`.
    pub keys_from_pki: AtomicU64,
    pub keys_from_issuer: AtomicU64,
}

struct Inner {
    admission: Admission<SpentStore>,
    ledgers: HashMap<PeerId, (CreditLedger, u64)>,
}

/// A provider's admission state.
pub struct ProviderCredit {
    inner: Mutex<Inner>,
    epoch_seconds: u64,
    pub stats: CreditStats,
    /// Set when a token under a key we do not know arrives: the issuer may have rotated.
    pub want_keys: tokio::sync::Notify,
    /// The relay's PKI view, where the issuer's descriptor announces its keys.
    pki: Mutex<Option<Arc<Mutex<crate::pki::service::PkiStatus>>>>,
}

impl ProviderCredit {
    pub fn new(spent: SpentStore, epoch_seconds: u64) -> Self {
        ProviderCredit {
            inner: Mutex::new(Inner {
                admission: Admission::new(Default::default(), spent),
                ledgers: HashMap::new(),
            }),
            epoch_seconds,
            stats: CreditStats::default(),
            want_keys: tokio::sync::Notify::new(),
            pki: Mutex::new(None),
        }
    }

    /// Takes the issuer's keys from this PKI view when it has them (see
    /// [`ProviderCredit::pki_keys`]).
    pub fn attach_pki(&self, status: Arc<Mutex<crate::pki::service::PkiStatus>>) {
        *self.pki.lock().unwrap_or_else(PoisonError::into_inner) = Some(status);
    }

    /// The keys `issuer` announces in the PKI directory (signed descriptor valid now, key
    /// ids checked against the SPKIs), or None without a PKI or a descriptor of it.
    pub fn pki_keys(&self, issuer: &PeerId) -> Option<Result<Vec<PublishedKey>, String>> {
        let id = crate::keys::node_id_of_peer(issuer)?;
        let status = self
            .pki
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()?;
        let keys = status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .issuer_keys
            .get(&id.0)
            .cloned()?;
        Some(
            keys.iter()
                .map(crate::issuer::pki_keys::to_published)
                .collect(),
        )
    }

    /// Issuer keys this provider accepts tokens under.
    pub fn key_count(&self) -> usize {
        self.lock().admission.keys_mut().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Accepts tokens under these issuer keys (fetched from the issuer).
    pub fn install_keys(&self, keys: &[PublishedKey]) {
        let mut inner = self.lock();
        for k in keys {
            if let Err(e) = inner.admission.keys_mut().insert_published(k) {
                tracing::warn!(error = %e, "issuer key refused");
            }
        }
    }

    /// Debits one packet from `peer`'s credit; false (and counted) if it has none.
    /// Peers that never paid get no ledger entry, so unpaid traffic cannot grow the map.
    pub fn debit(&self, peer: &PeerId) -> bool {
        let mut inner = self.lock();
        let ok = match inner.ledgers.get_mut(peer) {
            Some((ledger, dropped)) => {
                let ok = ledger.debit_packet().is_ok();
                if !ok {
                    *dropped += 1;
                }
                ok
            }
            None => false,
        };
        if !ok {
            self.stats.frames_without_credit.fetch_add(1, Relaxed);
        }
        ok
    }

    /// Spends `token` for `peer` (verified, recorded in this provider's spent set).
    pub fn spend(&self, peer: PeerId, token: &[u8]) -> CreditAnswer {
        let now = epoch_at(unix_now(), self.epoch_seconds);
        let mut inner = self.lock();
        let Inner {
            admission, ledgers, ..
        } = &mut *inner;
        // a ledger entry exists only once a token was accepted: refused tokens and unpaid
        // frames cannot grow the map
        let (mut ledger, dropped) = ledgers
            .get(&peer)
            .cloned()
            .unwrap_or_else(|| (admission.open_ledger(), 0));
        match admission.spend_bytes(&mut ledger, token, now) {
            Ok(balance) => {
                self.stats.tokens_spent.fetch_add(1, Relaxed);
                ledgers.insert(peer, (ledger, dropped));
                CreditAnswer::Balance { balance, dropped }
            }
            Err(reason) => {
                self.stats.tokens_refused.fetch_add(1, Relaxed);
                if reason == Refusal::AlreadySpent {
                    self.stats.double_spends_rejected.fetch_add(1, Relaxed);
                }
                if reason == Refusal::UnknownKey {
                    self.want_keys.notify_one();
                }
                tracing::info!(%peer, reason = reason.as_str(), "token refused");
                CreditAnswer::Refused(reason.as_str().to_string())
            }
        }
    }

    pub fn balance(&self, peer: &PeerId) -> CreditAnswer {
        let inner = self.lock();
        let (balance, dropped) = inner
            .ledgers
            .get(peer)
            .map_or((0, 0), |(l, d)| (l.balance(), *d));
        CreditAnswer::Balance { balance, dropped }
    }

    /// Clients with a credit ledger (those that paid at least once).
    pub fn clients(&self) -> usize {
        self.lock().ledgers.len()
    }

    /// Tokens collected since the last call (to redeem at the issuer).
    pub fn take_collected(&self) -> Vec<Token> {
        self.lock().admission.take_collected()
    }
}

/// Serves `/wesh/credit/1` until `shutdown`.
pub fn serve(
    control: libp2p_stream::Control,
    credit: Arc<ProviderCredit>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), String> {
    let mut incoming = control
        .clone()
        .accept(CREDIT_PROTOCOL)
        .map_err(|_| format!("{CREDIT_PROTOCOL} registered twice"))?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                next = incoming.next() => match next {
                    Some((peer, mut stream)) => {
                        let credit = credit.clone();
                        tokio::spawn(async move {
                            let Ok(request) = read_bounded(&mut stream, 1 + TOKEN_BYTES).await else { return };
                            let answer = match request.split_first() {
                                Some((&OP_SPEND, token)) => {
                                    let c = credit.clone();
                                    let token = token.to_vec();
                                    // verification and the synced spent-set write block
                                    tokio::task::spawn_blocking(move || c.spend(peer, &token))
                                        .await
                                        .unwrap_or_else(|_| CreditAnswer::Refused("internal error".into()))
                                }
                                Some((&OP_BALANCE, [])) => credit.balance(&peer),
                                _ => CreditAnswer::Refused("malformed request".into()),
                            };
                            let _ = stream.write_all(&answer.encode()).await;
                            let _ = stream.close().await;
                        });
                    }
                    None => return,
                },
                _ = shutdown.changed() => return,
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn unpaid_frames_and_bad_tokens_are_refused_and_leave_no_ledger() {
        let dir = tempfile::tempdir().unwrap();
        let credit = ProviderCredit::new(SpentStore::open(dir.path()).unwrap(), 3600);
        let peer = PeerId::random();
        assert!(!credit.debit(&peer), "no credit, no packet");
        assert_eq!(credit.stats.frames_without_credit.load(Relaxed), 1);
        let answer = credit.spend(peer, &[0u8; TOKEN_BYTES]);
        assert!(matches!(answer, CreditAnswer::Refused(_)), "{answer:?}");
        let answer = credit.spend(peer, &[0, 2, 1]);
        assert_eq!(answer, CreditAnswer::Refused("truncated".into()));
        assert_eq!(
            credit.clients(),
            0,
            "refusals and unpaid frames grow nothing"
        );
        assert_eq!(
            credit.balance(&peer),
            CreditAnswer::Balance {
                balance: 0,
                dropped: 0
            }
        );
    }
}
