//! Executing read requests against the tree: what a shard does without
//! leaving its core. Returns the reply and the watch the read arms (ZooKeeper
//! arms an exists watch even when the node is missing).

use super::{AuthContext, DataTree};
use crate::proto::{ErrorCode, Request, Response, ZString};
use crate::watch::WatchKind;

pub struct ReadOutcome {
    pub result: Result<Response, ErrorCode>,
    /// A watch to register for the requesting connection, if the request asked for one.
    pub watch: Option<(ZString, WatchKind)>,
}

/// Executes getData, exists, getChildren, getChildren2, getACL, getEphemerals
/// (for `session`), getAllChildrenNumber and multiRead.
pub fn execute(
    tree: &DataTree,
    req: &Request,
    auth: &AuthContext,
    session: crate::proto::SessionId,
) -> ReadOutcome {
    let _ = (tree, req, auth, session);
    todo!()
}
