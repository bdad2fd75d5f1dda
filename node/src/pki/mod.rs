//! The node's side of the gossip PKI: gossipsub validation, full sync on connect, epoch
//! ticks, key installation and topology updates, all decided by `wesh_pki::PkiAgent`.

pub mod convert;
pub mod service;
pub mod show;
pub mod sync;
