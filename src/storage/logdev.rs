//! The transaction log's device layer: bytes in, durable on completion.
//!
//! A [`SegmentWriter`] owns one log segment file and appends opaque bytes to it. It knows
//! nothing of the txn-log format (headers, records, checksums): the format layer above hands it
//! finished bytes. An append is made either in one call (`append`, which returns once the bytes
//! are on stable storage) or in two (`submit_append` starts the write and returns at once,
//! `poll_append` reports it durable), so that the caller goes on sending and receiving while
//! its own write is in flight. Each completion signals an eventfd (`signal_completions_to`)
//! that a glommio executor can await. Nothing here is async, and only `append` and
//! `wait_append` wait.
//!
//! How a write is made durable and fast (measured on this class of machine, see
//! `perf/disk-2026-11-21.md`):
//!
//! * **Zero-filled preallocation.** On ext4 a write into an unwritten (fallocated) extent or past
//!   the end of the file changes metadata, and a synced write then costs a journal commit. Writing
//!   real zeros ahead of the logical end and syncing once makes every later data write a pure
//!   overwrite of allocated blocks: ~2x the sync rate. The zeroed region is grown in small chunks
//!   when less than half of `prealloc_size` is left, so no append waits for a whole-segment fill.
//! * **One aligned write per append.** With O_DIRECT the offset, length and buffer must be block
//!   aligned, so the partial last 4 KiB block is kept in memory and rewritten together with the
//!   new bytes, padded with zeros to the next block boundary. Rewriting bytes that are already on
//!   disk with the same values is safe under the device's sector atomicity: each sector holds
//!   either the old or the new content, and for acknowledged bytes both are equal.
//! * **One write in flight.** Because each append rewrites that partial block, two writes in
//!   flight could land in either order, and the older copy of the block would then erase the
//!   newer bytes: a writer takes the next append only after the last one completed. What overlaps
//!   is the log write with the caller's network, never one log write with another.
//! * **RWF_DSYNC on io_uring.** The write carries RWF_DSYNC on a ring of the writer's own, so
//!   data and sync are one request; where the kernel refuses RWF_DSYNC the write is linked to an
//!   fdatasync instead. If the ring cannot be created (io_uring disabled), `pwritev2` does the same
//!   job synchronously inside `submit_append`, which then signals the eventfd itself.
//!
//! The zero tail is an invariant, not a convenience: recovery reads records until the first one
//! that does not check out, so stale bytes past the logical end must never be readable. A crash
//! leaves at most a torn tail, which `open_append` zeroes; a failed append zeroes what it may have
//! written before the writer accepts the next one.

use std::alloc::{self, Layout};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::time::Duration;

use io_uring::{IoUring, opcode, squeue, types};

/// The alignment unit of every write: offsets, lengths and buffers (O_DIRECT needs the device's
/// logical block size; 4 KiB is a multiple of every common one).
pub const BLOCK_BYTES: usize = 4096;
const BLOCK: u64 = BLOCK_BYTES as u64;

/// The largest single append. The writer's buffer grows to fit one append, so this bounds its
/// memory; the caller splits larger batches (a batch of 1 MiB txns is far below it).
pub const APPEND_BYTES_MAX: usize = 64 << 20;

/// Zeros are written (at creation, extension and scrubbing) in writes of at most this size:
/// small enough that a synced append of the live segment queued behind one of them (a spare
/// segment being filled while the live one takes writes) waits ~1 ms, not ~5.
const ZERO_CHUNK_BYTES: usize = 256 << 10;

/// Options of a log segment. `Default` is what a server uses.
#[derive(Clone, Debug)]
pub struct LogOptions {
    /// Zero-filled bytes kept ahead of the logical end (ZooKeeper's `preAllocSize`, 64 MiB).
    pub prealloc_size: u64,
    /// `false` skips every sync: nothing is durable. For tests only.
    pub force_sync: bool,
    /// Open with O_DIRECT. A filesystem that refuses it gets buffered writes plus a data sync,
    /// with a warning.
    pub direct: bool,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            prealloc_size: 64 << 20,
            force_sync: true,
            direct: true,
        }
    }
}

/// How a data write is made durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SyncMode {
    /// The write carries RWF_DSYNC.
    Dsync,
    /// The write is followed by an fdatasync (linked on the ring).
    Fdatasync,
    /// `force_sync = false`: no sync at all.
    None,
}

/// The ring's tags of a write and of the fdatasync linked to it.
const WRITE_TAG: u64 = 1;
const SYNC_TAG: u64 = 2;

/// The one append in flight: its aligned write of `buf[..write_len]` at `block_start`, of which
/// `buf[..done]` is durable so far and `op` is writing the rest.
struct InFlight {
    block_start: u64,
    write_len: usize,
    /// The append's own length: the logical end moves by this once it is durable.
    appended: usize,
    done: usize,
    op: Op,
}

/// One write of `buf[done..write_len]`, with the sync of the writer's mode.
enum Op {
    /// On the ring, with completions still to reap.
    Ring(RingOp),
    /// Finished without the ring (`pwritev2`): the bytes written, or the error.
    Done(io::Result<usize>),
}

/// What the ring reported so far of one write (and its linked fdatasync).
struct RingOp {
    /// The write's length.
    len: usize,
    /// Completions expected: the write's, and in `Fdatasync` mode the linked fdatasync's.
    expected: u8,
    seen: u8,
    write_res: i32,
    sync_res: i32,
}

impl RingOp {
    /// The bytes written, once every completion is in. The sync covers them only if all `len`
    /// were written or the mode is `Dsync` (a short write cancels a linked fdatasync; the write of
    /// the rest carries one that covers it all).
    fn result(&self) -> io::Result<usize> {
        if self.write_res < 0 {
            return Err(io::Error::from_raw_os_error(-self.write_res));
        }
        let written = self.write_res as usize;
        if self.expected == 2 && written == self.len && self.sync_res < 0 {
            return Err(io::Error::from_raw_os_error(-self.sync_res));
        }
        Ok(written)
    }
}

