//! A raw-socket ZooKeeper client for protocol-level tests: a minimal jute encoder/decoder, the
//! connect handshake, request/reply framing with watch notifications kept aside, and helpers to
//! observe the server closing a connection.
//!
//! It is deliberately independent of corral's own codec (`src/proto`), so that a bug there cannot
//! hide itself in the tests. Everything panics on unexpected input: these are test helpers.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;

use super::IO_GUARD;

/// Opcodes (`ZooDefs.OpCode`).
pub mod op {
    pub const CREATE: i32 = 1;
    pub const DELETE: i32 = 2;
    pub const EXISTS: i32 = 3;
    pub const GET_DATA: i32 = 4;
    pub const SET_DATA: i32 = 5;
    pub const GET_ACL: i32 = 6;
    pub const SET_ACL: i32 = 7;
    pub const GET_CHILDREN: i32 = 8;
    pub const SYNC: i32 = 9;
    pub const PING: i32 = 11;
    pub const GET_CHILDREN2: i32 = 12;
    pub const CHECK: i32 = 13;
    pub const MULTI: i32 = 14;
    pub const CREATE2: i32 = 15;
    pub const RECONFIG: i32 = 16;
    pub const CHECK_WATCHES: i32 = 17;
    pub const REMOVE_WATCHES: i32 = 18;
    pub const CREATE_CONTAINER: i32 = 19;
    pub const DELETE_CONTAINER: i32 = 20;
    pub const CREATE_TTL: i32 = 21;
    pub const MULTI_READ: i32 = 22;
    pub const AUTH: i32 = 100;
    pub const SET_WATCHES: i32 = 101;
    pub const SET_WATCHES2: i32 = 105;
    pub const SASL: i32 = 102;
    pub const GET_EPHEMERALS: i32 = 103;
    pub const GET_ALL_CHILDREN_NUMBER: i32 = 104;
    pub const ADD_WATCH: i32 = 106;
    pub const WHO_AM_I: i32 = 107;
    pub const CLOSE_SESSION: i32 = -11;
    pub const CREATE_SESSION: i32 = -10;
    pub const NOTIFICATION: i32 = 0;
    pub const ERROR: i32 = -1;
}

/// Error codes (`KeeperException.Code`).
pub mod err {
    pub const OK: i32 = 0;
    pub const RUNTIME_INCONSISTENCY: i32 = -2;
    pub const MARSHALLING_ERROR: i32 = -5;
    pub const UNIMPLEMENTED: i32 = -6;
    pub const BAD_ARGUMENTS: i32 = -8;
    pub const NO_NODE: i32 = -101;
    pub const NO_AUTH: i32 = -102;
    pub const BAD_VERSION: i32 = -103;
    pub const NO_CHILDREN_FOR_EPHEMERALS: i32 = -108;
    pub const NODE_EXISTS: i32 = -110;
    pub const NOT_EMPTY: i32 = -111;
    pub const SESSION_EXPIRED: i32 = -112;
    pub const INVALID_ACL: i32 = -114;
    pub const AUTH_FAILED: i32 = -115;
    pub const NO_WATCHER: i32 = -121;
    pub const RECONFIG_DISABLED: i32 = -123;
    pub const SESSION_CLOSED_REQUIRE_SASL_AUTH: i32 = -124;
}

/// Watch event types (`Watcher.Event.EventType`).
pub mod event {
    pub const NODE_CREATED: i32 = 1;
    pub const NODE_DELETED: i32 = 2;
    pub const NODE_DATA_CHANGED: i32 = 3;
    pub const NODE_CHILDREN_CHANGED: i32 = 4;
}

/// `WatcherType` for checkWatches / removeWatches.
pub mod watcher_type {
    pub const CHILDREN: i32 = 1;
    pub const DATA: i32 = 2;
    pub const ANY: i32 = 3;
}

/// Perms (`ZooDefs.Perms`).
pub mod perm {
    pub const READ: i32 = 1;
    pub const WRITE: i32 = 2;
    pub const CREATE: i32 = 4;
    pub const DELETE: i32 = 8;
    pub const ADMIN: i32 = 16;
    pub const ALL: i32 = 31;
}

/// Big-endian jute writer.
#[derive(Default, Clone)]
pub struct Writer(pub Vec<u8>);

