//! Per-epoch X25519 Sphinx keys: generate ahead, accept the previous one during a
//! grace period, then forget it (forward secrecy: a later compromise of the node
//! does not decrypt packets of retired epochs).

use std::collections::BTreeMap;

use rand::CryptoRng;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use crate::codec::Reader;
use crate::epoch::EpochClock;
use crate::error::{KeyRingError, ParamError};

/// Format version of [`SphinxKeyRing::to_bytes`].
const KEYRING_FORMAT_VERSION: u8 = 1;

/// Why a key is live at a given moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum KeyPhase {
    /// The key of the previous epoch, still accepted during the grace period.
    Grace,
    /// The key of the current epoch.
    Current,
}

/// A key that may decrypt packets at `now`. The node keeps one replay filter per
/// live key and drops the filter when the key stops being live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveKey {
    pub epoch: u64,
    pub public: [u8; 32],
    pub phase: KeyPhase,
}

/// What [`SphinxKeyRing::rotate`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyRotation {
    /// Epochs whose keys were generated now (publish them in the next descriptor).
    pub generated: Vec<u64>,
    /// Epochs whose keys were erased now (retire their replay filters).
    pub retired: Vec<u64>,
}

/// Holds the Sphinx secrets of the current and next epoch, plus the previous one
/// while its grace period lasts. Secrets are zeroized on drop by `StaticSecret`.
pub struct SphinxKeyRing {
    clock: EpochClock,
    grace_secs: u64,
    secrets: BTreeMap<u64, StaticSecret>,
}

