//! View consistency gate.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use wesh_pki::{PkiParams, ViewCheck, ViewStatus};

fn params(min_samples: usize, percent: u8) -> PkiParams {
    PkiParams {
        view_min_samples: min_samples,
        view_confirm_percent: percent,
        ..PkiParams::default()
    }
}

#[test]
fn confirms_only_with_enough_agreeing_samples() {
    let ours = [1u8; 32];
    let theirs = [2u8; 32];
    let mut check: ViewCheck<u32> = ViewCheck::new(7, ours, &params(3, 67));
    assert!(check.record(1, ours));
    assert!(check.record(2, ours));
    assert_eq!(
        check.status(),
        ViewStatus::InsufficientSamples {
            samples: 2,
            needed: 3
        }
    );
    assert!(!check.is_confirmed());
    assert!(!check.record(3, theirs));
    // 2 of 3 = 66.7% < 67%.
    assert_eq!(
        check.status(),
        ViewStatus::Disputed {
            agreeing: 2,
            samples: 3
        }
    );
    assert!(check.record(4, ours));
    // 3 of 4 = 75%.
    assert_eq!(
        check.status(),
        ViewStatus::Confirmed {
            agreeing: 3,
            samples: 4
        }
    );
    assert_eq!(check.disagreeing(), 1);
    assert_eq!(check.disagreements_recorded(), 1);
}

#[test]
fn one_vote_per_peer_and_local_changes_rejudge() {
    let ours = [1u8; 32];
    let theirs = [2u8; 32];
    let mut check: ViewCheck<&str> = ViewCheck::new(7, ours, &params(2, 100));
    for _ in 0..10 {
        check.record("chatty", ours);
    }
    assert_eq!(
        check.status(),
        ViewStatus::InsufficientSamples {
            samples: 1,
            needed: 2
        }
    );
    check.record("other", theirs);
    assert_eq!(
        check.status(),
        ViewStatus::Disputed {
            agreeing: 1,
            samples: 2
        }
    );
    // We learn the descriptor we were missing: our digest now matches "other".
    check.set_local_digest(theirs);
    assert_eq!(check.disagreeing(), 1);
    check.record("chatty", theirs);
    assert!(check.is_confirmed());
    check.forget(&"chatty");
    assert!(!check.is_confirmed());
    assert_eq!(check.epoch(), 7);
}
