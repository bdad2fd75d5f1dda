//! The app core ([`WeshApp`]) on a virtual clock, with the in-memory post office standing
//! in for the mixnet and a vector standing in for the journal on disk: the order of its
//! actions (journal first), which inbox messages it consumes, rendezvous timing, going
//! offline and catching up from a replica, and history cursors that survive a restart.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;

use common::{PostOffice, through_desk};
use wesh_client::app::{
    Action, ApiError, ApiRequest, ApiResponse, CallId, FetchedPage, HistoryFetch, WeshApp,
};
use wesh_client::messenger::envelope::Outer;
use wesh_client::messenger::journal::{self, Input};
use wesh_client::messenger::params::{
    APP_HISTORY_MAX_PAGES, APP_HISTORY_RESUME_MS, APP_HISTORY_RETRY_MS, APP_RENDEZVOUS_CHECK_MS,
    APP_RENDEZVOUS_RETRY_MS, APP_SEND_RETRY_MS,
};
use wesh_client::messenger::rendezvous_wire::RendezvousFrame;
use wesh_client::messenger::{
    JournalRecord, MailboxAddress, Outgoing, WeshDevice, WeshEvent, replica_mailbox,
};

const START_MS: u64 = 1_800_000_000_000;

fn providers() -> Vec<[u8; 32]> {
    (1..=3u8).map(|i| [i; 32]).collect()
}

/// An app with its "disk" (journal and inbox) and what it answered.
struct Node {
    seed: [u8; 32],
    home: MailboxAddress,
    app: WeshApp,
    journal: Vec<Vec<u8>>,
    inbox: BTreeMap<u64, Vec<u8>>,
    next_seq: u64,
    next_call: CallId,
    answers: BTreeMap<CallId, Result<ApiResponse, ApiError>>,
    caught_up: BTreeMap<CallId, usize>,
    events: Vec<WeshEvent>,
    updates: usize,
    /// Every action carried out, as a word (for order checks).
    trace: Vec<&'static str>,
}

impl Node {
    fn new(i: u8, now: u64) -> Self {
        let home = MailboxAddress {
            provider: providers()[usize::from(i) % 3],
            mailbox: [100 + i; 32],
        };
        let device = WeshDevice::new_account([i; 32], home).unwrap();
        Self::around(device, [i; 32], home, now)
    }

    fn around(device: WeshDevice, seed: [u8; 32], home: MailboxAddress, now: u64) -> Self {
        Node {
            seed,
            home,
            app: WeshApp::new(device, providers(), now),
            journal: Vec::new(),
            inbox: BTreeMap::new(),
            next_seq: 0,
            next_call: 0,
            answers: BTreeMap::new(),
            caught_up: BTreeMap::new(),
            events: Vec::new(),
            updates: 0,
            trace: Vec::new(),
        }
    }

    /// Drops the app and rebuilds it from its disk, as `wesh client --api` does at start.
    fn restart(&mut self, now: u64) {
        let device = journal::restore(self.seed, self.home, &self.journal).unwrap();
        let journal = std::mem::take(&mut self.journal);
        let inbox = std::mem::take(&mut self.inbox);
        *self = Self::around(device, self.seed, self.home, now);
        self.journal = journal;
        for (seq, bytes) in &inbox {
            self.app.handle_message(now, bytes, Some(*seq));
        }
        self.inbox = inbox;
    }

    fn call(&mut self, po: &mut PostOffice, now: u64, request: ApiRequest) -> ApiResponse {
        let call = self.next_call;
        self.next_call += 1;
        self.app.handle_api(now, call, request);
        self.run(po, now);
        self.answers.remove(&call).expect("answered").unwrap()
    }

