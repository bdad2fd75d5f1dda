//! Putting fragments back together, in any order, with bounded memory.
//!
//! A message holds only what has arrived of it, each fragment charged
//! [`REASSEMBLY_FRAGMENT_CHARGE`] against the reassembler's byte budget, so a first fragment
//! that claims 4 MiB costs what it carries, not what it claims. When a new fragment would
//! exceed the byte or the message budget, the message in progress that made progress
//! longest ago is evicted (reported by [`Reassembler::take_evicted`]): new messages are
//! never refused for room, and evicting an honest message that is still arriving takes a
//! whole budget of newer fragments between two of its own (spec/security/reassembly.md).
//! A claim beyond the per-message budget is refused before it touches any state. A message
//! with no new fragment for the idle timeout is dropped and reported by [`Reassembler::expire`].

use crate::fragment::{Fragment, FragmentError, MessageId};
use crate::params::{
    FRAGMENT_DATA_BYTES, REASSEMBLY_COMPLETED_REMEMBERED, REASSEMBLY_FRAGMENT_CHARGE,
    REASSEMBLY_IDLE_TIMEOUT, REASSEMBLY_MAX_BYTES, REASSEMBLY_MAX_MESSAGE_BYTES,
    REASSEMBLY_MAX_MESSAGES,
};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::time::Duration;
use thiserror::Error;

/// Bounds of a [`Reassembler`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReassemblyLimits {
    /// Bytes charged at most for messages in progress ([`REASSEMBLY_FRAGMENT_CHARGE`] per
    /// fragment held).
    pub max_bytes: usize,
    /// Messages in progress at most.
    pub max_messages: usize,
    /// Largest message accepted: a fragment claiming more is refused.
    pub max_message_bytes: usize,
    /// A message with no progress for this long is dropped.
    pub idle_timeout: Duration,
}

impl Default for ReassemblyLimits {
    fn default() -> Self {
        ReassemblyLimits {
            max_bytes: REASSEMBLY_MAX_BYTES,
            max_messages: REASSEMBLY_MAX_MESSAGES,
            max_message_bytes: REASSEMBLY_MAX_MESSAGE_BYTES,
            idle_timeout: REASSEMBLY_IDLE_TIMEOUT,
        }
    }
}

/// Why a fragment was refused.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum ReassemblyError {
    #[error(transparent)]
    Malformed(#[from] FragmentError),
    #[error("fragment disagrees with earlier fragments of its message on length or count")]
    Inconsistent,
    #[error("a {claim}-byte message exceeds this reassembler's {max}-byte message budget")]
    TooLarge { claim: usize, max: usize },
    /// Only with limits smaller than one fragment: room is otherwise made by eviction.
    #[error("a fragment does not fit: {reserved} of {max} bytes held by its own message")]
    MemoryFull { reserved: usize, max: usize },
}

/// What happened to an accepted fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// Stored; the message now has `received` of `count` fragments.
    Stored { received: u32, count: u32 },
    /// Already had it (or the message is already complete): nothing stored.
    Duplicate,
    /// The last missing fragment: here is the whole message.
    Complete { id: MessageId, bytes: Vec<u8> },
}

/// An incomplete message dropped (for lack of progress, or evicted for room).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Abandoned {
    pub id: MessageId,
    pub received: u32,
    pub count: u32,
}

struct Partial {
    total_len: u32,
    count: u32,
    /// What arrived so far, by fragment index: memory follows arrivals, not the claim.
    fragments: BTreeMap<u32, Vec<u8>>,
    last_progress: Duration,
    /// Tie-break among messages with the same `last_progress` (later progress, larger).
    tick: u64,
}

impl Partial {
    fn charge(&self) -> usize {
        self.fragments.len() * REASSEMBLY_FRAGMENT_CHARGE
    }

