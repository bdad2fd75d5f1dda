//! What can go wrong while building or driving the in-memory network.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum MemNetError {
    #[error("rate: {0}")]
    Rate(#[from] wesh_mix::RateError),
    #[error("topology: {0}")]
    Build(#[from] wesh_mix::BuildError),
    #[error("wesh: {0}")]
    Wesh(#[from] wesh_client::WeshError),
    #[error("enqueue: {0}")]
    Enqueue(#[from] wesh_mix::EnqueueError),
    #[error("mailbox: {0}")]
    Mailbox(#[from] wesh_mix::mailbox::ClientError),
    #[error("mailbox backend: {0}")]
    Backend(#[from] wesh_mix::mailbox::BackendError),
    #[error("no client {0}")]
    NoClient(usize),
    #[error("client {0} has no Wesh device")]
    NoDevice(usize),
    #[error("unknown provider")]
    UnknownProvider,
    #[error("client {0} is online already")]
    AlreadyOnline(usize),
    #[error("replication provider refused: {0}")]
    ReplicaRefused(String),
    #[error("unexpected answer from the replication provider")]
    ReplicaUnexpected,
    #[error("the condition still fails at {0:?} of virtual time")]
    Timeout(std::time::Duration),
}
