//! A direct link in memory: two sessions, their syncs, and the bytes between them.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use rand_chacha::ChaCha20Rng;
use wesh_client::direct::{
    DirectError, DirectEvent, DirectKey, DirectSession, DirectSync, SharedGroup, SyncLogs,
};

/// One end of a link.
pub struct End {
    pub session: DirectSession,
    pub sync: Option<DirectSync>,
    pub shared: Vec<SharedGroup>,
    pub outbox: Vec<u8>,
}

impl End {
    pub fn new(keys: Vec<DirectKey>, rng: &mut ChaCha20Rng) -> Self {
        let (session, hello) = DirectSession::start(keys, rng);
        End {
            session,
            sync: None,
            shared: Vec::new(),
            outbox: hello,
        }
    }

    /// Takes bytes from the peer; queues what to send back.
    pub fn feed(&mut self, bytes: &[u8], logs: &mut impl SyncLogs) -> Result<(), DirectError> {
        for event in self.session.receive(bytes)? {
            match event {
                DirectEvent::Send(f) => self.outbox.extend(f),
                DirectEvent::Matched(shared) => {
                    self.shared = shared.clone();
                    let mut sync = DirectSync::new(shared);
                    for m in sync.start(logs) {
                        let f = self.session.send(&m)?;
                        self.outbox.extend(f);
                    }
                    self.sync = Some(sync);
                }
                DirectEvent::Message(m) => {
                    let sync = self.sync.as_mut().expect("sync after matching");
                    for reply in sync.receive(&m, logs)? {
                        let f = self.session.send(&reply)?;
                        self.outbox.extend(f);
                    }
                }
            }
        }
        Ok(())
    }
}

/// Moves bytes between two ends (each with its device's logs) until both are quiet or
/// `budget` bytes have crossed (a cut).
pub fn run(
    ea: &mut End,
    la: &mut impl SyncLogs,
    eb: &mut End,
    lb: &mut impl SyncLogs,
    budget: usize,
) {
    let mut crossed = 0;
    loop {
        let to_b = std::mem::take(&mut ea.outbox);
        let to_a = std::mem::take(&mut eb.outbox);
        if to_a.is_empty() && to_b.is_empty() {
            break;
        }
        let cut_b = to_b.len().min(budget.saturating_sub(crossed));
        crossed += cut_b;
        eb.feed(&to_b[..cut_b], lb).unwrap();
        let cut_a = to_a.len().min(budget.saturating_sub(crossed));
        crossed += cut_a;
        ea.feed(&to_a[..cut_a], la).unwrap();
        if crossed >= budget {
            break;
        }
    }
    // the link ends: each end keeps what it received
    if let Some(s) = ea.sync.as_mut() {
        s.finish(la).unwrap();
    }
    if let Some(s) = eb.sync.as_mut() {
        s.finish(lb).unwrap();
    }
}
