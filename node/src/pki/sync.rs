//! `/wesh/pki-sync/1` over libp2p streams; the messages are `wesh_pki::sync_wire`'s.

use crate::net::stream_open::open_stream;
use futures::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use libp2p::StreamProtocol;
use std::io;
use wesh_pki::params::{SYNC_SERVE_READ_TIMEOUT_MS, SYNC_SERVE_WRITE_TIMEOUT_MS};
use wesh_pki::sync_wire::{AnswerReader, SYNC_REQUEST_BYTES, decode_request, encode_request};
pub use wesh_pki::sync_wire::{SyncAnswer, encode_answer};

pub const PKI_SYNC_PROTOCOL: StreamProtocol = StreamProtocol::new("/wesh/pki-sync/1");

fn bad(e: wesh_pki::sync_wire::SyncWireError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

pub async fn request(
    stream: &mut libp2p::Stream,
    epoch: u64,
    digest: [u8; 32],
) -> io::Result<SyncAnswer> {
    stream.write_all(&encode_request(epoch, digest)).await?;
    stream.flush().await?;
    read_answer(stream).await
}

pub async fn read_answer<R: AsyncRead + Unpin>(r: &mut R) -> io::Result<SyncAnswer> {
    let mut answer = AnswerReader::default();
    while answer.wanted() > 0 {
        let mut part = vec![0u8; answer.wanted()];
        r.read_exact(&mut part).await?;
        answer.feed(&part).map_err(bad)?;
    }
    answer.finish().map_err(bad)
}

/// Reads a request: (epoch, digest), within `SYNC_SERVE_READ_TIMEOUT_MS` (a peer that
/// opens a stream and stays silent must not hold it, and a serving slot, for ever).
pub async fn read_request<R: AsyncRead + Unpin>(stream: &mut R) -> io::Result<(u64, [u8; 32])> {
    read_request_within(stream, SYNC_SERVE_READ_TIMEOUT_MS).await
}

async fn read_request_within<R: AsyncRead + Unpin>(
    stream: &mut R,
    timeout_ms: u64,
) -> io::Result<(u64, [u8; 32])> {
    let mut req = [0u8; SYNC_REQUEST_BYTES];
    within(timeout_ms, stream.read_exact(&mut req)).await??;
    decode_request(&req).map_err(bad)
}

/// Writes an answer and closes, within `SYNC_SERVE_WRITE_TIMEOUT_MS` (a peer that reads
/// slower than its own sync deadline is dropped).
pub async fn write_answer<W: futures::AsyncWrite + Unpin>(
    stream: &mut W,
    answer: &[u8],
) -> io::Result<()> {
    write_answer_within(stream, answer, SYNC_SERVE_WRITE_TIMEOUT_MS).await
}

async fn write_answer_within<W: futures::AsyncWrite + Unpin>(
    stream: &mut W,
    answer: &[u8],
    timeout_ms: u64,
) -> io::Result<()> {
    within(timeout_ms, async {
        stream.write_all(answer).await?;
        stream.close().await
    })
    .await?
}

async fn within<T>(ms: u64, work: impl std::future::Future<Output = T>) -> io::Result<T> {
    tokio::time::timeout(std::time::Duration::from_millis(ms), work)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "pki sync peer too slow"))
}

/// How a sync the directory follower asked for ended (`None`: failed or timed out).
pub struct SyncOutcome {
    pub peer: wesh_pki::NodeId,
    pub answer: Option<SyncAnswer>,
}

impl SyncOutcome {
    pub fn report_to(self, follower: &mut wesh_pki::DirectoryFollower) {
        let now = crate::clock::unix_now_ms();
        match self.answer {
            Some(a) => follower.handle_sync_answer(now, self.peer, a.digest, a.descriptors),
            None => follower.handle_sync_failed(now, self.peer),
        }
    }
}

/// Carries out a follower's `Sync` action in its own task, bounded by the action's
/// deadline (a peer that never answers must not hold anything up).
pub fn spawn_sync(
    mut control: libp2p_stream::Control,
    peer: wesh_pki::NodeId,
    epoch: u64,
    digest: [u8; 32],
    deadline_ms: u64,
    done: tokio::sync::mpsc::UnboundedSender<SyncOutcome>,
) {
    let wait =
        std::time::Duration::from_millis(deadline_ms.saturating_sub(crate::clock::unix_now_ms()));
    tokio::spawn(async move {
        let work = async {
            let to = crate::keys::peer_id_of(&wesh_mix::NodeId(peer.0))
                .ok_or_else(|| io::Error::other("not an Ed25519 identity"))?;
            let mut s = open_stream(&mut control, to, PKI_SYNC_PROTOCOL)
                .await
                .map_err(io::Error::other)?;
            request(&mut s, epoch, digest).await
        };
        let answer = match tokio::time::timeout(wait, work).await {
            Ok(Ok(answer)) => Some(answer),
            // clients do not serve the protocol: a failure here is normal
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "directory sync failed");
                None
            }
            Err(_) => {
                tracing::debug!(%peer, "directory sync timed out");
                None
            }
        };
        let _ = done.send(SyncOutcome { peer, answer });
    });
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_streamed_answer_is_read_back() {
        let smallest = wesh_pki::params::MIN_DESCRIPTOR_BYTES;
        let descs = vec![vec![1; smallest], vec![9; smallest + 1]];
        let bytes = encode_answer([8; 32], Some(&descs));
        let read =
            |b: Vec<u8>| futures::executor::block_on(read_answer(&mut futures::io::Cursor::new(b)));
        assert_eq!(read(bytes.clone()).unwrap().descriptors, Some(descs));
        assert!(read(bytes[..bytes.len() - 1].to_vec()).is_err());
    }

    /// A peer that never sends a byte and never reads one.
    struct Silent;

    impl AsyncRead for Silent {
        fn poll_read(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            _: &mut [u8],
        ) -> std::task::Poll<io::Result<usize>> {
            std::task::Poll::Pending
        }
    }

    impl futures::AsyncWrite for Silent {
        fn poll_write(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            _: &[u8],
        ) -> std::task::Poll<io::Result<usize>> {
            std::task::Poll::Pending
        }
        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            std::task::Poll::Pending
        }
        fn poll_close(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            std::task::Poll::Pending
        }
    }

    /// A peer that opens a sync stream and never writes its request: the server's read
    /// ends at its timeout instead of waiting for ever (here 20 ms; 5 s in the node).
    #[tokio::test]
    async fn a_silent_requester_is_dropped_at_the_read_timeout() {
        let read = read_request_within(&mut Silent, 20).await;
        assert_eq!(read.unwrap_err().kind(), io::ErrorKind::TimedOut);
    }

    /// A peer that never reads the answer: the write ends at its timeout.
    #[tokio::test]
    async fn a_requester_that_never_reads_is_dropped_at_the_write_timeout() {
        let write = write_answer_within(&mut Silent, &[0; 100], 20).await;
        assert_eq!(write.unwrap_err().kind(), io::ErrorKind::TimedOut);
    }
}
