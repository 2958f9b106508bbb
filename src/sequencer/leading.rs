//! The leader (`Leader.lead`, `LearnerHandler.run`): discovery of the new
//! epoch from its learners' accepted epochs, syncing each learner by DIFF,
//! TRUNC or SNAP, NEWLEADER/UPTODATE, then broadcast — a PROPOSAL per txn
//! while the leader's own log write is in flight (its completion is the
//! leader's ack), an ACK per zxid per follower, COMMIT strictly in order,
//! INFORM for observers, PINGs carrying session touches back, REVALIDATE,
//! SYNC, and learners' forwarded REQUESTs prepped like local writes.

use super::core::{
    Action, Mode, Now, Owner, PeerId, ProposalSizes, Role, Sequencer, View, op_packet,
};
use super::pipeline::Origin;
use super::prep::{Prep, Prepped, WriteRequest};
use crate::proto::quorum::{
    AckEpochBody, LeaderInfoBody, LearnerInfo, PacketType, QuorumPacket, RequestBody,
    RevalidateReply, RevalidateRequest, ZAB_PROTOCOL_VERSION,
};
use crate::proto::request::Request;
use crate::proto::{ErrorCode, OpCode, Reader, SessionId, Zxid};
use crate::tree::{AuthContext, DataTree};
use crate::zab::ServerId;
use crate::zab::quorum::AckSet;
use crate::zab::sync::{self, SyncOp};
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for a quorum of voters to report their accepted epochs.
    Discovery,
    SavingAccepted,
    /// LEADERINFO sent; waiting for a quorum of ACKEPOCHs.
    EpochAck,
    SavingCurrent,
    /// Learners being synced; waiting for a quorum of NEWLEADER acks.
    Sync,
    Broadcast,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum PeerPhase {
    AwaitInfo,
    /// Its FOLLOWERINFO arrived; the epoch is not fixed yet.
    AwaitLeaderInfo,
    AwaitAckEpoch,
    /// Its ACKEPOCH arrived; waiting for the epoch quorum (or our history).
    AwaitSync,
    AwaitNewLeaderAck,
    /// Acked NEWLEADER before the quorum did: UPTODATE comes at start.
    AwaitStart,
    Broadcast,
}

struct Peer {
    sid: ServerId,
    observer: bool,
    phase: PeerPhase,
    accepted_epoch: u32,
    /// The ACKEPOCH: its last logged zxid and current epoch (-1: no ack).
    last_zxid: Zxid,
    current_epoch: i64,
    /// Gets PROPOSALs / COMMITs / INFORMs (from its sync on).
    forwarding: bool,
    /// Closed if nothing is heard from it by then (sync limit).
    deadline_ms: i64,
    /// PROPOSALs sent since its NEWLEADER ACK and not yet acknowledged, with
    /// when they were sent: a follower that stops acknowledging is closed
    /// after the sync limit (`SyncLimitCheck`), and resyncs.
    unacked: std::collections::VecDeque<(Zxid, i64)>,
}

pub struct Leading {
    pub(super) epoch: u32,
    phase: Phase,
    peers: BTreeMap<PeerId, Peer>,
    connecting: AckSet,
    epoch_acks: AckSet,
    newleader_acks: AckSet,
    phase_deadline_ms: i64,
    next_ping_ms: i64,
    next_check_ms: i64,
    /// Learners' syncs answered once this zxid is committed.
    pending_syncs: BTreeMap<Zxid, Vec<PeerId>>,
    last_committed: Zxid,
}

impl Leading {
    pub fn is_broadcasting(&self) -> bool {
        self.phase == Phase::Broadcast
    }

    pub(super) fn peers(&self) -> Vec<PeerId> {
        self.peers.keys().copied().collect()
    }

    pub(super) fn next_deadline(&self) -> Option<i64> {
        Some(if self.phase == Phase::Broadcast {
            self.next_ping_ms.min(self.next_check_ms)
        } else {
            self.phase_deadline_ms
        })
    }

    pub(super) fn fill_view(&self, v: &mut View, _me: ServerId) {
        v.peer_state = match self.phase {
            Phase::Broadcast => "leading - broadcast",
            Phase::Sync => "leading - synchronization",
            _ => "leading - discovery",
        }
        .into();
        v.epoch = self.epoch;
        v.learners = self.peers.len();
        for p in self.peers.values() {
            if p.phase == PeerPhase::Broadcast {
                if p.observer {
                    v.synced_observers += 1;
                } else {
                    v.synced_followers += 1;
                }
            }
        }
        v.pending_syncs = self.pending_syncs.values().map(Vec::len).sum();
    }
}

