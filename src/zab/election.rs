//! FastLeaderElection (ZooKeeper's `electionAlg=3`) as a state machine
//! without I/O: notifications and connection events in, notifications to
//! send, `ConnectAll` requests and the decision out; time enters as `now_ms`
//! and every timer leaves as a deadline from [`Election::poll_timeout`].
//!
//! It plays both parts of ZooKeeper's `FastLeaderElection`: the receiver
//! thread that answers peers in any state (`WorkerReceiver.run`) and the
//! LOOKING loop that counts votes (`lookForLeader`). Rules and their Java
//! sources are in `shared/QUORUM.md` §2; each helper names the method it
//! mirrors. It never decodes bytes (that is `proto::quorum`), never parses
//! the config text it sends, and never touches a socket: the glue delivers
//! notifications with the sender's sid and reports election connections.
//!
//! One deliberate change from ZooKeeper: the 200 ms `finalizeWait` after a
//! quorum agrees ends at once when every voter we are connected to has
//! already answered in this round, because nothing better can then come
//! from a reachable voter without a new notification. Only liveness rests
//! on this timer; ZAB's epoch handshake keeps two leaders from both
//! committing (DESIGN.md §6).
//!
//! The glue's loop: `start` when the server turns LOOKING (at boot, and
//! after `role_ended`); feed `receive`, `peer_connected`,
//! `peer_disconnected`, and `handle_timeout` at `poll_timeout`; drain
//! `poll_output` after each call. On `Decided` it runs the role and calls
//! `update_vote_epoch` once the role's sync set the new epoch. Outside LOOKING
//! the machine keeps answering LOOKING peers with the decided vote.
//!
//! Memory is bounded by the ensemble: every map is keyed by a voter's sid,
//! and notifications from anyone else are answered and forgotten.

use super::ServerId;
use crate::proto::quorum::{Notification, PeerState};
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// `FastLeaderElection.finalizeWait`.
pub const FINALIZE_WAIT_MS: i64 = 200;
/// `zookeeper.fastleader.minNotificationInterval`'s default.
pub const MIN_NOTIFICATION_INTERVAL_MS: i64 = 200;
/// `zookeeper.fastleader.maxNotificationInterval`'s default.
pub const MAX_NOTIFICATION_INTERVAL_MS: i64 = 60_000;

/// `Notification.CURRENTVERSION`: the format every notification we send has.
const NOTIFICATION_VERSION: i32 = 2;

/// What one server needs to take part in elections.
#[derive(Clone, Debug)]
pub struct ElectionConfig {
    pub my_id: ServerId,
    /// The participants of the committed configuration.
    pub voters: BTreeSet<ServerId>,
    pub observers: BTreeSet<ServerId>,
    /// The committed configuration's text at its version, sent in every
    /// notification (QUORUM.md §2: Java peers parse it and may restart their
    /// election on a newer version).
    pub config_text: Bytes,
    pub finalize_wait_ms: i64,
    pub min_notification_interval_ms: i64,
    pub max_notification_interval_ms: i64,
}

impl ElectionConfig {
    /// A configuration with ZooKeeper's timer defaults.
    pub fn new(
        my_id: ServerId,
        voters: BTreeSet<ServerId>,
        observers: BTreeSet<ServerId>,
        config_text: Bytes,
    ) -> Self {
        Self {
            my_id,
            voters,
            observers,
            config_text,
            finalize_wait_ms: FINALIZE_WAIT_MS,
            min_notification_interval_ms: MIN_NOTIFICATION_INTERVAL_MS,
            max_notification_interval_ms: MAX_NOTIFICATION_INTERVAL_MS,
        }
    }
}

/// A vote as the wire carries it (`Q/Vote.java` without state and version).
/// Observers propose `i64::MIN` for leader, zxid and peer epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vote {
    /// The proposed leader's sid.
    pub leader: i64,
    /// The proposed leader's last zxid.
    pub zxid: i64,
    /// The round the vote belongs to (`logicalclock`).
    pub election_epoch: i64,
    /// The proposed leader's epoch.
    pub peer_epoch: i64,
}

