//! Paying for sending: a client spends blind-signed tokens at its provider for packet
//! credit (`/wesh/credit/1`), the provider debits one packet per Sphinx frame the client
//! sends and drops frames without credit, and redeems the tokens it collected at the
//! issuer, whose global spent set catches a token spent at two providers. The rules are
//! `wesh_payments::Admission`'s; this is the I/O.
//!
//! `/wesh/credit/1`, one request and one response per stream:
//! - request `1 ‖ token (354 B)` (spend) or `2` (balance);
//! - answer `0 ‖ balance (u64) ‖ frames dropped for lack of credit (u64)`, or
//!   `1 ‖ reason (UTF-8)` (a refused token: forged, unknown key, expired, already spent).

pub mod keeper;
pub mod provider;
pub mod redeemer;

use libp2p::StreamProtocol;
use std::time::Duration;

pub const CREDIT_PROTOCOL: StreamProtocol = StreamProtocol::new("/wesh/credit/1");

const OP_SPEND: u8 = 1;
const OP_BALANCE: u8 = 2;

/// A client tops up when its balance falls below this many packets (a few minutes of
/// Loopix traffic at the default rates, well under one token's 1,000 packets).
pub const LOW_WATER_PACKETS: u64 = 400;
/// Tokens a client asks the issuer for at once.
pub const TOKENS_PER_REQUEST: usize = 4;
/// How often a client checks its balance.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);
/// Debits a provider may hold in memory before writing the ledgers they changed (synced),
/// packets, summed over all clients. A crash loses at most this many debits, so restarted
/// clients can send at most this many packets more than they paid for. Value:
/// `PACKETS_PER_TOKEN` (1,000) — a crash then costs at most one token's worth, the loss a
/// provider already accepts for each double-spent token (spec/payments.md §5.3); one
/// synced write per 1,000 packets adds ≤ 10 µs per packet even at a slow 10 ms fsync
/// (< 10 % of one Sphinx processing, ~1 % at a typical 1 ms).
pub const DEBIT_FLUSH_PACKETS: u64 = wesh_payments::params::PACKETS_PER_TOKEN;
/// A provider forgets the ledger of a client that sent nothing for this long (its unspent
/// credit with it), seconds. Ledgers exist only for clients that paid, so this bounds the
/// state of clients that left; 30 days is well beyond a phone being off for a holiday.
pub const LEDGER_IDLE_TTL_SECS: u64 = 30 * 24 * 3600;
/// Bound on one credit exchange; a stuck stream is abandoned and the next check retries.
pub const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(4);
/// How often a provider redeems what it collected (the testnet also redeems at its end).
pub const DEFAULT_REDEEM_EVERY: Duration = Duration::from_secs(60);

/// Where the issuer is and how long its epochs are.
#[derive(Debug, Clone)]
pub struct IssuerAddress {
    pub peer: libp2p::PeerId,
    pub addr: libp2p::Multiaddr,
    pub epoch_seconds: u64,
}

impl IssuerAddress {
    /// From a multiaddr ending in /p2p/<peer id>.
    pub fn parse(text: &str, epoch_seconds: u64) -> Result<Self, String> {
        let (peer, addr) =
            crate::keys::parse_peer_addr(text, "--issuer").map_err(|e| e.to_string())?;
        if epoch_seconds == 0 {
            return Err("the issuer's epoch length must be at least 1 s".into());
        }
        Ok(IssuerAddress {
            peer,
            addr,
            epoch_seconds,
        })
    }
}

/// The provider's answer to a spend or balance request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreditAnswer {
    Balance { balance: u64, dropped: u64 },
    Refused(String),
}

impl CreditAnswer {
    pub fn encode(&self) -> Vec<u8> {
        match self {
            CreditAnswer::Balance { balance, dropped } => {
                let mut out = vec![0];
                out.extend_from_slice(&balance.to_be_bytes());
                out.extend_from_slice(&dropped.to_be_bytes());
                out
            }
            CreditAnswer::Refused(reason) => {
                let mut out = vec![1];
                out.extend_from_slice(reason.as_bytes());
                out
            }
        }
    }

    pub fn decode(b: &[u8]) -> Option<Self> {
        match b.split_first()? {
            (0, rest) if rest.len() == 16 => Some(CreditAnswer::Balance {
                balance: u64::from_be_bytes(rest[..8].try_into().ok()?),
                dropped: u64::from_be_bytes(rest[8..].try_into().ok()?),
            }),
            (1, reason) => Some(CreditAnswer::Refused(
                String::from_utf8_lossy(reason).into_owned(),
            )),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_round_trip_and_garbage_is_refused() {
        for a in [
            CreditAnswer::Balance {
                balance: 7,
                dropped: 2,
            },
            CreditAnswer::Refused("already_spent".into()),
        ] {
            assert_eq!(CreditAnswer::decode(&a.encode()), Some(a));
        }
        assert_eq!(CreditAnswer::decode(&[0, 1, 2]), None);
        assert_eq!(CreditAnswer::decode(&[]), None);
        assert_eq!(CreditAnswer::decode(&[9]), None);
    }
}
