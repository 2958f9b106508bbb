//! Applying one committed txn to the tree (`DataTree.processTxn`).
//!
//! Prep has validated every txn, so failures here only happen when replaying
//! a log over a fuzzy snapshot (or on a bug): they come back as error codes
//! and leave the tree consistent, never as panics.

use super::node::{self, NodeKind, Znode};
use super::{DataTree, ROOT, Trigger, node_size};
use crate::proto::request::MultiResult;
use crate::proto::txn::{Txn, TxnHeader};
use crate::proto::{Acl, ErrorCode, EventType, OpCode, Response, Stat, ZString, Zxid};

/// The parent of `key` (`/` for top-level nodes), sharing its allocation.
fn parent_name(key: &ZString, slash: usize) -> ZString {
    if slash == 0 {
        ZString::from_static(ROOT)
    } else {
        key.slice(0..slash)
            .unwrap_or_else(|| ZString::from(key.as_str().get(..slash).unwrap_or_default()))
    }
}

/// Parent path and the index of the last `/`; `None` for a relative path.
fn split(path: &str) -> Option<(&str, usize)> {
    match path.rfind('/')? {
        0 => Some((ROOT, 0)),
        i => Some((&path[..i], i)),
    }
}

/// What creating a node needs besides its path.
struct NewNode<'a> {
    data: &'a crate::proto::ZData,
    acl: &'a [Acl],
    owner: i64,
    parent_cversion: i32,
}

impl DataTree {
    /// Applies a committed txn (the next zxid) and returns the client reply it
    /// produces; pushes the watch triggers it fires onto `triggers`.
    pub fn apply(
        &mut self,
        hdr: &TxnHeader,
        txn: &Txn,
        triggers: &mut Vec<Trigger>,
    ) -> Result<Response, ErrorCode> {
        let result = match txn {
            Txn::Multi(txns) => self.apply_multi(hdr, txns, triggers),
            _ => self.apply_one(hdr, txn, triggers),
        };
        // Replays over a fuzzy snapshot may see older zxids; never go back.
        if hdr.zxid > self.last_zxid {
            self.last_zxid = hdr.zxid;
        }
        result
    }

    fn apply_one(
        &mut self,
        hdr: &TxnHeader,
        txn: &Txn,
        triggers: &mut Vec<Trigger>,
    ) -> Result<Response, ErrorCode> {
        let (zxid, time_ms) = (hdr.zxid, hdr.time_ms);
        match txn {
            Txn::Create {
                op,
                path,
                data,
                acl,
                ephemeral,
                parent_cversion,
            } => {
                let new = NewNode {
                    data,
                    acl,
                    owner: if *ephemeral { hdr.session_id.0 } else { 0 },
                    parent_cversion: *parent_cversion,
                };
                match self.create_node(path, new, zxid, time_ms, triggers) {
                    Ok(_) if *op == OpCode::Create => Ok(Response::Path(path.clone())),
                    Ok(stat) => Ok(Response::PathStat(path.clone(), stat)),
                    // A create replayed over a snapshot that already holds the
                    // node: the parent may still lack this create's cversion
                    // (ZooKeeper does this for type create only).
                    Err(ErrorCode::NodeExists) if *op == OpCode::Create => {
                        let parent = split(path).map_or(ROOT, |(p, _)| p);
                        self.set_cversion_pzxid(parent, *parent_cversion, zxid)?;
                        Err(ErrorCode::NodeExists)
                    }
                    Err(e) => Err(e),
                }
            }
            Txn::CreateContainer {
                path,
                data,
                acl,
                parent_cversion,
            } => {
                let new = NewNode {
                    data,
                    acl,
                    owner: node::CONTAINER_OWNER,
                    parent_cversion: *parent_cversion,
                };
                let stat = self.create_node(path, new, zxid, time_ms, triggers)?;
                Ok(Response::PathStat(path.clone(), stat))
            }
            Txn::CreateTtl {
                path,
                data,
                acl,
                parent_cversion,
                ttl_ms,
            } => {
                // ZooKeeper throws IllegalArgumentException here; prep never
                // lets such a TTL through.
                let owner = node::ttl_owner(*ttl_ms).ok_or(ErrorCode::BadArguments)?;
                let new = NewNode {
                    data,
                    acl,
                    owner,
                    parent_cversion: *parent_cversion,
                };
                let stat = self.create_node(path, new, zxid, time_ms, triggers)?;
                Ok(Response::PathStat(path.clone(), stat))
            }
            Txn::Delete { path, .. } => {
                self.delete_node(path, zxid, triggers)?;
                Ok(Response::Empty)
            }
            Txn::SetData {
                path,
                data,
                version,
            } => {
                let stat = self.set_data(path, data, *version, zxid, time_ms, triggers)?;
                Ok(Response::Stat(stat))
            }
            Txn::SetAcl { path, acl, version } => {
                let stat = self.set_acl(path, acl, *version)?;
                Ok(Response::Stat(stat))
            }
            Txn::Check { path, .. } => self
                .nodes
                .get(path.as_str())
                .map(|n| Response::Stat(n.stat()))
                .ok_or(ErrorCode::NoNode),
            Txn::CreateSession { .. } => Ok(Response::Empty),
            Txn::CloseSession { paths_to_delete } => {
                self.close_session(hdr, paths_to_delete, triggers);
                Ok(Response::Empty)
            }
            Txn::Error(code) => Err(*code),
            // ZooKeeper fails a nested multi with "Invalid type of op".
            Txn::Multi(_) => Err(ErrorCode::MarshallingError),
        }
    }

