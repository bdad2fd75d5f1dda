//! Route health end to end: a mix of a 2-wide layer drops everything, and the sender's
//! retransmissions learn to avoid it instead of crossing it with probability 1/2 per hop pass.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Loss, Sim, random_message};
use std::time::Duration;
use wesh_mix::params::{FRAGMENT_DATA_BYTES, SUSPECT_FOR};
use wesh_mix::*;

const DEAD: NodeId = NodeId([21; 32]);
const FRAGMENTS: usize = 300;

fn retransmit() -> RetransmitConfig {
    RetransmitConfig {
        margin: Duration::from_millis(500),
        max_retransmissions: 40,
    }
}

/// Starts a 300-fragment message over 3 × 2 mixes with `loss`.
fn start_300(loss: Loss, avoid: bool) -> (Sim, u64, Vec<u8>) {
    let mut sim = Sim::new(2, loss, retransmit());
    if !avoid {
        sim.sender.set_suspect_for(Duration::ZERO);
    }
    let msg = random_message(FRAGMENTS * FRAGMENT_DATA_BYTES, 11);
    let peer = sim.recipient.address();
    let id = sim.sender.send_message(peer, msg.clone()).unwrap();
    (sim, id, msg)
}

/// Runs until the message is delivered and reassembled (both checked).
fn finish(sim: &mut Sim, id: u64, msg: &[u8]) {
    let done = sim.run(Duration::from_secs(600), |s| {
        s.delivered(id) && !s.received().is_empty()
    });
    assert!(done, "not delivered by {:?}", sim.now);
    assert!(*sim.received()[0] == msg, "reassembled bytes differ");
}

fn send_300(loss: Loss, avoid: bool) -> Sim {
    let (mut sim, id, msg) = start_300(loss, avoid);
    finish(&mut sim, id, &msg);
    sim
}

/// Fragments that needed more than `n` attempts.
fn needing_more_than(sim: &Sim, n: u32) -> usize {
    sim.fragment_attempts.values().filter(|a| **a > n).count()
}

#[test]
fn retransmissions_avoid_a_dead_mix_after_the_first_timeouts() {
    let with = send_300(Loss::Node(DEAD), true);
    let without = send_300(Loss::Node(DEAD), false);
    assert_eq!(with.fragment_attempts.len(), FRAGMENTS);
    let slow_with = needing_more_than(&with, 2);
    let slow_without = needing_more_than(&without, 2);
    let r_with = with.sender.reliable_stats().retransmissions;
    let r_without = without.sender.reliable_stats().retransmissions;
    let most = |s: &Sim| s.fragment_attempts.values().max().copied().unwrap_or(0);
    eprintln!(
        "with route health: {r_with} retransmissions, {slow_with} fragments > 2 attempts \
         (at most {}), done at {:?}; uniform routes: {r_without}, {slow_without} (at most {}), \
         done at {:?}",
        most(&with),
        with.now,
        most(&without),
        without.now
    );
    // uniform routes: an attempt avoids the dead mix on both passes through layer 2 with
    // probability 1/4, so ~42 % of the fragments need more than 2 retransmissions
    assert!(slow_without > 60, "{slow_without}");
    // route health: once the first timeouts blame the dead mix, retransmissions avoid it
    assert!(slow_with <= 3, "{slow_with}");
    assert!(r_with * 3 < r_without, "{r_with} vs {r_without}");
    assert!(with.now < without.now);
    // the dead mix, and only it, is suspect
    let health = with.sender.route_health();
    assert!(health.is_suspect(&DEAD, with.now));
    assert_eq!(with.sender.route_health_suspects(with.now), 1);
    // the other mix of its layer carried every layer-2 packet after the first round
    let dead_share = with.arrivals[&DEAD] as f64
        / (with.arrivals[&DEAD] + with.arrivals[&NodeId([20; 32])]) as f64;
    assert!(dead_share < 0.15, "{dead_share}");
}

#[test]
fn a_mix_that_dies_mid_transfer_is_avoided_soon_after() {
    // the mix works for the first 2 s (it carries acks: evidence of success), then dies
    let die = Duration::from_secs(2);
    let loss = Loss::NodeDuring {
        node: DEAD,
        from: die,
        until: Duration::MAX,
    };
    let (mut sim, id, msg) = start_300(loss, true);
    let suspect = |s: &Sim| s.sender.route_health().is_suspect(&DEAD, s.now);
    assert!(sim.run(Duration::from_secs(60), suspect));
    let found = sim.now;
    finish(&mut sim, id, &msg);
    let slow = needing_more_than(&sim, 2);
    eprintln!(
        "died at {die:?}, suspect at {found:?}, delivered at {:?}; {slow} fragments > 2 \
         attempts",
        sim.now
    );
    // an ack round is ≈ 0.66 s here (8 × 20 ms drawn delays + 0.5 s margin); the attempts
    // that left before the mix's last ack do not blame it, so it takes a few rounds
    assert!(
        found > die && found < die + Duration::from_secs(4),
        "{found:?}"
    );
    // only attempts in flight around its death and right after crossed it more than once
    assert!(slow <= 10, "{slow}");
    assert!(suspect(&sim));
}

#[test]
fn a_mix_that_comes_back_is_used_again_after_the_window() {
    // dead for the first message only
    let revived = Duration::from_secs(30);
    let loss = Loss::NodeDuring {
        node: DEAD,
        from: Duration::ZERO,
        until: revived,
    };
    let mut sim = send_300(loss, true);
    assert!(sim.now < revived);
    assert!(sim.sender.route_health().is_suspect(&DEAD, sim.now));
    // past the window (the last blame came before `revived`), routes use it again
    let later = revived + SUSPECT_FOR;
    sim.run(later, |_| false);
    assert_eq!(sim.sender.route_health_suspects(later), 0);
    let before = sim.arrivals[&DEAD];
    let peer = sim.recipient.address();
    let id = sim
        .sender
        .send_message(peer, random_message(40 * FRAGMENT_DATA_BYTES, 12))
        .unwrap();
    assert!(sim.run(later + Duration::from_secs(60), |s| s.delivered(id)));
    assert!(
        sim.arrivals[&DEAD] > before + 10,
        "the revived mix is not used"
    );
    // it carried acks again: not suspect, and no longer held against it
    assert_eq!(sim.sender.route_health_suspects(sim.now), 0);
}
