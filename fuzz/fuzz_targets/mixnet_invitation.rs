//! A group invitation as sent over the mixnet, with the inviter's mailbox
//! (`MixnetInvitation::decode`), and the group invitation inside it. Asserts: both
//! re-encode to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wesh_client::invitation::{decode_invitation, encode_invitation};
use wesh_client::messenger::invitation::MixnetInvitation;
use wesh_fuzz::assert_canonical;

fuzz_target!(|data: &[u8]| {
    if let Some(inv) = assert_canonical(data, MixnetInvitation::decode, MixnetInvitation::encode) {
        assert_canonical(&inv.group, decode_invitation, encode_invitation);
    }
});
