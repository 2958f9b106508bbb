//! One shard: an executor's listener, its connections, and the dispatcher
//! that delivers the sequencer's batches (watch events, replies) to them.

use super::bell::{Bell, Ring};
use super::conn::{self, Conn, IpSlot};
use super::core::SAFETY_POLL_MS;
use super::messages::{Batch, Reply, ShardId, ToSequencer};
use super::shared::{ConnInfo, ShardPublic, Shared, Wiring};
use crate::proto::Id;
use crate::proto::{SessionId, WatcherEvent};
use crate::watch::ConnId;
use foldhash::{HashMap, HashSet};
use futures_rustls::TlsAcceptor;
use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};
use glommio::channels::shared_channel::ConnectedSender;
use glommio::net::TcpListener;
use std::cell::{Cell, RefCell};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{FromRawFd, IntoRawFd, RawFd};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

/// The accept backlog, glommio's value for the listeners it binds itself.
const LISTEN_BACKLOG: i32 = 1024;
/// A TLS client that has not finished its handshake by then is dropped
/// (Netty's SslHandler default, which ZooKeeper's secure port inherits):
/// a connection that never handshakes holds a task, a socket and rustls's
/// buffers, and counts against no other limit until it does.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

struct PendingWatch {
    zxid: crate::proto::Zxid,
    conn: ConnId,
    path: crate::proto::ZString,
    kind: crate::watch::WatchKind,
}

pub struct Shard {
    pub id: ShardId,
    pub shared: Arc<Shared>,
    pub conns: RefCell<HashMap<ConnId, Rc<Conn>>>,
    /// Sessions with activity since the last touch report.
    touched: RefCell<HashSet<SessionId>>,
    to_sequencer: ConnectedSender<()>,
    bell_pending: Cell<bool>,
    draining: Cell<bool>,
    /// Watches armed by shard-local reads of the tree at a zxid, waiting for
    /// delivery to reach that zxid (see [`Shard::watch_after`]).
    pending_watches: RefCell<Vec<PendingWatch>>,
    next_conn: Cell<u64>,
    events: RefCell<Vec<(ConnId, WatcherEvent)>>,
    /// Rung when a connection that held much output has gone (see
    /// [`memory_returner`]).
    return_memory: LocalSender<()>,
}

impl Shard {
    pub fn public(&self) -> &ShardPublic {
        &self.shared.shards[self.id]
    }

    /// Queues a message for the sequencer; waits while the queue is full
    /// (backpressure reaches the connection's reader, which stops reading).
    pub async fn send(&self, mut msg: ToSequencer) {
        loop {
            match self.public().outbound.push(msg) {
                Ok(()) => {
                    self.bell_pending.set(true);
                    return;
                }
                Err(back) => {
                    msg = back;
                    self.ring_sequencer();
                    glommio::timer::sleep(Duration::from_micros(100)).await;
                }
            }
        }
    }

    /// Wakes the sequencer once for everything queued since the last ring.
    pub fn ring_sequencer(&self) {
        if self.bell_pending.replace(false) {
            let _ = self.to_sequencer.try_send(());
        }
    }

    pub fn touch(&self, session: SessionId) {
        if session.0 != 0 {
            self.touched.borrow_mut().insert(session);
        }
    }

    /// A connection that held at least this much output has closed: its
    /// buffers are worth handing back to the OS.
    pub const RETURN_MEMORY_AFTER_BYTES: usize = 1 << 20;

    /// Asks [`memory_returner`] to hand this thread's free memory back.
    pub fn return_memory_soon(&self) {
        let _ = self.return_memory.try_send(());
    }

    pub fn new_conn_id(&self) -> ConnId {
        let n = self.next_conn.get() + 1;
        self.next_conn.set(n);
        ((self.id as u64) << 48) | n
    }