/// Appends bytes to one log segment, each append durable on completion. See the module doc.
pub struct SegmentWriter {
    file: File,
    path: PathBuf,
    /// Logical end: bytes before it are data, bytes after it are zero.
    end: u64,
    /// The file's length as this writer made it: `[end, zeroed_end)` is zero and allocated.
    zeroed_end: u64,
    /// `buf[..end % BLOCK]` holds the bytes of the partial last block; an append continues there.
    buf: AlignedBuf,
    /// A block-aligned region of zeros, allocated on first use.
    zeros: Option<AlignedBuf>,
    ring: Option<IoUring>,
    sync: SyncMode,
    /// Whether `Dsync` has succeeded once; until then a refusal falls back to `Fdatasync`.
    sync_confirmed: bool,
    prealloc_size: u64,
    /// Set after a failed append: `[end, scrub_to)` may hold bytes of it and is zeroed before the
    /// next append is accepted.
    scrub_to: Option<u64>,
    /// Whether the last attempt to grow the preallocation failed (warn once per streak).
    grow_failing: bool,
    /// The append submitted and not yet reported by `poll_append`. While it is set, the kernel
    /// may be reading `buf`: nothing writes, moves or frees `buf` (see `assert_idle`, `Drop`).
    in_flight: Option<InFlight>,
    /// The eventfd told of completions the ring does not post (the `pwritev2` path).
    completion: Option<File>,
}

impl std::fmt::Debug for SegmentWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentWriter")
            .field("path", &self.path)
            .field("end", &self.end)
            .field("zeroed_end", &self.zeroed_end)
            .field("sync", &self.sync)
            .field("ring", &self.ring.is_some())
            .field("in_flight", &self.in_flight.is_some())
            .finish_non_exhaustive()
    }
}

impl SegmentWriter {
    /// Creates `path` (must not exist), writes `header` at offset 0, preallocates
    /// `prealloc_size` zero-filled bytes, fsyncs file + parent dir.
    ///
    /// On error (ENOSPC included) the partly created file is removed.
    pub fn create(path: &Path, header: &[u8], opts: &LogOptions) -> io::Result<SegmentWriter> {
        if header.len() > APPEND_BYTES_MAX {
            return Err(too_large(header.len()));
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)?;
        let result = Self::create_in(file, path, header, opts);
        if result.is_err() {
            let _ = std::fs::remove_file(path);
        }
        result
    }

    fn create_in(
        file: File,
        path: &Path,
        header: &[u8],
        opts: &LogOptions,
    ) -> io::Result<SegmentWriter> {
        let mut w = Self::with_file(file, path, 0, 0, opts)?;
        // The header is the first append, written plainly: the segment is not in use yet.
        let header_blocks = round_up(header.len() as u64);
        w.buf.ensure(header_blocks as usize);
        let b = w.buf.as_mut_slice();
        b[..header.len()].copy_from_slice(header);
        b[header.len()..header_blocks as usize].fill(0);
        if header_blocks > 0 {
            w.file
                .write_all_at(&w.buf.as_slice()[..header_blocks as usize], 0)?;
        }
        w.end = header.len() as u64;
        w.zeroed_end = header_blocks;
        w.keep_tail(0);
        let total = round_up(opts.prealloc_size.max(header.len() as u64));
        w.write_zeros(w.zeroed_end, total)?;
        w.zeroed_end = total;
        if opts.force_sync {
            w.file.sync_all()?;
            sync_parent_dir(path)?;
        }
        Ok(w)
    }

