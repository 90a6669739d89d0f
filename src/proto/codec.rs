//! Jute binary encoding: big-endian, untagged, length-prefixed buffers and strings.
//!
//! `Reader` borrows a frame and never trusts a declared length beyond the bytes that are
//! actually present; `Writer` appends to a `Vec<u8>`.

use thiserror::Error;

/// Why a frame could not be decoded. Every variant closes the request as MARSHALLINGERROR.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    #[error("record truncated: needed {needed} more bytes at offset {offset}")]
    Truncated { offset: usize, needed: usize },
    #[error("invalid length {len} at offset {offset}")]
    BadLength { offset: usize, len: i32 },
    #[error("invalid value: {0}")]
    Invalid(String),
}

pub type DecodeResult<T> = Result<T, DecodeError>;

/// A cursor over one frame's payload.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    fn take(&mut self, n: usize) -> DecodeResult<&'a [u8]> {
        if self.remaining() < n {
            return Err(DecodeError::Truncated {
                offset: self.pos,
                needed: n - self.remaining(),
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub fn u8(&mut self) -> DecodeResult<u8> {
        Ok(self.take(1)?[0])
    }

    /// Java reads any non-zero byte as true.
    pub fn bool(&mut self) -> DecodeResult<bool> {
        Ok(self.u8()? != 0)
    }

    pub fn i32(&mut self) -> DecodeResult<i32> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn i64(&mut self) -> DecodeResult<i64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }

    /// A `buffer`: `None` for length -1.
    pub fn buffer(&mut self) -> DecodeResult<Option<Vec<u8>>> {
        Ok(self.buffer_slice()?.map(<[u8]>::to_vec))
    }

    pub fn buffer_slice(&mut self) -> DecodeResult<Option<&'a [u8]>> {
        let offset = self.pos;
        let len = self.i32()?;
        if len == -1 {
            return Ok(None);
        }
        if len < 0 || len as usize > self.remaining() {
            return Err(DecodeError::BadLength { offset, len });
        }
        Ok(Some(self.take(len as usize)?))
    }

    /// A `ustring`, decoded leniently (invalid UTF-8 becomes U+FFFD, as Java's reader does).
    pub fn ustring_opt(&mut self) -> DecodeResult<Option<String>> {
        Ok(self
            .buffer_slice()?
            .map(|b| String::from_utf8_lossy(b).into_owned()))
    }

    /// A `ustring` where null is read as the empty string (what Java code sees after
    /// `validatePath` rejects it anyway).
    pub fn ustring(&mut self) -> DecodeResult<String> {
        Ok(self.ustring_opt()?.unwrap_or_default())
    }

    /// A vector count: `None` for -1; bounded by the bytes left (each element takes at
    /// least `min_elem_bytes`).
    pub fn vec_len(&mut self, min_elem_bytes: usize) -> DecodeResult<Option<usize>> {
        let offset = self.pos;
        let n = self.i32()?;
        if n == -1 {
            return Ok(None);
        }
        if n < 0 || (n as usize).saturating_mul(min_elem_bytes.max(1)) > self.remaining() {
            return Err(DecodeError::BadLength { offset, len: n });
        }
        Ok(Some(n as usize))
    }

    pub fn vec_ustring(&mut self) -> DecodeResult<Vec<String>> {
        let n = self.vec_len(4)?.unwrap_or(0);
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(self.ustring()?);
        }
        Ok(v)
    }
}

/// Appends jute encodings to a byte vector.
#[derive(Debug, Default, Clone)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn new() -> Self {
        Writer { buf: Vec::new() }
    }

    pub fn with_capacity(n: usize) -> Self {
        Writer {
            buf: Vec::with_capacity(n),
        }
    }

    /// A writer whose first 4 bytes are reserved for the frame length; see `finish_frame`.
    pub fn framed() -> Self {
        Writer {
            buf: vec![0, 0, 0, 0],
        }
    }

    /// Fills in the reserved length of a `framed()` writer and returns the frame.
    pub fn finish_frame(mut self) -> Vec<u8> {
        let len = (self.buf.len() - 4) as i32;
        self.buf[..4].copy_from_slice(&len.to_be_bytes());
        self.buf
    }

    pub fn into_inner(self) -> Vec<u8> {
        self.buf
    }

    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }

    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.u8(u8::from(v))
    }

    pub fn i32(&mut self, v: i32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub fn i64(&mut self, v: i64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub fn buffer(&mut self, v: Option<&[u8]>) -> &mut Self {
        match v {
            None => self.i32(-1),
            Some(b) => {
                self.i32(b.len() as i32);
                self.buf.extend_from_slice(b);
                self
            }
        }
    }

    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.buffer(Some(b))
    }

    pub fn ustring(&mut self, s: &str) -> &mut Self {
        self.buffer(Some(s.as_bytes()))
    }

    pub fn ustring_opt(&mut self, s: Option<&str>) -> &mut Self {
        self.buffer(s.map(str::as_bytes))
    }

    pub fn vec_ustring<S: AsRef<str>>(&mut self, v: &[S]) -> &mut Self {
        self.i32(v.len() as i32);
        for s in v {
            self.ustring(s.as_ref());
        }
        self
    }

    pub fn raw(&mut self, b: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(b);
        self
    }
}

/// A record that can be written in jute form.
pub trait Encode {
    fn encode(&self, w: &mut Writer);

    fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.encode(&mut w);
        w.into_inner()
    }
}

/// A record that can be read from jute form.
pub trait Decode: Sized {
    fn decode(r: &mut Reader<'_>) -> DecodeResult<Self>;

    /// Decodes a whole buffer; trailing bytes are tolerated (Java ignores them too).
    fn from_bytes(b: &[u8]) -> DecodeResult<Self> {
        Self::decode(&mut Reader::new(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primitives_round_trip() {
        let mut w = Writer::new();
        w.i32(-2)
            .i64(0x1_0000_0001)
            .bool(true)
            .buffer(None)
            .ustring("/foo");
        w.bytes(b"");
        let b = w.into_inner();
        let mut r = Reader::new(&b);
        assert_eq!(r.i32().unwrap(), -2);
        assert_eq!(r.i64().unwrap(), 0x1_0000_0001);
        assert!(r.bool().unwrap());
        assert_eq!(r.buffer().unwrap(), None);
        assert_eq!(r.ustring().unwrap(), "/foo");
        assert_eq!(r.buffer().unwrap(), Some(vec![]));
        assert!(r.is_empty());
    }

    #[test]
    fn declared_lengths_are_bounded_by_the_frame() {
        let mut w = Writer::new();
        w.i32(1000).raw(b"abc");
        let b = w.into_inner();
        assert!(matches!(
            Reader::new(&b).buffer(),
            Err(DecodeError::BadLength { len: 1000, .. })
        ));
        let mut w = Writer::new();
        w.i32(i32::MAX);
        let b = w.into_inner();
        assert!(Reader::new(&b).vec_len(4).is_err());
        assert!(Reader::new(&[0, 0]).i32().is_err());
    }

    #[test]
    fn invalid_utf8_is_lossy_not_fatal() {
        let mut w = Writer::new();
        w.bytes(&[b'/', 0xff, b'a']);
        let b = w.into_inner();
        assert_eq!(Reader::new(&b).ustring().unwrap(), "/\u{fffd}a");
    }
}
