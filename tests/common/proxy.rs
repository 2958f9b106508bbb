//! A TCP forwarder the test controls, for partitions between ensemble members
//! (`tests/common/ensemble.rs` puts one in front of every member's quorum and election port,
//! per peer). Plain std threads: an accept thread per proxy, a short-lived thread per new
//! connection while it reaches its target, two pump threads per forwarded connection. It never
//! looks into the bytes it forwards.
//!
//! A proxy is in one of three [`Mode`]s, switched at any time with [`Proxy::set_mode`] (which
//! returns once the accept thread applied it):
//! * [`Mode::Open`] forwards every byte both ways. A target that refuses is tried again for a
//!   short while before the connection is closed: a peer that connects a moment before the
//!   target listens (a follower quicker than its new leader) sees a slow connect, as it would
//!   see a refusal and a retry without the proxy, not an accepted connection that dies.
//! * [`Mode::Refuse`] is a partition peers see at once: existing connections are closed (both
//!   sides see EOF) and the listening socket is closed, so new connections are refused.
//! * [`Mode::Blackhole`] is a partition peers only see by their timeouts: existing connections
//!   stay up but every byte is read and thrown away, and new connections hang in their
//!   handshake: the listener's accept queue is shrunk to one and filled by a connection of the
//!   proxy's own, so the kernel drops further SYNs, as a network dropping packets would.
//!
//! Leaving `Refuse` or `Blackhole` for `Open` closes every connection that existed during the
//! partition (and any queued during it), so no byte written during it is ever delivered after
//! it: a healed member starts over with fresh connections, as after a real partition that
//! outlasted the TCP timeouts.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a connection waits for a target that refuses (it may be about to listen).
const UPSTREAM_RETRY_MAX: Duration = Duration::from_secs(1);
/// Hang guard of one connect to the target.
const UPSTREAM_CONNECT_GUARD: Duration = Duration::from_secs(2);
/// How long the accept thread waits for a connection before it looks at the mode again.
const ACCEPT_POLL_MS: i32 = 10;
/// Hang guard for the accept thread to apply a mode (it takes at most one poll).
const MODE_APPLY_GUARD: Duration = Duration::from_secs(10);
/// The accept queue while open.
const BACKLOG_OPEN: i32 = 128;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Open,
    Refuse,
    Blackhole,
}

/// One forwarded connection: both sockets (clones, to shut them down from outside) and
/// whether its bytes are being thrown away.
struct Link {
    id: u64,
    downstream: TcpStream,
    upstream: TcpStream,
    blackholed: Arc<AtomicBool>,
}

impl Link {
    fn close(&self) {
        let _ = self.downstream.shutdown(Shutdown::Both);
        let _ = self.upstream.shutdown(Shutdown::Both);
    }
}

struct Shared {
    port: u16,
    target: SocketAddr,
    mode: Mutex<Mode>,
    /// Bumped by every `set_mode`; the accept thread copies it to `applied` once the mode's
    /// listener state is in place.
    generation: AtomicU64,
    applied: AtomicU64,
    links: Mutex<Vec<Link>>,
    stop: AtomicBool,
    next_link: AtomicU64,
    /// Connections accepted since the start (diagnostics).
    accepted: AtomicU64,
    /// Why the accept thread gave up, if it did.
    failure: Mutex<Option<String>>,
}

