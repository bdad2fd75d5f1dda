//! Wesh over mailboxes, with an in-memory post office standing in for the mixnet: contact
//! requests through rendezvous mailboxes, a 3-member group with a replication provider,
//! an offline member catching up, linked devices, and refused input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use wesh_client::messenger::envelope::{Inner, Outer};
use wesh_client::messenger::rendezvous_wire::rendezvous_service_mailbox;
use wesh_client::messenger::{MailboxAddress, WeshDevice, WeshEvent, journal};

use common::{NOW, PostOffice, befriend, device, payloads, providers, settle};

#[test]
fn contacts_group_replica_and_offline_catch_up() {
    let mut po = PostOffice::default();
    let (mut a, mut b, mut c) = (device(1), device(2), device(3));
    befriend(&mut po, &mut a, &mut b);
    befriend(&mut po, &mut a, &mut c);
    befriend(&mut po, &mut b, &mut c);

    // contact messages both ways
    let ab = a.contacts()[&b.account_id()];
    a.app_message_send(&ab, b"hi b").unwrap();
    b.app_message_send(&ab, b"hi a").unwrap();
    settle(&mut po, &mut [&mut a, &mut b, &mut c], &[]);
    assert_eq!(payloads(&b, &ab), vec![b"hi b".to_vec()]);
    assert_eq!(payloads(&a, &ab), vec![b"hi a".to_vec()]);

    // A creates a group, adds a replication provider, invites B and C through contacts
    let g = a.multi_member_group_create().unwrap();
    // (the registration the node sends to the provider, then the member's half)
    po.register_replica(&a, &g);
    a.replication_register_group(&g, providers()[2]).unwrap();
    let view = a.group_metadata(&g).unwrap();
    assert_eq!(view.replicas.len(), 1);
    let inv = a.multi_member_group_invitation_create(&g).unwrap();
    b.multi_member_group_join(&inv).unwrap();
    c.multi_member_group_join(&inv).unwrap();
    settle(&mut po, &mut [&mut a, &mut b, &mut c], &[]);
    for d in [&a, &b, &c] {
        let m = d.group_metadata(&g).unwrap();
        assert_eq!(m.members.len(), 3, "members seen by a device");
        assert_eq!(m.device_mailboxes.len(), 3);
    }
    a.app_message_send(&g, b"one").unwrap();
    b.app_message_send(&g, b"two").unwrap();
    settle(&mut po, &mut [&mut a, &mut b, &mut c], &[]);
    assert_eq!(payloads(&c, &g).len(), 2);

    // C goes offline; A and B keep talking; C's mailbox holds their entries
    a.app_message_send(&g, b"three").unwrap();
    b.app_message_send(&g, b"four").unwrap();
    settle(&mut po, &mut [&mut a, &mut b, &mut c], &[2]);
    assert_eq!(payloads(&c, &g).len(), 2);
    assert_eq!(payloads(&a, &g), vec![b"two".to_vec(), b"four".to_vec()]);
    // back online: first the replica's history, then the mailbox (duplicates are no-ops)
    let history = po.replica_log[&g].clone();
    c.ingest_history(g, history).unwrap();
    assert_eq!(payloads(&c, &g).len(), 4);
    let dup_before = c.stats().entries_duplicate;
    settle(&mut po, &mut [&mut a, &mut b, &mut c], &[]);
    assert_eq!(
        payloads(&c, &g),
        vec![
            b"one".to_vec(),
            b"two".to_vec(),
            b"three".to_vec(),
            b"four".to_vec()
        ]
    );
    assert!(c.stats().entries_duplicate > dup_before);
    // the replica kept every message entry and refused nothing
    assert!(po.replica.stats().entries_kept >= 4);
    assert_eq!(po.replica.stats().refused_invalid_entry, 0);
}

