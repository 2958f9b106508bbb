//! Prep: request → txn, validated against the tree plus the changes of txns
//! that are prepped but not yet applied (ZooKeeper's outstanding changes).
//!
//! This is ZooKeeper 3.9's `PrepRequestProcessor`: every write is checked in
//! the order that class checks it, so clients see the same error code for the
//! same bad request. A write that passes becomes a [`Txn`] with the next zxid
//! and leaves a change record behind, so that the next write prepped before
//! the first is applied sees its effect (a batch "create /a; create /a/b;
//! delete /a/b; delete /a" preps in one go). The sequencer calls
//! [`Prep::applied`] as txns land in the tree, and [`Prep::rollback`] when a
//! batch could not be logged.
//!
//! Sans-I/O: time comes in as `now_ms`, the tree is only read. Session
//! validity (expired, moved) is the caller's business; so are quotas
//! (`enforceQuota` is off by default in ZooKeeper and not supported here).

use crate::proto::path::validate_path;
use crate::proto::request::{CreateRequest, Request};
use crate::proto::txn::{Txn, TxnHeader};
use crate::proto::{Acl, ErrorCode, OpCode, SessionId, ZString, Zxid, perms};
use crate::tree::acl::{AuthContext, check, fix_acls};
use crate::tree::node::{self, NodeKind};
use crate::tree::{CONFIG_ZOOKEEPER, DataTree, PROC_ZOOKEEPER, QUOTA_ZOOKEEPER, ROOT};
use foldhash::HashMap;
use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

/// The server settings prep depends on.
#[derive(Clone, Debug)]
pub struct PrepConfig {
    /// `zookeeper.extendedTypesEnabled`: TTL nodes allowed.
    pub extended_types_enabled: bool,
    /// `zookeeper.enableEagerACLCheck`: check the committed ACL of the node a
    /// create/delete/setData/setACL touches before anything else.
    pub eager_acl_check: bool,
    /// `reconfigEnabled`: which refusal a reconfig gets (corral is standalone).
    pub reconfig_enabled: bool,
    /// `jute.maxbuffer`. Requests are already bounded by it at the frame
    /// level; prep does not refuse txns by size (ZooKeeper 3.9 does not either).
    pub jute_max_buffer: usize,
}

/// A client write, as the sequencer hands it over.
#[derive(Clone, Debug)]
pub struct WriteRequest {
    pub session: SessionId,
    pub cxid: i32,
    pub request: Request,
    pub auth: Arc<AuthContext>,
}

/// What prepping a request produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Prepped {
    /// A txn to log and apply; it holds the next zxid.
    Txn { hdr: TxnHeader, txn: Txn },
    /// Refused: no zxid consumed, nothing logged; the reply carries the error.
    Failed(ErrorCode),
}

/// What a node will look like once every prepped txn is applied (the fields
/// of ZooKeeper's `ChangeRecord` that prep decisions read).
#[derive(Clone, Debug)]
struct NodeRecord {
    version: i32,
    /// The persisted cversion: child creates only (see `Znode::cversion`).
    cversion: i32,
    aversion: i32,
    owner: i64,
    kind: NodeKind,
    child_count: i32,
    acl: Arc<[Acl]>,
}

/// One outstanding change: the state of `path` after the txn `zxid`;
/// `node: None` means deleted.
#[derive(Clone, Debug)]
struct Change {
    /// Identifies the record, so that forgetting an old one never drops a
    /// newer record for the same path.
    seq: u64,
    zxid: Zxid,
    path: ZString,
    node: Option<NodeRecord>,
}

/// Map entries a multi replaced, restored in reverse if the multi fails.
type Undo = Vec<(ZString, Option<Change>)>;

/// Who a txn is prepped for.
struct Origin<'a> {
    zxid: Zxid,
    session: SessionId,
    auth: &'a AuthContext,
}

/// ZooKeeper's `CreateMode`, decoded from a create's flags. Whether the node
/// is a container follows the opcode, not the flag (as in ZooKeeper).
#[derive(Clone, Copy, Debug)]
struct CreateMode {
    ephemeral: bool,
    sequential: bool,
    ttl: bool,
}

impl CreateMode {
    /// `CreateMode.fromFlag`: unknown flags are BadArguments.
    fn from_flags(flags: i32) -> Result<CreateMode, ErrorCode> {
        let m = |ephemeral, sequential, ttl| CreateMode {
            ephemeral,
            sequential,
            ttl,
        };
        Ok(match flags {
            0 | 4 => m(false, false, false),
            1 => m(true, false, false),
            2 => m(false, true, false),
            3 => m(true, true, false),
            5 => m(false, false, true),
            6 => m(false, true, true),
            _ => return Err(ErrorCode::BadArguments),
        })
    }
}

/// The prep step's state: the last zxid handed out and the outstanding changes.
pub struct Prep {
    config: PrepConfig,
    last_prepped: Zxid,
    last_applied: Zxid,
    /// Every change record not yet applied, in zxid order.
    outstanding: VecDeque<Change>,
    /// The latest outstanding change of each path. Looked up about four
    /// times per write: keyed with foldhash (randomly seeded per process,
    /// like the tree's maps), a fraction of SipHash's instructions.
    by_path: HashMap<ZString, Change>,
    next_seq: u64,
    /// The undo list of a single op, kept empty between writes.
    scratch_undo: Undo,
}

/// ZooKeeper keys the root's change records under `""` for children of the
/// root and `/` otherwise; one key is kept here.
fn parent_of(path: &str, last_slash: usize) -> &str {
    if last_slash == 0 {
        ROOT
    } else {
        &path[..last_slash]
    }
}

/// `validatePathForCreate`: a create needs a `/` and no NUL; returns the parent.
fn create_parent(path: &str) -> Result<&str, ErrorCode> {
    match path.rfind('/') {
        Some(i) if !path.contains('\0') => Ok(parent_of(path, i)),
        _ => Err(ErrorCode::BadArguments),
    }
}

/// `DataTree.isSpecialPath`.
fn is_special(path: &str) -> bool {
    matches!(
        path,
        ROOT | PROC_ZOOKEEPER | QUOTA_ZOOKEEPER | CONFIG_ZOOKEEPER
    )
}

/// `getParentPathAndValidate` (delete, deleteContainer): also refuses the
/// built-in nodes. Paths are not otherwise validated.
fn delete_parent(path: &str) -> Result<&str, ErrorCode> {
    match path.rfind('/') {
        Some(i) if !path.contains('\0') && !is_special(path) => Ok(parent_of(path, i)),
        _ => Err(ErrorCode::BadArguments),
    }
}

fn valid_path(path: &str) -> Result<(), ErrorCode> {
    validate_path(path, false).map_err(|_| ErrorCode::BadArguments)
}

/// `checkAndIncVersion`: -1 matches any version; the next version skips -1.
fn check_and_inc_version(current: i32, expected: i32) -> Result<i32, ErrorCode> {
    if expected != -1 && expected != current {
        return Err(ErrorCode::BadVersion);
    }
    let next = current.wrapping_add(1);
    Ok(if next == -1 { 0 } else { next })
}

/// `EphemeralType.validateTTL` plus the extended-types switch
/// (`validateCreateRequest`).
fn validate_ttl(
    mode: CreateMode,
    op: OpCode,
    ttl_ms: i64,
    extended: bool,
) -> Result<(), ErrorCode> {
    if mode.ttl && !extended {
        return Err(ErrorCode::Unimplemented);
    }
    if mode.ttl {
        if node::ttl_owner(ttl_ms).is_none() {
            return Err(ErrorCode::BadArguments);
        }
    } else if ttl_ms >= 0 {
        return Err(ErrorCode::BadArguments);
    }
    // ZooKeeper logs a createTTL with a non-TTL mode (and ttl -1) and then
    // fails to apply it; refusing it here keeps such a txn out of the log.
    if op == OpCode::CreateTtl && !mode.ttl {
        return Err(ErrorCode::BadArguments);
    }
    Ok(())
}

