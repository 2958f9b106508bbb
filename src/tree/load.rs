//! Building a tree from a snapshot's entries, in snapshot order: the ACL
//! table first, then every node after its parent (ZooKeeper writes the tree
//! depth first). Nothing else runs on the tree while it loads.
//!
//! A load is a million inserts into cold memory, so the loader does the
//! least per node: consecutive siblings (the common case) find their parent
//! once, their names are added to its child set in one reserved batch, and
//! the data size is summed as nodes arrive instead of in a second walk.
//!
//! Nor does a load copy any node's path or data: they stay slices of the
//! mapped snapshot file ([`TreeLoad::borrowing`]), so a restart pages in and
//! zeroes only the tree's own structure before it serves. Half of a load's
//! time was the first touch of fresh memory, and data is the largest part of
//! it. [`Unpin`] then copies paths and data out a few nodes at a time while
//! the server runs; when it is done the file is unmapped.

use super::node::NodeKind;
use super::table::Entry;
use super::{DataTree, LoadError, Name, ROOT, Znode, node_size};
use crate::proto::{Acl, ZString, Zxid};
use bytes::Bytes;

/// A tree being loaded; see [`DataTree::begin_load`]. Finish with
/// [`TreeLoad::finish`].
pub struct TreeLoad<'a> {
    tree: &'a mut DataTree,
    /// The parent of the last node loaded, known to be in the tree, and
    /// the names of its children loaded since not yet in its child set.
    parent: Option<ZString>,
    names: Vec<Name>,
}

/// A snapshot node with everything done that needs no tree: its entry
/// allocated, kind classified, child name cut. A loader makes these on its
/// parsing thread, so that the inserting thread only links them in.
pub struct ReadyNode {
    entry: Box<Entry>,
    /// The last path segment; `None` for the root.
    name: Option<Name>,
    path_size: u64,
}

impl ReadyNode {
    /// See [`TreeLoad::node`] for `path` and `node`.
    pub fn new(
        path: ZString,
        mut node: Znode,
        extended_types: bool,
    ) -> Result<ReadyNode, LoadError> {
        node.children.clear();
        node.kind = NodeKind::of(node.ephemeral_owner, extended_types);
        let (path, name) = if path.is_empty() || path.as_str() == ROOT {
            (ZString::from_static(ROOT), None)
        } else {
            let Some(slash) = path.as_str().rfind('/') else {
                return Err(LoadError::NotAbsolute(path.as_str().to_owned()));
            };
            let name = Name::from(&path.as_str()[slash + 1..]);
            (path, Some(name))
        };
        Ok(ReadyNode {
            path_size: node_size(&path, &[]),
            entry: Box::new(Entry { path, node }),
            name,
        })
    }
}

