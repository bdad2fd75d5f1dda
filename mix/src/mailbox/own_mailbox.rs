//! A provider reading one of its own mailboxes (a group's replica mailbox, the rendezvous
//! service mailbox): pulled `(seq, payload)` items in, complete messages out, and which
//! seqs may be deleted — only once the caller said it kept the message they carried.
//!
//! Sans-I/O, driven with the core clock's `now` (time since the shell's origin):
//! - [`OwnMailbox::read_from`]: the first seq the next read wants;
//! - [`OwnMailbox::handle_pulled`]: the items read, oldest first → complete messages;
//! - [`OwnMailbox::handle_kept`] / [`OwnMailbox::handle_failed`]: the caller's verdict on
//!   each message (kept durably, or not: a transient failure);
//! - [`OwnMailbox::poll_deletable`] / [`OwnMailbox::handle_delete_failed`]: what to delete;
//! - [`OwnMailbox::poll_timeout`] / [`OwnMailbox::handle_timeout`]: abandoned reassemblies.
//!
//! [`OwnMailbox::round`] is the one loop over these, on any [`MailboxBackend`]: the node
//! runs it on its rocksdb store, the in-memory harness on [`InMemoryBackend`].
//!
//! [`InMemoryBackend`]: super::InMemoryBackend
//!
//! Rules: a fragment stays in the mailbox until its whole message is kept, so a crash or a
//! failed keep loses nothing (a restart reads everything again from seq 0). A message the
//! caller could not keep is forgotten (its reassembly too) and its fragments are read again
//! at the next round. Items that can never become a kept message (not a fragment, malformed,
//! a duplicate of a fragment already held or kept, the rest of an abandoned message, a
//! message evicted when the reassembly budget is full) are deleted at once. Nothing stalls
//! the read: a full budget evicts the partial message idle the longest instead of refusing
//! (see [`Reassembler`]), so the messages behind a flood are read in the same round.

use super::MailboxId;
use super::backend::{BackendError, MailboxBackend};
use crate::delivery::open_delivery;
use crate::fragment::MessageId;
use crate::params::{OWN_MAILBOX_REASSEMBLY_MAX_BYTES, REASSEMBLY_FRAGMENT_CHARGE};
use crate::payload::MixPayload;
use crate::payload_seal::ReceiveKey;
use crate::reassembly::{Accepted, Reassembler, ReassemblyLimits};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// A complete message for the caller to keep, then to report with its `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnMessage {
    pub id: MessageId,
    pub bytes: Vec<u8>,
}

/// The reading state of one own mailbox.
pub struct OwnMailbox {
    reassembler: Reassembler,
    /// Seqs read and still needed (held in a reassembly or awaiting a verdict) → message.
    needed: BTreeMap<u64, MessageId>,
    /// Each message's needed seqs.
    seqs_of: HashMap<MessageId, Vec<u64>>,
    /// Seqs that may go, not yet handed to the caller.
    deletable: Vec<u64>,
    /// The next read starts here.
    cursor: u64,
    /// Payloads the last round fetched (a full batch means more may wait).
    last_fetched: usize,
    /// The mailbox's identity: what its payloads are sealed to.
    key: ReceiveKey,
}

/// The reassembly limits of a provider's own mailbox: the client's, with the byte and
/// message budgets of [`OWN_MAILBOX_REASSEMBLY_MAX_BYTES`].
pub fn own_mailbox_limits() -> ReassemblyLimits {
    ReassemblyLimits {
        max_bytes: OWN_MAILBOX_REASSEMBLY_MAX_BYTES,
        max_messages: OWN_MAILBOX_REASSEMBLY_MAX_BYTES / REASSEMBLY_FRAGMENT_CHARGE,
        ..ReassemblyLimits::default()
    }
}

impl OwnMailbox {
    /// With the own-mailbox budget ([`OWN_MAILBOX_REASSEMBLY_MAX_BYTES`]), for the mailbox
    /// whose payloads are sealed to `key`.
    pub fn for_key(key: ReceiveKey) -> Self {
        Self::new(own_mailbox_limits(), key)
    }

