//! Replay tags on disk, so a restarted node still drops packets it processed before.
//!
//! One append-only file per Sphinx key epoch (`replay-<epoch>.tags`, 16-byte records) in
//! the node's data directory. Workers hand new tags to one writer task, which appends
//! them and syncs every [`SYNC_EVERY`] and at shutdown; a crash can lose at most that
//! last interval of tags. A file is deleted when its key retires.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use wesh_mix::params::REPLAY_TAG_KEPT_BYTES;

pub const SYNC_EVERY: Duration = Duration::from_millis(100);

pub type Tag = [u8; REPLAY_TAG_KEPT_BYTES];

pub enum JournalMsg {
    Tags(Vec<(u64, Tag)>),
    /// Keys now live: files of other epochs are deleted.
    Retain(Vec<u64>),
}

fn file_of(dir: &Path, epoch: u64) -> PathBuf {
    dir.join(format!("replay-{epoch}.tags"))
}

/// Tags persisted for `epoch` (a torn last record from a crash is ignored).
pub fn load(dir: &Path, epoch: u64) -> Vec<Tag> {
    match std::fs::read(file_of(dir, epoch)) {
        Ok(bytes) => bytes
            .chunks_exact(REPLAY_TAG_KEPT_BYTES)
            .filter_map(|c| c.try_into().ok())
            .collect(),
        Err(e) => {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::error!(epoch, error = %e, "cannot read the replay journal: replays of earlier packets may pass");
            }
            Vec::new()
        }
    }
}

/// Starts the writer; `done` fires once everything is synced after shutdown.
pub fn spawn_writer(
    dir: PathBuf,
    mut rx: mpsc::UnboundedReceiver<JournalMsg>,
    mut shutdown: watch::Receiver<bool>,
) -> oneshot::Receiver<()> {
    let (done_tx, done_rx) = oneshot::channel();
    tokio::spawn(async move {
        if let Err(e) = std::fs::create_dir_all(&dir) {
            tracing::error!(dir = %dir.display(), error = %e, "cannot create the replay journal directory");
        }
        let mut files: HashMap<u64, BufWriter<File>> = HashMap::new();
        let mut dirty: HashSet<u64> = HashSet::new();
        let mut tick = tokio::time::interval(SYNC_EVERY);
        loop {
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(JournalMsg::Tags(tags)) => {
                        for (epoch, tag) in tags {
                            let file = match files.entry(epoch) {
                                std::collections::hash_map::Entry::Occupied(f) => f.into_mut(),
                                std::collections::hash_map::Entry::Vacant(v) => {
                                    match OpenOptions::new().create(true).append(true).open(file_of(&dir, epoch)) {
                                        Ok(f) => v.insert(BufWriter::new(f)),
                                        Err(e) => {
                                            tracing::error!(epoch, error = %e, "cannot open the replay journal");
                                            continue;
                                        }
                                    }
                                }
                            };
                            if let Err(e) = file.write_all(&tag) {
                                tracing::error!(epoch, error = %e, "cannot write the replay journal");
                            }
                            dirty.insert(epoch);
                        }
                    }
                    Some(JournalMsg::Retain(live)) => {
                        sync(&mut files, &mut dirty);
                        files.retain(|e, _| live.contains(e));
                        retire_files(&dir, &live);
                    }
                    None => break,
                },
                _ = tick.tick() => sync(&mut files, &mut dirty),
                _ = shutdown.changed() => if *shutdown.borrow() {
                    // take what the workers still send, then sync
                    while let Ok(JournalMsg::Tags(tags)) = rx.try_recv() {
                        for (epoch, tag) in tags {
                            if let Some(f) = files.get_mut(&epoch) {
                                let _ = f.write_all(&tag);
                                dirty.insert(epoch);
                            }
                        }
                    }
                    break;
                },
            }
        }
        sync(&mut files, &mut dirty);
        let _ = done_tx.send(());
    });
    done_rx
}

fn sync(files: &mut HashMap<u64, BufWriter<File>>, dirty: &mut HashSet<u64>) {
    for epoch in dirty.drain() {
        if let Some(f) = files.get_mut(&epoch) {
            let r = f.flush().and_then(|()| f.get_ref().sync_data());
            if let Err(e) = r {
                tracing::error!(epoch, error = %e, "cannot sync the replay journal");
            }
        }
    }
}

fn retire_files(dir: &Path, live: &[u64]) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(epoch) = name
            .to_str()
            .and_then(|n| n.strip_prefix("replay-"))
            .and_then(|n| n.strip_suffix(".tags"))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        if !live.contains(&epoch) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}
