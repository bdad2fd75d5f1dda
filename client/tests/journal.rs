//! Devices rebuilt from their input journals (`WeshDevice::take_journal` / `restore`):
//! three accounts become contacts, share a group with a replication provider and talk,
//! while each is dropped and rebuilt at several points of the story; damaged journals and
//! garbage input. The in-memory post office stands in for the mixnet, as in
//! `messenger.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;

use wesh_client::messenger::envelope::{Inner, Outer};
use wesh_client::messenger::journal::{Input, restore};
use wesh_client::messenger::{
    DeviceLink, GroupMessage, GroupMetadataView, JournalRecord, MailboxAddress, RestoreError,
    WeshDevice, WeshStats,
};
use wesh_client::rendezvous::RotationPeriod;

const NOW: u64 = 1_800_000_000;

fn providers() -> Vec<[u8; 32]> {
    (1..=3u8).map(|i| [i; 32]).collect()
}

/// A device with its "disk": seed, home and the encoded journal records written so far.
struct Account {
    seed: [u8; 32],
    home: MailboxAddress,
    device: WeshDevice,
    disk: Vec<Vec<u8>>,
}

impl Account {
    fn new(i: u8, auto_accept: bool) -> Self {
        let home = MailboxAddress {
            provider: providers()[usize::from(i) % 3],
            mailbox: [100 + i; 32],
        };
        let mut device = WeshDevice::new_account([i; 32], home).unwrap();
        device.set_auto_accept(auto_accept);
        Account {
            seed: [i; 32],
            home,
            device,
            disk: Vec::new(),
        }
    }

    /// What the node does before anything the device produced leaves.
    fn persist(&mut self) {
        let records = self.device.take_journal();
        self.disk.extend(records.iter().map(JournalRecord::encode));
    }

    fn records(&self) -> Vec<JournalRecord> {
        self.disk
            .iter()
            .map(|b| JournalRecord::decode(b).unwrap())
            .collect()
    }

    /// Drops the device and rebuilds it from its disk; it must look the same.
    fn restart(&mut self, po: &mut PostOffice) {
        po.collect_account(self);
        let before = State::of(&self.device);
        self.device = WeshDevice::restore(self.seed, self.home, &self.records()).unwrap();
        assert!(self.device.take_journal().is_empty());
        assert!(self.device.take_outgoing().is_empty());
        assert!(self.device.take_events().is_empty());
        assert_eq!(State::of(&self.device), before);
    }
}

/// Everything the API shows of a device.
#[derive(Debug, PartialEq)]
struct State {
    account: [u8; 32],
    device: [u8; 32],
    card: Vec<u8>,
    rendezvous: MailboxAddress,
    contacts: BTreeMap<[u8; 32], [u8; 32]>,
    pending: Vec<[u8; 32]>,
    groups: Vec<([u8; 32], GroupMetadataView, Vec<GroupMessage>)>,
    stats: WeshStats,
}

impl State {
    fn of(d: &WeshDevice) -> Self {
        State {
            account: d.account_id(),
            device: d.device_id(),
            card: d.contact_request_reference(),
            rendezvous: d
                .rendezvous_registration(NOW, &providers())
                .unwrap()
                .address,
            contacts: d.contacts().clone(),
            pending: d.contact_requests_pending(),
            groups: d
                .group_ids()
                .into_iter()
                .map(|g| {
                    (
                        g,
                        d.group_metadata(&g).unwrap(),
                        d.group_message_list(&g).unwrap().to_vec(),
                    )
                })
                .collect(),
            // no input was refused in these stories, so even the counters match
            stats: d.stats().clone(),
        }
    }
}

use common::PostOffice;

/// The post office with accounts that journal as they go.
impl PostOffice {
    fn collect_account(&mut self, a: &mut Account) {
        a.persist();
        self.collect(&mut a.device);
    }

    /// Delivers what waits at `a`'s home and rendezvous mailboxes; every message opens.
    fn deliver_account(&mut self, a: &mut Account) -> usize {
        self.deliver(&mut a.device, &providers(), NOW)
    }

    /// Runs until nothing moves; `offline` accounts get no mail.
    fn settle(&mut self, accounts: &mut [&mut Account], offline: &[usize]) {
        for _ in 0..50 {
            let mut moved = 0;
            for a in accounts.iter_mut() {
                self.collect_account(a);
            }
            for (i, a) in accounts.iter_mut().enumerate() {
                if !offline.contains(&i) {
                    moved += self.deliver_account(a);
                }
            }
            for a in accounts.iter_mut() {
                self.collect_account(a);
            }
            if moved == 0 {
                return;
            }
        }
        panic!("post office did not settle");
    }
}

