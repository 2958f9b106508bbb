//! The sequencer: the single writer, as a state machine without I/O. It
//! turns client writes into txns (prep), carries them through the log and
//! the quorum (a pipeline of group commits; in an ensemble, ZAB as leader or
//! learner), applies committed txns to the tree in zxid order, and answers
//! each client in the order it asked (steps).
//!
//! `core` is its surface (inputs, actions, the next deadline); `leading`
//! and `following` are the ensemble roles; `apply` is the only place the
//! tree changes. `server::core` runs it on the sequencer's executor.

pub mod apply;
pub mod core;
mod following;
mod leading;
pub mod messages;
pub mod pipeline;
pub mod prep;
pub mod steps;
#[cfg(test)]
mod tests;

pub use core::{
    Action, Epochs, Input, Mode, Now, PeerId, ProposalSizes, SeqConfig, Sequencer, View,
};
