//! Outbound links: one long-lived `/wesh/sphinx/1` stream per next hop, fed by a bounded
//! queue. A slow or dead peer only fills its own queue; its frames are dropped and
//! counted, and no other link waits for it.

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
            let Some(frame) = rx.recv().await else {
                let _ = stream.close().await;
                return;
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
