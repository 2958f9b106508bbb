//! One znode: persisted stat fields, data, ACL reference, children names.

use crate::proto::{Stat, ZString};
use bytes::Bytes;
use std::collections::HashSet;

#[derive(Clone, Debug, Default)]
pub struct Znode {
    pub czxid: i64,
    pub mzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    pub cversion: i32,
    pub aversion: i32,
    /// 0, an owning session id, the container marker or a TTL (see `EphemeralType`).
    pub ephemeral_owner: i64,
    pub pzxid: i64,
    pub data: Bytes,
    /// Index into the tree's [`super::AclCache`] (ZooKeeper's `Long` ACL ids).
    pub acl: u64,
    /// Child names (last path segment only).
    pub children: HashSet<ZString>,
}

impl Znode {
    pub fn stat(&self) -> Stat {
        Stat {
            czxid: self.czxid,
            mzxid: self.mzxid,
            ctime: self.ctime,
            mtime: self.mtime,
            version: self.version,
            cversion: self.cversion,
            aversion: self.aversion,
            ephemeral_owner: self.ephemeral_owner,
            data_length: self.data.len() as i32,
            num_children: self.children.len() as i32,
            pzxid: self.pzxid,
        }
    }
}
