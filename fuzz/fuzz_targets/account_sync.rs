//! What a device of the same account sends to sync contacts and groups
//! (`AccountSync::decode`). Asserts: a decoded message re-encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wesh_client::messenger::account_sync::AccountSync;
use wesh_fuzz::assert_canonical;

fuzz_target!(|data: &[u8]| {
    assert_canonical(data, AccountSync::decode, AccountSync::encode);
});
