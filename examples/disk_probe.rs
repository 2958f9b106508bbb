//! Measures the synced-write limit of the disk under DIR and what the log writer gets of it.
//!
//! For each write size (4 KiB … 1 MiB), sequential writes, each durable on return:
//! * `raw uring`   — O_DIRECT write with RWF_DSYNC on an io_uring ring, into a preallocated
//!   zero-filled file (the device's limit for the log's access pattern);
//! * `raw pwritev2` — the same through the `pwritev2` syscall;
//! * `raw growing` — the same as `raw uring` but appending to a file that grows with each write
//!   (what a log without zero-filled preallocation gets);
//! * `segment`     — `SegmentWriter::append` of the same number of bytes (it also rewrites the
//!   partial last block, so its writes are one block longer).
//!
//! Run: `cargo run --release --example disk_probe -- DIR [--runs N] [--run-ms MS]`.
//! Prints the median over the runs of writes/s, MB/s and µs per write. A measurement, not a test.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use corral::storage::logdev::{LogOptions, SegmentWriter};
use io_uring::{IoUring, opcode, types};

const SIZES: [usize; 5] = [4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20];
const RAW_FILE_BYTES: u64 = 256 << 20;
/// Header of a ZooKeeper txn log file: the segment's data starts unaligned, as in real use.
const HEADER: &[u8] = b"ZKLG\0\0\0\x02\0\0\0\0\0\0\0\0";

struct Args {
    dir: PathBuf,
    runs: usize,
    run: Duration,
    /// `--json FILE`: one JSON line with the 4 KiB synced-write rates, for
    /// `scripts/bench-vs-zookeeper.sh`'s report.
    json: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mut dir = None;
    let mut runs = 5;
    let mut run_ms = 700;
    let mut json = None;
    while let Some(a) = it.next() {
        match a.as_str() {
            "--runs" => runs = it.next().and_then(|v| v.parse().ok()).ok_or("--runs N")?,
            "--run-ms" => {
                run_ms = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--run-ms MS")?
            }
            "--json" => json = Some(PathBuf::from(it.next().ok_or("--json FILE")?)),
            _ if dir.is_none() => dir = Some(PathBuf::from(a)),
            _ => return Err(format!("unexpected argument {a}")),
        }
    }
    let dir = dir.ok_or("usage: disk_probe DIR [--runs N] [--run-ms MS] [--json FILE]")?;
    Ok(Args {
        dir,
        runs: runs.max(1),
        run: Duration::from_millis(run_ms),
        json,
    })
}

/// A block-aligned, zero-initialised byte region (filled with a pattern before use).
struct Aligned {
    v: Vec<u8>,
    at: usize,
    len: usize,
}

impl Aligned {
    fn new(len: usize) -> Aligned {
        let v = vec![0u8; len + 4096];
        let at = v.as_ptr().align_offset(4096);
        let mut a = Aligned { v, at, len };
        for (i, b) in a.get_mut().iter_mut().enumerate() {
            *b = (i % 251) as u8 | 1;
        }
        a
    }
    fn get(&self) -> &[u8] {
        &self.v[self.at..self.at + self.len]
    }
    fn get_mut(&mut self) -> &mut [u8] {
        &mut self.v[self.at..self.at + self.len]
    }
}

fn open_direct(path: &Path, create: bool) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.read(true).write(true).custom_flags(libc::O_DIRECT);
    if create {
        o.create(true).truncate(true);
    }
    o.open(path)
}

fn zero_fill(file: &File, bytes: u64) -> io::Result<()> {
    let zeros = Aligned {
        v: vec![0u8; (1 << 20) + 4096],
        at: 0,
        len: 1 << 20,
    };
    let zeros = Aligned {
        at: zeros.v.as_ptr().align_offset(4096),
        ..zeros
    };
    let mut off = 0;
    while off < bytes {
        file.write_all_at(zeros.get(), off)?;
        off += 1 << 20;
    }
    file.sync_all()
}

/// One O_DIRECT + RWF_DSYNC write on the ring; returns when it completed.
fn uring_write(ring: &mut IoUring, file: &File, buf: &[u8], offset: u64) -> io::Result<()> {
    let sqe = opcode::Write::new(types::Fd(file.as_raw_fd()), buf.as_ptr(), buf.len() as u32)
        .offset(offset)
        .rw_flags(libc::RWF_DSYNC)
        .build();
    // SAFETY: `buf` stays borrowed, and so alive and unmoved, until the completion is reaped below.
    unsafe { ring.submission().push(&sqe) }.map_err(|_| io::Error::other("sq full"))?;
    ring.submit_and_wait(1)?;
    let cqe = ring
        .completion()
        .next()
        .ok_or_else(|| io::Error::other("no completion"))?;
    match cqe.result() {
        n if n < 0 => Err(io::Error::from_raw_os_error(-n)),
        n if n as usize != buf.len() => Err(io::Error::other("short write")),
        _ => Ok(()),
    }
}

