//! Which pulled fragments a client keeps: exactly those its reassembly holds. A fragment
//! the reassembly refused (malformed, at odds with its message, beyond the per-message
//! budget), a late copy of a message already delivered, and the fragments of a message
//! evicted or timed out never stay in `pulled`, so nothing is kept forever or fed back
//! into reassembly at every start.

use super::{CF_PULLED, ClientStore, ClientStoreError};
use rocksdb::{IteratorMode, WriteBatch};
use std::time::Duration;
use wesh_mix::params::MESSAGE_ID_BYTES;
use wesh_mix::{ClientEvent, ClientTraffic, MessageId};

impl ClientStore {
    /// Hands pulled payloads to the traffic core at `now`, then keeps (one synced write) the
    /// fragments the core holds afterwards. Returns the core's events, to be reported (which
    /// applies their store effects: delivery, forgetting abandoned messages) after this, and
    /// whether the keep succeeded: if not, nothing may be confirmed to the provider, and the
    /// next pull brings the payloads again (the core finds them held and they are kept then).
    pub fn receive_pulled(
        &self,
        core: &mut ClientTraffic,
        payloads: &[Vec<u8>],
        now: Duration,
    ) -> (Vec<ClientEvent>, Result<(), ClientStoreError>) {
        let mut events = Vec::new();
        for payload in payloads {
            events.extend(core.on_received(payload, now));
        }
        let held: Vec<(MessageId, u32, &[u8])> = core
            .kept_fragments(payloads)
            .into_iter()
            .filter(|(id, index, _)| core.holds_fragment(id, *index))
            .collect();
        (events, self.keep_pulled(&held))
    }

    /// At start: rebuilds reassembly from the kept fragments at `now`, then deletes every
    /// kept fragment the core does not hold (refused, already delivered, or left by an
    /// older version that kept whatever it pulled). Returns the core's events to report.
    pub fn restore_pulled(
        &self,
        core: &mut ClientTraffic,
        now: Duration,
    ) -> Result<Vec<ClientEvent>, ClientStoreError> {
        let cf = self.cf(CF_PULLED)?;
        let mut events = Vec::new();
        let mut keys = Vec::new();
        for item in self.db.iterator_cf(cf, IteratorMode::Start) {
            let (k, v) = item?;
            events.extend(core.on_received(&v, now));
            keys.push(k);
        }
        let mut batch = WriteBatch::default();
        for k in keys {
            let held = match parse_pulled_key(&k) {
                Some((id, index)) => core.holds_fragment(&id, index),
                None => false,
            };
            if !held {
                batch.delete_cf(cf, &k);
            }
        }
        if !batch.is_empty() {
            self.db.write_opt(batch, &self.synced)?;
        }
        Ok(events)
    }
}

