//! The quorum's epoch files, `acceptedEpoch` and `currentEpoch`, in the
//! snapshot directory (`dataDir/version-2`, where ZooKeeper's
//! `QuorumPeer.readLongFromFile` looks): decimal ASCII without a newline,
//! replaced atomically. acceptedEpoch is the newest epoch this server
//! promised to follow (LEADERINFO); currentEpoch the newest whose history it
//! holds (NEWLEADER). QUORUM.md §3.6 says when each is written; this module
//! only reads them at startup, with ZooKeeper's rules, and writes them
//! durably. It never decides an epoch.

use crate::proto::Zxid;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const ACCEPTED_EPOCH_FILE: &str = "acceptedEpoch";
pub const CURRENT_EPOCH_FILE: &str = "currentEpoch";
/// `AtomicFileOutputStream.TMP_EXTENSION`: a file is written under its name
/// plus this, then renamed over it.
pub const TMP_SUFFIX: &str = ".tmp";

/// The two epochs as loaded. Epochs are the high 32 bits of a zxid; the
/// files hold Java longs, and a value that does not fit is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Epochs {
    pub accepted: u32,
    pub current: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum EpochError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: found {found:?}, not a number")]
    NotANumber { path: PathBuf, found: String },
    #[error("{path}: epoch {value} does not fit in the 32 bits a zxid has for it")]
    OutOfRange { path: PathBuf, value: i64 },
    #[error(
        "the current epoch, {current}, is older than the epoch of the last logged zxid, \
         {last_logged} (and no {CURRENT_EPOCH_FILE}{TMP_SUFFIX} says otherwise)"
    )]
    CurrentBehindLog { current: u32, last_logged: Zxid },
    #[error("the accepted epoch, {accepted}, is less than the current epoch, {current}")]
    AcceptedBehindCurrent { accepted: u32, current: u32 },
}

/// Reads both epochs at startup as `QuorumPeer.loadDataBase` does, given the
/// last logged zxid that recovery found:
/// * a missing file is written with the epoch of `last_logged` (the upgrade
///   from a standalone data directory);
/// * a currentEpoch older than `last_logged`'s epoch is fatal, unless
///   `currentEpoch.tmp` is there (a crash in the middle of replacing it):
///   then its value becomes currentEpoch and is written;
/// * an acceptedEpoch below currentEpoch is fatal.
pub fn load_epochs(snap_dir: &Path, last_logged: Zxid) -> Result<Epochs, EpochError> {
    let logged_epoch = last_logged.epoch();
    let mut current = match read_epoch(snap_dir, CURRENT_EPOCH_FILE)? {
        Some(e) => e,
        None => create_missing(snap_dir, CURRENT_EPOCH_FILE, logged_epoch)?,
    };
    if logged_epoch > current {
        let tmp = format!("{CURRENT_EPOCH_FILE}{TMP_SUFFIX}");
        // ZooKeeper takes the value the interrupted write was putting in
        // place, whatever it is, rather than the zxid's epoch.
        let Some(interrupted) = read_epoch(snap_dir, &tmp)? else {
            return Err(EpochError::CurrentBehindLog {
                current,
                last_logged,
            });
        };
        tracing::info!("{tmp} found: setting the current epoch to {interrupted}");
        save_current_epoch(snap_dir, interrupted)?;
        current = interrupted;
    }
    let accepted = match read_epoch(snap_dir, ACCEPTED_EPOCH_FILE)? {
        Some(e) => e,
        None => create_missing(snap_dir, ACCEPTED_EPOCH_FILE, logged_epoch)?,
    };
    if accepted < current {
        return Err(EpochError::AcceptedBehindCurrent { accepted, current });
    }
    Ok(Epochs { accepted, current })
}

fn create_missing(snap_dir: &Path, name: &str, epoch: u32) -> Result<u32, EpochError> {
    tracing::info!(
        "{name} not found: creating it with the last logged zxid's epoch, {epoch} (expected \
         only once, on a data directory a quorum server has not used before)"
    );
    write_epoch(snap_dir, name, epoch)?;
    Ok(epoch)
}

