//! The adversary's view of a mix's pool (the method of the Loopix evaluation): every packet
//! carries a probability vector over the K target messages, and with exponential holds
//! every packet in a pool is equally likely to leave next, so a packet that leaves carries
//! the mean vector of the packets in the pool. The mean is updated on each arrival, left
//! unchanged by a departure, and reset when the pool empties.
//!
//! Vectors are sparse (target, probability) lists: a target's mass spreads over more and
//! more packets and shrinks geometrically, so probabilities under [`PROBABILITY_FLOOR`]
//! are dropped and a vector stays as short as the number of targets still in the mixnet.

use crate::params::PROBABILITY_FLOOR;

/// A sparse probability vector over targets, sorted by target index.
pub type TargetVector = Vec<(u32, f64)>;

/// The mean vector of one pool, kept as `scale × raw` so that the per-arrival shrink of
/// every component (n/(n+1)) is one multiplication.
#[derive(Debug, Clone, Default)]
pub struct PoolVector {
    count: u32,
    scale: f64,
    raw: TargetVector,
}

impl PoolVector {
    /// Packets in the pool.
    pub fn len(&self) -> u32 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// A packet carrying `v` enters: mean ← (n·mean + v)/(n+1).
    pub fn arrive(&mut self, v: &[(u32, f64)]) {
        if self.count == 0 {
            self.scale = 1.0;
            self.raw.clear();
        }
        let n = f64::from(self.count);
        self.count += 1;
        if self.raw.is_empty() && v.is_empty() {
            return;
        }
        self.scale *= n / (n + 1.0);
        if self.scale < 1e-150 {
            self.renormalize();
        }
        if v.is_empty() {
            return;
        }
        // v/(n+1) expressed in raw units
        let factor = 1.0 / ((n + 1.0) * self.scale);
        merge_add(&mut self.raw, v, factor);
    }

    /// A packet leaves: it takes the pool's mean (components under the floor dropped).
    pub fn depart(&mut self) -> TargetVector {
        let mut out = Vec::new();
        self.depart_into(&mut out);
        out
    }

    /// [`Self::depart`] into the leaving packet's own buffer (no allocation in a run).
    pub fn depart_into(&mut self, out: &mut TargetVector) {
        out.clear();
        if self.count == 0 {
            return;
        }
        let scale = self.scale;
        // one allocation at most, not a doubling from empty
        out.reserve(self.raw.len());
        out.extend(
            self.raw
                .iter()
                .map(|(t, r)| (*t, r * scale))
                .filter(|(_, p)| *p >= PROBABILITY_FLOOR),
        );
        if out.len() < self.raw.len() {
            // the same components are under the floor in the pool: forget them there too
            let floor = PROBABILITY_FLOOR / scale;
            self.raw.retain(|(_, r)| *r >= floor);
        }
        self.count -= 1;
        if self.count == 0 {
            self.raw.clear();
            self.scale = 1.0;
        }
    }

    fn renormalize(&mut self) {
        let scale = self.scale;
        for (_, r) in &mut self.raw {
            *r *= scale;
        }
        self.raw.retain(|(_, r)| *r >= PROBABILITY_FLOOR);
        self.scale = 1.0;
    }
}

/// `acc += factor · v`, both sorted by target: one walk along both (a packet's targets are
/// nearly always already in the pool, so an insertion is rare).
fn merge_add(acc: &mut TargetVector, v: &[(u32, f64)], factor: f64) {
    let mut i = 0;
    for &(t, p) in v {
        while acc.get(i).is_some_and(|(x, _)| *x < t) {
            i += 1;
        }
        match acc.get_mut(i) {
            Some((x, a)) if *x == t => *a += factor * p,
            _ => acc.insert(i, (t, factor * p)),
        }
        i += 1;
    }
}

/// The adversary's estimate of who sent a packet, over {A, B, anyone else}: the same
/// pool-mean propagation with three components (sender–receiver unlinkability).
#[derive(Debug, Clone, Copy, Default)]
pub struct SenderPool {
    count: u32,
    mean: [f64; 3],
}

