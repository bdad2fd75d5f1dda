//! Token issuance: the issuer reads an `IssuanceRequest` (`codec::decode_request`), a
//! client reads an `IssuanceResponse` (`codec::decode_response`). Asserts: both re-encode
//! to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wesh_fuzz::assert_canonical;
use wesh_payments::codec::{decode_request, decode_response, encode_request, encode_response};

fuzz_target!(|data: &[u8]| {
    assert_canonical(data, decode_request, encode_request);
    assert_canonical(data, decode_response, encode_response);
});
