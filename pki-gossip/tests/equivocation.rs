//! Equivocation: detection on insert, exclusion, and proofs verifiable by anyone.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use wesh_pki::{EquivocationError, EquivocationProof, NodeId, ProofAccepted, Rejection, Role};

fn two_faced(n: u64) -> (wesh_pki::Descriptor, wesh_pki::Descriptor) {
    // Same key, same sequence 7, same epoch, different addresses.
    let a = mix(n, 7, 10);
    let b = routing_builder(n, Role::Mix, 7, 10)
        .address("/ip4/192.0.2.66/tcp/4000")
        .sign(&identity(n))
        .unwrap();
    (a, b)
}

#[test]
fn equivocation_is_detected_and_the_node_excluded() {
    let mut d = directory();
    assert!(d.insert(mix(2, 1, 10).as_bytes(), mid(10)).is_ok());
    let (a, b) = two_faced(1);
    let id = a.identity();
    assert!(d.insert(a.as_bytes(), mid(10)).is_ok());
    let rejection = d.insert(b.as_bytes(), mid(10)).unwrap_err();
    assert_eq!(rejection.reason(), "equivocation");
    let Rejection::Equivocation(proof) = rejection else {
        panic!("expected a proof")
    };
    assert_eq!(proof.verify(), Ok(id));
    assert!(d.is_excluded(&id));
    assert!(d.get(&id).is_none());
    assert_eq!(d.equivocation_proofs().count(), 1);

    // From then on, even a fresh, higher-sequence descriptor is refused.
    let rejection = d.insert(mix(1, 8, 10).as_bytes(), mid(10)).unwrap_err();
    assert_eq!(rejection, Rejection::Excluded);
    assert_eq!(rejection.reason(), "excluded");
    let topology = d.topology(10);
    assert!(topology.layer_of(&id).is_none());
    assert!(
        topology
            .layer_of(&NodeId(identity(2).verifying_key().to_bytes()))
            .is_some()
    );
}

#[test]
fn a_gossiped_proof_excludes_the_node_elsewhere() {
    let (a, b) = two_faced(1);
    let proof = EquivocationProof::new(a.clone(), b).unwrap();
    let bytes = proof.to_bytes();

    let mut other = directory();
    assert!(other.insert(a.as_bytes(), mid(10)).is_ok());
    assert_eq!(
        other.insert_equivocation_proof(&bytes, mid(10)),
        Ok(ProofAccepted::NewlyExcluded(a.identity()))
    );
    assert!(other.get(&a.identity()).is_none());
    assert_eq!(
        other.insert_equivocation_proof(&bytes, mid(10)),
        Ok(ProofAccepted::AlreadyExcluded(a.identity()))
    );
    assert_eq!(
        other.insert(a.as_bytes(), mid(10)),
        Err(Rejection::Excluded)
    );
}

#[test]
fn proof_encoding_is_canonical_and_round_trips() {
    let (a, b) = two_faced(1);
    let forward = EquivocationProof::new(a.clone(), b.clone()).unwrap();
    let backward = EquivocationProof::new(b, a).unwrap();
    assert_eq!(forward.to_bytes(), backward.to_bytes());
    assert_eq!(
        EquivocationProof::from_bytes(&forward.to_bytes()).unwrap(),
        forward
    );

    let mut trailing = forward.to_bytes();
    trailing.push(0);
    assert!(matches!(
        EquivocationProof::from_bytes(&trailing),
        Err(EquivocationError::Encoding(_))
    ));
    assert!(matches!(
        EquivocationProof::from_bytes(&[1, 0]),
        Err(EquivocationError::Encoding(_))
    ));
}

#[test]
fn non_conflicting_pairs_are_not_proofs() {
    let (a, _) = two_faced(1);
    assert_eq!(
        EquivocationProof::new(a.clone(), a.clone()).unwrap_err(),
        EquivocationError::SameContent
    );
    assert_eq!(
        EquivocationProof::new(a.clone(), mix(1, 8, 10)).unwrap_err(),
        EquivocationError::DifferentSequences
    );
    assert_eq!(
        EquivocationProof::new(a, mix(2, 7, 10)).unwrap_err(),
        EquivocationError::DifferentIdentities
    );
}

#[test]
fn a_proof_with_a_forged_half_is_refused() {
    let (a, b) = two_faced(1);
    let mut bytes = EquivocationProof::new(a, b).unwrap().to_bytes();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x80;
    // Flipping a signature bit may also break canonical order; either way it fails.
    let result = EquivocationProof::from_bytes(&bytes);
    assert!(result.is_err(), "{result:?}");
    let mut d = directory();
    assert!(d.insert_equivocation_proof(&bytes, mid(10)).is_err());
    assert_eq!(d.equivocation_proofs().count(), 0);
}
