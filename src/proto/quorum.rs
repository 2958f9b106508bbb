//! Apache ZooKeeper's server-to-server wire formats: the quorum port's
//! `QuorumPacket`s (ZAB 1.0) and the election port's connection handshake and
//! FastLeaderElection notifications. Byte-level facts and their sources are in
//! `shared/QUORUM.md` (§0–§6); this module is their only home in corral.
//!
//! Like the rest of `proto`, it never does I/O and decodes untrusted bytes:
//! a peer speaking garbage gets a `DecodeError`, never a panic, and no decoder
//! allocates more than the input (bounded by `jute.maxbuffer`) justifies.

use super::records::Id;
use bytes::Bytes;

/// ZAB's protocol version, sent in `LEADERINFO` and `LearnerInfo` (0x10000).
pub const ZAB_PROTOCOL_VERSION: i32 = 0x10000;

/// `QuorumPacket.type` values (`Leader.java` constants).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PacketType {
    Request = 1,
    Proposal = 2,
    Ack = 3,
    Commit = 4,
    Ping = 5,
    Revalidate = 6,
    Sync = 7,
    Inform = 8,
    CommitAndActivate = 9,
    NewLeader = 10,
    FollowerInfo = 11,
    UpToDate = 12,
    Diff = 13,
    Trunc = 14,
    Snap = 15,
    ObserverInfo = 16,
    LeaderInfo = 17,
    AckEpoch = 18,
    InformAndActivate = 19,
}

/// `QuorumPacket { int type; long zxid; buffer data; vector<Id> authinfo }`.
/// `kind` keeps the raw type so that an unknown one can be reported as such.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuorumPacket {
    pub kind: i32,
    pub zxid: i64,
    /// `None` is jute's null buffer (length -1), distinct from an empty one.
    pub data: Option<Bytes>,
    /// `None` is a null vector (count -1).
    pub auth: Option<Vec<Id>>,
}

/// `LearnerInfo { long serverid; int protocolVersion; long configVersion }`,
/// the body of FOLLOWERINFO / OBSERVERINFO.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LearnerInfo {
    pub sid: i64,
    pub protocol_version: i32,
    pub config_version: i64,
}

/// A server's state as FastLeaderElection notifications carry it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PeerState {
    Looking = 0,
    Following = 1,
    Leading = 2,
    Observing = 3,
}

/// One FastLeaderElection notification (QUORUM.md §2), as decoded from any
/// of the four sizes Apache servers send. Fields are the wire's longs: an
/// observer proposes `i64::MIN` for leader, zxid and peer epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    pub state: PeerState,
    /// The proposed leader's sid.
    pub leader: i64,
    /// The proposed leader's last zxid.
    pub zxid: i64,
    /// The sender's election round (`logicalclock`).
    pub election_epoch: i64,
    /// The proposed leader's epoch.
    pub peer_epoch: i64,
    /// 0 for the 28- and 40-byte forms, else the version field (2 today).
    pub version: i32,
    /// The committed quorum configuration's text (empty when absent).
    pub config: Bytes,
}

/// The election port's initial message: who is connecting, and where it
/// listens for elections (QUORUM.md §1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitialMessage {
    /// The sender's sid.
    pub sid: i64,
    /// `host:port` election addresses it advertised (empty for the pre-3.5 form).
    pub addrs: Vec<String>,
}
