//! The app core (sans I/O): what a device does as an app runs it, with a mixnet client
//! under it. [`WeshApp`] wraps a [`crate::messenger::WeshDevice`] and decides what an
//! incoming mailbox message is and whether it leaves the inbox, that every journal record
//! is persisted before anything its input produced is sent or answered, when to update
//! the rendezvous registration, when to renew a group's replication term, which histories to fetch after going offline (from
//! journaled cursors), and how each [`ApiRequest`] maps to a device call. The node's
//! shell (`node/src/wesh_app/`) moves bytes, writes what [`Action::Persist`] says and
//! wakes [`WeshApp::poll_timeout`]. `spec/wesh-over-mixnet.md` §7 is the prose version.

pub mod action;
pub mod api;
pub mod api_cookie;
pub mod api_session;
mod calls;
pub mod catch_up;
pub mod incoming;
pub mod link_confirmation;
pub mod replica_terms;
pub mod wesh_app;

pub use action::{Action, CallId, HistoryFetch};
pub use api::{ApiError, ApiRequest, ApiResponse, MessageView, MetadataView};
pub use api_cookie::ApiCookie;
pub use catch_up::FetchedPage;
pub use link_confirmation::{LinkConfirmation, LinkConfirmationError};
pub use wesh_app::WeshApp;
