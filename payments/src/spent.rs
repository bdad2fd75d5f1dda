//! Spent sets: which tokens were already accepted. A trait so the node can keep them in
//! its database; the in-memory implementation serves tests and the simulator.

use crate::Epoch;
use crate::error::StoreError;
use crate::token::SpentId;
use std::collections::HashMap;

/// A set of spent tokens, each remembered with its key's epoch so that entries can be
/// dropped once their tokens have expired (an expired token is refused before the
/// spent-set lookup, so forgetting it cannot re-enable it).
pub trait SpentSet {
    /// Records `id` as spent. Returns `true` if it was new, `false` if already present.
    /// Must be atomic: of two concurrent inserts of one id exactly one returns `true`
    /// (a database implementation uses a transaction or compare-and-set).
    fn insert_if_absent(&mut self, id: SpentId, key_epoch: Epoch) -> Result<bool, StoreError>;

    fn contains(&self, id: &SpentId) -> Result<bool, StoreError>;

    /// Drops entries of key epochs before `oldest`; returns how many were dropped.
    fn prune_before(&mut self, oldest: Epoch) -> Result<usize, StoreError>;

    fn len(&self) -> usize;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Spent set in a hash map.
#[derive(Debug, Default, Clone)]
pub struct InMemorySpentSet {
    spent: HashMap<SpentId, Epoch>,
}

impl InMemorySpentSet {
    pub fn new() -> Self {
        Self::default()
    }
}

impl SpentSet for InMemorySpentSet {
    fn insert_if_absent(&mut self, id: SpentId, key_epoch: Epoch) -> Result<bool, StoreError> {
        match self.spent.entry(id) {
            std::collections::hash_map::Entry::Occupied(_) => Ok(false),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(key_epoch);
                Ok(true)
            }
        }
    }

    fn contains(&self, id: &SpentId) -> Result<bool, StoreError> {
        Ok(self.spent.contains_key(id))
    }

    fn prune_before(&mut self, oldest: Epoch) -> Result<usize, StoreError> {
        let before = self.spent.len();
        self.spent.retain(|_, e| *e >= oldest);
        Ok(before - self.spent.len())
    }

    fn len(&self) -> usize {
        self.spent.len()
    }
}
