//! Domain newtypes: the ids and strings that flow through every layer.

use bytes::Bytes;
use std::fmt;

/// A ZooKeeper transaction id: epoch in the high 32 bits, counter in the low 32.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Zxid(pub i64);

impl Zxid {
    pub const ZERO: Zxid = Zxid(0);

    pub fn new(epoch: u32, counter: u32) -> Zxid {
        Zxid(((epoch as i64) << 32) | counter as i64)
    }
    pub fn epoch(self) -> u32 {
        (self.0 >> 32) as u32
    }
    pub fn counter(self) -> u32 {
        self.0 as u32
    }
    /// The zxid that follows this one in the same epoch.
    pub fn next(self) -> Zxid {
        Zxid(self.0 + 1)
    }
}

impl fmt::Debug for Zxid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:x}", self.0)
    }
}

impl fmt::Display for Zxid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:x}", self.0)
    }
}

/// A session id; the server id sits in the top byte.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SessionId(pub i64);

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:x}", self.0)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:x}", self.0)
    }
}

/// A client-chosen request id; negative values are reserved (see [`Xid::NOTIFICATION`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct Xid(pub i32);

impl Xid {
    pub const NOTIFICATION: Xid = Xid(-1);
    pub const PING: Xid = Xid(-2);
    pub const AUTH: Xid = Xid(-4);
    pub const SET_WATCHES: Xid = Xid(-8);
}

/// A jute `ustring`: UTF-8 text held in a [`Bytes`] so that decoding a path
/// or data does not copy. Always valid UTF-8.
#[derive(Clone, PartialEq, Eq, Default, PartialOrd, Ord)]
pub struct ZString(Bytes);

// Hashes as `str` does, so that `HashMap<ZString, _>` can be searched with a
// `&str` (`Borrow<str>` requires equal hashes; `Bytes` hashes like `[u8]`).
impl std::hash::Hash for ZString {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl ZString {
    /// Wraps bytes known to be UTF-8; invalid input is replaced as Java's
    /// decoder does (U+FFFD), which allocates only in that rare case.
    pub fn from_utf8_lossy(bytes: Bytes) -> ZString {
        // Paths are almost always ASCII; checking that is several times
        // cheaper than full UTF-8 validation.
        if bytes.is_ascii() {
            return ZString(bytes);
        }
        match std::str::from_utf8(&bytes) {
            Ok(_) => ZString(bytes),
            Err(_) => ZString(Bytes::from(String::from_utf8_lossy(&bytes).into_owned())),
        }
    }
    /// The part of this string in `range`, sharing its allocation; `None`
    /// if a bound is not on a character boundary.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Option<ZString> {
        let s = self.as_str();
        (range.start <= range.end
            && range.end <= s.len()
            && s.is_char_boundary(range.start)
            && s.is_char_boundary(range.end))
        .then(|| ZString(self.0.slice(range)))
    }
    /// The same string in an allocation of its own (see [`ZData::detached`]).
    pub fn detached(&self) -> ZString {
        ZString(Bytes::copy_from_slice(&self.0))
    }
    pub fn from_static(s: &'static str) -> ZString {
        ZString(Bytes::from_static(s.as_bytes()))
    }
    pub fn as_str(&self) -> &str {
        // SAFETY: every constructor guarantees UTF-8.
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for ZString {
    fn from(s: String) -> ZString {
        ZString(Bytes::from(s))
    }
}

impl From<&str> for ZString {
    fn from(s: &str) -> ZString {
        ZString(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl std::ops::Deref for ZString {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for ZString {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl std::borrow::Borrow<str> for ZString {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for ZString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for ZString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Znode data as jute carries it: a buffer that may be null (length -1).
/// ZooKeeper keeps a node created with null data distinct from one with empty
/// data: `getData` answers length -1 for it (kazoo's `create(path, None)`).
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct ZData {
    bytes: Bytes,
    null: bool,
}

impl ZData {
    pub fn null() -> ZData {
        ZData {
            bytes: Bytes::new(),
            null: true,
        }
    }
    pub fn is_null(&self) -> bool {
        self.null
    }
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }
    /// The same data in an allocation of its own. What the tree keeps must
    /// not be a slice of a request frame or a file buffer: a slice keeps the
    /// whole buffer it came from alive (a connection's 64 KiB read buffer, a
    /// recovery read chunk) for as long as the znode lives.
    pub fn detached(&self) -> ZData {
        if self.bytes.is_empty() {
            // Not a clone: an empty slice still holds its buffer.
            return ZData {
                bytes: Bytes::new(),
                null: self.null,
            };
        }
        ZData {
            bytes: Bytes::copy_from_slice(&self.bytes),
            null: self.null,
        }
    }
    /// `None` for null data, as the wire and the log encode it.
    pub fn as_option(&self) -> Option<&[u8]> {
        if self.null { None } else { Some(&self.bytes) }
    }
}

impl From<Bytes> for ZData {
    fn from(bytes: Bytes) -> ZData {
        ZData { bytes, null: false }
    }
}

impl From<Option<Bytes>> for ZData {
    fn from(b: Option<Bytes>) -> ZData {
        b.map_or_else(ZData::null, ZData::from)
    }
}

impl From<Vec<u8>> for ZData {
    fn from(v: Vec<u8>) -> ZData {
        ZData::from(Bytes::from(v))
    }
}

impl From<&'static [u8]> for ZData {
    fn from(v: &'static [u8]) -> ZData {
        ZData::from(Bytes::from_static(v))
    }
}

impl std::ops::Deref for ZData {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl fmt::Debug for ZData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.null {
            f.write_str("null")
        } else {
            fmt::Debug::fmt(&self.bytes, f)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zxid_splits_epoch_and_counter() {
        let z = Zxid::new(3, 7);
        assert_eq!(z.0, 0x3_0000_0007);
        assert_eq!((z.epoch(), z.counter()), (3, 7));
        assert_eq!(z.next().counter(), 8);
    }

    #[test]
    fn zstring_keyed_map_finds_borrowed_str() {
        let mut m = std::collections::HashMap::new();
        m.insert(ZString::from("/a/b"), 1);
        assert_eq!(m.get("/a/b"), Some(&1));
    }

    #[test]
    fn zstring_replaces_invalid_utf8_like_java() {
        let s = ZString::from_utf8_lossy(Bytes::from_static(b"/a\xffb"));
        assert_eq!(s.as_str(), "/a\u{fffd}b");
    }

    #[test]
    fn zstring_keeps_valid_non_ascii_and_slices_only_on_char_boundaries() {
        let s = ZString::from_utf8_lossy(Bytes::from("/ä/ö".as_bytes().to_vec()));
        assert_eq!(s.as_str(), "/ä/ö");
        assert_eq!(s.slice(4..6).unwrap().as_str(), "ö");
        assert_eq!(s.slice(0..3).unwrap().as_str(), "/ä");
        // Inside the two-byte 'ä', reversed, or past the end: refused.
        assert!(s.slice(2..4).is_none());
        let (hi, lo) = (3, 1);
        assert!(s.slice(hi..lo).is_none());
        assert!(s.slice(0..7).is_none());
    }
}
