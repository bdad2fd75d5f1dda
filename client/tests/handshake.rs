//! Contact request handshake: success, and refusal of replay, man-in-the-middle, tampering,
//! wrong keys, blocked requesters and malformed messages.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use wesh_client::error::WeshError;
use wesh_client::group::GroupSecrets;
use wesh_client::handshake::{ContactRequestGate, start_request};
use wesh_client::identity::{ContactCard, Identity};

struct Run {
    hello: Vec<u8>,
    reply: Vec<u8>,
    auth: Vec<u8>,
    accept: Vec<u8>,
    ack: Vec<u8>,
}

fn full_run(
    rng: &mut ChaCha20Rng,
    req: &Identity,
    resp: &Identity,
    gate: &mut ContactRequestGate,
) -> Run {
    let card = ContactCard::decode(&resp.contact_card().encode()).unwrap();
    let (r1, hello) = start_request(rng, req.account_key(), req.alias_public(), card.account_id);
    let (s1, reply) = gate
        .on_hello(rng, resp.account_key(), resp.alias_public(), &hello)
        .unwrap();
    let (r2, auth) = r1.on_responder_hello(&reply).unwrap();
    let (s2, accept) = s1.on_authenticate(gate, &auth).unwrap();
    assert_eq!(s2.requester().account_id, req.account_key().verifying_key());
    let (contact_of_req, ack) = r2.on_accept(&accept).unwrap();
    let contact_of_resp = s2.on_acknowledge(&ack).unwrap();
    assert_eq!(
        contact_of_req.account_id,
        resp.account_key().verifying_key()
    );
    assert_eq!(contact_of_req.alias_public, resp.alias_public());
    assert_eq!(
        contact_of_resp.account_id,
        req.account_key().verifying_key()
    );
    assert_eq!(contact_of_resp.alias_public, req.alias_public());
    Run {
        hello,
        reply,
        auth,
        accept,
        ack,
    }
}

fn setup(seed: u64) -> (ChaCha20Rng, Identity, Identity, Identity) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let a = Identity::generate(&mut rng);
    let b = Identity::generate(&mut rng);
    let m = Identity::generate(&mut rng);
    (rng, a, b, m)
}

#[test]
fn handshake_succeeds_and_both_derive_the_same_contact_group() {
    let (mut rng, a, b, _) = setup(40);
    let mut gate = ContactRequestGate::new();
    full_run(&mut rng, &a, &b, &mut gate);
    let ga = GroupSecrets::contact(a.account_key(), &b.account_key().verifying_key()).unwrap();
    let gb = GroupSecrets::contact(b.account_key(), &a.account_key().verifying_key()).unwrap();
    assert_eq!(ga.group_id_bytes(), gb.group_id_bytes());
    // A second, independent request also succeeds (fresh ephemeral keys).
    full_run(&mut rng, &a, &b, &mut gate);
}

#[test]
fn replayed_hello_is_refused() {
    let (mut rng, a, b, _) = setup(41);
    let mut gate = ContactRequestGate::new();
    let run = full_run(&mut rng, &a, &b, &mut gate);
    assert!(matches!(
        gate.on_hello(&mut rng, b.account_key(), b.alias_public(), &run.hello),
        Err(WeshError::Replay)
    ));
}

#[test]
fn replayed_authenticate_and_accept_fail_in_a_new_session() {
    let (mut rng, a, b, _) = setup(42);
    let mut gate = ContactRequestGate::new();
    let old = full_run(&mut rng, &a, &b, &mut gate);
    // An attacker replays the old Authenticate against a fresh responder session.
    let (_, hello) = start_request(
        &mut rng,
        a.account_key(),
        a.alias_public(),
        b.account_key().verifying_key(),
    );
    let (s1, _) = gate
        .on_hello(&mut rng, b.account_key(), b.alias_public(), &hello)
        .unwrap();
    assert!(matches!(
        s1.on_authenticate(&gate, &old.auth),
        Err(WeshError::DecryptionFailed(_))
    ));
    // ...or the old Responder Hello + Accept against a fresh requester session.
    let (r1, _) = start_request(
        &mut rng,
        a.account_key(),
        a.alias_public(),
        b.account_key().verifying_key(),
    );
    let (r2, _) = r1.on_responder_hello(&old.reply).unwrap();
    assert!(matches!(
        r2.on_accept(&old.accept),
        Err(WeshError::DecryptionFailed(_))
    ));
}

#[test]
fn wrong_responder_key_is_detected() {
    let (mut rng, a, b, m) = setup(43);
    let mut gate = ContactRequestGate::new();
    // The requester believes it talks to M but reaches B: B cannot open the Authenticate.
    let (r1, hello) = start_request(
        &mut rng,
        a.account_key(),
        a.alias_public(),
        m.account_key().verifying_key(),
    );
    let (s1, reply) = gate
        .on_hello(&mut rng, b.account_key(), b.alias_public(), &hello)
        .unwrap();
    let (_, auth) = r1.on_responder_hello(&reply).unwrap();
    assert!(matches!(
        s1.on_authenticate(&gate, &auth),
        Err(WeshError::DecryptionFailed(_))
    ));
}

