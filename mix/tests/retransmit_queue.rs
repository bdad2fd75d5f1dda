//! The sender's retransmission bookkeeping on its own, on a virtual clock.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use std::time::Duration;
use wesh_mix::params::FRAGMENT_DATA_BYTES;
use wesh_mix::*;

fn to() -> ClientAddress {
    ClientAddress {
        provider: NodeId([2; 32]),
        client: NodeId([3; 32]),
    }
}

fn queue(fragments: usize, max_retransmissions: u32) -> RetransmitQueue {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let (_, frags) = split_message(&mut rng, &vec![1; fragments * FRAGMENT_DATA_BYTES]).unwrap();
    let mut q = RetransmitQueue::new(RetransmitConfig {
        margin: Duration::from_secs(1),
        max_retransmissions,
    });
    q.add_message(9, to(), frags, SendClass::Interactive);
    q
}

const S: fn(u64) -> Duration = Duration::from_secs;

#[test]
fn acks_complete_the_message_and_duplicates_are_harmless() {
    let mut q = queue(3, 2);
    for ack in 0..3u64 {
        let p = q.pop_next().unwrap();
        assert_eq!(p.fragment.index as u64, ack);
        assert!(!p.retransmission);
        q.sent(&p, 100 + ack, S(10), AttemptRoute::default());
    }
    assert!(q.pop_next().is_none());
    assert_eq!(q.next_deadline(), Some(S(10)));
    assert_eq!(q.ack(100).event, None);
    assert_eq!(q.ack(100).event, None, "duplicate ack");
    assert_eq!(q.ack(555).event, None, "unknown ack");
    assert_eq!(q.ack(101).event, None);
    assert_eq!(q.pending_fragments(), 1);
    assert_eq!(
        q.ack(102).event,
        Some(RetransmitEvent::Delivered { message: 9 })
    );
    assert_eq!(q.ack(102).event, None, "ack after delivery");
    assert_eq!((q.messages(), q.pending_fragments()), (0, 0));
    assert_eq!(q.next_deadline(), None);
    assert!(q.expire(S(100)).events.is_empty());
}

#[test]
fn timeouts_retransmit_first_and_late_acks_of_old_attempts_count() {
    let mut q = queue(2, 3);
    let p0 = q.pop_next().unwrap();
    q.sent(&p0, 1, S(5), AttemptRoute::default());
    assert!(q.expire(S(4)).events.is_empty());
    assert!(
        q.expire(S(5)).events.is_empty(),
        "first timeout only requeues"
    );
    // the timed-out fragment 0 goes before the never-sent fragment 1
    let again = q.pop_next().unwrap();
    assert_eq!((again.fragment.index, again.retransmission), (0, true));
    q.sent(&again, 2, S(20), AttemptRoute::default());
    let p1 = q.pop_next().unwrap();
    assert_eq!((p1.fragment.index, p1.retransmission), (1, false));
    q.sent(&p1, 3, S(20), AttemptRoute::default());
    // the first attempt's ack arrives late: fragment 0 is done, its new deadline is void
    assert_eq!(q.ack(1).event, None);
    assert_eq!(
        q.ack(2).event,
        None,
        "the second attempt's ack is a duplicate now"
    );
    assert_eq!(
        q.ack(3).event,
        Some(RetransmitEvent::Delivered { message: 9 })
    );
    assert!(q.expire(S(30)).events.is_empty());
}

#[test]
fn the_retry_bound_fails_the_whole_message_once() {
    let mut q = queue(2, 1);
    let mut t = 0;
    let mut ack = 0;
    let mut events = Vec::new();
    while events.is_empty() {
        while let Some(p) = q.pop_next() {
            ack += 1;
            q.sent(&p, ack, S(t + 5), AttemptRoute::default());
        }
        t += 5;
        events = q.expire(S(t)).events;
    }
    assert_eq!(
        events,
        vec![RetransmitEvent::Failed {
            message: 9,
            reason: FailureReason::RetriesExhausted {
                index: 0,
                attempts: 2
            }
        }]
    );
    assert_eq!(ack, 4, "two attempts for each of the two fragments");
    assert_eq!((q.messages(), q.pending_fragments()), (0, 0));
    assert!(q.pop_next().is_none());
    assert_eq!(
        q.next_deadline(),
        None,
        "fragment 1's deadline went with it"
    );
    assert_eq!(q.ack(4).event, None);
}

#[test]
fn unpopped_fragments_go_next() {
    let mut q = queue(2, 1);
    let p = q.pop_next().unwrap();
    q.unpop(p);
    assert_eq!(q.pop_next().unwrap().fragment.index, 0);
}

fn route(sent_at: u64, tag: u8) -> AttemptRoute {
    AttemptRoute {
        sent_at: S(sent_at),
        mixes: vec![NodeId([tag; 32])],
    }
}

