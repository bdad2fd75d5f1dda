//! Who may redeem (issue 15 item 8): only providers of the directory the issuer follows.
//! A client that redeems its own token would make it worthless at the provider it then
//! spends it at: that provider would never be paid for the packets it carried.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use std::collections::BTreeSet;
use wesh_payments::params::TOKEN_VALIDITY_EPOCHS;
use wesh_payments::wire::{Redeemed, SpendRefusal, encode_redeem_request};
use wesh_payments::*;

const PROVIDER: NodeId = [0xa1; 32];
const MIX: NodeId = [0xb2; 32];

fn book_with_token() -> (
    IssuerBook<FreeQuotaPolicy, InMemorySpentSet, InMemoryArchive>,
    Token,
) {
    let mut issuer = issuer(20);
    let mut wallet = Wallet::new(TOKEN_VALIDITY_EPOCHS);
    assert_eq!(
        fetch(&mut issuer, &mut wallet, EPOCH, CLIENT, 1, 3).unwrap(),
        1
    );
    let token = wallet.pop(EPOCH).unwrap();
    (IssuerBook::new(issuer, InMemoryArchive::default()), token)
}

#[test]
fn only_providers_of_the_directory_redeem() {
    let (mut book, token) = book_with_token();
    let request = encode_redeem_request(std::slice::from_ref(&token)).unwrap();
    let providers: BTreeSet<NodeId> = [PROVIDER].into();
    let not_a_provider = Redeemed::batch_refused(SpendRefusal::NotAProvider);

    // the client redeems its own token: refused, and the token is not spent by it
    let own = book.answer_redeem(Some(EPOCH), Some(CLIENT), &providers, &request);
    assert_eq!(own, not_a_provider);
    // a relay of the directory that is no provider (it collects no tokens) is refused too
    assert_eq!(
        book.answer_redeem(Some(EPOCH), Some(MIX), &providers, &request),
        not_a_provider
    );
    // an issuer that knows no directory yet accepts nobody
    assert_eq!(
        book.answer_redeem(Some(EPOCH), Some(PROVIDER), &BTreeSet::new(), &request),
        not_a_provider
    );
    // the provider the client spent it at is paid
    let paid = book.answer_redeem(Some(EPOCH), Some(PROVIDER), &providers, &request);
    assert_eq!((paid.accepted, paid.refused.len()), (1, 0), "{paid:?}");
    assert_eq!(book.issuer().redeemed_by(EPOCH, &PROVIDER), 1);
    assert_eq!(book.issuer().redeemed_by(EPOCH, &CLIENT), 0);
    // the refusal is not the token's fault: a provider keeps its tokens and retries
    assert!(SpendRefusal::NotAProvider.token_still_good());
    assert!(own.batch_to_retry());
}

/// A provider the issuer does not list yet (the directory is still reaching it) keeps
/// its batch for the next round; tokens judged one by one are not retried.
#[test]
fn only_whole_batch_refusals_for_the_askers_sake_are_retried() {
    use wesh_payments::Refusal;
    assert!(Redeemed::batch_refused(SpendRefusal::NotAProvider).batch_to_retry());
    assert!(Redeemed::batch_refused(SpendRefusal::Unavailable).batch_to_retry());
    assert!(!Redeemed::batch_refused(SpendRefusal::MalformedRequest).batch_to_retry());
    let spent = SpendRefusal::Token(Refusal::AlreadySpent);
    assert!(!Redeemed::batch_refused(spent).batch_to_retry());
    let partly = Redeemed {
        accepted: 1,
        refused: vec![(0, SpendRefusal::Unavailable)],
    };
    assert!(!partly.batch_to_retry());
    assert!(!Redeemed::default().batch_to_retry());
}
