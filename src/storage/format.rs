//! Apache ZooKeeper's on-disk formats, byte for byte (PROTOCOL.md §10):
//! txn log files (`FileTxnLog`) and snapshots (`FileSnap`), their names, and
//! the Adler32 checksum both use. Pure functions over bytes; the log writer,
//! the snapshotter and recovery do the I/O.

use crate::proto::codec::{DecodeError, Reader, Writer};
use crate::proto::txn::{Txn, TxnHeader};
use crate::proto::{OpCode, Zxid};
use bytes::{Bytes, BytesMut};

/// `FileTxnLog.TXNLOG_MAGIC`: "ZKLG".
pub const LOG_MAGIC: i32 = 0x5a4b_4c47;
/// `FileSnap.SNAP_MAGIC`: "ZKSN".
pub const SNAP_MAGIC: i32 = 0x5a4b_534e;
/// Both files are version 2.
pub const FORMAT_VERSION: i32 = 2;
/// The dbid a txn log header carries.
pub const LOG_DBID: i64 = 0;
/// The dbid a snapshot header carries.
pub const SNAP_DBID: i64 = -1;
/// `FileHeader`: magic, version, dbid.
pub const HEADER_LEN: usize = 16;
/// The byte that ends every log record ("EOR").
pub const END_OF_RECORD: u8 = b'B';
/// Record overhead around the txn bytes: checksum, length, end byte.
pub const RECORD_OVERHEAD: usize = 8 + 4 + 1;
/// ZooKeeper's data directories keep their files here.
pub const VERSION_DIR: &str = "version-2";
pub const LOG_PREFIX: &str = "log";
pub const SNAPSHOT_PREFIX: &str = "snapshot";

/// `java.util.zip.Adler32`, which every ZooKeeper file checksum uses.
#[derive(Clone, Copy, Debug)]
pub struct Adler32 {
    a: u32,
    b: u32,
}

impl Default for Adler32 {
    fn default() -> Self {
        Adler32 { a: 1, b: 0 }
    }
}

impl Adler32 {
    pub fn new() -> Adler32 {
        Adler32::default()
    }

    /// Adds `bytes` to the sum (SIMD where the CPU has it: the snapshot load
    /// sums every byte of the file, scalar code cost 3 instructions a byte).
    pub fn update(&mut self, bytes: &[u8]) {
        let mut h = simd_adler32::Adler32::from_checksum((self.b << 16) | self.a);
        h.write(bytes);
        let sum = h.finish();
        self.a = sum & 0xffff;
        self.b = sum >> 16;
    }

    /// The value as Java's `Checksum.getValue()` returns it (and the files store it).
    pub fn value(&self) -> i64 {
        ((self.b << 16) | self.a) as i64
    }

    pub fn of(bytes: &[u8]) -> i64 {
        let mut c = Adler32::new();
        c.update(bytes);
        c.value()
    }
}

/// `FileHeader { magic, version, dbid }`.
pub fn file_header(magic: i32, dbid: i64) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0..4].copy_from_slice(&magic.to_be_bytes());
    h[4..8].copy_from_slice(&FORMAT_VERSION.to_be_bytes());
    h[8..16].copy_from_slice(&dbid.to_be_bytes());
    h
}

/// Checks a file header; the error says what is wrong.
pub fn check_header(bytes: &[u8], magic: i32) -> Result<(), String> {
    if bytes.len() < HEADER_LEN {
        return Err(format!("file header truncated ({} bytes)", bytes.len()));
    }
    let got = i32::from_be_bytes(bytes[0..4].try_into().unwrap());
    if got != magic {
        return Err(format!("bad magic 0x{got:08x} (expected 0x{magic:08x})"));
    }
    let version = i32::from_be_bytes(bytes[4..8].try_into().unwrap());
    if version != FORMAT_VERSION {
        return Err(format!("unsupported format version {version}"));
    }
    Ok(())
}

/// `log.<zxid hex>` / `snapshot.<zxid hex>` (`Util.makeLogName`, `makeSnapshotName`).
pub fn file_name(prefix: &str, zxid: Zxid) -> String {
    format!("{prefix}.{:x}", zxid.0)
}

/// The zxid in a file name with `prefix` (`Util.getZxidFromName`: the part
/// after the first dot, up to the next one, in hex).
pub fn zxid_from_name(name: &str, prefix: &str) -> Option<Zxid> {
    let mut parts = name.split('.');
    if parts.next()? != prefix {
        return None;
    }
    i64::from_str_radix(parts.next()?, 16).ok().map(Zxid)
}