#[test]
fn linked_device_follows_contacts_and_groups() {
    let mut po = PostOffice::default();
    let (mut a, mut b) = (device(1), device(2));
    befriend(&mut po, &mut a, &mut b);
    let g = b.multi_member_group_create().unwrap();
    let inv = b.multi_member_group_invitation_create(&g).unwrap();
    a.multi_member_group_join(&inv).unwrap();
    settle(&mut po, &mut [&mut a, &mut b], &[]);
    let home = MailboxAddress {
        provider: providers()[0],
        mailbox: [77; 32],
    };
    let mut a2 = a.link_new_device([9; 32], home).unwrap();
    a2.set_auto_accept(true);
    settle(&mut po, &mut [&mut a, &mut b, &mut a2], &[]);
    assert_eq!(a2.account_id(), a.account_id());
    assert!(
        a2.contacts().contains_key(&b.account_id()),
        "contact synced"
    );
    assert!(a2.group_ids().contains(&g), "group synced");
    // B's message reaches both of A's devices; A2's message reaches B and A
    b.app_message_send(&g, b"to both").unwrap();
    a2.app_message_send(&g, b"from a2").unwrap();
    settle(&mut po, &mut [&mut a, &mut b, &mut a2], &[]);
    assert!(payloads(&a, &g).contains(&b"to both".to_vec()));
    assert!(payloads(&a2, &g).contains(&b"to both".to_vec()));
    assert!(payloads(&b, &g).contains(&b"from a2".to_vec()));
    assert!(payloads(&a, &g).contains(&b"from a2".to_vec()));
}

#[test]
fn bad_input_is_refused_and_counted() {
    let mut po = PostOffice::default();
    let (mut a, mut b) = (device(1), device(2));
    befriend(&mut po, &mut a, &mut b);
    let ab = a.contacts()[&b.account_id()];
    a.app_message_send(&ab, b"x").unwrap();
    let outs = a.take_outgoing();
    assert_eq!(outs.len(), 1);
    let good = outs[0].bytes.clone();
    // replay: the same envelope twice stores nothing new
    b.on_message(&good).unwrap();
    let accepted = b.stats().entries_accepted;
    b.on_message(&good).unwrap();
    assert_eq!(b.stats().entries_accepted, accepted);
    assert_eq!(payloads(&b, &ab).len(), 1);
    // tampered envelope: cannot be opened
    let mut bad = good.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert!(b.on_message(&bad).is_err());
    assert_eq!(b.stats().refused_envelope, 1);
    // garbage and truncations never panic
    for cut in 0..good.len().min(200) {
        let _ = b.on_message(&good[..cut]);
    }
    // an envelope for a group B is not in
    let mut c = device(3);
    let g = c.multi_member_group_create().unwrap();
    let inv = c.multi_member_group_invitation_create(&g).unwrap();
    let mut d = device(4);
    d.multi_member_group_join(&inv).unwrap();
    let to_c = d.take_outgoing();
    // re-seal D's entries for B's key is what a confused or hostile sender would do
    let sealed = wesh_client::messenger::sealed_box::seal_to(
        &mut rand::rng(),
        &ed25519_dalek::VerifyingKey::from_bytes(&b.device_id()).unwrap(),
        &Inner::GroupEntries {
            group_id: g,
            entries: vec![vec![1, 2, 3]],
        }
        .encode(),
    )
    .unwrap();
    assert!(b.on_message(&Outer::Sealed(sealed).encode()).is_err());
    assert_eq!(b.stats().refused_unknown_group, 1);
    assert!(!to_c.is_empty());
    // a forged entry inside a well-sealed envelope for a known group
    let forged = wesh_client::messenger::sealed_box::seal_to(
        &mut rand::rng(),
        &ed25519_dalek::VerifyingKey::from_bytes(&b.device_id()).unwrap(),
        &Inner::GroupEntries {
            group_id: ab,
            entries: vec![vec![1, 9, 9, 9]],
        }
        .encode(),
    )
    .unwrap();
    let before = b.group_metadata(&ab).unwrap();
    assert!(b.on_message(&Outer::Sealed(forged).encode()).is_err());
    assert_eq!(b.stats().refused_invalid_entry, 1);
    let after = b.group_metadata(&ab).unwrap();
    assert_eq!(before.metadata_entries, after.metadata_entries);
    assert_eq!(before.message_entries, after.message_entries);
    // bad API arguments: typed errors
    assert!(a.app_message_send(&[5; 32], b"x").is_err());
    assert!(a.multi_member_group_join(b"not an invitation").is_err());
    assert!(
        a.contact_request_send(b"bad card", NOW, &providers())
            .is_err()
    );
    assert!(a.contact_request_accept(&[1; 32]).is_err());
    let own = a.contact_request_reference();
    assert!(a.contact_request_send(&own, NOW, &providers()).is_err());
}

