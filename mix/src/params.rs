//! Every protocol parameter of the mix layer, with its source and unit.
//!
//! Defaults are argued in `spec/mixnet.md`. Runtime configuration (node TOML, testnet flags)
//! starts from these values; nothing else in the crate hard-codes a rate, a delay or a size.

use std::time::Duration;

/// Hops of a forward route: sender's provider → layer 1 → layer 2 → layer 3 → recipient's
/// provider. This is also sphinx-packet's `MAX_PATH_LENGTH` (5).
pub const ROUTE_HOPS: usize = 5;

/// Mix layers between the providers (Loopix recommends at least 3).
pub const MIX_LAYERS: usize = 3;

/// Bytes of the Sphinx payload, including sphinx-packet's 17 bytes of payload overhead
/// (16-byte zero check + 1 padding marker). 2 KiB, like Nym: a Wesh entry (signed,
/// sealed, with its header) fits in one packet, and a 1 MiB message needs 517 fragments.
pub const SPHINX_PAYLOAD_BYTES: usize = 2048;

/// Bytes that sphinx-packet's payload encoding adds around the plaintext.
pub const SPHINX_PAYLOAD_OVERHEAD: usize = sphinx_packet::payload::PAYLOAD_OVERHEAD_SIZE;

/// Largest plaintext one packet carries (the mix-layer payload framing included).
pub const MAX_PLAINTEXT_BYTES: usize = SPHINX_PAYLOAD_BYTES - SPHINX_PAYLOAD_OVERHEAD;

/// Bytes of a Sphinx header for 5 hops (fixed by sphinx-packet).
pub const SPHINX_HEADER_BYTES: usize = sphinx_packet::header::HEADER_SIZE;

/// Bytes of every packet on the wire (`/wesh/sphinx/1` frames are exactly this long).
pub const PACKET_BYTES: usize = SPHINX_HEADER_BYTES + SPHINX_PAYLOAD_BYTES;

/// Default mean of the exponential delay each hop holds a packet for (1/μ in Loopix).
/// 200 ms: with the testnet's default load a mix holds λ/μ ≈ 2.8 packets on average
/// (Loopix asks for ≥ 2), and 4 delaying hops keep the median end-to-end latency near
/// 0.75 s and the 99th percentile near 2 s, well under the seeds' 5 s target.
pub const DEFAULT_MEAN_HOP_DELAY: Duration = Duration::from_millis(200);

/// Longest delay a node will hold any packet for; a header asking for more is clamped.
/// Senders also truncate their draws here, so an honest packet is never clamped
/// (P[Exp(200 ms) > 30 s] = e^-150).
pub const MAX_HOP_DELAY: Duration = Duration::from_secs(30);

/// How long a relay keeps admitting packets by a routing view after a newer one replaced
/// it: layers are reassigned when the mix set or the epoch changes, and a packet (or a
/// SURB) built on the old view must still cross its hops. 5 hops of at most
/// `MAX_HOP_DELAY` each; the shell raises it to the PKI's key grace period, the longest a
/// SURB built on the old view stays usable.
pub const ENTRY_VIEW_RETENTION: Duration =
    Duration::from_secs(ROUTE_HOPS as u64 * MAX_HOP_DELAY.as_secs());

/// Routing views a relay keeps for admission at most (the current one included): bounds
/// the memory and the per-frame check while the directory churns.
pub const MAX_ENTRY_VIEWS: usize = 16;

/// Client real-traffic rate λ_P of the `default` profile, packets per second (Loopix
/// "payload" stream; a drop when nothing waits). 2/s: a Wesh group message to a 3-member
/// group leaves as 2-3 reliable messages, so a user's message is on its way within about
/// a second.
pub const DEFAULT_CLIENT_REAL_RATE: f64 = 2.0;

/// Client loop-cover rate λ_L of the `default` profile, packets per second. 0.25/s: a
/// loop every 4 s on average still shows an n-1 attack on the client's path within a
/// minute or two, at an eighth of the bandwidth of the old 1/s (issue 18).
pub const DEFAULT_CLIENT_LOOP_RATE: f64 = 0.25;

/// Client drop-cover rate λ_D of the `default` profile, packets per second. The λ_P stream
/// already sends a drop whenever nothing waits; this independent stream only blurs its
/// rate, so a tenth of a packet per second does (issue 18's budget: ≤ 1.5 GB/day).
pub const DEFAULT_CLIENT_DROP_RATE: f64 = 0.1;

