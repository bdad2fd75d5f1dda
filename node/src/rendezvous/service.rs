//! The provider's rendezvous worker: reads the service mailbox, keeps drops durably in a
//! second, provider-private mailbox until the responder acks them, and sends the desk's
//! forwards on the responders' reply SURBs.
//!
//! Durability: a drop is stored in the held mailbox (synced) before its fragments leave
//! the service mailbox, so a crash re-reads one or the other; at start the held mailbox
//! is read back into the desk, with which secret each rendezvous mailbox is bound to (a
//! third mailbox), so a restart does not let someone else register it first. SURBs live
//! in memory: responders refresh them every few minutes.

use super::params::{
    EXPIRE_EVERY, SERVICE_QUOTA_BYTES, SERVICE_QUOTA_PAYLOADS, WORKER_BATCH, WORKER_EVERY,
};
use crate::clock::unix_now_ms as now_ms;
use crate::drivers::packet_path::PacketInjector;
use crate::mailboxes::own_reader::{OwnMailboxService, spawn_own_reader};
use crate::storage::{MailboxStore, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::watch;
use wesh_client::messenger::binding_record::{open_binding, seal_binding};
use wesh_client::messenger::params::{RDV_HELD_TOTAL, RDV_REGISTRATIONS_MAX};
use wesh_client::messenger::rendezvous_desk::{
    BindingChange, DeskOutcome, DeskStats, RendezvousDesk,
};
use wesh_client::messenger::rendezvous_wire::{
    RendezvousFrame, rendezvous_service_mailbox, rendezvous_service_seed,
};
use wesh_mix::mailbox::InternalMailbox;
use wesh_mix::provider_ack::AckPacket;
use wesh_mix::{NodeId, ReceiveKey, ReplySurb};

const EXPIRE_EVERY_MS: u64 = EXPIRE_EVERY.as_millis() as u64;

/// Where a provider keeps the drops its desk holds (provider-internal: the final hop and
/// the mailbox protocol refuse it, only the provider reads and writes it).
pub fn held_mailbox() -> [u8; 32] {
    InternalMailbox::RendezvousHeld.id()
}

/// Where a provider keeps which secret each rendezvous mailbox is bound to (records sealed
/// with [`seal_binding`]; provider-internal like [`held_mailbox`]).
pub fn bindings_mailbox() -> [u8; 32] {
    InternalMailbox::RendezvousBindings.id()
}

pub struct RendezvousService {
    desk: Mutex<RendezvousDesk>,
    /// rendezvous mailbox → seq of its binding in [`bindings_mailbox`]
    bound: Mutex<HashMap<[u8; 32], u64>>,
    mailboxes: Arc<MailboxStore>,
    inject: PacketInjector,
    /// Seals the binding records (the bindings mailbox's own secret, kept by the store).
    binding_key: zeroize::Zeroizing<[u8; 32]>,
    /// When the desk next drops expired registrations and drops (Unix ms).
    next_expiry: Mutex<u64>,
    rng: Mutex<rand_chacha::ChaCha20Rng>,
}

impl RendezvousService {
    fn desk(&self) -> std::sync::MutexGuard<'_, RendezvousDesk> {
        self.desk.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn stats(&self) -> DeskStats {
        self.desk().stats()
    }

    /// Keeps the desk's new bindings durably and forgets ended ones.
    fn keep_bindings(&self) {
        let changes = self.desk().take_binding_changes();
        if changes.is_empty() {
            return;
        }
        let mut bound = self.bound.lock().unwrap_or_else(PoisonError::into_inner);
        let mut ended = Vec::new();
        for change in changes {
            match change {
                BindingChange::Bound { mailbox, auth_hash } => {
                    let Some(record) = seal_binding(&self.binding_key, &mailbox, &auth_hash) else {
                        continue;
                    };
                    match self
                        .mailboxes
                        .store(&bindings_mailbox(), &record, now_ms() / 1000)
                    {
                        Ok(seq) => ended.extend(bound.insert(mailbox, seq)),
                        Err(e) => tracing::warn!(error = %e, "cannot keep a rendezvous binding"),
                    }
                }
                BindingChange::Unbound { mailbox } => ended.extend(bound.remove(&mailbox)),
            }
        }
        if !ended.is_empty()
            && let Err(e) = self.mailboxes.delete(&bindings_mailbox(), &ended)
        {
            tracing::warn!(error = %e, "cannot forget rendezvous bindings");
        }
    }

    /// Deletes held drops the desk let go of.
    fn forget(&self, gone: &[u64]) {
        if !gone.is_empty()
            && let Err(e) = self.mailboxes.delete(&held_mailbox(), gone)
        {
            tracing::warn!(error = %e, "cannot delete held rendezvous drops");
        }
    }

    /// Sends the forwards due on the responders' reply SURBs.
    fn send_forwards(&self, now: u64) {
        let forwards = self.desk().poll(now);
        // fields are only built when debug is on
        if !forwards.is_empty() {
            tracing::debug!(ids = ?forwards.iter().map(|f| f.id).collect::<Vec<_>>(), "rendezvous drops forwarded");
        }
        let mut rng = self.rng.lock().unwrap_or_else(PoisonError::into_inner);
        for f in forwards {
            let surb = match ReplySurb::from_bytes(&f.surb) {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!(error = %e, "unusable reply block");
                    continue;
                }
            };
            match wesh_mix::reply_packets(&mut *rng, &f.frame, &mut vec![surb]) {
                Ok(packets) => {
                    for (first_hop, packet) in packets {
                        (self.inject)(AckPacket { first_hop, packet });
                    }
                }
                Err(e) => tracing::debug!(error = %e, id = f.id, "cannot forward a drop"),
            }
        }
    }
}

