//! The election port (`QuorumCnxManager`): the initial message a connecting
//! server sends, the length-prefixed frames after it, and the
//! FastLeaderElection notifications those frames carry.

use super::addr::parse_election_addrs;
use super::{
    INITIAL_MESSAGE_MAX_BUFFER, InitialMessage, NOTIFICATION_VERSION, Notification,
    PACKET_MAX_SIZE, PROTOCOL_VERSION_V1, PROTOCOL_VERSION_V2, PeerState,
};
use crate::proto::codec::DecodeError;
use bytes::{Buf, BufMut, Bytes, BytesMut};

impl PeerState {
    pub fn from_i32(v: i32) -> Option<PeerState> {
        Some(match v {
            0 => PeerState::Looking,
            1 => PeerState::Following,
            2 => PeerState::Leading,
            3 => PeerState::Observing,
            _ => return None,
        })
    }

    pub fn as_i32(self) -> i32 {
        self as i32
    }
}

impl Notification {
    /// Bytes before the config text in the v2 form.
    pub const HEADER_BYTES: usize = 44;

    /// The v2 form (`FastLeaderElection.buildMsg`): state, leader, zxid,
    /// election epoch, peer epoch, version 2, config length, config; no
    /// length prefix (the frame adds it). `self.version` is not written:
    /// v2 is the only form we send.
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(Self::HEADER_BYTES + self.config.len());
        b.put_i32(self.state.as_i32());
        b.put_i64(self.leader);
        b.put_i64(self.zxid);
        b.put_i64(self.election_epoch);
        b.put_i64(self.peer_epoch);
        b.put_i32(NOTIFICATION_VERSION);
        b.put_i32(self.config.len() as i32);
        b.put_slice(&self.config);
        b.freeze()
    }

    /// Reads one message as `FastLeaderElection.WorkerReceiver.run` does;
    /// `None` wherever Java skips it:
    /// * under 28 bytes;
    /// * exactly 28: the pre-3.4.6 form, peer epoch = the zxid's epoch;
    /// * exactly 40: no version field (version 0);
    /// * otherwise the version is read (29–39 bytes: too short, skipped);
    ///   only a version above 1 has a config length, which must fit in the
    ///   message. Bytes after what is read are ignored, as in Java;
    /// * a state other than 0–3 (Java drops those; note it still answers a
    ///   non-voter's message whatever its state, before looking at it).
    pub fn decode(msg: &[u8]) -> Option<Notification> {
        let size = msg.len();
        if size < 28 {
            return None;
        }
        let mut b = msg;
        let state = b.get_i32();
        let leader = b.get_i64();
        let zxid = b.get_i64();
        let election_epoch = b.get_i64();
        let (mut peer_epoch, mut version, mut config) = (zxid >> 32, 0, Bytes::new());
        if size != 28 {
            peer_epoch = take_i64(&mut b)?;
            if size != 40 {
                version = take_i32(&mut b)?;
            }
            if version > 1 {
                let len = usize::try_from(take_i32(&mut b)?).ok()?;
                config = Bytes::copy_from_slice(b.get(..len)?);
            }
        }
        Some(Notification {
            state: PeerState::from_i32(state)?,
            leader,
            zxid,
            election_epoch,
            peer_epoch,
            version,
            config,
        })
    }
}

fn take_i32(b: &mut &[u8]) -> Option<i32> {
    (b.remaining() >= 4).then(|| b.get_i32())
}

fn take_i64(b: &mut &[u8]) -> Option<i64> {
    (b.remaining() >= 8).then(|| b.get_i64())
}

/// Appends `msg` with its int length prefix (`QuorumCnxManager.SendWorker.send`).
pub fn encode_election_frame(msg: &[u8], out: &mut BytesMut) {
    // Our own messages: a config too big for a frame is a bug, not input.
    assert!(
        (1..=PACKET_MAX_SIZE).contains(&msg.len()),
        "election message of {} bytes",
        msg.len()
    );
    out.reserve(4 + msg.len());
    out.put_i32(msg.len() as i32);
    out.put_slice(msg);
}

