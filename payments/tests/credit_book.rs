//! The provider's credit book and the client's top-up policy on a virtual clock: unpaid
//! frames, idle expiry, the lazy debit flush and its crash bound, store failures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use wesh_payments::params::{LEDGER_IDLE_TTL_SECS, PACKETS_PER_TOKEN};
use wesh_payments::wire::SpendRefusal;
use wesh_payments::*;

/// Payments epochs of an hour; `T0` lies in `EPOCH`.
const SECS: u64 = 3600;
const T0: u64 = EPOCH * SECS + 10;

type Book = CreditBook<u8, InMemoryLedgers<u8>>;

fn tokens(n: usize, seed: u64) -> Vec<Token> {
    let mut issuer = issuer(100);
    let mut wallet = Wallet::new(24);
    fetch(&mut issuer, &mut wallet, EPOCH, CLIENT, n, seed).unwrap();
    (0..n).map(|_| wallet.pop(EPOCH).unwrap()).collect()
}

fn book(store: InMemoryLedgers<u8>, flush_after: u64) -> Book {
    let mut book = CreditBook::with_limits(store, SECS, flush_after, LEDGER_IDLE_TTL_SECS);
    book.install_key(&keys()[0].published()).unwrap();
    book
}

/// The book a restart builds from what the store holds (a crash loses the rest).
fn restart(old: Book, flush_after: u64) -> Book {
    let store = old.store().clone();
    let mut fresh = book(store.clone(), flush_after);
    for (k, r) in store.records {
        fresh.restore(k, r);
    }
    fresh
}

#[test]
fn unpaid_frames_and_refused_tokens_grow_no_ledger() {
    let mut b = book(InMemoryLedgers::default(), 1000);
    assert_eq!(b.debit(T0, &1), Debit::NoCredit);
    let mut forged = tokens(1, 1).pop().unwrap();
    forged.authenticator[0] ^= 1;
    assert_eq!(b.spend(T0, &1, forged), Err(Refusal::BadSignature));
    assert_eq!(b.clients(), 0);
    assert_eq!(b.standing(&1), Standing::default());
    assert!(
        b.store().records.is_empty(),
        "a refused spend writes nothing"
    );
}

#[test]
fn a_spend_and_its_credit_are_written_together_and_a_crash_mints_nothing() {
    let t = tokens(2, 2);
    let mut b = book(InMemoryLedgers::default(), 1000);
    let s = b.spend(T0, &1, t[0].clone()).unwrap();
    assert_eq!(s.balance, PACKETS_PER_TOKEN);
    assert_eq!(b.store().records[&1].balance, PACKETS_PER_TOKEN);
    for _ in 0..10 {
        assert_eq!(b.debit(T0, &1), Debit::Paid);
    }
    // a crash: the 10 debits were not written, the spend was
    let mut b = restart(b, 1000);
    assert_eq!(b.standing(&1).balance, PACKETS_PER_TOKEN);
    assert_eq!(
        b.spend(T0, &1, t[0].clone()),
        Err(Refusal::AlreadySpent),
        "no second credit for one token"
    );
    // a spend writes the debits made before it
    for _ in 0..7 {
        b.debit(T0, &1);
    }
    b.spend(T0, &1, t[1].clone()).unwrap();
    assert_eq!(b.unwritten_debits(), 0);
    let b = restart(b, 1000);
    assert_eq!(b.standing(&1).balance, 2 * PACKETS_PER_TOKEN - 7);
}

#[test]
fn a_crash_gives_back_at_most_the_flush_bound() {
    let flush_after = 100;
    let mut b = book(InMemoryLedgers::default(), flush_after);
    b.spend(T0, &1, tokens(1, 3).pop().unwrap()).unwrap();
    let debits = flush_after + 5;
    for _ in 0..debits {
        assert_eq!(b.debit(T0, &1), Debit::Paid);
    }
    assert!(b.unwritten_debits() <= flush_after);
    let real = b.standing(&1).balance;
    let b = restart(b, flush_after);
    let restored = b.standing(&1).balance;
    assert!(restored >= real, "a crash never takes credit away");
    assert_eq!(restored - real, 5, "only the debits after the last write");
}

#[test]
fn frames_are_refused_while_the_backlog_cannot_be_written() {
    let mut failing = InMemoryLedgers::default();
    failing.fail_writes = true;
    let mut b = book(failing, 3);
    let record = LedgerRecord {
        balance: 10,
        dropped: 0,
        last_active: T0,
    };
    b.restore(1, record);
    for _ in 0..3 {
        assert_eq!(b.debit(T0, &1), Debit::Paid);
    }
    assert!(matches!(b.debit(T0, &1), Debit::StoreFailed(_)));
    assert_eq!(b.standing(&1).balance, 7, "the refused frame cost nothing");
}