    pub fn new(limits: ReassemblyLimits, key: ReceiveKey) -> Self {
        OwnMailbox {
            key,
            reassembler: Reassembler::new(limits),
            needed: BTreeMap::new(),
            seqs_of: HashMap::new(),
            deletable: Vec::new(),
            cursor: 0,
            last_fetched: 0,
        }
    }

    /// Payloads the last [`OwnMailbox::round`] fetched: a full batch means more may wait.
    pub fn last_fetched(&self) -> usize {
        self.last_fetched
    }

    /// Bytes the reassembly holds for messages in progress (within its budget).
    pub fn held_bytes(&self) -> usize {
        self.reassembler.reserved_bytes()
    }

    /// Messages in progress.
    pub fn in_progress(&self) -> usize {
        self.reassembler.in_progress()
    }

    /// The first seq the next read should return (older ones are accounted for).
    pub fn read_from(&self) -> u64 {
        self.cursor
    }

    /// Takes the items read from [`read_from`](Self::read_from) on, oldest first, at `now`;
    /// returns the messages they complete, each to be reported with
    /// [`handle_kept`](Self::handle_kept) or [`handle_failed`](Self::handle_failed).
    pub fn handle_pulled(&mut self, now: Duration, items: Vec<(u64, Vec<u8>)>) -> Vec<OwnMessage> {
        let mut complete = Vec::new();
        for (seq, payload) in items {
            if seq < self.cursor || self.needed.contains_key(&seq) {
                continue; // read before and still held
            }
            let fragment = match open_delivery(&[&self.key], &payload) {
                Ok(MixPayload::Fragment { fragment, .. }) => fragment,
                _ => {
                    self.deletable.push(seq);
                    self.cursor = seq.saturating_add(1);
                    continue;
                }
            };
            let id = fragment.message;
            match self.reassembler.accept(fragment, now) {
                Ok(Accepted::Stored { .. }) => self.need(seq, id),
                Ok(Accepted::Complete { id, bytes }) => {
                    self.need(seq, id);
                    complete.push(OwnMessage { id, bytes });
                }
                // a duplicate, or a fragment that can never be held (malformed, beyond the
                // per-message budget, at odds with its message): nothing to keep it for
                Ok(Accepted::Duplicate) | Err(_) => self.deletable.push(seq),
            }
            // messages evicted to make room will not complete: their fragments go
            for evicted in self.reassembler.take_evicted() {
                let seqs = self.release(&evicted.id);
                self.deletable.extend(seqs);
            }
            self.cursor = seq.saturating_add(1);
        }
        complete
    }

    /// The caller kept message `id` durably: its fragments may go.
    pub fn handle_kept(&mut self, id: MessageId) {
        let seqs = self.release(&id);
        self.deletable.extend(seqs);
    }

    /// The caller could not keep message `id` (a transient failure): forget it and its
    /// reassembly, keep its fragments, and read them again from the oldest.
    pub fn handle_failed(&mut self, id: MessageId) {
        let seqs = self.release(&id);
        self.reassembler.forget(&id);
        if let Some(&oldest) = seqs.iter().min() {
            self.cursor = self.cursor.min(oldest);
        }
    }

    /// Seqs the caller may delete now (each handed out once).
    pub fn poll_deletable(&mut self) -> Vec<u64> {
        let mut seqs = std::mem::take(&mut self.deletable);
        seqs.sort_unstable();
        seqs.dedup();
        seqs
    }

    /// The deletion of `seqs` failed: hand them out again next time.
    pub fn handle_delete_failed(&mut self, seqs: Vec<u64>) {
        self.deletable.extend(seqs);
    }

    /// When the oldest reassembly in progress gives up, if any.
    pub fn poll_timeout(&self) -> Option<Duration> {
        self.reassembler.next_deadline()
    }

    /// Gives up reassemblies idle too long at `now`: their fragments are deleted (the rest
    /// of such a message is not coming).
    pub fn handle_timeout(&mut self, now: Duration) {
        for abandoned in self.reassembler.expire(now) {
            let seqs = self.release(&abandoned.id);
            self.deletable.extend(seqs);
        }
    }

