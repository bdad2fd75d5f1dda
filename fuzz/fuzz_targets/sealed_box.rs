//! A sealed box addressed to a device (`messenger::sealed_box::open_with`). Two modes: raw
//! bytes, and a real box sealed from the input with one byte damaged. Asserts: an intact
//! box opens to what was sealed, a damaged one never opens.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wesh_client::messenger::sealed_box::{open_with, seal_to};
use wesh_fuzz::{fixtures::parties, rng};

fuzz_target!(|data: &[u8]| {
    let me = &parties().responder;
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        let _ = open_with(me, rest);
        return;
    }
    let [at, mask, plaintext @ ..] = rest else {
        return;
    };
    let Ok(mut sealed) = seal_to(&mut rng(u64::from(*at)), &me.verifying_key(), plaintext) else {
        return;
    };
    let i = usize::from(*at) % sealed.len();
    sealed[i] ^= *mask;
    match open_with(me, &sealed) {
        Ok(opened) => {
            assert_eq!(*mask, 0, "a damaged box opened");
            assert_eq!(opened.as_slice(), plaintext);
        }
        Err(e) => assert!(*mask != 0, "an intact box did not open: {e:?}"),
    }
});
