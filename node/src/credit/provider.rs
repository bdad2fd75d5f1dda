//! The provider's side: token spends, per-client credit, and the debit of every Sphinx
//! frame a client sends. The book (ledgers, idle expiry, when debits are written) is
//! `wesh_payments::CreditBook`'s; it persists through the `SpentStore` (rocksdb, column
//! family `credit`, spec/payments.md §12). This holds the book behind a lock, loads it at
//! start, counts, and serves `/wesh/credit/1`.

use super::{CREDIT_PROTOCOL, CreditAnswer};
use crate::clock::unix_now;
use crate::storage::spent_store::SpentStore;
use libp2p::PeerId;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::watch;
use wesh_payments::wire::{CreditRequest, SpendRefusal};
use wesh_payments::{
    ChargeRefused, CreditBook, Debit, LedgerRecord, PublishedKey, Refusal, StoreError, Token,
};

pub use wesh_metrics::credit::CreditStats;

type Book = CreditBook<PeerId, SpentStore>;

/// A provider's admission state.
pub struct ProviderCredit {
    book: Mutex<Book>,
    pub stats: CreditStats,
    /// Set when a token under a key we do not know arrives: the issuer may have rotated.
    pub want_keys: tokio::sync::Notify,
    /// The relay's PKI view, where the issuer's descriptor announces its keys.
    pki: Mutex<Option<Arc<Mutex<crate::pki::service::PkiStatus>>>>,
}

