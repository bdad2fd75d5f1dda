//! `wesh pki show`: ask a node for its directory over `/wesh/pki-sync/1`; the listing
//! (every descriptor verified locally, layers of the current epoch) is `wesh_pki`'s.

use super::service::unix_now;
use super::sync::{PKI_SYNC_PROTOCOL, request};
use crate::keys::NodeKeys;
use crate::net::stream_open::open_stream;
use crate::net::swarm::{NetError, start_swarm};
use std::time::Duration;
use thiserror::Error;
use tokio::sync::watch;

/// Why `wesh pki show` could not show a directory.
#[derive(Debug, Error)]
pub enum ShowError {
    #[error(transparent)]
    PeerAddr(#[from] crate::keys::PeerAddrError),
    #[error(transparent)]
    Net(#[from] NetError),
    #[error("cannot open a directory sync: {0}")]
    Open(#[from] libp2p_stream::OpenStreamError),
    #[error("directory sync failed: {0}")]
    Sync(#[from] std::io::Error),
    #[error("the node did not answer within 15 s")]
    Timeout,
    #[error("--epoch-seconds: {0}")]
    Params(#[from] wesh_pki::ParamError),
}

/// What `wesh pki show` prints.
pub type ShownDirectory = wesh_pki::listing::DirectoryListing;

pub async fn show(peer_addr: &str, epoch_seconds: u64) -> Result<ShownDirectory, ShowError> {
    let (peer, addr) = crate::keys::parse_peer_addr(peer_addr, "--peer")?;
    let (_stop, stop_rx) = watch::channel(false);
    let net = start_swarm(NodeKeys::generate().identity, &[], &[(peer, addr)], stop_rx).await?;
    let mut control = net.control.clone();
    let descs = tokio::time::timeout(Duration::from_secs(15), async {
        let mut s = open_stream(&mut control, peer, PKI_SYNC_PROTOCOL).await?;
        // an all-zero digest matches nothing: the node answers with its whole directory
        let answer = request(&mut s, 0, [0; 32]).await?;
        Ok::<_, ShowError>(answer.descriptors.unwrap_or_default())
    })
    .await
    .map_err(|_| ShowError::Timeout)??;
    let params = wesh_pki::PkiParams::with_epoch_length(epoch_seconds)?;
    Ok(ShownDirectory::of(params, &descs, unix_now())?)
}
