//! The cross-core contract lives with the sequencer that produces and
//! consumes it (`crate::sequencer::messages`); the shards use it from here.

pub use crate::sequencer::messages::*;
