//! Jute records shared by requests, replies, txns and snapshots
//! (`zookeeper.jute`). Field order is wire order.

use super::codec::{DecodeError, Reader, Writer};
use super::types::{SessionId, ZString, Zxid};
use bytes::Bytes;

/// `org.apache.zookeeper.data.Stat`: 68 bytes on the wire.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stat {
    pub czxid: i64,
    pub mzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    pub cversion: i32,
    pub aversion: i32,
    pub ephemeral_owner: i64,
    pub data_length: i32,
    pub num_children: i32,
    pub pzxid: i64,
}

impl Stat {
    pub const WIRE_BYTES: usize = 68;

    pub fn encode(&self, w: &mut Writer) {
        w.i64(self.czxid)
            .i64(self.mzxid)
            .i64(self.ctime)
            .i64(self.mtime);
        w.i32(self.version).i32(self.cversion).i32(self.aversion);
        w.i64(self.ephemeral_owner)
            .i32(self.data_length)
            .i32(self.num_children)
            .i64(self.pzxid);
    }

    pub fn decode(r: &mut Reader) -> Result<Stat, DecodeError> {
        Ok(Stat {
            czxid: r.read_i64()?,
            mzxid: r.read_i64()?,
            ctime: r.read_i64()?,
            mtime: r.read_i64()?,
            version: r.read_i32()?,
            cversion: r.read_i32()?,
            aversion: r.read_i32()?,
            ephemeral_owner: r.read_i64()?,
            data_length: r.read_i32()?,
            num_children: r.read_i32()?,
            pzxid: r.read_i64()?,
        })
    }
}

/// `Id { scheme, id }`: an identity such as `digest:user:hash` or `world:anyone`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id {
    pub scheme: ZString,
    pub id: ZString,
}

impl Id {
    pub fn new(scheme: &str, id: &str) -> Id {
        Id {
            scheme: scheme.into(),
            id: id.into(),
        }
    }
    pub fn encode(&self, w: &mut Writer) {
        w.ustring(&self.scheme).ustring(&self.id);
    }
    pub fn decode(r: &mut Reader) -> Result<Id, DecodeError> {
        Ok(Id {
            scheme: r.read_ustring()?,
            id: r.read_ustring()?,
        })
    }
}

/// Permission bits (`ZooDefs.Perms`).
pub mod perms {
    pub const READ: i32 = 1;
    pub const WRITE: i32 = 2;
    pub const CREATE: i32 = 4;
    pub const DELETE: i32 = 8;
    pub const ADMIN: i32 = 16;
    pub const ALL: i32 = 31;
}

/// `ACL { perms, id }`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Acl {
    pub perms: i32,
    pub id: Id,
}

impl Acl {
    pub fn new(perms: i32, scheme: &str, id: &str) -> Acl {
        Acl {
            perms,
            id: Id::new(scheme, id),
        }
    }
    /// `OPEN_ACL_UNSAFE`.
    pub fn open_unsafe() -> Vec<Acl> {
        vec![Acl::new(perms::ALL, "world", "anyone")]
    }
    pub fn encode(&self, w: &mut Writer) {
        w.i32(self.perms);
        self.id.encode(w);
    }
    pub fn decode(r: &mut Reader) -> Result<Acl, DecodeError> {
        Ok(Acl {
            perms: r.read_i32()?,
            id: Id::decode(r)?,
        })
    }
}

pub fn encode_acls(w: &mut Writer, acls: &[Acl]) {
    w.vec(acls, |w, a| a.encode(w));
}

pub fn decode_acls(r: &mut Reader) -> Result<Vec<Acl>, DecodeError> {
    // perms + two empty strings = 12 bytes at least
    r.read_vec(12, Acl::decode)
}

pub fn decode_strings(r: &mut Reader) -> Result<Vec<ZString>, DecodeError> {
    r.read_vec(4, |r| r.read_ustring())
}

pub fn encode_strings<S: AsRef<str>>(w: &mut Writer, v: &[S]) {
    w.vec(v, |w, s| {
        w.ustring(s.as_ref());
    });
}

/// The first frame a client sends (no request header).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectRequest {
    pub protocol_version: i32,
    pub last_zxid_seen: Zxid,
    pub timeout_ms: i32,
    pub session_id: SessionId,
    pub passwd: Bytes,
    /// `None` when an old client omitted the trailing byte; the reply then omits it too.
    pub read_only: Option<bool>,
}

