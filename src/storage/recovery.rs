//! Startup: the newest valid snapshot, then every logged txn after it
//! (`FileTxnSnapLog.restore`). A torn tail — the last write of the newest log
//! cut short by a crash, never acknowledged — is cut with a warning; a bad
//! record anywhere else is a hard error naming the file and offset.

use super::format::{self, LOG_PREFIX, LogReader, SNAPSHOT_PREFIX, VERSION_DIR};
use super::snapshot;
use crate::proto::txn::Txn;
use crate::proto::{SessionId, Zxid};
use crate::tree::DataTree;
use std::collections::BTreeMap;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// What startup found on disk.
pub struct Recovered {
    pub tree: DataTree,
    /// Live sessions and their timeouts (`ZKDatabase.sessionsWithTimeouts`).
    pub sessions: BTreeMap<SessionId, i32>,
    /// The snapshot loaded, if any (none on a fresh data directory).
    pub snapshot: Option<PathBuf>,
    pub txns_replayed: u64,
    pub log_files_read: usize,
    /// Where a torn tail was cut: file and offset.
    pub cut: Option<(PathBuf, u64)>,
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
    remove_unfinished_snapshots(snap_dir)?;
    let mut tree = DataTree::new();
    tree.set_extended_types_enabled(extended_types);
    let mut sessions = BTreeMap::new();
    let logs = list(log_dir, LOG_PREFIX)?;
    // Newest first; a snapshot that fails to load is passed over for an
    // older one (as ZooKeeper does), provided the logs reach back to it.
    let mut snap_zxid = None;
    let mut loaded = None;
    let mut unusable = None;
    for (zxid, path) in list(snap_dir, SNAPSHOT_PREFIX)?.into_iter().rev() {
        if !snapshot::looks_complete(&path) {
            tracing::warn!("Skipping incomplete snapshot {}", path.display());
            continue;
        }
        match snapshot::load(&path, &mut tree) {
            Ok(info) => {
                sessions = info.sessions.into_iter().collect();
                snap_zxid = Some(zxid);
                loaded = Some(path);
                break;
            }
            Err(e) => {
                tracing::error!("Unusable snapshot: {e}; trying an older one");
                unusable.get_or_insert(e);
                tree = DataTree::new();
                tree.set_extended_types_enabled(extended_types);
            }
        }
    }
    let Some(snap_zxid) = snap_zxid else {
        if let Some(e) = unusable {
            // Never start empty over a snapshot we could not read.
            return Err(RecoveryError::Snapshot(e));
        }
        if logs.is_empty() {
            return Ok(Recovered {
                tree,
                sessions,
                snapshot: None,
                txns_replayed: 0,
                log_files_read: 0,
                cut: None,
            });
        }
        return Err(RecoveryError::LogsWithoutSnapshot {
            snap_dir: snap_dir.to_owned(),
            log_dir: log_dir.to_owned(),
        });
    };
    tracing::info!(
        "Loaded snapshot {} ({} nodes, {} sessions)",
        loaded.as_ref().unwrap().display(),
        tree.node_count(),
        sessions.len()
    );
    let wanted = logs_after(&logs, snap_zxid);
    let mut last = snap_zxid;
    let mut replayed = 0u64;
    let mut cut = None;
    for (i, (_, path)) in wanted.iter().enumerate() {
        let newest = i + 1 == wanted.len();
        // Mapped, not copied: nothing writes the logs until recovery ends
        // (cutting a torn tail overwrites it with zeros; it never truncates).
        let bytes = super::mapped::read(path).map_err(io_err(path))?;
        let mut reader = match LogReader::new(bytes) {
            Ok(r) => r,
            Err(bad) if newest && bad.offset == 0 => {
                // Created but its header never made it: nothing in it was
                // acknowledged.
                tracing::warn!("{}: {}; ignoring the empty log", path.display(), bad.reason);
                continue;
            }
            Err(bad) => {
                return Err(RecoveryError::Corrupt {
                    file: path.clone(),
                    offset: bad.offset,
                    reason: bad.reason,
                });
            }
        };
        let mut bad_record = None;
        for entry in reader.by_ref() {
            let entry = match entry {
                Ok(e) => e,
                Err(bad) => {
                    bad_record = Some(bad);
                    break;
                }
            };
            let zxid = entry.hdr.zxid;
            if zxid <= last {
                continue;
            }
            if zxid.epoch() == last.epoch() && zxid.0 != last.0 + 1 {
                return Err(RecoveryError::Gap {
                    after: last,
                    next: zxid,
                    file: path.clone(),
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
            last = zxid;
            replayed += 1;
        }
        if let Some(bad) = bad_record {
            if !newest || reader.data_after(bad.offset, max_torn) {
                return Err(RecoveryError::Corrupt {
                    file: path.clone(),
                    offset: bad.offset,
                    reason: bad.reason,
                });
            }
            tracing::warn!(
                "{}: torn tail at offset {} ({}); cutting it: it was never acknowledged",
                path.display(),
                bad.offset,
                bad.reason
            );
            zero_from(path, bad.offset, reader.file_len()).map_err(io_err(path))?;
            cut = Some((path.clone(), bad.offset));
        }
    }
    tree.set_last_zxid(last.max(tree.last_zxid()));
    Ok(Recovered {
        tree,
        sessions,
        snapshot: loaded,
        txns_replayed: replayed,
        log_files_read: wanted.len(),
        cut,
    })
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
fn zero_from(path: &Path, from: u64, len: u64) -> std::io::Result<()> {
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
mod tests {
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

    struct Dirs {
        _tmp: tempfile::TempDir,
        snap: PathBuf,
        log: PathBuf,
    }

    fn dirs() -> Dirs {
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
