//! Provider admission: credit, refusals with reasons, double spends locally and across
//! providers (caught at redemption).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use wesh_payments::params::{PACKETS_PER_TOKEN, TOKEN_VALIDITY_EPOCHS};
use wesh_payments::*;

const PROVIDER_A: NodeId = [0xa1; 32];
const PROVIDER_B: NodeId = [0xb2; 32];

fn one_token(seed: u64) -> (Issuer<FreeQuotaPolicy, InMemorySpentSet>, Token) {
    let mut issuer = issuer(20);
    let mut wallet = Wallet::new(TOKEN_VALIDITY_EPOCHS);
    assert_eq!(
        fetch(&mut issuer, &mut wallet, EPOCH, CLIENT, 1, seed).unwrap(),
        1
    );
    let token = wallet.pop(EPOCH).unwrap();
    (issuer, token)
}

fn provider(issuer: &Issuer<FreeQuotaPolicy, InMemorySpentSet>) -> Admission<InMemorySpentSet> {
    Admission::new(directory(issuer), InMemorySpentSet::new())
}

#[test]
fn token_buys_the_documented_packets_then_no_credit() {
    let (issuer, token) = one_token(1);
    let mut p = provider(&issuer);
    let mut ledger = p.open_ledger();
    assert_eq!(
        ledger.debit_packet(),
        Err(NoCredit {
            packets_per_token: PACKETS_PER_TOKEN
        })
    );
    let balance = p
        .spend_bytes(&mut ledger, &encode_token(&token), EPOCH)
        .unwrap();
    assert_eq!(balance, PACKETS_PER_TOKEN);
    for left in (0..PACKETS_PER_TOKEN).rev() {
        assert_eq!(ledger.debit_packet().unwrap(), left);
    }
    let err = ledger.debit_packet().unwrap_err();
    assert!(err.to_string().contains("spend a token"));
    assert_eq!(p.collected(), 1);
}

#[test]
fn client_without_credit_is_refused_fetches_tokens_and_resumes() {
    let mut issuer = issuer(20);
    let mut p = provider(&issuer);
    let mut wallet = Wallet::new(TOKEN_VALIDITY_EPOCHS);
    let mut ledger = p.open_ledger();
    let mut sent = 0u64;
    let mut refusals = 0;
    let target = 2 * PACKETS_PER_TOKEN + 5;
    while sent < target {
        match ledger.debit_packet() {
            Ok(_) => sent += 1,
            Err(NoCredit { .. }) => {
                refusals += 1;
                if wallet.is_empty() {
                    fetch(&mut issuer, &mut wallet, EPOCH, CLIENT, 2, 40 + refusals).unwrap();
                }
                let token = wallet.pop(EPOCH).unwrap();
                p.spend(&mut ledger, token, EPOCH).unwrap();
            }
        }
    }
    assert_eq!(sent, target);
    assert_eq!(refusals, 3);
    assert_eq!(p.collected(), 3);
    assert_eq!(ledger.balance(), 3 * PACKETS_PER_TOKEN - target);
}

#[test]
fn double_spend_at_one_provider_is_refused() {
    let (issuer, token) = one_token(2);
    let mut p = provider(&issuer);
    let mut l1 = p.open_ledger();
    let mut l2 = p.open_ledger();
    p.spend(&mut l1, token.clone(), EPOCH).unwrap();
    assert_eq!(p.spend(&mut l2, token, EPOCH), Err(Refusal::AlreadySpent));
    assert_eq!(l2.balance(), 0);
    assert_eq!(p.collected(), 1);
}

#[test]
fn double_spend_across_providers_is_caught_at_redemption() {
    let (mut issuer, token) = one_token(3);
    let mut a = provider(&issuer);
    let mut b = provider(&issuer);
    let (mut la, mut lb) = (a.open_ledger(), b.open_ledger());
    // Each provider alone sees a fresh token.
    a.spend(&mut la, token.clone(), EPOCH).unwrap();
    b.spend(&mut lb, token, EPOCH).unwrap();
    let ra = issuer.redeem_batch(EPOCH, PROVIDER_A, &a.take_collected());
    let rb = issuer.redeem_batch(EPOCH, PROVIDER_B, &b.take_collected());
    assert_eq!(ra.accepted, 1);
    assert_eq!(rb.accepted, 0);
    assert_eq!(rb.refused, vec![(0, Refusal::AlreadySpent)]);
    assert_eq!(issuer.redeemed_by(EPOCH, &PROVIDER_A), 1);
    assert_eq!(issuer.redeemed_by(EPOCH, &PROVIDER_B), 0);
}

