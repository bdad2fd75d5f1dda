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

/// Client real-traffic rate λ_P, packets per second (Loopix "payload" stream).
pub const DEFAULT_CLIENT_REAL_RATE: f64 = 2.0;

/// Client loop-cover rate λ_L, packets per second.
pub const DEFAULT_CLIENT_LOOP_RATE: f64 = 1.0;

/// Client drop-cover rate λ_D, packets per second.
pub const DEFAULT_CLIENT_DROP_RATE: f64 = 1.0;

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
