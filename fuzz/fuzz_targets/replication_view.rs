//! A group's replication view as a replication provider receives it at registration
//! (`ReplicationView::decode`, then `ReplicaKeeper::register`). Asserts: a decoded view
//! re-encodes to the same bytes and registers under its own group id.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wesh_client::messenger::replica::ReplicaKeeper;
use wesh_client::replication::ReplicationView;
use wesh_fuzz::assert_canonical;

fuzz_target!(|data: &[u8]| {
    if let Some(view) = assert_canonical(data, ReplicationView::decode, ReplicationView::encode) {
        let mut keeper = ReplicaKeeper::new();
        assert_eq!(keeper.register(data).ok(), Some(view.group_id.to_bytes()));
    } else {
        assert!(ReplicaKeeper::new().register(data).is_err());
    }
});
