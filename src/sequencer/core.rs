//! The sequencer's surface: one state machine for a standalone server and
//! for every role in an ensemble (standalone is an ensemble of one on the
//! same path). The glue (`server::core`) feeds it client messages, packets,
//! completions and the time, drains its [`Action`]s, and holds the tree's
//! write lock while [`Sequencer::apply`] runs.
//!
//! It never reads a clock, a socket or a file, and draws randomness only
//! from a seeded generator: given the same inputs it makes the same txns,
//! which is what lets a simulation run three of them in one thread.

use super::messages::{Reply, ShardId, ToSequencer};
use super::pipeline::{Origin, Pipeline};
use super::prep::{Prep, PrepConfig, Prepped, WriteRequest};
use super::steps::{Step, StepKind, Steps};
use crate::proto::quorum::{Notification, PacketType, QuorumPacket};
use crate::proto::request::Request;
use crate::proto::{ConnectResponse, ErrorCode, SessionId, Zxid};
use crate::session::{SessionTracker, password};
use crate::tree::DataTree;
use crate::watch::ConnId;
use crate::zab::ServerId;
use crate::zab::election::{Election, ElectionConfig, Output as ElectionOutput};
use crate::zab::quorum::Ensemble;
use crate::zab::sync::CommittedLog;
use bytes::{Bytes, BytesMut};
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, HashMap, VecDeque};

pub use super::following::Following;
pub use super::leading::Leading;

/// The time, as the glue read it: monotonic milliseconds for every timer
/// and session expiry (a clock step must not expire sessions), wall-clock
/// milliseconds for txn times (ctime/mtime).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    pub mono_ms: i64,
    pub wall_ms: i64,
}

/// A quorum-port connection, numbered by the glue.
pub type PeerId = u64;

/// What the sequencer needs to know, fixed at start.
#[derive(Clone, Debug)]
pub struct SeqConfig {
    pub my_id: ServerId,
    /// `None`: standalone.
    pub ensemble: Option<Ensemble>,
    pub tick_ms: i64,
    pub init_limit: i64,
    pub sync_limit: i64,
    pub prep: PrepConfig,
    pub snap_count: u32,
    pub container_check_interval_ms: i64,
    pub container_max_per_minute: u32,
    /// `zookeeper.commitLogCount`: committed txns kept for DIFF syncs.
    pub commit_log_count: usize,
    /// Whether the `sasl` ACL scheme exists (for forwarded requests' auth).
    pub sasl_acl_scheme: bool,
    /// The largest packet data accepted from a peer.
    pub max_packet_bytes: usize,
    pub force_snapshot_sync: bool,
    /// `leaderConnectDelayDuringRetryMs`: the longest pause between tries
    /// to reach a new leader.
    pub leader_connect_retry_ms: i64,
    pub finalize_wait_ms: i64,
    pub min_notification_interval_ms: i64,
    pub max_notification_interval_ms: i64,
    /// Seeds the snapshot interval's randomness.
    pub seed: u64,
    /// The counter a leader's epoch starts after (0; tests set it near the
    /// end of the counter's range to make a rollover happen, as ZooKeeper's
    /// `zookeeper.testingonly.initialZxid` does).
    pub epoch_counter_start: u32,
}

/// What the sequencer hears besides clients.
#[derive(Debug)]
pub enum Input {
    /// The log write of the last [`Action::AppendLog`] returned.
    LogWritten(std::io::Result<()>),
    /// The last [`Action::SaveEpoch`] is durable.
    EpochSaved,
    /// The glue replaced the tree from disk after [`Action::Truncate`] or an
    /// installed SNAP; these are the recovered sessions and the tail of the
    /// log (for the DIFF window).
    Reloaded {
        last_zxid: Zxid,
        sessions: Vec<(SessionId, i32)>,
        recent: Vec<(Zxid, Bytes)>,
    },
    Election {
        from: ServerId,
        msg: Notification,
    },
    ElectionPeer {
        sid: ServerId,
        up: bool,
    },
    LearnerConnected {
        peer: PeerId,
    },
    LearnerPacket {
        peer: PeerId,
        packet: QuorumPacket,
    },
    LearnerClosed {
        peer: PeerId,
    },
    LeaderConnected,
    LeaderConnectFailed,
    LeaderPacket(QuorumPacket),
    LeaderClosed,
}

