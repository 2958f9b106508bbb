//! The watch registry of one shard: which of its connections watch which
//! paths, and which events a [`crate::tree::Trigger`] fires.
//!
//! Registration is a read-path operation, so each shard keeps its own
//! registry; the sequencer broadcasts triggers and each shard matches them
//! here. Never touches the tree or sockets.

use crate::proto::{EventType, WatcherEvent, ZString};

/// A connection on a shard (unique per server process).
pub type ConnId = u64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WatchKind {
    /// getData on an existing node.
    Data,
    /// exists (node present or not): fires NodeCreated, NodeDataChanged, NodeDeleted.
    Exist,
    /// getChildren / getChildren2.
    Child,
    Persistent,
    PersistentRecursive,
}

#[derive(Default)]
pub struct WatchRegistry {}

impl WatchRegistry {
    pub fn add(&mut self, conn: ConnId, path: ZString, kind: WatchKind) {
        let _ = (conn, path, kind);
        todo!()
    }

    /// The events a change fires, one per watching connection, consuming one-shot watches.
    pub fn trigger(
        &mut self,
        trigger: &crate::tree::Trigger,
        out: &mut Vec<(ConnId, WatcherEvent)>,
    ) {
        let _ = (trigger, out);
        todo!()
    }

    /// Drops every watch of a closed connection.
    pub fn remove_conn(&mut self, conn: ConnId) {
        let _ = conn;
        todo!()
    }

    pub fn event_type_unused(_e: EventType) {}
}