impl Prep {
    pub fn new(config: PrepConfig, last_zxid: Zxid) -> Prep {
        Prep {
            config,
            last_prepped: last_zxid,
            last_applied: last_zxid,
            outstanding: VecDeque::new(),
            by_path: HashMap::default(),
            next_seq: 0,
            scratch_undo: Undo::new(),
        }
    }

    /// The zxid of the last txn prepped (the last applied one if none is outstanding).
    pub fn last_prepped_zxid(&self) -> Zxid {
        self.last_prepped
    }

    /// Preps a client write (create*, delete, setData, setACL, check, multi,
    /// reconfig, closeSession).
    pub fn prep(&mut self, tree: &DataTree, req: &WriteRequest, now_ms: i64) -> Prepped {
        let request = &req.request;
        match request {
            // A standalone check is not a write ZooKeeper's server accepts.
            Request::Check { .. } => return Prepped::Failed(ErrorCode::Unimplemented),
            // ZooKeeper's standalone server: ReconfigDisabled while reconfigEnabled is
            // false; past that switch, Unimplemented (no quorum to reconfigure).
            Request::Reconfig { .. } => {
                return Prepped::Failed(if self.config.reconfig_enabled {
                    ErrorCode::Unimplemented
                } else {
                    ErrorCode::ReconfigDisabled
                });
            }
            Request::CloseSession => {
                return self.prep_close_session(tree, req.session, req.cxid, now_ms);
            }
            Request::Multi(ops) => return self.prep_multi(tree, req, ops, now_ms),
            Request::Create { .. }
            | Request::Delete { .. }
            | Request::SetData { .. }
            | Request::SetAcl { .. } => {}
            _ => return Prepped::Failed(ErrorCode::Unimplemented),
        }
        if self.config.eager_acl_check
            && let Err(e) = eager_acl_check(tree, request, &req.auth)
        {
            return Prepped::Failed(e);
        }
        let Some(zxid) = self.next_zxid() else {
            return Prepped::Failed(ErrorCode::SystemError);
        };
        let origin = Origin {
            zxid,
            session: req.session,
            auth: &req.auth,
        };
        // A single op adds its change records only once every check passed,
        // so a failure leaves nothing to undo: its undo list is scratch,
        // reused so that a write allocates none.
        let mut undo = std::mem::take(&mut self.scratch_undo);
        // As in ZooKeeper, a write refused here still takes a zxid and is
        // logged as an error txn (op -1): zxids then match Apache ZooKeeper's
        // for the same request stream, which log interchange relies on.
        let txn = match self.prep_op(tree, &origin, request, &mut undo) {
            Ok(txn) => txn,
            Err(e) => Txn::Error(e),
        };
        undo.clear();
        self.scratch_undo = undo;
        self.issue(zxid, req.session, req.cxid, now_ms, txn)
    }

    /// A new session (`createSession`): always a txn.
    pub fn prep_create_session(
        &mut self,
        session: SessionId,
        timeout_ms: i32,
        now_ms: i64,
    ) -> Prepped {
        let Some(zxid) = self.next_zxid() else {
            return Prepped::Failed(ErrorCode::SystemError);
        };
        self.issue(zxid, session, 0, now_ms, Txn::CreateSession { timeout_ms })
    }

    /// `closeSession`: deletes the session's ephemerals, those the tree holds
    /// plus those of prepped creates, minus those of prepped deletes.
    pub fn prep_close_session(
        &mut self,
        tree: &DataTree,
        session: SessionId,
        cxid: i32,
        now_ms: i64,
    ) -> Prepped {
        let Some(zxid) = self.next_zxid() else {
            return Prepped::Failed(ErrorCode::SystemError);
        };
        let mut paths: BTreeSet<ZString> = tree
            .ephemerals_of(session)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        for c in &self.outstanding {
            match &c.node {
                None => {
                    paths.remove(&c.path);
                }
                Some(n) if n.owner == session.0 => {
                    paths.insert(c.path.clone());
                }
                Some(_) => {}
            }
        }
        let mut undo = Undo::new();
        for path in &paths {
            // ZooKeeper leaves the parent's child count alone here; counting
            // the delete lets a later prepped delete of the parent succeed,
            // as it would once this txn is applied.
            if let Some(i) = path.rfind('/') {
                let parent = parent_of(path, i);
                if let Some(mut p) = self.record(tree, parent) {
                    p.child_count -= 1;
                    self.add_change(zxid, parent.into(), Some(p), &mut undo);
                }
            }
            self.add_change(zxid, path.clone(), None, &mut undo);
        }
        let paths_to_delete = paths.into_iter().collect();
        self.issue(
            zxid,
            session,
            cxid,
            now_ms,
            Txn::CloseSession { paths_to_delete },
        )
    }

    /// The container manager's `deleteContainer` (also used for expired TTL
    /// nodes): fails unless the node still exists, has no children and is
    /// not a session's ephemeral.
    pub fn prep_delete_container(&mut self, tree: &DataTree, path: &str, now_ms: i64) -> Prepped {
        let Some(zxid) = self.next_zxid() else {
            return Prepped::Failed(ErrorCode::SystemError);
        };
        let mut undo = Undo::new();
        match self.delete_container(tree, zxid, path, &mut undo) {
            Ok(txn) => self.issue(zxid, SessionId(0), 0, now_ms, txn),
            Err(e) => Prepped::Failed(e),
        }
    }

    /// A request refused before it could become a txn, as an error txn: a
    /// leader answers another member's forwarded request only through a
    /// committed txn (`PrepRequestProcessor` turns every refusal into one).
    pub fn prep_error(
        &mut self,
        session: SessionId,
        cxid: i32,
        err: ErrorCode,
        now_ms: i64,
    ) -> Prepped {
        let Some(zxid) = self.next_zxid() else {
            return Prepped::Failed(ErrorCode::SystemError);
        };
        self.issue(zxid, session, cxid, now_ms, Txn::Error(err))
    }

    /// Txns up to `zxid` are in the tree: their change records are no longer needed.
    pub fn applied(&mut self, zxid: Zxid) {
        self.last_applied = self.last_applied.max(zxid);
        self.last_prepped = self.last_prepped.max(zxid);
        while self.outstanding.front().is_some_and(|c| c.zxid <= zxid) {
            let Some(c) = self.outstanding.pop_front() else {
                break;
            };
            if let Entry::Occupied(latest) = self.by_path.entry(c.path)
                && latest.get().seq == c.seq
            {
                latest.remove();
            }
        }
    }

    /// Forgets every prepped txn not yet applied (their log write failed):
    /// the next txn gets the zxid after the last applied one.
    pub fn rollback(&mut self) {
        self.outstanding.clear();
        self.by_path.clear();
        self.last_prepped = self.last_applied;
    }

    /// Whether this epoch has no zxid left to hand out. ZooKeeper's leader
    /// refuses a proposal whose counter is `0xffffffff` and forces a new
    /// election; here every prep fails with SystemError until the server
    /// starts a new epoch (a new `Prep` from `Zxid::new(epoch + 1, 0)`).
    pub fn zxid_exhausted(&self) -> bool {
        self.next_zxid().is_none()
    }

    /// The zxid the next txn gets, if the epoch's counter has room for it.
    fn next_zxid(&self) -> Option<Zxid> {
        let next = self.last_prepped.next();
        (next.epoch() == self.last_prepped.epoch() && next.counter() != u32::MAX).then_some(next)
    }

    /// Hands out `zxid` for `txn`.
    fn issue(
        &mut self,
        zxid: Zxid,
        session: SessionId,
        cxid: i32,
        now_ms: i64,
        txn: Txn,
    ) -> Prepped {
        assert_eq!(zxid, self.last_prepped.next(), "zxids must increase by one");
        self.last_prepped = zxid;
        let hdr = TxnHeader {
            session_id: session,
            cxid,
            zxid,
            time_ms: now_ms,
            op: txn.op().as_i32(),
        };
        Prepped::Txn { hdr, txn }
    }

