//! How a replication provider answers `/wesh/replication/1` (sans I/O): a registration is
//! checked by the [`ReplicaKeeper`], its view kept and its mailbox opened before it is
//! confirmed; history is served only for registered groups, bounded in count and bytes.
//! The provider's storage is behind [`ReplicaArchive`].

use super::params::{
    REPLICA_MAX_FETCH_ENTRIES, REPLICA_MAX_RESPONSE_BYTES, REPLICA_RESPONSE_HEADROOM,
};
use super::replica::{ReplicaKeeper, ReplicaRequest, ReplicaResponse};

/// A failure of the provider's storage, reported to the requester as a refusal.
pub type ArchiveError = Box<dyn std::error::Error + Send + Sync>;

/// Kept entries: (sequence number, entry), and whether more follow.
pub type HistoryPage = (Vec<(u64, Vec<u8>)>, bool);

/// What a replication provider keeps. Contract: `put_group` is durable when it returns;
/// `fetch` returns entries in sequence order after `after`, at most `max` of them and at
/// most `budget` bytes (at least one entry if any is left), and says whether more follow.
pub trait ReplicaArchive {
    fn put_group(&mut self, group: &[u8; 32], view: &[u8]) -> Result<(), ArchiveError>;
    /// Opens the group's replica mailbox (keyed with the group id: nobody holds its
    /// private key, so only the provider's own worker reads it).
    fn open_mailbox(&mut self, group: &[u8; 32]) -> Result<(), ArchiveError>;
    fn fetch(
        &self,
        group: &[u8; 32],
        after: u64,
        max: usize,
        budget: usize,
    ) -> Result<HistoryPage, ArchiveError>;
}

impl ReplicaKeeper {
    /// The answer to one request frame.
    pub fn answer(&mut self, request: &[u8], archive: &mut impl ReplicaArchive) -> ReplicaResponse {
        let refused = |reason: String| ReplicaResponse::Refused { reason };
        match ReplicaRequest::decode(request) {
            Err(e) => refused(format!("bad request: {e}")),
            Ok(ReplicaRequest::Register { view }) => {
                let group_id = match self.register(&view) {
                    Ok(g) => g,
                    Err(e) => return refused(format!("bad replication view: {e}")),
                };
                if let Err(e) = archive.put_group(&group_id, &view) {
                    return refused(format!("cannot keep the group: {e}"));
                }
                match archive.open_mailbox(&group_id) {
                    Ok(()) => ReplicaResponse::Registered { group_id },
                    Err(e) => refused(format!("cannot open the replica mailbox: {e}")),
                }
            }
            Ok(ReplicaRequest::Fetch {
                group_id,
                after,
                max,
            }) => {
                if !self.is_registered(&group_id) {
                    return refused("group not registered here".into());
                }
                let max = usize::from(max).clamp(1, REPLICA_MAX_FETCH_ENTRIES);
                let budget = REPLICA_MAX_RESPONSE_BYTES - REPLICA_RESPONSE_HEADROOM;
                match archive.fetch(&group_id, after, max, budget) {
                    Ok((entries, more)) => ReplicaResponse::Entries { entries, more },
                    Err(e) => refused(format!("history unavailable: {e}")),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    /// Counts what the core asked of the storage.
    #[derive(Default)]
    struct Counting {
        calls: usize,
    }

    impl ReplicaArchive for Counting {
        fn put_group(&mut self, _: &[u8; 32], _: &[u8]) -> Result<(), ArchiveError> {
            self.calls += 1;
            Ok(())
        }
        fn open_mailbox(&mut self, _: &[u8; 32]) -> Result<(), ArchiveError> {
            self.calls += 1;
            Ok(())
        }
        fn fetch(
            &self,
            _: &[u8; 32],
            _: u64,
            _: usize,
            _: usize,
        ) -> Result<HistoryPage, ArchiveError> {
            Ok((vec![(1, vec![1])], false))
        }
    }

    fn refusal(r: ReplicaResponse) -> String {
        match r {
            ReplicaResponse::Refused { reason } => reason,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn garbage_bad_views_and_unregistered_groups_are_refused_without_touching_storage() {
        let mut keeper = ReplicaKeeper::new();
        let mut archive = Counting::default();
        assert!(refusal(keeper.answer(&[0xff, 1, 2], &mut archive)).starts_with("bad request"));
        let bad_view = ReplicaRequest::Register { view: vec![7; 40] }.encode();
        // refused as a frame or as a view; nothing is kept for it
        refusal(keeper.answer(&bad_view, &mut archive));
        let fetch = ReplicaRequest::Fetch {
            group_id: [3; 32],
            after: 0,
            max: 10,
        }
        .encode();
        assert_eq!(
            refusal(keeper.answer(&fetch, &mut archive)),
            "group not registered here"
        );
        assert_eq!(archive.calls, 0);
    }
}