/// What the state machine asks of its caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Send a notification on the election connection to `to`; if there is
    /// none, open one (ZooKeeper's `toSend` connects on demand). Never
    /// addressed to ourselves: our own vote is counted internally.
    Send { to: ServerId, msg: Notification },
    /// ZooKeeper's `connectAll()`: (re)connect to every voter. Asked for when
    /// the notification timer fires while no voter is connected.
    ConnectAll,
    /// The election is over: LEADING, FOLLOWING or OBSERVING `leader`.
    Decided {
        state: PeerState,
        leader: ServerId,
        vote: Vote,
    },
    /// We are LEADING and voter `sid` told us it is LOOKING
    /// (`Leader.reportLookingSid`, used by `zookeeper.leader.maxTimeToWaitForEpoch`).
    VoterLooking { sid: ServerId },
}

/// The triple the total order ranks (`proposedLeader`, `proposedZxid`,
/// `proposedEpoch`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Candidate {
    leader: i64,
    zxid: i64,
    peer_epoch: i64,
}

impl Candidate {
    const NONE: Candidate = Candidate {
        leader: i64::MIN,
        zxid: i64::MIN,
        peer_epoch: i64::MIN,
    };

    fn of(n: &Notification) -> Self {
        Self {
            leader: n.leader,
            zxid: n.zxid,
            peer_epoch: n.peer_epoch,
        }
    }

    fn at(self, election_epoch: i64) -> Vote {
        Vote {
            leader: self.leader,
            zxid: self.zxid,
            election_epoch,
            peer_epoch: self.peer_epoch,
        }
    }
}

/// A vote as `lookForLeader` stores it: with the sender's state and the
/// notification's format version, which `Vote.equals` looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Ballot {
    vote: Vote,
    state: PeerState,
    version: i32,
}

impl Ballot {
    fn of(n: &Notification, version: i32) -> Self {
        Self {
            vote: Candidate::of(n).at(n.election_epoch),
            state: n.state,
            version,
        }
    }

    /// `Vote.equals`: a LOOKING side compares everything; two settled sides
    /// compare leader and peer epoch, or the leader alone when exactly one of
    /// them has format version 0 (ZOOKEEPER-1805, ZOOKEEPER-1732).
    fn agrees(&self, other: &Ballot) -> bool {
        let (a, b) = (&self.vote, &other.vote);
        if self.state == PeerState::Looking || other.state == PeerState::Looking {
            return a == b;
        }
        if (self.version > 0) != (other.version > 0) {
            return a.leader == b.leader;
        }
        a.leader == b.leader && a.peer_epoch == b.peer_epoch
    }
}

/// A voter's latest notification in the LOOKING loop: its state and round.
#[derive(Clone, Copy, Debug)]
struct Heard {
    state: PeerState,
    election_epoch: i64,
}

/// One server's FastLeaderElection.
#[derive(Debug)]
pub struct Election {
    cfg: ElectionConfig,
    state: PeerState,
    /// Inside `lookForLeader`: `start` ran and no decision came yet.
    round_active: bool,
    logical_clock: i64,
    /// `getInitId`, `getInitLastLoggedZxid`, `getPeerEpoch` of this round.
    initial: Candidate,
    proposal: Candidate,
    /// `QuorumPeer.currentVote`: the last decision (the startup vote before
    /// one), which replies carry.
    current_vote: Vote,
    started: bool,
    /// Votes of this round (`recvset`), ours included.
    recvset: BTreeMap<ServerId, Ballot>,
    /// FOLLOWING/LEADING votes of any round (`outofelection`).
    outofelection: BTreeMap<ServerId, Ballot>,
    /// Each voter's latest notification since `start`, for ending the
    /// finalize wait early.
    heard: BTreeMap<ServerId, Heard>,
    /// Notifications that came while LOOKING but before `start`, latest per
    /// voter; ZooKeeper queues them for the coming `lookForLeader`.
    pending: BTreeMap<ServerId, Notification>,
    /// Voters whose election connection is up.
    connected: BTreeSet<ServerId>,
    notification_interval_ms: i64,
    notification_deadline_ms: Option<i64>,
    finalize_deadline_ms: Option<i64>,
    out: VecDeque<Output>,
}