#[test]
fn interleaved_concurrent_spends_exactly_one_wins() {
    // Two providers race on the same tokens; their redemptions reach the issuer
    // interleaved token by token, in both orders. Each token is redeemed exactly once.
    let mut issuer = issuer(20);
    let mut wallet = Wallet::new(TOKEN_VALIDITY_EPOCHS);
    fetch(&mut issuer, &mut wallet, EPOCH, CLIENT, 6, 4).unwrap();
    let tokens: Vec<Token> = (0..6).map(|_| wallet.pop(EPOCH).unwrap()).collect();
    let mut a = provider(&issuer);
    let mut b = provider(&issuer);
    let (mut la, mut lb) = (a.open_ledger(), b.open_ledger());
    for t in &tokens {
        a.spend(&mut la, t.clone(), EPOCH).unwrap();
        b.spend(&mut lb, t.clone(), EPOCH).unwrap();
    }
    let (ca, cb) = (a.take_collected(), b.take_collected());
    let mut wins = [0u64; 2];
    for (i, (ta, tb)) in ca.iter().zip(&cb).enumerate() {
        let order: [(usize, NodeId, &Token); 2] = if i % 2 == 0 {
            [(0, PROVIDER_A, ta), (1, PROVIDER_B, tb)]
        } else {
            [(1, PROVIDER_B, tb), (0, PROVIDER_A, ta)]
        };
        let results: Vec<_> = order
            .iter()
            .map(|(who, id, t)| (*who, issuer.redeem(EPOCH, *id, t)))
            .collect();
        let ok: Vec<_> = results.iter().filter(|(_, r)| r.is_ok()).collect();
        assert_eq!(ok.len(), 1, "token {i}: {results:?}");
        wins[ok[0].0] += 1;
        assert!(
            results
                .iter()
                .any(|(_, r)| *r == Err(Refusal::AlreadySpent))
        );
    }
    assert_eq!(wins, [3, 3]);
    assert_eq!(issuer.spent_set().len(), 6);
}

#[test]
fn forged_truncated_wrong_key_expired_tokens_are_refused_with_reasons() {
    let (issuer, token) = one_token(5);
    let mut p = provider(&issuer);
    let mut ledger = p.open_ledger();
    let bytes = encode_token(&token);

    // Forged: any flipped bit in the authenticator or the signed input.
    let cases = [
        (2usize, Refusal::BadSignature),  // nonce
        (40, Refusal::ChallengeMismatch), // challenge digest
        (80, Refusal::UnknownKey),        // token key id
        (120, Refusal::BadSignature),     // authenticator
        (353, Refusal::BadSignature),     // last byte
    ];
    for (i, want) in cases {
        let mut forged = bytes.clone();
        forged[i] ^= 0x01;
        assert_eq!(
            p.spend_bytes(&mut ledger, &forged, EPOCH),
            Err(want),
            "byte {i}"
        );
    }
    // Truncated and padded.
    assert_eq!(
        p.spend_bytes(&mut ledger, &bytes[..353], EPOCH),
        Err(Refusal::Truncated)
    );
    let mut long = bytes.clone();
    long.push(0);
    assert_eq!(
        p.spend_bytes(&mut ledger, &long, EPOCH),
        Err(Refusal::TrailingBytes)
    );
    let mut other_type = bytes.clone();
    other_type[1] = 0x01;
    assert_eq!(
        p.spend_bytes(&mut ledger, &other_type, EPOCH),
        Err(Refusal::UnsupportedTokenType)
    );
    // Expired and not yet valid.
    assert_eq!(
        p.spend(&mut ledger, token.clone(), EPOCH + TOKEN_VALIDITY_EPOCHS),
        Err(Refusal::Expired)
    );
    assert_eq!(
        p.spend(&mut ledger, token.clone(), EPOCH - 1),
        Err(Refusal::NotYetValid)
    );
    // Still valid on its last epoch, and nothing above consumed it.
    assert_eq!(ledger.balance(), 0);
    p.spend(
        &mut ledger,
        token.clone(),
        EPOCH + TOKEN_VALIDITY_EPOCHS - 1,
    )
    .unwrap();
    assert_eq!(
        p.spend(&mut ledger, token, EPOCH),
        Err(Refusal::AlreadySpent)
    );
}

