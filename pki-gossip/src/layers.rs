//! Deterministic layer assignment (spec/pki.md §5).
//!
//! Each mix gets a score `SHA-256(domain ‖ randomness ‖ epoch ‖ identity)`; mixes
//! are sorted by score and dealt round-robin into the layers. Nothing the node
//! signs besides its identity enters the score, so it cannot pick a layer by
//! tweaking its descriptor, and layer sizes differ by at most one.

use sha2::{Digest, Sha256};

use crate::descriptor::NodeId;
use crate::params::{EPOCH_RANDOMNESS_DOMAIN, LAYER_SCORE_DOMAIN, LAYERS};

/// Default epoch randomness: a public function of the epoch number alone.
///
/// Predictable in advance (see the trade-off in spec/pki.md §5); the directory
/// accepts an override from a beacon via `Directory::set_epoch_randomness`.
pub fn default_epoch_randomness(epoch: u64) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(EPOCH_RANDOMNESS_DOMAIN);
    hasher.update(epoch.to_be_bytes());
    hasher.finalize().into()
}

/// Score that orders mixes for dealing.
pub fn layer_score(randomness: &[u8; 32], epoch: u64, identity: &NodeId) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(LAYER_SCORE_DOMAIN);
    hasher.update(randomness);
    hasher.update(epoch.to_be_bytes());
    hasher.update(identity.0);
    hasher.finalize().into()
}

/// Deals `mixes` into [`LAYERS`] layers; returns the layer index of each input, in
/// input order. Same inputs in any order give the same assignment per identity.
pub fn assign_layers(randomness: &[u8; 32], epoch: u64, mixes: &[NodeId]) -> Vec<(NodeId, usize)> {
    let mut scored: Vec<([u8; 32], NodeId)> = mixes
        .iter()
        .map(|id| (layer_score(randomness, epoch, id), *id))
        .collect();
    // Identity breaks the (practically impossible) score tie so the order is total.
    scored.sort_unstable();
    scored
        .into_iter()
        .enumerate()
        .map(|(rank, (_, id))| (id, rank % LAYERS))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn ids(n: u8) -> Vec<NodeId> {
        (0..n).map(|i| NodeId([i; 32])).collect()
    }

    #[test]
    fn layers_are_balanced() {
        for n in [1u8, 2, 3, 10, 100, 200] {
            let assignment = assign_layers(&default_epoch_randomness(5), 5, &ids(n));
            let mut sizes = [0usize; LAYERS];
            for (_, layer) in &assignment {
                sizes[*layer] += 1;
            }
            let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
            assert!(max - min <= 1, "n={n} sizes={sizes:?}");
            assert_eq!(sizes.iter().sum::<usize>(), usize::from(n));
        }
    }

    #[test]
    fn a_node_moves_between_layers_across_epochs() {
        let nodes = ids(30);
        let target = nodes[7];
        let mut seen = [false; LAYERS];
        for epoch in 0..40 {
            let assignment = assign_layers(&default_epoch_randomness(epoch), epoch, &nodes);
            let (_, layer) = assignment.iter().find(|(id, _)| *id == target).unwrap();
            seen[*layer] = true;
        }
        assert_eq!(seen, [true; LAYERS]);
    }

    #[test]
    fn randomness_changes_the_assignment() {
        let nodes = ids(60);
        let a = assign_layers(&[1; 32], 3, &nodes);
        let b = assign_layers(&[2; 32], 3, &nodes);
        let mut a_sorted = a.clone();
        a_sorted.sort();
        let mut b_sorted = b.clone();
        b_sorted.sort();
        assert_ne!(a_sorted, b_sorted);
    }
}
