//! One ZooKeeper session's bytes, without I/O: requests are framed into an
//! output buffer with their xids, input bytes are cut into frames and handed
//! back as [`Incoming`] values (the handshake answer, replies matched to the
//! request that caused them, watch events, ping answers).
//!
//! The caller owns the socket: it writes [`SessionCodec::output`] out when it
//! can and feeds whatever it read to [`SessionCodec::input`]. That keeps the
//! codec usable from a blocking client, an epoll loop or an async runtime,
//! and costs one buffer append per request and one frame split per reply.
//!
//! Replies are matched by FIFO order (ZooKeeper answers a session in the order
//! it sent), and the xid is checked against it: a mismatch is a protocol error.

use super::response::decode_response;
use crate::proto::request::encode_request;
use crate::proto::{
    ConnectRequest, ConnectResponse, DecodeError, ErrorCode, OpCode, Reader, ReplyHeader, Request,
    RequestHeader, Response, SessionId, Writer, Xid, ZString, Zxid,
};
use bytes::{Buf, Bytes, BytesMut};
use std::collections::VecDeque;

/// Largest frame accepted from the server: `jute.maxbuffer` plus room for a header.
pub const FRAME_BYTES_MAX: usize = 0xfffff + 1024;

/// A watch notification (xid -1): `WatcherEvent { type, state, path }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchEvent {
    /// `Watcher.Event.EventType` as sent (1 created, 2 deleted, 3 data, 4 children, ...).
    pub event_type: i32,
    pub state: i32,
    pub path: ZString,
    /// The zxid of the txn that fired it (3.9); -1 from ZooKeeper 3.8.
    pub zxid: Zxid,
}

/// What a reply carries.
#[derive(Debug)]
pub struct Reply<T> {
    /// The caller's tag given to [`SessionCodec::send`].
    pub tag: T,
    pub xid: Xid,
    pub op: OpCode,
    pub zxid: Zxid,
    /// `Ok` or the server's error code (no body follows an error).
    pub err: Result<(), i32>,
    /// The undecoded success body; [`Reply::decode`] turns it into a [`Response`].
    pub body: Bytes,
}

impl<T> Reply<T> {
    pub fn is_ok(&self) -> bool {
        self.err.is_ok()
    }

    /// The error as a typed code, `None` when the reply is a success.
    pub fn error(&self) -> Option<Result<ErrorCode, i32>> {
        match self.err {
            Ok(()) => None,
            Err(code) => Some(ErrorCode::from_i32(code).ok_or(code)),
        }
    }

    pub fn decode(&self) -> Result<Response, DecodeError> {
        let mut r = Reader::new(self.body.clone());
        let resp = decode_response(self.op, &mut r)?;
        r.finish()?;
        Ok(resp)
    }
}

#[derive(Debug)]
pub enum Incoming<T> {
    /// The handshake answer; the session is open (a refused session closes the socket).
    Connected(ConnectResponse),
    Reply(Reply<T>),
    Event(WatchEvent),
    /// A ping (xid -2) was answered.
    Pong,
    /// The answer to a request sent with [`SessionCodec::send_control`]
    /// (`auth`, xid -4; `setWatches`, xid -8): never matched in FIFO order,
    /// and an `auth` failure is answered this way before the server closes.
    Control {
        xid: Xid,
        err: i32,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("frame length {0} out of range")]
    BadFrameLength(i64),
    #[error("reply xid {got} but {expected:?} was next")]
    XidMismatch { got: i32, expected: Option<i32> },
    #[error("malformed frame: {0}")]
    Decode(#[from] DecodeError),
}

#[derive(Debug)]
struct Pending<T> {
    xid: i32,
    op: OpCode,
    tag: T,
}

/// The state of one session's byte streams.
pub struct SessionCodec<T> {
    out: BytesMut,
    inbuf: BytesMut,
    next_xid: i32,
    pending: VecDeque<Pending<T>>,
    pings_pending: usize,
    connected: bool,
    last_zxid: Zxid,
}

impl<T> SessionCodec<T> {
    /// A codec whose first output is the handshake for a new session.
    pub fn new(timeout_ms: i32) -> SessionCodec<T> {
        SessionCodec::with_handshake(&ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: Zxid::ZERO,
            timeout_ms,
            session_id: SessionId(0),
            passwd: Bytes::from_static(&[0u8; 16]),
            read_only: Some(false),
        })
    }

