//! Fixed-size frames. Every frame of a protocol has the same length on the wire, so a
//! link observer learns nothing from sizes, and parsing is "read exactly N bytes".

use futures::{AsyncRead, AsyncReadExt};
use std::io;

/// Reads one frame of exactly `len` bytes; `Ok(None)` on a clean end of stream.
pub async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    len: usize,
) -> io::Result<Option<Vec<u8>>> {
    let mut buf = vec![0u8; len];
    let mut filled = 0;
    while filled < len {
        let n = r.read(&mut buf[filled..]).await?;
        if n == 0 {
            return if filled == 0 {
                Ok(None)
            } else {
                Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("stream ended inside a frame ({filled}/{len} bytes)"),
                ))
            };
        }
        filled += n;
    }
    Ok(Some(buf))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn frames_are_exact_and_a_cut_frame_is_an_error() {
        let mut two: &[u8] = &[1, 2, 3, 4];
        assert_eq!(read_frame(&mut two, 2).await.unwrap(), Some(vec![1, 2]));
        assert_eq!(read_frame(&mut two, 2).await.unwrap(), Some(vec![3, 4]));
        assert_eq!(read_frame(&mut two, 2).await.unwrap(), None);
        let mut cut: &[u8] = &[1, 2, 3];
        assert!(read_frame(&mut cut, 2).await.unwrap().is_some());
        assert!(read_frame(&mut cut, 2).await.is_err());
    }
}
