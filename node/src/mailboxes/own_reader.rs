//! Workers that read a provider's own mailboxes (replica mailboxes, the rendezvous
//! service mailbox): a round every few hundred milliseconds on a blocking thread, with
//! a reassembler kept across rounds (a message's fragments may span rounds).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use wesh_mix::{Reassembler, ReassemblyLimits};

/// Runs `round(reassembler, origin)` every `every` until `shutdown`; `origin` is the
/// worker's start, the clock the reassembler's timeouts count from.
pub fn spawn_own_reader<F>(every: Duration, mut shutdown: watch::Receiver<bool>, round: F)
where
    F: Fn(&mut Reassembler, Instant) + Send + Sync + 'static,
{
    let round = Arc::new(round);
    tokio::spawn(async move {
        let reassembler = Arc::new(Mutex::new(Reassembler::new(ReassemblyLimits::default())));
        let origin = crate::clock::monotonic();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = shutdown.changed() => return,
            }
            let f = round.clone();
            let r = reassembler.clone();
            let _ = tokio::task::spawn_blocking(move || {
                let mut r = r.lock().unwrap_or_else(PoisonError::into_inner);
                f(&mut r, origin);
            })
            .await;
        }
    });
}