/// Two auto-accepting accounts (seeds `x`, `y`) that became contacts, and their contact
/// group.
fn contacts(x: u8, y: u8) -> (PostOffice, Account, Account, [u8; 32]) {
    let mut po = PostOffice::default();
    let mut a = Account::new(x, true);
    let mut b = Account::new(y, true);
    let card = b.device.contact_request_reference();
    a.device
        .contact_request_send(&card, NOW, &providers())
        .unwrap();
    po.settle(&mut [&mut a, &mut b], &[]);
    let ab = a.device.contacts()[&b.device.account_id()];
    (po, a, b, ab)
}

fn others_payloads(a: &Account, g: &[u8; 32]) -> Vec<Vec<u8>> {
    a.device
        .group_message_list(g)
        .unwrap()
        .iter()
        .filter(|m| !m.own)
        .map(|m| m.payload.clone())
        .collect()
}

fn no_refusals(accounts: &[&Account]) {
    for a in accounts {
        let s = a.device.stats();
        assert_eq!(
            (
                s.refused_envelope,
                s.refused_handshake,
                s.refused_invalid_entry,
                s.refused_unknown_group
            ),
            (0, 0, 0, 0),
            "refusals: {s:?}"
        );
    }
}

#[test]
fn three_accounts_survive_restarts_throughout_a_story() {
    let mut po = PostOffice::default();
    let mut a = Account::new(1, true);
    let mut b = Account::new(2, true);
    let mut c = Account::new(3, false);

    // a asks b; b restarts in the middle of the handshake (after answering the Hello)
    let card_b = b.device.contact_request_reference();
    a.device
        .contact_request_send(&card_b, NOW, &providers())
        .unwrap();
    po.collect_account(&mut a);
    assert_eq!(po.deliver_account(&mut b), 1);
    b.restart(&mut po);
    po.settle(&mut [&mut a, &mut b], &[]);
    let ab = a.device.contacts()[&b.device.account_id()];
    assert_eq!(b.device.contacts()[&a.device.account_id()], ab);

    // b asks c, who decides by hand: c restarts with the request pending, then accepts
    let card_c = c.device.contact_request_reference();
    b.device
        .contact_request_send(&card_c, NOW, &providers())
        .unwrap();
    po.settle(&mut [&mut a, &mut b, &mut c], &[]);
    assert_eq!(
        c.device.contact_requests_pending(),
        vec![b.device.account_id()]
    );
    c.restart(&mut po);
    assert_eq!(
        c.device.contact_requests_pending(),
        vec![b.device.account_id()]
    );
    c.device
        .contact_request_accept(&b.device.account_id())
        .unwrap();
    po.settle(&mut [&mut a, &mut b, &mut c], &[]);
    let bc = b.device.contacts()[&c.device.account_id()];
    assert_eq!(c.device.contacts()[&b.device.account_id()], bc);

    // contact messages, then both ends of a-b restart and keep talking
    a.device.app_message_send(&ab, b"hi b").unwrap();
    b.device.app_message_send(&ab, b"hi a").unwrap();
    po.settle(&mut [&mut a, &mut b, &mut c], &[]);
    a.restart(&mut po);
    b.restart(&mut po);
    a.device.app_message_send(&ab, b"still there?").unwrap();
    b.device.app_message_send(&ab, b"yes").unwrap();
    po.settle(&mut [&mut a, &mut b, &mut c], &[]);
    assert_eq!(
        others_payloads(&b, &ab),
        vec![b"hi b".to_vec(), b"still there?".to_vec()]
    );
    assert_eq!(
        others_payloads(&a, &ab),
        vec![b"hi a".to_vec(), b"yes".to_vec()]
    );

    // a makes a group with a replication provider; b and c join; a restarts
    let g = a.device.multi_member_group_create().unwrap();
    po.register_replica(&a.device, &g);
    a.device
        .replication_register_group(&g, providers()[2])
        .unwrap();
    let inv = a.device.multi_member_group_invitation_create(&g).unwrap();
    b.device.multi_member_group_join(&inv).unwrap();
    c.device.multi_member_group_join(&inv).unwrap();
    po.settle(&mut [&mut a, &mut b, &mut c], &[]);
    a.restart(&mut po);
    for x in [&a, &b, &c] {
        let m = x.device.group_metadata(&g).unwrap();
        assert_eq!((m.members.len(), m.device_mailboxes.len()), (3, 3));
    }
    a.device.app_message_send(&g, b"one").unwrap();
    b.device.app_message_send(&g, b"two").unwrap();
    po.settle(&mut [&mut a, &mut b, &mut c], &[]);
    assert_eq!(
        others_payloads(&c, &g),
        vec![b"one".to_vec(), b"two".to_vec()]
    );

    // c is offline while a and b talk; it restarts, catches up from the replica's history,
    // restarts again, then takes its mailbox (duplicates by then)
    a.device.app_message_send(&g, b"three").unwrap();
    b.device.app_message_send(&g, b"four").unwrap();
    po.settle(&mut [&mut a, &mut b, &mut c], &[2]);
    c.restart(&mut po);
    let history = po.replica_log[&g].clone();
    c.device.ingest_history(g, history).unwrap();
    c.restart(&mut po);
    po.settle(&mut [&mut a, &mut b, &mut c], &[]);
    let all: Vec<Vec<u8>> = ["one", "two", "three", "four"]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
    assert_eq!(others_payloads(&c, &g), all);

    // settings and a renewed rendezvous seed survive too
    b.device
        .set_rotation_period(RotationPeriod::from_secs(3600).unwrap());
    b.device.renew_rendezvous_seed();
    b.restart(&mut po);
    assert_ne!(b.device.contact_request_reference(), card_b);

    // everyone restarts, then everyone writes: each reads the others, nobody refuses
    // anything (keys, chain counters and logs are where the peers expect them)
    a.restart(&mut po);
    b.restart(&mut po);
    c.restart(&mut po);
    a.device.app_message_send(&g, b"from a").unwrap();
    b.device.app_message_send(&g, b"from b").unwrap();
    c.device.app_message_send(&g, b"from c").unwrap();
    b.device.app_message_send(&bc, b"b to c").unwrap();
    c.device.app_message_send(&bc, b"c to b").unwrap();
    po.settle(&mut [&mut a, &mut b, &mut c], &[]);
    assert!(others_payloads(&a, &g).ends_with(&[b"from b".to_vec(), b"from c".to_vec()]));
    assert!(others_payloads(&b, &g).ends_with(&[b"from a".to_vec(), b"from c".to_vec()]));
    assert!(others_payloads(&c, &g).ends_with(&[b"from a".to_vec(), b"from b".to_vec()]));
    assert_eq!(others_payloads(&c, &bc), vec![b"b to c".to_vec()]);
    assert_eq!(others_payloads(&b, &bc), vec![b"c to b".to_vec()]);
    no_refusals(&[&a, &b, &c]);
    assert_eq!(po.replica.stats().refused_invalid_entry, 0);

    // the journal starts with how the device was made, and nothing else makes one
    let records = a.records();
    assert_eq!(records[0].input, Input::NewAccount { home: a.home });
    assert!(
        records[1..]
            .iter()
            .all(|r| !matches!(r.input, Input::NewAccount { .. }))
    );
}