impl Writer {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn int(mut self, v: i32) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn long(mut self, v: i64) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn boolean(mut self, v: bool) -> Self {
        self.0.push(u8::from(v));
        self
    }
    /// A `ustring`; any bytes, so that invalid paths can be sent.
    pub fn string(self, s: &str) -> Self {
        self.bytes(s.as_bytes())
    }
    pub fn bytes(mut self, b: &[u8]) -> Self {
        let len = i32::try_from(b.len()).expect("length fits i32");
        self.0.extend_from_slice(&len.to_be_bytes());
        self.0.extend_from_slice(b);
        self
    }
    /// A null `buffer`/`ustring` (length -1).
    pub fn null(self) -> Self {
        self.int(-1)
    }
    pub fn raw(mut self, b: &[u8]) -> Self {
        self.0.extend_from_slice(b);
        self
    }
    /// `vector<ACL>` from `(perms, scheme, id)` triples.
    pub fn acls(self, acls: &[(i32, &str, &str)]) -> Self {
        let mut w = self.int(acls.len() as i32);
        for (perms, scheme, id) in acls {
            w = w.int(*perms).string(scheme).string(id);
        }
        w
    }
    pub fn strings(self, items: &[&str]) -> Self {
        let mut w = self.int(items.len() as i32);
        for s in items {
            w = w.string(s);
        }
        w
    }
    pub fn into_vec(self) -> Vec<u8> {
        self.0
    }
}

/// Big-endian jute reader over a reply body.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }
    fn take(&mut self, n: usize) -> &'a [u8] {
        assert!(
            self.pos + n <= self.buf.len(),
            "reply too short: need {n} bytes at {} of {}",
            self.pos,
            self.buf.len()
        );
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        s
    }
    pub fn int(&mut self) -> i32 {
        i32::from_be_bytes(self.take(4).try_into().expect("4 bytes"))
    }
    pub fn long(&mut self) -> i64 {
        i64::from_be_bytes(self.take(8).try_into().expect("8 bytes"))
    }
    pub fn boolean(&mut self) -> bool {
        self.take(1)[0] != 0
    }
    /// A `buffer`; `None` for length -1.
    pub fn bytes(&mut self) -> Option<Vec<u8>> {
        let len = self.int();
        if len < 0 {
            return None;
        }
        Some(self.take(len as usize).to_vec())
    }
    pub fn string(&mut self) -> Option<String> {
        self.bytes()
            .map(|b| String::from_utf8(b).expect("ustring is UTF-8"))
    }
    pub fn strings(&mut self) -> Vec<String> {
        let n = self.int();
        (0..n.max(0))
            .map(|_| self.string().expect("non-null string"))
            .collect()
    }
    pub fn stat(&mut self) -> Stat {
        Stat {
            czxid: self.long(),
            mzxid: self.long(),
            ctime: self.long(),
            mtime: self.long(),
            version: self.int(),
            cversion: self.int(),
            aversion: self.int(),
            ephemeral_owner: self.long(),
            data_length: self.int(),
            num_children: self.int(),
            pzxid: self.long(),
        }
    }
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// Request bodies (no RequestHeader).
pub mod req {
    use super::Writer;

    pub fn path(path: &str) -> Vec<u8> {
        Writer::new().string(path).into_vec()
    }
    pub fn path_watch(path: &str, watch: bool) -> Vec<u8> {
        Writer::new().string(path).boolean(watch).into_vec()
    }
    pub fn create(path: &str, data: &[u8], flags: i32) -> Vec<u8> {
        Writer::new()
            .string(path)
            .bytes(data)
            .acls(&[(super::perm::ALL, "world", "anyone")])
            .int(flags)
            .into_vec()
    }
    pub fn create_acl(path: &str, data: &[u8], acls: &[(i32, &str, &str)], flags: i32) -> Vec<u8> {
        Writer::new()
            .string(path)
            .bytes(data)
            .acls(acls)
            .int(flags)
            .into_vec()
    }
    pub fn set_data(path: &str, data: &[u8], version: i32) -> Vec<u8> {
        Writer::new()
            .string(path)
            .bytes(data)
            .int(version)
            .into_vec()
    }
    pub fn delete(path: &str, version: i32) -> Vec<u8> {
        Writer::new().string(path).int(version).into_vec()
    }
    pub fn check(path: &str, version: i32) -> Vec<u8> {
        Writer::new().string(path).int(version).into_vec()
    }
    pub fn path_type(path: &str, kind: i32) -> Vec<u8> {
        Writer::new().string(path).int(kind).into_vec()
    }
    pub fn auth(scheme: &str, auth: &[u8]) -> Vec<u8> {
        Writer::new().int(0).string(scheme).bytes(auth).into_vec()
    }
    /// A multi body from `(opcode, op body)` pairs.
    pub fn multi(ops: &[(i32, Vec<u8>)]) -> Vec<u8> {
        let mut w = Writer::new();
        for (code, body) in ops {
            w = w.int(*code).boolean(false).int(-1).raw(body);
        }
        w.int(-1).boolean(true).int(-1).into_vec()
    }
}

