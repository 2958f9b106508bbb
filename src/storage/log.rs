//! The txn log as files: `log.<first zxid hex>` segments in ZooKeeper's
//! format under `dataLogDir/version-2`, each written through a
//! [`SegmentWriter`]. A new segment starts on the first append after
//! startup and after every snapshot (`rollLog`), named by the zxid of the
//! first txn it holds.
//!
//! Creating a segment zero-fills `preAllocSize` (64 MiB) — tens of ms — so
//! the next one is always prepared ahead on a thread of its own under a name
//! neither corral nor ZooKeeper reads (`tmp.log.next`), and a roll only
//! renames it into place. A roll never waits for that preparation: while
//! the next segment is still being zero-filled, appends go on into the
//! current one and the roll happens at the first append after it is ready.
//! Recovery does not mind (corral's and ZooKeeper's both read the newest
//! segment starting at or before the snapshot's zxid, and all later ones).

use super::format::{self, LOG_DBID, LOG_MAGIC, LOG_PREFIX};
use super::logdev::{LogOptions, SegmentWriter};
use crate::proto::Zxid;
use std::io;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Instant;

/// The name a segment is prepared under before it goes into service.
const SPARE_NAME: &str = "tmp.log.next";

pub struct TxnLog {
    dir: PathBuf,
    opts: LogOptions,
    current: Option<SegmentWriter>,
    /// The next segment, being prepared (or ready) in the background.
    spare: Option<JoinHandle<io::Result<SegmentWriter>>>,
    roll: bool,
    warn_ms: u64,
    /// Synced appends and bytes, for four-letter words and benchmarks.
    pub appends: u64,
    pub bytes: u64,
}

impl TxnLog {
    /// A log writing into `dir` (a `version-2` directory that exists).
    pub fn new(dir: &Path, opts: LogOptions, fsync_warning_threshold_ms: u64) -> TxnLog {
        if !opts.force_sync {
            tracing::warn!(
                "forceSync=no: the txn log is NOT synced; acknowledged writes can be lost on a \
                 crash. For tests only."
            );
        }
        // Left by a crash: half prepared, or never used.
        let _ = std::fs::remove_file(dir.join(SPARE_NAME));
        let mut log = TxnLog {
            dir: dir.to_owned(),
            opts,
            current: None,
            spare: None,
            roll: false,
            warn_ms: fsync_warning_threshold_ms,
            appends: 0,
            bytes: 0,
        };
        log.prepare_spare();
        log
    }

    /// Starts preparing the next segment in the background.
    fn prepare_spare(&mut self) {
        let (path, opts) = (self.dir.join(SPARE_NAME), self.opts.clone());
        let spawned = std::thread::Builder::new()
            .name("corral-log-prep".into())
            .spawn(move || {
                let _ = std::fs::remove_file(&path);
                let header = format::file_header(LOG_MAGIC, LOG_DBID);
                SegmentWriter::create(&path, &header, &opts)
            });
        self.spare = spawned.ok();
    }

    /// A new segment named for `first_zxid`: the prepared one if it worked
    /// out, else one created here.
    fn new_segment(&mut self, path: &Path) -> io::Result<SegmentWriter> {
        let prepared = self.spare.take().and_then(|h| h.join().ok());
        let seg = match prepared {
            Some(Ok(mut seg)) => match seg.rename(path) {
                Ok(()) => Ok(seg),
                Err(e) => Err(e),
            },
            Some(Err(e)) => {
                tracing::warn!("Preparing the next log segment failed: {e}; creating it now");
                let header = format::file_header(LOG_MAGIC, LOG_DBID);
                SegmentWriter::create(path, &header, &self.opts)
            }
            None => {
                let header = format::file_header(LOG_MAGIC, LOG_DBID);
                SegmentWriter::create(path, &header, &self.opts)
            }
        };
        self.prepare_spare();
        seg
    }

    /// Whether the next segment is still being prepared.
    fn spare_busy(&self) -> bool {
        self.spare.as_ref().is_some_and(|h| !h.is_finished())
    }

    /// A later append starts a new segment: the next one once the prepared
    /// segment is ready (see the module doc).
    pub fn roll(&mut self) {
        self.roll = true;
    }

    /// The segment being appended to.
    pub fn current_path(&self) -> Option<&Path> {
        self.current.as_ref().map(|s| s.path())
    }