/// What the sequencer asks of the glue, in order.
#[derive(Debug)]
pub enum Action {
    /// One durable write of log records; answer with [`Input::LogWritten`].
    /// `roll`: start a new segment first (a snapshot began).
    AppendLog {
        first_zxid: Zxid,
        records: Bytes,
        /// How many txns `records` holds.
        txns: usize,
        roll: bool,
    },
    /// Persist the epoch files; answer with [`Input::EpochSaved`].
    SaveEpoch {
        accepted: Option<u32>,
        current: Option<u32>,
    },
    /// Cut the log back to `zxid` and reload the tree from disk; answer with
    /// [`Input::Reloaded`]. Never issued with a log write in flight.
    Truncate {
        zxid: Zxid,
    },
    /// Take a fuzzy snapshot of the tree as of `zxid`.
    Snapshot {
        zxid: Zxid,
        sessions: Vec<(SessionId, i32)>,
    },
    /// Quorum packets (encoded, back to back) for a learner's connection.
    ToLearner {
        peer: PeerId,
        bytes: Bytes,
    },
    /// The SNAP stream of the tree as of `zxid` (after the SNAP packet,
    /// before anything queued for the learner later).
    SnapToLearner {
        peer: PeerId,
        zxid: Zxid,
        sessions: Vec<(SessionId, i32)>,
    },
    CloseLearner {
        peer: PeerId,
    },
    /// Open (or close) the quorum port for learners.
    ListenQuorum(bool),
    /// Quorum packets for the leader.
    ToLeader {
        bytes: Bytes,
    },
    ConnectLeader {
        sid: ServerId,
        host: String,
        port: u16,
    },
    CloseLeader,
    /// An election notification (the glue keeps only the latest per peer).
    Notify {
        to: ServerId,
        msg: Notification,
    },
    /// (Re)connect the election port to every voter.
    ConnectAllElection,
    /// Whether clients are served now, and as what.
    Serving(Option<Mode>),
}

/// What a member is, as `srvr`'s `Mode:` line says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Standalone,
    Leader,
    Follower,
    Observer,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Standalone => "standalone",
            Mode::Leader => "leader",
            Mode::Follower => "follower",
            Mode::Observer => "observer",
        }
    }
}

pub enum Role {
    Standalone,
    /// Electing; `waiting_for_log`: a write of the last role is still in
    /// flight and the vote must wait for its outcome.
    Looking {
        waiting_for_log: bool,
    },
    Leading(Box<Leading>),
    Following(Box<Following>),
}

/// Which server a session is attached to, as the leader knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    Local,
    Learner(ServerId),
}

/// What the monitoring words report about the member (a copy).
#[derive(Clone, Debug, Default)]
pub struct View {
    pub mode: Option<Mode>,
    /// `zk_peer_state`: e.g. `leading - broadcast`, `looking`.
    pub peer_state: String,
    pub leader: Option<ServerId>,
    pub epoch: u32,
    pub learners: usize,
    pub synced_followers: usize,
    pub synced_observers: usize,
    pub synced_non_voting_followers: usize,
    pub pending_syncs: usize,
    pub quorum_size: usize,
    pub sessions: usize,
    pub last_proposed: Zxid,
    pub election_time_ms: i64,
    /// A leader's time since it started serving.
    pub leader_uptime_ms: i64,
}

/// Sizes in bytes of a run of proposals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProposalSizes {
    pub last: i64,
    pub min: i64,
    pub max: i64,
}

impl ProposalSizes {
    /// Counts one more proposal of `size` bytes into `this`.
    pub fn add(this: &mut Option<ProposalSizes>, size: i64) {
        let one = ProposalSizes {
            last: size,
            min: size,
            max: size,
        };
        Self::merge(this, one);
    }

    /// Counts the later run `next` into `this`.
    pub fn merge(this: &mut Option<ProposalSizes>, next: ProposalSizes) {
        *this = Some(match *this {
            None => next,
            Some(s) => ProposalSizes {
                last: next.last,
                min: s.min.min(next.min),
                max: s.max.max(next.max),
            },
        });
    }
}

/// The epochs of the member's files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Epochs {
    pub accepted: u32,
    pub current: u32,
}

pub struct Sequencer {
    pub(super) cfg: SeqConfig,
    pub(super) role: Role,
    pub(super) prep: Prep,
    pub(super) sessions: SessionTracker,
    /// Connections on this server holding a session.
    pub(super) local_owners: HashMap<SessionId, (ShardId, ConnId)>,
    /// A leader's (or standalone's) view of which server holds a session.
    pub(super) owners: HashMap<SessionId, Owner>,
    /// A learner's sessions touched since its last PING reply.
    pub(super) touches: BTreeMap<SessionId, i32>,
    pub(super) steps: Steps,
    pub(super) pipe: Pipeline,
    pub(super) window: CommittedLog,
    pub(super) epochs: Epochs,
    /// The last txn applied to the tree.
    pub(super) applied: Zxid,
    pub(super) election: Option<Election>,
    pub(super) actions: VecDeque<Action>,
    /// Packets gathered per learner this round.
    pub(super) to_learners: BTreeMap<PeerId, BytesMut>,
    pub(super) to_leader: BytesMut,
    /// Clients must be disconnected at the next apply.
    pub(super) close_all: bool,
    pub(super) serving: Option<Mode>,
    pub(super) next_container_check_ms: i64,
    pub(super) txns_since_snapshot: u64,
    /// Sizes of the txns proposed as leader since [`Sequencer::take_proposal_sizes`].
    pub(super) proposal_sizes: Option<ProposalSizes>,
    pub(super) snapshot_threshold: u64,
    pub(super) roll_before_next_write: bool,
    pub(super) rng: rand::rngs::StdRng,
    pub(super) looking_since_ms: i64,
    pub(super) last_election_ms: i64,
    /// The time of the latest input (for what happens at the round's end).
    pub(super) now: Now,
}

