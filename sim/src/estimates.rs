//! The adversary's estimates, kept apart from the packets' movements: the run sends what
//! happens to packets ([`Op`]s, in event order) and [`Estimates`] propagates the target
//! and sender vectors through the pools and adds up the meters.
//!
//! Why apart: the vectors are nearly half of a large run's work (a run without targets
//! takes 57 % of the time), and they depend on nothing but the order of the operations,
//! so a second thread ([`EstimatesThread`]) can do them while the first moves packets, on
//! the 2-core machine the 10⁶-client benchmark runs on. The order is the run's own, so the
//! result is the same as on one thread, bit for bit.
//!
//! Vectors live in a slab indexed by packet handle and are cleared, not freed, when a
//! packet ends: handles are reused, and so is their room (the allocator was a sixth of a
//! run's time when every packet grew and freed its own vector).

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use crate::meter::{EntropyMeter, LinkMeter};
use crate::pool_vector::{PoolVector, SenderPool, TargetVector};

/// Who a packet's sender is, to the sender–receiver estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SenderClass {
    A,
    B,
    Other,
}

impl SenderClass {
    fn vector(self) -> [f64; 3] {
        match self {
            SenderClass::A => [1.0, 0.0, 0.0],
            SenderClass::B => [0.0, 1.0, 0.0],
            SenderClass::Other => [0.0, 0.0, 1.0],
        }
    }
}

/// What a packet leaving a node means to the meters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leaving {
    /// Goes on within the mixnet.
    Onward,
    /// Leaves the last mix layer: its target estimate is counted (and spent).
    Exit,
    /// Leaves the last mix layer and is a real message really sent by A (`true`) or B.
    ExitLinked(bool),
}

/// One thing that happened to a packet, as the estimates need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Packet `packet` starts (its handle may have carried another one before), tagged as
    /// target `target` if any.
    New {
        packet: u32,
        sender: SenderClass,
        target: Option<u32>,
    },
    /// It enters the pool of relay `relay` (one whose pool the adversary cannot see into).
    Enter { relay: u16, packet: u32 },
    /// It leaves relay `relay`; `mixed` says whether it went through that relay's pool
    /// (false for a corrupt relay: the adversary keeps its estimate).
    Leave {
        relay: u16,
        packet: u32,
        mixed: bool,
        leaving: Leaving,
    },
}

/// The estimates of one run and its meters.
#[derive(Debug)]
pub struct Estimates {
    pools: Vec<(PoolVector, SenderPool)>,
    targets: Vec<TargetVector>,
    senders: Vec<[f64; 3]>,
    pub entropy: EntropyMeter,
    pub link: LinkMeter,
}

impl Estimates {
    pub fn new(relays: usize, targets: u32) -> Self {
        Estimates {
            pools: vec![(PoolVector::default(), SenderPool::default()); relays],
            targets: Vec::new(),
            senders: Vec::new(),
            entropy: EntropyMeter::new(targets),
            link: LinkMeter::default(),
        }
    }

    pub fn apply(&mut self, op: Op) {
        match op {
            Op::New {
                packet,
                sender,
                target,
            } => {
                let i = packet as usize;
                if i >= self.targets.len() {
                    self.targets.resize_with(i + 1, Vec::new);
                    self.senders.resize(i + 1, [0.0; 3]);
                }
                if let (Some(t), Some(s)) = (self.targets.get_mut(i), self.senders.get_mut(i)) {
                    t.clear();
                    if let Some(k) = target {
                        t.push((k, 1.0));
                        self.entropy.sent(k);
                    }
                    *s = sender.vector();
                }
            }
            Op::Enter { relay, packet } => {
                let i = packet as usize;
                if let (Some((pool, senders)), Some(t), Some(s)) = (
                    self.pools.get_mut(usize::from(relay)),
                    self.targets.get(i),
                    self.senders.get(i),
                ) {
                    pool.arrive(t);
                    senders.arrive(*s);
                }
            }
            Op::Leave {
                relay,
                packet,
                mixed,
                leaving,
            } => {
                let i = packet as usize;
                let (Some(t), Some(s)) = (self.targets.get_mut(i), self.senders.get_mut(i)) else {
                    return;
                };
                if mixed && let Some((pool, senders)) = self.pools.get_mut(usize::from(relay)) {
                    pool.depart_into(t);
                    *s = senders.depart();
                }
                match leaving {
                    Leaving::Onward => {}
                    Leaving::Exit => {
                        // counted once: a mix loop goes on through a provider
                        self.entropy.exit(t);
                        t.clear();
                    }
                    Leaving::ExitLinked(from_a) => {
                        self.entropy.exit(t);
                        t.clear();
                        self.link.exit(from_a, *s);
                    }
                }
            }
        }
    }
}

