//! Group secrets and their derivations: random for account and multi-member groups,
//! deterministic from the two account keys for contact groups, and the keys every entry uses.

use ed25519_dalek::{SigningKey, VerifyingKey};

use crate::crypto::{
    SecretKey32, agree, derive_key32, hkdf_sha256, sign, signing_key_from_seed, verify,
    x25519_public, x25519_secret,
};
use crate::entry::{EntryVerifier, EntryWriteKeys};
use crate::error::{DecodeError, Result};
use crate::ratchet::{RatchetContext, RatchetSalt};

const INFO_ENTRY_ENCRYPTION: &[u8] = b"wesh/v1/entry-encryption";
const INFO_ENTRY_SIGNING: &[u8] = b"wesh/v1/entry-signing";
const INFO_RATCHET_SALT: &[u8] = b"wesh/v1/ratchet-salt";
const INFO_CONTACT_GROUP: &[u8] = b"wesh/v1/contact-group";
const INFO_MEMBER_ID: &[u8] = b"wesh/v1/member-id";
const SECRET_SIG_DOMAIN: &[u8] = b"wesh/v1/group-secret-sig";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupKind {
    Account = 0,
    Contact = 1,
    MultiMember = 2,
}

impl GroupKind {
    pub fn from_tag(tag: u8) -> core::result::Result<Self, DecodeError> {
        match tag {
            0 => Ok(Self::Account),
            1 => Ok(Self::Contact),
            2 => Ok(Self::MultiMember),
            _ => Err(DecodeError::UnknownTag {
                what: "group kind",
                tag,
            }),
        }
    }
}

/// Everything a member holds about a group. Derived keys are computed once here.
pub struct GroupSecrets {
    kind: GroupKind,
    group_id: VerifyingKey,
    secret: SecretKey32,
    secret_sig: [u8; 64],
    attachment_key: SecretKey32,
    entry_encryption_key: SecretKey32,
    entry_signing_key: SigningKey,
    ratchet_salt: RatchetSalt,
}

impl core::fmt::Debug for GroupSecrets {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("GroupSecrets")
            .field("kind", &self.kind)
            .field("group_id", &hex::encode(self.group_id.as_bytes()))
            .finish_non_exhaustive()
    }
}

/// Message signed by the Group ID key to bind the group secret (through the public key
/// derived from it, a one-way commitment a replication server can use) to the group.
pub fn secret_sig_message(group_id: &[u8; 32], entry_verify_key: &VerifyingKey) -> Vec<u8> {
    [SECRET_SIG_DOMAIN, group_id, entry_verify_key.as_bytes()].concat()
}

/// Public key that verifies entry signatures, derived from the group secret.
pub fn entry_signing_key(group_id: &[u8; 32], secret: &SecretKey32) -> Result<SigningKey> {
    let seed = derive_key32(secret.expose(), group_id, INFO_ENTRY_SIGNING)?;
    Ok(signing_key_from_seed(&seed))
}

impl GroupSecrets {
    /// Rebuilds group secrets from their parts, refusing a secret sig that does not verify.
    pub fn from_parts(
        kind: GroupKind,
        group_id: VerifyingKey,
        secret: SecretKey32,
        secret_sig: [u8; 64],
        attachment_key: SecretKey32,
    ) -> Result<Self> {
        let gid = group_id.to_bytes();
        let entry_signing_key = entry_signing_key(&gid, &secret)?;
        verify(
            &group_id,
            &secret_sig_message(&gid, &entry_signing_key.verifying_key()),
            &secret_sig,
            "group secret sig",
        )?;
        let entry_encryption_key = derive_key32(secret.expose(), &gid, INFO_ENTRY_ENCRYPTION)?;
        let mut salt = [0u8; 64];
        hkdf_sha256(secret.expose(), &gid, INFO_RATCHET_SALT, &mut salt)?;
        Ok(Self {
            kind,
            group_id,
            secret,
            secret_sig,
            attachment_key,
            entry_encryption_key,
            entry_signing_key,
            ratchet_salt: RatchetSalt(salt),
        })
    }

    /// Signs the commitment to `secret` with the Group ID private key.
    pub fn from_group_key(
        kind: GroupKind,
        group_key: &SigningKey,
        secret: SecretKey32,
        attachment_key: SecretKey32,
    ) -> Result<Self> {
        let gid = group_key.verifying_key().to_bytes();
        let esk = entry_signing_key(&gid, &secret)?;
        let sig = sign(group_key, &secret_sig_message(&gid, &esk.verifying_key()));
        Self::from_parts(kind, group_key.verifying_key(), secret, sig, attachment_key)
    }

    /// Random secrets (account and multi-member groups). The returned Group ID private key
    /// is only for the creator's Init Member entry; drop it afterwards, as the spec says.
    pub fn generate<R: rand::CryptoRng + ?Sized>(
        rng: &mut R,
        kind: GroupKind,
    ) -> Result<(Self, SigningKey)> {
        let group_key = crate::crypto::generate_signing_key(rng);
        let secret = SecretKey32::random(rng);
        let attachment_key = SecretKey32::random(rng);
        let secrets = Self::from_group_key(kind, &group_key, secret, attachment_key)?;
        Ok((secrets, group_key))
    }

