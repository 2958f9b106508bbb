//! The election port (ZooKeeper's `QuorumCnxManager`): one connection per
//! peer, kept only when the larger sid initiated it; an initial message
//! naming the sender; then length-prefixed FastLeaderElection
//! notifications both ways (QUORUM.md §1).
//!
//! Glue only: the election's rules live in `zab::election`. Per peer only
//! the latest notification waits to be sent (ZooKeeper's send queue holds
//! one and drops the oldest), and a new connection first re-sends the last
//! one sent to that peer, as ZooKeeper's SendWorker does.

use super::events::Events;
use super::quorum_net::{bind, resolve};
use super::shared::Shared;
use crate::proto::quorum::{
    InitialMessage, Notification, decode_election_frame, encode_election_frame,
};
use crate::sequencer::Input;
use crate::zab::ServerId;
use bytes::{Bytes, BytesMut};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::Task;
use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};
use glommio::net::TcpStream;
use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

struct Conn {
    generation: u64,
    pending: Rc<RefCell<Option<Bytes>>>,
    wake: LocalSender<()>,
    _reader: Task<()>,
    _writer: Task<()>,
}

#[derive(Default)]
struct State {
    conns: HashMap<ServerId, Conn>,
    /// The last notification (framed) sent to each peer.
    last_sent: HashMap<ServerId, Bytes>,
    connecting: HashMap<ServerId, Task<()>>,
    next_generation: u64,
}

/// Everything a connection task needs to reach back.
#[derive(Clone)]
struct Ctx {
    me: ServerId,
    my_addr: String,
    peers: Rc<HashMap<ServerId, (String, u16)>>,
    voters: Rc<Vec<ServerId>>,
    state: Rc<RefCell<State>>,
    events: Events,
    cnx_timeout: Duration,
    handshake_timeout: Duration,
}

pub struct ElectionNet {
    ctx: Ctx,
    _listener: Task<()>,
}

