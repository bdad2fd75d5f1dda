//! An in-memory mixnet on a virtual clock for the reliable-delivery tests: every node is a
//! `MixProcessor`, packets wait in an event queue for the delays their headers ask for, the
//! recipient's provider stores fragments and releases their SURB-acks, and both clients are
//! real `ClientTraffic` cores.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha20Rng;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::Duration;
use wesh_mix::*;
use x25519_dalek::{PublicKey, StaticSecret};

pub struct Net {
    pub topology: Topology,
    pub processors: HashMap<NodeId, MixProcessor>,
}

/// Providers 1 and 2, `width` mixes per layer (tags 10.., 20.., 30..).
pub fn net(width: u8) -> Net {
    let mut processors = HashMap::new();
    let mut mk = |tag: u8| {
        let secret = StaticSecret::from([tag; 32]);
        let node = RouteNode {
            id: NodeId([tag; 32]),
            sphinx_key: PublicKey::from(&secret),
        };
        processors.insert(node.id, MixProcessor::new(0, secret));
        node
    };
    let providers = vec![mk(1), mk(2)];
    let layers = (0..3u8)
        .map(|l| (0..width).map(|i| mk(10 * (l + 1) + i)).collect())
        .collect();
    Net {
        topology: Topology::new(layers, providers).unwrap(),
        processors,
    }
}

/// The client `tag` of `provider`: its id is the Ed25519 key of seed `[tag; 32]`.
pub fn client(provider: u8, tag: u8) -> ClientAddress {
    ClientAddress {
        provider: NodeId([provider; 32]),
        client: ClientKeys::id_of_seed(&[tag; 32]),
    }
}

/// The receive keys of [`client`]`(_, tag)`.
pub fn keys(tag: u8) -> ClientKeys {
    ClientKeys::from_ed25519_seed(&[tag; 32])
}

/// A client core for [`client`]`(provider, tag)`.
pub fn traffic(
    provider: u8,
    tag: u8,
    config: ClientTrafficConfig,
    seed: [u8; 32],
) -> ClientTraffic {
    ClientTraffic::new(
        client(provider, tag),
        keys(tag),
        config,
        Duration::ZERO,
        seed,
    )
    .unwrap()
}

/// Which packets the network loses.
pub enum Loss {
    None,
    /// Every packet arriving at this node.
    Node(NodeId),
    /// Every packet arriving at `node` from `from` (virtual time) until before `until`.
    NodeDuring {
        node: NodeId,
        from: Duration,
        until: Duration,
    },
    /// Each arrival at any node with probability `p` (seeded).
    Random {
        p: f64,
        rng: Box<ChaCha20Rng>,
    },
}

pub struct Sim {
    pub net: Net,
    pub sender: ClientTraffic,
    pub recipient: ClientTraffic,
    pub loss: Loss,
    queue: BinaryHeap<Reverse<(Duration, u64)>>,
    in_transit: HashMap<u64, (NodeId, Vec<u8>)>,
    seq: u64,
    pub now: Duration,
    pub sender_events: Vec<ClientEvent>,
    pub recipient_events: Vec<ClientEvent>,
    /// Plaintexts the recipient's provider stored (its mailbox).
    pub stored: usize,
    pub acks_sent: usize,
    /// Cover that ended as a drop (the slots of acks).
    pub cover_dropped: usize,
    provider_rng: ChaCha20Rng,
    pub lost: usize,
    /// Packets that reached each node (lost ones included).
    pub arrivals: HashMap<NodeId, usize>,
    /// Attempts the sender made per (message, fragment index).
    pub fragment_attempts: HashMap<(u64, u32), u32>,
}

impl Sim {
    /// Sender on provider 1 with a fast real stream (no loop/drop cover: it costs time and
    /// proves nothing here), recipient on provider 2 with silent streams.
    pub fn new(width: u8, loss: Loss, retransmit: RetransmitConfig) -> Sim {
        let config = ClientTrafficConfig {
            real_rate: 50.0,
            loop_rate: 0.0,
            drop_rate: 0.0,
            mean_hop_delay: Duration::from_millis(20),
            real_timing: Default::default(),
        };
        let mut sender = traffic(1, 100, config, [7; 32]);
        sender.set_retransmit_config(retransmit);
        let silent = ClientTrafficConfig {
            real_rate: 0.0,
            loop_rate: 0.0,
            drop_rate: 0.0,
            mean_hop_delay: Duration::from_millis(20),
            real_timing: Default::default(),
        };
        let recipient = traffic(2, 101, silent, [8; 32]);
        Sim {
            net: net(width),
            sender,
            recipient,
            loss,
            queue: BinaryHeap::new(),
            in_transit: HashMap::new(),
            seq: 0,
            now: Duration::ZERO,
            sender_events: Vec::new(),
            recipient_events: Vec::new(),
            stored: 0,
            acks_sent: 0,
            cover_dropped: 0,
            provider_rng: ChaCha20Rng::seed_from_u64(11),
            lost: 0,
            arrivals: HashMap::new(),
            fragment_attempts: HashMap::new(),
        }
    }