/// Operations handed over in batches of this many (a batch is 12 × this in bytes).
const BATCH: usize = 1 << 14;
/// Batches in flight between the threads: enough that neither waits on the other's
/// jitter, few enough to stay in cache.
const BATCHES_IN_FLIGHT: usize = 4;

/// [`Estimates`] on a thread of their own; the same result as applying the operations in
/// order on the caller's thread.
pub struct EstimatesThread {
    batch: Vec<Op>,
    to_worker: Option<SyncSender<Vec<Op>>>,
    spent: Receiver<Vec<Op>>,
    worker: Option<JoinHandle<Estimates>>,
}

/// The estimates' thread ended early (it panicked: a bug, reported, not hidden).
#[derive(Debug, thiserror::Error)]
#[error("the estimates' thread stopped before the run ended")]
pub struct EstimatesLost;

impl EstimatesThread {
    pub fn spawn(mut estimates: Estimates) -> Self {
        let (to_worker, from_run) = sync_channel::<Vec<Op>>(BATCHES_IN_FLIGHT);
        let (give_back, spent) = sync_channel::<Vec<Op>>(BATCHES_IN_FLIGHT + 2);
        let worker = std::thread::Builder::new()
            .name("sim-estimates".into())
            .spawn(move || {
                for mut batch in from_run {
                    for op in batch.drain(..) {
                        estimates.apply(op);
                    }
                    // a full return channel only means the run allocates a new batch
                    let _ = give_back.try_send(batch);
                }
                estimates
            })
            .ok();
        EstimatesThread {
            batch: Vec::with_capacity(BATCH),
            to_worker: Some(to_worker),
            spent,
            worker,
        }
    }

    pub fn push(&mut self, op: Op) {
        self.batch.push(op);
        if self.batch.len() >= BATCH {
            self.flush();
        }
    }

    fn flush(&mut self) {
        let next = self
            .spent
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(BATCH));
        let full = std::mem::replace(&mut self.batch, next);
        if let Some(tx) = &self.to_worker
            && tx.send(full).is_err()
        {
            // the worker is gone; `finish` says so
            self.to_worker = None;
        }
    }

    /// Every operation applied: the estimates.
    pub fn finish(mut self) -> Result<Estimates, EstimatesLost> {
        self.flush();
        self.to_worker = None; // ends the worker's loop
        self.worker
            .take()
            .ok_or(EstimatesLost)?
            .join()
            .map_err(|_| EstimatesLost)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A small stream: two targets through one pool, one exit each, handles reused.
    fn ops() -> Vec<Op> {
        let mut ops = Vec::new();
        for round in 0..3u32 {
            ops.push(Op::New {
                packet: 0,
                sender: SenderClass::A,
                target: Some(round % 2),
            });
            ops.push(Op::New {
                packet: 1,
                sender: SenderClass::Other,
                target: None,
            });
            for p in 0..2 {
                ops.push(Op::Enter {
                    relay: 0,
                    packet: p,
                });
            }
            for p in 0..2 {
                ops.push(Op::Leave {
                    relay: 0,
                    packet: p,
                    mixed: true,
                    leaving: if p == 0 {
                        Leaving::ExitLinked(true)
                    } else {
                        Leaving::Exit
                    },
                });
            }
        }
        ops
    }

    #[test]
    fn a_target_mixed_with_one_other_packet_has_one_bit() {
        let mut e = Estimates::new(1, 2);
        for op in ops() {
            e.apply(op);
        }
        let per_target = e.entropy.per_target();
        assert_eq!(per_target.len(), 2);
        // target 0 went through the pool twice, target 1 once: one bit each time
        assert!((per_target[0].0 - 2.0).abs() < 1e-12, "{per_target:?}");
        assert!((per_target[1].0 - 1.0).abs() < 1e-12, "{per_target:?}");
        // A's packets left with [1/2, 0, 1/2]: B never possible, so δ = 1
        assert_eq!(e.link.result(), (0.0, 1.0, 3));
    }

    #[test]
    fn the_thread_gives_what_applying_in_order_gives() {
        let mut here = Estimates::new(1, 2);
        let mut there = EstimatesThread::spawn(Estimates::new(1, 2));
        // more than a few batches
        for _ in 0..(3 * BATCH / ops().len() + 1) {
            for op in ops() {
                here.apply(op);
                there.push(op);
            }
        }
        let there = there.finish().unwrap();
        assert_eq!(here.entropy.per_target(), there.entropy.per_target());
        assert_eq!(here.link.result(), there.link.result());
    }
}