    /// Opens an existing segment to append at logical offset `end` (everything before `end` is
    /// valid data; anything after it is zeroed before use, so a torn tail left by a crash can
    /// never be read back as data).
    ///
    /// This reads the whole region past `end` once to find non-zero bytes; it is a recovery-time
    /// cost (~a 64 MiB sequential read). A segment that Apache ZooKeeper preallocated sparsely
    /// keeps its holes: appends into them are just as durable, but each may pay a metadata
    /// sync until the log rolls to a segment this writer created.
    pub fn open_append(path: &Path, end: u64, opts: &LogOptions) -> io::Result<SegmentWriter> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        let file_len = file.metadata()?.len();
        if end > file_len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "logical end {end} is past the end of {} ({file_len})",
                    path.display()
                ),
            ));
        }
        let mut w = Self::with_file(file, path, end, file_len, opts)?;
        w.load_tail()?;
        if let Some(dirty_end) = w.last_nonzero_after_end()? {
            w.zero_past_end(dirty_end)?;
            w.sync_data_plain()?;
        }
        w.grow_if_low(0);
        Ok(w)
    }

    /// Appends `bytes` at the logical end and returns only when they are durable (unless
    /// `force_sync = false`): `submit_append`, then `wait_append`.
    ///
    /// One aligned write covers the partial last block and the new bytes. On error the logical
    /// end is unchanged, the bytes before it are intact, and whatever the failed write may have
    /// left past the end is zeroed (now, or before the next append is accepted — if that fails
    /// too, the next append returns its error). A later append works once the cause is gone.
    pub fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.submit_append(bytes)?;
        self.wait_append()
    }

    /// Starts the durable write of `bytes` at the logical end and returns without waiting for
    /// it; `poll_append` (or `wait_append`) reports its result, with the semantics of `append`.
    /// The bytes are copied into the writer's own aligned buffer first, so the caller may reuse
    /// `bytes` as soon as this returns.
    ///
    /// An error here (too large, or zeroing what an earlier failed append left could not be
    /// done) means nothing was written and nothing is in flight.
    ///
    /// # Panics
    ///
    /// If an append is still in flight (not yet reported by `poll_append`): each append rewrites
    /// the partial last block, and two writes of it in flight could land in either order.
    pub fn submit_append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.assert_idle();
        let block_start = round_down(self.end);
        if bytes.is_empty() {
            self.in_flight = Some(InFlight {
                block_start,
                write_len: 0,
                appended: 0,
                done: 0,
                op: Op::Done(Ok(0)),
            });
            self.signal();
            return Ok(());
        }
        if bytes.len() > APPEND_BYTES_MAX {
            return Err(too_large(bytes.len()));
        }
        if let Some(to) = self.scrub_to {
            self.scrub(to)?;
        }
        let tail_len = (self.end - block_start) as usize;
        let write_len = (round_up(self.end + bytes.len() as u64) - block_start) as usize;
        self.buf.ensure(write_len);
        let b = self.buf.as_mut_slice();
        b[tail_len..tail_len + bytes.len()].copy_from_slice(bytes);
        b[tail_len + bytes.len()..write_len].fill(0);
        assert!(block_start.is_multiple_of(BLOCK) && write_len.is_multiple_of(BLOCK_BYTES));
        assert!((self.buf.ptr.as_ptr() as usize).is_multiple_of(BLOCK_BYTES));
        let op = self.start_write(block_start, 0, write_len);
        self.in_flight = Some(InFlight {
            block_start,
            write_len,
            appended: bytes.len(),
            done: 0,
            op,
        });
        Ok(())
    }

    /// The result of the append in flight once it is complete; `None` while it is not (or when
    /// none was submitted). Never waits for the device.
    ///
    /// Rare cases start another write from here: the rest of a short write, or the same write
    /// again with a linked fdatasync after the kernel refused RWF_DSYNC. On the ring it is
    /// reaped like the first; on the `pwritev2` path it is done inside this call. A completed
    /// append may also grow the preallocation here, synchronously (a zero write of up to 256 KiB
    /// and an fdatasync, about once per 256 KiB appended), as `append` always has.
    pub fn poll_append(&mut self) -> Option<io::Result<()>> {
        loop {
            let fl = self.in_flight.as_mut()?;
            if fl.done == fl.write_len {
                // An empty append: nothing to write.
                self.completed();
                return Some(Ok(()));
            }
            let written = match &mut fl.op {
                Op::Ring(op) => reap(self.ring.as_mut().expect("a ring op has its ring"), op)?,
                // Taken out; `op` is replaced below or the record dropped.
                Op::Done(result) => std::mem::replace(result, Ok(0)),
            };
            let (block_start, done, write_len) = (fl.block_start, fl.done, fl.write_len);
            let done = match self.account(written) {
                Ok(n) => done + n,
                Err(err) => return Some(Err(self.failed(err))),
            };
            debug_assert!(done <= write_len);
            if done == write_len {
                self.completed();
                return Some(Ok(()));
            }
            // A short write, or RWF_DSYNC refused: write the rest from where it stopped.
            let op = self.start_write(block_start + done as u64, done, write_len - done);
            let fl = self
                .in_flight
                .as_mut()
                .expect("the append is still in flight");
            fl.done = done;
            fl.op = op;
        }
    }

    /// Blocks until the append in flight is complete and returns its result (what `poll_append`
    /// would have).
    ///
    /// # Panics
    ///
    /// If no append is in flight.
    pub fn wait_append(&mut self) -> io::Result<()> {
        assert!(
            self.in_flight.is_some(),
            "log segment {}: waiting with no append in flight",
            self.path.display()
        );
        loop {
            if let Some(result) = self.poll_append() {
                return result;
            }
            // `poll_append` returns `None` only while a write is on the ring.
            wait_ring(self.ring.as_ref().expect("a ring op has its ring"));
        }
    }

    /// Whether an append was submitted and not yet reported by `poll_append`.
    pub fn in_flight(&self) -> bool {
        self.in_flight.is_some()
    }

    /// Makes every completion of this writer's appends add to the counter of `eventfd`, so that
    /// a caller can sleep on it (a glommio read of its 8 bytes, or `poll(2)`) instead of calling
    /// `poll_append` in a loop. The ring signals it as it posts each completion (a write with a
    /// linked fdatasync posts two); a write finished without the ring signals it from here. A
    /// signal means "call `poll_append`", which may still say `None`: each read of the fd (which
    /// resets it) must be followed by a `poll_append`, and a `None` by another wait. The writer
    /// keeps its own duplicate of the fd; the ring holds a reference of its own.
    ///
    /// If the ring refuses the eventfd, the writer drops the ring and uses `pwritev2`, which
    /// signals from here, so every completion is still announced.
    pub fn signal_completions_to(&mut self, eventfd: BorrowedFd<'_>) -> io::Result<()> {
        self.assert_idle();
        let own = File::from(eventfd.try_clone_to_owned()?);
        if let Some(ring) = self.ring.as_ref() {
            if self.completion.is_some() {
                let _ = ring.submitter().unregister_eventfd();
            }
            if let Err(err) = ring.submitter().register_eventfd(eventfd.as_raw_fd()) {
                tracing::warn!(
                    "log segment {}: the ring refuses a completion eventfd ({err}); the log \
                     uses pwritev2",
                    self.path.display()
                );
                // Nothing is in flight (asserted above), so no entry of the ring refers to `buf`.
                self.ring = None;
            }
        }
        self.completion = Some(own);
        Ok(())
    }

    /// The logical end: the number of valid bytes in the segment, header included.
    pub fn len(&self) -> u64 {
        self.end
    }

    /// Whether the segment holds no bytes at all (not even a header).
    pub fn is_empty(&self) -> bool {
        self.end == 0
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Gives the segment a new name (`rename`, then a sync of the directory): a
    /// segment prepared ahead under a temporary name goes into service this way.
    pub fn rename(&mut self, to: &Path) -> io::Result<()> {
        std::fs::rename(&self.path, to)?;
        sync_parent_dir(to)?;
        self.path = to.to_owned();
        Ok(())
    }

    /// The file's length: the logical end plus the zero-filled preallocation ahead of it.
    pub fn allocated_len(&self) -> u64 {
        self.zeroed_end
    }

    /// Whether writes bypass the page cache (false after a fallback from O_DIRECT).
    pub fn is_direct(&self) -> bool {
        // SAFETY: F_GETFL on an fd this writer owns for its whole lifetime; no memory involved.
        let flags = unsafe { libc::fcntl(self.file.as_raw_fd(), libc::F_GETFL) };
        flags >= 0 && flags & libc::O_DIRECT != 0
    }

    fn with_file(
        file: File,
        path: &Path,
        end: u64,
        zeroed_end: u64,
        opts: &LogOptions,
    ) -> io::Result<SegmentWriter> {
        if opts.direct {
            set_direct(&file, path);
        }
        let ring = match IoUring::new(4) {
            Ok(ring) => Some(ring),
            Err(err) => {
                tracing::warn!("io_uring unavailable ({err}); the log uses pwritev2");
                None
            }
        };
        Ok(SegmentWriter {
            file,
            path: path.to_path_buf(),
            end,
            zeroed_end,
            buf: AlignedBuf::zeroed(BLOCK_BYTES),
            zeros: None,
            ring,
            sync: if opts.force_sync {
                SyncMode::Dsync
            } else {
                SyncMode::None
            },
            sync_confirmed: false,
            prealloc_size: opts.prealloc_size,
            scrub_to: None,
            grow_failing: false,
            in_flight: None,
            completion: None,
        })
    }

    /// After a write that started at `block_start` and ended at `self.end`, moves the new partial
    /// last block to the front of the buffer.
    fn keep_tail(&mut self, block_start: u64) {
        self.assert_idle();
        let from = (round_down(self.end) - block_start) as usize;
        let tail_len = (self.end % BLOCK) as usize;
        let b = self.buf.as_mut_slice();
        b.copy_within(from..from + tail_len, 0);
        b[tail_len..BLOCK_BYTES].fill(0);
    }

    /// Reads the partial last block (the bytes before `end` in it) into the buffer.
    fn load_tail(&mut self) -> io::Result<()> {
        self.assert_idle();
        let block_start = round_down(self.end);
        let tail_len = (self.end - block_start) as usize;
        let b = self.buf.as_mut_slice();
        b[..BLOCK_BYTES].fill(0);
        if tail_len > 0 {
            let got = read_full_at(&self.file, &mut b[..BLOCK_BYTES], block_start)?;
            if got < tail_len {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "segment shrank",
                ));
            }
        }
        b[tail_len..BLOCK_BYTES].fill(0);
        Ok(())
    }

    /// The end (exclusive) of the last non-zero byte past the logical end, if any.
    fn last_nonzero_after_end(&mut self) -> io::Result<Option<u64>> {
        let file_len = self.file.metadata()?.len();
        let mut scan = AlignedBuf::zeroed(ZERO_CHUNK_BYTES);
        let mut off = round_down(self.end);
        let mut last = None;
        while off < file_len {
            let got = read_full_at(&self.file, scan.as_mut_slice(), off)?;
            if got == 0 {
                break;
            }
            let skip = self.end.saturating_sub(off) as usize;
            let chunk = &scan.as_slice()[..got];
            if skip < got
                && let Some(i) = chunk[skip..].iter().rposition(|&x| x != 0)
            {
                last = Some(off + (skip + i + 1) as u64);
            }
            off += got as u64;
        }
        Ok(last)
    }

    /// Zeroes `[end, to)`: the partial last block is rewritten with only its valid bytes, the
    /// blocks after it with zeros. Not synced.
    fn zero_past_end(&mut self, to: u64) -> io::Result<()> {
        self.assert_idle();
        let block_start = round_down(self.end);
        let tail_len = (self.end - block_start) as usize;
        self.buf.as_mut_slice()[tail_len..BLOCK_BYTES].fill(0);
        self.file
            .write_all_at(&self.buf.as_slice()[..BLOCK_BYTES], block_start)?;
        let zeroed_to = (block_start + BLOCK).max(round_up(to));
        self.write_zeros(block_start + BLOCK, zeroed_to)?;
        self.zeroed_end = self.zeroed_end.max(zeroed_to);
        Ok(())
    }

    /// Makes `[end, to)` zero again after a failed append, and durable, so no byte of the failed
    /// append can be read back after a later, shorter append.
    fn scrub(&mut self, to: u64) -> io::Result<()> {
        // A write that extended the file and then failed may have left bytes past zeroed_end.
        let keep = self.zeroed_end.max(round_up(self.end));
        if self.file.metadata()?.len() > keep {
            self.file.set_len(keep)?;
        }
        self.zero_past_end(to.min(keep))?;
        self.sync_data_plain()?;
        self.scrub_to = None;
        Ok(())
    }

    /// Grows the zeroed region when less than half of `prealloc_size` is left past the end, by
    /// at least as much as the last append used, so the margin never shrinks in steady state.
    /// Best effort: the data writes do not depend on it (a write past the zeroed region is still
    /// durable, the RWF_DSYNC covers the size change), so a failure is a warning.
    fn grow_if_low(&mut self, appended: usize) {
        let half = self.prealloc_size / 2;
        if self.zeroed_end >= self.end.saturating_add(half) {
            return;
        }
        let chunk = round_up((self.prealloc_size / 16).clamp(BLOCK, ZERO_CHUNK_BYTES as u64));
        let want = self
            .end
            .saturating_add(half)
            .saturating_sub(self.zeroed_end);
        // Catch up at most one chunk (plus the last append's size) per append: amortised.
        let grow = round_up(want.min(chunk.max(appended as u64)));
        let from = round_up(self.zeroed_end);
        match self.write_zeros(from, from + grow) {
            Ok(()) => {
                self.zeroed_end = from + grow;
                // So that later data writes need no metadata update; each is durable on its own.
                if let Err(err) = self.sync_data_plain() {
                    tracing::warn!(
                        "log segment {}: fdatasync after growing: {err}",
                        self.path.display()
                    );
                }
                if self.grow_failing {
                    tracing::info!(
                        "log segment {}: preallocation grows again",
                        self.path.display()
                    );
                    self.grow_failing = false;
                }
            }
            Err(err) => {
                // Keep what was written (whole blocks of zeros), cut any partial block.
                if let Ok(meta) = self.file.metadata() {
                    let keep = round_down(meta.len()).max(self.zeroed_end);
                    if meta.len() == keep || self.file.set_len(keep).is_ok() {
                        self.zeroed_end = keep;
                    }
                }
                if !self.grow_failing {
                    tracing::warn!(
                        "log segment {}: cannot grow the preallocation ({err}); {} bytes left",
                        self.path.display(),
                        self.zeroed_end.saturating_sub(self.end)
                    );
                    self.grow_failing = true;
                }
            }
        }
    }

    /// Writes zeros over `[from, to)`, both block aligned. Not synced.
    fn write_zeros(&mut self, from: u64, to: u64) -> io::Result<()> {
        debug_assert!(from.is_multiple_of(BLOCK) && to.is_multiple_of(BLOCK));
        let zeros = self
            .zeros
            .get_or_insert_with(|| AlignedBuf::zeroed(ZERO_CHUNK_BYTES));
        let mut off = from;
        while off < to {
            let n = (to - off).min(ZERO_CHUNK_BYTES as u64) as usize;
            self.file.write_all_at(&zeros.as_slice()[..n], off)?;
            off += n as u64;
        }
        Ok(())
    }

    fn sync_data_plain(&self) -> io::Result<()> {
        if self.sync == SyncMode::None {
            Ok(())
        } else {
            self.file.sync_data()
        }
    }

    /// The append in flight is durable: the logical end moves past it.
    fn completed(&mut self) {
        let fl = self.in_flight.take().expect("an append in flight");
        // Every completion of its write is reaped: from here on `buf` may change.
        self.end += fl.appended as u64;
        self.zeroed_end = self.zeroed_end.max(fl.block_start + fl.write_len as u64);
        self.keep_tail(fl.block_start);
        if fl.appended > 0 {
            self.grow_if_low(fl.appended);
        }
    }

    /// The append in flight failed: the logical end stays, and what it may have written past the
    /// end is zeroed (now, or before the next append is accepted). Returns `err`.
    fn failed(&mut self, err: io::Error) -> io::Error {
        let fl = self.in_flight.take().expect("an append in flight");
        let to = fl.block_start + fl.write_len as u64;
        self.scrub_to = Some(to);
        if let Err(scrub_err) = self.scrub(to) {
            tracing::warn!(
                "log segment {}: zeroing after a failed append failed ({scrub_err}); \
                 retried before the next append",
                self.path.display()
            );
        }
        err
    }

    /// What one write's result means for the append: the bytes it made durable, or 0 after the
    /// kernel refused RWF_DSYNC (the mode is `Fdatasync` now, and the same bytes are written
    /// again), or the append's error.
    fn account(&mut self, written: io::Result<usize>) -> io::Result<usize> {
        let n = match written {
            Err(err) if self.sync == SyncMode::Dsync && !self.sync_confirmed && refused(&err) => {
                tracing::warn!(
                    "log segment {}: RWF_DSYNC refused ({err}); using write + fdatasync",
                    self.path.display()
                );
                self.sync = SyncMode::Fdatasync;
                return Ok(0);
            }
            other => other?,
        };
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "log write wrote nothing",
            ));
        }
        if self.sync == SyncMode::Dsync {
            self.sync_confirmed = true;
        }
        Ok(n)
    }

    /// Starts one write of `buf[at..at + len]` at `offset` with the sync of the current mode: on
    /// the ring without waiting, or, without a ring, through `pwritev2` to its end (and then
    /// signals the completion fd, as the ring would have).
    ///
    /// The caller records the returned op in `self.in_flight` before anything else touches
    /// `buf`: that record is what keeps `buf` still while the kernel reads it.
    fn start_write(&mut self, offset: u64, at: usize, len: usize) -> Op {
        let fd = self.file.as_raw_fd();
        let ptr = self.buf.as_slice()[at..at + len].as_ptr();
        if let Some(ring) = self.ring.as_mut() {
            // SAFETY: `ptr..ptr + len` lies in `buf`, which is neither written, moved nor freed
            // until every completion of this op is reaped: the caller records the op in
            // `self.in_flight` before it returns; `assert_idle`, called by every method that
            // writes or grows `buf` once the writer exists, panics while a record is there; the
            // record goes only in `completed`/`failed`, after `reap` has seen all the op's
            // completions; and `Drop` reaps them before `buf` is freed. The fd belongs to
            // `self.file`, which lives as long as `buf`.
            match unsafe { submit_write(ring, fd, ptr, len, offset, self.sync) } {
                Ok(op) => return Op::Ring(op),
                Err(err) => {
                    tracing::warn!(
                        "log segment {}: the ring did not take a write ({err}); the log uses \
                         pwritev2",
                        self.path.display()
                    );
                    // The kernel took none of the entries (see `submit_write`): dropping the
                    // ring discards them unread.
                    self.ring = None;
                }
            }
        }
        let result = write_syscall(fd, ptr, len, offset, self.sync);
        self.signal();
        Op::Done(result)
    }

    /// Panics if an append is in flight: `buf` must stay as the kernel reads it.
    fn assert_idle(&self) {
        assert!(
            self.in_flight.is_none(),
            "log segment {}: an append is still in flight (at most one write per segment)",
            self.path.display()
        );
    }

    /// Tells the completion fd, if any, that a write finished without the ring.
    fn signal(&self) {
        let Some(mut fd) = self.completion.as_ref() else {
            return;
        };
        // Adds 1 to the eventfd's counter; it blocks only at a counter of 2^64 - 2.
        if let Err(err) = fd.write_all(&1u64.to_ne_bytes()) {
            tracing::warn!(
                "log segment {}: signalling the completion eventfd failed: {err}",
                self.path.display()
            );
        }
    }
}

