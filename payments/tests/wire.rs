//! Wire formats of the payments protocols: encode → decode round trips, and decoding
//! arbitrary bytes never panics (and what it accepts re-encodes to the same bytes).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use proptest::prelude::*;
use wesh_payments::params::{MAX_REDEEM_BATCH, TOKEN_TYPE_BLIND_RSA};
use wesh_payments::wire::codes::*;
use wesh_payments::wire::credit::*;
use wesh_payments::wire::issuer::*;
use wesh_payments::wire::{Code, WireError};
use wesh_payments::*;

fn token(seed: u8) -> Token {
    Token {
        token_type: TOKEN_TYPE_BLIND_RSA,
        nonce: [seed; 32],
        challenge_digest: [seed.wrapping_add(1); 32],
        token_key_id: TokenKeyId([seed.wrapping_add(2); 32]),
        authenticator: [seed.wrapping_add(3); 256],
    }
}

fn spend_refusals() -> Vec<SpendRefusal> {
    let mut all: Vec<SpendRefusal> = Refusal::ALL
        .iter()
        .map(|r| SpendRefusal::Token(*r))
        .collect();
    all.extend([
        SpendRefusal::MalformedRequest,
        SpendRefusal::Unavailable,
        SpendRefusal::NotAProvider,
    ]);
    all
}

/// Every code decodes back to its refusal, and codes are distinct per kind.
fn codes_are_a_bijection<R: Code + PartialEq + std::fmt::Debug>(all: &[R]) {
    let mut seen = std::collections::BTreeSet::new();
    for r in all {
        assert!(seen.insert(r.code()), "{r:?}: code reused");
        assert_eq!(R::from_code(r.code()), Some(*r));
    }
    for code in 0..=u8::MAX {
        if !seen.contains(&code) {
            assert_eq!(R::from_code(code), None, "code {code}");
        }
    }
}

#[test]
fn refusal_codes_are_stable_and_distinct() {
    codes_are_a_bijection(&spend_refusals());
    codes_are_a_bijection(IssueRefusal::ALL);
    codes_are_a_bijection(ClaimRefusal::ALL);
    codes_are_a_bijection(WorkRefusal::ALL);
    // the bytes spec/payments.md lists
    assert_eq!(SpendRefusal::Token(Refusal::AlreadySpent).code(), 9);
    assert_eq!(SpendRefusal::Token(Refusal::UnknownKey).code(), 4);
    assert_eq!(SpendRefusal::MalformedRequest.code(), 0x40);
    assert_eq!(ClaimRefusal::AlreadyClaimed.code(), 3);
}

#[test]
fn credit_messages_round_trip_with_their_exact_bytes() {
    for req in [
        CreditRequest::Spend(Box::new(token(1))),
        CreditRequest::Balance,
    ] {
        assert_eq!(CreditRequest::decode(&req.encode()), Ok(req));
    }
    assert_eq!(CreditRequest::Balance.encode(), vec![2]);
    assert_eq!(
        CreditRequest::decode(&[1, 0, 2, 1]),
        Err(SpendRefusal::Token(Refusal::Truncated))
    );
    assert_eq!(
        CreditRequest::decode(&[2, 0]),
        Err(SpendRefusal::MalformedRequest)
    );
    let balance = CreditAnswer::Balance {
        balance: 7,
        dropped: 2,
    };
    let mut expected = vec![0];
    expected.extend_from_slice(&7u64.to_be_bytes());
    expected.extend_from_slice(&2u64.to_be_bytes());
    assert_eq!(balance.encode(), expected);
    for a in spend_refusals()
        .into_iter()
        .map(CreditAnswer::Refused)
        .chain([balance])
    {
        assert_eq!(CreditAnswer::decode(&a.encode()), Ok(a));
    }
    let spent = CreditAnswer::Refused(SpendRefusal::Token(Refusal::AlreadySpent));
    assert_eq!(spent.encode(), vec![1, 9]);
    assert_eq!(CreditAnswer::decode(&[0, 1, 2]), Err(WireError::Truncated));
    assert_eq!(
        CreditAnswer::decode(&[1, 0x99]),
        Err(WireError::UnknownCode(0x99))
    );
    assert_eq!(CreditAnswer::decode(&[9]), Err(WireError::UnknownTag(9)));
    assert_eq!(CreditAnswer::decode(&[]), Err(WireError::Truncated));
}

