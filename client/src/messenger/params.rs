//! Parameters of Wesh over the mixnet, each with its unit and source.

/// Most entries in one envelope. Source: our choice; bounds the work one envelope causes.
pub const MAX_ENTRIES_PER_ENVELOPE: usize = 1024;

/// Longest encoded entry accepted in an envelope, in bytes: the largest entry body plus
/// room for its header, parents and signature. Source: `crate::params::MAX_ENTRY_CIPHERTEXT_LEN`.
pub const MAX_ENCODED_ENTRY: usize = crate::params::MAX_ENTRY_CIPHERTEXT_LEN + 8192;

/// Longest handshake message, in bytes (the largest, Authenticate, is 2 + 128 + 16).
/// Source: `crate::handshake`.
pub const MAX_HANDSHAKE_MESSAGE: usize = 256;

/// Bytes of entries put in one envelope before starting another, in bytes. Source: our
/// choice; well under the mixnet's 4 MiB message limit, so a big log goes as several
/// messages that are retransmitted independently.
pub const ENVELOPE_TARGET_BYTES: usize = 256 * 1024;

/// Handshakes in progress a device keeps (both roles), in flows. Source: our choice; a
/// flood of Hellos to a rendezvous mailbox cannot grow memory beyond this.
pub const MAX_PENDING_HANDSHAKES: usize = 256;

/// App messages a contact group holds until the contact's member joins it (each is sent
/// then). Bounds memory when a contact never completes the exchange. Unit: messages.
pub const MAX_DEFERRED_MESSAGES: usize = 1024;

// ---- Rendezvous desks (spec/wesh-over-mixnet.md §4) ----

/// Bytes of one reply block in a rendezvous update. Source:
/// `wesh_mix::params::REPLY_SURB_BYTES` (a 460-byte SURB ‖ a 913-byte cover slot from the
/// responder's provider ‖ a 32-byte seal key); the node's tests check the two agree.
pub const RDV_SURB_BYTES: usize = 1405;

/// Largest envelope a drop or forward carries, in bytes. Source: a handshake envelope is
/// at most about 450 bytes (a 256-byte message, flow, reply address, sealed-box overhead);
/// 950 keeps every forward (79 bytes of frame around the envelope) within one fragment
/// (1,036 data bytes, `wesh_mix::params::FRAGMENT_DATA_BYTES`), since a desk sends a
/// forward on one reply block; the node's tests check it.
pub const MAX_RDV_ENVELOPE: usize = 950;

/// Forward ids one update acks at most. Source: our choice (2 KiB of ids).
pub const MAX_RDV_ACKS: usize = 256;

/// Reply SURBs one update may carry. Source: our choice (about 44 KiB, 43 fragments).
pub const MAX_SURBS_PER_UPDATE: usize = 32;

/// Reply SURBs a responder sends in each update. Source: our choice. A Hello, an
/// Authenticate and an Acknowledge take one each, so 5 serve one whole request and the
/// start of another; the desk asks for more below [`RDV_SURBS_LOW`]. A batch is 7
/// fragments of the real stream (8 were 11: 2.5 s more at λ_P = 2/s before a first
/// contact request could be forwarded, and at every renewal).
pub const RDV_SURBS_PER_UPDATE: usize = 5;

/// How much older than a registration's newest update (by the responder's clock, the
/// update's `seq`) a late update may be and still be applied, milliseconds. Source: an
/// update of 5 reply blocks is 7 fragments, each retransmitted on its own when its ack is
/// late, so a 1-fragment update sent after it often arrives first (seen in the testnet:
/// the desk refused the SURBs as stale and a contact waited for the 20 min refresh); 10
/// min covers a `mobile` stream's retransmissions of a whole update.
pub const RDV_LATE_UPDATE_WINDOW_MS: u64 = 10 * 60 * 1000;

/// Sequence numbers of applied updates a desk remembers per registration, so that a
/// late update is applied once and a duplicate not again. Source: our choice; a
/// responder sends at most one update a second (`RDV_ACK_DELAY_MS`) while forwards
/// arrive, and far fewer otherwise; past this many, the oldest becomes the floor.
pub const RDV_LATE_UPDATES_REMEMBERED: usize = 64;

/// Reply SURBs a desk keeps per registration (newest kept). Source: two updates' worth.
pub const RDV_SURBS_KEPT: usize = 16;

/// How long a desk uses a SURB after receiving it, milliseconds, unless its key retires
/// earlier ([`RDV_SURB_EXPIRY_MARGIN_MS`]). Source: three refresh periods; a responder
/// that stopped refreshing is likely gone.
pub const RDV_SURB_TTL_MS: u64 = 60 * 60 * 1000;

