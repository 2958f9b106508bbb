//! Whole-file reads for recovery without a heap copy: the file is mapped
//! read-only and handed out as [`Bytes`], so a 200 MB snapshot costs neither
//! 200 MB of freshly zeroed heap nor a copy out of the page cache (the two
//! were a third of a 1M-znode restart's system time).
//!
//! Only for files nothing else writes while they are read: snapshots are
//! never modified once sealed, and recovery runs before the log writer
//! opens its first segment. A mapping of a file that another process
//! truncates underneath faults (SIGBUS) on access, so this is never used on
//! a file that is being written.

use bytes::Bytes;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

/// A read-only shared mapping of a whole file, unmapped on drop.
struct Mapping {
    ptr: *mut libc::c_void,
    len: usize,
}

// SAFETY: the mapping is read-only and never remapped; any thread may read it.
unsafe impl Send for Mapping {}
unsafe impl Sync for Mapping {}

impl AsRef<[u8]> for Mapping {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `ptr` maps `len` readable bytes for the life of `self`.
        unsafe { std::slice::from_raw_parts(self.ptr as *const u8, self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly what mmap returned.
        unsafe { libc::munmap(self.ptr, self.len) };
    }
}

/// The contents of `path`, mapped rather than read (see the module doc).
/// Falls back to an ordinary read where mapping is refused (e.g. a
/// filesystem without mmap support).
pub fn read(path: &Path) -> std::io::Result<Bytes> {
    let file = File::open(path)?;
    let len = usize::try_from(file.metadata()?.len())
        .map_err(|_| std::io::Error::other("file larger than the address space"))?;
    if len == 0 {
        return Ok(Bytes::new());
    }
    // SAFETY: a fresh private read-only mapping of an open file; the
    // pointer is checked before use. MAP_POPULATE maps the whole file now
    // (one call instead of a fault per page as the parser walks it).
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_PRIVATE | libc::MAP_POPULATE,
            file.as_raw_fd(),
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        let mapped = std::io::Error::last_os_error();
        tracing::debug!("mmap {}: {mapped}; reading instead", path.display());
        return std::fs::read(path).map(Bytes::from);
    }
    Ok(Bytes::from_owner(Mapping { ptr, len }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_contents_equal_the_file_and_outlive_the_handle() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let body: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &body).unwrap();
        let mapped = read(&path).unwrap();
        let tail = mapped.slice(99_000..);
        drop(mapped);
        assert_eq!(&tail[..], &body[99_000..]);
        assert_eq!(read(&path).unwrap(), Bytes::from(body));
    }

    #[test]
    fn an_empty_file_reads_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty");
        std::fs::write(&path, b"").unwrap();
        assert!(read(&path).unwrap().is_empty());
        assert!(read(&dir.path().join("missing")).is_err());
    }
}
