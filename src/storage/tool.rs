//! `corral data log FILE` and `corral data snapshot FILE`: human-readable dumps
//! of ZooKeeper-format txn logs and snapshots, in the spirit of ZooKeeper's
//! `TxnLogToolkit` (dump mode) and `SnapshotFormatter`. Reads only; never
//! repairs or truncates. Every function writes to an `impl Write` and returns
//! what it found, so the binary maps that to an exit status and tests assert
//! on the text. Parsing itself lives in [`super::format`] and
//! [`super::snapshot`]; this module only walks and prints.

use super::format::{self, BadRecord, LogReader};
use super::snapshot::{self, Item};
use crate::proto::records::Acl;
use crate::proto::txn::{Txn, TxnHeader};
use crate::proto::{OpCode, SessionId, ZData, Zxid, perms};
use crate::tree::DataTree;
use bytes::Bytes;
use std::collections::HashMap;
use std::io::{self, Write};

/// How far past a bad record one torn write could reach: anything non-zero
/// beyond it means the bad record is not just an interrupted last append.
pub const TORN_WRITE_BYTES_MAX: u64 = 4 << 20;

/// Longest data preview printed for a txn, in bytes.
const PREVIEW_BYTES_MAX: usize = 48;

/// Options of `corral data log`.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogOptions {
    /// Print at most this many records (the whole file is still checked).
    pub limit: Option<u64>,
}

/// What a log dump found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogSummary {
    pub records: u64,
    pub first_zxid: Option<Zxid>,
    pub last_zxid: Option<Zxid>,
    pub with_digest: u64,
    /// Where valid data ends (the next append would go here).
    pub valid_bytes: u64,
    pub file_bytes: u64,
    /// The first bad record and whether it looks like a torn tail.
    pub bad: Option<(BadRecord, bool)>,
    /// Zxids that did not increase: `(offset, zxid, previous zxid)`.
    pub out_of_order: Vec<(u64, Zxid, Zxid)>,
}

impl LogSummary {
    /// Whether the file is clean (the binary exits 0 only then).
    pub fn ok(&self) -> bool {
        self.bad.is_none() && self.out_of_order.is_empty()
    }
}

/// Dumps a txn log held in `buf` (`name` is only for the header line).
pub fn dump_log(
    buf: Bytes,
    name: &str,
    opts: LogOptions,
    out: &mut impl Write,
) -> io::Result<LogSummary> {
    let mut sum = LogSummary {
        file_bytes: buf.len() as u64,
        ..Default::default()
    };
    let header = header_line(&buf);
    let mut reader = match LogReader::new(buf) {
        Ok(r) => r,
        Err(bad) => {
            writeln!(out, "{name}: not a txn log: {}", bad.reason)?;
            writeln!(out, "BAD RECORD at offset {}: {}", bad.offset, bad.reason)?;
            sum.bad = Some((bad, false));
            return Ok(sum);
        }
    };
    writeln!(out, "{name}: ZooKeeper txn log, {header}")?;
    let mut printed = 0u64;
    while let Some(item) = reader.next() {
        match item {
            Ok(e) => {
                if let Some(prev) = sum.last_zxid
                    && e.hdr.zxid <= prev
                {
                    sum.out_of_order.push((e.offset, e.hdr.zxid, prev));
                }
                sum.first_zxid.get_or_insert(e.hdr.zxid);
                sum.last_zxid = Some(e.hdr.zxid);
                sum.records += 1;
                sum.with_digest += e.digest.is_some() as u64;
                if opts.limit.is_none_or(|n| printed < n) {
                    write_txn_line(out, &e.hdr, &e.txn)?;
                    printed += 1;
                }
            }
            Err(bad) => {
                let torn = !reader.data_after(bad.offset, TORN_WRITE_BYTES_MAX);
                sum.bad = Some((bad, torn));
            }
        }
    }
    sum.valid_bytes = reader.position();
    if printed < sum.records {
        writeln!(
            out,
            "... {} more records not printed",
            sum.records - printed
        )?;
    }
    writeln!(out, "---- summary")?;
    writeln!(out, "header: {header}")?;
    match (sum.first_zxid, sum.last_zxid) {
        (Some(first), Some(last)) => writeln!(
            out,
            "records: {} (zxid {first} .. {last}), {} with a digest",
            sum.records, sum.with_digest
        )?,
        _ => writeln!(out, "records: 0")?,
    }
    writeln!(
        out,
        "valid bytes: {} of {} (the rest is {})",
        sum.valid_bytes,
        sum.file_bytes,
        if sum.bad.is_some() {
            "unread"
        } else {
            "zero padding"
        }
    )?;
    for (offset, zxid, prev) in &sum.out_of_order {
        writeln!(
            out,
            "ZXID OUT OF ORDER at offset {offset}: {zxid} after {prev}"
        )?;
    }
    if let Some((bad, torn)) = &sum.bad {
        writeln!(out, "BAD RECORD at offset {}: {}", bad.offset, bad.reason)?;
        if *torn {
            writeln!(
                out,
                "looks like a torn tail: nothing valid after it (an interrupted last append)"
            )?;
        } else {
            writeln!(
                out,
                "looks like corruption before the tail: data follows the bad record"
            )?;
        }
    }
    Ok(sum)
}