#[test]
fn man_in_the_middle_cannot_read_or_answer() {
    let (mut rng, a, b, m) = setup(44);
    let mut m_gate = ContactRequestGate::new();
    let mut b_gate = ContactRequestGate::new();
    // A wants B; M intercepts the hello and answers with her own ephemeral key.
    let (r1, hello) = start_request(
        &mut rng,
        a.account_key(),
        a.alias_public(),
        b.account_key().verifying_key(),
    );
    let (m1, m_reply) = m_gate
        .on_hello(&mut rng, m.account_key(), m.alias_public(), &hello)
        .unwrap();
    let (r2, auth) = r1.on_responder_hello(&m_reply).unwrap();
    // M cannot open A's Authenticate: it is sealed with DH(A's ephemeral, B's account key).
    assert!(matches!(
        m1.on_authenticate(&m_gate, &auth),
        Err(WeshError::DecryptionFailed(_))
    ));
    // Forwarding it to B fails too: B's ephemeral key is not the one A used.
    let (b1, _) = b_gate
        .on_hello(&mut rng, b.account_key(), b.alias_public(), &hello)
        .unwrap();
    assert!(matches!(
        b1.on_authenticate(&b_gate, &auth),
        Err(WeshError::DecryptionFailed(_))
    ));
    // An Accept B produced in M's own (honest) handshake means nothing to A.
    let run = full_run(&mut rng, &m, &b, &mut b_gate);
    assert!(matches!(
        r2.on_accept(&run.accept),
        Err(WeshError::DecryptionFailed(_))
    ));
}

#[test]
fn tampered_boxes_are_refused() {
    let (mut rng, a, b, _) = setup(45);
    let mut gate = ContactRequestGate::new();
    for target in 0..3 {
        let (r1, hello) = start_request(
            &mut rng,
            a.account_key(),
            a.alias_public(),
            b.account_key().verifying_key(),
        );
        let (s1, reply) = gate
            .on_hello(&mut rng, b.account_key(), b.alias_public(), &hello)
            .unwrap();
        let (r2, mut auth) = r1.on_responder_hello(&reply).unwrap();
        if target == 0 {
            auth[10] ^= 1;
            assert!(matches!(
                s1.on_authenticate(&gate, &auth),
                Err(WeshError::DecryptionFailed(_))
            ));
            continue;
        }
        let (s2, mut accept) = s1.on_authenticate(&gate, &auth).unwrap();
        if target == 1 {
            let n = accept.len();
            accept[n - 1] ^= 0x80;
            assert!(matches!(
                r2.on_accept(&accept),
                Err(WeshError::DecryptionFailed(_))
            ));
            continue;
        }
        let (_, mut ack) = r2.on_accept(&accept).unwrap();
        ack[5] ^= 4;
        assert!(matches!(
            s2.on_acknowledge(&ack),
            Err(WeshError::DecryptionFailed(_))
        ));
    }
}

#[test]
fn blocked_requester_is_refused() {
    let (mut rng, a, b, m) = setup(46);
    let mut gate = ContactRequestGate::new();
    gate.block(&m.account_key().verifying_key());
    let (r1, hello) = start_request(
        &mut rng,
        m.account_key(),
        m.alias_public(),
        b.account_key().verifying_key(),
    );
    let (s1, reply) = gate
        .on_hello(&mut rng, b.account_key(), b.alias_public(), &hello)
        .unwrap();
    let (_, auth) = r1.on_responder_hello(&reply).unwrap();
    assert!(matches!(
        s1.on_authenticate(&gate, &auth),
        Err(WeshError::Blocked)
    ));
    // Others still get through; unblocking restores M.
    full_run(&mut rng, &a, &b, &mut gate);
    gate.unblock(&m.account_key().verifying_key());
    full_run(&mut rng, &m, &b, &mut gate);
}

#[test]
fn malformed_messages_give_typed_errors() {
    let (mut rng, a, b, _) = setup(47);
    let mut gate = ContactRequestGate::new();
    let run = full_run(&mut rng, &a, &b, &mut gate);
    // Truncations and extensions of a hello.
    for cut in 0..run.hello.len() {
        assert!(matches!(
            gate.on_hello(
                &mut rng,
                b.account_key(),
                b.alias_public(),
                &run.hello[..cut]
            ),
            Err(WeshError::Decode(_))
        ));
    }
    let mut long = run.hello.clone();
    long.push(0);
    assert!(matches!(
        gate.on_hello(&mut rng, b.account_key(), b.alias_public(), &long),
        Err(WeshError::Decode(_))
    ));
    // Wrong message type in each slot.
    assert!(
        gate.on_hello(&mut rng, b.account_key(), b.alias_public(), &run.reply)
            .is_err()
    );
    let (r1, hello) = start_request(
        &mut rng,
        a.account_key(),
        a.alias_public(),
        b.account_key().verifying_key(),
    );
    assert!(r1.on_responder_hello(&hello).is_err());
    // A low-order (all-zero) ephemeral key is refused.
    let zero = [vec![1u8, 0x10], vec![0u8; 32]].concat();
    assert!(matches!(
        gate.on_hello(&mut rng, b.account_key(), b.alias_public(), &zero),
        Err(WeshError::NonContributory)
    ));
    // Wrong version byte.
    let mut v2 = hello.clone();
    v2[0] = 2;
    assert!(matches!(
        gate.on_hello(&mut rng, b.account_key(), b.alias_public(), &v2),
        Err(WeshError::Decode(_))
    ));
    for bytes in [&run.auth, &run.accept, &run.ack] {
        assert!(!bytes.is_empty());
    }
    // Contact cards: every truncation refused.
    let card = b.contact_card().encode();
    for cut in 0..card.len() {
        assert!(ContactCard::decode(&card[..cut]).is_err());
    }
}
