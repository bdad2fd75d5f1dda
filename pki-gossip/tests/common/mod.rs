//! Fixtures shared by the integration tests: deterministic keys and descriptors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use ed25519_dalek::SigningKey;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use wesh_pki::{Descriptor, DescriptorBuilder, Directory, PkiParams, Role};
use x25519_dalek::{PublicKey, StaticSecret};

/// Epoch length used by tests: one minute, so `now` values stay readable.
pub const EPOCH: u64 = 60;

/// Unix time in the middle of `epoch`.
pub fn mid(epoch: u64) -> u64 {
    epoch * EPOCH + EPOCH / 2
}

pub fn params() -> PkiParams {
    PkiParams::with_epoch_length(EPOCH).unwrap()
}

pub fn directory() -> Directory {
    Directory::new(params()).unwrap()
}

/// Identity key number `n`, deterministic.
pub fn identity(n: u64) -> SigningKey {
    let mut rng = ChaCha20Rng::seed_from_u64(n);
    let mut secret = [0u8; 32];
    rng.fill_bytes(&mut secret);
    SigningKey::from_bytes(&secret)
}

/// Sphinx public key for node `n` and `epoch`, deterministic and valid.
pub fn sphinx_public(n: u64, epoch: u64) -> [u8; 32] {
    let mut rng =
        ChaCha20Rng::seed_from_u64(n.wrapping_mul(1_000_003).wrapping_add(epoch) ^ 0xabcd);
    let mut secret = [0u8; 32];
    rng.fill_bytes(&mut secret);
    PublicKey::from(&StaticSecret::from(secret)).to_bytes()
}

/// A builder for a well-formed routing node descriptor for `issue_epoch`.
pub fn routing_builder(n: u64, role: Role, sequence: u64, issue_epoch: u64) -> DescriptorBuilder {
    DescriptorBuilder::new(role, sequence, issue_epoch)
        .capacity_pps(1_000)
        .address(format!("/ip4/10.0.{}.{}/tcp/4000", n / 256 % 256, n % 256))
        .sphinx_key(issue_epoch, sphinx_public(n, issue_epoch))
        .sphinx_key(issue_epoch + 1, sphinx_public(n, issue_epoch + 1))
}

pub fn mix(n: u64, sequence: u64, issue_epoch: u64) -> Descriptor {
    routing_builder(n, Role::Mix, sequence, issue_epoch)
        .sign(&identity(n))
        .unwrap()
}

pub fn provider(n: u64, sequence: u64, issue_epoch: u64) -> Descriptor {
    routing_builder(n, Role::Provider, sequence, issue_epoch)
        .sign(&identity(n))
        .unwrap()
}
