//! Group behaviour end to end: membership, secret exchange, messages, forward secrecy, the
//! out-of-order window, outsiders, aliases, contact groups and the replication view.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use wesh_client::crypto::generate_signing_key;
use wesh_client::entry::{Entry, LogKind};
use wesh_client::error::WeshError;
use wesh_client::identity::Identity;
use wesh_client::params::RATCHET_WINDOW;
use wesh_client::replication::{ReplicaStore, ReplicationView};
use wesh_client::session::GroupSession;

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// Delivers metadata entries to every session until nobody has anything new to publish.
fn flood(rng: &mut ChaCha20Rng, sessions: &mut [&mut GroupSession], mut queue: Vec<Vec<u8>>) {
    let mut delivered = Vec::new();
    while let Some(bytes) = queue.pop() {
        for s in sessions.iter_mut() {
            queue.extend(s.ingest_metadata(rng, &bytes).unwrap());
        }
        delivered.push(bytes);
        assert!(
            delivered.len() < 10_000,
            "metadata exchange does not terminate"
        );
    }
}

fn two_member_group(seed: u64) -> (ChaCha20Rng, GroupSession, GroupSession, Identity, Identity) {
    let mut rng = rng(seed);
    let alice = Identity::generate(&mut rng);
    let bob = Identity::generate(&mut rng);
    let (mut a, out_a) = GroupSession::create_multi_member(&mut rng, alice.account_key()).unwrap();
    let (mut b, out_b) =
        GroupSession::join_multi_member(&mut rng, &a.invitation(), bob.account_key()).unwrap();
    let mut queue = out_a;
    queue.extend(out_b);
    flood(&mut rng, &mut [&mut a, &mut b], queue);
    (rng, a, b, alice, bob)
}

#[test]
fn members_exchange_chain_keys_and_messages() {
    let (mut rng, mut a, mut b, alice, _) = two_member_group(10);
    assert_eq!(a.group_id(), b.group_id());
    assert_eq!(a.members().len(), 2);
    assert_eq!(b.members(), a.members());
    assert_eq!(b.creator(), Some(a.member_id()));
    // Both replicas of the metadata log hold the same entries in the same order.
    assert_eq!(
        a.metadata_log().sorted_hashes(),
        b.metadata_log().sorted_hashes()
    );
    assert!(a.metadata_log().len() >= 5);
    // Member and device IDs are not the account ID.
    assert_ne!(a.member_id(), alice.account_id());
    assert_ne!(a.device_id(), alice.account_id());
    assert!(a.has_chain_for(&b.device_id()) && b.has_chain_for(&a.device_id()));

    let m = a.send_message(&mut rng, b"hi bob").unwrap();
    let got = b.ingest_message(&m).unwrap().unwrap();
    assert_eq!(got.plaintext, b"hi bob");
    assert_eq!(got.member_id, a.member_id());
    assert_eq!(got.device_id, a.device_id());
    // The same entry again is a duplicate, not a second message.
    assert_eq!(b.ingest_message(&m).unwrap(), None);
    let r = b.send_message(&mut rng, b"hi alice").unwrap();
    assert_eq!(
        a.ingest_message(&r).unwrap().unwrap().plaintext,
        b"hi alice"
    );
    assert_eq!(a.message_order(), b.message_order());
}

#[test]
fn late_member_cannot_read_earlier_messages() {
    let mut rng = rng(11);
    let alice = Identity::generate(&mut rng);
    let carol = Identity::generate(&mut rng);
    let (mut a, out_a) = GroupSession::create_multi_member(&mut rng, alice.account_key()).unwrap();
    let early: Vec<_> = (0..3)
        .map(|i| {
            a.send_message(&mut rng, format!("early {i}").as_bytes())
                .unwrap()
        })
        .collect();
    let (mut c, out_c) =
        GroupSession::join_multi_member(&mut rng, &a.invitation(), carol.account_key()).unwrap();
    let mut queue = out_a;
    queue.extend(out_c);
    flood(&mut rng, &mut [&mut a, &mut c], queue);
    for m in &early {
        assert!(matches!(
            c.ingest_message(m),
            Err(WeshError::CounterAlreadyUsed { .. })
        ));
    }
    let late = a.send_message(&mut rng, b"late").unwrap();
    assert_eq!(c.ingest_message(&late).unwrap().unwrap().plaintext, b"late");
    assert_eq!(c.ingest_message(&late).unwrap(), None);
}

