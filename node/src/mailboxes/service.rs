//! `/wesh/mailbox/1` at a provider: each stream carries one request, answered by the
//! protocol core ([`MailboxServer`]) over the durable store, plus a periodic TTL sweep.

use super::MAILBOX_STREAM;
use super::exchange::{read_request, respond};
use super::params::EXPIRE_EVERY;
use crate::clock::unix_now;
use crate::metrics::{RelayMetrics, bump};
use crate::storage::MailboxStore;
use futures::StreamExt;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::watch;
use wesh_mix::NodeId;
use wesh_mix::mailbox::{MailboxServer, Response};

/// Serves mailbox requests until `shutdown`. Fails only if the protocol is already taken.
pub fn serve(
    mut control: libp2p_stream::Control,
    provider: NodeId,
    store: Arc<MailboxStore>,
    metrics: Arc<RelayMetrics>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), libp2p_stream::AlreadyRegistered> {
    let mut incoming = control.accept(MAILBOX_STREAM)?;
    let server = Arc::new(Mutex::new(MailboxServer::new(provider)));
    tokio::spawn(async move {
        loop {
            tokio::select! {
                next = incoming.next() => match next {
                    Some((peer, stream)) => {
                        tokio::spawn(answer(peer, stream, server.clone(), store.clone(), metrics.clone()));
                    }
                    None => break,
                },
                _ = shutdown.changed() => break,
            }
        }
    });
    Ok(())
}

async fn answer(
    peer: libp2p::PeerId,
    mut stream: libp2p::Stream,
    server: Arc<Mutex<MailboxServer>>,
    store: Arc<MailboxStore>,
    metrics: Arc<RelayMetrics>,
) {
    let request = match read_request(&mut stream).await {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(%peer, error = %e, "mailbox request unreadable");
            return;
        }
    };
    // rocksdb reads and synced deletes block: keep them off the async workers
    let answered = tokio::task::spawn_blocking(move || {
        let now = unix_now();
        let mut backend = &*store;
        let mut server = server.lock().unwrap_or_else(PoisonError::into_inner);
        server.respond(&request, now, &mut rand::rng(), &mut backend)
    })
    .await;
    let Ok(response) = answered else { return };
    match &response {
        Response::Refused(reason) => {
            bump(&metrics.mailbox_refusals);
            tracing::debug!(%peer, ?reason, "mailbox request refused");
        }
        Response::PullResponse { .. } => bump(&metrics.mailbox_pulls),
        _ => {}
    }
    if let Err(e) = respond(&mut stream, &response.encode()).await {
        tracing::debug!(%peer, error = %e, "mailbox response not delivered");
    }
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
