//! The sealed body of a pull response as the client opens it (`mailbox::seal::open_pull`):
//! header and slots under the pull key. Two modes: raw bytes, and a real sealed answer
//! (`seal_pull` of payloads taken from the input) with one byte damaged. Asserts: an
//! intact answer opens to exactly what was sealed; a damaged one is refused.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wesh_mix::NodeId;
use wesh_mix::mailbox::seal::{open_pull, pull_cipher, seal_pull};
use wesh_mix::mailbox::wire::pull_sealed_bytes;
use wesh_mix::mailbox::{MailboxId, PullSecret};

fuzz_target!(|data: &[u8]| {
    let Ok(cipher) = pull_cipher(
        &PullSecret([1; 32]),
        &NodeId([2; 32]),
        &MailboxId([3; 32]),
        &[4; wesh_mix::params::MAILBOX_NONCE_BYTES],
    ) else {
        return;
    };
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        let max = u16::from(mode >> 1) % 16 + 1;
        if let Ok(opened) = open_pull(&cipher, rest, max) {
            assert!(opened.payloads.len() <= usize::from(max));
        }
        return;
    }
    let [max, remaining, p0, p1, mask, body @ ..] = rest else {
        return;
    };
    let max = u16::from(*max % 16) + 1;
    let payloads: Vec<(u64, Vec<u8>)> = body
        .chunks(97)
        .take(usize::from(max))
        .zip(1u64..)
        .map(|(c, seq)| (seq, c.to_vec()))
        .collect();
    let slots = usize::from(max);
    let Ok(mut sealed) = seal_pull(&cipher, u32::from(*remaining), &payloads, slots) else {
        return;
    };
    assert_eq!(sealed.len(), pull_sealed_bytes(slots));
    let at = usize::from(u16::from_be_bytes([*p0, *p1])) % sealed.len();
    sealed[at] ^= *mask;
    match open_pull(&cipher, &sealed, max) {
        Ok(opened) => {
            assert_eq!(*mask, 0, "a damaged pull answer opened");
            assert_eq!(opened.payloads, payloads);
            assert_eq!(opened.remaining, u32::from(*remaining));
        }
        Err(e) => assert!(*mask != 0, "an intact pull answer was refused: {e:?}"),
    }
});
