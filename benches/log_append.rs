//! Log append micro-benchmark: one `SegmentWriter::append` of a batch of 1, 10, 100 or 1000
//! records of ~120 bytes (a small setData txn), durable on return (O_DIRECT + RWF_DSYNC).
//! Measures the device as much as the code: run it on the disk the log will use.
//!
//! Next to it, the same write split as a replicating server makes it: `log_submit_poll` is
//! `submit_append`, a wait on the completion eventfd (`poll(2)` + `read(2)`, where the server's
//! executor would await it) and `poll_append`, timed whole; `log_submit_busy` times only the
//! `submit_append` and `poll_append` calls — what the caller's executor spends, the rest of the
//! write being free for its network.
//! Run: `cargo bench --bench log_append` (segments go to `$CORRAL_BENCH_DIR`, default the
//! system temp dir). Results go to perf/ with the machine.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use corral::storage::logdev::{self, LogOptions, SegmentWriter};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

const RECORD_BYTES: usize = 120;
const HEADER: &[u8] = b"ZKLG\0\0\0\x02\0\0\0\0\0\0\0\0";
/// A segment is replaced (untimed) once it holds this much, like a log roll.
const SEGMENT_BYTES_MAX: u64 = 64 << 20;

struct Segments {
    dir: tempfile::TempDir,
    next: u64,
    writer: Option<SegmentWriter>,
    /// Given to every new segment: its completions signal it.
    completion: OwnedFd,
}

impl Segments {
    fn new() -> Segments {
        let base = std::env::var_os("CORRAL_BENCH_DIR").map(PathBuf::from);
        let dir = match base {
            Some(base) => tempfile::tempdir_in(base),
            None => tempfile::tempdir(),
        }
        .expect("bench temp dir");
        Segments {
            dir,
            next: 0,
            writer: None,
            completion: logdev::completion_eventfd().expect("eventfd"),
        }
    }

    /// The current segment, rolled (untimed by the caller) when full.
    fn writer(&mut self, batch_bytes: usize) -> &mut SegmentWriter {
        let full = self
            .writer
            .as_ref()
            .is_none_or(|w| w.len() + batch_bytes as u64 > SEGMENT_BYTES_MAX);
        if full {
            if let Some(old) = self.writer.take() {
                let path = old.path().to_path_buf();
                drop(old);
                std::fs::remove_file(path).expect("remove old segment");
            }
            self.next += 1;
            let path = self.dir.path().join(format!("log.{:x}", self.next));
            let mut w =
                SegmentWriter::create(&path, HEADER, &LogOptions::default()).expect("create");
            w.signal_completions_to(self.completion.as_fd())
                .expect("completion fd");
            self.writer = Some(w);
        }
        self.writer.as_mut().expect("writer present")
    }
}

/// Waits until the completion eventfd is signalled (`timeout_ms` -1: for ever), then resets
/// it. Returns whether it was signalled.
fn wait_signalled(fd: &File, timeout_ms: i32) -> bool {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one pollfd, alive for the call.
    let ready = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
    if ready != 1 {
        return false;
    }
    let mut count = [0u8; 8];
    (&mut &*fd)
        .read_exact(&mut count)
        .expect("read the completion eventfd");
    true
}

/// One durable write of `batch`, split: submit, then poll whenever the eventfd says so. Returns
/// the time spent inside `submit_append` and `poll_append`.
fn submit_and_await(w: &mut SegmentWriter, completion: &File, batch: &[u8]) -> Duration {
    let start = Instant::now();
    w.submit_append(batch).expect("submit");
    let mut busy = start.elapsed();
    loop {
        let start = Instant::now();
        let done = w.poll_append();
        busy += start.elapsed();
        if let Some(result) = done {
            result.expect("append");
            return busy;
        }
        wait_signalled(completion, -1);
    }
}

/// How a bench makes one write and which part of it is timed.
#[derive(Clone, Copy)]
enum Way {
    Append,
    SubmitPoll,
    SubmitBusy,
}

fn bench_group(c: &mut Criterion, name: &str, way: Way, segments: &mut Segments) {
    let mut g = c.benchmark_group(name);
    g.sample_size(20)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1));
    for records in [1usize, 10, 100, 1000] {
        let batch: Vec<u8> = (0..records * RECORD_BYTES)
            .map(|i| (i % 251) as u8 | 1)
            .collect();
        g.throughput(Throughput::Elements(records as u64));
        let completion = File::from(segments.completion.try_clone().expect("dup"));
        g.bench_with_input(BenchmarkId::new("records", records), &batch, |b, batch| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    // Untimed: a signal left by an earlier write must not end this one's wait.
                    wait_signalled(&completion, 0);
                    let w = segments.writer(batch.len());
                    let start = Instant::now();
                    match way {
                        Way::Append => {
                            w.append(batch).expect("append");
                            spent += start.elapsed();
                        }
                        Way::SubmitPoll => {
                            submit_and_await(w, &completion, batch);
                            spent += start.elapsed();
                        }
                        Way::SubmitBusy => spent += submit_and_await(w, &completion, batch),
                    }
                }
                spent
            })
        });
    }
    g.finish();
}

fn log_append(c: &mut Criterion) {
    let mut segments = Segments::new();
    bench_group(c, "log_append", Way::Append, &mut segments);
    bench_group(c, "log_submit_poll", Way::SubmitPoll, &mut segments);
    bench_group(c, "log_submit_busy", Way::SubmitBusy, &mut segments);
}

criterion_group!(benches, log_append);
criterion_main!(benches);