fn snapshot_threshold(snap_count: u32, rng: &mut rand::rngs::StdRng) -> u64 {
    let half = (snap_count as u64 / 2).max(1);
    half + rng.gen_range(0..half)
}

/// The handshake answer for a live session (the readOnly byte is set by the
/// shard, which knows whether the client sent one).
pub fn connect_response(session: SessionId, timeout_ms: i32) -> ConnectResponse {
    ConnectResponse {
        protocol_version: 0,
        timeout_ms,
        session_id: session,
        passwd: Bytes::copy_from_slice(&password(session)),
        read_only: None,
    }
}

impl Sequencer {
    /// A sequencer over a tree recovered up to `last_zxid`, with the
    /// recovered sessions and the tail of the log (`recent`, for DIFFs).
    pub fn new(
        cfg: SeqConfig,
        last_zxid: Zxid,
        sessions: &BTreeMap<SessionId, i32>,
        recent: Vec<(Zxid, Bytes)>,
        epochs: Epochs,
        now: Now,
    ) -> Sequencer {
        let mut rng = rand::rngs::StdRng::seed_from_u64(cfg.seed);
        let mut tracker = SessionTracker::new(cfg.my_id.0, cfg.tick_ms, now.wall_ms);
        for (&id, &timeout_ms) in sessions {
            tracker.add(id, timeout_ms, now.mono_ms);
        }
        let mut window = CommittedLog::new(cfg.commit_log_count);
        for (z, b) in recent {
            if z <= last_zxid {
                window.push(z, b);
            }
        }
        let election = cfg.ensemble.as_ref().map(|e| {
            Election::new(ElectionConfig {
                my_id: cfg.my_id,
                voters: e.voters().collect(),
                observers: e
                    .members
                    .iter()
                    .filter(|m| m.observer)
                    .map(|m| m.id)
                    .collect(),
                config_text: e.config_text.clone(),
                finalize_wait_ms: cfg.finalize_wait_ms,
                min_notification_interval_ms: cfg.min_notification_interval_ms,
                max_notification_interval_ms: cfg.max_notification_interval_ms,
            })
        });
        Sequencer {
            prep: Prep::new(cfg.prep.clone(), last_zxid),
            sessions: tracker,
            local_owners: HashMap::new(),
            owners: HashMap::new(),
            touches: BTreeMap::new(),
            steps: Steps::default(),
            pipe: Pipeline::new(last_zxid),
            window,
            epochs,
            applied: last_zxid,
            election,
            actions: VecDeque::new(),
            to_learners: BTreeMap::new(),
            to_leader: BytesMut::new(),
            close_all: false,
            serving: None,
            next_container_check_ms: now.mono_ms + cfg.container_check_interval_ms,
            txns_since_snapshot: 0,
            proposal_sizes: None,
            snapshot_threshold: snapshot_threshold(cfg.snap_count, &mut rng),
            roll_before_next_write: false,
            rng,
            role: Role::Looking {
                waiting_for_log: false,
            },
            looking_since_ms: now.mono_ms,
            last_election_ms: 0,
            now,
            cfg,
        }
    }

    /// Starts serving (standalone) or electing (an ensemble member).
    pub fn start(&mut self, now: Now) {
        if self.cfg.ensemble.is_none() {
            self.role = Role::Standalone;
            self.set_serving(Some(Mode::Standalone));
        } else {
            self.start_looking(now);
        }
    }

    pub fn role(&self) -> &Role {
        &self.role
    }

    pub fn is_standalone(&self) -> bool {
        matches!(self.role, Role::Standalone)
    }

    pub fn serving(&self) -> Option<Mode> {
        self.serving
    }

    pub fn last_applied(&self) -> Zxid {
        self.applied
    }

    pub fn last_logged(&self) -> Zxid {
        self.pipe.last_logged
    }

    pub fn epochs(&self) -> Epochs {
        self.epochs
    }

    pub fn sessions(&self) -> &SessionTracker {
        &self.sessions
    }

    /// The sizes of the PROPOSALs' data (a txn's encoded bytes) the leader
    /// made since the last call: ZooKeeper's `Proposal sizes` statistics.
    pub fn take_proposal_sizes(&mut self) -> Option<ProposalSizes> {
        self.proposal_sizes.take()
    }

    /// Whether more client requests may be taken this round: the txns
    /// waiting for the log stay within a few group commits.
    pub fn client_room(&self) -> bool {
        self.pipe.len() < 64 * 1024 && self.steps.len() < 256 * 1024
    }

    pub(super) fn set_serving(&mut self, mode: Option<Mode>) {
        if self.serving == mode {
            return;
        }
        if self.serving.is_some() {
            // Stopped serving: every client goes (sessions live on, their
            // clients reconnect elsewhere), and every request waiting here
            // is dropped with its connection.
            self.close_all = true;
            self.steps.clear();
        }
        self.serving = mode;
        self.actions.push_back(Action::Serving(mode));
    }

    // ---- clients ------------------------------------------------------------------------