/// `message id (16) ‖ fragment index (u32 BE)`, or `None` for a damaged key.
fn parse_pulled_key(key: &[u8]) -> Option<(MessageId, u32)> {
    let id: [u8; MESSAGE_ID_BYTES] = key.get(..MESSAGE_ID_BYTES)?.try_into().ok()?;
    let index: [u8; 4] = key.get(MESSAGE_ID_BYTES..)?.try_into().ok()?;
    Some((MessageId(id), u32::from_be_bytes(index)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;
    use wesh_mix::fragment::fragment_count;
    use wesh_mix::params::{FRAGMENT_DATA_BYTES, MAX_MESSAGE_BYTES, REASSEMBLY_IDLE_TIMEOUT};
    use wesh_mix::{
        ClientAddress, ClientKeys, ClientTrafficConfig, Fragment, MixPayload, NodeId, RouteNode,
        seal_with_cover_over, split_message, store_effect,
    };

    const T0: Duration = Duration::from_secs(1);

    fn core() -> ClientTraffic {
        let me = ClientAddress {
            provider: NodeId([1; 32]),
            client: ClientKeys::id_of_seed(&[2; 32]),
        };
        let keys = ClientKeys::from_ed25519_seed(&[2; 32]);
        ClientTraffic::new(
            me,
            keys,
            ClientTrafficConfig::default(),
            Duration::ZERO,
            [1; 32],
        )
        .unwrap()
    }

    fn payload(rng: &mut ChaCha20Rng, fragment: Fragment) -> Vec<u8> {
        let nodes: Vec<RouteNode> = (0..5u8)
            .map(|t| RouteNode {
                id: NodeId([t + 1; 32]),
                sphinx_key: x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(
                    [t + 1; 32],
                )),
            })
            .collect();
        let key = ClientKeys::from_ed25519_seed(&[2; 32]).identity.public();
        seal_with_cover_over(rng, &nodes, &key, &MixPayload::Fragment { fragment }).unwrap()
    }

    /// What the driver does with a pulled batch: receive, then report (store effects).
    fn pull(store: &ClientStore, core: &mut ClientTraffic, payloads: &[Vec<u8>], now: Duration) {
        let (events, kept) = store.receive_pulled(core, payloads, now);
        kept.unwrap();
        apply(store, &events);
    }

    fn apply(store: &ClientStore, events: &[ClientEvent]) {
        for ev in events {
            match store_effect(ev) {
                Some(wesh_mix::StoreEffect::Deliver { id, bytes }) => {
                    store.deliver(id, bytes, 0).unwrap();
                }
                Some(wesh_mix::StoreEffect::ForgetPulled(id)) => store.forget_pulled(id).unwrap(),
                _ => {}
            }
        }
    }

    #[test]
    fn refused_and_late_fragments_do_not_stay_in_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = ClientStore::open(dir.path()).unwrap();
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let mut c = core();
        let (_, frags) = split_message(&mut rng, &vec![5; 3 * FRAGMENT_DATA_BYTES]).unwrap();
        // an honest message in progress stays
        pull(&store, &mut c, &[payload(&mut rng, frags[0].clone())], T0);
        assert_eq!(store.pulled().unwrap().len(), 1);
        // a fragment at odds with it (same id, another length) is refused and not kept
        let mut odd = frags[1].clone();
        odd.total_len += 1;
        odd.count = fragment_count(odd.total_len as usize) as u32;
        odd.data = vec![0; FRAGMENT_DATA_BYTES];
        pull(&store, &mut c, &[payload(&mut rng, odd)], T0);
        assert_eq!(store.pulled().unwrap().len(), 1, "refused: not kept");
        // the message completes; a late retransmission of it is not kept either
        let rest: Vec<Vec<u8>> = frags[1..]
            .iter()
            .map(|f| payload(&mut rng, f.clone()))
            .collect();
        pull(&store, &mut c, &rest, T0);
        assert_eq!(store.inbox(0).unwrap().len(), 1);
        pull(&store, &mut c, &[payload(&mut rng, frags[2].clone())], T0);
        assert!(store.pulled().unwrap().is_empty(), "late copy: not kept");
    }

    #[test]
    fn expired_partials_leave_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = ClientStore::open(dir.path()).unwrap();
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let mut c = core();
        let claim = Fragment {
            message: MessageId::random(&mut rng),
            total_len: MAX_MESSAGE_BYTES as u32,
            index: 0,
            count: fragment_count(MAX_MESSAGE_BYTES) as u32,
            data: vec![0xAA; FRAGMENT_DATA_BYTES],
        };
        pull(&store, &mut c, &[payload(&mut rng, claim)], T0);
        assert_eq!(store.pulled().unwrap().len(), 1);
        let topology_free_expiry = T0 + REASSEMBLY_IDLE_TIMEOUT;
        let abandoned: Vec<ClientEvent> = c
            .expire_incoming(topology_free_expiry)
            .into_iter()
            .map(ClientEvent::IncomingAbandoned)
            .collect();
        assert_eq!(abandoned.len(), 1);
        apply(&store, &abandoned);
        assert!(store.pulled().unwrap().is_empty());
    }

    #[test]
    fn a_restart_drops_kept_fragments_reassembly_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let (_, frags) = split_message(&mut rng, &vec![6; 2 * FRAGMENT_DATA_BYTES]).unwrap();
        let honest = payload(&mut rng, frags[0].clone());
        let mut odd = frags[1].clone();
        odd.total_len += 1;
        odd.count = fragment_count(odd.total_len as usize) as u32;
        odd.data = vec![0; FRAGMENT_DATA_BYTES];
        let odd_payload = payload(&mut rng, odd);
        {
            // what an older version kept: everything that decoded as a fragment
            let store = ClientStore::open(dir.path()).unwrap();
            store
                .keep_pulled(&[
                    (frags[0].message, 0, honest.as_slice()),
                    (frags[0].message, 7, odd_payload.as_slice()),
                ])
                .unwrap();
        }
        let store = ClientStore::open(dir.path()).unwrap();
        let mut c = core();
        let events = store.restore_pulled(&mut c, T0).unwrap();
        apply(&store, &events);
        let left = store.pulled().unwrap();
        assert!(
            left == vec![honest],
            "only the held fragment stays: {} left",
            left.len()
        );
        assert!(c.holds_fragment(&frags[0].message, 0));
    }
}
