//! Log append micro-benchmark: one `SegmentWriter::append` of a batch of 1, 10, 100 or 1000
//! records of ~120 bytes (a small setData txn), durable on return (O_DIRECT + RWF_DSYNC).
//! Measures the device as much as the code: run it on the disk the log will use.
//! Run: `cargo bench --bench log_append` (segments go to `$CORRAL_BENCH_DIR`, default the
//! system temp dir). Results go to perf/ with the machine.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use corral::storage::logdev::{LogOptions, SegmentWriter};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

const RECORD_BYTES: usize = 120;
const HEADER: &[u8] = b"ZKLG\0\0\0\x02\0\0\0\0\0\0\0\0";
/// A segment is replaced (untimed) once it holds this much, like a log roll.
const SEGMENT_BYTES_MAX: u64 = 64 << 20;

struct Segments {
    dir: tempfile::TempDir,
    next: u64,
    writer: Option<SegmentWriter>,
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
            self.writer =
                Some(SegmentWriter::create(&path, HEADER, &LogOptions::default()).expect("create"));
        }
        self.writer.as_mut().expect("writer present")
    }
}

fn log_append(c: &mut Criterion) {
    let mut g = c.benchmark_group("log_append");
    g.sample_size(20)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1));
    let mut segments = Segments::new();
    for records in [1usize, 10, 100, 1000] {
        let batch: Vec<u8> = (0..records * RECORD_BYTES)
            .map(|i| (i % 251) as u8 | 1)
            .collect();
        g.throughput(Throughput::Elements(records as u64));
        g.bench_with_input(BenchmarkId::new("records", records), &batch, |b, batch| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    let w = segments.writer(batch.len());
                    let start = Instant::now();
                    w.append(batch).expect("append");
                    spent += start.elapsed();
                }
                spent
            })
        });
    }
    g.finish();
}

criterion_group!(benches, log_append);
criterion_main!(benches);