/// A forwarder from `127.0.0.1:<port>` to `target`.
pub struct Proxy {
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Binds `127.0.0.1:port` (0: any free port) and starts forwarding to `target` in
    /// [`Mode::Open`].
    pub fn start(port: u16, target: SocketAddr) -> std::io::Result<Proxy> {
        let listener = bind(port)?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared {
            port,
            target,
            mode: Mutex::new(Mode::Open),
            generation: AtomicU64::new(0),
            applied: AtomicU64::new(0),
            links: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            next_link: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            failure: Mutex::new(None),
        });
        let s = shared.clone();
        let acceptor = std::thread::Builder::new()
            .name(format!("proxy-{port}"))
            .spawn(move || Acceptor::new(listener, s).run())?;
        Ok(Proxy {
            shared,
            acceptor: Some(acceptor),
        })
    }

    pub fn port(&self) -> u16 {
        self.shared.port
    }

    pub fn target(&self) -> SocketAddr {
        self.shared.target
    }

    pub fn mode(&self) -> Mode {
        *self.shared.mode.lock().unwrap()
    }

    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::Relaxed)
    }

    /// Switches the mode; see the module doc for what happens to existing connections.
    /// Returns once the listening socket is in the mode's state.
    pub fn set_mode(&self, mode: Mode) {
        {
            // The mode lock is held while links are changed, so that no connection can be
            // registered under the old mode after the switch.
            let mut current = self.shared.mode.lock().unwrap();
            let mut links = self.shared.links.lock().unwrap();
            match mode {
                Mode::Open => links.retain(|l| {
                    let stale = l.blackholed.load(Ordering::SeqCst);
                    if stale {
                        l.close();
                    }
                    !stale
                }),
                Mode::Refuse => {
                    for l in links.drain(..) {
                        l.close();
                    }
                }
                Mode::Blackhole => {
                    for l in links.iter() {
                        l.blackholed.store(true, Ordering::SeqCst);
                    }
                }
            }
            *current = mode;
        }
        let generation = self.shared.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let deadline = Instant::now() + MODE_APPLY_GUARD;
        while self.shared.applied.load(Ordering::SeqCst) < generation {
            if let Some(why) = self.shared.failure.lock().unwrap().clone() {
                panic!("proxy on port {}: {why}", self.shared.port);
            }
            assert!(
                Instant::now() < deadline,
                "proxy on port {} did not apply {mode:?}",
                self.shared.port
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        for l in self.shared.links.lock().unwrap().drain(..) {
            l.close();
        }
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
    }
}

/// A listening socket on `127.0.0.1:port` with SO_REUSEADDR (the port may still have
/// connections in TIME_WAIT from before a Refuse).
fn bind(port: u16) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let sock = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    sock.set_reuse_address(true)?;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    sock.bind(&addr.into())?;
    sock.listen(BACKLOG_OPEN)?;
    Ok(sock.into())
}

