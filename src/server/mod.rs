//! The glommio runtime: one pinned executor per core, each a shard that owns
//! the client connections landing on it (SO_REUSEPORT), plus the sequencer
//! task on the first executor. Thin glue around the sans-I/O core.
//!
//! Owns sockets, timers and cross-core queues; never decides protocol
//! semantics (those live in `tree`, `sequencer`, `session`, `watch`).

mod bell;
mod conn;
mod limits;
mod messages;
mod sequencer;
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

/// Runs the server until a fatal error. Blocks the calling thread.
pub fn run(config: Config) -> anyhow::Result<()> {
    if config.is_distributed() {
        // Each member running alone would be a separate database that
        // clients, given the whole connect string, take for one.
        anyhow::bail!(
            "this configuration describes an ensemble ({} server.N lines{}); corral does not \
             run ensembles yet. Starting this member alone would give it data of its own, \
             diverging from the other members'. Use a standalone configuration: no server.N \
             lines, or a single one with standaloneEnabled=true",
            config.servers.len(),
            if config.standalone_enabled {
                ""
            } else {
                ", standaloneEnabled=false"
            }
        );
    }
    let cores = config.cores.max(1);
    // Shards and the sequencer each run an executor.
    limits::ensure_memlock((cores + 1) * (IO_MEMORY_BYTES + 512 * 1024))?;
    let cpus: Vec<usize> = glommio::CpuSet::online()
        .map(|set| set.into_iter().map(|l| l.cpu).collect())
        .unwrap_or_default();
    let storage = open_storage(&config)?;
    // Recovery read whole files into buffers now freed; mimalloc would keep
    // those pages (a 1M-znode snapshot: ~200 MB of RSS) for this thread's
    // later allocations, which are few.
    // SAFETY: mi_collect takes no pointers; forcing it only costs time.
    unsafe { libmimalloc_sys::mi_collect(true) };
    let (shared, wiring, seq_wiring) = Shared::new(config, cores, storage.tree)?;
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
    let port_or_none = |p: Option<u16>| p.map_or_else(|| "none".to_string(), |p| p.to_string());
    tracing::info!(
        port = %port_or_none(shared.config.client_port),
        secure_port = %port_or_none(shared.config.secure_client_port),
        cores,
        server_id = shared.server_id,
        "corral serving (standalone)"
    );
    let mut handles = Vec::with_capacity(cores + 1);
    let log = {
        let c = &shared.config;
        let opts = LogOptions {
            prealloc_size: c.pre_alloc_size_kb.saturating_mul(1024).max(64 * 1024),
            force_sync: c.force_sync,
            direct: true,
        };
        TxnLog::new(&storage.log_dir, opts, c.fsync_warning_threshold_ms)
    };
    let seq_storage = sequencer::Storage {
        log,
        sessions: storage.sessions,
        snap_dir: storage.snap_dir,
    };
    // The sequencer has an executor of its own: the single writer never
    // competes with a shard's connections for its task queue. It is not pinned,
    // so on a machine with fewer cores than shards + 1 the kernel places it.
    {
        let shared = shared.clone();
        let handle = LocalExecutorBuilder::new(Placement::Unbound)
            .name("corral-sequencer")
            .io_memory(IO_MEMORY_BYTES)
            .spawn(move || async move { sequencer::run(shared, seq_wiring, seq_storage).await })
            .map_err(|e| anyhow::anyhow!("starting the sequencer executor: {e}"))?;
        handles.push(handle);
    }
    for (shard_id, wires) in wiring.into_iter().enumerate() {
        let shared = shared.clone();
        let placement = match cpus.get(shard_id % cpus.len().max(1)) {
            Some(cpu) if cpus.len() >= cores => Placement::Fixed(*cpu),
            _ => Placement::Unbound,
        };
        let handle = LocalExecutorBuilder::new(placement)
            .name(&format!("corral-shard-{shard_id}"))
            .io_memory(IO_MEMORY_BYTES)
            .spawn(move || async move { shard::run(shard_id, shared, wires).await })
            .map_err(|e| anyhow::anyhow!("starting executor for shard {shard_id}: {e}"))?;
        handles.push(handle);
    }
    for (i, h) in handles.into_iter().enumerate() {
        match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e.context(format!("executor {i} failed"))),
            Err(e) => anyhow::bail!("executor {i} failed: {e} (is RLIMIT_MEMLOCK large enough?)"),
        }
    }
    Ok(())
}

/// The most bytes one log write can hold: a group commit stops growing at
/// [`sequencer::GROUP_COMMIT_BYTES`], plus one txn of up to jute.maxbuffer.
/// Recovery treats a bad record as a torn tail only within this reach.
pub fn max_log_write(config: &Config) -> u64 {
    (sequencer::GROUP_COMMIT_BYTES + config.jute_max_buffer + (64 << 10)) as u64
}

struct OpenedStorage {
    tree: crate::tree::DataTree,
    sessions: std::collections::BTreeMap<crate::proto::SessionId, i32>,
    fresh: bool,
    snap_dir: std::path::PathBuf,
    log_dir: std::path::PathBuf,
}

/// Recovers the tree and sessions from dataDir and dataLogDir.
fn open_storage(config: &Config) -> anyhow::Result<OpenedStorage> {
    let started = Instant::now();
    let snap_dir = recovery::version_dir(&config.data_dir)?;
    let log_dir = recovery::version_dir(&config.data_log_dir)?;
    let r = recovery::recover(
        &snap_dir,
        &log_dir,
        config.extended_types_enabled,
        max_log_write(config),
    )?;
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
    Ok(OpenedStorage {
        fresh: r.snapshot.is_none(),
        tree: r.tree,
        sessions: r.sessions,
        snap_dir,
        log_dir,
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
