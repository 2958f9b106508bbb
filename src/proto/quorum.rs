//! Apache ZooKeeper's server-to-server wire formats: the quorum port's
//! `QuorumPacket`s (ZAB 1.0) and the election port's connection handshake and
//! FastLeaderElection notifications. Byte-level facts and their sources are in
//! `shared/QUORUM.md` (§0–§6); this module is their only home in corral.
//!
//! Like the rest of `proto`, it never does I/O and decodes untrusted bytes:
//! a peer speaking garbage gets a `DecodeError` (or `None` where Java drops
//! the message silently), never a panic, and no decoder allocates more than
//! the bytes already received justify.
//!
//! * this file: packet types, the streaming `QuorumPacket` decoder (the
//!   quorum port has no length prefix), `LearnerInfo` and the packet bodies;
//! * `election`: notifications, the election port's length-prefixed frames
//!   and its initial message;
//! * `config`: the quorum configuration text (`server.N=...`, `version=`)
//!   that notifications and NEWLEADER carry;
//! * `addr`: how Java reads and prints `host:port` text, shared by the two.
//!
//! `tests/fixtures/quorum/` holds bytes and verdicts printed by ZooKeeper's
//! own classes (`Golden.java`, `gen.sh`); `golden` checks this module
//! against them.

use super::codec::{DecodeError, Reader, Writer};
use super::records::Id;
use super::types::SessionId;
use bytes::{Buf, BufMut, Bytes, BytesMut};

mod addr;
mod config;
mod election;
#[cfg(test)]
mod golden;
#[cfg(test)]
mod proptests;

pub use config::{QuorumMember, parse_config, render_config};
pub use election::{decode_election_frame, encode_election_frame};

/// ZAB's protocol version, sent in `LEADERINFO` and `LearnerInfo` (0x10000).
pub const ZAB_PROTOCOL_VERSION: i32 = 0x10000;

/// The string that ends the snapshot a leader streams after SNAP
/// (`Learner.syncWithLeader` fails the sync on anything else).
pub const SNAP_SIGNATURE: &str = "BenWasHere";

/// The largest election-port message (`QuorumCnxManager.PACKETMAXSIZE`);
/// a length prefix outside 1..=this drops the connection.
pub const PACKET_MAX_SIZE: usize = 512 * 1024;

/// The largest address list an initial message may carry
/// (`QuorumCnxManager.maxBuffer`).
pub const INITIAL_MESSAGE_MAX_BUFFER: usize = 2048;

/// Initial-message version with one `host:port` (since 3.5.0).
pub const PROTOCOL_VERSION_V1: i64 = -65536;

/// Initial-message version with `|`-separated addresses (since 3.6.0; Java
/// sends it only with `zookeeper.multiAddress.enabled=true`).
pub const PROTOCOL_VERSION_V2: i64 = -65535;

/// The notification format `Notification::encode` writes
/// (`FastLeaderElection.Notification.CURRENTVERSION`).
pub const NOTIFICATION_VERSION: i32 = 2;

/// Java's default bound on one jute buffer or string: `jute.maxbuffer`
/// (0xfffff) plus `zookeeper.jute.maxbuffer.extrasize` (defaults to the same;
/// `BinaryInputArchive.checkLength`). The usual `max_data` for
/// [`QuorumPacket::decode_stream`].
pub const DATA_BYTES_MAX_DEFAULT: usize = 2 * 0xfffff;

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

impl PacketType {
    pub fn from_i32(v: i32) -> Option<PacketType> {
        use PacketType::*;
        Some(match v {
            1 => Request,
            2 => Proposal,
            3 => Ack,
            4 => Commit,
            5 => Ping,
            6 => Revalidate,
            7 => Sync,
            8 => Inform,
            9 => CommitAndActivate,
            10 => NewLeader,
            11 => FollowerInfo,
            12 => UpToDate,
            13 => Diff,
            14 => Trunc,
            15 => Snap,
            16 => ObserverInfo,
            17 => LeaderInfo,
            18 => AckEpoch,
            19 => InformAndActivate,
            _ => return None,
        })
    }

    pub fn as_i32(self) -> i32 {
        self as i32
    }
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

/// Why a scan of the stream stopped short of a whole packet.
enum Short {
    /// The packet is not all here yet.
    More,
    /// What is here can never become a packet.
    Bad(DecodeError),
}

/// A cursor that measures a packet in a borrowed buffer without decoding it.
struct Scan<'a> {
    buf: &'a [u8],
    at: usize,
}

