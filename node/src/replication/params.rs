//! Parameters of the replication service, with units.

use std::time::Duration;

/// Largest replication request, in bytes (a register carries a 162-byte view).
pub const MAX_REQUEST_BYTES: usize = 1024;

/// Largest replication response, in bytes.
pub const MAX_RESPONSE_BYTES: usize = 2 * 1024 * 1024;

/// Entries per history answer at most.
pub const MAX_FETCH_ENTRIES: usize = 512;

/// How often the worker reads the replica mailboxes.
pub const WORKER_EVERY: Duration = Duration::from_millis(200);

/// Fragments read from one replica mailbox per round.
pub const WORKER_BATCH: usize = 256;

/// How long one replication exchange may take before it is abandoned.
pub const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(6);