    /// Delivers every batch the sequencer has queued for this shard. Called by
    /// the dispatcher when the bell rings, and by a reader after it read the
    /// tree, so that every event for a change its reply could reflect is
    /// already queued on the connection before that reply (watch before data).
    ///
    /// Not re-entrant: a reply handled during delivery that asks to drain
    /// again is a no-op, so batches are always delivered whole and in order.
    pub fn drain_inbound(&self) {
        if self.draining.replace(true) {
            return;
        }
        while let Some(batch) = self.public().inbound.pop() {
            self.deliver(batch);
        }
        self.register_pending(None);
        self.draining.set(false);
    }

    /// Arms a watch for a read that saw the tree at `zxid`. Triggers of
    /// changes up to `zxid` may still sit in this shard's queue; the read
    /// already reflects them, so the watch must not fire (and, being
    /// one-shot, be consumed) for them — its event would reach the client
    /// before the reply, when the client has no watcher registered yet, and
    /// the watch would be silently lost. It is registered when delivery
    /// reaches the first trigger after `zxid`, or when the queue is empty.
    pub fn watch_after(
        &self,
        zxid: crate::proto::Zxid,
        conn: ConnId,
        path: crate::proto::ZString,
        kind: crate::watch::WatchKind,
    ) {
        self.pending_watches.borrow_mut().push(PendingWatch {
            zxid,
            conn,
            path,
            kind,
        });
    }

    /// Registers pending watches read before `next` (all of them for `None`).
    fn register_pending(&self, next: Option<crate::proto::Zxid>) {
        let mut pending = self.pending_watches.borrow_mut();
        if pending.is_empty() {
            return;
        }
        let conns = self.conns.borrow();
        let mut registry = self.public().watches.lock();
        pending.retain(|w| {
            if next.is_some_and(|n| w.zxid >= n) {
                return true;
            }
            if conns.contains_key(&w.conn) {
                registry.add(w.conn, w.path.clone(), w.kind);
            }
            false
        });
    }

    fn deliver(&self, batch: Batch) {
        if batch.close_all {
            self.close_all();
        }
        let mut fired = 0;
        for (upto, reply) in batch.replies {
            self.fire(&batch.triggers[fired..upto]);
            fired = upto;
            self.handle_reply(reply);
        }
        self.fire(&batch.triggers[fired..]);
    }

    fn fire(&self, triggers: &[crate::tree::Trigger]) {
        if triggers.is_empty() {
            return;
        }
        let mut events = self.events.borrow_mut();
        let conns = self.conns.borrow();
        for t in triggers {
            self.register_pending(Some(t.zxid));
            self.public().watches.lock().trigger(t, &mut events);
            for (conn_id, ev) in events.drain(..) {
                if let Some(c) = conns.get(&conn_id)
                    && c.may_read(&t.acl)
                {
                    c.send_event(&ev, t.zxid);
                }
            }
        }
    }

    fn handle_reply(&self, reply: Reply) {
        let conn_id = match &reply {
            Reply::Done { conn, .. }
            | Reply::Local { conn, .. }
            | Reply::Connected { conn, .. }
            | Reply::Close { conn } => *conn,
        };
        let conn = self.conns.borrow().get(&conn_id).cloned();
        match conn {
            Some(c) => c.on_reply(self, reply),
            None => tracing::trace!(conn = conn_id, "reply for a closed connection dropped"),
        }
    }

    /// The member stopped serving: every client connection closes (their
    /// sessions live on; the clients reconnect to a serving member).
    fn close_all(&self) {
        let conns: Vec<Rc<Conn>> = self.conns.borrow().values().cloned().collect();
        if !conns.is_empty() {
            tracing::info!("Closing {} client connections: not serving", conns.len());
        }
        for c in conns {
            c.close_now();
        }
    }

    pub fn register(&self, conn: Rc<Conn>, info: Arc<ConnInfo>) {
        self.public().conns.lock().insert(conn.id, info);
        self.conns.borrow_mut().insert(conn.id, conn);
    }

