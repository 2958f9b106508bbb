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
//!
//! A write is either blocking (`append`) or split (`submit`, then `poll`
//! once the eventfd of `completion_fd` is signalled), so that a leader sends
//! its proposals and reads acks, and a follower keeps receiving, while its
//! own write is in flight. At most one write is in flight: each rewrites the
//! segment's partial last block (see `logdev`).

use super::format::{self, LOG_DBID, LOG_MAGIC, LOG_PREFIX};
use super::logdev::{self, LogOptions, SegmentWriter};
use crate::proto::Zxid;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
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
    /// Signalled on every completion of a write; each segment's ring registers it.
    completion: OwnedFd,
    /// The write submitted and not yet reported by `poll`.
    pending: Option<Pending>,
    /// Synced appends and bytes, for four-letter words and benchmarks.
    pub appends: u64,
    pub bytes: u64,
    /// Where each write's time (submission to durable) is recorded.
    stats: Option<std::sync::Arc<crate::metrics::LogStats>>,
}

/// What `poll` needs of the write in flight.
struct Pending {
    started: Instant,
    /// The segment was created for this write: it is removed again if the write fails.
    fresh: bool,
    bytes: usize,
}

impl TxnLog {
    /// A log writing into `dir` (a `version-2` directory that exists).
    ///
    /// # Panics
    ///
    /// If no eventfd can be created (the process is out of file descriptors).
    pub fn new(dir: &Path, opts: LogOptions, fsync_warning_threshold_ms: u64) -> TxnLog {
        let completion = logdev::completion_eventfd()
            .unwrap_or_else(|e| panic!("the txn log cannot create its completion eventfd: {e}"));
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
            completion,
            pending: None,
            appends: 0,
            bytes: 0,
            stats: None,
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
    /// out, else one created here; its completions signal `completion`.
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
        let mut seg = seg?;
        seg.signal_completions_to(self.completion.as_fd())?;
        Ok(seg)
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
    /// write): `submit`, then a blocking wait for the completion. On error
    /// nothing of them counts: the segment's end is where it was, and a
    /// segment created for them is removed again.
    pub fn append(&mut self, first_zxid: Zxid, records: &[u8]) -> io::Result<()> {
        self.submit(first_zxid, records)?;
        self.wait().expect("a write was just submitted")
    }

    /// Starts the durable write of encoded records whose first txn is
    /// `first_zxid` (one write, in a new segment if a roll is due) and returns
    /// without waiting; `poll` reports the result, as `append` would have.
    ///
    /// The records are copied into the segment writer's aligned buffer before
    /// this returns, so the caller may reuse `records` at once: the next group
    /// commit gathers into it while this write is in flight.
    ///
    /// An error here means nothing was written and nothing is in flight.
    ///
    /// # Panics
    ///
    /// If a write is in flight (`in_flight`): at most one at a time.
    pub fn submit(&mut self, first_zxid: Zxid, records: &[u8]) -> io::Result<()> {
        assert!(
            self.pending.is_none(),
            "a txn log write submitted while another is in flight"
        );
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
        if let Err(e) = seg.submit_append(records) {
            self.drop_if_fresh(fresh);
            return Err(e);
        }
        self.pending = Some(Pending {
            started,
            fresh,
            bytes: records.len(),
        });
        Ok(())
    }

    /// The result of the write in flight once it is durable (or failed);
    /// `None` while it is in flight, and when none is. Never waits for the
    /// device. A slow write is logged as ZooKeeper's fsync warning; its time
    /// runs from `submit` to the `poll` that reports it, so a late poll adds
    /// to it.
    pub fn poll(&mut self) -> Option<io::Result<()>> {
        self.pending.as_ref()?;
        let seg = self
            .current
            .as_mut()
            .expect("a write in flight has its segment");
        let result = seg.poll_append()?;
        Some(self.finish(result))
    }

    /// Blocks until the write in flight is durable (or failed) and reports it
    /// as `poll` would; `None` when none is in flight. The eventfd is still
    /// signalled, so a reader of it sees one signal with nothing to poll.
    pub fn wait(&mut self) -> Option<io::Result<()>> {
        self.pending.as_ref()?;
        let seg = self
            .current
            .as_mut()
            .expect("a write in flight has its segment");
        let result = seg.wait_append();
        Some(self.finish(result))
    }

    /// Whether a write was submitted and not yet reported by `poll`.
    /// Records every write's time from now on into `stats`.
    pub fn set_stats(&mut self, stats: std::sync::Arc<crate::metrics::LogStats>) {
        self.stats = Some(stats);
    }

    pub fn in_flight(&self) -> bool {
        self.pending.is_some()
    }

    /// An eventfd signalled whenever a write's completion may be ready for
    /// `poll`, on every segment of this log. Wait until it is readable (a
    /// glommio `BufferedFile::from_raw_fd` read of 8 bytes, or `poll(2)`),
    /// read it (which resets it), then call `poll`; a `None` means wait
    /// again (a write with a linked fdatasync signals twice). It is blocking,
    /// so a read on an io_uring waits rather than failing with EAGAIN, and is
    /// open as long as this log: a reader must not outlive it.
    pub fn completion_fd(&self) -> RawFd {
        self.completion.as_raw_fd()
    }

    /// Accounts for the completed write in flight.
    fn finish(&mut self, result: io::Result<()>) -> io::Result<()> {
        let pending = self.pending.take().expect("a write in flight");
        if let Err(e) = result {
            self.drop_if_fresh(pending.fresh);
            return Err(e);
        }
        let took = pending.started.elapsed();
        if let Some(stats) = &self.stats {
            stats.write_us.record(took.as_micros() as u64);
        }
        let ms = took.as_millis() as u64;
        if ms > self.warn_ms {
            tracing::warn!(
                "fsync-ing the write ahead log took {ms}ms which will adversely effect operation \
                 latency. File size is {} bytes. See the ZooKeeper troubleshooting guide",
                self.current.as_ref().map_or(0, |s| s.len())
            );
        }
        self.appends += 1;
        self.bytes += pending.bytes as u64;
        Ok(())
    }

    /// After a failed write: a segment created for it goes again.
    fn drop_if_fresh(&mut self, fresh: bool) {
        if fresh && let Some(seg) = self.current.take() {
            let path = seg.path().to_owned();
            drop(seg);
            let _ = std::fs::remove_file(&path);
        }
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

    /// Waits until `fd` is readable (10 s at most: a hang guard, not a timing
    /// assertion), then reads it, which resets it.
    fn wait_signalled(fd: RawFd) {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd, alive for the call.
        let ready = unsafe { libc::poll(&mut pfd, 1, 10_000) };
        assert_eq!(ready, 1, "the completion eventfd was not signalled in 10 s");
        let mut count = [0u8; 8];
        // SAFETY: reads at most 8 bytes into a live local array.
        let n = unsafe { libc::read(fd, count.as_mut_ptr().cast(), count.len()) };
        assert_eq!(n, 8);
    }

    /// Resets `fd` if it was signalled: a later wait then proves a new signal.
    fn drain(fd: RawFd) {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd, alive for the call.
        if unsafe { libc::poll(&mut pfd, 1, 0) } == 1 {
            wait_signalled(fd);
        }
    }

    /// Waits on the completion fd, as the glommio side does, until `poll`
    /// reports the write in flight.
    fn await_write(log: &mut TxnLog) -> io::Result<()> {
        loop {
            if let Some(result) = log.poll() {
                return result;
            }
            wait_signalled(log.completion_fd());
        }
    }

    #[test]
    fn submitted_writes_land_like_appends_and_signal_across_a_roll() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = TxnLog::new(dir.path(), opts(), 1000);
        assert!(log.poll().is_none(), "nothing in flight");
        let mut batch = records(1, 3);
        log.submit(Zxid(1), &batch).unwrap();
        assert!(log.in_flight());
        // The caller's buffer is free at once: the next batch gathers into it.
        batch.clear();
        batch.extend_from_slice(&[0xee; 300]);
        await_write(&mut log).unwrap();
        assert!(!log.in_flight());
        assert_eq!((log.appends, log.bytes), (1, records(1, 3).len() as u64));
        batch = records(4, 2);
        log.submit(Zxid(4), &batch).unwrap();
        await_write(&mut log).unwrap();
        spare_ready(&log);
        // The roll happens at the submit; the new segment signals the same fd.
        log.roll();
        drain(log.completion_fd());
        log.submit(Zxid(6), &records(6, 1)).unwrap();
        wait_signalled(log.completion_fd());
        await_write(&mut log).unwrap();
        log.append(Zxid(7), &records(7, 1)).unwrap();
        assert_eq!(zxids(&dir.path().join("log.1")), vec![1, 2, 3, 4, 5]);
        assert_eq!(zxids(&dir.path().join("log.6")), vec![6, 7]);
        assert_eq!(log.appends, 4);
    }

    #[test]
    #[should_panic(expected = "while another is in flight")]
    fn a_second_submit_while_one_is_in_flight_panics() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = TxnLog::new(dir.path(), opts(), 1000);
        log.submit(Zxid(1), &records(1, 1)).unwrap();
        let _ = log.submit(Zxid(2), &records(2, 1));
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
