//! A SURB-ack and a reply SURB off the wire (`SurbAck::decode_prefix`,
//! `ReplySurb::from_bytes`), and the packet a provider builds on one (`into_packet`).
//! Asserts: the prefix re-encodes to the bytes it was read from, and a packet built on an
//! accepted SURB is a full-size packet.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wesh_mix::params::PACKET_BYTES;
use wesh_mix::{ReplySurb, SurbAck};

fuzz_target!(|data: &[u8]| {
    if let Ok((ack, rest)) = SurbAck::decode_prefix(data) {
        let mut out = Vec::new();
        ack.encode_into(&mut out);
        assert_eq!(out.as_slice(), &data[..data.len() - rest.len()]);
        if let Ok((_, packet)) = ack.into_packet() {
            assert_eq!(packet.len(), PACKET_BYTES);
        }
    }
    if let Ok(surb) = ReplySurb::from_bytes(data) {
        assert_eq!(surb.as_bytes(), data);
        if let Ok((_, packet)) = surb.into_packet(b"reply") {
            assert_eq!(packet.len(), PACKET_BYTES);
        }
    }
});