impl Drop for SegmentWriter {
    /// A write still on the ring reads `buf`: wait for it before `buf` is freed.
    fn drop(&mut self) {
        let Some(InFlight {
            op: Op::Ring(op), ..
        }) = self.in_flight.as_mut()
        else {
            return;
        };
        let ring = self.ring.as_mut().expect("a ring op has its ring");
        while reap(ring, op).is_none() {
            wait_ring(ring);
        }
    }
}

/// An eventfd (close-on-exec, blocking: a read submitted on a glommio ring then waits for a
/// signal rather than failing with EAGAIN) for `SegmentWriter::signal_completions_to`.
pub fn completion_eventfd() -> io::Result<OwnedFd> {
    // SAFETY: eventfd takes no pointers.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just opened and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Queues a write of `len` bytes from `ptr` at `offset` (with RWF_DSYNC, or linked to an
/// fdatasync, or neither, as `sync` says) and submits it without waiting for completions. On
/// error the kernel has taken none of the entries: `io_uring_enter` reports a count whenever it
/// took any. (If it takes the write and not the fdatasync, which needs a failed allocation
/// between the two, the rest is submitted by the next `reap` or wait, unlinked, as the blocking
/// append did before; only the `Fdatasync` fallback mode links.)
///
/// # Safety
///
/// `ptr..ptr + len` must stay valid and unmodified, and `fd` open, until every completion of the
/// returned op has been reaped (or the ring dropped after an error, when nothing was taken).
unsafe fn submit_write(
    ring: &mut IoUring,
    fd: libc::c_int,
    ptr: *const u8,
    len: usize,
    offset: u64,
    sync: SyncMode,
) -> io::Result<RingOp> {
    let len32 = u32::try_from(len).map_err(|_| too_large(len))?;
    let rw_flags = if sync == SyncMode::Dsync {
        libc::RWF_DSYNC
    } else {
        0
    };
    let mut write = opcode::Write::new(types::Fd(fd), ptr, len32)
        .offset(offset)
        .rw_flags(rw_flags)
        .build()
        .user_data(WRITE_TAG);
    let linked = sync == SyncMode::Fdatasync;
    if linked {
        write = write.flags(squeue::Flags::IO_LINK);
    }
    let fsync = opcode::Fsync::new(types::Fd(fd))
        .flags(types::FsyncFlags::DATASYNC)
        .build()
        .user_data(SYNC_TAG);
    let entries = [write, fsync];
    let count = if linked { 2 } else { 1 };
    // SAFETY: the caller's contract covers the buffer and the fd.
    unsafe { ring.submission().push_multiple(&entries[..count]) }
        .map_err(|_| io::Error::other("log ring submission queue full"))?;
    loop {
        match ring.submit() {
            Ok(_) => break,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) if ring.submission().len() == count => return Err(err),
            // Part taken: the rest goes with the next enter.
            Err(_) => break,
        }
    }
    Ok(RingOp {
        len,
        expected: count as u8,
        seen: 0,
        write_res: 0,
        sync_res: 0,
    })
}

