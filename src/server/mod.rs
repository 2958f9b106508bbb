//! The glommio runtime: one pinned executor per core, each a shard that owns
//! the client connections landing on it (SO_REUSEPORT), plus the sequencer's
//! executor, which also holds an ensemble member's peer connections. Thin
//! glue around the sans-I/O core.
//!
//! Owns sockets, timers, files and cross-core queues; never decides protocol
//! semantics (those live in `tree`, `sequencer`, `zab`, `session`, `watch`).

mod bell;
mod conn;
mod core;
mod election_net;
mod events;
mod limits;
mod messages;
mod quorum_net;
mod shard;
pub mod shared;

pub use shared::Shared;

use crate::config::Config;
use crate::storage::{log::TxnLog, logdev::LogOptions, recovery, snapshot};
use glommio::{LocalExecutorBuilder, Placement};
use std::sync::Arc;
use std::time::Instant;

/// Bytes each executor registers for io_uring buffers. corral's sockets do
/// not use registered buffers and the txn log has its own ring, so keep it
/// small: RLIMIT_MEMLOCK must cover every executor's share.
const IO_MEMORY_BYTES: usize = 512 * 1024;

/// The AdminServer and the Prometheus endpoint, each on a thread of its own.
/// As in ZooKeeper, an AdminServer that cannot bind is a warning (it is on
/// by default, on 8080, which something else may hold), and a metrics port
/// that cannot bind stops the start (it is asked for explicitly).
fn start_http(shared: &Arc<Shared>) -> anyhow::Result<()> {
    let admin = &shared.config.admin_server;
    if admin.enabled {
        let handler = crate::admin::commands::handler(shared.clone(), admin.command_url.clone());
        match crate::admin::http::spawn("corral-admin", admin.address, handler) {
            Ok(at) => tracing::info!("AdminServer on http://{at}{}", admin.command_url),
            Err(e) => tracing::warn!(
                "Problem starting AdminServer on {}: {e} (set admin.enableServer=false or \
                 admin.serverPort)",
                admin.address
            ),
        }
    }
    if let Some(addr) = shared.config.prometheus {
        let handler = crate::admin::prometheus::handler(shared.clone());
        let at = crate::admin::http::spawn("corral-metrics", addr, handler)
            .map_err(|e| anyhow::anyhow!("Cannot boot MetricsProvider on {addr}: {e}"))?;
        tracing::info!("Prometheus metrics on http://{at}/metrics");
    }
    Ok(())
}

/// Runs the server until a fatal error. Blocks the calling thread.
pub fn run(config: Config) -> anyhow::Result<()> {
    let cores = config.cores.max(1);
    // Shards and the sequencer each run an executor.
    limits::ensure_memlock((cores + 1) * (IO_MEMORY_BYTES + 512 * 1024))?;
    let cpus: Vec<usize> = glommio::CpuSet::online()
        .map(|set| set.into_iter().map(|l| l.cpu).collect())
        .unwrap_or_default();
    if let Some(port) = config.client_port {
        shard::probe_client_port(config.client_port_address, port)?;
    }
    if let Some(port) = config.secure_client_port {
        shard::probe_client_port(config.secure_client_port_address, port)?;
    }
    let storage = open_storage(&config)?;
    // Recovery read whole files into buffers now freed; mimalloc would keep
    // those pages (a 1M-znode snapshot: ~200 MB of RSS) for this thread's
    // later allocations, which are few.
    // SAFETY: mi_collect takes no pointers; forcing it only costs time.
    unsafe { libmimalloc_sys::mi_collect(true) };
    let shared = Shared::new(config, cores, storage.tree)?;
    let (wiring, seq_wiring) = shared::wiring(cores);
    let shared = Arc::new(shared);
    if storage.fresh {
        // As ZooKeeper does on first start: a snapshot before any log, so
        // the directory always holds one to recover from.
        let zxid = shared.tree.read().last_zxid();
        let (path, _) = snapshot::take(&shared.tree, &[], zxid, &storage.snap_dir)
            .map_err(|e| anyhow::anyhow!("writing the initial snapshot: {e}"))?;
        tracing::info!("Wrote initial snapshot {}", path.display());
    }
    start_autopurge(&shared.config, &storage.snap_dir, &storage.log_dir);
    start_http(&shared)?;
    let port_or_none = |p: Option<u16>| p.map_or_else(|| "none".to_string(), |p| p.to_string());
    tracing::info!(
        port = %port_or_none(shared.config.client_port),
        secure_port = %port_or_none(shared.config.secure_client_port),
        cores,
        server_id = shared.server_id,
        "corral starting ({})",
        if shared.config.is_distributed() {
            "an ensemble member"
        } else {
            "standalone"
        }
    );
    let mut handles = Vec::with_capacity(cores + 1);
    let (ended_tx, ended_rx) = crossbeam::channel::unbounded();
    let mut log = TxnLog::new(
        &storage.log_dir,
        log_options(&shared.config),
        shared.config.fsync_warning_threshold_ms,
    );
    log.set_stats(shared.log_stats.clone());
    let seq_storage = core::Storage {
        log,
        sessions: storage.sessions,
        snap_dir: storage.snap_dir,
        log_dir: storage.log_dir,
        recent: storage.recent,
        epochs: storage.epochs,
    };
    // The sequencer has an executor of its own: the single writer never
    // competes with a shard's connections for its task queue. It is not pinned,
    // so on a machine with fewer cores than shards + 1 the kernel places it.
    {
        let shared = shared.clone();
        let report = EndReport::new(0, ended_tx.clone());
        let handle = LocalExecutorBuilder::new(Placement::Unbound)
            .name("corral-sequencer")
            .io_memory(IO_MEMORY_BYTES)
            .spawn(
                move || async move { report.run(core::run(shared, seq_wiring, seq_storage)).await },
            )
            .map_err(|e| anyhow::anyhow!("starting the sequencer executor: {e}"))?;
        handles.push(handle);
    }
    for (shard_id, wires) in wiring.into_iter().enumerate() {
        let shared = shared.clone();
        let report = EndReport::new(shard_id + 1, ended_tx.clone());
        let placement = match cpus.get(shard_id % cpus.len().max(1)) {
            Some(cpu) if cpus.len() >= cores => Placement::Fixed(*cpu),
            _ => Placement::Unbound,
        };
        let handle = LocalExecutorBuilder::new(placement)
            .name(&format!("corral-shard-{shard_id}"))
            .io_memory(IO_MEMORY_BYTES)
            .spawn(move || async move { report.run(shard::run(shard_id, shared, wires)).await })
            .map_err(|e| anyhow::anyhow!("starting executor for shard {shard_id}: {e}"))?;
        handles.push(handle);
    }
    // The first executor to end ends the server: a shard that could not
    // bind its port fails at start, and must not leave a process that serves
    // nothing (executors otherwise run for ever).
    // Only the executors' reports keep the channel open now.
    drop(ended_tx);
    let (i, result) = ended_rx
        .recv()
        .map_err(|_| anyhow::anyhow!("every executor ended without a word"))?;
    match result {
        Ok(()) => anyhow::bail!("executor {i} ended"),
        Err(e) => Err(anyhow::anyhow!("executor {i} failed: {e}")),
    }
}

