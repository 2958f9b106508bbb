//! `/metrics` in Prometheus' text format, as ZooKeeper's
//! `PrometheusMetricsProvider` serves it: the monitor values under their
//! `mntr` names without `zk_` (numbers only), counters as counters, and
//! latencies as summaries with quantiles 0.5/0.9/0.99 — so dashboards built
//! for ZooKeeper read corral unchanged.
//!
//! Besides, corral's own, named `corral_*`: the group commit (txns per log
//! write, time per write) as histograms, and per shard its connections,
//! requests in flight and the depth of its queues to and from the sequencer.
//! And the process' CPU time and resident memory (`process_*`, the names
//! Prometheus' client libraries use).

use super::http::{Handler, Request, Response};
use super::json::Json;
use super::monitor;
use crate::state::Shared;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The handler for the metrics port: `/metrics`, 404 elsewhere.
pub fn handler(shared: Arc<Shared>) -> Handler {
    Arc::new(move |req: &Request| {
        if req.path == "/metrics" {
            Response::new(200, CONTENT_TYPE, render(&shared))
        } else {
            Response::new(404, "text/plain; charset=utf-8", "Not Found\n")
        }
    })
}

/// Upper bounds of the log-write histogram, in seconds: 50 µs to 1 s.
const WRITE_BOUNDS_US: &[u64] = &[
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000,
];
/// Upper bounds of the txns-per-write histogram.
const BATCH_BOUNDS: &[u64] = &[1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

/// A per-shard gauge's reading.
type ShardGauge = fn(&crate::state::ShardPublic) -> f64;

/// The whole exposition.
pub fn render(shared: &Shared) -> String {
    let mut out = String::new();
    if let Some(m) = monitor::gather(shared) {
        for (name, value) in &m.gauges {
            let v = match value {
                Json::Int(n) => *n as f64,
                Json::Float(f) => *f,
                _ => continue, // version, server_state, peer_state: text
            };
            family(&mut out, name, "gauge", name);
            sample(&mut out, name, "", v);
        }
        for (name, v) in &m.counters {
            family(&mut out, name, "counter", name);
            sample(&mut out, name, "", *v as f64);
        }
        for s in &m.summaries {
            family(&mut out, s.name, "summary", s.name);
            for q in ["0.5", "0.9", "0.99"] {
                let value = s.quantile(q.parse().unwrap_or(0.5)) as f64;
                sample(&mut out, s.name, &format!("{{quantile=\"{q}\"}}"), value);
            }
            sample(
                &mut out,
                &format!("{}_count", s.name),
                "",
                s.snap.count as f64,
            );
            sample(&mut out, &format!("{}_sum", s.name), "", s.sum() as f64);
        }
    }
    let log = &shared.log_stats;
    histogram(
        &mut out,
        "corral_log_write_seconds",
        "Time from submitting a group commit to the log device to its completion (durable)",
        &log.write_us.snapshot(),
        WRITE_BOUNDS_US,
        1e-6,
    );
    histogram(
        &mut out,
        "corral_group_commit_txns",
        "Txns written to the log in one group commit",
        &log.batch_txns.snapshot(),
        BATCH_BOUNDS,
        1.0,
    );
    let per_shard: [(&str, &str, ShardGauge); 4] = [
        (
            "corral_shard_connections",
            "Client connections on the shard",
            |s| s.conns.lock().len() as f64,
        ),
        (
            "corral_shard_outstanding_requests",
            "Requests the shard has read and not yet answered",
            |s| s.stats.outstanding.load(Relaxed).max(0) as f64,
        ),
        (
            "corral_shard_to_sequencer_queue_depth",
            "Messages queued from the shard to the sequencer",
            |s| s.outbound.len() as f64,
        ),
        (
            "corral_sequencer_to_shard_queue_depth",
            "Batches queued from the sequencer to the shard",
            |s| s.inbound.len() as f64,
        ),
    ];
    for (name, help, value) in per_shard {
        family(&mut out, name, "gauge", help);
        for (i, shard) in shared.shards.iter().enumerate() {
            sample(&mut out, name, &format!("{{shard=\"{i}\"}}"), value(shard));
        }
    }
    process(&mut out);
    out
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &str, value: f64) {
    let _ = writeln!(out, "{name}{labels} {}", super::java_double(value));
}

fn histogram(
    out: &mut String,
    name: &str,
    help: &str,
    snap: &crate::metrics::Snapshot,
    bounds: &[u64],
    unit: f64,
) {
    family(out, name, "histogram", help);
    for (le, n) in bounds.iter().zip(snap.cumulative(bounds)) {
        let le = super::java_double(*le as f64 * unit);
        sample(
            out,
            &format!("{name}_bucket"),
            &format!("{{le=\"{le}\"}}"),
            n as f64,
        );
    }
    sample(
        out,
        &format!("{name}_bucket"),
        "{le=\"+Inf\"}",
        snap.count as f64,
    );
    sample(out, &format!("{name}_sum"), "", snap.sum as f64 * unit);
    sample(out, &format!("{name}_count"), "", snap.count as f64);
}

/// CPU seconds and resident bytes from `/proc/self/stat`.
fn process(out: &mut String) {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return;
    };
    // Fields after the command name (which may hold spaces) start at state.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    // SAFETY: sysconf reads a constant.
    let (ticks, page) = unsafe {
        (
            libc::sysconf(libc::_SC_CLK_TCK) as f64,
            libc::sysconf(libc::_SC_PAGESIZE) as f64,
        )
    };
    // utime and stime are fields 14 and 15 of stat, rss field 24 (1-based,
    // counting pid and comm): here 11, 12 and 21.
    if let (Some(utime), Some(stime)) = (num(11), num(12)) {
        let name = "process_cpu_seconds_total";
        family(
            out,
            name,
            "counter",
            "Total user and system CPU time spent in seconds",
        );
        sample(out, name, "", (utime + stime) / ticks);
    }
    if let Some(rss) = num(21) {
        let name = "process_resident_memory_bytes";
        family(out, name, "gauge", "Resident memory size in bytes");
        sample(out, name, "", rss * page);
    }
}