impl ProviderCredit {
    /// Admission over `spent`, with the client ledgers stored there loaded. A record that
    /// cannot be read is skipped and logged (that client loses its credit: the safe side).
    pub fn new(spent: SpentStore, epoch_seconds: u64) -> Self {
        let now = unix_now();
        let records = spent.credits();
        let mut book = Book::new(spent, epoch_seconds);
        match records {
            Ok(records) => {
                for (key, value) in records {
                    match PeerId::from_bytes(&key) {
                        Ok(peer) => match LedgerRecord::decode(&value, now) {
                            Ok(record) => book.restore(peer, record),
                            Err(e) => tracing::error!(error = %e, "credit ledger skipped"),
                        },
                        Err(e) => tracing::error!(error = %e, "credit ledger of no peer skipped"),
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot load the credit ledgers"),
        }
        if book.clients() > 0 {
            tracing::info!(clients = book.clients(), "credit ledgers restored");
        }
        ProviderCredit {
            book: Mutex::new(book),
            stats: CreditStats::default(),
            want_keys: tokio::sync::Notify::new(),
            pki: Mutex::new(None),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the issuer's keys from this PKI view when it has them (see
    /// [`ProviderCredit::pki_keys`]).
    pub fn attach_pki(&self, status: Arc<Mutex<crate::pki::service::PkiStatus>>) {
        *self.pki.lock().unwrap_or_else(PoisonError::into_inner) = Some(status);
    }

    /// The keys `issuer` announces in the PKI directory (signed descriptor valid now, key
    /// ids checked against the SPKIs), or None without a PKI or a descriptor of it.
    pub fn pki_keys(
        &self,
        issuer: &PeerId,
    ) -> Option<Result<Vec<PublishedKey>, crate::issuer::pki_keys::PkiKeyError>> {
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
        self.lock().key_count()
    }

    /// Accepts tokens under these issuer keys.
    pub fn install_keys(&self, keys: &[PublishedKey]) {
        let mut book = self.lock();
        for k in keys {
            if let Err(e) = book.install_key(k) {
                tracing::warn!(error = %e, "issuer key refused");
            }
        }
    }

    /// Debits one packet from `peer`'s credit; false (and counted) if it has none.
    pub fn debit(&self, peer: &PeerId) -> bool {
        let verdict = self.lock().debit(unix_now(), peer);
        match verdict {
            Debit::Paid => return true,
            Debit::NoCredit => {}
            Debit::StoreFailed(e) => {
                tracing::error!(error = %e, "cannot write the credit ledgers; refusing frames");
            }
        }
        self.stats.frames_without_credit.fetch_add(1, Relaxed);
        false
    }

    /// Writes the changed ledgers (synced) and forgets the idle ones.
    pub fn flush(&self) -> Result<(), StoreError> {
        let forgotten = self.lock().flush(unix_now())?;
        if forgotten > 0 {
            tracing::info!(clients = forgotten, "idle credit ledgers forgotten");
        }
        Ok(())
    }

    /// Spends `token` for `peer` (verified, recorded in this provider's spent set).
    pub fn spend(&self, peer: PeerId, token: Token) -> CreditAnswer {
        let spent = self.lock().spend(unix_now(), &peer, token);
        match spent {
            Ok(s) => {
                self.stats.tokens_spent.fetch_add(1, Relaxed);
                CreditAnswer::Balance {
                    balance: s.balance,
                    dropped: s.dropped,
                }
            }
            Err(reason) => {
                self.stats.tokens_refused.fetch_add(1, Relaxed);
                match reason {
                    Refusal::AlreadySpent => {
                        self.stats.double_spends_rejected.fetch_add(1, Relaxed);
                    }
                    Refusal::UnknownKey => self.want_keys.notify_one(),
                    _ => {}
                }
                tracing::info!(%peer, reason = reason.as_str(), "token refused");
                CreditAnswer::Refused(SpendRefusal::Token(reason))
            }
        }
    }

    /// Charges `peer` `price` credit units for a service (a replication registration).
    pub fn charge(&self, peer: PeerId, price: u64) -> Result<u64, ChargeRefused> {
        self.lock().charge(unix_now(), &peer, price)
    }

    /// The answer to a `/wesh/credit/1` request of `peer`.
    pub fn answer(&self, peer: PeerId, request: &[u8]) -> CreditAnswer {
        match CreditRequest::decode(request) {
            Ok(CreditRequest::Spend(token)) => self.spend(peer, *token),
            Ok(CreditRequest::Balance) => {
                let s = self.lock().standing(&peer);
                CreditAnswer::Balance {
                    balance: s.balance,
                    dropped: s.dropped,
                }
            }
            Err(why) => CreditAnswer::Refused(why),
        }
    }

    /// Clients with a credit ledger (those that paid at least once).
    pub fn clients(&self) -> usize {
        self.lock().clients()
    }

    /// Takes back tokens the issuer did not judge (redeemed again next round).
    pub fn return_collected(&self, tokens: Vec<Token>) {
        self.lock().return_collected(tokens);
    }

    /// Tokens collected since the last call (to redeem at the issuer).
    pub fn take_collected(&self) -> Vec<Token> {
        self.lock().take_collected()
    }
}

impl Drop for ProviderCredit {
    /// A clean shutdown writes every debit.
    fn drop(&mut self) {
        if let Err(e) = self.lock().write_dirty() {
            tracing::error!(error = %e, "credit ledgers not written at shutdown");
        }
    }
}

/// Serves `/wesh/credit/1` until `shutdown` (streams bounded by
/// [`super::CREDIT_REQUEST_LIMITS`]).
pub fn serve(
    control: libp2p_stream::Control,
    credit: Arc<ProviderCredit>,
    shutdown: watch::Receiver<bool>,
) -> Result<(), libp2p_stream::AlreadyRegistered> {
    crate::net::request_server::serve_requests(
        control,
        CREDIT_PROTOCOL,
        super::CREDIT_REQUEST_LIMITS,
        Arc::default(),
        move |peer, request| {
            let credit = credit.clone();
            async move {
                // verification and the synced spent-set write block
                let answer = tokio::task::spawn_blocking(move || credit.answer(peer, &request))
                    .await
                    .unwrap_or(CreditAnswer::Refused(SpendRefusal::Unavailable));
                Some(answer.encode())
            }
        },
        shutdown,
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ledgers_come_back_from_the_store_and_unreadable_ones_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let (good, bad) = (PeerId::random(), PeerId::random());
        let record = LedgerRecord {
            balance: 5,
            dropped: 1,
            last_active: unix_now(),
        };
        {
            let s = SpentStore::open(dir.path()).unwrap();
            let records = [
                (good.to_bytes(), record.encode()),
                (bad.to_bytes(), vec![1, 2]),
                (b"not a peer id".to_vec(), record.encode()),
            ];
            s.write_credits(&records, &[]).unwrap();
        }
        let credit = ProviderCredit::new(SpentStore::open(dir.path()).unwrap(), 3600);
        assert_eq!(credit.clients(), 1);
        assert!(!credit.debit(&bad));
        assert!(credit.debit(&good));
        assert_eq!(credit.stats.frames_without_credit.load(Relaxed), 1);
        drop(credit);
        // the debit was written at the clean shutdown
        let credit = ProviderCredit::new(SpentStore::open(dir.path()).unwrap(), 3600);
        let answer = credit.answer(good, &CreditRequest::Balance.encode());
        assert_eq!(
            answer,
            CreditAnswer::Balance {
                balance: 4,
                dropped: 1
            }
        );
        let truncated = credit.answer(good, &[1, 0, 2, 1]);
        assert_eq!(
            truncated,
            CreditAnswer::Refused(SpendRefusal::Token(Refusal::Truncated))
        );
    }
}
