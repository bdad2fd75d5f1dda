//! Parameters of the replication service, with units.

use std::time::Duration;

/// Largest replication request, in bytes (a register carries a 258-byte registration).
pub const MAX_REQUEST_BYTES: usize = 1024;

/// Largest replication response, in bytes, and entries per history answer at most (the
/// core's limits).
pub use wesh_client::messenger::params::{
    REPLICA_MAX_FETCH_ENTRIES as MAX_FETCH_ENTRIES,
    REPLICA_MAX_RESPONSE_BYTES as MAX_RESPONSE_BYTES,
};

/// Fragments read from one replica mailbox per round.
pub const WORKER_BATCH: usize = 256;

/// How long one replication exchange may take before it is abandoned.
pub const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(6);
