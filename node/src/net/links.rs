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
    /// Writer tasks, so that [`Links::close`] can wait for what they still hold.
    writers: Mutex<Vec<tokio::task::JoinHandle<()>>>,
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
            writers: Mutex::new(Vec::new()),
            failed,
        })
    }

    /// Ends every link once it has written what is queued (the caller has dropped its own
    /// senders), waiting at most `within`: a client going offline then loses nothing it
    /// already reported as sent.
    pub async fn close(&self, within: Duration) {
        lock(&self.map).clear();
        let writers = std::mem::take(&mut *lock(&self.writers));
        let all = futures::future::join_all(writers);
        if tokio::time::timeout(within, all).await.is_err() {
            tracing::debug!("links still writing at close");
        }
    }

    /// The queue to `peer`, starting its writer task on first use (or after it died).
    pub fn sender(&self, peer: PeerId) -> FrameSender {
        let mut map = lock(&self.map);
        if let Some(s) = map.get(&peer).filter(|s| !s.is_closed()) {
            return s.clone();
        }
        prune_dead(&mut map);
        let (tx, rx) = mpsc::channel(LINK_QUEUE_FRAMES);
        let control = self.control.clone();
        let failed = self.failed.clone();
        let protocol = self.protocol.clone();
        let writer = self
            .runtime
            .spawn(write_link(control, peer, protocol, rx, failed));
        let mut writers = lock(&self.writers);
        writers.retain(|w| !w.is_finished());
        writers.push(writer);
        map.insert(peer, tx.clone());
        tx
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn write_link(
    mut control: libp2p_stream::Control,
    peer: PeerId,
    protocol: StreamProtocol,
    mut rx: mpsc::Receiver<Vec<u8>>,
    failed: Arc<AtomicU64>,
) {
    // a frame whose write failed is written once more, whole, on the next stream (the
    // peer drops the partial one with the old stream); a second failure loses it
    let mut carried: Option<Vec<u8>> = None;
    'reopen: loop {
        let mut stream = None;
        for attempt in 0..OPEN_ATTEMPTS {
            match super::stream_open::open_stream(&mut control, peer, protocol.clone()).await {
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
            let mut lost = u64::from(carried.is_some());
            while rx.try_recv().is_ok() {
                lost += 1;
            }
            failed.fetch_add(lost, std::sync::atomic::Ordering::Relaxed);
            tracing::warn!(%peer, lost, "link down: queued frames dropped");
            return;
        };
        loop {
            let retrying = carried.is_some();
            let next = match carried.take() {
                Some(frame) => Ok(Some(frame)),
                None => tokio::time::timeout(LINK_IDLE_CLOSE, rx.recv()).await,
            };
            let frame = match next {
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
                if retrying {
                    failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                } else {
                    carried = Some(frame);
                }
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
