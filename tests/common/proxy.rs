//! A TCP forwarder the test controls, for partitions between ensemble members
//! (`tests/common/ensemble.rs` puts one in front of every member's quorum and election port,
//! per peer). Plain std threads: an accept thread per proxy, two pump threads per forwarded
//! connection. It never looks into the bytes it forwards.
//!
//! A proxy is in one of three [`Mode`]s, switched at any time with [`Proxy::set_mode`]:
//! * [`Mode::Open`] forwards every byte both ways.
//! * [`Mode::Refuse`] is a partition a peer sees at once: existing connections are closed
//!   (both sides see EOF) and new ones are closed right after the accept. The listener stays
//!   bound so that no other process can take the port while the member is cut off.
//! * [`Mode::Blackhole`] is a partition a peer only sees by its timeouts: connections stay up,
//!   new ones are accepted, but every byte is read and thrown away.
//!
//! Leaving `Refuse` or `Blackhole` for `Open` closes every connection that existed during the
//! partition, so no byte written during it is ever delivered after it: a healed member starts
//! over with fresh connections, as after a real partition that outlasted the TCP timeouts.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long the proxy waits for the real port to accept a connection it forwards.
const UPSTREAM_CONNECT_GUARD: Duration = Duration::from_secs(2);
/// How often the accept loop looks at the stop flag.
const ACCEPT_POLL: Duration = Duration::from_millis(5);

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
    target: SocketAddr,
    mode: Mutex<Mode>,
    links: Mutex<Vec<Link>>,
    stop: AtomicBool,
    next_link: AtomicU64,
    /// Connections accepted since the start (diagnostics).
    accepted: AtomicU64,
}

/// A forwarder from `127.0.0.1:<port>` to `target`.
pub struct Proxy {
    port: u16,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Binds `127.0.0.1:port` and starts forwarding to `target` in [`Mode::Open`].
    pub fn start(port: u16, target: SocketAddr) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared {
            target,
            mode: Mutex::new(Mode::Open),
            links: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            next_link: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
        });
        let s = shared.clone();
        let acceptor = std::thread::Builder::new()
            .name(format!("proxy-{port}"))
            .spawn(move || accept_loop(listener, s))?;
        Ok(Proxy {
            port,
            shared,
            acceptor: Some(acceptor),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
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
    pub fn set_mode(&self, mode: Mode) {
        // The mode lock is held while links are changed, so that the accept loop cannot
        // register a link under the old mode after the switch.
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

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    while !shared.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                shared.accepted.fetch_add(1, Ordering::Relaxed);
                let _ = stream.set_nonblocking(false);
                admit(stream, &shared);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {
                std::thread::sleep(ACCEPT_POLL);
            }
            Err(_) => std::thread::sleep(ACCEPT_POLL),
        }
    }
}

/// Decides what to do with a new connection under the current mode.
fn admit(downstream: TcpStream, shared: &Arc<Shared>) {
    let mode = *shared.mode.lock().unwrap();
    if mode == Mode::Refuse {
        let _ = downstream.shutdown(Shutdown::Both);
        return;
    }
    // Connect outside the mode lock (it may take a while); re-check the mode afterwards.
    let upstream = match TcpStream::connect_timeout(&shared.target, UPSTREAM_CONNECT_GUARD) {
        Ok(s) => s,
        Err(_) => {
            // The member is down: the peer sees the connection close, as it would see a refusal.
            let _ = downstream.shutdown(Shutdown::Both);
            return;
        }
    };
    let _ = upstream.set_nodelay(true);
    let _ = downstream.set_nodelay(true);
    let mode = shared.mode.lock().unwrap();
    if *mode == Mode::Refuse {
        let _ = downstream.shutdown(Shutdown::Both);
        let _ = upstream.shutdown(Shutdown::Both);
        return;
    }
    let blackholed = Arc::new(AtomicBool::new(*mode == Mode::Blackhole));
    let id = shared.next_link.fetch_add(1, Ordering::Relaxed);
    let clones = (
        downstream.try_clone(),
        upstream.try_clone(),
        downstream.try_clone(),
        upstream.try_clone(),
    );
    let (Ok(d_read), Ok(u_write), Ok(u_read), Ok(d_write)) = clones else {
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
