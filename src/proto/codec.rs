//! Jute's binary archive: big-endian integers, length-prefixed buffers and
//! strings (-1 = null), counted vectors.
//!
//! [`Reader`] decodes from a [`Bytes`] frame without copying buffers and checks
//! every length against what is left, so a hostile length can neither panic
//! nor make us allocate beyond the frame. [`Writer`] appends to a `BytesMut`.

use super::types::{ZData, ZString};
use bytes::{Buf, BufMut, Bytes, BytesMut};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("record truncated: needed {needed} more bytes at offset {offset}")]
    Truncated { offset: usize, needed: usize },
    #[error("invalid length {len} at offset {offset}")]
    BadLength { offset: usize, len: i64 },
    #[error("invalid value {value} for {what}")]
    BadValue { what: &'static str, value: i64 },
    #[error("{0} trailing bytes after the record")]
    Trailing(usize),
}

/// A cursor over one frame.
pub struct Reader {
    buf: Bytes,
    start_len: usize,
}

impl Reader {
    pub fn new(buf: Bytes) -> Reader {
        let start_len = buf.len();
        Reader { buf, start_len }
    }

    pub fn offset(&self) -> usize {
        self.start_len - self.buf.len()
    }

    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Fails unless the whole frame was consumed.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::Trailing(self.buf.len()))
        }
    }

    /// The bytes not yet read, without consuming them.
    pub fn rest(&self) -> Bytes {
        self.buf.clone()
    }

    fn need(&self, n: usize) -> Result<(), DecodeError> {
        if self.buf.len() < n {
            Err(DecodeError::Truncated {
                offset: self.offset(),
                needed: n - self.buf.len(),
            })
        } else {
            Ok(())
        }
    }

    pub fn read_u8(&mut self) -> Result<u8, DecodeError> {
        self.need(1)?;
        Ok(self.buf.get_u8())
    }

    pub fn read_bool(&mut self) -> Result<bool, DecodeError> {
        // Java's readBoolean treats any non-zero byte as true.
        Ok(self.read_u8()? != 0)
    }

    pub fn read_i32(&mut self) -> Result<i32, DecodeError> {
        self.need(4)?;
        Ok(self.buf.get_i32())
    }

    pub fn read_i64(&mut self) -> Result<i64, DecodeError> {
        self.need(8)?;
        Ok(self.buf.get_i64())
    }

    fn read_len(&mut self) -> Result<Option<usize>, DecodeError> {
        let offset = self.offset();
        let len = self.read_i32()?;
        if len == -1 {
            return Ok(None);
        }
        if len < 0 {
            return Err(DecodeError::BadLength {
                offset,
                len: len as i64,
            });
        }
        let len = len as usize;
        self.need(len)?;
        Ok(Some(len))
    }

    /// A jute `buffer`; `None` is the null buffer (length -1).
    pub fn read_buffer_opt(&mut self) -> Result<Option<Bytes>, DecodeError> {
        Ok(self.read_len()?.map(|len| self.buf.split_to(len)))
    }

    /// A jute `buffer` where null reads as empty, as Java callers treat it.
    pub fn read_buffer(&mut self) -> Result<Bytes, DecodeError> {
        Ok(self.read_buffer_opt()?.unwrap_or_default())
    }

    /// Znode data: a buffer whose null (length -1) is kept distinct from empty.
    pub fn read_data(&mut self) -> Result<ZData, DecodeError> {
        Ok(ZData::from(self.read_buffer_opt()?))
    }

    pub fn read_ustring_opt(&mut self) -> Result<Option<ZString>, DecodeError> {
        Ok(self
            .read_len()?
            .map(|len| ZString::from_utf8_lossy(self.buf.split_to(len))))
    }

    /// A jute `ustring` where null reads as empty: kazoo writes `""` as null
    /// (length -1), and Java's records accept it (e.g. the `auth:` ACL id).
    pub fn read_ustring(&mut self) -> Result<ZString, DecodeError> {
        Ok(self.read_ustring_opt()?.unwrap_or_default())
    }

    /// A counted vector; null reads as empty, and so does any other negative
    /// count (jute's BinaryInputArchive: its index is done at `nelems <= 0`).
    /// `min_elem_bytes` bounds the count by what is left in the frame before
    /// anything is allocated.
    pub fn read_vec<T>(
        &mut self,
        min_elem_bytes: usize,
        mut elem: impl FnMut(&mut Reader) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        let offset = self.offset();
        let count = self.read_i32()?;
        if count < 0 {
            return Ok(Vec::new());
        }
        if (count as usize).saturating_mul(min_elem_bytes.max(1)) > self.buf.len() {
            return Err(DecodeError::BadLength {
                offset,
                len: count as i64,
            });
        }
        let mut out = Vec::with_capacity(count as usize);
        for _ in 0..count {
            out.push(elem(self)?);
        }
        Ok(out)
    }
}

