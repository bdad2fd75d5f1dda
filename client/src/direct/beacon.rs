//! What a device broadcasts so that members of its groups nearby can find it, and nobody
//! else can follow it.
//!
//! Each group (contact groups included) and the account's public rendezvous seed give a
//! *direct key*; a beacon is `HMAC-SHA256(direct key, "wesh-direct-beacon" ‖ BE64(t))`
//! cut to [`DIRECT_TAG_LEN`] bytes, with `t` the start of the current beacon period, the
//! way the seed derives rendezvous points. Whoever holds the key computes this period's
//! beacon and recognises it; to anyone else it is a PRF output: random bytes, different
//! every period, unlinkable across periods. A device advertises its beacons padded with
//! random ones to a fixed count ([`BeaconSet`]), so the count says nothing either.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::crypto::{SecretKey32, derive_key32};
use crate::error::Result;
use crate::params::{DIRECT_BEACON_PERIOD_SECS, DIRECT_OFFER_PAD, DIRECT_TAG_LEN};

/// A beacon or an offer tag.
pub type Tag = [u8; DIRECT_TAG_LEN];

/// The key a group's members (or an account and those holding its contact card) share
/// for direct links; derived, so it reveals nothing of the group secret.
#[derive(Clone)]
pub struct DirectKey(SecretKey32);

impl core::fmt::Debug for DirectKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("DirectKey(<redacted>)")
    }
}

impl DirectKey {
    /// From a group's secret and id (or a rendezvous seed and the account id).
    pub fn derive(secret: &[u8], id: &[u8; 32]) -> Result<Self> {
        derive_key32(secret, b"wesh-direct-v1", id).map(DirectKey)
    }

    /// `HMAC-SHA256(key, label ‖ parts…)` cut to a tag.
    pub(crate) fn tag(&self, label: &[u8], parts: &[&[u8]]) -> Tag {
        let mut out = [0u8; DIRECT_TAG_LEN];
        // HMAC takes keys of any length: this cannot fail for 32 bytes
        if let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(self.0.expose()) {
            mac.update(label);
            for p in parts {
                mac.update(p);
            }
            let full: [u8; 32] = mac.finalize().into_bytes().into();
            out.copy_from_slice(&full[..DIRECT_TAG_LEN]);
        }
        out
    }

    /// This key's beacon for the period containing `now` (Unix seconds).
    pub fn beacon(&self, now: u64) -> Tag {
        let start = now - now % DIRECT_BEACON_PERIOD_SECS;
        self.tag(b"wesh-direct-beacon", &[&start.to_be_bytes()])
    }
}

/// Constant-time tag comparison (a tag proves knowledge of a key).
pub fn tags_equal(a: &Tag, b: &Tag) -> bool {
    a.ct_eq(b).into()
}

/// The beacons a device advertises in one period: its keys' beacons and random fill, to
/// a multiple of [`DIRECT_OFFER_PAD`], in random order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BeaconSet(pub Vec<Tag>);

impl BeaconSet {
    pub fn for_period<R: rand::CryptoRng + ?Sized>(
        keys: &[DirectKey],
        now: u64,
        rng: &mut R,
    ) -> Self {
        let mut tags: Vec<Tag> = keys.iter().map(|k| k.beacon(now)).collect();
        pad_and_shuffle(&mut tags, rng);
        BeaconSet(tags)
    }

    /// Indices into `keys` of the keys whose beacon for `now` is in this set.
    pub fn recognise(&self, keys: &[DirectKey], now: u64) -> Vec<usize> {
        keys.iter()
            .enumerate()
            .filter(|(_, k)| {
                let mine = k.beacon(now);
                self.0.iter().any(|t| tags_equal(t, &mine))
            })
            .map(|(i, _)| i)
            .collect()
    }
}

/// `n` tags padded: the next multiple of [`DIRECT_OFFER_PAD`], at least one pad.
pub(crate) fn padded_len(n: usize) -> usize {
    n.div_ceil(DIRECT_OFFER_PAD).max(1) * DIRECT_OFFER_PAD
}

/// A random tag (padding).
pub(crate) fn random_tag<R: rand::CryptoRng + ?Sized>(rng: &mut R) -> Tag {
    let mut t = [0u8; DIRECT_TAG_LEN];
    rng.fill_bytes(&mut t);
    t
}

/// Fisher–Yates.
pub(crate) fn shuffle<T, R: rand::CryptoRng + ?Sized>(items: &mut [T], rng: &mut R) {
    for i in (1..items.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

/// Random tags up to the padded length, then a shuffle.
fn pad_and_shuffle<R: rand::CryptoRng + ?Sized>(tags: &mut Vec<Tag>, rng: &mut R) {
    while tags.len() < padded_len(tags.len()) {
        tags.push(random_tag(rng));
    }
    shuffle(tags, rng);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn key(b: u8) -> DirectKey {
        DirectKey::derive(&[b; 32], &[b.wrapping_add(1); 32]).unwrap()
    }

    #[test]
    fn members_recognise_their_beacons_and_nothing_else() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let (g1, g2, g3) = (key(1), key(2), key(3));
        let now = 1_700_000_000;
        let alice = BeaconSet::for_period(&[g1.clone(), g2.clone()], now, &mut rng);
        assert_eq!(alice.0.len(), DIRECT_OFFER_PAD, "padded to a fixed count");
        // bob is in g2 and g3
        assert_eq!(alice.recognise(&[g3.clone(), g2.clone()], now), vec![1]);
        // a stranger with other keys recognises nothing
        assert!(alice.recognise(&[key(9), key(10)], now).is_empty());
        // next period: the old set is stale
        let later = now + DIRECT_BEACON_PERIOD_SECS;
        assert!(alice.recognise(&[g2], later).is_empty());
    }

    #[test]
    fn beacons_change_every_period_and_share_nothing_across_periods() {
        let k = key(4);
        let now = 1_700_000_000;
        let period = DIRECT_BEACON_PERIOD_SECS;
        let start = now - now % period;
        assert_eq!(
            k.beacon(start),
            k.beacon(start + period - 1),
            "stable within one"
        );
        let a = k.beacon(start);
        let b = k.beacon(start + period);
        assert_ne!(a, b);
        // no byte position repeats more than chance would (a stranger's view: random)
        let same = a.iter().zip(&b).filter(|(x, y)| x == y).count();
        assert!(same < 4, "{a:?} {b:?}");
    }

    #[test]
    fn different_groups_have_different_keys() {
        let a = DirectKey::derive(&[7; 32], &[1; 32]).unwrap();
        let b = DirectKey::derive(&[7; 32], &[2; 32]).unwrap();
        assert_ne!(a.beacon(0), b.beacon(0));
    }
}
