//! One test per rejection reason of `Directory::insert`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use wesh_pki::{
    CodecError, DescriptorBuilder, Directory, Inserted, NodeId, PkiParams, Rejection, Role,
};

fn reject(directory: &mut Directory, bytes: &[u8], now: u64) -> Rejection {
    directory.insert(bytes, now).expect_err("must be rejected")
}

#[test]
fn accepts_a_well_formed_mix() {
    let mut d = directory();
    assert_eq!(
        d.insert(mix(1, 1, 10).as_bytes(), mid(10)),
        Ok(Inserted::New)
    );
    assert_eq!(d.len(), 1);
}

#[test]
fn forged_signature_is_rejected() {
    let mut d = directory();
    let mut bytes = mix(1, 1, 10).as_bytes().to_vec();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    let rejection = reject(&mut d, &bytes, mid(10));
    assert_eq!(rejection, Rejection::BadSignature);
    assert_eq!(rejection.reason(), "bad_signature");

    // A body altered after signing (capacity field at offset 60) fails too.
    let mut bytes = mix(1, 1, 10).as_bytes().to_vec();
    bytes[63] ^= 0x01;
    assert_eq!(reject(&mut d, &bytes, mid(10)), Rejection::BadSignature);

    // A descriptor naming node 1 but signed by node 2.
    let honest = mix(1, 1, 10);
    let forged = mix(2, 1, 10);
    let mut spliced = honest.signed_body().to_vec();
    spliced.extend_from_slice(&forged.as_bytes()[forged.signed_body().len()..]);
    assert_eq!(reject(&mut d, &spliced, mid(10)), Rejection::BadSignature);
    assert!(d.is_empty());
}

#[test]
fn stale_epoch_is_rejected() {
    let mut d = directory();
    // Issued for epochs 10..=11; at epoch 12 it is stale, at 11 still fine.
    let rejection = reject(&mut d, mix(1, 1, 10).as_bytes(), mid(12));
    assert_eq!(
        rejection,
        Rejection::StaleEpoch {
            expiry: 11,
            current: 12
        }
    );
    assert_eq!(rejection.reason(), "stale_epoch");
    assert!(d.insert(mix(1, 1, 10).as_bytes(), mid(11)).is_ok());
}

#[test]
fn future_epoch_is_rejected() {
    let mut d = directory();
    // Tolerance is one epoch ahead: 11 at epoch 10 passes, 12 does not.
    let rejection = reject(&mut d, mix(1, 1, 12).as_bytes(), mid(10));
    assert_eq!(
        rejection,
        Rejection::FutureEpoch {
            issue: 12,
            current: 10
        }
    );
    assert_eq!(rejection.reason(), "future_epoch");
    assert!(d.insert(mix(1, 1, 11).as_bytes(), mid(10)).is_ok());
}

#[test]
fn oversized_input_is_rejected_before_parsing() {
    let mut d = directory();
    let mut bytes = mix(1, 1, 10).as_bytes().to_vec();
    bytes.resize(wesh_pki::params::MAX_DESCRIPTOR_BYTES + 1, 0);
    let rejection = reject(&mut d, &bytes, mid(10));
    assert_eq!(rejection, Rejection::Oversized { len: 2049 });
    assert_eq!(rejection.reason(), "oversized");
}

#[test]
fn builder_refuses_what_decode_would_refuse() {
    let too_many = (0..5).fold(DescriptorBuilder::new(Role::Mix, 1, 10), |b, i| {
        b.address(format!("/ip4/10.0.0.{i}/tcp/1"))
    });
    assert_eq!(
        too_many.sign(&identity(1)).unwrap_err(),
        CodecError::TooManyAddresses(5)
    );
    let long =
        DescriptorBuilder::new(Role::Mix, 1, 10).address(format!("/dns/{}", "a".repeat(200)));
    assert_eq!(
        long.sign(&identity(1)).unwrap_err(),
        CodecError::AddressLength(205)
    );
    let bad_char = DescriptorBuilder::new(Role::Mix, 1, 10).address("/ip4/1.2.3.4/tcp/1 ");
    assert_eq!(
        bad_char.sign(&identity(1)).unwrap_err(),
        CodecError::AddressSyntax
    );
    let low_order = DescriptorBuilder::new(Role::Mix, 1, 10).sphinx_key(10, [0u8; 32]);
    assert_eq!(
        low_order.sign(&identity(1)).unwrap_err(),
        CodecError::InvalidSphinxKey
    );
    let dup = DescriptorBuilder::new(Role::Mix, 1, 10)
        .address("/ip4/1.2.3.4/tcp/1")
        .address("/ip4/1.2.3.4/tcp/1");
    assert_eq!(
        dup.sign(&identity(1)).unwrap_err(),
        CodecError::DuplicateAddress
    );
}

