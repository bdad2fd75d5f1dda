//! The provider's side: token spends, per-client credit, and the debit of every Sphinx
//! frame a client sends.
//!
//! **Persistence.** The ledgers live in the provider's spent-set database (column family
//! `credit`, key = the client's peer id, value = `version (2) ‖ balance u64 ‖ dropped u64 ‖
//! last active u64 (Unix s)`; version 1 records, without the time, are read as active at
//! load) and are loaded at start. A ledger idle for [`LEDGER_IDLE_TTL_SECS`] is forgotten,
//! with its unspent credit, at the next flush. Crash safety, by write:
//! - a token's spend and the credit it buys are one synced write batch (the record is
//!   staged in the store and written by the spent-set insert), so a crash can never keep
//!   the credit while forgetting the spend — no credit is minted by a restart;
//! - debits are written lazily: the ledgers they changed are written (synced) once
//!   [`DEBIT_FLUSH_PACKETS`] debits are unwritten, at every redemption round, and when
//!   the `ProviderCredit` is dropped (clean shutdown). A crash therefore loses at most
//!   `DEBIT_FLUSH_PACKETS` debits over all clients: they get that many packets back,
//!   never more (if the write fails, frames are refused until it succeeds).

use super::{
    CREDIT_PROTOCOL, CreditAnswer, DEBIT_FLUSH_PACKETS, LEDGER_IDLE_TTL_SECS, OP_BALANCE, OP_SPEND,
};
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

/// One paying client: its credit, the frames refused for lack of it, and when it last
/// spent or sent (Unix s).
#[derive(Clone)]
struct ClientLedger {
    credit: CreditLedger,
    dropped: u64,
    last_active: u64,
}

struct Inner {
    admission: Admission<SpentStore>,
    ledgers: HashMap<PeerId, ClientLedger>,
    /// Ledgers changed since they were last written, with the debits not yet written.
    dirty: HashMap<PeerId, u64>,
    /// Sum of the unwritten debits (≤ DEBIT_FLUSH_PACKETS).
    unwritten_debits: u64,
}

/// Version byte of a stored ledger record (1: without the activity time).
const LEDGER_RECORD_VERSION: u8 = 2;

fn encode_ledger(balance: u64, dropped: u64, last_active: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(25);
    out.push(LEDGER_RECORD_VERSION);
    out.extend_from_slice(&balance.to_be_bytes());
    out.extend_from_slice(&dropped.to_be_bytes());
    out.extend_from_slice(&last_active.to_be_bytes());
    out
}

/// (balance, dropped, last active) of a stored record; `now` stands for the time a
/// version 1 record does not have.
fn decode_ledger(bytes: &[u8], now: u64) -> Result<(u64, u64, u64), String> {
    let fields = |rest: &[u8]| -> Vec<u64> {
        rest.chunks_exact(8)
            .filter_map(|c| c.try_into().ok().map(u64::from_be_bytes))
            .collect()
    };
    match bytes.split_first() {
        Some((1, rest)) if rest.len() == 16 => match fields(rest)[..] {
            [balance, dropped] => Ok((balance, dropped, now)),
            _ => Err("bad version 1 ledger record".into()),
        },
        Some((&LEDGER_RECORD_VERSION, rest)) if rest.len() == 24 => match fields(rest)[..] {
            [balance, dropped, last_active] => Ok((balance, dropped, last_active)),
            _ => Err("bad ledger record".into()),
        },
        Some((&v, rest)) if v == 1 || v == LEDGER_RECORD_VERSION => Err(format!(
            "version {v} ledger record of {} bytes, expected {}",
            rest.len() + 1,
            if v == 1 { 17 } else { 25 }
        )),
        Some((v, _)) => Err(format!("unknown ledger record version {v}")),
        None => Err("empty ledger record".into()),
    }
}

impl Inner {
    /// Writes every changed ledger in one synced batch.
    fn write_dirty(&mut self) -> Result<(), String> {
        if self.dirty.is_empty() {
            return Ok(());
        }
        let records: Vec<(Vec<u8>, Vec<u8>)> = self
            .dirty
            .keys()
            .filter_map(|peer| {
                let l = self.ledgers.get(peer)?;
                Some((
                    peer.to_bytes(),
                    encode_ledger(l.credit.balance(), l.dropped, l.last_active),
                ))
            })
            .collect();
        self.admission
            .spent_set()
            .write_credits(&records, &[])
            .map_err(|e| e.0)?;
        self.dirty.clear();
        self.unwritten_debits = 0;
        Ok(())
    }