/// Durably records the epoch this server accepted (on LEADERINFO, before
/// ACKEPOCH; or as the leader when its epoch quorum forms).
pub fn save_accepted_epoch(snap_dir: &Path, epoch: u32) -> Result<(), EpochError> {
    write_epoch(snap_dir, ACCEPTED_EPOCH_FILE, epoch)
}

/// Durably records the epoch whose history this server holds (on NEWLEADER,
/// after the synced history is durable and before the ACK).
pub fn save_current_epoch(snap_dir: &Path, epoch: u32) -> Result<(), EpochError> {
    write_epoch(snap_dir, CURRENT_EPOCH_FILE, epoch)
}

/// The epoch in `snap_dir/name`; `None` if there is no such file. Like
/// `readLongFromFile`, only the first line counts, and it must be a whole
/// number (a sign allowed, no spaces).
fn read_epoch(snap_dir: &Path, name: &str) -> Result<Option<u32>, EpochError> {
    let path = snap_dir.join(name);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(EpochError::Io { path, source }),
    };
    let text = String::from_utf8_lossy(&bytes);
    let line = text.split(['\n', '\r']).next().unwrap_or_default();
    let value: i64 = line.parse().map_err(|_| EpochError::NotANumber {
        path: path.clone(),
        found: line.to_owned(),
    })?;
    let epoch = u32::try_from(value).map_err(|_| EpochError::OutOfRange { path, value })?;
    Ok(Some(epoch))
}

fn write_epoch(snap_dir: &Path, name: &str, epoch: u32) -> Result<(), EpochError> {
    let path = snap_dir.join(name);
    replace_atomically(&path, epoch.to_string().as_bytes())
        .map_err(|source| EpochError::Io { path, source })
}