/// Appends jute-encoded values to a buffer.
pub struct Writer<'a> {
    pub buf: &'a mut BytesMut,
}

impl<'a> Writer<'a> {
    pub fn new(buf: &'a mut BytesMut) -> Writer<'a> {
        Writer { buf }
    }
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.put_u8(v);
        self
    }
    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.buf.put_u8(v as u8);
        self
    }
    pub fn i32(&mut self, v: i32) -> &mut Self {
        self.buf.put_i32(v);
        self
    }
    pub fn i64(&mut self, v: i64) -> &mut Self {
        self.buf.put_i64(v);
        self
    }
    pub fn buffer(&mut self, v: &[u8]) -> &mut Self {
        self.buf.put_i32(v.len() as i32);
        self.buf.put_slice(v);
        self
    }
    pub fn buffer_opt(&mut self, v: Option<&[u8]>) -> &mut Self {
        match v {
            Some(v) => self.buffer(v),
            None => self.i32(-1),
        }
    }
    pub fn data(&mut self, v: &ZData) -> &mut Self {
        self.buffer_opt(v.as_option())
    }
    pub fn ustring(&mut self, v: &str) -> &mut Self {
        self.buffer(v.as_bytes())
    }
    pub fn vec<T>(&mut self, items: &[T], mut elem: impl FnMut(&mut Writer, &T)) -> &mut Self {
        self.buf.put_i32(items.len() as i32);
        for item in items {
            elem(self, item);
        }
        self
    }
    /// Reserves a 4-byte length prefix; [`Writer::end_frame`] fills it in.
    pub fn begin_frame(&mut self) -> usize {
        let at = self.buf.len();
        self.buf.put_i32(0);
        at
    }
    pub fn end_frame(&mut self, at: usize) {
        let len = (self.buf.len() - at - 4) as i32;
        self.buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_buffer_and_string_decode_as_absent() {
        let mut b = BytesMut::new();
        Writer::new(&mut b).i32(-1).i32(-1);
        let mut r = Reader::new(b.freeze());
        assert_eq!(r.read_buffer_opt().unwrap(), None);
        assert_eq!(r.read_ustring_opt().unwrap(), None);
        r.finish().unwrap();
    }

    #[test]
    fn null_data_stays_null_and_empty_stays_empty() {
        let mut b = BytesMut::new();
        Writer::new(&mut b).i32(-1).i32(0);
        let mut r = Reader::new(b.freeze());
        let null = r.read_data().unwrap();
        let empty = r.read_data().unwrap();
        assert!(null.is_null() && !empty.is_null());
        let mut out = BytesMut::new();
        Writer::new(&mut out).data(&null).data(&empty);
        assert_eq!(&out[..], &[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
    }

    #[test]
    fn null_string_reads_as_empty_as_kazoo_sends_it() {
        let mut b = BytesMut::new();
        Writer::new(&mut b).i32(-1);
        assert_eq!(Reader::new(b.freeze()).read_ustring().unwrap().as_str(), "");
    }

    #[test]
    fn length_beyond_frame_is_rejected_without_allocating() {
        let mut b = BytesMut::new();
        Writer::new(&mut b).i32(i32::MAX);
        let mut r = Reader::new(b.clone().freeze());
        assert!(matches!(
            r.read_buffer(),
            Err(DecodeError::Truncated { .. })
        ));
        let mut r = Reader::new(b.freeze());
        assert!(matches!(
            r.read_vec(4, |r| r.read_i32()),
            Err(DecodeError::BadLength { .. })
        ));
    }

    #[test]
    fn negative_length_other_than_null_is_rejected() {
        let mut b = BytesMut::new();
        Writer::new(&mut b).i32(-7);
        let mut r = Reader::new(b.freeze());
        assert!(matches!(
            r.read_buffer(),
            Err(DecodeError::BadLength { len: -7, .. })
        ));
    }

    #[test]
    fn frame_prefix_counts_payload_only() {
        let mut b = BytesMut::new();
        let mut w = Writer::new(&mut b);
        let at = w.begin_frame();
        w.i64(1).ustring("/a");
        w.end_frame(at);
        assert_eq!(&b[..4], &(8 + 4 + 2i32).to_be_bytes());
    }
}