impl OwnMailboxService for RendezvousService {
    type KeepError = StoreError;

    fn own_mailboxes(&self) -> Vec<[u8; 32]> {
        vec![rendezvous_service_mailbox()]
    }

    fn own_mailbox_key(&self, _mailbox: &[u8; 32]) -> ReceiveKey {
        ReceiveKey::from_ed25519_seed(&rendezvous_service_seed())
    }

    /// One message from the service mailbox: an update goes to the desk, a drop is kept
    /// durably in the held mailbox before the desk holds it.
    fn keep(&self, bytes: &[u8]) -> Result<(), StoreError> {
        let now = now_ms();
        let outcome = self.desk().on_message(now, bytes);
        match outcome {
            Ok(DeskOutcome::Updated { gone }) => {
                tracing::debug!(acked = ?gone, "rendezvous update applied");
                self.forget(&gone)
            }
            Ok(DeskOutcome::Hold { mailbox, envelope }) => {
                let frame = RendezvousFrame::Drop {
                    mailbox,
                    envelope: envelope.clone(),
                }
                .encode();
                let id = self.mailboxes.store(&held_mailbox(), &frame, now / 1000)?;
                self.desk().hold(id, mailbox, envelope, now);
                tracing::debug!(id, "rendezvous drop held");
            }
            Err(e) => tracing::debug!(error = %e, "rendezvous message refused"),
        }
        Ok(())
    }

    /// Keeps new bindings, sends the forwards due, and drops what expired.
    fn after_round(&self) {
        let now = now_ms();
        self.keep_bindings();
        self.send_forwards(now);
        let due = {
            let mut next = self
                .next_expiry
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let due = now >= *next;
            if due {
                *next = now.saturating_add(EXPIRE_EVERY_MS);
            }
            due
        };
        if due {
            let gone = self.desk().expire(now);
            self.forget(&gone);
            self.keep_bindings();
        }
    }
}