    /// A codec whose first output is `req`: a new session, or an existing one
    /// resumed on another connection (its id, password and the last zxid seen).
    pub fn with_handshake(req: &ConnectRequest) -> SessionCodec<T> {
        let mut codec = SessionCodec {
            out: BytesMut::with_capacity(4096),
            inbuf: BytesMut::with_capacity(16 * 1024),
            next_xid: 1,
            pending: VecDeque::new(),
            pings_pending: 0,
            connected: false,
            last_zxid: req.last_zxid_seen,
        };
        let mut w = Writer::new(&mut codec.out);
        let at = w.begin_frame();
        req.encode(&mut w);
        w.end_frame(at);
        codec
    }

    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// Requests sent and not yet answered (pings excluded).
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// The highest zxid seen in a reply header.
    pub fn last_zxid(&self) -> Zxid {
        self.last_zxid
    }

    /// Frames `req` with the next xid; returns that xid. May be called before
    /// the handshake is answered (the server reads the pipeline in order).
    pub fn send(&mut self, req: &Request, tag: T) -> Xid {
        let xid = self.next_xid;
        // Wraps from Integer.MAX_VALUE back to 1, as the Java client does.
        self.next_xid = if xid == i32::MAX { 1 } else { xid + 1 };
        let op = req.op();
        let mut w = Writer::new(&mut self.out);
        let at = w.begin_frame();
        RequestHeader {
            xid,
            op: op.as_i32(),
        }
        .encode(&mut w);
        encode_request(&mut w, req);
        w.end_frame(at);
        self.pending.push_back(Pending { xid, op, tag });
        Xid(xid)
    }

    /// Frames `req` with a reserved xid ([`Xid::AUTH`], [`Xid::SET_WATCHES`]);
    /// its answer comes back as [`Incoming::Control`], outside the FIFO order.
    pub fn send_control(&mut self, xid: Xid, req: &Request) {
        debug_assert!(xid == Xid::AUTH || xid == Xid::SET_WATCHES);
        let mut w = Writer::new(&mut self.out);
        let at = w.begin_frame();
        RequestHeader {
            xid: xid.0,
            op: req.op().as_i32(),
        }
        .encode(&mut w);
        encode_request(&mut w, req);
        w.end_frame(at);
    }

    /// Frames a ping (xid -2).
    pub fn ping(&mut self) {
        let mut w = Writer::new(&mut self.out);
        let at = w.begin_frame();
        RequestHeader {
            xid: Xid::PING.0,
            op: OpCode::Ping.as_i32(),
        }
        .encode(&mut w);
        w.end_frame(at);
        self.pings_pending += 1;
    }

    /// Bytes waiting to be written to the socket.
    pub fn output(&self) -> &[u8] {
        &self.out
    }

    pub fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    /// Marks `n` bytes of [`SessionCodec::output`] as written.
    pub fn consume_output(&mut self, n: usize) {
        self.out.advance(n);
    }

    /// Appends bytes read from the socket.
    pub fn input(&mut self, bytes: &[u8]) {
        self.inbuf.extend_from_slice(bytes);
    }