    /// Puts `bytes` in the durable inbox and gives it to the app.
    fn receive(&mut self, now: u64, bytes: Vec<u8>) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.app.handle_message(now, &bytes, Some(seq));
        self.inbox.insert(seq, bytes);
    }

    /// Carries out every action, as the node's shell does.
    fn run(&mut self, po: &mut PostOffice, now: u64) {
        while let Some(action) = self.app.poll_action() {
            match action {
                Action::Persist { records, consumed } => {
                    self.trace.push("persist");
                    self.journal
                        .extend(records.iter().map(JournalRecord::encode));
                    for s in consumed {
                        self.inbox.remove(&s);
                    }
                }
                Action::Send(out) => {
                    self.trace.push("send");
                    po.post(out);
                }
                Action::UpdateRendezvous(_) => {
                    self.trace.push("update");
                    self.updates += 1;
                }
                Action::FetchHistory(f) => {
                    self.trace.push("fetch");
                    let log = po.replica_log.get(&f.group).cloned().unwrap_or_default();
                    let after = usize::try_from(f.after).unwrap().min(log.len());
                    let page = FetchedPage {
                        entries: log[after..].to_vec(),
                        last: log.len() as u64,
                        more: false,
                    };
                    self.app.handle_history(now, f, Some(page));
                }
                Action::RegisterReplica {
                    call, registration, ..
                } => {
                    self.trace.push("register");
                    let end = po.replica_registration(&registration, now / 1000);
                    self.app.handle_replica_registered(call, Ok(end));
                }
                Action::RenewReplica {
                    group,
                    provider,
                    registration,
                } => {
                    self.trace.push("renew");
                    let end = po.replica_registration(&registration, now / 1000);
                    self.app
                        .handle_replica_renewed(now, group, provider, Ok(end));
                }
                Action::Event(e) => {
                    self.trace.push("event");
                    self.events.push(e);
                }
                Action::Answer { call, result } => {
                    self.trace.push("answer");
                    self.answers.insert(call, result);
                }
                Action::CaughtUp { call, fetched } => {
                    self.trace.push("caught up");
                    self.caught_up.insert(call, fetched);
                }
            }
        }
    }

    /// Gives the app what waits for it at home and at its rendezvous mailbox.
    fn pull(&mut self, po: &mut PostOffice, now: u64) -> usize {
        let mail = po.mail_for(self.app.device(), &providers(), now / 1000);
        let n = mail.len();
        for m in mail {
            self.receive(now, m);
        }
        self.run(po, now);
        n
    }

    fn records(&self) -> Vec<JournalRecord> {
        self.journal
            .iter()
            .map(|b| JournalRecord::decode(b).unwrap())
            .collect()
    }
}

impl PostOffice {
    /// Takes one message an app sent: a replica's entries are verified and kept, the
    /// rest waits in mailboxes (a drop is forwarded by the desk, see `through_desk`).
    fn post(&mut self, out: Outgoing) {
        self.sent += 1;
        if let Ok(Outer::Replica { group_id, .. }) = Outer::decode(&out.bytes)
            && out.to.mailbox == replica_mailbox(&group_id)
        {
            let acc = self.replica.on_message(&out.bytes).unwrap();
            self.replica_log
                .entry(acc.group_id)
                .or_default()
                .extend(acc.entries.into_iter().map(|(_, e)| e));
            return;
        }
        let (to, bytes) = through_desk(out.to, out.bytes);
        self.boxes.entry(to).or_default().push_back(bytes);
    }
}

fn settle(po: &mut PostOffice, nodes: &mut [&mut Node], now: u64) {
    for _ in 0..50 {
        let moved: usize = nodes.iter_mut().map(|n| n.pull(po, now)).sum();
        if moved == 0 {
            return;
        }
    }
    panic!("post office did not settle");
}

