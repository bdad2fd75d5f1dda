//! One fragment of a reliable message (`Fragment::decode`). Asserts: what decodes is a
//! valid fragment and re-encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wesh_fuzz::assert_canonical;
use wesh_mix::Fragment;

fuzz_target!(|data: &[u8]| {
    if let Some(f) = assert_canonical(data, Fragment::decode, Fragment::encode) {
        assert!(f.validate().is_ok(), "decode accepted an invalid fragment");
    }
});
