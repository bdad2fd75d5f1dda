//! The Sphinx key ring a relay reloads at start (`SphinxKeyRing::from_bytes`). Asserts: a
//! ring that loads writes back the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wesh_pki::{EpochClock, SphinxKeyRing};

fuzz_target!(|data: &[u8]| {
    let Ok(clock) = EpochClock::new(0, 3600) else {
        return;
    };
    if let Ok(ring) = SphinxKeyRing::from_bytes(clock, 600, data) {
        assert_eq!(ring.to_bytes().as_slice(), data);
    }
});
