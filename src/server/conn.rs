//! One client connection: the handshake, frame decoding, the FIFO
//! bookkeeping of requests in flight, and the writer that drains replies and
//! watch events to the socket.
//!
//! A read is answered on the shard when the connection has nothing in
//! flight; otherwise it follows its session's writes through the sequencer,
//! which executes it at its place in the txn order (guarantee 2).

use super::messages::{Reply, ToSequencer};
use super::shard::Shard;
use super::shared::{ConnInfo, Shared};
use crate::admin;
use crate::proto::Id;
use crate::proto::perms;
use crate::proto::request::Request;
use crate::proto::{
    ConnectRequest, ConnectResponse, DecodeError, ErrorCode, OpCode, Reader, ReplyHeader,
    RequestHeader, Response, SessionId, WatcherEvent, Writer, Zxid,
};
use crate::sequencer::prep::WriteRequest;
use crate::tree::{AuthContext, acl};
use crate::watch::{ConnId, WatchKind};
use bytes::{Buf, Bytes, BytesMut};
use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};
use glommio::net::TcpStream;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

/// Replies and events buffered (queued, or taken by the writer and not yet
/// written) beyond this stop the reader until the writer has drained them: a
/// client that does not read costs bounded memory (`docs/architecture.md` §5).
const OUT_BYTES_MAX: usize = 4 << 20;
/// Watch events keep arriving while the reader is paused; a client whose
/// unread output passes this is disconnected rather than buffered without
/// bound (its session survives and may reconnect).
const OUT_BYTES_HARD_MAX: usize = 16 << 20;
const READ_CHUNK_BYTES: usize = 64 << 10;
/// A read is offered at least this much room; with less left, a new buffer.
const READ_MIN_SPARE_BYTES: usize = 8 << 10;

pub struct Conn {
    pub id: ConnId,
    peer: SocketAddr,
    info: Arc<ConnInfo>,
    session: Cell<SessionId>,
    auth: RefCell<Arc<AuthContext>>,
    out: RefCell<BytesMut>,
    /// Bytes of `out` taken by the writer and not yet written.
    writing: Cell<usize>,
    /// The most output (`out` and `writing`) this connection has held.
    out_peak: Cell<usize>,
    wake_writer: LocalSender<()>,
    /// Requests sent to the sequencer and not yet answered, in order.
    in_flight: RefCell<VecDeque<(i32, OpCode, Instant)>>,
    handshake: LocalSender<Option<ConnectResponse>>,
    /// Set when the connection must close once its output is flushed.
    closing: Cell<bool>,
    /// The session ended on the server side (closeSession, expiry): no
    /// `Disconnected` report is owed.
    session_ended: Cell<bool>,
    dead: Cell<bool>,
    close_reader: LocalSender<()>,
    sent_read_only: Cell<Option<bool>>,
    /// The connection's SASL exchange, from its first SASL request on
    /// (ZooKeeper keeps one per connection: it cannot start over).
    sasl: RefCell<Option<crate::sasl::Exchange>>,
}

enum Flow {
    Continue,
    Close,
    /// Read no further frames, but keep the connection until the replies
    /// owed are written: a closeSession is on its way, and its reply ends
    /// the connection (nothing a client pipelines behind it is read).
    Drain,
}

/// What a connection's stream must offer: a plain TCP stream, or a TLS one
/// over it (`tls`); everything after the TLS handshake is the same.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + 'static {}
impl<S: AsyncRead + AsyncWrite + Unpin + 'static> Stream for S {}

/// The remote address as ZooKeeper shows it. An IPv4 client of the
/// dual-stack listener shows up as ::ffff:a.b.c.d; it is the IPv4 address
/// for ip ACLs, per-address connection limits and `cons`, as in ZooKeeper
/// (Java maps it back).
pub fn peer_of(stream: &TcpStream) -> Option<SocketAddr> {
    let p = stream.peer_addr().ok()?;
    Some(SocketAddr::new(p.ip().to_canonical(), p.port()))
}

/// One connection's place under `maxClientCnxns` (per client address),
/// held from accept to close — a TLS client's handshake included, so
/// connections that never finish one count too — and given back on drop.
pub struct IpSlot {
    shared: Arc<Shared>,
    ip: IpAddr,
}

impl IpSlot {
    /// `None` (logged) when `ip` already has `maxClientCnxns` connections.
    pub fn take(shared: &Arc<Shared>, ip: IpAddr) -> Option<IpSlot> {
        let max = shared.config.max_client_cnxns;
        let mut per_ip = shared.conns_per_ip.lock();
        let n = per_ip.entry(ip).or_insert(0);
        if max > 0 && *n >= max {
            tracing::warn!("Too many connections from {ip} - max is {max}");
            return None;
        }
        *n += 1;
        Some(IpSlot {
            shared: shared.clone(),
            ip,
        })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut per_ip = self.shared.conns_per_ip.lock();
        if let Some(n) = per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                per_ip.remove(&self.ip);
            }
        }
    }
}