/// How long before its key retires (`RendezvousUpdate::surbs_expire_at`) a desk stops
/// using a SURB, milliseconds. Source: a forward crosses 4 delaying hops after the desk
/// (0.8 s on average at 0.2 s per hop, rarely above 5 s) plus link latency; 10 s leaves a
/// forward time to arrive before the last mix forgets the key.
pub const RDV_SURB_EXPIRY_MARGIN_MS: u64 = 10 * 1000;

/// Wait before a responder renews its SURBs again when the renewal found no newer view
/// to build them on, milliseconds. Source: our choice; a view follows an epoch's start
/// within seconds, and a renewal costs 7 fragments of the real stream.
pub const RDV_SURB_RENEW_RETRY_MS: u64 = 30 * 1000;

/// How often a responder refreshes its registration (new SURBs) when nothing else made it
/// send any, milliseconds. Source: SURBs are renewed before their keys retire (once per
/// PKI epoch, an hour by default), so the refresh only restores a desk that lost its
/// SURBs (a restart: they are soft state) within 20 min. It was 5 min while it was also
/// what kept SURBs alive: 11 fragments (8 SURBs then) every 5 min were a tenth of a
/// `mobile` stream.
pub const RDV_REFRESH_MS: u64 = 20 * 60 * 1000;

/// How long a responder waits to batch the acks of forwards it received, milliseconds.
pub const RDV_ACK_DELAY_MS: u64 = 1000;

/// A responder sends a new update early when it thinks the desk holds fewer SURBs than
/// this. Source: our choice.
pub const RDV_SURBS_LOW: usize = 3;

/// How long a desk keeps a registration without an update, milliseconds. Source: one
/// default rotation period of the rendezvous point (24 h) plus an hour; a responder that
/// stays offline does not lose its mailbox to someone else who knows the point.
pub const RDV_REGISTRATION_TTL_MS: u64 = 25 * 3600 * 1000;

/// How long a desk keeps a drop it could not get acked, milliseconds. Source: a week,
/// like a provider's mailbox TTL.
pub const RDV_HELD_TTL_MS: u64 = 7 * 24 * 3600 * 1000;

/// First wait before a desk forwards an unacked drop again, milliseconds; it doubles with
/// every attempt up to [`RDV_RETRY_MAX_MS`]. Source: a forward crosses 4 delaying hops
/// (0.8 s on average), waits for the responder's pull, and the ack crosses 5 more; 20 s
/// covers that with a wide margin.
pub const RDV_RETRY_MS: u64 = 20 * 1000;

/// Longest wait between two forwards of one drop, milliseconds.
pub const RDV_RETRY_MAX_MS: u64 = 10 * 60 * 1000;

/// Drops a desk holds for one rendezvous mailbox. Source: our choice; bounds what one
/// requester (who knows the point) can park there.
pub const RDV_HELD_PER_MAILBOX: usize = 64;

/// Drops a desk holds in all. Source: our choice (16 Ki × 1 KiB = 16 MiB at most).
pub const RDV_HELD_TOTAL: usize = 16 * 1024;

/// Registrations a desk keeps. Source: our choice (8 Ki × 16 SURBs × 460 B ≈ 60 MiB).
pub const RDV_REGISTRATIONS_MAX: usize = 8 * 1024;

/// How often the app core ([`crate::app::WeshApp`]) checks its rendezvous registration
/// (rotation, seed renewal, acks of forwards, refresh), milliseconds. Source: our choice;
/// with the 1 s ack batching ([`RDV_ACK_DELAY_MS`]) a forward is acked 1–3 s after it
/// arrives, well before the desk forwards it again ([`RDV_RETRY_MS`]).
pub const APP_RENDEZVOUS_CHECK_MS: u64 = 2 * 1000;

/// How soon the app core tries again a rendezvous update that did not leave,
/// milliseconds. Source: our choice; at start the client's first view of the network
/// arrives within a few hundred milliseconds of the app's first check (measured in the
/// testnet), and a registration late by a whole check delays every contact request.
pub const APP_RENDEZVOUS_RETRY_MS: u64 = 250;

/// Wait before the app fetches a replica's history once more after a failed fetch,
/// milliseconds (one retry per catch-up). Source: our choice; a provider's address may
/// reach the node's swarm just after the first dial.
pub const APP_HISTORY_RETRY_MS: u64 = 300;

/// Wait before the app hands the client again a message it could not take (its send
/// queue was full), milliseconds. Source: our choice; about one real-stream slot at the
/// default rate of 2 messages per second.
pub const APP_SEND_RETRY_MS: u64 = 500;

/// Entries per replica history answer at most. Source: our choice (512 entries of a few
/// hundred bytes fit one answer well under [`REPLICA_MAX_RESPONSE_BYTES`]).
pub const REPLICA_MAX_FETCH_ENTRIES: usize = 512;

/// Largest `/wesh/replication/1` answer, in bytes. Source: our choice (2 MiB).
pub const REPLICA_MAX_RESPONSE_BYTES: usize = 2 * 1024 * 1024;