    fn abandoned(&self, id: MessageId) -> Abandoned {
        Abandoned {
            id,
            received: u32::try_from(self.fragments.len()).unwrap_or(u32::MAX),
            count: self.count,
        }
    }
}

/// Reassembly state of one client or one own mailbox.
pub struct Reassembler {
    limits: ReassemblyLimits,
    partial: HashMap<MessageId, Partial>,
    /// Messages in progress by last progress, oldest first: the eviction order and the
    /// next idle deadline.
    by_progress: BTreeSet<(Duration, u64, MessageId)>,
    tick: u64,
    reserved: usize,
    evicted: Vec<Abandoned>,
    completed: HashSet<MessageId>,
    completed_order: VecDeque<MessageId>,
}

impl Reassembler {
    pub fn new(limits: ReassemblyLimits) -> Self {
        Reassembler {
            limits,
            partial: HashMap::new(),
            by_progress: BTreeSet::new(),
            tick: 0,
            reserved: 0,
            evicted: Vec::new(),
            completed: HashSet::new(),
            completed_order: VecDeque::new(),
        }
    }

    pub fn limits(&self) -> ReassemblyLimits {
        self.limits
    }

    /// Messages in progress.
    pub fn in_progress(&self) -> usize {
        self.partial.len()
    }

    /// Bytes charged for messages in progress (never above `limits().max_bytes`).
    pub fn reserved_bytes(&self) -> usize {
        self.reserved
    }

    /// Whether fragment `index` of message `id` is held (its message still in progress):
    /// what a durable copy of the fragments should keep.
    pub fn holds(&self, id: &MessageId, index: u32) -> bool {
        self.partial
            .get(id)
            .is_some_and(|p| p.fragments.contains_key(&index))
    }

    /// Messages evicted for room since the last call (each reported once).
    pub fn take_evicted(&mut self) -> Vec<Abandoned> {
        std::mem::take(&mut self.evicted)
    }

    /// Takes one fragment received at `now`.
    pub fn accept(
        &mut self,
        fragment: Fragment,
        now: Duration,
    ) -> Result<Accepted, ReassemblyError> {
        fragment.validate()?;
        let claim = fragment.total_len as usize;
        if claim > self.limits.max_message_bytes {
            return Err(ReassemblyError::TooLarge {
                claim,
                max: self.limits.max_message_bytes,
            });
        }
        let id = fragment.message;
        if self.completed.contains(&id) {
            return Ok(Accepted::Duplicate);
        }
        let Some(partial) = self.partial.get(&id) else {
            if fragment.count == 1 {
                // A one-fragment message needs no state beyond the duplicate filter.
                self.remember_completed(id);
                return Ok(Accepted::Complete {
                    id,
                    bytes: fragment.data,
                });
            }
            self.make_room(None)?;
            self.tick += 1;
            let mut fragments = BTreeMap::new();
            fragments.insert(fragment.index, fragment.data);
            self.partial.insert(
                id,
                Partial {
                    total_len: fragment.total_len,
                    count: fragment.count,
                    fragments,
                    last_progress: now,
                    tick: self.tick,
                },
            );
            self.by_progress.insert((now, self.tick, id));
            self.reserved += REASSEMBLY_FRAGMENT_CHARGE;
            return Ok(Accepted::Stored {
                received: 1,
                count: fragment.count,
            });
        };
        if partial.total_len != fragment.total_len || partial.count != fragment.count {
            return Err(ReassemblyError::Inconsistent);
        }
        if partial.fragments.contains_key(&fragment.index) {
            return Ok(Accepted::Duplicate);
        }
        if partial.fragments.len() + 1 == partial.count as usize {
            // the last missing fragment: no room needed, the message leaves
            let Some(mut done) = self.remove(&id) else {
                return Err(ReassemblyError::Inconsistent);
            };
            done.fragments.insert(fragment.index, fragment.data);
            let mut bytes = vec![0; done.total_len as usize];
            for (index, data) in done.fragments {
                let start = (index as usize) * FRAGMENT_DATA_BYTES;
                bytes
                    .get_mut(start..start + data.len())
                    .ok_or(ReassemblyError::Inconsistent)?
                    .copy_from_slice(&data);
            }
            self.remember_completed(id);
            return Ok(Accepted::Complete { id, bytes });
        }
        self.make_room(Some(&id))?;
        self.tick += 1;
        let tick = self.tick;
        let Some(partial) = self.partial.get_mut(&id) else {
            return Err(ReassemblyError::Inconsistent);
        };
        self.by_progress
            .remove(&(partial.last_progress, partial.tick, id));
        partial.fragments.insert(fragment.index, fragment.data);
        partial.last_progress = now;
        partial.tick = tick;
        self.by_progress.insert((now, tick, id));
        self.reserved += REASSEMBLY_FRAGMENT_CHARGE;
        Ok(Accepted::Stored {
            received: u32::try_from(partial.fragments.len()).unwrap_or(u32::MAX),
            count: partial.count,
        })
    }