/// Serves one accepted connection until it closes. `ids` are identities
/// the transport proved (a TLS client certificate's `x509` id, and `super`
/// for the configured x509 super user) on top of the `ip` one.
pub async fn serve<S: Stream>(
    shard: Rc<Shard>,
    stream: S,
    peer: SocketAddr,
    ids: Vec<Id>,
    slot: IpSlot,
) {
    let (rd, wr) = futures_lite::io::split(stream);
    let mut auth =
        AuthContext::for_ip(peer.ip()).with_sasl_scheme(shard.shared.config.sasl_acl_scheme);
    for id in ids {
        auth.add_id(id);
    }
    let (wake_tx, wake_rx) = local_channel::new_bounded(1);
    let (hs_tx, hs_rx) = local_channel::new_bounded(1);
    let (close_tx, close_rx) = local_channel::new_bounded(1);
    let info = Arc::new(ConnInfo::new(peer));
    let conn = Rc::new(Conn {
        id: shard.new_conn_id(),
        peer,
        info: info.clone(),
        session: Cell::new(SessionId(0)),
        auth: RefCell::new(Arc::new(auth)),
        out: RefCell::new(BytesMut::new()),
        writing: Cell::new(0),
        out_peak: Cell::new(0),
        wake_writer: wake_tx,
        in_flight: RefCell::new(VecDeque::new()),
        handshake: hs_tx,
        closing: Cell::new(false),
        session_ended: Cell::new(false),
        dead: Cell::new(false),
        close_reader: close_tx,
        sent_read_only: Cell::new(None),
        sasl: RefCell::new(None),
    });
    shard.register(conn.clone(), info);
    let writer = glommio::spawn_local(write_loop(conn.clone(), wr, wake_rx));
    let reading = read_loop(&shard, &conn, rd, hs_rx);
    futures_lite::future::or(reading, async {
        let _ = close_rx.recv().await;
    })
    .await;

    conn.dead.set(true);
    let _ = conn.wake_writer.try_send(());
    writer.await;
    shard.unregister(conn.id);
    drop(slot);
    if conn.out_peak.get() >= Shard::RETURN_MEMORY_AFTER_BYTES {
        shard.return_memory_soon();
    }
    let session = conn.session.get();
    if session.0 != 0 && !conn.session_ended.get() {
        shard
            .send(ToSequencer::Disconnected {
                conn: conn.id,
                session,
            })
            .await;
        shard.ring_sequencer();
    }
}

async fn write_loop<S: Stream>(
    conn: Rc<Conn>,
    mut wr: futures_lite::io::WriteHalf<S>,
    wake: LocalReceiver<()>,
) {
    let mut io_failed = false;
    while wake.recv().await.is_some() {
        let mut wrote = false;
        loop {
            let buf = conn.out.borrow_mut().split().freeze();
            if buf.is_empty() {
                break;
            }
            // Counted against the connection's output until written (the
            // allocation lives as long as `buf`).
            conn.writing.set(buf.len());
            let written = wr.write_all(&buf).await;
            conn.writing.set(0);
            drop(buf);
            if written.is_err() {
                io_failed = true;
                conn.dead.set(true);
                break;
            }
            wrote = true;
            conn.info.sent.fetch_add(1, Relaxed);
        }
        // A TLS stream may hold the tail of a record until flushed; a TCP
        // stream's flush is a no-op.
        if wrote && !io_failed && wr.flush().await.is_err() {
            io_failed = true;
            conn.dead.set(true);
        }
        if conn.dead.get() || conn.closing.get() {
            if conn.closing.get() && !io_failed {
                // The server ends this connection (a four-letter word was
                // answered, the session closed): flush, then end the stream,
                // so a TLS peer gets its close_notify, not a bare end of file.
                let _ = wr.close().await;
            } else {
                let _ = wr.flush().await;
            }
            let _ = conn.close_reader.try_send(());
            return;
        }
    }
}

