//! An epoch's reward split as the issuer stores it and serves it to relays
//! (`decode_rewards`). Asserts: a decoded record of the current version re-encodes to the
//! same bytes (entries are kept sorted, so a record with nodes out of order or repeated is
//! refused); one of version 1 (before replication counted) re-encodes to a current record
//! that decodes to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wesh_fuzz::{assert_canonical, assert_stable};
use wesh_payments::{decode_rewards, encode_rewards};

fuzz_target!(|data: &[u8]| {
    if data.first() == Some(&1) {
        assert_stable(data, decode_rewards, encode_rewards);
    } else {
        assert_canonical(data, decode_rewards, encode_rewards);
    }
});