#[test]
fn duplicate_is_rejected() {
    let mut d = directory();
    let descriptor = mix(1, 1, 10);
    assert!(d.insert(descriptor.as_bytes(), mid(10)).is_ok());
    let rejection = reject(&mut d, descriptor.as_bytes(), mid(10));
    assert_eq!(rejection, Rejection::Duplicate);
    assert_eq!(rejection.reason(), "duplicate");
    assert_eq!(d.len(), 1);
}

#[test]
fn older_sequence_is_rejected_and_newer_replaces() {
    let mut d = directory();
    assert!(d.insert(mix(1, 5, 10).as_bytes(), mid(10)).is_ok());
    let rejection = reject(&mut d, mix(1, 4, 10).as_bytes(), mid(10));
    assert_eq!(
        rejection,
        Rejection::OlderSequence {
            held: 5,
            received: 4
        }
    );
    assert_eq!(rejection.reason(), "older_sequence");
    assert_eq!(
        d.insert(mix(1, 6, 10).as_bytes(), mid(10)),
        Ok(Inserted::Replaced {
            previous_sequence: 5
        })
    );
    assert_eq!(
        d.get(&NodeId(identity(1).verifying_key().to_bytes()))
            .unwrap()
            .sequence(),
        6
    );
}

#[test]
fn mix_without_sphinx_keys_is_rejected() {
    let mut d = directory();
    let no_keys = DescriptorBuilder::new(Role::Mix, 1, 10)
        .capacity_pps(10)
        .address("/ip4/10.0.0.1/tcp/1")
        .sign(&identity(1))
        .unwrap();
    let rejection = reject(&mut d, no_keys.as_bytes(), mid(10));
    assert_eq!(rejection, Rejection::MissingSphinxKeys);
    assert_eq!(rejection.reason(), "missing_sphinx_keys");

    // Only the next epoch's key is missing: still refused.
    let half = DescriptorBuilder::new(Role::Provider, 1, 10)
        .capacity_pps(10)
        .address("/ip4/10.0.0.1/tcp/1")
        .sphinx_key(10, sphinx_public(1, 10))
        .sign(&identity(1))
        .unwrap();
    assert_eq!(
        reject(&mut d, half.as_bytes(), mid(10)),
        Rejection::MissingSphinxKeys
    );
}

#[test]
fn sphinx_key_for_an_uncovered_epoch_is_rejected() {
    let mut d = directory();
    let wrong_epoch = DescriptorBuilder::new(Role::Mix, 1, 10)
        .capacity_pps(10)
        .address("/ip4/10.0.0.1/tcp/1")
        .sphinx_key(10, sphinx_public(1, 10))
        .sphinx_key(12, sphinx_public(1, 12))
        .sign(&identity(1))
        .unwrap();
    let rejection = reject(&mut d, wrong_epoch.as_bytes(), mid(10));
    assert_eq!(rejection, Rejection::SphinxKeyOutsideWindow);
    assert_eq!(rejection.reason(), "sphinx_key_outside_window");
}

#[test]
fn routing_node_without_address_or_capacity_is_rejected() {
    let mut d = directory();
    let no_address = DescriptorBuilder::new(Role::Mix, 1, 10)
        .capacity_pps(10)
        .sphinx_key(10, sphinx_public(1, 10))
        .sphinx_key(11, sphinx_public(1, 11))
        .sign(&identity(1))
        .unwrap();
    assert_eq!(
        reject(&mut d, no_address.as_bytes(), mid(10)),
        Rejection::MissingAddresses
    );
    let no_capacity = routing_builder(1, Role::Mix, 1, 10)
        .capacity_pps(0)
        .sign(&identity(1))
        .unwrap();
    assert_eq!(
        reject(&mut d, no_capacity.as_bytes(), mid(10)),
        Rejection::ZeroCapacity
    );
}

#[test]
fn wrong_role_is_rejected() {
    let issuer_key = identity(99);
    let issuer_id = NodeId(issuer_key.verifying_key().to_bytes());
    let issuer = DescriptorBuilder::new(Role::Issuer, 1, 10)
        .address("/dns/issuer.example/tcp/443")
        .sign(&issuer_key)
        .unwrap();
    // Any key may publish an issuer descriptor (every node must hold the same set);
    // trust only decides whose token keys a node uses.
    let mut untrusting = directory();
    assert_eq!(
        untrusting.insert(issuer.as_bytes(), mid(10)),
        Ok(Inserted::New)
    );
    assert!(untrusting.trusted_token_keys(10).is_empty());
    // Not with Sphinx keys, trusted or not (it is not a hop).
    let mut d = directory().with_trusted_issuers([issuer_id]);
    assert_eq!(d.insert(issuer.as_bytes(), mid(10)), Ok(Inserted::New));
    assert_eq!(
        untrusting.digest(10),
        d.digest(10),
        "trust does not change the view"
    );
    let issuer_with_keys = routing_builder(99, Role::Issuer, 2, 10)
        .sign(&issuer_key)
        .unwrap();
    assert_eq!(
        reject(&mut d, issuer_with_keys.as_bytes(), mid(10)),
        Rejection::UnexpectedSphinxKeys
    );
    // Issuers never appear in the routing topology.
    let topology = d.topology(10);
    assert!(topology.providers.is_empty() && topology.layers.iter().all(|l| l.is_empty()));
}

