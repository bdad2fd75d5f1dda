//! A provider's book of its paying clients: per client, the packet credit its tokens
//! bought, the frames dropped for lack of it and when it was last active. Driven with
//! `now` (Unix seconds); what must be durable goes through [`LedgerStore`].
//!
//! Crash safety (spec/payments.md §12):
//! - a token's spend and the credit it buys are one atomic write: the record is staged in
//!   the store and written by the spent-set insert, so a restart never keeps the credit
//!   while forgetting the spend (no credit is minted);
//! - debits are written lazily: the changed ledgers are written once
//!   `DEBIT_FLUSH_PACKETS` debits are unwritten (over all clients), at every
//!   [`CreditBook::flush`] and with every spend of that client. A crash gives back at most
//!   that many packets; if the write fails, frames are refused until it succeeds;
//! - a ledger idle for `LEDGER_IDLE_TTL_SECS` is forgotten, with its credit, at the next
//!   flush (in memory and in the store).

use crate::admission::{Admission, CreditLedger};
use crate::error::{Refusal, StoreError};
use crate::keys::{KeyDirectory, PublishedKey};
use crate::params::{DEBIT_FLUSH_PACKETS, LEDGER_IDLE_TTL_SECS};
use crate::spent::{InMemorySpentSet, SpentSet};
use crate::token::SpentId;
use crate::token::Token;
use crate::{Epoch, epoch_at};
use std::collections::HashMap;
use std::hash::Hash;
use thiserror::Error;

/// Where a provider keeps its spent set and its clients' ledgers. Each write returns once
/// it is durable.
pub trait LedgerStore<K>: SpentSet {
    /// Keeps `record` to be written in the same atomic write as the next spent entry
    /// `insert_if_absent` adds; an insert that adds nothing writes neither.
    fn stage_ledger(&mut self, client: &K, record: LedgerRecord);
    /// Drops a staged record no insert took.
    fn clear_staged_ledger(&mut self);
    /// Writes `write` and deletes `forget`, in one atomic write.
    fn write_ledgers(
        &mut self,
        write: &[(K, LedgerRecord)],
        forget: &[K],
    ) -> Result<(), StoreError>;
}

/// A stored ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerRecord {
    pub balance: u64,
    pub dropped: u64,
    /// Unix seconds.
    pub last_active: u64,
}

/// Why a stored ledger record cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum LedgerRecordError {
    #[error("empty ledger record")]
    Empty,
    #[error("unknown ledger record version {0}")]
    UnknownVersion(u8),
    #[error("version {version} ledger record of {len} bytes, expected {expected}")]
    WrongLength {
        version: u8,
        len: usize,
        expected: usize,
    },
}

/// Version of a stored record: `2 ‖ balance u64 ‖ dropped u64 ‖ last active u64 (Unix s)`;
/// version 1 (`1 ‖ balance ‖ dropped`) is read as active at load.
const RECORD_VERSION: u8 = 2;

impl LedgerRecord {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(25);
        out.push(RECORD_VERSION);
        for v in [self.balance, self.dropped, self.last_active] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        out
    }

    /// Reads a record; `now` stands for the time a version 1 record does not have.
    pub fn decode(bytes: &[u8], now: u64) -> Result<Self, LedgerRecordError> {
        let (&version, rest) = bytes.split_first().ok_or(LedgerRecordError::Empty)?;
        let fields = match version {
            1 => 2,
            RECORD_VERSION => 3,
            other => return Err(LedgerRecordError::UnknownVersion(other)),
        };
        if rest.len() != fields * 8 {
            return Err(LedgerRecordError::WrongLength {
                version,
                len: bytes.len(),
                expected: 1 + fields * 8,
            });
        }
        let mut v = rest
            .chunks_exact(8)
            .filter_map(|c| c.try_into().ok().map(u64::from_be_bytes));
        Ok(LedgerRecord {
            balance: v.next().unwrap_or(0),
            dropped: v.next().unwrap_or(0),
            last_active: v.next().unwrap_or(now),
        })
    }
}

/// One paying client.
#[derive(Debug, Clone)]
struct ClientLedger {
    credit: CreditLedger,
    dropped: u64,
    last_active: u64,
}

/// A client's standing, as `/wesh/credit/1` answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Standing {
    pub balance: u64,
    pub dropped: u64,
}

/// The verdict on one frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Debit {
    /// Paid: the frame goes on.
    Paid,
    /// No credit (or a client that never paid): drop the frame.
    NoCredit,
    /// The unwritten debits could not be written: drop the frame (bounded crash loss).
    StoreFailed(StoreError),
}

