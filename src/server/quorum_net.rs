//! The quorum port's sockets (ZAB's learner ↔ leader traffic): the
//! leader's listener and one connection per learner, or a learner's one
//! connection to its leader. Bare jute `QuorumPacket`s back to back, no
//! length prefix; after a SNAP packet, the snapshot stream.
//!
//! Glue only: packets go to the sequencer as they are decoded and leave as
//! the sequencer encoded them. A learner's output queue is bounded in
//! bytes: a learner that cannot keep up is disconnected (it resyncs), so
//! a slow peer never holds the leader's memory.

use super::events::{Event, Events};
use super::shared::Shared;
use crate::proto::quorum::{PacketType, QuorumPacket, SNAP_SIGNATURE};
use crate::proto::{SessionId, Writer, Zxid};
use crate::sequencer::{Input, PeerId};
use crate::storage::snapshot::{Step, Walk};
use bytes::{Bytes, BytesMut};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::Task;
use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};
use glommio::net::{TcpListener, TcpStream};
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, IntoRawFd};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

/// Bytes queued for one learner before it is dropped as too slow.
const LEARNER_QUEUE_BYTES_MAX: usize = 256 << 20;
const READ_CHUNK_BYTES: usize = 64 << 10;
/// Snapshot bytes gathered before a socket write.
const SNAP_CHUNK_BYTES: usize = 256 << 10;

enum Out {
    Bytes(Bytes),
    Snap {
        zxid: Zxid,
        sessions: Vec<(SessionId, i32)>,
    },
}

#[derive(Default)]
struct OutQueue {
    items: VecDeque<Out>,
    bytes: usize,
}

/// One connection: its output queue and the tasks serving it (dropping
/// the link cancels them, which closes the socket).
struct Link {
    out: Rc<RefCell<OutQueue>>,
    wake: LocalSender<()>,
    _reader: Task<()>,
    _writer: Task<()>,
}

impl Link {
    fn push(&self, item: Out) -> bool {
        let mut q = self.out.borrow_mut();
        if let Out::Bytes(b) = &item {
            q.bytes += b.len();
        }
        let ok = q.bytes <= LEARNER_QUEUE_BYTES_MAX;
        q.items.push_back(item);
        drop(q);
        let _ = self.wake.try_send(());
        ok
    }
}

pub struct QuorumNet {
    shared: Arc<Shared>,
    events: Events,
    /// The leader's listener task, while leading.
    listener: Option<Task<()>>,
    learners: Rc<RefCell<HashMap<PeerId, Link>>>,
    next_peer: Rc<RefCell<PeerId>>,
    leader: Rc<RefCell<Option<Link>>>,
    connecting: Option<Task<()>>,
    /// The largest packet data a peer may send (jute.maxbuffer plus its
    /// extra size, as ZooKeeper's `BinaryInputArchive` allows).
    max_data: usize,
}

impl QuorumNet {
    pub fn new(shared: Arc<Shared>, events: Events) -> QuorumNet {
        let max_data = shared.config.jute_max_buffer.saturating_mul(2);
        QuorumNet {
            shared,
            events,
            listener: None,
            learners: Rc::new(RefCell::new(HashMap::new())),
            next_peer: Rc::new(RefCell::new(0)),
            leader: Rc::new(RefCell::new(None)),
            connecting: None,
            max_data,
        }
    }