    fn schedule(&mut self, at: Duration, node: NodeId, packet: Vec<u8>) {
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq)));
        self.in_transit.insert(self.seq, (node, packet));
    }

    fn is_lost(&mut self, node: NodeId) -> bool {
        match &mut self.loss {
            Loss::None => false,
            Loss::Node(bad) => *bad == node,
            Loss::NodeDuring {
                node: bad,
                from,
                until,
            } => *bad == node && (*from..*until).contains(&self.now),
            Loss::Random { p, rng } => rng.random::<f64>() < *p,
        }
    }

    /// Runs until `done` holds or virtual time passes `end`; returns whether `done` held.
    pub fn run(&mut self, end: Duration, done: impl Fn(&Sim) -> bool) -> bool {
        loop {
            if done(self) {
                return true;
            }
            let net_at = self.queue.peek().map(|Reverse((t, _))| *t);
            // a deadline the core held (a mailbox backlog) may be past: due now
            let sender_at = self.sender.next_deadline().map(|d| d.max(self.now));
            let candidates = [net_at, sender_at, self.recipient.next_deadline()];
            let Some(t) = candidates.into_iter().flatten().min() else {
                return false;
            };
            if t > end {
                return false;
            }
            assert!(t >= self.now, "time went backwards");
            self.now = t;
            if net_at == Some(t) {
                let Reverse((_, seq)) = self.queue.pop().unwrap();
                let (node, packet) = self.in_transit.remove(&seq).unwrap();
                self.arrive(node, packet);
            } else if sender_at == Some(t) {
                let outs = self.sender.poll(t, &self.net.topology);
                for out in outs {
                    let out = out.unwrap();
                    if let TrafficKind::Fragment { message, index, .. } = out.kind {
                        *self.fragment_attempts.entry((message, index)).or_default() += 1;
                    }
                    if out.kind != TrafficKind::Drop {
                        self.schedule(t, out.first_hop, out.packet);
                    }
                }
                let ev = self.sender.take_events();
                self.sender_events.extend(ev);
            } else {
                let outs = self.recipient.poll(t, &self.net.topology);
                assert!(outs.is_empty());
                let ev = self.recipient.take_events();
                self.recipient_events.extend(ev);
            }
        }
    }

    fn arrive(&mut self, node: NodeId, packet: Vec<u8>) {
        *self.arrivals.entry(node).or_default() += 1;
        if self.is_lost(node) {
            self.lost += 1;
            return;
        }
        let processed = self
            .net
            .processors
            .get_mut(&node)
            .unwrap()
            .process(&packet)
            .unwrap();
        match processed {
            Processed::Forward {
                next_hop,
                packet,
                delay,
                ..
            } => {
                let at = self.now + delay;
                self.schedule(at, next_hop, packet);
            }
            Processed::Final {
                destination,
                plaintext,
            } => {
                let now = self.now;
                if destination == self.recipient.address().client {
                    assert_eq!(node, self.recipient.address().provider);
                    // provider: store durably, then release the slot's packet (the ack)
                    let ack = ack_after_store(&node, &mut self.provider_rng, &plaintext).unwrap();
                    self.stored += 1;
                    let ev = self.recipient.on_received(&plaintext, now);
                    self.recipient_events.extend(ev);
                    self.acks_sent += 1;
                    self.schedule(now, ack.first_hop, ack.packet);
                } else if destination == self.sender.address().client {
                    assert_eq!(node, self.sender.address().provider);
                    // the ack's own slot is cover: fired, it ends as a drop
                    let cover = ack_after_store(&node, &mut self.provider_rng, &plaintext).unwrap();
                    self.schedule(now, cover.first_hop, cover.packet);
                    let ev = self.sender.on_received(&plaintext, now);
                    self.sender_events.extend(ev);
                } else if destination == hop_rules::COVER_DESTINATION {
                    self.cover_dropped += 1;
                } else {
                    panic!("packet for unknown client {destination:?}");
                }
            }
        }
    }

    pub fn delivered(&self, id: u64) -> bool {
        self.sender_events
            .contains(&ClientEvent::MessageDelivered { id })
    }

    pub fn received(&self) -> Vec<&Vec<u8>> {
        self.recipient_events
            .iter()
            .filter_map(|e| match e {
                ClientEvent::MessageReceived { bytes, .. } => Some(bytes),
                _ => None,
            })
            .collect()
    }
}

pub fn random_message(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    (0..len).map(|_| rng.random()).collect()
}

/// Follows `packet` from `at` hop by hop (ignoring delays) until a final hop or a drop:
/// the node it ended at, and the destination and plaintext, or why it was dropped.
pub fn walk(
    n: &mut Net,
    mut at: NodeId,
    mut packet: Vec<u8>,
) -> (NodeId, Result<(NodeId, Vec<u8>), DropReason>) {
    loop {
        match n.processors.get_mut(&at).unwrap().process(&packet) {
            Ok(Processed::Forward {
                next_hop,
                packet: next,
                ..
            }) => {
                at = next_hop;
                packet = next;
            }
            Ok(Processed::Final {
                destination,
                plaintext,
            }) => return (at, Ok((destination, plaintext))),
            Err(e) => return (at, Err(e)),
        }
    }
}