/// The txn bytes of a record: header, then body (`Util.marshallTxnEntry`, with
/// no digest: ZooKeeper reads records with and without one).
pub fn encode_txn(out: &mut BytesMut, hdr: &TxnHeader, txn: &Txn) {
    let mut w = Writer::new(out);
    hdr.encode(&mut w);
    txn.encode(&mut w);
}

/// Appends one log record: `checksum | length | txn bytes | 'B'`.
pub fn encode_log_record(out: &mut BytesMut, hdr: &TxnHeader, txn: &Txn) {
    let start = out.len();
    out.extend_from_slice(&[0u8; 12]);
    encode_txn(out, hdr, txn);
    let body = &out[start + 12..];
    let len = body.len() as i32;
    let sum = Adler32::of(body);
    out[start..start + 8].copy_from_slice(&sum.to_be_bytes());
    out[start + 8..start + 12].copy_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&[END_OF_RECORD]);
}

/// A txn as read back from a log record.
#[derive(Clone, Debug, PartialEq)]
pub struct LogEntry {
    /// Where the record starts in its file.
    pub offset: u64,
    /// Record length on disk, overhead included.
    pub len: u64,
    pub hdr: TxnHeader,
    pub txn: Txn,
    /// ZooKeeper 3.6+ `TxnDigest`, when present.
    pub digest: Option<TxnDigest>,
}

/// Why a record could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadRecord {
    pub offset: u64,
    pub reason: String,
}

/// ZooKeeper 3.6+ `TxnDigest { version, treeDigest }` after a logged txn.
pub type TxnDigest = (i32, i64);

/// Decodes the txn bytes of a record (`SerializeUtils.deserializeTxn`).
pub fn decode_txn(bytes: Bytes) -> Result<(TxnHeader, Txn, Option<TxnDigest>), DecodeError> {
    let mut r = Reader::new(bytes);
    let hdr = TxnHeader::decode(&mut r)?;
    let txn = if r.is_empty() && hdr.op == OpCode::CloseSession.as_i32() {
        // Logged without its CloseSessionTxn (closeSessionTxn disabled or pre-3.6).
        Txn::CloseSession {
            paths_to_delete: Vec::new(),
        }
    } else {
        Txn::decode(hdr.op, &mut r)?
    };
    let digest = if r.remaining() >= 12 {
        Some((r.read_i32()?, r.read_i64()?))
    } else {
        None
    };
    Ok((hdr, txn, digest))
}

/// Walks the records of one log file held in memory.
pub struct LogReader {
    buf: Bytes,
    pos: usize,
    done: bool,
}

impl LogReader {
    /// Checks the header; the first record starts after it.
    pub fn new(buf: Bytes) -> Result<LogReader, BadRecord> {
        check_header(&buf, LOG_MAGIC).map_err(|reason| BadRecord { offset: 0, reason })?;
        Ok(LogReader {
            buf,
            pos: HEADER_LEN,
            done: false,
        })
    }

    /// Where the next record would start: after a clean end, the end of the
    /// valid data (where appending resumes).
    pub fn position(&self) -> u64 {
        self.pos as u64
    }

    pub fn file_len(&self) -> u64 {
        self.buf.len() as u64
    }

    pub fn bytes(&self) -> &Bytes {
        &self.buf
    }

    /// Reads the record at `pos` without moving; `Ok(None)` at the end of the
    /// data (end of file, or the zero padding ZooKeeper calls EOF).
    fn read_at(&self, pos: usize) -> Result<Option<LogEntry>, BadRecord> {
        let bad = |reason: String| BadRecord {
            offset: pos as u64,
            reason,
        };
        let rest = &self.buf[pos.min(self.buf.len())..];
        if rest.len() < 12 {
            return if rest.iter().all(|&b| b == 0) {
                Ok(None)
            } else {
                Err(bad(format!("short record ({} bytes left)", rest.len())))
            };
        }
        let sum = i64::from_be_bytes(rest[0..8].try_into().unwrap());
        let len = i32::from_be_bytes(rest[8..12].try_into().unwrap());
        if len == 0 {
            return if sum == 0 {
                Ok(None)
            } else {
                Err(bad(format!("zero-length record with checksum {sum}")))
            };
        }
        if len < 0 || 12 + len as usize + 1 > rest.len() {
            return Err(bad(format!(
                "record length {len} runs past the end of the file"
            )));
        }
        let len = len as usize;
        let body = &rest[12..12 + len];
        if rest[12 + len] != END_OF_RECORD {
            return Err(bad(format!(
                "record not terminated by 'B' (found 0x{:02x})",
                rest[12 + len]
            )));
        }
        let actual = Adler32::of(body);
        if actual != sum {
            return Err(bad(format!(
                "checksum mismatch (stored {sum}, computed {actual})"
            )));
        }
        let bytes = self.buf.slice(pos + 12..pos + 12 + len);
        let (hdr, txn, digest) =
            decode_txn(bytes).map_err(|e| bad(format!("undecodable txn: {e}")))?;
        Ok(Some(LogEntry {
            offset: pos as u64,
            len: (len + RECORD_OVERHEAD) as u64,
            hdr,
            txn,
            digest,
        }))
    }

