//! The monitor values ZooKeeper reports through `mntr`, the AdminServer's
//! `monitor` command and its Prometheus provider: one gathering, three
//! renderings.
//!
//! ZooKeeper's list has three parts: the server's gauges
//! (`ZooKeeperServer.dumpMonitorValues`), then the metrics registry's
//! counters and summaries (`ServerMetrics`). corral reports every name
//! ZooKeeper 3.8 reports, so that dashboards and exporters find them; the
//! ones it measures carry its figures, the rest (stages of ZooKeeper's
//! request pipeline that corral does not have) read 0. The list of which is
//! which is in docs/compat/admin.md.

use super::json::Json;
use super::{ZK_VERSION, java_double, proposal_sizes, totals, zk_node_count};
use crate::metrics::Snapshot;
use crate::state::Shared;
use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;

/// ZooKeeper's counters corral does not count (they read 0).
const ZERO_COUNTERS: &[&str] = &[
    "proposal_count",
    "watch_bytes",
    "outstanding_changes_removed",
    "throttled_ops",
    "stale_requests_dropped",
    "large_requests_rejected",
    "insecure_admin_count",
    "connection_rejected",
    "cnxn_closed_without_zk_server_running",
    "sessionless_connections_expired",
    "looking_count",
    "dead_watchers_queued",
    "stale_requests",
    "connection_drop_count",
    "learner_proposal_received_count",
    "digest_mismatches_count",
    "dead_watchers_cleared",
    "response_packet_cache_hits",
    "bytes_received_count",
    "add_dead_watcher_stall_time",
    "request_throttle_wait_count",
    "requests_not_forwarded_to_commit_processor",
    "response_packet_cache_misses",
    "ensemble_auth_success",
    "prep_processor_request_queued",
    "learner_commit_received_count",
    "stale_replies",
    "connection_request_count",
    "response_bytes",
    "ensemble_auth_fail",
    "diff_count",
    "response_packet_get_children_cache_misses",
    "connection_revalidate_count",
    "quit_leading_due_to_disloyal_voter",
    "snap_count",
    "unrecoverable_error_count",
    "unsuccessful_handshake",
    "commit_count",
    "stale_sessions_expired",
    "response_packet_get_children_cache_hits",
    "sync_processor_request_queued",
    "outstanding_changes_queued",
    "request_commit_queued",
    "ensemble_auth_skip",
    "skip_learner_request_to_next_processor_count",
    "tls_handshake_exceeded",
    "revalidate_count",
];

/// ZooKeeper's summaries (avg/min/max/cnt/sum) corral has no figures for.
const ZERO_SUMMARIES: &[&str] = &[
    "socket_closing_time",
    "proposal_process_time",
    "leader_unavailable_time",
    "node_created_watch_count",
    "session_queues_drained",
    "write_commit_proc_req_queued",
    "connection_token_deficit",
    "read_commit_proc_req_queued",
    "node_deleted_watch_count",
    "startup_txns_load_time",
    "sync_processor_queue_size",
    "follower_sync_time",
    "prep_processor_queue_size",
    "inflight_snap_count",
    "reads_issued_from_session_queue",
    "learner_request_processor_queue_size",
    "snapshottime",
    "unavailable_time",
    "startup_txns_loaded",
    "reads_after_write_in_session_queue",
    "requests_in_session_queue",
    "write_commit_proc_issued",
    "prep_process_time",
    "pending_session_queue_size",
    "time_waiting_empty_pool_in_commit_processor_read_ms",
    "commit_process_time",
    "dbinittime",
    "inflight_diff_count",
    "netty_queued_buffer_capacity",
    "election_time",
    "commit_commit_proc_req_queued",
    "node_children_watch_count",
    "write_batch_time_in_commit_processor",
    "read_commit_proc_issued",
    "concurrent_request_processing_in_commit_processor",
    "observer_sync_time",
    "node_changed_watch_count",
    "sync_process_time",
    "startup_snap_load_time",
];