impl Scan<'_> {
    fn skip(&mut self, n: usize) -> Result<(), Short> {
        if self.buf.len() - self.at < n {
            return Err(Short::More);
        }
        self.at += n;
        Ok(())
    }

    fn i32(&mut self) -> Result<i32, Short> {
        let at = self.at;
        self.skip(4)?;
        Ok((&self.buf[at..at + 4]).get_i32())
    }

    /// Skips a jute buffer or string of at most `max` bytes; returns its
    /// length (0 for null). The length is checked before its bytes arrive.
    fn skip_buffer(&mut self, max: usize) -> Result<usize, Short> {
        let offset = self.at;
        let len = self.i32()?;
        if len == -1 {
            return Ok(0);
        }
        if len < 0 || len as usize > max {
            return Err(Short::Bad(DecodeError::BadLength {
                offset,
                len: len as i64,
            }));
        }
        self.skip(len as usize)?;
        Ok(len as usize)
    }
}

/// The smallest encoding of an `Id`: two empty strings.
const ID_BYTES_MIN: usize = 8;

/// How many bytes the packet at the front of `buf` takes.
fn packet_len(buf: &[u8], max_data: usize) -> Result<usize, Short> {
    let mut s = Scan { buf, at: 0 };
    s.skip(4 + 8)?; // type, zxid
    s.skip_buffer(max_data)?;
    let offset = s.at;
    let count = s.i32()?;
    if count < -1 || (count.max(0) as usize).saturating_mul(ID_BYTES_MIN) > max_data {
        return Err(Short::Bad(DecodeError::BadLength {
            offset,
            len: count as i64,
        }));
    }
    // Java bounds each string alone; we also bound their sum, so that a
    // packet never needs more than 3 × max_data + 20 bytes of buffer.
    let mut strings_left = max_data;
    for _ in 0..count.max(0) {
        for _ in 0..2 {
            strings_left -= s.skip_buffer(strings_left)?;
        }
    }
    Ok(s.at)
}

impl QuorumPacket {
    /// A packet without authinfo (null vector), as Java builds all but
    /// REQUEST and the PING reply.
    pub fn new(kind: PacketType, zxid: i64, data: Option<Bytes>) -> QuorumPacket {
        QuorumPacket {
            kind: kind.as_i32(),
            zxid,
            data,
            auth: None,
        }
    }

    /// The type, if it is one ZooKeeper defines.
    pub fn packet_type(&self) -> Option<PacketType> {
        PacketType::from_i32(self.kind)
    }

    /// Appends the bare jute record, as `BinaryOutputArchive.writeRecord` does.
    pub fn encode(&self, w: &mut Writer) {
        w.i32(self.kind)
            .i64(self.zxid)
            .buffer_opt(self.data.as_deref());
        match &self.auth {
            None => {
                w.i32(-1);
            }
            Some(ids) => {
                w.vec(ids, |w, id| id.encode(w));
            }
        }
    }

    pub fn encode_to_bytes(&self) -> Bytes {
        let auth_bytes: usize = self
            .auth
            .iter()
            .flatten()
            .map(|id| 8 + id.scheme.len() + id.id.len())
            .sum();
        let data_bytes = self.data.as_ref().map_or(0, |d| d.len());
        let mut b = BytesMut::with_capacity(4 + 8 + 4 + data_bytes + 4 + auth_bytes);
        self.encode(&mut Writer::new(&mut b));
        b.freeze()
    }

    /// Splits the next packet off the front of `buf`, where packets follow
    /// one another with no length prefix (`Learner.writePacket`,
    /// `LearnerHandler.sendPackets`). `Ok(None)`: not all of it is here yet,
    /// and nothing was consumed. The data is a zero-copy slice of `buf`.
    ///
    /// Errors, for which the connection should drop: a data length outside
    /// -1..=`max_data`; an authinfo count below -1 or above what `max_data`
    /// bytes could hold; a string longer than what is left of `max_data`
    /// for all of authinfo's strings together. Java reads a count below -1
    /// as an empty vector (`BinaryInputArchive.startVector`); no Java
    /// server writes one.
    pub fn decode_stream(
        buf: &mut BytesMut,
        max_data: usize,
    ) -> Result<Option<QuorumPacket>, DecodeError> {
        let len = match packet_len(buf, max_data) {
            Ok(len) => len,
            Err(Short::More) => return Ok(None),
            Err(Short::Bad(e)) => return Err(e),
        };
        let mut r = Reader::new(buf.split_to(len).freeze());
        let kind = r.read_i32()?;
        let zxid = r.read_i64()?;
        let data = r.read_buffer_opt()?;
        let count = r.read_i32()?;
        let auth = match count {
            -1 => None,
            // The scan saw all `count` ids in `len` bytes: the capacity is earned.
            _ => {
                let mut ids = Vec::with_capacity(count as usize);
                for _ in 0..count {
                    ids.push(Id::decode(&mut r)?);
                }
                Some(ids)
            }
        };
        r.finish()?;
        Ok(Some(QuorumPacket {
            kind,
            zxid,
            data,
            auth,
        }))
    }
}

