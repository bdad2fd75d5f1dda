//! The plaintext of a group entry (`Payload::decode`: member, secret, alias, mailbox and
//! message records), read after a member opens an entry. Asserts: a decoded payload
//! re-encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wesh_client::payload::Payload;
use wesh_fuzz::assert_canonical;

fuzz_target!(|data: &[u8]| {
    assert_canonical(data, Payload::decode, Payload::encode);
});
