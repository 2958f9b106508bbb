//! Cutting a learner's history back on disk: ZAB's TRUNC (keep the txns up
//! to a zxid, drop the rest) and the clearing a SNAP needs (drop every log
//! and every snapshot above the one received). The caller has closed its log
//! writer and waited out any snapshot being written, and runs
//! [`super::recovery::recover`] afterwards for the tree to serve
//! (ZooKeeper's `ZKDatabase.truncateLog` clears and reloads the same way).
//!
//! A log record is dropped by zeroing it and everything after it in its
//! segment (a zero length reads as the end of the log, to ZooKeeper too,
//! which truncates the file instead: `FileTxnLog.truncate`); later segments
//! are deleted. Unlike ZooKeeper's TRUNC (`FileTxnSnapLog.truncateLog`
//! touches only the logs), snapshots named above the zxid are deleted too:
//! recovery would otherwise load one and bring back the txns just cut.
//!
//! Every step leaves a directory that recovers to a consistent history,
//! should the process die between two steps: later log segments go first,
//! newest first, each removal synced, so the log is always a prefix of what
//! it was; the segment's tail is zeroed next; the snapshots above the zxid
//! go last, so that a snapshot the log no longer reaches is still the newest
//! and recovery takes all of it. Nothing is changed before the plan is
//! known to work: a zxid this directory cannot reproduce is an error, and
//! the learner then needs a SNAP.

use super::format::{self, LOG_PREFIX, LogReader, SNAPSHOT_PREFIX};
use super::logdev::sync_parent_dir;
use super::recovery::{RecoveryError, list, logs_after, zero_from};
use super::snapshot::looks_complete;
use crate::proto::Zxid;
use std::path::{Path, PathBuf};

/// What a truncation changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TruncateReport {
    /// The last zxid that recovery will now reach: the truncation zxid,
    /// except for an epoch's first zxid (counter 0), which no txn has: then
    /// the last txn before it.
    pub last_kept: Zxid,
    /// The segment whose tail was zeroed, and from where.
    pub cut: Option<(PathBuf, u64)>,
    /// Log segments and snapshots deleted, in the order deleted.
    pub logs_removed: Vec<PathBuf>,
    pub snapshots_removed: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum TruncateError {
    #[error(
        "cannot truncate to {zxid}: no complete snapshot at or below it in {} (a SNAP is needed)",
        snap_dir.display()
    )]
    NoSnapshot { zxid: Zxid, snap_dir: PathBuf },
    #[error(
        "cannot truncate to {zxid}: after snapshot {snapshot} the log reaches only {last} \
         (a SNAP is needed)"
    )]
    NotLogged {
        zxid: Zxid,
        snapshot: Zxid,
        last: Zxid,
    },
    #[error("cannot clear the history for a SNAP at {zxid}: {} is not in place", path.display())]
    SnapMissing { zxid: Zxid, path: PathBuf },
    /// Listing or reading failed, or a log is corrupt or has a gap before
    /// the zxid (nothing was changed).
    #[error(transparent)]
    Recovery(#[from] RecoveryError),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> TruncateError + '_ {
    move |source| {
        TruncateError::Recovery(RecoveryError::Io {
            path: path.to_owned(),
            source,
        })
    }
}

/// ZAB's TRUNC: keeps exactly the logged txns up to `zxid` in `log_dir` and
/// the snapshots up to it in `snap_dir` (both `version-2` directories).
/// Refused, with nothing changed, unless a complete snapshot at or below
/// `zxid` and the log after it reproduce the history up to `zxid`.
pub fn truncate_to(
    snap_dir: &Path,
    log_dir: &Path,
    zxid: Zxid,
) -> Result<TruncateReport, TruncateError> {
    let snaps = list(snap_dir, SNAPSHOT_PREFIX)?;
    let Some(base) = snaps
        .iter()
        .rev()
        .find(|(z, path)| *z <= zxid && looks_complete(path))
        .map(|(z, _)| *z)
    else {
        return Err(TruncateError::NoSnapshot {
            zxid,
            snap_dir: snap_dir.to_owned(),
        });
    };
    let logs = list(log_dir, LOG_PREFIX)?;
    let plan = plan(&logs, base, zxid)?;
    let reached = plan.last == zxid || (zxid.counter() == 0 && plan.last < zxid);
    if !reached {
        return Err(TruncateError::NotLogged {
            zxid,
            snapshot: base,
            last: plan.last,
        });
    }
    let mut report = TruncateReport {
        last_kept: plan.last,
        ..TruncateReport::default()
    };
    report.logs_removed = remove_newest_first(plan.remove)?;
    if let Some((path, from, len)) = plan.zero {
        zero_from(&path, from, len).map_err(io_err(&path))?;
        tracing::info!(
            "{}: txns after {zxid} zeroed from offset {from}",
            path.display()
        );
        report.cut = Some((path, from));
    }
    report.snapshots_removed = remove_snapshots_above(snaps, zxid)?;
    Ok(report)
}

