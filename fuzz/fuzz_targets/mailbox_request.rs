//! What a provider's mailbox service reads from a client: `mailbox::wire::Request::decode`,
//! and a session of such frames answered by `MailboxServer::handle` on the in-memory
//! backend. Asserts: a decoded request re-encodes to the same bytes, and every answer the
//! server gives is a response frame that decodes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wesh_fuzz::{assert_canonical, rng};
use wesh_mix::NodeId;
use wesh_mix::mailbox::wire::{Request, Response};
use wesh_mix::mailbox::{InMemoryBackend, MailboxServer};

fuzz_target!(|data: &[u8]| {
    assert_canonical(data, Request::decode, Request::encode);
    // A session: frames of `len u16 ‖ bytes`, answered in turn.
    let Ok(mut backend) = InMemoryBackend::new(Default::default()) else {
        return;
    };
    let mut server = MailboxServer::new(NodeId([5; 32]));
    let mut rng = rng(1);
    let mut rest = data;
    let mut now = 1_000;
    while let Some((len, tail)) = rest.split_first_chunk::<2>() {
        let len = usize::from(u16::from_be_bytes(*len)).min(tail.len());
        let (frame, tail) = tail.split_at(len);
        rest = tail;
        now += 1;
        let answer = server.handle(frame, now, &mut rng, &mut backend);
        assert!(
            Response::decode(&answer).is_ok(),
            "the server sent a frame it cannot read"
        );
    }
});