    /// One round on `mailbox` of `backend` at `now` (core clock; `unix_now` for the
    /// backend's TTL): reads up to `batch` payloads, hands each complete message to `keep`
    /// (true: kept durably), deletes what may go. Returns how many messages were kept.
    pub fn round<B: MailboxBackend + ?Sized>(
        &mut self,
        backend: &mut B,
        mailbox: &MailboxId,
        batch: usize,
        now: Duration,
        unix_now: u64,
        keep: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Result<usize, BackendError> {
        self.handle_timeout(now);
        let items = backend.fetch(mailbox, self.read_from(), batch, unix_now)?;
        self.last_fetched = items.len();
        let mut kept = 0;
        for message in self.handle_pulled(now, items) {
            if keep(&message.bytes) {
                self.handle_kept(message.id);
                kept += 1;
            } else {
                self.handle_failed(message.id);
            }
        }
        let gone = self.poll_deletable();
        if !gone.is_empty()
            && let Err(e) = backend.delete(mailbox, &gone)
        {
            self.handle_delete_failed(gone);
            return Err(e);
        }
        Ok(kept)
    }

    fn need(&mut self, seq: u64, id: MessageId) {
        self.needed.insert(seq, id);
        self.seqs_of.entry(id).or_default().push(seq);
    }

    fn release(&mut self, id: &MessageId) -> Vec<u64> {
        let seqs = self.seqs_of.remove(id).unwrap_or_default();
        for seq in &seqs {
            self.needed.remove(seq);
        }
        seqs
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::fragment::split_message;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    /// A mailbox's contents: seq → payload, read like the store (from a seq, oldest first).
    #[derive(Default)]
    struct Mailbox {
        next: u64,
        items: BTreeMap<u64, Vec<u8>>,
    }

    impl Mailbox {
        fn post(&mut self, rng: &mut ChaCha20Rng, message: &[u8]) -> usize {
            let (_, fragments) = split_message(rng, message).unwrap();
            let n = fragments.len();
            for fragment in fragments {
                self.put(fragment_payload(rng, fragment));
            }
            n
        }
        fn put(&mut self, payload: Vec<u8>) -> u64 {
            let seq = self.next;
            self.next += 1;
            self.items.insert(seq, payload);
            seq
        }
        fn read(&self, from: u64, max: usize) -> Vec<(u64, Vec<u8>)> {
            self.items
                .range(from..)
                .take(max)
                .map(|(s, p)| (*s, p.clone()))
                .collect()
        }
        fn delete(&mut self, seqs: &[u64]) {
            for s in seqs {
                self.items.remove(s);
            }
        }
    }

    fn key() -> ReceiveKey {
        ReceiveKey::from_ed25519_seed(&[42; 32])
    }

    fn fragment_payload(rng: &mut ChaCha20Rng, fragment: crate::Fragment) -> Vec<u8> {
        crate::delivery::test_payloads::sealed(rng, &key(), &MixPayload::Fragment { fragment })
    }

    /// One shell round: read, hand each message to `keep`, delete what the core allows.
    fn round(
        core: &mut OwnMailbox,
        mailbox: &mut Mailbox,
        now: Duration,
        max: usize,
        keep: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Vec<Vec<u8>> {
        core.handle_timeout(now);
        let mut kept = Vec::new();
        for m in core.handle_pulled(now, mailbox.read(core.read_from(), max)) {
            if keep(&m.bytes) {
                kept.push(m.bytes);
                core.handle_kept(m.id);
            } else {
                core.handle_failed(m.id);
            }
        }
        mailbox.delete(&core.poll_deletable());
        kept
    }

    fn message(len: usize, tag: u8) -> Vec<u8> {
        (0..len).map(|i| (i as u8) ^ tag).collect()
    }

    #[test]
    fn a_message_is_handed_over_once_and_then_deleted() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let mut mailbox = Mailbox::default();
        let body = message(5_000, 1);
        assert!(mailbox.post(&mut rng, &body) > 1);
        let mut core = OwnMailbox::for_key(key());
        let kept = round(&mut core, &mut mailbox, Duration::ZERO, 256, &mut |_| true);
        assert_eq!(kept, vec![body]);
        assert!(mailbox.items.is_empty());
        let again = round(&mut core, &mut mailbox, Duration::ZERO, 256, &mut |_| true);
        assert!(again.is_empty());
    }

    #[test]
    fn a_failed_keep_deletes_nothing_and_the_next_round_rebuilds_the_message() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let mut mailbox = Mailbox::default();
        let body = message(5_000, 2);
        let fragments = mailbox.post(&mut rng, &body);
        let mut core = OwnMailbox::for_key(key());
        let kept = round(&mut core, &mut mailbox, Duration::ZERO, 256, &mut |_| false);
        assert!(kept.is_empty());
        assert_eq!(mailbox.items.len(), fragments, "nothing of it deleted");
        assert_eq!(core.read_from(), 0, "read again from its oldest fragment");
        let kept = round(&mut core, &mut mailbox, Duration::ZERO, 256, &mut |_| true);
        assert_eq!(kept, vec![body]);
        assert!(mailbox.items.is_empty());
    }

    #[test]
    fn a_failure_keeps_only_its_own_message_and_leaves_other_reassemblies_alone() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let mut mailbox = Mailbox::default();
        let first = message(3_000, 3);
        let second = message(3_000, 4);
        mailbox.post(&mut rng, &first);
        let second_fragments = mailbox.post(&mut rng, &second);
        let mut core = OwnMailbox::for_key(key());
        let mut calls = 0;
        let kept = round(&mut core, &mut mailbox, Duration::ZERO, 256, &mut |m| {
            calls += 1;
            m != first.as_slice()
        });
        assert_eq!(kept, vec![second.clone()]);
        assert_eq!(calls, 2);
        assert_eq!(
            mailbox.items.len(),
            mailbox.next as usize - second_fragments
        );
        let kept = round(&mut core, &mut mailbox, Duration::ZERO, 256, &mut |_| true);
        assert_eq!(kept, vec![first], "the second is not handed over again");
        assert!(mailbox.items.is_empty());
    }