impl std::fmt::Debug for SphinxKeyRing {
    // Never print secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SphinxKeyRing")
            .field("clock", &self.clock)
            .field("grace_secs", &self.grace_secs)
            .field("epochs", &self.secrets.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl SphinxKeyRing {
    /// An empty ring; call [`SphinxKeyRing::rotate`] to fill it.
    pub fn new(clock: EpochClock, grace_secs: u64) -> Result<Self, ParamError> {
        if grace_secs >= clock.length_secs() {
            return Err(ParamError::GraceTooLong {
                grace: grace_secs,
                epoch: clock.length_secs(),
            });
        }
        Ok(Self {
            clock,
            grace_secs,
            secrets: BTreeMap::new(),
        })
    }

    /// Ensures keys exist for the current and next epoch and erases keys that can
    /// no longer be live. Call at start-up, at every epoch boundary and when the
    /// grace period ends (or simply every few seconds: it is idempotent).
    pub fn rotate<R: CryptoRng + ?Sized>(&mut self, now: u64, rng: &mut R) -> KeyRotation {
        let current = self.clock.epoch_at(now);
        let mut rotation = KeyRotation::default();
        for epoch in [current, current.saturating_add(1)] {
            if let std::collections::btree_map::Entry::Vacant(slot) = self.secrets.entry(epoch) {
                let mut seed = Zeroizing::new([0u8; 32]);
                rng.fill_bytes(seed.as_mut());
                slot.insert(StaticSecret::from(*seed));
                rotation.generated.push(epoch);
            }
        }
        let expired: Vec<u64> = self
            .secrets
            .keys()
            .copied()
            .filter(|&epoch| epoch < current && !self.in_grace(epoch, now))
            .collect();
        for epoch in expired {
            self.secrets.remove(&epoch);
            rotation.retired.push(epoch);
        }
        rotation
    }

    /// Whether `epoch` is the previous epoch and `now` is inside its grace period.
    fn in_grace(&self, epoch: u64, now: u64) -> bool {
        let current = self.clock.epoch_at(now);
        epoch.saturating_add(1) == current && self.clock.secs_into_epoch(now) < self.grace_secs
    }

    /// Keys that may decrypt at `now`, oldest first.
    pub fn live_keys(&self, now: u64) -> Vec<LiveKey> {
        let current = self.clock.epoch_at(now);
        self.secrets
            .iter()
            .filter_map(|(&epoch, secret)| {
                let phase = if epoch == current {
                    KeyPhase::Current
                } else if self.in_grace(epoch, now) {
                    KeyPhase::Grace
                } else {
                    return None;
                };
                let public = PublicKey::from(secret).to_bytes();
                Some(LiveKey {
                    epoch,
                    public,
                    phase,
                })
            })
            .collect()
    }

    /// The secret for `epoch` if that key is live at `now`; a packet under any other
    /// key must be dropped.
    pub fn secret_for(&self, epoch: u64, now: u64) -> Option<&StaticSecret> {
        let current = self.clock.epoch_at(now);
        let live = epoch == current || self.in_grace(epoch, now);
        if live { self.secrets.get(&epoch) } else { None }
    }

    /// The secret held for `epoch` whether or not it is live yet: nodes also accept the
    /// next epoch's key (already published), so a sender whose clock runs slightly ahead
    /// loses nothing at the boundary.
    pub fn held_secret(&self, epoch: u64) -> Option<&StaticSecret> {
        self.secrets.get(&epoch)
    }

    /// Public key held for `epoch`, live or not (e.g. the next epoch's).
    pub fn public_key(&self, epoch: u64) -> Option<[u8; 32]> {
        self.secrets
            .get(&epoch)
            .map(|s| PublicKey::from(s).to_bytes())
    }

    /// (epoch, public key) for the current and next epoch, as the node's
    /// descriptor must list them. Missing entries mean `rotate` was not called.
    pub fn published_keys(&self, now: u64) -> Vec<(u64, [u8; 32])> {
        let current = self.clock.epoch_at(now);
        [current, current.saturating_add(1)]
            .into_iter()
            .filter_map(|epoch| self.public_key(epoch).map(|pk| (epoch, pk)))
            .collect()
    }

    /// Epochs whose secrets are held (live, next, or awaiting `rotate`).
    pub fn held_epochs(&self) -> Vec<u64> {
        self.secrets.keys().copied().collect()
    }

    /// Serializes the secrets for the node to persist:
    /// `version u8 ‖ count u8 ‖ count × (epoch u64 BE ‖ secret [32])`.
    /// The buffer is zeroized when dropped; store it with owner-only permissions.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(2 + self.secrets.len() * 40));
        out.push(KEYRING_FORMAT_VERSION);
        // The ring holds at most a handful of keys; saturate rather than panic.
        out.push(u8::try_from(self.secrets.len()).unwrap_or(u8::MAX));
        for (epoch, secret) in self.secrets.iter().take(usize::from(u8::MAX)) {
            out.extend_from_slice(&epoch.to_be_bytes());
            out.extend_from_slice(secret.as_bytes());
        }
        out
    }

    /// Restores a ring written by [`SphinxKeyRing::to_bytes`]. Call `rotate` next:
    /// keys of epochs that passed while the node was down are erased then.
    pub fn from_bytes(
        clock: EpochClock,
        grace_secs: u64,
        bytes: &[u8],
    ) -> Result<Self, KeyRingError> {
        let mut ring = Self::new(clock, grace_secs)?;
        let mut r = Reader::new(bytes);
        let version = r.u8().ok_or(KeyRingError::Truncated)?;
        if version != KEYRING_FORMAT_VERSION {
            return Err(KeyRingError::UnknownVersion(version));
        }
        let count = r.u8().ok_or(KeyRingError::Truncated)?;
        let mut previous: Option<u64> = None;
        for _ in 0..count {
            let epoch = r.u64().ok_or(KeyRingError::Truncated)?;
            let secret = Zeroizing::new(r.array::<32>().ok_or(KeyRingError::Truncated)?);
            if previous.is_some_and(|p| p >= epoch) {
                return Err(KeyRingError::NotAscending);
            }
            previous = Some(epoch);
            ring.secrets.insert(epoch, StaticSecret::from(*secret));
        }
        if r.remaining() != 0 {
            return Err(KeyRingError::TrailingBytes(r.remaining()));
        }
        Ok(ring)
    }
}