impl Election {
    /// A server that is LOOKING but has not started a round: until `start`
    /// it answers non-voters and keeps voters' notifications for the round.
    pub fn new(cfg: ElectionConfig) -> Self {
        let voter = cfg.voters.contains(&cfg.my_id);
        let observer = cfg.observers.contains(&cfg.my_id);
        assert!(
            voter != observer,
            "{} must be exactly one of voter or observer",
            cfg.my_id
        );
        assert!(
            cfg.voters
                .iter()
                .chain(&cfg.observers)
                .all(|s| i64::try_from(s.0).is_ok()),
            "sids travel as signed longs"
        );
        assert!(cfg.finalize_wait_ms >= 0);
        assert!(cfg.min_notification_interval_ms > 0);
        assert!(cfg.max_notification_interval_ms >= cfg.min_notification_interval_ms);
        let current_vote = Candidate {
            leader: wire_id(cfg.my_id),
            zxid: -1,
            peer_epoch: -1,
        }
        .at(-1);
        Self {
            notification_interval_ms: cfg.min_notification_interval_ms,
            cfg,
            state: PeerState::Looking,
            round_active: false,
            logical_clock: 0,
            initial: Candidate::NONE,
            proposal: Candidate::NONE,
            current_vote,
            started: false,
            recvset: BTreeMap::new(),
            outofelection: BTreeMap::new(),
            heard: BTreeMap::new(),
            pending: BTreeMap::new(),
            connected: BTreeSet::new(),
            notification_deadline_ms: None,
            finalize_deadline_ms: None,
            out: VecDeque::new(),
        }
    }

    /// Enter a new round (`QuorumPeer.run` → `lookForLeader`): logicalclock
    /// goes up by one, we propose ourselves (an observer proposes
    /// `i64::MIN` throughout) and tell every voter. Calling it during a round
    /// abandons that round for a new one.
    pub fn start(&mut self, now_ms: i64, last_logged_zxid: i64, current_epoch: i64) {
        if !self.started {
            // QuorumPeer.startLeaderElection: the vote replies carry until a
            // first decision.
            self.started = true;
            self.current_vote = Candidate {
                leader: wire_id(self.cfg.my_id),
                zxid: last_logged_zxid,
                peer_epoch: current_epoch,
            }
            .at(-1);
        }
        self.state = PeerState::Looking;
        self.round_active = true;
        self.logical_clock += 1;
        self.initial = if self.is_voter() {
            Candidate {
                leader: wire_id(self.cfg.my_id),
                zxid: last_logged_zxid,
                peer_epoch: current_epoch,
            }
        } else {
            Candidate::NONE
        };
        self.proposal = self.initial;
        self.recvset.clear();
        self.outofelection.clear();
        self.heard.clear();
        self.notification_interval_ms = self.cfg.min_notification_interval_ms;
        self.notification_deadline_ms = Some(now_ms + self.notification_interval_ms);
        self.finalize_deadline_ms = None;
        self.send_notifications();
        self.check_recvset(now_ms);
        for (from, n) in std::mem::take(&mut self.pending) {
            if !self.round_active {
                break;
            }
            self.look(now_ms, from, &n);
        }
    }

    /// A notification from `from` (the election connection knows the
    /// sender). Answers it as `WorkerReceiver.run` does, then, inside a
    /// round, counts it as `lookForLeader` does.
    pub fn receive(&mut self, now_ms: i64, from: ServerId, n: &Notification) {
        if from == self.cfg.my_id {
            // Our own vote never travels: it is counted where it changes.
            return;
        }
        if !self.cfg.voters.contains(&from) {
            // Non-voters are answered at once, whatever our state, and never
            // counted.
            let v = self.current_vote;
            self.send(
                from,
                self.state,
                v.leader,
                v.zxid,
                self.logical_clock,
                v.peer_epoch,
            );
            return;
        }
        if self.state == PeerState::Looking {
            if n.state == PeerState::Looking && n.election_epoch < self.logical_clock {
                let p = self.proposal;
                self.send(
                    from,
                    PeerState::Looking,
                    p.leader,
                    p.zxid,
                    self.logical_clock,
                    p.peer_epoch,
                );
            }
            if self.round_active {
                self.look(now_ms, from, n);
            } else {
                self.pending.insert(from, n.clone());
            }
        } else if n.state == PeerState::Looking {
            if self.state == PeerState::Leading {
                self.out.push_back(Output::VoterLooking { sid: from });
            }
            let v = self.current_vote;
            self.send(
                from,
                self.state,
                v.leader,
                v.zxid,
                v.election_epoch,
                v.peer_epoch,
            );
        }
    }

