//! Parameters of a provider's rendezvous desk, with units.

use std::time::Duration;

/// How often the worker reads the service mailbox and sends due forwards.
pub const WORKER_EVERY: Duration = Duration::from_millis(200);

/// Fragments read from the service mailbox per round.
pub const WORKER_BATCH: usize = 256;

/// How often registrations and held drops past their TTL are dropped.
pub const EXPIRE_EVERY: Duration = Duration::from_secs(60);

/// Quota of the service mailbox, in payloads: room for a burst of updates and drops
/// between two worker rounds (each round empties it).
pub const SERVICE_QUOTA_PAYLOADS: u32 = 65_536;

/// Quota of the service mailbox, in bytes (payloads are at most 2,031 bytes).
pub const SERVICE_QUOTA_BYTES: u64 = 65_536 * 2_048;

/// How often a provider logs what its Wesh services (replication, rendezvous desk) did.
pub const SERVICES_REPORT_EVERY: Duration = Duration::from_secs(600);
