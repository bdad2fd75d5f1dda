//! Direct-link frames: a 4-byte big-endian length, then that many bytes. A length over
//! [`DIRECT_MAX_FRAME`] is refused as soon as its 4 bytes arrive, before anything of the
//! body is kept.

use super::beacon::Tag;
use super::session::DirectError;
use crate::params::{DIRECT_MAX_FRAME, DIRECT_TAG_LEN};

/// `body` with its length prefix.
pub fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// Bytes read from a link, cut into frames.
#[derive(Debug, Default)]
pub struct FrameReader {
    buf: Vec<u8>,
}

impl FrameReader {
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), DirectError> {
        self.buf.extend_from_slice(bytes);
        self.declared().map(|_| ())
    }

    /// The length the next frame declares, once its prefix is in.
    fn declared(&self) -> Result<Option<usize>, DirectError> {
        let Some(prefix) = self.buf.get(..4) else {
            return Ok(None);
        };
        let mut b = [0u8; 4];
        b.copy_from_slice(prefix);
        let n = u32::from_be_bytes(b) as usize;
        if n > DIRECT_MAX_FRAME {
            return Err(DirectError::FrameTooLarge(n));
        }
        Ok(Some(n))
    }

    /// The next whole frame's body, if one is in.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, DirectError> {
        let Some(n) = self.declared()? else {
            return Ok(None);
        };
        if self.buf.len() < 4 + n {
            return Ok(None);
        }
        let body = self.buf.get(4..4 + n).map(<[u8]>::to_vec);
        self.buf.drain(..4 + n);
        Ok(body)
    }

    /// Bytes held that are not a whole frame yet.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

/// The head every sync and mail message starts with: `kind ‖ channel (16) ‖ sub (1) ‖
/// count (u16)` (`sub` is the log kind for sync, 0 for mail).
#[derive(Debug, Clone, Copy)]
pub(crate) struct MessageHead {
    pub kind: u8,
    pub channel: Tag,
    pub sub: u8,
    pub count: usize,
}

impl MessageHead {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut m = Vec::with_capacity(1 + DIRECT_TAG_LEN + 1 + 2);
        m.push(self.kind);
        m.extend_from_slice(&self.channel);
        m.push(self.sub);
        m.extend_from_slice(&(self.count as u16).to_be_bytes());
        m
    }
}

/// Reads a message front to back; running out is a malformed message, never a panic.
pub(crate) struct Reader<'a>(pub(crate) &'a [u8]);

impl<'a> Reader<'a> {
    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DirectError> {
        if self.0.len() < n {
            return Err(DirectError::Malformed(what));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    pub(crate) fn array<const N: usize>(
        &mut self,
        what: &'static str,
    ) -> Result<[u8; N], DirectError> {
        let b = self.take(N, what)?;
        <[u8; N]>::try_from(b).map_err(|_| DirectError::Malformed(what))
    }
    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, DirectError> {
        Ok(self.array::<1>(what)?[0])
    }
    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16, DirectError> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }
    pub(crate) fn head(&mut self) -> Result<MessageHead, DirectError> {
        Ok(MessageHead {
            kind: self.u8("message kind")?,
            channel: self.array("message channel")?,
            sub: self.u8("message head")?,
            count: usize::from(self.u16("count")?),
        })
    }
    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32, DirectError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn frames_survive_any_cut() {
        let stream: Vec<u8> = [frame(b"one"), frame(b""), frame(&[7u8; 1000])].concat();
        for cut in 1..stream.len() {
            let mut r = FrameReader::default();
            let mut got = Vec::new();
            for chunk in stream.chunks(cut) {
                r.push(chunk).unwrap();
                while let Some(f) = r.next_frame().unwrap() {
                    got.push(f);
                }
            }
            assert_eq!(
                got,
                vec![b"one".to_vec(), vec![], vec![7u8; 1000]],
                "cut {cut}"
            );
            assert_eq!(r.pending(), 0);
        }
    }

    #[test]
    fn an_oversized_frame_is_refused_from_its_prefix() {
        let mut r = FrameReader::default();
        let prefix = ((DIRECT_MAX_FRAME + 1) as u32).to_be_bytes();
        assert_eq!(
            r.push(&prefix),
            Err(DirectError::FrameTooLarge(DIRECT_MAX_FRAME + 1))
        );
    }
}