/// Time between two mailbox pull ticks of the `default` profile. With
/// [`DEFAULT_PULL_SLOTS`] it drains 3.75 payloads/s: what a client sending at its full
/// λ_P = 2/s gets back (its acks, 2/s, and its loops, 0.25/s) leaves room for what others
/// send it. Every message waits for the recipient's next tick (0.4 s on average): three
/// slots every 0.8 s cost less downlink than four every second (a tick's own requests
/// and framing cost about 1.3 KB) and take 0.1 s off that wait; two every 0.5 s measured
/// 1.45 GB/day, too close to the budget (issue 18, BENCHMARKS.md).
pub const DEFAULT_PULL_INTERVAL: Duration = Duration::from_millis(800);

/// Slots in every pull answer of the `default` profile (6,228 bytes per answer).
pub const DEFAULT_PULL_SLOTS: usize = 3;

/// If a stream's caller wakes up this late, the stream restarts from `now` instead of
/// bursting the missed events (a suspended laptop must not flood its provider on resume).
/// Unit: time (1 s).
pub const MAX_CATCH_UP: Duration = Duration::from_secs(1);

/// The `mobile` profile's λ_P, packets per second: a packet every 2.5 s, paced
/// ([`MOBILE_REAL_TIMING`]). Set by issue 18's two targets. The budget (300 MB/day) is
/// checked on 15 s of `wesh bench client`, where a packet with its framing is 14 MB/day:
/// a paced stream puts exactly 6 packets in every 15 s, the Poisson loops and drops
/// (0.45 expected) add more than 4 in 0.01 % of samples, and 10 fit beside the pulls'
/// 132 MB/day and the 16 MB/day of PKI syncs and keep-alives. The latency target (group
/// messages p99 < 15 s): a message's two member copies wait at most two periods (5 s),
/// four mixing delays (p99 2 s) and a pull (at most 5 s). Until 2026-12-04 λ_P was a
/// Poisson 0.34/s (its tail forced the rate down) with 4 slots every 7.5 s: p99 22–33 s.
pub const MOBILE_CLIENT_REAL_RATE: f64 = 0.4;

/// How the `mobile` profile's λ_P stream is spaced: paced (spec/mixnet.md, "Client
/// profiles": a paced stream hides traffic as a Poisson one does, and has no bursts).
pub const MOBILE_REAL_TIMING: crate::StreamTiming = crate::StreamTiming::Paced;

/// The `mobile` profile's λ_L, packets per second (a loop every 50 s).
pub const MOBILE_CLIENT_LOOP_RATE: f64 = 0.02;

/// The `mobile` profile's λ_D, packets per second (the λ_P stream already sends a drop
/// whenever nothing waits).
pub const MOBILE_CLIENT_DROP_RATE: f64 = 0.01;

/// The `mobile` profile's pull interval: with [`MOBILE_PULL_SLOTS`] it drains 0.6
/// payloads/s, 1.43 times what a client whose λ_P stream is full gets back (an ack per
/// packet, 0.4/s, and its loops, 0.02/s). A divisor of 15 s, so that every 15, 30 or 60 s
/// measurement holds a whole number of ticks and a short sample of the downlink is exact.
/// It was 7.5 s with 4 slots (2026-12-04): the pull was then the larger part of a
/// message's latency.
pub const MOBILE_PULL_INTERVAL: Duration = Duration::from_millis(5_000);

/// The `mobile` profile's slots per pull answer (6,228 bytes every 5 s, 108 MB/day; with
/// a tick's requests and framing 132 MB/day). History: 3 every 8 s (below the acks of the
/// then 0.5/s λ_P: a client establishing contacts fell behind its own acks; the anonymity
/// lab showed the backlog, spec/anonymity.md), 6 every 8 s (280 MB/day, too close to the
/// budget), 4 every 7.5 s (until 2026-12-04).
pub const MOBILE_PULL_SLOTS: usize = 3;

/// The `fast` profile's λ_P, packets per second: for unmetered desktops that want
/// messages (and the Wesh handshake, ten messages in a row) to move quickly.
pub const FAST_CLIENT_REAL_RATE: f64 = 5.0;

/// The `fast` profile's λ_L, packets per second.
pub const FAST_CLIENT_LOOP_RATE: f64 = 0.5;