/// The clearing a SNAP needs once the received snapshot,
/// `snapshot.<zxid hex>`, is durably in place: every log segment is deleted
/// (their txns after `zxid` are another history; those before it, no longer
/// needed, may be too), then every snapshot named above `zxid`, so that the
/// received one is the newest.
pub fn clear_for_snap(
    snap_dir: &Path,
    log_dir: &Path,
    zxid: Zxid,
) -> Result<TruncateReport, TruncateError> {
    let installed = snap_dir.join(format::file_name(SNAPSHOT_PREFIX, zxid));
    if !looks_complete(&installed) {
        return Err(TruncateError::SnapMissing {
            zxid,
            path: installed,
        });
    }
    let logs = list(log_dir, LOG_PREFIX)?;
    let snaps = list(snap_dir, SNAPSHOT_PREFIX)?;
    Ok(TruncateReport {
        last_kept: zxid,
        cut: None,
        logs_removed: remove_newest_first(logs.into_iter().map(|(_, p)| p).collect())?,
        snapshots_removed: remove_snapshots_above(snaps, zxid)?,
    })
}

/// What [`truncate_to`] will do to the log.
struct Plan {
    /// The last txn kept (the snapshot's zxid if none after it).
    last: Zxid,
    /// The segment to zero from an offset to its length.
    zero: Option<(PathBuf, u64, u64)>,
    /// Whole segments above the zxid, oldest first.
    remove: Vec<PathBuf>,
}

/// Reads the segments that hold txns after `base` up to the first txn above
/// `zxid`. Checks what recovery would: no gap within an epoch, no bad record
/// before `zxid` is reached (one after it is dropped with the rest).
fn plan(logs: &[(Zxid, PathBuf)], base: Zxid, zxid: Zxid) -> Result<Plan, TruncateError> {
    let mut plan = Plan {
        last: base,
        zero: None,
        remove: Vec::new(),
    };
    let wanted = logs_after(logs, base);
    for (i, (first, path)) in wanted.iter().enumerate() {
        // Named for its first txn: above the zxid, all of it is.
        if plan.zero.is_some() || *first > zxid {
            plan.remove.push(path.clone());
            continue;
        }
        let newest = i + 1 == wanted.len();
        let bytes = super::mapped::read(path).map_err(io_err(path))?;
        let corrupt = |bad: format::BadRecord| {
            TruncateError::Recovery(RecoveryError::Corrupt {
                file: path.clone(),
                offset: bad.offset,
                reason: bad.reason,
            })
        };
        let reader = match LogReader::new(bytes) {
            Ok(r) => r,
            // A segment created whose header never made it (recovery
            // ignores it too): nothing to cut.
            Err(bad) if newest && bad.offset == 0 => continue,
            Err(bad) => return Err(corrupt(bad)),
        };
        let file_len = reader.file_len();
        for entry in reader {
            let cut_from = match entry {
                Ok(e) if e.hdr.zxid <= plan.last => continue,
                Ok(e) if e.hdr.zxid > zxid => e.offset,
                Ok(e) => {
                    let next = e.hdr.zxid;
                    if next.epoch() == plan.last.epoch() && next.0 != plan.last.0 + 1 {
                        return Err(RecoveryError::Gap {
                            after: plan.last,
                            next,
                            file: path.clone(),
                        }
                        .into());
                    }
                    plan.last = next;
                    continue;
                }
                // Past the zxid, whatever it is goes.
                Err(bad) if plan.last == zxid => bad.offset,
                Err(bad) => return Err(corrupt(bad)),
            };
            plan.zero = Some((path.clone(), cut_from, file_len));
            break;
        }
    }
    Ok(plan)
}

/// Deletes `paths` (oldest first as given) newest first, syncing the
/// directory after each, so that what is left is always a prefix.
fn remove_newest_first(paths: Vec<PathBuf>) -> Result<Vec<PathBuf>, TruncateError> {
    let mut removed = Vec::with_capacity(paths.len());
    for path in paths.into_iter().rev() {
        std::fs::remove_file(&path).map_err(io_err(&path))?;
        sync_parent_dir(&path).map_err(io_err(&path))?;
        tracing::info!("Removed {}", path.display());
        removed.push(path);
    }
    Ok(removed)
}

