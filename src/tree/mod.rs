//! The data tree: znodes, their stats, children, ACLs, ephemeral owners.
//!
//! Owns the in-memory state that every read sees. It is single-writer: only
//! the sequencer's apply step calls [`DataTree::apply`], one committed txn at a
//! time in zxid order; shards read it through the server's read view. It never
//! decides whether a write is allowed (that is the sequencer's prep step) and
//! never does I/O. Applying returns the watch [`Trigger`]s a change fires.
//!
//! Semantics follow Apache ZooKeeper 3.9's `DataTree`: stats are kept in
//! their persisted form (see [`Znode`]), ACL lists are shared through the
//! [`AclCache`], and the root is `/` (ZooKeeper also maps it under `""`).

pub mod acl;
mod apply;
mod load;
mod name;
pub mod node;
pub mod read;
mod table;

pub use acl::{AclCache, AuthContext};
pub use load::{ReadyNode, TreeLoad, Unpin};
pub use name::Name;
pub use node::{NodeKind, Znode};

use crate::proto::{Acl, EventType, SessionId, Stat, ZString, Zxid};
use acl::OPEN_UNSAFE_ACL_ID;
use bytes::Bytes;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// The hasher of every path-keyed map and set in the tree: foldhash, seeded
/// per process. SipHash (std's default) was 29% of the instructions of a
/// snapshot load and is paid on every read's lookup.
pub type PathHasher = foldhash::fast::RandomState;
/// A set of znode paths (or child names).
pub type PathSet = HashSet<ZString, PathHasher>;

/// A change that may fire watches: sent by the sequencer to every shard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trigger {
    pub path: ZString,
    pub event: EventType,
    pub zxid: Zxid,
    /// The ACL of the node the event is about (the parent's for
    /// NodeChildrenChanged; the deleted node's for NodeDeleted). ZooKeeper
    /// 3.9.2+ delivers an event only to watchers holding READ on it
    /// (`NIOServerCnxn.process(event, znodeAcl)`).
    pub acl: Arc<[Acl]>,
}

pub const ROOT: &str = "/";
pub const PROC_ZOOKEEPER: &str = "/zookeeper";
pub const QUOTA_ZOOKEEPER: &str = "/zookeeper/quota";
pub const CONFIG_ZOOKEEPER: &str = "/zookeeper/config";

/// A snapshot that cannot be turned into a tree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    #[error("invalid data tree: no parent {parent} for {path}")]
    MissingParent { path: String, parent: String },
    #[error("invalid data tree: path {0} is not absolute")]
    NotAbsolute(String),
}

pub struct DataTree {
    /// Path → znode, one pointer per slot (see [`table`]).
    nodes: table::NodeTable,
    acls: AclCache,
    /// session → paths of its ephemeral nodes.
    ephemerals: HashMap<SessionId, PathSet>,
    containers: PathSet,
    ttls: PathSet,
    last_zxid: Zxid,
    /// `zookeeper.extendedTypesEnabled`: whether `0xff..` owners mean TTL.
    extended_types: bool,
    /// ZooKeeper's `nodeDataSize`: path and data bytes, kept incrementally.
    data_size: u64,
    /// The snapshot file loaded nodes still slice their path and data from,
    /// until an [`Unpin`] has copied them out.
    pinned: Option<Bytes>,
    /// This tree's identity for [`Generation`]: new for every tree and
    /// every load into it.
    generation: Arc<()>,
}

/// Which tree a long pass over it (a snapshot walk) started on. A tree made
/// anew, or emptied for a load ([`DataTree::begin_load`]), is a different
/// generation, so a pass can tell that the tree it holds is no longer the
/// one it began on (a learner replaces its tree on SNAP or TRUNC) and stop
/// instead of mixing two trees. Holding one keeps the identity's allocation
/// alive, so no later tree can take its address.
#[derive(Clone, Debug)]
pub struct Generation(std::sync::Weak<()>);

impl Generation {
    /// Whether `tree` is still the tree this generation was taken from.
    pub fn is_current(&self, tree: &DataTree) -> bool {
        std::ptr::eq(self.0.as_ptr(), Arc::as_ptr(&tree.generation))
    }
}

/// Path length as Java's `String.length()` counts it (UTF-16 code units),
/// which is what ZooKeeper's size accounting adds up.
fn java_len(s: &str) -> u64 {
    if s.is_ascii() {
        s.len() as u64
    } else {
        s.encode_utf16().count() as u64
    }
}

fn node_size(path: &str, data: &[u8]) -> u64 {
    java_len(path) + data.len() as u64
}