    /// A message from a shard.
    pub fn handle_client(&mut self, now: Now, tree: &DataTree, msg: ToSequencer) {
        self.now = now;
        if let ToSequencer::Disconnected { conn, session } = msg {
            // Also while not serving: the connections closed on leaving a
            // role report here, and their sessions must not point at them.
            if self.local_owners.get(&session).is_some_and(|o| o.1 == conn) {
                self.local_owners.remove(&session);
            }
            return;
        }
        if self.serving.is_none() {
            self.refuse_client(msg);
            return;
        }
        let learner = matches!(self.role, Role::Following(_));
        match msg {
            ToSequencer::Request {
                shard,
                conn,
                xid,
                req,
            } => {
                if learner {
                    self.learner_request(shard, conn, xid, req);
                } else {
                    self.local_request(now, tree, shard, conn, xid, req);
                }
            }
            ToSequencer::CreateSession {
                shard,
                conn,
                timeout_ms,
            } => {
                if learner {
                    self.learner_create_session(shard, conn, timeout_ms);
                } else {
                    self.local_create_session(now, shard, conn, timeout_ms);
                }
            }
            ToSequencer::Reattach {
                shard,
                conn,
                session,
                passwd,
                timeout_ms,
            } => {
                self.close_other_owner(session, conn);
                if learner {
                    self.learner_reattach(shard, conn, session, passwd, timeout_ms);
                } else {
                    self.steps.push(Step {
                        shard,
                        conn,
                        xid: 0,
                        kind: StepKind::Reattach {
                            session,
                            passwd,
                            timeout_ms,
                        },
                    });
                }
            }
            ToSequencer::Touch { sessions } => {
                for s in sessions {
                    if learner {
                        if let Some(info) = self.sessions.get(s) {
                            self.touches.insert(s, info.timeout_ms);
                        }
                    } else {
                        self.sessions.touch(s, now.mono_ms);
                    }
                }
            }
            ToSequencer::Disconnected { .. } => {}
        }
    }

    /// A member that does not serve answers nobody: the connection closes
    /// (the shards refuse new ones; this catches those already under way).
    fn refuse_client(&mut self, msg: ToSequencer) {
        let (shard, conn) = match msg {
            ToSequencer::Request { shard, conn, .. }
            | ToSequencer::CreateSession { shard, conn, .. }
            | ToSequencer::Reattach { shard, conn, .. } => (shard, conn),
            ToSequencer::Touch { .. } | ToSequencer::Disconnected { .. } => return,
        };
        self.steps.push(Step {
            shard,
            conn,
            xid: 0,
            kind: StepKind::Ready(Reply::Close { conn }),
        });
    }

    /// ZooKeeper drops the connection that holds a session when another
    /// connection claims it, before it checks the password.
    pub(super) fn close_other_owner(&mut self, session: SessionId, conn: ConnId) {
        if let Some(&(shard, old)) = self.local_owners.get(&session)
            && old != conn
        {
            self.local_owners.remove(&session);
            self.steps.push(Step {
                shard,
                conn: old,
                xid: 0,
                kind: StepKind::Ready(Reply::Close { conn: old }),
            });
        }
    }

    /// A request of a client of this standalone server or leader.
    fn local_request(
        &mut self,
        now: Now,
        tree: &DataTree,
        shard: ShardId,
        conn: ConnId,
        xid: i32,
        req: WriteRequest,
    ) {
        let step = |kind| Step {
            shard,
            conn,
            xid,
            kind,
        };
        match &req.request {
            Request::CloseSession => {
                let session = req.session;
                let id = self.steps.push(step(StepKind::Waiting));
                self.close_session(now, tree, session, xid, Origin::Step(id));
            }
            Request::Sync { path } => {
                // Answered once every txn prepped before it is applied (none
                // in the pipeline: at once; never a new epoch's zxid 0, which
                // names no txn and is never applied).
                let after = self.pipe.last_zxid().unwrap_or(Zxid::ZERO);
                let path = path.clone();
                self.steps.push(step(StepKind::SyncAt { after, path }));
            }
            r if is_read(r) => {
                self.steps.push(step(StepKind::Read(req)));
            }
            r if is_shard_local(r) => {
                self.steps.push(step(StepKind::Local(req.request)));
            }
            _ => {
                let id = self.steps.push(step(StepKind::Waiting));
                if let Some(err) = self.check_session(req.session, Owner::Local) {
                    return self.fail_step(Origin::Step(id), err);
                }
                match self.prep.prep(tree, &req, now.wall_ms) {
                    Prepped::Txn { hdr, txn } => self.propose(hdr, txn, Origin::Step(id)),
                    Prepped::Failed(err) => self.fail_step(Origin::Step(id), err),
                }
            }
        }
    }

    /// `SessionTrackerImpl.checkSession`: a write of a session that is gone
    /// or closing (closeSession prepped, or expired) is SessionExpired, so
    /// nothing a client pipelines behind its closeSession takes effect; one
    /// of a session attached elsewhere is SessionMoved.
    pub(super) fn check_session(&self, session: SessionId, owner: Owner) -> Option<ErrorCode> {
        match self.sessions.get(session) {
            None => Some(ErrorCode::SessionExpired),
            Some(s) if s.closing => Some(ErrorCode::SessionExpired),
            _ => match self.owners.get(&session) {
                Some(o) if *o != owner => Some(ErrorCode::SessionMoved),
                _ => None,
            },
        }
    }

