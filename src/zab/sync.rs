//! How a leader brings a learner up to date (`LearnerHandler.syncFollower`):
//! the window of recently committed txns a DIFF can be served from, and the
//! choice between DIFF, TRUNC and SNAP for a learner's last logged zxid.

use crate::proto::Zxid;
use bytes::Bytes;
use std::collections::VecDeque;

/// The last `capacity` committed txns with their encoded bytes
/// (`ZKDatabase.committedLog`, `zookeeper.commitLogCount`), oldest first.
pub struct CommittedLog {
    capacity: usize,
    txns: VecDeque<(Zxid, Bytes)>,
}

impl CommittedLog {
    pub fn new(capacity: usize) -> CommittedLog {
        CommittedLog {
            capacity: capacity.max(1),
            txns: VecDeque::new(),
        }
    }

    /// Records the next committed txn; zxids must increase.
    pub fn push(&mut self, zxid: Zxid, bytes: Bytes) {
        if let Some((last, _)) = self.txns.back() {
            assert!(
                zxid > *last,
                "committed log out of order: {zxid} after {last}"
            );
        }
        if self.txns.len() == self.capacity {
            self.txns.pop_front();
        }
        self.txns.push_back((zxid, bytes));
    }

    pub fn clear(&mut self) {
        self.txns.clear();
    }

    pub fn min(&self) -> Option<Zxid> {
        self.txns.front().map(|t| t.0)
    }

    pub fn max(&self) -> Option<Zxid> {
        self.txns.back().map(|t| t.0)
    }

    pub fn len(&self) -> usize {
        self.txns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.txns.is_empty()
    }

    /// The txns after `zxid`, oldest first.
    pub fn after(&self, zxid: Zxid) -> impl Iterator<Item = &(Zxid, Bytes)> {
        let start = self.txns.partition_point(|t| t.0 <= zxid);
        self.txns.range(start..)
    }

    pub fn iter(&self) -> impl Iterator<Item = &(Zxid, Bytes)> {
        self.txns.iter()
    }
}

/// The packet that opens a learner's sync.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncOp {
    /// DIFF: the learner has a prefix of our history. Its zxid is our last
    /// committed one, as `queueCommittedProposals` sends it.
    Diff(Zxid),
    /// TRUNC: the learner must cut its log back to this zxid first.
    Trunc(Zxid),
    /// SNAP: the whole tree, then what follows its zxid.
    Snap,
}

/// A learner's sync: the opening packet, and the zxid after which every
/// txn of ours goes to it as a PROPOSAL (+ COMMIT when committed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncPlan {
    pub op: SyncOp,
    pub after: Zxid,
}

/// A zxid whose counter is 0 marks the start of an epoch and names no txn.
fn is_epoch_start(z: Zxid) -> bool {
    z.counter() == 0
}