impl Sequencer {
    fn leading(&mut self) -> Option<&mut Leading> {
        match &mut self.role {
            Role::Leading(l) => Some(l),
            _ => None,
        }
    }

    fn limit_ms(&self, ticks: i64) -> i64 {
        ticks * self.cfg.tick_ms
    }

    pub(super) fn start_leading(&mut self, now: Now) {
        let mut connecting = AckSet::default();
        connecting.insert(self.cfg.my_id);
        let l = Leading {
            epoch: self.epochs.accepted + 1,
            phase: Phase::Discovery,
            peers: BTreeMap::new(),
            connecting,
            epoch_acks: AckSet::default(),
            newleader_acks: AckSet::default(),
            phase_deadline_ms: now.mono_ms + self.limit_ms(self.cfg.init_limit),
            next_ping_ms: 0,
            next_check_ms: 0,
            pending_syncs: BTreeMap::new(),
            last_committed: Zxid::ZERO,
        };
        self.role = Role::Leading(Box::new(l));
        self.actions.push_back(Action::ListenQuorum(true));
        self.maybe_fix_epoch(now);
    }

    fn is_quorum(&self, acks: &AckSet) -> bool {
        self.cfg
            .ensemble
            .as_ref()
            .is_some_and(|e| e.is_quorum(acks))
    }

    fn is_voter(&self, sid: ServerId) -> bool {
        self.cfg.ensemble.as_ref().is_some_and(|e| e.is_voter(sid))
    }

    /// Discovery ends once the voters that joined (the leader included) are
    /// a quorum: the epoch is fixed, persisted as accepted, and announced.
    fn maybe_fix_epoch(&mut self, now: Now) {
        let Some(l) = self.leading() else { return };
        if l.phase != Phase::Discovery {
            return;
        }
        let connecting = l.connecting;
        if !self.is_quorum(&connecting) {
            return;
        }
        let l = self.leading().expect("leading");
        l.phase = Phase::SavingAccepted;
        let epoch = l.epoch;
        tracing::info!("New epoch {epoch}: a quorum of voters joined");
        self.actions.push_back(Action::SaveEpoch {
            accepted: Some(epoch),
            current: None,
        });
        let _ = now;
    }

    pub(super) fn leader_epoch_saved(&mut self, now: Now) {
        let tick = self.cfg.tick_ms;
        let init = self.cfg.init_limit;
        let Some(l) = self.leading() else { return };
        match l.phase {
            Phase::SavingAccepted => {
                let epoch = l.epoch;
                l.phase = Phase::EpochAck;
                l.phase_deadline_ms = now.mono_ms + init * tick;
                self.epochs.accepted = epoch;
                let waiting: Vec<PeerId> = self
                    .leading()
                    .expect("leading")
                    .peers
                    .iter()
                    .filter(|(_, p)| p.phase == PeerPhase::AwaitLeaderInfo)
                    .map(|(id, _)| *id)
                    .collect();
                for peer in waiting {
                    self.send_leader_info(peer);
                }
                self.maybe_epoch_quorum();
            }
            Phase::SavingCurrent => {
                let epoch = l.epoch;
                l.phase = Phase::Sync;
                l.phase_deadline_ms = now.mono_ms + init * tick;
                self.epochs.current = epoch;
                let mut me = AckSet::default();
                me.insert(self.cfg.my_id);
                self.leading().expect("leading").newleader_acks = me;
                self.sync_waiting_peers();
                self.maybe_start_broadcast(now);
            }
            _ => {}
        }
    }

    fn send_leader_info(&mut self, peer: PeerId) {
        let Some(l) = self.leading() else { return };
        let epoch = l.epoch;
        if let Some(p) = l.peers.get_mut(&peer) {
            p.phase = PeerPhase::AwaitAckEpoch;
        }
        let packet = QuorumPacket {
            kind: PacketType::LeaderInfo as i32,
            zxid: Zxid::new(epoch, 0).0,
            data: Some(
                LeaderInfoBody {
                    protocol_version: ZAB_PROTOCOL_VERSION,
                }
                .encode(),
            ),
            auth: None,
        };
        self.send_to_learner(peer, &packet);
    }

