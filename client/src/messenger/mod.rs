//! Wesh over the mixnet (sans I/O): how a device's contacts and groups map onto mailboxes,
//! contact requests through rendezvous mailboxes, linked devices, replication providers.
//! `spec/wesh-over-mixnet.md` is the prose version.

pub mod account_sync;
pub mod binding_record;
pub mod device;
pub mod envelope;
pub mod invitation;
pub mod journal;
pub mod params;
pub mod rendezvous_desk;
pub mod rendezvous_mailbox;
pub mod rendezvous_registrar;
pub mod rendezvous_wire;
pub mod replica;
pub mod replica_answer;
pub mod replica_gate;
pub mod replica_schedule;
pub mod sealed_box;

pub use device::{
    DirectContact, DirectLogs, GroupMessage, GroupMetadataView, GroupRole, Outgoing, OutgoingKind,
    WeshDevice, WeshEvent, WeshStats, replica_mailbox, replica_mailbox_seed,
};
pub use envelope::MailboxAddress;
pub use journal::{DeviceLink, JournalRecord, RestoreError};
