//! `autopurge`: keep the newest `snapRetainCount` snapshots and the logs that
//! recovery from the oldest of them needs; delete the rest (ZooKeeper's
//! `PurgeTxnLog.purge`).

use super::format::{LOG_PREFIX, SNAPSHOT_PREFIX};
use super::recovery::{RecoveryError, list};
use std::path::{Path, PathBuf};

/// What a purge removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Purged {
    pub snapshots: Vec<PathBuf>,
    pub logs: Vec<PathBuf>,
}

/// Purges `snap_dir` and `log_dir` (`version-2` directories), keeping
/// `retain` (at least 3) snapshots.
pub fn purge(snap_dir: &Path, log_dir: &Path, retain: usize) -> Result<Purged, RecoveryError> {
    let retain = retain.max(3);
    let snaps = list(snap_dir, SNAPSHOT_PREFIX)?;
    let mut purged = Purged::default();
    if snaps.len() <= retain {
        return Ok(purged);
    }
    let oldest_kept = snaps[snaps.len() - retain].0;
    let logs = list(log_dir, LOG_PREFIX)?;
    // The log holding the txn right after the oldest kept snapshot starts at
    // or before it; keep that one and everything newer.
    let keep_from = logs
        .iter()
        .filter(|(z, _)| *z <= oldest_kept)
        .map(|(z, _)| *z)
        .max();
    for (z, path) in logs {
        if keep_from.is_some_and(|k| z < k) && std::fs::remove_file(&path).is_ok() {
            purged.logs.push(path);
        }
    }
    for (z, path) in snaps {
        if z < oldest_kept && std::fs::remove_file(&path).is_ok() {
            purged.snapshots.push(path);
        }
    }
    Ok(purged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(dir: &Path, name: &str) {
        std::fs::write(dir.join(name), b"x").unwrap();
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn keeps_retained_snapshots_and_the_logs_they_need() {
        let snap = tempfile::tempdir().unwrap();
        let log = tempfile::tempdir().unwrap();
        for z in ["0", "10", "20", "30", "40"] {
            touch(snap.path(), &format!("snapshot.{z}"));
        }
        touch(snap.path(), "myid-like-file");
        for z in ["1", "b", "15", "1f", "2a"] {
            touch(log.path(), &format!("log.{z}"));
        }
        let p = purge(snap.path(), log.path(), 3).unwrap();
        assert_eq!(p.snapshots.len(), 2);
        // Oldest kept snapshot is 0x20: log.1f holds 0x21 onwards.
        assert_eq!(
            names(snap.path()),
            [
                "myid-like-file",
                "snapshot.20",
                "snapshot.30",
                "snapshot.40"
            ]
        );
        assert_eq!(names(log.path()), ["log.1f", "log.2a"]);
    }

    #[test]
    fn fewer_snapshots_than_retained_removes_nothing() {
        let snap = tempfile::tempdir().unwrap();
        let log = tempfile::tempdir().unwrap();
        touch(snap.path(), "snapshot.0");
        touch(log.path(), "log.1");
        assert_eq!(
            purge(snap.path(), log.path(), 1).unwrap(),
            Purged::default()
        );
        assert_eq!(names(log.path()), ["log.1"]);
    }
}