async fn read_loop<S: Stream>(
    shard: &Rc<Shard>,
    conn: &Rc<Conn>,
    mut rd: futures_lite::io::ReadHalf<S>,
    hs: LocalReceiver<Option<ConnectResponse>>,
) {
    let max_frame = shard.shared.config.jute_max_buffer;
    let mut rbuf = ReadBuf::new();
    let mut handshaken = false;
    let mut need = 0;
    let outstanding_max = shard.shared.config.global_outstanding_limit.max(1) as usize;
    loop {
        // Every complete frame in the buffer, then one ring for the burst;
        // the backpressure check comes before each frame, since one buffer
        // of small requests can ask for thousands of large replies.
        let mut stalled = false;
        while rbuf.data().len() >= 4 {
            if conn.backlogged(outstanding_max) {
                stalled = true;
                break;
            }
            let d = rbuf.data();
            let word = u32::from_be_bytes([d[0], d[1], d[2], d[3]]);
            if !handshaken && let Some(cmd) = admin::four_letter_word(word) {
                conn.answer_four_letter(shard, cmd);
                return;
            }
            let len = word as i32;
            if len < 0 || len as usize > max_frame {
                tracing::warn!(peer = %conn.peer, len, "closing connection: frame length out of range (jute.maxbuffer {max_frame})");
                return;
            }
            let len = len as usize;
            if d.len() < 4 + len {
                need = 4 + len - d.len();
                break;
            }
            let frame = rbuf.take_frame(len);
            let flow = if handshaken {
                conn.handle_frame(shard, frame).await
            } else {
                handshaken = true;
                conn.handshake(shard, frame, &hs).await
            };
            // A connection being closed (failed auth, refused request) reads
            // no further frames, as ZooKeeper's disableRecv.
            if matches!(flow, Flow::Close) || conn.closing.get() {
                shard.ring_sequencer();
                return;
            }
            if matches!(flow, Flow::Drain) {
                shard.ring_sequencer();
                // The writer ends the connection after the closeSession
                // reply (`serve` hears it through `close_reader`).
                std::future::pending::<()>().await;
            }
        }
        shard.ring_sequencer();
        // Backpressure: stop reading while this client's replies pile up or
        // too many of its requests are in flight.
        while !conn.dead.get() && conn.backlogged(outstanding_max) {
            glommio::timer::sleep(Duration::from_millis(1)).await;
        }
        if conn.dead.get() || conn.closing.get() {
            return;
        }
        if stalled {
            // Frames already read go first.
            continue;
        }
        match rd.read(rbuf.spare(std::mem::take(&mut need))).await {
            Ok(0) | Err(_) => return,
            Ok(n) => rbuf.filled(n),
        }
    }
}

/// A connection's receive buffer. Frames are handed out as slices of it
/// (`Bytes`, no copy), so an allocation lives as long as any request or
/// stored value still refers to it. The buffer is zeroed once when it is
/// allocated and then read into as is: `buf[..filled]` is received bytes not
/// yet taken as frames, `buf[filled..]` room for the next read (zeros or stale
/// bytes). Zero-filling 64 KiB before every read cost more instructions than
/// the rest of a write's handling together.
struct ReadBuf {
    buf: BytesMut,
    filled: usize,
}

impl ReadBuf {
    fn new() -> ReadBuf {
        ReadBuf {
            buf: BytesMut::zeroed(READ_CHUNK_BYTES),
            filled: 0,
        }
    }

    /// Received bytes not yet taken as frames.
    fn data(&self) -> &[u8] {
        &self.buf[..self.filled]
    }

    /// Takes the frame whose 4-byte length prefix starts the data; the caller
    /// has checked that all of its `len` bytes are there.
    fn take_frame(&mut self, len: usize) -> Bytes {
        self.buf.advance(4);
        self.filled -= 4 + len;
        self.buf.split_to(len).freeze()
    }

    /// Room for the next read: at least `need` bytes (the rest of a partial
    /// frame) and at least [`READ_MIN_SPARE_BYTES`]. A new buffer is taken
    /// (the unconsumed bytes copied over) only when the current one is short.
    fn spare(&mut self, need: usize) -> &mut [u8] {
        let want = need.max(READ_MIN_SPARE_BYTES);
        if self.buf.len() - self.filled < want {
            let mut fresh = BytesMut::zeroed(READ_CHUNK_BYTES.max(self.filled + want));
            fresh[..self.filled].copy_from_slice(&self.buf[..self.filled]);
            self.buf = fresh;
        }
        &mut self.buf[self.filled..]
    }

    /// `n` bytes were read into [`ReadBuf::spare`].
    fn filled(&mut self, n: usize) {
        self.filled += n;
    }
}

impl Conn {
    /// Whether the reader must wait: more replies and events held than
    /// [`OUT_BYTES_MAX`], or `outstanding_max` requests in flight.
    fn backlogged(&self, outstanding_max: usize) -> bool {
        self.out.borrow().len() + self.writing.get() > OUT_BYTES_MAX
            || self.in_flight.borrow().len() >= outstanding_max
    }

    fn wake(&self) {
        let _ = self.wake_writer.try_send(());
    }

    fn write_frame(&self, f: impl FnOnce(&mut Writer)) {
        if self.dead.get() {
            return;
        }
        let mut out = self.out.borrow_mut();
        let mut w = Writer::new(&mut out);
        let at = w.begin_frame();
        f(&mut w);
        w.end_frame(at);
        let unread = out.len() + self.writing.get();
        drop(out);
        self.out_peak.set(self.out_peak.get().max(unread));
        if unread > OUT_BYTES_HARD_MAX {
            tracing::warn!(peer = %self.peer, unread, "closing connection: client is not reading its replies and events");
            self.dead.set(true);
            self.out.borrow_mut().clear();
            let _ = self.close_reader.try_send(());
        }
        self.wake();
    }

    fn write_reply(
        &self,
        shard: &Shard,
        xid: i32,
        zxid: Zxid,
        result: &Result<Response, ErrorCode>,
    ) {
        let err = match result {
            Ok(_) => 0,
            Err(e) => e.as_i32(),
        };
        self.write_frame(|w| {
            ReplyHeader {
                xid,
                zxid: zxid.0,
                err,
            }
            .encode(w);
            if let Ok(resp) = result {
                resp.encode(w);
            }
        });
        self.info.last_zxid.store(zxid.0, Relaxed);
        self.info
            .last_response_ms
            .store(super::shared::now_ms(), Relaxed);
        shard.public().stats.packets_sent.fetch_add(1, Relaxed);
    }