    /// All sub-txns share `hdr` (one zxid). A multi holding an error txn
    /// failed in prep: nothing is applied, and every op reports an error —
    /// Ok before the first failure, its own code for each failed op,
    /// RuntimeInconsistency after (`DataTree.processTxn`).
    fn apply_multi(
        &mut self,
        hdr: &TxnHeader,
        txns: &[Txn],
        triggers: &mut Vec<Trigger>,
    ) -> Result<Response, ErrorCode> {
        let allowed = |t: &Txn| {
            matches!(
                t,
                Txn::Create { .. }
                    | Txn::CreateContainer { .. }
                    | Txn::CreateTtl { .. }
                    | Txn::Delete { .. }
                    | Txn::SetData { .. }
                    | Txn::Check { .. }
                    | Txn::Error(_)
            )
        };
        if !txns.iter().all(allowed) {
            return Err(ErrorCode::MarshallingError);
        }
        let mut results = Vec::with_capacity(txns.len());
        if txns.iter().any(|t| matches!(t, Txn::Error(_))) {
            let mut after_failure = false;
            for t in txns {
                results.push(MultiResult::Error(match t {
                    Txn::Error(code) => {
                        after_failure = true;
                        *code
                    }
                    _ if after_failure => ErrorCode::RuntimeInconsistency,
                    _ => ErrorCode::Ok,
                }));
            }
            return Ok(Response::Multi(results));
        }
        for t in txns {
            let result = match t {
                // ZooKeeper's check txn touches nothing; prep did the check.
                Txn::Check { .. } => MultiResult::Check,
                _ => match self.apply_one(hdr, t, triggers) {
                    Ok(Response::Path(p)) => MultiResult::Create(p),
                    Ok(Response::PathStat(p, s)) => MultiResult::Create2(p, s),
                    Ok(Response::Stat(s)) => MultiResult::SetData(s),
                    Ok(_) => MultiResult::Delete,
                    Err(e) => MultiResult::Error(e),
                },
            };
            results.push(result);
        }
        Ok(Response::Multi(results))
    }

    /// `DataTree.createNode`.
    fn create_node(
        &mut self,
        path: &ZString,
        new: NewNode<'_>,
        zxid: Zxid,
        time_ms: i64,
        triggers: &mut Vec<Trigger>,
    ) -> Result<Stat, ErrorCode> {
        if path.as_str() == ROOT {
            return Err(ErrorCode::NodeExists);
        }
        let (parent_path, slash) = split(path).ok_or(ErrorCode::NoNode)?;
        if !self.nodes.contains_key(parent_path) {
            return Err(ErrorCode::NoNode);
        }
        let acl_id = self.acls.convert(new.acl);
        if let Some(existing) = self.nodes.get_mut(path.as_str()) {
            // ZooKeeper 3.9.5 gives the existing node the txn's ACL (the
            // snapshot may hold an older one); its refcounts stay exact here.
            let old = std::mem::replace(&mut existing.acl, acl_id);
            self.acls.remove_usage(old);
            return Err(ErrorCode::NodeExists);
        }
        // Own copies of path and data: the txn's bytes may be slices of a
        // request frame or a recovery read buffer (see `ZData::detached`).
        let key = path.detached();
        let Some(parent) = self.nodes.get_mut(parent_path) else {
            self.acls.remove_usage(acl_id);
            return Err(ErrorCode::NoNode);
        };
        let cversion = if new.parent_cversion == -1 {
            parent.cversion.wrapping_add(1)
        } else {
            new.parent_cversion
        };
        // A replayed create must not move cversion or pzxid backwards.
        if cversion > parent.cversion {
            parent.cversion = cversion;
            parent.pzxid = zxid.0;
        }
        parent.children.insert(&key[slash + 1..]);
        let parent_acl = parent.acl;

        let kind = NodeKind::of(new.owner, self.extended_types);
        let node = Znode {
            czxid: zxid.0,
            mzxid: zxid.0,
            ctime: time_ms,
            mtime: time_ms,
            version: 0,
            cversion: 0,
            aversion: 0,
            ephemeral_owner: new.owner,
            pzxid: zxid.0,
            data: new.data.detached(),
            acl: acl_id,
            children: Default::default(),
            kind,
        };
        let stat = node.stat();
        self.data_size += node_size(&key, new.data);
        self.nodes.insert(key.clone(), node);
        self.index(key.clone(), kind, new.owner);

        let parent_key = parent_name(&key, slash);
        triggers.push(Trigger {
            path: key,
            event: EventType::NodeCreated,
            zxid,
            acl: self.acls.get_shared(acl_id),
        });
        triggers.push(Trigger {
            path: parent_key,
            event: EventType::NodeChildrenChanged,
            zxid,
            acl: self.acls.get_shared(parent_acl),
        });
        Ok(stat)
    }

