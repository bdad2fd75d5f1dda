//! The whole Wesh story on the in-memory network, on a virtual clock: alice, bob and carol
//! become contacts through the rendezvous desks, alice creates a group with a replication
//! provider and invites the others through their contact groups, everyone writes, carol
//! goes offline while a mix is killed, nothing is lost (retransmissions cover the dead
//! mix), carol catches up from the replica and her mailbox, and a message of the largest
//! size a Wesh app message may have (1 MiB less 1 KiB) arrives intact.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};
use wesh_client::messenger::WeshEvent;
use wesh_client::messenger::journal::Input;
use wesh_client::params::MAX_MESSAGE_LEN;
use wesh_mix::ClientTrafficConfig;
use wesh_mix::params::FRAGMENT_DATA_BYTES;
use wesh_tests::memnet::{MemNet, MemNetConfig};

const MINUTE: Duration = Duration::from_secs(60);

fn config(seed: u64) -> MemNetConfig {
    MemNetConfig {
        seed,
        mixes_per_layer: 2,
        providers: 2,
        link_latency: Duration::from_millis(5),
        mix_loop_rate: 0.2,
        mix_mean_hop_delay: Duration::from_millis(30),
        client_traffic: ClientTrafficConfig {
            real_rate: 3.0,
            loop_rate: 0.2,
            drop_rate: 0.2,
            mean_hop_delay: Duration::from_millis(30),
            real_timing: Default::default(),
        },
    }
}

/// App messages `c` received from others in `group`, in arrival order.
fn received(net: &MemNet, c: usize, group: &[u8; 32]) -> Vec<Vec<u8>> {
    net.device(c)
        .unwrap()
        .wesh()
        .group_message_list(group)
        .map(|l| {
            l.iter()
                .filter(|m| !m.own)
                .map(|m| m.payload.clone())
                .collect()
        })
        .unwrap_or_default()
}

fn contact_group(net: &MemNet, c: usize, other: usize) -> Option<[u8; 32]> {
    let account = net.device(other).unwrap().wesh().account_id();
    net.device(c)
        .unwrap()
        .wesh()
        .contacts()
        .get(&account)
        .copied()
}

fn sorted(mut v: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    v.sort();
    v
}

/// The cast of the story, as client indexes.
struct Cast {
    alice: usize,
    bob: usize,
    carol: usize,
}