/// Two apps that became contacts through the API; their contact group.
fn contacts(po: &mut PostOffice) -> (Node, Node, String) {
    let mut a = Node::new(1, START_MS);
    let mut b = Node::new(2, START_MS);
    let ApiResponse::ContactRequestReference { reference } =
        b.call(po, START_MS, ApiRequest::ContactRequestReference)
    else {
        panic!("no card");
    };
    a.call(
        po,
        START_MS,
        ApiRequest::ContactRequestSend { contact: reference },
    );
    for _ in 0..10 {
        settle(po, &mut [&mut a, &mut b], START_MS);
        let pending = b.app.device().contact_requests_pending();
        for account in pending {
            b.call(
                po,
                START_MS,
                ApiRequest::ContactRequestAccept {
                    account: hex::encode(account),
                },
            );
        }
    }
    let ApiResponse::Contacts { contacts } = a.call(po, START_MS, ApiRequest::ContactList) else {
        panic!("no contacts");
    };
    assert_eq!(contacts.len(), 1, "a and b are contacts");
    let group = contacts[0].1.clone();
    (a, b, group)
}

#[test]
fn journal_records_are_persisted_before_sends_and_answers() {
    let mut po = PostOffice::default();
    let (mut a, mut b, group) = contacts(&mut po);
    a.trace.clear();
    a.call(
        &mut po,
        START_MS,
        ApiRequest::AppMessageSend {
            group: group.clone(),
            payload: hex::encode("hello"),
        },
    );
    assert_eq!(a.trace.first(), Some(&"persist"), "{:?}", a.trace);
    assert_eq!(a.trace.last(), Some(&"answer"), "{:?}", a.trace);
    assert!(a.trace.contains(&"send"), "{:?}", a.trace);
    assert!(matches!(
        a.records().last().map(|r| &r.input),
        Some(Input::AppMessageSend { .. })
    ));
    // the receiver journals the message and drops it from its inbox in the same write,
    // before the event reaches the app
    b.trace.clear();
    assert_eq!(b.pull(&mut po, START_MS), 1);
    assert_eq!(b.trace.first(), Some(&"persist"), "{:?}", b.trace);
    assert!(b.inbox.is_empty());
    assert!(b.events.iter().any(|e| matches!(e,
        WeshEvent::MessageReceived(m) if m.payload == b"hello")));
    // a refused call answers an error and persists nothing
    a.trace.clear();
    a.app.handle_api(
        START_MS,
        99,
        ApiRequest::AppMessageSend {
            group: "zz".into(),
            payload: String::new(),
        },
    );
    a.run(&mut po, START_MS);
    assert_eq!(a.trace, vec!["answer"]);
    assert!(matches!(
        a.answers[&99],
        Err(ApiError::BadArgument { ref field, .. }) if field == "group"
    ));
}

#[test]
fn wesh_messages_leave_the_inbox_and_others_stay() {
    let mut po = PostOffice::default();
    let mut a = Node::new(1, START_MS);
    a.receive(START_MS, b"not wesh".to_vec());
    // an update is a rendezvous frame with nothing for a device
    let frame = RendezvousFrame::Drop {
        mailbox: [9; 32],
        envelope: b"x".to_vec(),
    }
    .encode();
    a.receive(START_MS, frame);
    // a forward that did not come from our desk: given to the device (which refuses it),
    // consumed, not acked
    let forged = RendezvousFrame::Forward {
        mailbox: [9; 32],
        id: 1,
        tag: [0; 32],
        envelope: b"garbage".to_vec(),
    }
    .encode();
    a.receive(START_MS, forged);
    a.run(&mut po, START_MS);
    assert_eq!(
        a.inbox.values().collect::<Vec<_>>(),
        vec![&b"not wesh".to_vec()],
        "only the foreign message stays"
    );
    assert!(
        matches!(&a.records()[..], [r] if matches!(r.input, Input::NewAccount { .. })),
        "refusals that changed nothing are not journaled"
    );
    // after a restart the backlog is read again and the same holds
    a.restart(START_MS);
    a.run(&mut po, START_MS);
    assert_eq!(a.inbox.len(), 1);
}

