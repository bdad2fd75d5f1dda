//! Every decoder returns a typed error (never panics) on arbitrary bytes, and the ratchet
//! opens any permutation of messages that stays within its window.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use wesh_client::crypto::SecretKey32;
use wesh_client::identity::ContactCard;
use wesh_client::invitation::decode_invitation;
use wesh_client::params::RATCHET_WINDOW;
use wesh_client::payload::Payload;
use wesh_client::ratchet::{RatchetContext, RatchetSalt, ReceivingChain, SendingChain};
use wesh_client::replication::ReplicationView;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn decoders_reject_garbage(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        // Structures with a signature or a fixed tag cannot be satisfied by random bytes.
        prop_assert!(decode_invitation(&bytes).is_err());
        prop_assert!(ReplicationView::decode(&bytes).is_err());
        // Unsigned structures must either fail or re-encode to exactly the same bytes.
        if let Ok(card) = ContactCard::decode(&bytes) {
            prop_assert_eq!(card.encode(), bytes.clone());
        }
        if let Ok(p) = Payload::decode(&bytes) {
            prop_assert_eq!(p.encode(), bytes);
        }
    }

    #[test]
    fn payload_round_trips(tag in 1u8..=5, fill in any::<u8>(), counter in any::<u64>(), len in 16usize..64) {
        let b32 = [fill; 32];
        let p = match tag {
            1 => Payload::InitMember { member_id: b32, group_sig: [fill; 64] },
            2 => Payload::Member { member_id: b32, device_id: b32, member_sig: [fill; 64] },
            3 => Payload::Secret { sender_device: b32, receiver_member: b32, nonce: [fill; 12], sealed_chain: [fill; 56] },
            4 => Payload::Alias { member_id: b32, resolver: b32, proof: [fill; 64] },
            _ => Payload::Message { device_id: b32, counter, sealed: vec![fill; len], device_sig: [fill; 64] },
        };
        let bytes = p.encode();
        prop_assert_eq!(Payload::decode(&bytes).unwrap(), p);
        for cut in 0..bytes.len() {
            prop_assert!(Payload::decode(&bytes[..cut]).is_err());
        }
    }

    #[test]
    fn ratchet_opens_any_order_within_window(seed in any::<u64>(), n in 1usize..60) {
        let ctx = RatchetContext { salt: RatchetSalt([seed as u8; 64]), group_id: seed.to_be_bytes().repeat(4).try_into().unwrap() };
        let ck = SecretKey32::from_bytes([(seed >> 8) as u8; 32]);
        let mut sender = SendingChain::new(ck.clone(), 0, ctx.clone());
        let keys: Vec<[u8; 32]> = (0..n).map(|_| *sender.next_message_key().unwrap().1.expose()).collect();
        let mut order: Vec<usize> = (0..n).collect();
        let mut s = seed;
        for i in (1..n).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            order.swap(i, (s >> 33) as usize % (i + 1));
        }
        let mut receiver = ReceivingChain::new(ck, 0, ctx);
        for &i in &order {
            let k = receiver.with_message_key(i as u64, |k| Ok(*k.expose())).unwrap();
            prop_assert_eq!(k, keys[i]);
        }
        prop_assert_eq!(receiver.skipped_len(), 0);
        // Every key was used once: none can be obtained again.
        for i in 0..n {
            prop_assert!(receiver.with_message_key(i as u64, |_| Ok(())).is_err());
        }
        prop_assert!(receiver.with_message_key(n as u64 + RATCHET_WINDOW, |_| Ok(())).is_err());
    }
}