/// The `fast` profile's λ_D, packets per second.
pub const FAST_CLIENT_DROP_RATE: f64 = 0.25;

/// The `fast` profile's pull interval: with [`FAST_PULL_SLOTS`] it drains 8 payloads/s,
/// above a client sending at its full λ_P (acks 5/s, loops 0.5/s), and adds 0.25 s to a
/// message on average.
pub const FAST_PULL_INTERVAL: Duration = Duration::from_millis(500);

/// The `fast` profile's slots per pull answer.
pub const FAST_PULL_SLOTS: usize = 4;

/// Shortest pull interval a profile accepts (a faster schedule would flood the provider).
pub const MIN_PULL_INTERVAL: Duration = Duration::from_millis(10);

/// Seconds in a day, for the bandwidth budgets (bytes per day).
pub const SECONDS_PER_DAY: f64 = 86_400.0;

/// Mix loop-cover rate λ_M, packets per second per mix.
pub const DEFAULT_MIX_LOOP_RATE: f64 = 2.0;

/// Highest rate any Poisson stream accepts (packets/s); above it a misconfiguration would
/// make a client flood its provider.
pub const MAX_STREAM_RATE: f64 = 10_000.0;

/// Real messages a client queues before `enqueue` refuses more (back-pressure to the app).
pub const MAX_CLIENT_QUEUE: usize = 100_000;

/// Bytes of a replay tag kept by a replay filter. sphinx-packet derives 32-byte tags; 16
/// bytes keep a collision between two honest packets at ≈ n²/2^129 while halving memory.
pub const REPLAY_TAG_KEPT_BYTES: usize = 16;

// ---- Reliable delivery of messages of any size (fragments, SURB-acks, retransmission) ----

/// Largest message `ClientTraffic::send_message` accepts, bytes. 4 MiB: four times the 1 MiB
/// the issue asks for, while a single message still needs at most ~2 750 packets (about
/// 23 minutes at the default λ_P = 2/s), so a stuck transfer is noticed in reasonable time.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// Version byte leading every fragment header; a receiver rejects any other value.
pub const FRAGMENT_FORMAT_VERSION: u8 = 1;

/// Bytes of a message id: 16 random bytes, so ids from unrelated senders never collide in a
/// recipient's reassembly table (birthday bound 2^64 messages).
pub const MESSAGE_ID_BYTES: usize = 16;

/// Bytes of the fragment header: version (1) ‖ message id (16) ‖ message length (u32) ‖
/// fragment index (u32) ‖ fragment count (u32) ‖ fragment data length (u16). The lengths are
/// redundant with the index and count on purpose: every fragment can be checked on its own.
pub const FRAGMENT_HEADER_BYTES: usize = 1 + MESSAGE_ID_BYTES + 4 + 4 + 4 + 2;

/// Bytes of an ack id. 64 random bits: an ack can only be forged by guessing one.
pub const ACK_ID_BYTES: usize = 8;

/// Bytes of a serialized SURB for a 5-hop route: header ‖ first-hop address (32) ‖ one
/// 16-byte payload key seed per hop (sphinx-packet's seeded SURB format).
pub const SURB_BYTES: usize = SPHINX_HEADER_BYTES + 32 + ROUTE_HOPS * 16;

/// Bytes of a SURB without its first hop (header ‖ seeds): how SURBs sit inside a stored
/// payload, whose provider is always their first hop ([`crate::sphinx_surb`]).
pub const SLOT_SURB_BYTES: usize = SURB_BYTES - 32;

/// What sealing adds to a plaintext, bytes: the ephemeral X25519 key (32) and the
/// ChaCha20-Poly1305 tag (16) ([`crate::payload_seal`]).
pub const SEAL_OVERHEAD_BYTES: usize = 32 + 16;

/// Bytes of a sealed ack: the seal of kind ‖ ack id.
pub const ACK_SEALED_BYTES: usize = SEAL_OVERHEAD_BYTES + 1 + ACK_ID_BYTES;

/// Bytes of the ack body a slot's SURB carries: the ack's own slot SURB (cover) ‖ the
/// sealed ack. It becomes the front of the ack's stored payload ([`crate::ack_slot`]).
pub const ACK_BODY_BYTES: usize = SLOT_SURB_BYTES + ACK_SEALED_BYTES;