/// Opens a provider's rendezvous desk: its two mailboxes (keyed to the provider's own
/// identity, so nobody else can pull them) and the drops it held before a restart.
pub fn open_rendezvous(
    me: NodeId,
    mailboxes: Arc<MailboxStore>,
    inject: PacketInjector,
) -> Result<RendezvousService, StoreError> {
    let held = u32::try_from(RDV_HELD_TOTAL).unwrap_or(u32::MAX);
    let bindings = u32::try_from(RDV_REGISTRATIONS_MAX).unwrap_or(u32::MAX);
    // payloads are at most 2,031 bytes; a binding record is 96
    for (mailbox, payloads, bytes) in [
        (
            rendezvous_service_mailbox(),
            SERVICE_QUOTA_PAYLOADS,
            SERVICE_QUOTA_BYTES,
        ),
        (held_mailbox(), held, u64::from(held) * 2048),
        (bindings_mailbox(), bindings, u64::from(bindings) * 128),
    ] {
        mailboxes.register_with_quota(&mailbox, &me.0, payloads, bytes)?;
    }
    let binding_key = binding_key(&mailboxes, &me)?;
    let mut desk = RendezvousDesk::new();
    let now = now_ms();
    let mut bound = HashMap::new();
    let mut stale = Vec::new();
    let records = mailboxes.fetch(&bindings_mailbox(), RDV_REGISTRATIONS_MAX, now / 1000)?;
    for (seq, record) in records {
        // a record the desk did not seal (or an older unsealed one) binds nothing
        let Some((mailbox, auth_hash)) = open_binding(&binding_key, &record) else {
            stale.push(seq);
            continue;
        };
        desk.restore_binding(mailbox, auth_hash, now);
        // oldest first: a later binding of the same mailbox replaces an earlier one
        stale.extend(bound.insert(mailbox, seq));
    }
    if !stale.is_empty() {
        mailboxes.delete(&bindings_mailbox(), &stale)?;
    }
    let held = mailboxes.fetch(&held_mailbox(), RDV_HELD_TOTAL, now / 1000)?;
    let mut broken = Vec::new();
    for (id, frame) in held {
        match RendezvousFrame::decode(&frame) {
            Ok(RendezvousFrame::Drop { mailbox, envelope }) => {
                desk.restore_held(id, mailbox, envelope, now);
            }
            _ => broken.push(id),
        }
    }
    let service = RendezvousService {
        desk: Mutex::new(desk),
        bound: Mutex::new(bound),
        mailboxes,
        inject,
        binding_key,
        next_expiry: Mutex::new(now.saturating_add(EXPIRE_EVERY_MS)),
        rng: Mutex::new(<rand_chacha::ChaCha20Rng as rand::SeedableRng>::from_seed(
            wesh_mix::seed_from(&mut rand::rng()),
        )),
    };
    service.forget(&broken);
    Ok(service)
}

/// The key binding records are sealed with: the bindings mailbox's secret in the store,
/// made at the first start.
fn binding_key(
    mailboxes: &MailboxStore,
    me: &NodeId,
) -> Result<zeroize::Zeroizing<[u8; 32]>, StoreError> {
    if let Some(key) = mailboxes.pull_secret(&bindings_mailbox())? {
        return Ok(key);
    }
    let mut key = zeroize::Zeroizing::new([0u8; 32]);
    rand::Rng::fill_bytes(&mut rand::rng(), key.as_mut_slice());
    mailboxes.register_with_pull_secret(&bindings_mailbox(), &me.0, &key)?;
    Ok(key)
}