#[test]
fn responder_decides_and_requester_never_learns_its_provider() {
    let mut po = PostOffice::default();
    let (mut a, mut b) = (device(1), device(2));
    b.set_auto_accept(false);
    let card = b.contact_request_reference();
    a.contact_request_send(&card, NOW, &providers()).unwrap();
    // every message A ever sends during the handshake is dropped at B's rendezvous
    // provider's desk for B's rendezvous mailbox
    let rdv = b
        .rendezvous_registration(NOW, &providers())
        .unwrap()
        .address;
    for _ in 0..10 {
        for out in a.take_outgoing() {
            assert_eq!(out.to.provider, rdv.provider);
            assert_eq!(out.to.mailbox, rendezvous_service_mailbox());
            let (to, bytes) = common::through_desk(out.to, out.bytes);
            assert_eq!(to, rdv);
            assert!(bytes.len() <= wesh_client::messenger::params::MAX_RDV_ENVELOPE);
            po.boxes.entry(to).or_default().push_back(bytes);
        }
        po.deliver(&mut b, &providers(), NOW);
        po.collect(&mut b);
        po.deliver(&mut a, &providers(), NOW);
    }
    let events = b.take_events();
    assert_eq!(
        events,
        vec![WeshEvent::ContactRequestReceived {
            account: a.account_id()
        }]
    );
    assert_eq!(b.contact_requests_pending(), vec![a.account_id()]);
    b.contact_request_accept(&a.account_id()).unwrap();
    settle(&mut po, &mut [&mut a, &mut b], &[]);
    assert!(a.contacts().contains_key(&b.account_id()));
    assert!(b.contacts().contains_key(&a.account_id()));
    // renewing the seed moves the rendezvous mailbox: the old card no longer reaches B
    b.renew_rendezvous_seed();
    let moved = b
        .rendezvous_registration(NOW, &providers())
        .unwrap()
        .address;
    assert_ne!(moved.mailbox, rdv.mailbox);
}

#[test]
fn contact_messages_written_before_the_exchange_settles_are_read() {
    let mut po = PostOffice::default();
    let (mut a, mut b) = (device(11), device(12));
    let card = b.contact_request_reference();
    a.contact_request_send(&card, NOW, &providers()).unwrap();
    // step the handshake by hand until A (the requester) has the contact: its group
    // exists, but B's member is not known to it yet
    for _ in 0..10 {
        po.collect(&mut a);
        po.deliver(&mut b, &providers(), NOW);
        po.collect(&mut b);
        po.deliver(&mut a, &providers(), NOW);
        if a.contacts().contains_key(&b.account_id()) {
            break;
        }
    }
    let g = a.contacts()[&b.account_id()];
    assert_eq!(a.group_metadata(&g).unwrap().members.len(), 1);
    a.app_message_send(&g, b"too early?").unwrap();
    assert_eq!(a.stats().messages_deferred, 1);
    settle(&mut po, &mut [&mut a, &mut b], &[]);
    assert_eq!(payloads(&b, &g), vec![b"too early?".to_vec()]);
    b.app_message_send(&g, b"no").unwrap();
    settle(&mut po, &mut [&mut a, &mut b], &[]);
    assert_eq!(payloads(&a, &g), vec![b"no".to_vec()]);
}

/// A device whose every input goes through the journal, as the node drives it.
struct Journaled {
    seed: [u8; 32],
    home: MailboxAddress,
    device: WeshDevice,
    records: Vec<Vec<u8>>,
}

impl Journaled {
    fn new(i: u8) -> Self {
        let home = MailboxAddress {
            provider: providers()[usize::from(i) % 3],
            mailbox: [100 + i; 32],
        };
        let mut j = Journaled {
            seed: [i; 32],
            home,
            device: journal::restore([i; 32], home, &[]).unwrap(),
            records: Vec::new(),
        };
        j.input(journal::Input::SetAutoAccept { on: true }).unwrap();
        j
    }

    fn input(&mut self, input: journal::Input) -> wesh_client::Result<Option<[u8; 32]>> {
        let (result, record) = journal::apply_and_record(&mut self.device, input);
        self.records.extend(record.map(|r| r.encode()));
        result
    }

    /// Delivers this device's mail through the journal.
    fn deliver(&mut self, po: &mut PostOffice) -> usize {
        let mail = po.mail_for(&self.device, &providers(), NOW);
        for m in &mail {
            let _ = self.input(journal::Input::Message { bytes: m.clone() });
        }
        mail.len()
    }

    /// Drops the device and rebuilds it from its journal (what a restart does).
    fn restart(&mut self, po: &mut PostOffice) {
        po.collect(&mut self.device);
        self.device = journal::restore(self.seed, self.home, &self.records).unwrap();
        assert!(self.device.take_outgoing().is_empty());
    }
}