/// Acts 1 to 5: contacts, the group, everyone writes, carol away while a mix dies, carol
/// catches up.
fn first_acts(seed: u64) -> (MemNet, Cast) {
    let mut net = MemNet::new(config(seed)).unwrap();
    let alice = net.add_wesh_client(0).unwrap();
    let bob = net.add_wesh_client(1).unwrap();
    let carol = net.add_wesh_client(0).unwrap();
    let everyone = [alice, bob, carol];

    // 1. contacts, through the rendezvous desks (registrations need a first tick)
    net.run_for(Duration::from_secs(3));
    net.contact_request(alice, bob).unwrap();
    net.contact_request(alice, carol).unwrap();
    net.contact_request(bob, carol).unwrap();
    net.run_until(MINUTE, |n| {
        [(alice, bob), (alice, carol), (bob, carol)]
            .iter()
            .all(|&(a, b)| contact_group(n, a, b).is_some() && contact_group(n, b, a).is_some())
    })
    .expect("contacts established");
    for c in everyone {
        let established = net
            .device(c)
            .unwrap()
            .events
            .iter()
            .filter(|e| matches!(e, WeshEvent::ContactEstablished { .. }))
            .count();
        assert_eq!(established, 2, "client {c} has both contacts");
    }
    let desks: u64 = net
        .provider_ids()
        .iter()
        .map(|p| net.provider(p).unwrap().desk_stats().forwards)
        .sum();
    assert!(desks >= 3, "the handshakes went through the desks");

    // 2. alice's group, replicated at the second provider, invitations over contact groups
    let group = net
        .input(alice, Input::MultiMemberGroupCreate)
        .unwrap()
        .unwrap();
    net.register_replica(alice, group, 1).unwrap();
    let invitation = net
        .device(alice)
        .unwrap()
        .wesh()
        .multi_member_group_invitation_create(&group)
        .unwrap();
    for friend in [bob, carol] {
        let g = contact_group(&net, alice, friend).unwrap();
        net.input(
            alice,
            Input::AppMessageSend {
                group: g,
                payload: invitation.clone(),
            },
        )
        .unwrap();
    }
    net.run_until(MINUTE, |n| {
        [bob, carol]
            .iter()
            .all(|&f| received(n, f, &contact_group(n, f, alice).unwrap()).contains(&invitation))
    })
    .expect("invitations received");
    for friend in [bob, carol] {
        let joined = net
            .input(
                friend,
                Input::MultiMemberGroupJoin {
                    invitation: invitation.clone(),
                },
            )
            .unwrap();
        assert_eq!(joined, Some(group));
    }
    net.run_until(MINUTE, |n| {
        everyone.iter().all(|&c| {
            n.device(c)
                .unwrap()
                .wesh()
                .group_metadata(&group)
                .is_ok_and(|m| m.members.len() == 3 && m.device_mailboxes.len() == 3)
        })
    })
    .expect("everyone sees the three members");

    // 3. everyone writes
    for (c, text) in [(alice, "one"), (bob, "two"), (carol, "three")] {
        net.input(
            c,
            Input::AppMessageSend {
                group,
                payload: text.as_bytes().to_vec(),
            },
        )
        .unwrap();
    }
    net.run_until(MINUTE, |n| {
        everyone.iter().all(|&c| received(n, c, &group).len() == 2)
    })
    .expect("everyone reads the two others");

    // 4. carol goes offline, a mix dies, alice and bob keep writing
    net.go_offline(carol).unwrap();
    let victim = net.topology().layers()[1][0].id;
    net.kill_mix(victim);
    let mut later = Vec::new();
    for i in 0..6 {
        for (c, who) in [(alice, "alice"), (bob, "bob")] {
            let text = format!("{who} while carol is away #{i}").into_bytes();
            later.push(text.clone());
            net.input(
                c,
                Input::AppMessageSend {
                    group,
                    payload: text,
                },
            )
            .unwrap();
        }
        net.run_for(Duration::from_millis(700));
    }
    net.run_until(2 * MINUTE, |n| {
        received(n, alice, &group).len() == 2 + 6
            && received(n, bob, &group).len() == 2 + 6
            && [alice, bob]
                .iter()
                .all(|&c| n.client(c).unwrap().reliable_stats().messages_pending == 0)
    })
    .expect("alice and bob read each other and every message is acked");
    let retransmissions: u64 = everyone
        .iter()
        .map(|&c| net.client(c).unwrap().reliable_stats().retransmissions)
        .sum();
    assert!(net.stats.frames_lost > 0, "packets died with the mix");
    assert!(retransmissions > 0, "the dead mix cost retransmissions");
    assert_eq!(
        received(&net, carol, &group).len(),
        2,
        "carol heard nothing offline"
    );

    // 5. carol comes back: the replica's history, then her mailbox
    let from_replica = net.come_online(carol).unwrap();
    assert!(
        from_replica >= 12,
        "the replica kept what carol missed ({from_replica})"
    );
    let mut expected = vec![b"one".to_vec(), b"two".to_vec()];
    expected.extend(later.iter().cloned());
    assert_eq!(
        sorted(received(&net, carol, &group)),
        sorted(expected.clone())
    );
    net.run_until(MINUTE, |n| {
        n.client(carol).unwrap().reliable_stats().messages_pending == 0
            && n.provider(&n.client(carol).unwrap().provider())
                .unwrap()
                .stored(&n.client(carol).unwrap().address().client.0)
                == 0
    })
    .expect("carol's mailbox drained");
    assert_eq!(
        sorted(received(&net, carol, &group)),
        sorted(expected),
        "the mailbox copies were duplicates"
    );
    assert!(net.device(carol).unwrap().wesh().stats().entries_duplicate > 0);
    // the three logs converged: the same messages everywhere, in the same CRDT order
    let log = |c: usize| {
        let list = net
            .device(c)
            .unwrap()
            .wesh()
            .group_message_list(&group)
            .unwrap();
        sorted(list.iter().map(|m| m.payload.clone()).collect())
    };
    assert_eq!(log(alice).len(), 2 + 1 + 12);
    assert!(everyone.iter().all(|&c| log(c) == log(alice)));

    (net, Cast { alice, bob, carol })
}