#[test]
fn a_linked_device_is_rebuilt_from_its_link() {
    let mut po = PostOffice::default();
    let mut a = Account::new(41, true);
    let mut b = Account::new(42, true);
    let card = b.device.contact_request_reference();
    a.device
        .contact_request_send(&card, NOW, &providers())
        .unwrap();
    po.settle(&mut [&mut a, &mut b], &[]);
    let g = b.device.multi_member_group_create().unwrap();
    let inv = b.device.multi_member_group_invitation_create(&g).unwrap();
    a.device.multi_member_group_join(&inv).unwrap();
    po.settle(&mut [&mut a, &mut b], &[]);

    // linking changes nothing on a: nothing to journal there
    let home = MailboxAddress {
        provider: providers()[0],
        mailbox: [77; 32],
    };
    // through a link code, as a device in another process gets it
    let code = a.device.device_link().unwrap().encode();
    assert!(a.device.take_journal().is_empty());
    for cut in 0..code.len() {
        assert!(DeviceLink::decode(&code[..cut]).is_err());
    }
    let mut wrong = code.to_vec();
    wrong[1] = 0x35;
    assert!(DeviceLink::decode(&wrong).is_err());
    let a2_device =
        WeshDevice::from_link([43; 32], home, DeviceLink::decode(&code).unwrap()).unwrap();
    let mut a2 = Account {
        seed: [43; 32],
        home,
        device: a2_device,
        disk: Vec::new(),
    };
    a2.device.set_auto_accept(true);
    a2.restart(&mut po);
    assert!(matches!(a2.records()[0].input, Input::LinkedDevice { .. }));
    po.settle(&mut [&mut a, &mut b, &mut a2], &[]);
    assert!(a2.device.contacts().contains_key(&b.device.account_id()));
    assert!(a2.device.group_ids().contains(&g));
    a2.restart(&mut po);
    a.restart(&mut po);

    a2.device.app_message_send(&g, b"from a2").unwrap();
    b.device.app_message_send(&g, b"to both").unwrap();
    po.settle(&mut [&mut a, &mut b, &mut a2], &[]);
    assert!(others_payloads(&b, &g).contains(&b"from a2".to_vec()));
    assert!(others_payloads(&a, &g).contains(&b"from a2".to_vec()));
    assert!(others_payloads(&a2, &g).contains(&b"to both".to_vec()));
    no_refusals(&[&a, &b, &a2]);

    // the link fixes the home: another one is refused by name
    let other = MailboxAddress {
        provider: providers()[1],
        mailbox: [78; 32],
    };
    assert!(matches!(
        WeshDevice::restore(a2.seed, other, &a2.records()),
        Err(RestoreError::HomeMismatch { index: 0, .. })
    ));
}

