//! Durable storage in Apache ZooKeeper's formats: the txn log, snapshots,
//! recovery and purge (DESIGN.md §5, docs/architecture.md §8), and what
//! replication needs of them: the epoch files, cutting the history back
//! (TRUNC, SNAP) and the SNAP stream (QUORUM.md §3.4–§3.6).

pub mod epoch;
pub mod format;
pub mod log;
pub mod logdev;
mod mapped;
pub mod purge;
pub mod recovery;
pub mod snap_stream;
pub mod snapshot;
pub mod tool;
pub mod truncate;
