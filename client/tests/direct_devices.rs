//! Direct links between real Wesh devices: with the mixnet gone (the in-memory post
//! office holds everything back), a link between two members brings each the other's
//! entries through the same checks as the mixnet's, and their apps see the messages.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "common/direct_link.rs"]
mod direct_link;

use common::{NOW, PostOffice, device, payloads, providers, settle};
use direct_link::End;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use wesh_client::messenger::{DirectLogs, WeshDevice};

/// A direct link between `a` and `b`, run to the end.
fn meet(a: &mut WeshDevice, b: &mut WeshDevice, rng: &mut ChaCha20Rng) -> (End, End) {
    let (ga, gb) = (a.direct_groups().unwrap(), b.direct_groups().unwrap());
    let mut ea = End::new(ga.iter().map(|(_, k)| k.clone()).collect(), rng);
    let mut eb = End::new(gb.iter().map(|(_, k)| k.clone()).collect(), rng);
    let mut la = DirectLogs {
        device: a,
        groups: ga.iter().map(|(id, _)| *id).collect(),
    };
    let mut lb = DirectLogs {
        device: b,
        groups: gb.iter().map(|(id, _)| *id).collect(),
    };
    direct_link::run(&mut ea, &mut la, &mut eb, &mut lb, usize::MAX);
    (ea, eb)
}

#[test]
fn members_near_each_other_get_messages_with_the_mixnet_down() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let mut po = PostOffice::default();
    let (mut a, mut b, mut c) = (device(1), device(2), device(3));
    let card = b.contact_request_reference();
    a.contact_request_send(&card, NOW, &providers()).unwrap();
    settle(&mut po, &mut [&mut a, &mut b], &[]);
    let ab = a.contacts()[&b.account_id()];
    let g = a.multi_member_group_create().unwrap();
    let inv = a.multi_member_group_invitation_create(&g).unwrap();
    b.multi_member_group_join(&inv).unwrap();
    c.multi_member_group_join(&inv).unwrap();
    settle(&mut po, &mut [&mut a, &mut b, &mut c], &[]);

    // the mixnet goes down: what a writes stays in the post office
    a.app_message_send(&ab, b"contact, direct").unwrap();
    for m in [&b"one"[..], b"two", b"three"] {
        a.app_message_send(&g, m).unwrap();
    }
    po.collect(&mut a);
    assert!(payloads(&b, &g).is_empty() && payloads(&b, &ab).is_empty());

    // a and b meet: the contact group, the group (and not a's account group) are shared
    let (ea, eb) = meet(&mut a, &mut b, &mut rng);
    assert_eq!(ea.shared.len(), 2, "the contact group and the group");
    assert_eq!(eb.shared.len(), 2);
    assert_eq!(payloads(&b, &ab), vec![b"contact, direct".to_vec()]);
    assert_eq!(
        payloads(&b, &g),
        vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]
    );
    let stats = eb.sync.unwrap().stats;
    assert!(stats.entries_new >= 4, "{stats:?}");

    // b meets c later (a is gone): c gets a's group messages from b, and nothing of the
    // contact group it is not in
    let (_, ec) = meet(&mut b, &mut c, &mut rng);
    assert_eq!(ec.shared.len(), 1);
    assert_eq!(payloads(&c, &g).len(), 3);

    // the mixnet comes back: the same entries are duplicates, nothing breaks
    let dup_before = b.stats().entries_duplicate;
    settle(&mut po, &mut [&mut a, &mut b, &mut c], &[]);
    assert_eq!(payloads(&b, &g).len(), 3);
    assert!(b.stats().entries_duplicate > dup_before);
}