fn settle_journaled(po: &mut PostOffice, devices: &mut [&mut Journaled]) {
    for _ in 0..50 {
        let mut moved = 0;
        for d in devices.iter_mut() {
            po.collect(&mut d.device);
        }
        for d in devices.iter_mut() {
            moved += d.deliver(po);
        }
        for d in devices.iter_mut() {
            po.collect(&mut d.device);
        }
        if moved == 0 {
            return;
        }
    }
    panic!("post office did not settle");
}

#[test]
fn a_device_rebuilt_from_its_journal_keeps_its_contacts_groups_and_ratchets() {
    use journal::Input;
    let mut po = PostOffice::default();
    let (mut a, mut b) = (Journaled::new(21), Journaled::new(22));
    let card = b.device.contact_request_reference();
    a.input(Input::ContactRequestSend {
        card,
        now: NOW,
        providers: providers(),
    })
    .unwrap();
    settle_journaled(&mut po, &mut [&mut a, &mut b]);
    let g = a.device.contacts()[&b.device.account_id()];
    a.input(Input::AppMessageSend {
        group: g,
        payload: b"before".to_vec(),
    })
    .unwrap();
    settle_journaled(&mut po, &mut [&mut a, &mut b]);

    // b restarts: same contacts, groups, messages
    let (contacts, groups, messages) = (
        b.device.contacts().clone(),
        b.device.group_ids(),
        payloads(&b.device, &g),
    );
    b.restart(&mut po);
    assert_eq!(b.device.contacts(), &contacts);
    assert_eq!(b.device.group_ids(), groups);
    assert_eq!(payloads(&b.device, &g), messages);
    assert_eq!(messages, vec![b"before".to_vec()]);

    // its ratchet goes on where it was: a reads what it writes, and the other way round
    b.input(Input::AppMessageSend {
        group: g,
        payload: b"after restart".to_vec(),
    })
    .unwrap();
    a.input(Input::AppMessageSend {
        group: g,
        payload: b"welcome back".to_vec(),
    })
    .unwrap();
    settle_journaled(&mut po, &mut [&mut a, &mut b]);
    assert_eq!(payloads(&a.device, &g), vec![b"after restart".to_vec()]);
    assert_eq!(
        payloads(&b.device, &g),
        vec![b"before".to_vec(), b"welcome back".to_vec()]
    );
    assert_eq!(a.device.stats().refused_invalid_entry, 0);

    // a group made after, then a restart of its creator
    let mg = a.input(Input::MultiMemberGroupCreate).unwrap().unwrap();
    let inv = a.device.multi_member_group_invitation_create(&mg).unwrap();
    b.input(Input::MultiMemberGroupJoin { invitation: inv })
        .unwrap();
    settle_journaled(&mut po, &mut [&mut a, &mut b]);
    a.restart(&mut po);
    a.input(Input::AppMessageSend {
        group: mg,
        payload: b"group, after".to_vec(),
    })
    .unwrap();
    settle_journaled(&mut po, &mut [&mut a, &mut b]);
    assert_eq!(payloads(&b.device, &mg), vec![b"group, after".to_vec()]);
}

#[test]
fn garbage_is_not_journaled_and_damaged_journals_are_refused() {
    use journal::{Input, RestoreError};
    let mut j = Journaled::new(31);
    let before = j.records.len();
    for junk in [vec![], vec![0xff; 40], vec![1, 0x30, 9, 9, 9]] {
        assert!(j.input(Input::Message { bytes: junk }).is_err());
    }
    assert_eq!(j.records.len(), before, "refused garbage adds no record");
    j.input(Input::MultiMemberGroupCreate).unwrap();

    // a flipped check: the replay notices
    let mut bad = j.records.clone();
    let last = bad.len() - 1;
    bad[last][5] ^= 1;
    assert!(matches!(
        journal::restore(j.seed, j.home, &bad),
        Err(RestoreError::Diverged { index, .. }) if index == last
    ));
    // truncated and unknown records: decode errors, never a panic
    let mut cut = j.records.clone();
    cut[last].truncate(10);
    assert!(matches!(
        journal::restore(j.seed, j.home, &cut),
        Err(RestoreError::Decode { .. })
    ));
    for bytes in [vec![], vec![9; 30], vec![1; 64]] {
        assert!(journal::JournalRecord::decode(&bytes).is_err());
    }
    // the intact journal restores
    assert!(journal::restore(j.seed, j.home, &j.records).is_ok());
}

proptest::proptest! {
    #[test]
    fn journal_records_decode_without_panicking(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
        if let Ok(r) = journal::JournalRecord::decode(&bytes) {
            proptest::prop_assert_eq!(r.encode(), bytes);
        }
    }
}