    /// ZooKeeper 3.9.2+ delivers an event only to a connection that may read
    /// the node (the parent, for NodeChildrenChanged): events must not leak data.
    pub fn may_read(&self, node_acl: &[crate::proto::Acl]) -> bool {
        acl::check(node_acl, perms::READ, &self.auth.borrow()).is_ok()
    }

    pub fn send_event(&self, ev: &WatcherEvent, zxid: Zxid) {
        self.write_frame(|w| {
            ReplyHeader {
                xid: -1,
                zxid: zxid.0,
                err: 0,
            }
            .encode(w);
            ev.encode(w);
        });
    }

    fn answer_four_letter(&self, shard: &Shard, cmd: &'static str) {
        let text = if shard.shared.config.four_letter_allowed(cmd) {
            admin::execute(cmd, &shard.shared)
        } else {
            format!("{cmd} is not executed because it is not in the whitelist.\n")
        };
        self.out.borrow_mut().extend_from_slice(text.as_bytes());
        self.closing.set(true);
        self.wake();
    }

    /// Ends the connection at once, without a session-ending answer: the
    /// server stopped serving (its session lives on).
    pub fn close_now(&self) {
        self.closing.set(true);
        self.wake();
    }

    async fn handshake(
        &self,
        shard: &Rc<Shard>,
        frame: Bytes,
        hs: &LocalReceiver<Option<ConnectResponse>>,
    ) -> Flow {
        if shard.shared.serving().is_none() {
            // ZooKeeper closes a connection whose server is not running
            // (electing, syncing): the client tries another member.
            tracing::info!(peer = %self.peer, "Closing connection: this server is not serving requests");
            return Flow::Close;
        }
        let req = match ConnectRequest::decode(&mut Reader::new(frame)) {
            Ok(r) => r,
            Err(e) => {
                tracing::info!(peer = %self.peer, "closing connection: bad handshake: {e}");
                return Flow::Close;
            }
        };
        let last_zxid = shard.shared.tree.read().last_zxid();
        if req.last_zxid_seen > last_zxid {
            tracing::info!(
                peer = %self.peer,
                "Refusing session request for client as it has seen zxid {} our last zxid is {} client must try another server",
                req.last_zxid_seen, last_zxid
            );
            return Flow::Close;
        }
        let cfg = &shard.shared.config;
        let timeout_ms = crate::session::negotiate_timeout(
            req.timeout_ms,
            cfg.min_session_timeout_ms as i32,
            cfg.max_session_timeout_ms as i32,
        );
        self.sent_read_only.set(req.read_only);
        let msg = if req.session_id.0 == 0 {
            ToSequencer::CreateSession {
                shard: shard.id,
                conn: self.id,
                timeout_ms,
            }
        } else {
            ToSequencer::Reattach {
                shard: shard.id,
                conn: self.id,
                session: req.session_id,
                passwd: req.passwd.clone(),
                timeout_ms,
            }
        };
        shard.send(msg).await;
        shard.ring_sequencer();
        let answer = hs.recv().await.flatten();
        match answer {
            Some(resp) => {
                self.session.set(resp.session_id);
                self.info.session.store(resp.session_id.0, Relaxed);
                self.info.timeout_ms.store(resp.timeout_ms as i64, Relaxed);
                shard.touch(resp.session_id);
                self.write_frame(|w| resp.encode(w));
                Flow::Continue
            }
            None => {
                // Unknown or expired session, or a wrong password: ZooKeeper
                // answers with timeout 0 and session 0, then closes.
                let resp = ConnectResponse {
                    protocol_version: 0,
                    timeout_ms: 0,
                    session_id: SessionId(0),
                    passwd: Bytes::from_static(&[0u8; 16]),
                    read_only: req.read_only.map(|_| false),
                };
                self.write_frame(|w| resp.encode(w));
                self.session_ended.set(true);
                self.closing.set(true);
                Flow::Continue
            }
        }
    }