    pub fn unregister(&self, conn_id: ConnId) {
        self.conns.borrow_mut().remove(&conn_id);
        self.public().conns.lock().remove(&conn_id);
        self.public().watches.lock().remove_conn(conn_id);
    }
}

pub async fn run(id: ShardId, shared: Arc<Shared>, wiring: Wiring) -> anyhow::Result<()> {
    // `connect` waits for the peer's end: the bell's relay connects its end
    // while this task connects the other, so the order in which the
    // sequencer connects its ends cannot deadlock. The local ringer is not
    // needed: dropped, the bell closes when the sequencer goes.
    let (bell, _) = Bell::new(vec![wiring.from_sequencer]);
    let to_sequencer = wiring.to_sequencer.connect().await;
    let (return_memory, returned) = local_channel::new_bounded(1);
    let shard = Rc::new(Shard {
        id,
        shared: shared.clone(),
        conns: RefCell::new(HashMap::default()),
        touched: RefCell::new(HashSet::default()),
        to_sequencer,
        bell_pending: Cell::new(false),
        draining: Cell::new(false),
        pending_watches: RefCell::new(Vec::new()),
        next_conn: Cell::new(0),
        events: RefCell::new(Vec::new()),
        return_memory,
    });
    glommio::spawn_local(dispatcher(shard.clone(), bell)).detach();
    glommio::spawn_local(touch_reporter(shard.clone())).detach();
    glommio::spawn_local(memory_returner(returned)).detach();

    let c = &shared.config;
    let plain = match c.client_port {
        Some(port) => Some(bind_client_port(c.client_port_address, port)?),
        None => None,
    };
    let secure = match (c.secure_client_port, &shared.tls) {
        (Some(port), Some(tls)) => {
            let (listener, addr) = bind_client_port(c.secure_client_port_address, port)?;
            Some((listener, addr, TlsAcceptor::from(tls.config.clone())))
        }
        _ => None,
    };
    match (plain, secure) {
        (Some((l, addr)), secure) => {
            if let Some((sl, saddr, acceptor)) = secure {
                glommio::spawn_local(accept_loop(shard.clone(), sl, saddr, Some(acceptor)))
                    .detach();
            }
            accept_loop(shard, l, addr, None).await
        }
        (None, Some((sl, saddr, acceptor))) => accept_loop(shard, sl, saddr, Some(acceptor)).await,
        (None, None) => Err(anyhow::anyhow!(
            "neither clientPort nor secureClientPort is set"
        )),
    }
}

