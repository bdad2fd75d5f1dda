//! Deterministic descriptors for the benches (shared via `#[path]`).
#![allow(dead_code)] // each bench uses a subset

use ed25519_dalek::SigningKey;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use wesh_pki::{DescriptorBuilder, Role};
use x25519_dalek::{PublicKey, StaticSecret};

/// Epoch the bench descriptors are issued for.
pub const EPOCH: u64 = 480_000;
/// Unix time inside [`EPOCH`] with the default one-hour epochs.
pub const NOW: u64 = EPOCH * 3_600 + 1_800;

/// `count` encoded mix/provider descriptors (one provider in ten) with two
/// realistic addresses each.
pub fn encoded_descriptors(count: usize) -> Vec<Vec<u8>> {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    (0..count)
        .filter_map(|i| {
            let mut secret = [0u8; 32];
            rng.fill_bytes(&mut secret);
            let identity = SigningKey::from_bytes(&secret);
            let mut sphinx = || {
                let mut s = [0u8; 32];
                rng.fill_bytes(&mut s);
                PublicKey::from(&StaticSecret::from(s)).to_bytes()
            };
            let (current, next) = (sphinx(), sphinx());
            let role = if i % 10 == 0 {
                Role::Provider
            } else {
                Role::Mix
            };
            DescriptorBuilder::new(role, 1, EPOCH)
                .capacity_pps(5_000)
                .address(format!(
                    "/ip4/10.{}.{}.{}/tcp/4000",
                    i >> 16 & 255,
                    i >> 8 & 255,
                    i & 255
                ))
                .address(format!("/ip6/2001:db8::{i:x}/udp/4000/quic-v1"))
                .sphinx_key(EPOCH, current)
                .sphinx_key(EPOCH + 1, next)
                .sign(&identity)
                .ok()
                .map(|d| d.as_bytes().to_vec())
        })
        .collect()
}