    async fn handle_frame(&self, shard: &Rc<Shard>, frame: Bytes) -> Flow {
        let mut r = Reader::new(frame);
        let hdr = match RequestHeader::decode(&mut r) {
            Ok(h) => h,
            Err(e) => {
                tracing::info!(peer = %self.peer, "closing connection: bad request header: {e}");
                return Flow::Close;
            }
        };
        let stats = &shard.public().stats;
        stats.packets_received.fetch_add(1, Relaxed);
        self.info.received.fetch_add(1, Relaxed);
        shard.touch(self.session.get());
        let Some(op) = OpCode::from_i32(hdr.op) else {
            tracing::info!(peer = %self.peer, op = hdr.op, "closing connection: unknown opcode");
            return self.unimplemented(shard, hdr.xid);
        };
        self.info.last_cxid.store(hdr.xid as i64, Relaxed);
        *self.info.last_op.lock() = op_abbrev(op);
        let req = match Request::decode(op, &mut r) {
            Ok(Some(req)) => req,
            Ok(None) if op == OpCode::DeleteContainer => {
                // Only the server's container manager may ask for it: ZooKeeper
                // answers a client's with BadArguments (its prep reads the
                // path from the whole frame, whose header holds a NUL byte).
                self.write_reply(
                    shard,
                    hdr.xid,
                    self.last_zxid(shard),
                    &Err(ErrorCode::BadArguments),
                );
                return Flow::Continue;
            }
            Ok(None) => {
                tracing::info!(peer = %self.peer, ?op, "closing connection: opcode not served to clients");
                return self.unimplemented(shard, hdr.xid);
            }
            Err(e) if matches!(op, OpCode::Auth | OpCode::Sasl) => {
                // ZooKeeper's processPacket lets the decoding error end the
                // connection, with no reply.
                tracing::info!(peer = %self.peer, ?op, "closing connection: undecodable {op:?} packet: {e}");
                return Flow::Close;
            }
            Err(e) => return self.marshalling_error(shard, hdr.xid, e),
        };
        match req {
            Request::Auth { scheme, auth, .. } => self.authenticate(shard, hdr.xid, &scheme, &auth),
            Request::Sasl { token } => self.sasl(shard, hdr.xid, &token),
            // Everything else, pings included, needs an enforced scheme.
            _ if self.refused_unauthenticated(shard, hdr.xid) => Flow::Continue,
            Request::Ping => {
                self.write_reply(shard, hdr.xid, self.last_zxid(shard), &Ok(Response::Empty));
                Flow::Continue
            }
            // Behind a request in flight it waits its turn like a read: a
            // client that sends it with an ordinary xid (not the Java
            // client's -8) matches replies to requests in order.
            Request::SetWatches(sw) if self.in_flight.borrow().is_empty() => {
                self.set_watches(shard, hdr.xid, &sw);
                Flow::Continue
            }
            req if req.is_write()
                || matches!(req, Request::Sync { .. })
                || !self.in_flight.borrow().is_empty() =>
            {
                self.in_flight
                    .borrow_mut()
                    .push_back((hdr.xid, op, Instant::now()));
                self.info.outstanding.fetch_add(1, Relaxed);
                stats.outstanding.fetch_add(1, Relaxed);
                let req = WriteRequest {
                    session: self.session.get(),
                    cxid: hdr.xid,
                    request: req,
                    auth: self.auth.borrow().clone(),
                };
                let closing_session = matches!(req.request, Request::CloseSession);
                shard
                    .send(ToSequencer::Request {
                        shard: shard.id,
                        conn: self.id,
                        xid: hdr.xid,
                        req,
                    })
                    .await;
                if closing_session {
                    Flow::Drain
                } else {
                    Flow::Continue
                }
            }
            req => {
                let started = Instant::now();
                self.execute_local(shard, hdr.xid, &req, None);
                self.record_latency(shard, started, false);
                Flow::Continue
            }
        }
    }

    /// ZooKeeper's UnimplementedRequestProcessor: the answer (with zxid -1),
    /// then the connection ends.
    fn unimplemented(&self, shard: &Shard, xid: i32) -> Flow {
        self.write_reply(shard, xid, Zxid(-1), &Err(ErrorCode::Unimplemented));
        self.closing.set(true);
        self.wake();
        Flow::Continue
    }

    fn marshalling_error(&self, shard: &Shard, xid: i32, e: DecodeError) -> Flow {
        // ZooKeeper answers a body it cannot deserialize with MarshallingError
        // and keeps the connection.
        tracing::info!(peer = %self.peer, xid, "undecodable request body: {e}");
        self.write_reply(
            shard,
            xid,
            self.last_zxid(shard),
            &Err(ErrorCode::MarshallingError),
        );
        Flow::Continue
    }

    /// The zxid for a reply answered on the shard. Events for every change up
    /// to it are already queued for this shard (the sequencer queues them
    /// before publishing), so deliver them first: a client never sees a
    /// header zxid ahead of an event it is owed.
    fn last_zxid(&self, shard: &Shard) -> Zxid {
        let zxid = shard.shared.tree.read().last_zxid();
        shard.drain_inbound();
        zxid
    }

    /// `write`: the request went through the sequencer (ZooKeeper's
    /// `updatelatency`); otherwise it was answered here (`readlatency`).
    fn record_latency(&self, shard: &Shard, started: Instant, write: bool) {
        let us = started.elapsed().as_micros() as u64;
        let stats = &shard.public().stats;
        stats.record_latency(us);
        if write {
            stats.update_latency_us.record(us);
        } else {
            stats.read_latency_us.record(us);
        }
        self.info.record_latency(us);
    }