/// Bytes of the SURB-ack slot that leads every payload stored for a client: a SURB body ‖
/// the ack body the storing provider sends on it (an ack home, or cover).
pub const ACK_SLOT_BYTES: usize = SLOT_SURB_BYTES + ACK_BODY_BYTES;

/// Bytes of every payload stored for a client: a full mix plaintext, so that its length
/// tells nothing.
pub const DELIVERY_BYTES: usize = MAX_PLAINTEXT_BYTES;

/// Bytes of the sealed part of a stored payload (after the slot).
pub const DELIVERY_SEALED_BYTES: usize = DELIVERY_BYTES - ACK_SLOT_BYTES;

/// Bytes of what is sealed in a stored payload: body length (u16) ‖ kind ‖ body ‖ zeros.
pub const DELIVERY_INNER_BYTES: usize = DELIVERY_SEALED_BYTES - SEAL_OVERHEAD_BYTES;

/// Bytes of a reply block a holder keeps ([`crate::ReplySurb`]): the SURB ‖ the slot the
/// creator's provider fires (cover) ‖ the X25519 key the holder seals to.
pub const REPLY_SURB_BYTES: usize = SURB_BYTES + ACK_SLOT_BYTES + 32;

/// Message bytes one fragment packet carries: what the seal holds minus the body length,
/// the kind byte and the fragment header. Measured: 2031 − 913 − 48 − 2 − 1 − 31 = 1036
/// bytes, so a 1 MiB message takes 1 013 packets (the test `fragment_data_bytes_is_1036`
/// pins it). Hiding the kind and the ack from the provider costs a third of what a packet
/// carried before (1 531 bytes).
pub const FRAGMENT_DATA_BYTES: usize = DELIVERY_INNER_BYTES - 2 - 1 - FRAGMENT_HEADER_BYTES;

/// Fragments of the largest message.
pub const MAX_FRAGMENTS_PER_MESSAGE: usize = MAX_MESSAGE_BYTES.div_ceil(FRAGMENT_DATA_BYTES);

/// Bytes a reassembler holds at most for messages in progress (one per client, one per
/// provider own mailbox unless [`OWN_MAILBOX_REASSEMBLY_MAX_BYTES`] says less). Counted as
/// fragments arrive, [`REASSEMBLY_FRAGMENT_CHARGE`] each, never as messages claim: a first
/// fragment claiming 4 MiB holds one fragment's worth. 64 MiB: 16 messages of the maximum
/// size in progress at once, and ≈ 41 000 packets to fill, which an attacker has to pay for.
pub const REASSEMBLY_MAX_BYTES: usize = 64 * 1024 * 1024;

/// Memory a held fragment costs besides its data, bytes: its map node and vector header
/// and its message's share of the tables (entry, progress index). 128 B is above what
/// they take on 64-bit targets, so the byte budget bounds real memory.
pub const REASSEMBLY_FRAGMENT_OVERHEAD_BYTES: usize = 128;

/// What every held fragment is charged against the byte budget, bytes: a full fragment plus
/// its overhead, whatever it carries, so a flood of short last fragments costs as much as
/// full ones (1 659 B).
pub const REASSEMBLY_FRAGMENT_CHARGE: usize =
    FRAGMENT_DATA_BYTES + REASSEMBLY_FRAGMENT_OVERHEAD_BYTES;

/// Messages a reassembler has in progress at most: as many as the byte budget holds at one
/// fragment each (40 451), so the count never binds before the bytes do and evicting an
/// honest message through the count costs the same flood as through the bytes.
pub const REASSEMBLY_MAX_MESSAGES: usize = REASSEMBLY_MAX_BYTES / REASSEMBLY_FRAGMENT_CHARGE;

/// Largest message a reassembler accepts (the per-message budget): a fragment claiming more
/// is refused before it touches any state. The largest message a sender may send.
pub const REASSEMBLY_MAX_MESSAGE_BYTES: usize = MAX_MESSAGE_BYTES;

/// Byte budget of the reassembler of each of a provider's own mailboxes (the rendezvous
/// desk's service mailbox, each replica mailbox): 8 MiB, two maximum-size messages (or seven
/// maximum-size Wesh entries) in progress at once. Smaller than a client's because a
/// provider reads one per replicated group. The fragments of evicted messages leave the
/// mailbox, so this also bounds what a flood of partial messages keeps in it: ≈ 5 000
/// fragments, under the 10 000-payload default quota.
pub const OWN_MAILBOX_REASSEMBLY_MAX_BYTES: usize = 8 * 1024 * 1024;