impl ConnectRequest {
    pub fn decode(r: &mut Reader) -> Result<ConnectRequest, DecodeError> {
        let protocol_version = r.read_i32()?;
        let last_zxid_seen = Zxid(r.read_i64()?);
        let timeout_ms = r.read_i32()?;
        let session_id = SessionId(r.read_i64()?);
        let passwd = r.read_buffer()?;
        let read_only = if r.is_empty() {
            None
        } else {
            Some(r.read_bool()?)
        };
        Ok(ConnectRequest {
            protocol_version,
            last_zxid_seen,
            timeout_ms,
            session_id,
            passwd,
            read_only,
        })
    }

    pub fn encode(&self, w: &mut Writer) {
        w.i32(self.protocol_version)
            .i64(self.last_zxid_seen.0)
            .i32(self.timeout_ms);
        w.i64(self.session_id.0).buffer(&self.passwd);
        if let Some(ro) = self.read_only {
            w.bool(ro);
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectResponse {
    pub protocol_version: i32,
    pub timeout_ms: i32,
    pub session_id: SessionId,
    pub passwd: Bytes,
    pub read_only: Option<bool>,
}

impl ConnectResponse {
    pub fn encode(&self, w: &mut Writer) {
        w.i32(self.protocol_version)
            .i32(self.timeout_ms)
            .i64(self.session_id.0);
        w.buffer(&self.passwd);
        if let Some(ro) = self.read_only {
            w.bool(ro);
        }
    }
    pub fn decode(r: &mut Reader) -> Result<ConnectResponse, DecodeError> {
        let protocol_version = r.read_i32()?;
        let timeout_ms = r.read_i32()?;
        let session_id = SessionId(r.read_i64()?);
        let passwd = r.read_buffer()?;
        let read_only = if r.is_empty() {
            None
        } else {
            Some(r.read_bool()?)
        };
        Ok(ConnectResponse {
            protocol_version,
            timeout_ms,
            session_id,
            passwd,
            read_only,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestHeader {
    pub xid: i32,
    pub op: i32,
}

impl RequestHeader {
    pub fn decode(r: &mut Reader) -> Result<RequestHeader, DecodeError> {
        Ok(RequestHeader {
            xid: r.read_i32()?,
            op: r.read_i32()?,
        })
    }
    pub fn encode(&self, w: &mut Writer) {
        w.i32(self.xid).i32(self.op);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyHeader {
    pub xid: i32,
    pub zxid: i64,
    pub err: i32,
}

impl ReplyHeader {
    pub const WIRE_BYTES: usize = 16;
    pub fn encode(&self, w: &mut Writer) {
        w.i32(self.xid).i64(self.zxid).i32(self.err);
    }
    pub fn decode(r: &mut Reader) -> Result<ReplyHeader, DecodeError> {
        Ok(ReplyHeader {
            xid: r.read_i32()?,
            zxid: r.read_i64()?,
            err: r.read_i32()?,
        })
    }
}

/// Separates the ops of a multi request and of its response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MultiHeader {
    pub op: i32,
    pub done: bool,
    pub err: i32,
}

impl MultiHeader {
    pub fn encode(&self, w: &mut Writer) {
        w.i32(self.op).bool(self.done).i32(self.err);
    }
    pub fn decode(r: &mut Reader) -> Result<MultiHeader, DecodeError> {
        Ok(MultiHeader {
            op: r.read_i32()?,
            done: r.read_bool()?,
            err: r.read_i32()?,
        })
    }
}

/// `Watcher.Event.EventType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventType {
    None,
    NodeCreated,
    NodeDeleted,
    NodeDataChanged,
    NodeChildrenChanged,
    DataWatchRemoved,
    ChildWatchRemoved,
    PersistentWatchRemoved,
}

impl EventType {
    pub fn as_i32(self) -> i32 {
        match self {
            EventType::None => -1,
            EventType::NodeCreated => 1,
            EventType::NodeDeleted => 2,
            EventType::NodeDataChanged => 3,
            EventType::NodeChildrenChanged => 4,
            EventType::DataWatchRemoved => 5,
            EventType::ChildWatchRemoved => 6,
            EventType::PersistentWatchRemoved => 7,
        }
    }
}

/// `Watcher.Event.KeeperState` values the server sends.
pub mod keeper_state {
    pub const SYNC_CONNECTED: i32 = 3;
    pub const EXPIRED: i32 = -112;
}

/// `WatcherEvent { type, state, path }`, sent with xid -1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatcherEvent {
    pub event_type: EventType,
    pub state: i32,
    pub path: ZString,
}

impl WatcherEvent {
    pub fn encode(&self, w: &mut Writer) {
        w.i32(self.event_type.as_i32())
            .i32(self.state)
            .ustring(&self.path);
    }
}

/// `Watcher.WatcherType` for checkWatches / removeWatches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WatcherType {
    Children,
    Data,
    Any,
    Persistent,
    PersistentRecursive,
}

impl WatcherType {
    pub fn from_i32(v: i32) -> Option<WatcherType> {
        Some(match v {
            1 => WatcherType::Children,
            2 => WatcherType::Data,
            3 => WatcherType::Any,
            4 => WatcherType::Persistent,
            5 => WatcherType::PersistentRecursive,
            _ => return None,
        })
    }
}

/// `ZooDefs.AddWatchModes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddWatchMode {
    Persistent,
    PersistentRecursive,
}

impl AddWatchMode {
    pub fn from_i32(v: i32) -> Option<AddWatchMode> {
        match v {
            0 => Some(AddWatchMode::Persistent),
            1 => Some(AddWatchMode::PersistentRecursive),
            _ => None,
        }
    }
}

/// `CreateMode`, from the `flags` of a create request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CreateMode {
    Persistent,
    Ephemeral,
    PersistentSequential,
    EphemeralSequential,
    Container,
    PersistentWithTtl,
    PersistentSequentialWithTtl,
}

impl CreateMode {
    pub fn from_flags(flags: i32) -> Option<CreateMode> {
        Some(match flags {
            0 => CreateMode::Persistent,
            1 => CreateMode::Ephemeral,
            2 => CreateMode::PersistentSequential,
            3 => CreateMode::EphemeralSequential,
            4 => CreateMode::Container,
            5 => CreateMode::PersistentWithTtl,
            6 => CreateMode::PersistentSequentialWithTtl,
            _ => return None,
        })
    }
    pub fn is_ephemeral(self) -> bool {
        matches!(
            self,
            CreateMode::Ephemeral | CreateMode::EphemeralSequential
        )
    }
    pub fn is_sequential(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentSequential
                | CreateMode::EphemeralSequential
                | CreateMode::PersistentSequentialWithTtl
        )
    }
    pub fn is_container(self) -> bool {
        self == CreateMode::Container
    }
    pub fn is_ttl(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentWithTtl | CreateMode::PersistentSequentialWithTtl
        )
    }
}

/// `ClientInfo { authScheme, user }` as whoAmI returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientInfo {
    pub auth_scheme: ZString,
    pub user: ZString,
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;