/// Why a service charge ([`CreditBook::charge`]) was refused.
#[derive(Debug, Error)]
pub enum ChargeRefused {
    #[error("{price} credit units needed, {balance} held: spend a token at this provider first")]
    NoCredit { price: u64, balance: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The provider's credit book over `S`, clients named by `K`.
#[derive(Debug)]
pub struct CreditBook<K, S: SpentSet> {
    admission: Admission<S>,
    epoch_seconds: u64,
    ledgers: HashMap<K, ClientLedger>,
    /// Ledgers changed since last written, with their unwritten debits.
    dirty: HashMap<K, u64>,
    unwritten_debits: u64,
    flush_after: u64,
    idle_ttl: u64,
}

impl<K: Eq + Hash + Clone, S: LedgerStore<K>> CreditBook<K, S> {
    /// An empty book over `store` (payments epochs of `epoch_seconds`), default limits.
    pub fn new(store: S, epoch_seconds: u64) -> Self {
        Self::with_limits(
            store,
            epoch_seconds,
            DEBIT_FLUSH_PACKETS,
            LEDGER_IDLE_TTL_SECS,
        )
    }

    pub fn with_limits(store: S, epoch_seconds: u64, flush_after: u64, idle_ttl: u64) -> Self {
        CreditBook {
            admission: Admission::new(KeyDirectory::new(), store),
            epoch_seconds,
            ledgers: HashMap::new(),
            dirty: HashMap::new(),
            unwritten_debits: 0,
            flush_after,
            idle_ttl,
        }
    }

    /// Puts back a ledger read from the store (a restart).
    pub fn restore(&mut self, client: K, record: LedgerRecord) {
        let ledger = ClientLedger {
            credit: self.admission.restore_ledger(record.balance),
            dropped: record.dropped,
            last_active: record.last_active,
        };
        self.ledgers.insert(client, ledger);
    }

    /// Accepts tokens under `key`.
    pub fn install_key(&mut self, key: &PublishedKey) -> Result<(), crate::KeyError> {
        self.admission.keys_mut().insert_published(key).map(|_| ())
    }

    /// Issuer keys tokens are accepted under.
    pub fn key_count(&self) -> usize {
        self.admission.keys().len()
    }

    /// Spends `token` for `client` at Unix time `now`. A ledger exists only once a token
    /// was accepted: refused tokens and unpaid frames grow nothing.
    pub fn spend(&mut self, now: u64, client: &K, token: Token) -> Result<Standing, Refusal> {
        let mut ledger = self
            .ledgers
            .get(client)
            .cloned()
            .unwrap_or_else(|| ClientLedger {
                credit: self.admission.open_ledger(),
                dropped: 0,
                last_active: now,
            });
        ledger.last_active = now;
        // the credit lands in the spend's own atomic write, with the debits so far
        let record = LedgerRecord {
            balance: ledger.credit.balance_after_token(),
            dropped: ledger.dropped,
            last_active: now,
        };
        self.admission.spent_set_mut().stage_ledger(client, record);
        let epoch = epoch_at(now, self.epoch_seconds);
        let spent = self.admission.spend(&mut ledger.credit, token, epoch);
        self.admission.spent_set_mut().clear_staged_ledger();
        let balance = spent?;
        let standing = Standing {
            balance,
            dropped: ledger.dropped,
        };
        self.ledgers.insert(client.clone(), ledger);
        let written = self.dirty.remove(client).unwrap_or(0);
        self.unwritten_debits = self.unwritten_debits.saturating_sub(written);
        Ok(standing)
    }

    /// Debits one packet from `client` at `now`.
    pub fn debit(&mut self, now: u64, client: &K) -> Debit {
        // keep the unwritten debits bounded: write first, refuse if that fails
        if self.unwritten_debits >= self.flush_after
            && let Err(e) = self.write_dirty()
        {
            return Debit::StoreFailed(e);
        }
        let Some(ledger) = self.ledgers.get_mut(client) else {
            return Debit::NoCredit;
        };
        ledger.last_active = now;
        let unwritten = self.dirty.entry(client.clone()).or_default();
        if ledger.credit.debit_packet().is_ok() {
            *unwritten += 1;
            self.unwritten_debits += 1;
            Debit::Paid
        } else {
            ledger.dropped += 1;
            Debit::NoCredit
        }
    }

    /// Charges `price` credit units at once for a service other than relaying (a
    /// replication registration), all or nothing; returns the balance left.
    pub fn charge(&mut self, now: u64, client: &K, price: u64) -> Result<u64, ChargeRefused> {
        if self.unwritten_debits >= self.flush_after {
            self.write_dirty()?;
        }
        let balance = self.standing(client).balance;
        let ledger = match self.ledgers.get_mut(client) {
            Some(l) if balance >= price => l,
            _ => return Err(ChargeRefused::NoCredit { price, balance }),
        };
        for _ in 0..price {
            // cannot fail: the balance covers the price
            let _ = ledger.credit.debit_packet();
        }
        ledger.last_active = now;
        *self.dirty.entry(client.clone()).or_default() += price;
        self.unwritten_debits += price;
        Ok(balance - price)
    }

    /// What `client` holds (zero for a client that never paid).
    pub fn standing(&self, client: &K) -> Standing {
        self.ledgers
            .get(client)
            .map(|l| Standing {
                balance: l.credit.balance(),
                dropped: l.dropped,
            })
            .unwrap_or_default()
    }

    /// Writes the changed ledgers and forgets those idle at `now`; returns how many were
    /// forgotten.
    pub fn flush(&mut self, now: u64) -> Result<usize, StoreError> {
        self.write_dirty()?;
        let idle: Vec<K> = self
            .ledgers
            .iter()
            .filter(|(_, l)| now.saturating_sub(l.last_active) > self.idle_ttl)
            .map(|(k, _)| k.clone())
            .collect();
        if idle.is_empty() {
            return Ok(0);
        }
        self.admission.spent_set_mut().write_ledgers(&[], &idle)?;
        for k in &idle {
            self.ledgers.remove(k);
        }
        Ok(idle.len())
    }

    /// Writes every changed ledger in one atomic write (a clean shutdown calls this).
    pub fn write_dirty(&mut self) -> Result<(), StoreError> {
        if self.dirty.is_empty() {
            return Ok(());
        }
        let records: Vec<(K, LedgerRecord)> = self
            .dirty
            .keys()
            .filter_map(|k| {
                let l = self.ledgers.get(k)?;
                let record = LedgerRecord {
                    balance: l.credit.balance(),
                    dropped: l.dropped,
                    last_active: l.last_active,
                };
                Some((k.clone(), record))
            })
            .collect();
        self.admission
            .spent_set_mut()
            .write_ledgers(&records, &[])?;
        self.dirty.clear();
        self.unwritten_debits = 0;
        Ok(())
    }

    /// Debits not yet written (a crash would give them back).
    pub fn unwritten_debits(&self) -> u64 {
        self.unwritten_debits
    }

    /// Clients with a ledger (those that paid at least once and were not forgotten).
    pub fn clients(&self) -> usize {
        self.ledgers.len()
    }

    /// Tokens handed over by `take_collected` that the issuer did not judge: kept for the
    /// next redemption round.
    pub fn return_collected(&mut self, tokens: Vec<Token>) {
        self.admission.return_collected(tokens);
    }

    /// Tokens collected since the last call, to redeem at the issuer.
    pub fn take_collected(&mut self) -> Vec<Token> {
        self.admission.take_collected()
    }

    pub fn store(&self) -> &S {
        self.admission.spent_set()
    }
}

/// A [`LedgerStore`] in memory (tests and the simulator); `fail_writes` makes every
/// ledger write fail, as a full disk would.
#[derive(Debug, Clone)]
pub struct InMemoryLedgers<K> {
    pub spent: InMemorySpentSet,
    pub records: HashMap<K, LedgerRecord>,
    staged: Option<(K, LedgerRecord)>,
    pub fail_writes: bool,
}

impl<K> Default for InMemoryLedgers<K> {
    fn default() -> Self {
        InMemoryLedgers {
            spent: InMemorySpentSet::new(),
            records: HashMap::new(),
            staged: None,
            fail_writes: false,
        }
    }
}

impl<K: Eq + Hash + Clone> SpentSet for InMemoryLedgers<K> {
    fn insert_if_absent(&mut self, id: SpentId, key_epoch: Epoch) -> Result<bool, StoreError> {
        let staged = self.staged.take();
        let new = self.spent.insert_if_absent(id, key_epoch)?;
        if new && let Some((k, r)) = staged {
            self.records.insert(k, r);
        }
        Ok(new)
    }

    fn contains(&self, id: &SpentId) -> Result<bool, StoreError> {
        self.spent.contains(id)
    }

    fn prune_before(&mut self, oldest: Epoch) -> Result<usize, StoreError> {
        self.spent.prune_before(oldest)
    }

    fn len(&self) -> usize {
        self.spent.len()
    }
}

impl<K: Eq + Hash + Clone> LedgerStore<K> for InMemoryLedgers<K> {
    fn stage_ledger(&mut self, client: &K, record: LedgerRecord) {
        self.staged = Some((client.clone(), record));
    }

    fn clear_staged_ledger(&mut self) {
        self.staged = None;
    }

    fn write_ledgers(
        &mut self,
        write: &[(K, LedgerRecord)],
        forget: &[K],
    ) -> Result<(), StoreError> {
        if self.fail_writes {
            return Err(StoreError("writes fail".into()));
        }
        for (k, r) in write {
            self.records.insert(k.clone(), *r);
        }
        for k in forget {
            self.records.remove(k);
        }
        Ok(())
    }
}
