//! A child name as a parent's child set keeps it: 16 bytes, the text inline
//! when it fits in 15 bytes (most names do: `n00000`, `lock-0000000001`),
//! else on the heap.
//!
//! A set slot holding a [`ZString`](crate::proto::ZString) is 32 bytes and
//! points at a separate allocation, and a set stays between 44% and 87%
//! full: a million children cost about 75 MB of slots and name buffers that
//! a load must touch and zero. Inline names in 16-byte slots cost about 35.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};

/// The longest name kept inline; the 16th byte says which form it is in.
const INLINE_MAX: usize = 15;
/// The tag byte of a heap name (inline names keep their length there).
const HEAP_TAG: u8 = 0xff;

/// Both forms end in the tag byte.
#[derive(Clone, Copy)]
#[repr(C)]
struct Heap {
    ptr: *mut u8,
    len: u32,
    _pad: [u8; 3],
    tag: u8,
}

#[repr(C)]
union Repr {
    inline: [u8; 16],
    heap: Heap,
}

pub struct Name(Repr);

// SAFETY: a heap name owns its buffer alone (as a `Box<str>` does) and never
// changes it; nothing is shared between names.
unsafe impl Send for Name {}
unsafe impl Sync for Name {}

impl Name {
    fn tag(&self) -> u8 {
        // SAFETY: byte 15 is initialized in both forms.
        unsafe { self.0.inline[15] }
    }

    pub fn as_str(&self) -> &str {
        // SAFETY: an inline name's tag is its length (≤ 15) and its first
        // bytes are the text; a heap name's pointer and length come from a
        // `Box<str>` that this name owns until it drops. Both were UTF-8.
        unsafe {
            let bytes = match self.tag() {
                HEAP_TAG => std::slice::from_raw_parts(self.0.heap.ptr, self.0.heap.len as usize),
                len => &self.0.inline[..len as usize],
            };
            std::str::from_utf8_unchecked(bytes)
        }
    }
}

impl From<&str> for Name {
    fn from(s: &str) -> Name {
        if s.len() <= INLINE_MAX {
            let mut inline = [0u8; 16];
            inline[..s.len()].copy_from_slice(s.as_bytes());
            inline[15] = s.len() as u8;
            return Name(Repr { inline });
        }
        // A name comes from a request frame or a file, both far below 4 GiB.
        let len = u32::try_from(s.len()).expect("a znode name under 4 GiB");
        let ptr = Box::into_raw(Box::<str>::from(s)).cast::<u8>();
        Name(Repr {
            heap: Heap {
                ptr,
                len,
                _pad: [0; 3],
                tag: HEAP_TAG,
            },
        })
    }
}

impl Drop for Name {
    fn drop(&mut self) {
        if self.tag() == HEAP_TAG {
            // SAFETY: made by `Box::into_raw` of a `Box<str>` of this length
            // in `From<&str>`, and dropped once, here.
            unsafe {
                let Heap { ptr, len, .. } = self.0.heap;
                let slice = std::ptr::slice_from_raw_parts_mut(ptr, len as usize);
                drop(Box::from_raw(slice as *mut str));
            }
        }
    }
}

impl Clone for Name {
    fn clone(&self) -> Name {
        Name::from(self.as_str())
    }
}

impl std::ops::Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Name {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

// Hashes and compares as `str`, so that a set of names is searched by `&str`.
impl Hash for Name {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Name {}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_sixteen_bytes_and_keeps_short_and_long_names() {
        assert_eq!(std::mem::size_of::<Name>(), 16);
        let cases = [
            "",
            "a",
            "n00000",
            "lock-0000000001",
            "member_0000000001",
            "ünïcödé-name-that-is-long",
            &"x".repeat(70_000),
        ];
        for s in cases {
            let n = Name::from(s);
            assert_eq!(n.as_str(), s);
            let c = n.clone();
            drop(n);
            assert_eq!(&*c, s);
            assert_eq!(c.to_string(), s);
        }
        // 15 bytes fit inline, 16 do not; both read back whole.
        assert_eq!(Name::from("123456789012345").tag(), 15);
        assert_eq!(Name::from("1234567890123456").tag(), HEAP_TAG);
        assert_eq!(&*Name::from("1234567890123456"), "1234567890123456");
    }

    #[test]
    fn hashes_and_compares_as_str_in_a_set() {
        let mut set: std::collections::HashSet<Name, super::super::PathHasher> = Default::default();
        for s in ["a", "b", "a-much-longer-name-on-the-heap"] {
            assert!(set.insert(Name::from(s)));
        }
        assert!(!set.insert(Name::from("a")));
        assert!(set.contains("a-much-longer-name-on-the-heap"));
        assert!(set.remove("b") && !set.contains("b"));
        assert_eq!(set.len(), 2);
        assert_eq!(Name::from("x"), Name::from("x"));
        assert_ne!(Name::from("x"), Name::from("y"));
    }
}