#[test]
fn rendezvous_updates_follow_the_timer_and_the_connection() {
    let mut po = PostOffice::default();
    let mut a = Node::new(1, START_MS);
    assert_eq!(a.app.poll_timeout(), START_MS, "checks at once");
    a.app.handle_timeout(START_MS);
    a.run(&mut po, START_MS);
    assert_eq!(a.updates, 1, "registered");
    let next = a.app.poll_timeout();
    assert_eq!(next, START_MS + APP_RENDEZVOUS_CHECK_MS);
    a.app.handle_timeout(next);
    a.run(&mut po, next);
    assert_eq!(a.updates, 1, "nothing new to tell the desk");
    // offline: no updates; back online: registered again at once
    a.app.handle_offline();
    let later = next + 10 * 60 * 1000;
    a.app.handle_timeout(later);
    a.run(&mut po, later);
    assert_eq!(a.updates, 1);
    a.app.handle_online(later, 7);
    a.run(&mut po, later);
    assert_eq!(a.updates, 2);
    assert_eq!(a.caught_up.get(&7), Some(&0), "no replicated group");
    // a renewed card revokes the old registration and registers the new one before the
    // answer
    a.trace.clear();
    a.call(&mut po, later, ApiRequest::ContactRequestResetReference);
    assert_eq!(a.trace, vec!["persist", "update", "update", "answer"]);
}

/// Reply blocks die with the mixes' keys: once the shell says when the blocks it attached
/// must be replaced, the app sends fresh ones then, long before its regular refresh.
#[test]
fn reply_blocks_are_renewed_when_the_shell_says_their_keys_retire() {
    let mut po = PostOffice::default();
    let mut a = Node::new(1, START_MS);
    a.app.handle_timeout(START_MS);
    a.run(&mut po, START_MS);
    assert_eq!(a.updates, 1, "registered");
    // the blocks were built on an epoch whose keys go at START + 40 s (renew at 35 s)
    let renew_at = START_MS + 35_000;
    a.app.handle_rendezvous_surbs_sent(START_MS, renew_at);
    let mut now = START_MS;
    let mut renewed_at = None;
    while now < START_MS + 60_000 && renewed_at.is_none() {
        now = a.app.poll_timeout().max(now + 1);
        a.app.handle_timeout(now);
        while let Some(action) = a.app.poll_action() {
            if let Action::UpdateRendezvous(u) = action {
                assert!(u.surbs_wanted > 0, "a renewal carries reply blocks");
                renewed_at = Some(now);
            }
        }
    }
    let at = renewed_at.expect("renewed within a minute");
    assert!(
        (renew_at..renew_at + APP_RENDEZVOUS_CHECK_MS + 1).contains(&at),
        "renewed at {at}, due at {renew_at}"
    );
}

/// A registration that could not leave (the client had no view of the network yet) is
/// tried again within a quarter second, not at the next two-second check.
#[test]
fn a_failed_registration_is_tried_again_soon() {
    let mut a = Node::new(1, START_MS);
    a.app.handle_timeout(START_MS);
    let mut failed = 0;
    while let Some(action) = a.app.poll_action() {
        if let Action::UpdateRendezvous(_) = action {
            a.app.handle_rendezvous_update_failed(START_MS);
            failed += 1;
        }
    }
    assert_eq!(failed, 1);
    let retry = a.app.poll_timeout();
    assert_eq!(retry, START_MS + APP_RENDEZVOUS_RETRY_MS);
    a.app.handle_timeout(retry);
    let again = std::iter::from_fn(|| a.app.poll_action())
        .filter(|x| matches!(x, Action::UpdateRendezvous(u) if u.surbs_wanted > 0))
        .count();
    assert_eq!(again, 1, "registered again, with reply blocks");
}