/// Executor `i`'s report of its end, with why, to the channel `run` waits
/// on. Made before the executor is spawned and moved into it, so it is sent
/// however the executor ends: its work returned, panicked (the report goes
/// out as the stack unwinds), or never ran (the executor could not start).
struct EndReport {
    i: usize,
    ended: crossbeam::channel::Sender<(usize, Result<(), String>)>,
    result: Option<Result<(), String>>,
}

impl EndReport {
    fn new(i: usize, ended: crossbeam::channel::Sender<(usize, Result<(), String>)>) -> Self {
        EndReport {
            i,
            ended,
            result: None,
        }
    }

    async fn run(mut self, work: impl std::future::Future<Output = anyhow::Result<()>>) {
        self.result = Some(Err("panicked".into()));
        let result = work.await.map_err(|e| format!("{e:#}"));
        self.result = Some(result);
    }
}

impl Drop for EndReport {
    fn drop(&mut self) {
        let result = self.result.take().unwrap_or_else(|| {
            Err("its executor did not start (is RLIMIT_MEMLOCK large enough?)".into())
        });
        let _ = self.ended.send((self.i, result));
    }
}

/// The txn log's device options from the configuration.
fn log_options(c: &Config) -> LogOptions {
    LogOptions {
        prealloc_size: c.pre_alloc_size_kb.saturating_mul(1024).max(64 * 1024),
        force_sync: c.force_sync,
        direct: true,
    }
}

/// The ensemble as the protocol sees it: members, and the configuration
/// text Apache servers exchange (`QuorumMaj.toString`, version 0).
pub fn ensemble_of(c: &Config) -> crate::zab::quorum::Ensemble {
    use crate::proto::quorum::{QuorumMember, render_config};
    let members: Vec<crate::zab::quorum::Member> = c
        .servers
        .iter()
        .map(|s| crate::zab::quorum::Member {
            id: crate::zab::ServerId(s.id),
            quorum_host: s.host.clone(),
            quorum_port: s.quorum_port,
            election_host: s.host.clone(),
            election_port: s.election_port,
            observer: s.role == crate::config::ServerRole::Observer,
        })
        .collect();
    let text = render_config(
        &c.servers
            .iter()
            .map(|s| QuorumMember {
                sid: s.id,
                host: s.host.clone(),
                quorum_port: s.quorum_port,
                election_port: s.election_port,
                observer: s.role == crate::config::ServerRole::Observer,
                client: s.client_addr.as_ref().map(|a| (a.host.clone(), a.port)),
            })
            .collect::<Vec<_>>(),
        0,
    );
    crate::zab::quorum::Ensemble {
        members,
        config_text: bytes::Bytes::from(text),
        version: 0,
    }
}

