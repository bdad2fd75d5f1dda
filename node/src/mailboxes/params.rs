//! Node-side mailbox parameters (the protocol's own live in `wesh_mix::params`).

use std::time::Duration;

/// Final-hop payloads queued for the store writer before new ones are dropped (counted as
/// `store_backlog`); the sender's retransmission covers a drop. 16 384 × ~2 KB ≈ 32 MB.
pub const STORE_QUEUE: usize = 16_384;

/// Most payloads in one synced write (group commit). A larger batch amortises the fsync
/// further; this bounds how long the first payload of a batch waits for the others.
pub const STORE_BATCH: usize = 512;

/// How often a provider sweeps payloads past their TTL (seconds of work are rare: fetch
/// skips expired payloads anyway, the sweep only reclaims space).
pub const EXPIRE_EVERY: Duration = Duration::from_secs(600);

/// Bound on one pull exchange (open, request, an answer of up to 32 KiB) before the
/// client gives up and retries at the next pull.
pub const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);

/// Bound on the small exchanges (registration, challenge, confirm: a few hundred bytes
/// each way). Source: seen in the testnet, a restarted client's first exchange on its new
/// connection sometimes hung until the timeout (the provider read nothing of it until the
/// client gave up), and a new stream then went through at once; at 10 s the Wesh story's
/// offline member caught up 10 s late. 3 s is still 30 round trips of a slow mobile link.
pub const SMALL_EXCHANGE_TIMEOUT: Duration = Duration::from_secs(3);

/// How `/wesh/mailbox/1` streams are bounded at a provider. A client makes 3 requests per
/// pull tick (confirm, challenge, pull), one at a time: 64 at once and one more every 5 ms
/// (200/s) is far above any honest schedule (the testnet pulls every 10 ms at the most),
/// and 4 streams per peer allow a retry beside a stalled one. A request is at most
/// 228 B, so 5 s to send it is generous; 10 s to take a 32 KiB answer.
pub const MAILBOX_REQUEST_LIMITS: crate::net::request_server::RequestLimits =
    crate::net::request_server::RequestLimits {
        max_request: wesh_mix::params::MAX_MAILBOX_REQUEST_BYTES,
        read_timeout: Duration::from_secs(5),
        write_timeout: Duration::from_secs(10),
        burst: 64,
        refill_ms: 5,
        max_streams: 1024,
        max_streams_per_peer: 4,
    };
