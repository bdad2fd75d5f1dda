//! `/wesh/credit/1`: a provider reads `CreditRequest::decode` (spend a token, balance),
//! a client reads `CreditAnswer::decode`. Asserts: both re-encode to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wesh_fuzz::assert_canonical;
use wesh_payments::wire::{CreditAnswer, CreditRequest};

fuzz_target!(|data: &[u8]| {
    assert_canonical(data, CreditRequest::decode, CreditRequest::encode);
    assert_canonical(data, CreditAnswer::decode, CreditAnswer::encode);
});