    /// The election connection to `sid` is up.
    pub fn peer_connected(&mut self, sid: ServerId) {
        if self.cfg.voters.contains(&sid) && sid != self.cfg.my_id {
            self.connected.insert(sid);
        }
    }

    /// The election connection to `sid` is gone. A finalize wait that was
    /// only waiting for `sid` ends now.
    pub fn peer_disconnected(&mut self, sid: ServerId) {
        if self.connected.remove(&sid) {
            self.finish_if_all_heard();
        }
    }

    /// The next deadline at which `handle_timeout` has work, if any.
    pub fn poll_timeout(&self) -> Option<i64> {
        if !self.round_active {
            return None;
        }
        self.finalize_deadline_ms.or(self.notification_deadline_ms)
    }

    /// Fire the timers due at `now_ms`: the end of the finalize wait (decide
    /// on our proposal), or the notification timeout (re-send our vote if a
    /// voter is connected, else ask for `ConnectAll`, and double the
    /// interval up to the maximum).
    pub fn handle_timeout(&mut self, now_ms: i64) {
        if !self.round_active {
            return;
        }
        if let Some(deadline) = self.finalize_deadline_ms {
            if now_ms >= deadline {
                self.finalize();
            }
            return;
        }
        let Some(deadline) = self.notification_deadline_ms else {
            return;
        };
        if now_ms < deadline {
            return;
        }
        self.notification_interval_ms = self
            .notification_interval_ms
            .saturating_mul(2)
            .min(self.cfg.max_notification_interval_ms);
        self.notification_deadline_ms = Some(now_ms + self.notification_interval_ms);
        if self.connected.is_empty() {
            self.out.push_back(Output::ConnectAll);
        } else {
            self.send_notifications();
            // ZooKeeper's copy to itself comes back and is counted again.
            self.check_recvset(now_ms);
        }
    }

    /// The next thing to do, in the order it arose.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// After the role's sync the vote carries the new epoch
    /// (`QuorumPeer.updateElectionVote`); zxid and round stay.
    pub fn update_vote_epoch(&mut self, epoch: i64) {
        self.current_vote.peer_epoch = epoch;
    }

    /// The role ended (lost the leader, stopped leading, or the observer's
    /// delay before electing began): we are LOOKING again, and notifications
    /// that arrive before the next `start` are kept for its round.
    pub fn role_ended(&mut self) {
        self.state = PeerState::Looking;
        self.round_active = false;
        self.notification_deadline_ms = None;
        self.finalize_deadline_ms = None;
    }

    pub fn state(&self) -> PeerState {
        self.state
    }

    /// `QuorumPeer.currentVote`: the last decision, with its peer epoch
    /// updated after sync.
    pub fn current_vote(&self) -> Vote {
        self.current_vote
    }

    /// The vote we propose in the current (or last) round.
    pub fn proposal(&self) -> Vote {
        self.proposal.at(self.logical_clock)
    }

    pub fn logical_clock(&self) -> i64 {
        self.logical_clock
    }