    #[test]
    fn fragments_of_a_message_in_progress_stay_until_it_is_kept() {
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let body = message(5_000, 5);
        let (_, fragments) = split_message(&mut rng, &body).unwrap();
        let mut mailbox = Mailbox::default();
        let mut rest = fragments.into_iter();
        mailbox.put(fragment_payload(&mut rng, rest.next().unwrap()));
        let mut core = OwnMailbox::for_key(key());
        assert!(round(&mut core, &mut mailbox, Duration::ZERO, 256, &mut |_| true).is_empty());
        assert_eq!(mailbox.items.len(), 1, "the first fragment is kept on disk");
        // a restart starts over from seq 0 and still completes the message
        let mut core = OwnMailbox::for_key(key());
        for f in rest {
            mailbox.put(fragment_payload(&mut rng, f));
        }
        let kept = round(
            &mut core,
            &mut mailbox,
            Duration::from_secs(1),
            256,
            &mut |_| true,
        );
        assert_eq!(kept, vec![body]);
        assert!(mailbox.items.is_empty());
    }

    #[test]
    fn reads_move_past_held_fragments_in_small_batches() {
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let body = message(6_000, 6);
        let mut mailbox = Mailbox::default();
        let n = mailbox.post(&mut rng, &body);
        let mut core = OwnMailbox::for_key(key());
        let mut kept = Vec::new();
        for _ in 0..n {
            kept.extend(round(
                &mut core,
                &mut mailbox,
                Duration::ZERO,
                1,
                &mut |_| true,
            ));
        }
        assert_eq!(kept, vec![body]);
        assert!(mailbox.items.is_empty());
    }

    #[test]
    fn junk_and_duplicates_are_deleted_at_once() {
        let mut rng = ChaCha20Rng::seed_from_u64(6);
        let mut mailbox = Mailbox::default();
        mailbox.put(b"not a payload".to_vec());
        mailbox.put(MixPayload::Drop.encode());
        let (_, fragments) = split_message(&mut rng, b"short").unwrap();
        let payload = fragment_payload(&mut rng, fragments[0].clone());
        mailbox.put(payload.clone());
        mailbox.put(payload.clone());
        let mut core = OwnMailbox::for_key(key());
        let kept = round(&mut core, &mut mailbox, Duration::ZERO, 256, &mut |_| true);
        assert_eq!(kept, vec![b"short".to_vec()]);
        assert!(mailbox.items.is_empty());
        // a late copy of a kept message goes too, without being handed over again
        mailbox.put(payload);
        assert!(round(&mut core, &mut mailbox, Duration::ZERO, 256, &mut |_| true).is_empty());
        assert!(mailbox.items.is_empty());
    }