    /// Contact group of two accounts: X25519 of the two account keys, then HKDF with both
    /// account IDs (sorted) as salt, so either side, on any device, derives the same group.
    pub fn contact(my_account: &SigningKey, their_account: &VerifyingKey) -> Result<Self> {
        let shared = agree(&x25519_secret(my_account), &x25519_public(their_account))?;
        let mine = my_account.verifying_key().to_bytes();
        let theirs = their_account.to_bytes();
        let (lo, hi) = if mine <= theirs {
            (mine, theirs)
        } else {
            (theirs, mine)
        };
        let mut okm = [0u8; 96];
        hkdf_sha256(
            shared.expose(),
            &[lo, hi].concat(),
            INFO_CONTACT_GROUP,
            &mut okm,
        )?;
        let part = |i: usize| {
            let mut b = [0u8; 32];
            if let Some(src) = okm.get(i * 32..(i + 1) * 32) {
                b.copy_from_slice(src);
            }
            SecretKey32::from_bytes(b)
        };
        let group_seed = part(0);
        let secret = part(1);
        let attachment_key = part(2);
        zeroize::Zeroize::zeroize(&mut okm);
        let group_key = signing_key_from_seed(&group_seed);
        Self::from_group_key(GroupKind::Contact, &group_key, secret, attachment_key)
    }

    pub fn kind(&self) -> GroupKind {
        self.kind
    }
    pub fn group_id(&self) -> &VerifyingKey {
        &self.group_id
    }
    pub fn group_id_bytes(&self) -> [u8; 32] {
        self.group_id.to_bytes()
    }
    pub fn secret(&self) -> &SecretKey32 {
        &self.secret
    }
    pub fn secret_sig(&self) -> &[u8; 64] {
        &self.secret_sig
    }
    pub fn attachment_key(&self) -> &SecretKey32 {
        &self.attachment_key
    }
    pub fn entry_encryption_key(&self) -> &SecretKey32 {
        &self.entry_encryption_key
    }
    pub fn entry_verify_key(&self) -> VerifyingKey {
        self.entry_signing_key.verifying_key()
    }
    pub fn write_keys(&self) -> EntryWriteKeys<'_> {
        EntryWriteKeys {
            group_id: self.group_id_bytes(),
            encryption_key: &self.entry_encryption_key,
            signing_key: &self.entry_signing_key,
        }
    }
    pub fn verifier(&self) -> EntryVerifier {
        EntryVerifier {
            group_id: self.group_id_bytes(),
            verify_key: self.entry_verify_key(),
        }
    }
    pub fn ratchet_context(&self) -> RatchetContext {
        RatchetContext {
            salt: self.ratchet_salt.clone(),
            group_id: self.group_id_bytes(),
        }
    }
}

/// Member ID key of an account in a multi-member group: derived from the account secret and
/// the group ID, so all devices of an account agree on it, yet it is unlinkable across groups.
pub fn derive_member_key(account: &SigningKey, group_id: &[u8; 32]) -> Result<SigningKey> {
    let seed = derive_key32(account.as_bytes(), group_id, INFO_MEMBER_ID)?;
    Ok(signing_key_from_seed(&seed))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn contact_group_is_symmetric_and_pair_specific() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let a = crate::crypto::generate_signing_key(&mut rng);
        let b = crate::crypto::generate_signing_key(&mut rng);
        let c = crate::crypto::generate_signing_key(&mut rng);
        let ab = GroupSecrets::contact(&a, &b.verifying_key()).unwrap();
        let ba = GroupSecrets::contact(&b, &a.verifying_key()).unwrap();
        let ac = GroupSecrets::contact(&a, &c.verifying_key()).unwrap();
        assert_eq!(ab.group_id_bytes(), ba.group_id_bytes());
        assert_eq!(ab.secret(), ba.secret());
        assert_eq!(ab.attachment_key(), ba.attachment_key());
        assert_eq!(ab.secret_sig(), ba.secret_sig());
        assert_ne!(ab.group_id_bytes(), ac.group_id_bytes());
        assert_ne!(ab.secret(), ac.secret());
    }

    #[test]
    fn tampered_secret_sig_is_refused() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let (g, _) = GroupSecrets::generate(&mut rng, GroupKind::MultiMember).unwrap();
        let mut sig = *g.secret_sig();
        sig[5] ^= 1;
        assert!(
            GroupSecrets::from_parts(
                g.kind(),
                *g.group_id(),
                g.secret().clone(),
                sig,
                g.attachment_key().clone()
            )
            .is_err()
        );
        let other = SecretKey32::random(&mut rng);
        assert!(
            GroupSecrets::from_parts(
                g.kind(),
                *g.group_id(),
                other,
                *g.secret_sig(),
                g.attachment_key().clone()
            )
            .is_err()
        );
    }
}
