//! The device's groups as a direct link sees them (spec/direct.md): their direct keys,
//! and their logs for [`DirectSync`](crate::direct::DirectSync). Entries that come over a
//! link go through [`WeshDevice::ingest_history`], the same checks, processing and
//! journal as entries from the mixnet or a replication provider.

use super::WeshDevice;
use crate::direct::{DirectKey, SyncLogs, Verified};
use crate::entry::{Entry, EntryHash, LogKind};
use crate::error::{Result, WeshError};
use crate::log::Log;

impl WeshDevice {
    /// Every group this device is in (contact and account groups included) with its
    /// direct key, in a fixed order: a direct session is started with these keys, and
    /// its group indices are indices into this list.
    pub fn direct_groups(&self) -> Result<Vec<([u8; 32], DirectKey)>> {
        self.groups
            .iter()
            .map(|(id, g)| {
                let key = DirectKey::derive(g.session.secrets().secret().expose(), id)?;
                Ok((*id, key))
            })
            .collect()
    }

    fn log_of(&self, group: &[u8; 32], log: LogKind) -> Option<&Log> {
        let g = self.groups.get(group)?;
        Some(match log {
            LogKind::Metadata => g.session.metadata_log(),
            LogKind::Message => g.session.message_log(),
        })
    }
}

/// One link's view of the device: group index (as in [`WeshDevice::direct_groups`] when
/// the session started) → group.
pub struct DirectLogs<'a> {
    pub device: &'a mut WeshDevice,
    pub groups: Vec<[u8; 32]>,
}

impl DirectLogs<'_> {
    fn log(&self, group: usize, log: LogKind) -> Option<&Log> {
        self.device.log_of(self.groups.get(group)?, log)
    }
}

impl SyncLogs for DirectLogs<'_> {
    fn heads(&self, group: usize, log: LogKind) -> Vec<EntryHash> {
        self.log(group, log).map(Log::heads).unwrap_or_default()
    }

    fn contains(&self, group: usize, log: LogKind, hash: &EntryHash) -> bool {
        self.log(group, log).is_some_and(|l| l.contains(hash))
    }

    fn missing(&self, group: usize, log: LogKind) -> Vec<EntryHash> {
        self.log(group, log)
            .map(Log::missing_parents)
            .unwrap_or_default()
    }

    fn encoded(&self, group: usize, log: LogKind, hash: &EntryHash) -> Option<Vec<u8>> {
        self.log(group, log)?.get(hash).map(Entry::encode)
    }

    fn verify(&self, group: usize, log: LogKind, bytes: &[u8]) -> Result<Verified> {
        let l = self
            .log(group, log)
            .ok_or(WeshError::InvalidParameter("no such group on this link"))?;
        let entry = Entry::decode_verified(bytes, l.verifier())?;
        if entry.log() != log {
            return Err(WeshError::WrongLog);
        }
        let clock = entry.clock();
        Ok(Verified {
            hash: *entry.hash(),
            parents: entry.parents().to_vec(),
            time: clock.time,
            author: clock.id,
        })
    }

    fn keep(&mut self, group: usize, log: LogKind, entries: Vec<Vec<u8>>) -> Result<u64> {
        let group_id = *self
            .groups
            .get(group)
            .ok_or(WeshError::InvalidParameter("no such group on this link"))?;
        let before = self.log(group, log).map_or(0, Log::len);
        self.device.ingest_history(group_id, entries)?;
        let after = self.log(group, log).map_or(0, Log::len);
        Ok(after.saturating_sub(before) as u64)
    }
}