    #[test]
    fn an_abandoned_reassembly_is_deleted_at_its_timeout() {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let (_, fragments) = split_message(&mut rng, &message(5_000, 7)).unwrap();
        let mut mailbox = Mailbox::default();
        mailbox.put(fragment_payload(&mut rng, fragments[0].clone()));
        let mut core = OwnMailbox::for_key(key());
        round(&mut core, &mut mailbox, Duration::ZERO, 256, &mut |_| true);
        let deadline = core.poll_timeout().unwrap();
        assert_eq!(deadline, crate::params::REASSEMBLY_IDLE_TIMEOUT);
        round(
            &mut core,
            &mut mailbox,
            deadline - Duration::from_secs(1),
            256,
            &mut |_| true,
        );
        assert_eq!(mailbox.items.len(), 1, "kept until the timeout");
        round(&mut core, &mut mailbox, deadline, 256, &mut |_| true);
        assert!(mailbox.items.is_empty(), "abandoned at the timeout");
        assert_eq!(core.poll_timeout(), None);
    }

    /// The first fragment of a message never sent, claiming `claim` bytes.
    fn claim(rng: &mut ChaCha20Rng, claim: usize) -> crate::Fragment {
        crate::Fragment {
            message: MessageId::random(rng),
            total_len: claim as u32,
            index: 0,
            count: crate::fragment::fragment_count(claim) as u32,
            data: vec![0xAA; crate::params::FRAGMENT_DATA_BYTES],
        }
    }

    #[test]
    fn sixteen_claims_of_4_mib_do_not_stall_the_mailbox() {
        let mut rng = ChaCha20Rng::seed_from_u64(8);
        let mut mailbox = Mailbox::default();
        for _ in 0..16 {
            let f = claim(&mut rng, crate::params::MAX_MESSAGE_BYTES);
            mailbox.put(fragment_payload(&mut rng, f));
        }
        let body = message(3 * crate::params::FRAGMENT_DATA_BYTES - 7, 8);
        assert_eq!(mailbox.post(&mut rng, &body), 3);
        let mut core = OwnMailbox::for_key(key());
        let kept = round(&mut core, &mut mailbox, Duration::ZERO, 256, &mut |_| true);
        assert!(
            kept == vec![body],
            "the honest message is read in the same round"
        );
        assert_eq!(mailbox.items.len(), 16, "only the claims wait");
        // they go at the idle limit
        let limit = crate::params::REASSEMBLY_IDLE_TIMEOUT;
        round(&mut core, &mut mailbox, limit, 256, &mut |_| true);
        assert!(mailbox.items.is_empty());
    }

    #[test]
    fn evicted_partials_leave_the_mailbox() {
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let limits = ReassemblyLimits {
            max_bytes: 4 * crate::params::REASSEMBLY_FRAGMENT_CHARGE,
            ..ReassemblyLimits::default()
        };
        let mut core = OwnMailbox::new(limits, key());
        let mut mailbox = Mailbox::default();
        for _ in 0..20 {
            let f = claim(&mut rng, crate::params::MAX_MESSAGE_BYTES);
            mailbox.put(fragment_payload(&mut rng, f));
        }
        let body = message(2 * crate::params::FRAGMENT_DATA_BYTES, 9);
        mailbox.post(&mut rng, &body);
        let kept = round(&mut core, &mut mailbox, Duration::ZERO, 256, &mut |_| true);
        assert_eq!(kept, vec![body]);
        assert!(
            mailbox.items.len() <= 4,
            "what the budget evicted is deleted: {} left",
            mailbox.items.len()
        );
    }

    #[test]
    fn a_failed_delete_is_offered_again() {
        let mut core = OwnMailbox::for_key(key());
        core.handle_pulled(Duration::ZERO, vec![(0, b"junk".to_vec())]);
        let seqs = core.poll_deletable();
        assert_eq!(seqs, vec![0]);
        assert!(core.poll_deletable().is_empty());
        core.handle_delete_failed(seqs);
        assert_eq!(core.poll_deletable(), vec![0]);
    }
}
