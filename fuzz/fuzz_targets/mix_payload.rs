//! The plaintext a final hop finds in a Sphinx payload (`MixPayload::decode`, and the
//! provider's cheap `surb_ack_of` / `ack_after_store`). Asserts: a decoded payload
//! re-encodes to the same bytes, and `surb_ack_of` agrees with the full decode.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wesh_fuzz::assert_canonical;
use wesh_mix::params::PACKET_BYTES;
use wesh_mix::{MixPayload, ack_after_store};

fuzz_target!(|data: &[u8]| {
    let decoded = assert_canonical(data, MixPayload::decode, MixPayload::encode);
    let ack = MixPayload::surb_ack_of(data);
    if let Some(MixPayload::Fragment { ack: full, .. }) = &decoded {
        match &ack {
            Ok(Some(cheap)) => assert_eq!(cheap, full, "surb_ack_of differs from decode"),
            other => panic!("decode found a SURB-ack, surb_ack_of did not: {other:?}"),
        }
    }
    if let Ok(Some(packet)) = ack_after_store(data) {
        assert_eq!(packet.packet.len(), PACKET_BYTES);
    }
});