/// A node with ZooKeeper's all-zero `StatPersisted` (the built-in nodes).
fn builtin_node(acl: u64, children: &[&'static str]) -> Znode {
    Znode {
        acl,
        children: children.iter().copied().collect(),
        ..Default::default()
    }
}

impl DataTree {
    /// A tree holding `/`, `/zookeeper`, `/zookeeper/quota` and `/zookeeper/config` as ZooKeeper creates them.
    pub fn new() -> DataTree {
        let mut tree = DataTree {
            nodes: table::NodeTable::default(),
            acls: AclCache::default(),
            ephemerals: HashMap::new(),
            containers: PathSet::default(),
            ttls: PathSet::default(),
            last_zxid: Zxid::ZERO,
            extended_types: false,
            data_size: 0,
            pinned: None,
            generation: Arc::new(()),
        };
        // ZooKeeper gives the first three nodes ACL id -1 (OPEN_ACL_UNSAFE,
        // no table entry) and the config node READ_ACL_UNSAFE through
        // setACL(.., version -1): it takes ACL id 1 and aversion -1.
        tree.insert_builtin(ROOT, builtin_node(OPEN_UNSAFE_ACL_ID, &["zookeeper"]));
        tree.insert_builtin(
            PROC_ZOOKEEPER,
            builtin_node(OPEN_UNSAFE_ACL_ID, &["quota", "config"]),
        );
        tree.insert_builtin(QUOTA_ZOOKEEPER, builtin_node(OPEN_UNSAFE_ACL_ID, &[]));
        let read_unsafe = [Acl::new(crate::proto::perms::READ, "world", "anyone")];
        let mut config = builtin_node(tree.acls.convert(&read_unsafe), &[]);
        config.aversion = -1;
        tree.insert_builtin(CONFIG_ZOOKEEPER, config);
        tree.data_size = tree.full_data_size();
        tree
    }

    fn insert_builtin(&mut self, path: &'static str, node: Znode) {
        self.nodes.insert(ZString::from_static(path), node);
    }

    /// `approximateDataSize`: every node's path and data, with the root
    /// counted a second time under its `""` alias as ZooKeeper's map holds it.
    fn full_data_size(&self) -> u64 {
        let alias = self.nodes.get(ROOT).map_or(0, |r| r.data.len() as u64);
        alias
            + self
                .nodes
                .iter()
                .map(|(p, n)| node_size(p, &n.data))
                .sum::<u64>()
    }

    /// Turns `zookeeper.extendedTypesEnabled` on or off (off by default, as in
    /// ZooKeeper). Decides whether `0xff..` owners are TTL nodes; the indexes
    /// are rebuilt, so it may be called after nodes exist.
    pub fn set_extended_types_enabled(&mut self, enabled: bool) {
        if self.extended_types == enabled {
            return;
        }
        self.extended_types = enabled;
        self.ephemerals.clear();
        self.containers.clear();
        self.ttls.clear();
        let mut entries: Vec<(ZString, NodeKind, i64)> = Vec::new();
        for (path, node) in self.nodes.iter_mut() {
            node.kind = NodeKind::of(node.ephemeral_owner, enabled);
            if node.kind != NodeKind::Persistent {
                entries.push((path.clone(), node.kind, node.ephemeral_owner));
            }
        }
        for (path, kind, owner) in entries {
            self.index(path, kind, owner);
        }
    }

    pub fn extended_types_enabled(&self) -> bool {
        self.extended_types
    }

    /// Records a new node in the ephemeral / container / TTL indexes.
    fn index(&mut self, path: ZString, kind: NodeKind, owner: i64) {
        match kind {
            NodeKind::Persistent => {}
            NodeKind::Ephemeral => {
                self.ephemerals
                    .entry(SessionId(owner))
                    .or_default()
                    .insert(path);
            }
            NodeKind::Container => {
                self.containers.insert(path);
            }
            NodeKind::Ttl => {
                self.ttls.insert(path);
            }
        }
    }

    /// Removes a deleted node from the indexes.
    fn unindex(&mut self, path: &str, kind: NodeKind, owner: i64) {
        match kind {
            NodeKind::Persistent => {}
            NodeKind::Ephemeral => {
                let session = SessionId(owner);
                if let Some(set) = self.ephemerals.get_mut(&session) {
                    set.remove(path);
                    if set.is_empty() {
                        self.ephemerals.remove(&session);
                    }
                }
            }
            NodeKind::Container => {
                self.containers.remove(path);
            }
            NodeKind::Ttl => {
                self.ttls.remove(path);
            }
        }
    }

    pub fn get(&self, path: &str) -> Option<&Znode> {
        self.nodes.get(path)
    }

    /// The full wire stat of a node (dataLength and numChildren filled in).
    pub fn stat(&self, node: &Znode) -> Stat {
        node.stat()
    }

    pub fn acl(&self, node: &Znode) -> &[crate::proto::Acl] {
        self.acls.get(node.acl)
    }

    /// This tree's current [`Generation`].
    pub fn generation(&self) -> Generation {
        Generation(Arc::downgrade(&self.generation))
    }

    /// The ACL table (what a snapshot writes first).
    pub fn acl_cache(&self) -> &AclCache {
        &self.acls
    }

    /// The zxid of the last applied txn.
    pub fn last_zxid(&self) -> Zxid {
        self.last_zxid
    }

    /// Sets the last applied zxid (after loading a snapshot).
    pub fn set_last_zxid(&mut self, zxid: Zxid) {
        self.last_zxid = zxid;
    }

    /// Number of znodes. ZooKeeper's `zk_znode_count` is one more: its map
    /// holds the root twice (under `""` and `/`).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Every node with its path, in no particular order.
    pub fn nodes(&self) -> impl Iterator<Item = (&ZString, &Znode)> {
        self.nodes.iter()
    }

    pub fn ephemerals_of(&self, session: SessionId) -> Option<&PathSet> {
        self.ephemerals.get(&session)
    }

    pub fn ephemerals(&self) -> &HashMap<SessionId, PathSet> {
        &self.ephemerals
    }

    /// `zk_ephemerals_count`: ephemeral nodes over all sessions.
    pub fn ephemerals_count(&self) -> usize {
        self.ephemerals.values().map(PathSet::len).sum()
    }

    pub fn containers(&self) -> &PathSet {
        &self.containers
    }

    pub fn ttls(&self) -> &PathSet {
        &self.ttls
    }

    /// Sum of path and data bytes, as `approximate_data_size` in mntr
    /// (ZooKeeper's cached `nodeDataSize`: the root's data counts twice as of
    /// construction or load, then creates, deletes and setData adjust it).
    pub fn approximate_data_size(&self) -> u64 {
        self.data_size
    }

    /// `ZKDatabase.initConfigInZKDatabase`: stores the quorum config in
    /// `/zookeeper/config` (version -1, mzxid = the config's version), as a
    /// quorum server does at startup. Fires no watches.
    pub fn set_config_data(&mut self, data: Bytes, config_version: i64, now_ms: i64) {
        let Some(node) = self.nodes.get_mut(CONFIG_ZOOKEEPER) else {
            return;
        };
        self.data_size =
            (self.data_size + data.len() as u64).saturating_sub(node.data.len() as u64);
        node.data = data.into();
        node.version = -1;
        node.mzxid = config_version;
        node.mtime = now_ms;
    }

    /// Starts loading a snapshot: empties the tree and its ACL table and
    /// returns the loader that takes the snapshot's entries (see
    /// [`TreeLoad`]). A load abandoned on an error leaves the tree unusable.
    /// The emptied tree is a new [`Generation`].
    pub fn begin_load(&mut self) -> TreeLoad<'_> {
        self.generation = Arc::new(());
        self.nodes.clear();
        self.acls = AclCache::default();
        self.ephemerals.clear();
        self.containers.clear();
        self.ttls.clear();
        self.data_size = 0;
        self.pinned = None;
        TreeLoad::new(self)
    }

    /// The pass that copies loaded nodes' paths and data out of the snapshot
    /// file they were loaded from; `None` if nothing refers to a file. Whoever
    /// loads a tree runs it (the server's sequencer does at start); until it
    /// has, the file stays mapped.
    pub fn unpin(&mut self) -> Option<Unpin> {
        let file = self.pinned.take()?;
        Some(Unpin::new(file, self))
    }
}

