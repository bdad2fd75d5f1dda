//! An epoch's reward split as the issuer stores it and serves it to relays
//! (`decode_rewards`). Asserts: a decoded record re-encodes to the same bytes (entries are
//! kept sorted, so a record with nodes out of order or repeated is refused).
#![no_main]

use libfuzzer_sys::fuzz_target;
use wesh_fuzz::assert_canonical;
use wesh_payments::{decode_rewards, encode_rewards};

fuzz_target!(|data: &[u8]| {
    assert_canonical(data, decode_rewards, encode_rewards);
});
