//! A member's calls to a replication provider: register a group, fetch its history.

use super::REPLICATION_PROTOCOL;
use super::params::{EXCHANGE_TIMEOUT, MAX_FETCH_ENTRIES, MAX_RESPONSE_BYTES};
use crate::mailboxes::exchange::read_bounded;
use crate::net::stream_open::open_stream;
use futures::AsyncWriteExt;
use libp2p::PeerId;
use thiserror::Error;
use wesh_client::app::FetchedPage;
use wesh_client::error::WeshError;
use wesh_client::messenger::replica::{ReplicaRequest, ReplicaResponse};

/// Why a call to a replication provider failed.
#[derive(Debug, Error)]
pub enum CallError {
    #[error("cannot reach the replication provider: {0}")]
    Unreachable(#[from] libp2p_stream::OpenStreamError),
    #[error("replication exchange failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("bad replication answer: {0}")]
    BadAnswer(#[from] WeshError),
    #[error("replication exchange timed out")]
    Timeout,
    #[error("refused by the replication provider: {0}")]
    Refused(String),
    #[error("the replication provider asks {price} credit units first: {reason}")]
    Unpaid { price: u64, reason: String },
    #[error("unexpected answer from the replication provider")]
    Unexpected,
}

async fn exchange(
    control: &mut libp2p_stream::Control,
    provider: PeerId,
    request: &ReplicaRequest,
) -> Result<ReplicaResponse, CallError> {
    let work = async {
        let mut s = open_stream(control, provider, REPLICATION_PROTOCOL).await?;
        s.write_all(&request.encode()).await?;
        s.close().await?;
        let answer = read_bounded(&mut s, MAX_RESPONSE_BYTES).await?;
        Ok(ReplicaResponse::decode(&answer)?)
    };
    tokio::time::timeout(EXCHANGE_TIMEOUT, work)
        .await
        .map_err(|_| CallError::Timeout)?
}

/// ReplicationServiceRegisterGroup at `provider`: `registration` is an encoded
/// `ReplicaRegistration` (the view and the member's proof for that provider). Returns the
/// end of the group's term there (Unix seconds).
pub async fn register_group(
    control: &mut libp2p_stream::Control,
    provider: PeerId,
    registration: Vec<u8>,
) -> Result<u64, CallError> {
    match exchange(
        control,
        provider,
        &ReplicaRequest::Register { registration },
    )
    .await?
    {
        ReplicaResponse::Registered { expires_at, .. } => Ok(expires_at),
        ReplicaResponse::Unpaid { price, reason } => Err(CallError::Unpaid { price, reason }),
        ReplicaResponse::Refused { reason } => Err(CallError::Refused(reason)),
        ReplicaResponse::Entries { .. } => Err(CallError::Unexpected),
    }
}

/// One page of what `provider` keeps for `group_id` after `after` (one exchange; the app
/// core decides whether and when to fetch the next page).
pub async fn fetch_history(
    control: &mut libp2p_stream::Control,
    provider: PeerId,
    group_id: [u8; 32],
    after: u64,
) -> Result<FetchedPage, CallError> {
    let request = ReplicaRequest::Fetch {
        group_id,
        after,
        max: u16::try_from(MAX_FETCH_ENTRIES).unwrap_or(u16::MAX),
    };
    match exchange(control, provider, &request).await? {
        ReplicaResponse::Entries { entries, more } => {
            let last = entries.last().map_or(after, |(s, _)| *s);
            Ok(FetchedPage {
                entries: entries.into_iter().map(|(_, e)| e).collect(),
                last,
                more,
            })
        }
        ReplicaResponse::Refused { reason } => Err(CallError::Refused(reason)),
        ReplicaResponse::Registered { .. } | ReplicaResponse::Unpaid { .. } => {
            Err(CallError::Unexpected)
        }
    }
}