/// An incomplete message with no new fragment for this long is dropped (and reported).
/// Counted from the last progress, not the first fragment, because a 4 MiB message takes
/// ~23 min to send at λ_P = 2/s. 10 min is far beyond a sender's whole retry budget for one
/// fragment (≈ 11 attempts × ~7 s), so only a sender that gave up or vanished hits it.
pub const REASSEMBLY_IDLE_TIMEOUT: Duration = Duration::from_secs(600);

/// Ids of recently completed messages a client remembers, so that a late retransmission of
/// an already reassembled message is recognised as a duplicate instead of starting a new,
/// never-completing reassembly (16 bytes each).
pub const REASSEMBLY_COMPLETED_REMEMBERED: usize = 4096;

/// Slack added to a fragment's ack deadline on top of the delays the sender drew for the
/// fragment and for its SURB-ack (8 delaying hops in all). It covers what the sender does not
/// draw: link latency and processing on 10 hops, the recipient provider's durable write
/// before it releases the ack, and the sender's own poll granularity. 5 s keeps spurious
/// retransmissions rare without stalling a lossy transfer.
pub const RETRANSMIT_MARGIN: Duration = Duration::from_secs(5);

/// Retransmissions of one fragment before its whole message is reported failed. Each attempt
/// uses a fresh route, so with a per-attempt loss of 30 % a fragment fails with probability
/// 0.3^11 ≈ 2·10⁻⁶ and a 4 MiB message with ≈ 0.5 %.
pub const MAX_FRAGMENT_RETRANSMISSIONS: u32 = 10;

/// How long a client avoids a mix after one of its attempts through that mix went unacked
/// (`RouteHealth`), unless an ack through the mix arrives first. 60 s: about 8 ack rounds
/// (8 delaying hops × 0.2 s + the 5 s margin ≈ 7 s each), so a mix found dead in one round
/// stays avoided through the retransmissions of a large transfer; yet a mix that comes back,
/// or was blamed for another's loss, is used again within a minute, and an adversary who
/// wants to keep clients off an honest mix has to keep dropping their packets.
pub const SUSPECT_FOR: Duration = Duration::from_secs(60);

/// Fragments (fresh, in flight or awaiting retransmission) a client holds for reliable
/// messages before `send_message` refuses more: 20 000 × 1531 B ≈ 30 MiB of queued data.
pub const MAX_RELIABLE_FRAGMENTS_PENDING: usize = 20_000;

// ---- Mailboxes (`/wesh/mailbox/1`: clients pull what their provider stored for them) ----

/// Version byte leading every mailbox frame; a peer refuses any other value.
pub const MAILBOX_WIRE_VERSION: u8 = 1;

/// Bytes of a mailbox id: 32 random bytes, so ids never collide and cannot be guessed.
pub const MAILBOX_ID_BYTES: usize = 32;

/// Bytes of a pull challenge nonce: 32 random bytes, never repeated in practice (2^-128
/// collision bound even after 2^64 challenges), and the salt of the per-pull key.
pub const MAILBOX_NONCE_BYTES: usize = 32;

/// Most slots a pull may ask for (its `max`); the answer has exactly as many slots as
/// asked, real or dummy. A client's profile picks the count (e.g. 3), a bulk transfer
/// may ask for all 16 (≈ 32 KiB per answer).
pub const PULL_SLOTS: usize = 16;

/// Bytes of a slot's plaintext: flag (1) ‖ seq (u64) ‖ payload length (u16) ‖ payload padded
/// with zeros to `MAX_PLAINTEXT_BYTES` (what a provider stores per entry is one plaintext).
pub const PULL_SLOT_PLAINTEXT_BYTES: usize = 1 + 8 + 2 + MAX_PLAINTEXT_BYTES;

/// Bytes of a ChaCha20-Poly1305 tag.
pub const MAILBOX_AEAD_TAG_BYTES: usize = 16;

/// Bytes of a sealed slot on the wire (plaintext + tag): the same for real and dummy slots.
pub const PULL_SLOT_BYTES: usize = PULL_SLOT_PLAINTEXT_BYTES + MAILBOX_AEAD_TAG_BYTES;