    /// Whether anything after a bad record at `offset` looks like data that
    /// was once acknowledged: a valid record right after it, or any non-zero
    /// byte beyond the reach of one torn write (`max_torn` bytes). Only a
    /// bad record with neither is a torn tail that may be cut.
    pub fn data_after(&self, offset: u64, max_torn: u64) -> bool {
        let pos = offset as usize;
        if pos + 12 <= self.buf.len() {
            let len = i32::from_be_bytes(self.buf[pos + 8..pos + 12].try_into().unwrap());
            if len > 0 {
                let next = pos + 12 + len as usize + 1;
                if next < self.buf.len() && matches!(self.read_at(next), Ok(Some(_))) {
                    return true;
                }
            }
        }
        let beyond = pos.saturating_add(max_torn as usize).min(self.buf.len());
        self.buf[beyond..].iter().any(|&b| b != 0)
    }
}

impl Iterator for LogReader {
    type Item = Result<LogEntry, BadRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.read_at(self.pos) {
            Ok(Some(e)) => {
                self.pos += e.len as usize;
                Some(Ok(e))
            }
            Ok(None) => {
                self.done = true;
                None
            }
            Err(bad) => {
                self.done = true;
                Some(Err(bad))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::records::Acl;
    use crate::proto::{ErrorCode, SessionId, ZData};

    fn hdr(zxid: i64, op: OpCode) -> TxnHeader {
        TxnHeader {
            session_id: SessionId(0x100),
            cxid: 7,
            zxid: Zxid(zxid),
            time_ms: 1_700_000_000_000,
            op: op.as_i32(),
        }
    }

    fn create(path: &str) -> Txn {
        Txn::Create {
            op: OpCode::Create,
            path: path.into(),
            data: ZData::from(Bytes::from_static(b"v")),
            acl: Acl::open_unsafe(),
            ephemeral: false,
            parent_cversion: 1,
        }
    }

    fn log_with(records: &[(TxnHeader, Txn)], padding: usize) -> Bytes {
        let mut out = BytesMut::new();
        out.extend_from_slice(&file_header(LOG_MAGIC, LOG_DBID));
        for (h, t) in records {
            encode_log_record(&mut out, h, t);
        }
        out.extend_from_slice(&vec![0u8; padding]);
        out.freeze()
    }

    #[test]
    fn adler32_matches_known_values() {
        // Values from java.util.zip.Adler32 / zlib.
        assert_eq!(Adler32::of(b""), 1);
        assert_eq!(Adler32::of(b"a"), 0x0062_0062);
        assert_eq!(Adler32::of(b"Wikipedia"), 0x11e6_0398);
        // Long input crosses the 5552-byte modulo boundary many times.
        let big = vec![0xffu8; 100_000];
        let mut split = Adler32::new();
        split.update(&big[..33_333]);
        split.update(&big[33_333..]);
        assert_eq!(split.value(), Adler32::of(&big));
        assert_eq!(Adler32::of(&big), naive_adler(&big));
    }

    fn naive_adler(bytes: &[u8]) -> i64 {
        let (mut a, mut b) = (1u64, 0u64);
        for &x in bytes {
            a = (a + x as u64) % 65521;
            b = (b + a) % 65521;
        }
        ((b << 16) | a) as i64
    }

    #[test]
    fn header_bytes_are_zookeepers() {
        assert_eq!(&file_header(LOG_MAGIC, LOG_DBID)[..8], b"ZKLG\0\0\0\x02");
        assert_eq!(&file_header(SNAP_MAGIC, SNAP_DBID)[..4], b"ZKSN");
        assert_eq!(&file_header(SNAP_MAGIC, SNAP_DBID)[8..], &[0xff; 8]);
        assert!(check_header(b"ZKLG", LOG_MAGIC).is_err());
        assert!(check_header(&file_header(SNAP_MAGIC, -1), LOG_MAGIC).is_err());
    }

    #[test]
    fn names_carry_zxid_in_hex() {
        assert_eq!(file_name(LOG_PREFIX, Zxid(0x1_0000_002a)), "log.10000002a");
        assert_eq!(
            zxid_from_name("snapshot.1f", SNAPSHOT_PREFIX),
            Some(Zxid(0x1f))
        );
        assert_eq!(
            zxid_from_name("snapshot.1f.snappy", SNAPSHOT_PREFIX),
            Some(Zxid(0x1f))
        );
        assert_eq!(zxid_from_name("log.1f", SNAPSHOT_PREFIX), None);
        assert_eq!(zxid_from_name("tmp.snapshot.1f", SNAPSHOT_PREFIX), None);
        assert_eq!(zxid_from_name("log.zz", LOG_PREFIX), None);
    }

    #[test]
    fn records_round_trip_and_padding_ends_the_log() {
        let recs = vec![
            (hdr(1, OpCode::Create), create("/a")),
            (hdr(2, OpCode::Error), Txn::Error(ErrorCode::NodeExists)),
            (
                hdr(3, OpCode::CloseSession),
                Txn::CloseSession {
                    paths_to_delete: vec!["/e".into()],
                },
            ),
        ];
        let buf = log_with(&recs, 4096);
        let mut r = LogReader::new(buf.clone()).unwrap();
        let got: Vec<_> = r.by_ref().map(|e| e.unwrap()).collect();
        assert_eq!(got.len(), 3);
        for (e, (h, t)) in got.iter().zip(&recs) {
            assert_eq!(&e.hdr, h);
            assert_eq!(&e.txn, t);
            assert_eq!(e.digest, None);
        }
        assert_eq!(got[0].offset, HEADER_LEN as u64);
        assert_eq!(r.position(), buf.len() as u64 - 4096);
    }

    #[test]
    fn a_digest_after_the_txn_is_read() {
        let mut body = BytesMut::new();
        encode_txn(&mut body, &hdr(1, OpCode::Create), &create("/a"));
        body.extend_from_slice(&2i32.to_be_bytes());
        body.extend_from_slice(&12345i64.to_be_bytes());
        let (_, txn, digest) = decode_txn(body.freeze()).unwrap();
        assert_eq!(txn, create("/a"));
        assert_eq!(digest, Some((2, 12345)));
    }

    #[test]
    fn flipped_byte_is_a_bad_record_at_its_offset() {
        let recs: Vec<_> = (1..=3)
            .map(|z| (hdr(z, OpCode::Create), create(&format!("/n{z}"))))
            .collect();
        let good = log_with(&recs, 1024);
        let second = LogReader::new(good.clone())
            .unwrap()
            .nth(1)
            .unwrap()
            .unwrap();
        let mut bad = good.to_vec();
        bad[second.offset as usize + 20] ^= 0x01;
        let mut r = LogReader::new(Bytes::from(bad)).unwrap();
        assert!(r.next().unwrap().is_ok());
        let err = r.next().unwrap().unwrap_err();
        assert_eq!(err.offset, second.offset);
        assert!(err.reason.contains("checksum"), "{}", err.reason);
        assert!(r.next().is_none());
        // A valid record follows: this is not a torn tail.
        assert!(r.data_after(err.offset, 1 << 20));
    }

    #[test]
    fn torn_last_record_has_nothing_after_it() {
        let recs: Vec<_> = (1..=2)
            .map(|z| (hdr(z, OpCode::Create), create(&format!("/n{z}"))))
            .collect();
        let good = log_with(&recs, 8192);
        let last = LogReader::new(good.clone())
            .unwrap()
            .nth(1)
            .unwrap()
            .unwrap();
        let mut torn = good.to_vec();
        // The second half of the last record never reached the disk.
        let cut = (last.offset + last.len / 2) as usize;
        torn[cut..cut + 20].fill(0);
        let mut r = LogReader::new(Bytes::from(torn)).unwrap();
        assert!(r.next().unwrap().is_ok());
        let err = r.next().unwrap().unwrap_err();
        assert_eq!(err.offset, last.offset);
        assert!(!r.data_after(err.offset, 1 << 20));
        // Garbage far beyond one write's reach is not a torn tail.
        let mut far = good.to_vec();
        far[cut] ^= 0xff;
        let n = far.len();
        far[n - 1] = 7;
        let r = LogReader::new(Bytes::from(far)).unwrap();
        assert!(r.data_after(last.offset, 1024));
    }

    #[test]
    fn short_garbage_at_the_end_is_a_bad_record() {
        let mut buf = log_with(&[(hdr(1, OpCode::Create), create("/a"))], 0).to_vec();
        buf.extend_from_slice(&[1, 2, 3]);
        let r = LogReader::new(Bytes::from(buf));
        let v: Vec<_> = r.unwrap().collect();
        assert!(v[0].is_ok());
        assert!(v[1].is_err());
    }
}
