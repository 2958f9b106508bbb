//! A follower or observer (`Learner.registerWithLeader`/`syncWithLeader`,
//! `Follower.processPacket`): FOLLOWERINFO → LEADERINFO → ACKEPOCH (after
//! persisting the accepted epoch) → DIFF/TRUNC/SNAP and the txns after it →
//! NEWLEADER, acknowledged only once everything received is durable and the
//! current epoch persisted (ZooKeeper 3.9.3+'s order: ZOOKEEPER-3911,
//! -4394, -4785) → UPTODATE → broadcast: PROPOSAL logged and ACKed per zxid
//! when its write returns, COMMIT applied in order, PINGs answered with the
//! sessions touched here. Local clients' writes, session creates and closes
//! and syncs go to the leader; reads are answered here.

use super::core::{Action, Mode, Now, Role, Sequencer, View, op_packet};
use super::messages::{Reply, ShardId};
use super::prep::WriteRequest;
use super::steps::{Step, StepKind};
use crate::proto::quorum::{
    AckEpochBody, LearnerInfo, PacketType, QuorumPacket, RequestBody, RevalidateReply,
    RevalidateRequest,
};
use crate::proto::request::Request;
use crate::proto::{OpCode, SessionId, Writer, Zxid};
use crate::watch::ConnId;
use crate::zab::ServerId;
use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Connecting,
    AwaitLeaderInfo,
    SavingAccepted,
    AwaitSyncOp,
    /// DIFF/TRUNC/SNAP received; txns and NEWLEADER arriving.
    Syncing,
    SavingCurrent,
    Broadcast,
}

pub struct Following {
    pub(super) leader: ServerId,
    pub(super) observer: bool,
    phase: Phase,
    new_epoch: u32,
    /// Nothing heard from the leader by then: give up on it.
    deadline_ms: i64,
    connect_attempts: u32,
    retry_at_ms: Option<i64>,
    /// Packets that arrived while the tree is being replaced (TRUNC, SNAP).
    deferred: VecDeque<QuorumPacket>,
    reloading: bool,
    /// NEWLEADER arrived; it is acknowledged once all before it is durable.
    newleader_pending: bool,
    newleader_acked: bool,
    uptodate_pending: bool,
    /// The last proposal acknowledged.
    acked: Zxid,
    /// The zxid of the last COMMIT (a SYNC answers up to it).
    last_committed: Zxid,
}

/// Tries to reach a new leader; the leader may still be opening its port.
const CONNECT_ATTEMPTS: u32 = 5;
const FIRST_RETRY_MS: i64 = 5;

impl Following {
    pub(super) fn awaiting_reload(&self) -> bool {
        self.reloading
    }

    pub(super) fn next_deadline(&self, _cfg: &super::core::SeqConfig) -> Option<i64> {
        Some(match self.retry_at_ms {
            Some(t) => t.min(self.deadline_ms),
            None => self.deadline_ms,
        })
    }

    pub(super) fn fill_view(&self, v: &mut View) {
        let state = if self.observer {
            "observing"
        } else {
            "following"
        };
        let zab = match self.phase {
            Phase::Broadcast => "broadcast",
            Phase::Syncing | Phase::SavingCurrent | Phase::AwaitSyncOp => "synchronization",
            _ => "discovery",
        };
        v.peer_state = format!("{state} - {zab}");
        v.leader = Some(self.leader);
        v.epoch = self.new_epoch;
    }
}

impl Sequencer {
    fn following(&mut self) -> Option<&mut Following> {
        match &mut self.role {
            Role::Following(f) => Some(f),
            _ => None,
        }
    }

    pub(super) fn start_following(&mut self, now: Now, leader: ServerId, observer: bool) {
        let f = Following {
            leader,
            observer,
            phase: Phase::Connecting,
            new_epoch: 0,
            deadline_ms: now.mono_ms + self.cfg.init_limit * self.cfg.tick_ms,
            connect_attempts: 0,
            retry_at_ms: None,
            deferred: VecDeque::new(),
            reloading: false,
            newleader_pending: false,
            newleader_acked: false,
            uptodate_pending: false,
            acked: Zxid::ZERO,
            last_committed: Zxid::ZERO,
        };
        self.role = Role::Following(Box::new(f));
        self.connect_leader();
    }