impl ElectionNet {
    /// Binds this member's election port (retrying as
    /// `electionPortBindRetry` says) and starts accepting peers.
    pub async fn start(shared: Arc<Shared>, events: Events) -> anyhow::Result<ElectionNet> {
        let cfg = &shared.config;
        let me = cfg
            .my_server()
            .ok_or_else(|| anyhow::anyhow!("no server.N line for this server"))?;
        let mut peers = HashMap::new();
        for s in &cfg.servers {
            peers.insert(ServerId(s.id), (s.host.clone(), s.election_port));
        }
        let voters: Vec<ServerId> = cfg
            .servers
            .iter()
            .filter(|s| s.role == crate::config::ServerRole::Participant)
            .map(|s| ServerId(s.id))
            .collect();
        let ip = if cfg.quorum_listen_on_all_ips {
            std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
        } else {
            resolve(&me.host, me.election_port)
                .ok_or_else(|| anyhow::anyhow!("cannot resolve {}", me.host))?
                .ip()
        };
        let addr = SocketAddr::new(ip, me.election_port);
        let listener = bind_with_retry(addr, cfg.election_port_bind_retry).await?;
        tracing::info!("Election port listening on {addr}");
        let ctx = Ctx {
            me: ServerId(me.id),
            my_addr: format!("{}:{}", me.host, me.election_port),
            peers: Rc::new(peers),
            voters: Rc::new(voters),
            state: Rc::new(RefCell::new(State::default())),
            events,
            cnx_timeout: Duration::from_millis(u64::from(cfg.cnx_timeout_ms).max(1)),
            handshake_timeout: Duration::from_millis(cfg.effective_quorum_cnxn_timeout_ms().max(1)),
        };
        let accept_ctx = ctx.clone();
        let listener_task = glommio::spawn_local(async move {
            loop {
                match listener.accept().await {
                    Ok(stream) => {
                        let _ = stream.set_nodelay(true);
                        let ctx = accept_ctx.clone();
                        glommio::spawn_local(async move { ctx.accepted(stream).await }).detach();
                    }
                    Err(e) => {
                        tracing::warn!("accept on the election port failed: {e}");
                        glommio::timer::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
        });
        Ok(ElectionNet {
            ctx,
            _listener: listener_task,
        })
    }

    /// Sends `msg` to `to`, connecting first if needed.
    pub fn notify(&self, to: ServerId, msg: &Notification) {
        let mut framed = BytesMut::new();
        encode_election_frame(&msg.encode(), &mut framed);
        let framed = framed.freeze();
        let mut st = self.ctx.state.borrow_mut();
        st.last_sent.insert(to, framed.clone());
        if let Some(c) = st.conns.get(&to) {
            *c.pending.borrow_mut() = Some(framed);
            let _ = c.wake.try_send(());
            return;
        }
        drop(st);
        self.ctx.connect_one(to);
    }

    /// ZooKeeper's `connectAll`: every voter we have no connection to.
    pub fn connect_all(&self) {
        for sid in self.ctx.voters.iter() {
            if *sid != self.ctx.me {
                self.ctx.connect_one(*sid);
            }
        }
    }
}

impl Ctx {
    fn connect_one(&self, sid: ServerId) {
        let st = self.state.borrow();
        if sid == self.me || st.conns.contains_key(&sid) || st.connecting.contains_key(&sid) {
            return;
        }
        drop(st);
        let Some((host, port)) = self.peers.get(&sid).cloned() else {
            return;
        };
        let ctx = self.clone();
        let task = glommio::spawn_local(async move {
            ctx.connect(sid, &host, port).await;
            ctx.state.borrow_mut().connecting.remove(&sid);
        });
        self.state.borrow_mut().connecting.insert(sid, task);
    }

    /// Connects to `sid`, introduces ourselves, and keeps the connection
    /// only if our sid is the larger (ZooKeeper's `startConnection`).
    async fn connect(&self, sid: ServerId, host: &str, port: u16) {
        let Some(addr) = resolve(host, port) else {
            tracing::warn!("cannot resolve server.{sid}'s election address {host}:{port}");
            return;
        };
        let mut stream = match TcpStream::connect_timeout(addr, self.cnx_timeout).await {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!("Cannot open channel to {sid} at election address {addr}: {e}");
                return;
            }
        };
        let _ = stream.set_nodelay(true);
        let hello = InitialMessage::encode_v1(self.me.0 as i64, &self.my_addr);
        if stream.write_all(&hello).await.is_err() {
            return;
        }
        if sid > self.me {
            // The larger sid connects back; this connection only pokes it.
            return;
        }
        self.install(sid, stream, BytesMut::new());
    }

    /// An incoming connection: who is it? A smaller sid is told to wait for
    /// our call (we close and connect back).
    async fn accepted(&self, mut stream: TcpStream) {
        let mut buf = BytesMut::new();
        let hello = glommio::timer::timeout(self.handshake_timeout, async {
            loop {
                match InitialMessage::decode_stream(&mut buf) {
                    Ok(Some(m)) => return Ok(Ok(m)),
                    Ok(None) => {}
                    Err(e) => return Ok(Err(format!("bad initial message: {e}"))),
                }
                let mut chunk = [0u8; 2048];
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return Ok(Err("closed during the handshake".to_string())),
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
        })
        .await;
        let hello = match hello {
            Ok(Ok(m)) => m,
            Ok(Err(why)) => {
                tracing::info!("Election connection refused: {why}");
                return;
            }
            Err(_) => {
                tracing::info!("Election connection refused: no initial message in time");
                return;
            }
        };
        let sid = ServerId(hello.sid.max(0) as u64);
        if hello.sid < 0 || sid == self.me {
            tracing::warn!("Election connection from sid {} refused", hello.sid);
            return;
        }
        if sid < self.me {
            drop(stream);
            // Replace any connection we have to it with one we start.
            self.state.borrow_mut().conns.remove(&sid);
            self.connect_one(sid);
            return;
        }
        self.install(sid, stream, buf);
    }

    /// Makes `stream` the connection to `sid` (replacing an older one) and
    /// re-sends the last notification it was sent.
    fn install(&self, sid: ServerId, stream: TcpStream, leftover: BytesMut) {
        let (rd, wr) = futures_lite::io::split(stream);
        let generation = {
            let mut st = self.state.borrow_mut();
            st.next_generation += 1;
            st.next_generation
        };
        let pending = Rc::new(RefCell::new(
            self.state.borrow().last_sent.get(&sid).cloned(),
        ));
        let (wake, woken) = local_channel::new_bounded(1);
        let _ = wake.try_send(());
        let reader = {
            let ctx = self.clone();
            glommio::spawn_local(async move {
                ctx.read_loop(sid, rd, leftover).await;
                ctx.lost(sid, generation);
            })
        };
        let writer = {
            let ctx = self.clone();
            let pending = pending.clone();
            glommio::spawn_local(async move {
                write_loop(wr, pending, woken).await;
                ctx.lost(sid, generation);
            })
        };
        let old = self.state.borrow_mut().conns.insert(
            sid,
            Conn {
                generation,
                pending,
                wake,
                _reader: reader,
                _writer: writer,
            },
        );
        drop(old);
        self.events.input(Input::ElectionPeer { sid, up: true });
    }

    fn lost(&self, sid: ServerId, generation: u64) {
        let mut st = self.state.borrow_mut();
        if st
            .conns
            .get(&sid)
            .is_some_and(|c| c.generation == generation)
        {
            let gone = st.conns.remove(&sid);
            drop(st);
            // Dropping the connection cancels this very task's sibling; the
            // report goes out first.
            self.events.input(Input::ElectionPeer { sid, up: false });
            if let Some(c) = gone {
                // Cancel from another task: detach the drop.
                glommio::spawn_local(async move { drop(c) }).detach();
            }
        }
    }

    async fn read_loop<R: futures_lite::AsyncRead + Unpin>(
        &self,
        sid: ServerId,
        mut rd: R,
        mut buf: BytesMut,
    ) {
        loop {
            loop {
                match decode_election_frame(&mut buf) {
                    Ok(Some(frame)) => {
                        if let Some(msg) = Notification::decode(&frame) {
                            self.events.input(Input::Election { from: sid, msg });
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!("Election connection to {sid}: {e}; closing");
                        return;
                    }
                }
            }
            let mut chunk = vec![0u8; 16 << 10];
            match rd.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    }
}

async fn write_loop<W: futures_lite::AsyncWrite + Unpin>(
    mut wr: W,
    pending: Rc<RefCell<Option<Bytes>>>,
    woken: LocalReceiver<()>,
) {
    while woken.recv().await.is_some() {
        let msg = pending.borrow_mut().take();
        if let Some(msg) = msg
            && (wr.write_all(&msg).await.is_err() || wr.flush().await.is_err())
        {
            return;
        }
    }
}

/// ZooKeeper's `Listener`: tries `retries` more times a second apart (0:
/// for ever), then gives up (ZooKeeper exits with code 14).
async fn bind_with_retry(
    addr: SocketAddr,
    retries: u32,
) -> anyhow::Result<glommio::net::TcpListener> {
    let mut attempt = 0u32;
    loop {
        match bind(addr) {
            Ok(l) => return Ok(l),
            Err(e) => {
                attempt += 1;
                if retries != 0 && attempt > retries {
                    anyhow::bail!(
                        "binding the election port {addr} failed after {attempt} attempts: {e}"
                    );
                }
                tracing::error!("binding the election port {addr}: {e}; retrying in 1 s");
                glommio::timer::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