fn pwritev2_write(file: &File, buf: &[u8], offset: u64) -> io::Result<()> {
    let iov = libc::iovec {
        iov_base: buf.as_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // SAFETY: `iov` describes `buf`, which is borrowed for the duration of the call.
    let n = unsafe {
        libc::pwritev2(
            file.as_raw_fd(),
            &iov,
            1,
            offset as libc::off_t,
            libc::RWF_DSYNC,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    if n as usize != buf.len() {
        return Err(io::Error::other("short write"));
    }
    Ok(())
}

/// Runs `write(i)` until `run` has passed; returns (writes, elapsed).
fn timed(run: Duration, mut write: impl FnMut(u64) -> io::Result<()>) -> io::Result<(u64, f64)> {
    let start = Instant::now();
    let mut n = 0u64;
    while n < 3 || start.elapsed() < run {
        write(n)?;
        n += 1;
    }
    Ok((n, start.elapsed().as_secs_f64()))
}

#[derive(Clone, Copy)]
enum Mode {
    RawUring,
    RawPwritev2,
    RawGrowing,
    Segment,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::RawUring => "raw uring",
            Mode::RawPwritev2 => "raw pwritev2",
            Mode::RawGrowing => "raw growing",
            Mode::Segment => "segment",
        }
    }
}

/// One run of `mode` at `size`: writes per second.
fn one_run(args: &Args, mode: Mode, size: usize, raw: &File) -> io::Result<f64> {
    let buf = Aligned::new(size);
    let slots = RAW_FILE_BYTES / size as u64;
    let (n, secs) = match mode {
        Mode::RawUring => {
            let mut ring = IoUring::new(4)?;
            timed(args.run, |i| {
                uring_write(&mut ring, raw, buf.get(), (i % slots) * size as u64)
            })?
        }
        Mode::RawPwritev2 => timed(args.run, |i| {
            pwritev2_write(raw, buf.get(), (i % slots) * size as u64)
        })?,
        Mode::RawGrowing => {
            let path = args.dir.join("probe.growing");
            let file = open_direct(&path, true)?;
            file.sync_all()?;
            let mut ring = IoUring::new(4)?;
            let r = timed(args.run, |i| {
                uring_write(&mut ring, &file, buf.get(), i * size as u64)
            });
            std::fs::remove_file(&path)?;
            r?
        }
        Mode::Segment => {
            let path = args.dir.join("probe.segment");
            let _ = std::fs::remove_file(&path);
            let mut w = SegmentWriter::create(&path, HEADER, &LogOptions::default())?;
            let r = timed(args.run, |_| w.append(buf.get()));
            drop(w);
            std::fs::remove_file(&path)?;
            r?
        }
    };
    Ok(n as f64 / secs)
}

/// The kernel's I/O pressure line ("some avg10=…"): how busy the shared disk is right now.
fn io_pressure() -> String {
    std::fs::read_to_string("/proc/pressure/io")
        .ok()
        .and_then(|s| s.lines().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> io::Result<()> {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let raw_path = args.dir.join("probe.raw");
    let raw = open_direct(&raw_path, true)?;
    zero_fill(&raw, RAW_FILE_BYTES)?;
    println!(
        "disk probe in {}: sequential durable writes, median of {} runs of {} ms",
        args.dir.display(),
        args.runs,
        args.run.as_millis()
    );
    println!("io pressure at start: {}", io_pressure());
    println!(
        "{:>8}  {:<13} {:>9} {:>9} {:>9} {:>10}",
        "size", "mode", "writes/s", "MB/s", "us/write", "vs raw"
    );
    let modes = [
        Mode::RawUring,
        Mode::RawPwritev2,
        Mode::RawGrowing,
        Mode::Segment,
    ];
    let mut smallest = None;
    for size in SIZES {
        // Runs interleave the modes (A B C D, A B C D, …) so that the noise of a shared box
        // falls on all of them alike; "vs raw" is the median of the per-run ratios.
        let mut rates = vec![Vec::new(); modes.len()];
        for _ in 0..args.runs {
            for (m, &mode) in modes.iter().enumerate() {
                rates[m].push(one_run(&args, mode, size, &raw)?);
            }
        }
        for (m, &mode) in modes.iter().enumerate() {
            let ratios = rates[m]
                .iter()
                .zip(&rates[0])
                .map(|(r, raw)| r / raw)
                .collect();
            let rate = median(rates[m].clone());
            println!(
                "{:>7}K  {:<13} {:>9.0} {:>9.1} {:>9.1} {:>9.2}x",
                size >> 10,
                mode.name(),
                rate,
                rate * size as f64 / 1e6,
                1e6 / rate,
                median(ratios)
            );
        }
        println!("          (io pressure now: {})", io_pressure());
        if smallest.is_none() {
            smallest = Some((size, median(rates[0].clone()), median(rates[3].clone())));
        }
    }
    if let (Some(path), Some((size, raw_rate, segment_rate))) = (&args.json, smallest) {
        std::fs::write(
            path,
            format!(
                "{{\"size_bytes\":{size},\"syncs_per_s\":{raw_rate:.1},\"segment_syncs_per_s\":{segment_rate:.1}}}\n"
            ),
        )?;
    }
    drop(raw);
    std::fs::remove_file(&raw_path)?;
    Ok(())
}