#[test]
fn out_of_order_within_window_and_refusal_beyond() {
    let (mut rng, mut a, mut b, _, _) = two_member_group(12);
    let msgs: Vec<_> = (0..RATCHET_WINDOW + 5)
        .map(|i| a.send_message(&mut rng, &i.to_be_bytes()).unwrap())
        .collect();
    // Beyond the window from the receiver's current position: refused, and nothing burned.
    let far = &msgs[RATCHET_WINDOW as usize];
    assert!(matches!(
        b.ingest_message(far),
        Err(WeshError::CounterBeyondWindow { .. })
    ));
    for i in [7usize, 3, 0, 99, 50, 1] {
        let got = b.ingest_message(&msgs[i]).unwrap().unwrap();
        assert_eq!(got.plaintext, (i as u64).to_be_bytes());
    }
    // The far message was stored, kept aside, and now lies inside the window.
    assert_eq!(b.unopened_len(), 1);
    let retried = b.retry_unopened();
    assert_eq!(retried.len(), 1);
    assert_eq!(retried[0].counter, RATCHET_WINDOW);
    assert_eq!(b.ingest_message(far).unwrap(), None);
    assert_eq!(b.ingest_message(&msgs[7]).unwrap(), None);
}

#[test]
fn outsider_and_tampered_entries_are_rejected_before_storage() {
    let (mut rng, mut a, mut b, _, _) = two_member_group(13);
    let (_, mut other, _, _, _) = two_member_group(14);
    let outsider = other.send_message(&mut rng, b"spam").unwrap();
    let before = b.message_log().len();
    assert!(matches!(
        b.ingest_message(&outsider),
        Err(WeshError::WrongGroup)
    ));
    let good = a.send_message(&mut rng, b"ok").unwrap();
    for i in [0usize, 1, 2, 40, 80, good.len() / 2, good.len() - 1] {
        let mut bad = good.clone();
        bad[i] ^= 0x40;
        assert!(b.ingest_message(&bad).is_err(), "byte {i}");
    }
    for cut in [0usize, 1, 10, good.len() - 1] {
        assert!(b.ingest_message(&good[..cut]).is_err());
    }
    assert!(b.ingest_message(&[0xff; 300]).is_err());
    assert_eq!(b.message_log().len(), before);
    // Same on the metadata path: an outsider's Member/Alias entries never get stored.
    let meta_before = b.metadata_log().len();
    for e in other.metadata_log().iter_sorted() {
        assert!(matches!(
            b.ingest_metadata(&mut rng, &e.encode()),
            Err(WeshError::WrongGroup)
        ));
    }
    assert_eq!(b.metadata_log().len(), meta_before);
    assert_eq!(b.members().len(), 2);
    // A metadata entry is refused on the message path and vice versa.
    let alias = generate_signing_key(&mut rng);
    let meta = a.disclose_alias(&mut rng, &alias).unwrap();
    assert!(matches!(
        b.ingest_message(&meta[0]),
        Err(WeshError::WrongLog)
    ));
    assert!(matches!(
        b.ingest_metadata(&mut rng, &good),
        Err(WeshError::WrongLog)
    ));
    assert_eq!(b.ingest_message(&good).unwrap().unwrap().plaintext, b"ok");
}

#[test]
fn alias_lets_contacts_recognise_a_member() {
    let (mut rng, mut a, mut b, _, bob) = two_member_group(15);
    let stranger = generate_signing_key(&mut rng);
    assert_eq!(a.identify(&bob.alias_public()), None);
    let out = b.disclose_alias(&mut rng, bob.alias_key()).unwrap();
    flood(&mut rng, &mut [&mut a], out);
    assert_eq!(a.identify(&bob.alias_public()), Some(b.member_id()));
    assert_eq!(a.identify(&stranger.verifying_key()), None);
}

#[test]
fn linked_device_shares_member_id() {
    let (mut rng, mut a, mut b, alice, _) = two_member_group(16);
    let alice2 = alice.link_device(&mut rng);
    let (mut a2, out) =
        GroupSession::join_multi_member(&mut rng, &a.invitation(), alice2.account_key()).unwrap();
    assert_eq!(a2.member_id(), a.member_id());
    assert_ne!(a2.device_id(), a.device_id());
    let mut queue = out;
    queue.extend(a.metadata_log().iter_sorted().map(|e| e.encode()));
    queue.extend(b.metadata_log().iter_sorted().map(|e| e.encode()));
    flood(&mut rng, &mut [&mut a, &mut b, &mut a2], queue);
    assert_eq!(b.members()[&a.member_id()].len(), 2);
    let m = a2.send_message(&mut rng, b"from my laptop").unwrap();
    assert_eq!(
        b.ingest_message(&m).unwrap().unwrap().member_id,
        a.member_id()
    );
    // The account's two devices read each other too.
    assert_eq!(
        a.ingest_message(&m).unwrap().unwrap().plaintext,
        b"from my laptop"
    );
    let back = a.send_message(&mut rng, b"from my phone").unwrap();
    assert_eq!(
        a2.ingest_message(&back).unwrap().unwrap().plaintext,
        b"from my phone"
    );
}

