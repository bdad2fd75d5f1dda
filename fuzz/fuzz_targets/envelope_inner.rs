//! What a sealed box holds once opened (`messenger::envelope::Inner::decode`: group
//! entries or a handshake message with its reply address). Asserts: a decoded inner
//! envelope re-encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wesh_client::messenger::envelope::Inner;
use wesh_fuzz::assert_canonical;

fuzz_target!(|data: &[u8]| {
    assert_canonical(data, Inner::decode, Inner::encode);
});
