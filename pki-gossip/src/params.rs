//! Every parameter of the PKI core, in one place.
//!
//! Format limits are `const` because they are part of the wire format: changing
//! one means a new encoding version. Operational knobs live in [`PkiParams`],
//! whose `Default` uses the documented defaults below; tests shrink them freely.
//! Each item names its unit and where its value comes from.

use crate::error::ParamError;

/// Version byte that opens every encoded descriptor. Unit: none.
/// Source: this crate's format (spec/pki.md §2); bump on any layout change.
/// Version 2 added the token-key list (issuer descriptors); version 1 is refused.
pub const ENCODING_VERSION: u8 = 2;

/// Node protocol version this core accepts in descriptors. Unit: none.
/// Source: the node's wire protocol; descriptors of other versions are rejected
/// so a client never routes through a node that cannot parse its packets.
pub const PROTOCOL_VERSION: u16 = 1;

/// Signature domain separation prefix for descriptors. Unit: bytes.
/// Source: this crate; keeps a descriptor signature from being valid in any other
/// context the identity key signs (libp2p handshakes, tickets, ...).
pub const DESCRIPTOR_SIGNING_DOMAIN: &[u8] = b"wesh-pki/descriptor/v1\x00";

/// Domain prefix of the view digest (spec/pki.md §7). Unit: bytes.
pub const VIEW_DIGEST_DOMAIN: &[u8] = b"wesh-pki/view-digest/v1\x00";

/// Domain prefix of the default epoch randomness (spec/pki.md §5). Unit: bytes.
pub const EPOCH_RANDOMNESS_DOMAIN: &[u8] = b"wesh-pki/epoch-randomness/v1\x00";

/// Domain prefix of the per-node layer score (spec/pki.md §5). Unit: bytes.
pub const LAYER_SCORE_DOMAIN: &[u8] = b"wesh-pki/layer-score/v1\x00";

/// Largest encoded descriptor accepted, signature included. Unit: bytes.
/// Source: the layout in spec/pki.md §2 with every list at its maximum is
/// 211 + 4 × (1 + 200) + 2 × (42 + 400) = 1899 bytes (a routing node's largest is
/// 1015, an issuer's with two RSA-2048 keys and four long addresses 1703), rounded up
/// to 2048.
pub const MAX_DESCRIPTOR_BYTES: usize = 2048;

/// Smallest encoded descriptor that can decode, signature included. Unit: bytes.
/// Source: the layout in spec/pki.md §2 with every list empty: 64-byte fixed header +
/// three one-byte counts (Sphinx keys, addresses, token keys) + 64-byte signature = 131
/// (an issuer descriptor with no address and no key; tested). Anything shorter is junk,
/// refused by length before it is parsed (a `/wesh/pki-sync/1` answer of 1-byte
/// "descriptors" once cost a relay a digest per byte).
pub const MIN_DESCRIPTOR_BYTES: usize = 64 + 3 + 64;

/// Most multiaddrs a descriptor may list. Unit: count.
/// Source: a node typically has one TCP and one QUIC address per IP family.
pub const MAX_ADDRESSES: usize = 4;

/// Longest multiaddr text. Unit: bytes (ASCII).
/// Source: `/dns/<253-byte name>/...` is the worst real case; we cap lower to
/// keep descriptors small, enough for IPv6 + port + protocol + /p2p/<peer id>.
pub const MAX_ADDRESS_LEN: usize = 200;

/// Most Sphinx keys in one descriptor: the current and the next epoch. Unit: count.
pub const MAX_SPHINX_KEYS: usize = 2;

/// Most issuer token keys in one descriptor: the current and the next epoch's.
/// Unit: count. Source: a descriptor covers at most [`MAX_DESCRIPTOR_SPAN_EPOCHS`]
/// epochs and the issuer signs with one key per epoch (spec/payments.md §2).
pub const MAX_TOKEN_KEYS: usize = 2;

/// Longest token-key SubjectPublicKeyInfo (DER) a descriptor may carry. Unit: bytes.
/// Source: an RSA-2048 key with the RSASSA-PSS/SHA-384 parameters of RFC 9578 §6.5
/// encodes in 342 bytes (measured, spec/pki.md §2); 400 leaves room for encoding
/// variants of the parameters and refuses anything larger (RSA-4096 would be ~600).
pub const MAX_TOKEN_KEY_SPKI_BYTES: usize = 400;

/// Most epochs a descriptor may cover, `expiry_epoch - issue_epoch + 1`. Unit: epochs.
/// Source: a descriptor carries the key for its issue epoch and the next one, so
/// it is useful for exactly those two epochs; longer lives would pin stale addresses.
pub const MAX_DESCRIPTOR_SPAN_EPOCHS: u64 = 2;

/// Number of mix layers in the stratified topology. Unit: layers.
/// Source: Loopix (Piotrowska et al., USENIX Security 2017) uses 3 layers.
pub const LAYERS: usize = 3;