/// `magic ZKLG version 2 dbid 0`, or what is there.
fn header_line(buf: &[u8]) -> String {
    if buf.len() < format::HEADER_LEN {
        return format!("header truncated ({} bytes)", buf.len());
    }
    let magic = &buf[0..4];
    let magic = if magic.iter().all(|b| b.is_ascii_graphic()) {
        String::from_utf8_lossy(magic).into_owned()
    } else {
        format!(
            "0x{:08x}",
            u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]])
        )
    };
    let version = i32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
    let mut dbid = [0u8; 8];
    dbid.copy_from_slice(&buf[8..16]);
    format!(
        "magic {magic} version {version} dbid {}",
        i64::from_be_bytes(dbid)
    )
}

/// One line per txn: time, session, cxid, zxid, type, then the txn's fields.
pub fn write_txn_line(out: &mut impl Write, hdr: &TxnHeader, txn: &Txn) -> io::Result<()> {
    let op = OpCode::from_i32(hdr.op).map_or("unknown", OpCode::name);
    writeln!(
        out,
        "{} session {} cxid 0x{:x} zxid {} {op} {}",
        iso_time(hdr.time_ms),
        hdr.session_id,
        hdr.cxid,
        hdr.zxid,
        txn_summary(txn, hdr.session_id)
    )
}

/// The fields of a txn, one `key=value` after another; `session` is the
/// header's, the owner of an ephemeral node the txn creates.
pub fn txn_summary(txn: &Txn, session: SessionId) -> String {
    match txn {
        Txn::Create {
            path,
            data,
            acl,
            ephemeral,
            parent_cversion,
            ..
        } => {
            let mut s = format!(
                "{path} {} acl={} parentCversion={parent_cversion}",
                data_preview(data),
                acl_list(acl)
            );
            if *ephemeral {
                s.push_str(&format!(" ephemeralOwner={session}"));
            }
            s
        }
        Txn::CreateContainer {
            path,
            data,
            acl,
            parent_cversion,
        } => format!(
            "{path} {} acl={} parentCversion={parent_cversion} container",
            data_preview(data),
            acl_list(acl)
        ),
        Txn::CreateTtl {
            path,
            data,
            acl,
            parent_cversion,
            ttl_ms,
        } => format!(
            "{path} {} acl={} parentCversion={parent_cversion} ttl={ttl_ms}ms",
            data_preview(data),
            acl_list(acl)
        ),
        Txn::Delete { path, .. } => path.to_string(),
        Txn::SetData {
            path,
            data,
            version,
        } => format!("{path} {} version={version}", data_preview(data)),
        Txn::SetAcl { path, acl, version } => {
            format!("{path} acl={} version={version}", acl_list(acl))
        }
        Txn::Check { path, version } => format!("{path} version={version}"),
        Txn::CreateSession { timeout_ms } => format!("timeout={timeout_ms}ms"),
        Txn::CloseSession { paths_to_delete } => {
            let paths: Vec<&str> = paths_to_delete.iter().map(|p| p.as_str()).collect();
            format!("ephemerals=[{}]", paths.join(","))
        }
        Txn::Error(code) => format!("err={} ({code:?})", code.as_i32()),
        Txn::Multi(txns) => {
            let ops: Vec<String> = txns
                .iter()
                .map(|t| format!("{} {}", t.op().name(), txn_summary(t, session)))
                .collect();
            format!("{} ops: [{}]", txns.len(), ops.join("; "))
        }
    }
}

