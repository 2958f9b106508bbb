//! The loopback ceiling probe (`corral bench --echo`): a minimal server that
//! speaks just enough of the protocol to answer the bench — handshake, then a
//! canned reply of the right shape and size for each request — with no tree,
//! no sequencer, no ordering work. The same bench pattern (sessions ×
//! in-flight, same threads) against it measures what this machine's loopback
//! TCP, syscalls and the client cost by themselves: corral's figures are
//! then read as a fraction of that ceiling.
//!
//! It runs in the bench process on its own threads (one epoll loop per
//! thread, SO_REUSEPORT listeners like corral's shards); its CPU is read per
//! thread from /proc/self/task so it is reported as the "server" CPU.

use super::sys::Epoll;
use crate::proto::request::MultiResult;
use crate::proto::{
    ConnectResponse, OpCode, Reader, ReplyHeader, Request, RequestHeader, Response, SessionId,
    Stat, Writer, ZData, ZString,
};
use bytes::{Buf, BytesMut};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::thread::JoinHandle;

const LISTENER_TOKEN: u64 = u64::MAX;

pub struct EchoServer {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    tids: Vec<Arc<AtomicI32>>,
}

impl EchoServer {
    /// Starts `threads` echo loops on one loopback port; `value_size` is the
    /// getData answer's data size, as the real key space would hold.
    pub fn start(threads: usize, value_size: usize) -> io::Result<EchoServer> {
        let first = reuseport_listener("127.0.0.1:0".parse().expect("literal address"))?;
        let addr = first.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let mut listeners = vec![first];
        for _ in 1..threads.max(1) {
            listeners.push(reuseport_listener(addr)?);
        }
        let mut handles = Vec::new();
        let mut tids = Vec::new();
        for (i, listener) in listeners.into_iter().enumerate() {
            let stop = stop.clone();
            let tid = Arc::new(AtomicI32::new(0));
            tids.push(tid.clone());
            let value = ZData::from(vec![b'v'; value_size]);
            handles.push(
                std::thread::Builder::new()
                    .name(format!("echo-{i}"))
                    .spawn(move || {
                        tid.store(super::procstat::gettid(), Ordering::Release);
                        if let Err(e) = serve(listener, value, &stop) {
                            eprintln!("echo server thread {i}: {e}");
                        }
                    })?,
            );
        }
        Ok(EchoServer {
            addr,
            stop,
            threads: handles,
            tids,
        })
    }

    /// CPU time of the echo threads so far, µs.
    pub fn cpu_us(&self) -> Option<u64> {
        let mut total = 0;
        for t in &self.tids {
            let tid = t.load(Ordering::Acquire);
            if tid == 0 {
                return None;
            }
            total += super::procstat::thread_cpu_us(tid)?;
        }
        Some(total)
    }

    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

fn reuseport_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    sock.set_reuse_address(true)?;
    let one: libc::c_int = 1;
    // SAFETY: setsockopt reads an int we own, of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_REUSEPORT,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    sock.bind(&addr.into())?;
    sock.listen(1024)?;
    sock.set_nonblocking(true)?;
    Ok(sock.into())
}

struct Conn {
    stream: TcpStream,
    inbuf: BytesMut,
    out: BytesMut,
    connected: bool,
    closing: bool,
    want_write: bool,
}