#[test]
fn contact_group_is_the_same_from_any_device_and_closed_to_others() {
    let mut rng = rng(17);
    let alice = Identity::generate(&mut rng);
    let bob = Identity::generate(&mut rng);
    let mallory = Identity::generate(&mut rng);
    let alice2 = alice.link_device(&mut rng);
    let (mut a1, o1) = GroupSession::contact(
        &mut rng,
        alice.account_key(),
        alice.device_key(),
        &bob.account_key().verifying_key(),
    )
    .unwrap();
    let (mut a2, o2) = GroupSession::contact(
        &mut rng,
        alice2.account_key(),
        alice2.device_key(),
        &bob.account_key().verifying_key(),
    )
    .unwrap();
    let (mut b1, o3) = GroupSession::contact(
        &mut rng,
        bob.account_key(),
        bob.device_key(),
        &alice.account_key().verifying_key(),
    )
    .unwrap();
    assert_eq!(a1.group_id(), b1.group_id());
    assert_eq!(a2.group_id(), b1.group_id());
    assert_eq!(a1.member_id(), alice.account_id());
    let mut queue = o1;
    queue.extend(o2);
    queue.extend(o3);
    flood(&mut rng, &mut [&mut a1, &mut a2, &mut b1], queue);
    let m = b1.send_message(&mut rng, b"hello alice").unwrap();
    assert_eq!(
        a1.ingest_message(&m).unwrap().unwrap().plaintext,
        b"hello alice"
    );
    assert_eq!(
        a2.ingest_message(&m).unwrap().unwrap().plaintext,
        b"hello alice"
    );
    let own = a1.send_message(&mut rng, b"note to self").unwrap();
    assert_eq!(
        a2.ingest_message(&own).unwrap().unwrap().plaintext,
        b"note to self"
    );
    assert_eq!(
        b1.ingest_message(&own).unwrap().unwrap().plaintext,
        b"note to self"
    );
    // Mallory cannot derive the group: her own "contact group" with Bob is another group.
    let (mut mb, _) = GroupSession::contact(
        &mut rng,
        mallory.account_key(),
        mallory.device_key(),
        &bob.account_key().verifying_key(),
    )
    .unwrap();
    assert_ne!(mb.group_id(), b1.group_id());
    let spam = mb.send_message(&mut rng, b"x").unwrap();
    assert!(b1.ingest_message(&spam).is_err());
}

#[test]
fn replication_view_verifies_and_stores_but_cannot_decrypt() {
    let (mut rng, mut a, b, _, _) = two_member_group(18);
    let view = ReplicationView::decode(&a.replication_view().encode()).unwrap();
    let mut replica = ReplicaStore::new(&view);
    for e in a.metadata_log().iter_sorted() {
        assert!(replica.ingest(&e.encode()).unwrap());
    }
    let m = a.send_message(&mut rng, b"secret text").unwrap();
    assert!(replica.ingest(&m).unwrap());
    assert!(!replica.ingest(&m).unwrap());
    assert_eq!(replica.metadata.len(), a.metadata_log().len());
    // Outsiders and tampering are refused.
    let (_, mut other, _, _, _) = two_member_group(19);
    assert!(
        replica
            .ingest(&other.send_message(&mut rng, b"spam").unwrap())
            .is_err()
    );
    let mut bad = m.clone();
    let n = bad.len();
    bad[n - 70] ^= 1;
    assert!(replica.ingest(&bad).is_err());
    // The view holds nothing that opens entries: neither its attachment key nor any of its
    // fields equals the group secret or entry key, and opening with them fails.
    let entry = Entry::decode_verified(&m, &view.verifier()).unwrap();
    assert_eq!(entry.log(), LogKind::Message);
    assert!(entry.open(&view.attachment_key).is_err());
    let secrets = b.secrets();
    let encoded_view = view.encode();
    for secret in [
        secrets.secret().expose(),
        secrets.entry_encryption_key().expose(),
    ] {
        assert!(!encoded_view.windows(32).any(|w| w == secret));
    }
    assert!(entry.open(secrets.entry_encryption_key()).is_ok());
    // A view whose secret sig was tampered with is refused.
    let mut bad_view = view.encode();
    bad_view[70] ^= 1;
    assert!(ReplicationView::decode(&bad_view).is_err());
}