/// Fails unless `data` holds at least `n` bytes.
fn need(data: &[u8], n: usize) -> Result<(), DecodeError> {
    if data.len() < n {
        return Err(DecodeError::Truncated {
            offset: data.len(),
            needed: n - data.len(),
        });
    }
    Ok(())
}

/// `LearnerInfo { long serverid; int protocolVersion; long configVersion }`,
/// the body of FOLLOWERINFO / OBSERVERINFO.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LearnerInfo {
    pub sid: i64,
    pub protocol_version: i32,
    pub config_version: i64,
}

impl LearnerInfo {
    pub const WIRE_BYTES: usize = 20;

    /// What `Learner.registerWithLeader` sends: ZAB 1.0 and the learner's
    /// committed config version.
    pub fn new(sid: i64, config_version: i64) -> LearnerInfo {
        LearnerInfo {
            sid,
            protocol_version: ZAB_PROTOCOL_VERSION,
            config_version,
        }
    }

    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(Self::WIRE_BYTES);
        Writer::new(&mut b)
            .i64(self.sid)
            .i32(self.protocol_version)
            .i64(self.config_version);
        b.freeze()
    }

    /// Reads the fields the data is long enough for, as `LearnerHandler.run`
    /// does, and ignores the rest. An absent sid reads as 0 and an absent
    /// protocol version as 1 (that handler's field defaults; below 0x10000
    /// the leader skips LEADERINFO/ACKEPOCH and guesses the learner's
    /// epoch). An absent config version reads as 0, which no leader rejects;
    /// Java makes no check then. Null data (not this function's input) makes
    /// Java give the learner a made-up negative sid from a counter.
    pub fn decode(data: &[u8]) -> LearnerInfo {
        let mut b = data;
        LearnerInfo {
            sid: if data.len() >= 8 { b.get_i64() } else { 0 },
            protocol_version: if data.len() >= 12 { b.get_i32() } else { 1 },
            config_version: if data.len() >= 20 { b.get_i64() } else { 0 },
        }
    }
}

/// REQUEST's data (`Learner.request`): a client write or sync that a learner
/// forwards to the leader. `body` is the client's request exactly as it came,
/// after its RequestHeader.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestBody {
    pub session_id: SessionId,
    pub cxid: i32,
    pub op: i32,
    pub body: Bytes,
}

impl RequestBody {
    pub const HEADER_BYTES: usize = 16;

    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(Self::HEADER_BYTES + self.body.len());
        Writer::new(&mut b)
            .i64(self.session_id.0)
            .i32(self.cxid)
            .i32(self.op);
        b.put_slice(&self.body);
        b.freeze()
    }

    /// The body is a zero-copy slice of `data`. Java's leader fails the
    /// learner's connection on data shorter than 16 bytes.
    pub fn decode(data: &Bytes) -> Result<RequestBody, DecodeError> {
        need(data, Self::HEADER_BYTES)?;
        let mut b = &data[..];
        Ok(RequestBody {
            session_id: SessionId(b.get_i64()),
            cxid: b.get_i32(),
            op: b.get_i32(),
            body: data.slice(Self::HEADER_BYTES..),
        })
    }
}

/// LEADERINFO's data: the leader's protocol version (`LearnerHandler.run`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaderInfoBody {
    pub protocol_version: i32,
}

impl LeaderInfoBody {
    pub fn encode(&self) -> Bytes {
        Bytes::copy_from_slice(&self.protocol_version.to_be_bytes())
    }

    /// Like `Learner.registerWithLeader`, ignores anything after the int.
    pub fn decode(data: &[u8]) -> Result<LeaderInfoBody, DecodeError> {
        need(data, 4)?;
        Ok(LeaderInfoBody {
            protocol_version: (&data[..]).get_i32(),
        })
    }
}

