//! Encoding: round trips, canonical form, and no panics on arbitrary input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use proptest::prelude::*;
use wesh_pki::{Descriptor, DescriptorBuilder, PkiParams, Role};

#[test]
fn descriptor_round_trips_and_documented_size_holds() {
    let built = mix(1, 3, 10);
    let decoded = Descriptor::decode_verified(built.as_bytes()).unwrap();
    assert_eq!(decoded, built);
    assert_eq!(
        decoded.content().sphinx_key_for(11),
        Some(sphinx_public(1, 11))
    );
    // spec/pki.md §2: 211 bytes + (1 + len) per address.
    let address_len = built.content().addresses[0].len();
    assert_eq!(built.as_bytes().len(), 211 + 1 + address_len);
    assert_eq!(&built.as_bytes()[..2], &[2, 1]);
}

#[test]
fn largest_descriptor_fits_the_limit() {
    let mut builder = DescriptorBuilder::new(Role::Mix, u64::MAX, 10)
        .capacity_pps(u32::MAX)
        .sphinx_key(10, sphinx_public(1, 10))
        .sphinx_key(11, sphinx_public(1, 11));
    for i in 0..4 {
        builder = builder.address(format!("/dns/{i}{}", "a".repeat(194)));
    }
    let descriptor = builder.sign(&identity(1)).unwrap();
    assert_eq!(descriptor.as_bytes().len(), 1015);
    assert!(descriptor.as_bytes().len() <= wesh_pki::params::MAX_DESCRIPTOR_BYTES);
}

#[test]
fn builder_sorts_keys_into_canonical_order() {
    let a = routing_builder(1, Role::Mix, 1, 10)
        .sign(&identity(1))
        .unwrap();
    let b = DescriptorBuilder::new(Role::Mix, 1, 10)
        .capacity_pps(1_000)
        .address(a.content().addresses[0].clone())
        .sphinx_key(11, sphinx_public(1, 11))
        .sphinx_key(10, sphinx_public(1, 10))
        .sign(&identity(1))
        .unwrap();
    assert_eq!(a.as_bytes(), b.as_bytes());
}

#[test]
fn params_validation() {
    assert!(PkiParams::default().validate().is_ok());
    assert!(PkiParams::with_epoch_length(0).is_err());
    assert!(
        PkiParams {
            view_confirm_percent: 0,
            ..PkiParams::default()
        }
        .validate()
        .is_err()
    );
    assert!(
        PkiParams {
            grace_period_secs: 3_600,
            ..PkiParams::default()
        }
        .validate()
        .is_err()
    );
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2100)) {
        let mut d = directory();
        prop_assert!(d.insert(&bytes, mid(10)).is_err());
        let _ = wesh_pki::EquivocationProof::from_bytes(&bytes);
    }

    #[test]
    fn single_byte_mutations_never_yield_a_different_valid_descriptor(
        index in 0usize..300, flip in 1u8..=255,
    ) {
        let original = mix(1, 1, 10);
        let mut bytes = original.as_bytes().to_vec();
        let index = index % bytes.len();
        bytes[index] ^= flip;
        prop_assert!(Descriptor::decode_verified(&bytes).is_err());
    }

    #[test]
    fn content_round_trips(
        sequence in any::<u64>(), epoch in 0u64..1_000_000, capacity in 1u32..,
        port in 1u16.., addresses in 1usize..=4,
    ) {
        let mut builder = DescriptorBuilder::new(Role::Provider, sequence, epoch)
            .capacity_pps(capacity)
            .sphinx_key(epoch, sphinx_public(2, epoch))
            .sphinx_key(epoch + 1, sphinx_public(2, epoch + 1));
        for i in 0..addresses {
            builder = builder.address(format!("/ip6/2001:db8::{i}/udp/{port}/quic-v1"));
        }
        let built = builder.sign(&identity(2)).unwrap();
        let decoded = Descriptor::decode_verified(built.as_bytes()).unwrap();
        prop_assert_eq!(decoded.content(), built.content());
    }
}

#[test]
fn signature_is_domain_separated() {
    use ed25519_dalek::Signer;
    // The same body signed without the domain prefix must not verify.
    let honest = mix(1, 1, 10);
    let raw_signature = identity(1).sign(honest.signed_body());
    let mut bytes = honest.signed_body().to_vec();
    bytes.extend_from_slice(&raw_signature.to_bytes());
    let undomained = Descriptor::decode(&bytes).unwrap();
    assert!(undomained.verify().is_err());
    assert!(honest.verify().is_ok());
    let mut prefixed = wesh_pki::params::DESCRIPTOR_SIGNING_DOMAIN.to_vec();
    prefixed.extend_from_slice(honest.signed_body());
    assert_eq!(
        identity(1).sign(&prefixed).to_bytes().as_slice(),
        &honest.as_bytes()[honest.signed_body().len()..]
    );
}