/// The most bytes one log write can hold: a group commit stops growing at
/// [`crate::sequencer::pipeline::GROUP_COMMIT_BYTES`], plus one txn of up to
/// jute.maxbuffer. Recovery treats a bad record as a torn tail only within
/// this reach.
pub fn max_log_write(config: &Config) -> u64 {
    (crate::sequencer::pipeline::GROUP_COMMIT_BYTES + config.jute_max_buffer + (64 << 10)) as u64
}

struct OpenedStorage {
    tree: crate::tree::DataTree,
    sessions: std::collections::BTreeMap<crate::proto::SessionId, i32>,
    fresh: bool,
    snap_dir: std::path::PathBuf,
    log_dir: std::path::PathBuf,
    recent: Vec<(crate::proto::Zxid, bytes::Bytes)>,
    epochs: crate::sequencer::Epochs,
}

/// Recovers the tree and sessions from `snap_dir` and `log_dir`, keeping the
/// last txns for a leader's DIFF window.
fn recover(
    config: &Config,
    snap_dir: &std::path::Path,
    log_dir: &std::path::Path,
) -> Result<Recovered, recovery::RecoveryError> {
    let opts = recovery::RecoverOptions {
        extended_types: config.extended_types_enabled,
        max_torn: max_log_write(config),
        keep_txns: if config.is_distributed() {
            config.commit_log_count as usize
        } else {
            0
        },
    };
    let r = recovery::recover_with(snap_dir, log_dir, &opts)?;
    Ok(Recovered {
        recent: r.recent.iter().map(|t| (t.zxid, t.bytes.clone())).collect(),
        last_logged: r.last_logged,
        tree: r.tree,
        sessions: r.sessions,
        snapshot: r.snapshot,
        txns_replayed: r.txns_replayed,
        log_files_read: r.log_files_read,
    })
}

/// What [`recover`] hands the server.
struct Recovered {
    tree: crate::tree::DataTree,
    sessions: std::collections::BTreeMap<crate::proto::SessionId, i32>,
    snapshot: Option<std::path::PathBuf>,
    last_logged: crate::proto::Zxid,
    recent: Vec<(crate::proto::Zxid, bytes::Bytes)>,
    txns_replayed: u64,
    log_files_read: usize,
}

/// Recovers the tree and sessions from dataDir and dataLogDir, and an
/// ensemble member's epochs.
fn open_storage(config: &Config) -> anyhow::Result<OpenedStorage> {
    let started = Instant::now();
    let snap_dir = recovery::version_dir(&config.data_dir)?;
    let log_dir = recovery::version_dir(&config.data_log_dir)?;
    let r = recover(config, &snap_dir, &log_dir)?;
    tracing::info!(
        "Recovered {} nodes, {} sessions, last zxid {} from {} ({} txns replayed from {} log \
         files) in {} ms",
        r.tree.node_count(),
        r.sessions.len(),
        r.tree.last_zxid(),
        r.snapshot
            .as_ref()
            .map_or("no snapshot".to_string(), |p| p.display().to_string()),
        r.txns_replayed,
        r.log_files_read,
        started.elapsed().as_millis()
    );
    let epochs = if config.is_distributed() {
        let e = crate::storage::epoch::load_epochs(&snap_dir, r.last_logged)?;
        tracing::info!("Epochs: accepted {}, current {}", e.accepted, e.current);
        crate::sequencer::Epochs {
            accepted: e.accepted,
            current: e.current,
        }
    } else {
        crate::sequencer::Epochs::default()
    };
    Ok(OpenedStorage {
        fresh: r.snapshot.is_none(),
        tree: r.tree,
        sessions: r.sessions,
        snap_dir,
        log_dir,
        recent: r.recent,
        epochs,
    })
}

/// `autopurge.purgeInterval` hours > 0: purge now and then every interval,
/// keeping `autopurge.snapRetainCount` snapshots (ZooKeeper's
/// `DatadirCleanupManager`).
fn start_autopurge(config: &Config, snap_dir: &std::path::Path, log_dir: &std::path::Path) {
    let hours = config.autopurge_purge_interval_hours;
    if hours == 0 {
        return;
    }
    let retain = config.autopurge_snap_retain_count as usize;
    let (snap_dir, log_dir) = (snap_dir.to_owned(), log_dir.to_owned());
    let spawned = std::thread::Builder::new()
        .name("corral-purge".into())
        .spawn(move || {
            loop {
                match crate::storage::purge::purge(&snap_dir, &log_dir, retain) {
                    Ok(p) => tracing::info!(
                        "Purge: removed {} snapshots and {} log files",
                        p.snapshots.len(),
                        p.logs.len()
                    ),
                    Err(e) => tracing::error!("Purge failed: {e}"),
                }
                std::thread::sleep(std::time::Duration::from_secs(3600 * hours as u64));
            }
        });
    if let Err(e) = spawned {
        tracing::error!("Could not start the purge task: {e}");
    }
}
