//! A member's calls to a replication provider: register a group, fetch its history.

use super::REPLICATION_PROTOCOL;
use super::params::{EXCHANGE_TIMEOUT, MAX_FETCH_ENTRIES, MAX_RESPONSE_BYTES};
use crate::mailboxes::exchange::read_bounded;
use futures::AsyncWriteExt;
use libp2p::PeerId;
use wesh_client::messenger::replica::{ReplicaRequest, ReplicaResponse};

async fn exchange(
    control: &mut libp2p_stream::Control,
    provider: PeerId,
    request: &ReplicaRequest,
) -> Result<ReplicaResponse, String> {
    let work = async {
        let mut s = control
            .open_stream(provider, REPLICATION_PROTOCOL)
            .await
            .map_err(|e| format!("cannot reach the replication provider: {e}"))?;
        s.write_all(&request.encode())
            .await
            .map_err(|e| e.to_string())?;
        s.close().await.map_err(|e| e.to_string())?;
        let answer = read_bounded(&mut s, MAX_RESPONSE_BYTES)
            .await
            .map_err(|e| e.to_string())?;
        ReplicaResponse::decode(&answer).map_err(|e| format!("bad replication answer: {e}"))
    };
    tokio::time::timeout(EXCHANGE_TIMEOUT, work)
        .await
        .map_err(|_| "replication exchange timed out".to_string())?
}

/// ReplicationServiceRegisterGroup at `provider`.
pub async fn register_group(
    control: &mut libp2p_stream::Control,
    provider: PeerId,
    view: Vec<u8>,
) -> Result<[u8; 32], String> {
    match exchange(control, provider, &ReplicaRequest::Register { view }).await? {
        ReplicaResponse::Registered { group_id } => Ok(group_id),
        ReplicaResponse::Refused { reason } => Err(format!("registration refused: {reason}")),
        ReplicaResponse::Entries { .. } => Err("unexpected answer to a registration".into()),
    }
}

/// Every entry kept for `group_id` after `after`; returns them and the last sequence
/// number (to continue from next time).
pub async fn fetch_history(
    control: &mut libp2p_stream::Control,
    provider: PeerId,
    group_id: [u8; 32],
    mut after: u64,
) -> Result<(Vec<Vec<u8>>, u64), String> {
    let mut out = Vec::new();
    loop {
        let request = ReplicaRequest::Fetch {
            group_id,
            after,
            max: u16::try_from(MAX_FETCH_ENTRIES).unwrap_or(u16::MAX),
        };
        match exchange(control, provider, &request).await? {
            ReplicaResponse::Entries { entries, more } => {
                after = entries.last().map_or(after, |(s, _)| *s);
                out.extend(entries.into_iter().map(|(_, e)| e));
                if !more {
                    return Ok((out, after));
                }
            }
            ReplicaResponse::Refused { reason } => {
                return Err(format!("history refused: {reason}"));
            }
            ReplicaResponse::Registered { .. } => {
                return Err("unexpected answer to a history fetch".into());
            }
        }
    }
}