    /// Forgets (in memory and on disk) the ledgers idle since before `now - ttl`.
    fn expire_idle(&mut self, now: u64, ttl: u64) -> Result<usize, String> {
        let idle: Vec<PeerId> = self
            .ledgers
            .iter()
            .filter(|(_, l)| now.saturating_sub(l.last_active) > ttl)
            .map(|(p, _)| *p)
            .collect();
        if idle.is_empty() {
            return Ok(0);
        }
        let keys: Vec<Vec<u8>> = idle.iter().map(|p| p.to_bytes()).collect();
        self.admission
            .spent_set()
            .write_credits(&[], &keys)
            .map_err(|e| e.0)?;
        for p in &idle {
            self.ledgers.remove(p);
            if let Some(unwritten) = self.dirty.remove(p) {
                self.unwritten_debits = self.unwritten_debits.saturating_sub(unwritten);
            }
        }
        Ok(idle.len())
    }
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
    /// Tests: drop as a crash would, without writing the debits.
    skip_flush_on_drop: bool,
}

impl ProviderCredit {
    /// Admission over `spent`, with the client ledgers stored there loaded. A record that
    /// cannot be read is skipped and logged (that client loses its credit: the safe side).
    pub fn new(spent: SpentStore, epoch_seconds: u64) -> Self {
        let admission = Admission::new(Default::default(), spent);
        let mut ledgers = HashMap::new();
        let now = unix_now();
        match admission.spent_set().credits() {
            Ok(records) => {
                for (key, value) in records {
                    let peer = PeerId::from_bytes(&key).map_err(|e| e.to_string());
                    match peer.and_then(|p| decode_ledger(&value, now).map(|l| (p, l))) {
                        Ok((peer, (balance, dropped, last_active))) => {
                            let credit = admission.restore_ledger(balance);
                            ledgers.insert(
                                peer,
                                ClientLedger {
                                    credit,
                                    dropped,
                                    last_active,
                                },
                            );
                        }
                        Err(e) => tracing::error!(error = %e, "unreadable credit ledger skipped"),
                    }
                }
            }
            Err(e) => tracing::error!(error = %e.0, "cannot load the credit ledgers"),
        }
        if !ledgers.is_empty() {
            tracing::info!(clients = ledgers.len(), "credit ledgers restored");
        }
        ProviderCredit {
            inner: Mutex::new(Inner {
                admission,
                ledgers,
                dirty: HashMap::new(),
                unwritten_debits: 0,
            }),
            epoch_seconds,
            stats: CreditStats::default(),
            want_keys: tokio::sync::Notify::new(),
            pki: Mutex::new(None),
            skip_flush_on_drop: false,
        }
    }

