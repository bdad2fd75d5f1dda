//! Clients connected to a provider, each with the `/wesh/deliver/1` stream it opened.

use crate::net::frames::{DELIVER_FRAME_BYTES, encode_delivery};
use futures::AsyncWriteExt;
use std::collections::HashMap;
use std::sync::RwLock;
use tokio::sync::mpsc;
use wesh_mix::NodeId;

/// Deliveries queued per client before new ones are refused.
const CLIENT_QUEUE_FRAMES: usize = 1024;

#[derive(Debug, PartialEq, Eq)]
pub enum DeliverOutcome {
    Delivered,
    NotConnected,
    Overflow,
}

#[derive(Default)]
pub struct ClientRegistry {
    clients: RwLock<HashMap<NodeId, mpsc::Sender<Vec<u8>>>>,
}

impl ClientRegistry {
    /// Attaches a client's delivery stream (replacing an older one) and writes to it until
    /// the stream breaks.
    pub fn attach(self: &std::sync::Arc<Self>, client: NodeId, mut stream: libp2p::Stream) {
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(CLIENT_QUEUE_FRAMES);
        if let Ok(mut map) = self.clients.write() {
            map.insert(client, tx.clone());
        }
        let registry = self.clone();
        tokio::spawn(async move {
            while let Some(frame) = rx.recv().await {
                debug_assert_eq!(frame.len(), DELIVER_FRAME_BYTES);
                let ok = stream.write_all(&frame).await.is_ok()
                    && (!rx.is_empty() || stream.flush().await.is_ok());
                if !ok {
                    tracing::debug!(%client, "client delivery stream broke");
                    break;
                }
            }
            if let Ok(mut map) = registry.clients.write()
                && map.get(&client).is_some_and(|s| s.same_channel(&tx))
            {
                map.remove(&client);
            }
        });
    }

    pub fn deliver(&self, client: &NodeId, plaintext: &[u8]) -> DeliverOutcome {
        let Some(frame) = encode_delivery(plaintext) else {
            return DeliverOutcome::Overflow;
        };
        let sender = match self.clients.read() {
            Ok(map) => map.get(client).cloned(),
            Err(_) => None,
        };
        match sender {
            None => DeliverOutcome::NotConnected,
            Some(s) => match s.try_send(frame) {
                Ok(()) => DeliverOutcome::Delivered,
                Err(mpsc::error::TrySendError::Full(_)) => DeliverOutcome::Overflow,
                Err(mpsc::error::TrySendError::Closed(_)) => DeliverOutcome::NotConnected,
            },
        }
    }

    pub fn connected(&self) -> usize {
        self.clients.read().map(|m| m.len()).unwrap_or(0)
    }
}