impl<'a> TreeLoad<'a> {
    pub(super) fn new(tree: &'a mut DataTree) -> TreeLoad<'a> {
        TreeLoad {
            tree,
            parent: None,
            names: Vec::new(),
        }
    }

    /// The nodes loaded refer to `file` (their path and data are slices of
    /// it) until the tree's [`Unpin`] pass has run.
    pub fn borrowing(&mut self, file: Bytes) {
        self.tree.pinned = Some(file);
    }

    /// Makes room for `nodes` more nodes (a count known before loading).
    pub fn reserve(&mut self, nodes: usize) {
        self.tree.nodes.reserve(nodes);
    }

    /// An ACL table entry.
    pub fn acl(&mut self, id: u64, acls: Vec<Acl>) {
        self.tree.acls.insert_with_id(id, acls);
    }

    /// A node: `path` and `node.data` are kept as given (slices of a file
    /// only if the load is [`TreeLoad::borrowing`] it); `""` (ZooKeeper's
    /// name for the root in snapshots) and `/` both mean the root.
    /// `children` and `kind` are rebuilt here, whatever `node` holds.
    /// [`ReadyNode::new`] then [`TreeLoad::ready_node`].
    pub fn node(&mut self, path: ZString, node: Znode) -> Result<(), LoadError> {
        let ready = ReadyNode::new(path, node, self.tree.extended_types)?;
        self.ready_node(ready)
    }

    /// Whether `0xff..` owners are TTLs (what [`ReadyNode::new`] needs).
    pub fn extended_types(&self) -> bool {
        self.tree.extended_types
    }

    /// A node made ready by [`ReadyNode::new`], possibly on another thread.
    pub fn ready_node(&mut self, ready: ReadyNode) -> Result<(), LoadError> {
        let ReadyNode {
            entry,
            name,
            path_size,
        } = ready;
        let (acl, data_len) = (entry.node.acl, entry.node.data.len() as u64);
        let Some(name) = name else {
            self.tree.acls.add_usage(acl);
            // The root counts twice: ZooKeeper's map also holds it under "".
            self.tree.data_size += path_size + 2 * data_len;
            let old = self.tree.nodes.insert_entry(entry);
            self.forget(path_size, old.as_ref(), 2);
            return Ok(());
        };
        let path = entry.path.as_str();
        let slash = path.len() - name.len() - 1;
        let parent_path = if slash == 0 { ROOT } else { &path[..slash] };
        if self.parent.as_ref().map(ZString::as_str) != Some(parent_path) {
            self.flush_names();
            if !self.tree.nodes.contains_key(parent_path) {
                return Err(LoadError::MissingParent {
                    path: path.to_owned(),
                    parent: parent_path.to_owned(),
                });
            }
            self.parent = Some(ZString::from(parent_path));
        }
        self.names.push(name);
        self.tree.acls.add_usage(acl);
        self.tree.data_size += path_size + data_len;
        let (kind, owner) = (entry.node.kind, entry.node.ephemeral_owner);
        if kind != NodeKind::Persistent {
            // Its own copy: the path may be a slice of the file.
            self.tree.index(entry.path.detached(), kind, owner);
        }
        let old = self.tree.nodes.insert_entry(entry);
        self.forget(path_size, old.as_ref(), 1);
        Ok(())
    }

    /// A path loaded twice (a corrupt snapshot; ZooKeeper keeps the last):
    /// the replaced node's size no longer counts.
    fn forget(&mut self, path_size: u64, old: Option<&Znode>, times: u64) {
        if let Some(old) = old {
            let size = path_size + times * old.data.len() as u64;
            self.tree.data_size = self.tree.data_size.saturating_sub(size);
        }
    }

    /// Adds the pending child names to their parent's set.
    fn flush_names(&mut self) {
        let Some(parent) = self.parent.take() else {
            return;
        };
        if let Some(node) = self.tree.nodes.get_mut(parent.as_str()) {
            node.children.extend(self.names.drain(..));
        }
        self.names.clear();
    }

    /// Ends the load: child sets completed, unused ACL entries dropped, the
    /// last zxid set.
    pub fn finish(mut self, last_zxid: Zxid) {
        self.flush_names();
        self.tree.acls.purge_unused();
        self.tree.last_zxid = last_zxid;
    }
}

/// Copies loaded nodes' paths and data out of the snapshot file they slice
/// (see the module doc), depth first from the root, [`Unpin::step`] by step.
/// Nodes changed since the load already hold copies of their own; nodes
/// created since hold nothing of the file.
pub struct Unpin {
    file: Bytes,
    /// Parents being visited: path, and the names of the children not yet
    /// visited (a copy taken when the parent was; children created since
    /// slice nothing, and one deleted since is passed over).
    pending: Vec<(ZString, Vec<Name>)>,
    /// The path of the node being visited.
    path: String,
    copied: u64,
}

impl Unpin {
    /// A pass over `tree`, which slices `file`; visits the root.
    pub(super) fn new(file: Bytes, tree: &mut DataTree) -> Unpin {
        let mut unpin = Unpin {
            file,
            pending: Vec::new(),
            path: String::from(ROOT),
            copied: 0,
        };
        unpin.visit(tree);
        unpin
    }

    /// Visits up to `nodes` more nodes; false once every node has been.
    pub fn step(&mut self, tree: &mut DataTree, nodes: usize) -> bool {
        let mut visited = 0;
        while visited < nodes {
            let Some((parent, names)) = self.pending.last_mut() else {
                return false;
            };
            let Some(name) = names.pop() else {
                self.pending.pop();
                continue;
            };
            self.path.clear();
            if parent.as_str() != ROOT {
                self.path.push_str(parent);
            }
            self.path.push('/');
            self.path.push_str(&name);
            self.visit(tree);
            visited += 1;
        }
        !self.pending.is_empty()
    }

    /// Gives the node at `self.path` copies of its own, and queues its
    /// children.
    fn visit(&mut self, tree: &mut DataTree) {
        let Some((key, node)) = tree.nodes.get_entry_mut(&self.path) else {
            return;
        };
        if self.in_file(key.as_ptr()) {
            *key = key.detached();
        }
        if self.in_file(node.data.as_ptr()) {
            self.copied += u64::from(!node.data.is_empty());
            node.data = node.data.detached();
        }
        if !node.children.is_empty() {
            let names = node.children.iter().map(Name::from).collect();
            self.pending
                .push((ZString::from(self.path.as_str()), names));
        }
    }

    /// How many nodes' data was copied so far.
    pub fn copied(&self) -> u64 {
        self.copied
    }

    /// Whether `p` points into the file; inclusive, as an empty slice may
    /// point just past its last byte.
    fn in_file(&self, p: *const u8) -> bool {
        let start = self.file.as_ptr() as usize;
        (start..=start + self.file.len()).contains(&(p as usize))
    }

