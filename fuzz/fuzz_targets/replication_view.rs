//! A group's replication view, and the registration that carries it to a replication
//! provider (`ReplicaRegistration::decode_for`, then `ReplicaKeeper::register`). Asserts: a
//! decoded view re-encodes to the same bytes; a registration the provider accepts
//! re-encodes to the same bytes and registers under its own group id; anything else is
//! refused by the keeper.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wesh_client::messenger::replica::ReplicaKeeper;
use wesh_client::replication::{ReplicaRegistration, ReplicationView};
use wesh_fuzz::assert_canonical;
use wesh_fuzz::fixtures::PROVIDER;

fuzz_target!(|data: &[u8]| {
    let _ = assert_canonical(data, ReplicationView::decode, ReplicationView::encode);
    let mut keeper = ReplicaKeeper::new(PROVIDER);
    match ReplicaRegistration::decode_for(data, &PROVIDER) {
        Ok(r) => {
            assert_eq!(r.encode(), data);
            let registered = keeper.register(data, [1; 32]).map(|(group, _)| group);
            assert_eq!(registered.ok(), Some(r.view.group_id.to_bytes()));
        }
        Err(_) => assert!(keeper.register(data, [1; 32]).is_err()),
    }
});
