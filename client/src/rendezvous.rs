//! Rendezvous points: `SHA-256(id ‖ HMAC-SHA256(seed, BE64(t) ‖ 0^24))`, exactly the spec's
//! `rendezvousPoint`, with `t` the Unix time rounded down to the rotation period.

use core::num::NonZeroU64;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::crypto::sha256;
use crate::error::{Result, WeshError};
use crate::params::{DEFAULT_ROTATION_PERIOD_SECS, RENDEZVOUS_SEED_LEN, RENDEZVOUS_TIME_BUF_LEN};

/// A 32-byte rendezvous seed. Public in the sense that it is shared with would-be contacts,
/// but still wiped on drop and not printed: whoever holds it can find the owner.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct RendezvousSeed(pub [u8; RENDEZVOUS_SEED_LEN]);

impl core::fmt::Debug for RendezvousSeed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("RendezvousSeed(<redacted>)")
    }
}

impl RendezvousSeed {
    pub fn random<R: rand::CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut seed = [0u8; RENDEZVOUS_SEED_LEN];
        rng.fill_bytes(&mut seed);
        Self(seed)
    }
}

/// How often rendezvous points change, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationPeriod(NonZeroU64);

impl RotationPeriod {
    pub fn from_secs(secs: u64) -> Result<Self> {
        NonZeroU64::new(secs)
            .map(Self)
            .ok_or(WeshError::InvalidParameter("rotation period must be > 0 s"))
    }
    pub fn secs(self) -> u64 {
        self.0.get()
    }
    /// Start of the period containing `now` (Unix seconds).
    pub fn round_down(self, now: u64) -> u64 {
        now - now % self.0.get()
    }
}

impl Default for RotationPeriod {
    fn default() -> Self {
        Self(NonZeroU64::MIN.saturating_add(DEFAULT_ROTATION_PERIOD_SECS - 1))
    }
}

/// The spec's `rendezvousPoint(id, seed, date)`; `unix` is used as given (already rounded).
pub fn rendezvous_point(id: &[u8], seed: &RendezvousSeed, unix: u64) -> [u8; 32] {
    let mut time_buf = [0u8; RENDEZVOUS_TIME_BUF_LEN];
    time_buf[..8].copy_from_slice(&unix.to_be_bytes());
    // HMAC accepts keys of any length, so this cannot fail for a 32-byte seed.
    let mac_tag: [u8; 32] = match <Hmac<Sha256> as KeyInit>::new_from_slice(&seed.0) {
        Ok(mut mac) => {
            mac.update(&time_buf);
            mac.finalize().into_bytes().into()
        }
        Err(_) => [0u8; 32],
    };
    sha256(&[id, &mac_tag])
}

/// Rendezvous point for the period containing `now`.
pub fn current_rendezvous_point(
    id: &[u8],
    seed: &RendezvousSeed,
    now: u64,
    period: RotationPeriod,
) -> [u8; 32] {
    rendezvous_point(id, seed, period.round_down(now))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn rotation_changes_point_only_at_period_boundary() {
        let seed = RendezvousSeed([7u8; 32]);
        let p = RotationPeriod::from_secs(3600).unwrap();
        let a = current_rendezvous_point(b"id", &seed, 7200, p);
        assert_eq!(a, current_rendezvous_point(b"id", &seed, 10_799, p));
        assert_ne!(a, current_rendezvous_point(b"id", &seed, 10_800, p));
        assert_ne!(a, current_rendezvous_point(b"other", &seed, 7200, p));
        assert_ne!(
            a,
            current_rendezvous_point(b"id", &RendezvousSeed([8u8; 32]), 7200, p)
        );
        assert!(RotationPeriod::from_secs(0).is_err());
        assert_eq!(RotationPeriod::default().secs(), 86_400);
    }
}