/// ACKEPOCH's data: the learner's currentEpoch, or -1 when it had already
/// accepted the proposed epoch, so the reply must not count as an epoch ACK
/// (`Learner.registerWithLeader`). The packet's zxid is its last logged zxid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AckEpochBody {
    pub current_epoch: i32,
}

impl AckEpochBody {
    pub const NOT_AN_ACK: i32 = -1;

    pub fn encode(&self) -> Bytes {
        Bytes::copy_from_slice(&self.current_epoch.to_be_bytes())
    }

    /// Like `LearnerHandler.run`, ignores anything after the int.
    pub fn decode(data: &[u8]) -> Result<AckEpochBody, DecodeError> {
        need(data, 4)?;
        Ok(AckEpochBody {
            current_epoch: (&data[..]).get_i32(),
        })
    }
}

/// REVALIDATE from a learner: may this session (re)connect here?
/// (`Learner.validateSession`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RevalidateRequest {
    pub session_id: SessionId,
    pub timeout_ms: i32,
}

impl RevalidateRequest {
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(12);
        Writer::new(&mut b)
            .i64(self.session_id.0)
            .i32(self.timeout_ms);
        b.freeze()
    }

    /// Like `Leader.revalidateSession`, ignores anything after the 12 bytes.
    pub fn decode(data: &[u8]) -> Result<RevalidateRequest, DecodeError> {
        need(data, 12)?;
        let mut b = data;
        Ok(RevalidateRequest {
            session_id: SessionId(b.get_i64()),
            timeout_ms: b.get_i32(),
        })
    }
}

/// The leader's REVALIDATE answer (`Leader.revalidateSession`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RevalidateReply {
    pub session_id: SessionId,
    pub valid: bool,
}

impl RevalidateReply {
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(9);
        Writer::new(&mut b).i64(self.session_id.0).bool(self.valid);
        b.freeze()
    }

    /// Any non-zero byte is true (`DataInput.readBoolean`); like
    /// `Learner.revalidate`, ignores anything after the 9 bytes.
    pub fn decode(data: &[u8]) -> Result<RevalidateReply, DecodeError> {
        need(data, 9)?;
        let mut b = data;
        Ok(RevalidateReply {
            session_id: SessionId(b.get_i64()),
            valid: b.get_u8() != 0,
        })
    }
}

/// One entry of a PING reply's touch table: a session and its timeout.
const TOUCH_BYTES: usize = 12;

/// A learner's PING reply data: (sessionId, timeout) for each session
/// touched since the last PING, back to back with no count
/// (`Learner.ping`). Send this, possibly empty, never null data: the leader
/// wraps the data in a stream without a null check.
pub fn encode_ping_touches(touches: &[(SessionId, i32)]) -> Bytes {
    let mut b = BytesMut::with_capacity(touches.len() * TOUCH_BYTES);
    for &(session, timeout_ms) in touches {
        Writer::new(&mut b).i64(session.0).i32(timeout_ms);
    }
    b.freeze()
}