    /// `DataTree.deleteNode`. Refuses (NotEmpty) to delete a node that still
    /// has children: ZooKeeper would orphan them, prep never asks for it.
    fn delete_node(
        &mut self,
        path: &str,
        zxid: Zxid,
        triggers: &mut Vec<Trigger>,
    ) -> Result<(), ErrorCode> {
        if path == ROOT {
            return Err(ErrorCode::BadArguments);
        }
        let (parent_path, slash) = split(path).ok_or(ErrorCode::NoNode)?;
        if self.nodes.get(path).is_some_and(|n| !n.children.is_empty()) {
            return Err(ErrorCode::NotEmpty);
        }
        let parent = self.nodes.get_mut(parent_path).ok_or(ErrorCode::NoNode)?;
        // As ZooKeeper: the parent's pzxid moves even if the child is already
        // gone (a fuzzy snapshot may have missed the create and the delete).
        parent.children.remove(&path[slash + 1..]);
        if zxid.0 > parent.pzxid {
            parent.pzxid = zxid.0;
        }
        let parent_acl = parent.acl;
        let (key, node) = self.nodes.remove_entry(path).ok_or(ErrorCode::NoNode)?;
        let acl = self.acls.get_shared(node.acl);
        self.acls.remove_usage(node.acl);
        self.data_size = self.data_size.saturating_sub(node_size(&key, &node.data));
        self.unindex(&key, node.kind, node.ephemeral_owner);

        let parent_key = parent_name(&key, slash);
        triggers.push(Trigger {
            path: key,
            event: EventType::NodeDeleted,
            zxid,
            acl,
        });
        triggers.push(Trigger {
            path: parent_key,
            event: EventType::NodeChildrenChanged,
            zxid,
            acl: self.acls.get_shared(parent_acl),
        });
        Ok(())
    }

    /// `DataTree.setData`: the txn carries the new version.
    fn set_data(
        &mut self,
        path: &ZString,
        data: &crate::proto::ZData,
        version: i32,
        zxid: Zxid,
        time_ms: i64,
        triggers: &mut Vec<Trigger>,
    ) -> Result<Stat, ErrorCode> {
        let n = self.nodes.get_mut(path.as_str()).ok_or(ErrorCode::NoNode)?;
        self.data_size = (self.data_size + data.len() as u64).saturating_sub(n.data.len() as u64);
        n.data = data.detached();
        n.mtime = time_ms;
        n.mzxid = zxid.0;
        n.version = version;
        let stat = n.stat();
        let acl = n.acl;
        triggers.push(Trigger {
            path: path.clone(),
            event: EventType::NodeDataChanged,
            zxid,
            acl: self.acls.get_shared(acl),
        });
        Ok(stat)
    }

    /// `DataTree.setACL`: the txn carries the new aversion. Fires nothing.
    fn set_acl(&mut self, path: &str, acl: &[Acl], version: i32) -> Result<Stat, ErrorCode> {
        let n = self.nodes.get_mut(path).ok_or(ErrorCode::NoNode)?;
        // Release first, as ZooKeeper does: a list whose only user was this
        // node is re-entered under a new id.
        self.acls.remove_usage(n.acl);
        n.aversion = version;
        n.acl = self.acls.convert(acl);
        Ok(n.stat())
    }

    /// `DataTree.setCversionPzxid`.
    fn set_cversion_pzxid(
        &mut self,
        path: &str,
        cversion: i32,
        zxid: Zxid,
    ) -> Result<(), ErrorCode> {
        let n = self.nodes.get_mut(path).ok_or(ErrorCode::NoNode)?;
        let cversion = if cversion == -1 {
            n.cversion.wrapping_add(1)
        } else {
            cversion
        };
        if cversion > n.cversion {
            n.cversion = cversion;
            n.pzxid = zxid.0;
        }
        Ok(())
    }