/// The sync plan for a learner whose last logged zxid is `peer`, against a
/// leader whose history ends at `last` and whose recent committed txns are
/// `log` (QUORUM.md §3.4; `LearnerHandler.syncFollower` and
/// `queueCommittedProposals`, without the on-disk log: a learner older than
/// the window gets a SNAP).
pub fn choose(peer: Zxid, last: Zxid, log: &CommittedLog, force_snap: bool) -> SyncPlan {
    let snap = SyncPlan {
        op: SyncOp::Snap,
        after: last,
    };
    if force_snap {
        return snap;
    }
    if peer == last {
        return SyncPlan {
            op: SyncOp::Diff(peer),
            after: peer,
        };
    }
    let (min, max) = match (log.min(), log.max()) {
        (Some(min), Some(max)) => (min, max),
        _ => (last, last),
    };
    if peer > max && !is_epoch_start(peer) {
        return SyncPlan {
            op: SyncOp::Trunc(max),
            after: max,
        };
    }
    if peer < min || peer > max {
        return snap;
    }
    // min <= peer <= max: find where the learner's history leaves ours.
    let diff = SyncPlan {
        op: SyncOp::Diff(max),
        after: peer,
    };
    let mut prev = None;
    for (z, _) in log.iter() {
        if *z < peer {
            prev = Some(*z);
            continue;
        }
        if *z == peer || is_epoch_start(peer) {
            return diff;
        }
        // The learner has txns we never had: cut them, never across an
        // epoch (a Java learner exits if told to).
        return match prev {
            Some(p) if z.epoch() == peer.epoch() => SyncPlan {
                op: SyncOp::Trunc(p),
                after: p,
            },
            _ => snap,
        };
    }
    if is_epoch_start(peer) { diff } else { snap }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_of(zxids: &[Zxid]) -> CommittedLog {
        let mut l = CommittedLog::new(500);
        for z in zxids {
            l.push(*z, Bytes::new());
        }
        l
    }

    fn z(epoch: u32, counter: u32) -> Zxid {
        Zxid::new(epoch, counter)
    }

    fn plan(op: SyncOp, after: Zxid) -> SyncPlan {
        SyncPlan { op, after }
    }

    #[test]
    fn a_learner_with_our_prefix_gets_a_diff_opened_at_our_last_commit() {
        let log = log_of(&[z(1, 1), z(1, 2), z(1, 3), z(2, 1)]);
        assert_eq!(
            choose(z(1, 2), z(2, 1), &log, false),
            plan(SyncOp::Diff(z(2, 1)), z(1, 2))
        );
        assert_eq!(
            choose(z(2, 1), z(2, 1), &log, false),
            plan(SyncOp::Diff(z(2, 1)), z(2, 1))
        );
        assert_eq!(
            log.after(z(1, 2)).map(|t| t.0).collect::<Vec<_>>(),
            vec![z(1, 3), z(2, 1)]
        );
    }

    #[test]
    fn a_learner_ahead_of_our_window_is_truncated_to_its_end() {
        let log = log_of(&[z(1, 1), z(1, 2)]);
        assert_eq!(
            choose(z(1, 5), z(1, 2), &log, false),
            plan(SyncOp::Trunc(z(1, 2)), z(1, 2))
        );
        // A new-epoch zxid above everything: no log to cut, so a snapshot.
        assert_eq!(choose(z(3, 0), z(1, 2), &log, false).op, SyncOp::Snap);
    }

    #[test]
    fn a_learner_that_diverged_is_cut_back_within_an_epoch_and_snapped_across_one() {
        // We went from (1,2) to epoch 2; the learner logged (1,3), which an
        // old leader never got committed: TRUNC cannot cross epochs.
        let log = log_of(&[z(1, 1), z(1, 2), z(2, 1)]);
        assert_eq!(choose(z(1, 3), z(2, 1), &log, false).op, SyncOp::Snap);
        // Within one epoch (a window with a gap where the learner has (1,3)).
        let log = log_of(&[z(1, 1), z(1, 2), z(1, 4)]);
        assert_eq!(
            choose(z(1, 3), z(1, 4), &log, false),
            plan(SyncOp::Trunc(z(1, 2)), z(1, 2))
        );
    }

    #[test]
    fn a_learner_older_than_the_window_gets_a_snapshot() {
        let log = log_of(&[z(1, 10), z(1, 11)]);
        assert_eq!(
            choose(z(1, 2), z(1, 11), &log, false),
            plan(SyncOp::Snap, z(1, 11))
        );
        assert_eq!(choose(z(1, 11), z(1, 11), &log, true).op, SyncOp::Snap);
    }

    #[test]
    fn an_epoch_start_zxid_inside_the_window_is_a_diff() {
        let log = log_of(&[z(1, 1), z(2, 1), z(2, 2)]);
        assert_eq!(
            choose(z(2, 0), z(2, 2), &log, false),
            plan(SyncOp::Diff(z(2, 2)), z(2, 0))
        );
    }

    #[test]
    fn an_empty_window_compares_against_the_last_zxid() {
        let log = CommittedLog::new(500);
        assert_eq!(
            choose(z(0, 0), z(0, 0), &log, false),
            plan(SyncOp::Diff(z(0, 0)), z(0, 0))
        );
        assert_eq!(choose(z(0, 0), z(1, 3), &log, false).op, SyncOp::Snap);
        assert_eq!(
            choose(z(1, 5), z(1, 3), &log, false),
            plan(SyncOp::Trunc(z(1, 3)), z(1, 3))
        );
    }
}
