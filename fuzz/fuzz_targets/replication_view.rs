//! A group's replication view, and the registration that carries it to a replication
//! provider (`ReplicaRegistration::decode_for`, then `ReplicaKeeper::register`). Asserts: a
//! decoded view re-encodes to the same bytes; a registration the provider accepts
//! re-encodes to the same bytes and registers under its own group id; anything else is
//! refused by the keeper.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wesh_client::messenger::replica::{Registration, ReplicaKeeper};
use wesh_client::replication::{ReplicaRegistration, ReplicationView};
use wesh_fuzz::assert_canonical;
use wesh_fuzz::fixtures::PROVIDER;

fuzz_target!(|data: &[u8]| {
    let _ = assert_canonical(data, ReplicationView::decode, ReplicationView::encode);
    let mut keeper = ReplicaKeeper::new(PROVIDER);
    match ReplicaRegistration::decode_for(data, &PROVIDER) {
        Ok(r) => {
            assert_eq!(r.encode(), data);
            let registered = match keeper.register(data, [1; 32], 0) {
                Ok(Registration::New { group_id, record }) => {
                    assert!(keeper.admit(&record).is_ok());
                    Some(group_id)
                }
                _ => None,
            };
            assert_eq!(registered, Some(r.view.group_id.to_bytes()));
        }
        Err(_) => assert!(keeper.register(data, [1; 32], 0).is_err()),
    }
});