    fn local_create_session(&mut self, now: Now, shard: ShardId, conn: ConnId, timeout_ms: i32) {
        let session = self.sessions.next_id();
        self.sessions.add(session, timeout_ms, now.mono_ms);
        self.owners.insert(session, Owner::Local);
        self.local_owners.insert(session, (shard, conn));
        match self
            .prep
            .prep_create_session(session, timeout_ms, now.wall_ms)
        {
            Prepped::Txn { hdr, txn } => {
                let id = self.steps.push(Step {
                    shard,
                    conn,
                    xid: 0,
                    kind: StepKind::Waiting,
                });
                self.propose(hdr, txn, Origin::Step(id));
            }
            Prepped::Failed(err) => {
                // Only at zxid exhaustion: refuse the handshake rather
                // than leave the connection waiting for an answer.
                tracing::error!("createSession prep failed: {err:?}");
                self.sessions.remove(session);
                self.owners.remove(&session);
                self.local_owners.remove(&session);
                self.steps.push(Step {
                    shard,
                    conn,
                    xid: 0,
                    kind: StepKind::Ready(Reply::Connected {
                        conn,
                        response: None,
                    }),
                });
            }
        }
    }

    /// A closeSession txn (asked for, or an expiry when `origin` is the
    /// server): the session's ephemerals go with it.
    pub(super) fn close_session(
        &mut self,
        now: Now,
        tree: &DataTree,
        session: SessionId,
        cxid: i32,
        origin: Origin,
    ) {
        self.sessions.set_closing(session);
        match self
            .prep
            .prep_close_session(tree, session, cxid, now.wall_ms)
        {
            Prepped::Txn { hdr, txn } => self.propose(hdr, txn, origin),
            Prepped::Failed(err) => self.fail_step(origin, err),
        }
    }

    /// Answers a waiting step with an error.
    pub(super) fn fail_step(&mut self, origin: Origin, err: ErrorCode) {
        if let Origin::Step(id) = origin
            && let Some(step) = self.steps.get_mut(id)
        {
            let (conn, xid) = (step.conn, step.xid);
            let reply = Reply::Done {
                conn,
                xid,
                zxid: self.applied,
                result: Err(err),
                watches: Vec::new(),
            };
            self.steps.complete(id, reply);
        }
    }

    /// A txn this member prepped enters the pipeline; a leader sends it to
    /// its followers when the round is sealed.
    pub(super) fn propose(
        &mut self,
        hdr: crate::proto::txn::TxnHeader,
        txn: crate::proto::txn::Txn,
        origin: Origin,
    ) {
        self.pipe.push_prepped(hdr, txn, origin);
    }

    // ---- everything else ----------------------------------------------------------------

    pub fn handle(&mut self, now: Now, tree: &DataTree, input: Input) {
        self.now = now;
        match input {
            Input::LogWritten(result) => self.log_written(now, result),
            Input::EpochSaved => self.epoch_saved(now),
            Input::Reloaded {
                last_zxid,
                sessions,
                recent,
            } => self.reloaded(now, last_zxid, sessions, recent),
            Input::Election { from, msg } => {
                if let Some(e) = self.election.as_mut() {
                    e.receive(now.mono_ms, from, &msg);
                }
                self.drain_election(now);
            }
            Input::ElectionPeer { sid, up } => {
                if let Some(e) = self.election.as_mut() {
                    if up {
                        e.peer_connected(sid);
                    } else {
                        e.peer_disconnected(sid);
                    }
                }
                self.drain_election(now);
            }
            Input::LearnerConnected { peer } => self.learner_connected(now, peer),
            Input::LearnerPacket { peer, packet } => self.learner_packet(now, tree, peer, packet),
            Input::LearnerClosed { peer } => self.learner_closed(now, peer),
            Input::LeaderConnected => self.leader_connected(now),
            Input::LeaderConnectFailed => self.leader_connect_failed(now),
            Input::LeaderPacket(packet) => self.leader_packet(now, packet),
            Input::LeaderClosed => {
                if matches!(self.role, Role::Following(_)) {
                    tracing::warn!("Connection to the leader closed; looking for a leader");
                    self.leave_role(now);
                }
            }
        }
    }

    /// Timers: session expiry, container checks, election and quorum deadlines.
    pub fn tick(&mut self, now: Now, tree: &DataTree) {
        self.now = now;
        let leads = matches!(self.role, Role::Standalone)
            || matches!(&self.role, Role::Leading(l) if l.is_broadcasting());
        if leads {
            self.expire_sessions(now, tree);
            if now.mono_ms >= self.next_container_check_ms {
                self.next_container_check_ms = now.mono_ms + self.cfg.container_check_interval_ms;
                self.check_containers(now, tree);
            }
        }
        if let Some(e) = self.election.as_mut()
            && e.poll_timeout().is_some_and(|t| t <= now.mono_ms)
        {
            e.handle_timeout(now.mono_ms);
        }
        self.drain_election(now);
        match self.role {
            Role::Leading(_) => self.leader_tick(now),
            Role::Following(_) => self.learner_tick(now),
            _ => {}
        }
    }