/// Takes the op's completions from the ring; its result once all of them are in. Never waits.
fn reap(ring: &mut IoUring, op: &mut RingOp) -> Option<io::Result<usize>> {
    if !ring.submission().is_empty() {
        // Left by a partial submission (see `submit_write`).
        let _ = ring.submit();
    }
    for cqe in ring.completion() {
        match cqe.user_data() {
            WRITE_TAG => op.write_res = cqe.result(),
            _ => op.sync_res = cqe.result(),
        }
        op.seen += 1;
    }
    debug_assert!(op.seen <= op.expected);
    (op.seen == op.expected).then(|| op.result())
}

/// Blocks until the ring holds a completion (or a signal interrupts the wait).
///
/// `io_uring_enter` on this ring fails only with EINTR; should it fail otherwise, this sleeps a
/// millisecond instead: the kernel posts the completion whether anyone waits or not, and the
/// caller's next `reap` finds it.
fn wait_ring(ring: &IoUring) {
    match ring.submit_and_wait(1) {
        Ok(_) => {}
        Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
        Err(err) => {
            tracing::warn!("waiting on the log ring failed ({err}); polling it instead");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// The `pwritev2` fallback when io_uring is unavailable.
fn write_syscall(
    fd: libc::c_int,
    ptr: *const u8,
    len: usize,
    offset: u64,
    sync: SyncMode,
) -> io::Result<usize> {
    let iov = libc::iovec {
        iov_base: ptr as *mut libc::c_void,
        iov_len: len,
    };
    let flags = if sync == SyncMode::Dsync {
        libc::RWF_DSYNC
    } else {
        0
    };
    let written = loop {
        // SAFETY: `iov` points at `len` readable bytes of the writer's buffer, alive for the call.
        let n = unsafe { libc::pwritev2(fd, &iov, 1, offset as libc::off_t, flags) };
        if n >= 0 {
            break n as usize;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    };
    if sync == SyncMode::Fdatasync && written == len {
        // SAFETY: fdatasync on an owned fd; no memory involved.
        if unsafe { libc::fdatasync(fd) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(written)
}

/// Whether an error means the kernel does not take RWF_DSYNC here (as opposed to a failed write).
fn refused(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::EOPNOTSUPP) | Some(libc::EINVAL)
    )
}

fn set_direct(file: &File, path: &Path) {
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on an fd owned by `file`; F_GETFL/F_SETFL take no pointers.
    let ok = unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        flags >= 0 && libc::fcntl(fd, libc::F_SETFL, flags | libc::O_DIRECT) == 0
    };
    if !ok {
        tracing::warn!(
            "log segment {}: O_DIRECT refused ({}); using buffered writes + data sync",
            path.display(),
            io::Error::last_os_error()
        );
    }
}

/// Makes the creation, rename or removal of `path` durable: syncs the
/// directory holding it.
pub(crate) fn sync_parent_dir(path: &Path) -> io::Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(parent)?.sync_all()
}

/// Reads until `buf` is full or the file ends; returns the byte count.
fn read_full_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], offset + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(got)
}

