//! The data tree: znodes, their stats, children, ACLs, ephemeral owners.
//!
//! Owns the in-memory state that every read sees. It is single-writer: only
//! the sequencer's apply step calls [`DataTree::apply`], one committed txn at a
//! time in zxid order; shards read it through the server's read view. It never
//! decides whether a write is allowed (that is the sequencer's prep step) and
//! never does I/O. Applying returns the watch [`Trigger`]s a change fires.

pub mod acl;
mod apply;
pub mod node;
pub mod read;

pub use acl::{AclCache, AuthContext};
pub use node::Znode;

use crate::proto::{EventType, SessionId, Stat, ZString, Zxid};
use std::collections::{HashMap, HashSet};

/// A change that may fire watches: sent by the sequencer to every shard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trigger {
    pub path: ZString,
    pub event: EventType,
    pub zxid: Zxid,
}

pub struct DataTree {
    nodes: HashMap<ZString, Znode>,
    acls: AclCache,
    /// session → paths of its ephemeral nodes.
    ephemerals: HashMap<SessionId, HashSet<ZString>>,
    containers: HashSet<ZString>,
    ttls: HashSet<ZString>,
    last_zxid: Zxid,
}

impl DataTree {
    /// A tree holding `/`, `/zookeeper`, `/zookeeper/quota` and `/zookeeper/config` as ZooKeeper creates them.
    pub fn new() -> DataTree {
        todo!()
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

    /// The zxid of the last applied txn.
    pub fn last_zxid(&self) -> Zxid {
        self.last_zxid
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn ephemerals_of(&self, session: SessionId) -> Option<&HashSet<ZString>> {
        self.ephemerals.get(&session)
    }

    pub fn ephemerals(&self) -> &HashMap<SessionId, HashSet<ZString>> {
        &self.ephemerals
    }

    pub fn containers(&self) -> &HashSet<ZString> {
        &self.containers
    }

    pub fn ttls(&self) -> &HashSet<ZString> {
        &self.ttls
    }

    /// Sum of path and data bytes, as `approximate_data_size` in mntr.
    pub fn approximate_data_size(&self) -> u64 {
        todo!()
    }
}

impl Default for DataTree {
    fn default() -> Self {
        DataTree::new()
    }
}
