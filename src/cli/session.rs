//! One ZooKeeper session for the shell, as the Java client keeps it: a
//! connection thread that connects to the listed servers in turn, resumes the
//! same session on another server when a connection is lost (sending the
//! auth it was given and the watches it holds again), answers the caller's
//! requests, and prints the watcher's lines (`WATCHER::` / `WatchedEvent ...`)
//! as events arrive — before the reply that follows them.
//!
//! The bytes are [`SessionCodec`]'s; this file only moves them and keeps the
//! state the prompt shows (`CONNECTING`, `CONNECTED`, `CLOSED`, ...). The
//! chroot of the connection string is added to request paths here and taken
//! off the paths that come back.

use super::format;
use super::watches::{self, Kind, Watches};
use crate::client::{Incoming, SessionCodec};
use crate::proto::request::SetWatches;
use crate::proto::{ConnectRequest, ErrorCode, Request, Response, SessionId, Xid, Zxid};
use bytes::Bytes;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long `close` waits for the server's answer to closeSession.
const CLOSE_WAIT: Duration = Duration::from_secs(5);
/// Java's `StaticHostProvider` spin delay: the pause after every listed server failed.
const ROUND_PAUSE: Duration = Duration::from_secs(1);

/// `ZooKeeper.States`, as the prompt prints them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Connecting,
    Connected,
    Closed,
    AuthFailed,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Connecting => "CONNECTING",
            State::Connected => "CONNECTED",
            State::Closed => "CLOSED",
            State::AuthFailed => "AUTH_FAILED",
        }
    }

    pub fn is_alive(self) -> bool {
        matches!(self, State::Connecting | State::Connected)
    }
}

/// Why a request got no answer from the server, or the server's error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallError {
    Server(Result<ErrorCode, i32>),
    ConnectionLoss,
    SessionExpired,
}

impl CallError {
    pub fn code(self) -> Result<ErrorCode, i32> {
        match self {
            CallError::Server(c) => c,
            CallError::ConnectionLoss => Ok(ErrorCode::ConnectionLoss),
            CallError::SessionExpired => Ok(ErrorCode::SessionExpired),
        }
    }
}

/// A watch the reply to a request sets when it succeeds (or, for `exists`, finds no node).
#[derive(Clone, Debug, Default)]
pub struct WatchOnReply {
    pub path: String,
    pub on_ok: u8,
    pub on_no_node: u8,
}

type ReplyTx = mpsc::Sender<Result<Response, CallError>>;

struct Tag {
    tx: ReplyTx,
    watch: Option<WatchOnReply>,
}

/// Where the shell's output goes; events print from the connection thread.
pub struct Printer {
    pub print_watches: AtomicBool,
}

impl Printer {
    pub fn event(&self, state: i32, event: i32, path: Option<&str>) {
        if self.print_watches.load(Ordering::Relaxed) {
            let block = format::watcher_block(state, event, path);
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(block.as_bytes());
            let _ = out.flush();
        }
    }
}

struct Inner {
    state: State,
    codec: Option<SessionCodec<Tag>>,
    writer: Option<TcpStream>,
    session_id: SessionId,
    passwd: Bytes,
    last_zxid: Zxid,
    /// Bumped each time a whole round of servers failed: callers waiting to connect give up.
    failed_rounds: u64,
    auths: Vec<(String, Bytes)>,
    watches: Watches,
    closing: bool,
}

struct Shared {
    inner: Mutex<Inner>,
    changed: Condvar,
    printer: Arc<Printer>,
    hosts: Vec<(String, u16)>,
    chroot: Option<String>,
    timeout_ms: i32,
    read_only: bool,
}