#[test]
fn issuer_messages_round_trip() {
    let keys: Vec<PublishedKey> = common::keys()[..2]
        .iter()
        .map(IssuerKey::published)
        .collect();
    assert_eq!(
        decode_keys_answer(&encode_keys_answer(&keys)),
        Ok(keys.clone())
    );
    let mut bad = encode_keys_answer(&keys);
    bad.push(0);
    assert_eq!(decode_keys_answer(&bad), Err(WireError::TrailingBytes));
    let mut forged = encode_keys_answer(&keys[..1]);
    let last = forged.len() - 1;
    forged[last] ^= 1;
    assert!(matches!(
        decode_keys_answer(&forged),
        Err(WireError::Key(_))
    ));

    let tokens = vec![token(1), token(2)];
    let request = encode_redeem_request(&tokens).unwrap();
    let decoded: Vec<Token> = decode_redeem_request(&request)
        .unwrap()
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(decoded, tokens);
    let too_many = vec![token(0); MAX_REDEEM_BATCH + 1];
    assert_eq!(
        encode_redeem_request(&too_many),
        Err(WireError::BadCount(MAX_REDEEM_BATCH + 1))
    );
    let redeemed = Redeemed {
        accepted: 3,
        refused: vec![
            (1, SpendRefusal::Token(Refusal::AlreadySpent)),
            (4, SpendRefusal::Token(Refusal::UnknownKey)),
        ],
    };
    assert_eq!(Redeemed::decode(&redeemed.encode()), Ok(redeemed.clone()));
    assert_eq!(
        Redeemed::decode(&redeemed.encode()[..7]),
        Err(WireError::Truncated)
    );

    for a in [
        ClaimAnswer::Done(42),
        ClaimAnswer::Refused(ClaimRefusal::NoEntry),
    ] {
        assert_eq!(ClaimAnswer::decode(&a.encode()), Ok(a));
    }
    for a in [
        WorkAnswer::Done(()),
        WorkAnswer::Refused(WorkRefusal::AlreadyReported),
    ] {
        assert_eq!(WorkAnswer::decode(&a.encode()), Ok(a));
    }
    assert_eq!(WorkAnswer::Done(()).encode(), vec![0]);
    let work = WorkRequest {
        epoch: 9,
        packets: 1234,
        replica_registrations: 3,
    };
    assert_eq!(WorkRequest::decode(&work.encode()), Ok(work));
    let bytes = work.encode();
    for cut in 0..bytes.len() {
        assert!(WorkRequest::decode(&bytes[..cut]).is_err(), "{cut} bytes");
    }
    let issued = IssueAnswer::Done(IssuanceResponse {
        blind_signatures: vec![[5; 256]; 3],
    });
    assert_eq!(IssueAnswer::decode(&issued.encode()), Ok(issued));
    let refused = IssueAnswer::Refused(IssueRefusal::QuotaExhausted);
    assert_eq!(IssueAnswer::decode(&refused.encode()), Ok(refused));
    assert_eq!(decode_epoch(&7u64.to_be_bytes()), Ok(7));
    assert_eq!(decode_epoch(&[0; 9]), Err(WireError::TrailingBytes));
}

proptest! {
    #[test]
    fn decoding_arbitrary_bytes_never_panics_and_what_it_accepts_is_canonical(
        bytes in proptest::collection::vec(any::<u8>(), 0..1200)
    ) {
        if let Ok(r) = CreditRequest::decode(&bytes) { prop_assert_eq!(r.encode(), bytes.clone()); }
        if let Ok(a) = CreditAnswer::decode(&bytes) { prop_assert_eq!(a.encode(), bytes.clone()); }
        if let Ok(r) = Redeemed::decode(&bytes) { prop_assert_eq!(r.encode(), bytes.clone()); }
        if let Ok(a) = ClaimAnswer::decode(&bytes) { prop_assert_eq!(a.encode(), bytes.clone()); }
        if let Ok(a) = WorkAnswer::decode(&bytes) { prop_assert_eq!(a.encode(), bytes.clone()); }
        if let Ok(a) = IssueAnswer::decode(&bytes) { prop_assert_eq!(a.encode(), bytes.clone()); }
        if let Ok(w) = WorkRequest::decode(&bytes) { prop_assert_eq!(w.encode().to_vec(), bytes.clone()); }
        if let Ok(e) = decode_epoch(&bytes) { prop_assert_eq!(e.to_be_bytes().to_vec(), bytes.clone()); }
        let _ = decode_keys_answer(&bytes);
        if let Ok(tokens) = decode_redeem_request(&bytes) {
            let tokens: Vec<Token> = tokens.into_iter().filter_map(Result::ok).collect();
            prop_assert!(tokens.len() <= MAX_REDEEM_BATCH);
        }
    }

    #[test]
    fn messages_round_trip(
        balance in any::<u64>(), dropped in any::<u64>(), epoch in any::<u64>(),
        packets in any::<u64>(), accepted in any::<u32>(), seed in any::<u8>(),
        refused in proptest::collection::vec((any::<u16>(), 0usize..12), 0..50),
        code in any::<u8>(),
    ) {
        let all = spend_refusals();
        let answer = CreditAnswer::Balance { balance, dropped };
        prop_assert_eq!(CreditAnswer::decode(&answer.encode()), Ok(answer));
        let spend = CreditRequest::Spend(Box::new(token(seed)));
        prop_assert_eq!(CreditRequest::decode(&spend.encode()), Ok(spend));
        let work = WorkRequest { epoch, packets, replica_registrations: packets / 7 };
        prop_assert_eq!(WorkRequest::decode(&work.encode()), Ok(work));
        prop_assert_eq!(ClaimAnswer::decode(&ClaimAnswer::Done(epoch).encode()), Ok(ClaimAnswer::Done(epoch)));
        let redeemed = Redeemed {
            accepted,
            refused: refused.iter().map(|(i, r)| (*i, all[*r % all.len()])).collect(),
        };
        prop_assert_eq!(Redeemed::decode(&redeemed.encode()), Ok(redeemed));
        if let Some(r) = ClaimRefusal::from_code(code) {
            prop_assert_eq!(ClaimAnswer::decode(&ClaimAnswer::Refused(r).encode()), Ok(ClaimAnswer::Refused(r)));
        }
    }
}