    /// Requests answered on the shard: tree reads (when nothing is in
    /// flight) and the ones that only touch this shard's watch registry.
    /// `at` is the zxid of the request's place in the txn order when the
    /// sequencer handed it back; `None` when it runs on arrival.
    fn execute_local(&self, shard: &Shard, xid: i32, req: &Request, at: Option<Zxid>) {
        let registry_result = match req {
            Request::AddWatch { path, mode } => {
                Some(match crate::proto::AddWatchMode::from_i32(*mode) {
                    Some(m) => {
                        let kind = match m {
                            crate::proto::AddWatchMode::Persistent => WatchKind::Persistent,
                            crate::proto::AddWatchMode::PersistentRecursive => {
                                WatchKind::PersistentRecursive
                            }
                        };
                        shard
                            .public()
                            .watches
                            .lock()
                            .add(self.id, path.clone(), kind);
                        Ok(Response::Int(0))
                    }
                    // WatcherMode.fromZooDef throws; FinalRequestProcessor's
                    // catch-all answers MarshallingError.
                    None => Err(ErrorCode::MarshallingError),
                })
            }
            Request::CheckWatches { path, kind } | Request::RemoveWatches { path, kind } => {
                Some(match crate::proto::WatcherType::from_i32(*kind) {
                    Some(t) => {
                        let mut reg = shard.public().watches.lock();
                        let found = if matches!(req, Request::CheckWatches { .. }) {
                            reg.check(self.id, path, t)
                        } else {
                            reg.remove(self.id, path, t)
                        };
                        if found {
                            Ok(Response::Empty)
                        } else {
                            Err(ErrorCode::NoWatcher)
                        }
                    }
                    // WatcherType.fromInt throws, answered as above.
                    None => Err(ErrorCode::MarshallingError),
                })
            }
            Request::SetWatches(sw) => {
                self.set_watches(shard, xid, sw);
                return;
            }
            Request::WhoAmI => Some(Ok(Response::WhoAmI(
                self.auth
                    .borrow()
                    .ids
                    .iter()
                    .map(|id| crate::proto::ClientInfo {
                        auth_scheme: id.scheme.clone(),
                        // AuthenticationProvider.getUserName: a digest id is `user:hash`.
                        user: match (id.scheme.as_str(), id.id.split_once(':')) {
                            ("digest", Some((user, _))) => user.into(),
                            _ => id.id.clone(),
                        },
                    })
                    .collect(),
            ))),
            _ => None,
        };
        if let Some(result) = registry_result {
            let zxid = at.unwrap_or_else(|| self.last_zxid(shard));
            self.write_reply(shard, xid, zxid, &result);
            return;
        }
        let auth = self.auth.borrow().clone();
        let (outcome, zxid) = {
            let tree = shard.shared.tree.read();
            let outcome = crate::tree::read::execute(&tree, req, &auth, self.session.get());
            let zxid = tree.last_zxid();
            for (path, kind) in outcome.watches() {
                shard.watch_after(zxid, self.id, path.clone(), *kind);
            }
            (outcome, zxid)
        };
        // Events for every change this read could reflect were queued before
        // the tree published it: deliver them ahead of the reply.
        shard.drain_inbound();
        self.write_reply(shard, xid, zxid, &outcome.result);
    }

    fn authenticate(&self, shard: &Shard, xid: i32, scheme: &str, auth: &[u8]) -> Flow {
        let cfg = &shard.shared.config;
        let mut ctx = (**self.auth.borrow()).clone();
        let result = match scheme {
            "digest" => ctx
                .add_digest_auth(auth, cfg.super_digest.as_deref())
                .map(|_| ()),
            // The ip provider authenticates from the socket, whatever the bytes say.
            "ip" => Ok(()),
            _ => Err(ErrorCode::AuthFailed),
        };
        match result {
            Ok(()) => {
                *self.auth.borrow_mut() = Arc::new(ctx);
                self.write_reply(shard, xid, self.last_zxid(shard), &Ok(Response::Empty));
                Flow::Continue
            }
            Err(_) => {
                tracing::warn!(peer = %self.peer, scheme, "authentication failed");
                shard.public().stats.auth_failed.fetch_add(1, Relaxed);
                self.write_reply(
                    shard,
                    xid,
                    self.last_zxid(shard),
                    &Err(ErrorCode::AuthFailed),
                );
                self.closing.set(true);
                self.wake();
                Flow::Continue
            }
        }
    }

