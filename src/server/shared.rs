//! The doorbells between the shards and the sequencer: glommio shared
//! channels created before the executors start and connected inside them.
//! (The state they signal about is `crate::state`.)

pub use crate::state::*;
use glommio::channels::shared_channel::{self, SharedReceiver, SharedSender};

/// The doorbells one shard needs, created before executors start and
/// connected inside them. (Both ends of a glommio shared channel must live on
/// different executors: a same-executor pair was measured to never wake.)
pub struct Wiring {
    /// Rung by this shard when it queued work for the sequencer.
    pub to_sequencer: SharedSender<()>,
    /// Rung by the sequencer when it queued a batch for this shard.
    pub from_sequencer: SharedReceiver<()>,
}

pub struct SequencerWiring {
    pub from_shards: Vec<SharedReceiver<()>>,
    pub to_shards: Vec<SharedSender<()>>,
}

/// A bell each way between every shard and the sequencer.
pub fn wiring(cores: usize) -> (Vec<Wiring>, SequencerWiring) {
    let mut from_shards = Vec::new();
    let mut to_shards = Vec::new();
    let mut wiring = Vec::new();
    for _ in 0..cores {
        let (up_tx, up_rx) = shared_channel::new_bounded(1);
        let (down_tx, down_rx) = shared_channel::new_bounded(1);
        from_shards.push(up_rx);
        to_shards.push(down_tx);
        wiring.push(Wiring {
            to_sequencer: up_tx,
            from_sequencer: down_rx,
        });
    }
    let seq = SequencerWiring {
        from_shards,
        to_shards,
    };
    (wiring, seq)
}