    /// One notification inside the round: the body of `lookForLeader`'s loop.
    fn look(&mut self, now_ms: i64, from: ServerId, n: &Notification) {
        // Any notification restarts the poll that times out into a re-send.
        self.notification_deadline_ms = Some(now_ms + self.notification_interval_ms);
        self.heard.insert(
            from,
            Heard {
                state: n.state,
                election_epoch: n.election_epoch,
            },
        );
        if self.finalize_deadline_ms.is_some() {
            if !self.beats(Candidate::of(n), self.proposal) {
                // Not better: ZooKeeper drops it and polls anew for finalizeWait.
                self.finalize_deadline_ms = Some(now_ms + self.cfg.finalize_wait_ms);
                self.finish_if_all_heard();
                return;
            }
            // Better: ZooKeeper requeues it and goes on with the loop.
            self.finalize_deadline_ms = None;
        }
        if self.voter(n.leader).is_none() {
            return;
        }
        match n.state {
            PeerState::Looking => self.on_looking(now_ms, from, n),
            PeerState::Observing => {}
            PeerState::Following | PeerState::Leading => self.on_settled(from, n),
        }
    }

    /// `lookForLeader`, case LOOKING.
    fn on_looking(&mut self, now_ms: i64, from: ServerId, n: &Notification) {
        if self.initial.zxid == -1 || n.zxid == -1 {
            return;
        }
        let theirs = Candidate::of(n);
        if n.election_epoch > self.logical_clock {
            self.logical_clock = n.election_epoch;
            self.recvset.clear();
            // The better of theirs and our *initial* vote, not our proposal.
            self.proposal = if self.beats(theirs, self.initial) {
                theirs
            } else {
                self.initial
            };
            self.send_notifications();
        } else if n.election_epoch < self.logical_clock {
            return;
        } else if self.beats(theirs, self.proposal) {
            self.proposal = theirs;
            self.send_notifications();
        }
        // LOOKING votes are stored without their format version.
        self.recvset.insert(from, Ballot::of(n, 0));
        self.check_recvset(now_ms);
    }

    /// `receivedFollowingNotification` (and `receivedLeadingNotification`,
    /// whose oracle only `QuorumOracleMaj` has): join a leader that a quorum
    /// follows and that said itself it leads.
    fn on_settled(&mut self, from: ServerId, n: &Notification) {
        let theirs = Ballot::of(n, n.version);
        let vote = theirs.vote;
        if n.election_epoch == self.logical_clock {
            // Into recvset with version 0, as ZooKeeper's constructor leaves it.
            self.recvset.insert(from, Ballot::of(n, 0));
            if self.has_quorum(&self.recvset, &theirs)
                && self.check_leader(&self.recvset, vote.leader, vote.election_epoch)
            {
                self.settle(vote);
                return;
            }
        }
        self.outofelection.insert(from, theirs);
        if self.has_quorum(&self.outofelection, &theirs)
            && self.check_leader(&self.outofelection, vote.leader, vote.election_epoch)
        {
            self.logical_clock = vote.election_epoch;
            self.settle(vote);
        }
    }

    /// After our proposal's votes changed: if they form a quorum, begin the
    /// finalize wait (`lookForLeader`, after `getVoteTracker`).
    fn check_recvset(&mut self, now_ms: i64) {
        let ours = Ballot {
            vote: self.proposal.at(self.logical_clock),
            state: PeerState::Looking,
            version: 0,
        };
        if !self.has_quorum(&self.recvset, &ours) {
            return;
        }
        self.finalize_deadline_ms = Some(now_ms + self.cfg.finalize_wait_ms);
        self.finish_if_all_heard();
    }

    /// corral's cut of the finalize wait: every connected voter has told us
    /// its vote in this round, or is not LOOKING; a better vote could only
    /// come with a new notification.
    fn finish_if_all_heard(&mut self) {
        if !self.round_active || self.finalize_deadline_ms.is_none() {
            return;
        }
        let all_heard = self.connected.iter().all(|sid| match self.heard.get(sid) {
            Some(h) if h.state == PeerState::Looking => h.election_epoch == self.logical_clock,
            Some(_) => true,
            None => false,
        });
        if all_heard {
            self.finalize();
        }
    }

    /// The finalize wait ended with our proposal standing.
    fn finalize(&mut self) {
        self.settle(self.proposal.at(self.logical_clock));
    }

