//! What a rendezvous desk reads through the mixnet (`RendezvousFrame::decode`: a
//! responder's update with its reply SURBs, a drop, a forward). Asserts: a decoded frame
//! re-encodes to the same bytes and `is_frame` agrees with the decoder.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wesh_client::messenger::rendezvous_wire::RendezvousFrame;
use wesh_fuzz::assert_canonical;

fuzz_target!(|data: &[u8]| {
    if assert_canonical(data, RendezvousFrame::decode, RendezvousFrame::encode).is_some() {
        assert!(RendezvousFrame::is_frame(data));
    }
});
