//! `/wesh/pki-sync/1`: the request a relay reads (`decode_request`) and the answer a node
//! reads piece by piece (`AnswerReader`, fed exactly what it asks for, as the shell does).
//! Asserts: a request re-encodes to the same bytes; a complete answer re-encodes to the
//! bytes it was read from; the reader never asks for more than the input holds before
//! it has checked the length it read.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wesh_pki::params::MAX_DESCRIPTOR_BYTES;
use wesh_pki::sync_wire::{
    AnswerReader, SYNC_REQUEST_BYTES, decode_request, encode_answer, encode_request,
};

fuzz_target!(|data: &[u8]| {
    if let Some(req) = data.first_chunk::<SYNC_REQUEST_BYTES>() {
        if let Ok((epoch, digest)) = decode_request(req) {
            assert_eq!(&encode_request(epoch, digest), req);
        }
    }
    let mut reader = AnswerReader::default();
    let mut rest = data;
    while reader.wanted() > 0 {
        // a length is a u16 checked against the limit before it is asked for
        assert!(reader.wanted() <= MAX_DESCRIPTOR_BYTES.max(33));
        let Some((part, tail)) = rest.split_at_checked(reader.wanted()) else {
            return;
        };
        rest = tail;
        if reader.feed(part).is_err() {
            return;
        }
    }
    let Ok(answer) = reader.finish() else {
        panic!("a reader that wants nothing more did not finish");
    };
    let used = &data[..data.len() - rest.len()];
    assert_eq!(
        encode_answer(answer.digest, answer.descriptors.as_deref()),
        used
    );
});
