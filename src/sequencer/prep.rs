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
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

/// The server settings prep depends on.
#[derive(Clone, Debug)]
pub struct PrepConfig {
    /// `zookeeper.extendedTypesEnabled`: TTL nodes allowed.
    pub extended_types_enabled: bool,
    /// `zookeeper.enableEagerACLCheck`: check the committed ACL of the node a
    /// create/delete/setData/setACL touches before anything else.
    pub eager_acl_check: bool,
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
    /// The latest outstanding change of each path.
    by_path: HashMap<ZString, Change>,
    next_seq: u64,
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
            by_path: HashMap::new(),
            next_seq: 0,
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
            // reconfigEnabled is false: corral has no quorum to reconfigure.
            Request::Reconfig { .. } => return Prepped::Failed(ErrorCode::ReconfigDisabled),
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
        let zxid = self.last_prepped.next();
        let origin = Origin {
            zxid,
            session: req.session,
            auth: &req.auth,
        };
        // A single op adds its change records only once every check passed,
        // so a failure leaves nothing to undo.
        let mut undo = Undo::new();
        match self.prep_op(tree, &origin, request, &mut undo) {
            Ok(txn) => self.issue(zxid, req.session, req.cxid, now_ms, txn),
            Err(e) => Prepped::Failed(e),
        }
    }

    /// A new session (`createSession`): always a txn.
    pub fn prep_create_session(
        &mut self,
        session: SessionId,
        timeout_ms: i32,
        now_ms: i64,
    ) -> Prepped {
        let zxid = self.last_prepped.next();
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
        let zxid = self.last_prepped.next();
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
        let zxid = self.last_prepped.next();
        let mut undo = Undo::new();
        match self.delete_container(tree, zxid, path, &mut undo) {
            Ok(txn) => self.issue(zxid, SessionId(0), 0, now_ms, txn),
            Err(e) => Prepped::Failed(e),
        }
    }

    /// Txns up to `zxid` are in the tree: their change records are no longer needed.
    pub fn applied(&mut self, zxid: Zxid) {
        self.last_applied = self.last_applied.max(zxid);
        self.last_prepped = self.last_prepped.max(zxid);
        while self.outstanding.front().is_some_and(|c| c.zxid <= zxid) {
            let Some(c) = self.outstanding.pop_front() else {
                break;
            };
            if self.by_path.get(&c.path).is_some_and(|l| l.seq == c.seq) {
                self.by_path.remove(&c.path);
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

    /// Hands out `zxid` for `txn`.
    fn issue(
        &mut self,
        zxid: Zxid,
        session: SessionId,
        cxid: i32,
        now_ms: i64,
        txn: Txn,
    ) -> Prepped {
        debug_assert_eq!(zxid, self.last_prepped.next(), "zxids must increase by one");
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
        let zxid = self.last_prepped.next();
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