    /// Opens (or closes) the quorum port for learners.
    pub fn listen(&mut self, on: bool) {
        if !on {
            self.listener = None;
            self.learners.borrow_mut().clear();
            return;
        }
        if self.listener.is_some() {
            return;
        }
        let addr = match self.quorum_bind_addr() {
            Some(a) => a,
            None => {
                tracing::error!("no quorum address for this server");
                return;
            }
        };
        let listener = match bind(addr) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("binding the quorum port {addr}: {e}");
                return;
            }
        };
        tracing::info!("Leader listening for learners on {addr}");
        let learners = self.learners.clone();
        let next_peer = self.next_peer.clone();
        let events = self.events.clone();
        let shared = self.shared.clone();
        let max_data = self.max_data;
        self.listener = Some(glommio::spawn_local(async move {
            loop {
                let stream = match listener.accept().await {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!("accept on the quorum port failed: {e}");
                        glommio::timer::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let peer = {
                    let mut n = next_peer.borrow_mut();
                    *n += 1;
                    *n
                };
                let link = learner_link(stream, peer, events.clone(), shared.clone(), max_data);
                learners.borrow_mut().insert(peer, link);
                events.input(Input::LearnerConnected { peer });
            }
        }));
    }

    fn quorum_bind_addr(&self) -> Option<SocketAddr> {
        let cfg = &self.shared.config;
        let me = cfg.my_server()?;
        let ip = if cfg.quorum_listen_on_all_ips {
            std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
        } else {
            resolve(&me.host, me.quorum_port)?.ip()
        };
        Some(SocketAddr::new(ip, me.quorum_port))
    }

    pub fn send_to_learner(&mut self, peer: PeerId, bytes: Bytes) {
        let over = self
            .learners
            .borrow()
            .get(&peer)
            .is_some_and(|l| !l.push(Out::Bytes(bytes)));
        if over {
            tracing::warn!("Learner connection {peer} is not keeping up; closing it");
            self.close_learner(peer);
            self.events.input(Input::LearnerClosed { peer });
        }
    }

    pub fn snap_to_learner(&mut self, peer: PeerId, zxid: Zxid, sessions: Vec<(SessionId, i32)>) {
        if let Some(l) = self.learners.borrow().get(&peer) {
            l.push(Out::Snap { zxid, sessions });
        }
    }

    pub fn close_learner(&mut self, peer: PeerId) {
        self.learners.borrow_mut().remove(&peer);
    }

    /// Connects to the leader's quorum port (one try; the sequencer retries).
    pub fn connect_leader(&mut self, host: &str, port: u16) {
        self.close_leader();
        let Some(addr) = resolve(host, port) else {
            tracing::warn!("cannot resolve the leader's address {host}:{port}");
            self.events.input(Input::LeaderConnectFailed);
            return;
        };
        let events = self.events.clone();
        let shared = self.shared.clone();
        let slot = self.leader.clone();
        let max_data = self.max_data;
        let timeout = Duration::from_millis(u64::from(self.shared.config.cnx_timeout_ms).max(1));
        self.connecting = Some(glommio::spawn_local(async move {
            match TcpStream::connect_timeout(addr, timeout).await {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    *slot.borrow_mut() = Some(leader_link(s, events.clone(), shared, max_data));
                    events.input(Input::LeaderConnected);
                }
                Err(e) => {
                    tracing::debug!("connecting to the leader at {addr}: {e}");
                    events.input(Input::LeaderConnectFailed);
                }
            }
        }));
    }

    pub fn send_to_leader(&mut self, bytes: Bytes) {
        if let Some(l) = self.leader.borrow().as_ref() {
            l.push(Out::Bytes(bytes));
        }
    }

    pub fn close_leader(&mut self) {
        self.connecting = None;
        self.leader.borrow_mut().take();
    }
}

/// Binds a quorum or election listener: SO_REUSEADDR (a restarted member
/// rebinds a port in TIME_WAIT) but not SO_REUSEPORT, so a second process
/// on the same port fails instead of sharing it.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let domain = if addr.is_ipv6() {
        Domain::IPV6
    } else {
        Domain::IPV4
    };
    let sock = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    sock.set_reuse_address(true)?;
    sock.bind(&addr.into())?;
    sock.listen(128)?;
    // SAFETY: the fd was just taken out of its socket with `into_raw_fd`,
    // so the listener becomes its only owner.
    Ok(unsafe { TcpListener::from_raw_fd(sock.into_raw_fd()) })
}

/// The first address `host:port` resolves to (an IP literal or a name).
pub fn resolve(host: &str, port: u16) -> Option<SocketAddr> {
    use std::net::ToSocketAddrs;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (host, port).to_socket_addrs().ok()?.next()
}

fn learner_link(
    stream: TcpStream,
    peer: PeerId,
    events: Events,
    shared: Arc<Shared>,
    max_data: usize,
) -> Link {
    let (rd, wr) = futures_lite::io::split(stream);
    let out = Rc::new(RefCell::new(OutQueue::default()));
    let (wake, woken) = local_channel::new_bounded(1);
    let reader = {
        let events = events.clone();
        glommio::spawn_local(async move {
            let mut rd = rd;
            let mut buf = BytesMut::new();
            loop {
                match next_packet(&mut rd, &mut buf, max_data).await {
                    Ok(packet) => events.input(Input::LearnerPacket { peer, packet }),
                    Err(why) => {
                        tracing::info!("Learner connection {peer} ended: {why}");
                        events.input(Input::LearnerClosed { peer });
                        return;
                    }
                }
            }
        })
    };
    let writer = glommio::spawn_local(write_loop(
        wr,
        out.clone(),
        woken,
        Some(shared),
        events,
        Some(peer),
    ));
    Link {
        out,
        wake,
        _reader: reader,
        _writer: writer,
    }
}

fn leader_link(stream: TcpStream, events: Events, shared: Arc<Shared>, max_data: usize) -> Link {
    let (rd, wr) = futures_lite::io::split(stream);
    let out = Rc::new(RefCell::new(OutQueue::default()));
    let (wake, woken) = local_channel::new_bounded(1);
    let reader = {
        let events = events.clone();
        let shared = shared.clone();
        glommio::spawn_local(async move {
            let mut rd = rd;
            let mut buf = BytesMut::new();
            let why = loop {
                let packet = match next_packet(&mut rd, &mut buf, max_data).await {
                    Ok(p) => p,
                    Err(why) => break why,
                };
                let snap = (packet.kind == PacketType::Snap as i32).then_some(Zxid(packet.zxid));
                events.input(Input::LeaderPacket(packet));
                if let Some(zxid) = snap {
                    match receive_snapshot(&mut rd, &mut buf, &shared, zxid, max_data).await {
                        Ok(()) => events.push(Event::SnapshotReceived { zxid }),
                        Err(why) => break format!("receiving the snapshot: {why}"),
                    }
                }
            };
            tracing::info!("Connection to the leader ended: {why}");
            events.input(Input::LeaderClosed);
        })
    };
    let writer = glommio::spawn_local(write_loop(wr, out.clone(), woken, None, events, None));
    Link {
        out,
        wake,
        _reader: reader,
        _writer: writer,
    }
}

