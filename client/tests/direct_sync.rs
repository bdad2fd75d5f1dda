//! Direct links in memory: devices meet, find the groups they share and bring those
//! groups' logs level; a cut link resumes; a stranger learns nothing; garbage is refused
//! and changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/direct_link.rs"]
mod direct_link;

use direct_link::End;

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use wesh_client::direct::{DirectError, DirectEvent, DirectKey, DirectSession, SyncLogs, Verified};
use wesh_client::entry::{Entry, EntryHash, LogKind};
use wesh_client::group::{GroupKind, GroupSecrets};
use wesh_client::log::Log;

struct Group {
    key: DirectKey,
    logs: [Log; 2],
}

struct Device {
    groups: Vec<Group>,
}

fn idx(log: LogKind) -> usize {
    match log {
        LogKind::Metadata => 0,
        LogKind::Message => 1,
    }
}

impl SyncLogs for Device {
    fn heads(&self, group: usize, log: LogKind) -> Vec<EntryHash> {
        self.groups[group].logs[idx(log)].heads()
    }
    fn contains(&self, group: usize, log: LogKind, hash: &EntryHash) -> bool {
        self.groups[group].logs[idx(log)].contains(hash)
    }
    fn missing(&self, group: usize, log: LogKind) -> Vec<EntryHash> {
        self.groups[group].logs[idx(log)].missing_parents()
    }
    fn encoded(&self, group: usize, log: LogKind, hash: &EntryHash) -> Option<Vec<u8>> {
        self.groups[group].logs[idx(log)]
            .get(hash)
            .map(Entry::encode)
    }
    fn verify(&self, group: usize, log: LogKind, bytes: &[u8]) -> wesh_client::Result<Verified> {
        let l = &self.groups[group].logs[idx(log)];
        let e = Entry::decode_verified(bytes, l.verifier())?;
        Ok(Verified {
            hash: *e.hash(),
            parents: e.parents().to_vec(),
            time: e.clock().time,
            author: e.clock().id,
        })
    }
    fn keep(
        &mut self,
        group: usize,
        log: LogKind,
        entries: Vec<Vec<u8>>,
    ) -> wesh_client::Result<u64> {
        let mut new = 0;
        for bytes in entries {
            if self.groups[group].logs[idx(log)].ingest(&bytes)?.1 {
                new += 1;
            }
        }
        Ok(new)
    }
}

impl Device {
    fn new(groups: &[&GroupSecrets]) -> Self {
        Device {
            groups: groups
                .iter()
                .map(|g| Group {
                    key: DirectKey::derive(g.secret().expose(), &g.group_id_bytes()).unwrap(),
                    logs: [
                        Log::new(LogKind::Metadata, g.verifier()),
                        Log::new(LogKind::Message, g.verifier()),
                    ],
                })
                .collect(),
        }
    }

    fn keys(&self) -> Vec<DirectKey> {
        self.groups.iter().map(|g| g.key.clone()).collect()
    }

    #[allow(clippy::too_many_arguments)]
    fn append(
        &mut self,
        rng: &mut ChaCha20Rng,
        secrets: &GroupSecrets,
        group: usize,
        log: LogKind,
        n: usize,
        author: u8,
    ) {
        let g = &mut self.groups[group];
        for i in 0..n {
            let l = &mut g.logs[idx(log)];
            let e = Entry::seal(
                rng,
                &secrets.write_keys(),
                log,
                l.next_clock([author; 32]),
                l.heads(),
                &i.to_be_bytes(),
            )
            .unwrap();
            l.insert(e).unwrap();
        }
    }

    fn hashes(&self, group: usize, log: LogKind) -> Vec<EntryHash> {
        self.groups[group].logs[idx(log)].sorted_hashes()
    }
}

/// Runs a link between two devices until both ends are quiet or `budget` bytes have
/// crossed it (a cut).
fn link(a: &mut Device, b: &mut Device, rng: &mut ChaCha20Rng, budget: usize) -> (End, End) {
    let mut ea = End::new(a.keys(), rng);
    let mut eb = End::new(b.keys(), rng);
    direct_link::run(&mut ea, a, &mut eb, b, budget);
    (ea, eb)
}

fn groups(rng: &mut ChaCha20Rng, n: usize) -> Vec<GroupSecrets> {
    (0..n)
        .map(|_| {
            GroupSecrets::generate(rng, GroupKind::MultiMember)
                .unwrap()
                .0
        })
        .collect()
}

#[test]
fn two_devices_bring_their_shared_groups_level_and_nothing_else() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let g = groups(&mut rng, 3);
    let mut alice = Device::new(&[&g[0], &g[1]]);
    let mut bob = Device::new(&[&g[2], &g[1]]);
    alice.append(&mut rng, &g[1], 1, LogKind::Message, 30, 1);
    alice.append(&mut rng, &g[1], 1, LogKind::Metadata, 5, 1);
    alice.append(&mut rng, &g[0], 0, LogKind::Message, 7, 1); // not bob's group
    bob.append(&mut rng, &g[1], 1, LogKind::Message, 20, 2); // a parallel branch
    bob.append(&mut rng, &g[2], 0, LogKind::Message, 4, 2); // g[2], not alice's

    let (ea, eb) = link(&mut alice, &mut bob, &mut rng, usize::MAX);
    assert_eq!(ea.shared.len(), 1);
    assert_eq!(ea.shared[0].index, 1);
    assert_eq!(eb.shared[0].index, 1);
    for log in [LogKind::Message, LogKind::Metadata] {
        assert_eq!(alice.hashes(1, log), bob.hashes(1, log), "{log:?} level");
    }
    assert_eq!(alice.hashes(1, LogKind::Message).len(), 50);
    assert_eq!(alice.hashes(0, LogKind::Message).len(), 7, "g[0] untouched");
    assert_eq!(bob.hashes(0, LogKind::Message).len(), 4, "g[2] untouched");
    let (sa, sb) = (ea.sync.unwrap().stats, eb.sync.unwrap().stats);
    assert_eq!(sa.entries_new, 20);
    assert_eq!(sb.entries_new, 35);
}

