//! Startup: the newest valid snapshot, then every logged txn after it
//! (`FileTxnSnapLog.restore`). A torn tail — the last write of the newest log
//! cut short by a crash, never acknowledged — is cut with a warning; a bad
//! record anywhere else is a hard error naming the file and offset.
//!
//! A learner runs it again while serving, after `truncate` has cut its
//! history (TRUNC) or a SNAP has been installed, and swaps the fresh tree
//! in. It reports what replication needs besides the tree: the last logged
//! zxid and, if asked, the last txns replayed (the DIFF window).

use super::format::{self, LOG_PREFIX, LogReader, SNAPSHOT_PREFIX, VERSION_DIR};
use super::snapshot;
use crate::proto::txn::Txn;
use crate::proto::{SessionId, Zxid};
use crate::tree::DataTree;
use bytes::Bytes;
use std::collections::{BTreeMap, VecDeque};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// What startup found on disk.
pub struct Recovered {
    /// A tree of its own: a learner replacing its database after a TRUNC or
    /// SNAP swaps it in for the one it serves.
    pub tree: DataTree,
    /// Live sessions and their timeouts (`ZKDatabase.sessionsWithTimeouts`).
    pub sessions: BTreeMap<SessionId, i32>,
    /// The snapshot loaded, if any (none on a fresh data directory).
    pub snapshot: Option<PathBuf>,
    /// The zxid it was named for.
    pub snapshot_zxid: Option<Zxid>,
    /// The last logged zxid (the snapshot's if no logged txn follows it).
    /// Recovery applies every logged txn, committed or not, as ZooKeeper's
    /// `FileTxnSnapLog.restore` does, so this is also the tree's last zxid:
    /// the zxid a vote and an ACKEPOCH carry, and what the epoch files are
    /// checked against ([`super::epoch::load_epochs`]).
    pub last_logged: Zxid,
    /// The last [`RecoverOptions::keep_txns`] txns replayed, oldest first:
    /// what ZooKeeper refills its `committedLog` with on load, so that a
    /// leader can answer a DIFF from memory after a restart.
    pub recent: VecDeque<RecentTxn>,
    pub txns_replayed: u64,
    pub log_files_read: usize,
    /// Where a torn tail was cut: file and offset.
    pub cut: Option<(PathBuf, u64)>,
}

/// One replayed txn as the log holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecentTxn {
    pub zxid: Zxid,
    /// The record's txn bytes: header, body and any digest, as a PROPOSAL
    /// carries them. Copied out of the log file, which a later truncation
    /// may rewrite.
    pub bytes: Bytes,
}

/// How to recover.
#[derive(Clone, Copy, Debug)]
pub struct RecoverOptions {
    /// `zookeeper.extendedTypesEnabled`.
    pub extended_types: bool,
    /// The most bytes one log write can span (the reach of a torn tail).
    pub max_torn: u64,
    /// How many of the last replayed txns to keep in [`Recovered::recent`]
    /// (ZooKeeper: `zookeeper.commitLogCount`, 500); 0 keeps none.
    pub keep_txns: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error(
        "{file}: offset {offset}: {reason} (corruption before the end of the log; not skipped)"
    )]
    Corrupt {
        file: PathBuf,
        offset: u64,
        reason: String,
    },
    #[error("{0}")]
    Snapshot(#[from] snapshot::SnapshotError),
    #[error(
        "no snapshot found in {snap_dir}, but there are log entries in {log_dir}; refusing to start \
         (as ZooKeeper does without zookeeper.snapshot.trust.empty)"
    )]
    LogsWithoutSnapshot { snap_dir: PathBuf, log_dir: PathBuf },
    #[error("txn log gap: after zxid {after} the next logged txn is {next} ({file})")]
    Gap {
        after: Zxid,
        next: Zxid,
        file: PathBuf,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> RecoveryError + '_ {
    move |source| RecoveryError::Io {
        path: path.to_owned(),
        source,
    }
}

/// `<dir>/version-2`, created if missing.
pub fn version_dir(dir: &Path) -> Result<PathBuf, RecoveryError> {
    let d = dir.join(VERSION_DIR);
    std::fs::create_dir_all(&d).map_err(io_err(&d))?;
    Ok(d)
}

