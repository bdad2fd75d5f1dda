//! Canonical binary encoding helpers: big-endian integers, fixed-size arrays and
//! length-prefixed byte strings. Every read is bounds-checked so garbage gives a typed error.

use crate::error::DecodeError;

/// Appends fields to a byte buffer.
#[derive(Default)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub fn new() -> Self {
        Self { buf: Vec::new() }
    }
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            buf: Vec::with_capacity(capacity),
        }
    }
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(v);
        self
    }
    /// Length-prefixed (u32 big-endian) byte string.
    pub fn var_bytes(&mut self, v: &[u8]) -> &mut Self {
        // Callers bound lengths far below u32::MAX; saturate rather than truncate silently.
        let len = u32::try_from(v.len()).unwrap_or(u32::MAX);
        self.u32(len);
        self.bytes(v)
    }
    pub fn len(&self) -> usize {
        self.buf.len()
    }
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
    pub fn as_slice(&self) -> &[u8] {
        &self.buf
    }
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// Consumes fields from a byte slice, checking every length.
pub struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(input: &'a [u8]) -> Self {
        Self { input, pos: 0 }
    }
    pub fn position(&self) -> usize {
        self.pos
    }
    /// Bytes not read yet (bounds a count read from the input before allocating for it).
    pub fn remaining(&self) -> usize {
        self.input.len().saturating_sub(self.pos)
    }
    /// Bytes consumed so far (used to authenticate a prefix of the input).
    pub fn consumed(&self) -> &'a [u8] {
        self.input.get(..self.pos).unwrap_or_default()
    }
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let rest = self.input.get(self.pos..).unwrap_or_default();
        match rest.get(..n) {
            Some(out) => {
                self.pos += n;
                Ok(out)
            }
            None => Err(DecodeError::Truncated {
                have: rest.len(),
                need: n - rest.len(),
            }),
        }
    }
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }
    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    /// Length-prefixed byte string whose length must lie in `min..=max`.
    pub fn var_bytes(
        &mut self,
        what: &'static str,
        min: usize,
        max: usize,
    ) -> Result<&'a [u8], DecodeError> {
        let len = usize::try_from(self.u32()?).map_err(|_| DecodeError::LengthOutOfRange {
            what,
            len: usize::MAX,
        })?;
        if len < min || len > max {
            return Err(DecodeError::LengthOutOfRange { what, len });
        }
        self.take(len)
    }
    /// Checks the version byte that starts every structure.
    pub fn version(&mut self) -> Result<(), DecodeError> {
        let v = self.u8()?;
        if v != crate::params::WIRE_VERSION {
            return Err(DecodeError::UnsupportedVersion(v));
        }
        Ok(())
    }
    /// Refuses trailing bytes so every structure has exactly one encoding.
    pub fn finish(self) -> Result<(), DecodeError> {
        let left = self.input.len().saturating_sub(self.pos);
        if left != 0 {
            return Err(DecodeError::TrailingBytes(left));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn round_trip_and_truncation() {
        let mut w = Writer::new();
        w.u8(1).u16(2).u32(3).u64(4).var_bytes(b"abc");
        let bytes = w.finish();
        let mut r = Reader::new(&bytes);
        assert_eq!(r.u8().unwrap(), 1);
        assert_eq!(r.u16().unwrap(), 2);
        assert_eq!(r.u32().unwrap(), 3);
        assert_eq!(r.u64().unwrap(), 4);
        assert_eq!(r.var_bytes("x", 0, 3).unwrap(), b"abc");
        r.finish().unwrap();

        let mut r = Reader::new(&bytes[..5]);
        r.u8().unwrap();
        assert_eq!(r.u64(), Err(DecodeError::Truncated { have: 4, need: 4 }));
        let mut r = Reader::new(&bytes[15..]);
        assert!(matches!(
            r.var_bytes("x", 0, 2),
            Err(DecodeError::LengthOutOfRange { .. })
        ));
    }
}