    /// The epoch is established once a quorum of voters (the leader
    /// included) acknowledged it: the leader persists it as current.
    fn maybe_epoch_quorum(&mut self) {
        let me = self.cfg.my_id;
        let Some(l) = self.leading() else { return };
        if l.phase != Phase::EpochAck {
            return;
        }
        let mut acks = l.epoch_acks;
        acks.insert(me);
        if !self.is_quorum(&acks) {
            return;
        }
        let l = self.leading().expect("leading");
        l.phase = Phase::SavingCurrent;
        let epoch = l.epoch;
        self.actions.push_back(Action::SaveEpoch {
            accepted: None,
            current: Some(epoch),
        });
    }

    pub(super) fn learner_connected(&mut self, now: Now, peer: PeerId) {
        let deadline_ms = now.mono_ms + self.limit_ms(self.cfg.init_limit + self.cfg.sync_limit);
        let Some(l) = self.leading() else {
            self.actions.push_back(Action::CloseLearner { peer });
            return;
        };
        l.peers.insert(
            peer,
            Peer {
                sid: ServerId(0),
                observer: false,
                phase: PeerPhase::AwaitInfo,
                accepted_epoch: 0,
                last_zxid: Zxid::ZERO,
                current_epoch: -1,
                forwarding: false,
                deadline_ms,
                unacked: std::collections::VecDeque::new(),
            },
        );
    }

    pub(super) fn learner_closed(&mut self, _now: Now, peer: PeerId) {
        let Some(l) = self.leading() else { return };
        if let Some(p) = l.peers.remove(&peer) {
            tracing::info!("Learner {} (connection {peer}) went away", p.sid);
        }
        for waiting in l.pending_syncs.values_mut() {
            waiting.retain(|p| *p != peer);
        }
        self.to_learners.remove(&peer);
    }

    fn drop_learner(&mut self, peer: PeerId, why: &str) {
        tracing::warn!("Closing learner connection {peer}: {why}");
        self.learner_closed(
            Now {
                mono_ms: 0,
                wall_ms: 0,
            },
            peer,
        );
        self.actions.push_back(Action::CloseLearner { peer });
    }

    pub(super) fn learner_packet(
        &mut self,
        now: Now,
        tree: &DataTree,
        peer: PeerId,
        packet: QuorumPacket,
    ) {
        let sync_ms = self.limit_ms(self.cfg.sync_limit);
        let Some(l) = self.leading() else { return };
        let Some(p) = l.peers.get_mut(&peer) else {
            return;
        };
        let phase = p.phase;
        if phase >= PeerPhase::AwaitNewLeaderAck {
            p.deadline_ms = p.deadline_ms.max(now.mono_ms + sync_ms);
        }
        let Some(kind) = PacketType::from_i32(packet.kind) else {
            return self.drop_learner(peer, &format!("unknown packet type {}", packet.kind));
        };
        match (phase, kind) {
            (PeerPhase::AwaitInfo, PacketType::FollowerInfo | PacketType::ObserverInfo) => {
                self.learner_info(now, peer, kind == PacketType::ObserverInfo, &packet)
            }
            (PeerPhase::AwaitInfo, _) => {
                self.drop_learner(peer, "first packet is not FOLLOWERINFO/OBSERVERINFO")
            }
            (PeerPhase::AwaitAckEpoch, PacketType::AckEpoch) => self.ack_epoch(peer, &packet),
            (PeerPhase::AwaitAckEpoch | PeerPhase::AwaitLeaderInfo, _) => {
                self.drop_learner(peer, "expected ACKEPOCH")
            }
            (_, PacketType::Ack) => self.learner_ack(now, peer, Zxid(packet.zxid)),
            (_, PacketType::Ping) => {
                let touches = packet
                    .data
                    .as_deref()
                    .map(crate::proto::quorum::decode_ping_touches)
                    .and_then(Result::ok)
                    .unwrap_or_default();
                for (session, _timeout) in touches {
                    self.sessions.touch(session, now.mono_ms);
                }
            }
            (_, PacketType::Revalidate) => self.revalidate(now, peer, &packet),
            (_, PacketType::Request) => self.forwarded_request(now, tree, peer, &packet),
            (_, other) => tracing::warn!("Unexpected packet {other:?} from learner {peer}"),
        }
    }

