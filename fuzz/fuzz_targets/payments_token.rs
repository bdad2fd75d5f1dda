//! A spent token as a provider or the issuer reads it (`codec::decode_token`). Asserts: a
//! decoded token re-encodes to the same bytes, which are exactly `TOKEN_BYTES`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wesh_fuzz::assert_canonical;
use wesh_payments::codec::{decode_token, encode_token};
use wesh_payments::params::TOKEN_BYTES;

fuzz_target!(|data: &[u8]| {
    if assert_canonical(data, decode_token, encode_token).is_some() {
        assert_eq!(data.len(), TOKEN_BYTES);
    }
});
