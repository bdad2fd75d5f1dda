//! The contact-request handshake messages (`handshake`: Requester Hello, Responder Hello,
//! Authenticate, Accept, Acknowledge), each fed to the party that reads it after an honest
//! run up to that step. The first byte picks the step. Asserts: no step accepts bytes that
//! are not the honest message (the messages are bound to fresh keys), and the honest run
//! itself completes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wesh_client::handshake::{ContactRequestGate, start_request};
use wesh_fuzz::{fixtures::parties, rng, split_selector};

fuzz_target!(|data: &[u8]| {
    let Some((step, msg)) = split_selector(data) else {
        return;
    };
    let p = parties();
    let mut rng = rng(u64::from(step));
    let mut gate = ContactRequestGate::new();
    let (req1, hello) = start_request(
        &mut rng,
        &p.requester,
        p.requester_alias.verifying_key(),
        p.responder.verifying_key(),
    );
    match step % 5 {
        0 => {
            // the responder reads a Requester Hello: only an ephemeral key, any valid one
            let _ = gate.on_hello(
                &mut rng,
                &p.responder,
                p.responder_alias.verifying_key(),
                msg,
            );
            return;
        }
        1 => {
            // a Responder Hello is also just a key; what it leads to is sealed to it
            let _ = req1.on_responder_hello(msg);
            return;
        }
        _ => {}
    }
    let Ok((resp1, reply)) = gate.on_hello(
        &mut rng,
        &p.responder,
        p.responder_alias.verifying_key(),
        &hello,
    ) else {
        panic!("an honest hello was refused");
    };
    let Ok((req2, auth)) = req1.on_responder_hello(&reply) else {
        panic!("an honest responder hello was refused");
    };
    if step % 5 == 2 {
        if resp1.on_authenticate(&gate, msg).is_ok() {
            assert_eq!(msg, auth.as_slice(), "a forged Authenticate was accepted");
        }
        return;
    }
    let Ok((resp2, accept)) = resp1.on_authenticate(&gate, &auth) else {
        panic!("an honest authenticate was refused");
    };
    if step % 5 == 3 {
        if req2.on_accept(msg).is_ok() {
            assert_eq!(msg, accept.as_slice(), "a forged Accept was accepted");
        }
        return;
    }
    let Ok((_, ack)) = req2.on_accept(&accept) else {
        panic!("an honest accept was refused");
    };
    if resp2.on_acknowledge(msg).is_ok() {
        assert_eq!(msg, ack.as_slice(), "a forged Acknowledge was accepted");
    }
});
