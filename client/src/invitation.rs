//! Group invitation: Group ID, Group Secret, Group Secret Sig and Attachment Key. Anyone in
//! the group can issue one; decoding refuses it unless the secret sig verifies.

use crate::codec::{Reader, Writer};
use crate::crypto::{SecretKey32, verifying_key};
use crate::error::{DecodeError, Result};
use crate::group::{GroupKind, GroupSecrets};
use crate::params::WIRE_VERSION;

pub const INVITATION_TAG: u8 = 0x02;
pub const INVITATION_LEN: usize = 3 + 32 + 32 + 64 + 32;

/// Encodes the invitation for `group` (contains the group secret: share over a secure channel).
pub fn encode_invitation(group: &GroupSecrets) -> Vec<u8> {
    let mut w = Writer::with_capacity(INVITATION_LEN);
    w.u8(WIRE_VERSION)
        .u8(INVITATION_TAG)
        .u8(group.kind() as u8)
        .bytes(group.group_id().as_bytes())
        .bytes(group.secret().expose())
        .bytes(group.secret_sig())
        .bytes(group.attachment_key().expose());
    w.finish()
}

/// Decodes and checks an invitation, giving the group's secrets.
pub fn decode_invitation(bytes: &[u8]) -> Result<GroupSecrets> {
    let mut r = Reader::new(bytes);
    r.version()?;
    let tag = r.u8()?;
    if tag != INVITATION_TAG {
        return Err(DecodeError::UnknownTag {
            what: "invitation",
            tag,
        }
        .into());
    }
    let kind = GroupKind::from_tag(r.u8()?)?;
    let group_id = verifying_key(&r.array()?, "group ID")?;
    let secret = SecretKey32::from_bytes(r.array()?);
    let secret_sig: [u8; 64] = r.array()?;
    let attachment_key = SecretKey32::from_bytes(r.array()?);
    r.finish()?;
    GroupSecrets::from_parts(kind, group_id, secret, secret_sig, attachment_key)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn round_trip_and_every_corruption_refused() {
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let (g, _) = GroupSecrets::generate(&mut rng, GroupKind::MultiMember).unwrap();
        let bytes = encode_invitation(&g);
        assert_eq!(bytes.len(), INVITATION_LEN);
        let back = decode_invitation(&bytes).unwrap();
        assert_eq!(back.group_id_bytes(), g.group_id_bytes());
        assert_eq!(back.secret(), g.secret());
        for cut in 0..bytes.len() {
            assert!(decode_invitation(&bytes[..cut]).is_err());
        }
        // Flipping any bit of version, tag, group ID, secret or sig must be refused. (The
        // kind byte and attachment key are not covered by the sig; kind is range-checked.)
        for i in 0..(3 + 32 + 32 + 64) {
            let mut bad = bytes.clone();
            bad[i] ^= 0x01;
            if i == 2 {
                bad[i] = 9;
            }
            assert!(decode_invitation(&bad).is_err(), "byte {i}");
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(decode_invitation(&long).is_err());
    }
}