/// Default epoch length. Unit: seconds (1 hour).
/// Source: Katzenpost and Nym both rotate mix keys hourly; shorter epochs raise the
/// gossip cost (spec/pki.md §9), longer ones widen the window a stolen key decrypts.
pub const DEFAULT_EPOCH_LENGTH_SECS: u64 = 3_600;

/// Default grace period during which the previous epoch's Sphinx key still
/// decrypts. Unit: seconds (10 minutes).
/// Source: covers sender clock skew plus the Loopix per-hop delays (mean tens of
/// seconds) of packets built just before the boundary.
pub const DEFAULT_GRACE_PERIOD_SECS: u64 = 600;

/// Default number of epochs a descriptor's issue epoch may lie ahead of ours.
/// Unit: epochs. Source: nodes publish the next epoch's descriptor shortly before
/// the boundary and clocks skew; more than one epoch ahead is never needed.
pub const DEFAULT_FUTURE_EPOCH_TOLERANCE: u64 = 1;

/// Default cap on descriptors held at once. Unit: descriptors.
/// Source: the 100,000-node scale target of spec/pki.md §9 (full-directory sync is too
/// heavy beyond it anyway); bounds memory (about 100 MB at the worst-case routing size,
/// 200 MB at the absolute limit) against a key-generating flood. A sync answer carries a
/// snapshot of a directory, so it may announce no more ([`crate::sync_wire::MAX_SYNC_DESCRIPTORS`]).
pub const DEFAULT_MAX_DIRECTORY_ENTRIES: usize = 100_000;

/// Most equivocation proofs a directory keeps at once. Unit: proofs.
/// Source: a proof is at most two descriptors (4 KiB), so 1,024 of them bound the memory
/// at 4 MiB; only identities holding a valid descriptor can have one (spec/pki.md §6), and
/// proofs expire with their descriptors, so an honest network never comes near it.
pub const MAX_EQUIVOCATION_PROOFS: usize = 1_024;

/// Default smallest number of peer digests before a view can be confirmed.
/// Unit: samples. Source: one or two samples are too easily all adversarial.
pub const DEFAULT_VIEW_MIN_SAMPLES: usize = 5;

/// Default share of samples that must match our digest to confirm the view.
/// Unit: percent. Source: a two-thirds supermajority, the usual Byzantine bound.
pub const DEFAULT_VIEW_CONFIRM_PERCENT: u8 = 67;

/// How often a client syncs the directory from its provider once it has a view: a
/// quarter of an epoch, at most this. Unit: milliseconds (30 s).
/// Source: four syncs per epoch catch the next epoch's descriptors well before the
/// boundary; the cap keeps short test epochs and long real ones responsive.
pub const HOME_SYNC_MAX_INTERVAL_MS: u64 = 30_000;

/// Syncs from the provider per epoch once the client has a view. Unit: count.
/// Source: see [`HOME_SYNC_MAX_INTERVAL_MS`].
pub const HOME_SYNCS_PER_EPOCH: u64 = 4;

/// How soon a client asks again while it has no confirmed view. Unit: milliseconds.
/// Source: a starting client has nothing to route over; a few requests per second to
/// its own provider cost little and shorten the start.
pub const UNCONFIRMED_RETRY_MS: u64 = 300;

/// How long before a view's keys retire (`ReplyBlockLife::expire_at_ms`) a client stops
/// building routes over it, milliseconds. Source: a packet crosses 4 delaying hops
/// (0.2 s mean each) and its queues; 10 s leaves a wide margin, as the rendezvous desks'
/// `RDV_SURB_EXPIRY_MARGIN_MS` does for reply blocks.
pub const ROUTE_EXPIRY_MARGIN_MS: u64 = 10_000;

/// How long a directory sync with one peer may take before the follower counts it as
/// failed. Unit: milliseconds (10 s).
/// Source: a full directory of 10,000 routing descriptors is ~10 MB, about 1 s at
/// 100 Mbit/s; a peer that has not answered in 10 s is treated as not answering (a
/// sampled relay that never answers must not hold the view back).
pub const SYNC_TIMEOUT_MS: u64 = 10_000;

/// How long a relay serving `/wesh/pki-sync/1` waits for the 41-byte request once a
/// stream is open. Unit: milliseconds (5 s).
/// Source: an honest requester writes it right after opening the stream; a stream that
/// stays silent only holds one of the relay's [`SYNC_SERVE_MAX_STREAMS`] slots.
pub const SYNC_SERVE_READ_TIMEOUT_MS: u64 = 5_000;

/// How long a relay may take to write a sync answer before it drops the stream.
/// Unit: milliseconds. Source: the requester itself gives up at [`SYNC_TIMEOUT_MS`]; a
/// peer that reads slower than that only holds a slot.
pub const SYNC_SERVE_WRITE_TIMEOUT_MS: u64 = SYNC_TIMEOUT_MS;

/// `/wesh/pki-sync/1` streams a relay serves at once, all peers together. Unit: streams.
/// Source: ~20 peers connect to a relay (its gossip mesh, providers' clients syncing);
/// 64 leaves room for bursts while bounding the answers held in memory.
pub const SYNC_SERVE_MAX_STREAMS: usize = 64;

