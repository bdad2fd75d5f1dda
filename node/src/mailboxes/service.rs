//! `/wesh/mailbox/1` at a provider: each stream carries one request, answered by the
//! protocol core ([`MailboxServer`]) over the durable store, plus a periodic TTL sweep.

use super::MAILBOX_STREAM;
use super::params::{EXPIRE_EVERY, MAILBOX_REQUEST_LIMITS};
use crate::clock::unix_now;
use crate::net::request_server::{RequestStats, serve_requests};
use crate::storage::MailboxStore;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::watch;
use wesh_metrics::{RelayMetrics, bump};
use wesh_mix::NodeId;
use wesh_mix::mailbox::{MailboxServer, Response};

/// Serves mailbox requests until `shutdown` (streams bounded by
/// [`MAILBOX_REQUEST_LIMITS`]). Fails only if the protocol is already taken.
pub fn serve(
    control: libp2p_stream::Control,
    provider: NodeId,
    store: Arc<MailboxStore>,
    metrics: Arc<RelayMetrics>,
    shutdown: watch::Receiver<bool>,
) -> Result<Arc<RequestStats>, libp2p_stream::AlreadyRegistered> {
    let server = Arc::new(Mutex::new(MailboxServer::new(provider)));
    let stats = Arc::new(RequestStats::default());
    serve_requests(
        control,
        MAILBOX_STREAM,
        MAILBOX_REQUEST_LIMITS,
        stats.clone(),
        move |peer, request| {
            answer(
                peer,
                request,
                server.clone(),
                store.clone(),
                metrics.clone(),
            )
        },
        shutdown,
    )?;
    Ok(stats)
}

async fn answer(
    peer: libp2p::PeerId,
    request: Vec<u8>,
    server: Arc<Mutex<MailboxServer>>,
    store: Arc<MailboxStore>,
    metrics: Arc<RelayMetrics>,
) -> Option<Vec<u8>> {
    // rocksdb reads and synced deletes block: keep them off the async workers
    let answered = tokio::task::spawn_blocking(move || {
        let now = unix_now();
        let mut backend = &*store;
        let mut server = server.lock().unwrap_or_else(PoisonError::into_inner);
        server.respond(&request, now, &mut rand::rng(), &mut backend)
    })
    .await;
    let response = answered.ok()?;
    match &response {
        Response::Refused(reason) => {
            bump(&metrics.mailbox_refusals);
            tracing::debug!(%peer, ?reason, "mailbox request refused");
        }
        Response::PullResponse { .. } => bump(&metrics.mailbox_pulls),
        _ => {}
    }
    Some(response.encode())
}

/// Sweeps payloads past their TTL every [`EXPIRE_EVERY`] until `shutdown`.
pub fn spawn_expiry(store: Arc<MailboxStore>, mut shutdown: watch::Receiver<bool>) {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(EXPIRE_EVERY) => {}
                _ = shutdown.changed() => return,
            }
            let s = store.clone();
            match tokio::task::spawn_blocking(move || s.expire(unix_now())).await {
                Ok(Ok(report)) if report.payloads > 0 => {
                    tracing::info!(payloads = report.payloads, "expired payloads removed")
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "mailbox expiry failed"),
                Err(_) => return,
            }
        }
    });
}