/// `data=null`, `data[5]="hello"`, `data[3]=0x00ff10`, cut at
/// [`PREVIEW_BYTES_MAX`] with a trailing `...`.
pub fn data_preview(data: &ZData) -> String {
    let Some(bytes) = data.as_option() else {
        return "data=null".into();
    };
    let shown = &bytes[..bytes.len().min(PREVIEW_BYTES_MAX)];
    let more = if shown.len() < bytes.len() { "..." } else { "" };
    format!("data[{}]={}{more}", bytes.len(), printable(shown))
}

/// Text if the bytes are UTF-8 without control characters (quoted, escaped),
/// otherwise hex. A cut in the middle of a UTF-8 sequence falls back to hex.
fn printable(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) if !s.chars().any(|c| c.is_control()) => format!("{s:?}"),
        _ => {
            let mut s = String::with_capacity(2 + 2 * bytes.len());
            s.push_str("0x");
            for b in bytes {
                s.push_str(&format!("{b:02x}"));
            }
            s
        }
    }
}

/// `[digest:u:hash=:cdrwa,world:anyone:r]`, as zkCli's getAcl spells permissions.
pub fn acl_list(acls: &[Acl]) -> String {
    let items: Vec<String> = acls
        .iter()
        .map(|a| format!("{}:{}:{}", a.id.scheme, a.id.id, perm_letters(a.perms)))
        .collect();
    format!("[{}]", items.join(","))
}

fn perm_letters(p: i32) -> String {
    let mut s = String::new();
    for (bit, c) in [
        (perms::CREATE, 'c'),
        (perms::DELETE, 'd'),
        (perms::READ, 'r'),
        (perms::WRITE, 'w'),
        (perms::ADMIN, 'a'),
    ] {
        if p & bit != 0 {
            s.push(c);
        }
    }
    s
}

/// Milliseconds since the epoch as ISO-8601 UTC (`2024-01-31T12:00:00.000Z`).
pub fn iso_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + (m <= 2) as i64;
    (y, m, d)
}

/// Options of `corral data snapshot`.
#[derive(Clone, Copy, Debug, Default)]
pub struct SnapshotOptions {
    /// Print each node's data (text if printable, base64 otherwise).
    pub data: bool,
    /// Print only the summary.
    pub summary_only: bool,
}

/// What a snapshot dump found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnapshotSummary {
    pub nodes: u64,
    pub data_bytes: u64,
    pub sessions: u64,
    pub acl_entries: u64,
    /// `(zxid, version, digest)` after the seal (ZooKeeper 3.6+).
    pub digest: Option<(i64, i32, i64)>,
    /// Where the file stops making sense, and why.
    pub bad: Option<(u64, String)>,
}

impl SnapshotSummary {
    pub fn ok(&self) -> bool {
        self.bad.is_none()
    }
}