    fn learner_info(&mut self, now: Now, peer: PeerId, observer: bool, packet: &QuorumPacket) {
        let info = LearnerInfo::decode(packet.data.as_deref().unwrap_or_default());
        let sid = ServerId(info.sid.max(0) as u64);
        let accepted = Zxid(packet.zxid).epoch();
        let our_version = self.cfg.ensemble.as_ref().map_or(0, |e| e.version);
        if info.config_version > our_version {
            return self.drop_learner(peer, "its configuration is newer than ours");
        }
        let voter = !observer && self.is_voter(sid);
        let Some(l) = self.leading() else { return };
        let Some(p) = l.peers.get_mut(&peer) else {
            return;
        };
        p.sid = sid;
        p.observer = observer || !voter;
        p.accepted_epoch = accepted;
        p.phase = PeerPhase::AwaitLeaderInfo;
        tracing::info!(
            "Learner {sid} ({}) joined, accepted epoch {accepted}",
            if observer { "observer" } else { "follower" }
        );
        match l.phase {
            Phase::Discovery => {
                if accepted >= l.epoch {
                    l.epoch = accepted + 1;
                }
                if voter {
                    l.connecting.insert(sid);
                }
                self.maybe_fix_epoch(now);
            }
            Phase::SavingAccepted => {}
            _ => self.send_leader_info(peer),
        }
    }

    fn ack_epoch(&mut self, peer: PeerId, packet: &QuorumPacket) {
        let current = AckEpochBody::decode(packet.data.as_deref().unwrap_or_default())
            .map_or(-1, |b| b.current_epoch as i64);
        let last_zxid = Zxid(packet.zxid);
        let ours = (self.epochs.current as i64, self.pipe.last_logged);
        let Some(l) = self.leading() else { return };
        let Some(p) = l.peers.get_mut(&peer) else {
            return;
        };
        p.current_epoch = current;
        p.last_zxid = last_zxid;
        p.phase = PeerPhase::AwaitSync;
        let (sid, observer) = (p.sid, p.observer);
        if l.phase == Phase::EpochAck && current != -1 && (current, last_zxid) > ours {
            return self.drop_learner(
                peer,
                &format!(
                    "follower is ahead of the leader: its epoch {current} and zxid {last_zxid}, \
                     ours {} and {}",
                    ours.0, ours.1
                ),
            );
        }
        if l.phase == Phase::EpochAck && current != -1 && !observer {
            l.epoch_acks.insert(sid);
        }
        match l.phase {
            Phase::EpochAck => self.maybe_epoch_quorum(),
            Phase::Sync | Phase::Broadcast => self.sync_peer(peer),
            _ => {}
        }
    }

    /// Syncs every learner whose ACKEPOCH is in, once our own history is
    /// applied (the window must hold it).
    fn sync_waiting_peers(&mut self) {
        let Some(l) = self.leading() else { return };
        if !matches!(l.phase, Phase::Sync | Phase::Broadcast) {
            return;
        }
        let waiting: Vec<PeerId> = l
            .peers
            .iter()
            .filter(|(_, p)| p.phase == PeerPhase::AwaitSync)
            .map(|(id, _)| *id)
            .collect();
        for peer in waiting {
            self.sync_peer(peer);
        }
    }

    /// After an apply: learners that waited for our old history to be
    /// applied can be synced now.
    pub(super) fn leader_applied(&mut self) {
        self.sync_waiting_peers();
    }

    /// DIFF, TRUNC or SNAP, then every committed txn after it, then
    /// NEWLEADER, then the txns proposed but not committed yet.
    fn sync_peer(&mut self, peer: PeerId) {
        let Some(l) = self.leading() else { return };
        let epoch = l.epoch;
        // Txns of the last epoch still waiting to be applied must reach the
        // window first (see `start_looking`).
        if self.pipe.front().is_some_and(|p| p.zxid().epoch() < epoch) {
            return;
        }
        let Some(p) = self.leading().and_then(|l| l.peers.get(&peer)) else {
            return;
        };
        let (peer_zxid, observer, sid) = (p.last_zxid, p.observer, p.sid);
        let plan = sync::choose(
            peer_zxid,
            self.applied,
            &self.window,
            self.cfg.force_snapshot_sync,
        );
        tracing::info!("Syncing learner {sid} (last zxid {peer_zxid}) with {plan:?}");
        self.send_sync_op(peer, plan.op);
        let uncommitted = self.send_history(peer, plan, observer);
        let config = self
            .cfg
            .ensemble
            .as_ref()
            .map(|e| e.config_text.clone())
            .unwrap_or_default();
        let newleader = QuorumPacket {
            kind: PacketType::NewLeader as i32,
            zxid: Zxid::new(epoch, 0).0,
            data: Some(config),
            auth: None,
        };
        self.send_to_learner(peer, &newleader);
        // After NEWLEADER, so that their COMMITs follow their PROPOSALs on
        // the same side of it: ZooKeeper 3.8's learner forgets at NEWLEADER
        // the PROPOSALs it received before it and fails the sync on a
        // COMMIT it cannot match (ZOOKEEPER-4394). ZooKeeper's own leader
        // sends them before NEWLEADER (`startForwarding`) and hits that.
        for (z, bytes) in uncommitted {
            self.send_to_learner(peer, &proposal_packet(PacketType::Proposal, z, bytes));
        }
        if let Some(p) = self.leading().and_then(|l| l.peers.get_mut(&peer)) {
            p.forwarding = true;
            p.phase = PeerPhase::AwaitNewLeaderAck;
        }
    }

