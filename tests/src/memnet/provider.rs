//! A provider: Sphinx processing like a mix, plus its clients' mailboxes (the mix core's
//! in-memory backend behind the production `MailboxServer`), the SURB-ack released once a
//! fragment is stored, and the two services reading its own mailboxes (the rendezvous
//! desk and the replication keeper).

use super::provider_desk::MemDesk;
use super::provider_replica::MemReplica;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use wesh_mix::hop_rules::{HopAction, HopRules, RelayKind};
use wesh_mix::mailbox::{InMemoryBackend, MailboxBackend, MailboxServer};
use wesh_mix::{MixProcessor, NodeId, Topology, ack_after_store};
use x25519_dalek::StaticSecret;

/// Payloads a mailbox holds before the provider refuses more (0 = unbounded). The node's
/// store has byte and payload quotas; the harness keeps everything.
/// Counters of one provider.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderStats {
    pub processed: u64,
    pub dropped: u64,
    pub stored: u64,
    pub acks_released: u64,
    /// Drop cover (all-zero destination) that ended here.
    pub cover_discarded: u64,
    /// Packets addressed to this provider itself (it sends no loops: stray or forged).
    pub addressed_to_self: u64,
    pub undeliverable: u64,
    pub mailbox_exchanges: u64,
}

pub struct MemProvider {
    pub id: NodeId,
    processor: MixProcessor,
    rules: HopRules,
    pub(crate) mailboxes: InMemoryBackend,
    server: MailboxServer,
    /// Seeds the mailbox server's challenges and the desk's reply packets.
    pub(crate) rng: ChaCha20Rng,
    pub(crate) desk: MemDesk,
    pub(crate) replica: MemReplica,
    pub stats: ProviderStats,
}

impl std::fmt::Debug for MemProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemProvider")
            .field("id", &self.id)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl MemProvider {
    pub fn new(
        id: NodeId,
        secret: StaticSecret,
        seed: [u8; 32],
    ) -> Result<Self, super::MemNetError> {
        let mut mailboxes = InMemoryBackend::default();
        let desk = MemDesk::open(id, &mut mailboxes)?;
        Ok(MemProvider {
            id,
            processor: MixProcessor::new(0, secret),
            rules: HopRules::new(id, RelayKind::Provider, true),
            mailboxes,
            server: MailboxServer::new(id),
            rng: ChaCha20Rng::from_seed(seed),
            desk,
            replica: MemReplica::new(id),
            stats: ProviderStats::default(),
        })
    }

    /// One received packet: what the hop rules make of it (a [`HopAction::Store`] goes
    /// to [`Self::store`]).
    pub fn on_packet(&mut self, topology: &Topology, frame: &[u8]) -> HopAction {
        self.stats.processed += 1;
        let action = self
            .rules
            .decide(self.processor.process(frame), Some(topology));
        match &action {
            HopAction::Forward { .. } | HopAction::Store { .. } => {}
            HopAction::CoverDiscarded => self.stats.cover_discarded += 1,
            HopAction::LoopReturned | HopAction::OwnOther => self.stats.addressed_to_self += 1,
            HopAction::Undeliverable | HopAction::InternalRefused => self.stats.undeliverable += 1,
            HopAction::Dropped(_) | HopAction::UnknownNextHop => self.stats.dropped += 1,
        }
        action
    }

    /// Keeps a final-hop payload in its mailbox (the node's store writer), then releases
    /// the packet of its slot (an ack or cover; the provider cannot tell): (first hop,
    /// packet).
    pub fn store(
        &mut self,
        mailbox: [u8; 32],
        payload: Vec<u8>,
        unix_now: u64,
    ) -> Option<(NodeId, Vec<u8>)> {
        let ack = ack_after_store(&self.id, &mut self.rng, &payload);
        let mailbox = wesh_mix::MailboxId(mailbox);
        match self.mailboxes.store(&mailbox, &payload, unix_now) {
            Ok(_) => self.stats.stored += 1,
            Err(_) => {
                self.stats.undeliverable += 1;
                return None;
            }
        }
        match ack {
            Ok(a) => {
                self.stats.acks_released += 1;
                Some((a.first_hop, a.packet))
            }
            Err(_) => None,
        }
    }

    /// One `/wesh/mailbox/1` exchange: a request frame in, a response frame out (`now` in
    /// Unix seconds).
    pub fn mailbox_exchange(&mut self, request: &[u8], now: u64) -> Vec<u8> {
        self.stats.mailbox_exchanges += 1;
        self.server
            .handle(request, now, &mut self.rng, &mut self.mailboxes)
    }

    /// Payloads held for a mailbox (tests).
    pub fn stored(&self, mailbox: &[u8; 32]) -> usize {
        self.mailboxes.stored(&wesh_mix::MailboxId(*mailbox))
    }

    /// One round of the own-mailbox workers at `now_ms` (Unix ms): the desk's forwards
    /// and nothing else leave (first hop, packet).
    pub fn round(&mut self, now_ms: u64, mono: std::time::Duration) -> Vec<(NodeId, Vec<u8>)> {
        self.replica.work(&mut self.mailboxes, mono, now_ms / 1000);
        self.desk
            .work(&mut self.mailboxes, &mut self.rng, now_ms, mono)
    }

    pub fn desk_stats(&self) -> wesh_client::messenger::rendezvous_desk::DeskStats {
        self.desk.stats()
    }

    pub fn replica_stats(&self) -> wesh_client::messenger::replica::ReplicaStats {
        self.replica.stats()
    }
}
