//! Durable storage of the node (rocksdb). One database per node; each concern gets its own
//! column families.

pub mod client_store;
pub mod mailbox_backend;
pub mod mailbox_store;
pub mod replica_store;
pub mod reward_store;
pub mod spent_store;

pub use mailbox_store::{
    ExpireReport, MailboxLimits, MailboxStore, MailboxUsage, Refusal, Registered, StoreError,
    params,
};
pub use wesh_mix::mailbox::store_layout::MailboxId;