#[test]
fn messages_wait_while_offline_and_after_a_refusal() {
    let mut po = PostOffice::default();
    let (mut a, mut b, group) = contacts(&mut po);
    a.app.handle_offline();
    a.trace.clear();
    a.call(
        &mut po,
        START_MS,
        ApiRequest::AppMessageSend {
            group: group.clone(),
            payload: hex::encode("later"),
        },
    );
    assert_eq!(a.trace, vec!["persist", "answer"], "nothing sent offline");
    a.app.handle_online(START_MS, 1);
    a.trace.clear();
    a.run(&mut po, START_MS);
    assert_eq!(a.trace, vec!["update", "send", "caught up"]);
    // the client refuses one: handed again after the retry delay, not before
    let again = Outgoing {
        to: b.home,
        bytes: b"retry me".to_vec(),
        kind: wesh_client::messenger::OutgoingKind::Handshake,
    };
    a.app.handle_send_refused(START_MS, again);
    assert_eq!(a.app.poll_timeout(), START_MS + APP_SEND_RETRY_MS);
    a.trace.clear();
    a.app.handle_timeout(START_MS + APP_SEND_RETRY_MS - 1);
    a.run(&mut po, START_MS);
    assert!(a.trace.is_empty());
    a.app.handle_timeout(START_MS + APP_SEND_RETRY_MS);
    a.run(&mut po, START_MS);
    assert_eq!(a.trace, vec!["send"]);
    // b got the message written offline (and the bytes handed again, which it refuses)
    b.events.clear();
    b.pull(&mut po, START_MS);
    assert!(b.events.iter().any(|e| matches!(e,
        WeshEvent::MessageReceived(m) if m.payload == b"later")));
}

/// A group with a replica, its member `a`, and `n` messages `a` wrote to it.
fn replicated_group(po: &mut PostOffice, a: &mut Node, n: usize) -> String {
    let ApiResponse::Group { group } = a.call(po, START_MS, ApiRequest::MultiMemberGroupCreate)
    else {
        panic!("no group");
    };
    a.call(
        po,
        START_MS,
        ApiRequest::ReplicationServiceRegisterGroup {
            group: group.clone(),
            provider: hex::encode(providers()[2]),
        },
    );
    for i in 0..n {
        a.call(
            po,
            START_MS,
            ApiRequest::AppMessageSend {
                group: group.clone(),
                payload: hex::encode(format!("m{i}")),
            },
        );
    }
    group
}

#[test]
fn the_history_cursor_survives_a_restart() {
    let mut po = PostOffice::default();
    let mut a = Node::new(1, START_MS);
    let group = replicated_group(&mut po, &mut a, 3);
    let group_id: [u8; 32] = hex::decode(&group).unwrap().try_into().unwrap();
    let kept = po.replica_log[&group_id].len();
    assert!(kept >= 3);
    // offline and back: the whole history is fetched, and where it ended is journaled
    a.app.handle_offline();
    a.app.handle_online(START_MS, 1);
    let first = a.app.poll_action();
    assert!(
        matches!(first, Some(Action::UpdateRendezvous(_))),
        "{first:?}"
    );
    let fetch = a.app.poll_action();
    assert!(
        matches!(
            fetch,
            Some(Action::FetchHistory(HistoryFetch { after: 0, .. }))
        ),
        "{fetch:?}"
    );
    let Some(Action::FetchHistory(f)) = fetch else {
        unreachable!()
    };
    a.app.handle_history(
        START_MS,
        f,
        Some(FetchedPage {
            entries: po.replica_log[&group_id].clone(),
            last: kept as u64,
            more: false,
        }),
    );
    a.run(&mut po, START_MS);
    assert_eq!(a.caught_up.get(&1), Some(&kept));
    assert!(a.records().iter().any(|r| r.input
        == Input::HistoryCursor {
            group: group_id,
            provider: providers()[2],
            last: kept as u64,
        }));
    // a restart rebuilds the cursor from the journal: the next catch-up starts after it
    a.restart(START_MS);
    assert_eq!(
        a.app.device().history_cursor(&group_id, &providers()[2]),
        kept as u64
    );
    a.app.handle_offline();
    a.app.handle_online(START_MS, 2);
    let mut fetches = Vec::new();
    while let Some(action) = a.app.poll_action() {
        if let Action::FetchHistory(f) = action {
            fetches.push(f);
        }
    }
    assert_eq!(
        fetches,
        vec![HistoryFetch {
            group: group_id,
            provider: providers()[2],
            after: kept as u64,
        }]
    );
}