/// Accepts connections on one listener for as long as the process runs;
/// with `tls`, each connection first completes a TLS handshake (ZooKeeper's
/// Netty factory on the secure port: a failed handshake closes it).
async fn accept_loop(
    shard: Rc<Shard>,
    listener: TcpListener,
    addr: SocketAddr,
    tls: Option<TlsAcceptor>,
) -> anyhow::Result<()> {
    loop {
        match listener.accept().await {
            Ok(stream) => {
                let shard = shard.clone();
                let tls = tls.clone();
                glommio::spawn_local(async move {
                    let Some(peer) = conn::peer_of(&stream) else {
                        return;
                    };
                    let Some(slot) = IpSlot::take(&shard.shared, peer.ip()) else {
                        return;
                    };
                    let _ = stream.set_nodelay(true);
                    match tls {
                        None => conn::serve(shard, stream, peer, Vec::new(), slot).await,
                        Some(acceptor) => serve_tls(shard, stream, peer, slot, acceptor).await,
                    }
                })
                .detach();
            }
            Err(e) => {
                // EMFILE and friends: keep serving the connections we have.
                tracing::warn!("accept on {addr} failed: {e}");
                glommio::timer::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// The TLS handshake, then the connection as on the plain port; a failed or
/// unfinished handshake closes it (ZooKeeper's Netty factory).
async fn serve_tls(
    shard: Rc<Shard>,
    stream: glommio::net::TcpStream,
    peer: SocketAddr,
    slot: IpSlot,
    acceptor: TlsAcceptor,
) {
    let handshake = async { Some(acceptor.accept(stream).await) };
    let deadline = async {
        glommio::timer::sleep(TLS_HANDSHAKE_TIMEOUT).await;
        None
    };
    let failure = match futures_lite::future::or(handshake, deadline).await {
        Some(Ok(tls_stream)) => {
            let ids = x509_ids(&shard, tls_stream.get_ref().1);
            return conn::serve(shard, tls_stream, peer, ids, slot).await;
        }
        Some(Err(e)) => format!("Unsuccessful TLS handshake: {e}"),
        None => format!("TLS handshake not completed within {TLS_HANDSHAKE_TIMEOUT:?}; closing"),
    };
    shard.public().stats.auth_failed.fetch_add(1, Relaxed);
    tracing::info!(%peer, "{failure}");
}

/// ZooKeeper's `X509AuthenticationProvider`: a client that presented a
/// certificate (verified during the handshake) is `x509:<subject>`, and
/// also `super` when the subject is `X509AuthenticationProvider.superUser`.
fn x509_ids(shard: &Shard, tls: &rustls::ServerConnection) -> Vec<Id> {
    let Some(leaf) = tls.peer_certificates().and_then(|c| c.first()) else {
        return Vec::new();
    };
    let Some(name) = crate::tls::subject_rfc2253(leaf) else {
        tracing::warn!("client certificate subject does not parse; no x509 id");
        return Vec::new();
    };
    let mut ids = Vec::new();
    if shard.shared.config.x509_super_user.as_deref() == Some(name.as_str()) {
        tracing::info!("Authenticated Id '{name}' as super user");
        ids.push(Id::new("super", &name));
    }
    tracing::info!("Authenticated Id '{name}' for scheme 'x509'");
    ids.push(Id::new("x509", &name));
    ids
}

/// Binds this shard's client-port listener (every shard binds the same address
/// with SO_REUSEPORT). An unset `clientPortAddress` (or 0.0.0.0) listens on
/// both IPv6 and IPv4 through one `[::]` socket, as ZooKeeper's JVM does with
/// its wildcard address; where the host has no IPv6 it falls back to 0.0.0.0.
fn bind_client_port(ip: Option<IpAddr>, port: u16) -> anyhow::Result<(TcpListener, SocketAddr)> {
    let addr = match ip {
        Some(ip) => SocketAddr::new(ip, port),
        None => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port),
    };
    let fd = match client_listener(addr, ip.is_none()) {
        Ok(fd) => fd,
        Err(e) if ip.is_none() && no_ipv6(&e) => {
            tracing::info!("no IPv6 on this host ({e}); listening on IPv4 only");
            let any4 = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port);
            let fd = client_listener(any4, false)
                .map_err(|e| anyhow::anyhow!("binding client port {any4}: {e}"))?;
            // SAFETY: `fd` was just taken out of its socket with `into_raw_fd`,
            // so this listener becomes its only owner.
            return Ok((unsafe { TcpListener::from_raw_fd(fd) }, any4));
        }
        Err(e) => return Err(anyhow::anyhow!("binding client port {addr}: {e}")),
    };
    // SAFETY: as above.
    Ok((unsafe { TcpListener::from_raw_fd(fd) }, addr))
}

/// Refuses a client port another process listens on. The shards bind it
/// with SO_REUSEPORT, which would let two servers of one user share a port,
/// and its connections, without a word: this bind, without SO_REUSEPORT,
/// fails when any socket listens there. Run before the shards bind.
///
/// A server killed a moment ago still holds its listeners for a few
/// milliseconds after it is reaped (the kernel tears its io_uring rings, which
/// pin them, down asynchronously), so a port in use is tried again for up to
/// [`PROBE_PATIENCE`] before it is refused: a restart right after `kill -9`
/// starts, a live server on the port still refuses it.
pub(super) fn probe_client_port(ip: Option<IpAddr>, port: u16) -> anyhow::Result<()> {
    use socket2::{Domain, Protocol, Socket, Type};
    let addr = match ip {
        Some(ip) => SocketAddr::new(ip, port),
        None => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
    };
    let domain = if addr.is_ipv6() {
        Domain::IPV6
    } else {
        Domain::IPV4
    };
    let deadline = std::time::Instant::now() + PROBE_PATIENCE;
    loop {
        let sock = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
        sock.set_reuse_address(true)?;
        match sock.bind(&addr.into()) {
            Ok(()) => return Ok(()),
            Err(e)
                if e.kind() == std::io::ErrorKind::AddrInUse
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => return Err(anyhow::anyhow!("binding client port {addr}: {e}")),
        }
    }
}

/// How long [`probe_client_port`] waits for a port in use to be let go.
const PROBE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(2);

/// A listening socket for the client port: SO_REUSEPORT (every shard binds
/// the same port) and SO_REUSEADDR (a port whose earlier connections sit in
/// TIME_WAIT — a restarted server, or the ZooKeeper this one replaces — binds
/// at once, as ZooKeeper's does). `dual_stack`: a `[::]` socket that also
/// accepts IPv4 (IPV6_V6ONLY off explicitly, whatever
/// `net.ipv6.bindv6only` says).
fn client_listener(addr: SocketAddr, dual_stack: bool) -> std::io::Result<RawFd> {
    use socket2::{Domain, Protocol, Socket, Type};
    let domain = if addr.is_ipv6() {
        Domain::IPV6
    } else {
        Domain::IPV4
    };
    let sock = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    if dual_stack {
        sock.set_only_v6(false)?;
    }
    sock.set_reuse_address(true)?;
    sock.set_reuse_port(true)?;
    sock.bind(&addr.into())?;
    sock.listen(LISTEN_BACKLOG)?;
    Ok(sock.into_raw_fd())
}

/// Errors that mean the host cannot do IPv6 at all (kernel without it, or the
/// `::` address unavailable), as opposed to a port conflict.
fn no_ipv6(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EAFNOSUPPORT | libc::EPROTONOSUPPORT | libc::EADDRNOTAVAIL)
    )
}