/// Reads until `buf` holds a whole packet.
async fn next_packet<R: futures_lite::AsyncRead + Unpin>(
    rd: &mut R,
    buf: &mut BytesMut,
    max_data: usize,
) -> Result<QuorumPacket, String> {
    loop {
        match QuorumPacket::decode_stream(buf, max_data) {
            Ok(Some(p)) => return Ok(p),
            Ok(None) => {}
            Err(e) => return Err(format!("bad packet: {e}")),
        }
        fill(rd, buf).await?;
    }
}

/// Reads more bytes into `buf`; an error at the end of the stream.
async fn fill<R: futures_lite::AsyncRead + Unpin>(
    rd: &mut R,
    buf: &mut BytesMut,
) -> Result<(), String> {
    let at = buf.len();
    buf.resize(at + READ_CHUNK_BYTES, 0);
    match rd.read(&mut buf[at..]).await {
        Ok(0) => {
            buf.truncate(at);
            Err("end of stream".into())
        }
        Ok(n) => {
            buf.truncate(at + n);
            Ok(())
        }
        Err(e) => {
            buf.truncate(at);
            Err(e.to_string())
        }
    }
}

/// The SNAP stream after a SNAP packet, spooled to `snapshot.<zxid>` and
/// made durable before anything after it is read (ZOOKEEPER-3642).
async fn receive_snapshot<R: futures_lite::AsyncRead + Unpin>(
    rd: &mut R,
    buf: &mut BytesMut,
    shared: &Shared,
    zxid: Zxid,
    max_data: usize,
) -> Result<(), String> {
    use crate::storage::snap_stream::{Progress, SnapReceiver};
    let snap_dir = crate::storage::recovery::version_dir(&shared.config.data_dir)
        .map_err(|e| e.to_string())?;
    let mut rx = SnapReceiver::new(&snap_dir, zxid, max_data).map_err(|e| e.to_string())?;
    loop {
        match rx.feed(buf).map_err(|e| e.to_string())? {
            Progress::Complete => break,
            Progress::NeedMore => fill(rd, buf).await?,
        }
    }
    rx.finish().map_err(|e| e.to_string())?;
    Ok(())
}

async fn write_loop<W: futures_lite::AsyncWrite + Unpin>(
    mut wr: W,
    out: Rc<RefCell<OutQueue>>,
    woken: LocalReceiver<()>,
    shared: Option<Arc<Shared>>,
    events: Events,
    peer: Option<PeerId>,
) {
    let closed = |events: &Events| match peer {
        Some(peer) => events.input(Input::LearnerClosed { peer }),
        None => events.input(Input::LeaderClosed),
    };
    while woken.recv().await.is_some() {
        loop {
            let item = {
                let mut q = out.borrow_mut();
                let item = q.items.pop_front();
                if let Some(Out::Bytes(b)) = &item {
                    q.bytes -= b.len();
                }
                item
            };
            let Some(item) = item else { break };
            let result = match item {
                Out::Bytes(b) => wr.write_all(&b).await.map_err(|e| e.to_string()),
                Out::Snap { zxid, sessions } => match &shared {
                    Some(shared) => send_snapshot(&mut wr, shared, zxid, &sessions).await,
                    None => Ok(()),
                },
            };
            if let Err(why) = result {
                tracing::info!("Quorum connection write failed: {why}");
                closed(&events);
                return;
            }
        }
        let _ = wr.flush().await;
    }
}

/// The tree as a SNAP stream (`serializeSnapshot` + the signature), walked
/// a chunk at a time under the read lock, as a snapshot file is.
async fn send_snapshot<W: futures_lite::AsyncWrite + Unpin>(
    wr: &mut W,
    shared: &Shared,
    zxid: Zxid,
    sessions: &[(SessionId, i32)],
) -> Result<(), String> {
    let started = std::time::Instant::now();
    let (mut walk, mut buf) = Walk::start(&shared.tree.read(), sessions, zxid);
    let mut sent = 0usize;
    loop {
        let step = walk.step(&shared.tree.read(), &mut buf);
        match step {
            Step::Replaced => return Err("the tree was replaced during the walk".into()),
            Step::Done => {
                Writer::new(&mut buf).ustring(SNAP_SIGNATURE);
            }
            Step::More => {}
        }
        if buf.len() >= SNAP_CHUNK_BYTES || step == Step::Done {
            sent += buf.len();
            wr.write_all(&buf).await.map_err(|e| e.to_string())?;
            buf.clear();
        }
        if step == Step::Done {
            tracing::info!(
                "Sent a snapshot at {zxid}: {sent} bytes in {} ms",
                started.elapsed().as_millis()
            );
            return Ok(());
        }
        futures_lite::future::yield_now().await;
    }
}
