//! The transaction log's device layer: bytes in, durable on return.
//!
//! A [`SegmentWriter`] owns one log segment file and appends opaque bytes to it. It knows
//! nothing of the txn-log format (headers, records, checksums): the format layer above hands it
//! finished bytes, and `append` returns only once they are on stable storage. It runs on the log
//! writer's own std thread and blocks; nothing here is async.
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
//! * **RWF_DSYNC on io_uring.** The write carries RWF_DSYNC on a ring of the writer's own, so
//!   data and sync are one request; where the kernel refuses RWF_DSYNC the write is linked to an
//!   fdatasync instead. If the ring cannot be created (io_uring disabled), `pwritev2` does the same
//!   job synchronously.
//!
//! The zero tail is an invariant, not a convenience: recovery reads records until the first one
//! that does not check out, so stale bytes past the logical end must never be readable. A crash
//! leaves at most a torn tail, which `open_append` zeroes; a failed append zeroes what it may have
//! written before the writer accepts the next one.

use std::alloc::{self, Layout};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;

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

/// Appends bytes to one log segment, each append durable on return. See the module doc.
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
}

impl std::fmt::Debug for SegmentWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentWriter")
            .field("path", &self.path)
            .field("end", &self.end)
            .field("zeroed_end", &self.zeroed_end)
            .field("sync", &self.sync)
            .field("ring", &self.ring.is_some())
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
    /// `force_sync = false`).
    ///
    /// One aligned write covers the partial last block and the new bytes. On error the logical
    /// end is unchanged, the bytes before it are intact, and whatever the failed write may have
    /// left past the end is zeroed (now, or before the next append is accepted — if that fails
    /// too, the next append returns its error). A later append works once the cause is gone.
    pub fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        if bytes.len() > APPEND_BYTES_MAX {
            return Err(too_large(bytes.len()));
        }
        if let Some(to) = self.scrub_to {
            self.scrub(to)?;
        }
        let block_start = round_down(self.end);
        let tail_len = (self.end - block_start) as usize;
        let new_end = self.end + bytes.len() as u64;
        let write_len = (round_up(new_end) - block_start) as usize;
        self.buf.ensure(write_len);
        let b = self.buf.as_mut_slice();
        b[tail_len..tail_len + bytes.len()].copy_from_slice(bytes);
        b[tail_len + bytes.len()..write_len].fill(0);

        if let Err(err) = self.write_durable(block_start, write_len) {
            let to = block_start + write_len as u64;
            self.scrub_to = Some(to);
            if let Err(scrub_err) = self.scrub(to) {
                tracing::warn!(
                    "log segment {}: zeroing after a failed append failed ({scrub_err}); \
                     retried before the next append",
                    self.path.display()
                );
            }
            return Err(err);
        }
        self.end = new_end;
        self.zeroed_end = self.zeroed_end.max(block_start + write_len as u64);
        self.keep_tail(block_start);
        self.grow_if_low(bytes.len());
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
        })
    }

    /// After a write that started at `block_start` and ended at `self.end`, moves the new partial
    /// last block to the front of the buffer.
    fn keep_tail(&mut self, block_start: u64) {
        let from = (round_down(self.end) - block_start) as usize;
        let tail_len = (self.end % BLOCK) as usize;
        let b = self.buf.as_mut_slice();
        b.copy_within(from..from + tail_len, 0);
        b[tail_len..BLOCK_BYTES].fill(0);
    }

    /// Reads the partial last block (the bytes before `end` in it) into the buffer.
    fn load_tail(&mut self) -> io::Result<()> {
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

    /// Writes `buf[..len]` at `offset` (both block aligned) and makes it durable.
    fn write_durable(&mut self, offset: u64, len: usize) -> io::Result<()> {
        assert!(
            offset.is_multiple_of(BLOCK) && len.is_multiple_of(BLOCK_BYTES) && len <= self.buf.cap
        );
        assert!((self.buf.ptr.as_ptr() as usize).is_multiple_of(BLOCK_BYTES));
        let mut done = 0;
        while done < len {
            let result = self.write_once(offset + done as u64, done, len - done);
            let n = match result {
                Err(err)
                    if self.sync == SyncMode::Dsync && !self.sync_confirmed && refused(&err) =>
                {
                    tracing::warn!(
                        "log segment {}: RWF_DSYNC refused ({err}); using write + fdatasync",
                        self.path.display()
                    );
                    self.sync = SyncMode::Fdatasync;
                    continue;
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
            done += n;
        }
        Ok(())
    }

    /// One write of `buf[at..at + len]` at `offset` with the sync of the current mode; returns
    /// how many bytes were written. The sync covers them only if all `len` were written or the
    /// mode is `Dsync` (a short write cancels a linked fdatasync; the next one covers it all).
    fn write_once(&mut self, offset: u64, at: usize, len: usize) -> io::Result<usize> {
        let fd = self.file.as_raw_fd();
        let ptr = self.buf.as_slice()[at..at + len].as_ptr();
        let len32 = u32::try_from(len).map_err(|_| too_large(len))?;
        let Some(ring) = self.ring.as_mut() else {
            return write_syscall(fd, ptr, len, offset, self.sync);
        };
        let rw_flags = if self.sync == SyncMode::Dsync {
            libc::RWF_DSYNC
        } else {
            0
        };
        let mut write = opcode::Write::new(types::Fd(fd), ptr, len32)
            .offset(offset)
            .rw_flags(rw_flags)
            .build();
        let linked = self.sync == SyncMode::Fdatasync;
        if linked {
            write = write.flags(squeue::Flags::IO_LINK);
        }
        let fsync = opcode::Fsync::new(types::Fd(fd))
            .flags(types::FsyncFlags::DATASYNC)
            .build()
            .user_data(2);
        let entries = [write.user_data(1), fsync];
        let count = if linked { 2 } else { 1 };
        {
            let mut sq = ring.submission();
            // SAFETY: the write's buffer is `self.buf`, which is neither moved, freed nor touched
            // until both completions are reaped below (this function waits for them); the fd is
            // owned by `self.file` for the same span.
            unsafe { sq.push_multiple(&entries[..count]) }
                .map_err(|_| io::Error::other("log ring submission queue full"))?;
        }
        let mut seen = 0;
        let mut write_res = 0i32;
        let mut sync_res = 0i32;
        while seen < count {
            match ring.submit_and_wait(count - seen) {
                Ok(_) => {}
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            }
            for cqe in ring.completion() {
                match cqe.user_data() {
                    1 => write_res = cqe.result(),
                    _ => sync_res = cqe.result(),
                }
                seen += 1;
            }
        }
        if write_res < 0 {
            return Err(io::Error::from_raw_os_error(-write_res));
        }
        let written = write_res as usize;
        if linked && written == len && sync_res < 0 {
            return Err(io::Error::from_raw_os_error(-sync_res));
        }
        Ok(written)
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

    #[test]
    fn writer_is_send() {
        fn send<T: Send>() {}
        send::<SegmentWriter>();
    }
}
