//! What a client reads from its provider's mailbox service:
//! `mailbox::wire::Response::decode` and the `MailboxClient` steps that take a response
//! (register, challenge → pull, pull response, confirm). Asserts: a decoded response
//! re-encodes to the same bytes; the client never accepts more payloads than it asked for.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wesh_fuzz::{assert_canonical, rng};
use wesh_mix::mailbox::wire::Response;
use wesh_mix::{MailboxClient, NodeId};

fuzz_target!(|data: &[u8]| {
    assert_canonical(data, Response::decode, Response::encode);
    let client = MailboxClient::generate(NodeId([5; 32]), &mut rng(2));
    let _ = client.on_register_response(data);
    let _ = client.on_confirm_response(data);
    if let Ok((_, pending)) = client.pull_request(data, 4) {
        // the challenge nonce is now the pending pull's; feed the same bytes as a response
        if let Ok(pulled) = client.open_pull_response(&pending, data) {
            assert!(pulled.payloads.len() <= 4);
        }
    }
    if let Some(Response::PullResponse { nonce, .. }) = Response::decode(data).ok() {
        for max in [1, 16] {
            if let Ok((_, pending)) = client.pull_request_with(nonce, max) {
                if let Ok(pulled) = client.open_pull_response(&pending, data) {
                    assert!(pulled.payloads.len() <= usize::from(max));
                }
            }
        }
    }
});