/// Room left in a history answer for its framing, in bytes.
pub const REPLICA_RESPONSE_HEADROOM: usize = 4096;

// ---- Replication providers' limits (spec/security/replication.md) ----

/// What registering a group at a replication provider costs, in the provider's credit
/// units (packets; one token buys `wesh_payments::params::PACKETS_PER_TOKEN` = 1,000).
/// Source: our choice, issue 18: one token per group, so replication is paid like relaying
/// and the provider redeems it at the issuer with its other tokens. The price buys one
/// [`REPLICA_REGISTRATION_TERM_SECS`]; registering the group again before the renewal
/// window is free and changes nothing.
pub const REPLICA_REGISTRATION_PRICE: u64 = 1_000;

/// How long a paid registration keeps a group at a replication provider, in seconds.
/// Source: our choice, issue 18 (30 days): a group nobody renews for a month is deleted,
/// so the provider's disk holds live groups only, and a month is far longer than any
/// member stays offline and still expects the provider to catch them up.
pub const REPLICA_REGISTRATION_TERM_SECS: u64 = 30 * 86_400;

/// A registration in its last this-many seconds can be renewed (paid again, extended to
/// a full term from the renewal). Source: our choice (7 days): a member's app renews on
/// its first run inside the window, so a week of being offline loses no term; registering
/// earlier answers the current term at no charge, so a term is never paid twice.
pub const REPLICA_RENEWAL_WINDOW_SECS: u64 = 7 * 86_400;

/// How often a member's app checks its groups' replication terms, in milliseconds.
/// Source: our choice (an hour): terms are days long, and a failed renewal is tried again
/// at the next check.
pub const APP_REPLICA_TERM_CHECK_MS: u64 = 3_600_000;

/// Groups a replication provider keeps registered in all. Source: our choice; with
/// [`REPLICA_MAX_GROUPS_PER_REGISTRANT`] at least 64 registrants share it, and the
/// keeper's per-group state (verifier, duplicate filter) stays a few MiB.
pub const REPLICA_MAX_GROUPS: usize = 4096;

/// Groups one registrant (the libp2p peer that registered them) may keep registered.
/// Source: our choice; a person's device is in a few dozen replicated groups, and fresh
/// groups minted to fill a provider cost one identity per 64.
pub const REPLICA_MAX_GROUPS_PER_REGISTRANT: usize = 64;

/// Entries a provider keeps for one group. Source: our choice; 64 Ki entries is years of
/// a busy group's messages, and history pages of 512 serve it in 128 fetches.
pub const REPLICA_MAX_ENTRIES_PER_GROUP: u64 = 64 * 1024;

/// Entry bytes a provider keeps for one group, in bytes. Source: our choice (64 MiB);
/// entries are a few hundred bytes, attachments do not travel as entries.
pub const REPLICA_MAX_BYTES_PER_GROUP: u64 = 64 * 1024 * 1024;

/// Entry bytes a provider keeps for all groups, in bytes. Source: our choice (4 GiB),
/// a provider's disk budget for replication; far below groups × per-group bytes, so no
/// set of groups can take more than this.
pub const REPLICA_MAX_TOTAL_BYTES: u64 = 4 * 1024 * 1024 * 1024;

/// `/wesh/replication/1` exchanges a provider serves at once. Source: our choice; each
/// holds at most one 2 MiB answer, so 64 bound the service's memory to 128 MiB.
pub const REPLICA_MAX_EXCHANGES: usize = 64;

/// `/wesh/replication/1` exchanges one peer may have open at once. Source: our choice; a
/// member fetches one history page at a time per provider.
pub const REPLICA_MAX_EXCHANGES_PER_PEER: usize = 4;

/// Wait before a replica mailbox whose message could not be kept (a storage error) is
/// read again, milliseconds. Source: our choice; a transient disk error clears in a
/// second, and a failing disk is not read in a loop.
pub const REPLICA_KEEP_RETRY_MS: u64 = 1000;

/// History pages the app fetches from one replica for one group in one catch-up round.
/// Source: our choice; 8 pages of up to 512 entries (2 MiB each) per round, the rest is
/// fetched in later rounds ([`APP_HISTORY_RESUME_MS`]), so a replica that always says
/// "more" cannot keep the app fetching.
pub const APP_HISTORY_MAX_PAGES: u32 = 8;

/// History entries the app takes in one catch-up round, over all groups and replicas.
/// Source: our choice; 8 pages' worth, so one round's ingest stays bounded.
pub const APP_HISTORY_MAX_ENTRIES: usize = 8 * REPLICA_MAX_FETCH_ENTRIES;

/// Wait before the app continues a catch-up that hit its page or entry budget,
/// milliseconds. Source: our choice; a big history arrives over a few rounds without
/// starving sends and pulls.
pub const APP_HISTORY_RESUME_MS: u64 = 5 * 1000;