fn too_large(len: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("log append of {len} bytes exceeds {APPEND_BYTES_MAX}"),
    )
}

fn round_down(x: u64) -> u64 {
    x & !(BLOCK - 1)
}

fn round_up(x: u64) -> u64 {
    x.div_ceil(BLOCK) * BLOCK
}

/// A zero-initialised, block-aligned heap buffer whose capacity only grows.
struct AlignedBuf {
    ptr: NonNull<u8>,
    cap: usize,
}

// SAFETY: the buffer is owned exclusively by its AlignedBuf (no aliasing pointers escape beyond
// a borrow of it), so moving it to another thread is as safe as moving a Vec<u8>.
unsafe impl Send for AlignedBuf {}

impl AlignedBuf {
    fn layout(cap: usize) -> Layout {
        Layout::from_size_align(cap, BLOCK_BYTES).expect("block-aligned layout within limits")
    }

    fn zeroed(cap: usize) -> AlignedBuf {
        assert!(cap > 0 && cap.is_multiple_of(BLOCK_BYTES));
        let layout = Self::layout(cap);
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { alloc::alloc_zeroed(layout) };
        let ptr = NonNull::new(ptr).unwrap_or_else(|| alloc::handle_alloc_error(layout));
        AlignedBuf { ptr, cap }
    }

    /// Grows to at least `len` bytes (rounded up to blocks), keeping the contents.
    fn ensure(&mut self, len: usize) {
        if len <= self.cap {
            return;
        }
        let mut bigger = AlignedBuf::zeroed(round_up(len as u64) as usize);
        bigger.as_mut_slice()[..self.cap].copy_from_slice(self.as_slice());
        *self = bigger;
    }

    fn as_slice(&self) -> &[u8] {
        // SAFETY: `ptr` is a live allocation of `cap` initialised (zeroed) bytes owned by self.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.cap) }
    }

    fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_slice`, and `&mut self` makes this the only live reference.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.cap) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: allocated in `zeroed` with exactly this layout, and freed only here.
        unsafe { alloc::dealloc(self.ptr.as_ptr(), Self::layout(self.cap)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    const HEADER: &[u8] = b"ZKLG\0\0\0\x02\0\0\0\0\0\0\0\0";

    fn opts(prealloc_size: u64) -> LogOptions {
        LogOptions {
            prealloc_size,
            ..LogOptions::default()
        }
    }

    /// Deterministic record bytes of varying length, never all zero.
    fn record(i: usize) -> Vec<u8> {
        let len = 1 + (i * 7919) % 700;
        (0..len)
            .map(|j| (i as u8).wrapping_mul(31).wrapping_add(j as u8) | 1)
            .collect()
    }

    fn assert_content(path: &Path, expected: &[u8]) {
        let file = std::fs::read(path).unwrap();
        assert!(
            file.len() >= expected.len(),
            "file shorter than the logical end"
        );
        assert_eq!(&file[..expected.len()], expected, "data differs");
        assert!(
            file[expected.len()..].iter().all(|&b| b == 0),
            "non-zero byte past the end"
        );
    }

    fn each_mode(f: impl Fn(&LogOptions, &str)) {
        for direct in [true, false] {
            let mut o = opts(64 << 10);
            o.direct = direct;
            f(&o, if direct { "direct" } else { "buffered" });
        }
    }

    #[test]
    fn create_append_reopen_reads_back_exact_bytes() {
        each_mode(|o, mode| {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("log.1");
            let mut expected = HEADER.to_vec();
            let mut w = SegmentWriter::create(&path, HEADER, o).unwrap();
            assert_eq!(w.len(), HEADER.len() as u64);
            assert_eq!(w.is_direct(), o.direct, "{mode}");
            for i in 0..10 {
                w.append(&record(i)).unwrap();
                expected.extend_from_slice(&record(i));
            }
            assert_eq!(w.len(), expected.len() as u64);
            drop(w);
            assert_content(&path, &expected);

            let mut w = SegmentWriter::open_append(&path, expected.len() as u64, o).unwrap();
            for i in 10..20 {
                w.append(&record(i)).unwrap();
                expected.extend_from_slice(&record(i));
            }
            assert_eq!(w.len(), expected.len() as u64);
            assert_eq!(w.path(), path.as_path());
            drop(w);
            assert_content(&path, &expected);
        });
    }

    #[test]
    fn create_refuses_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.1");
        std::fs::write(&path, b"keep me").unwrap();
        let err = SegmentWriter::create(&path, HEADER, &opts(64 << 10)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&path).unwrap(), b"keep me");
    }

    #[test]
    fn create_preallocates_zero_filled_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.1");
        let w = SegmentWriter::create(&path, HEADER, &opts(64 << 10)).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 64 << 10);
        assert_eq!(w.allocated_len(), 64 << 10);
        assert_content(&path, HEADER);
    }

    #[test]
    fn small_appends_crossing_block_and_prealloc_boundaries_read_back_exactly() {
        each_mode(|o, mode| {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("log.1");
            let mut w = SegmentWriter::create(&path, HEADER, o).unwrap();
            let mut expected = HEADER.to_vec();
            let mut i = 0;
            // Past three times the initial preallocation, so it grows repeatedly.
            while expected.len() < 3 * (64 << 10) + 5000 {
                let r = record(i);
                w.append(&r).unwrap();
                expected.extend_from_slice(&r);
                i += 1;
                assert_eq!(w.len(), expected.len() as u64);
                // The zeroed region is grown ahead of use, never waited for in one piece.
                assert!(w.allocated_len() >= w.len() + (16 << 10), "{mode}: {w:?}");
                assert_eq!(std::fs::metadata(&path).unwrap().len(), w.allocated_len());
            }
            // One append larger than the whole preallocation, then small ones again.
            let big: Vec<u8> = (0..200_000u32).map(|j| (j % 251) as u8 | 1).collect();
            w.append(&big).unwrap();
            expected.extend_from_slice(&big);
            w.append(&record(1)).unwrap();
            expected.extend_from_slice(&record(1));
            drop(w);
            assert_content(&path, &expected);
        });
    }

    #[test]
    fn block_sized_appends_at_block_aligned_ends_read_back_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.1");
        let mut w = SegmentWriter::create(&path, &[7u8; BLOCK_BYTES], &opts(64 << 10)).unwrap();
        let mut expected = vec![7u8; BLOCK_BYTES];
        for i in 0..20u8 {
            let chunk = vec![i | 0x80; BLOCK_BYTES * (1 + i as usize % 3)];
            w.append(&chunk).unwrap();
            expected.extend_from_slice(&chunk);
        }
        w.append(&[]).unwrap();
        drop(w);
        assert_content(&path, &expected);
    }

    #[test]
    fn open_append_in_the_middle_of_garbage_zeroes_the_garbage() {
        each_mode(|o, _| {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("log.1");
            let mut w = SegmentWriter::create(&path, HEADER, o).unwrap();
            for i in 0..5 {
                w.append(&record(i)).unwrap();
            }
            drop(w);
            // A torn tail: garbage past the valid end, inside the same block and far beyond it.
            let mut file = std::fs::read(&path).unwrap();
            let end = 1000usize;
            for (k, b) in file[end..50_000].iter_mut().enumerate() {
                *b = (k % 253) as u8 | 1;
            }
            file[60_000] = 0xff;
            std::fs::write(&path, &file).unwrap();

            let mut w = SegmentWriter::open_append(&path, end as u64, o).unwrap();
            let mut expected = file[..end].to_vec();
            assert_content(&path, &expected);
            w.append(b"after recovery").unwrap();
            expected.extend_from_slice(b"after recovery");
            drop(w);
            assert_content(&path, &expected);
        });
    }

    #[test]
    fn open_append_refuses_an_end_past_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.1");
        std::fs::write(&path, [1u8; 100]).unwrap();
        let err = SegmentWriter::open_append(&path, 101, &opts(64 << 10)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn open_append_of_a_short_unpadded_file_grows_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.1");
        std::fs::write(&path, [3u8; 5000]).unwrap();
        let mut w = SegmentWriter::open_append(&path, 5000, &opts(64 << 10)).unwrap();
        w.append(&[4u8; 10]).unwrap();
        drop(w);
        let mut expected = vec![3u8; 5000];
        expected.extend_from_slice(&[4u8; 10]);
        assert_content(&path, &expected);
    }

    #[test]
    fn fdatasync_and_syscall_fallbacks_write_the_same_bytes() {
        for (ring, sync) in [
            (true, SyncMode::Fdatasync),
            (false, SyncMode::Dsync),
            (false, SyncMode::Fdatasync),
            (true, SyncMode::None),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("log.1");
            let mut w = SegmentWriter::create(&path, HEADER, &opts(64 << 10)).unwrap();
            if !ring {
                w.ring = None;
            }
            w.sync = sync;
            let mut expected = HEADER.to_vec();
            for i in 0..200 {
                w.append(&record(i)).unwrap();
                expected.extend_from_slice(&record(i));
            }
            assert_eq!(w.sync, sync);
            drop(w);
            assert_content(&path, &expected);
        }
    }

    #[test]
    fn force_sync_off_still_writes_the_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.1");
        let o = LogOptions {
            force_sync: false,
            ..opts(64 << 10)
        };
        let mut w = SegmentWriter::create(&path, HEADER, &o).unwrap();
        w.append(b"abc").unwrap();
        drop(w);
        assert_content(&path, &[HEADER, b"abc"].concat());
    }

    #[test]
    fn a_failed_append_leaves_the_end_and_data_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.1");
        let mut w = SegmentWriter::create(&path, HEADER, &opts(64 << 10)).unwrap();
        w.append(b"first").unwrap();
        // Swap the fd for a read-only one: the next write fails with EBADF.
        let good = std::mem::replace(&mut w.file, File::open(&path).unwrap());
        let err = w.append(b"second").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
        assert_eq!(w.len(), (HEADER.len() + 5) as u64);
        assert!(
            w.scrub_to.is_some(),
            "the scrub could not run on a read-only fd"
        );
        // As if the failed write had landed anyway (its sync failed): its bytes sit past the end.
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .write_all_at(b"second", w.len())
            .unwrap();
        // The cause goes away: the pending scrub runs, then the append.
        w.file = good;
        w.append(b"2nd").unwrap();
        assert!(w.scrub_to.is_none());
        drop(w);
        assert_content(&path, &[HEADER, b"first", b"2nd"].concat());
    }

    #[test]
    fn oversized_append_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.1");
        let mut w = SegmentWriter::create(&path, HEADER, &opts(64 << 10)).unwrap();
        let err = w.append(&vec![1u8; APPEND_BYTES_MAX + 1]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(w.len(), HEADER.len() as u64);
    }

    /// Waits until `fd` is readable (10 s at most: a hang guard, not a timing assertion), then
    /// reads it, which resets it.
    fn wait_signalled(fd: BorrowedFd<'_>) {
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd, alive for the call.
        let ready = unsafe { libc::poll(&mut pfd, 1, 10_000) };
        assert_eq!(ready, 1, "the completion eventfd was not signalled in 10 s");
        let mut count = [0u8; 8];
        std::io::Read::read_exact(
            &mut File::from(fd.try_clone_to_owned().unwrap()),
            &mut count,
        )
        .unwrap();
        assert!(u64::from_ne_bytes(count) >= 1);
    }

    /// Resets `fd` if it was signalled: a later wait then proves a new signal.
    fn drain(fd: BorrowedFd<'_>) {
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd, alive for the call.
        if unsafe { libc::poll(&mut pfd, 1, 0) } == 1 {
            wait_signalled(fd);
        }
    }

    /// Submits `bytes` and waits for the result on the completion fd, as the glommio side does:
    /// a `None` from the poll means wait for the next signal.
    fn submit_and_await(w: &mut SegmentWriter, fd: BorrowedFd<'_>, bytes: &[u8]) -> io::Result<()> {
        w.submit_append(bytes)?;
        assert!(w.in_flight());
        loop {
            if let Some(result) = w.poll_append() {
                assert!(!w.in_flight());
                return result;
            }
            wait_signalled(fd);
        }
    }

    /// Every way a write is made: ring with RWF_DSYNC, ring with a linked fdatasync, `pwritev2`
    /// with either, no sync; each direct and buffered.
    fn each_path(f: impl Fn(&dyn Fn(&mut SegmentWriter), &LogOptions, bool, &str)) {
        for (ring, sync) in [
            (true, SyncMode::Dsync),
            (true, SyncMode::Fdatasync),
            (false, SyncMode::Dsync),
            (false, SyncMode::Fdatasync),
            (true, SyncMode::None),
        ] {
            let set = move |w: &mut SegmentWriter| {
                if !ring {
                    w.ring = None;
                }
                w.sync = sync;
            };
            each_mode(|o, mode| f(&set, o, ring, &format!("{mode}, ring {ring}, {sync:?}")));
        }
    }

    #[test]
    fn submit_then_poll_writes_the_same_bytes_as_append() {
        each_path(|set, o, _, what| {
            let dir = tempfile::tempdir().unwrap();
            let (p1, p2) = (dir.path().join("log.1"), dir.path().join("log.2"));
            let mut blocking = SegmentWriter::create(&p1, HEADER, o).unwrap();
            let mut split = SegmentWriter::create(&p2, HEADER, o).unwrap();
            set(&mut blocking);
            set(&mut split);
            let fd = completion_eventfd().unwrap();
            split.signal_completions_to(fd.as_fd()).unwrap();
            let big: Vec<u8> = (0..150_000u32).map(|j| (j % 251) as u8 | 1).collect();
            let appends = (0..300)
                .map(record)
                .chain([Vec::new(), big, record(7)])
                .collect::<Vec<_>>();
            for bytes in &appends {
                blocking.append(bytes).unwrap();
                submit_and_await(&mut split, fd.as_fd(), bytes).unwrap();
                assert_eq!(split.len(), blocking.len(), "{what}");
                assert_eq!(split.allocated_len(), blocking.allocated_len(), "{what}");
            }
            drop((blocking, split));
            let bytes = std::fs::read(&p1).unwrap();
            assert_eq!(bytes, std::fs::read(&p2).unwrap(), "{what}");
            assert_content(&p2, &[HEADER, &appends.concat()].concat());
        });
    }

    #[test]
    fn the_completion_fd_is_signalled_when_a_write_completes() {
        each_path(|set, o, ring, what| {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("log.1");
            let mut w = SegmentWriter::create(&path, HEADER, o).unwrap();
            set(&mut w);
            let fd = completion_eventfd().unwrap();
            w.signal_completions_to(fd.as_fd()).unwrap();
            assert_eq!(w.ring.is_some(), ring, "{what}: the ring took the eventfd");
            let mut expected = HEADER.to_vec();
            for bytes in [record(1), Vec::new(), record(2)] {
                drain(fd.as_fd());
                w.submit_append(&bytes).unwrap();
                // Signalled before anyone polls: a waiter on the fd alone wakes up.
                wait_signalled(fd.as_fd());
                let result = loop {
                    if let Some(result) = w.poll_append() {
                        break result;
                    }
                    // A linked fdatasync posts its own completion after the write's.
                    wait_signalled(fd.as_fd());
                };
                result.unwrap_or_else(|e| panic!("{what}: {e}"));
                expected.extend_from_slice(&bytes);
            }
            assert!(w.poll_append().is_none(), "{what}: nothing is in flight");
            drop(w);
            assert_content(&path, &expected);
        });
    }

    #[test]
    #[should_panic(expected = "still in flight")]
    fn a_second_submit_while_one_is_in_flight_panics() {
        let dir = tempfile::tempdir().unwrap();
        let mut w =
            SegmentWriter::create(&dir.path().join("log.1"), HEADER, &opts(64 << 10)).unwrap();
        w.submit_append(b"first").unwrap();
        // Whether or not the first write has reached the disk: it has not been polled.
        let _ = w.submit_append(b"second");
    }

    #[test]
    fn a_write_in_flight_lands_whole_when_the_writer_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.1");
        let mut w = SegmentWriter::create(&path, HEADER, &opts(64 << 10)).unwrap();
        let bytes: Vec<u8> = (0..100_000u32).map(|j| (j % 249) as u8 | 1).collect();
        w.submit_append(&bytes).unwrap();
        // Drop reaps the write before freeing the buffer the kernel reads.
        drop(w);
        assert_content(&path, &[HEADER, &bytes].concat());
    }

    #[test]
    fn a_failed_submitted_append_leaves_the_end_and_data_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.1");
        let mut w = SegmentWriter::create(&path, HEADER, &opts(64 << 10)).unwrap();
        let fd = completion_eventfd().unwrap();
        w.signal_completions_to(fd.as_fd()).unwrap();
        submit_and_await(&mut w, fd.as_fd(), b"first").unwrap();
        // A read-only fd: the submit succeeds, the write on the ring fails with EBADF.
        let good = std::mem::replace(&mut w.file, File::open(&path).unwrap());
        let err = submit_and_await(&mut w, fd.as_fd(), b"second").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
        assert_eq!(w.len(), (HEADER.len() + 5) as u64);
        assert!(!w.in_flight());
        assert!(
            w.scrub_to.is_some(),
            "the scrub could not run on a read-only fd"
        );
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .write_all_at(b"second", w.len())
            .unwrap();
        // The pending scrub runs at the next submit, before its write.
        w.file = good;
        submit_and_await(&mut w, fd.as_fd(), b"2nd").unwrap();
        assert!(w.scrub_to.is_none());
        drop(w);
        assert_content(&path, &[HEADER, b"first", b"2nd"].concat());
    }

    #[test]
    fn writer_is_send() {
        fn send<T: Send>() {}
        send::<SegmentWriter>();
    }
}