    #[test]
    fn stat_is_68_bytes_and_round_trips() {
        let s = Stat {
            czxid: 1,
            mzxid: 2,
            ctime: 3,
            mtime: 4,
            version: 5,
            cversion: 6,
            aversion: 7,
            ephemeral_owner: 8,
            data_length: 9,
            num_children: 10,
            pzxid: 11,
        };
        let mut b = BytesMut::new();
        s.encode(&mut Writer::new(&mut b));
        assert_eq!(b.len(), Stat::WIRE_BYTES);
        assert_eq!(Stat::decode(&mut Reader::new(b.freeze())).unwrap(), s);
    }

    #[test]
    fn connect_request_without_read_only_byte_is_accepted() {
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: Zxid(5),
            timeout_ms: 30000,
            session_id: SessionId(0),
            passwd: Bytes::from(vec![0u8; 16]),
            read_only: None,
        };
        let mut b = BytesMut::new();
        req.encode(&mut Writer::new(&mut b));
        assert_eq!(b.len(), 44);
        let back = ConnectRequest::decode(&mut Reader::new(b.freeze())).unwrap();
        assert_eq!(back, req);
    }

    #[test]
    fn connect_response_is_36_or_37_bytes() {
        let mut resp = ConnectResponse {
            protocol_version: 0,
            timeout_ms: 4000,
            session_id: SessionId(1),
            passwd: Bytes::from(vec![0u8; 16]),
            read_only: None,
        };
        let mut b = BytesMut::new();
        resp.encode(&mut Writer::new(&mut b));
        assert_eq!(b.len(), 36);
        resp.read_only = Some(false);
        let mut b = BytesMut::new();
        resp.encode(&mut Writer::new(&mut b));
        assert_eq!(b.len(), 37);
    }

    #[test]
    fn create_mode_flags_match_zookeeper() {
        assert_eq!(
            CreateMode::from_flags(3),
            Some(CreateMode::EphemeralSequential)
        );
        assert!(CreateMode::from_flags(6).unwrap().is_ttl());
        assert!(CreateMode::from_flags(6).unwrap().is_sequential());
        assert_eq!(CreateMode::from_flags(7), None);
    }
}