#[test]
fn three_devices_converge_through_two_links() {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let g = groups(&mut rng, 1);
    let mut devs: Vec<Device> = (0..3).map(|_| Device::new(&[&g[0]])).collect();
    for (i, d) in devs.iter_mut().enumerate() {
        d.append(&mut rng, &g[0], 0, LogKind::Message, 10 + i, i as u8);
    }
    let (a, rest) = devs.split_at_mut(1);
    let (b, c) = rest.split_at_mut(1);
    link(&mut a[0], &mut b[0], &mut rng, usize::MAX);
    link(&mut b[0], &mut c[0], &mut rng, usize::MAX);
    link(&mut a[0], &mut b[0], &mut rng, usize::MAX);
    let all = a[0].hashes(0, LogKind::Message);
    assert_eq!(all.len(), 33);
    assert_eq!(b[0].hashes(0, LogKind::Message), all);
    assert_eq!(c[0].hashes(0, LogKind::Message), all);
}

#[test]
fn a_cut_sync_resumes_where_the_logs_are() {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let g = groups(&mut rng, 1);
    let mut alice = Device::new(&[&g[0]]);
    let mut bob = Device::new(&[&g[0]]);
    alice.append(&mut rng, &g[0], 0, LogKind::Message, 600, 1);
    let full = alice.hashes(0, LogKind::Message);
    let mut links = 0;
    // each link is cut after 40 KB: a few hundred entries' worth in all
    while bob.hashes(0, LogKind::Message) != full {
        let before = bob.hashes(0, LogKind::Message).len();
        link(&mut alice, &mut bob, &mut rng, 40_000);
        links += 1;
        assert!(
            bob.hashes(0, LogKind::Message).len() > before,
            "link {links} made progress"
        );
        assert!(links < 100);
    }
    assert!(links > 1, "the budget did cut the sync");
}

#[test]
fn a_stranger_gets_no_group_and_no_entry() {
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let g = groups(&mut rng, 2);
    let mut alice = Device::new(&[&g[0]]);
    let mut eve = Device::new(&[&g[1]]);
    alice.append(&mut rng, &g[0], 0, LogKind::Message, 5, 1);
    let (ea, ee) = link(&mut alice, &mut eve, &mut rng, usize::MAX);
    assert!(ea.shared.is_empty() && ee.shared.is_empty());
    assert!(eve.hashes(0, LogKind::Message).is_empty());
}

#[test]
fn a_peer_sending_garbage_is_refused_and_nothing_changes() {
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let g = groups(&mut rng, 1);
    let mut alice = Device::new(&[&g[0]]);
    let bob = Device::new(&[&g[0]]);
    alice.append(&mut rng, &g[0], 0, LogKind::Message, 3, 1);
    let before = alice.hashes(0, LogKind::Message);

    // a handshake with bob's session, then messages bob's sync would never send
    let mut ea = End::new(alice.keys(), &mut rng);
    let (mut bs, hello_b) = DirectSession::start(bob.keys(), &mut rng);
    ea.feed(&hello_b, &mut alice).unwrap();
    let mut offer_a = std::mem::take(&mut ea.outbox);
    let hello_a: Vec<u8> = offer_a.drain(..4 + 49).collect();
    let mut shared = Vec::new();
    for bytes in [hello_a, offer_a] {
        for e in bs.receive(&bytes).unwrap() {
            match e {
                DirectEvent::Send(f) => ea.feed(&f, &mut alice).unwrap(),
                DirectEvent::Matched(s) => shared = s,
                DirectEvent::Message(_) => {}
            }
        }
    }
    assert_eq!(shared.len(), 1);
    let channel = shared[0].channel;
    let mut entries_msg = vec![3u8];
    entries_msg.extend_from_slice(&channel);
    entries_msg.push(1); // message log
    entries_msg.extend_from_slice(&1u16.to_be_bytes());
    entries_msg.extend_from_slice(&10u32.to_be_bytes());
    entries_msg.extend_from_slice(b"not entry!");
    let frame = bs.send(&entries_msg).unwrap();
    let err = ea.feed(&frame, &mut alice).unwrap_err();
    assert_eq!(err, DirectError::Malformed("entry (does not verify)"));
    assert_eq!(alice.hashes(0, LogKind::Message), before, "nothing kept");

    // truncated and unknown-channel messages on a fresh link
    for bad in [vec![1u8, 2], {
        let mut m = vec![1u8];
        m.extend_from_slice(&[0xAB; 16]);
        m.extend_from_slice(&[1, 0, 0]);
        m
    }] {
        let mut ea = End::new(alice.keys(), &mut rng);
        let (mut bs, hello_b) = DirectSession::start(bob.keys(), &mut rng);
        ea.feed(&hello_b, &mut alice).unwrap();
        let out = std::mem::take(&mut ea.outbox);
        for e in bs.receive(&out).unwrap() {
            if let DirectEvent::Send(f) = e {
                ea.feed(&f, &mut alice).unwrap();
            }
        }
        let frame = bs.send(&bad).unwrap();
        assert!(matches!(
            ea.feed(&frame, &mut alice),
            Err(DirectError::Malformed(_))
        ));
    }
    assert_eq!(alice.hashes(0, LogKind::Message), before);
}