#[test]
fn acks_and_timeouts_hand_back_the_current_attempts_route() {
    let mut q = queue(3, 3);
    let p0 = q.pop_next().unwrap();
    q.sent(&p0, 1, S(5), route(0, 20));
    let p1 = q.pop_next().unwrap();
    q.sent(&p1, 2, S(6), route(0, 21));
    let p2 = q.pop_next().unwrap();
    q.sent(&p2, 3, S(7), route(0, 22));
    // fragment 1's ack: its route worked
    assert_eq!(q.ack(2).route, Some(route(0, 21)));
    assert_eq!(q.ack(2).route, None, "a repeated ack reports nothing");
    // fragment 0 times out: its route is failure evidence
    let expired = q.expire(S(5));
    assert_eq!(expired.failed_routes, vec![route(0, 20)]);
    assert!(expired.events.is_empty());
    let again = q.pop_next().unwrap();
    q.sent(&again, 4, S(15), route(5, 23));
    // the first attempt's late ack delivers fragment 0 but says nothing about attempt 2's
    // route (23), whose packet may still be lost
    assert_eq!(q.ack(1).route, None);
    // the last ack reports its route and the message's end together
    let last = q.ack(3);
    assert_eq!(last.route, Some(route(0, 22)));
    assert_eq!(last.event, Some(RetransmitEvent::Delivered { message: 9 }));
    assert!(q.expire(S(100)).failed_routes.is_empty());
}

#[test]
fn fresh_fragments_take_turns_across_messages() {
    // a long message queued first does not hold a short one behind all its fragments
    let mut q = queue(4, 2);
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let (_, short) = split_message(&mut rng, b"a reply").unwrap();
    q.add_message(10, to(), short, SendClass::Interactive);
    let (_, two) = split_message(&mut rng, &vec![2; 2 * FRAGMENT_DATA_BYTES]).unwrap();
    q.add_message(11, to(), two, SendClass::Interactive);
    let mut order = Vec::new();
    while let Some(p) = q.pop_next() {
        order.push((p.message, p.fragment.index));
        q.sent(
            &p,
            1000 + order.len() as u64,
            S(10),
            AttemptRoute::default(),
        );
    }
    assert_eq!(
        order,
        vec![(9, 0), (10, 0), (11, 0), (9, 1), (11, 1), (9, 2), (9, 3)]
    );
}

#[test]
fn an_unpopped_fragment_goes_next_and_keeps_its_message_order() {
    let mut q = queue(3, 2);
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let (_, other) = split_message(&mut rng, b"other").unwrap();
    q.add_message(10, to(), other, SendClass::Interactive);
    let p = q.pop_next().unwrap();
    assert_eq!((p.message, p.fragment.index), (9, 0));
    // its packet could not be built: it is the next to go, then the round goes on
    q.unpop(p);
    let order: Vec<_> = std::iter::from_fn(|| {
        let p = q.pop_next()?;
        let key = (p.message, p.fragment.index);
        q.sent(
            &p,
            2000 + u64::from(key.1) + 10 * key.0,
            S(10),
            AttemptRoute::default(),
        );
        Some(key)
    })
    .collect();
    assert_eq!(order, vec![(9, 0), (10, 0), (9, 1), (9, 2)]);
}

#[test]
fn background_fragments_wait_for_interactive_ones_but_retries_go_first() {
    // queue(…) holds message 9 (interactive, 3 fragments); a background copy queued before
    // a later interactive one still leaves after it
    let mut q = queue(3, 2);
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let (_, copy) = split_message(&mut rng, &vec![1; 2 * FRAGMENT_DATA_BYTES]).unwrap();
    q.add_message(20, to(), copy, SendClass::Background);
    let (_, reply) = split_message(&mut rng, b"a reply").unwrap();
    q.add_message(21, to(), reply, SendClass::Interactive);
    let mut order = Vec::new();
    let first = q.pop_next().unwrap();
    q.sent(&first, 500, S(1), AttemptRoute::default());
    order.push((first.message, first.fragment.index));
    // the first fragment times out: its retry leaves before everything fresh
    assert!(q.expire(S(2)).events.is_empty());
    while let Some(p) = q.pop_next() {
        order.push((p.message, p.fragment.index));
        q.sent(
            &p,
            1000 + order.len() as u64,
            S(100),
            AttemptRoute::default(),
        );
    }
    assert_eq!(
        order,
        vec![(9, 0), (9, 0), (21, 0), (9, 1), (9, 2), (20, 0), (20, 1)]
    );
    // an unpopped background fragment goes back to the head of its own class only
    let mut q = queue(1, 2);
    let (_, copy) = split_message(&mut rng, b"copy").unwrap();
    q.add_message(30, to(), copy, SendClass::Background);
    let p = q.pop_next().unwrap();
    assert_eq!(p.message, 9);
    q.sent(&p, 1, S(100), AttemptRoute::default());
    let b = q.pop_next().unwrap();
    assert_eq!(b.message, 30);
    let (_, late) = split_message(&mut rng, b"late").unwrap();
    q.add_message(31, to(), late, SendClass::Interactive);
    q.unpop(b);
    assert_eq!(q.pop_next().map(|p| p.message), Some(31));
    assert_eq!(q.pop_next().map(|p| p.message), Some(30));
}

#[test]
fn the_ack_margin_covers_the_clients_pull_interval() {
    use wesh_mix::params::{MAX_FRAGMENT_RETRANSMISSIONS, RETRANSMIT_MARGIN};
    let c = RetransmitConfig::for_pull_interval(Duration::from_secs(8));
    assert_eq!(c.margin, RETRANSMIT_MARGIN + Duration::from_secs(8));
    assert_eq!(c.max_retransmissions, MAX_FRAGMENT_RETRANSMISSIONS);
    // a client pulling more often than the margin keeps (almost) the plain margin
    let fast = RetransmitConfig::for_pull_interval(Duration::from_millis(500));
    assert!(fast.margin < c.margin);
}
