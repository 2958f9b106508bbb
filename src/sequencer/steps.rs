//! Client requests at the sequencer, in arrival order, each answered only
//! after every earlier one: FIFO client order (guarantee 2) across a write
//! pipeline that has several log writes and commits in flight.
//!
//! A step is waiting (its txn is not applied yet, its forwarded request not
//! committed, its sync or revalidation not answered) or ready; the sequencer
//! answers steps from the front while they are ready, executing a read at its
//! exact place in the txn order (it sees the writes of its session sent
//! before it and none after). ZooKeeper's `CommitProcessor` keeps such a queue
//! per session; one queue for all is simpler and costs only reads of sessions
//! that have writes in flight themselves (everything else is answered on the
//! shard), at most the wait for writes ahead of them.

use super::messages::{Reply, ShardId};
use super::prep::WriteRequest;
use crate::proto::request::Request;
use crate::proto::{SessionId, ZString, Zxid};
use crate::watch::ConnId;
use bytes::Bytes;
use std::collections::VecDeque;

pub type StepId = u64;

pub struct Step {
    pub shard: ShardId,
    pub conn: ConnId,
    pub xid: i32,
    pub kind: StepKind,
}

pub enum StepKind {
    /// The answer is known.
    Ready(Reply),
    /// Waiting for a txn to be applied or a leader's answer.
    Waiting,
    /// A sync answered once the tree has applied this zxid.
    SyncAt { after: Zxid, path: ZString },
    /// A learner's sync waiting for the leader's SYNC.
    SyncForwarded { path: ZString },
    /// A read executed against the tree when its turn comes.
    Read(WriteRequest),
    /// A request that only touches shard state, handed back in its turn.
    Local(Request),
    /// A handshake naming an existing session, checked in its turn.
    Reattach {
        session: SessionId,
        passwd: Bytes,
        timeout_ms: i32,
    },
}

impl StepKind {
    /// A learner's steps that wait for a commit of their own txn.
    pub fn is_waiting(&self) -> bool {
        matches!(self, StepKind::Waiting)
    }
}

/// The queue of steps.
#[derive(Default)]
pub struct Steps {
    queue: VecDeque<Step>,
    /// The id of `queue[0]`.
    first_id: StepId,
    /// A learner's forwarded requests (writes, session creates and closes),
    /// in the order sent to the leader, which commits them in that order.
    pub forwarded: VecDeque<(StepId, SessionId, i32)>,
    /// A learner's syncs, in the order sent (the leader answers in order).
    pub syncs: VecDeque<StepId>,
    /// A learner's revalidations, by session, in the order sent.
    pub revalidating: VecDeque<(StepId, SessionId)>,
}

impl Steps {
    pub fn push(&mut self, step: Step) -> StepId {
        self.queue.push_back(step);
        self.first_id + self.queue.len() as u64 - 1
    }

    pub fn get_mut(&mut self, id: StepId) -> Option<&mut Step> {
        let i = id.checked_sub(self.first_id)?;
        self.queue.get_mut(usize::try_from(i).ok()?)
    }

    /// Gives a waiting step its answer.
    pub fn complete(&mut self, id: StepId, reply: Reply) {
        if let Some(step) = self.get_mut(id) {
            step.kind = StepKind::Ready(reply);
        }
    }

    pub fn front(&self) -> Option<&Step> {
        self.queue.front()
    }

    pub fn pop_front(&mut self) -> Option<Step> {
        let s = self.queue.pop_front()?;
        self.first_id += 1;
        Some(s)
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Drops every step (the member stopped serving: its clients are
    /// disconnected and their requests answered by nobody, as ZooKeeper's).
    pub fn clear(&mut self) {
        self.first_id += self.queue.len() as u64;
        self.queue.clear();
        self.forwarded.clear();
        self.syncs.clear();
        self.revalidating.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(xid: i32) -> Step {
        Step {
            shard: 0,
            conn: 1,
            xid,
            kind: StepKind::Waiting,
        }
    }

    #[test]
    fn ids_stay_valid_as_the_front_is_answered() {
        let mut s = Steps::default();
        let a = s.push(step(1));
        let b = s.push(step(2));
        assert_eq!(s.pop_front().unwrap().xid, 1);
        assert!(s.get_mut(a).is_none());
        assert_eq!(s.get_mut(b).unwrap().xid, 2);
        s.clear();
        let c = s.push(step(3));
        assert!(c > b && s.get_mut(b).is_none());
        assert_eq!(s.get_mut(c).unwrap().xid, 3);
    }
}