#[test]
fn a_failed_fetch_is_retried_once_then_given_up() {
    let mut po = PostOffice::default();
    let mut a = Node::new(1, START_MS);
    replicated_group(&mut po, &mut a, 1);
    a.app.handle_timeout(START_MS);
    a.run(&mut po, START_MS);
    a.app.handle_offline();
    a.app.handle_online(START_MS, 5);
    let mut fetch = None;
    while let Some(action) = a.app.poll_action() {
        if let Action::FetchHistory(f) = action {
            fetch = Some(f);
        }
    }
    let fetch = fetch.unwrap();
    a.app.handle_history(START_MS, fetch, None);
    assert_eq!(a.app.poll_timeout(), START_MS + APP_HISTORY_RETRY_MS);
    assert!(a.app.poll_action().is_none(), "not caught up yet");
    a.app.handle_timeout(START_MS + APP_HISTORY_RETRY_MS);
    assert!(matches!(a.app.poll_action(), Some(Action::FetchHistory(f)) if f == fetch));
    a.app
        .handle_history(START_MS + APP_HISTORY_RETRY_MS, fetch, None);
    assert!(matches!(
        a.app.poll_action(),
        Some(Action::CaughtUp {
            call: 5,
            fetched: 0
        })
    ));
}

#[test]
fn replica_registration_waits_for_the_network_and_needs_a_connection() {
    let mut po = PostOffice::default();
    let mut a = Node::new(1, START_MS);
    let ApiResponse::Group { group } =
        a.call(&mut po, START_MS, ApiRequest::MultiMemberGroupCreate)
    else {
        panic!("no group");
    };
    let register = |provider: [u8; 32]| ApiRequest::ReplicationServiceRegisterGroup {
        group: group.clone(),
        provider: hex::encode(provider),
    };
    // an unknown provider is a bad argument
    a.app.handle_api(START_MS, 1, register([9; 32]));
    a.run(&mut po, START_MS);
    assert!(matches!(a.answers[&1], Err(ApiError::BadArgument { .. })));
    // offline: refused
    a.app.handle_offline();
    a.app.handle_api(START_MS, 2, register(providers()[2]));
    a.run(&mut po, START_MS);
    assert_eq!(a.answers[&2], Err(ApiError::Offline));
    // the provider refuses: the device announces nothing
    a.app.handle_online(START_MS, 3);
    a.run(&mut po, START_MS);
    a.app.handle_api(START_MS, 4, register(providers()[2]));
    let Some(Action::RegisterReplica { call: 4, .. }) = a.app.poll_action() else {
        panic!("no registration");
    };
    a.app
        .handle_replica_registered(4, Err(ApiError::Unavailable("down".into())));
    a.run(&mut po, START_MS);
    assert_eq!(a.answers[&4], Err(ApiError::Unavailable("down".into())));
    assert!(
        a.app
            .device()
            .group_metadata(&hex::decode(&group).unwrap().try_into().unwrap())
            .unwrap()
            .replicas
            .is_empty()
    );
}