#[test]
fn bad_lifetime_and_protocol_are_rejected() {
    let mut d = directory();
    let backwards = routing_builder(1, Role::Mix, 1, 10)
        .expiry_epoch(9)
        .sign(&identity(1))
        .unwrap();
    assert_eq!(
        reject(&mut d, backwards.as_bytes(), mid(10)),
        Rejection::BadLifetime
    );
    let too_long = routing_builder(1, Role::Mix, 1, 10)
        .expiry_epoch(12)
        .sign(&identity(1))
        .unwrap();
    assert_eq!(
        reject(&mut d, too_long.as_bytes(), mid(10)),
        Rejection::BadLifetime
    );
    let old_protocol = routing_builder(1, Role::Mix, 1, 10)
        .protocol_version(0)
        .sign(&identity(1))
        .unwrap();
    let rejection = reject(&mut d, old_protocol.as_bytes(), mid(10));
    assert_eq!(rejection, Rejection::UnsupportedProtocol(0));
    assert_eq!(rejection.reason(), "unsupported_protocol");
}

#[test]
fn garbage_bytes_are_rejected_as_malformed() {
    let mut d = directory();
    let valid = mix(1, 1, 10).as_bytes().to_vec();
    let cases: Vec<(Vec<u8>, CodecError)> = vec![
        (vec![], CodecError::Truncated),
        // shorter than any descriptor: refused on its length, before parsing
        (vec![0xde, 0xad, 0xbe, 0xef], CodecError::Truncated),
        (
            {
                let mut v = vec![0xde, 0xad, 0xbe, 0xef];
                v.resize(wesh_pki::params::MIN_DESCRIPTOR_BYTES, 0);
                v
            },
            CodecError::UnknownEncodingVersion(0xde),
        ),
        (valid[..valid.len() - 1].to_vec(), CodecError::Truncated),
        (
            [valid.clone(), vec![0]].concat(),
            CodecError::TrailingBytes(1),
        ),
        (
            {
                let mut v = valid.clone();
                v[1] = 9;
                v
            },
            CodecError::UnknownRole(9),
        ),
        // Two Sphinx keys swapped: epochs must ascend.
        (
            {
                let mut v = valid.clone();
                let keys = 65..65 + 80;
                let (a, b) = (
                    v[keys.start..keys.start + 40].to_vec(),
                    v[keys.start + 40..keys.end].to_vec(),
                );
                v.splice(keys, [b, a].concat());
                v
            },
            CodecError::SphinxKeysNotAscending,
        ),
        // Key count 3 in a descriptor that allows at most 2.
        (
            {
                let mut v = valid.clone();
                v[64] = 3;
                v
            },
            CodecError::TooManySphinxKeys(3),
        ),
        // Identity replaced by the all-zero (small-order) point.
        (
            {
                let mut v = valid.clone();
                v[4..36].fill(0);
                v
            },
            CodecError::InvalidIdentityKey,
        ),
    ];
    for (bytes, expected) in cases {
        let rejection = reject(&mut d, &bytes, mid(10));
        assert_eq!(
            rejection,
            Rejection::Malformed(expected.clone()),
            "case {expected:?}"
        );
        assert_eq!(rejection.reason(), "malformed");
    }
    assert!(d.is_empty());
}

#[test]
fn full_directory_rejects_new_identities_but_updates_known_ones() {
    let params = PkiParams {
        max_directory_entries: 2,
        ..params()
    };
    let mut d = Directory::new(params).unwrap();
    assert!(d.insert(mix(1, 1, 10).as_bytes(), mid(10)).is_ok());
    assert!(d.insert(mix(2, 1, 10).as_bytes(), mid(10)).is_ok());
    let rejection = reject(&mut d, mix(3, 1, 10).as_bytes(), mid(10));
    assert_eq!(rejection.reason(), "directory_full");
    assert!(d.insert(mix(1, 2, 10).as_bytes(), mid(10)).is_ok());
}

#[test]
fn reason_names_are_unique_and_listed() {
    let mut names = Rejection::ALL_REASONS.to_vec();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), Rejection::ALL_REASONS.len());
    for rejection in [
        Rejection::BadSignature,
        Rejection::Excluded,
        Rejection::DirectoryFull,
    ] {
        assert!(Rejection::ALL_REASONS.contains(&rejection.reason()));
    }
}