/// ZooKeeper's summaries with percentiles (p50/p95/p99/p999 besides)
/// corral has no figures for.
const ZERO_PERCENTILE_SUMMARIES: &[&str] = &[
    "prep_processor_queue_time_ms",
    "jvm_pause_time_ms",
    "close_session_prep_time",
    "read_commitproc_time_ms",
    "local_write_committed_time_ms",
    "request_throttle_queue_time_ms",
    "quorum_ack_latency",
    "om_commit_process_time_ms",
    "read_final_proc_time_ms",
    "commit_propagation_latency",
    "dead_watchers_cleaner_latency",
    "write_final_proc_time_ms",
    "proposal_ack_creation_latency",
    "proposal_latency",
    "om_proposal_process_time_ms",
    "sync_processor_queue_and_flush_time_ms",
    "propagation_latency",
    "server_write_committed_time_ms",
    "sync_processor_queue_time_ms",
    "sync_processor_queue_flush_time_ms",
    "write_commitproc_time_ms",
];

/// One distribution as ZooKeeper reports it.
pub struct Summary {
    pub name: &'static str,
    pub snap: Snapshot,
    /// Recorded units per reported unit (1000: recorded in µs, reported in ms).
    pub scale: u64,
    /// Whether ZooKeeper reports p50/p95/p99/p999 for it (a summary with
    /// ADVANCED detail in its registry).
    pub percentiles: bool,
}

impl Summary {
    fn of(name: &'static str, snap: Snapshot, scale: u64, percentiles: bool) -> Summary {
        Summary {
            name,
            snap,
            scale,
            percentiles,
        }
    }

    fn zero(name: &'static str, percentiles: bool) -> Summary {
        Summary::of(name, Snapshot::default(), 1, percentiles)
    }

    pub fn avg(&self) -> f64 {
        self.snap.avg() / self.scale as f64
    }
    pub fn min(&self) -> u64 {
        self.snap.min() / self.scale
    }
    pub fn max(&self) -> u64 {
        self.snap.max / self.scale
    }
    pub fn sum(&self) -> u64 {
        self.snap.sum / self.scale
    }
    pub fn quantile(&self, q: f64) -> u64 {
        self.snap.quantile(q) / self.scale
    }
}

