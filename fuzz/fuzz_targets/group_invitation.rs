//! A group invitation (`invitation::decode_invitation`: group key, secret, signatures).
//! Asserts: an accepted invitation re-encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wesh_client::invitation::{decode_invitation, encode_invitation};
use wesh_fuzz::assert_canonical;

fuzz_target!(|data: &[u8]| {
    assert_canonical(data, decode_invitation, encode_invitation);
});
