//! Reply SURBs carrying data: a client makes reply blocks for a provider, the provider
//! sends a message on them, the packets cross five hops and the client reassembles it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

#[allow(unused_imports)]
use common::keys;
use common::{client, net};
use std::time::Duration;
use wesh_mix::params::{FRAGMENT_DATA_BYTES, PACKET_BYTES, REPLY_SURB_BYTES};
use wesh_mix::*;

#[test]
fn a_message_on_reply_surbs_reaches_their_creator_once() {
    let mut n = net(2);
    let creator = client(2, 101);
    let holder = NodeId([1; 32]);
    let mut core = common::traffic(2, 101, ClientTrafficConfig::default(), [5; 32]);
    let surbs = core
        .reply_surbs(Duration::ZERO, &n.topology, holder, 3)
        .unwrap();
    assert_eq!(surbs.len(), 3);
    // what the holder receives is bytes: they parse back, and garbage does not
    let mut held: Vec<ReplySurb> = surbs
        .iter()
        .map(|s| ReplySurb::from_bytes(&s.to_bytes()).unwrap())
        .collect();
    assert_eq!(held[0].to_bytes().len(), REPLY_SURB_BYTES);
    assert!(ReplySurb::from_bytes(&held[0].to_bytes()[1..]).is_err());
    // the block does not name its creator: its seal key is not the creator's identity key
    let block = held[0].to_bytes();
    let identity = seal_key_of(&creator.client).unwrap();
    assert!(!block.windows(32).any(|w| w == identity));
    assert!(!block.windows(32).any(|w| w == creator.client.as_bytes()));
    // (random bytes of the right length parse: a forged SURB builds a packet that the
    // first mix drops on its MAC, like any garbage)

    // a message of two fragments takes two SURBs and arrives whole
    let message: Vec<u8> = (0..FRAGMENT_DATA_BYTES + 10).map(|i| i as u8).collect();
    assert_eq!(surbs_needed(message.len()), 2);
    let mut rng = <rand_chacha::ChaCha20Rng as rand::SeedableRng>::seed_from_u64(9);
    let packets = reply_packets(&mut rng, &message, &mut held).unwrap();
    assert_eq!((packets.len(), held.len()), (2, 1));
    let mut received = Vec::new();
    for (first_hop, packet) in packets.clone() {
        assert_eq!(first_hop, holder, "a SURB starts at its holder");
        assert_eq!(packet.len(), PACKET_BYTES, "a reply looks like any packet");
        let (at, delivered) = common::walk(&mut n, first_hop, packet);
        let (destination, plaintext) = delivered.unwrap();
        assert_eq!((at, destination), (creator.provider, creator.client));
        // the creator's provider stores it like any payload, and fires its (cover) slot
        assert!(provider_ack::storable(&plaintext));
        let mut prng = <rand_chacha::ChaCha20Rng as rand::SeedableRng>::seed_from_u64(4);
        assert!(ack_after_store(&at, &mut prng, &plaintext).is_ok());
        received.extend(core.on_received(&plaintext, Duration::from_secs(1)));
    }
    assert_eq!(received.len(), 1);
    let Some(ClientEvent::MessageReceived { bytes, .. }) = received.pop() else {
        panic!("no message");
    };
    assert_eq!(bytes, message);

    // single use: the same packet again dies at the first mix (replay filter)
    let (first_hop, packet) = packets[0].clone();
    let replayed = matches!(
        common::walk(&mut n, first_hop, packet).1,
        Err(DropReason::Replay)
    );
    assert!(replayed, "a used SURB must not carry a second packet");

    // not enough SURBs: refused, nothing used
    let mut one = held;
    assert!(matches!(
        reply_packets(&mut rng, &message, &mut one),
        Err(BuildError::NotEnoughSurbs { need: 2, have: 1 })
    ));
    assert_eq!(one.len(), 1);
}