    /// The next complete frame's meaning, `Ok(None)` when more bytes are needed.
    pub fn next_incoming(&mut self) -> Result<Option<Incoming<T>>, CodecError> {
        if self.inbuf.len() < 4 {
            return Ok(None);
        }
        let len = i32::from_be_bytes([self.inbuf[0], self.inbuf[1], self.inbuf[2], self.inbuf[3]]);
        if len < 0 || len as usize > FRAME_BYTES_MAX {
            return Err(CodecError::BadFrameLength(len as i64));
        }
        let len = len as usize;
        if self.inbuf.len() < 4 + len {
            return Ok(None);
        }
        self.inbuf.advance(4);
        let frame = self.inbuf.split_to(len).freeze();
        let mut r = Reader::new(frame);
        if !self.connected {
            let resp = ConnectResponse::decode(&mut r)?;
            self.connected = true;
            return Ok(Some(Incoming::Connected(resp)));
        }
        let hdr = ReplyHeader::decode(&mut r)?;
        if hdr.zxid > self.last_zxid.0 {
            self.last_zxid = Zxid(hdr.zxid);
        }
        match hdr.xid {
            -1 => {
                let event_type = r.read_i32()?;
                let state = r.read_i32()?;
                let path = r.read_ustring()?;
                Ok(Some(Incoming::Event(WatchEvent {
                    event_type,
                    state,
                    path,
                    zxid: Zxid(hdr.zxid),
                })))
            }
            -2 => {
                self.pings_pending = self.pings_pending.saturating_sub(1);
                Ok(Some(Incoming::Pong))
            }
            -4 | -8 => Ok(Some(Incoming::Control {
                xid: Xid(hdr.xid),
                err: hdr.err,
            })),
            xid => {
                let expected = self.pending.front().map(|p| p.xid);
                if expected != Some(xid) {
                    return Err(CodecError::XidMismatch { got: xid, expected });
                }
                let Some(p) = self.pending.pop_front() else {
                    return Err(CodecError::XidMismatch { got: xid, expected });
                };
                Ok(Some(Incoming::Reply(Reply {
                    tag: p.tag,
                    xid: Xid(xid),
                    op: p.op,
                    zxid: Zxid(hdr.zxid),
                    err: if hdr.err == 0 { Ok(()) } else { Err(hdr.err) },
                    body: r.rest(),
                })))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::Stat;

    fn server_frame(build: impl FnOnce(&mut Writer)) -> Vec<u8> {
        let mut b = BytesMut::new();
        let mut w = Writer::new(&mut b);
        let at = w.begin_frame();
        build(&mut w);
        w.end_frame(at);
        b.to_vec()
    }

    #[test]
    fn handshake_is_45_bytes_and_replies_match_in_order() {
        let mut c: SessionCodec<u32> = SessionCodec::new(10_000);
        assert_eq!(c.output().len(), 4 + 45);
        let n = c.output().len();
        c.consume_output(n);
        let x1 = c.send(
            &Request::GetData {
                path: "/a".into(),
                watch: false,
            },
            7,
        );
        let x2 = c.send(
            &Request::Delete {
                path: "/a".into(),
                version: -1,
            },
            8,
        );
        assert_eq!((x1, x2), (Xid(1), Xid(2)));
        c.input(&server_frame(|w| {
            ConnectResponse {
                protocol_version: 0,
                timeout_ms: 10_000,
                session_id: SessionId(5),
                passwd: Bytes::from_static(&[0; 16]),
                read_only: Some(false),
            }
            .encode(w)
        }));
        // An event, then the two replies, delivered one byte at a time.
        let mut bytes = server_frame(|w| {
            w.i32(-1).i64(9).i32(0).i32(3).i32(3).ustring("/a");
        });
        bytes.extend(server_frame(|w| {
            w.i32(1).i64(9).i32(0).buffer(b"xy");
            Stat::default().encode(w);
        }));
        bytes.extend(server_frame(|w| {
            w.i32(2).i64(10).i32(-101);
        }));
        assert!(matches!(
            c.next_incoming().unwrap(),
            Some(Incoming::Connected(_))
        ));
        let mut got = Vec::new();
        for b in bytes {
            c.input(&[b]);
            while let Some(i) = c.next_incoming().unwrap() {
                got.push(i);
            }
        }
        assert_eq!(got.len(), 3);
        assert!(matches!(&got[0], Incoming::Event(e) if e.event_type == 3 && &*e.path == "/a"));
        match &got[1] {
            Incoming::Reply(r) => {
                assert_eq!(r.tag, 7);
                match r.decode().unwrap() {
                    Response::Data(d, _) => assert_eq!(&d[..], b"xy"),
                    other => panic!("{other:?}"),
                }
            }
            other => panic!("{other:?}"),
        }
        match &got[2] {
            Incoming::Reply(r) => {
                assert_eq!(r.tag, 8);
                assert_eq!(r.error(), Some(Ok(ErrorCode::NoNode)));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(c.last_zxid(), Zxid(10));
        assert_eq!(c.in_flight(), 0);
    }

    #[test]
    fn reply_for_an_unknown_xid_is_an_error() {
        let mut c: SessionCodec<()> = SessionCodec::new(10_000);
        c.input(&server_frame(|w| {
            w.i32(0).i32(10_000).i64(1).buffer(&[0; 16]);
        }));
        assert!(c.next_incoming().unwrap().is_some());
        c.input(&server_frame(|w| {
            w.i32(5).i64(1).i32(0);
        }));
        assert!(matches!(
            c.next_incoming(),
            Err(CodecError::XidMismatch { got: 5, .. })
        ));
    }
}