    /// `getRecordForPath`: the latest outstanding state, else the tree's.
    fn record(&self, tree: &DataTree, path: &str) -> Option<NodeRecord> {
        if let Some(c) = self.by_path.get(path) {
            return c.node.clone();
        }
        let n = tree.get(path)?;
        Some(NodeRecord {
            version: n.version,
            cversion: n.cversion,
            aversion: n.aversion,
            owner: n.ephemeral_owner,
            kind: n.kind,
            child_count: n.children.len() as i32,
            acl: tree.acl_cache().get_shared(n.acl),
        })
    }

    fn add_change(&mut self, zxid: Zxid, path: ZString, node: Option<NodeRecord>, undo: &mut Undo) {
        let change = Change {
            seq: self.next_seq,
            zxid,
            path: path.clone(),
            node,
        };
        self.next_seq += 1;
        let previous = self.by_path.insert(path.clone(), change.clone());
        undo.push((path, previous));
        self.outstanding.push_back(change);
    }

    /// Drops the change records of a failed multi and restores what they replaced.
    fn undo(&mut self, zxid: Zxid, undo: Undo) {
        while self.outstanding.back().is_some_and(|c| c.zxid == zxid) {
            self.outstanding.pop_back();
        }
        for (path, previous) in undo.into_iter().rev() {
            match previous {
                Some(c) => self.by_path.insert(path, c),
                None => self.by_path.remove(&path),
            };
        }
    }

    /// A multi: one zxid, sub-ops prepped in order, each seeing the earlier
    /// ones. On the first failure the multi's changes are undone and every op
    /// becomes an error txn; the multi still consumes its zxid.
    fn prep_multi(
        &mut self,
        tree: &DataTree,
        req: &WriteRequest,
        ops: &[Request],
        now_ms: i64,
    ) -> Prepped {
        let allowed = |r: &Request| {
            matches!(
                r,
                Request::Create { .. }
                    | Request::Delete { .. }
                    | Request::SetData { .. }
                    | Request::Check { .. }
            )
        };
        if !ops.iter().all(allowed) {
            // ZooKeeper cannot even decode such a multi.
            return Prepped::Failed(ErrorCode::MarshallingError);
        }
        let Some(zxid) = self.next_zxid() else {
            return Prepped::Failed(ErrorCode::SystemError);
        };
        let origin = Origin {
            zxid,
            session: req.session,
            auth: &req.auth,
        };
        let mut undo = Undo::new();
        let mut txns = Vec::with_capacity(ops.len());
        let mut failed_at = None;
        for (i, op) in ops.iter().enumerate() {
            match self.prep_op(tree, &origin, op, &mut undo) {
                Ok(txn) => txns.push(txn),
                Err(e) => {
                    failed_at = Some((i, e));
                    break;
                }
            }
        }
        if let Some((at, code)) = failed_at {
            self.undo(zxid, undo);
            txns = (0..ops.len())
                .map(|i| {
                    Txn::Error(match i.cmp(&at) {
                        std::cmp::Ordering::Less => ErrorCode::Ok,
                        std::cmp::Ordering::Equal => code,
                        std::cmp::Ordering::Greater => ErrorCode::RuntimeInconsistency,
                    })
                })
                .collect();
        }
        self.issue(zxid, req.session, req.cxid, now_ms, Txn::Multi(txns))
    }

    /// `pRequest2Txn` for one op (top level or inside a multi).
    fn prep_op(
        &mut self,
        tree: &DataTree,
        origin: &Origin<'_>,
        request: &Request,
        undo: &mut Undo,
    ) -> Result<Txn, ErrorCode> {
        match request {
            Request::Create { op, req } => self.create(tree, origin, *op, req, undo),
            Request::Delete { path, version } => self.delete(tree, origin, path, *version, undo),
            Request::SetData {
                path,
                data,
                version,
            } => {
                valid_path(path)?;
                let mut n = self.record(tree, path).ok_or(ErrorCode::NoNode)?;
                check(&n.acl, perms::WRITE, origin.auth)?;
                let version = check_and_inc_version(n.version, *version)?;
                n.version = version;
                self.add_change(origin.zxid, path.clone(), Some(n), undo);
                Ok(Txn::SetData {
                    path: path.clone(),
                    data: data.clone(),
                    version,
                })
            }
            Request::SetAcl { path, acl, version } => {
                valid_path(path)?;
                let acl = fix_acls(acl, origin.auth)?;
                let mut n = self.record(tree, path).ok_or(ErrorCode::NoNode)?;
                check(&n.acl, perms::ADMIN, origin.auth)?;
                let version = check_and_inc_version(n.aversion, *version)?;
                n.aversion = version;
                // Later prepped ops are judged by the new ACL (ZooKeeper 3.9.5).
                n.acl = Arc::from(acl.as_slice());
                self.add_change(origin.zxid, path.clone(), Some(n), undo);
                Ok(Txn::SetAcl {
                    path: path.clone(),
                    acl,
                    version,
                })
            }
            Request::Check { path, version } => {
                valid_path(path)?;
                let n = self.record(tree, path).ok_or(ErrorCode::NoNode)?;
                check(&n.acl, perms::READ, origin.auth)?;
                Ok(Txn::Check {
                    path: path.clone(),
                    version: check_and_inc_version(n.version, *version)?,
                })
            }
            _ => Err(ErrorCode::Unimplemented),
        }
    }

    /// `pRequest2TxnCreate`. The path itself is validated only after the
    /// parent was found and the sequence suffix added, so `/p//b` is NoNode.
    fn create(
        &mut self,
        tree: &DataTree,
        origin: &Origin<'_>,
        op: OpCode,
        req: &CreateRequest,
        undo: &mut Undo,
    ) -> Result<Txn, ErrorCode> {
        let mode = CreateMode::from_flags(req.flags)?;
        validate_ttl(mode, op, req.ttl_ms, self.config.extended_types_enabled)?;
        let parent_path = create_parent(&req.path)?;
        let acl = fix_acls(&req.acl, origin.auth)?;
        let mut parent = self.record(tree, parent_path).ok_or(ErrorCode::NoNode)?;
        check(&parent.acl, perms::CREATE, origin.auth)?;
        let path: ZString = if mode.sequential {
            format!("{}{:010}", req.path, parent.cversion).into()
        } else {
            req.path.clone()
        };
        valid_path(&path)?;
        if self.record(tree, &path).is_some() {
            return Err(ErrorCode::NodeExists);
        }
        if parent.kind == NodeKind::Ephemeral {
            return Err(ErrorCode::NoChildrenForEphemerals);
        }
        let parent_cversion = parent.cversion.wrapping_add(1);
        // The opcode decides the txn (as in ZooKeeper); the record follows
        // what applying that txn makes of the node.
        let (txn, owner) = match op {
            OpCode::CreateContainer => (
                Txn::CreateContainer {
                    path: path.clone(),
                    data: req.data.clone(),
                    acl: acl.clone(),
                    parent_cversion,
                },
                node::CONTAINER_OWNER,
            ),
            OpCode::CreateTtl => (
                Txn::CreateTtl {
                    path: path.clone(),
                    data: req.data.clone(),
                    acl: acl.clone(),
                    parent_cversion,
                    ttl_ms: req.ttl_ms,
                },
                node::ttl_owner(req.ttl_ms).ok_or(ErrorCode::BadArguments)?,
            ),
            OpCode::Create | OpCode::Create2 => (
                Txn::Create {
                    op,
                    path: path.clone(),
                    data: req.data.clone(),
                    acl: acl.clone(),
                    ephemeral: mode.ephemeral,
                    parent_cversion,
                },
                if mode.ephemeral { origin.session.0 } else { 0 },
            ),
            _ => return Err(ErrorCode::Unimplemented),
        };
        parent.child_count += 1;
        parent.cversion = parent_cversion;
        self.add_change(origin.zxid, parent_path.into(), Some(parent), undo);
        let node = NodeRecord {
            version: 0,
            cversion: 0,
            aversion: 0,
            owner,
            kind: NodeKind::of(owner, self.config.extended_types_enabled),
            child_count: 0,
            acl: Arc::from(acl),
        };
        self.add_change(origin.zxid, path, Some(node), undo);
        Ok(txn)
    }

