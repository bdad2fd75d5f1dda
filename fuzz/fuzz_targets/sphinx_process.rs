//! A received Sphinx frame as a mix or provider processes it (`MixProcessor::process`):
//! header parse, MAC check, replay tag, payload unwrap. Two modes: the raw bytes as a
//! frame, and a valid packet built to this node from the input and then damaged at one
//! place, so the fuzzer reaches the code behind the MAC. Asserts: a forward is always a
//! full-size packet; no frame is accepted twice (replay); an intact packet reaches its
//! final hop with its destination and plaintext unchanged, or is forwarded to the right
//! next hop; only a damaged packet is refused.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use std::time::Duration;
use wesh_fuzz::rng;
use wesh_mix::params::{MAX_PLAINTEXT_BYTES, PACKET_BYTES};
use wesh_mix::{MixProcessor, NodeId, Processed, RouteNode, build_packet};
use x25519_dalek::{PublicKey, StaticSecret};

struct Keys {
    secret: StaticSecret,
    me: RouteNode,
    next: RouteNode,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let secret = StaticSecret::from([7u8; 32]);
        let next_secret = StaticSecret::from([9u8; 32]);
        Keys {
            me: RouteNode {
                id: NodeId([1; 32]),
                sphinx_key: PublicKey::from(&secret),
            },
            next: RouteNode {
                id: NodeId([2; 32]),
                sphinx_key: PublicKey::from(&next_secret),
            },
            secret,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let k = keys();
    let mut processor = MixProcessor::new(1, k.secret.clone());
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        // Raw frame: whatever it is, a forward is a full-size packet.
        if let Ok(Processed::Forward { packet, .. }) = processor.process(rest) {
            assert_eq!(packet.len(), PACKET_BYTES);
        }
        // The same frame again is a replay (or still refused).
        assert!(processor.process(rest).is_err());
        return;
    }
    // Built mode: [hops-1, flip position u16, flip mask, plaintext...]
    let [hops, p0, p1, mask, plaintext @ ..] = rest else {
        return;
    };
    let plaintext = &plaintext[..plaintext.len().min(MAX_PLAINTEXT_BYTES)];
    let two_hops = hops & 1 == 1;
    let route: Vec<RouteNode> = if two_hops {
        vec![k.me.clone(), k.next.clone()]
    } else {
        vec![k.me.clone()]
    };
    let delays = vec![Duration::from_millis(u64::from(*hops)); route.len()];
    let destination = NodeId([3; 32]);
    let Ok(mut packet) = build_packet(
        &mut rng(u64::from(*hops)),
        &route,
        destination,
        plaintext,
        &delays,
    ) else {
        return;
    };
    let flip = usize::from(u16::from_be_bytes([*p0, *p1])) % PACKET_BYTES;
    let damaged = *mask != 0;
    if let Some(b) = packet.get_mut(flip) {
        *b ^= *mask;
    }
    match processor.process(&packet) {
        Ok(Processed::Final {
            destination: d,
            plaintext: p,
        }) => {
            assert!(!two_hops, "a two-hop packet ended at its first hop");
            if !damaged {
                assert_eq!(d, destination);
                assert_eq!(p.as_slice(), plaintext, "plaintext changed on the way");
            }
        }
        Ok(Processed::Forward {
            next_hop, packet, ..
        }) => {
            assert!(two_hops || damaged, "a one-hop packet was forwarded");
            assert_eq!(packet.len(), PACKET_BYTES);
            if !damaged {
                assert_eq!(next_hop, k.next.id);
            }
        }
        Err(e) => assert!(damaged, "an intact packet was refused: {e:?}"),
    }
});
