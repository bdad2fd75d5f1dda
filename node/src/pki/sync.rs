//! `/wesh/pki-sync/1`: a full directory on request. The requester opens the stream and
//! sends one version byte; the responder writes a count (u32 BE) and that many
//! descriptors, each as a u16 BE length and the bytes, then closes. Every length is
//! bounded before anything is allocated.

use futures::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use libp2p::StreamProtocol;
use std::io;
use wesh_pki::params::MAX_DESCRIPTOR_BYTES;

pub const PKI_SYNC_PROTOCOL: StreamProtocol = StreamProtocol::new("/wesh/pki-sync/1");
const SYNC_VERSION: u8 = 1;
/// Descriptors one answer may carry (a directory of this size is ~30 MB).
pub const MAX_SYNC_DESCRIPTORS: u32 = 100_000;

fn bad(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

pub async fn request(stream: &mut libp2p::Stream) -> io::Result<Vec<Vec<u8>>> {
    stream.write_all(&[SYNC_VERSION]).await?;
    stream.flush().await?;
    read_answer(stream).await
}

pub async fn read_answer<R: AsyncRead + Unpin>(r: &mut R) -> io::Result<Vec<Vec<u8>>> {
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
    Ok(out)
}

/// Reads the request byte and writes `descriptors`.
pub async fn answer(stream: &mut libp2p::Stream, descriptors: &[Vec<u8>]) -> io::Result<()> {
    let mut version = [0u8; 1];
    stream.read_exact(&mut version).await?;
    if version[0] != SYNC_VERSION {
        return Err(bad(format!("unknown sync version {}", version[0])));
    }
    let mut out = Vec::new();
    let count = u32::try_from(descriptors.len())
        .unwrap_or(u32::MAX)
        .min(MAX_SYNC_DESCRIPTORS);
    out.extend_from_slice(&count.to_be_bytes());
    for d in descriptors.iter().take(count as usize) {
        let len = u16::try_from(d.len()).map_err(|_| bad("descriptor too long".into()))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(d);
    }
    stream.write_all(&out).await?;
    stream.close().await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn answers_with_absurd_lengths_are_refused() {
        futures::executor::block_on(async {
            let mut ok = vec![0, 0, 0, 2, 0, 3, 1, 2, 3, 0, 1, 9];
            assert_eq!(
                read_answer(&mut futures::io::Cursor::new(ok.clone()))
                    .await
                    .unwrap(),
                vec![vec![1, 2, 3], vec![9]]
            );
            ok.truncate(7);
            assert!(
                read_answer(&mut futures::io::Cursor::new(ok))
                    .await
                    .is_err()
            );
            let huge = vec![0xff, 0xff, 0xff, 0xff];
            assert!(
                read_answer(&mut futures::io::Cursor::new(huge))
                    .await
                    .is_err()
            );
            let long = vec![0, 0, 0, 1, 0xff, 0xff];
            assert!(
                read_answer(&mut futures::io::Cursor::new(long))
                    .await
                    .is_err()
            );
        });
    }
}
