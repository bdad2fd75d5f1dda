//! One request, one answer per stream, for every such protocol a relay serves
//! (`/wesh/mailbox/1`, `/wesh/credit/1`): streams are admitted before a byte is read (a
//! per-peer rate limit and caps on streams open per peer and overall: the gate core of
//! `wesh_pki`), the request is read with a size limit and a deadline, the answer written
//! with a deadline, and a refused or stalled stream gives its slot back. Without this a
//! peer could open streams without end and keep each one silent (issue 15, item 14).

use futures::{AsyncWriteExt, StreamExt};
use libp2p::{PeerId, StreamProtocol};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use wesh_pki::SyncServeGate;

/// How a protocol's streams are bounded.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    /// Largest request, bytes.
    pub max_request: usize,
    /// The whole request must arrive within this.
    pub read_timeout: Duration,
    /// The answer must be taken within this.
    pub write_timeout: Duration,
    /// Requests a peer may make at once before the refill rate applies.
    pub burst: u32,
    /// One more request allowed per this many milliseconds.
    pub refill_ms: u64,
    pub max_streams: usize,
    pub max_streams_per_peer: usize,
}

/// Counters of a served protocol.
#[derive(Debug, Default)]
pub struct RequestStats {
    pub refused: std::sync::atomic::AtomicU64,
    pub timed_out: std::sync::atomic::AtomicU64,
}

/// Returns its gate slot when the stream ends, however it ends.
struct Slot {
    gate: Arc<Mutex<SyncServeGate<PeerId>>>,
    peer: PeerId,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut g) = self.gate.lock() {
            g.close(&self.peer);
        }
    }
}

/// Serves `protocol` until `shutdown`: `answer(peer, request)` gives the answer bytes
/// (`None`: close without one). Fails only if the protocol is already taken.
pub fn serve_requests<F, Fut>(
    mut control: libp2p_stream::Control,
    protocol: StreamProtocol,
    limits: RequestLimits,
    stats: Arc<RequestStats>,
    answer: F,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), libp2p_stream::AlreadyRegistered>
where
    F: Fn(PeerId, Vec<u8>) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Option<Vec<u8>>> + Send,
{
    use std::sync::atomic::Ordering::Relaxed;
    let mut incoming = control.accept(protocol.clone())?;
    let gate = Arc::new(Mutex::new(SyncServeGate::new(
        limits.burst,
        limits.refill_ms,
        limits.max_streams,
        limits.max_streams_per_peer,
    )));
    tokio::spawn(async move {
        loop {
            let (peer, mut stream) = tokio::select! {
                next = incoming.next() => match next {
                    Some(s) => s,
                    None => return,
                },
                _ = shutdown.changed() => return,
            };
            let admitted = gate
                .lock()
                .map(|mut g| g.admit(crate::clock::unix_now_ms(), &peer))
                .unwrap_or(Err(wesh_pki::SyncRefusal::Busy));
            if let Err(refusal) = admitted {
                stats.refused.fetch_add(1, Relaxed);
                tracing::debug!(%peer, %protocol, reason = refusal.reason(), "stream refused");
                continue;
            }
            let slot = Slot {
                gate: gate.clone(),
                peer,
            };
            let answer = answer.clone();
            let stats = stats.clone();
            tokio::spawn(async move {
                let _slot = slot;
                let read =
                    crate::mailboxes::exchange::read_bounded(&mut stream, limits.max_request);
                let request = match tokio::time::timeout(limits.read_timeout, read).await {
                    Ok(Ok(r)) => r,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "request unreadable");
                        return;
                    }
                    Err(_) => {
                        stats.timed_out.fetch_add(1, Relaxed);
                        return;
                    }
                };
                let Some(bytes) = answer(peer, request).await else {
                    return;
                };
                let write = async {
                    stream.write_all(&bytes).await?;
                    stream.close().await
                };
                match tokio::time::timeout(limits.write_timeout, write).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "answer not delivered"),
                    Err(_) => {
                        stats.timed_out.fetch_add(1, Relaxed);
                    }
                }
            });
        }
    });
    Ok(())
}

/// A swarm on loopback that answers every `protocol` request with the request itself,
/// within `limits` (tests of the servers and of stream opening).
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) async fn echo_server(
    protocol: StreamProtocol,
    limits: RequestLimits,
    stats: Arc<RequestStats>,
    stop: watch::Receiver<bool>,
) -> crate::net::swarm::NetHandle {
    let localhost: libp2p::Multiaddr = "/ip4/127.0.0.1/tcp/0".parse().unwrap();
    let server = crate::net::swarm::start_swarm(
        libp2p::identity::Keypair::generate_ed25519(),
        &[localhost],
        &[],
        stop.clone(),
    )
    .await
    .unwrap();
    serve_requests(
        server.control.clone(),
        protocol,
        limits,
        stats,
        |_, request: Vec<u8>| async move { Some(request) },
        stop,
    )
    .unwrap();
    server
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::net::swarm::start_swarm;
    use futures::AsyncReadExt;
    use libp2p::identity::Keypair;
    use std::sync::atomic::Ordering::Relaxed;

    const ECHO: StreamProtocol = StreamProtocol::new("/wesh/test-echo/1");

    /// Over real libp2p sockets: silent streams are closed at the read deadline and give
    /// their slots back, streams beyond a peer's cap are refused before anything is read,
    /// and the peer is served again once its streams ended.
    #[tokio::test]
    async fn silent_and_excess_streams_are_cut_and_slots_come_back() {
        let (_stop, stop) = watch::channel(false);
        let limits = RequestLimits {
            max_request: 16,
            read_timeout: Duration::from_millis(300),
            write_timeout: Duration::from_secs(5),
            burst: 100,
            refill_ms: 1,
            max_streams: 8,
            max_streams_per_peer: 2,
        };
        let stats = Arc::new(RequestStats::default());
        let server = echo_server(ECHO, limits, stats.clone(), stop.clone()).await;
        let book = [(server.peer_id, server.listen_addrs[0].clone())];
        let client = start_swarm(Keypair::generate_ed25519(), &[], &book, stop)
            .await
            .unwrap();
        let mut control = client.control.clone();
        let echo = |mut control: libp2p_stream::Control| async move {
            let mut s = control.open_stream(server.peer_id, ECHO).await.ok()?;
            s.write_all(b"hello").await.ok()?;
            s.close().await.ok()?;
            let mut out = Vec::new();
            s.read_to_end(&mut out).await.ok()?;
            Some(out)
        };
        assert_eq!(echo(control.clone()).await.as_deref(), Some(&b"hello"[..]));
        // two silent streams take the peer's two slots
        let mut silent = Vec::new();
        for _ in 0..2 {
            silent.push(control.open_stream(server.peer_id, ECHO).await.unwrap());
        }
        // give the server the time to admit them, then a third stream is refused
        let mut refused_seen = false;
        for _ in 0..50 {
            if echo(control.clone()).await.is_none() && stats.refused.load(Relaxed) > 0 {
                refused_seen = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(refused_seen, "a stream beyond the peer's cap is refused");
        // the silent ones hit the read deadline, their slots come back
        let mut served = false;
        for _ in 0..100 {
            if echo(control.clone()).await.as_deref() == Some(&b"hello"[..]) {
                served = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(served, "served again once the silent streams were cut");
        assert_eq!(stats.timed_out.load(Relaxed), 2);
        // an oversized request gets no answer
        let mut s = control.open_stream(server.peer_id, ECHO).await.unwrap();
        s.write_all(&[0; 17]).await.unwrap();
        s.close().await.unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out).await;
        assert!(out.is_empty());
        drop(silent);
    }
}