    /// The next time [`Sequencer::tick`] has something to do (monotonic ms).
    pub fn poll_timeout(&self) -> Option<i64> {
        let mut t: Option<i64> = None;
        let mut at = |x: Option<i64>| {
            if let Some(x) = x {
                t = Some(t.map_or(x, |t| t.min(x)));
            }
        };
        let leads = matches!(self.role, Role::Standalone)
            || matches!(&self.role, Role::Leading(l) if l.is_broadcasting());
        if leads {
            at(self.sessions.next_expiry_ms());
            at(Some(self.next_container_check_ms));
        }
        if matches!(self.role, Role::Looking { .. }) {
            at(self.election.as_ref().and_then(|e| e.poll_timeout()));
        }
        match &self.role {
            Role::Leading(l) => at(l.next_deadline()),
            Role::Following(f) => at(f.next_deadline(&self.cfg)),
            _ => {}
        }
        t
    }

    /// The next thing for the glue to do. Ends the round first: the txns
    /// prepped since the last call are sealed (encoded once), sent to
    /// followers, and handed to the log when it is idle.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.end_round();
        self.actions.pop_front()
    }

    fn end_round(&mut self) {
        if matches!(&self.role, Role::Leading(l) if l.is_broadcasting())
            && self.prep.zxid_exhausted()
        {
            // The epoch's counter is used up (the next would be 0xffffffff):
            // a new epoch needs a new election (ZooKeeper's
            // XidRolloverException shuts the leader down).
            tracing::warn!("zxid counter exhausted in this epoch: leaving the leader role");
            let now = self.now;
            self.leave_role(now);
        }
        if let Some((first, last)) = self.pipe.seal()
            && matches!(self.role, Role::Leading(_))
        {
            self.send_proposals(first, last);
        }
        if !self.awaiting_reload()
            && let Some((first_zxid, records)) = self.pipe.next_write()
        {
            let roll = std::mem::take(&mut self.roll_before_next_write);
            self.actions.push_back(Action::AppendLog {
                first_zxid,
                records,
                txns: self.pipe.txns_in_flight(),
                roll,
            });
        }
        self.flush_peer_output();
    }

    /// Moves the packets gathered this round into actions.
    pub(super) fn flush_peer_output(&mut self) {
        for (peer, buf) in std::mem::take(&mut self.to_learners) {
            if !buf.is_empty() {
                self.actions.push_back(Action::ToLearner {
                    peer,
                    bytes: buf.freeze(),
                });
            }
        }
        if !self.to_leader.is_empty() {
            let bytes = self.to_leader.split().freeze();
            self.actions.push_back(Action::ToLeader { bytes });
        }
    }

    pub(super) fn send_to_learner(&mut self, peer: PeerId, packet: &QuorumPacket) {
        let buf = self.to_learners.entry(peer).or_default();
        let mut w = crate::proto::Writer::new(buf);
        packet.encode(&mut w);
    }

    pub(super) fn send_to_leader(&mut self, packet: &QuorumPacket) {
        let mut w = crate::proto::Writer::new(&mut self.to_leader);
        packet.encode(&mut w);
    }

    /// Whether [`Sequencer::apply`] has work: txns ready, answers to give,
    /// or clients to disconnect.
    pub fn wants_apply(&self) -> bool {
        self.close_all
            || self.pipe.front().is_some_and(|p| p.committed && p.logged)
            || self.steps.front().is_some_and(|s| match &s.kind {
                StepKind::Waiting | StepKind::SyncForwarded { .. } => false,
                StepKind::SyncAt { after, .. } => *after <= self.applied,
                _ => true,
            })
    }

    // ---- the log -----------------------------------------------------------------------

    fn log_written(&mut self, now: Now, result: std::io::Result<()>) {
        match result {
            Ok(()) => {
                let Some((first, last)) = self.pipe.written() else {
                    return;
                };
                match &mut self.role {
                    Role::Standalone => self.pipe.each_mut(first, last, |p| p.committed = true),
                    Role::Leading(_) => self.leader_logged(first, last),
                    Role::Following(_) => self.learner_logged(now, first, last),
                    Role::Looking { waiting_for_log } => {
                        if std::mem::take(waiting_for_log) {
                            self.start_looking(now);
                        }
                    }
                }
            }
            Err(e) => self.log_failed(now, e),
        }
    }

    fn log_failed(&mut self, now: Now, e: std::io::Error) {
        if let Role::Standalone = self.role {
            tracing::error!(
                "Writing the txn log failed: {e}. The writes of this batch are refused \
                 (SystemError); reads go on; writes resume once the log can be written."
            );
            // Nothing of these reached the log or another server: their
            // zxids are handed out again.
            let dropped = self.pipe.drop_unlogged();
            self.prep.rollback();
            for p in dropped {
                self.refuse_unlogged(now, p);
            }
            return;
        }
        // In an ensemble a PROPOSAL may have left with these zxids: they are
        // spent. Give up the role; the election starts from what is logged.
        tracing::error!("Writing the txn log failed: {e}; leaving the quorum role");
        self.pipe.drop_unlogged();
        if let Role::Looking { waiting_for_log } = &mut self.role {
            if std::mem::take(waiting_for_log) {
                self.start_looking(now);
            }
        } else {
            self.leave_role(now);
        }
    }

    /// The answer for a txn whose log write failed (standalone).
    fn refuse_unlogged(&mut self, now: Now, p: super::pipeline::Proposal) {
        use crate::proto::txn::Txn;
        match &p.txn {
            Txn::CreateSession { .. } => {
                self.sessions.remove(p.hdr.session_id);
                self.owners.remove(&p.hdr.session_id);
                self.local_owners.remove(&p.hdr.session_id);
                if let Origin::Step(id) = p.origin
                    && let Some(step) = self.steps.get_mut(id)
                {
                    let conn = step.conn;
                    self.steps.complete(
                        id,
                        Reply::Connected {
                            conn,
                            response: None,
                        },
                    );
                }
                return;
            }
            Txn::CloseSession { .. } => self.sessions.reopen(p.hdr.session_id, now.mono_ms),
            _ => {}
        }
        self.fail_step(p.origin, ErrorCode::SystemError);
    }

    // ---- roles --------------------------------------------------------------------------

    /// The member stops leading or following: clients go, the election
    /// starts over once nothing is in flight to the log.
    pub(super) fn leave_role(&mut self, now: Now) {
        match std::mem::replace(
            &mut self.role,
            Role::Looking {
                waiting_for_log: false,
            },
        ) {
            Role::Leading(l) => {
                self.actions.push_back(Action::ListenQuorum(false));
                for peer in l.peers() {
                    self.actions.push_back(Action::CloseLearner { peer });
                }
                self.to_learners.clear();
            }
            Role::Following(_) => {
                self.to_leader.clear();
                self.actions.push_back(Action::CloseLeader);
            }
            Role::Standalone | Role::Looking { .. } => {}
        }
        self.set_serving(None);
        self.prep.rollback();
        self.touches.clear();
        if let Some(e) = self.election.as_mut() {
            e.role_ended();
        }
        if self.pipe.write_in_flight() {
            self.role = Role::Looking {
                waiting_for_log: true,
            };
        } else {
            self.start_looking(now);
        }
    }

    /// LOOKING: what is logged is the member's history (applied before the
    /// next role, as ZooKeeper reloads its database); the vote names it.
    pub(super) fn start_looking(&mut self, now: Now) {
        self.pipe.set_log_barrier(None);
        self.pipe.drop_unlogged();
        self.pipe.commit_logged();
        self.role = Role::Looking {
            waiting_for_log: false,
        };
        self.looking_since_ms = now.mono_ms;
        let last = self.pipe.last_logged;
        let epoch = self.epochs.current;
        tracing::info!(
            "LOOKING: last logged zxid {last}, current epoch {epoch}, accepted epoch {}",
            self.epochs.accepted
        );
        if let Some(e) = self.election.as_mut() {
            e.start(now.mono_ms, last.0, epoch as i64);
        }
        self.drain_election(now);
    }

    pub(super) fn drain_election(&mut self, now: Now) {
        let Some(e) = self.election.as_mut() else {
            return;
        };
        let mut decided = None;
        while let Some(out) = e.poll_output() {
            match out {
                ElectionOutput::Send { to, msg } => {
                    self.actions.push_back(Action::Notify { to, msg });
                }
                ElectionOutput::ConnectAll => self.actions.push_back(Action::ConnectAllElection),
                ElectionOutput::Decided { state, leader, .. } => decided = Some((state, leader)),
                // `leader.maxTimeToWaitForEpoch` is not supported (off, as by default).
                ElectionOutput::VoterLooking { .. } => {}
            }
        }
        let Some((state, leader)) = decided else {
            return;
        };
        if !matches!(
            self.role,
            Role::Looking {
                waiting_for_log: false
            }
        ) {
            return;
        }
        self.last_election_ms = now.mono_ms - self.looking_since_ms;
        use crate::proto::quorum::PeerState;
        match state {
            PeerState::Leading => {
                tracing::info!("LEADING (election took {} ms)", self.last_election_ms);
                self.start_leading(now);
            }
            PeerState::Following | PeerState::Observing => {
                tracing::info!(
                    "{} leader {leader} (election took {} ms)",
                    if state == PeerState::Observing {
                        "OBSERVING"
                    } else {
                        "FOLLOWING"
                    },
                    self.last_election_ms
                );
                self.start_following(now, leader, state == PeerState::Observing);
            }
            PeerState::Looking => {}
        }
    }

    fn epoch_saved(&mut self, now: Now) {
        match self.role {
            Role::Leading(_) => self.leader_epoch_saved(now),
            Role::Following(_) => self.learner_epoch_saved(now),
            _ => {}
        }
    }

    fn reloaded(
        &mut self,
        now: Now,
        last_zxid: Zxid,
        sessions: Vec<(SessionId, i32)>,
        recent: Vec<(Zxid, Bytes)>,
    ) {
        self.pipe.reset(last_zxid);
        self.applied = last_zxid;
        self.prep = Prep::new(self.cfg.prep.clone(), last_zxid);
        let mut tracker = SessionTracker::new(self.cfg.my_id.0, self.cfg.tick_ms, now.wall_ms);
        for (id, timeout_ms) in sessions {
            tracker.add(id, timeout_ms, now.mono_ms);
        }
        self.sessions = tracker;
        self.window.clear();
        for (z, b) in recent {
            if z <= last_zxid {
                self.window.push(z, b);
            }
        }
        if matches!(self.role, Role::Following(_)) {
            self.learner_reloaded(now);
        }
    }

    pub(super) fn awaiting_reload(&self) -> bool {
        matches!(&self.role, Role::Following(f) if f.awaiting_reload())
    }

    // ---- sessions and containers (standalone, leader) -----------------------------------

    fn expire_sessions(&mut self, now: Now, tree: &DataTree) {
        while let Some(session) = self.sessions.expire_next(now.mono_ms) {
            tracing::info!("Expiring session {session}, timeout exceeded");
            self.close_session(now, tree, session, 0, Origin::Server);
        }
    }

    /// ContainerManager: empty containers that once had children, and TTL
    /// nodes past their TTL with no children, are deleted by the server
    /// (in path order, so every run makes the same txns).
    fn check_containers(&mut self, now: Now, tree: &DataTree) {
        let mut candidates: Vec<crate::proto::ZString> = Vec::new();
        for path in tree.containers() {
            if let Some(n) = tree.get(path)
                && n.children.is_empty()
                && n.cversion > 0
            {
                candidates.push(path.clone());
            }
        }
        for path in tree.ttls() {
            if let Some(n) = tree.get(path) {
                let ttl_ms = crate::tree::node::ttl_of(n.ephemeral_owner);
                if n.children.is_empty() && now.wall_ms - n.mtime > ttl_ms {
                    candidates.push(path.clone());
                }
            }
        }
        candidates.sort();
        let max = self.cfg.container_max_per_minute.max(1) as usize;
        for path in candidates.into_iter().take(max) {
            if let Prepped::Txn { hdr, txn } =
                self.prep.prep_delete_container(tree, &path, now.wall_ms)
            {
                self.propose(hdr, txn, Origin::Server);
            }
        }
    }

    /// Counts an applied txn towards the next snapshot.
    pub(super) fn count_for_snapshot(&mut self) {
        // Only committed txns may be in a snapshot: a member that is not
        // serving may be applying txns it logged but that were never
        // committed (on leaving a role), which a TRUNC may yet remove.
        if self.serving.is_none() {
            return;
        }
        self.txns_since_snapshot += 1;
        if self.txns_since_snapshot < self.snapshot_threshold {
            return;
        }
        self.txns_since_snapshot = 0;
        self.snapshot_threshold = snapshot_threshold(self.cfg.snap_count, &mut self.rng);
        self.roll_before_next_write = true;
        let mut sessions: Vec<(SessionId, i32)> =
            self.sessions.iter().map(|s| (s.id, s.timeout_ms)).collect();
        sessions.sort();
        self.actions.push_back(Action::Snapshot {
            zxid: self.applied,
            sessions,
        });
    }

    pub fn session_list(&self) -> Vec<(SessionId, i32)> {
        let mut sessions: Vec<(SessionId, i32)> =
            self.sessions.iter().map(|s| (s.id, s.timeout_ms)).collect();
        sessions.sort();
        sessions
    }

    /// What `srvr`, `stat`, `mntr` report about this member.
    pub fn view(&self) -> View {
        let quorum_size = self.cfg.ensemble.as_ref().map_or(1, |e| e.quorum_size());
        let mut v = View {
            mode: self.serving,
            peer_state: String::new(),
            leader: None,
            epoch: self.epochs.current,
            quorum_size,
            sessions: self.sessions.len(),
            last_proposed: self.pipe.last_zxid().unwrap_or(self.applied),
            election_time_ms: self.last_election_ms,
            ..View::default()
        };
        match &self.role {
            Role::Standalone => v.peer_state = "standalone".into(),
            Role::Looking { .. } => v.peer_state = "looking".into(),
            Role::Leading(l) => l.fill_view(&mut v, self.cfg.my_id),
            Role::Following(f) => f.fill_view(&mut v),
        }
        v
    }
}

/// Requests answered from the tree.
pub(super) fn is_read(r: &Request) -> bool {
    matches!(
        r,
        Request::Exists { .. }
            | Request::GetData { .. }
            | Request::GetChildren { .. }
            | Request::GetChildren2 { .. }
            | Request::GetAcl { .. }
            | Request::GetEphemerals { .. }
            | Request::GetAllChildrenNumber { .. }
            | Request::MultiRead(_)
    )
}

/// Requests that touch only the shard's state (its watch registry, the
/// connection's identity).
pub(super) fn is_shard_local(r: &Request) -> bool {
    matches!(
        r,
        Request::AddWatch { .. }
            | Request::CheckWatches { .. }
            | Request::RemoveWatches { .. }
            | Request::SetWatches(_)
            | Request::WhoAmI
    )
}

/// A packet with only a type and a zxid.
pub(super) fn op_packet(kind: PacketType, zxid: Zxid) -> QuorumPacket {
    QuorumPacket {
        kind: kind as i32,
        zxid: zxid.0,
        data: None,
        auth: None,
    }
}