    /// `setPeerState` + `leaveInstance`: LEADING if the vote names us,
    /// else FOLLOWING, or OBSERVING for an observer.
    fn settle(&mut self, vote: Vote) {
        let leader = self
            .voter(vote.leader)
            .expect("a quorum only ever agrees on a voter");
        let state = if leader == self.cfg.my_id {
            PeerState::Leading
        } else if self.is_voter() {
            PeerState::Following
        } else {
            PeerState::Observing
        };
        self.state = state;
        self.current_vote = vote;
        self.round_active = false;
        self.notification_deadline_ms = None;
        self.finalize_deadline_ms = None;
        self.recvset.clear();
        self.outofelection.clear();
        self.heard.clear();
        self.out.push_back(Output::Decided {
            state,
            leader,
            vote,
        });
    }

    /// `sendNotifications`: our proposal to every voter. ZooKeeper also sends
    /// it to itself and counts it on arrival; we count it here.
    fn send_notifications(&mut self) {
        let p = self.proposal;
        let me = self.cfg.my_id;
        let voters: Vec<ServerId> = self
            .cfg
            .voters
            .iter()
            .copied()
            .filter(|&s| s != me)
            .collect();
        for to in voters {
            self.send(
                to,
                PeerState::Looking,
                p.leader,
                p.zxid,
                self.logical_clock,
                p.peer_epoch,
            );
        }
        // Our copy is a LOOKING notification like any other: ignored when our
        // zxid is -1, never sent by an observer.
        if self.is_voter() && self.initial.zxid != -1 {
            let ours = Ballot {
                vote: p.at(self.logical_clock),
                state: PeerState::Looking,
                version: 0,
            };
            self.recvset.insert(me, ours);
        }
    }

    fn send(
        &mut self,
        to: ServerId,
        state: PeerState,
        leader: i64,
        zxid: i64,
        election_epoch: i64,
        peer_epoch: i64,
    ) {
        let msg = Notification {
            state,
            leader,
            zxid,
            election_epoch,
            peer_epoch,
            version: NOTIFICATION_VERSION,
            config: self.cfg.config_text.clone(),
        };
        self.out.push_back(Output::Send { to, msg });
    }

    /// `totalOrderPredicate`: higher peer epoch, then zxid, then sid wins; a
    /// candidate that is not a voter never does (weight 0).
    fn beats(&self, new: Candidate, cur: Candidate) -> bool {
        self.voter(new.leader).is_some()
            && (new.peer_epoch, new.zxid, new.leader) > (cur.peer_epoch, cur.zxid, cur.leader)
    }

    /// `getVoteTracker(..).hasAllQuorums()` over a majority (`QuorumMaj`):
    /// more than half of the voters hold a vote equal to `target`.
    fn has_quorum(&self, votes: &BTreeMap<ServerId, Ballot>, target: &Ballot) -> bool {
        let acks = votes
            .iter()
            .filter(|(sid, b)| self.cfg.voters.contains(sid) && target.agrees(b))
            .count();
        acks > self.cfg.voters.len() / 2
    }

    /// `checkLeader`: another leader must have said itself that it leads; if
    /// the vote names us, it must be of our round.
    fn check_leader(
        &self,
        votes: &BTreeMap<ServerId, Ballot>,
        leader: i64,
        election_epoch: i64,
    ) -> bool {
        if leader != wire_id(self.cfg.my_id) {
            return self
                .voter(leader)
                .and_then(|sid| votes.get(&sid))
                .is_some_and(|b| b.state == PeerState::Leading);
        }
        self.logical_clock == election_epoch
    }

    /// `validVoter` on a sid from the wire.
    fn voter(&self, wire: i64) -> Option<ServerId> {
        let sid = ServerId(u64::try_from(wire).ok()?);
        self.cfg.voters.contains(&sid).then_some(sid)
    }

    fn is_voter(&self) -> bool {
        self.cfg.voters.contains(&self.cfg.my_id)
    }
}

/// A sid as the wire's signed long.
fn wire_id(sid: ServerId) -> i64 {
    i64::try_from(sid.0).expect("`Election::new` checked every sid of the config")
}

#[cfg(test)]
mod tests;