    fn delete(
        &mut self,
        tree: &DataTree,
        origin: &Origin<'_>,
        path: &ZString,
        version: i32,
        undo: &mut Undo,
    ) -> Result<Txn, ErrorCode> {
        let parent_path = delete_parent(path)?;
        let parent = self.record(tree, parent_path).ok_or(ErrorCode::NoNode)?;
        check(&parent.acl, perms::DELETE, origin.auth)?;
        let n = self.record(tree, path).ok_or(ErrorCode::NoNode)?;
        check_and_inc_version(n.version, version)?;
        if n.child_count > 0 {
            return Err(ErrorCode::NotEmpty);
        }
        self.remove(origin.zxid, parent_path, parent, path, undo);
        Ok(Txn::Delete {
            op: OpCode::Delete,
            path: path.clone(),
        })
    }

    fn delete_container(
        &mut self,
        tree: &DataTree,
        zxid: Zxid,
        path: &str,
        undo: &mut Undo,
    ) -> Result<Txn, ErrorCode> {
        let parent_path = delete_parent(path)?;
        let n = self.record(tree, path).ok_or(ErrorCode::NoNode)?;
        if n.child_count > 0 {
            return Err(ErrorCode::NotEmpty);
        }
        if n.kind == NodeKind::Ephemeral {
            return Err(ErrorCode::BadVersion);
        }
        let parent = self.record(tree, parent_path).ok_or(ErrorCode::NoNode)?;
        let path = ZString::from(path);
        self.remove(zxid, parent_path, parent, &path, undo);
        Ok(Txn::Delete {
            op: OpCode::DeleteContainer,
            path,
        })
    }

    /// The change records of a delete: one child fewer, the node gone.
    fn remove(
        &mut self,
        zxid: Zxid,
        parent_path: &str,
        mut parent: NodeRecord,
        path: &ZString,
        undo: &mut Undo,
    ) {
        parent.child_count -= 1;
        self.add_change(zxid, parent_path.into(), Some(parent), undo);
        self.add_change(zxid, path.clone(), None, undo);
    }
}