    fn connect_leader(&mut self) {
        let Some(f) = self.following() else { return };
        let leader = f.leader;
        let Some(m) = self.cfg.ensemble.as_ref().and_then(|e| e.member(leader)) else {
            return;
        };
        let (host, port) = (m.quorum_host.clone(), m.quorum_port);
        self.actions.push_back(Action::ConnectLeader {
            sid: leader,
            host,
            port,
        });
    }

    pub(super) fn leader_connect_failed(&mut self, now: Now) {
        let max_ms = self.cfg.leader_connect_retry_ms.max(FIRST_RETRY_MS);
        let Some(f) = self.following() else { return };
        f.connect_attempts += 1;
        if f.connect_attempts >= CONNECT_ATTEMPTS {
            tracing::warn!("Could not reach leader {}; looking again", f.leader);
            return self.leave_role(now);
        }
        // Quick at first (the leader opens its port as it decides), then at
        // ZooKeeper's pace (leaderConnectDelayDuringRetryMs).
        let delay = (FIRST_RETRY_MS << (f.connect_attempts - 1)).min(max_ms);
        f.retry_at_ms = Some(now.mono_ms + delay);
    }

    pub(super) fn leader_connected(&mut self, now: Now) {
        let init_ms = self.cfg.init_limit * self.cfg.tick_ms;
        let accepted = self.epochs.accepted;
        let me = self.cfg.my_id;
        let version = self.cfg.ensemble.as_ref().map_or(0, |e| e.version);
        let Some(f) = self.following() else { return };
        if f.phase != Phase::Connecting {
            return;
        }
        f.phase = Phase::AwaitLeaderInfo;
        f.deadline_ms = now.mono_ms + init_ms;
        let kind = if f.observer {
            PacketType::ObserverInfo
        } else {
            PacketType::FollowerInfo
        };
        let info = LearnerInfo::new(me.0 as i64, version);
        self.send_to_leader(&QuorumPacket {
            kind: kind as i32,
            zxid: Zxid::new(accepted, 0).0,
            data: Some(info.encode()),
            auth: None,
        });
    }

    pub(super) fn learner_tick(&mut self, now: Now) {
        let Some(f) = self.following() else { return };
        if f.retry_at_ms.is_some_and(|t| t <= now.mono_ms) {
            f.retry_at_ms = None;
            self.connect_leader();
            return;
        }
        if now.mono_ms >= f.deadline_ms {
            tracing::warn!(
                "No word from leader {} within the {} limit; looking again",
                f.leader,
                if f.phase == Phase::Broadcast {
                    "sync"
                } else {
                    "init"
                }
            );
            self.leave_role(now);
        }
    }

    pub(super) fn leader_packet(&mut self, now: Now, packet: QuorumPacket) {
        let sync_ms = self.cfg.sync_limit * self.cfg.tick_ms;
        let init_ms = self.cfg.init_limit * self.cfg.tick_ms;
        let Some(f) = self.following() else { return };
        f.deadline_ms = now.mono_ms
            + if f.phase == Phase::Broadcast {
                sync_ms
            } else {
                init_ms
            };
        if f.reloading {
            f.deferred.push_back(packet);
            return;
        }
        if let Err(why) = self.learner_step(now, packet) {
            tracing::error!("Leaving the leader: {why}");
            self.leave_role(now);
        }
    }