/// One result of a multi / multiRead reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiResult {
    Create { path: String, stat: Option<Stat> },
    SetData { stat: Stat },
    Delete,
    Check,
    GetData { data: Option<Vec<u8>>, stat: Stat },
    GetChildren { children: Vec<String> },
    Error { err: i32 },
}

/// Decodes a MultiResponse body.
pub fn parse_multi(body: &[u8]) -> Vec<MultiResult> {
    let mut r = Reader::new(body);
    let mut out = Vec::new();
    loop {
        let kind = r.int();
        let done = r.boolean();
        let header_err = r.int();
        if done {
            break;
        }
        let result = match kind {
            op::CREATE => MultiResult::Create {
                path: r.string().expect("path"),
                stat: None,
            },
            op::CREATE2 | op::CREATE_CONTAINER | op::CREATE_TTL => MultiResult::Create {
                path: r.string().expect("path"),
                stat: Some(r.stat()),
            },
            op::SET_DATA => MultiResult::SetData { stat: r.stat() },
            op::DELETE => MultiResult::Delete,
            op::CHECK => MultiResult::Check,
            op::GET_DATA => MultiResult::GetData {
                data: r.bytes(),
                stat: r.stat(),
            },
            op::GET_CHILDREN => MultiResult::GetChildren {
                children: r.strings(),
            },
            op::ERROR => {
                let err = r.int();
                assert_eq!(
                    err, header_err,
                    "ErrorResponse.err must repeat MultiHeader.err"
                );
                MultiResult::Error { err }
            }
            other => panic!("unexpected multi result type {other}"),
        };
        out.push(result);
    }
    out
}

/// ConnectRequest.
#[derive(Debug, Clone)]
pub struct ConnectRequest {
    pub protocol_version: i32,
    pub last_zxid_seen: i64,
    pub timeout_ms: i32,
    pub session_id: i64,
    pub passwd: Vec<u8>,
    /// `None` = an old client that does not send the byte at all.
    pub read_only: Option<bool>,
}

impl ConnectRequest {
    pub fn new_session(timeout_ms: i32) -> Self {
        ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout_ms,
            session_id: 0,
            passwd: vec![0; 16],
            read_only: Some(false),
        }
    }
    pub fn reattach(resp: &ConnectResponse, timeout_ms: i32) -> Self {
        ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout_ms,
            session_id: resp.session_id,
            passwd: resp.passwd.clone(),
            read_only: Some(false),
        }
    }
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new()
            .int(self.protocol_version)
            .long(self.last_zxid_seen)
            .int(self.timeout_ms)
            .long(self.session_id)
            .bytes(&self.passwd);
        if let Some(ro) = self.read_only {
            w = w.boolean(ro);
        }
        w.into_vec()
    }
}

/// ConnectResponse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectResponse {
    pub protocol_version: i32,
    pub timeout_ms: i32,
    pub session_id: i64,
    pub passwd: Vec<u8>,
    pub read_only: Option<bool>,
    /// Payload length of the frame (36 without the readOnly byte, 37 with it).
    pub frame_len: usize,
}

impl ConnectResponse {
    pub fn decode(frame: &[u8]) -> Self {
        let mut r = Reader::new(frame);
        let protocol_version = r.int();
        let timeout_ms = r.int();
        let session_id = r.long();
        let passwd = r.bytes().unwrap_or_default();
        let read_only = if r.remaining() > 0 {
            Some(r.boolean())
        } else {
            None
        };
        ConnectResponse {
            protocol_version,
            timeout_ms,
            session_id,
            passwd,
            read_only,
            frame_len: frame.len(),
        }
    }
}

/// A reply to a request (xid ≥ 0 or a special xid).
#[derive(Debug, Clone)]
pub struct Reply {
    pub xid: i32,
    pub zxid: i64,
    pub err: i32,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn reader(&self) -> Reader<'_> {
        Reader::new(&self.body)
    }
    /// Panics unless err == 0.
    pub fn ok(self) -> Self {
        assert_eq!(
            self.err, 0,
            "request xid {} failed: err {}",
            self.xid, self.err
        );
        self
    }
}

