//! What a device reads from a direct link (spec/direct.md): frames into a
//! `DirectSession` (hello, offer, sealed messages), and sync and mail messages as the
//! layer above reads them. Asserts: nothing panics; a session that refused input refuses
//! everything after; nothing reaches the logs (they verify every entry, and these bytes
//! are not entries of any group).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use wesh_client::direct::{
    DirectError, DirectKey, DirectMail, DirectSession, DirectSync, SharedGroup, SyncLogs,
    Verified,
};
use wesh_client::entry::{EntryHash, LogKind};

/// Logs that hold nothing and verify nothing.
struct NoLogs {
    kept: u64,
}

impl SyncLogs for NoLogs {
    fn heads(&self, _: usize, _: LogKind) -> Vec<EntryHash> {
        Vec::new()
    }
    fn contains(&self, _: usize, _: LogKind, _: &EntryHash) -> bool {
        false
    }
    fn missing(&self, _: usize, _: LogKind) -> Vec<EntryHash> {
        Vec::new()
    }
    fn encoded(&self, _: usize, _: LogKind, _: &EntryHash) -> Option<Vec<u8>> {
        None
    }
    fn verify(&self, _: usize, _: LogKind, _: &[u8]) -> wesh_client::Result<Verified> {
        Err(wesh_client::WeshError::InvalidParameter("not an entry"))
    }
    fn keep(&mut self, _: usize, _: LogKind, e: Vec<Vec<u8>>) -> wesh_client::Result<u64> {
        self.kept += e.len() as u64;
        Ok(0)
    }
}

fuzz_target!(|data: &[u8]| {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let Ok(key) = DirectKey::derive(&[1; 32], &[2; 32]) else {
        return;
    };
    let (mut session, _) = DirectSession::start(vec![key], &mut rng);
    if session.receive(data).is_err() {
        assert!(matches!(session.receive(b"x"), Err(DirectError::Failed(_))));
    }

    // the layer above: one shared group whose channel the input's bytes 1..17 name
    let mut channel = [0u8; 16];
    if let Some(c) = data.get(1..17) {
        channel.copy_from_slice(c);
    }
    let shared = vec![SharedGroup { index: 0, channel }];
    let mut logs = NoLogs { kept: 0 };
    let mut sync = DirectSync::new(shared.clone());
    let _ = sync.receive(data, &mut logs);
    let _ = sync.finish(&mut logs);
    assert_eq!(logs.kept, 0, "nothing unverified is kept");
    let mut mail = DirectMail::new(shared);
    let _ = mail.declare(0, &[[7; 64]]);
    let _ = mail.receive(data);
});
