//! Every parameter of the payments core, with its source and unit.
//!
//! Defaults are argued in `spec/payments.md`. The node's configuration starts from these
//! values; nothing else in the crate hard-codes a count, a size or a duration.

/// Token type on the wire (u16). 0x0002 is Privacy Pass "Blind RSA (2048-bit)"
/// (RFC 9578 §6); we keep its layout so existing analyses apply.
pub const TOKEN_TYPE_BLIND_RSA: u16 = 0x0002;

/// RSA modulus size of an issuer key, bits (RFC 9578 type 0x0002 fixes 2048).
pub const RSA_MODULUS_BITS: usize = 2048;

/// Bytes of an RSA-2048 signature, blinded message or blind signature (Nk in RFC 9578).
pub const AUTHENTICATOR_BYTES: usize = RSA_MODULUS_BITS / 8;

/// Bytes of a token nonce (RFC 9578 §5.1: 32 random bytes chosen by the client).
pub const NONCE_BYTES: usize = 32;

/// Bytes of a SHA-256 digest (challenge digest, token key id, spent-set key).
pub const DIGEST_BYTES: usize = 32;

/// Bytes of the signed part of a token: token_type ‖ nonce ‖ challenge_digest ‖ token_key_id.
pub const TOKEN_INPUT_BYTES: usize = 2 + NONCE_BYTES + DIGEST_BYTES + DIGEST_BYTES;

/// Bytes of an encoded token: the token input followed by the authenticator (354).
pub const TOKEN_BYTES: usize = TOKEN_INPUT_BYTES + AUTHENTICATOR_BYTES;

/// Domain separator of the per-epoch challenge whose SHA-256 is the token's
/// challenge_digest (our stand-in for RFC 9577's TokenChallenge: no origin, so any
/// provider accepts the token, and the epoch makes expiry checkable).
pub const EPOCH_CHALLENGE_DOMAIN: &[u8] = b"wesh-payments/epoch-challenge/v1\x00";

/// Packets one token buys at a provider, packets/token. 1000 × 2.4 KiB packets ≈ 2.4 MB;
/// a client at the mixnet's default 4 packets/s (real + loop + drop) spends one token
/// every ~4 min, and a double-spent token costs a provider at most this many packets.
/// Verify (≈ 80 µs) / 1000 ≈ 0.07 % of one Sphinx processing (≈ 140 µs); see
/// spec/payments.md §10.
pub const PACKETS_PER_TOKEN: u64 = 1_000;

/// Free tokens per client key per epoch (default issuance policy), tokens/epoch.
/// 4 packets/s × 3600 s = 14 400 packets/epoch ⇒ 15 tokens; 20 leaves headroom for
/// bursts while capping what one key can make the network carry.
pub const FREE_TOKENS_PER_EPOCH: u32 = 20;

/// Most blinded messages one issuance request may carry (bounds the issuer's work per
/// request), messages/request.
pub const MAX_BLINDED_PER_REQUEST: usize = 64;

/// Epochs a token stays spendable, counting its issuance epoch, epochs. With the PKI's
/// 1-hour epochs a token lives 24 h: a wallet can be filled once a day, and the spent
/// set only has to remember one day of tokens.
pub const TOKEN_VALIDITY_EPOCHS: u64 = 24;

/// Reward units the issuer shares among relayers per epoch, units/epoch. The unit is
/// abstract (the operator maps it to money or priority); 10^6 gives ppm resolution.
pub const REWARD_POOL_PER_EPOCH: u64 = 1_000_000;

/// Secret-shopper test loops the monitor sends per epoch, loops/epoch. With 3 layers
/// of 10 mixes each mix appears in ~200 loops, so a delivery ratio is estimated to
/// ±0.07 (2σ) — enough to tell an honest mix from one dropping half of its traffic.
pub const SHOPPER_LOOPS_PER_EPOCH: usize = 2_000;

/// How far a node's reported work may exceed its measured share of test traffic before
/// it is capped (ratio, ≥ 1). 1.5 absorbs sampling noise of the measurement while a
/// node inflating its report tenfold gains at most 50 %.
pub const WORK_CAP_SLACK: f64 = 1.5;

/// Work one paid replication registration (or renewal) counts for in a provider's
/// reward weight, in packets. Source: issue 18: a registration costs a client one token
/// at the provider, so it counts as the packets that token would have carried.
pub const REPLICA_REGISTRATION_WORK: u64 = PACKETS_PER_TOKEN;

/// Fewest test loops through a node for its score to count; below it the node is
/// "unmeasured" and earns nothing that epoch (loops).
pub const MIN_LOOPS_FOR_SCORE: u64 = 10;

/// A client tops up its credit at its provider when its balance falls below this many
/// packets (a few minutes of Loopix traffic at the default rates, well under one token's
/// `PACKETS_PER_TOKEN`), packets.
pub const LOW_WATER_PACKETS: u64 = 400;

/// Tokens a client asks the issuer for at once, tokens/request.
pub const TOKENS_PER_REQUEST: usize = 4;

/// How often a client checks its balance at its provider, seconds.
pub const CREDIT_CHECK_EVERY_SECS: u64 = 1;

/// Debits a provider may hold in memory before writing the ledgers they changed
/// (synced), packets, summed over all clients. A crash loses at most this many debits, so
/// restarted clients can send at most this many packets more than they paid for. Value:
/// `PACKETS_PER_TOKEN` — a crash then costs at most one token's worth, the loss a
/// provider already accepts for each double-spent token (spec/payments.md §5.3); one
/// synced write per 1,000 packets adds ≤ 10 µs per packet even at a slow 10 ms fsync.
pub const DEBIT_FLUSH_PACKETS: u64 = PACKETS_PER_TOKEN;

/// A provider forgets the ledger of a client that sent nothing for this long (its unspent
/// credit with it), seconds. Ledgers exist only for clients that paid, so this bounds the
/// state of clients that left; 30 days is well beyond a phone being off for a holiday.
pub const LEDGER_IDLE_TTL_SECS: u64 = 30 * 24 * 3600;

/// How often a provider redeems what it collected (and writes its ledgers), seconds.
pub const REDEEM_EVERY_SECS: u64 = 60;

/// Most tokens one redemption request carries (≈ 354 KB), tokens.
pub const MAX_REDEEM_BATCH: usize = 1000;

/// Relays whose work the issuer takes per epoch at most (bounds its memory), reports.
pub const MAX_WORK_REPORTS_PER_EPOCH: usize = 10_000;

/// Left at the end of an epoch for the shopper's loops in flight to come back, seconds
/// (three mixes holding a loop 200 ms each on average, a pull, margin).
pub const SHOPPER_DRAIN_SECS: u64 = 4;

/// Waited after an epoch ends for the relays' work reports before settling, seconds.
pub const REPORT_GRACE_SECS: u64 = 6;

/// An epoch with less time left than this (beyond the drain) when the shopper could
/// start is not measured, seconds.
pub const MIN_SHOPPER_SECS: u64 = 5;