    fn learner_step(&mut self, now: Now, packet: QuorumPacket) -> Result<(), String> {
        let kind = PacketType::from_i32(packet.kind)
            .ok_or_else(|| format!("unknown packet type {}", packet.kind))?;
        let f = self.following().ok_or("not following")?;
        match (f.phase, kind) {
            (Phase::AwaitLeaderInfo, PacketType::LeaderInfo) => self.leader_info(&packet),
            (Phase::AwaitLeaderInfo, other) => Err(format!("expected LEADERINFO, got {other:?}")),
            (Phase::AwaitSyncOp, op) => self.sync_op(op, Zxid(packet.zxid)),
            (
                Phase::Syncing | Phase::SavingCurrent | Phase::Broadcast,
                PacketType::Proposal | PacketType::Inform,
            ) => self.learner_proposal(&packet, kind == PacketType::Inform),
            (Phase::Syncing | Phase::SavingCurrent | Phase::Broadcast, PacketType::Commit) => {
                self.learner_commit(Zxid(packet.zxid))
            }
            (Phase::Syncing, PacketType::NewLeader) => self.new_leader(Zxid(packet.zxid)),
            (Phase::Syncing | Phase::SavingCurrent, PacketType::UpToDate) => {
                if f.newleader_acked {
                    self.go_broadcast(now);
                } else {
                    f.uptodate_pending = true;
                }
                Ok(())
            }
            // ZooKeeper's learner ignores PINGs until it is up to date.
            (Phase::Syncing | Phase::SavingCurrent, PacketType::Ping) => Ok(()),
            (Phase::Broadcast, PacketType::Ping) => {
                self.answer_ping(&packet);
                Ok(())
            }
            (Phase::Broadcast, PacketType::Sync) => {
                self.leader_synced();
                Ok(())
            }
            (Phase::Broadcast, PacketType::Revalidate) => {
                self.revalidated(&packet);
                Ok(())
            }
            (_, other) => Err(format!("unexpected {other:?} in phase {:?}", f.phase)),
        }
    }

    /// DIFF, TRUNC or SNAP: how the leader brings us up to date.
    fn sync_op(&mut self, op: PacketType, zxid: Zxid) -> Result<(), String> {
        let f = self.following().ok_or("not following")?;
        match op {
            PacketType::Diff => {
                f.phase = Phase::Syncing;
                tracing::info!("Getting a diff from the leader {zxid}");
            }
            PacketType::Trunc => {
                // Nothing is in flight to the log (LOOKING waited for it); the
                // glue cuts the log and reloads the tree, replacing whatever
                // of our history was still waiting to be applied.
                f.phase = Phase::Syncing;
                f.reloading = true;
                tracing::warn!("Truncating log to get in sync with the leader {zxid}");
                self.actions.push_back(Action::Truncate { zxid });
            }
            PacketType::Snap => {
                // The glue receives the stream that follows and answers with
                // `Reloaded` once the snapshot is durable and loaded.
                f.phase = Phase::Syncing;
                f.reloading = true;
                tracing::info!("Getting a snapshot from leader {zxid}");
            }
            other => return Err(format!("expected DIFF/TRUNC/SNAP, got {other:?}")),
        }
        Ok(())
    }

    /// NEWLEADER: the leader's history is ours now. Its epoch becomes our
    /// current one (then its txns may be logged), and the ACK waits until
    /// all received before NEWLEADER is durable.
    fn new_leader(&mut self, zxid: Zxid) -> Result<(), String> {
        let f = self.following().ok_or("not following")?;
        let epoch = zxid.epoch();
        if epoch != f.new_epoch {
            return Err(format!(
                "NEWLEADER for epoch {epoch}, but LEADERINFO said {}",
                f.new_epoch
            ));
        }
        f.newleader_pending = true;
        f.phase = Phase::SavingCurrent;
        self.actions.push_back(Action::SaveEpoch {
            accepted: None,
            current: Some(epoch),
        });
        Ok(())
    }

    /// The leader's SYNC answers our oldest forwarded sync: it is answered
    /// once everything committed before the SYNC is applied here.
    fn leader_synced(&mut self) {
        let Some(last) = self.following().map(|f| f.last_committed) else {
            return;
        };
        if let Some(id) = self.steps.syncs.pop_front()
            && let Some(step) = self.steps.get_mut(id)
            && let StepKind::SyncForwarded { path } = &step.kind
        {
            step.kind = StepKind::SyncAt {
                after: last,
                path: path.clone(),
            };
        }
    }

