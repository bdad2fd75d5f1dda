//! `/wesh/pki-sync/1`: compare directory digests, and send the directory if they differ.
//!
//! Request: version (1 byte) ‖ epoch (u64 BE) ‖ the requester's digest for that epoch (32).
//! Answer: status (1 byte: 0 = same digest, 1 = different) ‖ the responder's digest (32) ‖
//! if different: count (u32 BE) and that many descriptors, each a u16 BE length and the
//! bytes. Every length is bounded before anything is allocated. A request with an
//! all-zero digest asks for the whole directory (a node that has none yet).

use futures::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use libp2p::StreamProtocol;
use std::io;
use wesh_pki::params::MAX_DESCRIPTOR_BYTES;

pub const PKI_SYNC_PROTOCOL: StreamProtocol = StreamProtocol::new("/wesh/pki-sync/1");
const SYNC_VERSION: u8 = 1;
/// Descriptors one answer may carry (a directory of this size is ~30 MB).
pub const MAX_SYNC_DESCRIPTORS: u32 = 100_000;

/// What a peer answered.
#[derive(Debug)]
pub struct SyncAnswer {
    pub digest: [u8; 32],
    /// `None` when the peer's digest equals ours.
    pub descriptors: Option<Vec<Vec<u8>>>,
}

fn bad(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

pub async fn request(
    stream: &mut libp2p::Stream,
    epoch: u64,
    digest: [u8; 32],
) -> io::Result<SyncAnswer> {
    let mut req = vec![SYNC_VERSION];
    req.extend_from_slice(&epoch.to_be_bytes());
    req.extend_from_slice(&digest);
    stream.write_all(&req).await?;
    stream.flush().await?;
    read_answer(stream).await
}

pub async fn read_answer<R: AsyncRead + Unpin>(r: &mut R) -> io::Result<SyncAnswer> {
    let mut head = [0u8; 33];
    r.read_exact(&mut head).await?;
    let mut digest = [0u8; 32];
    digest.copy_from_slice(&head[1..]);
    match head[0] {
        0 => {
            return Ok(SyncAnswer {
                digest,
                descriptors: None,
            });
        }
        1 => {}
        other => return Err(bad(format!("unknown sync status {other}"))),
    }
    let mut count = [0u8; 4];
    r.read_exact(&mut count).await?;
    let count = u32::from_be_bytes(count);
    if count > MAX_SYNC_DESCRIPTORS {
        return Err(bad(format!("sync answer announces {count} descriptors")));
    }
    let mut out = Vec::with_capacity(count.min(1024) as usize);
    for _ in 0..count {
        let mut len = [0u8; 2];
        r.read_exact(&mut len).await?;
        let len = usize::from(u16::from_be_bytes(len));
        if len == 0 || len > MAX_DESCRIPTOR_BYTES {
            return Err(bad(format!("descriptor of {len} bytes in sync answer")));
        }
        let mut d = vec![0u8; len];
        r.read_exact(&mut d).await?;
        out.push(d);
    }
    Ok(SyncAnswer {
        digest,
        descriptors: Some(out),
    })
}

/// Reads a request: (epoch, digest).
pub async fn read_request(stream: &mut libp2p::Stream) -> io::Result<(u64, [u8; 32])> {
    let mut req = [0u8; 41];
    stream.read_exact(&mut req).await?;
    if req[0] != SYNC_VERSION {
        return Err(bad(format!("unknown sync version {}", req[0])));
    }
    let mut epoch = [0u8; 8];
    epoch.copy_from_slice(&req[1..9]);
    let mut digest = [0u8; 32];
    digest.copy_from_slice(&req[9..]);
    Ok((u64::from_be_bytes(epoch), digest))
}

pub fn encode_answer(digest: [u8; 32], descriptors: Option<&[Vec<u8>]>) -> Vec<u8> {
    let mut out = vec![u8::from(descriptors.is_some())];
    out.extend_from_slice(&digest);
    if let Some(descs) = descriptors {
        let count = u32::try_from(descs.len())
            .unwrap_or(u32::MAX)
            .min(MAX_SYNC_DESCRIPTORS);
        out.extend_from_slice(&count.to_be_bytes());
        for d in descs.iter().take(count as usize) {
            let len = u16::try_from(d.len()).unwrap_or(0);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(d.get(..usize::from(len)).unwrap_or_default());
        }
    }
    out
}

pub async fn write_answer(stream: &mut libp2p::Stream, answer: &[u8]) -> io::Result<()> {
    stream.write_all(answer).await?;
    stream.close().await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn read(bytes: Vec<u8>) -> io::Result<SyncAnswer> {
        futures::executor::block_on(read_answer(&mut futures::io::Cursor::new(bytes)))
    }

    #[test]
    fn answers_round_trip_and_absurd_lengths_are_refused() {
        let same = read(encode_answer([7; 32], None)).unwrap();
        assert_eq!((same.digest, same.descriptors), ([7; 32], None));
        let descs = vec![vec![1, 2, 3], vec![9]];
        let full = read(encode_answer([8; 32], Some(&descs))).unwrap();
        assert_eq!(full.descriptors, Some(descs.clone()));
        let mut truncated = encode_answer([8; 32], Some(&descs));
        truncated.truncate(truncated.len() - 1);
        assert!(read(truncated).is_err());
        let mut huge = vec![1u8];
        huge.extend_from_slice(&[0; 32]);
        huge.extend_from_slice(&[0xff; 4]);
        assert!(read(huge).is_err());
        let mut long = vec![1u8];
        long.extend_from_slice(&[0; 32]);
        long.extend_from_slice(&[0, 0, 0, 1, 0xff, 0xff]);
        assert!(read(long).is_err());
        let mut status = vec![9u8];
        status.extend_from_slice(&[0; 32]);
        assert!(read(status).is_err());
    }
}
