//! The token issuer as a network service (`wesh issuer`), and the calls clients and
//! providers make to it. The rules are `wesh_payments`'; this is transport and storage.
//!
//! Three protocols, one request and one response per stream, every read bounded:
//! - `/wesh/issuer/keys/1`: request `version (1) = 1`; answer `count (u8)`, then per key
//!   `epoch (u64) ‖ spki length (u16) ‖ SPKI` (the key id is SHA-256 of the SPKI and is
//!   recomputed by the receiver);
//! - `/wesh/issuer/issue/1`: request = `wesh_payments::encode_request`; answer
//!   `0 ‖ encode_response` or `1 ‖ reason (UTF-8)`. A `ClientKey` credential must be the
//!   requesting peer's own Ed25519 key (Noise authenticated it), so a client cannot draw
//!   on someone else's free quota;
//! - `/wesh/issuer/redeem/1` (providers): request `count (u16) ‖ count × token (354 B)`;
//!   answer `accepted (u32) ‖ refused (u16) ‖ refused × (index (u16) ‖ reason length (u8)
//!   ‖ reason)`. The redeeming provider is the authenticated peer;
//! - `/wesh/issuer/rewards/1`: request `epoch (u64)`; answer the epoch's reward ledger as
//!   text (`wesh rewards`), or a line saying it is not settled;
//! - `/wesh/issuer/claim/1`: request `epoch (u64)`; answer `0 ‖ units (u64)` or
//!   `1 ‖ reason`. The claimant is the authenticated peer: a relayer claims its own ledger
//!   entry, once (spec/payments.md §8.3 says why entries, not reward tokens);
//! - `/wesh/issuer/work/1` (mixes and providers): request `epoch (u64) ‖ packets (u64)`,
//!   the Sphinx packets the relay received in that payments epoch; answer `0` or
//!   `1 ‖ reason`. The reporter is the authenticated peer; one report per relay and epoch,
//!   for the current or the previous epoch only.

pub mod calls;
pub mod pki_keys;
pub mod reward_loop;
pub mod role;
pub mod service;
pub mod work_reporter;

use libp2p::StreamProtocol;

pub const KEYS_PROTOCOL: StreamProtocol = StreamProtocol::new("/wesh/issuer/keys/1");
pub const ISSUE_PROTOCOL: StreamProtocol = StreamProtocol::new("/wesh/issuer/issue/1");
pub const REDEEM_PROTOCOL: StreamProtocol = StreamProtocol::new("/wesh/issuer/redeem/1");
pub const REWARDS_PROTOCOL: StreamProtocol = StreamProtocol::new("/wesh/issuer/rewards/1");
pub const CLAIM_PROTOCOL: StreamProtocol = StreamProtocol::new("/wesh/issuer/claim/1");
pub const WORK_PROTOCOL: StreamProtocol = StreamProtocol::new("/wesh/issuer/work/1");

/// Relays reported per epoch at most (bounds the issuer's memory).
pub const MAX_WORK_REPORTS_PER_EPOCH: usize = 10_000;

/// Most tokens one redemption request carries (≈ 354 KB).
pub const MAX_REDEEM_BATCH: usize = 1000;
/// Largest keys answer: a few epochs of 2048-bit keys.
pub const MAX_KEYS_ANSWER: usize = 64 * 1024;
/// Largest issue request / answer (64 blinded messages of 256 B plus framing).
pub const MAX_ISSUE_BYTES: usize = 64 * 1024;

/// Bound on one exchange with the issuer (signing 64 tokens takes well under a second).
pub const EXCHANGE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(8);

/// The payments epoch at Unix time `now` for epochs of `seconds`.
pub fn epoch_at(now: u64, seconds: u64) -> u64 {
    now / seconds.max(1)
}