impl SenderPool {
    pub fn arrive(&mut self, v: [f64; 3]) {
        let n = f64::from(self.count);
        self.count += 1;
        for (m, x) in self.mean.iter_mut().zip(v) {
            *m = (*m * n + x) / (n + 1.0);
        }
    }

    pub fn depart(&mut self) -> [f64; 3] {
        let out = self.mean;
        self.count = self.count.saturating_sub(1);
        if self.count == 0 {
            self.mean = [0.0; 3];
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn mass(v: &[(u32, f64)], t: u32) -> f64 {
        v.iter().filter(|(x, _)| *x == t).map(|(_, p)| p).sum()
    }

    #[test]
    fn a_pool_hands_out_its_mean_and_conserves_mass() {
        let mut pool = PoolVector::default();
        pool.arrive(&[(7, 1.0)]);
        pool.arrive(&[]);
        pool.arrive(&[]);
        pool.arrive(&[]);
        // four packets, one of them the target: each leaves with 1/4
        let out: Vec<TargetVector> = (0..4).map(|_| pool.depart()).collect();
        for v in &out {
            assert!((mass(v, 7) - 0.25).abs() < 1e-12, "{v:?}");
        }
        assert!(pool.is_empty());
        assert!(pool.depart().is_empty());
    }

    #[test]
    fn the_mean_follows_arrivals_and_not_departures() {
        let mut pool = PoolVector::default();
        pool.arrive(&[(1, 1.0)]);
        pool.arrive(&[]);
        let first = pool.depart(); // 1/2
        pool.arrive(&[(2, 1.0)]); // mean of {1: 1/2} and {2: 1}: {1: 1/4, 2: 1/2}
        let second = pool.depart();
        assert!((mass(&first, 1) - 0.5).abs() < 1e-12);
        assert!((mass(&second, 1) - 0.25).abs() < 1e-12, "{second:?}");
        assert!((mass(&second, 2) - 0.5).abs() < 1e-12, "{second:?}");
    }

    #[test]
    fn an_emptied_pool_forgets_and_long_runs_stay_finite() {
        let mut pool = PoolVector::default();
        pool.arrive(&[(3, 1.0)]);
        pool.depart();
        pool.arrive(&[]);
        assert!(pool.depart().is_empty(), "reset when it emptied");
        // a million arrivals and departures of empty packets through a busy pool: the
        // target's share decays below the floor and is forgotten, nothing turns NaN
        pool.arrive(&[(4, 1.0)]);
        for _ in 0..10 {
            pool.arrive(&[]);
        }
        for _ in 0..1_000_000 {
            pool.arrive(&[]);
            let v = pool.depart();
            assert!(
                v.iter()
                    .all(|(_, p)| p.is_finite() && *p >= PROBABILITY_FLOOR)
            );
        }
        assert!(pool.depart().is_empty());
    }

    #[test]
    fn merging_sorted_vectors_adds_and_inserts_in_order() {
        let mut acc: TargetVector = vec![(2, 1.0), (5, 1.0), (9, 1.0)];
        merge_add(&mut acc, &[(1, 1.0), (5, 2.0), (7, 1.0), (12, 4.0)], 0.5);
        assert_eq!(
            acc,
            vec![(1, 0.5), (2, 1.0), (5, 2.0), (7, 0.5), (9, 1.0), (12, 2.0)]
        );
        let mut empty = TargetVector::new();
        merge_add(&mut empty, &[(3, 1.0)], 2.0);
        assert_eq!(empty, vec![(3, 2.0)]);
    }

    #[test]
    fn sender_estimates_average_the_same_way() {
        let mut pool = SenderPool::default();
        pool.arrive([1.0, 0.0, 0.0]);
        pool.arrive([0.0, 1.0, 0.0]);
        assert_eq!(pool.depart(), [0.5, 0.5, 0.0]);
        assert_eq!(pool.depart(), [0.5, 0.5, 0.0]);
        pool.arrive([0.0, 0.0, 1.0]);
        assert_eq!(pool.depart(), [0.0, 0.0, 1.0]);
    }
}