#[test]
fn token_signed_by_an_unpublished_key_is_unknown_key() {
    // A stranger key (e.g. a rogue issuer) signs a perfectly formed token.
    let mut rogue = Issuer::new(FreeQuotaPolicy::new(5), InMemorySpentSet::new());
    rogue.install_key(keys()[2].clone()).unwrap();
    let mut wallet = Wallet::new(TOKEN_VALIDITY_EPOCHS);
    let mut r = rng(6);
    let vk = VerifyingKey::from_published(&keys()[2].published()).unwrap();
    let (req, pending) = wallet
        .prepare_request(&vk, Credential::ClientKey(CLIENT), 1, &mut r)
        .unwrap();
    let resp = rogue.issue(EPOCH, &req, &mut r).unwrap();
    wallet.finalize(pending, &resp).unwrap();
    let token = wallet.pop(EPOCH).unwrap();

    let honest = issuer(20);
    let mut p = provider(&honest);
    let mut ledger = p.open_ledger();
    assert_eq!(
        p.spend(&mut ledger, token.clone(), EPOCH),
        Err(Refusal::UnknownKey)
    );

    // Same signature relabelled with the honest key id: the signature does not verify.
    let mut relabelled = token;
    relabelled.token_key_id = keys()[0].key_id();
    assert_eq!(
        p.spend(&mut ledger, relabelled, EPOCH),
        Err(Refusal::BadSignature)
    );
}

#[test]
fn token_with_another_epochs_challenge_is_refused() {
    let (issuer, mut token) = one_token(7);
    let mut p = provider(&issuer);
    let mut ledger = p.open_ledger();
    token.challenge_digest = epoch_challenge_digest(EPOCH + 1);
    assert_eq!(
        p.spend(&mut ledger, token, EPOCH),
        Err(Refusal::ChallengeMismatch)
    );
}

#[test]
fn refusal_names_are_stable() {
    let all = [
        (Refusal::Truncated, "truncated"),
        (Refusal::TrailingBytes, "trailing_bytes"),
        (Refusal::UnsupportedTokenType, "unsupported_token_type"),
        (Refusal::UnknownKey, "unknown_key"),
        (Refusal::NotYetValid, "not_yet_valid"),
        (Refusal::Expired, "expired"),
        (Refusal::ChallengeMismatch, "challenge_mismatch"),
        (Refusal::BadSignature, "bad_signature"),
        (Refusal::AlreadySpent, "already_spent"),
        (Refusal::SpentSetUnavailable, "spent_set_unavailable"),
    ];
    for (r, name) in all {
        assert_eq!(r.as_str(), name);
    }
}

#[test]
fn pruning_forgets_only_what_cannot_be_spent_again() {
    let (issuer, token) = one_token(8);
    let mut p = provider(&issuer);
    let mut ledger = p.open_ledger();
    p.spend(&mut ledger, token.clone(), EPOCH).unwrap();
    // Still live: nothing pruned, the double spend is still caught.
    assert_eq!(p.prune(EPOCH + TOKEN_VALIDITY_EPOCHS - 1).unwrap(), 0);
    assert_eq!(
        p.spend(&mut ledger, token.clone(), EPOCH + 1),
        Err(Refusal::AlreadySpent)
    );
    // Expired: the entry goes, and the token is refused before the spent set.
    assert_eq!(p.prune(EPOCH + TOKEN_VALIDITY_EPOCHS).unwrap(), 1);
    let r = p.spend(&mut ledger, token, EPOCH + TOKEN_VALIDITY_EPOCHS);
    assert!(matches!(r, Err(Refusal::UnknownKey | Refusal::Expired)));
}