/// `AtomicFileWritingIdiom`: write `<path>.tmp`, fsync it, rename it over
/// `path`; then (which ZooKeeper does not) fsync the directory, so that the
/// new name survives a crash too. A failed write removes the temporary file,
/// as ZooKeeper's does; a crash may leave it (see [`load_epochs`]).
pub fn replace_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(TMP_SUFFIX);
    let tmp = PathBuf::from(tmp_name);
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    super::logdev::sync_parent_dir(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(dir: &Path, name: &str) -> String {
        std::fs::read_to_string(dir.join(name)).unwrap()
    }

    #[test]
    fn files_hold_the_decimal_number_alone_and_no_tmp_is_left() {
        let dir = tempfile::tempdir().unwrap();
        save_accepted_epoch(dir.path(), 7).unwrap();
        save_current_epoch(dir.path(), 4_000_000_000).unwrap();
        assert_eq!(read(dir.path(), ACCEPTED_EPOCH_FILE), "7");
        assert_eq!(read(dir.path(), CURRENT_EPOCH_FILE), "4000000000");
        save_accepted_epoch(dir.path(), 4_000_000_001).unwrap();
        assert_eq!(read(dir.path(), ACCEPTED_EPOCH_FILE), "4000000001");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
        let e = load_epochs(dir.path(), Zxid::new(3, 9)).unwrap();
        assert_eq!(
            e,
            Epochs {
                accepted: 4_000_000_001,
                current: 4_000_000_000
            }
        );
    }

    #[test]
    fn missing_files_are_created_from_the_last_logged_zxid() {
        let dir = tempfile::tempdir().unwrap();
        let e = load_epochs(dir.path(), Zxid::new(5, 17)).unwrap();
        assert_eq!(
            e,
            Epochs {
                accepted: 5,
                current: 5
            }
        );
        assert_eq!(read(dir.path(), CURRENT_EPOCH_FILE), "5");
        assert_eq!(read(dir.path(), ACCEPTED_EPOCH_FILE), "5");
        // A fresh directory: epoch 0.
        let fresh = tempfile::tempdir().unwrap();
        assert_eq!(load_epochs(fresh.path(), Zxid::ZERO).unwrap().current, 0);
    }

    #[test]
    fn a_missing_accepted_epoch_comes_from_the_zxid_not_from_current() {
        // As ZooKeeper: acceptedEpoch is created from the zxid's epoch, which
        // then fails the accepted >= current check.
        let dir = tempfile::tempdir().unwrap();
        save_current_epoch(dir.path(), 6).unwrap();
        assert!(matches!(
            load_epochs(dir.path(), Zxid::new(2, 1)),
            Err(EpochError::AcceptedBehindCurrent {
                accepted: 2,
                current: 6
            })
        ));
    }

    #[test]
    fn a_log_ahead_of_current_epoch_is_fatal_without_a_tmp_file() {
        let dir = tempfile::tempdir().unwrap();
        save_current_epoch(dir.path(), 3).unwrap();
        save_accepted_epoch(dir.path(), 4).unwrap();
        let err = load_epochs(dir.path(), Zxid::new(4, 1)).unwrap_err();
        assert!(matches!(
            err,
            EpochError::CurrentBehindLog { current: 3, .. }
        ));
    }

    #[test]
    fn a_tmp_current_epoch_left_by_a_crash_wins_and_is_put_in_place() {
        let dir = tempfile::tempdir().unwrap();
        save_current_epoch(dir.path(), 3).unwrap();
        save_accepted_epoch(dir.path(), 5).unwrap();
        let tmp = dir.path().join("currentEpoch.tmp");
        // ZooKeeper takes the tmp file's value, not the zxid's epoch.
        std::fs::write(&tmp, "5").unwrap();
        let e = load_epochs(dir.path(), Zxid::new(4, 2)).unwrap();
        assert_eq!(e.current, 5);
        assert_eq!(read(dir.path(), CURRENT_EPOCH_FILE), "5");
        assert!(!tmp.exists());
        // An unreadable one (a crash before it was synced) is fatal.
        save_current_epoch(dir.path(), 3).unwrap();
        std::fs::write(&tmp, "").unwrap();
        assert!(matches!(
            load_epochs(dir.path(), Zxid::new(4, 2)),
            Err(EpochError::NotANumber { .. })
        ));
    }

    #[test]
    fn a_tmp_file_is_ignored_while_current_epoch_covers_the_log() {
        let dir = tempfile::tempdir().unwrap();
        save_current_epoch(dir.path(), 4).unwrap();
        save_accepted_epoch(dir.path(), 4).unwrap();
        std::fs::write(dir.path().join("currentEpoch.tmp"), "9").unwrap();
        assert_eq!(load_epochs(dir.path(), Zxid::new(4, 2)).unwrap().current, 4);
    }

    #[test]
    fn accepted_below_current_is_fatal() {
        let dir = tempfile::tempdir().unwrap();
        save_current_epoch(dir.path(), 5).unwrap();
        save_accepted_epoch(dir.path(), 4).unwrap();
        assert!(matches!(
            load_epochs(dir.path(), Zxid::new(1, 1)),
            Err(EpochError::AcceptedBehindCurrent {
                accepted: 4,
                current: 5
            })
        ));
    }

    #[test]
    fn the_first_line_is_read_as_java_reads_it_and_bad_values_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let current = |text: &str| {
            std::fs::write(dir.path().join(CURRENT_EPOCH_FILE), text).unwrap();
            std::fs::write(dir.path().join(ACCEPTED_EPOCH_FILE), "4294967295").unwrap();
            load_epochs(dir.path(), Zxid::ZERO)
        };
        assert_eq!(current("12\n").unwrap().current, 12);
        assert_eq!(current("12\r\nrest").unwrap().current, 12);
        assert_eq!(current("+12").unwrap().current, 12);
        for bad in ["", " 12", "12 ", "0x10", "twelve"] {
            assert!(
                matches!(current(bad), Err(EpochError::NotANumber { .. })),
                "{bad:?}"
            );
        }
        for (text, value) in [("-1", -1), ("4294967296", 1 << 32)] {
            match current(text) {
                Err(EpochError::OutOfRange { value: v, .. }) => assert_eq!(v, value),
                other => panic!("{text}: {other:?}"),
            }
        }
    }
}
