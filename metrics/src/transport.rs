//! Bytes on a process's real connections (after Noise and Yamux framing: what the TCP
//! sockets carry), counted by the shell's transport and exposed as
//! `wesh_transport_bytes_total{direction}`.

use crate::exposition::{MetricSource, Sample};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[derive(Debug, Default)]
pub struct TransportBytes {
    pub sent: AtomicU64,
    pub received: AtomicU64,
}

/// The series name (a counter: `_total` is added on the wire).
pub const TRANSPORT_BYTES: &str = "wesh_transport_bytes";

impl TransportBytes {
    pub fn add_sent(&self, n: usize) {
        self.sent.fetch_add(n as u64, Relaxed);
    }

    pub fn add_received(&self, n: usize) {
        self.received.fetch_add(n as u64, Relaxed);
    }
}

impl MetricSource for TransportBytes {
    fn collect(&self, out: &mut Vec<Sample>) {
        let help = "Bytes on this process's TCP connections (Noise and Yamux included).";
        out.push(
            Sample::counter(TRANSPORT_BYTES, help, self.sent.load(Relaxed))
                .label("direction", "sent"),
        );
        out.push(
            Sample::counter(TRANSPORT_BYTES, help, self.received.load(Relaxed))
                .label("direction", "received"),
        );
    }
}