/// Splits the next frame's message off `buf` (`RecvWorker.run`).
/// `Ok(None)`: not all here yet, nothing consumed. A length outside
/// 1..=[`PACKET_MAX_SIZE`] is an error, and the connection must drop.
pub fn decode_election_frame(buf: &mut BytesMut) -> Result<Option<Bytes>, DecodeError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = (&buf[..4]).get_i32();
    if len <= 0 || len as usize > PACKET_MAX_SIZE {
        return Err(DecodeError::BadLength {
            offset: 0,
            len: len as i64,
        });
    }
    let len = len as usize;
    if buf.len() < 4 + len {
        return Ok(None);
    }
    buf.advance(4);
    Ok(Some(buf.split_to(len).freeze()))
}

/// Version, sid and address length.
const INITIAL_HEADER_BYTES: usize = 8 + 8 + 4;

impl InitialMessage {
    /// What a 3.5+ server sends with multiAddress off (the default):
    /// [`PROTOCOL_VERSION_V1`], its sid, and its election address as
    /// `host:port` (IPv6 in brackets). Send it in one segment: Java reads the
    /// address with a single `read()` and fails on a short one.
    pub fn encode_v1(sid: i64, addr: &str) -> Bytes {
        assert!(
            (1..=INITIAL_MESSAGE_MAX_BUFFER).contains(&addr.len()),
            "election address of {} bytes",
            addr.len()
        );
        let mut b = BytesMut::with_capacity(INITIAL_HEADER_BYTES + addr.len());
        b.put_i64(PROTOCOL_VERSION_V1);
        b.put_i64(sid);
        b.put_i32(addr.len() as i32);
        b.put_slice(addr.as_bytes());
        b.freeze()
    }