    fn leader_info(&mut self, packet: &QuorumPacket) -> Result<(), String> {
        let new_epoch = Zxid(packet.zxid).epoch();
        let accepted = self.epochs.accepted;
        let f = self.following().ok_or("not following")?;
        f.new_epoch = new_epoch;
        if new_epoch < accepted {
            return Err(format!(
                "leader proposed epoch {new_epoch}, older than our accepted epoch {accepted}"
            ));
        }
        if new_epoch > accepted {
            f.phase = Phase::SavingAccepted;
            self.actions.push_back(Action::SaveEpoch {
                accepted: Some(new_epoch),
                current: None,
            });
        } else {
            f.phase = Phase::AwaitSyncOp;
            self.send_ack_epoch(-1);
        }
        Ok(())
    }

    fn send_ack_epoch(&mut self, current: i32) {
        if let Some(epoch) = self.following().map(|f| f.new_epoch) {
            self.pipe.set_log_barrier(Some(epoch));
        }
        let last = self.pipe.last_logged;
        self.send_to_leader(&QuorumPacket {
            kind: PacketType::AckEpoch as i32,
            zxid: last.0,
            data: Some(
                AckEpochBody {
                    current_epoch: current,
                }
                .encode(),
            ),
            auth: None,
        });
    }

    pub(super) fn learner_epoch_saved(&mut self, now: Now) {
        let current = self.epochs.current;
        let Some(f) = self.following() else { return };
        match f.phase {
            Phase::SavingAccepted => {
                let epoch = f.new_epoch;
                f.phase = Phase::AwaitSyncOp;
                self.epochs.accepted = epoch;
                self.send_ack_epoch(current as i32);
            }
            Phase::SavingCurrent => {
                let epoch = f.new_epoch;
                f.phase = Phase::Syncing;
                self.epochs.current = epoch;
                self.pipe.set_log_barrier(None);
                self.maybe_ack_newleader(now);
            }
            _ => {}
        }
    }

    /// ACKs every logged proposal not acknowledged yet, committed or not, in
    /// order (followers only): a Java leader times a learner out when the
    /// ACK of a PROPOSAL it is tracking never comes (`SyncLimitCheck`).
    fn ack_logged(&mut self) {
        let Some(f) = self.following() else { return };
        if f.observer || !f.newleader_acked {
            return;
        }
        let from = f.acked;
        let to_ack: Vec<Zxid> = self
            .pipe
            .iter()
            .filter(|p| p.logged && p.zxid() > from)
            .map(|p| p.zxid())
            .collect();
        let last_logged = self.pipe.last_logged;
        for z in &to_ack {
            self.send_to_leader(&op_packet(PacketType::Ack, *z));
        }
        if let Some(f) = self.following() {
            f.acked = f.acked.max(last_logged);
        }
    }

    /// NEWLEADER is acknowledged once its epoch is our current one and
    /// every txn received before it is durable (ZooKeeper 3.9.3+'s order;
    /// ZOOKEEPER-3911, -4785, -3642).
    fn maybe_ack_newleader(&mut self, now: Now) {
        let all_logged = !self.pipe.write_in_flight() && self.pipe.iter().all(|p| p.logged);
        let Some(f) = self.following() else { return };
        if !f.newleader_pending || f.phase != Phase::Syncing || !all_logged {
            return;
        }
        f.newleader_pending = false;
        f.newleader_acked = true;
        let epoch = f.new_epoch;
        self.send_to_leader(&op_packet(PacketType::Ack, Zxid::new(epoch, 0)));
        // Proposals logged during the sync are acknowledged after NEWLEADER's
        // ACK: a Java leader reads that one first.
        self.ack_logged();
        if self.following().is_some_and(|f| f.uptodate_pending) {
            self.go_broadcast(now);
        }
    }