/// Delivers batches when the sequencer rings, and at least every
/// [`SAFETY_POLL_MS`] regardless: a lost cross-core wakeup must delay a
/// watch event by milliseconds, never strand it (seen under heavy load).
async fn dispatcher(shard: Rc<Shard>, bell: Bell) {
    let period = Duration::from_millis(SAFETY_POLL_MS as u64);
    loop {
        if bell.wait(period).await == Ring::Closed {
            return; // the sequencer is gone; the process is exiting
        }
        shard.drain_inbound();
        shard.ring_sequencer();
    }
}

/// Hands the memory this thread freed back to the OS when asked, at most
/// once a second. mimalloc keeps freed pages for the thread's later
/// allocations, so the megabytes a slow reader's replies took would stay
/// in the RSS after it left; a forced collect purges them.
async fn memory_returner(asked: LocalReceiver<()>) {
    while asked.recv().await.is_some() {
        // SAFETY: mi_collect takes no pointers; forcing it only costs time
        // (a walk of this thread's heap).
        unsafe { libmimalloc_sys::mi_collect(true) };
        glommio::timer::sleep(Duration::from_secs(1)).await;
    }
}

/// Reports session activity to the sequencer twice per tick, the way a
/// learner's PING carries its session touches to the leader.
async fn touch_reporter(shard: Rc<Shard>) {
    let period = Duration::from_millis((shard.shared.config.tick_time_ms as u64 / 2).max(1));
    loop {
        glommio::timer::sleep(period).await;
        let sessions: Vec<SessionId> = shard.touched.borrow_mut().drain().collect();
        if !sessions.is_empty() {
            shard.send(ToSequencer::Touch { sessions }).await;
            shard.ring_sequencer();
        }
    }
}
