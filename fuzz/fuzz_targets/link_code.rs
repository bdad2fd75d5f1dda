//! A device link code (`DeviceLink::decode`), read from a file to make a new device of an
//! account. Asserts: a decoded code re-encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wesh_client::messenger::DeviceLink;
use wesh_fuzz::assert_canonical;

fuzz_target!(|data: &[u8]| {
    assert_canonical(data, DeviceLink::decode, |l| l.encode().to_vec());
});