    fn go_broadcast(&mut self, now: Now) {
        let sync_ms = self.cfg.sync_limit * self.cfg.tick_ms;
        let Some(f) = self.following() else { return };
        let epoch = f.new_epoch;
        let observer = f.observer;
        f.phase = Phase::Broadcast;
        f.uptodate_pending = false;
        f.deadline_ms = now.mono_ms + sync_ms;
        self.send_to_leader(&op_packet(PacketType::Ack, Zxid::new(epoch, 0)));
        if let Some(e) = self.election.as_mut() {
            e.update_vote_epoch(epoch as i64);
        }
        tracing::info!("Up to date with the leader in epoch {epoch}: serving");
        self.set_serving(Some(if observer {
            Mode::Observer
        } else {
            Mode::Follower
        }));
    }

    fn learner_proposal(&mut self, packet: &QuorumPacket, committed: bool) -> Result<(), String> {
        let data = packet.data.clone().ok_or("PROPOSAL without data")?;
        let (hdr, txn, _digest) = crate::storage::format::decode_txn(data.clone())
            .map_err(|e| format!("undecodable PROPOSAL 0x{:x}: {e}", packet.zxid))?;
        if hdr.zxid.0 != packet.zxid {
            return Err(format!(
                "PROPOSAL 0x{:x} carries a txn of {}",
                packet.zxid, hdr.zxid
            ));
        }
        let last = self.pipe.last_zxid().unwrap_or(self.pipe.last_logged);
        if hdr.zxid <= last {
            tracing::warn!("Ignoring PROPOSAL {} at or below {last}", hdr.zxid);
            return Ok(());
        }
        if hdr.zxid.epoch() == last.epoch() && hdr.zxid.0 != last.0 + 1 {
            return Err(format!("PROPOSAL {} does not follow {last}", hdr.zxid));
        }
        self.pipe.push_received(hdr, txn, data, committed);
        if committed && let Some(f) = self.following() {
            f.last_committed = f.last_committed.max(hdr.zxid);
        }
        Ok(())
    }

    fn learner_commit(&mut self, zxid: Zxid) -> Result<(), String> {
        if zxid <= self.applied {
            return Ok(());
        }
        if self.pipe.get_mut(zxid).is_none() {
            return Err(format!("COMMIT {zxid} for a txn we never got"));
        }
        // Commits come in order: everything before is committed too.
        self.pipe.each_mut(Zxid::ZERO, zxid, |p| p.committed = true);
        if let Some(f) = self.following() {
            f.last_committed = f.last_committed.max(zxid);
        }
        Ok(())
    }

    /// Our log write returned: ACK its proposals (after NEWLEADER's ACK).
    pub(super) fn learner_logged(&mut self, now: Now, _first: Zxid, _last: Zxid) {
        self.ack_logged();
        self.maybe_ack_newleader(now);
    }

    pub(super) fn learner_reloaded(&mut self, now: Now) {
        let Some(f) = self.following() else { return };
        f.reloading = false;
        let epoch = f.new_epoch;
        self.pipe.set_log_barrier(Some(epoch));
        let Some(f) = self.following() else { return };
        let deferred: Vec<QuorumPacket> = f.deferred.drain(..).collect();
        for packet in deferred {
            self.leader_packet(now, packet);
            if !matches!(self.role, Role::Following(_)) {
                return;
            }
        }
    }

    fn answer_ping(&mut self, packet: &QuorumPacket) {
        let touches: Vec<(SessionId, i32)> =
            std::mem::take(&mut self.touches).into_iter().collect();
        self.send_to_leader(&QuorumPacket {
            kind: PacketType::Ping as i32,
            zxid: packet.zxid,
            data: Some(crate::proto::quorum::encode_ping_touches(&touches)),
            auth: packet.auth.clone(),
        });
    }