/// Issue 15 item 10: the catch-up fetched while the replica said "more". Against a
/// replica that always says "more", a round makes at most `APP_HISTORY_MAX_PAGES`
/// fetches, answers the come-online, and continues `APP_HISTORY_RESUME_MS` later from
/// where it stopped.
#[test]
fn a_replica_that_always_says_more_is_fetched_in_bounded_rounds() {
    let mut po = PostOffice::default();
    let mut a = Node::new(1, START_MS);
    replicated_group(&mut po, &mut a, 1);
    a.app.handle_timeout(START_MS);
    a.run(&mut po, START_MS);
    a.app.handle_offline();
    a.app.handle_online(START_MS, 7);
    let endless = |a: &mut Node, now: u64| {
        let (mut fetches, mut caught_up, mut last) = (0u32, None, None);
        while let Some(action) = a.app.poll_action() {
            match action {
                Action::FetchHistory(f) => {
                    fetches += 1;
                    assert!(fetches <= 1000, "unbounded");
                    last = Some(f);
                    let page = FetchedPage {
                        entries: vec![vec![0]],
                        last: f.after + 1,
                        more: true,
                    };
                    a.app.handle_history(now, f, Some(page));
                }
                Action::CaughtUp { call, fetched } => caught_up = Some((call, fetched)),
                _ => {}
            }
        }
        (fetches, caught_up, last)
    };
    let (fetches, caught_up, last) = endless(&mut a, START_MS);
    assert_eq!(fetches, APP_HISTORY_MAX_PAGES);
    assert_eq!(caught_up, Some((7, APP_HISTORY_MAX_PAGES as usize)));
    let stopped = last.unwrap().after + 1;
    a.app.handle_timeout(START_MS + APP_HISTORY_RESUME_MS - 1);
    let (fetches, _, _) = endless(&mut a, START_MS + APP_HISTORY_RESUME_MS - 1);
    assert_eq!(fetches, 0, "not before the resume time");
    a.app.handle_timeout(START_MS + APP_HISTORY_RESUME_MS);
    let first = a.app.poll_action();
    assert!(
        matches!(first, Some(Action::FetchHistory(f)) if f.after == stopped),
        "continues where it stopped: {first:?}"
    );
}

/// Issue 18 item 5: the app keeps its group's replication alive. It learns the term from
/// the registration's answer and asks nothing while the term is far from its end; in the
/// renewal window it registers again and the provider extends the term; after a restart
/// (term unknown) it registers once to learn it, which the provider answers for free.
#[test]
fn the_app_renews_a_replication_term_in_its_window_only() {
    use wesh_client::messenger::params::{
        APP_REPLICA_TERM_CHECK_MS, REPLICA_REGISTRATION_TERM_SECS, REPLICA_RENEWAL_WINDOW_SECS,
    };
    let mut po = PostOffice::default();
    let mut a = Node::new(1, START_MS);
    let group = replicated_group(&mut po, &mut a, 1);
    let group_id: [u8; 32] = hex::decode(&group).unwrap().try_into().unwrap();
    let term_end = START_MS / 1000 + REPLICA_REGISTRATION_TERM_SECS;
    let registered = po.replica_registrations;
    assert_eq!(po.replica.expires_at(&group_id), Some(term_end));
    let renewals = |a: &Node| a.trace.iter().filter(|t| **t == "renew").count();

    // hourly checks for three weeks: nothing to renew
    let window_opens = (term_end - REPLICA_RENEWAL_WINDOW_SECS) * 1000;
    let mut now = START_MS;
    while now + APP_REPLICA_TERM_CHECK_MS < window_opens {
        now += APP_REPLICA_TERM_CHECK_MS;
        a.app.handle_timeout(now);
        a.run(&mut po, now);
    }
    assert_eq!(renewals(&a), 0, "no renewal before the window");
    assert_eq!(po.replica_registrations, registered);
    // the first check inside the window renews, once
    for _ in 0..3 {
        now += APP_REPLICA_TERM_CHECK_MS;
        a.app.handle_timeout(now);
        a.run(&mut po, now);
    }
    assert_eq!(renewals(&a), 1);
    let renewed = po.replica.expires_at(&group_id).unwrap();
    assert!(renewed > term_end, "the provider extended the term");
    assert_eq!(po.replica.stats().renewals, 1);

    // restarted: the term is unknown, so one registration learns it (free: not due)
    a.restart(now);
    now += APP_REPLICA_TERM_CHECK_MS;
    a.app.handle_timeout(now);
    a.run(&mut po, now);
    assert_eq!(renewals(&a), 1, "one registration after the restart");
    assert_eq!(po.replica.expires_at(&group_id), Some(renewed));
    assert_eq!(po.replica.stats().renewals, 1, "not renewed again");
    a.app.handle_timeout(now + APP_REPLICA_TERM_CHECK_MS);
    a.run(&mut po, now + APP_REPLICA_TERM_CHECK_MS);
    assert_eq!(renewals(&a), 1, "the term is known again");
}
