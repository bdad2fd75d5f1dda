//! Fixed-size frames. Every frame of a protocol has the same length on the wire, so a
//! link observer learns nothing from sizes, and parsing is "read exactly N bytes".

use futures::{AsyncRead, AsyncReadExt};
use std::io;
use wesh_mix::params::MAX_PLAINTEXT_BYTES;

/// `/wesh/deliver/1` frame: 2-byte big-endian length, the plaintext, zero padding.
pub const DELIVER_FRAME_BYTES: usize = 2 + MAX_PLAINTEXT_BYTES;

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

pub fn encode_delivery(plaintext: &[u8]) -> Option<Vec<u8>> {
    let len = u16::try_from(plaintext.len())
        .ok()
        .filter(|l| usize::from(*l) <= MAX_PLAINTEXT_BYTES)?;
    let mut out = vec![0u8; DELIVER_FRAME_BYTES];
    out[..2].copy_from_slice(&len.to_be_bytes());
    out[2..2 + plaintext.len()].copy_from_slice(plaintext);
    Some(out)
}

pub fn decode_delivery(frame: &[u8]) -> Option<&[u8]> {
    if frame.len() != DELIVER_FRAME_BYTES {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([frame[0], frame[1]]));
    frame.get(2..2 + len)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn delivery_frames_round_trip_and_reject_garbage() {
        let f = encode_delivery(b"abc").unwrap();
        assert_eq!(f.len(), DELIVER_FRAME_BYTES);
        assert_eq!(decode_delivery(&f), Some(&b"abc"[..]));
        let mut bad = f.clone();
        bad[0] = 0xff;
        assert_eq!(decode_delivery(&bad), None);
        assert_eq!(decode_delivery(&f[..10]), None);
        assert!(encode_delivery(&vec![0; MAX_PLAINTEXT_BYTES + 1]).is_none());
    }

    #[test]
    fn truncated_stream_is_an_error_and_clean_end_is_none() {
        futures::executor::block_on(async {
            let mut r = futures::io::Cursor::new(vec![1u8; 10]);
            assert_eq!(read_frame(&mut r, 4).await.unwrap().unwrap(), vec![1; 4]);
            assert_eq!(read_frame(&mut r, 4).await.unwrap().unwrap(), vec![1; 4]);
            assert!(read_frame(&mut r, 4).await.is_err());
            let mut empty = futures::io::Cursor::new(Vec::<u8>::new());
            assert!(read_frame(&mut empty, 4).await.unwrap().is_none());
        });
    }
}
