//! A signed group log entry as a member or a replication provider receives it
//! (`Entry::decode_verified` against a real group's verifier, then `ReplicaStore::ingest`).
//! Asserts: an accepted entry re-encodes to the same bytes, and a replica store takes it
//! once only.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use wesh_client::entry::Entry;
use wesh_client::replication::{ReplicaStore, ReplicationView};
use wesh_fuzz::fixtures::group;

fuzz_target!(|data: &[u8]| {
    static VIEW: OnceLock<Option<ReplicationView>> = OnceLock::new();
    let Some(view) = VIEW.get_or_init(|| ReplicationView::decode(&group().view).ok()) else {
        return;
    };
    if let Ok(entry) = Entry::decode_verified(data, &view.verifier()) {
        assert_eq!(entry.encode().as_slice(), data);
        let mut store = ReplicaStore::new(view);
        assert_eq!(store.ingest(data).ok(), Some(true));
        assert_eq!(
            store.ingest(data).ok(),
            Some(false),
            "an entry was kept twice"
        );
    }
});
