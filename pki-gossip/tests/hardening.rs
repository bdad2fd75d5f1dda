//! The PKI under attack (spec/security/pki.md): junk must be cheap to refuse, and throwaway
//! keys must not be able to make a node keep anything.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use ed25519_dalek::SigningKey;
use wesh_pki::params::{
    CONNECT_SYNC_BURST, CONNECT_SYNC_REFILL_MS, GOSSIP_PROOF, MAX_EQUIVOCATION_PROOFS,
    MIN_DESCRIPTOR_BYTES,
};
use wesh_pki::{
    DescriptorBuilder, DirectoryFollower, EquivocationProof, FollowerAction, Following, NodeId,
    PkiAgent, ProofAccepted, ProofRefusal, Role, Verdict,
};

fn two_faced_key(key: &SigningKey, epoch: u64) -> Vec<u8> {
    let build = |addr: &str| {
        DescriptorBuilder::new(Role::Mix, 1, epoch)
            .capacity_pps(1)
            .address(addr)
            .sphinx_key(epoch, sphinx_public(9, epoch))
            .sphinx_key(epoch + 1, sphinx_public(9, epoch + 1))
            .sign(key)
            .unwrap()
    };
    let (a, b) = (build("/ip4/192.0.2.1/tcp/1"), build("/ip4/192.0.2.2/tcp/1"));
    EquivocationProof::new(a, b).unwrap().to_bytes()
}

#[test]
fn junk_and_repeats_do_not_recompute_the_view_digest() {
    let now = mid(10);
    let mut agent = PkiAgent::observer(params(), now).unwrap();
    assert_eq!(
        agent.on_descriptor(mix(1, 1, 10).as_bytes(), now).0,
        Verdict::Accept
    );
    let before = agent.digest_computations();
    let digest = agent.digest();
    let good = mix(2, 1, 10);
    let mut forged = good.as_bytes().to_vec();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    for i in 0..1000u32 {
        let junk = match i % 4 {
            0 => vec![1u8],
            1 => i.to_be_bytes().repeat(40),
            2 => forged.clone(),
            _ => mix(1, 1, 10).as_bytes().to_vec(),
        };
        agent.on_descriptor(&junk, now);
        agent.digest();
    }
    assert_eq!(
        agent.digest_computations(),
        before,
        "rejected input recomputed the digest"
    );
    assert_eq!(agent.digest(), digest);
    // a real change is computed once
    assert_eq!(agent.on_descriptor(good.as_bytes(), now).0, Verdict::Accept);
    assert_eq!(agent.digest_computations(), before + 1);
    assert_ne!(agent.digest(), digest);
    assert_eq!(
        agent.digest(),
        agent.directory().digest(10),
        "the cache is the digest"
    );
}

#[test]
fn a_follower_reading_its_status_after_every_event_computes_no_digest() {
    let now_ms = mid(10) * 1000;
    let agent = PkiAgent::observer(params(), now_ms / 1000).unwrap();
    let me = NodeId([1; 32]);
    let mut f = DirectoryFollower::new(agent, Following::Relay { me }, now_ms, [1; 32]);
    f.poll(now_ms);
    let before = f.agent().digest_computations();
    for i in 0..500u32 {
        let mut junk = vec![1u8];
        junk.extend(i.to_be_bytes().repeat(50));
        assert!(matches!(f.handle_gossip(now_ms, &junk), Verdict::Reject(_)));
        let _ = f.status();
    }
    assert_eq!(f.agent().digest_computations(), before);
}

#[test]
fn the_smallest_valid_descriptor_is_min_descriptor_bytes_long() {
    let smallest = DescriptorBuilder::new(Role::Issuer, 1, 10)
        .sign(&identity(1))
        .unwrap();
    assert_eq!(smallest.as_bytes().len(), MIN_DESCRIPTOR_BYTES);
    let mut d = directory();
    assert!(d.insert(smallest.as_bytes(), mid(10)).is_ok());
    // a routing descriptor is larger still
    assert!(mix(2, 1, 10).as_bytes().len() > MIN_DESCRIPTOR_BYTES);
}

#[test]
fn a_peer_that_reconnects_in_a_loop_is_synced_at_the_rate_limit() {
    let now_ms = mid(10) * 1000;
    let agent = PkiAgent::observer(params(), now_ms / 1000).unwrap();
    let mut f = DirectoryFollower::new(
        agent,
        Following::Relay {
            me: NodeId([1; 32]),
        },
        now_ms,
        [1; 32],
    );
    f.poll(now_ms);
    let peer = NodeId(identity(5).verifying_key().to_bytes());
    let mut syncs = 0;
    for i in 0..100u64 {
        let t = now_ms + i * 10;
        f.handle_connected(t, peer);
        for a in f.poll(t) {
            if let FollowerAction::Sync { peer: p, .. } = a {
                assert_eq!(p, peer);
                syncs += 1;
                // the peer answers at once, so the next connection could ask again
                f.handle_sync_answer(t, p, [0; 32], None);
            }
        }
    }
    assert_eq!(syncs, CONNECT_SYNC_BURST as usize);
    assert_eq!(
        f.connect_syncs_limited(),
        100 - u64::from(CONNECT_SYNC_BURST)
    );
    let later = now_ms + 1000 + CONNECT_SYNC_REFILL_MS;
    f.handle_connected(later, peer);
    assert_eq!(
        f.poll(later)
            .iter()
            .filter(|a| matches!(a, FollowerAction::Sync { .. }))
            .count(),
        1,
        "allowed again after the refill"
    );
}

