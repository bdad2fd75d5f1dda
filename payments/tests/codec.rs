//! Canonical encodings: round trips, strictness, and no panic on arbitrary bytes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use wesh_payments::params::{TOKEN_BYTES, TOKEN_TYPE_BLIND_RSA};
use wesh_payments::*;

fn sample_token() -> Token {
    Token {
        token_type: TOKEN_TYPE_BLIND_RSA,
        nonce: [1; 32],
        challenge_digest: [2; 32],
        token_key_id: TokenKeyId([3; 32]),
        authenticator: [4; 256],
    }
}

#[test]
fn token_layout_is_byte_exact() {
    let bytes = encode_token(&sample_token());
    assert_eq!(bytes.len(), TOKEN_BYTES);
    assert_eq!(bytes.len(), 354);
    assert_eq!(&bytes[..2], &[0x00, 0x02]);
    assert!(bytes[2..34].iter().all(|b| *b == 1));
    assert!(bytes[34..66].iter().all(|b| *b == 2));
    assert!(bytes[66..98].iter().all(|b| *b == 3));
    assert!(bytes[98..].iter().all(|b| *b == 4));
    assert_eq!(decode_token(&bytes).unwrap(), sample_token());
}

#[test]
fn every_short_prefix_is_truncated() {
    let bytes = encode_token(&sample_token());
    for len in 0..bytes.len() {
        let r = decode_token(&bytes[..len]);
        // A 1-byte prefix cannot even hold the type.
        assert_eq!(r, Err(Refusal::Truncated), "len {len}");
    }
}

#[test]
fn requests_and_responses_round_trip_and_are_strict() {
    let req = IssuanceRequest {
        token_type: TOKEN_TYPE_BLIND_RSA,
        epoch: 0x0102_0304_0506_0708,
        truncated_key_id: 9,
        credential: Credential::Voucher([5; 32]),
        blinded: vec![[6; 256], [7; 256]],
    };
    let bytes = encode_request(&req);
    assert_eq!(bytes.len(), 2 + 8 + 1 + 1 + 32 + 2 + 2 * 256);
    assert_eq!(decode_request(&bytes).unwrap(), req);
    assert_eq!(
        decode_request(&bytes[..bytes.len() - 1]),
        Err(DecodeError::Truncated)
    );
    let mut long = bytes.clone();
    long.push(0);
    assert_eq!(decode_request(&long), Err(DecodeError::TrailingBytes));
    let mut bad_tag = bytes.clone();
    bad_tag[11] = 9;
    assert_eq!(
        decode_request(&bad_tag),
        Err(DecodeError::UnknownCredential(9))
    );

    let resp = IssuanceResponse {
        blind_signatures: vec![[8; 256]],
    };
    let bytes = encode_response(&resp);
    assert_eq!(decode_response(&bytes).unwrap(), resp);
    assert_eq!(
        decode_response(&[0xff, 0xff]),
        Err(DecodeError::BadCount(65535))
    );
}

proptest! {
    #[test]
    fn decoders_never_panic_and_accepted_input_is_canonical(bytes in proptest::collection::vec(any::<u8>(), 0..700)) {
        if let Ok(t) = decode_token(&bytes) {
            prop_assert_eq!(encode_token(&t), bytes.clone());
        }
        if let Ok(r) = decode_request(&bytes) {
            prop_assert_eq!(encode_request(&r), bytes.clone());
        }
        if let Ok(r) = decode_response(&bytes) {
            prop_assert_eq!(encode_response(&r), bytes.clone());
        }
    }

    #[test]
    fn any_token_round_trips(nonce in any::<[u8; 32]>(), c in any::<[u8; 32]>(), k in any::<[u8; 32]>(), a in proptest::collection::vec(any::<u8>(), 256)) {
        let t = Token {
            token_type: TOKEN_TYPE_BLIND_RSA,
            nonce,
            challenge_digest: c,
            token_key_id: TokenKeyId(k),
            authenticator: a.try_into().unwrap(),
        };
        let bytes = encode_token(&t);
        prop_assert_eq!(decode_token(&bytes).unwrap(), t);
    }
}
