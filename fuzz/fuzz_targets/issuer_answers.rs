//! What clients, providers and relays read from the issuer: the issue, claim and work
//! answers (`Answer::<T, R>::decode`), the keys answer (`decode_keys_answer`, which parses
//! RSA public keys) and a redemption verdict (`Redeemed::decode`). The first byte picks the
//! decoder. Asserts: each decoded answer re-encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wesh_fuzz::{assert_canonical, split_selector};
use wesh_payments::wire::issuer::{
    ClaimAnswer, IssueAnswer, Redeemed, WorkAnswer, decode_keys_answer, encode_keys_answer,
};

fuzz_target!(|data: &[u8]| {
    let Some((which, body)) = split_selector(data) else {
        return;
    };
    match which % 5 {
        0 => {
            assert_canonical(body, IssueAnswer::decode, IssueAnswer::encode);
        }
        1 => {
            assert_canonical(body, ClaimAnswer::decode, ClaimAnswer::encode);
        }
        2 => {
            assert_canonical(body, WorkAnswer::decode, WorkAnswer::encode);
        }
        3 => {
            assert_canonical(body, Redeemed::decode, Redeemed::encode);
        }
        _ => {
            assert_canonical(body, decode_keys_answer, |k| encode_keys_answer(k));
        }
    }
});