/// The leader's reading (`LearnerHandler.run`, case PING): entries until
/// the data ends. A partial entry is an error there (EOF, the learner is
/// dropped), and here.
pub fn decode_ping_touches(data: &[u8]) -> Result<Vec<(SessionId, i32)>, DecodeError> {
    let partial = data.len() % TOUCH_BYTES;
    if partial != 0 {
        return Err(DecodeError::Truncated {
            offset: data.len(),
            needed: TOUCH_BYTES - partial,
        });
    }
    let mut b = data;
    let mut touches = Vec::with_capacity(data.len() / TOUCH_BYTES);
    while b.has_remaining() {
        touches.push((SessionId(b.get_i64()), b.get_i32()));
    }
    Ok(touches)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(
        kind: PacketType,
        zxid: i64,
        data: Option<&'static [u8]>,
        auth: Option<Vec<Id>>,
    ) -> QuorumPacket {
        QuorumPacket {
            kind: kind.as_i32(),
            zxid,
            data: data.map(Bytes::from_static),
            auth,
        }
    }

    fn samples() -> Vec<QuorumPacket> {
        vec![
            packet(PacketType::Ping, 0x1_0000_0003, None, None),
            packet(PacketType::Ack, 0x2_0000_0001, Some(b""), Some(vec![])),
            packet(
                PacketType::Request,
                -1,
                Some(b"\0\0\0\0\0\0\0\x01\0\0\0\x07\0\0\0\x02xyz"),
                Some(vec![Id::new("ip", "127.0.0.1"), Id::new("digest", "bob:h")]),
            ),
            packet(
                PacketType::NewLeader,
                0x5_0000_0000,
                Some(b"server.1=a:1:2:participant\nversion=0"),
                None,
            ),
        ]
    }

    #[test]
    fn packet_types_round_trip_and_unknown_ones_are_none() {
        for v in 1..=19 {
            assert_eq!(PacketType::from_i32(v).map(PacketType::as_i32), Some(v));
        }
        for v in [0, 20, -1, i32::MAX] {
            assert_eq!(PacketType::from_i32(v), None);
        }
    }

    #[test]
    fn null_data_and_null_auth_are_minus_one() {
        let b = packet(PacketType::Ping, 7, None, None).encode_to_bytes();
        assert_eq!(
            &b[..],
            b"\0\0\0\x05\0\0\0\0\0\0\0\x07\xff\xff\xff\xff\xff\xff\xff\xff"
        );
    }

    #[test]
    fn stream_of_packets_decodes_in_order_and_consumes_exactly() {
        let mut buf = BytesMut::new();
        for p in samples() {
            p.encode(&mut Writer::new(&mut buf));
        }
        buf.extend_from_slice(b"\0\0"); // the start of the next packet
        for want in samples() {
            let got = QuorumPacket::decode_stream(&mut buf, 1024)
                .unwrap()
                .unwrap();
            assert_eq!(got, want);
        }
        assert_eq!(QuorumPacket::decode_stream(&mut buf, 1024), Ok(None));
        assert_eq!(&buf[..], b"\0\0");
    }

    #[test]
    fn partial_packet_consumes_nothing() {
        let whole = samples()[2].encode_to_bytes();
        for cut in 0..whole.len() {
            let mut buf = BytesMut::from(&whole[..cut]);
            assert_eq!(
                QuorumPacket::decode_stream(&mut buf, 1024),
                Ok(None),
                "cut at {cut}"
            );
            assert_eq!(buf.len(), cut);
        }
    }

    #[test]
    fn data_is_a_slice_of_the_stream_not_a_copy() {
        let mut buf = BytesMut::from(&samples()[3].encode_to_bytes()[..]);
        let start = buf.as_ptr() as usize;
        let p = QuorumPacket::decode_stream(&mut buf, 1024)
            .unwrap()
            .unwrap();
        assert_eq!(p.data.unwrap().as_ptr() as usize, start + 16);
    }

    fn header(data_len: i32) -> BytesMut {
        let mut b = BytesMut::new();
        Writer::new(&mut b).i32(5).i64(0).i32(data_len);
        b
    }

    #[test]
    fn data_length_beyond_max_fails_before_the_bytes_arrive() {
        assert!(matches!(
            QuorumPacket::decode_stream(&mut header(1025), 1024),
            Err(DecodeError::BadLength {
                offset: 12,
                len: 1025
            })
        ));
        assert!(matches!(
            QuorumPacket::decode_stream(&mut header(-2), 1024),
            Err(DecodeError::BadLength {
                offset: 12,
                len: -2
            })
        ));
        assert_eq!(
            QuorumPacket::decode_stream(&mut header(1024), 1024),
            Ok(None)
        );
    }

    #[test]
    fn absurd_auth_counts_and_strings_fail_early() {
        for count in [-2, i32::MIN, 129, i32::MAX] {
            let mut b = header(-1);
            b.put_i32(count);
            assert!(
                matches!(
                    QuorumPacket::decode_stream(&mut b, 1024),
                    Err(DecodeError::BadLength { offset: 16, .. })
                ),
                "count {count}"
            );
        }
        // 128 ids could fit in 1024 bytes: wait for them.
        let mut b = header(-1);
        b.put_i32(128);
        assert_eq!(QuorumPacket::decode_stream(&mut b, 1024), Ok(None));
        // Strings share one budget of max_data bytes.
        let mut b = header(-1);
        b.put_i32(2);
        b.put_i32(1000);
        b.put_slice(&[b'a'; 1000]);
        b.put_i32(24);
        assert!(matches!(
            QuorumPacket::decode_stream(&mut b.clone(), 1024),
            Ok(None)
        ));
        b.put_slice(&[b'b'; 24]);
        b.put_i32(1);
        assert!(matches!(
            QuorumPacket::decode_stream(&mut b, 1024),
            Err(DecodeError::BadLength { len: 1, .. })
        ));
    }

    #[test]
    fn learner_info_is_twenty_bytes_and_round_trips() {
        let li = LearnerInfo::new(3, 0x1_0000_0000);
        let b = li.encode();
        assert_eq!(b.len(), LearnerInfo::WIRE_BYTES);
        assert_eq!(&b[8..12], &ZAB_PROTOCOL_VERSION.to_be_bytes());
        assert_eq!(LearnerInfo::decode(&b), li);
    }

    #[test]
    fn short_learner_info_reads_what_is_there_like_learner_handler() {
        let b = LearnerInfo::new(9, 4).encode();
        let at = |n: usize| LearnerInfo::decode(&b[..n]);
        assert_eq!(
            at(0),
            LearnerInfo {
                sid: 0,
                protocol_version: 1,
                config_version: 0
            }
        );
        assert_eq!(at(7), at(0));
        assert_eq!(
            at(8),
            LearnerInfo {
                sid: 9,
                protocol_version: 1,
                config_version: 0
            }
        );
        assert_eq!(at(12).protocol_version, ZAB_PROTOCOL_VERSION);
        assert_eq!(at(19).config_version, 0);
        assert_eq!(at(20).config_version, 4);
        let mut long = b.to_vec();
        long.extend_from_slice(b"trailing");
        assert_eq!(LearnerInfo::decode(&long), LearnerInfo::new(9, 4));
    }

    #[test]
    fn request_body_round_trips_and_body_is_the_rest() {
        let r = RequestBody {
            session_id: SessionId(0x0100_0000_0000_0001),
            cxid: 7,
            op: 1,
            body: Bytes::from_static(b"\0\0\0\x02/a"),
        };
        let b = r.encode();
        assert_eq!(&b[..16], b"\x01\0\0\0\0\0\0\x01\0\0\0\x07\0\0\0\x01");
        assert_eq!(RequestBody::decode(&b), Ok(r));
        let bare = RequestBody::decode(&b.slice(..16)).unwrap();
        assert!(bare.body.is_empty());
        assert!(matches!(
            RequestBody::decode(&b.slice(..15)),
            Err(DecodeError::Truncated { needed: 1, .. })
        ));
    }

    #[test]
    fn leader_info_and_ack_epoch_are_one_int() {
        let li = LeaderInfoBody {
            protocol_version: ZAB_PROTOCOL_VERSION,
        };
        assert_eq!(&li.encode()[..], b"\0\x01\0\0");
        assert_eq!(LeaderInfoBody::decode(&li.encode()), Ok(li));
        let ack = AckEpochBody {
            current_epoch: AckEpochBody::NOT_AN_ACK,
        };
        assert_eq!(&ack.encode()[..], b"\xff\xff\xff\xff");
        assert_eq!(
            AckEpochBody::decode(b"\0\0\0\x05extra"),
            Ok(AckEpochBody { current_epoch: 5 })
        );
        assert!(AckEpochBody::decode(b"\0\0\0").is_err());
        assert!(LeaderInfoBody::decode(b"").is_err());
    }

    #[test]
    fn revalidate_request_and_reply_round_trip() {
        let q = RevalidateRequest {
            session_id: SessionId(-5),
            timeout_ms: 30_000,
        };
        assert_eq!(q.encode().len(), 12);
        assert_eq!(RevalidateRequest::decode(&q.encode()), Ok(q));
        assert!(RevalidateRequest::decode(&q.encode()[..11]).is_err());
        for valid in [true, false] {
            let a = RevalidateReply {
                session_id: SessionId(42),
                valid,
            };
            assert_eq!(a.encode().len(), 9);
            assert_eq!(RevalidateReply::decode(&a.encode()), Ok(a));
        }
        assert!(
            RevalidateReply::decode(b"\0\0\0\0\0\0\0\x01\x02")
                .unwrap()
                .valid
        );
        assert!(RevalidateReply::decode(b"\0\0\0\0\0\0\0\x01").is_err());
    }

    #[test]
    fn ping_touches_are_back_to_back_and_partial_entries_fail() {
        let touches = vec![(SessionId(1), 4000), (SessionId(i64::MIN), -1)];
        let b = encode_ping_touches(&touches);
        assert_eq!(b.len(), 24);
        assert_eq!(&b[..12], b"\0\0\0\0\0\0\0\x01\0\0\x0f\xa0");
        assert_eq!(decode_ping_touches(&b), Ok(touches));
        assert_eq!(decode_ping_touches(b""), Ok(vec![]));
        assert!(encode_ping_touches(&[]).is_empty());
        assert!(matches!(
            decode_ping_touches(&b[..20]),
            Err(DecodeError::Truncated { needed: 4, .. })
        ));
    }
}
