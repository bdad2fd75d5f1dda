//! One `/wesh/mailbox/1` exchange on a stream: the request, the writer's half-close, the
//! response, then the stream ends. Reads are bounded before anything is buffered.

use futures::{AsyncReadExt, AsyncWriteExt};
use std::io;
use wesh_mix::params::MAX_MAILBOX_RESPONSE_BYTES;

/// Reads until the peer closes its half, refusing more than `limit` bytes.
pub async fn read_bounded<R: futures::AsyncRead + Unpin>(
    r: &mut R,
    limit: usize,
) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    r.take(cap).read_to_end(&mut buf).await?;
    if buf.len() > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("mailbox frame longer than {limit} bytes"),
        ));
    }
    Ok(buf)
}

/// Client side: sends `request`, closes the write half, reads the response.
pub async fn request(stream: &mut libp2p::Stream, request: &[u8]) -> io::Result<Vec<u8>> {
    stream.write_all(request).await?;
    stream.close().await?;
    read_bounded(stream, MAX_MAILBOX_RESPONSE_BYTES).await
}

/// Provider side: writes the response and ends the stream.
pub async fn respond(stream: &mut libp2p::Stream, response: &[u8]) -> io::Result<()> {
    stream.write_all(response).await?;
    stream.close().await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn bounded_read_refuses_oversize() {
        let mut ok: &[u8] = &[1, 2, 3];
        assert_eq!(read_bounded(&mut ok, 3).await.unwrap(), vec![1, 2, 3]);
        let mut long: &[u8] = &[1, 2, 3, 4];
        assert!(read_bounded(&mut long, 3).await.is_err());
    }
}