#[test]
fn a_sync_answer_of_forgeries_costs_one_signature_check() {
    let now_ms = mid(10) * 1000;
    let agent = PkiAgent::observer(params(), now_ms / 1000).unwrap();
    let peer = NodeId(identity(5).verifying_key().to_bytes());
    let mut f = DirectoryFollower::new(
        agent,
        Following::Relay {
            me: NodeId([1; 32]),
        },
        now_ms,
        [1; 32],
    );
    let mut answer = vec![mix(3, 1, 10).as_bytes().to_vec()];
    for n in 100..1100 {
        let mut forged = mix(n, 1, 10).as_bytes().to_vec();
        let last = forged.len() - 1;
        forged[last] ^= 1;
        answer.push(forged);
    }
    answer.push(mix(4, 1, 10).as_bytes().to_vec());
    f.handle_sync_answer(now_ms, peer, [9; 32], Some(answer));
    let r = f.agent().rejections();
    assert_eq!(r.get("bad_signature"), Some(&1), "{r:?}");
    assert_eq!(f.answers_cut(), 1);
    assert!(
        f.agent()
            .is_member(&NodeId(identity(3).verifying_key().to_bytes()))
    );
    assert!(
        !f.agent()
            .is_member(&NodeId(identity(4).verifying_key().to_bytes())),
        "nothing after the forgery is taken from that answer"
    );
}

#[test]
fn a_proof_minted_by_a_throwaway_key_is_refused_before_any_signature_check() {
    let mut d = directory();
    assert!(d.insert(mix(1, 1, 10).as_bytes(), mid(10)).is_ok());
    let throwaway = identity(777);
    let proof = two_faced_key(&throwaway, 10);
    assert_eq!(
        d.insert_equivocation_proof(&proof, mid(10)),
        Err(ProofRefusal::UnknownIdentity)
    );
    assert_eq!(d.equivocation_proofs().count(), 0);
    // as gossip: not forwarded, counted, and the sender (maybe honest, knowing that key)
    // is not blamed
    let mut agent = PkiAgent::observer(params(), mid(10)).unwrap();
    let (verdict, actions) = agent.on_proof(&proof, mid(10));
    assert_eq!(verdict, Verdict::Ignore);
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, wesh_pki::PkiAction::PublishProof(_))),
        "not passed on"
    );
    assert_eq!(agent.rejections().get("proof_unknown_identity"), Some(&1));
    assert_eq!(agent.directory().equivocation_proofs().count(), 0);
    // through the follower's gossip path too
    let now_ms = mid(10) * 1000;
    let mut f = DirectoryFollower::new(
        agent,
        Following::Relay {
            me: NodeId([1; 32]),
        },
        now_ms,
        [1; 32],
    );
    let mut gossip = vec![GOSSIP_PROOF];
    gossip.extend_from_slice(&proof);
    assert_eq!(f.handle_gossip(now_ms, &gossip), Verdict::Ignore);
    assert_eq!(f.status().proofs_kept, 0);
    // a broken proof about a known node blames its sender
    let mut bad = two_faced_key(&identity(1), 10);
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert_eq!(
        d.insert_equivocation_proof(&bad, mid(10))
            .unwrap_err()
            .reason(),
        "bad_proof"
    );
    let mut agent = PkiAgent::observer(params(), mid(10)).unwrap();
    agent.on_descriptor(mix(1, 1, 10).as_bytes(), mid(10));
    assert_eq!(
        agent.on_proof(&bad, mid(10)).0,
        Verdict::Reject("bad_proof")
    );
}

#[test]
fn a_proof_about_a_known_node_excludes_it_until_its_descriptors_expire() {
    let key = identity(1);
    let mut d = directory();
    let a = mix(1, 1, 10);
    assert!(d.insert(a.as_bytes(), mid(10)).is_ok());
    let proof = two_faced_key(&key, 10);
    assert_eq!(
        d.insert_equivocation_proof(&proof, mid(10)),
        Ok(ProofAccepted::NewlyExcluded(a.identity()))
    );
    assert!(d.is_excluded(&a.identity()));
    // the proof's descriptors cover epochs 10 and 11: kept through 11, gone at 12
    d.expire(mid(11));
    assert_eq!(d.equivocation_proofs().count(), 1);
    d.expire(mid(12));
    assert_eq!(d.equivocation_proofs().count(), 0);
    assert!(!d.is_excluded(&a.identity()));
    assert!(d.insert(mix(1, 5, 12).as_bytes(), mid(12)).is_ok());
    // a proof whose descriptors expired is not taken in
    let old = two_faced_key(&key, 10);
    assert_eq!(
        d.insert_equivocation_proof(&old, mid(12)),
        Err(ProofRefusal::Expired)
    );
}

#[test]
fn the_proofs_kept_are_capped() {
    let mut p = params();
    p.max_directory_entries = MAX_EQUIVOCATION_PROOFS + 10;
    let mut d = wesh_pki::Directory::new(p).unwrap();
    let n = MAX_EQUIVOCATION_PROOFS as u64 + 1;
    for i in 0..n {
        let key = identity(1000 + i);
        let own = DescriptorBuilder::new(Role::Mix, 2, 10)
            .capacity_pps(1)
            .address("/ip4/192.0.2.9/tcp/1")
            .sphinx_key(10, sphinx_public(9, 10))
            .sphinx_key(11, sphinx_public(9, 11))
            .sign(&key)
            .unwrap();
        assert!(d.insert(own.as_bytes(), mid(10)).is_ok());
        let result = d.insert_equivocation_proof(&two_faced_key(&key, 10), mid(10));
        if i < n - 1 {
            assert!(
                matches!(result, Ok(ProofAccepted::NewlyExcluded(_))),
                "{i}: {result:?}"
            );
        } else {
            assert_eq!(result, Err(ProofRefusal::Full));
        }
    }
    assert_eq!(d.equivocation_proofs().count(), MAX_EQUIVOCATION_PROOFS);
}