/// Opens the desk ([`open_rendezvous`]) and runs its worker until `shutdown`.
pub fn start_rendezvous(
    me: NodeId,
    mailboxes: Arc<MailboxStore>,
    inject: PacketInjector,
    shutdown: watch::Receiver<bool>,
) -> Result<Arc<RendezvousService>, StoreError> {
    let service = Arc::new(open_rendezvous(me, mailboxes.clone(), inject)?);
    spawn_own_reader(
        service.clone(),
        mailboxes,
        WORKER_EVERY,
        WORKER_BATCH,
        shutdown,
    );
    Ok(service)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::clock::CoreClock;
    use crate::mailboxes::own_reader::OwnReader;
    use crate::storage::MailboxLimits;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;
    use std::time::Duration;
    use wesh_client::messenger::rendezvous_wire::RendezvousUpdate;
    use wesh_mix::{MixPayload, RouteNode, seal_with_cover_over, split_message};
    use x25519_dalek::{PublicKey, StaticSecret};
    use zeroize::Zeroizing;

    fn route(rng: &mut ChaCha20Rng) -> Vec<RouteNode> {
        (0..5u8)
            .map(|i| RouteNode {
                id: NodeId([i + 1; 32]),
                sphinx_key: PublicKey::from(&StaticSecret::random_from_rng(&mut *rng)),
            })
            .collect()
    }

    /// What a client's reliable message to the service mailbox leaves there.
    fn post(store: &MailboxStore, rng: &mut ChaCha20Rng, message: &[u8]) {
        let (_, fragments) = split_message(rng, message).unwrap();
        for fragment in fragments {
            let r = route(rng);
            let key = ReceiveKey::from_ed25519_seed(&rendezvous_service_seed()).public();
            let fragment = MixPayload::Fragment { fragment };
            let payload = seal_with_cover_over(rng, &r, &key, &fragment).unwrap();
            store
                .store(&rendezvous_service_mailbox(), &payload, now_ms() / 1000)
                .unwrap();
        }
    }

    fn update(rng: &mut ChaCha20Rng, seq: u64, acks: Vec<u64>, surbs: usize) -> Vec<u8> {
        let topology = wesh_mix::Topology::new(
            vec![
                route(rng)[..1].to_vec(),
                route(rng)[..1].to_vec(),
                route(rng)[..1].to_vec(),
            ],
            route(rng)[..2].to_vec(),
        )
        .unwrap();
        let seed = [8; 32];
        let me = wesh_mix::ClientAddress {
            provider: topology.providers()[1].id,
            client: wesh_mix::ClientKeys::id_of_seed(&seed),
        };
        let mut core = wesh_mix::ClientTraffic::new(
            me,
            wesh_mix::ClientKeys::from_ed25519_seed(&seed),
            wesh_mix::ClientTrafficConfig::default(),
            Duration::ZERO,
            [4; 32],
        )
        .unwrap();
        let holder = topology.providers()[0].id;
        let surbs = core
            .reply_surbs(Duration::ZERO, &topology, holder, surbs)
            .unwrap()
            .iter()
            .map(ReplySurb::to_bytes)
            .collect();
        RendezvousFrame::Update(RendezvousUpdate {
            mailbox: [7; 32],
            auth: Zeroizing::new([3; 32]),
            seq,
            revoke: false,
            acks,
            surbs,
            surbs_expire_at: u64::MAX,
        })
        .encode()
    }

    #[test]
    fn an_injected_binding_record_binds_nothing_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(MailboxStore::open(dir.path(), MailboxLimits::default()).unwrap());
        let inject: PacketInjector = Arc::new(|_| {});
        let me = NodeId([1; 32]);
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let mut reader = OwnReader::new(CoreClock::start(), WORKER_BATCH);
        drop(open_rendezvous(me, store.clone(), inject.clone()).unwrap());
        // the attacker's records: mailbox [7; 32] bound to its own secret, unsealed and
        // with a made-up tag
        let attacker_hash = wesh_client::crypto::sha256(&[&[5u8; 32]]);
        let unsealed = [[7u8; 32], attacker_hash].concat();
        let forged = [[7u8; 32], attacker_hash, [0u8; 32]].concat();
        for r in [unsealed, forged] {
            store
                .store(&bindings_mailbox(), &r, now_ms() / 1000)
                .unwrap();
        }
        let desk = open_rendezvous(me, store.clone(), inject).unwrap();
        assert_eq!(desk.stats().registrations, 0, "nothing restored");
        assert_eq!(
            store.stats(&bindings_mailbox()).unwrap().unwrap().count,
            0,
            "and deleted"
        );
        // the responder registers its mailbox with its own secret: accepted
        let u = update(&mut rng, 1, vec![], 1);
        post(&store, &mut rng, &u);
        reader.round(&store, &desk);
        assert_eq!(desk.stats().refused, 0);
        assert_eq!(desk.stats().registrations, 1);
    }

    #[test]
    fn held_drops_survive_a_restart_and_leave_once_acked() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(MailboxStore::open(dir.path(), MailboxLimits::default()).unwrap());
        let sent: Arc<Mutex<Vec<AckPacket>>> = Arc::default();
        let s = sent.clone();
        let inject: PacketInjector = Arc::new(move |p| s.lock().unwrap().push(p));
        let me = NodeId([1; 32]);
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let mut reader = OwnReader::new(CoreClock::start(), WORKER_BATCH);

        let desk = open_rendezvous(me, store.clone(), inject.clone()).unwrap();
        let dropped = RendezvousFrame::Drop {
            mailbox: [7; 32],
            envelope: vec![0xab; 400],
        }
        .encode();
        post(&store, &mut rng, &dropped);
        post(&store, &mut rng, b"garbage");
        reader.round(&store, &desk);
        assert_eq!(desk.stats().held, 1, "kept before any registration");
        assert_eq!(desk.stats().refused, 1, "garbage counted, not kept");
        assert!(sent.lock().unwrap().is_empty());
        let held = store.stats(&held_mailbox()).unwrap().unwrap();
        assert_eq!(held.count, 1, "kept durably");
        let service = store.stats(&rendezvous_service_mailbox()).unwrap().unwrap();
        assert_eq!(service.count, 0, "the service mailbox is emptied");
        drop(desk);

        // the provider restarts: the drop comes back and leaves on the SURB registered then
        let inject_again = inject.clone();
        let desk = open_rendezvous(me, store.clone(), inject).unwrap();
        assert_eq!(desk.stats().held, 1);
        let u = update(&mut rng, 1, vec![], 2);
        post(&store, &mut rng, &u);
        reader.round(&store, &desk);
        let packets = std::mem::take(&mut *sent.lock().unwrap());
        assert_eq!(packets.len(), 1);
        assert_eq!(
            packets[0].first_hop,
            NodeId([1; 32]),
            "the SURB's first hop"
        );
        assert_eq!(packets[0].packet.len(), wesh_mix::params::PACKET_BYTES);
        // the mailbox stayed bound to its first secret across the restart
        let mut other = update(&mut rng, 3, vec![], 1);
        if let Ok(RendezvousFrame::Update(mut u)) = RendezvousFrame::decode(&other) {
            u.auth = Zeroizing::new([4; 32]);
            other = RendezvousFrame::Update(u).encode();
        }
        drop(desk);
        let desk = open_rendezvous(me, store.clone(), inject_again).unwrap();
        post(&store, &mut rng, &other);
        reader.round(&store, &desk);
        assert_eq!(
            desk.stats().refused,
            1,
            "another secret cannot take the mailbox"
        );
        // acked: the drop is gone from the desk and from disk
        let id = store.fetch(&held_mailbox(), 10, now_ms() / 1000).unwrap()[0].0;
        let u = update(&mut rng, 2, vec![id], 1);
        post(&store, &mut rng, &u);
        reader.round(&store, &desk);
        assert_eq!(desk.stats().held, 0);
        assert_eq!(desk.stats().acked, 1);
        assert_eq!(store.stats(&held_mailbox()).unwrap().unwrap().count, 0);
    }

    #[test]
    fn the_largest_forward_fits_one_reply_block() {
        let forward = RendezvousFrame::Forward {
            mailbox: [1; 32],
            id: u64::MAX,
            tag: [2; 32],
            envelope: vec![3; wesh_client::messenger::params::MAX_RDV_ENVELOPE],
        };
        let len = forward.encode().len();
        assert!(len <= wesh_mix::params::FRAGMENT_DATA_BYTES, "{len} bytes");
        assert_eq!(wesh_mix::surbs_needed(len), 1);
    }

    #[test]
    fn the_core_and_the_mix_agree_on_the_surb_size() {
        assert_eq!(
            wesh_client::messenger::params::RDV_SURB_BYTES,
            wesh_mix::params::REPLY_SURB_BYTES
        );
    }
}
