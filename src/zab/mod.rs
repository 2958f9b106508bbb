//! ZooKeeper's quorum protocols as state machines: FastLeaderElection
//! (`election`) and ZAB 1.0's discovery, sync and broadcast. Sans-I/O, as
//! etcd's raft is: inputs are decoded packets, completions and `now` (a
//! monotonic millisecond count); outputs are packets to send, durable
//! writes to make and the next deadline. `server` moves the bytes.

pub mod election;

/// A member's id (`myid`, the `N` of `server.N`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ServerId(pub u64);

impl std::fmt::Display for ServerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

pub mod quorum;
pub mod sync;