    /// The packet that opens a sync; for a SNAP, the stream right after it.
    fn send_sync_op(&mut self, peer: PeerId, op: SyncOp) {
        match op {
            SyncOp::Diff(z) => self.send_to_learner(peer, &op_packet(PacketType::Diff, z)),
            SyncOp::Trunc(z) => self.send_to_learner(peer, &op_packet(PacketType::Trunc, z)),
            SyncOp::Snap => {
                self.send_to_learner(peer, &op_packet(PacketType::Snap, self.applied));
                // The stream must follow the SNAP packet and precede anything
                // queued for this learner later.
                self.flush_peer_output();
                let sessions = self.session_list();
                self.actions.push_back(Action::SnapToLearner {
                    peer,
                    zxid: self.applied,
                    sessions,
                });
            }
        }
    }

    /// Every committed txn after the plan's zxid, as pairs: the applied ones
    /// from the window (none after a SNAP, which holds them), then the
    /// pipeline's. Returns the pipeline's uncommitted txns, for the caller
    /// to send after NEWLEADER (none for an observer, which only learns
    /// committed txns).
    fn send_history(
        &mut self,
        peer: PeerId,
        plan: sync::SyncPlan,
        observer: bool,
    ) -> Vec<(Zxid, bytes::Bytes)> {
        let history: Vec<(Zxid, bytes::Bytes)> = if plan.op == SyncOp::Snap {
            Vec::new()
        } else {
            self.window.after(plan.after).cloned().collect()
        };
        for (z, bytes) in history {
            self.send_pair(peer, z, bytes, observer);
        }
        let pending: Vec<(Zxid, bytes::Bytes, bool)> = self
            .pipe
            .iter()
            .filter(|p| p.zxid() > plan.after && !p.bytes.is_empty())
            .map(|p| (p.zxid(), p.bytes.clone(), p.committed))
            .collect();
        let mut uncommitted = Vec::new();
        for (z, bytes, committed) in pending {
            if committed {
                self.send_pair(peer, z, bytes, observer);
            } else if !observer {
                uncommitted.push((z, bytes));
            }
        }
        uncommitted
    }

    /// A committed txn during a sync: PROPOSAL + COMMIT (an observer: INFORM).
    fn send_pair(&mut self, peer: PeerId, zxid: Zxid, bytes: bytes::Bytes, observer: bool) {
        if observer {
            self.send_to_learner(peer, &proposal_packet(PacketType::Inform, zxid, bytes));
            return;
        }
        self.send_to_learner(peer, &proposal_packet(PacketType::Proposal, zxid, bytes));
        self.send_to_learner(peer, &op_packet(PacketType::Commit, zxid));
    }

    fn learner_ack(&mut self, now: Now, peer: PeerId, zxid: Zxid) {
        let Some(l) = self.leading() else { return };
        let epoch = l.epoch;
        let Some(p) = l.peers.get_mut(&peer) else {
            return;
        };
        let (sid, observer) = (p.sid, p.observer);
        if zxid == Zxid::new(epoch, 0) {
            match p.phase {
                PeerPhase::AwaitNewLeaderAck if l.phase == Phase::Broadcast => {
                    p.phase = PeerPhase::Broadcast;
                    self.send_to_learner(peer, &op_packet(PacketType::UpToDate, Zxid(-1)));
                }
                PeerPhase::AwaitNewLeaderAck => {
                    p.phase = PeerPhase::AwaitStart;
                    if !observer {
                        l.newleader_acks.insert(sid);
                    }
                    self.maybe_start_broadcast(now);
                }
                // The ACK of UPTODATE (counter 0): nothing to do.
                _ => {}
            }
            return;
        }
        if zxid.counter() == 0 || observer {
            return;
        }
        while p.unacked.front().is_some_and(|(z, _)| *z <= zxid) {
            p.unacked.pop_front();
        }
        if let Some(p) = self.pipe.get_mut(zxid)
            && !p.committed
        {
            p.acks.insert(sid);
            self.try_commit();
        }
    }