    /// One SASL token (`ZooKeeperServer.processSasl`). Replies carry zxid 0,
    /// as ZooKeeper's do.
    fn sasl(&self, shard: &Shard, xid: i32, token: &[u8]) -> Flow {
        let cfg = &shard.shared.config;
        let Some(users) = &cfg.sasl else {
            tracing::info!(peer = %self.peer, "SASL requested but this server has no SASL configured");
            self.write_reply(
                shard,
                xid,
                self.last_zxid(shard),
                &Err(ErrorCode::AuthFailed),
            );
            return Flow::Continue;
        };
        let required = cfg.enforce_auth_schemes.iter().any(|s| s == "sasl");
        let outcome = {
            let mut slot = self.sasl.borrow_mut();
            if slot.is_none() {
                let mut random = [0u8; 30];
                match getrandom::getrandom(&mut random) {
                    Ok(()) => *slot = Some(crate::sasl::Exchange::new(random)),
                    Err(e) => tracing::error!("no random bytes for a SASL nonce: {e}"),
                }
            }
            match slot.as_mut() {
                Some(exchange) => exchange
                    .evaluate(token, |user| users.password(user))
                    .map_err(|e| e.to_string()),
                None => Err("no nonce".to_string()),
            }
        };
        let reply = |err: ErrorCode, token: Option<&[u8]>| {
            self.write_frame(|w| {
                ReplyHeader {
                    xid,
                    zxid: 0,
                    err: err.as_i32(),
                }
                .encode(w);
                w.buffer_opt(token);
            });
            shard.public().stats.packets_sent.fetch_add(1, Relaxed);
        };
        match outcome {
            Ok(crate::sasl::Outcome::Continue(challenge)) => {
                reply(ErrorCode::Ok, Some(&challenge));
            }
            Ok(crate::sasl::Outcome::Authenticated { token, id }) => {
                tracing::info!(peer = %self.peer, session = %self.session.get(), "adding SASL authorization for {id}");
                let mut ctx = (**self.auth.borrow()).clone();
                ctx.add_id(crate::proto::Id::new("sasl", &id));
                if cfg.is_sasl_super_user(&id) {
                    tracing::info!(peer = %self.peer, "SASL id {id} is a super user");
                    ctx.add_id(crate::proto::Id::new("super", ""));
                }
                *self.auth.borrow_mut() = Arc::new(ctx);
                reply(ErrorCode::Ok, Some(&token));
            }
            Err(why) => {
                tracing::warn!(peer = %self.peer, "client failed to SASL authenticate: {why}");
                shard.public().stats.auth_failed.fetch_add(1, Relaxed);
                if cfg.allow_sasl_failed_clients && !required {
                    tracing::warn!(peer = %self.peer, "keeping the connection despite the SASL failure (allowSaslFailedClients)");
                    reply(ErrorCode::Ok, None);
                } else {
                    let err = if required {
                        ErrorCode::SessionClosedRequireSaslAuth
                    } else {
                        ErrorCode::AuthFailed
                    };
                    reply(err, None);
                    self.closing.set(true);
                    self.wake();
                }
            }
        }
        Flow::Continue
    }

    /// `AuthenticationHelper.enforceAuthentication`: with enforced schemes, a
    /// connection that has authenticated with none of them gets
    /// SessionClosedRequireSaslAuth for its request (any but auth and SASL)
    /// and is closed. The session stays until it expires, as in ZooKeeper.
    fn refused_unauthenticated(&self, shard: &Shard, xid: i32) -> bool {
        let schemes = &shard.shared.config.enforce_auth_schemes;
        if schemes.is_empty() {
            return false;
        }
        let ok = self
            .auth
            .borrow()
            .ids
            .iter()
            .any(|id| schemes.iter().any(|s| s.as_str() == id.scheme.as_str()));
        if ok {
            return false;
        }
        tracing::error!(peer = %self.peer, schemes = ?schemes, "client has not authenticated with a required scheme; closing the connection");
        self.write_frame(|w| {
            ReplyHeader {
                xid,
                zxid: 0,
                err: ErrorCode::SessionClosedRequireSaslAuth.as_i32(),
            }
            .encode(w);
        });
        self.closing.set(true);
        self.wake();
        true
    }

    fn set_watches(&self, shard: &Shard, xid: i32, sw: &crate::proto::request::SetWatches) {
        let (fired, zxid) = {
            let tree = shard.shared.tree.read();
            let (fired, register) = crate::tree::read::set_watches(&tree, sw);
            let zxid = tree.last_zxid();
            for (path, kind) in register {
                shard.watch_after(zxid, self.id, path, kind);
            }
            (fired, zxid)
        };
        shard.drain_inbound();
        // Events fired by setWatches carry no txn: ZooKeeper sends them with zxid -1.
        for ev in &fired {
            self.send_event(ev, Zxid(-1));
        }
        self.write_reply(shard, xid, zxid, &Ok(Response::Empty));
    }

    /// A result from the sequencer for this connection.
    pub fn on_reply(&self, shard: &Shard, reply: Reply) {
        match reply {
            Reply::Done {
                xid,
                zxid,
                result,
                watches,
                ..
            } => {
                let Some((op, started)) = self.pop_in_flight(shard, xid) else {
                    return;
                };
                if !watches.is_empty() {
                    let mut reg = shard.public().watches.lock();
                    for (path, kind) in watches {
                        reg.add(self.id, path, kind);
                    }
                }
                self.write_reply(shard, xid, zxid, &result);
                self.record_latency(shard, started, true);
                if op == OpCode::CloseSession {
                    // Its reply is the connection's last word, whatever it says
                    // (the reader stopped at the request).
                    self.session_ended.set(result.is_ok());
                    self.closing.set(true);
                    self.wake();
                }
            }
            Reply::Local {
                xid, zxid, request, ..
            } => {
                let Some((_, started)) = self.pop_in_flight(shard, xid) else {
                    return;
                };
                self.execute_local(shard, xid, &request, Some(zxid));
                self.record_latency(shard, started, false);
            }
            Reply::Connected { response, .. } => {
                let response = response.map(|mut r| {
                    r.read_only = self.sent_read_only.get().map(|_| false);
                    r
                });
                let _ = self.handshake.try_send(response);
            }
            Reply::Close { .. } => {
                self.session_ended.set(true);
                self.closing.set(true);
                self.wake();
            }
        }
    }