pub struct Session {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Session {
    /// Starts connecting in the background (zkCli does not wait either).
    pub fn start(
        hosts: Vec<(String, u16)>,
        chroot: Option<String>,
        timeout_ms: i32,
        read_only: bool,
        printer: Arc<Printer>,
    ) -> Session {
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                state: State::Connecting,
                codec: None,
                writer: None,
                session_id: SessionId(0),
                passwd: Bytes::from_static(&[0u8; 16]),
                last_zxid: Zxid::ZERO,
                failed_rounds: 0,
                auths: Vec::new(),
                watches: Watches::default(),
                closing: false,
            }),
            changed: Condvar::new(),
            printer,
            hosts,
            chroot,
            timeout_ms,
            read_only,
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("cli-session".into())
            .spawn(move || connection_loop(&s))
            .ok();
        Session { shared, thread }
    }

    pub fn state(&self) -> State {
        self.lock().state
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.shared.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until connected, or until `wait` passes; true when connected.
    pub fn wait_connected(&self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        let mut g = self.lock();
        while g.state == State::Connecting {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            g = self
                .shared
                .changed
                .wait_timeout(g, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        g.state == State::Connected
    }

    /// The path the server knows for a path the user typed.
    pub fn server_path(&self, path: &str) -> String {
        match &self.shared.chroot {
            None => path.to_string(),
            Some(c) if path == "/" => c.clone(),
            Some(c) => format!("{c}{path}"),
        }
    }

    /// The path the user knows for a path the server sent.
    pub fn client_path(&self, path: &str) -> String {
        client_path(self.shared.chroot.as_deref(), path)
    }

    /// Sends one request and waits for its answer. A request made while connecting waits for
    /// the connection; it fails with ConnectionLoss when every listed server failed once, or
    /// when the connection it went out on is lost.
    pub fn call(&self, req: &Request, watch: Option<WatchOnReply>) -> Result<Response, CallError> {
        let rx = {
            let mut g = self.lock();
            let round = g.failed_rounds;
            while g.state == State::Connecting && g.failed_rounds == round {
                g = self
                    .shared
                    .changed
                    .wait(g)
                    .unwrap_or_else(|e| e.into_inner());
            }
            if g.state != State::Connected {
                return Err(match g.state {
                    State::Closed => CallError::SessionExpired,
                    _ => CallError::ConnectionLoss,
                });
            }
            let (tx, rx) = mpsc::channel();
            let inner = &mut *g;
            if let Some(codec) = inner.codec.as_mut() {
                codec.send(req, Tag { tx, watch });
            }
            flush(inner);
            rx
        };
        rx.recv().unwrap_or(Err(CallError::ConnectionLoss))
    }

    /// `addauth`: kept for every later connection, sent now when connected.
    pub fn add_auth(&self, scheme: &str, auth: Bytes) {
        let mut g = self.lock();
        g.auths.push((scheme.to_string(), auth.clone()));
        let inner = &mut *g;
        if let Some(codec) = inner.codec.as_mut() {
            codec.send_control(Xid::AUTH, &auth_request(scheme, auth));
            flush(inner);
        }
    }

    pub fn has_watch(&self, path: &str, kind: Kind) -> bool {
        self.lock().watches.contains(path, kind)
    }

    /// Forgets the watches `removewatches` removed and prints their `*WatchRemoved` events.
    pub fn forget_watches(&self, path: &str, kind: Kind) {
        let events = self.lock().watches.remove(path, kind);
        for e in events {
            self.shared.printer.event(3, e, Some(path));
        }
    }

    /// `ZooKeeper.close()`: ends the session (closeSession) and prints the Closed event.
    pub fn close(&mut self) {
        let rx = {
            let mut g = self.lock();
            if !g.state.is_alive() {
                return;
            }
            g.closing = true;
            let (tx, rx) = mpsc::channel();
            let inner = &mut *g;
            if let Some(codec) = inner.codec.as_mut() {
                codec.send(&Request::CloseSession, Tag { tx, watch: None });
                flush(inner);
            }
            rx
        };
        let _ = rx.recv_timeout(CLOSE_WAIT);
        {
            let mut g = self.lock();
            g.state = State::Closed;
            if let Some(w) = g.writer.take() {
                let _ = w.shutdown(Shutdown::Both);
            }
            g.codec = None;
            self.shared.changed.notify_all();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.shared.printer.event(7, -1, None);
    }
}

fn client_path(chroot: Option<&str>, path: &str) -> String {
    match chroot {
        Some(c) if path == c => "/".to_string(),
        Some(c) if path.len() > c.len() && path.starts_with(c) => path[c.len()..].to_string(),
        _ => path.to_string(),
    }
}

fn auth_request(scheme: &str, auth: Bytes) -> Request {
    Request::Auth {
        kind: 0,
        scheme: scheme.into(),
        auth,
    }
}

/// Writes what the codec holds; a failed write is left for the reader to notice.
fn flush(inner: &mut Inner) {
    let (Some(codec), Some(w)) = (inner.codec.as_mut(), inner.writer.as_mut()) else {
        return;
    };
    while codec.has_output() {
        match w.write(codec.output()) {
            Ok(0) | Err(_) => {
                let _ = w.shutdown(Shutdown::Both);
                return;
            }
            Ok(n) => codec.consume_output(n),
        }
    }
}

/// The connection thread: connect, serve, and on a lost connection try the next server with
/// the same session, until the session is closed, expired or refused.
fn connection_loop(s: &Shared) {
    let mut next_host = 0usize;
    let mut tried_this_round = 0usize;
    loop {
        if s.lock_inner().closing {
            return;
        }
        let (host, port) = s.hosts[next_host % s.hosts.len()].clone();
        next_host += 1;
        tried_this_round += 1;
        match connect(s, &host, port) {
            Ok(stream) => {
                tried_this_round = 0;
                match serve(s, stream) {
                    Ended::Lost => {
                        let mut g = s.lock_inner();
                        if g.closing || g.state != State::Connected {
                            return;
                        }
                        g.state = State::Connecting;
                        g.codec = None;
                        g.writer = None;
                        drop(g);
                        s.printer.event(0, -1, None);
                    }
                    Ended::Final => return,
                }
            }
            Err(Refused::Expired) => {
                {
                    let mut g = s.lock_inner();
                    g.state = State::Closed;
                    s.changed.notify_all();
                }
                s.printer.event(-112, -1, None);
                return;
            }
            Err(Refused::Unreachable) => {
                if tried_this_round >= s.hosts.len() {
                    tried_this_round = 0;
                    s.lock_inner().failed_rounds += 1;
                    s.changed.notify_all();
                    std::thread::sleep(ROUND_PAUSE);
                }
            }
        }
    }
}

enum Refused {
    Unreachable,
    Expired,
}

enum Ended {
    /// The connection broke; the session may live on elsewhere.
    Lost,
    /// Closed, expired or auth failed: nothing more to do.
    Final,
}

impl Shared {
    fn lock_inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Opens a connection and the session on it (new, or resumed with its id and password).
fn connect(s: &Shared, host: &str, port: u16) -> Result<TcpStream, Refused> {
    let per_host =
        Duration::from_millis((s.timeout_ms.max(1) as u64 / s.hosts.len().max(1) as u64).max(100));
    let addr = (host, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or(Refused::Unreachable)?;
    let mut stream =
        TcpStream::connect_timeout(&addr, per_host).map_err(|_| Refused::Unreachable)?;
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(per_host));
    let handshake = {
        let g = s.lock_inner();
        ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: g.last_zxid,
            timeout_ms: s.timeout_ms,
            session_id: g.session_id,
            passwd: g.passwd.clone(),
            read_only: Some(s.read_only),
        }
    };
    let mut codec: SessionCodec<Tag> = SessionCodec::with_handshake(&handshake);
    stream
        .write_all(codec.output())
        .map_err(|_| Refused::Unreachable)?;
    let n = codec.output().len();
    codec.consume_output(n);
    let mut buf = [0u8; 512];
    let resp = loop {
        match codec.next_incoming() {
            Ok(Some(Incoming::Connected(r))) => break r,
            Ok(Some(_)) => continue,
            Ok(None) => {}
            Err(_) => return Err(Refused::Unreachable),
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return Err(Refused::Unreachable),
            Ok(n) => codec.input(&buf[..n]),
        }
    };
    if resp.timeout_ms <= 0 {
        return Err(Refused::Expired);
    }
    let writer = stream.try_clone().map_err(|_| Refused::Unreachable)?;
    let read_timeout = Duration::from_millis((resp.timeout_ms as u64 * 2 / 3).max(10));
    let _ = stream.set_read_timeout(Some(read_timeout / 2));
    let mut g = s.lock_inner();
    if g.closing {
        return Err(Refused::Unreachable);
    }
    g.session_id = resp.session_id;
    g.passwd = resp.passwd.clone();
    for (scheme, auth) in g.auths.clone() {
        codec.send_control(Xid::AUTH, &auth_request(&scheme, auth));
    }
    if !g.watches.is_empty() {
        let set = set_watches(s, &g.watches, g.last_zxid);
        codec.send_control(Xid::SET_WATCHES, &Request::SetWatches(Box::new(set)));
    }
    g.codec = Some(codec);
    g.writer = Some(writer);
    g.state = State::Connected;
    flush(&mut g);
    s.changed.notify_all();
    // Printed under the lock: no request can be answered before the connected line.
    s.printer.event(3, -1, None);
    Ok(stream)
}

fn set_watches(s: &Shared, w: &Watches, zxid: Zxid) -> SetWatches {
    let paths = |kinds| {
        w.paths(kinds)
            .into_iter()
            .map(|p| {
                match &s.chroot {
                    None => p,
                    Some(c) if p == "/" => c.clone(),
                    Some(c) => format!("{c}{p}"),
                }
                .as_str()
                .into()
            })
            .collect()
    };
    SetWatches {
        relative_zxid: zxid,
        data: paths(watches::DATA),
        exist: paths(watches::EXIST),
        child: paths(watches::CHILD),
        persistent: paths(watches::PERSISTENT),
        persistent_recursive: paths(watches::RECURSIVE),
    }
}

/// Reads the connection until it ends: replies to their callers, events printed, pings sent
/// when the connection is idle.
fn serve(s: &Shared, mut stream: TcpStream) -> Ended {
    let mut buf = vec![0u8; 64 * 1024];
    let mut last_heard = Instant::now();
    let read_timeout = stream
        .read_timeout()
        .ok()
        .flatten()
        .unwrap_or(Duration::from_secs(10))
        * 2;
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ended::Lost,
            Ok(n) => {
                last_heard = Instant::now();
                let mut g = s.lock_inner();
                let Some(codec) = g.codec.as_mut() else {
                    return Ended::Final;
                };
                codec.input(&buf[..n]);
                if let Some(end) = drain(s, &mut g) {
                    return end;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if last_heard.elapsed() >= read_timeout {
                    return Ended::Lost;
                }
                let mut g = s.lock_inner();
                match g.codec.as_mut() {
                    Some(codec) => codec.ping(),
                    None => return Ended::Final,
                }
                flush(&mut g);
            }
            Err(_) => return Ended::Lost,
        }
    }
}

/// Handles every complete frame the codec holds. `Some` when the connection is done for.
fn drain(s: &Shared, g: &mut Inner) -> Option<Ended> {
    loop {
        let next = g.codec.as_mut()?.next_incoming();
        match next {
            Ok(None) => return None,
            Err(_) => return Some(Ended::Lost),
            Ok(Some(Incoming::Reply(r))) => {
                g.last_zxid = g.last_zxid.max(r.zxid);
                let tag = &r.tag;
                let result = match r.error() {
                    None => r
                        .decode()
                        .map_err(|_| CallError::Server(Ok(ErrorCode::MarshallingError))),
                    Some(code) => Err(CallError::Server(code)),
                };
                if let Some(w) = &tag.watch {
                    match &result {
                        Ok(_) if w.on_ok != 0 => g.watches.add(&w.path, w.on_ok),
                        Err(CallError::Server(Ok(ErrorCode::NoNode))) if w.on_no_node != 0 => {
                            g.watches.add(&w.path, w.on_no_node)
                        }
                        _ => {}
                    }
                }
                let _ = tag.tx.send(result);
            }
            Ok(Some(Incoming::Event(e))) => {
                let path = client_path(s.chroot.as_deref(), e.path.as_str());
                g.watches.fired(e.event_type, &path);
                s.printer.event(e.state, e.event_type, Some(&path));
            }
            Ok(Some(Incoming::Control { xid, err })) => {
                if xid == Xid::AUTH && err != 0 {
                    g.state = State::AuthFailed;
                    g.codec = None;
                    g.writer = None;
                    s.changed.notify_all();
                    s.printer.event(4, -1, None);
                    return Some(Ended::Final);
                }
            }
            Ok(Some(Incoming::Pong | Incoming::Connected(_))) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chroot_comes_off_the_paths_the_server_sends() {
        assert_eq!(client_path(Some("/app"), "/app"), "/");
        assert_eq!(client_path(Some("/app"), "/app/x"), "/x");
        assert_eq!(client_path(None, "/app/x"), "/app/x");
        assert_eq!(client_path(Some("/app"), "/other"), "/other");
    }
}
