//! The in-memory network of the messenger tests.
#![allow(dead_code, clippy::unwrap_used, clippy::panic)]

use std::collections::{BTreeMap, VecDeque};
use wesh_client::messenger::envelope::Outer;
use wesh_client::messenger::rendezvous_wire::RendezvousFrame;
use wesh_client::messenger::replica::ReplicaKeeper;
use wesh_client::messenger::{MailboxAddress, WeshDevice, replica_mailbox};

/// Where a message ends up and what it carries: a drop for a rendezvous mailbox is
/// unwrapped as the rendezvous provider's desk forwards it (its SURB path is tested in
/// `rendezvous_desk` and the node's tests); anything else stays as sent.
pub fn through_desk(to: MailboxAddress, bytes: Vec<u8>) -> (MailboxAddress, Vec<u8>) {
    match RendezvousFrame::decode(&bytes) {
        Ok(RendezvousFrame::Drop { mailbox, envelope }) => (
            MailboxAddress {
                provider: to.provider,
                mailbox,
            },
            envelope,
        ),
        _ => (to, bytes),
    }
}

/// Mailboxes by address, and a replication provider: an in-memory network that carries
/// what devices send, in order, with the rendezvous desk's forwarding (see
/// [`through_desk`]).
pub struct PostOffice {
    pub boxes: BTreeMap<MailboxAddress, VecDeque<Vec<u8>>>,
    pub replica: ReplicaKeeper,
    pub replica_log: BTreeMap<[u8; 32], Vec<Vec<u8>>>,
    /// Registrations (and renewals) the replication provider answered.
    pub replica_registrations: usize,
    /// Messages devices handed over.
    pub sent: usize,
}

/// The replication provider's node id in these tests (`providers()[2]`).
pub const REPLICA_PROVIDER: [u8; 32] = [3; 32];

impl Default for PostOffice {
    fn default() -> Self {
        PostOffice {
            boxes: BTreeMap::new(),
            replica: ReplicaKeeper::new(REPLICA_PROVIDER),
            replica_log: BTreeMap::new(),
            replica_registrations: 0,
            sent: 0,
        }
    }
}

impl PostOffice {
    /// What the node does for ReplicationServiceRegisterGroup: registers `group` of `d`
    /// (with `d`'s membership proof) at the replication provider.
    pub fn register_replica(&mut self, d: &WeshDevice, group: &[u8; 32]) {
        let registration = d
            .replication_registration(group, REPLICA_PROVIDER)
            .unwrap()
            .encode();
        self.replica_registration(&registration, 0);
    }

    /// The replication provider's handling of a registration at `now` (Unix seconds),
    /// free of charge: admits a new group, renews one in its window; returns the term's end.
    pub fn replica_registration(&mut self, registration: &[u8], now: u64) -> u64 {
        use wesh_client::messenger::replica::Registration;
        self.replica_registrations += 1;
        match self
            .replica
            .register(registration, [0xee; 32], now)
            .unwrap()
        {
            Registration::New { record, .. } => self.replica.admit(&record).unwrap(),
            Registration::Renewal { record, .. } => self.replica.renew(&record).unwrap(),
            Registration::Current { expires_at, .. } => expires_at,
        }
    }

    /// Takes what `d` sends: entries for a replica are verified and kept, the rest waits
    /// in mailboxes.
    pub fn collect(&mut self, d: &mut WeshDevice) {
        for out in d.take_outgoing() {
            self.sent += 1;
            let replica = match Outer::decode(&out.bytes) {
                Ok(Outer::Replica { group_id, .. }) => out.to.mailbox == replica_mailbox(&group_id),
                _ => false,
            };
            if replica {
                let acc = self.replica.on_message(&out.bytes).unwrap();
                self.replica_log
                    .entry(acc.group_id)
                    .or_default()
                    .extend(acc.entries.into_iter().map(|(_, e)| e));
            } else {
                let (to, bytes) = through_desk(out.to, out.bytes);
                self.boxes.entry(to).or_default().push_back(bytes);
            }
        }
    }

    /// Takes what waits for `d` at home and at its rendezvous mailbox (registered with
    /// `providers` at `now`).
    pub fn mail_for(&mut self, d: &WeshDevice, providers: &[[u8; 32]], now: u64) -> Vec<Vec<u8>> {
        let rdv = d.rendezvous_registration(now, providers).unwrap().address;
        let mut mail = Vec::new();
        for addr in [d.home(), rdv] {
            if let Some(q) = self.boxes.get_mut(&addr) {
                mail.extend(q.drain(..));
            }
        }
        mail
    }

    /// Gives `d` its mail; every message must open. Returns how many there were.
    pub fn deliver(&mut self, d: &mut WeshDevice, providers: &[[u8; 32]], now: u64) -> usize {
        let mail = self.mail_for(d, providers, now);
        for m in &mail {
            d.on_message(m).unwrap();
        }
        mail.len()
    }
}

// ---- devices and a settled post office, shared by the messenger and direct tests

pub const NOW: u64 = 1_800_000_000;

pub fn providers() -> Vec<[u8; 32]> {
    (1..=3u8).map(|i| [i; 32]).collect()
}

pub fn device(i: u8) -> WeshDevice {
    let home = MailboxAddress {
        provider: providers()[usize::from(i) % 3],
        mailbox: [100 + i; 32],
    };
    let mut d = WeshDevice::new_account([i; 32], home).unwrap();
    d.set_auto_accept(true);
    d
}

/// Runs the post office until nothing moves.
pub fn settle(po: &mut PostOffice, devices: &mut [&mut WeshDevice], offline: &[usize]) {
    for _ in 0..50 {
        for d in devices.iter_mut() {
            po.collect(d);
        }
        let mut moved = 0;
        for (i, d) in devices.iter_mut().enumerate() {
            if !offline.contains(&i) {
                moved += po.deliver(d, &providers(), NOW);
            }
        }
        for d in devices.iter_mut() {
            po.collect(d);
        }
        if moved == 0 {
            return;
        }
    }
    panic!("post office did not settle");
}

pub fn befriend(po: &mut PostOffice, a: &mut WeshDevice, b: &mut WeshDevice) {
    let card = b.contact_request_reference();
    a.contact_request_send(&card, NOW, &providers()).unwrap();
    settle(po, &mut [a, b], &[]);
    assert!(a.contacts().contains_key(&b.account_id()));
    assert!(b.contacts().contains_key(&a.account_id()));
}

pub fn payloads(d: &WeshDevice, g: &[u8; 32]) -> Vec<Vec<u8>> {
    d.group_message_list(g)
        .unwrap()
        .iter()
        .filter(|m| !m.own)
        .map(|m| m.payload.clone())
        .collect()
}
