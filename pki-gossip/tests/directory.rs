//! Directory merge, expiry, digest and topology.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use proptest::prelude::*;
use wesh_pki::params::LAYERS;
use wesh_pki::{Descriptor, Directory, NodeId, Role};

fn id(n: u64) -> NodeId {
    NodeId(identity(n).verifying_key().to_bytes())
}

fn network(mixes: u64, providers: u64, epoch: u64) -> Vec<Descriptor> {
    let mut all: Vec<Descriptor> = (0..mixes).map(|n| mix(n, 1, epoch)).collect();
    all.extend((1000..1000 + providers).map(|n| provider(n, 1, epoch)));
    all
}

fn load(descriptors: &[Descriptor], now: u64) -> Directory {
    let mut d = directory();
    for descriptor in descriptors {
        d.insert(descriptor.as_bytes(), now).unwrap();
    }
    d
}

#[test]
fn a_node_that_stops_publishing_expires() {
    let mut d = directory();
    d.insert(mix(1, 1, 10).as_bytes(), mid(10)).unwrap();
    d.insert(mix(2, 1, 10).as_bytes(), mid(10)).unwrap();
    // Node 2 keeps publishing; node 1 goes silent after epoch 10.
    d.insert(mix(2, 2, 11).as_bytes(), mid(11)).unwrap();
    d.insert(mix(2, 3, 12).as_bytes(), mid(12)).unwrap();
    assert!(
        d.topology(11).layer_of(&id(1)).is_some(),
        "still valid in its second epoch"
    );
    assert!(d.expire(mid(11)).is_empty());
    assert!(
        d.topology(12).layer_of(&id(1)).is_none(),
        "not routable past expiry"
    );
    assert_eq!(d.expire(mid(12)), vec![id(1)]);
    assert!(d.get(&id(1)).is_none());
    assert!(d.get(&id(2)).is_some());
}

#[test]
fn topology_lists_keys_for_the_requested_epoch() {
    let d = load(&network(6, 2, 10), mid(10));
    for epoch in [10, 11] {
        let topology = d.topology(epoch);
        assert!(topology.is_routable());
        assert_eq!(topology.layers.len(), LAYERS);
        assert_eq!(
            topology.layers.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![2, 2, 2]
        );
        assert_eq!(topology.providers.len(), 2);
        for node in topology.layers.iter().flatten() {
            let n = (0..6).find(|n| id(*n) == node.identity).unwrap();
            assert_eq!(node.sphinx_key, sphinx_public(n, epoch));
            assert_eq!(node.capacity_pps, 1_000);
        }
    }
    assert!(!d.topology(12).is_routable());
}

#[test]
fn layers_are_balanced_for_many_sizes() {
    for mixes in [1u64, 4, 10, 31] {
        let topology = load(&network(mixes, 1, 10), mid(10)).topology(10);
        let sizes: Vec<usize> = topology.layers.iter().map(Vec::len).collect();
        let spread = sizes.iter().max().unwrap() - sizes.iter().min().unwrap();
        assert!(spread <= 1, "{mixes} mixes gave {sizes:?}");
        assert_eq!(sizes.iter().sum::<usize>() as u64, mixes);
    }
}

#[test]
fn a_node_cannot_choose_its_layer_through_its_descriptor() {
    // Everything a node signs besides its identity (addresses, capacity, sequence,
    // Sphinx keys) leaves its layer unchanged.
    let base = network(12, 1, 10);
    let baseline = load(&base, mid(10)).topology(10).layer_of(&id(3));
    for variant in [
        routing_builder(3, Role::Mix, 2, 10)
            .capacity_pps(9_999)
            .sign(&identity(3))
            .unwrap(),
        routing_builder(3, Role::Mix, 3, 10)
            .address("/dns/other.example/tcp/1")
            .sign(&identity(3))
            .unwrap(),
    ] {
        let mut d = load(&base, mid(10));
        d.insert(variant.as_bytes(), mid(10)).unwrap();
        assert_eq!(d.topology(10).layer_of(&id(3)), baseline);
    }
    // But its layer does change with the epoch randomness, which it does not control.
    let layers: std::collections::BTreeSet<usize> = (0..30u8)
        .filter_map(|r| {
            let mut d = load(&base, mid(10));
            d.set_epoch_randomness(10, [r; 32]);
            d.topology(10).layer_of(&id(3))
        })
        .collect();
    assert_eq!(layers.len(), LAYERS);
}

#[test]
fn digest_changes_with_content_and_epoch() {
    let all = network(5, 1, 10);
    let d = load(&all, mid(10));
    let smaller = load(&all[1..], mid(10));
    assert_ne!(d.digest(10), smaller.digest(10));
    assert_ne!(d.digest(10), d.digest(11));
    assert_eq!(directory().digest(10), directory().digest(10));
    assert_ne!(d.digest(10), directory().digest(10));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Any insertion order, including re-gossip and superseded sequences, yields
    /// the same digest and the same topology.
    #[test]
    fn insertion_order_does_not_matter(
        order in Just((0usize..14).collect::<Vec<_>>()).prop_shuffle(),
        dupes in proptest::collection::vec(0usize..14, 0..6),
    ) {
        let mut descriptors = network(9, 2, 10);
        descriptors.push(mix(0, 2, 10));  // supersedes mix(0, 1, 10)
        descriptors.push(mix(1, 2, 11));  // newer epoch for node 1
        descriptors.push(provider(1000, 5, 10));
        let reference = {
            let mut d = directory();
            for desc in &descriptors {
                let _ = d.insert(desc.as_bytes(), mid(10));
            }
            d
        };
        let mut shuffled = directory();
        for i in order.iter().chain(dupes.iter()) {
            if let Some(desc) = descriptors.get(*i) {
                let _ = shuffled.insert(desc.as_bytes(), mid(10));
            }
        }
        for epoch in [10, 11] {
            prop_assert_eq!(reference.digest(epoch), shuffled.digest(epoch));
            prop_assert_eq!(reference.topology(epoch), shuffled.topology(epoch));
        }
        prop_assert_eq!(reference.len(), 11);
    }
}