    /// The leader starts serving once a quorum acknowledged NEWLEADER.
    fn maybe_start_broadcast(&mut self, now: Now) {
        let start = self.cfg.epoch_counter_start;
        let Some(l) = self.leading() else { return };
        if l.phase != Phase::Sync {
            return;
        }
        let acks = l.newleader_acks;
        if !self.is_quorum(&acks) {
            return;
        }
        let tick = self.cfg.tick_ms;
        let l = self.leading().expect("leading");
        let epoch = l.epoch;
        l.phase = Phase::Broadcast;
        l.last_committed = Zxid::new(epoch, start);
        l.next_ping_ms = now.mono_ms;
        l.next_check_ms = now.mono_ms + tick;
        let starting: Vec<PeerId> = l
            .peers
            .iter()
            .filter(|(_, p)| p.phase == PeerPhase::AwaitStart)
            .map(|(id, _)| *id)
            .collect();
        for peer in starting {
            if let Some(p) = self.leading().and_then(|l| l.peers.get_mut(&peer)) {
                p.phase = PeerPhase::Broadcast;
            }
            self.send_to_learner(peer, &op_packet(PacketType::UpToDate, Zxid(-1)));
        }
        // The first txn of the epoch is counter 1.
        self.prep = Prep::new(
            self.cfg.prep.clone(),
            Zxid::new(epoch, self.cfg.epoch_counter_start),
        );
        self.sessions.touch_all(now.mono_ms);
        self.next_container_check_ms = now.mono_ms + self.cfg.container_check_interval_ms;
        if let Some(e) = self.election.as_mut() {
            e.update_vote_epoch(epoch as i64);
        }
        tracing::info!("Leading epoch {epoch}: serving");
        self.set_serving(Some(Mode::Leader));
    }

    /// Our own log write returned: it is our ack of those zxids.
    pub(super) fn leader_logged(&mut self, first: Zxid, last: Zxid) {
        let me = self.cfg.my_id;
        self.pipe.each_mut(first, last, |p| p.acks.insert(me));
        self.try_commit();
    }

    /// Commits every proposal, in order, that has a quorum of acks.
    fn try_commit(&mut self) {
        loop {
            let Some(l) = self.leading() else { return };
            let next = l.last_committed.next();
            let Some(p) = self.pipe.get_mut(next) else {
                return;
            };
            let acks = p.acks;
            if !self.is_quorum(&acks) {
                return;
            }
            let p = self.pipe.get_mut(next).expect("just found");
            p.committed = true;
            let bytes = p.bytes.clone();
            let l = self.leading().expect("leading");
            l.last_committed = next;
            let targets: Vec<(PeerId, bool)> = l
                .peers
                .iter()
                .filter(|(_, p)| p.forwarding)
                .map(|(id, p)| (*id, p.observer))
                .collect();
            let syncs: Vec<PeerId> = {
                let keys: Vec<Zxid> = l.pending_syncs.range(..=next).map(|(z, _)| *z).collect();
                keys.into_iter()
                    .flat_map(|z| l.pending_syncs.remove(&z).unwrap_or_default())
                    .collect()
            };
            for (peer, observer) in targets {
                if observer {
                    let inform = proposal_packet(PacketType::Inform, next, bytes.clone());
                    self.send_to_learner(peer, &inform);
                } else {
                    self.send_to_learner(peer, &op_packet(PacketType::Commit, next));
                }
            }
            for peer in syncs {
                self.send_to_learner(peer, &op_packet(PacketType::Sync, Zxid(0)));
            }
        }
    }

    /// The PROPOSALs of txns prepped this round, to every forwarding follower.
    pub(super) fn send_proposals(&mut self, first: Zxid, last: Zxid) {
        if self.leading().is_none() {
            return;
        }
        for p in self.pipe.range(first, last) {
            ProposalSizes::add(&mut self.proposal_sizes, p.bytes.len() as i64);
        }
        let Some(l) = self.leading() else { return };
        let followers: Vec<PeerId> = l
            .peers
            .iter()
            .filter(|(_, p)| p.forwarding && !p.observer)
            .map(|(id, _)| *id)
            .collect();
        if followers.is_empty() {
            return;
        }
        let proposals: Vec<(Zxid, bytes::Bytes)> = self
            .pipe
            .range(first, last)
            .map(|p| (p.zxid(), p.bytes.clone()))
            .collect();
        let now_ms = self.now.mono_ms;
        if let Some(l) = self.leading() {
            for peer in &followers {
                if let Some(p) = l.peers.get_mut(peer)
                    && p.phase >= PeerPhase::AwaitStart
                {
                    p.unacked
                        .extend(proposals.iter().map(|(z, _)| (*z, now_ms)));
                }
            }
        }
        for peer in followers {
            for (z, bytes) in &proposals {
                let proposal = proposal_packet(PacketType::Proposal, *z, bytes.clone());
                self.send_to_learner(peer, &proposal);
            }
        }
    }