/// `ZooKeeperServer.authWriteRequest` (enableEagerACLCheck): the committed
/// ACL of the node a top-level create/create2 (its parent), delete (its
/// parent), setData or setACL touches, checked before prep. A missing node or
/// a path with no parent passes, to fail later in prep as usual.
fn eager_acl_check(
    tree: &DataTree,
    request: &Request,
    auth: &AuthContext,
) -> Result<(), ErrorCode> {
    let parent = |path: &str| delete_parent(path).ok().map(str::to_owned);
    let (path, perm, acl) = match request {
        Request::Create {
            op: OpCode::Create | OpCode::Create2,
            req,
        } => (parent(&req.path), perms::CREATE, Some(&req.acl)),
        Request::Delete { path, .. } => (parent(path), perms::DELETE, None),
        Request::SetData { path, .. } => (Some(path.to_string()), perms::WRITE, None),
        Request::SetAcl { path, acl, .. } => (Some(path.to_string()), perms::ADMIN, Some(acl)),
        _ => return Ok(()),
    };
    let Some(path) = path else {
        return Ok(());
    };
    if let Some(acl) = acl {
        fix_acls(acl, auth)?;
    }
    match tree.get(&path) {
        Some(n) => check(tree.acl(n), perm, auth),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::request::MultiResult;
    use crate::proto::{Id, Response};
    use bytes::Bytes;

    const NOW_MS: i64 = 1_700_000_000_000;
    const S1: SessionId = SessionId(0x100);
    const S2: SessionId = SessionId(0x200);

    fn config() -> PrepConfig {
        PrepConfig {
            extended_types_enabled: false,
            eager_acl_check: false,
            reconfig_enabled: false,
            jute_max_buffer: 1 << 20,
        }
    }

    /// A tree and a prep step driven only through their public APIs.
    struct Bench {
        tree: DataTree,
        prep: Prep,
        auth: Arc<AuthContext>,
    }

    impl Bench {
        fn new() -> Bench {
            Bench::with(config())
        }

        fn with(config: PrepConfig) -> Bench {
            let mut tree = DataTree::new();
            tree.set_extended_types_enabled(config.extended_types_enabled);
            let prep = Prep::new(config, tree.last_zxid());
            Bench {
                tree,
                prep,
                auth: Arc::new(AuthContext::default()),
            }
        }

        fn req(&self, session: SessionId, request: Request) -> WriteRequest {
            WriteRequest {
                session,
                cxid: 7,
                request,
                auth: self.auth.clone(),
            }
        }

        fn prep_as(&mut self, session: SessionId, request: Request) -> Prepped {
            let req = self.req(session, request);
            self.prep.prep(&self.tree, &req, NOW_MS)
        }

        fn prep(&mut self, request: Request) -> Prepped {
            self.prep_as(S1, request)
        }

        /// Preps a request that must become a txn.
        fn txn(&mut self, request: Request) -> (TxnHeader, Txn) {
            match self.prep(request) {
                Prepped::Txn { hdr, txn } => (hdr, txn),
                Prepped::Failed(e) => panic!("prep failed: {e:?}"),
            }
        }

        /// Preps a request that must be refused: either before a zxid is
        /// taken, or as an error txn (left unapplied; it changes nothing).
        fn err(&mut self, request: Request) -> ErrorCode {
            match self.prep(request) {
                Prepped::Failed(e) => e,
                Prepped::Txn {
                    txn: Txn::Error(e), ..
                } => e,
                Prepped::Txn { txn, .. } => panic!("expected a failure, got {txn:?}"),
            }
        }

        fn apply(&mut self, (hdr, txn): (TxnHeader, Txn)) -> Result<Response, ErrorCode> {
            let r = self.tree.apply(&hdr, &txn, &mut Vec::new());
            self.prep.applied(hdr.zxid);
            r
        }

        fn apply_prepped(&mut self, p: Prepped) -> Result<Response, ErrorCode> {
            match p {
                Prepped::Txn { hdr, txn } => self.apply((hdr, txn)),
                Prepped::Failed(e) => panic!("prep failed: {e:?}"),
            }
        }

        /// Preps and applies a request that must succeed.
        fn run(&mut self, request: Request) -> Response {
            let t = self.txn(request);
            match self.apply(t) {
                Ok(r) => r,
                Err(e) => panic!("apply failed: {e:?}"),
            }
        }
    }

    fn create_with(op: OpCode, path: &str, flags: i32, acl: Vec<Acl>, ttl_ms: i64) -> Request {
        Request::Create {
            op,
            req: CreateRequest {
                path: path.into(),
                data: Bytes::from_static(b"d").into(),
                acl,
                flags,
                ttl_ms,
            },
        }
    }

    fn create(path: &str) -> Request {
        create_with(OpCode::Create, path, 0, Acl::open_unsafe(), -1)
    }

    fn create_flags(path: &str, flags: i32) -> Request {
        create_with(OpCode::Create, path, flags, Acl::open_unsafe(), -1)
    }

    fn create_acl(path: &str, acl: Vec<Acl>) -> Request {
        create_with(OpCode::Create, path, 0, acl, -1)
    }

    fn delete(path: &str, version: i32) -> Request {
        Request::Delete {
            path: path.into(),
            version,
        }
    }

    fn set_data(path: &str, version: i32) -> Request {
        Request::SetData {
            path: path.into(),
            data: Bytes::from_static(b"v").into(),
            version,
        }
    }

    fn set_acl(path: &str, acl: Vec<Acl>, version: i32) -> Request {
        Request::SetAcl {
            path: path.into(),
            acl,
            version,
        }
    }

    fn check_op(path: &str, version: i32) -> Request {
        Request::Check {
            path: path.into(),
            version,
        }
    }

    fn created_path(t: &Txn) -> &str {
        match t {
            Txn::Create { path, .. }
            | Txn::CreateContainer { path, .. }
            | Txn::CreateTtl { path, .. } => path,
            other => panic!("not a create: {other:?}"),
        }
    }

    fn only(perm: i32) -> Vec<Acl> {
        vec![Acl::new(perm, "world", "anyone")]
    }

    // ---- zxids and headers

    #[test]
    fn txn_header_carries_next_zxid_session_cxid_time_and_op() {
        let mut b = Bench::new();
        let (hdr, txn) = b.txn(create_with(
            OpCode::Create2,
            "/a",
            0,
            Acl::open_unsafe(),
            -1,
        ));
        assert_eq!(hdr.zxid, Zxid(1));
        assert_eq!((hdr.session_id, hdr.cxid, hdr.time_ms), (S1, 7, NOW_MS));
        assert_eq!(hdr.op, OpCode::Create2.as_i32());
        assert!(matches!(
            txn,
            Txn::Create {
                op: OpCode::Create2,
                parent_cversion: 1,
                ephemeral: false,
                ..
            }
        ));
        assert_eq!(b.prep.last_prepped_zxid(), Zxid(1));
    }

    #[test]
    fn refused_write_takes_a_zxid_as_an_error_txn_like_zookeeper() {
        let mut b = Bench::new();
        assert_eq!(b.err(create("/missing/child")), ErrorCode::NoNode);
        assert_eq!(
            b.prep.last_prepped_zxid(),
            Zxid(1),
            "the refusal took zxid 1"
        );
        let (hdr, _) = b.txn(create("/a"));
        assert_eq!(hdr.zxid, Zxid(2));
    }

    #[test]
    fn reconfig_is_refused_without_taking_a_zxid() {
        let mut b = Bench::new();
        let p = b.prep(Request::Reconfig {
            joining: None,
            leaving: None,
            new_members: None,
            cur_config_id: -1,
        });
        assert!(matches!(p, Prepped::Failed(ErrorCode::ReconfigDisabled)));
        assert_eq!(b.prep.last_prepped_zxid(), Zxid(0));
    }

    #[test]
    fn reconfig_with_reconfig_enabled_is_unimplemented_on_a_standalone_server() {
        let mut b = Bench::with(PrepConfig {
            reconfig_enabled: true,
            ..config()
        });
        let p = b.prep(Request::Reconfig {
            joining: None,
            leaving: Some("2".into()),
            new_members: None,
            cur_config_id: -1,
        });
        assert_eq!(p, Prepped::Failed(ErrorCode::Unimplemented));
        assert_eq!(b.prep.last_prepped_zxid(), Zxid(0));
    }

    #[test]
    fn zxids_strictly_increase_by_one_across_every_kind_of_txn() {
        let mut b = Bench::new();
        let mut zxids = Vec::new();
        let mut push = |p: Prepped| match p {
            Prepped::Txn { hdr, .. } => zxids.push(hdr.zxid.0),
            Prepped::Failed(e) => panic!("{e:?}"),
        };
        push(b.prep.prep_create_session(S1, 30_000, NOW_MS));
        push(b.prep(create("/a")));
        push(b.prep(Request::Multi(vec![delete("/nope", -1)])));
        push(b.prep(Request::Multi(vec![])));
        push(b.prep(set_data("/a", -1)));
        push(b.prep.prep_close_session(&b.tree, S1, 3, NOW_MS));
        assert_eq!(zxids, vec![1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn prep_continues_from_the_zxid_it_was_started_with() {
        let mut prep = Prep::new(config(), Zxid::new(2, 41));
        let p = prep.prep_create_session(S1, 10_000, NOW_MS);
        assert!(
            matches!(p, Prepped::Txn { hdr, txn: Txn::CreateSession { timeout_ms: 10_000 } } if hdr.zxid == Zxid::new(2, 42) && hdr.session_id == S1)
        );
    }

    #[test]
    fn exhausted_epoch_fails_every_prep_without_crossing_into_the_next() {
        let mut prep = Prep::new(config(), Zxid::new(3, u32::MAX - 2));
        assert!(!prep.zxid_exhausted());
        let p = prep.prep_create_session(S1, 10_000, NOW_MS);
        assert!(matches!(p, Prepped::Txn { hdr, .. } if hdr.zxid == Zxid::new(3, u32::MAX - 1)));
        assert!(prep.zxid_exhausted());
        assert_eq!(
            prep.prep_create_session(S2, 10_000, NOW_MS),
            Prepped::Failed(ErrorCode::SystemError)
        );
        assert_eq!(prep.last_prepped_zxid(), Zxid::new(3, u32::MAX - 1));
    }

    #[test]
    fn rollback_forgets_outstanding_changes_and_reuses_zxids_after_last_applied() {
        let mut b = Bench::new();
        let first = b.txn(create("/a"));
        b.apply(first).unwrap();
        let (hdr, _) = b.txn(create("/b"));
        assert_eq!(hdr.zxid, Zxid(2));
        assert_eq!(b.err(create("/b")), ErrorCode::NodeExists);
        b.prep.rollback();
        assert_eq!(b.prep.last_prepped_zxid(), Zxid(1));
        let (hdr, _) = b.txn(create("/b"));
        assert_eq!(
            hdr.zxid,
            Zxid(2),
            "the rolled back zxid is handed out again"
        );
    }

    #[test]
    fn applied_forgets_changes_the_tree_now_holds() {
        let mut b = Bench::new();
        let t1 = b.txn(create("/a"));
        let t2 = b.txn(set_data("/a", 0));
        b.apply(t1).unwrap();
        b.apply(t2).unwrap();
        // Outstanding state gone: the tree's version 1 is what counts now.
        assert_eq!(b.err(set_data("/a", 0)), ErrorCode::BadVersion);
        let (_, txn) = b.txn(set_data("/a", 1));
        assert!(matches!(txn, Txn::SetData { version: 2, .. }));
    }

    // ---- create

    #[test]
    fn create_rejects_unknown_flags_as_bad_arguments() {
        let mut b = Bench::new();
        assert_eq!(b.err(create_flags("/a", 7)), ErrorCode::BadArguments);
        assert_eq!(b.err(create_flags("/a", -1)), ErrorCode::BadArguments);
    }

    #[test]
    fn ttl_create_is_unimplemented_without_extended_types() {
        let mut b = Bench::new();
        let r = create_with(OpCode::CreateTtl, "/t", 5, Acl::open_unsafe(), 100);
        assert_eq!(b.err(r), ErrorCode::Unimplemented);
    }

    #[test]
    fn ttl_out_of_range_or_on_wrong_mode_is_bad_arguments() {
        let mut b = Bench::with(PrepConfig {
            extended_types_enabled: true,
            ..config()
        });
        for ttl in [0, -1, node::TTL_MAX_MS + 1] {
            let r = create_with(OpCode::CreateTtl, "/t", 5, Acl::open_unsafe(), ttl);
            assert_eq!(b.err(r), ErrorCode::BadArguments, "ttl {ttl}");
        }
        // A TTL mode through plain create carries no TTL.
        assert_eq!(b.err(create_flags("/t", 5)), ErrorCode::BadArguments);
        // createTTL with a non-TTL mode.
        let r = create_with(OpCode::CreateTtl, "/t", 0, Acl::open_unsafe(), 100);
        assert_eq!(b.err(r), ErrorCode::BadArguments);
        let r = create_with(OpCode::CreateTtl, "/t", 0, Acl::open_unsafe(), -1);
        assert_eq!(b.err(r), ErrorCode::BadArguments);
    }

    #[test]
    fn ttl_and_container_creates_make_their_txns() {
        let mut b = Bench::with(PrepConfig {
            extended_types_enabled: true,
            ..config()
        });
        let (_, txn) = b.txn(create_with(
            OpCode::CreateTtl,
            "/t",
            6,
            Acl::open_unsafe(),
            100,
        ));
        assert!(
            matches!(&txn, Txn::CreateTtl { ttl_ms: 100, path, .. } if path.as_str() == "/t0000000000")
        );
        let (_, txn) = b.txn(create_with(
            OpCode::CreateContainer,
            "/c",
            4,
            Acl::open_unsafe(),
            -1,
        ));
        assert!(matches!(
            txn,
            Txn::CreateContainer {
                parent_cversion: 2,
                ..
            }
        ));
        // Children may go under both (neither is a session's ephemeral).
        b.txn(create("/c/x"));
        b.txn(create("/t0000000000/x"));
    }

    #[test]
    fn create_path_without_slash_or_with_nul_is_bad_arguments() {
        let mut b = Bench::new();
        assert_eq!(b.err(create("a")), ErrorCode::BadArguments);
        assert_eq!(b.err(create("")), ErrorCode::BadArguments);
        assert_eq!(b.err(create("/a\0b")), ErrorCode::BadArguments);
    }

    #[test]
    fn create_under_missing_parent_is_no_node() {
        let mut b = Bench::new();
        assert_eq!(b.err(create("/x/y")), ErrorCode::NoNode);
    }

    #[test]
    fn malformed_paths_look_up_the_parent_first() {
        let mut b = Bench::new();
        b.run(create("/p"));
        // The parent of each is itself malformed and absent: NoNode, not BadArguments.
        assert_eq!(b.err(create("/p//b")), ErrorCode::NoNode);
        assert_eq!(b.err(create("/p/./b")), ErrorCode::NoNode);
        assert_eq!(b.err(create("/p/../b")), ErrorCode::NoNode);
        // The parent exists, the path itself is invalid.
        assert_eq!(b.err(create("/p/")), ErrorCode::BadArguments);
        assert_eq!(b.err(create("/p/.")), ErrorCode::BadArguments);
        assert_eq!(b.err(create("/p/a\u{1}")), ErrorCode::BadArguments);
        assert_eq!(b.err(create("/missing/")), ErrorCode::NoNode);
    }

    #[test]
    fn sequential_create_may_end_with_slash() {
        let mut b = Bench::new();
        b.run(create("/p"));
        let (_, txn) = b.txn(create_flags("/p/", 2));
        assert_eq!(created_path(&txn), "/p/0000000000");
    }

    #[test]
    fn create_without_create_permission_on_parent_is_no_auth() {
        let mut b = Bench::new();
        b.run(create_acl("/locked", only(perms::ALL & !perms::CREATE)));
        assert_eq!(b.err(create("/locked/x")), ErrorCode::NoAuth);
    }

    #[test]
    fn create_with_digest_acl_is_allowed_for_the_matching_identity_only() {
        let mut b = Bench::new();
        let id = crate::tree::acl::digest("alice:secret");
        b.run(create_acl(
            "/mine",
            vec![Acl::new(perms::ALL, "digest", &id)],
        ));
        assert_eq!(b.err(create("/mine/x")), ErrorCode::NoAuth);
        let mut alice = AuthContext::default();
        alice.add_id(Id::new("digest", &id));
        b.auth = Arc::new(alice);
        b.txn(create("/mine/x"));
    }

    #[test]
    fn create_with_invalid_acl_is_invalid_acl_before_parent_lookup() {
        let mut b = Bench::new();
        assert_eq!(b.err(create_acl("/a", vec![])), ErrorCode::InvalidAcl);
        // `auth` with no authenticated id; the parent is missing too.
        assert_eq!(
            b.err(create_acl(
                "/x/y",
                only(perms::ALL)
                    .into_iter()
                    .map(|mut a| {
                        a.id = Id::new("auth", "");
                        a
                    })
                    .collect()
            )),
            ErrorCode::InvalidAcl
        );
        assert_eq!(
            b.err(create_acl("/a", vec![Acl::new(perms::ALL, "nosuch", "x")])),
            ErrorCode::InvalidAcl
        );
    }

    #[test]
    fn create_of_existing_node_is_node_exists_even_under_ephemeral() {
        let mut b = Bench::new();
        b.run(create("/a"));
        assert_eq!(b.err(create("/a")), ErrorCode::NodeExists);
        assert_eq!(b.err(create("/")), ErrorCode::NodeExists);
        b.run(create_flags("/e", 1));
        b.run(create_flags("/e2", 1));
        // NodeExists is checked before the ephemeral parent.
        assert_eq!(b.err(create("/e2")), ErrorCode::NodeExists);
        assert_eq!(b.err(create("/e/c")), ErrorCode::NoChildrenForEphemerals);
    }

    #[test]
    fn create_under_prepped_ephemeral_is_no_children_for_ephemerals() {
        let mut b = Bench::new();
        b.txn(create_flags("/e", 1));
        assert_eq!(b.err(create("/e/c")), ErrorCode::NoChildrenForEphemerals);
    }

    #[test]
    fn create_sees_prepped_but_unapplied_nodes() {
        let mut b = Bench::new();
        b.txn(create("/a"));
        assert_eq!(b.err(create("/a")), ErrorCode::NodeExists);
        b.txn(create("/a/b"));
        b.txn(delete("/a/b", -1));
        b.txn(create("/a/b"));
    }

    #[test]
    fn batch_create_create_delete_delete_preps_before_any_apply() {
        let mut b = Bench::new();
        let batch = vec![
            b.txn(create("/a")),
            b.txn(create("/a/b")),
            b.txn(delete("/a/b", 0)),
            b.txn(delete("/a", 0)),
        ];
        for t in batch {
            assert!(b.apply(t).is_ok());
        }
        assert!(b.tree.get("/a").is_none());
        assert_eq!(b.tree.last_zxid(), Zxid(4));
    }

    #[test]
    fn sequential_numbering_counts_prepped_unapplied_creates() {
        let mut b = Bench::new();
        b.run(create("/p"));
        let names: Vec<String> = (0..3)
            .map(|_| created_path(&b.txn(create_flags("/p/s-", 2)).1).to_owned())
            .collect();
        assert_eq!(
            names,
            ["/p/s-0000000000", "/p/s-0000000001", "/p/s-0000000002"]
        );
        // A delete does not move the counter, prepped or applied.
        b.txn(delete("/p/s-0000000001", -1));
        let (_, t) = b.txn(create_flags("/p/s-", 2));
        assert_eq!(created_path(&t), "/p/s-0000000003");
        assert!(matches!(
            t,
            Txn::Create {
                parent_cversion: 4,
                ..
            }
        ));
    }

    #[test]
    fn sequential_numbering_after_apply_matches_the_tree() {
        let mut b = Bench::new();
        b.run(create("/p"));
        b.run(create_flags("/p/s-", 2));
        b.run(delete("/p/s-0000000000", -1));
        let (_, t) = b.txn(create_flags("/p/s-", 3));
        assert_eq!(created_path(&t), "/p/s-0000000001");
        assert!(matches!(
            t,
            Txn::Create {
                ephemeral: true,
                parent_cversion: 2,
                ..
            }
        ));
    }

    // ---- delete

    #[test]
    fn delete_of_path_without_slash_with_nul_or_builtin_is_bad_arguments() {
        let mut b = Bench::new();
        for p in [
            "a",
            "",
            "/a\0",
            "/",
            "/zookeeper",
            "/zookeeper/quota",
            "/zookeeper/config",
        ] {
            assert_eq!(b.err(delete(p, -1)), ErrorCode::BadArguments, "{p:?}");
        }
    }

    #[test]
    fn delete_errors_follow_zookeepers_order() {
        let mut b = Bench::new();
        assert_eq!(
            b.err(delete("/x/y", -1)),
            ErrorCode::NoNode,
            "parent missing"
        );
        assert_eq!(b.err(delete("/x", -1)), ErrorCode::NoNode);
        b.run(create("/a"));
        b.run(create("/a/b"));
        assert_eq!(
            b.err(delete("/a", 3)),
            ErrorCode::BadVersion,
            "version before emptiness"
        );
        assert_eq!(b.err(delete("/a", 0)), ErrorCode::NotEmpty);
        // Paths are not validated: a trailing slash names no node.
        assert_eq!(b.err(delete("/a/", -1)), ErrorCode::NoNode);
    }

    #[test]
    fn delete_without_delete_permission_on_parent_is_no_auth() {
        let mut b = Bench::new();
        b.run(create("/p"));
        b.run(create("/p/c"));
        b.run(set_acl("/p", only(perms::ALL & !perms::DELETE), -1));
        assert_eq!(b.err(delete("/p/c", -1)), ErrorCode::NoAuth);
        // NoAuth comes before NoNode of the child.
        assert_eq!(b.err(delete("/p/none", -1)), ErrorCode::NoAuth);
    }

    #[test]
    fn delete_sees_prepped_children_and_prepped_deletes() {
        let mut b = Bench::new();
        b.run(create("/a"));
        b.txn(create("/a/b"));
        assert_eq!(b.err(delete("/a", -1)), ErrorCode::NotEmpty);
        b.txn(delete("/a/b", -1));
        assert_eq!(b.err(delete("/a/b", -1)), ErrorCode::NoNode);
        b.txn(delete("/a", -1));
    }

    // ---- setData / setACL

    #[test]
    fn set_data_errors_and_version_increment() {
        let mut b = Bench::new();
        assert_eq!(b.err(set_data("a", -1)), ErrorCode::BadArguments);
        assert_eq!(b.err(set_data("/a/", -1)), ErrorCode::BadArguments);
        assert_eq!(b.err(set_data("/a", -1)), ErrorCode::NoNode);
        b.run(create("/a"));
        assert_eq!(b.err(set_data("/a", 5)), ErrorCode::BadVersion);
        let (_, t) = b.txn(set_data("/a", 0));
        assert!(matches!(t, Txn::SetData { version: 1, .. }));
        // The prepped version counts for the next one.
        assert_eq!(b.err(set_data("/a", 0)), ErrorCode::BadVersion);
        let (_, t) = b.txn(set_data("/a", 1));
        assert!(matches!(t, Txn::SetData { version: 2, .. }));
    }

    #[test]
    fn set_data_without_write_is_no_auth_before_bad_version() {
        let mut b = Bench::new();
        b.run(create_acl("/ro", only(perms::READ)));
        assert_eq!(b.err(set_data("/ro", 9)), ErrorCode::NoAuth);
    }

    #[test]
    fn set_acl_errors_and_aversion_increment() {
        let mut b = Bench::new();
        assert_eq!(
            b.err(set_acl("bad", Acl::open_unsafe(), -1)),
            ErrorCode::BadArguments
        );
        assert_eq!(
            b.err(set_acl("/a", vec![], -1)),
            ErrorCode::InvalidAcl,
            "ACL before NoNode"
        );
        assert_eq!(
            b.err(set_acl("/a", Acl::open_unsafe(), -1)),
            ErrorCode::NoNode
        );
        b.run(create_acl("/a", only(perms::ALL & !perms::ADMIN)));
        assert_eq!(
            b.err(set_acl("/a", Acl::open_unsafe(), 4)),
            ErrorCode::NoAuth
        );
        b.run(create("/b"));
        assert_eq!(
            b.err(set_acl("/b", Acl::open_unsafe(), 4)),
            ErrorCode::BadVersion
        );
        let (_, t) = b.txn(set_acl("/b", only(perms::READ | perms::ADMIN), 0));
        assert!(matches!(t, Txn::SetAcl { version: 1, .. }));
    }

    #[test]
    fn prepped_set_acl_governs_later_prepped_ops() {
        let mut b = Bench::new();
        b.run(create("/a"));
        b.txn(set_acl("/a", only(perms::READ), -1));
        assert_eq!(b.err(set_data("/a", -1)), ErrorCode::NoAuth);
        assert_eq!(b.err(create("/a/c")), ErrorCode::NoAuth);
    }

    #[test]
    fn reconfig_is_disabled_and_standalone_check_is_unimplemented() {
        let mut b = Bench::new();
        let r = Request::Reconfig {
            joining: None,
            leaving: None,
            new_members: None,
            cur_config_id: -1,
        };
        assert_eq!(b.err(r), ErrorCode::ReconfigDisabled);
        b.run(create("/a"));
        assert_eq!(b.err(check_op("/a", 0)), ErrorCode::Unimplemented);
        assert_eq!(
            b.prep.last_prepped_zxid(),
            Zxid(1),
            "no zxid for a refused opcode"
        );
    }

    // ---- multi

    fn multi_txns(p: Prepped) -> (TxnHeader, Vec<Txn>) {
        match p {
            Prepped::Txn {
                hdr,
                txn: Txn::Multi(t),
            } => (hdr, t),
            other => panic!("not a multi: {other:?}"),
        }
    }

    #[test]
    fn empty_multi_is_an_empty_multi_txn() {
        let mut b = Bench::new();
        let (hdr, txns) = multi_txns(b.prep(Request::Multi(vec![])));
        assert!(txns.is_empty());
        assert_eq!((hdr.zxid, hdr.op), (Zxid(1), OpCode::Multi.as_i32()));
    }

    #[test]
    fn multi_sub_ops_share_one_zxid_and_keep_their_opcodes() {
        let mut b = Bench::new();
        let p = b.prep(Request::Multi(vec![
            create_with(OpCode::Create2, "/m", 0, Acl::open_unsafe(), -1),
            create("/m/a"),
            set_data("/m/a", 0),
            check_op("/m/a", 1),
            delete("/m/a", 1),
        ]));
        let (hdr, txns) = multi_txns(p.clone());
        assert_eq!(hdr.zxid, Zxid(1));
        assert!(matches!(
            txns[0],
            Txn::Create {
                op: OpCode::Create2,
                ..
            }
        ));
        assert!(matches!(
            txns[1],
            Txn::Create {
                op: OpCode::Create,
                ..
            }
        ));
        assert!(matches!(txns[2], Txn::SetData { version: 1, .. }));
        assert!(matches!(txns[3], Txn::Check { version: 2, .. }));
        assert!(matches!(
            txns[4],
            Txn::Delete {
                op: OpCode::Delete,
                ..
            }
        ));
        let r = b.apply_prepped(p).unwrap();
        let Response::Multi(results) = r else {
            panic!("{r:?}")
        };
        assert_eq!(results.len(), 5);
        assert!(b.tree.get("/m").is_some() && b.tree.get("/m/a").is_none());
    }

    #[test]
    fn failed_multi_reports_ok_then_the_error_then_runtime_inconsistency() {
        let mut b = Bench::new();
        let p = b.prep(Request::Multi(vec![
            create("/m"),
            check_op("/m", 3),
            create("/n"),
        ]));
        let (hdr, txns) = multi_txns(p.clone());
        assert_eq!(hdr.zxid, Zxid(1), "a failed multi consumes its zxid");
        assert_eq!(
            txns,
            vec![
                Txn::Error(ErrorCode::Ok),
                Txn::Error(ErrorCode::BadVersion),
                Txn::Error(ErrorCode::RuntimeInconsistency),
            ]
        );
        let r = b.apply_prepped(p).unwrap();
        assert_eq!(
            r,
            Response::Multi(vec![
                MultiResult::Error(ErrorCode::Ok),
                MultiResult::Error(ErrorCode::BadVersion),
                MultiResult::Error(ErrorCode::RuntimeInconsistency),
            ])
        );
        assert!(b.tree.get("/m").is_none());
    }

    #[test]
    fn check_in_multi_fails_on_missing_node_bad_version_and_missing_read() {
        let mut b = Bench::new();
        let first_error = |b: &mut Bench, op: Request| {
            let (_, txns) = multi_txns(b.prep(Request::Multi(vec![op])));
            txns[0].clone()
        };
        assert_eq!(
            first_error(&mut b, check_op("/none", -1)),
            Txn::Error(ErrorCode::NoNode)
        );
        assert_eq!(
            first_error(&mut b, check_op("bad", -1)),
            Txn::Error(ErrorCode::BadArguments)
        );
        b.run(create_acl("/w", only(perms::WRITE)));
        assert_eq!(
            first_error(&mut b, check_op("/w", -1)),
            Txn::Error(ErrorCode::NoAuth)
        );
        b.run(create("/r"));
        assert_eq!(
            first_error(&mut b, check_op("/r", 1)),
            Txn::Error(ErrorCode::BadVersion)
        );
    }

    #[test]
    fn failed_multi_rolls_back_its_outstanding_changes() {
        let mut b = Bench::new();
        b.run(create("/p"));
        let p = b.prep(Request::Multi(vec![
            create("/m"),
            create("/m/x"),
            create_flags("/p/s-", 2),
            delete("/nonexistent", -1),
        ]));
        assert!(matches!(&multi_txns(p).1[3], Txn::Error(ErrorCode::NoNode)));
        assert_eq!(
            b.err(create("/m/x")),
            ErrorCode::NoNode,
            "/m was rolled back"
        );
        let (_, t) = b.txn(create_flags("/p/s-", 2));
        assert_eq!(
            created_path(&t),
            "/p/s-0000000000",
            "the parent's cversion was rolled back"
        );
    }

    #[test]
    fn failed_multi_restores_earlier_outstanding_changes() {
        let mut b = Bench::new();
        b.run(create("/a"));
        b.txn(set_data("/a", 0)); // pending version 1
        b.txn(create("/p"));
        b.txn(create_flags("/p/s-", 2)); // pending cversion 1
        let p = b.prep(Request::Multi(vec![
            set_data("/a", 1),
            create_flags("/p/s-", 2),
            check_op("/a", 7),
        ]));
        assert!(matches!(
            &multi_txns(p).1[2],
            Txn::Error(ErrorCode::BadVersion)
        ));
        // The records the multi replaced are back.
        let (_, t) = b.txn(set_data("/a", 1));
        assert!(matches!(t, Txn::SetData { version: 2, .. }));
        let (_, t) = b.txn(create_flags("/p/s-", 2));
        assert_eq!(created_path(&t), "/p/s-0000000001");
    }

    #[test]
    fn multi_ops_see_earlier_ops_of_the_same_multi() {
        let mut b = Bench::new();
        let p = b.prep(Request::Multi(vec![
            create("/a"),
            create("/a"),
            create("/b"),
        ]));
        assert_eq!(
            multi_txns(p).1,
            vec![
                Txn::Error(ErrorCode::Ok),
                Txn::Error(ErrorCode::NodeExists),
                Txn::Error(ErrorCode::RuntimeInconsistency),
            ]
        );
    }

    // ---- sessions and containers

    fn close_paths(p: Prepped) -> Vec<String> {
        match p {
            Prepped::Txn {
                txn: Txn::CloseSession { paths_to_delete },
                ..
            } => paths_to_delete.iter().map(|p| p.to_string()).collect(),
            other => panic!("not a closeSession: {other:?}"),
        }
    }

    #[test]
    fn close_session_collects_pending_ephemerals_minus_pending_deletes() {
        let mut b = Bench::new();
        b.run(create_flags("/e1", 1));
        b.run(create_flags("/e3", 1));
        let other = b.prep_as(S2, create_flags("/other", 1));
        b.apply_prepped(other).unwrap();
        b.txn(create_flags("/e2", 1));
        b.txn(delete("/e3", -1));
        b.txn(create("/persistent"));
        let p = b.prep.prep_close_session(&b.tree, S1, 9, NOW_MS);
        let Prepped::Txn { hdr, .. } = &p else {
            panic!()
        };
        assert_eq!(
            (hdr.session_id, hdr.cxid, hdr.op),
            (S1, 9, OpCode::CloseSession.as_i32())
        );
        assert_eq!(close_paths(p.clone()), ["/e1", "/e2"]);
        // The closed session's nodes count as gone for what follows.
        b.txn(create("/e1"));
        assert_eq!(b.err(set_data("/e2", -1)), ErrorCode::NoNode);
        assert_eq!(
            close_paths(b.prep.prep_close_session(&b.tree, S2, 0, NOW_MS)),
            ["/other"]
        );
    }

    #[test]
    fn close_session_txn_applies_cleanly_after_pending_creates() {
        let mut b = Bench::new();
        b.run(create("/dir"));
        let t1 = b.txn(create_flags("/dir/e", 3));
        let close = b.prep.prep_close_session(&b.tree, S1, 0, NOW_MS);
        // The parent may be deleted in the same batch.
        let t2 = b.txn(delete("/dir", -1));
        b.apply(t1).unwrap();
        b.apply_prepped(close).unwrap();
        b.apply(t2).unwrap();
        assert!(b.tree.ephemerals_of(S1).is_none());
        assert!(b.tree.get("/dir").is_none());
    }

    #[test]
    fn delete_container_needs_an_existing_empty_non_ephemeral_node() {
        let mut b = Bench::new();
        b.run(create_with(
            OpCode::CreateContainer,
            "/c",
            4,
            Acl::open_unsafe(),
            -1,
        ));
        b.run(create("/c/x"));
        let tree = &b.tree;
        assert_eq!(
            b.prep.prep_delete_container(tree, "/c", NOW_MS),
            Prepped::Failed(ErrorCode::NotEmpty)
        );
        assert_eq!(
            b.prep.prep_delete_container(tree, "/none", NOW_MS),
            Prepped::Failed(ErrorCode::NoNode)
        );
        assert_eq!(
            b.prep.prep_delete_container(tree, "/", NOW_MS),
            Prepped::Failed(ErrorCode::BadArguments)
        );
        b.txn(delete("/c/x", -1));
        b.txn(create_flags("/e", 1));
        let p = b.prep.prep_delete_container(&b.tree, "/e", NOW_MS);
        assert_eq!(p, Prepped::Failed(ErrorCode::BadVersion));
        let p = b.prep.prep_delete_container(&b.tree, "/c", NOW_MS);
        let Prepped::Txn { hdr, txn } = &p else {
            panic!("{p:?}")
        };
        assert_eq!(
            (hdr.session_id, hdr.zxid, hdr.op),
            (SessionId(0), Zxid(5), 20)
        );
        assert_eq!(
            txn,
            &Txn::Delete {
                op: OpCode::DeleteContainer,
                path: "/c".into()
            }
        );
        assert_eq!(
            b.prep.prep_delete_container(&b.tree, "/c", NOW_MS),
            Prepped::Failed(ErrorCode::NoNode)
        );
    }

    #[test]
    fn delete_container_refuses_a_node_with_a_prepped_child() {
        let mut b = Bench::new();
        b.run(create_with(
            OpCode::CreateContainer,
            "/c",
            0,
            Acl::open_unsafe(),
            -1,
        ));
        b.txn(create("/c/x"));
        assert_eq!(
            b.prep.prep_delete_container(&b.tree, "/c", NOW_MS),
            Prepped::Failed(ErrorCode::NotEmpty)
        );
    }

    // ---- eager ACL check

    #[test]
    fn eager_acl_check_judges_by_the_committed_acl() {
        let eager = PrepConfig {
            eager_acl_check: true,
            ..config()
        };
        for (cfg, expect_ok) in [(config(), true), (eager, false)] {
            let mut b = Bench::with(cfg);
            b.run(create_acl("/a", only(perms::READ | perms::ADMIN)));
            // A prepped setACL grants WRITE; the tree does not have it yet.
            b.txn(set_acl("/a", Acl::open_unsafe(), -1));
            let r = b.prep(set_data("/a", -1));
            assert_eq!(matches!(r, Prepped::Txn { .. }), expect_ok, "{r:?}");
            if !expect_ok {
                assert_eq!(r, Prepped::Failed(ErrorCode::NoAuth));
            }
        }
    }

    #[test]
    fn eager_acl_check_ignores_missing_nodes_and_unparented_paths() {
        let mut b = Bench::with(PrepConfig {
            eager_acl_check: true,
            ..config()
        });
        assert_eq!(b.err(set_data("/none", -1)), ErrorCode::NoNode);
        assert_eq!(b.err(delete("/", -1)), ErrorCode::BadArguments);
        b.run(create_acl("/ro", only(perms::READ)));
        assert_eq!(b.err(create("/ro/x")), ErrorCode::NoAuth);
        assert_eq!(b.err(create_acl("/ro/x", vec![])), ErrorCode::InvalidAcl);
    }
}
