//! The token issuer as a network service (`wesh issuer`), and the calls clients,
//! providers and relays make to it. Its six protocols (keys, issue, redeem, rewards,
//! claim, work) are laid out in `wesh_payments::wire::issuer`; the rules are
//! `wesh_payments::IssuerBook`'s. This is transport, key files and storage.

pub mod calls;
pub mod pki_keys;
pub mod reward_loop;
pub mod role;
pub mod service;
pub mod work_reporter;

pub use wesh_payments::epoch_at;

use libp2p::StreamProtocol;

pub const KEYS_PROTOCOL: StreamProtocol = StreamProtocol::new("/wesh/issuer/keys/1");
pub const ISSUE_PROTOCOL: StreamProtocol = StreamProtocol::new("/wesh/issuer/issue/1");
pub const REDEEM_PROTOCOL: StreamProtocol = StreamProtocol::new("/wesh/issuer/redeem/1");
pub const REWARDS_PROTOCOL: StreamProtocol = StreamProtocol::new("/wesh/issuer/rewards/1");
pub const CLAIM_PROTOCOL: StreamProtocol = StreamProtocol::new("/wesh/issuer/claim/1");
pub const WORK_PROTOCOL: StreamProtocol = StreamProtocol::new("/wesh/issuer/work/1");

/// Bound on one exchange with the issuer (signing 64 tokens takes well under a second).
pub const EXCHANGE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(8);

/// How each issuer protocol's streams are bounded (requests up to `max_request` bytes).
/// Clients fetch tokens a few times per epoch, providers redeem every few seconds, relays
/// report work once per epoch: 32 at once and one more every 50 ms per peer is ample, and
/// 512 open streams is far above what the issuer's RSA work serves anyway.
pub fn issuer_request_limits(max_request: usize) -> crate::net::request_server::RequestLimits {
    crate::net::request_server::RequestLimits {
        max_request,
        read_timeout: std::time::Duration::from_secs(5),
        write_timeout: std::time::Duration::from_secs(5),
        burst: 32,
        refill_ms: 50,
        max_streams: 512,
        max_streams_per_peer: 4,
    }
}

/// Why the issuer cannot start or keep its state.
#[derive(Debug, thiserror::Error)]
pub enum IssuerError {
    #[error(transparent)]
    Metrics(#[from] crate::net::metrics_http::MetricsServeError),
    #[error("issuer key of epoch {0}: {1}")]
    Key(u64, wesh_payments::KeyError),
    #[error(transparent)]
    KeyFile(#[from] crate::keys::KeyError),
    #[error("{0}: {1}")]
    DataDir(std::path::PathBuf, std::io::Error),
    #[error("spent set: {0}")]
    Store(#[from] wesh_payments::StoreError),
    #[error(transparent)]
    Rewards(#[from] crate::storage::reward_store::RewardStoreError),
    #[error("settled rewards: {0}")]
    Settle(#[from] wesh_payments::SettleError),
    #[error(transparent)]
    Net(#[from] crate::net::swarm::NetError),
    #[error("{0} registered twice")]
    Protocol(StreamProtocol),
    #[error("pki: {0}")]
    Pki(#[from] wesh_pki::ParamError),
    #[error("pki: the identity key is not an Ed25519 key")]
    IdentityKey,
    #[error(transparent)]
    Call(#[from] calls::CallError),
    #[error("no node keys in {0}")]
    NoNodeKeys(std::path::PathBuf),
    #[error("invalid {what} {addr:?}: {source}")]
    Addr {
        what: &'static str,
        addr: String,
        source: libp2p::multiaddr::Error,
    },
    #[error("--monitor-loops-per-second must be between 0 and 1000")]
    MonitorRate,
    #[error(transparent)]
    Signal(#[from] crate::roles::mix_provider::SignalError),
    #[error(transparent)]
    PeerAddr(#[from] crate::keys::PeerAddrError),
    #[error("the issuer listens nowhere")]
    NoListenAddress,
}