    fn revalidated(&mut self, packet: &QuorumPacket) {
        let Ok(RevalidateReply {
            session_id: session,
            valid,
        }) = RevalidateReply::decode(packet.data.as_deref().unwrap_or_default())
        else {
            tracing::warn!("Malformed REVALIDATE reply from the leader");
            return;
        };
        let Some(pos) = self
            .steps
            .revalidating
            .iter()
            .position(|(_, s)| *s == session)
        else {
            return;
        };
        let Some((id, _)) = self.steps.revalidating.remove(pos) else {
            return;
        };
        let timeout_ms = self.sessions.get(session).map(|s| s.timeout_ms);
        let Some(step) = self.steps.get_mut(id) else {
            return;
        };
        let (shard, conn) = (step.shard, step.conn);
        let response = match (valid, timeout_ms) {
            (true, Some(t)) => {
                self.local_owners.insert(session, (shard, conn));
                self.touches.insert(session, t);
                Some(super::core::connect_response(session, t))
            }
            _ => None,
        };
        self.steps.complete(id, Reply::Connected { conn, response });
    }

    // ---- local clients ------------------------------------------------------------------

    /// A request of a client of this learner: reads here, the rest to the leader.
    pub(super) fn learner_request(
        &mut self,
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
            Request::Sync { path } => {
                let path = path.clone();
                self.forward(&req);
                let id = self.steps.push(step(StepKind::SyncForwarded { path }));
                self.steps.syncs.push_back(id);
            }
            r if super::core::is_read(r) => {
                self.steps.push(step(StepKind::Read(req)));
            }
            r if super::core::is_shard_local(r) => {
                self.steps.push(step(StepKind::Local(req.request)));
            }
            _ => {
                self.forward(&req);
                let id = self.steps.push(step(StepKind::Waiting));
                self.steps.forwarded.push_back((id, req.session, xid));
            }
        }
    }

    /// REQUEST: the client's request as ZooKeeper forwards it, with the
    /// connection's identities for the leader's ACL checks.
    fn forward(&mut self, req: &WriteRequest) {
        let mut body = BytesMut::new();
        crate::proto::request::encode_request(&mut Writer::new(&mut body), &req.request);
        self.send_request(
            req.session,
            req.cxid,
            req.request.op(),
            body.freeze(),
            req.auth.ids.clone(),
        );
    }

    fn send_request(
        &mut self,
        session: SessionId,
        cxid: i32,
        op: OpCode,
        body: Bytes,
        auth: Vec<crate::proto::Id>,
    ) {
        let data = RequestBody {
            session_id: session,
            cxid,
            op: op.as_i32(),
            body,
        }
        .encode();
        self.send_to_leader(&QuorumPacket {
            kind: PacketType::Request as i32,
            zxid: -1,
            data: Some(data),
            auth: Some(auth),
        });
    }

    /// A new session: this member picks the id (its own in the top byte)
    /// and the leader makes the txn.
    pub(super) fn learner_create_session(&mut self, shard: ShardId, conn: ConnId, timeout_ms: i32) {
        let session = self.sessions.next_id();
        self.send_request(
            session,
            0,
            OpCode::CreateSession,
            Bytes::copy_from_slice(&timeout_ms.to_be_bytes()),
            Vec::new(),
        );
        let id = self.steps.push(Step {
            shard,
            conn,
            xid: 0,
            kind: StepKind::Waiting,
        });
        self.steps.forwarded.push_back((id, session, 0));
    }

    /// A client reattaching here: the password is checked locally, the
    /// session's life by the leader (REVALIDATE).
    pub(super) fn learner_reattach(
        &mut self,
        shard: ShardId,
        conn: ConnId,
        session: SessionId,
        passwd: Bytes,
        timeout_ms: i32,
    ) {
        if !crate::session::check_password(session, &passwd) {
            tracing::info!("Invalid password for session {session}");
            self.steps.push(Step {
                shard,
                conn,
                xid: 0,
                kind: StepKind::Ready(Reply::Connected {
                    conn,
                    response: None,
                }),
            });
            return;
        }
        self.send_to_leader(&QuorumPacket {
            kind: PacketType::Revalidate as i32,
            zxid: -1,
            data: Some(
                RevalidateRequest {
                    session_id: session,
                    timeout_ms,
                }
                .encode(),
            ),
            auth: None,
        });
        let id = self.steps.push(Step {
            shard,
            conn,
            xid: 0,
            kind: StepKind::Waiting,
        });
        self.steps.revalidating.push_back((id, session));
    }
}
