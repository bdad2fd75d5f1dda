//! What a global passive observer sees of a run: every frame put on a link, when, and
//! between which ends (never its bytes). The anonymity lab's adversary starts from this.

use std::time::Duration;
use wesh_mix::NodeId;

/// One end of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Endpoint {
    /// A client, by its index in the run.
    Client(usize),
    /// A mix or provider.
    Relay(NodeId),
}

/// One frame on a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameSeen {
    pub sent_at: Duration,
    pub from: Endpoint,
    pub to: NodeId,
}

/// The frames seen while observation is on (off by default: a long run sees millions).
#[derive(Debug, Default)]
pub struct LinkObserver {
    on: bool,
    frames: Vec<FrameSeen>,
}

impl LinkObserver {
    pub fn set_on(&mut self, on: bool) {
        self.on = on;
    }

    pub(crate) fn saw(&mut self, sent_at: Duration, from: Endpoint, to: NodeId) {
        if self.on {
            self.frames.push(FrameSeen { sent_at, from, to });
        }
    }

    pub fn frames(&self) -> &[FrameSeen] {
        &self.frames
    }

    /// Hands over what was seen so far and starts afresh.
    pub fn take(&mut self) -> Vec<FrameSeen> {
        std::mem::take(&mut self.frames)
    }
}