impl Default for DataTree {
    fn default() -> Self {
        DataTree::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::perms;

    #[test]
    fn new_tree_has_zookeepers_builtin_nodes() {
        let t = DataTree::new();
        assert_eq!(t.node_count(), 4);
        let root = t.get("/").unwrap();
        assert_eq!(t.acl(root), &Acl::open_unsafe()[..]);
        assert_eq!(root.acl, OPEN_UNSAFE_ACL_ID);
        assert_eq!(root.stat().num_children, 1);
        let zk = t.get("/zookeeper").unwrap();
        // Two children added without creates: clients see cversion -2, as
        // `stat /zookeeper` on a ZooKeeper server shows.
        assert_eq!(zk.stat().cversion, -2);
        assert_eq!(zk.stat().num_children, 2);
        assert!(t.get("/zookeeper/quota").is_some());
        let config = t.get("/zookeeper/config").unwrap();
        assert_eq!(config.acl, 1);
        assert_eq!(config.aversion, -1);
        assert_eq!(
            t.acl(config),
            &[Acl::new(perms::READ, "world", "anyone")][..]
        );
        assert_eq!(t.stat(config).czxid, 0);
        assert_eq!(t.last_zxid(), Zxid::ZERO);
    }

    #[test]
    fn new_tree_data_size_counts_paths_and_root_alias() {
        let t = DataTree::new();
        // "" + "/" + "/zookeeper" + "/zookeeper/quota" + "/zookeeper/config"
        assert_eq!(t.approximate_data_size(), 1 + 10 + 16 + 17);
    }

    #[test]
    fn java_len_counts_utf16_units() {
        assert_eq!(java_len("/abc"), 4);
        assert_eq!(java_len("/é"), 2);
        assert_eq!(java_len("/日本"), 3);
    }

    #[test]
    fn config_data_sets_version_minus_one_and_mzxid() {
        let mut t = DataTree::new();
        let before = t.approximate_data_size();
        t.set_config_data(Bytes::from_static(b"server.1=a:1:2"), 0x1_0000_0000, 5);
        let c = t.get(CONFIG_ZOOKEEPER).unwrap();
        assert_eq!((c.version, c.mzxid, c.mtime), (-1, 0x1_0000_0000, 5));
        assert_eq!(t.approximate_data_size(), before + 14);
    }
}
