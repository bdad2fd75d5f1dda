//! Outbound links: one long-lived `/wesh/sphinx/1` stream per next hop, fed by a bounded
//! queue. A slow or dead peer only fills its own queue; its frames are dropped and
//! counted, and no other link waits for it. A link ends when its peer stays unreachable or
//! it carried nothing for [`LINK_IDLE_CLOSE`]; ended links are forgotten
//! ([`prune_dead`]), so peers that left do not pile up (issue 15 item 12).

use super::SPHINX_PROTOCOL;
use futures::AsyncWriteExt;
use libp2p::{PeerId, StreamProtocol};
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// Frames waiting for one peer before new ones are dropped (≈ 10 MB of Sphinx packets).
pub const LINK_QUEUE_FRAMES: usize = 4096;
/// Attempts to (re)open a stream before the link gives up and drops what is queued.
const OPEN_ATTEMPTS: u32 = 5;
/// A link that carried no frame this long closes its stream and ends; the next frame for
/// that peer starts a new one. 10 minutes: far above the gaps of any live route (cover
/// traffic crosses every link many times a minute), so only peers that left are closed.
pub const LINK_IDLE_CLOSE: Duration = Duration::from_secs(600);

/// Forgets the links whose writer has ended (a peer that stayed unreachable or idle).
pub fn prune_dead<K>(links: &mut HashMap<K, FrameSender>) {
    links.retain(|_, s| !s.is_closed());
}

pub type FrameSender = mpsc::Sender<Vec<u8>>;

/// Registry of outbound links, shared by workers (who cache the senders they use).
pub struct Links {
    control: libp2p_stream::Control,
    runtime: tokio::runtime::Handle,
    protocol: StreamProtocol,
    map: Mutex<HashMap<PeerId, FrameSender>>,
    failed: Arc<AtomicU64>,
}

impl Links {
    pub fn new(
        control: libp2p_stream::Control,
        runtime: tokio::runtime::Handle,
        failed: Arc<AtomicU64>,
    ) -> Arc<Self> {
        Self::with_protocol(control, runtime, failed, SPHINX_PROTOCOL)
    }

    pub fn with_protocol(
        control: libp2p_stream::Control,
        runtime: tokio::runtime::Handle,
        failed: Arc<AtomicU64>,
        protocol: StreamProtocol,
    ) -> Arc<Self> {
        Arc::new(Links {
            control,
            runtime,
            protocol,
            map: Mutex::new(HashMap::new()),
            failed,
        })
    }

    /// The queue to `peer`, starting its writer task on first use (or after it died).
    pub fn sender(&self, peer: PeerId) -> FrameSender {
        let mut map = match self.map.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(s) = map.get(&peer).filter(|s| !s.is_closed()) {
            return s.clone();
        }
        prune_dead(&mut map);
        let (tx, rx) = mpsc::channel(LINK_QUEUE_FRAMES);
        let control = self.control.clone();
        let failed = self.failed.clone();
        let protocol = self.protocol.clone();
        self.runtime
            .spawn(write_link(control, peer, protocol, rx, failed));
        map.insert(peer, tx.clone());
        tx
    }
}

async fn write_link(
    mut control: libp2p_stream::Control,
    peer: PeerId,
    protocol: StreamProtocol,
    mut rx: mpsc::Receiver<Vec<u8>>,
    failed: Arc<AtomicU64>,
) {
    'reopen: loop {
        let mut stream = None;
        for attempt in 0..OPEN_ATTEMPTS {
            match control.open_stream(peer, protocol.clone()).await {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => {
                    tracing::debug!(%peer, attempt, error = %e, "cannot open link");
                    tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                }
            }
        }
        let Some(mut stream) = stream else {
            // Give up: count what was queued as lost, close the queue so the next sender
            // starts a fresh writer.
            rx.close();
            let mut lost = 0u64;
            while rx.try_recv().is_ok() {
                lost += 1;
            }
            failed.fetch_add(lost, std::sync::atomic::Ordering::Relaxed);
            tracing::warn!(%peer, lost, "link down: queued frames dropped");
            return;
        };
        loop {
            let frame = match tokio::time::timeout(LINK_IDLE_CLOSE, rx.recv()).await {
                Ok(Some(frame)) => frame,
                Ok(None) => {
                    let _ = stream.close().await;
                    return;
                }
                Err(_idle) => {
                    // close the queue first, so a sender racing with us starts a new link,
                    // then write what slipped in before the close
                    rx.close();
                    while let Ok(frame) = rx.try_recv() {
                        if stream.write_all(&frame).await.is_err() {
                            failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                    let _ = stream.close().await;
                    tracing::debug!(%peer, "idle link closed");
                    return;
                }
            };
            if let Err(e) = stream.write_all(&frame).await {
                tracing::debug!(%peer, error = %e, "link write failed, reopening");
                failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                continue 'reopen;
            }
            // flush once the queue is drained, so bursts go out in few writes
            if rx.is_empty()
                && let Err(e) = stream.flush().await
            {
                tracing::debug!(%peer, error = %e, "link flush failed, reopening");
                continue 'reopen;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ended_links_are_forgotten_and_live_ones_kept() {
        let mut links: HashMap<u8, FrameSender> = HashMap::new();
        let (live, _live_rx) = mpsc::channel(1);
        let (dead, dead_rx) = mpsc::channel(1);
        links.insert(1, live);
        links.insert(2, dead);
        drop(dead_rx); // its writer ended
        prune_dead(&mut links);
        assert_eq!(links.keys().copied().collect::<Vec<_>>(), vec![1]);
    }
}
