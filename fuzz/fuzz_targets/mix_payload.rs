//! What a packet carries for its recipient: the payload inside the seal
//! (`MixPayload::decode`) and the stored payload around it (`open_delivery`, what a client
//! does with everything it pulls). Asserts: a decoded payload re-encodes to the same bytes,
//! and a stored payload that opens holds a payload that does too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wesh_fuzz::assert_canonical;
use wesh_mix::{ClientKeys, MixPayload, open_delivery};

fuzz_target!(|data: &[u8]| {
    assert_canonical(data, MixPayload::decode, MixPayload::encode);
    let keys = ClientKeys::from_ed25519_seed(&[7; 32]);
    if let Ok(payload) = open_delivery(&[&keys.identity, &keys.reply], data) {
        let again = payload.encode();
        assert_eq!(MixPayload::decode(&again).ok(), Some(payload));
    }
});