    /// Drops the state as a crash would: unwritten debits are lost (tests).
    #[cfg(test)]
    fn crash(mut self) {
        self.skip_flush_on_drop = true;
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
        // keep the unwritten debits bounded: write first, refuse if that fails
        if inner.unwritten_debits >= DEBIT_FLUSH_PACKETS
            && let Err(e) = inner.write_dirty()
        {
            tracing::error!(error = %e, "cannot write the credit ledgers; refusing frames");
            self.stats.frames_without_credit.fetch_add(1, Relaxed);
            return false;
        }
        let Inner {
            ledgers,
            dirty,
            unwritten_debits,
            ..
        } = &mut *inner;
        let ok = match ledgers.get_mut(peer) {
            Some(l) => {
                let ok = l.credit.debit_packet().is_ok();
                l.last_active = unix_now();
                let unwritten = dirty.entry(*peer).or_default();
                if ok {
                    *unwritten += 1;
                    *unwritten_debits += 1;
                } else {
                    l.dropped += 1;
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

    /// Writes the ledgers changed since the last write (synced), and forgets those idle
    /// for [`LEDGER_IDLE_TTL_SECS`].
    pub fn flush(&self) -> Result<(), String> {
        self.flush_at(unix_now(), LEDGER_IDLE_TTL_SECS)
    }

    fn flush_at(&self, now: u64, idle_ttl: u64) -> Result<(), String> {
        let mut inner = self.lock();
        inner.write_dirty()?;
        let forgotten = inner.expire_idle(now, idle_ttl)?;
        if forgotten > 0 {
            tracing::info!(clients = forgotten, "idle credit ledgers forgotten");
        }
        Ok(())
    }

    /// Debits not yet written (a crash would give them back).
    pub fn unwritten_debits(&self) -> u64 {
        self.lock().unwritten_debits
    }

    /// Spends `token` for `peer` (verified, recorded in this provider's spent set).
    pub fn spend(&self, peer: PeerId, token: &[u8]) -> CreditAnswer {
        let now = epoch_at(unix_now(), self.epoch_seconds);
        let mut inner = self.lock();
        let Inner {
            admission,
            ledgers,
            dirty,
            unwritten_debits,
        } = &mut *inner;
        // a ledger entry exists only once a token was accepted: refused tokens and unpaid
        // frames cannot grow the map
        let mut ledger = ledgers.get(&peer).cloned().unwrap_or_else(|| ClientLedger {
            credit: admission.open_ledger(),
            dropped: 0,
            last_active: 0,
        });
        ledger.last_active = unix_now();
        // the credit is written in the spend's own synced batch (with the debits so far)
        admission.spent_set().stage_credit(
            peer.to_bytes(),
            encode_ledger(
                ledger.credit.balance_after_token(),
                ledger.dropped,
                ledger.last_active,
            ),
        );
        let spent = admission.spend_bytes(&mut ledger.credit, token, now);
        admission.spent_set().clear_staged_credit();
        match spent {
            Ok(balance) => {
                self.stats.tokens_spent.fetch_add(1, Relaxed);
                let dropped = ledger.dropped;
                ledgers.insert(peer, ledger);
                let written = dirty.remove(&peer).unwrap_or(0);
                *unwritten_debits = unwritten_debits.saturating_sub(written);
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
            .map_or((0, 0), |l| (l.credit.balance(), l.dropped));
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

impl Drop for ProviderCredit {
    /// A clean shutdown writes every debit.
    fn drop(&mut self) {
        if self.skip_flush_on_drop {
            return;
        }
        if let Err(e) = self.flush() {
            tracing::error!(error = %e, "credit ledgers not written at shutdown");
        }
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
    #![allow(clippy::unwrap_used, clippy::panic)]
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

    /// `n` valid tokens of the current epoch and the key that verifies them.
    fn tokens(n: usize) -> (Vec<Vec<u8>>, PublishedKey) {
        use wesh_payments::{
            Credential, FreeQuotaPolicy, InMemorySpentSet, Issuer, IssuerKey, VerifyingKey, Wallet,
            encode_token,
        };
        let epoch = epoch_at(unix_now(), 3600);
        let mut rng = rand::rng();
        let key = IssuerKey::generate(epoch, &mut rng).unwrap();
        let published = key.published();
        let mut issuer = Issuer::new(FreeQuotaPolicy::new(100), InMemorySpentSet::new());
        issuer.install_key(key).unwrap();
        let mut wallet = Wallet::new(24);
        let vk = VerifyingKey::from_published(&published).unwrap();
        let (request, pending) = wallet
            .prepare_request(&vk, Credential::ClientKey([1; 32]), n, &mut rng)
            .unwrap();
        let response = issuer.issue(epoch, &request, &mut rng).unwrap();
        wallet.finalize(pending, &response).unwrap();
        let tokens = (0..n)
            .map(|_| encode_token(&wallet.pop(epoch).unwrap()).to_vec())
            .collect();
        (tokens, published)
    }

    fn open(dir: &std::path::Path, key: &PublishedKey) -> ProviderCredit {
        let credit = ProviderCredit::new(SpentStore::open(dir).unwrap(), 3600);
        credit.install_keys(std::slice::from_ref(key));
        credit
    }

    fn balance(credit: &ProviderCredit, peer: &PeerId) -> (u64, u64) {
        match credit.balance(peer) {
            CreditAnswer::Balance { balance, dropped } => (balance, dropped),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn idle_ledgers_are_forgotten_on_disk_too_and_active_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (tokens, key) = tokens(2);
        let (idle, active) = (PeerId::random(), PeerId::random());
        let credit = open(dir.path(), &key);
        assert!(matches!(
            credit.spend(idle, &tokens[0]),
            CreditAnswer::Balance { .. }
        ));
        assert!(matches!(
            credit.spend(active, &tokens[1]),
            CreditAnswer::Balance { .. }
        ));
        assert!(credit.debit(&active));
        // with a one-hour TTL, both were active just now
        let now = unix_now();
        credit.flush_at(now, 3600).unwrap();
        assert_eq!(credit.clients(), 2, "active within the TTL");
        // backdate the idle client's activity, as if it left long ago
        credit.lock().ledgers.get_mut(&idle).unwrap().last_active = now - 7200;
        credit.flush_at(now, 3600).unwrap();
        assert_eq!(credit.clients(), 1);
        assert_eq!(balance(&credit, &idle), (0, 0));
        assert!(!credit.debit(&idle), "its credit went with its ledger");
        assert_eq!(balance(&credit, &active), (999, 0));
        drop(credit);
        let credit = open(dir.path(), &key);
        assert_eq!(credit.clients(), 1, "forgotten on disk as well");
        assert_eq!(balance(&credit, &active), (999, 0));
    }

    #[test]
    fn credit_survives_a_restart_and_a_crash_mints_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (tokens, key) = tokens(3);
        let (alice, bob) = (PeerId::random(), PeerId::random());

        // clean shutdown: every debit and drop counter comes back exactly
        let credit = open(dir.path(), &key);
        assert!(matches!(
            credit.spend(alice, &tokens[0]),
            CreditAnswer::Balance { balance: 1000, .. }
        ));
        for _ in 0..10 {
            assert!(credit.debit(&alice));
        }
        assert!(!credit.debit(&bob), "bob never paid");
        assert_eq!(credit.unwritten_debits(), 10);
        drop(credit);
        let credit = open(dir.path(), &key);
        assert_eq!(balance(&credit, &alice), (990, 0));
        assert_eq!(credit.clients(), 1, "no ledger for a peer that never paid");

        // crash right after a spend: the token and its credit are on disk together, so
        // the token cannot buy its credit a second time
        assert!(matches!(
            credit.spend(alice, &tokens[1]),
            CreditAnswer::Balance { balance: 1990, .. }
        ));
        credit.crash();
        let credit = open(dir.path(), &key);
        assert_eq!(balance(&credit, &alice), (1990, 0));
        assert_eq!(
            credit.spend(alice, &tokens[1]),
            CreditAnswer::Refused("already_spent".into()),
            "no second credit for one token"
        );
        assert_eq!(balance(&credit, &alice), (1990, 0));

        // crash with debits in memory: at most DEBIT_FLUSH_PACKETS of them come back
        let debits = DEBIT_FLUSH_PACKETS + 5;
        for _ in 0..debits {
            assert!(credit.debit(&alice));
        }
        let real = 1990 - debits;
        assert_eq!(balance(&credit, &alice).0, real);
        assert!(credit.unwritten_debits() <= DEBIT_FLUSH_PACKETS);
        credit.crash();
        let credit = open(dir.path(), &key);
        let restored = balance(&credit, &alice).0;
        assert!(restored >= real, "a crash never takes credit away");
        assert!(
            restored - real <= DEBIT_FLUSH_PACKETS,
            "restored {restored}, real {real}: more than the bound given back"
        );
        assert_eq!(restored - real, 5, "the debits after the last write");

        // a spend writes the ledger with the debits made before it
        for _ in 0..7 {
            assert!(credit.debit(&alice));
        }
        assert!(matches!(
            credit.spend(alice, &tokens[2]),
            CreditAnswer::Balance { .. }
        ));
        assert_eq!(credit.unwritten_debits(), 0);
        let expected = restored - 7 + 1000;
        credit.crash();
        let credit = open(dir.path(), &key);
        assert_eq!(balance(&credit, &alice).0, expected);
        // drops are counted and kept across a clean restart
        while credit.debit(&alice) {}
        assert!(!credit.debit(&alice));
        drop(credit);
        let credit = open(dir.path(), &key);
        assert_eq!(balance(&credit, &alice), (0, 2));
    }

    #[test]
    fn unreadable_ledger_records_are_refused_with_a_reason() {
        assert_eq!(decode_ledger(&encode_ledger(5, 6, 7), 0), Ok((5, 6, 7)));
        // a version 1 record (no time) reads as active now
        let mut v1 = vec![1];
        v1.extend_from_slice(&5u64.to_be_bytes());
        v1.extend_from_slice(&6u64.to_be_bytes());
        assert_eq!(decode_ledger(&v1, 99), Ok((5, 6, 99)));
        assert_eq!(
            decode_ledger(&[1, 2, 3], 0),
            Err("version 1 ledger record of 3 bytes, expected 17".into())
        );
        assert_eq!(
            decode_ledger(&[2; 17], 0),
            Err("version 2 ledger record of 17 bytes, expected 25".into())
        );
        assert_eq!(
            decode_ledger(&[9; 17], 0),
            Err("unknown ledger record version 9".into())
        );
        assert_eq!(decode_ledger(&[], 0), Err("empty ledger record".into()));
        // a store holding one is still opened; the record is skipped
        let dir = tempfile::tempdir().unwrap();
        let peer = PeerId::random();
        {
            let s = SpentStore::open(dir.path()).unwrap();
            s.write_credits(
                &[
                    (peer.to_bytes(), vec![1, 2]),
                    (b"not a peer id".to_vec(), encode_ledger(5, 0, 0)),
                ],
                &[],
            )
            .unwrap();
        }
        let credit = ProviderCredit::new(SpentStore::open(dir.path()).unwrap(), 3600);
        assert_eq!(credit.clients(), 0);
        assert!(!credit.debit(&peer));
    }
}