    /// Nodes of `tree` whose path or data is still in the file.
    #[cfg(test)]
    pub fn still_in_file(&self, tree: &DataTree) -> usize {
        tree.nodes()
            .filter(|(p, n)| self.in_file(p.as_ptr()) || self.in_file(n.data.as_ptr()))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::super::acl::OPEN_UNSAFE_ACL_ID;
    use super::super::node;
    use super::*;
    use crate::proto::{SessionId, perms};

    fn plain(acl: u64, owner: i64) -> Znode {
        Znode {
            acl,
            ephemeral_owner: owner,
            ..Default::default()
        }
    }

    #[test]
    fn snapshot_load_rebuilds_children_indexes_and_acl_refs() {
        let mut t = DataTree::new();
        t.set_extended_types_enabled(true);
        let mut load = t.begin_load();
        load.acl(1, vec![Acl::new(perms::READ, "world", "anyone")]);
        load.acl(5, Acl::open_unsafe());
        load.acl(9, vec![Acl::new(perms::ALL, "ip", "1.2.3.4")]);
        load.node("".into(), plain(OPEN_UNSAFE_ACL_ID, 0)).unwrap();
        load.node("/zookeeper".into(), plain(OPEN_UNSAFE_ACL_ID, 0))
            .unwrap();
        load.node("/zookeeper/config".into(), plain(1, 0)).unwrap();
        load.node("/e".into(), plain(5, 77)).unwrap();
        load.node("/c".into(), plain(5, node::CONTAINER_OWNER))
            .unwrap();
        load.node("/t".into(), plain(5, node::ttl_owner(10).unwrap()))
            .unwrap();
        assert!(matches!(
            load.node("/x/y".into(), plain(5, 0)),
            Err(LoadError::MissingParent { .. })
        ));
        load.finish(Zxid(42));
        assert_eq!(t.last_zxid(), Zxid(42));
        assert_eq!(t.get("/").unwrap().children.len(), 4);
        assert_eq!(t.get("/zookeeper").unwrap().children.len(), 1);
        assert_eq!(t.ephemerals_of(SessionId(77)).unwrap().len(), 1);
        assert!(t.containers().contains("/c"));
        assert!(t.ttls().contains("/t"));
        // Entry 9 had no user and is purged; the failed node counted nothing.
        assert_eq!(t.acl_cache().len(), 2);
        assert_eq!(t.acl_cache().ref_count(5), 3);
        assert_eq!(t.acl_cache().ref_count(1), 1);
        assert_eq!(t.approximate_data_size(), 1 + 10 + 17 + 2 + 2 + 2);
    }

    #[test]
    fn siblings_split_by_a_subtree_all_reach_their_parent() {
        let mut t = DataTree::new();
        let mut load = t.begin_load();
        let data = |s: &'static str| Znode {
            data: bytes::Bytes::from_static(s.as_bytes()).into(),
            ..Default::default()
        };
        load.node("".into(), data("r")).unwrap();
        // Depth first: /a, /a/x, /a/x/deep, back up to /a/y, then /b.
        for p in ["/a", "/a/x", "/a/x/deep", "/a/y", "/b", "/b/z"] {
            load.node(p.into(), data("12")).unwrap();
        }
        load.finish(Zxid(7));
        let names = |p: &str| {
            let mut v: Vec<String> = t
                .get(p)
                .unwrap()
                .children
                .iter()
                .map(str::to_owned)
                .collect();
            v.sort();
            v
        };
        assert_eq!(names("/"), ["a", "b"]);
        assert_eq!(names("/a"), ["x", "y"]);
        assert_eq!(names("/a/x"), ["deep"]);
        assert_eq!(names("/b"), ["z"]);
        assert!(names("/b/z").is_empty());
        // The incremental size equals a full recount (root data twice).
        assert_eq!(t.approximate_data_size(), t.full_data_size());
        assert_eq!(t.full_data_size(), 1 + 2 + (2 + 4 + 9 + 4 + 2 + 4) + 6 * 2);
    }

    #[test]
    fn a_path_loaded_twice_keeps_the_last_and_counts_it_once() {
        let mut t = DataTree::new();
        let mut load = t.begin_load();
        load.node("".into(), Znode::default()).unwrap();
        let with = |n: usize| Znode {
            data: bytes::Bytes::from(vec![0u8; n]).into(),
            ..Default::default()
        };
        load.node("/a".into(), with(10)).unwrap();
        load.node("/a".into(), with(3)).unwrap();
        load.finish(Zxid(1));
        assert_eq!(t.get("/a").unwrap().data.len(), 3);
        assert_eq!(t.get("/").unwrap().children.len(), 1);
        assert_eq!(t.approximate_data_size(), t.full_data_size());
    }

    #[test]
    fn enabling_extended_types_reclassifies_ttl_owners() {
        let mut t = DataTree::new();
        let mut load = t.begin_load();
        let owner = node::ttl_owner(1000).unwrap();
        load.node("/".into(), Znode::default()).unwrap();
        load.node("/t".into(), plain(0, owner)).unwrap();
        load.finish(Zxid(1));
        assert!(t.ttls().is_empty());
        assert!(t.ephemerals_of(SessionId(owner)).is_some());
        t.set_extended_types_enabled(true);
        assert!(t.ttls().contains("/t"));
        assert!(t.ephemerals().is_empty());
        assert_eq!(t.get("/t").unwrap().stat().ephemeral_owner, 0);
    }
}