#[test]
fn idle_ledgers_are_forgotten_in_the_store_too_and_active_ones_kept() {
    let t = tokens(2, 5);
    let mut b = book(InMemoryLedgers::default(), 1000);
    b.spend(T0, &1, t[0].clone()).unwrap();
    b.spend(T0, &2, t[1].clone()).unwrap();
    let later = T0 + LEDGER_IDLE_TTL_SECS;
    assert_eq!(b.debit(later, &2), Debit::Paid);
    assert_eq!(b.flush(later).unwrap(), 0, "both active within the TTL");
    let after = later + 1;
    assert_eq!(b.flush(after).unwrap(), 1);
    assert_eq!(b.clients(), 1);
    assert_eq!(
        b.debit(after, &1),
        Debit::NoCredit,
        "its credit went with it"
    );
    let b = restart(b, 1000);
    assert_eq!(b.clients(), 1, "forgotten in the store as well");
    assert_eq!(b.standing(&2).balance, PACKETS_PER_TOKEN - 1);
}

#[test]
fn drops_are_counted_and_kept() {
    let mut b = book(InMemoryLedgers::default(), 1000);
    b.spend(T0, &1, tokens(1, 6).pop().unwrap()).unwrap();
    while b.debit(T0, &1) == Debit::Paid {}
    assert_eq!(b.debit(T0, &1), Debit::NoCredit);
    b.write_dirty().unwrap();
    let b = restart(b, 1000);
    assert_eq!(
        b.standing(&1),
        Standing {
            balance: 0,
            dropped: 2
        }
    );
}

#[test]
fn ledger_records_decode_strictly() {
    let r = LedgerRecord {
        balance: 5,
        dropped: 6,
        last_active: 7,
    };
    assert_eq!(LedgerRecord::decode(&r.encode(), 0), Ok(r));
    let mut v1 = vec![1];
    v1.extend_from_slice(&5u64.to_be_bytes());
    v1.extend_from_slice(&6u64.to_be_bytes());
    assert_eq!(
        LedgerRecord::decode(&v1, 99),
        Ok(LedgerRecord {
            balance: 5,
            dropped: 6,
            last_active: 99
        })
    );
    let wrong = |version, len, expected| LedgerRecordError::WrongLength {
        version,
        len,
        expected,
    };
    assert_eq!(LedgerRecord::decode(&[1, 2, 3], 0), Err(wrong(1, 3, 17)));
    assert_eq!(LedgerRecord::decode(&[2; 17], 0), Err(wrong(2, 17, 25)));
    assert_eq!(
        LedgerRecord::decode(&[9; 17], 0),
        Err(LedgerRecordError::UnknownVersion(9))
    );
    assert_eq!(LedgerRecord::decode(&[], 0), Err(LedgerRecordError::Empty));
}

#[test]
fn the_keeper_spends_above_nothing_fetches_when_empty_and_keeps_good_tokens() {
    let mut keeper = CreditKeeper::new(400, 4);
    assert_eq!(keeper.next_step(EPOCH, 400), TopUpStep::Enough);
    assert_eq!(keeper.next_step(EPOCH, 399), TopUpStep::FetchTokens(4));
    let mut issuer = issuer(100);
    fetch(&mut issuer, keeper.wallet_mut(), EPOCH, CLIENT, 1, 7).unwrap();
    let TopUpStep::Spend(token) = keeper.next_step(EPOCH, 0) else {
        panic!("a token to spend")
    };
    // the provider lacks the issuer key: the token is good, kept for the next round
    let unknown = SpendRefusal::Token(Refusal::UnknownKey);
    assert!(keeper.refused(EPOCH, *token, unknown));
    let TopUpStep::Spend(token) = keeper.next_step(EPOCH, 0) else {
        panic!("the kept token")
    };
    // already spent: dropped
    let spent = SpendRefusal::Token(Refusal::AlreadySpent);
    assert!(!keeper.refused(EPOCH, *token, spent));
    assert_eq!(keeper.next_step(EPOCH, 0), TopUpStep::FetchTokens(4));
    // tokens past their validity are never offered
    fetch(&mut issuer, keeper.wallet_mut(), EPOCH, CLIENT, 1, 8).unwrap();
    assert_eq!(
        keeper.next_step(EPOCH + 24, 0),
        TopUpStep::FetchTokens(4),
        "expired"
    );
}

#[test]
fn a_service_charge_is_all_or_nothing_and_survives_a_restart() {
    let t = tokens(1, 9);
    let mut b = book(InMemoryLedgers::default(), 1000);
    // nothing held: refused, no ledger grows
    assert!(matches!(
        b.charge(T0, &1, 10),
        Err(ChargeRefused::NoCredit {
            price: 10,
            balance: 0
        })
    ));
    assert_eq!(b.clients(), 0);
    b.spend(T0, &1, t[0].clone()).unwrap();
    // more than held: refused and nothing taken
    let over = PACKETS_PER_TOKEN + 1;
    assert!(matches!(
        b.charge(T0, &1, over),
        Err(ChargeRefused::NoCredit { .. })
    ));
    assert_eq!(b.standing(&1).balance, PACKETS_PER_TOKEN);
    assert_eq!(b.charge(T0, &1, 600).unwrap(), PACKETS_PER_TOKEN - 600);
    assert_eq!(b.debit(T0, &1), Debit::Paid);
    // the charge is written like debits are: a restart after a flush keeps it
    b.write_dirty().unwrap();
    let b = restart(b, 1000);
    assert_eq!(b.standing(&1).balance, PACKETS_PER_TOKEN - 601);
}