    pub(super) fn leader_tick(&mut self, now: Now) {
        let tick = self.cfg.tick_ms;
        let sync_ms = self.cfg.sync_limit * tick;
        let last_proposed = self.pipe.last_zxid().unwrap_or(self.applied);
        let Some(l) = self.leading() else { return };
        if l.phase != Phase::Broadcast {
            if now.mono_ms >= l.phase_deadline_ms {
                tracing::warn!(
                    "Leader {:?} phase timed out (initLimit): not enough followers; looking again",
                    l.phase
                );
                self.leave_role(now);
            }
            return;
        }
        if now.mono_ms >= l.next_ping_ms {
            l.next_ping_ms = now.mono_ms + (tick / 2).max(1);
            let peers: Vec<PeerId> = l
                .peers
                .iter()
                .filter(|(_, p)| p.phase >= PeerPhase::AwaitNewLeaderAck)
                .map(|(id, _)| *id)
                .collect();
            for peer in peers {
                self.send_to_learner(peer, &op_packet(PacketType::Ping, last_proposed));
            }
        }
        let Some(l) = self.leading() else { return };
        if now.mono_ms >= l.next_check_ms {
            l.next_check_ms = now.mono_ms + tick;
            let silent: Vec<PeerId> = l
                .peers
                .iter()
                .filter(|(_, p)| {
                    p.deadline_ms < now.mono_ms
                        || p.unacked
                            .front()
                            .is_some_and(|(_, t)| t + sync_ms < now.mono_ms)
                })
                .map(|(id, _)| *id)
                .collect();
            for peer in silent {
                self.drop_learner(peer, "no packet within the sync limit");
            }
            let mut synced = AckSet::default();
            synced.insert(self.cfg.my_id);
            if let Some(l) = self.leading() {
                for p in l.peers.values() {
                    if p.phase >= PeerPhase::AwaitNewLeaderAck && !p.observer {
                        synced.insert(p.sid);
                    }
                }
            }
            if !self.is_quorum(&synced) {
                tracing::warn!(
                    "Not sufficient followers synced, only synced with sids: {synced:?}"
                );
                self.leave_role(now);
            }
        }
    }

    /// REVALIDATE: is the session alive? If so it now belongs to that learner.
    fn revalidate(&mut self, now: Now, peer: PeerId, packet: &QuorumPacket) {
        let Ok(RevalidateRequest {
            session_id: session,
            ..
        }) = RevalidateRequest::decode(packet.data.as_deref().unwrap_or_default())
        else {
            return self.drop_learner(peer, "malformed REVALIDATE");
        };
        let valid = self.sessions.touch(session, now.mono_ms);
        let sid = self
            .leading()
            .and_then(|l| l.peers.get(&peer))
            .map(|p| p.sid);
        if valid && let Some(sid) = sid {
            self.owners.insert(session, Owner::Learner(sid));
            if let Some((shard, conn)) = self.local_owners.remove(&session) {
                self.steps.push(super::steps::Step {
                    shard,
                    conn,
                    xid: 0,
                    kind: super::steps::StepKind::Ready(super::messages::Reply::Close { conn }),
                });
            }
        }
        let reply = QuorumPacket {
            kind: PacketType::Revalidate as i32,
            zxid: packet.zxid,
            data: Some(
                RevalidateReply {
                    session_id: session,
                    valid,
                }
                .encode(),
            ),
            auth: None,
        };
        self.send_to_learner(peer, &reply);
    }

