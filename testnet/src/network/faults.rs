//! The faults the testnet plays at its relays, installed through the shell's
//! [`RelayHook`] hook: a provider that replays everything it forwards
//! (`--replay-attack`) and a mix that drops a share of it (`--dropping-mix`).

use std::sync::Arc;
use wesh_shell::drivers::packet_path::{FaultAction, RelayHook};

/// Sends every forwarded packet twice: the next hop's replay filter must drop the copy.
struct Replayer;

impl RelayHook for Replayer {
    fn on_forward(&self) -> FaultAction {
        FaultAction::Duplicate
    }
}

/// Drops each forwarded packet with probability `share` (a cheating or broken mix).
struct Dropper {
    share: f64,
}

impl RelayHook for Dropper {
    fn on_forward(&self) -> FaultAction {
        if rand::RngExt::random_bool(&mut rand::rng(), self.share) {
            FaultAction::Drop
        } else {
            FaultAction::Pass
        }
    }
}

/// The fault of one relay: a replayer, a dropper, or none.
pub fn relay_fault(replays: bool, drop_share: f64) -> Option<Arc<dyn RelayHook>> {
    if replays {
        Some(Arc::new(Replayer))
    } else if drop_share > 0.0 {
        Some(Arc::new(Dropper {
            share: drop_share.min(1.0),
        }))
    } else {
        None
    }
}
