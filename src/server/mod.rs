//! The glommio runtime: one pinned executor per core, each a shard that owns
//! the client connections landing on it (SO_REUSEPORT), plus the sequencer
//! task on the first executor. Thin glue around the sans-I/O core.
//!
//! Owns sockets, timers and cross-core queues; never decides protocol
//! semantics (those live in `tree`, `sequencer`, `session`, `watch`).

mod conn;
mod limits;
mod messages;
mod sequencer;
mod shard;
pub mod shared;

pub use shared::Shared;

use crate::config::Config;
use glommio::{LocalExecutorBuilder, Placement};
use std::sync::Arc;

/// Bytes each executor registers for io_uring buffers. corral's sockets do
/// not use registered buffers and the log writer has its own ring, so keep it
/// small: RLIMIT_MEMLOCK must cover every executor's share.
const IO_MEMORY_BYTES: usize = 512 * 1024;

/// Runs the server until a fatal error. Blocks the calling thread.
pub fn run(config: Config) -> anyhow::Result<()> {
    let cores = config.cores.max(1);
    limits::ensure_memlock((cores + 1) * (IO_MEMORY_BYTES + 512 * 1024))?;
    let cpus: Vec<usize> = glommio::CpuSet::online()
        .map(|set| set.into_iter().map(|l| l.cpu).collect())
        .unwrap_or_default();
    let (shared, wiring, seq_wiring) = Shared::new(config, cores)?;
    let shared = Arc::new(shared);
    tracing::info!(
        port = shared.config.client_port,
        cores,
        server_id = shared.server_id,
        "corral serving (standalone)"
    );
    let mut handles = Vec::with_capacity(cores + 1);
    // The sequencer has an executor of its own: the single writer never
    // competes with a shard's connections for its task queue. It is not pinned,
    // so on a machine with fewer cores than shards + 1 the kernel places it.
    {
        let shared = shared.clone();
        let handle = LocalExecutorBuilder::new(Placement::Unbound)
            .name("corral-sequencer")
            .io_memory(IO_MEMORY_BYTES)
            .spawn(move || async move { sequencer::run(shared, seq_wiring).await })
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
