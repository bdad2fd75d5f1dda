//! A contact card (account ID and rendezvous seed) as a user pastes it or the API receives
//! it (`ContactCard::decode`). Asserts: a decoded card re-encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wesh_client::identity::ContactCard;
use wesh_fuzz::assert_canonical;

fuzz_target!(|data: &[u8]| {
    assert_canonical(data, ContactCard::decode, ContactCard::encode);
});