    /// A learner's client request (`LearnerHandler` REQUEST → prep).
    fn forwarded_request(
        &mut self,
        now: Now,
        tree: &DataTree,
        peer: PeerId,
        packet: &QuorumPacket,
    ) {
        let Some(l) = self.leading() else { return };
        let broadcasting = l.phase == Phase::Broadcast;
        let Some(sid) = l.peers.get(&peer).map(|p| p.sid) else {
            return;
        };
        let Ok(body) = RequestBody::decode(&packet.data.clone().unwrap_or_default()) else {
            return self.drop_learner(peer, "malformed REQUEST");
        };
        if !broadcasting {
            // ZooKeeper only gets requests from learners once they are up to
            // date; a stray one is dropped with its learner.
            return self.drop_learner(peer, "REQUEST before the leader serves");
        }
        let (session, cxid) = (body.session_id, body.cxid);
        match OpCode::from_i32(body.op) {
            Some(OpCode::CreateSession) => self.forwarded_create_session(now, sid, &body),
            Some(OpCode::CloseSession) => {
                self.close_session(now, tree, session, cxid, Origin::Remote);
            }
            Some(OpCode::Sync) => self.forwarded_sync(peer),
            Some(op) => self.forwarded_write(now, tree, sid, op, &body, packet),
            None => self.propose_error(now, session, cxid, ErrorCode::Unimplemented),
        }
    }

    /// createSession from a learner: it chose the id; the session is now
    /// tracked here, owned by that learner.
    fn forwarded_create_session(&mut self, now: Now, sid: ServerId, body: &RequestBody) {
        let session = body.session_id;
        let timeout_ms = body
            .body
            .get(..4)
            .map_or(0, |b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        self.sessions.add(session, timeout_ms, now.mono_ms);
        self.owners.insert(session, Owner::Learner(sid));
        match self
            .prep
            .prep_create_session(session, timeout_ms, now.wall_ms)
        {
            Prepped::Txn { hdr, txn } => self.propose(hdr, txn, Origin::Remote),
            Prepped::Failed(err) => {
                tracing::error!("createSession for learner {sid} failed: {err:?}")
            }
        }
    }

    /// `Leader.processSync`: answered at once when nothing is outstanding,
    /// else after the last proposal commits.
    fn forwarded_sync(&mut self, peer: PeerId) {
        let Some(l) = self.leading() else { return };
        let committed = l.last_committed;
        match self.pipe.last_zxid().filter(|z| *z > committed) {
            None => self.send_to_learner(peer, &op_packet(PacketType::Sync, Zxid(0))),
            Some(z) => {
                if let Some(l) = self.leading() {
                    l.pending_syncs.entry(z).or_default().push(peer);
                }
            }
        }
    }

    /// A forwarded write: the session must be alive and owned by that
    /// learner (`SessionTrackerImpl.checkSession`); prepped with the
    /// identities the learner sent; a refusal is an error txn.
    fn forwarded_write(
        &mut self,
        now: Now,
        tree: &DataTree,
        sid: ServerId,
        op: OpCode,
        body: &RequestBody,
        packet: &QuorumPacket,
    ) {
        let (session, cxid) = (body.session_id, body.cxid);
        let request = match Request::decode(op, &mut Reader::new(body.body.clone())) {
            Ok(Some(r)) => r,
            _ => return self.propose_error(now, session, cxid, ErrorCode::MarshallingError),
        };
        if let Some(err) = self.check_session(session, Owner::Learner(sid)) {
            return self.propose_error(now, session, cxid, err);
        }
        self.owners.insert(session, Owner::Learner(sid));
        let req = WriteRequest {
            session,
            cxid,
            request,
            auth: self.auth_of(packet),
        };
        match self.prep.prep(tree, &req, now.wall_ms) {
            Prepped::Txn { hdr, txn } => self.propose(hdr, txn, Origin::Remote),
            Prepped::Failed(err) => self.propose_error(now, session, cxid, err),
        }
    }

    /// A refused forwarded request is still a txn: its member answers its
    /// client when it applies it.
    fn propose_error(&mut self, now: Now, session: SessionId, cxid: i32, err: ErrorCode) {
        if let Prepped::Txn { hdr, txn } = self.prep.prep_error(session, cxid, err, now.wall_ms) {
            self.propose(hdr, txn, Origin::Remote);
        }
    }

    /// The identities a learner forwarded with a request (`authinfo`).
    fn auth_of(&self, packet: &QuorumPacket) -> Arc<AuthContext> {
        let mut ctx = AuthContext {
            ids: Vec::new(),
            is_super: false,
            sasl_scheme: self.cfg.sasl_acl_scheme,
        };
        for id in packet.auth.iter().flatten() {
            ctx.add_id(id.clone());
        }
        Arc::new(ctx)
    }
}

/// A PROPOSAL or INFORM carrying a txn's bytes.
fn proposal_packet(kind: PacketType, zxid: Zxid, bytes: bytes::Bytes) -> QuorumPacket {
    QuorumPacket {
        kind: kind as i32,
        zxid: zxid.0,
        data: Some(bytes),
        auth: None,
    }
}