/// Everything the monitor words report.
pub struct Monitor {
    /// The server's gauges, in ZooKeeper's order (`version` and
    /// `server_state` are text; the rest numbers).
    pub gauges: Vec<(&'static str, Json)>,
    pub counters: Vec<(&'static str, u64)>,
    pub summaries: Vec<Summary>,
}

impl Monitor {
    /// The flat `key → value` list of `mntr` and the `monitor` command.
    pub fn flat(&self) -> Vec<(String, Json)> {
        let mut out: Vec<(String, Json)> = self
            .gauges
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        out.extend(
            self.counters
                .iter()
                .map(|(k, v)| (k.to_string(), Json::from(*v))),
        );
        for s in &self.summaries {
            out.push((format!("avg_{}", s.name), Json::Float(round4(s.avg()))));
            out.push((format!("min_{}", s.name), Json::from(s.min())));
            out.push((format!("max_{}", s.name), Json::from(s.max())));
            out.push((format!("cnt_{}", s.name), Json::from(s.snap.count)));
            out.push((format!("sum_{}", s.name), Json::from(s.sum())));
            if s.percentiles {
                for (label, q) in [("p50", 0.5), ("p95", 0.95), ("p99", 0.99), ("p999", 0.999)] {
                    out.push((format!("{label}_{}", s.name), Json::from(s.quantile(q))));
                }
            }
        }
        out
    }

    /// `mntr`'s text: `zk_<key>\t<value>` lines.
    pub fn mntr(&self) -> String {
        let mut out = String::new();
        for (k, v) in self.flat() {
            let v = match v {
                Json::Str(s) => s,
                Json::Float(f) => java_double(f),
                other => other.pretty(),
            };
            let _ = writeln!(out, "zk_{k}\t{v}");
        }
        out
    }
}

fn round4(v: f64) -> f64 {
    (v * 10000.0).round() / 10000.0
}

/// The monitor values, or `None` while the member serves no client
/// (ZooKeeper then answers that it is not serving).
pub fn gather(shared: &Shared) -> Option<Monitor> {
    let mode = shared.serving()?;
    let view = shared.view.lock().clone();
    let t = totals(shared);
    let (node_count, ephemerals, data_size) = {
        let tree = shared.tree.read();
        (
            zk_node_count(&tree),
            tree.ephemerals_count(),
            tree.approximate_data_size(),
        )
    };
    let watches: usize = shared
        .shards
        .iter()
        .map(|s| s.watches.lock().watch_count())
        .sum();
    let fds = std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0);
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    let auth_failed: u64 = shared
        .shards
        .iter()
        .map(|s| s.stats.auth_failed.load(Relaxed))
        .sum();
    let mut g: Vec<(&'static str, Json)> = vec![
        ("version", ZK_VERSION.into()),
        ("server_state", mode.as_str().into()),
        ("avg_latency", Json::Float(t.avg_ms())),
        ("max_latency", (t.lat_max_us / 1000).into()),
        ("min_latency", (t.lat_min_us / 1000).into()),
        ("packets_received", t.received.into()),
        ("packets_sent", t.sent.into()),
        ("num_alive_connections", t.connections.into()),
        ("outstanding_requests", t.outstanding.into()),
        (
            "uptime",
            (shared.started.elapsed().as_millis() as u64).into(),
        ),
        ("znode_count", node_count.into()),
        ("watch_count", watches.into()),
        ("ephemerals_count", ephemerals.into()),
        ("approximate_data_size", data_size.into()),
        ("open_file_descriptor_count", fds.into()),
        ("max_file_descriptor_count", lim.rlim_cur.into()),
        (
            "global_sessions",
            shared.sessions_count.load(Relaxed).into(),
        ),
        ("local_sessions", 0u64.into()),
        ("connection_drop_probability", Json::Float(0.0)),
        ("outstanding_tls_handshake", 0u64.into()),
        ("auth_failed_count", auth_failed.into()),
        ("non_mtls_remote_conn_count", 0u64.into()),
        ("non_mtls_local_conn_count", 0u64.into()),
        // ZooKeeper's -1: no response size recorded (corral does not keep them).
        ("last_client_response_size", Json::Int(-1)),
        ("max_client_response_size", Json::Int(-1)),
        ("min_client_response_size", Json::Int(-1)),
        ("quorum_size", view.quorum_size.into()),
    ];
    if mode != crate::sequencer::Mode::Standalone {
        g.push(("peer_state", view.peer_state.clone().into()));
    }
    if mode == crate::sequencer::Mode::Leader {
        // Leader-only gauges (ZooKeeper skips null gauges elsewhere).
        let (last, min, max) = proposal_sizes(shared);
        g.extend([
            ("learners", Json::from(view.learners)),
            ("synced_followers", view.synced_followers.into()),
            (
                "synced_non_voting_followers",
                view.synced_non_voting_followers.into(),
            ),
            ("synced_observers", view.synced_observers.into()),
            ("pending_syncs", view.pending_syncs.into()),
            ("leader_uptime", view.leader_uptime_ms.into()),
            ("last_proposal_size", Json::Int(last)),
            ("max_proposal_size", Json::Int(max)),
            ("min_proposal_size", Json::Int(min)),
        ]);
    }
    let counters = ZERO_COUNTERS.iter().map(|&k| (k, 0)).collect();
    let log = &shared.log_stats;
    let mut summaries = vec![
        // ZooKeeper's SyncRequestProcessor: time of each log flush, txns in it.
        Summary::of("fsynctime", log.write_us.snapshot(), 1000, false),
        Summary::of(
            "sync_processor_batch_size",
            log.batch_txns.snapshot(),
            1,
            false,
        ),
        Summary::of(
            "updatelatency",
            Snapshot::merge(shared.shards.iter().map(|s| &s.stats.update_latency_us)),
            1000,
            true,
        ),
        Summary::of(
            "readlatency",
            Snapshot::merge(shared.shards.iter().map(|s| &s.stats.read_latency_us)),
            1000,
            true,
        ),
    ];
    summaries.extend(ZERO_SUMMARIES.iter().map(|&n| Summary::zero(n, false)));
    summaries.extend(
        ZERO_PERCENTILE_SUMMARIES
            .iter()
            .map(|&n| Summary::zero(n, true)),
    );
    Some(Monitor {
        gauges: g,
        counters,
        summaries,
    })
}