    /// Appends encoded records whose first txn is `first_zxid`, durably (one
    /// write). On error nothing of them counts: the segment's end is where it
    /// was, and a segment created for them is removed again.
    pub fn append(&mut self, first_zxid: Zxid, records: &[u8]) -> io::Result<()> {
        let mut fresh = false;
        if self.current.is_none() || (self.roll && !self.spare_busy()) {
            let path = self.dir.join(format::file_name(LOG_PREFIX, first_zxid));
            if path.exists() {
                // Left by an append that failed before any record landed
                // (the zxids were handed out again): only a header in it.
                std::fs::remove_file(&path)?;
            }
            self.current = Some(self.new_segment(&path)?);
            self.roll = false;
            fresh = true;
        }
        let seg = self.current.as_mut().expect("segment just ensured");
        let started = Instant::now();
        if let Err(e) = seg.append(records) {
            if fresh {
                let path = seg.path().to_owned();
                self.current = None;
                let _ = std::fs::remove_file(&path);
            }
            return Err(e);
        }
        let ms = started.elapsed().as_millis() as u64;
        if ms > self.warn_ms {
            tracing::warn!(
                "fsync-ing the write ahead log took {ms}ms which will adversely effect operation \
                 latency. File size is {} bytes. See the ZooKeeper troubleshooting guide",
                seg.len()
            );
        }
        self.appends += 1;
        self.bytes += records.len() as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::records::Acl;
    use crate::proto::txn::{Txn, TxnHeader};
    use crate::proto::{OpCode, SessionId, ZData};
    use crate::storage::format::LogReader;
    use bytes::{Bytes, BytesMut};

    fn records(from: i64, n: i64) -> BytesMut {
        let mut out = BytesMut::new();
        for z in from..from + n {
            let txn = Txn::Create {
                op: OpCode::Create,
                path: format!("/n{z}").into(),
                data: ZData::from(Bytes::from_static(b"x")),
                acl: Acl::open_unsafe(),
                ephemeral: false,
                parent_cversion: z as i32,
            };
            let hdr = TxnHeader {
                session_id: SessionId(1),
                cxid: z as i32,
                zxid: Zxid(z),
                time_ms: 0,
                op: txn.op().as_i32(),
            };
            format::encode_log_record(&mut out, &hdr, &txn);
        }
        out
    }

    fn opts() -> LogOptions {
        LogOptions {
            prealloc_size: 64 << 10,
            ..LogOptions::default()
        }
    }

    fn zxids(path: &Path) -> Vec<i64> {
        let r = LogReader::new(Bytes::from(std::fs::read(path).unwrap())).unwrap();
        r.map(|e| e.unwrap().hdr.zxid.0).collect()
    }

    /// Waits (without a deadline) until the next segment is prepared.
    fn spare_ready(log: &TxnLog) {
        while log.spare_busy() {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    #[test]
    fn roll_waits_for_the_prepared_segment_instead_of_blocking_the_append() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = TxnLog::new(dir.path(), opts(), 1000);
        log.append(Zxid(1), &records(1, 1)).unwrap();
        spare_ready(&log);
        // A preparation that cannot finish until the test lets it.
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let (path, o) = (dir.path().join(SPARE_NAME), opts());
        log.spare = Some(std::thread::spawn(move || {
            let _ = wait.recv();
            let _ = std::fs::remove_file(&path);
            SegmentWriter::create(&path, &format::file_header(LOG_MAGIC, LOG_DBID), &o)
        }));
        log.roll();
        log.append(Zxid(2), &records(2, 2)).unwrap();
        assert_eq!(zxids(&dir.path().join("log.1")), vec![1, 2, 3]);
        assert!(!dir.path().join("log.2").exists());
        go.send(()).unwrap();
        spare_ready(&log);
        log.append(Zxid(4), &records(4, 1)).unwrap();
        assert_eq!(zxids(&dir.path().join("log.4")), vec![4]);
        assert_eq!(zxids(&dir.path().join("log.1")), vec![1, 2, 3]);
    }

    #[test]
    fn appends_land_in_segments_named_by_first_zxid_and_roll() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = TxnLog::new(dir.path(), opts(), 1000);
        log.append(Zxid(1), &records(1, 3)).unwrap();
        log.append(Zxid(4), &records(4, 2)).unwrap();
        spare_ready(&log);
        log.roll();
        log.append(Zxid(6), &records(6, 1)).unwrap();
        assert_eq!(zxids(&dir.path().join("log.1")), vec![1, 2, 3, 4, 5]);
        assert_eq!(zxids(&dir.path().join("log.6")), vec![6]);
        assert_eq!(log.appends, 3);
        // Segments were prepared ahead under a name recovery does not read.
        let logs = crate::storage::recovery::list(dir.path(), LOG_PREFIX).unwrap();
        assert_eq!(logs.len(), 2);
        drop(log);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(
            names
                .iter()
                .all(|n| n.starts_with("log.") || n == SPARE_NAME),
            "{names:?}"
        );
    }
}
