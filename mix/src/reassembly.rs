//! Putting fragments back together, in any order, with bounded memory.
//!
//! A message reserves its whole declared length when its first fragment arrives, so the
//! byte limit holds however fragments interleave and an admitted message can always finish.
//! A message with no new fragment for the idle timeout is dropped and reported.

use crate::fragment::{Fragment, FragmentError, MessageId};
use crate::params::{
    FRAGMENT_DATA_BYTES, REASSEMBLY_COMPLETED_REMEMBERED, REASSEMBLY_IDLE_TIMEOUT,
    REASSEMBLY_MAX_BYTES, REASSEMBLY_MAX_MESSAGES,
};
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;
use thiserror::Error;

/// Bounds of a [`Reassembler`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReassemblyLimits {
    /// Bytes reserved at most by messages in progress.
    pub max_bytes: usize,
    /// Messages in progress at most.
    pub max_messages: usize,
    /// A message with no progress for this long is dropped.
    pub idle_timeout: Duration,
}

impl Default for ReassemblyLimits {
    fn default() -> Self {
        ReassemblyLimits {
            max_bytes: REASSEMBLY_MAX_BYTES,
            max_messages: REASSEMBLY_MAX_MESSAGES,
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
    #[error("{0} messages already in progress")]
    TooManyMessages(usize),
    #[error("a {need}-byte message does not fit: {reserved} of {max} bytes reserved")]
    MemoryFull {
        need: usize,
        reserved: usize,
        max: usize,
    },
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

/// An incomplete message dropped for lack of progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Abandoned {
    pub id: MessageId,
    pub received: u32,
    pub count: u32,
}

struct Partial {
    total_len: u32,
    count: u32,
    received: u32,
    /// The message buffer, allocated once; `have` says which slots are filled.
    buffer: Vec<u8>,
    have: Vec<bool>,
    last_progress: Duration,
}

/// Reassembly state of one client.
pub struct Reassembler {
    limits: ReassemblyLimits,
    partial: HashMap<MessageId, Partial>,
    reserved: usize,
    completed: HashSet<MessageId>,
    completed_order: VecDeque<MessageId>,
}

impl Reassembler {
    pub fn new(limits: ReassemblyLimits) -> Self {
        Reassembler {
            limits,
            partial: HashMap::new(),
            reserved: 0,
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

    /// Bytes reserved by messages in progress.
    pub fn reserved_bytes(&self) -> usize {
        self.reserved
    }

    /// Takes one fragment received at `now`.
    pub fn accept(
        &mut self,
        fragment: Fragment,
        now: Duration,
    ) -> Result<Accepted, ReassemblyError> {
        fragment.validate()?;
        if self.completed.contains(&fragment.message) {
            return Ok(Accepted::Duplicate);
        }
        let total = fragment.total_len as usize;
        if !self.partial.contains_key(&fragment.message) {
            if fragment.count == 1 {
                // A one-fragment message needs no state beyond the duplicate filter.
                self.remember_completed(fragment.message);
                return Ok(Accepted::Complete {
                    id: fragment.message,
                    bytes: fragment.data,
                });
            }
            if self.partial.len() >= self.limits.max_messages {
                return Err(ReassemblyError::TooManyMessages(self.partial.len()));
            }
            if self.reserved.saturating_add(total) > self.limits.max_bytes {
                return Err(ReassemblyError::MemoryFull {
                    need: total,
                    reserved: self.reserved,
                    max: self.limits.max_bytes,
                });
            }
            self.reserved += total;
            self.partial.insert(
                fragment.message,
                Partial {
                    total_len: fragment.total_len,
                    count: fragment.count,
                    received: 0,
                    buffer: vec![0; total],
                    have: vec![false; fragment.count as usize],
                    last_progress: now,
                },
            );
        }
        let Some(partial) = self.partial.get_mut(&fragment.message) else {
            return Err(ReassemblyError::Inconsistent);
        };
        if partial.total_len != fragment.total_len || partial.count != fragment.count {
            return Err(ReassemblyError::Inconsistent);
        }
        let index = fragment.index as usize;
        match partial.have.get(index) {
            Some(true) => return Ok(Accepted::Duplicate),
            Some(false) => {}
            None => return Err(ReassemblyError::Inconsistent),
        }
        let start = index * FRAGMENT_DATA_BYTES;
        let slot = partial
            .buffer
            .get_mut(start..start + fragment.data.len())
            .ok_or(ReassemblyError::Inconsistent)?;
        slot.copy_from_slice(&fragment.data);
        if let Some(h) = partial.have.get_mut(index) {
            *h = true;
        }
        partial.received += 1;
        partial.last_progress = now;
        if partial.received < partial.count {
            return Ok(Accepted::Stored {
                received: partial.received,
                count: partial.count,
            });
        }
        let id = fragment.message;
        let bytes = match self.partial.remove(&id) {
            Some(p) => p.buffer,
            None => return Err(ReassemblyError::Inconsistent),
        };
        self.reserved -= bytes.len();
        self.remember_completed(id);
        Ok(Accepted::Complete { id, bytes })
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
        if let Some(p) = self.partial.remove(id) {
            self.reserved -= p.buffer.len();
        }
        if self.completed.remove(id) {
            self.completed_order.retain(|c| c != id);
        }
    }

    /// Drops every message idle since `now - idle_timeout` or longer, and reports them.
    pub fn expire(&mut self, now: Duration) -> Vec<Abandoned> {
        let timeout = self.limits.idle_timeout;
        let stale: Vec<MessageId> = self
            .partial
            .iter()
            .filter(|(_, p)| p.last_progress + timeout <= now)
            .map(|(id, _)| *id)
            .collect();
        let mut out = Vec::with_capacity(stale.len());
        for id in stale {
            if let Some(p) = self.partial.remove(&id) {
                self.reserved -= p.buffer.len();
                out.push(Abandoned {
                    id,
                    received: p.received,
                    count: p.count,
                });
            }
        }
        out.sort_by_key(|a| a.id);
        out
    }

    /// When the next incomplete message times out.
    pub fn next_deadline(&self) -> Option<Duration> {
        self.partial
            .values()
            .map(|p| p.last_progress + self.limits.idle_timeout)
            .min()
    }
}