/// `/wesh/pki-sync/1` streams a relay serves at once for one peer. Unit: streams.
/// Source: an honest follower has at most one sync outstanding per peer
/// ([`crate::DirectoryFollower`]); 2 allows one retry to overlap a dying stream.
pub const SYNC_SERVE_MAX_STREAMS_PER_PEER: usize = 2;

/// Sync requests a relay answers from one peer in a burst. Unit: requests.
/// Source: a starting client syncs its provider every [`UNCONFIRMED_RETRY_MS`] and
/// samples a few relays; 10 covers a start, excess is refused before any work.
pub const SYNC_SERVE_BURST: u32 = 10;

/// One more sync request from a peer is allowed every this long. Unit: milliseconds.
/// Source: 5 per second, above the fastest honest rate (one per [`UNCONFIRMED_RETRY_MS`]).
pub const SYNC_SERVE_REFILL_MS: u64 = 200;

/// Syncs a relay starts with one peer because it (re)connected, in a burst. Unit: syncs.
/// Source: one sync per connection is the rule; a peer that reconnects in a loop must not
/// make the relay fetch and verify its directory each time (sampled checks still run).
pub const CONNECT_SYNC_BURST: u32 = 2;

/// One more connect-triggered sync with a peer is allowed every this long.
/// Unit: milliseconds (10 s). Source: gossip and sampled checks keep the directory
/// current meanwhile; 10 s is a relay's check interval once confirmed at the longest.
pub const CONNECT_SYNC_REFILL_MS: u64 = 10_000;

/// Peers a rate limiter tracks at once. Unit: peers.
/// Source: bounds its memory (~100 B per peer); when full, peers whose allowance has
/// refilled are forgotten first, and a new peer is refused only if none has.
pub const RATE_LIMIT_MAX_PEERS: usize = 4_096;

/// Peers a relay dials on its own initiative (from the directory) to join the gossip
/// mesh. Unit: peers. Source: gossipsub's default mesh degree is 6 (D) to 12 (D_high);
/// 8 outbound dials reach the mesh without connecting to everyone.
pub const GOSSIP_DIAL_TARGET: usize = 8;

/// First byte of a PKI gossip message: a descriptor. Unit: none (wire format).
pub const GOSSIP_DESCRIPTOR: u8 = 1;

/// First byte of a PKI gossip message: an equivocation proof. Unit: none (wire format).
pub const GOSSIP_PROOF: u8 = 2;

/// Operational parameters, validated on construction.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PkiParams {
    /// Epoch length, seconds. Default [`DEFAULT_EPOCH_LENGTH_SECS`].
    pub epoch_length_secs: u64,
    /// Unix time at which epoch 0 starts, seconds. Default 0 (the Unix epoch).
    pub genesis_unix_secs: u64,
    /// Previous-epoch key grace, seconds; must be shorter than an epoch.
    pub grace_period_secs: u64,
    /// How many epochs ahead a descriptor's issue epoch may be.
    pub future_epoch_tolerance: u64,
    /// Cap on descriptors held by a [`crate::Directory`].
    pub max_directory_entries: usize,
    /// Minimum samples for [`crate::ViewCheck`] to confirm.
    pub view_min_samples: usize,
    /// Percent of samples that must agree for [`crate::ViewCheck`] to confirm (1..=100).
    pub view_confirm_percent: u8,
}

impl Default for PkiParams {
    fn default() -> Self {
        Self {
            epoch_length_secs: DEFAULT_EPOCH_LENGTH_SECS,
            genesis_unix_secs: 0,
            grace_period_secs: DEFAULT_GRACE_PERIOD_SECS,
            future_epoch_tolerance: DEFAULT_FUTURE_EPOCH_TOLERANCE,
            max_directory_entries: DEFAULT_MAX_DIRECTORY_ENTRIES,
            view_min_samples: DEFAULT_VIEW_MIN_SAMPLES,
            view_confirm_percent: DEFAULT_VIEW_CONFIRM_PERCENT,
        }
    }
}

impl PkiParams {
    /// Defaults with a different epoch length (tests use seconds-long epochs);
    /// the grace period is scaled to stay a sixth of an epoch.
    pub fn with_epoch_length(epoch_length_secs: u64) -> Result<Self, ParamError> {
        let params = Self {
            epoch_length_secs,
            grace_period_secs: epoch_length_secs / 6,
            ..Self::default()
        };
        params.validate()?;
        Ok(params)
    }

    /// Checks the invariants the rest of the crate relies on.
    pub fn validate(&self) -> Result<(), ParamError> {
        if self.epoch_length_secs == 0 {
            return Err(ParamError::ZeroEpochLength);
        }
        if self.grace_period_secs >= self.epoch_length_secs {
            return Err(ParamError::GraceTooLong {
                grace: self.grace_period_secs,
                epoch: self.epoch_length_secs,
            });
        }
        if self.view_confirm_percent == 0 || self.view_confirm_percent > 100 {
            return Err(ParamError::BadPercent(self.view_confirm_percent));
        }
        Ok(())
    }
}