fn remove_snapshots_above(
    snaps: Vec<(Zxid, PathBuf)>,
    zxid: Zxid,
) -> Result<Vec<PathBuf>, TruncateError> {
    let above = snaps
        .into_iter()
        .filter(|(z, _)| *z > zxid)
        .map(|(_, p)| p)
        .collect();
    remove_newest_first(above)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::records::Acl;
    use crate::proto::txn::{Txn, TxnHeader};
    use crate::proto::{OpCode, SessionId, ZData};
    use crate::storage::recovery;
    use crate::storage::recovery::tests::{Dirs, dirs};
    use crate::storage::snapshot;
    use crate::tree::DataTree;
    use bytes::{Bytes, BytesMut};
    use parking_lot::RwLock;

    fn hdr(zxid: Zxid, txn: &Txn) -> TxnHeader {
        TxnHeader {
            session_id: SessionId(0x1000),
            cxid: 1,
            zxid,
            time_ms: 5000,
            op: txn.op().as_i32(),
        }
    }

    /// The txn with `zxid` in a history of `prefix` nodes under the root:
    /// `/<prefix><counter>`.
    fn txn(prefix: &str, zxid: Zxid) -> Txn {
        Txn::Create {
            op: OpCode::Create,
            path: format!("/{prefix}{}", zxid.counter()).into(),
            data: ZData::from(Bytes::from(zxid.0.to_be_bytes().to_vec())),
            acl: Acl::open_unsafe(),
            ephemeral: false,
            parent_cversion: -1,
        }
    }

    fn zxids(from: u32, to: u32) -> Vec<Zxid> {
        (from..=to).map(|c| Zxid::new(1, c)).collect()
    }

    /// A segment named for its first txn, with preallocated zeros after.
    fn write_log(dir: &Path, prefix: &str, zxids: &[Zxid]) -> PathBuf {
        let mut out = BytesMut::new();
        out.extend_from_slice(&format::file_header(format::LOG_MAGIC, format::LOG_DBID));
        for z in zxids {
            let t = txn(prefix, *z);
            format::encode_log_record(&mut out, &hdr(*z, &t), &t);
        }
        out.extend_from_slice(&[0u8; 4096]);
        let path = dir.join(format::file_name(LOG_PREFIX, zxids[0]));
        std::fs::write(&path, &out).unwrap();
        path
    }

    /// The tree after `zxids` of history `prefix`.
    fn tree_after(prefix: &str, zxids: &[Zxid]) -> DataTree {
        let mut t = DataTree::new();
        for z in zxids {
            let x = txn(prefix, *z);
            let _ = t.apply(&hdr(*z, &x), &x, &mut Vec::new());
        }
        t
    }

    fn snapshot_after(dir: &Path, prefix: &str, zxids: &[Zxid], at: Zxid) -> PathBuf {
        let tree = RwLock::new(tree_after(prefix, zxids));
        snapshot::take(&tree, &[], at, dir).unwrap().0
    }

    /// Recovers and checks the tree is exactly `expected`'s nodes.
    fn recovers_to(d: &Dirs, expected: &DataTree, last: Zxid) {
        let r = recovery::recover(&d.snap, &d.log, false, 1 << 20).unwrap();
        assert_eq!(r.last_logged, last);
        assert_eq!(r.tree.node_count(), expected.node_count());
        for (path, node) in expected.nodes() {
            let got = r.tree.get(path).unwrap_or_else(|| panic!("{path} missing"));
            assert_eq!(got.data, node.data, "{path}");
            assert_eq!(got.czxid, node.czxid, "{path}");
        }
    }

    fn names(paths: &[PathBuf]) -> Vec<String> {
        paths
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn truncating_inside_a_segment_zeroes_the_txns_after_it() {
        let d = dirs();
        snapshot_after(&d.snap, "n", &[], Zxid::ZERO);
        let log = write_log(&d.log, "n", &zxids(1, 10));
        let len = std::fs::metadata(&log).unwrap().len();
        let seventh = LogReader::new(Bytes::from(std::fs::read(&log).unwrap()))
            .unwrap()
            .nth(6)
            .unwrap()
            .unwrap();
        let report = truncate_to(&d.snap, &d.log, Zxid::new(1, 6)).unwrap();
        assert_eq!(report.last_kept, Zxid::new(1, 6));
        assert_eq!(report.cut, Some((log.clone(), seventh.offset)));
        assert!(report.logs_removed.is_empty());
        let bytes = std::fs::read(&log).unwrap();
        assert_eq!(bytes.len() as u64, len, "zeroed, not shortened");
        assert!(bytes[seventh.offset as usize..].iter().all(|&b| b == 0));
        recovers_to(&d, &tree_after("n", &zxids(1, 6)), Zxid::new(1, 6));
        // Truncating again to the same zxid changes nothing.
        let again = truncate_to(&d.snap, &d.log, Zxid::new(1, 6)).unwrap();
        assert_eq!(again.cut, None);
    }

    #[test]
    fn truncating_at_a_segment_boundary_deletes_the_later_segments() {
        let d = dirs();
        snapshot_after(&d.snap, "n", &[], Zxid::ZERO);
        write_log(&d.log, "n", &zxids(1, 5));
        write_log(&d.log, "n", &zxids(6, 10));
        write_log(&d.log, "n", &zxids(11, 12));
        let report = truncate_to(&d.snap, &d.log, Zxid::new(1, 5)).unwrap();
        assert_eq!(report.cut, None);
        assert_eq!(
            names(&report.logs_removed),
            ["log.10000000b", "log.100000006"]
        );
        recovers_to(&d, &tree_after("n", &zxids(1, 5)), Zxid::new(1, 5));
    }

    #[test]
    fn truncating_across_segments_drops_snapshots_above_and_keeps_those_below() {
        let d = dirs();
        let all = zxids(1, 12);
        snapshot_after(&d.snap, "n", &[], Zxid::ZERO);
        snapshot_after(&d.snap, "n", &all[..4], all[3]);
        snapshot_after(&d.snap, "n", &all[..9], all[8]);
        write_log(&d.log, "n", &all[..5]);
        let middle = write_log(&d.log, "n", &all[5..8]);
        write_log(&d.log, "n", &all[8..]);
        let report = truncate_to(&d.snap, &d.log, all[6]).unwrap();
        assert_eq!(names(&report.snapshots_removed), ["snapshot.100000009"]);
        assert_eq!(names(&report.logs_removed), ["log.100000009"]);
        assert_eq!(report.cut.unwrap().0, middle);
        recovers_to(&d, &tree_after("n", &all[..7]), all[6]);
        let r = recovery::recover(&d.snap, &d.log, false, 1 << 20).unwrap();
        assert_eq!(r.snapshot_zxid, Some(all[3]));
    }

    #[test]
    fn a_new_history_appended_after_truncation_recovers() {
        let d = dirs();
        snapshot_after(&d.snap, "n", &[], Zxid::ZERO);
        write_log(&d.log, "n", &zxids(1, 10));
        truncate_to(&d.snap, &d.log, Zxid::new(1, 6)).unwrap();
        // The leader's history goes on differently from 7, in a new segment.
        write_log(&d.log, "m", &zxids(7, 9));
        let r = recovery::recover(&d.snap, &d.log, false, 1 << 20).unwrap();
        assert_eq!(r.last_logged, Zxid::new(1, 9));
        assert!(r.tree.get("/n6").is_some() && r.tree.get("/n7").is_none());
        assert!(r.tree.get("/m7").is_some() && r.tree.get("/m9").is_some());
        assert_eq!(r.tree.node_count(), 4 + 6 + 3);
    }

    #[test]
    fn a_zxid_no_snapshot_reaches_back_to_is_refused_untouched() {
        let d = dirs();
        let all = zxids(1, 8);
        snapshot_after(&d.snap, "n", &all[..5], all[4]);
        let log = write_log(&d.log, "n", &all);
        let before = std::fs::read(&log).unwrap();
        let err = truncate_to(&d.snap, &d.log, all[2]).unwrap_err();
        assert!(matches!(err, TruncateError::NoSnapshot { .. }), "{err}");
        assert_eq!(std::fs::read(&log).unwrap(), before);
        assert_eq!(std::fs::read_dir(&d.snap).unwrap().count(), 1);
    }

    #[test]
    fn a_zxid_past_the_log_is_refused_but_a_later_epochs_start_is_not() {
        let d = dirs();
        snapshot_after(&d.snap, "n", &[], Zxid::ZERO);
        write_log(&d.log, "n", &zxids(1, 4));
        let err = truncate_to(&d.snap, &d.log, Zxid::new(1, 6)).unwrap_err();
        assert!(
            matches!(err, TruncateError::NotLogged { last, .. } if last == Zxid::new(1, 4)),
            "{err}"
        );
        let report = truncate_to(&d.snap, &d.log, Zxid::new(2, 0)).unwrap();
        assert_eq!(report.last_kept, Zxid::new(1, 4));
        assert_eq!(report.cut, None);
    }

    #[test]
    fn a_bad_record_is_cut_after_the_zxid_and_refused_before_it() {
        let d = dirs();
        snapshot_after(&d.snap, "n", &[], Zxid::ZERO);
        let log = write_log(&d.log, "n", &zxids(1, 6));
        let fifth = LogReader::new(Bytes::from(std::fs::read(&log).unwrap()))
            .unwrap()
            .nth(4)
            .unwrap()
            .unwrap();
        let mut bytes = std::fs::read(&log).unwrap();
        bytes[fifth.offset as usize + 20] ^= 0x40;
        std::fs::write(&log, &bytes).unwrap();
        let err = truncate_to(&d.snap, &d.log, Zxid::new(1, 5)).unwrap_err();
        assert!(
            matches!(err, TruncateError::Recovery(RecoveryError::Corrupt { .. })),
            "{err}"
        );
        let report = truncate_to(&d.snap, &d.log, Zxid::new(1, 4)).unwrap();
        assert_eq!(report.cut, Some((log, fifth.offset)));
        recovers_to(&d, &tree_after("n", &zxids(1, 4)), Zxid::new(1, 4));
    }

    #[test]
    fn a_gap_before_the_zxid_is_refused() {
        let d = dirs();
        snapshot_after(&d.snap, "n", &[], Zxid::ZERO);
        write_log(&d.log, "n", &zxids(1, 3));
        write_log(&d.log, "n", &zxids(5, 8));
        let err = truncate_to(&d.snap, &d.log, Zxid::new(1, 6)).unwrap_err();
        assert!(
            matches!(err, TruncateError::Recovery(RecoveryError::Gap { .. })),
            "{err}"
        );
    }

    #[test]
    fn clearing_for_a_snap_leaves_the_received_snapshot_alone() {
        let d = dirs();
        let ours = zxids(1, 12);
        snapshot_after(&d.snap, "n", &[], Zxid::ZERO);
        snapshot_after(&d.snap, "n", &ours[..10], ours[9]);
        write_log(&d.log, "n", &ours[..6]);
        write_log(&d.log, "n", &ours[6..]);
        let at = Zxid::new(1, 7);
        let err = clear_for_snap(&d.snap, &d.log, at).unwrap_err();
        assert!(matches!(err, TruncateError::SnapMissing { .. }), "{err}");
        // The leader's history, received as snapshot.<7>.
        let theirs = zxids(1, 7);
        snapshot_after(&d.snap, "m", &theirs, at);
        let report = clear_for_snap(&d.snap, &d.log, at).unwrap();
        assert_eq!(
            names(&report.logs_removed),
            ["log.100000007", "log.100000001"]
        );
        assert_eq!(names(&report.snapshots_removed), ["snapshot.10000000a"]);
        recovers_to(&d, &tree_after("m", &theirs), at);
        // Its proposals are then logged after it.
        write_log(&d.log, "m", &zxids(8, 9));
        recovers_to(&d, &tree_after("m", &zxids(1, 9)), Zxid::new(1, 9));
    }

    #[test]
    fn a_learner_swaps_in_the_truncated_history_while_a_walk_is_under_way() {
        let d = dirs();
        let all = zxids(1, 200);
        snapshot_after(&d.snap, "n", &[], Zxid::ZERO);
        write_log(&d.log, "n", &all);
        let serving = RwLock::new(
            recovery::recover(&d.snap, &d.log, false, 1 << 20)
                .unwrap()
                .tree,
        );
        let (mut walk, mut buf) = {
            let tree = serving.read();
            snapshot::Walk::start(&tree, &[], tree.last_zxid())
        };
        assert_eq!(walk.step(&serving.read(), &mut buf), snapshot::Step::More);
        // TRUNC 1:150: the caller has closed its log; cut, rebuild, swap.
        truncate_to(&d.snap, &d.log, all[149]).unwrap();
        let opts = recovery::RecoverOptions {
            extended_types: false,
            max_torn: 1 << 20,
            keep_txns: 10,
        };
        let rebuilt = recovery::recover_with(&d.snap, &d.log, &opts).unwrap();
        assert_eq!(rebuilt.last_logged, all[149]);
        assert_eq!(rebuilt.recent.back().map(|t| t.zxid), Some(all[149]));
        let old = std::mem::replace(&mut *serving.write(), rebuilt.tree);
        assert_eq!(old.last_zxid(), all[199]);
        assert_eq!(serving.read().last_zxid(), all[149]);
        assert_eq!(
            walk.step(&serving.read(), &mut buf),
            snapshot::Step::Replaced
        );
    }
}
