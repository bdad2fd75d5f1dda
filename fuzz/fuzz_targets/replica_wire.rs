//! `/wesh/replication/1`: a replication provider reads `ReplicaRequest::decode`, a client
//! reads `ReplicaResponse::decode`. Asserts: both re-encode to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wesh_client::messenger::replica::{ReplicaRequest, ReplicaResponse};
use wesh_fuzz::assert_canonical;

fuzz_target!(|data: &[u8]| {
    assert_canonical(data, ReplicaRequest::decode, ReplicaRequest::encode);
    assert_canonical(data, ReplicaResponse::decode, ReplicaResponse::encode);
});