/// Dumps a snapshot held in `buf`. Nodes are also loaded into a scratch
/// [`DataTree`], so a file that parses but that corral could not recover from
/// (a node before its parent, a dangling ACL id) is reported too.
pub fn dump_snapshot(
    buf: Bytes,
    name: &str,
    opts: SnapshotOptions,
    out: &mut impl Write,
) -> io::Result<SnapshotSummary> {
    let mut sum = SnapshotSummary::default();
    let file_bytes = buf.len();
    if buf.starts_with(&[0x1f, 0x8b]) || buf.starts_with(b"\xffsNaPpY") {
        writeln!(
            out,
            "{name}: a compressed snapshot (gz or snappy); decompress it first"
        )?;
        sum.bad = Some((0, "compressed snapshot".into()));
        return Ok(sum);
    }
    let zxid = format::zxid_from_name(name_tail(name), format::SNAPSHOT_PREFIX);
    let mut tree = DataTree::new();
    let mut load = tree.begin_load();
    // Ephemeral owners, counted for the session table printed after the nodes.
    let mut ephemerals: HashMap<i64, u64> = HashMap::new();
    let mut acl_lines: Vec<String> = Vec::new();
    let mut write_err: Option<io::Error> = None;
    if !opts.summary_only {
        writeln!(out, "{name}: ZooKeeper snapshot, {}", header_line(&buf))?;
        writeln!(out, "ZNode Details:")?;
    }
    let parsed = snapshot::parse(buf, |item| match item {
        Item::Acl(id, acls) => {
            acl_lines.push(format!("  {id}: {}", acl_list(&acls)));
            load.acl(id as u64, acls);
            Ok(())
        }
        Item::Node(_, path, node) => {
            sum.nodes += 1;
            sum.data_bytes += node.data.bytes().len() as u64;
            if node.ephemeral_owner != 0 {
                *ephemerals.entry(node.ephemeral_owner).or_default() += 1;
            }
            if !opts.summary_only
                && let Err(e) = write_node(out, &path, &node, opts.data)
            {
                write_err = Some(e);
                return Err("output failed".into());
            }
            load.node(path, node).map_err(|e| e.to_string())
        }
    });
    if let Some(e) = write_err {
        return Err(e);
    }
    match parsed {
        Ok(info) => {
            sum.sessions = info.sessions.len() as u64;
            sum.acl_entries = info.acl_entries as u64;
            sum.digest = info.digest;
            if !opts.summary_only {
                writeln!(out, "----")?;
                writeln!(out, "Session Details (sid, timeout, ephemeralCount):")?;
                for (sid, timeout) in &info.sessions {
                    let count = ephemerals.get(&sid.0).copied().unwrap_or(0);
                    writeln!(out, "{sid}, {timeout}, {count}")?;
                }
                writeln!(out, "----")?;
                writeln!(out, "ACL table ({} entries):", info.acl_entries)?;
                for line in &acl_lines {
                    writeln!(out, "{line}")?;
                }
            }
        }
        Err((offset, reason)) => sum.bad = Some((offset, reason)),
    }
    writeln!(out, "---- summary")?;
    writeln!(out, "file: {name} ({file_bytes} bytes)")?;
    if let Some(z) = zxid {
        writeln!(out, "zxid (from name): {z}")?;
    }
    writeln!(
        out,
        "nodes: {}, data bytes: {}, sessions: {}, ACL entries: {}",
        sum.nodes, sum.data_bytes, sum.sessions, sum.acl_entries
    )?;
    match sum.digest {
        Some((z, v, d)) => writeln!(out, "digest: zxid {} version {v} value {d}", Zxid(z))?,
        None if sum.bad.is_none() => writeln!(out, "digest: none")?,
        None => {}
    }
    match &sum.bad {
        None => writeln!(out, "checksum: OK")?,
        Some((offset, reason)) => writeln!(out, "BAD SNAPSHOT at offset {offset}: {reason}")?,
    }
    Ok(sum)
}