fn serve(listener: TcpListener, value: ZData, stop: &AtomicBool) -> io::Result<()> {
    let mut epoll = Epoll::new(256)?;
    epoll.add(listener.as_raw_fd(), LISTENER_TOKEN, false)?;
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut scratch = vec![0u8; 64 * 1024];
    let mut next_session: i64 = 1;
    let children: Vec<ZString> = (0..10).map(|i| ZString::from(format!("c{i}"))).collect();
    let mut ready = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        ready.clear();
        ready.extend(epoll.wait(50)?.iter().map(|e| (e.u64, e.events)));
        for &(token, events) in &ready {
            if token == LISTENER_TOKEN {
                while let Ok((stream, _)) = listener.accept() {
                    stream.set_nonblocking(true)?;
                    stream.set_nodelay(true)?;
                    let slot = conns.iter().position(Option::is_none).unwrap_or_else(|| {
                        conns.push(None);
                        conns.len() - 1
                    });
                    epoll.add(stream.as_raw_fd(), slot as u64, false)?;
                    conns[slot] = Some(Conn {
                        stream,
                        inbuf: BytesMut::with_capacity(16 * 1024),
                        out: BytesMut::with_capacity(16 * 1024),
                        connected: false,
                        closing: false,
                        want_write: false,
                    });
                }
                continue;
            }
            let slot = token as usize;
            let Some(conn) = conns.get_mut(slot).and_then(Option::as_mut) else {
                continue;
            };
            let mut alive = true;
            if events & libc::EPOLLIN as u32 != 0 || events & libc::EPOLLRDHUP as u32 != 0 {
                match conn.stream.read(&mut scratch) {
                    Ok(0) => alive = false,
                    Ok(n) => {
                        conn.inbuf.extend_from_slice(&scratch[..n]);
                        alive = answer(conn, &value, &children, &mut next_session);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => alive = false,
                }
            }
            if alive {
                while !conn.out.is_empty() {
                    match conn.stream.write(&conn.out) {
                        Ok(n) => conn.out.advance(n),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(_) => {
                            alive = false;
                            break;
                        }
                    }
                }
                if conn.closing && conn.out.is_empty() {
                    alive = false;
                }
            }
            if alive {
                let pending = !conn.out.is_empty();
                if pending != conn.want_write {
                    conn.want_write = pending;
                    epoll.modify(conn.stream.as_raw_fd(), token, pending)?;
                }
            } else {
                let _ = epoll.delete(conn.stream.as_raw_fd());
                conns[slot] = None;
            }
        }
    }
    Ok(())
}

/// Answers every complete frame in the input; false when the connection must close.
fn answer(conn: &mut Conn, value: &ZData, children: &[ZString], next_session: &mut i64) -> bool {
    loop {
        if conn.inbuf.len() < 4 {
            return true;
        }
        let len = i32::from_be_bytes([conn.inbuf[0], conn.inbuf[1], conn.inbuf[2], conn.inbuf[3]]);
        if !(0..=0xfffff).contains(&len) {
            return false;
        }
        let len = len as usize;
        if conn.inbuf.len() < 4 + len {
            return true;
        }
        conn.inbuf.advance(4);
        let mut r = Reader::new(conn.inbuf.split_to(len).freeze());
        let mut w = Writer::new(&mut conn.out);
        let at = w.begin_frame();
        if !conn.connected {
            conn.connected = true;
            *next_session += 1;
            ConnectResponse {
                protocol_version: 0,
                timeout_ms: 30_000,
                session_id: SessionId(*next_session),
                passwd: bytes::Bytes::from_static(&[0u8; 16]),
                read_only: Some(false),
            }
            .encode(&mut w);
            w.end_frame(at);
            continue;
        }
        let Ok(hdr) = RequestHeader::decode(&mut r) else {
            return false;
        };
        let req =
            OpCode::from_i32(hdr.op).and_then(|op| Request::decode(op, &mut r).ok().flatten());
        let stat = Stat {
            data_length: value.len() as i32,
            ..Stat::default()
        };
        ReplyHeader {
            xid: hdr.xid,
            zxid: 1,
            err: 0,
        }
        .encode(&mut w);
        match req {
            Some(Request::CloseSession) => conn.closing = true,
            Some(Request::Ping) | None => {}
            Some(req) => canned(&req, value, children, stat).encode(&mut w),
        }
        w.end_frame(at);
    }
}

/// A success body of the shape and size the real server would send.
fn canned(req: &Request, value: &ZData, children: &[ZString], stat: Stat) -> Response {
    match req {
        Request::GetData { .. } => Response::Data(value.clone(), stat),
        Request::Exists { .. } | Request::SetData { .. } | Request::Check { .. } => {
            Response::Stat(stat)
        }
        Request::GetChildren { .. } => Response::Children(children.to_vec()),
        Request::Create { req, .. } => Response::Path(req.path.clone()),
        Request::Multi(ops) => Response::Multi(
            ops.iter()
                .map(|op| match op {
                    Request::SetData { .. } => MultiResult::SetData(stat),
                    Request::Create { req, .. } => MultiResult::Create(req.path.clone()),
                    Request::Delete { .. } => MultiResult::Delete,
                    _ => MultiResult::Check,
                })
                .collect(),
        ),
        _ => Response::Empty,
    }
}