/// Files named `<prefix>.<zxid hex>` in `dir`, by zxid ascending.
pub fn list(dir: &Path, prefix: &str) -> Result<Vec<(Zxid, PathBuf)>, RecoveryError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        if let Some(z) = name
            .to_str()
            .and_then(|n| format::zxid_from_name(n, prefix))
        {
            out.push((z, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// The log files holding txns after `zxid`: the newest one starting at or
/// before it, and every later one (`FileTxnLog.getLogFiles`).
pub fn logs_after(logs: &[(Zxid, PathBuf)], zxid: Zxid) -> &[(Zxid, PathBuf)] {
    let start = logs.iter().rposition(|(z, _)| *z <= zxid).unwrap_or(0);
    &logs[start.min(logs.len())..]
}

/// Recovers the tree from `snap_dir` and `log_dir` (both `version-2`
/// directories). `max_torn` is the most bytes one log write can span.
pub fn recover(
    snap_dir: &Path,
    log_dir: &Path,
    extended_types: bool,
    max_torn: u64,
) -> Result<Recovered, RecoveryError> {
    let opts = RecoverOptions {
        extended_types,
        max_torn,
        keep_txns: 0,
    };
    recover_with(snap_dir, log_dir, &opts)
}

/// [`recover`] with every option. Nothing else may write either directory
/// meanwhile; it may run while the server serves another tree (a learner
/// rebuilding its database after a TRUNC or SNAP), provided no snapshot of
/// that tree is being written.
pub fn recover_with(
    snap_dir: &Path,
    log_dir: &Path,
    opts: &RecoverOptions,
) -> Result<Recovered, RecoveryError> {
    remove_unfinished_snapshots(snap_dir)?;
    let logs = list(log_dir, LOG_PREFIX)?;
    let Some(base) = load_newest_snapshot(snap_dir, opts.extended_types)? else {
        if !logs.is_empty() {
            return Err(RecoveryError::LogsWithoutSnapshot {
                snap_dir: snap_dir.to_owned(),
                log_dir: log_dir.to_owned(),
            });
        }
        let mut tree = DataTree::new();
        tree.set_extended_types_enabled(opts.extended_types);
        return Ok(Recovered {
            tree,
            sessions: BTreeMap::new(),
            snapshot: None,
            snapshot_zxid: None,
            last_logged: Zxid::ZERO,
            recent: VecDeque::new(),
            txns_replayed: 0,
            log_files_read: 0,
            cut: None,
        });
    };
    tracing::info!(
        "Loaded snapshot {} ({} nodes, {} sessions)",
        base.path.display(),
        base.tree.node_count(),
        base.sessions.len()
    );
    let Snapshot {
        zxid: snap_zxid,
        path,
        mut tree,
        mut sessions,
    } = base;
    let wanted = logs_after(&logs, snap_zxid);
    let mut replay = Replay {
        last: snap_zxid,
        replayed: 0,
        recent: VecDeque::new(),
        keep: opts.keep_txns,
    };
    let mut cut = None;
    for (i, (_, log)) in wanted.iter().enumerate() {
        let newest = i + 1 == wanted.len();
        if let Some(at) = replay.file(log, newest, opts.max_torn, &mut tree, &mut sessions)? {
            cut = Some((log.clone(), at));
        }
    }
    let last = replay.last;
    tree.set_last_zxid(last.max(tree.last_zxid()));
    Ok(Recovered {
        tree,
        sessions,
        snapshot: Some(path),
        snapshot_zxid: Some(snap_zxid),
        last_logged: last,
        recent: replay.recent,
        txns_replayed: replay.replayed,
        log_files_read: wanted.len(),
        cut,
    })
}

/// A snapshot loaded.
struct Snapshot {
    zxid: Zxid,
    path: PathBuf,
    tree: DataTree,
    sessions: BTreeMap<SessionId, i32>,
}

/// The newest snapshot that loads; `None` if there is none at all. A
/// snapshot that fails to load is passed over for an older one (as
/// ZooKeeper does); if none loads, the first failure is the error (never
/// start empty over a snapshot we could not read).
fn load_newest_snapshot(
    snap_dir: &Path,
    extended_types: bool,
) -> Result<Option<Snapshot>, RecoveryError> {
    let mut unusable = None;
    for (zxid, path) in list(snap_dir, SNAPSHOT_PREFIX)?.into_iter().rev() {
        if !snapshot::looks_complete(&path) {
            tracing::warn!("Skipping incomplete snapshot {}", path.display());
            continue;
        }
        let mut tree = DataTree::new();
        tree.set_extended_types_enabled(extended_types);
        match snapshot::load(&path, &mut tree) {
            Ok(info) => {
                return Ok(Some(Snapshot {
                    zxid,
                    path,
                    tree,
                    sessions: info.sessions.into_iter().collect(),
                }));
            }
            Err(e) => {
                tracing::error!("Unusable snapshot: {e}; trying an older one");
                unusable.get_or_insert(e);
            }
        }
    }
    match unusable {
        Some(e) => Err(RecoveryError::Snapshot(e)),
        None => Ok(None),
    }
}

/// Log replay over a loaded snapshot.
struct Replay {
    /// The last zxid applied (at first, the snapshot's).
    last: Zxid,
    replayed: u64,
    recent: VecDeque<RecentTxn>,
    keep: usize,
}

impl Replay {
    /// Applies the txns of one log file after `last`; returns where a torn
    /// tail was cut, if one was (only the newest file may have one).
    fn file(
        &mut self,
        path: &Path,
        newest: bool,
        max_torn: u64,
        tree: &mut DataTree,
        sessions: &mut BTreeMap<SessionId, i32>,
    ) -> Result<Option<u64>, RecoveryError> {
        // Mapped, not copied: nothing writes the logs until recovery ends
        // (cutting a torn tail overwrites it with zeros; it never truncates).
        let bytes = super::mapped::read(path).map_err(io_err(path))?;
        let corrupt = |bad: format::BadRecord| RecoveryError::Corrupt {
            file: path.to_owned(),
            offset: bad.offset,
            reason: bad.reason,
        };
        let mut reader = match LogReader::new(bytes) {
            Ok(r) => r,
            Err(bad) if newest && bad.offset == 0 => {
                // Created but its header never made it: nothing in it was
                // acknowledged.
                tracing::warn!("{}: {}; ignoring the empty log", path.display(), bad.reason);
                return Ok(None);
            }
            Err(bad) => return Err(corrupt(bad)),
        };
        let file = reader.bytes().clone();
        let mut bad_record = None;
        for entry in reader.by_ref() {
            match entry {
                Ok(e) => {
                    // The txn bytes: between checksum and length, and the
                    // end-of-record byte.
                    let txn = &file[e.offset as usize + 12..(e.offset + e.len) as usize - 1];
                    self.apply(path, &e, txn, tree, sessions)?;
                }
                Err(bad) => bad_record = Some(bad),
            }
        }
        let Some(bad) = bad_record else {
            return Ok(None);
        };
        if !newest || reader.data_after(bad.offset, max_torn) {
            return Err(corrupt(bad));
        }
        tracing::warn!(
            "{}: torn tail at offset {} ({}); cutting it: it was never acknowledged",
            path.display(),
            bad.offset,
            bad.reason
        );
        zero_from(path, bad.offset, reader.file_len()).map_err(io_err(path))?;
        Ok(Some(bad.offset))
    }

    fn apply(
        &mut self,
        path: &Path,
        entry: &format::LogEntry,
        txn_bytes: &[u8],
        tree: &mut DataTree,
        sessions: &mut BTreeMap<SessionId, i32>,
    ) -> Result<(), RecoveryError> {
        let zxid = entry.hdr.zxid;
        if zxid <= self.last {
            return Ok(());
        }
        if zxid.epoch() == self.last.epoch() && zxid.0 != self.last.0 + 1 {
            return Err(RecoveryError::Gap {
                after: self.last,
                next: zxid,
                file: path.to_owned(),
            });
        }
        match &entry.txn {
            Txn::CreateSession { timeout_ms } => {
                sessions.insert(entry.hdr.session_id, *timeout_ms);
            }
            Txn::CloseSession { .. } => {
                sessions.remove(&entry.hdr.session_id);
            }
            _ => {}
        }
        // Over a fuzzy snapshot some txns are already reflected; the tree
        // answers those with an error and stays consistent.
        let _ = tree.apply(&entry.hdr, &entry.txn, &mut Vec::new());
        if self.keep > 0 {
            if self.recent.len() == self.keep {
                self.recent.pop_front();
            }
            self.recent.push_back(RecentTxn {
                zxid,
                bytes: Bytes::copy_from_slice(txn_bytes),
            });
        }
        self.last = zxid;
        self.replayed += 1;
        Ok(())
    }
}

/// Snapshots a crash interrupted (`tmp.snapshot.<zxid>`, never renamed into
/// place) are of no use: removed at start so they do not pile up.
fn remove_unfinished_snapshots(snap_dir: &Path) -> Result<(), RecoveryError> {
    for entry in std::fs::read_dir(snap_dir).map_err(io_err(snap_dir))? {
        let path = entry.map_err(io_err(snap_dir))?.path();
        let unfinished = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("tmp.snapshot."));
        if unfinished {
            tracing::info!("Removing unfinished snapshot {}", path.display());
            std::fs::remove_file(&path).map_err(io_err(&path))?;
        }
    }
    Ok(())
}

/// Zeroes `[from, len)` of a log file and syncs it, so the cut tail reads as
/// padding from now on (to ZooKeeper too).
pub(super) fn zero_from(path: &Path, from: u64, len: u64) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
    f.seek(SeekFrom::Start(from))?;
    let zeros = vec![0u8; 1 << 16];
    let mut at = from;
    while at < len {
        let n = ((len - at) as usize).min(zeros.len());
        f.write_all(&zeros[..n])?;
        at += n as u64;
    }
    f.sync_all()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::proto::records::Acl;
    use crate::proto::txn::TxnHeader;
    use crate::proto::{OpCode, ZData};
    use bytes::{Bytes, BytesMut};
    use parking_lot::RwLock;

    fn hdr(zxid: i64, txn: &Txn) -> TxnHeader {
        TxnHeader {
            session_id: SessionId(0x1000),
            cxid: 1,
            zxid: Zxid(zxid),
            time_ms: 5000,
            op: txn.op().as_i32(),
        }
    }

    fn create(path: &str, pcv: i32) -> Txn {
        Txn::Create {
            op: OpCode::Create,
            path: path.into(),
            data: ZData::from(Bytes::from(path.as_bytes().to_vec())),
            acl: Acl::open_unsafe(),
            ephemeral: false,
            parent_cversion: pcv,
        }
    }

    fn write_log(dir: &Path, first: i64, txns: &[Txn], padding: usize) -> PathBuf {
        let mut out = BytesMut::new();
        out.extend_from_slice(&format::file_header(format::LOG_MAGIC, format::LOG_DBID));
        for (i, t) in txns.iter().enumerate() {
            format::encode_log_record(&mut out, &hdr(first + i as i64, t), t);
        }
        out.extend_from_slice(&vec![0u8; padding]);
        let path = dir.join(format::file_name(LOG_PREFIX, Zxid(first)));
        std::fs::write(&path, &out).unwrap();
        path
    }

    /// A data directory and a log directory (their `version-2`s) for a test.
    pub(crate) struct Dirs {
        _tmp: tempfile::TempDir,
        pub(crate) snap: PathBuf,
        pub(crate) log: PathBuf,
    }

    pub(crate) fn dirs() -> Dirs {
        let tmp = tempfile::tempdir().unwrap();
        let snap = version_dir(&tmp.path().join("data")).unwrap();
        let log = version_dir(&tmp.path().join("log")).unwrap();
        Dirs {
            _tmp: tmp,
            snap,
            log,
        }
    }

    fn empty_snapshot(d: &Dirs) {
        snapshot::take(&RwLock::new(DataTree::new()), &[], Zxid(0), &d.snap).unwrap();
    }

    #[test]
    fn fresh_directories_recover_an_empty_tree() {
        let d = dirs();
        let r = recover(&d.snap, &d.log, false, 1 << 20).unwrap();
        assert!(r.snapshot.is_none());
        assert_eq!(r.tree.node_count(), 4);
        assert_eq!(r.tree.last_zxid(), Zxid(0));
    }

    #[test]
    fn unfinished_snapshots_are_removed_and_ignored() {
        let d = dirs();
        empty_snapshot(&d);
        let tmp = d.snap.join("tmp.snapshot.7");
        std::fs::write(&tmp, b"half a snapshot").unwrap();
        let r = recover(&d.snap, &d.log, false, 1 << 20).unwrap();
        assert_eq!(r.snapshot.unwrap().file_name().unwrap(), "snapshot.0");
        assert!(!tmp.exists());
    }

    #[test]
    fn logs_without_a_snapshot_refuse_to_start() {
        let d = dirs();
        write_log(&d.log, 1, &[create("/a", 1)], 100);
        assert!(matches!(
            recover(&d.snap, &d.log, false, 1 << 20),
            Err(RecoveryError::LogsWithoutSnapshot { .. })
        ));
    }

    #[test]
    fn snapshot_then_logs_across_files_and_sessions() {
        let d = dirs();
        empty_snapshot(&d);
        let session = Txn::CreateSession { timeout_ms: 8000 };
        write_log(&d.log, 1, &[session, create("/a", 1)], 512);
        write_log(&d.log, 3, &[create("/b", 2), create("/a/c", 1)], 512);
        let r = recover(&d.snap, &d.log, false, 1 << 20).unwrap();
        assert_eq!(r.txns_replayed, 4);
        assert_eq!(r.log_files_read, 2);
        assert_eq!(r.tree.last_zxid(), Zxid(4));
        assert!(r.tree.get("/a/c").is_some());
        assert_eq!(r.sessions.get(&SessionId(0x1000)), Some(&8000));
        assert!(r.cut.is_none());
    }

    #[test]
    fn torn_tail_of_the_newest_log_is_cut_and_stays_cut() {
        let d = dirs();
        empty_snapshot(&d);
        let path = write_log(&d.log, 1, &[create("/a", 1), create("/b", 2)], 4096);
        let mut bytes = std::fs::read(&path).unwrap();
        let second = LogReader::new(Bytes::from(bytes.clone()))
            .unwrap()
            .nth(1)
            .unwrap()
            .unwrap();
        let end = (second.offset + second.len) as usize;
        bytes[end - 8..end].fill(0); // the write never finished
        std::fs::write(&path, &bytes).unwrap();
        let r = recover(&d.snap, &d.log, false, 1 << 20).unwrap();
        assert_eq!(r.cut, Some((path.clone(), second.offset)));
        assert!(r.tree.get("/a").is_some());
        assert!(r.tree.get("/b").is_none());
        // A later log after the cut one: the cut file is clean now.
        write_log(&d.log, 2, &[create("/c", 2)], 100);
        let r = recover(&d.snap, &d.log, false, 1 << 20).unwrap();
        assert!(r.cut.is_none());
        assert!(r.tree.get("/c").is_some());
    }

    #[test]
    fn corruption_before_the_tail_is_a_hard_error_with_file_and_offset() {
        let d = dirs();
        empty_snapshot(&d);
        let path = write_log(&d.log, 1, &[create("/a", 1), create("/b", 2)], 64);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[format::HEADER_LEN + 30] ^= 0x10;
        std::fs::write(&path, &bytes).unwrap();
        match recover(&d.snap, &d.log, false, 1 << 20) {
            Err(RecoveryError::Corrupt { file, offset, .. }) => {
                assert_eq!(file, path);
                assert_eq!(offset, format::HEADER_LEN as u64);
            }
            other => panic!("expected corruption, got {:?}", other.err()),
        }
        // A bad record in an older log file is corruption even at its end.
        let d = dirs();
        empty_snapshot(&d);
        let old = write_log(&d.log, 1, &[create("/a", 1)], 64);
        write_log(&d.log, 2, &[create("/b", 2)], 64);
        let mut bytes = std::fs::read(&old).unwrap();
        bytes[format::HEADER_LEN + 30] ^= 0x10;
        std::fs::write(&old, &bytes).unwrap();
        assert!(matches!(
            recover(&d.snap, &d.log, false, 1 << 20),
            Err(RecoveryError::Corrupt { .. })
        ));
    }

    #[test]
    fn a_gap_in_zxids_is_refused() {
        let d = dirs();
        empty_snapshot(&d);
        write_log(&d.log, 1, &[create("/a", 1)], 64);
        write_log(&d.log, 3, &[create("/b", 2)], 64);
        assert!(matches!(
            recover(&d.snap, &d.log, false, 1 << 20),
            Err(RecoveryError::Gap { .. })
        ));
    }

    #[test]
    fn a_corrupt_newest_snapshot_falls_back_to_an_older_one() {
        let d = dirs();
        empty_snapshot(&d);
        write_log(&d.log, 1, &[create("/a", 1), create("/b", 2)], 64);
        let mut t = DataTree::new();
        let c = create("/a", 1);
        t.apply(&hdr(1, &c), &c, &mut Vec::new()).unwrap();
        let (newer, _) = snapshot::take(&RwLock::new(t), &[], Zxid(1), &d.snap).unwrap();
        let mut bytes = std::fs::read(&newer).unwrap();
        bytes[40] ^= 1;
        std::fs::write(&newer, &bytes).unwrap();
        let r = recover(&d.snap, &d.log, false, 1 << 20).unwrap();
        assert_eq!(r.snapshot.unwrap().file_name().unwrap(), "snapshot.0");
        assert!(r.tree.get("/b").is_some());
    }

    #[test]
    fn last_logged_and_the_recent_window_come_from_the_replayed_log() {
        let d = dirs();
        let fresh = recover(&d.snap, &d.log, false, 1 << 20).unwrap();
        assert_eq!(fresh.last_logged, Zxid::ZERO);
        assert_eq!(fresh.snapshot_zxid, None);
        empty_snapshot(&d);
        let txns: Vec<Txn> = (0..10).map(|i| create(&format!("/n{i}"), i + 1)).collect();
        write_log(&d.log, 1, &txns[..6], 64);
        let second = write_log(&d.log, 7, &txns[6..], 64);
        let opts = RecoverOptions {
            extended_types: false,
            max_torn: 1 << 20,
            keep_txns: 4,
        };
        let r = recover_with(&d.snap, &d.log, &opts).unwrap();
        assert_eq!(r.last_logged, Zxid(10));
        assert_eq!(r.tree.last_zxid(), Zxid(10));
        assert_eq!(r.snapshot_zxid, Some(Zxid(0)));
        let zxids: Vec<i64> = r.recent.iter().map(|t| t.zxid.0).collect();
        assert_eq!(zxids, [7, 8, 9, 10]);
        // The bytes are the record's own, not a slice of the mapped file.
        let logged = std::fs::read(&second).unwrap();
        let last = &r.recent[3].bytes;
        let at = logged
            .windows(last.len())
            .position(|w| w == &last[..])
            .unwrap();
        assert_eq!(at + last.len() + 1, logged.len() - 64, "ends before 'B'");
        let (logged_hdr, txn, _) = format::decode_txn(last.clone()).unwrap();
        assert_eq!((logged_hdr.zxid, txn), (Zxid(10), txns[9].clone()));
        // By default nothing is kept; a snapshot alone is its own last zxid.
        assert!(
            recover(&d.snap, &d.log, false, 1 << 20)
                .unwrap()
                .recent
                .is_empty()
        );
        let d = dirs();
        let mut t = DataTree::new();
        let c = create("/a", 1);
        t.apply(&hdr(5, &c), &c, &mut Vec::new()).unwrap();
        snapshot::take(&RwLock::new(t), &[], Zxid(5), &d.snap).unwrap();
        assert_eq!(
            recover(&d.snap, &d.log, false, 1 << 20)
                .unwrap()
                .last_logged,
            Zxid(5)
        );
    }

    #[test]
    fn logs_after_picks_the_file_holding_the_next_zxid() {
        let logs: Vec<_> = [1, 10, 20]
            .iter()
            .map(|&z| (Zxid(z), PathBuf::from(format!("log.{z:x}"))))
            .collect();
        assert_eq!(logs_after(&logs, Zxid(15)).len(), 2);
        assert_eq!(logs_after(&logs, Zxid(10)).len(), 2);
        assert_eq!(logs_after(&logs, Zxid(0)).len(), 3);
        assert_eq!(logs_after(&logs, Zxid(25)).len(), 1);
    }
}
