//! A client: the production `ClientTraffic` core (Poisson streams, fragmentation,
//! SURB-acks, retransmission, route health) and `MailboxClient`, driven as
//! `node/src/drivers/client_traffic.rs` drives them: poll at the core's deadline, send what it
//! returns to the provider, pull the mailbox on a fixed schedule (again at once while
//! more waits), confirm only after the payloads were handled.

use super::MemNetError;
use super::device::MemDevice;
use std::time::Duration;
use wesh_mix::mailbox::MailboxClient;
use wesh_mix::params::PULL_SLOTS;
use wesh_mix::{ClientAddress, ClientEvent, ClientTraffic, NodeId, Topology, TrafficKind};

/// How often a client pulls its mailbox when the last pull emptied it (the node's
/// `DEFAULT_PULL_INTERVAL`).
pub const PULL_INTERVAL: Duration = Duration::from_millis(500);

/// Counters of one client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientStats {
    pub packets_sent: u64,
    pub fragments_sent: u64,
    pub loops_sent: u64,
    pub drops_sent: u64,
    pub build_errors: u64,
    pub payloads_pulled: u64,
    pub messages_received: u64,
    pub messages_delivered: u64,
    pub messages_failed: u64,
}

pub struct MemClient {
    pub index: usize,
    pub(crate) traffic: ClientTraffic,
    pub(crate) mailbox: MailboxClient,
    registered: bool,
    pub(crate) online: bool,
    /// The wake the queue holds for the traffic core: (generation, at).
    pub(crate) wake: Option<(u64, Duration)>,
    pub(crate) wake_generation: u64,
    /// Bumped when the client goes offline: pulls scheduled before are void.
    pub(crate) pull_generation: u64,
    /// The Wesh device this client carries, if any.
    pub(crate) device: Option<MemDevice>,
    /// Reliable messages received that no device took (the node's inbox).
    pub inbox: Vec<Vec<u8>>,
    /// Ids of our reliable messages every fragment of which was acked.
    pub delivered: Vec<u64>,
    pub failed: Vec<u64>,
    pub stats: ClientStats,
}

impl std::fmt::Debug for MemClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemClient")
            .field("index", &self.index)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl MemClient {
    pub fn new(index: usize, traffic: ClientTraffic, mailbox: MailboxClient) -> Self {
        MemClient {
            index,
            traffic,
            mailbox,
            registered: false,
            online: true,
            wake: None,
            wake_generation: 0,
            pull_generation: 0,
            device: None,
            inbox: Vec::new(),
            delivered: Vec::new(),
            failed: Vec::new(),
            stats: ClientStats::default(),
        }
    }

    pub fn address(&self) -> ClientAddress {
        self.traffic.address()
    }

    pub fn provider(&self) -> NodeId {
        *self.mailbox.provider()
    }

    pub fn is_online(&self) -> bool {
        self.online
    }

    pub fn device(&self) -> Option<&MemDevice> {
        self.device.as_ref()
    }

    pub fn reliable_stats(&self) -> wesh_mix::ReliableStats {
        self.traffic.reliable_stats()
    }

    /// Queues a message for reliable delivery (`ClientTraffic::send_message`).
    pub fn send_message(&mut self, to: ClientAddress, bytes: Vec<u8>) -> Result<u64, MemNetError> {
        Ok(self.traffic.send_message(to, bytes)?)
    }

    /// The traffic core's poll at `now`: packets for the provider.
    pub(crate) fn poll(&mut self, now: Duration, topology: &Topology) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for o in self.traffic.poll(now, topology) {
            match o {
                Ok(o) => {
                    self.stats.packets_sent += 1;
                    match o.kind {
                        TrafficKind::Fragment { .. } => self.stats.fragments_sent += 1,
                        TrafficKind::Loop { .. } => self.stats.loops_sent += 1,
                        TrafficKind::Drop => self.stats.drops_sent += 1,
                        TrafficKind::Real { .. } => {}
                    }
                    out.push(o.packet);
                }
                Err(_) => self.stats.build_errors += 1,
            }
        }
        let events = self.traffic.take_events();
        self.on_events(events);
        out
    }

    /// One pull at its provider, through `exchange` (a request frame in, a response frame
    /// out): registers first if needed, pulls while more waits, hands the payloads to the
    /// core, confirms them. Returns the reliable messages the core reassembled.
    pub(crate) fn pull(
        &mut self,
        now: Duration,
        mut exchange: impl FnMut(&[u8]) -> Vec<u8>,
    ) -> Vec<Vec<u8>> {
        if !self.registered {
            let response = exchange(&self.mailbox.register_request());
            if self.mailbox.on_register_response(&response).is_err() {
                return Vec::new();
            }
            self.registered = true;
        }
        let mut received = Vec::new();
        loop {
            let challenge = exchange(&self.mailbox.challenge_request());
            let max = u16::try_from(PULL_SLOTS).unwrap_or(u16::MAX);
            let Ok((pull, pending)) = self.mailbox.pull_request(&challenge, max) else {
                return received;
            };
            let response = exchange(&pull);
            let Ok(pulled) = self.mailbox.open_pull_response(&pending, &response) else {
                return received;
            };
            if pulled.payloads.is_empty() {
                return received;
            }
            let mut seqs = Vec::with_capacity(pulled.payloads.len());
            for (seq, payload) in pulled.payloads {
                seqs.push(seq);
                self.stats.payloads_pulled += 1;
                let events = self.traffic.on_received(&payload, now);
                received.extend(self.on_events(events));
            }
            // handled (kept in memory): the provider may delete them
            if let Ok(confirm) = self.mailbox.confirm_request(&seqs) {
                let _ = self.mailbox.on_confirm_response(&exchange(&confirm));
            }
            if pulled.remaining == 0 {
                return received;
            }
        }
    }

    /// Books the core's events; returns the reassembled messages.
    fn on_events(&mut self, events: Vec<ClientEvent>) -> Vec<Vec<u8>> {
        let mut received = Vec::new();
        for e in events {
            match e {
                ClientEvent::MessageReceived { bytes, .. } => {
                    self.stats.messages_received += 1;
                    received.push(bytes);
                }
                ClientEvent::MessageDelivered { id } => {
                    self.stats.messages_delivered += 1;
                    self.delivered.push(id);
                }
                ClientEvent::MessageFailed { id, .. } => {
                    self.stats.messages_failed += 1;
                    self.failed.push(id);
                }
                ClientEvent::IncomingAbandoned(_)
                | ClientEvent::Rejected(_)
                | ClientEvent::Other(_) => {}
            }
        }
        received
    }
}
