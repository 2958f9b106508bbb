//! Distributions the monitoring surfaces report: request latencies per shard,
//! and the sequencer's group commits (txns per log write, time per write).
//!
//! A [`Summary`] is written by one thread (a shard, or the sequencer) with
//! relaxed loads and stores and read by whoever asks (`mntr`, the AdminServer,
//! `/metrics`): no lock on the request path, a few hundred bytes of counters
//! per distribution. Values land in log-linear buckets, eight per power of
//! two, so a quantile read from them is within 12.5% of the true one.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Values below this have a bucket each.
const LINEAR: u64 = 8;
/// Buckets per power of two above `LINEAR` (as a shift: 2^3 = 8).
const SUB_BITS: u32 = 3;
const BUCKETS: usize = LINEAR as usize + (64 - SUB_BITS as usize) * (1 << SUB_BITS);

/// A distribution of non-negative integers: count, sum, min, max and
/// bucket counts.
pub struct Summary {
    count: AtomicU64,
    sum: AtomicU64,
    min: AtomicU64,
    max: AtomicU64,
    buckets: Box<[AtomicU64]>,
}

impl Default for Summary {
    fn default() -> Summary {
        Summary {
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0),
            min: AtomicU64::new(u64::MAX),
            max: AtomicU64::new(0),
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

fn bucket_of(v: u64) -> usize {
    if v < LINEAR {
        return v as usize;
    }
    let exp = 63 - v.leading_zeros(); // ≥ SUB_BITS
    let sub = (v >> (exp - SUB_BITS)) & ((1 << SUB_BITS) - 1);
    LINEAR as usize + ((exp - SUB_BITS) as usize) * (1 << SUB_BITS) + sub as usize
}

/// The smallest value that lands in bucket `i`.
fn bucket_floor(i: usize) -> u64 {
    if i < LINEAR as usize {
        return i as u64;
    }
    let i = i - LINEAR as usize;
    let exp = (i >> SUB_BITS) as u32 + SUB_BITS;
    let sub = (i & ((1 << SUB_BITS) - 1)) as u64;
    (1u64 << exp) + (sub << (exp - SUB_BITS))
}

impl Summary {
    /// Records `v`. Only the summary's owner records into it (a shard into its
    /// own, the sequencer into the log's), so plain loads and stores do: no
    /// locked read-modify-write on the request path (~5 ns against ~50 ns
    /// with `fetch_add`, measured).
    pub fn record(&self, v: u64) {
        let bump = |a: &AtomicU64, by: u64| a.store(a.load(Relaxed).wrapping_add(by), Relaxed);
        bump(&self.count, 1);
        bump(&self.sum, v);
        if v < self.min.load(Relaxed) {
            self.min.store(v, Relaxed);
        }
        if v > self.max.load(Relaxed) {
            self.max.store(v, Relaxed);
        }
        bump(&self.buckets[bucket_of(v)], 1);
    }

    /// Forgets everything recorded. Meant for its owner (a reset from another
    /// thread may lose to a record in flight).
    pub fn reset(&self) {
        self.count.store(0, Relaxed);
        self.sum.store(0, Relaxed);
        self.min.store(u64::MAX, Relaxed);
        self.max.store(0, Relaxed);
        for b in self.buckets.iter() {
            b.store(0, Relaxed);
        }
    }

    /// A copy to read from (not atomic as a whole: a value recorded
    /// meanwhile may be in the count and not yet in its bucket).
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            count: self.count.load(Relaxed),
            sum: self.sum.load(Relaxed),
            min: self.min.load(Relaxed),
            max: self.max.load(Relaxed),
            buckets: self.buckets.iter().map(|b| b.load(Relaxed)).collect(),
        }
    }
}

/// A read copy of one or more [`Summary`]s.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub count: u64,
    pub sum: u64,
    min: u64,
    pub max: u64,
    buckets: Vec<u64>,
}

impl Default for Snapshot {
    fn default() -> Snapshot {
        Snapshot {
            count: 0,
            sum: 0,
            min: u64::MAX,
            max: 0,
            buckets: vec![0; BUCKETS],
        }
    }
}

impl Snapshot {
    /// The totals of several summaries (the shards' into the server's).
    pub fn merge<'a>(all: impl IntoIterator<Item = &'a Summary>) -> Snapshot {
        let mut out = Snapshot::default();
        for s in all {
            let s = s.snapshot();
            out.count += s.count;
            out.sum += s.sum;
            out.min = out.min.min(s.min);
            out.max = out.max.max(s.max);
            for (o, b) in out.buckets.iter_mut().zip(&s.buckets) {
                *o += b;
            }
        }
        out
    }

    /// 0 when nothing was recorded, as ZooKeeper reports an empty summary.
    pub fn min(&self) -> u64 {
        if self.count == 0 { 0 } else { self.min }
    }

    pub fn avg(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum as f64 / self.count as f64
        }
    }

    /// The value at quantile `q` (0..=1), as the floor of its bucket, kept
    /// within [min, max]; 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        let seen: u64 = self.buckets.iter().sum();
        if seen == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * seen as f64).ceil() as u64).max(1);
        let mut below = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            below += n;
            if below >= rank {
                return bucket_floor(i).clamp(self.min(), self.max);
            }
        }
        self.max
    }

    /// Cumulative counts at each of `bounds` (Prometheus histogram `le`
    /// buckets): values ≤ bound, judged by bucket floors.
    pub fn cumulative(&self, bounds: &[u64]) -> Vec<u64> {
        bounds
            .iter()
            .map(|&le| {
                self.buckets
                    .iter()
                    .enumerate()
                    .take_while(|(i, _)| bucket_floor(*i) <= le)
                    .map(|(_, n)| n)
                    .sum()
            })
            .collect()
    }
}

/// The sequencer's log device: one record per group commit.
#[derive(Default)]
pub struct LogStats {
    /// Txns in each log write.
    pub batch_txns: Summary,
    /// Microseconds from a write's submission to its completion (durable).
    pub write_us: Summary,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_ordered_and_cover_every_value() {
        for i in 1..BUCKETS {
            assert!(bucket_floor(i) > bucket_floor(i - 1), "bucket {i}");
            assert_eq!(bucket_of(bucket_floor(i)), i);
            assert_eq!(bucket_of(bucket_floor(i) - 1), i - 1);
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_stay_within_an_eighth_of_the_value() {
        let s = Summary::default();
        for v in 1..=10_000u64 {
            s.record(v);
        }
        let snap = s.snapshot();
        for (q, want) in [(0.5, 5_000.0), (0.9, 9_000.0), (0.99, 9_900.0)] {
            let got = snap.quantile(q) as f64;
            assert!((got - want).abs() / want <= 0.125, "q{q}: {got} vs {want}");
        }
        assert_eq!((snap.min(), snap.max, snap.count), (1, 10_000, 10_000));
        assert_eq!(snap.sum, 10_000 * 10_001 / 2);
    }

    #[test]
    fn an_empty_summary_reads_as_zeros_and_merges_add_up() {
        let a = Summary::default();
        let b = Summary::default();
        assert_eq!(a.snapshot().quantile(0.5), 0);
        assert_eq!(a.snapshot().min(), 0);
        a.record(3);
        b.record(100);
        b.record(7);
        let m = Snapshot::merge([&a, &b]);
        assert_eq!((m.count, m.sum, m.min(), m.max), (3, 110, 3, 100));
        assert_eq!(m.cumulative(&[2, 7, 1000]), vec![0, 2, 3]);
        b.reset();
        assert_eq!(Snapshot::merge([&b]).count, 0);
    }
}