/// Act 6: the largest app message, alice to bob over their contact group. Alice raises
/// her real stream while it leaves (adaptable anonymity), so it takes seconds, not minutes.
fn big_message(net: &mut MemNet, cast: &Cast) {
    let Cast { alice, bob, carol } = *cast;
    let usual = config(0).client_traffic;
    net.set_client_rates(
        alice,
        ClientTrafficConfig {
            real_rate: 60.0,
            ..usual
        },
    )
    .unwrap();
    let fragments_before = net.client(alice).unwrap().stats.fragments_sent;
    let big: Vec<u8> = (0..MAX_MESSAGE_LEN).map(|i| (i * 7 % 256) as u8).collect();
    let ab = contact_group(net, alice, bob).unwrap();
    net.input(
        alice,
        Input::AppMessageSend {
            group: ab,
            payload: big.clone(),
        },
    )
    .unwrap();
    net.run_until(5 * MINUTE, |n| {
        received(n, bob, &ab).iter().any(|m| m.len() == big.len())
    })
    .expect("the big message arrives");
    assert!(received(net, bob, &ab).contains(&big), "bytes intact");
    let fragments = net.client(alice).unwrap().stats.fragments_sent - fragments_before;
    assert!(
        fragments as usize >= (1 << 20) / FRAGMENT_DATA_BYTES,
        "its envelope crossed the mixnet as a message of over 1 MiB ({fragments} fragments)"
    );
    net.set_client_rates(alice, usual).unwrap();

    assert_eq!(net.stats.device_tick_errors, 0);
    for c in [alice, bob, carol] {
        assert!(
            net.client(c).unwrap().failed.is_empty(),
            "client {c} gave nothing up"
        );
    }
}

#[test]
fn the_whole_wesh_story_in_memory() {
    let wall = Instant::now();
    // acts 1-5 twice, side by side: the same seed must give the same run, event for event;
    // the first run goes on with act 6 meanwhile
    let ((digest, events, net), (digest_again, events_again)) = std::thread::scope(|s| {
        let one = s.spawn(|| {
            let (mut net, cast) = first_acts(7);
            let (digest, events) = (net.trace_digest(), net.trace_events());
            big_message(&mut net, &cast);
            (digest, events, net)
        });
        let two = s.spawn(|| {
            let (net, _) = first_acts(7);
            (net.trace_digest(), net.trace_events())
        });
        (one.join().unwrap(), two.join().unwrap())
    });
    assert_eq!(digest, digest_again, "same seed, same trace");
    assert_eq!(events, events_again);
    // The budget is under 10 s of wall time in release builds; it is printed, not
    // asserted: a loaded machine must not turn a slow run into a failed story.
    println!(
        "story: {:?} virtual, {:?} wall, {} events, {:?}",
        net.now(),
        wall.elapsed(),
        net.trace_events(),
        net.stats
    );
}

/// The story is not one lucky seed: `cargo test --release -p wesh-tests -- --ignored`.
#[test]
#[ignore = "about 4 s per seed; run on demand"]
fn other_seeds_tell_the_same_story() {
    for seed in 1..=8 {
        let wall = Instant::now();
        let (mut net, cast) = first_acts(seed);
        big_message(&mut net, &cast);
        println!(
            "seed {seed}: {:?} virtual, {:?} wall, {} frames lost",
            net.now(),
            wall.elapsed(),
            net.stats.frames_lost
        );
    }
}