    /// Splits an initial message off `buf`, read as
    /// `QuorumCnxManager.handleConnection` and `InitialMessage.parse` do.
    /// `Ok(None)`: not all here yet, nothing consumed (where Java would fail
    /// on a short read of the address, we wait).
    ///
    /// * A first long ≥ 0 is the sid of a pre-3.5 server, and all of it.
    /// * Otherwise it must be [`PROTOCOL_VERSION_V1`] or
    ///   [`PROTOCOL_VERSION_V2`] (either may list several addresses), then
    ///   the sid and a length 1..=[`INITIAL_MESSAGE_MAX_BUFFER`].
    /// * The text (UTF-8, invalid bytes replaced) splits on `|`; each entry
    ///   must be `host:port` with an int port in 0..=65535, IPv6 hosts in
    ///   brackets; wildcard hosts are dropped. See `addr` for Java's
    ///   quirks kept here.
    ///
    /// Addresses come back as Java holds them: `host:port`, IP literals
    /// normalised (`[0:0:0:0:0:0:0:1]:3888`), an empty host as `localhost`.
    /// No addresses (pre-3.5, or all wildcards) means: connect back to the
    /// address in your own config. A sid of `i64::MAX` is a legacy observer
    /// to which Java gives a made-up negative id; that is the caller's part.
    pub fn decode_stream(buf: &mut BytesMut) -> Result<Option<InitialMessage>, DecodeError> {
        if buf.len() < 8 {
            return Ok(None);
        }
        let first = (&buf[..8]).get_i64();
        if first >= 0 {
            buf.advance(8);
            return Ok(Some(InitialMessage {
                sid: first,
                addrs: Vec::new(),
            }));
        }
        if first != PROTOCOL_VERSION_V1 && first != PROTOCOL_VERSION_V2 {
            return Err(DecodeError::BadValue {
                what: "initial message protocol version",
                value: first,
            });
        }
        if buf.len() < INITIAL_HEADER_BYTES {
            return Ok(None);
        }
        let mut header = &buf[8..INITIAL_HEADER_BYTES];
        let sid = header.get_i64();
        let len = header.get_i32();
        if len <= 0 || len as usize > INITIAL_MESSAGE_MAX_BUFFER {
            return Err(DecodeError::BadLength {
                offset: 16,
                len: len as i64,
            });
        }
        let end = INITIAL_HEADER_BYTES + len as usize;
        if buf.len() < end {
            return Ok(None);
        }
        let text = String::from_utf8_lossy(&buf[INITIAL_HEADER_BYTES..end]);
        let addrs = parse_election_addrs(&text).map_err(|(what, entry)| DecodeError::BadValue {
            what,
            value: entry as i64,
        })?;
        buf.advance(end);
        Ok(Some(InitialMessage { sid, addrs }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Notification {
        Notification {
            state: PeerState::Looking,
            leader: 3,
            zxid: 0x5_0000_0007,
            election_epoch: 9,
            peer_epoch: 5,
            version: 2,
            config: Bytes::from_static(b"server.3=h:1:2:participant\nversion=0"),
        }
    }

    #[test]
    fn notification_v2_round_trips_with_its_config() {
        let n = sample();
        let b = n.encode();
        assert_eq!(b.len(), 44 + n.config.len());
        assert_eq!(&b[36..44], &[0, 0, 0, 2, 0, 0, 0, n.config.len() as u8]);
        assert_eq!(Notification::decode(&b), Some(n));
    }

    #[test]
    fn notification_sizes_follow_worker_receiver() {
        let full = sample().encode();
        assert_eq!(Notification::decode(&full[..27]), None);
        // 28 bytes: the pre-3.4.6 form; the peer epoch is the zxid's.
        let old = Notification::decode(&full[..28]).unwrap();
        assert_eq!((old.peer_epoch, old.version, old.config.len()), (5, 0, 0));
        for short in 29..40 {
            assert_eq!(Notification::decode(&full[..short]), None, "{short} bytes");
        }
        // 40 bytes: no version field.
        let forty = Notification::decode(&full[..40]).unwrap();
        assert_eq!((forty.peer_epoch, forty.version), (5, 0));
        // 41–43 with version 2: the config length does not fit.
        for short in 41..44 {
            assert_eq!(Notification::decode(&full[..short]), None, "{short} bytes");
        }
        // A config length beyond the message.
        assert_eq!(Notification::decode(&full[..full.len() - 1]), None);
    }

    #[test]
    fn notification_version_one_or_less_has_no_config_and_ignores_the_rest() {
        let mut b = sample().encode().to_vec();
        b[36..40].copy_from_slice(&1i32.to_be_bytes());
        let n = Notification::decode(&b).unwrap();
        assert_eq!((n.version, n.config.len()), (1, 0));
        b[36..40].copy_from_slice(&(-7i32).to_be_bytes());
        assert_eq!(Notification::decode(&b[..41]).unwrap().version, -7);
    }

    #[test]
    fn notification_bad_config_length_or_state_is_dropped() {
        let mut b = sample().encode().to_vec();
        b[40..44].copy_from_slice(&(-1i32).to_be_bytes());
        assert_eq!(Notification::decode(&b), None);
        let mut b = sample().encode().to_vec();
        b[..4].copy_from_slice(&4i32.to_be_bytes());
        assert_eq!(Notification::decode(&b), None);
        // Trailing bytes after the config are ignored.
        let mut b = sample().encode().to_vec();
        b.extend_from_slice(b"junk");
        assert_eq!(Notification::decode(&b), Some(sample()));
    }

    #[test]
    fn observer_proposal_min_values_survive() {
        let n = Notification {
            state: PeerState::Observing,
            leader: i64::MIN,
            zxid: i64::MIN,
            election_epoch: 1,
            peer_epoch: i64::MIN,
            version: 2,
            config: Bytes::new(),
        };
        assert_eq!(Notification::decode(&n.encode()), Some(n.clone()));
        // And the 28-byte form's epoch is an arithmetic shift, as Java's.
        assert_eq!(
            Notification::decode(&n.encode()[..28]).unwrap().peer_epoch,
            i64::MIN >> 32
        );
    }

    #[test]
    fn election_frames_split_and_bad_lengths_fail() {
        let mut buf = BytesMut::new();
        encode_election_frame(b"abc", &mut buf);
        encode_election_frame(&[7; 5], &mut buf);
        assert_eq!(&buf[..7], b"\0\0\0\x03abc");
        assert_eq!(
            decode_election_frame(&mut buf).unwrap().unwrap(),
            &b"abc"[..]
        );
        let mut part = buf.split_to(6);
        assert_eq!(decode_election_frame(&mut part), Ok(None));
        assert_eq!(part.len(), 6);
        part.unsplit(buf);
        assert_eq!(
            decode_election_frame(&mut part).unwrap().unwrap(),
            &[7; 5][..]
        );
        assert!(part.is_empty());
        for len in [0, -1, PACKET_MAX_SIZE as i32 + 1, i32::MIN] {
            let mut b = BytesMut::from(&len.to_be_bytes()[..]);
            assert!(decode_election_frame(&mut b).is_err(), "{len}");
        }
        let mut max = BytesMut::from(&(PACKET_MAX_SIZE as i32).to_be_bytes()[..]);
        assert_eq!(decode_election_frame(&mut max), Ok(None));
    }

    #[test]
    #[should_panic]
    fn an_empty_election_frame_is_a_bug() {
        encode_election_frame(b"", &mut BytesMut::new());
    }

    #[test]
    fn initial_message_v1_round_trips_and_consumes_exactly() {
        let b = InitialMessage::encode_v1(2, "10.0.0.2:3888");
        assert_eq!(&b[..8], &(-65536i64).to_be_bytes());
        assert_eq!(b.len(), 20 + 13);
        let mut buf = BytesMut::from(&b[..]);
        buf.extend_from_slice(b"\0\0\0\x2c");
        let m = InitialMessage::decode_stream(&mut buf).unwrap().unwrap();
        assert_eq!(
            m,
            InitialMessage {
                sid: 2,
                addrs: vec!["10.0.0.2:3888".into()]
            }
        );
        assert_eq!(&buf[..], b"\0\0\0\x2c");
    }

    #[test]
    fn initial_message_waits_for_all_of_itself() {
        let b = InitialMessage::encode_v1(2, "[::1]:3888");
        for cut in 0..b.len() {
            let mut buf = BytesMut::from(&b[..cut]);
            assert_eq!(
                InitialMessage::decode_stream(&mut buf),
                Ok(None),
                "cut at {cut}"
            );
            assert_eq!(buf.len(), cut);
        }
    }

    #[test]
    fn pre_35_initial_message_is_just_the_sid() {
        let mut buf = BytesMut::from(&[0, 0, 0, 0, 0, 0, 0, 5, 0xff][..]);
        let m = InitialMessage::decode_stream(&mut buf).unwrap().unwrap();
        assert_eq!(
            m,
            InitialMessage {
                sid: 5,
                addrs: vec![]
            }
        );
        assert_eq!(&buf[..], &[0xff]);
    }

    fn message(version: i64, len: i32, text: &[u8]) -> BytesMut {
        let mut b = BytesMut::new();
        b.put_i64(version);
        b.put_i64(1);
        b.put_i32(len);
        b.put_slice(text);
        b
    }

    #[test]
    fn initial_message_rejects_versions_lengths_and_bad_entries() {
        let bad = |mut b: BytesMut| InitialMessage::decode_stream(&mut b).is_err();
        assert!(bad(message(-1, 3, b"a:1")));
        assert!(bad(message(-65534, 3, b"a:1")));
        assert!(bad(message(PROTOCOL_VERSION_V1, 0, b"")));
        assert!(bad(message(PROTOCOL_VERSION_V1, -1, b"")));
        assert!(bad(message(PROTOCOL_VERSION_V1, 2049, b"")));
        assert!(bad(message(PROTOCOL_VERSION_V1, 3, b"a:x")));
        assert!(bad(message(PROTOCOL_VERSION_V2, 9, b"a:1|b:2:3")));
        let mut two = message(PROTOCOL_VERSION_V2, 15, b"a:1|[fe80::1]:2");
        let m = InitialMessage::decode_stream(&mut two).unwrap().unwrap();
        assert_eq!(
            m.addrs,
            vec!["a:1".to_string(), "[fe80:0:0:0:0:0:0:1]:2".to_string()]
        );
    }
}
