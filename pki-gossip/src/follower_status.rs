//! What a [`DirectoryFollower`] reports to operators and to the rest of a node.

use crate::descriptor::{EpochTokenKey, Role};
use crate::follower::DirectoryFollower;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default)]
pub struct FollowerStatus {
    pub epoch: u64,
    pub epochs_rotated: u64,
    pub digest: [u8; 32],
    /// Descriptors valid for the current epoch.
    pub descriptors: usize,
    /// Refused descriptors and proofs, by reason.
    pub rejected: BTreeMap<String, u64>,
    /// Descriptors of our own gossiped.
    pub published: u64,
    /// A configurable share of sampled peers reported our directory digest.
    pub view_confirmed: bool,
    /// Sampled peers whose directory differed from ours (each then sent theirs).
    pub view_disagreements: u64,
    pub view_checks: u64,
    /// Token keys announced by each issuer descriptor valid for the current epoch (the
    /// key id of each was checked against its SPKI when the descriptor was decoded).
    /// Whose keys to use is the reader's choice: its configured issuer.
    pub issuer_keys: BTreeMap<[u8; 32], Vec<EpochTokenKey>>,
}

impl DirectoryFollower {
    pub fn status(&self) -> FollowerStatus {
        let (agent, view) = (self.agent(), self.view());
        let epoch = agent.epoch();
        let valid = || agent.directory().valid_for(epoch);
        FollowerStatus {
            epoch,
            epochs_rotated: agent.epochs_rotated(),
            digest: agent.digest(),
            descriptors: valid().count(),
            rejected: agent
                .rejections()
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            published: self.published(),
            view_confirmed: view.confirmed(),
            view_disagreements: view.disagreements(),
            view_checks: view.checks(),
            issuer_keys: valid()
                .filter(|d| d.content().role == Role::Issuer)
                .map(|d| (d.identity().0, d.content().token_keys.clone()))
                .collect(),
        }
    }
}
