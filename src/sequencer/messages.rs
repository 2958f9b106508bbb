//! What crosses cores: shard → sequencer requests and sequencer → shard
//! results. Queues are bounded `ArrayQueue`s; a doorbell (a capacity-1
//! glommio shared channel) wakes the parked side, and is rung once per burst,
//! not per message, because a cross-core wakeup costs ~25 µs.

use crate::proto::{ConnectResponse, ErrorCode, Response, SessionId, ZString, Zxid};
use crate::sequencer::prep::WriteRequest;
use crate::tree::Trigger;
use crate::watch::{ConnId, WatchKind};
use bytes::Bytes;
use std::sync::Arc;

pub type ShardId = usize;

/// Shard → sequencer.
pub enum ToSequencer {
    /// A write, sync or closeSession from a connection — or a read from a
    /// connection that has requests in flight, which must observe exactly the
    /// writes its session sent before it (FIFO order), so it is executed at its
    /// place in the txn order.
    Request {
        shard: ShardId,
        conn: ConnId,
        xid: i32,
        req: WriteRequest,
    },
    /// A handshake for a new session.
    CreateSession {
        shard: ShardId,
        conn: ConnId,
        timeout_ms: i32,
    },
    /// A handshake that names an existing session.
    Reattach {
        shard: ShardId,
        conn: ConnId,
        session: SessionId,
        passwd: Bytes,
        timeout_ms: i32,
    },
    /// Sessions that showed activity since the last report (like a learner's PING touch table).
    Touch { sessions: Vec<SessionId> },
    /// A connection went away without closeSession: the session lives on until it expires.
    Disconnected { conn: ConnId, session: SessionId },
}

/// One reply to one connection.
pub enum Reply {
    /// The answer to a [`ToSequencer::Request`]; `watches` are what a read armed,
    /// registered by the shard at this point of the trigger order.
    Done {
        conn: ConnId,
        xid: i32,
        zxid: Zxid,
        result: Result<Response, ErrorCode>,
        watches: Vec<(ZString, WatchKind)>,
    },
    /// A request that only touches shard state (addWatch, removeWatches, whoAmI …)
    /// handed back at its place in the order, for the shard to execute.
    /// `zxid` is the tree's zxid at that place, for the reply header.
    Local {
        conn: ConnId,
        xid: i32,
        zxid: Zxid,
        request: crate::proto::Request,
    },
    /// The handshake answer; `None` = session unknown or bad password: answer
    /// with an expired-session response and close.
    Connected {
        conn: ConnId,
        response: Option<ConnectResponse>,
    },
    /// The session ended (expired, closed elsewhere, or moved): close this connection.
    Close { conn: ConnId },
}

/// Sequencer → shard: the outcome of one applied batch, in apply order.
/// `triggers` is shared by every shard; each reply records how many triggers
/// precede it, so a shard fires a txn's watches before it sends any reply
/// that reflects the txn (watch before data), exactly as ZooKeeper orders them.
pub struct Batch {
    /// Close every client connection of the shard before anything else in
    /// this batch: the server stopped serving (it lost its leader, or stopped
    /// leading). Sessions live on; clients reconnect to a serving member.
    pub close_all: bool,
    pub triggers: Arc<Vec<Trigger>>,
    pub replies: Vec<(usize, Reply)>,
}
