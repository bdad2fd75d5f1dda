//! Paying for sending: a client spends blind-signed tokens at its provider for packet
//! credit (`/wesh/credit/1`), the provider debits one packet per Sphinx frame the client
//! sends and drops frames without credit, and redeems the tokens it collected at the
//! issuer, whose global spent set catches a token spent at two providers. The rules
//! (`wesh_payments::CreditBook`, `CreditKeeper`) and the wire format
//! (`wesh_payments::wire::credit`) are the core's; this is the I/O.

pub mod keeper;
pub mod provider;
pub mod redeemer;

pub use wesh_payments::wire::CreditAnswer;

use libp2p::StreamProtocol;
use std::time::Duration;

pub const CREDIT_PROTOCOL: StreamProtocol = StreamProtocol::new("/wesh/credit/1");

/// Bound on one credit exchange; a stuck stream is abandoned and the next check retries.
pub const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(4);

/// How `/wesh/credit/1` streams are bounded at a provider: a client spends a token when
/// its credit runs low (a few per minute at the default rates), so 16 at once and one more
/// every 100 ms is ample; a request is one token (263 B).
pub const CREDIT_REQUEST_LIMITS: crate::net::request_server::RequestLimits =
    crate::net::request_server::RequestLimits {
        max_request: wesh_payments::wire::credit::MAX_CREDIT_REQUEST_BYTES,
        read_timeout: Duration::from_secs(5),
        write_timeout: Duration::from_secs(5),
        burst: 16,
        refill_ms: 100,
        max_streams: 256,
        max_streams_per_peer: 4,
    };
/// How often a provider redeems what it collected (the testnet also redeems at its end).
pub const DEFAULT_REDEEM_EVERY: Duration =
    Duration::from_secs(wesh_payments::params::REDEEM_EVERY_SECS);

/// A `--issuer` address that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum IssuerAddressError {
    #[error(transparent)]
    Address(#[from] crate::keys::PeerAddrError),
    #[error("the issuer's epoch length must be at least 1 s")]
    ZeroEpoch,
}

/// Where the issuer is and how long its epochs are.
#[derive(Debug, Clone)]
pub struct IssuerAddress {
    pub peer: libp2p::PeerId,
    pub addr: libp2p::Multiaddr,
    pub epoch_seconds: u64,
}

impl IssuerAddress {
    /// From a multiaddr ending in /p2p/<peer id>.
    pub fn parse(text: &str, epoch_seconds: u64) -> Result<Self, IssuerAddressError> {
        let (peer, addr) = crate::keys::parse_peer_addr(text, "--issuer")?;
        if epoch_seconds == 0 {
            return Err(IssuerAddressError::ZeroEpoch);
        }
        Ok(IssuerAddress {
            peer,
            addr,
            epoch_seconds,
        })
    }

    /// The payments epoch now.
    pub fn epoch_now(&self) -> u64 {
        wesh_payments::epoch_at(crate::clock::unix_now(), self.epoch_seconds)
    }
}
