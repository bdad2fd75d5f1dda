//! Direct local links (spec/direct.md): devices near each other find the groups they
//! share and exchange their entries with no provider or mix in between.
//!
//! - [`beacon`]: what a device broadcasts, recognisable only by members;
//! - [`session`]: one link: a hello, group offers bound to the session, then encrypted
//!   messages;
//! - [`sync`]: the shared groups' logs brought level over a session;
//! - [`mail`]: mailbox mail carried over a session for a peer that takes it;
//! - [`frame`]: the length-prefixed frames under both.

pub mod beacon;
pub mod frame;
pub mod mail;
pub mod session;
pub mod sync;

pub use beacon::{BeaconSet, DirectKey};
pub use mail::{Address, DirectMail, Mail};
pub use session::{DirectError, DirectEvent, DirectSession, SharedGroup};
pub use sync::{DirectSync, SyncLogs, SyncStats, Verified};
