//! The PKI core's directory and per-epoch keys drive the mix core: routes are built over
//! the topology the directory derives, and each node processes with the keys its key ring
//! installs, across an epoch rotation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ed25519_dalek::SigningKey;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use std::collections::HashMap;
use std::time::Duration;
use wesh_mix::{MixProcessor, NodeId, Processed, RouteNode, Topology, build_packet};
use wesh_pki::{EpochClock, OwnNode, PkiAction, PkiAgent, PkiParams, Role, SphinxKeyRing};
use x25519_dalek::{PublicKey, StaticSecret};

const EPOCH: u64 = 60;
const GRACE: u64 = 30;

struct Relay {
    agent: PkiAgent,
    processor: MixProcessor,
}

fn params() -> PkiParams {
    PkiParams {
        grace_period_secs: GRACE,
        ..PkiParams::with_epoch_length(EPOCH).unwrap()
    }
}

fn apply_keys(relay: &mut Relay, actions: &[PkiAction]) {
    for a in actions {
        if let PkiAction::InstallKeys(keys) = a {
            relay.processor.set_keys(
                keys.iter()
                    .map(|(e, s)| (*e, StaticSecret::from(**s)))
                    .collect(),
            );
        }
    }
}

fn mix_topology(t: &wesh_pki::Topology) -> Topology {
    let node = |n: &wesh_pki::RouteNode| RouteNode {
        id: NodeId(n.identity.0),
        sphinx_key: PublicKey::from(n.sphinx_key),
    };
    Topology::new(
        t.layers
            .iter()
            .map(|l| l.iter().map(node).collect())
            .collect(),
        t.providers.iter().map(node).collect(),
    )
    .unwrap()
}

/// Runs a packet hop by hop through the relays; returns the final destination.
fn deliver(relays: &mut HashMap<NodeId, Relay>, first: NodeId, packet: Vec<u8>) -> NodeId {
    let (mut at, mut packet) = (first, packet);
    loop {
        match relays
            .get_mut(&at)
            .unwrap()
            .processor
            .process(&packet)
            .unwrap()
        {
            Processed::Forward {
                next_hop,
                packet: next,
                ..
            } => {
                at = next_hop;
                packet = next;
            }
            Processed::Final { destination, .. } => return destination,
        }
    }
}

#[test]
fn routes_over_the_pki_topology_survive_a_rotation() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let start = 100 * EPOCH + 1;
    let mut relays: HashMap<NodeId, Relay> = HashMap::new();
    let mut gossip = Vec::new();
    for i in 0..8u8 {
        let signing_key = SigningKey::from_bytes(&[i + 1; 32]);
        let id = NodeId(signing_key.verifying_key().to_bytes());
        let role = if i < 6 { Role::Mix } else { Role::Provider };
        let ring = SphinxKeyRing::new(EpochClock::from_params(&params()).unwrap(), GRACE).unwrap();
        let own = OwnNode {
            signing_key,
            role,
            addresses: vec![format!("/ip4/127.0.0.1/tcp/{}", 5000 + u16::from(i))],
            capacity_pps: 100,
        };
        let agent = PkiAgent::relay(params(), own, ring, 0, start).unwrap();
        let mut relay = Relay {
            agent,
            processor: MixProcessor::new(u64::MAX, StaticSecret::from([0; 32])),
        };
        let actions = relay.agent.tick(start, &mut rng);
        apply_keys(&mut relay, &actions);
        gossip.extend(actions.iter().filter_map(|a| {
            if let PkiAction::Publish(b) = a {
                Some(b.clone())
            } else {
                None
            }
        }));
        relays.insert(id, relay);
    }
    for r in relays.values_mut() {
        for g in &gossip {
            r.agent.on_descriptor(g, start);
        }
    }
    let digest = relays.values().next().unwrap().agent.digest();
    assert!(
        relays.values().all(|r| r.agent.digest() == digest),
        "one directory everywhere"
    );
    let topology = mix_topology(&relays.values().next().unwrap().agent.topology());
    let providers: Vec<NodeId> = topology.providers().iter().map(|p| p.id).collect();

    // packets built in epoch 100, the last one just before the boundary
    let mut in_flight = Vec::new();
    for k in 0..20u32 {
        let route = topology
            .forward_route(&mut rng, &providers[0], &providers[1])
            .unwrap();
        let p = build_packet(
            &mut rng,
            &route,
            NodeId([9; 32]),
            &k.to_be_bytes(),
            &[Duration::from_millis(50); 5],
        )
        .unwrap();
        in_flight.push((route[0].id, p));
    }
    // every relay rotates into epoch 101 (previous key kept for the grace period)
    let boundary = 101 * EPOCH;
    let mut next_gossip = Vec::new();
    for r in relays.values_mut() {
        let actions = r.agent.tick(boundary, &mut rng);
        apply_keys(r, &actions);
        next_gossip.extend(actions.iter().filter_map(|a| {
            if let PkiAction::Publish(b) = a {
                Some(b.clone())
            } else {
                None
            }
        }));
    }
    for (first, p) in in_flight.drain(..) {
        assert_eq!(
            deliver(&mut relays, first, p),
            NodeId([9; 32]),
            "built before the rotation, delivered during grace"
        );
    }
    for r in relays.values_mut() {
        for g in &next_gossip {
            r.agent.on_descriptor(g, boundary);
        }
    }
    // routes over the new epoch's topology (layers re-drawn, new keys) work too
    let t2 = mix_topology(&relays.values().next().unwrap().agent.topology());
    for _ in 0..20 {
        let route = t2
            .forward_route(&mut rng, &providers[0], &providers[1])
            .unwrap();
        let p = build_packet(
            &mut rng,
            &route,
            NodeId([8; 32]),
            b"new epoch",
            &[Duration::ZERO; 5],
        )
        .unwrap();
        assert_eq!(deliver(&mut relays, route[0].id, p), NodeId([8; 32]));
    }
    // after the grace period the old keys are gone: a packet built for epoch 100 is refused
    let old_route = topology
        .forward_route(&mut rng, &providers[0], &providers[1])
        .unwrap();
    let late = build_packet(
        &mut rng,
        &old_route,
        NodeId([7; 32]),
        b"late",
        &[Duration::ZERO; 5],
    )
    .unwrap();
    for r in relays.values_mut() {
        let actions = r.agent.tick(boundary + GRACE, &mut rng);
        apply_keys(r, &actions);
    }
    let first = relays.get_mut(&old_route[0].id).unwrap();
    assert_eq!(
        first.processor.process(&late).unwrap_err(),
        wesh_mix::DropReason::BadMac
    );
}