    /// Evicts the messages that progressed longest ago (never `growing`, the message the
    /// new fragment belongs to) until one more fragment fits, and, for a new message
    /// (`growing` is `None`), one more message.
    fn make_room(&mut self, growing: Option<&MessageId>) -> Result<(), ReassemblyError> {
        loop {
            let bytes_ok =
                self.reserved.saturating_add(REASSEMBLY_FRAGMENT_CHARGE) <= self.limits.max_bytes;
            let count_ok = growing.is_some() || self.partial.len() < self.limits.max_messages;
            if bytes_ok && count_ok {
                return Ok(());
            }
            let victim = self
                .by_progress
                .iter()
                .map(|(_, _, id)| *id)
                .find(|id| Some(id) != growing);
            let Some(victim) = victim else {
                return Err(ReassemblyError::MemoryFull {
                    reserved: self.reserved,
                    max: self.limits.max_bytes,
                });
            };
            if let Some(p) = self.remove(&victim) {
                self.evicted.push(p.abandoned(victim));
            }
        }
    }

    /// Removes a message in progress from every table.
    fn remove(&mut self, id: &MessageId) -> Option<Partial> {
        let p = self.partial.remove(id)?;
        self.by_progress.remove(&(p.last_progress, p.tick, *id));
        self.reserved = self.reserved.saturating_sub(p.charge());
        Some(p)
    }

    fn remember_completed(&mut self, id: MessageId) {
        if self.completed.insert(id) {
            self.completed_order.push_back(id);
        }
        while self.completed_order.len() > REASSEMBLY_COMPLETED_REMEMBERED {
            if let Some(old) = self.completed_order.pop_front() {
                self.completed.remove(&old);
            }
        }
    }

    /// Forgets message `id` entirely (in progress or completed), so its fragments are
    /// reassembled again when they come back: for a caller that could not keep it.
    pub fn forget(&mut self, id: &MessageId) {
        self.remove(id);
        if self.completed.remove(id) {
            self.completed_order.retain(|c| c != id);
        }
    }

    /// Drops every message idle since `now - idle_timeout` or longer, and reports them.
    pub fn expire(&mut self, now: Duration) -> Vec<Abandoned> {
        let timeout = self.limits.idle_timeout;
        let mut out = Vec::new();
        while let Some(&(last, _, id)) = self.by_progress.first() {
            if last.saturating_add(timeout) > now {
                break;
            }
            if let Some(p) = self.remove(&id) {
                out.push(p.abandoned(id));
            } else {
                self.by_progress.pop_first();
            }
        }
        out.sort_by_key(|a| a.id);
        out
    }

    /// When the next incomplete message times out.
    pub fn next_deadline(&self) -> Option<Duration> {
        self.by_progress
            .first()
            .map(|(last, _, _)| last.saturating_add(self.limits.idle_timeout))
    }
}
