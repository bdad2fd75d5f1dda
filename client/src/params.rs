//! Every protocol parameter in one place, each with its unit and where it comes from.

/// Version byte that starts every encoded structure (entries, invitations, handshake
/// messages, contact cards). Source: this crate's wire format, `spec/wesh.md` §Wire encoding.
pub const WIRE_VERSION: u8 = 1;

/// Default rendezvous rotation period, in seconds (24 h). The Wesh spec only says the token
/// is "time-based" after RFC 6238; 24 h is the period weshnet uses for its rendezvous points.
/// Callers can pick another period through `RotationPeriod`.
pub const DEFAULT_ROTATION_PERIOD_SECS: u64 = 86_400;

/// Length of a rendezvous seed, in bytes. Source: Wesh spec, "a 32-byte seed".
pub const RENDEZVOUS_SEED_LEN: usize = 32;

/// Length of the time buffer MAC'd by `rendezvousPoint`, in bytes (big-endian u64 in the
/// first 8, the rest zero). Source: Wesh spec Go snippet `make([]byte, 32)`.
pub const RENDEZVOUS_TIME_BUF_LEN: usize = 32;

/// Length of the ratchet salt, in bytes. Source: Wesh spec `deriveNextKeys(..., salt [64]byte, ...)`.
pub const RATCHET_SALT_LEN: usize = 64;

/// Number of skipped message keys a receiver keeps per sender device, and the farthest
/// ahead (in messages) it will derive. Bounds memory and CPU spent on a forged counter.
/// Source: our choice, same order as weshnet's precomputed key count (100).
pub const RATCHET_WINDOW: u64 = 100;

/// Maximum number of parent links in one log entry. Source: our choice; concurrent heads
/// beyond this are merged over several entries.
pub const MAX_PARENTS: usize = 64;

/// Maximum ciphertext length of one entry body, in bytes (1 MiB). Source: our choice,
/// refuses memory exhaustion by a hostile length field.
pub const MAX_ENTRY_CIPHERTEXT_LEN: usize = 1 << 20;

/// Maximum plaintext length of one message, in bytes. Entry overhead must fit in
/// `MAX_ENTRY_CIPHERTEXT_LEN`.
pub const MAX_MESSAGE_LEN: usize = MAX_ENTRY_CIPHERTEXT_LEN - 1024;

/// Maximum number of requester ephemeral keys a responder remembers to refuse replayed
/// hellos, in entries. Source: our choice.
pub const HANDSHAKE_REPLAY_CACHE: usize = 4096;

/// ChaCha20-Poly1305 nonce length, in bytes. Source: RFC 8439.
pub const AEAD_NONCE_LEN: usize = 12;

/// ChaCha20-Poly1305 tag length, in bytes. Source: RFC 8439.
pub const AEAD_TAG_LEN: usize = 16;

/// Maximum number of stored message entries kept for a later decryption attempt (their
/// sender's chain key not received yet, or counter beyond the window), in entries. Source:
/// our choice; bounds memory if a member floods the log.
pub const MAX_UNOPENED_MESSAGES: usize = 4096;

/// Maximum number of signed message entries held per group because their device is not
/// known yet (its metadata still on its way), in entries. Source: our choice; bounds
/// memory if someone holding the group key sends entries from devices that never join.
pub const MAX_MESSAGES_FROM_UNKNOWN_DEVICES: usize = 1024;

/// How long a device-link confirmation code stays valid, in milliseconds: long enough to
/// read it off the node's terminal and type it, short enough that a stale one is useless.
pub const LINK_CONFIRMATION_TTL_MS: u64 = 120_000;
/// Wrong confirmation codes accepted before the pending request is cancelled: with a
/// 10-digit code, three guesses succeed with probability 3·10⁻¹⁰.
pub const LINK_CONFIRMATION_ATTEMPTS: u8 = 3;

// ---- Direct local links (spec/direct.md) ----

/// How often a device's beacons change, in seconds. Source: our choice: the issue asks for
/// at least every rendezvous period (24 h); 15 min bounds how long a nearby observer can
/// follow one device by its broadcast to one period.
pub const DIRECT_BEACON_PERIOD_SECS: u64 = 900;

/// Bytes of a beacon and of a group offer tag. Source: our choice: 128 bits make a chance
/// collision between a stranger's random bytes and a member's value negligible (2^-128)
/// and fit two beacons in one 31-byte BLE advertisement.
pub const DIRECT_TAG_LEN: usize = 16;

/// A device's offer lists its groups padded with random tags to a multiple of this, so a
/// peer learns the number of its groups only to within this many. Source: our choice.
pub const DIRECT_OFFER_PAD: usize = 8;

/// Most groups one offer may list. Source: our choice: far above any user's groups, and
/// it bounds the work a peer can make a device do (one HMAC per own group per tag).
pub const DIRECT_MAX_OFFER: usize = 1_024;

/// Largest direct frame, in bytes, its length prefix excluded. Source: our choice: one
/// entry of the largest size (`MAX_ENTRY_CIPHERTEXT_LEN`) and its framing; a peer
/// announcing more is refused before anything is buffered.
pub const DIRECT_MAX_FRAME: usize = MAX_ENTRY_CIPHERTEXT_LEN + 16 * 1024;

/// Entries are packed into one sync message up to this many bytes (a larger entry goes
/// alone). Source: our choice: small enough for a BLE-class link to interleave other
/// messages, large enough that a frame's overhead is under 1 %.
pub const DIRECT_ENTRIES_BUDGET: usize = 48 * 1024;

/// Most hashes in one heads or want message, and most entries asked for and not yet
/// received on one link. Source: our choice: bounds what a link holds (256 × 32 bytes
/// of hashes) whatever the peer says; more is asked for as answers come.
pub const DIRECT_MAX_HASHES: usize = 256;

/// Most hashes a link remembers it still has to ask for. Source: our choice: beyond it
/// the rest is found again from the heads on the next exchange (a sync resumes from the
/// logs, not from the link's memory).
pub const DIRECT_MAX_WANTED: usize = 4_096;

/// Version of the direct-link wire (the first byte of a hello). Source: this spec.
pub const DIRECT_WIRE_VERSION: u8 = 1;

/// Received entries a link holds before handing them to the logs, in bytes: a sync keeps
/// what it received oldest first once its walk back is done, or every this many bytes.
/// Source: our choice: a few thousand entries of a chat; bounded whatever the peer does.
pub const DIRECT_MAX_HELD_BYTES: usize = 4 * 1024 * 1024;

/// Most mailboxes each side of a direct link may say it takes mail for. Source: our
/// choice: a device has one home mailbox and a rendezvous mailbox or two per period.
pub const DIRECT_MAX_ADDRESSES: usize = 16;