/// A watch notification (xid -1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub zxid: i64,
    pub event_type: i32,
    pub state: i32,
    pub path: String,
}

/// What arrived on a connection, in order.
#[derive(Debug, Clone)]
pub enum Incoming {
    Reply(Reply),
    Event(Event),
}

/// Result of reading a frame.
#[derive(Debug)]
pub enum Read1 {
    Frame(Vec<u8>),
    /// The server closed the connection (EOF or reset).
    Closed,
}

/// A raw TCP connection to the server.
pub struct Conn {
    pub stream: TcpStream,
}

impl Conn {
    pub fn open(addr: &str) -> Conn {
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        stream.set_read_timeout(Some(IO_GUARD)).expect("timeout");
        stream.set_write_timeout(Some(IO_GUARD)).expect("timeout");
        stream.set_nodelay(true).expect("nodelay");
        Conn { stream }
    }

    /// Writes bytes as they are; a write error (the server closed first) is ignored, because
    /// the tests look at what the server answers, not at our write.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes);
        let _ = self.stream.flush();
    }

    /// Writes `len(payload)` + payload.
    pub fn send_frame(&mut self, payload: &[u8]) {
        let mut buf = (payload.len() as i32).to_be_bytes().to_vec();
        buf.extend_from_slice(payload);
        self.send_raw(&buf);
    }

    fn read_exact_or_closed(&mut self, buf: &mut [u8]) -> bool {
        let mut filled = 0;
        while filled < buf.len() {
            match self.stream.read(&mut buf[filled..]) {
                Ok(0) => return false,
                Ok(n) => filled += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::ConnectionReset
                            | ErrorKind::ConnectionAborted
                            | ErrorKind::BrokenPipe
                    ) =>
                {
                    return false;
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    panic!("server neither answered nor closed the connection within {IO_GUARD:?}")
                }
                Err(e) => panic!("read: {e}"),
            }
        }
        true
    }

    /// Reads one length-prefixed frame, or reports that the server closed the connection.
    pub fn read_frame(&mut self) -> Read1 {
        let mut len = [0u8; 4];
        if !self.read_exact_or_closed(&mut len) {
            return Read1::Closed;
        }
        let len = i32::from_be_bytes(len);
        assert!(
            (0..=64 * 1024 * 1024).contains(&len),
            "bad frame length {len}"
        );
        let mut buf = vec![0u8; len as usize];
        if !self.read_exact_or_closed(&mut buf) {
            return Read1::Closed;
        }
        Read1::Frame(buf)
    }

    /// Reads frames until the server closes; returns the frames that came before the close.
    /// Panics (via the I/O guard) if the server keeps the connection open.
    pub fn frames_until_closed(&mut self) -> Vec<Vec<u8>> {
        let mut frames = Vec::new();
        loop {
            match self.read_frame() {
                Read1::Frame(f) => frames.push(f),
                Read1::Closed => return frames,
            }
        }
    }

    /// Sends a ConnectRequest and reads the answer: `None` if the server closed instead.
    pub fn handshake(&mut self, req: &ConnectRequest) -> Option<ConnectResponse> {
        self.send_frame(&req.encode());
        match self.read_frame() {
            Read1::Frame(f) => Some(ConnectResponse::decode(&f)),
            Read1::Closed => None,
        }
    }
}

/// A raw session: a connection that completed the handshake.
pub struct Session {
    pub conn: Conn,
    pub resp: ConnectResponse,
    next_xid: i32,
    /// Notifications, in arrival order, not yet consumed by the test.
    pub events: VecDeque<Event>,
}

impl Session {
    /// Opens a new session with the given requested timeout.
    pub fn connect(addr: &str, timeout_ms: i32) -> Session {
        Self::connect_with(addr, &ConnectRequest::new_session(timeout_ms))
            .unwrap_or_else(|| panic!("server at {addr} refused a new session"))
    }

    /// Handshakes with an explicit request; `None` if the server closed without answering.
    pub fn connect_with(addr: &str, req: &ConnectRequest) -> Option<Session> {
        let mut conn = Conn::open(addr);
        let resp = conn.handshake(req)?;
        Some(Session {
            conn,
            resp,
            next_xid: 1,
            events: VecDeque::new(),
        })
    }

    pub fn session_id(&self) -> i64 {
        self.resp.session_id
    }