/// The last component of a path, for the zxid in the file name.
fn name_tail(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

fn write_node(
    out: &mut impl Write,
    path: &str,
    n: &crate::tree::Znode,
    with_data: bool,
) -> io::Result<()> {
    writeln!(out, "----")?;
    writeln!(out, "{}", if path.is_empty() { "/" } else { path })?;
    writeln!(out, "  cZxid = {}", Zxid(n.czxid))?;
    writeln!(out, "  ctime = {}", iso_time(n.ctime))?;
    writeln!(out, "  mZxid = {}", Zxid(n.mzxid))?;
    writeln!(out, "  mtime = {}", iso_time(n.mtime))?;
    writeln!(out, "  pZxid = {}", Zxid(n.pzxid))?;
    writeln!(out, "  cversion = {}", n.cversion)?;
    writeln!(out, "  dataVersion = {}", n.version)?;
    writeln!(out, "  aclVersion = {}", n.aversion)?;
    writeln!(out, "  ephemeralOwner = 0x{:x}", n.ephemeral_owner)?;
    writeln!(out, "  dataLength = {}", n.data.bytes().len())?;
    if with_data {
        writeln!(out, "  data = {}", node_data(&n.data))?;
    }
    Ok(())
}

/// Data as printable text (quoted) or base64 (`base64:...`), `null` for none.
fn node_data(data: &ZData) -> String {
    use base64::Engine;
    match data.as_option() {
        None => "null".into(),
        Some(b) => match std::str::from_utf8(b) {
            Ok(s) if !s.chars().any(|c| c.is_control()) => format!("{s:?}"),
            _ => format!(
                "base64:{}",
                base64::engine::general_purpose::STANDARD.encode(b)
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::ErrorCode;
    use crate::proto::txn::TxnHeader;
    use bytes::BytesMut;
    use parking_lot::RwLock;

    const SESSION: SessionId = SessionId(0x100_0000_0000_0007);

    fn hdr(zxid: i64, op: OpCode) -> TxnHeader {
        TxnHeader {
            session_id: SESSION,
            cxid: zxid as i32 + 0x10,
            zxid: Zxid(zxid),
            time_ms: 1_700_000_000_000 + zxid,
            op: op.as_i32(),
        }
    }

    fn create(path: &str, data: &'static [u8], ephemeral: bool) -> Txn {
        Txn::Create {
            op: OpCode::Create,
            path: path.into(),
            data: ZData::from(data),
            acl: Acl::open_unsafe(),
            ephemeral,
            parent_cversion: 1,
        }
    }

    fn sample_txns() -> Vec<(TxnHeader, Txn)> {
        let set = Txn::SetData {
            path: "/a".into(),
            data: ZData::from(&b"\x00\xff"[..]),
            version: 1,
        };
        vec![
            (
                hdr(1, OpCode::CreateSession),
                Txn::CreateSession { timeout_ms: 30_000 },
            ),
            (hdr(2, OpCode::Create), create("/a", b"hello", false)),
            (hdr(3, OpCode::Create), create("/a/e", b"", true)),
            (
                hdr(4, OpCode::Multi),
                Txn::Multi(vec![
                    set,
                    Txn::Delete {
                        op: OpCode::Delete,
                        path: "/a/e".into(),
                    },
                ]),
            ),
            (hdr(5, OpCode::Error), Txn::Error(ErrorCode::NoNode)),
            (
                hdr(6, OpCode::SetAcl),
                Txn::SetAcl {
                    path: "/a".into(),
                    acl: vec![Acl::new(perms::READ | perms::ADMIN, "digest", "u:h=")],
                    version: 0,
                },
            ),
            (
                hdr(7, OpCode::CloseSession),
                Txn::CloseSession {
                    paths_to_delete: vec!["/x".into(), "/y".into()],
                },
            ),
        ]
    }

    fn log_with(records: &[(TxnHeader, Txn)], padding: usize) -> Bytes {
        let mut out = BytesMut::new();
        out.extend_from_slice(&format::file_header(format::LOG_MAGIC, format::LOG_DBID));
        for (h, t) in records {
            format::encode_log_record(&mut out, h, t);
        }
        out.extend_from_slice(&vec![0u8; padding]);
        out.freeze()
    }

    fn dump(buf: Bytes, limit: Option<u64>) -> (String, LogSummary) {
        let mut out = Vec::new();
        let sum = dump_log(buf, "log.1", LogOptions { limit }, &mut out).unwrap();
        (String::from_utf8(out).unwrap(), sum)
    }

    /// Offsets of each record, as the reader finds them.
    fn offsets(buf: &Bytes) -> Vec<u64> {
        LogReader::new(buf.clone())
            .unwrap()
            .map(|e| e.unwrap().offset)
            .collect()
    }

    #[test]
    fn log_dump_prints_each_txn_and_a_summary() {
        let buf = log_with(&sample_txns(), 1000);
        let (text, sum) = dump(buf.clone(), None);
        assert!(sum.ok(), "{text}");
        assert_eq!(sum.records, 7);
        assert_eq!(sum.valid_bytes, buf.len() as u64 - 1000);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "log.1: ZooKeeper txn log, magic ZKLG version 2 dbid 0"
        );
        assert_eq!(
            lines[1],
            "2023-11-14T22:13:20.001Z session 0x100000000000007 cxid 0x11 zxid 0x1 \
             createSession timeout=30000ms"
        );
        assert!(
            lines[2].ends_with(
                "zxid 0x2 create /a data[5]=\"hello\" acl=[world:anyone:cdrwa] parentCversion=1"
            ),
            "{}",
            lines[2]
        );
        assert!(
            lines[3].ends_with(
                "create /a/e data[0]=\"\" acl=[world:anyone:cdrwa] parentCversion=1 \
                 ephemeralOwner=0x100000000000007"
            ),
            "{}",
            lines[3]
        );
        assert!(
            lines[4].ends_with("multi 2 ops: [setData /a data[2]=0x00ff version=1; delete /a/e]"),
            "{}",
            lines[4]
        );
        assert!(
            lines[5].ends_with("error err=-101 (NoNode)"),
            "{}",
            lines[5]
        );
        assert!(
            lines[6].ends_with("setACL /a acl=[digest:u:h=:ra] version=0"),
            "{}",
            lines[6]
        );
        assert!(
            lines[7].ends_with("closeSession ephemerals=[/x,/y]"),
            "{}",
            lines[7]
        );
        assert!(text.contains("records: 7 (zxid 0x1 .. 0x7), 0 with a digest\n"));
        assert!(text.contains(&format!(
            "valid bytes: {} of {} (the rest is zero padding)\n",
            buf.len() - 1000,
            buf.len()
        )));
        assert!(!text.contains("BAD"));
    }

    #[test]
    fn log_dump_limit_prints_fewer_but_checks_all() {
        let (text, sum) = dump(log_with(&sample_txns(), 0), Some(2));
        assert_eq!(sum.records, 7);
        assert_eq!(text.lines().filter(|l| l.contains(" zxid 0x")).count(), 2);
        assert!(text.contains("... 5 more records not printed\n"), "{text}");
    }

    #[test]
    fn flipped_byte_in_the_log_is_reported_at_its_record() {
        let good = log_with(&sample_txns(), 4096);
        let at = offsets(&good);
        let mut bad = good.to_vec();
        // A byte inside the third record's path.
        bad[at[2] as usize + 12 + 32 + 5] ^= 0x20;
        let (text, sum) = dump(Bytes::from(bad), None);
        assert!(!sum.ok());
        let (record, torn) = sum.bad.clone().unwrap();
        assert_eq!(record.offset, at[2]);
        assert!(!torn, "valid records follow");
        assert_eq!(sum.records, 2);
        assert_eq!(sum.valid_bytes, at[2]);
        assert!(
            text.contains(&format!(
                "BAD RECORD at offset {}: checksum mismatch",
                at[2]
            )),
            "{text}"
        );
        assert!(
            text.contains("looks like corruption before the tail"),
            "{text}"
        );
    }

    #[test]
    fn torn_last_record_is_called_a_torn_tail() {
        let good = log_with(&sample_txns(), 4096);
        let at = offsets(&good);
        let last = *at.last().unwrap() as usize;
        let mut torn = good.to_vec();
        torn[last + 14..last + 40].fill(0);
        let (text, sum) = dump(Bytes::from(torn), None);
        assert_eq!(
            sum.bad.as_ref().map(|(b, t)| (b.offset, *t)),
            Some((last as u64, true))
        );
        assert!(
            text.contains(&format!("BAD RECORD at offset {last}")),
            "{text}"
        );
        assert!(text.contains("looks like a torn tail"), "{text}");
    }

    #[test]
    fn a_record_with_an_unknown_txn_type_is_undecodable() {
        let mut h = hdr(1, OpCode::Create);
        h.op = 77;
        let buf = log_with(&[(h, create("/a", b"x", false))], 0);
        let (text, sum) = dump(buf, None);
        assert!(!sum.ok());
        assert!(
            text.contains(&format!(
                "BAD RECORD at offset {}: undecodable txn",
                format::HEADER_LEN
            )),
            "{text}"
        );
    }

    #[test]
    fn not_a_log_is_bad_at_offset_zero() {
        let (text, sum) = dump(Bytes::from_static(b"ZKSN\0\0\0\x02\0\0\0\0\0\0\0\0"), None);
        assert!(!sum.ok());
        assert!(text.contains("BAD RECORD at offset 0: bad magic"), "{text}");
    }

    #[test]
    fn decreasing_zxids_are_reported() {
        let mut txns = sample_txns();
        txns.swap(1, 2);
        let (text, sum) = dump(log_with(&txns, 0), None);
        assert!(!sum.ok());
        assert!(text.contains("ZXID OUT OF ORDER at offset"), "{text}");
    }

    #[test]
    fn iso_time_is_utc_with_millis() {
        assert_eq!(iso_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_time(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(iso_time(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso_time(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn previews_are_text_when_printable_else_hex_and_cut() {
        assert_eq!(data_preview(&ZData::null()), "data=null");
        assert_eq!(
            data_preview(&ZData::from(&b"a\"b"[..])),
            "data[3]=\"a\\\"b\""
        );
        assert_eq!(data_preview(&ZData::from(&b"\x01z"[..])), "data[2]=0x017a");
        let long = ZData::from(vec![b'x'; 100]);
        assert_eq!(
            data_preview(&long),
            format!("data[100]=\"{}\"...", "x".repeat(PREVIEW_BYTES_MAX))
        );
    }

    fn sample_tree() -> DataTree {
        let mut t = DataTree::new();
        let mut apply = |zxid: i64, txn: Txn| {
            t.apply(&hdr(zxid, txn.op()), &txn, &mut Vec::new())
                .unwrap();
        };
        apply(1, create("/a", b"hello", false));
        apply(2, create("/a/e", b"\x00\x01", true));
        apply(
            3,
            Txn::Create {
                op: OpCode::Create,
                path: "/s".into(),
                data: ZData::null(),
                acl: vec![Acl::new(perms::ALL, "digest", "u:h=")],
                ephemeral: false,
                parent_cversion: 2,
            },
        );
        t
    }

    fn take_sample(dir: &std::path::Path) -> (std::path::PathBuf, Bytes) {
        let tree = RwLock::new(sample_tree());
        let sessions = [(SESSION, 30_000), (SessionId(0x200), 4_000)];
        let (path, _) = snapshot::take(&tree, &sessions, Zxid(3), dir).unwrap();
        let bytes = Bytes::from(std::fs::read(&path).unwrap());
        (path, bytes)
    }

    fn dump_snap(buf: Bytes, opts: SnapshotOptions) -> (String, SnapshotSummary) {
        let mut out = Vec::new();
        let sum = dump_snapshot(buf, "dir/snapshot.3", opts, &mut out).unwrap();
        (String::from_utf8(out).unwrap(), sum)
    }

    #[test]
    fn snapshot_dump_lists_nodes_sessions_and_summary() {
        let dir = tempfile::tempdir().unwrap();
        let (_, buf) = take_sample(dir.path());
        let opts = SnapshotOptions {
            data: true,
            summary_only: false,
        };
        let (text, sum) = dump_snap(buf.clone(), opts);
        assert!(sum.ok(), "{text}");
        // /, /zookeeper, /zookeeper/quota, /zookeeper/config, /a, /a/e, /s
        assert_eq!(sum.nodes, 7);
        assert_eq!(sum.sessions, 2);
        assert_eq!(sum.data_bytes, 7);
        assert!(
            text.contains(
                "----\n/a/e\n  cZxid = 0x2\n  ctime = 2023-11-14T22:13:20.002Z\n  \
                 mZxid = 0x2\n  mtime = 2023-11-14T22:13:20.002Z\n  pZxid = 0x2\n  \
                 cversion = 0\n  dataVersion = 0\n  aclVersion = 0\n  \
                 ephemeralOwner = 0x100000000000007\n  dataLength = 2\n  data = base64:AAE=\n"
            ),
            "{text}"
        );
        assert!(text.contains("\n/a\n"), "{text}");
        assert!(text.contains("  data = \"hello\"\n"), "{text}");
        assert!(text.contains("----\n/s\n"), "{text}");
        assert!(text.contains("  data = null\n"), "{text}");
        assert!(
            text.contains(
                "Session Details (sid, timeout, ephemeralCount):\n\
                 0x100000000000007, 30000, 1\n0x200, 4000, 0\n"
            ),
            "{text}"
        );
        assert!(text.contains("[digest:u:h=:cdrwa]"), "{text}");
        assert!(text.contains(&format!("file: dir/snapshot.3 ({} bytes)\n", buf.len())));
        assert!(text.contains("zxid (from name): 0x3\n"));
        assert!(
            text.contains("nodes: 7, data bytes: 7, sessions: 2, ACL entries: 3\n"),
            "{text}"
        );
        assert!(text.ends_with("digest: none\nchecksum: OK\n"), "{text}");
    }

    #[test]
    fn snapshot_summary_flag_prints_only_the_summary() {
        let dir = tempfile::tempdir().unwrap();
        let (_, buf) = take_sample(dir.path());
        let opts = SnapshotOptions {
            data: false,
            summary_only: true,
        };
        let (text, sum) = dump_snap(buf, opts);
        assert!(sum.ok());
        assert!(text.starts_with("---- summary\n"), "{text}");
        assert!(!text.contains("cZxid"));
    }

    #[test]
    fn flipped_byte_in_a_snapshot_is_reported_with_its_offset() {
        let dir = tempfile::tempdir().unwrap();
        let (_, good) = take_sample(dir.path());
        // A flipped data byte parses but breaks the seal: reported where the
        // seal starts (checksum, then "/": 8 + 4 + 1 bytes at the end).
        let at = good
            .windows(5)
            .position(|w| w == b"hello")
            .expect("data in file");
        let mut bad = good.to_vec();
        bad[at] ^= 0x01;
        let (text, sum) = dump_snap(Bytes::from(bad), SnapshotOptions::default());
        let seal = good.len() as u64 - 13;
        assert_eq!(sum.bad.as_ref().map(|b| b.0), Some(seal), "{text}");
        assert!(
            text.contains(&format!(
                "BAD SNAPSHOT at offset {seal}: snapshot checksum mismatch"
            )),
            "{text}"
        );
        // A broken length in a node's path is a format error at that node.
        let mut node_at = Vec::new();
        snapshot::parse(good.clone(), |item| {
            if let Item::Node(offset, path, _) = item
                && path.as_str() == "/a"
            {
                node_at.push(offset);
            }
            Ok(())
        })
        .unwrap();
        let node = node_at[0] as usize;
        let mut bad = good.to_vec();
        bad[node] = 0x7f;
        let (text, sum) = dump_snap(Bytes::from(bad), SnapshotOptions::default());
        assert_eq!(sum.bad.as_ref().map(|b| b.0), Some(node as u64), "{text}");
        assert!(
            text.contains(&format!("BAD SNAPSHOT at offset {node}: ")),
            "{text}"
        );
        assert!(!sum.ok());
    }
}
