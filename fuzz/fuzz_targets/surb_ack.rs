//! SURB-ack slots and reply blocks off the wire (`AckSlot::decode_prefix`, `slot_of`,
//! `ReplySurb::from_bytes`), and the packets a provider builds on them (`AckSlot::fire`,
//! `ack_after_store`, `ReplySurb::into_packet`). Asserts: a slot re-encodes to the bytes it
//! was read from, a block to its bytes, and every packet built is a full-size packet whose
//! first hop is the provider that fired it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wesh_mix::params::PACKET_BYTES;
use wesh_mix::{AckSlot, MixPayload, NodeId, ReplySurb, ack_after_store};

fuzz_target!(|data: &[u8]| {
    let me = NodeId([1; 32]);
    let mut rng = wesh_fuzz::rng(data.len() as u64);
    if let Ok((slot, rest)) = AckSlot::decode_prefix(data) {
        let mut out = Vec::new();
        slot.encode_into(&mut out);
        assert_eq!(out.as_slice(), &data[..data.len() - rest.len()]);
        if let Ok((first_hop, packet)) = slot.fire(&me, &mut rng) {
            assert_eq!((first_hop, packet.len()), (me, PACKET_BYTES));
        }
    }
    if let Ok(fired) = ack_after_store(&me, &mut rng, data) {
        assert_eq!((fired.first_hop, fired.packet.len()), (me, PACKET_BYTES));
    }
    if let Ok(surb) = ReplySurb::from_bytes(data) {
        assert_eq!(surb.to_bytes(), data);
        if let Ok((_, packet)) = surb.into_packet(&mut rng, &MixPayload::Loop { id: 1 }) {
            assert_eq!(packet.len(), PACKET_BYTES);
        }
    }
});