#[test]
fn damaged_journals_are_refused_with_the_record_named() {
    let (mut po, mut a, mut b, ab) = contacts(51, 52);
    a.device.app_message_send(&ab, b"hello").unwrap();
    po.settle(&mut [&mut a, &mut b], &[]);
    assert!(restore(b.seed, b.home, &b.disk).is_ok());

    // a changed byte inside a received message: it no longer opens, the replay differs
    let records = b.records();
    let last_message = records
        .iter()
        .rposition(|r| matches!(r.input, Input::Message { .. }))
        .unwrap();
    let mut bad = records.clone();
    if let Input::Message { bytes } = &mut bad[last_message].input {
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x20;
    }
    let bad: Vec<Vec<u8>> = bad.iter().map(JournalRecord::encode).collect();
    assert!(matches!(
        restore(b.seed, b.home, &bad),
        Err(RestoreError::Diverged { index, .. }) if index == last_message
    ));

    // a changed check (the digest's last byte, just before the input's tag)
    let mut bad = b.disk.clone();
    bad[3][32] ^= 1;
    assert!(matches!(
        restore(b.seed, b.home, &bad),
        Err(RestoreError::Diverged { index: 3, .. })
    ));

    // truncated or unknown records: decode errors with the index
    let mut bad = b.disk.clone();
    bad[2].truncate(20);
    assert!(matches!(
        restore(b.seed, b.home, &bad),
        Err(RestoreError::Decode { index: 2, .. })
    ));
    bad[2] = vec![9; 40];
    assert!(matches!(
        restore(b.seed, b.home, &bad),
        Err(RestoreError::Decode { index: 2, .. })
    ));

    // another seed is another account: the first check differs
    assert!(matches!(
        restore([99; 32], b.home, &b.disk),
        Err(RestoreError::Diverged { index: 0, .. })
    ));
    // another home
    assert!(matches!(
        restore(b.seed, a.home, &b.disk),
        Err(RestoreError::HomeMismatch { index: 0, .. })
    ));
    // a creation record in the middle
    let mut bad = b.disk.clone();
    bad.insert(2, b.disk[0].clone());
    assert!(matches!(
        restore(b.seed, b.home, &bad),
        Err(RestoreError::MisplacedCreation { index: 2 })
    ));
    // any single flipped byte anywhere: an error or (where the byte does not matter) the
    // same device, never a panic
    for (i, record) in b.disk.iter().enumerate() {
        for at in (0..record.len()).step_by(7) {
            let mut bad = b.disk.clone();
            bad[i][at] ^= 0x5a;
            let _ = restore(b.seed, b.home, &bad);
        }
    }
}

