//! Just enough DER to walk the structures the TLS module reads by hand: a
//! certificate's subject name and a JKS key entry's `EncryptedPrivateKeyInfo`.
//! Reads definite-length, single-byte-tag TLVs; never allocates, never
//! interprets what it reads.

/// Universal tags this crate looks for.
pub const SEQUENCE: u8 = 0x30;
pub const SET: u8 = 0x31;
pub const OID: u8 = 0x06;
pub const OCTET_STRING: u8 = 0x04;
/// `[0]` constructed: a certificate's explicit version.
pub const CONTEXT_0: u8 = 0xa0;

/// One element: its tag, its content, and its whole encoding.
#[derive(Debug, Clone, Copy)]
pub struct Tlv<'a> {
    pub tag: u8,
    pub content: &'a [u8],
    pub encoded: &'a [u8],
}

/// A cursor over a run of DER elements.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The next element, or `None` at the end or on malformed input.
    pub fn next_tlv(&mut self) -> Option<Tlv<'a>> {
        let all = self.rest;
        let (&tag, after_tag) = all.split_first()?;
        if tag & 0x1f == 0x1f {
            return None; // multi-byte tags: never used by what we read
        }
        let (&first, mut after_len) = after_tag.split_first()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || after_len.len() < n {
                return None;
            }
            let mut len = 0usize;
            for &b in &after_len[..n] {
                len = (len << 8) | usize::from(b);
            }
            after_len = &after_len[n..];
            len
        };
        if after_len.len() < len {
            return None;
        }
        let header = all.len() - after_len.len();
        let content = &after_len[..len];
        self.rest = &after_len[len..];
        Some(Tlv {
            tag,
            content,
            encoded: &all[..header + len],
        })
    }

    /// The next element if it has `tag`.
    pub fn expect(&mut self, tag: u8) -> Option<Tlv<'a>> {
        let tlv = self.next_tlv()?;
        (tlv.tag == tag).then_some(tlv)
    }
}

/// An OID's content bytes in dotted form (`2.5.4.3`).
pub fn oid_dotted(content: &[u8]) -> Option<String> {
    let (&first, rest) = content.split_first()?;
    let mut arcs = vec![u64::from(first / 40).min(2), 0];
    arcs[1] = u64::from(first) - arcs[0] * 40;
    let mut acc: u64 = 0;
    for &b in rest {
        acc = acc.checked_mul(128)? | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            arcs.push(acc);
            acc = 0;
        }
    }
    if rest.last().is_some_and(|b| b & 0x80 != 0) {
        return None;
    }
    Some(
        arcs.iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join("."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_short_and_long_lengths_and_stops_on_truncation() {
        let mut long = vec![0x04, 0x81, 200];
        long.extend(std::iter::repeat_n(7u8, 200));
        let mut r = Reader::new(&long);
        let tlv = r.expect(OCTET_STRING).map(|t| t.content.len());
        assert_eq!(tlv, Some(200));
        assert!(r.is_empty());
        assert!(Reader::new(&long[..100]).next_tlv().is_none());
        assert!(Reader::new(&[0x30, 0x03, 0x01]).next_tlv().is_none());
    }

    #[test]
    fn oid_renders_dotted() {
        // 1.2.840.113549.1.9.1 (emailAddress)
        let bytes = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01];
        assert_eq!(oid_dotted(&bytes).as_deref(), Some("1.2.840.113549.1.9.1"));
        assert_eq!(oid_dotted(&[0x55, 0x04, 0x03]).as_deref(), Some("2.5.4.3"));
    }
}
