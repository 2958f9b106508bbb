//! The log device on a full disk: appends fail with ENOSPC without corrupting anything, and work
//! again once space returns, whether made in one call or submitted and polled. Needs a real small
//! filesystem, so it mounts a 4 MiB ext4 image on a loop device — only as root with `mkfs.ext4`
//! and `mount`; otherwise it prints why and skips.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Command;

use corral::storage::logdev::{self, LogOptions, SegmentWriter};

const HEADER: &[u8] = b"ZKLG\0\0\0\x02\0\0\0\0\0\0\0\0";

/// A loop-mounted ext4 image, unmounted on drop.
struct Mounted {
    mnt: PathBuf,
    _dir: tempfile::TempDir,
}

impl Mounted {
    fn new(size_bytes: u64) -> Result<Mounted, String> {
        // SAFETY: geteuid has no preconditions and touches no memory.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not running as root".into());
        }
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let img = dir.path().join("disk.img");
        let mnt = dir.path().join("mnt");
        std::fs::create_dir(&mnt).map_err(|e| e.to_string())?;
        File::create(&img)
            .and_then(|f| f.set_len(size_bytes))
            .map_err(|e| e.to_string())?;
        run(Command::new("mkfs.ext4")
            .args(["-q", "-F", "-m", "0"])
            .arg(&img))?;
        run(Command::new("mount")
            .args(["-o", "loop"])
            .arg(&img)
            .arg(&mnt))?;
        Ok(Mounted { mnt, _dir: dir })
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if run(Command::new("umount").arg(&self.mnt)).is_err() {
            let _ = run(Command::new("umount").arg("-l").arg(&self.mnt));
        }
    }
}

fn run(cmd: &mut Command) -> Result<(), String> {
    match cmd.output() {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(format!(
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(err) => Err(format!("{cmd:?}: {err}")),
    }
}

/// Writes into `path` until the filesystem is full, in ever smaller pieces.
fn fill_disk(path: &Path) {
    let mut file = File::create(path).unwrap();
    for piece in [64 << 10, 4096, 1024, 1] {
        let buf = vec![0xeeu8; piece];
        loop {
            match file.write_all(&buf).and_then(|_| file.sync_data()) {
                Ok(()) => {}
                Err(err) if err.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(err) => panic!("filling the disk: {err}"),
            }
        }
    }
}

fn syncfs(dir: &Path) {
    let d = File::open(dir).unwrap();
    // SAFETY: syncfs on a directory fd we own; no memory involved.
    assert_eq!(unsafe { libc::syncfs(d.as_raw_fd()) }, 0);
}

fn record(i: usize) -> Vec<u8> {
    (0..120)
        .map(|j| (i as u8).wrapping_add(j as u8) | 1)
        .collect()
}

fn assert_content(path: &Path, expected: &[u8]) {
    let file = std::fs::read(path).unwrap();
    assert_eq!(&file[..expected.len()], expected, "data differs");
    assert!(
        file[expected.len()..].iter().all(|&b| b == 0),
        "non-zero byte past the end"
    );
}

/// How the scenario appends: in one call, or submitted and then polled whenever the completion
/// eventfd is signalled (as the glommio side does).
enum Appender {
    Blocking,
    Split(OwnedFd),
}

impl Appender {
    fn split() -> Appender {
        Appender::Split(logdev::completion_eventfd().unwrap())
    }

    fn attach(&self, w: &mut SegmentWriter) {
        if let Appender::Split(fd) = self {
            w.signal_completions_to(fd.as_fd()).unwrap();
        }
    }

    fn append(&self, w: &mut SegmentWriter, bytes: &[u8]) -> io::Result<()> {
        let Appender::Split(fd) = self else {
            return w.append(bytes);
        };
        w.submit_append(bytes)?;
        loop {
            if let Some(result) = w.poll_append() {
                return result;
            }
            wait_signalled(fd);
        }
    }
}

/// Waits until `fd` is readable (10 s at most: a hang guard), then reads it, which resets it.
fn wait_signalled(fd: &OwnedFd) {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one pollfd, alive for the call.
    let ready = unsafe { libc::poll(&mut pfd, 1, 10_000) };
    assert_eq!(ready, 1, "the completion eventfd was not signalled in 10 s");
    let mut count = [0u8; 8];
    io::Read::read_exact(&mut File::from(fd.try_clone().unwrap()), &mut count).unwrap();
}

#[test]
fn full_disk_append_fails_with_enospc_keeps_data_and_recovers() {
    full_disk_fails_with_enospc_keeps_data_and_recovers(Appender::Blocking);
}

#[test]
fn full_disk_submitted_append_fails_with_enospc_keeps_data_and_recovers() {
    full_disk_fails_with_enospc_keeps_data_and_recovers(Appender::split());
}

fn full_disk_fails_with_enospc_keeps_data_and_recovers(appender: Appender) {
    let disk = match Mounted::new(4 << 20) {
        Ok(disk) => disk,
        Err(reason) => {
            println!("skipped: cannot mount a scratch ext4 image ({reason})");
            return;
        }
    };
    let opts = LogOptions {
        prealloc_size: 64 << 10,
        ..LogOptions::default()
    };
    let path = disk.mnt.join("log.1");
    let mut w = SegmentWriter::create(&path, HEADER, &opts).unwrap();
    appender.attach(&mut w);
    let mut expected = HEADER.to_vec();
    for i in 0..10 {
        appender.append(&mut w, &record(i)).unwrap();
        expected.extend_from_slice(&record(i));
    }

    let filler = disk.mnt.join("filler");
    fill_disk(&filler);

    // Preallocating a new segment on a full disk is an error, and leaves no file behind.
    let other = disk.mnt.join("log.2");
    let err = SegmentWriter::create(&other, HEADER, &opts).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOSPC), "{err}");
    assert!(!other.exists());

    // Appends go on into the preallocated zeros, then fail once those are used up.
    let mut failure: Option<io::Error> = None;
    for i in 10..10_000 {
        let before = w.len();
        match appender.append(&mut w, &record(i)) {
            Ok(()) => expected.extend_from_slice(&record(i)),
            Err(err) => {
                assert_eq!(w.len(), before, "a failed append moved the end");
                failure = Some(err);
                break;
            }
        }
    }
    let err = failure.expect("appends never failed on a full disk");
    assert_eq!(err.raw_os_error(), Some(libc::ENOSPC), "{err}");
    assert!(
        expected.len() > HEADER.len() + 10 * 120,
        "the preallocation was not used"
    );
    assert_eq!(w.len(), expected.len() as u64);
    assert_content(&path, &expected);

    // Still full: still an error, still nothing changed.
    let err = appender.append(&mut w, &vec![5u8; 100_000]).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOSPC), "{err}");
    assert_eq!(w.len(), expected.len() as u64);
    assert_content(&path, &expected);

    // Space returns: appends work again, including one larger than the preallocation.
    std::fs::remove_file(&filler).unwrap();
    syncfs(&disk.mnt);
    let big = vec![9u8; 100_000];
    appender.append(&mut w, &big).unwrap();
    expected.extend_from_slice(&big);
    for i in 0..50 {
        appender.append(&mut w, &record(i)).unwrap();
        expected.extend_from_slice(&record(i));
    }
    drop(w);
    assert_content(&path, &expected);

    // And the segment reopens at its end.
    let mut w = SegmentWriter::open_append(&path, expected.len() as u64, &opts).unwrap();
    appender.attach(&mut w);
    appender.append(&mut w, b"reopened").unwrap();
    expected.extend_from_slice(b"reopened");
    drop(w);
    assert_content(&path, &expected);
}
