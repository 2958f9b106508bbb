//! The sequencer: the single writer. It turns write requests into txns
//! (prep), hands batches to the log seam, applies committed txns to the tree
//! in zxid order, and routes replies and watch triggers back to shards.
//!
//! This module is sans-I/O; `server` runs it on the sequencer core.

pub mod prep;