    fn pop_in_flight(&self, shard: &Shard, xid: i32) -> Option<(OpCode, Instant)> {
        let front = self.in_flight.borrow_mut().pop_front();
        match front {
            Some((x, op, started)) if x == xid => {
                self.info.outstanding.fetch_sub(1, Relaxed);
                shard.public().stats.outstanding.fetch_sub(1, Relaxed);
                Some((op, started))
            }
            other => {
                tracing::error!(conn = self.id, xid, expected = ?other.map(|o| o.0), "reply out of order; closing connection");
                self.closing.set(true);
                self.wake();
                None
            }
        }
    }
}

/// The four-letter abbreviations `cons` prints for the last operation.
fn op_abbrev(op: OpCode) -> &'static str {
    match op {
        OpCode::Create | OpCode::Create2 | OpCode::CreateContainer | OpCode::CreateTtl => "CREA",
        OpCode::Delete => "DELE",
        OpCode::Exists => "EXIS",
        OpCode::GetData => "GETD",
        OpCode::SetData => "SETD",
        OpCode::GetAcl => "GACL",
        OpCode::SetAcl => "SACL",
        OpCode::GetChildren => "GETC",
        OpCode::GetChildren2 => "GETC",
        OpCode::Sync => "SYNC",
        OpCode::Ping => "PING",
        OpCode::Check => "CHEC",
        OpCode::Multi => "MULT",
        OpCode::MultiRead => "MLTR",
        OpCode::Reconfig => "RECO",
        OpCode::CheckWatches => "CHKW",
        OpCode::RemoveWatches => "REMW",
        OpCode::Auth => "AUTH",
        OpCode::SetWatches | OpCode::SetWatches2 => "SETW",
        OpCode::Sasl => "SASL",
        OpCode::GetEphemerals => "GETE",
        OpCode::GetAllChildrenNumber => "GETACN",
        OpCode::AddWatch => "ADDW",
        OpCode::WhoAmI => "HOMI",
        OpCode::CloseSession => "CLOS",
        OpCode::CreateSession => "SESS",
        _ => "NA",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(body: &[u8]) -> Vec<u8> {
        let mut v = (body.len() as u32).to_be_bytes().to_vec();
        v.extend_from_slice(body);
        v
    }

    /// Feeds `wire` to a `ReadBuf` in reads of at most `step` bytes and
    /// returns the frames taken, as `read_loop` takes them.
    fn frames_of(wire: &[u8], step: usize) -> Vec<Bytes> {
        let mut rb = ReadBuf::new();
        let mut out = Vec::new();
        let mut need = 0;
        let mut at = 0;
        loop {
            while rb.data().len() >= 4 {
                let d = rb.data();
                let len = u32::from_be_bytes([d[0], d[1], d[2], d[3]]) as usize;
                if d.len() < 4 + len {
                    need = 4 + len - d.len();
                    break;
                }
                out.push(rb.take_frame(len));
            }
            if at == wire.len() {
                return out;
            }
            let room = rb.spare(std::mem::take(&mut need));
            let n = room.len().min(step).min(wire.len() - at);
            room[..n].copy_from_slice(&wire[at..at + n]);
            rb.filled(n);
            at += n;
        }
    }

    #[test]
    fn read_buf_reassembles_frames_split_across_reads_and_buffers() {
        // Bodies of assorted sizes, one larger than a whole read chunk, read
        // in odd-sized pieces so frames straddle reads and buffer changes.
        let bodies: Vec<Vec<u8>> = (0..300usize)
            .map(|i| {
                let len = if i == 150 {
                    READ_CHUNK_BYTES * 2 + 3
                } else {
                    i * 37 % 700
                };
                (0..len).map(|j| (i * 31 + j) as u8).collect()
            })
            .collect();
        let wire: Vec<u8> = bodies.iter().flat_map(|b| framed(b)).collect();
        for step in [1, 7, 4096, READ_CHUNK_BYTES] {
            let got = frames_of(&wire, step);
            assert_eq!(got.len(), bodies.len(), "step {step}");
            for (g, b) in got.iter().zip(&bodies) {
                assert_eq!(&g[..], &b[..], "step {step}");
            }
        }
    }

    #[test]
    fn read_buf_room_never_overlaps_frames_taken() {
        let mut rb = ReadBuf::new();
        let body = vec![0xabu8; 1000];
        let wire = framed(&body);
        let room = rb.spare(0);
        room[..wire.len()].copy_from_slice(&wire);
        rb.filled(wire.len());
        let kept = rb.take_frame(body.len());
        // Overwrite all the room of the same buffer, then of a new one.
        rb.spare(0).fill(0x55);
        assert_eq!(&kept[..], &body[..]);
        rb.spare(READ_CHUNK_BYTES * 2).fill(0x66);
        assert_eq!(&kept[..], &body[..]);
        assert!(rb.data().is_empty());
    }
}
