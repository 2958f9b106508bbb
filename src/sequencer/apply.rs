//! Applying: committed, durable txns go into the tree in zxid order (the
//! glue holds the write lock), every member updates its session table from
//! them, and the waiting client steps are answered at their place in that
//! order. The result goes to the shards as one [`Applied`] per call, whose
//! triggers are queued before the lock is released (watch before data).

use super::core::{Owner, Role, Sequencer, connect_response};
use super::messages::Reply;
use super::pipeline::{Origin, Proposal};
use super::steps::StepKind;
use crate::proto::Response;
use crate::proto::txn::Txn;
use crate::session::password;
use crate::tree::{DataTree, Trigger};

/// One apply's output: triggers for every shard, and each shard's replies
/// tagged with how many triggers precede them.
pub struct Applied {
    pub close_all: bool,
    pub triggers: Vec<Trigger>,
    pub replies: Vec<Vec<(usize, Reply)>>,
}

impl Applied {
    pub fn is_empty(&self) -> bool {
        !self.close_all && self.triggers.is_empty() && self.replies.iter().all(|r| r.is_empty())
    }
}

impl Sequencer {
    /// Applies what is ready and answers the steps it frees. `shards` is
    /// the number of shards replies are sorted into; `now` gives reattached
    /// sessions their new deadline.
    pub fn apply(&mut self, now: super::core::Now, tree: &mut DataTree, shards: usize) -> Applied {
        // Txns prepped this round must have their bytes before they leave.
        self.pipe.seal();
        let mut out = Applied {
            close_all: std::mem::take(&mut self.close_all),
            triggers: Vec::new(),
            replies: (0..shards).map(|_| Vec::new()).collect(),
        };
        self.flush_steps(now, tree, &mut out);
        while let Some(p) = self.pipe.pop_appliable() {
            self.apply_one(now, tree, p, &mut out);
            self.flush_steps(now, tree, &mut out);
        }
        if matches!(self.role, Role::Leading(_)) {
            self.leader_applied();
        }
        out
    }

    fn apply_one(
        &mut self,
        now: super::core::Now,
        tree: &mut DataTree,
        p: Proposal,
        out: &mut Applied,
    ) {
        let zxid = p.zxid();
        // The live path never replays: each txn is the next one (or the first
        // of a new epoch).
        assert!(
            zxid > self.applied,
            "applying {zxid} after {} (txns must be applied once, in order)",
            self.applied
        );
        let result = tree.apply(&p.hdr, &p.txn, &mut out.triggers);
        self.prep.applied(zxid);
        self.applied = zxid;
        if self.cfg.ensemble.is_some() {
            // The DIFF window: only a member of an ensemble has learners.
            self.window.push(zxid, p.bytes.clone());
        }
        self.count_for_snapshot();
        let step = self.step_of(&p);
        let requester = step
            .and_then(|id| self.steps.get_mut(id))
            .map(|s| (s.shard, s.conn, s.xid));
        let session = p.hdr.session_id;
        let reply = match &p.txn {
            Txn::CreateSession { timeout_ms } => {
                // Every member keeps every session, so any can lead next.
                self.sessions.add(session, *timeout_ms, now.mono_ms);
                requester.map(|(shard, conn, _)| {
                    self.local_owners.insert(session, (shard, conn));
                    Reply::Connected {
                        conn,
                        response: Some(connect_response(session, *timeout_ms)),
                    }
                })
            }
            txn => {
                if matches!(txn, Txn::CloseSession { .. }) {
                    self.session_closed(session, requester.map(|r| r.1), out);
                }
                requester.map(|(_, conn, xid)| Reply::Done {
                    conn,
                    xid,
                    zxid,
                    result,
                    watches: Vec::new(),
                })
            }
        };
        if let (Some(id), Some(reply)) = (step, reply) {
            self.steps.complete(id, reply);
        }
    }

    /// The local client step a txn answers: the one that made it (standalone,
    /// leader), or the first forwarded request if the txn is its (learner).
    fn step_of(&mut self, p: &Proposal) -> Option<super::steps::StepId> {
        match p.origin {
            Origin::Step(id) => Some(id),
            Origin::Server => None,
            Origin::Remote => match self.steps.forwarded.front() {
                Some(&(id, s, cxid)) if s == p.hdr.session_id && cxid == p.hdr.cxid => {
                    self.steps.forwarded.pop_front();
                    Some(id)
                }
                _ => None,
            },
        }
    }

    /// A session ended: gone from every table, and the connection holding
    /// it here ends (ZOOKEEPER-558) — unless it is the one that asked, which
    /// gets its answer first.
    fn session_closed(
        &mut self,
        session: crate::proto::SessionId,
        requester: Option<crate::watch::ConnId>,
        out: &mut Applied,
    ) {
        self.sessions.remove(session);
        self.owners.remove(&session);
        self.touches.remove(&session);
        if let Some((shard, conn)) = self.local_owners.remove(&session)
            && requester != Some(conn)
            && let Some(replies) = out.replies.get_mut(shard)
        {
            replies.push((out.triggers.len(), Reply::Close { conn }));
        }
    }

    /// Answers steps from the front while they are ready.
    fn flush_steps(&mut self, now: super::core::Now, tree: &DataTree, out: &mut Applied) {
        loop {
            let ready = match self.steps.front().map(|s| &s.kind) {
                None | Some(StepKind::Waiting) | Some(StepKind::SyncForwarded { .. }) => false,
                Some(StepKind::SyncAt { after, .. }) => *after <= self.applied,
                Some(_) => true,
            };
            if !ready {
                return;
            }
            let Some(step) = self.steps.pop_front() else {
                return;
            };
            let (shard, conn, xid) = (step.shard, step.conn, step.xid);
            let reply = match step.kind {
                StepKind::Ready(r) => r,
                StepKind::SyncAt { path, .. } => Reply::Done {
                    conn,
                    xid,
                    zxid: tree.last_zxid(),
                    result: Ok(Response::Path(path)),
                    watches: Vec::new(),
                },
                StepKind::Read(req) => {
                    let o = crate::tree::read::execute(tree, &req.request, &req.auth, req.session);
                    let watches = o.watches().cloned().collect();
                    Reply::Done {
                        conn,
                        xid,
                        zxid: tree.last_zxid(),
                        result: o.result,
                        watches,
                    }
                }
                StepKind::Local(request) => Reply::Local {
                    conn,
                    xid,
                    zxid: tree.last_zxid(),
                    request,
                },
                StepKind::Reattach {
                    session,
                    passwd,
                    timeout_ms,
                } => {
                    let valid = passwd.as_ref() == password(session).as_slice()
                        && self.sessions.touch(session, now.mono_ms);
                    let response = if valid {
                        self.local_owners.insert(session, (shard, conn));
                        self.owners.insert(session, Owner::Local);
                        let timeout_ms = self
                            .sessions
                            .get(session)
                            .map_or(timeout_ms, |s| s.timeout_ms);
                        Some(connect_response(session, timeout_ms))
                    } else {
                        tracing::info!("Invalid session {session} for client, probably expired");
                        None
                    };
                    Reply::Connected { conn, response }
                }
                StepKind::Waiting | StepKind::SyncForwarded { .. } => unreachable!("not ready"),
            };
            if let Some(replies) = out.replies.get_mut(shard) {
                replies.push((out.triggers.len(), reply));
            }
        }
    }
}
