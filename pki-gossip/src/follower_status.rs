//! What a [`DirectoryFollower`] reports to operators and to the rest of a node.

use crate::descriptor::EpochTokenKey;
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
    /// Equivocation proofs the directory keeps (each excludes one node).
    pub proofs_kept: usize,
    /// Connect-triggered syncs skipped because the peer reconnected too often.
    pub connect_syncs_limited: u64,
    /// Sync answers dropped at a descriptor no honest peer would have sent.
    pub answers_cut: u64,
    /// `/wesh/pki-sync/1` streams served, and refused by the [`crate::SyncServeGate`]
    /// (filled in by the shell that runs the sync server; 0 where none runs).
    pub sync_streams_served: u64,
    pub sync_streams_refused: u64,
}

impl DirectoryFollower {
    pub fn status(&self) -> FollowerStatus {
        let (agent, view) = (self.agent(), self.view());
        // everything derived from the directory comes from the agent's cache: reading the
        // status after every event costs no digest and no walk over the directory
        FollowerStatus {
            epoch: agent.epoch(),
            epochs_rotated: agent.epochs_rotated(),
            digest: agent.digest(),
            descriptors: agent.valid_descriptors(),
            rejected: agent
                .rejections()
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            published: self.published(),
            view_confirmed: view.confirmed(),
            view_disagreements: view.disagreements(),
            view_checks: view.checks(),
            issuer_keys: agent.issuer_keys().clone(),
            proofs_kept: agent.directory().equivocation_proofs().count(),
            connect_syncs_limited: self.connect_syncs_limited(),
            answers_cut: self.answers_cut(),
            sync_streams_served: 0,
            sync_streams_refused: 0,
        }
    }
}