#[test]
fn refused_garbage_is_not_journaled() {
    let (_, mut a, mut b, ab) = contacts(61, 62);
    a.device.app_message_send(&ab, b"x").unwrap();
    a.persist();
    let good = a.device.take_outgoing().remove(0).bytes;
    b.persist();
    let state = State::of(&b.device);

    // undecodable, truncated, tampered, sealed to someone else, for an unknown group
    let mut garbage = vec![vec![], vec![0xff; 40], vec![1, 0x30, 9, 9, 9]];
    garbage.extend(
        (0..good.len().min(100))
            .step_by(9)
            .map(|n| good[..n].to_vec()),
    );
    let mut tampered = good.clone();
    *tampered.last_mut().unwrap() ^= 1;
    garbage.push(tampered);
    let seal = |key: [u8; 32], group_id: [u8; 32]| {
        Outer::Sealed(
            wesh_client::messenger::sealed_box::seal_to(
                &mut rand::rng(),
                &ed25519_dalek::VerifyingKey::from_bytes(&key).unwrap(),
                &Inner::GroupEntries {
                    group_id,
                    entries: vec![vec![1, 2, 3]],
                }
                .encode(),
            )
            .unwrap(),
        )
        .encode()
    };
    garbage.push(seal(a.device.device_id(), ab));
    garbage.push(seal(b.device.device_id(), [7; 32]));
    for g in &garbage {
        assert!(b.device.on_message(g).is_err());
    }
    assert!(b.device.ingest_history([7; 32], vec![vec![1]]).is_err());
    // API calls refused before they change anything
    assert!(b.device.app_message_send(&[5; 32], b"x").is_err());
    assert!(
        b.device
            .multi_member_group_join(b"not an invitation")
            .is_err()
    );
    assert!(
        b.device
            .contact_request_send(b"bad card", NOW, &providers())
            .is_err()
    );
    assert!(b.device.contact_request_accept(&[1; 32]).is_err());
    assert!(b.device.contact_request_discard(&[1; 32]).is_err());
    assert!(b.device.take_journal().is_empty(), "refusals add no record");
    assert!(b.device.take_outgoing().is_empty());

    // the state is what it was, apart from the refusal counters, which a restore resets
    let counted = State::of(&b.device);
    assert!(counted.stats.refused_envelope > 0 && counted.stats.refused_unknown_group > 0);
    assert_eq!(
        State {
            stats: state.stats.clone(),
            ..counted
        },
        state
    );
    b.restart_expecting_counters_reset(&state);

    // the genuine message still goes through, and is journaled
    b.device.on_message(&good).unwrap();
    assert_eq!(b.device.take_journal().len(), 1);
    assert_eq!(others_payloads(&b, &ab), vec![b"x".to_vec()]);
}

impl Account {
    /// A restart after refused input: the same device, with the refusals not counted.
    fn restart_expecting_counters_reset(&mut self, expected: &State) {
        self.device = WeshDevice::restore(self.seed, self.home, &self.records()).unwrap();
        assert_eq!(&State::of(&self.device), expected);
    }
}

#[test]
fn a_refusal_that_changed_state_is_journaled() {
    let mut po = PostOffice::default();
    let mut a = Account::new(71, true);
    let g = a.device.multi_member_group_create().unwrap();
    let inv = a.device.multi_member_group_invitation_create(&g).unwrap();
    a.persist();
    // joining a group it is in fails after drawing the new member device's keys: the
    // replay must draw them too, or every later key would differ
    assert!(a.device.multi_member_group_join(&inv).is_err());
    let records = a.device.take_journal();
    assert_eq!(records.len(), 1);
    assert!(matches!(
        records[0].input,
        Input::MultiMemberGroupJoin { .. }
    ));
    a.disk.extend(records.iter().map(JournalRecord::encode));
    a.restart(&mut po);

    // and without that record the next input's check catches the gap
    let mut b = Account::new(72, true);
    let inv = a.device.multi_member_group_invitation_create(&g).unwrap();
    b.device.multi_member_group_join(&inv).unwrap();
    po.settle(&mut [&mut a, &mut b], &[]);
    a.device.app_message_send(&g, b"after").unwrap();
    po.settle(&mut [&mut a, &mut b], &[]);
    assert_eq!(others_payloads(&b, &g), vec![b"after".to_vec()]);
    // new account, auto-accept, group create, the failed join
    let gap = 3;
    assert!(matches!(
        a.records()[gap].input,
        Input::MultiMemberGroupJoin { .. }
    ));
    let mut without = a.disk.clone();
    without.remove(gap);
    assert!(matches!(
        restore(a.seed, a.home, &without),
        Err(RestoreError::Diverged { index, .. }) if index == gap
    ));
}
