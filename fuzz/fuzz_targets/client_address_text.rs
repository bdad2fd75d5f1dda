//! A client address as text (`provider:client`, hex), as read from a config file, the
//! command line or a peer: `ClientAddress::from_str`. Asserts: what parses prints back to
//! text that parses to the same address.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::str::FromStr;
use wesh_mix::ClientAddress;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(address) = ClientAddress::from_str(text) {
        let printed = address.to_string();
        assert_eq!(ClientAddress::from_str(&printed).ok(), Some(address));
        assert_eq!(printed, text.to_ascii_lowercase());
    }
});