    pub fn take_xid(&mut self) -> i32 {
        let xid = self.next_xid;
        self.next_xid += 1;
        xid
    }

    /// Sends `RequestHeader{xid, op}` + body without waiting.
    pub fn send(&mut self, xid: i32, op: i32, body: &[u8]) {
        let mut payload = Writer::new().int(xid).int(op).into_vec();
        payload.extend_from_slice(body);
        self.conn.send_frame(&payload);
    }

    /// Reads the next frame as a reply or an event; `None` when the server closed.
    pub fn read_incoming(&mut self) -> Option<Incoming> {
        match self.conn.read_frame() {
            Read1::Closed => None,
            Read1::Frame(f) => Some(decode_incoming(&f)),
        }
    }

    /// Sends a request and returns its reply; notifications that arrive first are queued in
    /// `events`. Panics if the server closes the connection instead.
    pub fn request(&mut self, op: i32, body: &[u8]) -> Reply {
        self.try_request(op, body)
            .unwrap_or_else(|| panic!("server closed the connection instead of answering op {op}"))
    }

    /// Like [`Session::request`] but `None` when the server closed the connection.
    pub fn try_request(&mut self, op: i32, body: &[u8]) -> Option<Reply> {
        let xid = if op == op::PING { -2 } else { self.take_xid() };
        self.send(xid, op, body);
        self.reply_for(xid)
    }

    /// Reads until the reply with `xid` arrives, queueing notifications.
    pub fn reply_for(&mut self, xid: i32) -> Option<Reply> {
        loop {
            match self.read_incoming()? {
                Incoming::Event(e) => self.events.push_back(e),
                Incoming::Reply(r) if r.xid == xid => return Some(r),
                Incoming::Reply(r) if r.xid == -2 => {}
                Incoming::Reply(r) => panic!("reply for xid {} while waiting for {xid}", r.xid),
            }
        }
    }

    /// Waits for the next notification (queued or from the socket).
    pub fn next_event(&mut self) -> Event {
        if let Some(e) = self.events.pop_front() {
            return e;
        }
        loop {
            match self.read_incoming() {
                Some(Incoming::Event(e)) => return e,
                Some(Incoming::Reply(r)) if r.xid == -2 => {}
                Some(Incoming::Reply(r)) => {
                    panic!("unexpected reply xid {} while waiting for an event", r.xid)
                }
                None => panic!("server closed the connection while a watch event was awaited"),
            }
        }
    }

    pub fn ping(&mut self) -> Reply {
        self.request(op::PING, &[])
    }

    /// Sends closeSession and waits for its reply and the close.
    pub fn close(mut self) {
        let xid = self.take_xid();
        self.send(xid, op::CLOSE_SESSION, &[]);
        let reply = self.reply_for(xid).expect("closeSession is acknowledged");
        assert_eq!(reply.err, 0, "closeSession err");
    }

    // Convenience wrappers returning the raw reply.
    pub fn create(&mut self, path: &str, data: &[u8], flags: i32) -> Reply {
        self.request(op::CREATE, &req::create(path, data, flags))
    }
    pub fn get_data(&mut self, path: &str, watch: bool) -> Reply {
        self.request(op::GET_DATA, &req::path_watch(path, watch))
    }
    pub fn exists(&mut self, path: &str, watch: bool) -> Reply {
        self.request(op::EXISTS, &req::path_watch(path, watch))
    }
    pub fn get_children(&mut self, path: &str, watch: bool) -> Reply {
        self.request(op::GET_CHILDREN, &req::path_watch(path, watch))
    }
    pub fn set_data(&mut self, path: &str, data: &[u8], version: i32) -> Reply {
        self.request(op::SET_DATA, &req::set_data(path, data, version))
    }
    pub fn delete(&mut self, path: &str, version: i32) -> Reply {
        self.request(op::DELETE, &req::delete(path, version))
    }
}

/// Splits a post-handshake frame into a reply or a notification.
pub fn decode_incoming(frame: &[u8]) -> Incoming {
    let mut r = Reader::new(frame);
    let xid = r.int();
    let zxid = r.long();
    let err = r.int();
    if xid == -1 {
        let event_type = r.int();
        let state = r.int();
        let path = r.string().unwrap_or_default();
        return Incoming::Event(Event {
            zxid,
            event_type,
            state,
            path,
        });
    }
    Incoming::Reply(Reply {
        xid,
        zxid,
        err,
        body: frame[16..].to_vec(),
    })
}