    /// `DataTree.killSession`: deletes the paths the txn lists, then any other
    /// ephemeral the session still owns here (in path order, so every replica
    /// fires the same triggers). Missing nodes are skipped.
    fn close_session(&mut self, hdr: &TxnHeader, paths: &[ZString], triggers: &mut Vec<Trigger>) {
        let owned = self.ephemerals.remove(&hdr.session_id);
        for p in paths {
            let _ = self.delete_node(p, hdr.zxid, triggers);
        }
        let Some(mut owned) = owned else {
            return;
        };
        for p in paths {
            owned.remove(p.as_str());
        }
        let mut rest: Vec<ZString> = owned.into_iter().collect();
        rest.sort_unstable();
        for p in rest {
            let _ = self.delete_node(&p, hdr.zxid, triggers);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::SessionId;
    use crate::proto::perms;
    use crate::tree::acl::OPEN_UNSAFE_ACL_ID;
    use bytes::Bytes;

    const TIME_MS: i64 = 1_700_000_000_000;

    fn hdr(zxid: i64, session: i64) -> TxnHeader {
        TxnHeader {
            session_id: SessionId(session),
            cxid: 1,
            zxid: Zxid(zxid),
            time_ms: TIME_MS + zxid,
            op: 0,
        }
    }

    fn create(path: &str, data: &'static [u8]) -> Txn {
        create_with(OpCode::Create, path, data, false, -1)
    }

    fn create_with(op: OpCode, path: &str, data: &'static [u8], ephemeral: bool, pcv: i32) -> Txn {
        Txn::Create {
            op,
            path: path.into(),
            data: Bytes::from_static(data).into(),
            acl: Acl::open_unsafe(),
            ephemeral,
            parent_cversion: pcv,
        }
    }

    fn delete(path: &str) -> Txn {
        Txn::Delete {
            op: OpCode::Delete,
            path: path.into(),
        }
    }

    fn set_data(path: &str, data: &'static [u8], version: i32) -> Txn {
        Txn::SetData {
            path: path.into(),
            data: Bytes::from_static(data).into(),
            version,
        }
    }

    /// Applies at `zxid` for session 1, returning the reply and triggers.
    fn run(t: &mut DataTree, zxid: i64, txn: Txn) -> (Result<Response, ErrorCode>, Vec<Trigger>) {
        run_as(t, zxid, 1, txn)
    }

    fn run_as(
        t: &mut DataTree,
        zxid: i64,
        session: i64,
        txn: Txn,
    ) -> (Result<Response, ErrorCode>, Vec<Trigger>) {
        let mut trig = Vec::new();
        let r = t.apply(&hdr(zxid, session), &txn, &mut trig);
        (r, trig)
    }

    /// Applies a txn that must succeed, returning its triggers.
    fn must(t: &mut DataTree, zxid: i64, txn: Txn) -> Vec<Trigger> {
        must_as(t, zxid, 1, txn)
    }

    fn must_as(t: &mut DataTree, zxid: i64, session: i64, txn: Txn) -> Vec<Trigger> {
        let (r, trig) = run_as(t, zxid, session, txn);
        assert!(r.is_ok(), "{r:?}");
        trig
    }

    fn events(trig: &[Trigger]) -> Vec<(String, EventType)> {
        trig.iter().map(|t| (t.path.to_string(), t.event)).collect()
    }

    #[test]
    fn tree_keeps_no_slice_of_the_buffer_a_txn_came_from() {
        // A frame as the connection hands it over: one buffer holding the
        // path, data and ACL strings of a create, then a setData's data.
        let frame = Bytes::from(b"/fdatauserdigestmore".to_vec());
        let range = frame.as_ptr() as usize..frame.as_ptr() as usize + frame.len();
        let inside = |b: &[u8]| range.contains(&(b.as_ptr() as usize));
        let z = |r: std::ops::Range<usize>| ZString::from_utf8_lossy(frame.slice(r));
        let acl = vec![Acl {
            perms: crate::proto::perms::ALL,
            id: crate::proto::Id {
                scheme: z(10..16),
                id: z(5..10),
            },
        }];
        let create = Txn::Create {
            op: OpCode::Create,
            path: z(0..2),
            data: frame.slice(2..6).into(),
            acl,
            ephemeral: false,
            parent_cversion: -1,
        };
        let mut t = DataTree::new();
        must(&mut t, 1, create);
        let n = t.get("/f").unwrap();
        assert_eq!(&n.data.bytes()[..], b"data");
        assert!(!inside(n.data.bytes()));
        let a = &t.acl(n)[0];
        assert_eq!(
            (a.id.scheme.as_str(), a.id.id.as_str()),
            ("digest", "auser")
        );
        assert!(!inside(a.id.scheme.as_bytes()) && !inside(a.id.id.as_bytes()));
        let set = Txn::SetData {
            path: z(0..2),
            data: frame.slice(16..20).into(),
            version: 1,
        };
        must(&mut t, 2, set);
        let n = t.get("/f").unwrap();
        assert_eq!(&n.data.bytes()[..], b"more");
        assert!(!inside(n.data.bytes()));
        let (key, _) = t.nodes.get_key_value("/f").unwrap();
        assert!(!inside(key.as_bytes()));
    }

    #[test]
    fn create_sets_stat_from_header_and_bumps_parent() {
        let mut t = DataTree::new();
        let (r, trig) = run(&mut t, 5, create("/a", b"hello"));
        assert_eq!(r, Ok(Response::Path("/a".into())));
        let a = t.get("/a").unwrap().stat();
        assert_eq!((a.czxid, a.mzxid, a.pzxid), (5, 5, 5));
        assert_eq!((a.ctime, a.mtime), (TIME_MS + 5, TIME_MS + 5));
        assert_eq!((a.version, a.cversion, a.aversion), (0, 0, 0));
        assert_eq!(
            (a.data_length, a.num_children, a.ephemeral_owner),
            (5, 0, 0)
        );
        let root = t.get("/").unwrap();
        assert_eq!((root.cversion, root.pzxid), (1, 5));
        assert_eq!(t.last_zxid(), Zxid(5));
        assert_eq!(
            events(&trig),
            vec![
                ("/a".into(), EventType::NodeCreated),
                ("/".into(), EventType::NodeChildrenChanged)
            ]
        );
        assert!(trig.iter().all(|x| x.zxid == Zxid(5)));
        assert_eq!(&trig[0].acl[..], &Acl::open_unsafe()[..]);
    }

    #[test]
    fn create2_replies_with_path_and_stat() {
        let mut t = DataTree::new();
        let (r, _) = run(
            &mut t,
            3,
            create_with(OpCode::Create2, "/b", b"x", false, -1),
        );
        let stat = t.get("/b").unwrap().stat();
        assert_eq!(r, Ok(Response::PathStat("/b".into(), stat)));
    }

    #[test]
    fn set_data_then_delete_updates_stats_and_fires_events() {
        let mut t = DataTree::new();
        must(&mut t, 1, create("/a", b""));
        must(&mut t, 2, create("/a/b", b"12"));
        let (r, trig) = run(&mut t, 3, set_data("/a/b", b"12345", 1));
        let s = t.get("/a/b").unwrap().stat();
        assert_eq!(r, Ok(Response::Stat(s)));
        assert_eq!((s.czxid, s.mzxid, s.version, s.data_length), (2, 3, 1, 5));
        assert_eq!(s.mtime, TIME_MS + 3);
        assert_eq!(s.ctime, TIME_MS + 2);
        assert_eq!(
            events(&trig),
            vec![("/a/b".into(), EventType::NodeDataChanged)]
        );

        let a = t.get("/a").unwrap().stat();
        assert_eq!((a.cversion, a.pzxid, a.num_children), (1, 2, 1));
        let (r, trig) = run(&mut t, 4, delete("/a/b"));
        assert_eq!(r, Ok(Response::Empty));
        assert!(t.get("/a/b").is_none());
        let a = t.get("/a").unwrap();
        // Deletes do not count in the persisted cversion; clients see 2.
        assert_eq!((a.cversion, a.pzxid), (1, 4));
        assert_eq!((a.stat().cversion, a.stat().num_children), (2, 0));
        assert_eq!(
            events(&trig),
            vec![
                ("/a/b".into(), EventType::NodeDeleted),
                ("/a".into(), EventType::NodeChildrenChanged)
            ]
        );
        assert_eq!(t.last_zxid(), Zxid(4));
    }

    #[test]
    fn parent_cversion_comes_from_txn_and_never_goes_back() {
        let mut t = DataTree::new();
        must(&mut t, 1, create("/p", b""));
        // A sequential create prepped against cversion 4 carries 5.
        must(
            &mut t,
            2,
            create_with(OpCode::Create, "/p/s-0000000004", b"", false, 5),
        );
        let p = t.get("/p").unwrap();
        assert_eq!((p.cversion, p.pzxid), (5, 2));
        // A replayed create with an older parent cversion leaves both alone.
        must(
            &mut t,
            3,
            create_with(OpCode::Create, "/p/old", b"", false, 3),
        );
        let p = t.get("/p").unwrap();
        assert_eq!((p.cversion, p.pzxid), (5, 2));
        assert_eq!(p.children.len(), 2);
        // -1 means "one more than now".
        must(&mut t, 4, create("/p/n", b""));
        assert_eq!(t.get("/p").unwrap().cversion, 6);
    }

    #[test]
    fn replayed_create_of_existing_node_fixes_parent_cversion() {
        let mut t = DataTree::new();
        must(&mut t, 1, create("/a", b""));
        let (r, trig) = run(&mut t, 2, create_with(OpCode::Create, "/a", b"", false, 7));
        assert_eq!(r, Err(ErrorCode::NodeExists));
        assert!(trig.is_empty());
        let root = t.get("/").unwrap();
        assert_eq!((root.cversion, root.pzxid), (7, 2));
        // Only type create does this, not create2.
        let (r, _) = run(&mut t, 3, create_with(OpCode::Create2, "/a", b"", false, 9));
        assert_eq!(r, Err(ErrorCode::NodeExists));
        assert_eq!(t.get("/").unwrap().cversion, 7);
    }

    #[test]
    fn create_under_missing_parent_changes_nothing() {
        let mut t = DataTree::new();
        let before = (
            t.node_count(),
            t.approximate_data_size(),
            t.acl_cache().len(),
        );
        let (r, trig) = run(&mut t, 9, create("/no/such", b"x"));
        assert_eq!(r, Err(ErrorCode::NoNode));
        assert!(trig.is_empty());
        assert_eq!(
            (
                t.node_count(),
                t.approximate_data_size(),
                t.acl_cache().len()
            ),
            before
        );
        assert_eq!(t.last_zxid(), Zxid(9));
        let (r, _) = run(&mut t, 10, create("relative", b"x"));
        assert_eq!(r, Err(ErrorCode::NoNode));
        let (r, _) = run(&mut t, 11, create("/", b"x"));
        assert_eq!(r, Err(ErrorCode::NodeExists));
    }

    #[test]
    fn writes_to_missing_nodes_return_no_node() {
        let mut t = DataTree::new();
        assert_eq!(
            run(&mut t, 1, set_data("/x", b"", 1)).0,
            Err(ErrorCode::NoNode)
        );
        let set_acl = Txn::SetAcl {
            path: "/x".into(),
            acl: Acl::open_unsafe(),
            version: 1,
        };
        assert_eq!(run(&mut t, 2, set_acl).0, Err(ErrorCode::NoNode));
        let check = Txn::Check {
            path: "/x".into(),
            version: 1,
        };
        assert_eq!(run(&mut t, 3, check).0, Err(ErrorCode::NoNode));
        // A delete of a missing child still moves the parent's pzxid (ZooKeeper).
        let (r, trig) = run(&mut t, 4, delete("/x"));
        assert_eq!(r, Err(ErrorCode::NoNode));
        assert!(trig.is_empty());
        assert_eq!(t.get("/").unwrap().pzxid, 4);
        assert_eq!(run(&mut t, 5, delete("/x/y")).0, Err(ErrorCode::NoNode));
        assert_eq!(run(&mut t, 6, delete("/")).0, Err(ErrorCode::BadArguments));
    }

    #[test]
    fn delete_of_node_with_children_is_refused() {
        let mut t = DataTree::new();
        must(&mut t, 1, create("/a", b""));
        must(&mut t, 2, create("/a/b", b""));
        let (r, trig) = run(&mut t, 3, delete("/a"));
        assert_eq!(r, Err(ErrorCode::NotEmpty));
        assert!(trig.is_empty());
        assert!(t.get("/a").is_some());
        assert_eq!(t.get("/").unwrap().pzxid, 1);
    }

    #[test]
    fn ephemeral_nodes_are_indexed_by_owner() {
        let mut t = DataTree::new();
        must_as(
            &mut t,
            1,
            0x77,
            create_with(OpCode::Create, "/e", b"", true, -1),
        );
        let e = t.get("/e").unwrap();
        assert_eq!(e.stat().ephemeral_owner, 0x77);
        assert_eq!(e.kind, NodeKind::Ephemeral);
        assert!(t.ephemerals_of(SessionId(0x77)).unwrap().contains("/e"));
        assert_eq!(t.ephemerals_count(), 1);
        must(&mut t, 2, delete("/e"));
        assert!(t.ephemerals_of(SessionId(0x77)).is_none());
        assert_eq!(t.ephemerals_count(), 0);
    }

    #[test]
    fn close_session_deletes_all_its_ephemerals_and_fires() {
        let mut t = DataTree::new();
        must(&mut t, 1, create("/d", b""));
        must_as(
            &mut t,
            2,
            7,
            create_with(OpCode::Create, "/d/x", b"", true, -1),
        );
        must_as(
            &mut t,
            3,
            7,
            create_with(OpCode::Create, "/d/y", b"", true, -1),
        );
        must_as(
            &mut t,
            4,
            8,
            create_with(OpCode::Create, "/d/z", b"", true, -1),
        );
        let close = Txn::CloseSession {
            paths_to_delete: vec![],
        };
        let (r, trig) = run_as(&mut t, 5, 7, close);
        assert_eq!(r, Ok(Response::Empty));
        assert!(t.get("/d/x").is_none() && t.get("/d/y").is_none());
        assert!(t.get("/d/z").is_some());
        assert!(t.ephemerals_of(SessionId(7)).is_none());
        assert!(t.ephemerals_of(SessionId(8)).is_some());
        assert_eq!(
            events(&trig),
            vec![
                ("/d/x".into(), EventType::NodeDeleted),
                ("/d".into(), EventType::NodeChildrenChanged),
                ("/d/y".into(), EventType::NodeDeleted),
                ("/d".into(), EventType::NodeChildrenChanged),
            ]
        );
        assert_eq!(t.get("/d").unwrap().pzxid, 5);
    }

    #[test]
    fn close_session_deletes_listed_paths_first_then_leftovers() {
        let mut t = DataTree::new();
        must_as(
            &mut t,
            1,
            7,
            create_with(OpCode::Create, "/a", b"", true, -1),
        );
        must_as(
            &mut t,
            2,
            7,
            create_with(OpCode::Create, "/b", b"", true, -1),
        );
        let close = Txn::CloseSession {
            paths_to_delete: vec!["/b".into(), "/gone".into()],
        };
        let (_, trig) = run_as(&mut t, 3, 7, close);
        let deleted: Vec<String> = trig
            .iter()
            .filter(|x| x.event == EventType::NodeDeleted)
            .map(|x| x.path.to_string())
            .collect();
        assert_eq!(deleted, vec!["/b", "/a"]);
        assert_eq!(t.node_count(), 4);
    }

    #[test]
    fn container_node_carries_marker_owner_hidden_from_clients() {
        let mut t = DataTree::new();
        let txn = Txn::CreateContainer {
            path: "/c".into(),
            data: Bytes::new().into(),
            acl: Acl::open_unsafe(),
            parent_cversion: -1,
        };
        let (r, _) = run(&mut t, 1, txn);
        let c = t.get("/c").unwrap();
        assert_eq!(c.ephemeral_owner, i64::MIN);
        assert_eq!(c.kind, NodeKind::Container);
        assert_eq!(c.stat().ephemeral_owner, 0);
        assert_eq!(r, Ok(Response::PathStat("/c".into(), c.stat())));
        assert!(t.containers().contains("/c"));
        must(
            &mut t,
            2,
            Txn::Delete {
                op: OpCode::DeleteContainer,
                path: "/c".into(),
            },
        );
        assert!(t.containers().is_empty());
    }

    fn ttl_txn(path: &str, ttl_ms: i64) -> Txn {
        Txn::CreateTtl {
            path: path.into(),
            data: Bytes::new().into(),
            acl: Acl::open_unsafe(),
            parent_cversion: -1,
            ttl_ms,
        }
    }

    #[test]
    fn ttl_node_encodes_ttl_in_owner() {
        let mut t = DataTree::new();
        t.set_extended_types_enabled(true);
        let (r, _) = run(&mut t, 1, ttl_txn("/t", 60_000));
        let n = t.get("/t").unwrap();
        assert_eq!(n.ephemeral_owner as u64, 0xff00_0000_0000_0000 | 60_000);
        assert_eq!(node::ttl_of(n.ephemeral_owner), 60_000);
        assert_eq!(n.kind, NodeKind::Ttl);
        assert_eq!(n.stat().ephemeral_owner, 0);
        assert!(matches!(r, Ok(Response::PathStat(..))));
        assert!(t.ttls().contains("/t"));
        assert!(t.ephemerals().is_empty());
        must(&mut t, 2, delete("/t"));
        assert!(t.ttls().is_empty());
        let (r, _) = run(&mut t, 3, ttl_txn("/bad", 0));
        assert_eq!(r, Err(ErrorCode::BadArguments));
        assert!(t.get("/bad").is_none());
    }

    #[test]
    fn set_acl_sets_aversion_and_keeps_refcounts() {
        let mut t = DataTree::new();
        must(&mut t, 1, create("/a", b""));
        must(&mut t, 2, create("/b", b""));
        let open_id = t.get("/a").unwrap().acl;
        assert_eq!(open_id, 2, "config node took id 1");
        assert_eq!(t.acl_cache().ref_count(open_id), 2);
        let ip = vec![Acl::new(perms::ALL, "ip", "10.0.0.0/8")];
        let txn = Txn::SetAcl {
            path: "/a".into(),
            acl: ip.clone(),
            version: 1,
        };
        let (r, trig) = run(&mut t, 3, txn);
        assert!(trig.is_empty());
        let a = t.get("/a").unwrap();
        assert_eq!(r, Ok(Response::Stat(a.stat())));
        assert_eq!(a.aversion, 1);
        assert_eq!(t.acl(a), &ip[..]);
        assert_eq!(a.mzxid, 1, "setACL leaves mzxid alone");
        assert_eq!(t.acl_cache().ref_count(open_id), 1);
        must(&mut t, 4, delete("/b"));
        assert_eq!(t.acl_cache().ref_count(open_id), 0);
        assert!(t.acl_cache().get(open_id).is_empty());
        must(&mut t, 5, delete("/a"));
        assert_eq!(t.acl_cache().len(), 1, "only the config node's entry");
        assert_eq!(t.get("/").unwrap().acl, OPEN_UNSAFE_ACL_ID);
    }

    #[test]
    fn check_replies_with_stat_and_changes_nothing() {
        let mut t = DataTree::new();
        must(&mut t, 1, create("/a", b"v"));
        let (r, trig) = run(
            &mut t,
            2,
            Txn::Check {
                path: "/a".into(),
                version: 0,
            },
        );
        let a = t.get("/a").unwrap();
        assert_eq!(r, Ok(Response::Stat(a.stat())));
        assert_eq!(a.mzxid, 1);
        assert!(trig.is_empty());
        assert_eq!(t.last_zxid(), Zxid(2));
    }

    #[test]
    fn session_txns_reply_empty_and_error_txn_fails() {
        let mut t = DataTree::new();
        let (r, _) = run(&mut t, 1, Txn::CreateSession { timeout_ms: 5000 });
        assert_eq!(r, Ok(Response::Empty));
        let (r, _) = run(&mut t, 2, Txn::Error(ErrorCode::BadVersion));
        assert_eq!(r, Err(ErrorCode::BadVersion));
        assert_eq!(t.last_zxid(), Zxid(2));
        assert_eq!(t.node_count(), 4);
    }

    #[test]
    fn multi_success_applies_all_ops_at_one_zxid() {
        let mut t = DataTree::new();
        must(&mut t, 1, create("/m", b"0"));
        let multi = Txn::Multi(vec![
            create("/m/a", b""),
            create_with(OpCode::Create2, "/m/b", b"", false, -1),
            set_data("/m", b"1", 1),
            Txn::Check {
                path: "/m".into(),
                version: 1,
            },
            delete("/m/a"),
        ]);
        let (r, trig) = run(&mut t, 2, multi);
        let b = t.get("/m/b").unwrap().stat();
        let m = t.get("/m").unwrap().stat();
        assert_eq!(b.czxid, 2);
        assert_eq!(m.mzxid, 2);
        let Ok(Response::Multi(results)) = r else {
            panic!("{r:?}")
        };
        assert_eq!(results[0], MultiResult::Create("/m/a".into()));
        assert_eq!(results[1], MultiResult::Create2("/m/b".into(), b));
        assert!(matches!(results[2], MultiResult::SetData(s) if s.version == 1 && s.mzxid == 2));
        assert_eq!(results[3], MultiResult::Check);
        assert_eq!(results[4], MultiResult::Delete);
        assert!(trig.iter().all(|x| x.zxid == Zxid(2)));
        assert_eq!(trig.len(), 2 + 2 + 1 + 2);
        assert_eq!(t.last_zxid(), Zxid(2));
    }

    #[test]
    fn multi_failure_reports_ok_error_then_inconsistency_and_applies_nothing() {
        let mut t = DataTree::new();
        must(&mut t, 1, create("/m", b"0"));
        let multi = Txn::Multi(vec![
            create("/m/a", b""),
            Txn::Error(ErrorCode::BadVersion),
            set_data("/m", b"1", 1),
            delete("/m"),
        ]);
        let (r, trig) = run(&mut t, 2, multi);
        assert_eq!(
            r,
            Ok(Response::Multi(vec![
                MultiResult::Error(ErrorCode::Ok),
                MultiResult::Error(ErrorCode::BadVersion),
                MultiResult::Error(ErrorCode::RuntimeInconsistency),
                MultiResult::Error(ErrorCode::RuntimeInconsistency),
            ]))
        );
        assert!(trig.is_empty());
        assert!(t.get("/m/a").is_none());
        assert_eq!(t.get("/m").unwrap().version, 0);
        assert_eq!(t.last_zxid(), Zxid(2));
    }

    #[test]
    fn multi_with_foreign_txn_type_is_refused_whole() {
        let mut t = DataTree::new();
        let multi = Txn::Multi(vec![
            create("/a", b""),
            Txn::CreateSession { timeout_ms: 1 },
        ]);
        assert_eq!(run(&mut t, 1, multi).0, Err(ErrorCode::MarshallingError));
        assert!(t.get("/a").is_none());
    }

    #[test]
    fn data_size_follows_creates_sets_and_deletes() {
        let mut t = DataTree::new();
        let base = t.approximate_data_size();
        must(&mut t, 1, create("/abc", b"12345"));
        assert_eq!(t.approximate_data_size(), base + 4 + 5);
        must(&mut t, 2, set_data("/abc", b"1", 1));
        assert_eq!(t.approximate_data_size(), base + 4 + 1);
        must(&mut t, 3, delete("/abc"));
        assert_eq!(t.approximate_data_size(), base);
    }

    #[test]
    fn stored_paths_do_not_share_the_txn_buffer() {
        let mut t = DataTree::new();
        let frame = Bytes::from(b"xx/own".to_vec());
        let path = ZString::from_utf8_lossy(frame.slice(2..));
        let txn = Txn::Create {
            op: OpCode::Create,
            path,
            data: Bytes::new().into(),
            acl: Acl::open_unsafe(),
            ephemeral: false,
            parent_cversion: -1,
        };
        must(&mut t, 1, txn);
        let (key, _) = t.nodes.get_key_value("/own").unwrap();
        let key_ptr = key.as_bytes().as_ptr();
        assert!(!(frame.as_ptr()..frame.as_ptr().wrapping_add(frame.len())).contains(&key_ptr));
        assert!(t.get("/").unwrap().children.contains("own"));
    }
}