/// Bytes of the sealed pull-response header: remaining count (u32) + tag.
pub const PULL_HEADER_BYTES: usize = 4 + MAILBOX_AEAD_TAG_BYTES;

/// Bytes of the largest pull response frame: version ‖ type ‖ nonce ‖ sealed header ‖
/// `PULL_SLOTS` slots (32 982 bytes).
pub const PULL_RESPONSE_BYTES: usize =
    2 + MAILBOX_NONCE_BYTES + PULL_HEADER_BYTES + PULL_SLOTS * PULL_SLOT_BYTES;

/// Seq slots of every Confirm: one pull's worth. A client confirms at each pull tick what
/// it kept from the previous pull, and the frame always carries this many slots (unused
/// ones zero), so an observer of the client's link cannot tell from a Confirm's size, or
/// from whether one is sent, that mail arrived (issue 15, item 7).
pub const MAX_CONFIRM_SEQS: usize = PULL_SLOTS;

/// Largest request frame, bytes: the Confirm (version ‖ type ‖ mailbox ‖ count (u16) ‖
/// seq slots ‖ signature = 228 B). A provider stops reading a stream beyond this.
pub const MAX_MAILBOX_REQUEST_BYTES: usize = 2 + MAILBOX_ID_BYTES + 2 + MAX_CONFIRM_SEQS * 8 + 64;

/// Largest response frame, bytes: the pull response, the largest message of the protocol.
pub const MAX_MAILBOX_RESPONSE_BYTES: usize = PULL_RESPONSE_BYTES;

/// How long a pull challenge stays valid, seconds. A client uses it one round trip after it
/// got it; 30 s tolerates slow links and clock granularity (whole seconds) while keeping the
/// table of outstanding challenges small.
pub const CHALLENGE_LIFETIME_SECS: u64 = 30;

/// Challenges a provider keeps outstanding in all (≈ 100 B each, so ≈ 1.6 MiB). When full,
/// the oldest is forgotten: honest clients use theirs within one round trip, so a flood must
/// exceed this many requests per round trip to disturb them.
pub const MAX_OUTSTANDING_CHALLENGES: usize = 16_384;

/// Challenges outstanding per mailbox (the oldest is forgotten beyond): a client rarely has
/// more than one pull in flight, and one mailbox cannot fill the provider's table.
pub const MAX_CHALLENGES_PER_MAILBOX: usize = 4;

/// How long a provider keeps an undelivered payload: 7 days. Covers a client that is offline
/// over a long weekend or a trip with slack, while bounding how much history a provider holds
/// (and could be compelled to hand over). Also the window in which a payload arriving twice
/// is stored once.
pub const MAILBOX_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// Most payloads one mailbox holds: 10 000. About 6.5 messages of 1 MiB (685 fragments
/// each): ample for a week of personal traffic, and it caps per-mailbox index work.
pub const MAILBOX_QUOTA_PAYLOADS: u32 = 10_000;

/// Most payload bytes one mailbox holds: 64 MiB. Above the 10 000 × 2031 B ≈ 19.4 MiB the
/// count quota allows for full-size payloads, so the count quota binds first by default;
/// the byte quota matters when an operator raises the count.
pub const MAILBOX_QUOTA_BYTES: u64 = 64 * 1024 * 1024;

/// The sequence number of a mailbox's first payload; later ones count up from it and are
/// never reused, even after deletes and restarts.
pub const MAILBOX_FIRST_SEQ: u64 = 0;

/// First wait after a failed mailbox registration. Unit: time (50 ms).
/// Source: a client starting with its provider usually fails only while the connection
/// comes up (tens of milliseconds on a LAN).
pub const REGISTER_BACKOFF_FIRST: Duration = Duration::from_millis(50);

/// Longest wait between mailbox registration attempts (the wait doubles from
/// [`REGISTER_BACKOFF_FIRST`]). Unit: time (5 s).
/// Source: bounds how long a client stays unregistered after its provider comes back.
pub const REGISTER_BACKOFF_MAX: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::*;

    /// The figures quoted in spec/mixnet.md.
    #[test]
    fn geometry_matches_the_spec() {
        assert_eq!(SPHINX_HEADER_BYTES, 348);
        assert_eq!(PACKET_BYTES, 2396);
        assert_eq!(MAX_PLAINTEXT_BYTES, 2031);
    }
}