/// Sets the accept queue of a listening socket (Linux takes a second `listen`).
fn set_backlog(listener: &TcpListener, backlog: i32) -> std::io::Result<()> {
    // SAFETY: listen(2) on a socket we own; it only changes the socket's accept queue.
    let rc = unsafe { libc::listen(listener.as_raw_fd(), backlog) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Waits up to `timeout_ms` for a connection to accept.
fn readable(listener: &TcpListener, timeout_ms: i32) -> bool {
    let mut fd = libc::pollfd {
        fd: listener.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call.
    let n = unsafe { libc::poll(&mut fd, 1, timeout_ms) };
    n > 0 && fd.revents & libc::POLLIN != 0
}

/// The accept thread: owns the listening socket and keeps it in the state the mode wants.
struct Acceptor {
    listener: Option<TcpListener>,
    /// The proxy's own connection that fills the accept queue during a blackhole.
    plug: Option<TcpStream>,
    /// The accept queue is shrunk (and filled) for a blackhole.
    plugged: bool,
    shared: Arc<Shared>,
}

impl Acceptor {
    fn new(listener: TcpListener, shared: Arc<Shared>) -> Acceptor {
        Acceptor {
            listener: Some(listener),
            plug: None,
            plugged: false,
            shared,
        }
    }

    fn run(mut self) {
        while !self.shared.stop.load(Ordering::SeqCst) {
            let generation = self.shared.generation.load(Ordering::SeqCst);
            let mode = *self.shared.mode.lock().unwrap();
            if let Err(why) = self.apply(mode) {
                *self.shared.failure.lock().unwrap() = Some(why);
                return;
            }
            self.shared.applied.store(generation, Ordering::SeqCst);
            match (&self.listener, mode) {
                (Some(l), Mode::Open) => {
                    if readable(l, ACCEPT_POLL_MS) {
                        self.accept_one();
                    }
                }
                _ => std::thread::sleep(Duration::from_millis(ACCEPT_POLL_MS as u64)),
            }
        }
    }

    /// Puts the listening socket in the state `mode` wants.
    fn apply(&mut self, mode: Mode) -> Result<(), String> {
        match mode {
            Mode::Refuse => {
                self.unplug();
                self.listener = None;
            }
            Mode::Open => {
                self.unplug();
                if self.listener.is_none() {
                    self.listener = Some(self.rebind()?);
                }
            }
            Mode::Blackhole if !self.plugged => {
                if self.listener.is_none() {
                    self.listener = Some(self.rebind()?);
                }
                let l = self.listener.as_ref().expect("bound above");
                set_backlog(l, 0).map_err(|e| format!("listen(0): {e}"))?;
                // One queued connection fills a queue of 0. If a peer's connection got there
                // first, it fills the queue instead (and is closed at the heal), and ours
                // times out.
                let own: SocketAddr = ([127, 0, 0, 1], self.shared.port).into();
                self.plug = TcpStream::connect_timeout(&own, Duration::from_millis(200)).ok();
                self.plugged = true;
            }
            Mode::Blackhole => {}
        }
        Ok(())
    }

    /// Leaves a blackhole: whatever waits in the accept queue was queued during the partition
    /// (the plug, peers' connections) and is closed; the queue grows back.
    fn unplug(&mut self) {
        if !self.plugged {
            return;
        }
        self.plugged = false;
        self.plug = None;
        let Some(l) = &self.listener else { return };
        let _ = l.set_nonblocking(true);
        while let Ok((s, _)) = l.accept() {
            let _ = s.shutdown(Shutdown::Both);
        }
        let _ = l.set_nonblocking(false);
        let _ = set_backlog(l, BACKLOG_OPEN);
    }

    fn rebind(&self) -> Result<TcpListener, String> {
        // The port is ours (reserved, and bound until the Refuse); a few tries cover a
        // transient failure.
        let mut last = None;
        for _ in 0..50 {
            match bind(self.shared.port) {
                Ok(l) => return Ok(l),
                Err(e) => last = Some(e),
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!(
            "cannot listen on port {} again after a Refuse: {last:?}",
            self.shared.port
        ))
    }

    fn accept_one(&mut self) {
        let Some(l) = &self.listener else { return };
        let _ = l.set_nonblocking(true);
        let accepted = l.accept();
        let _ = l.set_nonblocking(false);
        let Ok((stream, _)) = accepted else { return };
        self.shared.accepted.fetch_add(1, Ordering::Relaxed);
        let _ = stream.set_nonblocking(false);
        let shared = self.shared.clone();
        let spawned = std::thread::Builder::new()
            .name("proxy-admit".into())
            .spawn(move || admit(stream, &shared));
        if let Err(e) = spawned {
            eprintln!(
                "proxy on port {}: no thread for a connection: {e}",
                self.shared.port
            );
        }
    }
}

/// Reaches the target for a new connection, then starts its pumps.
fn admit(downstream: TcpStream, shared: &Arc<Shared>) {
    let Some(upstream) = connect_upstream(shared) else {
        // The target is down: the peer sees its connection end.
        let _ = downstream.shutdown(Shutdown::Both);
        return;
    };
    let _ = upstream.set_nodelay(true);
    let _ = downstream.set_nodelay(true);
    let mode = shared.mode.lock().unwrap();
    if *mode != Mode::Open {
        // The partition began while the target was being reached.
        let _ = downstream.shutdown(Shutdown::Both);
        let _ = upstream.shutdown(Shutdown::Both);
        return;
    }
    let id = shared.next_link.fetch_add(1, Ordering::Relaxed);
    let blackholed = Arc::new(AtomicBool::new(false));
    let clones = (
        downstream.try_clone(),
        downstream.try_clone(),
        upstream.try_clone(),
        upstream.try_clone(),
    );
    let (Ok(d_read), Ok(d_write), Ok(u_read), Ok(u_write)) = clones else {
        let _ = downstream.shutdown(Shutdown::Both);
        let _ = upstream.shutdown(Shutdown::Both);
        return;
    };
    shared.links.lock().unwrap().push(Link {
        id,
        downstream,
        upstream,
        blackholed: blackholed.clone(),
    });
    drop(mode);
    for (from, to) in [(d_read, u_write), (u_read, d_write)] {
        let s = shared.clone();
        let b = blackholed.clone();
        let spawned = std::thread::Builder::new()
            .name("proxy-pump".into())
            .spawn(move || pump(from, to, b, id, s));
        if spawned.is_err() {
            remove_link(shared, id);
        }
    }
}

/// Connects to the target, trying again while it refuses, for up to [`UPSTREAM_RETRY_MAX`].
fn connect_upstream(shared: &Shared) -> Option<TcpStream> {
    let deadline = Instant::now() + UPSTREAM_RETRY_MAX;
    loop {
        match TcpStream::connect_timeout(&shared.target, UPSTREAM_CONNECT_GUARD) {
            Ok(s) => return Some(s),
            Err(e) if e.kind() == ErrorKind::ConnectionRefused && Instant::now() < deadline => {
                if shared.stop.load(Ordering::SeqCst) {
                    return None;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(_) => return None,
        }
    }
}

/// Copies `from` to `to` until either side closes; while `blackholed`, bytes are dropped.
fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    blackholed: Arc<AtomicBool>,
    id: u64,
    shared: Arc<Shared>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if blackholed.load(Ordering::SeqCst) {
            continue;
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    // One direction ended: end the whole connection, as a broken TCP connection would.
    remove_link(&shared, id);
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

fn remove_link(shared: &Shared, id: u64) {
    let mut links = shared.links.lock().unwrap();
    if let Some(i) = links.iter().position(|l| l.id == id) {
        links.swap_remove(i).close();
    }
}
