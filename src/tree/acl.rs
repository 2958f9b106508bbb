//! ACLs: the reference-counted ACL table, authentication schemes and the
//! permission check every op goes through.

use crate::proto::{Acl, ErrorCode, Id};
use std::collections::HashMap;

/// ZooKeeper's `ReferenceCountedACLCache`: nodes refer to ACL lists by a `u64`
/// id, so a million nodes with the same ACL share one list (and snapshots
/// store the table once).
#[derive(Default)]
pub struct AclCache {
    by_id: HashMap<u64, (Vec<Acl>, u64)>,
    by_acl: HashMap<Vec<Acl>, u64>,
    next_id: u64,
}

impl AclCache {
    pub fn get(&self, id: u64) -> &[Acl] {
        self.by_id
            .get(&id)
            .map(|(a, _)| a.as_slice())
            .unwrap_or(&[])
    }
}

/// What a connection has proven about itself: its ids (`ip:127.0.0.1`,
/// `digest:user:hash`, …) and whether one of them is the super user.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthContext {
    pub ids: Vec<Id>,
    pub is_super: bool,
}

/// Whether `auth` holds `perm` on a node whose ACL is `acl` (`ZooKeeperServer.checkACL`).
pub fn check(acl: &[Acl], perm: i32, auth: &AuthContext) -> Result<(), ErrorCode> {
    let _ = (acl, perm, auth);
    todo!()
}
