//! A contact request over a direct link (a local record): the requester holds the card,
//! the mixnet is down, the two meet and run the whole handshake over the link; a stranger
//! without the card matches nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{NOW, device, providers};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use wesh_client::direct::{DirectEvent, DirectKey, DirectMail, DirectSession};
use wesh_client::messenger::rendezvous_wire::rendezvous_service_mailbox;
use wesh_client::messenger::{DirectContact, WeshDevice};

/// One end: its session, its mail, and which contact key each index is.
struct End {
    session: DirectSession,
    mail: Option<DirectMail>,
    contacts: Vec<DirectContact>,
    outbox: Vec<u8>,
    /// Messages waiting for the mixnet (it is down) or for the peer to take them.
    waiting: Vec<wesh_client::messenger::Outgoing>,
}

impl End {
    fn new(d: &WeshDevice, rng: &mut ChaCha20Rng) -> Self {
        let keys = d.direct_contact_keys().unwrap();
        let contacts = keys.iter().map(|(c, _)| *c).collect();
        let keys: Vec<DirectKey> = keys.into_iter().map(|(_, k)| k).collect();
        let (session, hello) = DirectSession::start(keys, rng);
        End {
            session,
            mail: None,
            contacts,
            outbox: hello,
            waiting: Vec::new(),
        }
    }

    fn feed(&mut self, bytes: &[u8], d: &mut WeshDevice) {
        for e in self.session.receive(bytes).unwrap() {
            match e {
                DirectEvent::Send(f) => self.outbox.extend(f),
                DirectEvent::Matched(shared) => {
                    let mut mail = DirectMail::new(shared.clone());
                    for g in &shared {
                        let who = self.contacts[g.index];
                        let addresses = d.direct_contact_addresses(who, NOW, &providers()).unwrap();
                        if let Some(m) = mail.declare(g.index, &addresses) {
                            let f = self.session.send(&m).unwrap();
                            self.outbox.extend(f);
                        }
                    }
                    self.mail = Some(mail);
                }
                DirectEvent::Message(m) => {
                    let mail = self.mail.as_mut().unwrap();
                    assert!(DirectMail::is_mail(&m));
                    if let Some(got) = mail.receive(&m).unwrap() {
                        d.on_message(&got.bytes).unwrap();
                    }
                }
            }
        }
        self.pump(d);
    }

    /// What the device wants to send: over the link where the peer takes it, the rest
    /// waits.
    fn pump(&mut self, d: &mut WeshDevice) {
        self.waiting.extend(d.take_outgoing());
        let Some(mail) = self.mail.as_ref() else {
            return;
        };
        let mut still = Vec::new();
        for out in std::mem::take(&mut self.waiting) {
            let (to, bytes) = WeshDevice::direct_route(&out);
            match mail.mail(&to, &bytes) {
                Some(m) => {
                    let f = self.session.send(&m).unwrap();
                    self.outbox.extend(f);
                }
                None => still.push(out),
            }
        }
        self.waiting = still;
    }
}

fn meet(a: &mut WeshDevice, b: &mut WeshDevice, rng: &mut ChaCha20Rng) -> (End, End) {
    let (mut ea, mut eb) = (End::new(a, rng), End::new(b, rng));
    for _ in 0..100 {
        let (to_b, to_a) = (
            std::mem::take(&mut ea.outbox),
            std::mem::take(&mut eb.outbox),
        );
        if to_a.is_empty() && to_b.is_empty() {
            return (ea, eb);
        }
        eb.feed(&to_b, b);
        ea.feed(&to_a, a);
        ea.pump(a);
        eb.pump(b);
    }
    panic!("the link did not settle");
}

#[test]
fn two_strangers_become_contacts_over_a_link_with_the_mixnet_down() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let (mut a, mut b) = (device(1), device(2));
    let card = b.contact_request_reference();
    a.contact_request_send(&card, NOW, &providers()).unwrap();
    // the request's first message would go through the mixnet, which is down; it waits
    // in the device until a link takes it
    let (ea, _) = meet(&mut a, &mut b, &mut rng);
    assert!(a.contacts().contains_key(&b.account_id()), "a has b");
    assert!(b.contacts().contains_key(&a.account_id()), "b has a");
    // no step of the handshake waited for the rendezvous desk
    let desk = rendezvous_service_mailbox();
    assert!(
        ea.waiting.iter().all(|o| o.to.mailbox != desk),
        "all went over the link"
    );
    assert!(ea.mail.is_some());
}

#[test]
fn without_the_card_nothing_matches() {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let (mut a, mut c) = (device(1), device(3));
    let card_b = device(2).contact_request_reference();
    a.contact_request_send(&card_b, NOW, &providers()).unwrap();
    let (ea, ec) = meet(&mut a, &mut c, &mut rng);
    assert!(a.contacts().is_empty() && c.contacts().is_empty());
    let shared = |e: &End| e.mail.as_ref().map(|m| m.reaches(&[0; 64]));
    assert_eq!(shared(&ea), Some(false));
    assert_eq!(shared(&ec), Some(false));
}
