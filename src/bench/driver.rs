//! One load-generator thread: many sessions, one epoll loop, no locks.
//!
//! Closed loop: every session keeps `inflight` ops outstanding and sends the
//! next one when a reply comes back; latency runs from the send.
//! Fixed rate: ops are due at evenly spaced *intended* times (the thread's
//! share of `--rate`); a due op goes out on any session with a free slot, and
//! its latency runs from the intended time, so a server that falls behind
//! shows it in latency instead of quietly slowing the generator down
//! (no coordinated omission). A timerfd wakes the loop for the next due op.
//!
//! The thread records into its own histograms; the coordinator reads only
//! the live counters (relaxed atomics) until the thread hands its results back.

use super::sys::{Epoll, TimerFd, now_ns, tight_timer_slack};
use super::workload::{KeySpace, Mix, OpKind};
use crate::client::{Incoming, SessionCodec};
use crate::proto::{Request, ZString};
use crossbeam::utils::CachePadded;
use hdrhistogram::Histogram;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

pub const PHASE_WARMUP: u8 = 0;
pub const PHASE_MEASURE: u8 = 1;
pub const PHASE_STOP: u8 = 2;

/// Latencies are recorded in ns up to this bound (larger values saturate).
const LATENCY_NS_MAX: u64 = 120_000_000_000;
/// How long the loop sleeps at most between looks at the phase flag.
const LOOP_WAIT_MS: i32 = 20;
/// The timer's epoll token (sessions use their index).
const TIMER_TOKEN: u64 = u64::MAX;
/// Bytes read per read(2).
const READ_CHUNK: usize = 64 * 1024;

/// Counters the coordinator reads while the thread runs (every op since start).
#[derive(Default)]
pub struct Live {
    pub ops: CachePadded<AtomicU64>,
    pub errors: CachePadded<AtomicU64>,
}

/// Shared between the coordinator and every thread.
pub struct Control {
    pub phase: AtomicU8,
}

/// What one thread is asked to do.
pub struct Plan {
    pub thread: usize,
    /// One server address per session this thread owns.
    pub session_addrs: Vec<String>,
    pub inflight: usize,
    /// This thread's share of `--rate`, ops/s; `None` = closed loop.
    pub rate_per_s: Option<f64>,
    /// Fixed rate: the shortest time between two timer wakeups, µs (0 = one per op).
    pub tick_us: u64,
    pub mix: Mix,
    pub root: String,
    pub keys: usize,
    pub value_size: usize,
    pub session_timeout_ms: i32,
    pub seed: u64,
}

pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_NS_MAX, 3).expect("static histogram bounds are valid")
}

/// What a thread measured while the phase was `PHASE_MEASURE`.
pub struct Measured {
    pub all: Histogram<u64>,
    pub read: Histogram<u64>,
    pub write: Histogram<u64>,
    pub ops: u64,
    pub errors: u64,
    pub events: u64,
    pub per_kind: [u64; OpKind::ALL.len()],
    /// First error reply code or failure seen, for the report.
    pub first_error: Option<String>,
}

impl Measured {
    fn new() -> Measured {
        Measured {
            all: new_histogram(),
            read: new_histogram(),
            write: new_histogram(),
            ops: 0,
            errors: 0,
            events: 0,
            per_kind: [0; OpKind::ALL.len()],
            first_error: None,
        }
    }

    pub fn merge(&mut self, other: &Measured) {
        let _ = self.all.add(&other.all);
        let _ = self.read.add(&other.read);
        let _ = self.write.add(&other.write);
        self.ops += other.ops;
        self.errors += other.errors;
        self.events += other.events;
        for (a, b) in self.per_kind.iter_mut().zip(other.per_kind) {
            *a += b;
        }
        if self.first_error.is_none() {
            self.first_error.clone_from(&other.first_error);
        }
    }

    pub fn empty() -> Measured {
        Measured::new()
    }
}

#[derive(Clone, Copy)]
struct Tag {
    start_ns: u64,
    kind: OpKind,
    /// The reply that completes the op (a watch op sends two requests).
    last: bool,
}

struct Session {
    stream: TcpStream,
    codec: SessionCodec<Tag>,
    owner: String,
    temp_n: u64,
    live_persistent: Option<ZString>,
    live_ephemeral: Option<ZString>,
    /// Registered for EPOLLOUT because output is waiting.
    want_write: bool,
    /// Queued for a write at the end of this loop turn.
    dirty: bool,
    dead: bool,
    last_send_ns: u64,
}

/// xorshift64*: a fast deterministic draw, good enough to pick keys and ops.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 11) as u128 * n as u128) >> 53) as usize
    }
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Opens one session: connect, handshake (blocking, bounded), then non-blocking.
fn open_session(addr: &str, timeout_ms: i32, owner: String) -> io::Result<Session> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut codec: SessionCodec<Tag> = SessionCodec::new(timeout_ms);
    stream.write_all(codec.output())?;
    let n = codec.output().len();
    codec.consume_output(n);
    let mut buf = [0u8; 256];
    loop {
        match codec.next_incoming() {
            Ok(Some(Incoming::Connected(resp))) => {
                if resp.session_id.0 == 0 || resp.timeout_ms <= 0 {
                    return Err(io::Error::other(format!(
                        "{addr} refused the session (timeout {} ms)",
                        resp.timeout_ms
                    )));
                }
                break;
            }
            Ok(Some(_)) => {}
            Ok(None) => {
                let n = stream.read(&mut buf)?;
                if n == 0 {
                    return Err(io::Error::other(format!("{addr} closed during handshake")));
                }
                codec.input(&buf[..n]);
            }
            Err(e) => return Err(io::Error::other(format!("{addr} handshake: {e}"))),
        }
    }
    stream.set_read_timeout(None)?;
    stream.set_nonblocking(true)?;
    Ok(Session {
        stream,
        codec,
        owner,
        temp_n: 0,
        live_persistent: None,
        live_ephemeral: None,
        want_write: false,
        dirty: false,
        dead: false,
        last_send_ns: now_ns(),
    })
}

struct Driver {
    plan: Plan,
    ks: KeySpace,
    sessions: Vec<Session>,
    /// One entry per free in-flight slot: the session index that has it.
    free: VecDeque<usize>,
    dirty: Vec<usize>,
    epoll: Epoll,
    rng: Rng,
    measuring: bool,
    m: Measured,
    live: Arc<Live>,
}

impl Driver {
    /// Sends op `kind` on session `s`, its latency counted from `start_ns`.
    fn send_op(&mut self, s: usize, kind: OpKind, start_ns: u64) {
        let nkeys = self.ks.keys.len();
        let tag = Tag {
            start_ns,
            kind,
            last: true,
        };
        let sess = &mut self.sessions[s];
        match kind {
            OpKind::Get => {
                let req = self.ks.get(self.rng.below(nkeys), false);
                sess.codec.send(&req, tag);
            }
            OpKind::Exists => {
                let req = self.ks.exists(self.rng.below(nkeys));
                sess.codec.send(&req, tag);
            }
            OpKind::Children => {
                let req = self.ks.children(self.rng.below(self.ks.dirs.len()));
                sess.codec.send(&req, tag);
            }
            OpKind::Set => {
                let req = self.ks.set(self.rng.below(nkeys));
                sess.codec.send(&req, tag);
            }
            OpKind::Multi => {
                let req = self.ks.multi(self.rng.below(nkeys), self.rng.below(nkeys));
                sess.codec.send(&req, tag);
            }
            OpKind::Create | OpKind::Ephemeral => {
                let ephemeral = kind == OpKind::Ephemeral;
                let slot = if ephemeral {
                    &mut sess.live_ephemeral
                } else {
                    &mut sess.live_persistent
                };
                let req = match slot.take() {
                    Some(path) => Request::Delete { path, version: -1 },
                    None => {
                        sess.temp_n += 1;
                        let path = self.ks.temp_path(&sess.owner, sess.temp_n);
                        *slot = Some(path.clone());
                        self.ks.create(path, ephemeral)
                    }
                };
                sess.codec.send(&req, tag);
            }
            OpKind::Watch => {
                let key = self.rng.below(nkeys);
                sess.codec
                    .send(&self.ks.get(key, true), Tag { last: false, ..tag });
                sess.codec.send(&self.ks.set(key), tag);
            }
        }
        sess.last_send_ns = start_ns.max(sess.last_send_ns);
        if !sess.dirty {
            sess.dirty = true;
            self.dirty.push(s);
        }
    }

    fn pick_and_send(&mut self, s: usize, start_ns: u64) {
        let kind = self.plan.mix.pick(self.rng.unit());
        self.send_op(s, kind, start_ns);
    }

    fn note_error(&mut self, what: impl FnOnce() -> String) {
        self.live.errors.fetch_add(1, Ordering::Relaxed);
        if self.measuring {
            self.m.errors += 1;
            if self.m.first_error.is_none() {
                self.m.first_error = Some(what());
            }
        }
    }

    /// Reads what session `s` has and handles every complete frame.
    /// Returns the number of ops completed (each frees a slot).
    fn on_readable(&mut self, s: usize, scratch: &mut [u8]) {
        loop {
            let sess = &mut self.sessions[s];
            match sess.stream.read(scratch) {
                Ok(0) => {
                    self.kill(s, "server closed the connection".into());
                    return;
                }
                Ok(n) => {
                    sess.codec.input(&scratch[..n]);
                    if n < scratch.len() {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.kill(s, format!("read: {e}"));
                    return;
                }
            }
        }
        let now = now_ns();
        loop {
            let next = self.sessions[s].codec.next_incoming();
            match next {
                Ok(None) => break,
                Ok(Some(Incoming::Reply(r))) => {
                    if let Err(code) = r.err {
                        let op = r.op;
                        self.note_error(|| format!("{} answered error {code}", op.name()));
                    }
                    if r.tag.last {
                        self.complete(s, r.tag, now);
                    }
                }
                Ok(Some(Incoming::Event(_))) => {
                    if self.measuring {
                        self.m.events += 1;
                    }
                }
                Ok(Some(Incoming::Pong | Incoming::Connected(_) | Incoming::Control { .. })) => {}
                Err(e) => {
                    self.kill(s, format!("protocol: {e}"));
                    return;
                }
            }
        }
    }

    fn complete(&mut self, s: usize, tag: Tag, now: u64) {
        self.live.ops.fetch_add(1, Ordering::Relaxed);
        if self.measuring {
            let lat = now.saturating_sub(tag.start_ns).max(1);
            self.m.ops += 1;
            self.m.per_kind[tag.kind as usize] += 1;
            self.m.all.saturating_record(lat);
            if tag.kind.is_read() {
                self.m.read.saturating_record(lat);
            } else {
                self.m.write.saturating_record(lat);
            }
        }
        self.free.push_back(s);
    }

    /// A session that failed: its in-flight ops count as errors, its slots are gone.
    fn kill(&mut self, s: usize, why: String) {
        let sess = &mut self.sessions[s];
        if sess.dead {
            return;
        }
        sess.dead = true;
        let lost = sess.codec.in_flight().max(1);
        let _ = self.epoll.delete(sess.stream.as_raw_fd());
        let owner = sess.owner.clone();
        for _ in 0..lost {
            self.note_error(|| format!("session {owner}: {why}"));
        }
        self.free.retain(|&i| i != s);
    }

    fn flush_dirty(&mut self) {
        let dirty = std::mem::take(&mut self.dirty);
        for &s in &dirty {
            self.flush(s);
        }
        self.dirty = dirty;
        self.dirty.clear();
    }

    fn flush(&mut self, s: usize) {
        let sess = &mut self.sessions[s];
        sess.dirty = false;
        if sess.dead {
            return;
        }
        while sess.codec.has_output() {
            match sess.stream.write(sess.codec.output()) {
                Ok(n) => sess.codec.consume_output(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.kill(s, format!("write: {e}"));
                    return;
                }
            }
        }
        let pending = sess.codec.has_output();
        if pending != sess.want_write {
            sess.want_write = pending;
            let fd = sess.stream.as_raw_fd();
            if let Err(e) = self.epoll.modify(fd, s as u64, pending) {
                self.kill(s, format!("epoll: {e}"));
            }
        }
    }

    fn ping_idle(&mut self, now: u64) {
        let idle_ns = self.plan.session_timeout_ms.max(300) as u64 * 1_000_000 / 3;
        for s in 0..self.sessions.len() {
            let sess = &mut self.sessions[s];
            if !sess.dead && now.saturating_sub(sess.last_send_ns) > idle_ns {
                sess.codec.ping();
                sess.last_send_ns = now;
                if !sess.dirty {
                    sess.dirty = true;
                    self.dirty.push(s);
                }
            }
        }
    }

    fn all_dead(&self) -> bool {
        self.sessions.iter().all(|s| s.dead)
    }
}

/// Runs one thread's sessions until the phase says stop. `ready` is called
/// once every session is open (the coordinator starts the clock after all).
pub fn run(
    plan: Plan,
    control: Arc<Control>,
    live: Arc<Live>,
    ready: impl FnOnce(Result<(), String>),
) -> Measured {
    tight_timer_slack();
    let ks = KeySpace::new(&plan.root, plan.keys, plan.value_size);
    let mut sessions = Vec::with_capacity(plan.session_addrs.len());
    for (i, addr) in plan.session_addrs.iter().enumerate() {
        let owner = format!("t{}s{}", plan.thread, i);
        match open_session(addr, plan.session_timeout_ms, owner) {
            Ok(s) => sessions.push(s),
            Err(e) => {
                ready(Err(format!("session {i} to {addr}: {e}")));
                return Measured::empty();
            }
        }
    }
    let epoll = match Epoll::new(sessions.len() + 1) {
        Ok(e) => e,
        Err(e) => {
            ready(Err(format!("epoll: {e}")));
            return Measured::empty();
        }
    };
    for (i, s) in sessions.iter().enumerate() {
        if let Err(e) = epoll.add(s.stream.as_raw_fd(), i as u64, false) {
            ready(Err(format!("epoll add: {e}")));
            return Measured::empty();
        }
    }
    let timer = match TimerFd::new().and_then(|t| epoll.add(t.raw(), TIMER_TOKEN, false).map(|_| t))
    {
        Ok(t) => t,
        Err(e) => {
            ready(Err(format!("timerfd: {e}")));
            return Measured::empty();
        }
    };
    // Slots interleaved across sessions, so fixed-rate sends spread evenly.
    let mut free = VecDeque::with_capacity(sessions.len() * plan.inflight);
    for _ in 0..plan.inflight {
        free.extend(0..sessions.len());
    }
    let seed = plan.seed | 1;
    let mut d = Driver {
        plan,
        ks,
        sessions,
        free,
        dirty: Vec::new(),
        epoll,
        rng: Rng(seed),
        measuring: false,
        m: Measured::new(),
        live,
    };
    ready(Ok(()));

    let interval_ns = d.plan.rate_per_s.map(|r| (1e9 / r.max(1e-3)) as u64);
    let mut next_due_ns = now_ns();
    let mut backlog: VecDeque<u64> = VecDeque::new();
    let mut armed_ns = 0;
    let tick_ns = d.plan.tick_us * 1000;
    let mut scratch = vec![0u8; READ_CHUNK];
    let mut last_ping_check = now_ns();
    let mut phase = PHASE_WARMUP;
    let mut ready_buf: Vec<(u64, u32)> = Vec::with_capacity(d.sessions.len() + 1);
    loop {
        let p = control.phase.load(Ordering::Relaxed);
        if p != phase {
            phase = p;
            if phase == PHASE_MEASURE {
                d.measuring = true;
                d.m = Measured::new();
            } else if phase == PHASE_STOP {
                d.measuring = false;
                break;
            }
        }
        let now = now_ns();
        match interval_ns {
            None => {
                while let Some(s) = d.free.pop_front() {
                    d.pick_and_send(s, now);
                }
            }
            Some(iv) => {
                while next_due_ns <= now {
                    backlog.push_back(next_due_ns);
                    next_due_ns += iv;
                }
                while !backlog.is_empty() && !d.free.is_empty() {
                    let (Some(due), Some(s)) = (backlog.pop_front(), d.free.pop_front()) else {
                        break;
                    };
                    d.pick_and_send(s, due);
                }
                // Wake for the next due op (the backlog waits for a free slot,
                // which only a reply can make). Re-arm only when it moved.
                // With a tick, wake at most once per tick: ops due meanwhile go
                // out together, late by up to a tick, and that lateness counts.
                let wake_ns = next_due_ns.max(now + tick_ns);
                if armed_ns != wake_ns {
                    armed_ns = wake_ns;
                    let _ = timer.arm_at(wake_ns);
                }
            }
        }
        if now.saturating_sub(last_ping_check) > 1_000_000_000 {
            last_ping_check = now;
            d.ping_idle(now);
        }
        d.flush_dirty();
        if d.all_dead() {
            break;
        }
        ready_buf.clear();
        match d.epoll.wait(LOOP_WAIT_MS) {
            Ok(evs) => ready_buf.extend(evs.iter().map(|e| (e.u64, e.events))),
            Err(e) => {
                let sessions = d.sessions.len();
                for s in 0..sessions {
                    d.kill(s, format!("epoll_wait: {e}"));
                }
                break;
            }
        }
        for &(token, events) in &ready_buf {
            if token == TIMER_TOKEN {
                timer.drain();
                continue;
            }
            let s = token as usize;
            if events & (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32
                != 0
            {
                d.on_readable(s, &mut scratch);
            }
            if events & libc::EPOLLOUT as u32 != 0 && !d.sessions[s].dirty {
                d.sessions[s].dirty = true;
                d.dirty.push(s);
            }
        }
    }
    close_sessions(&mut d.sessions);
    d.m
}

/// Ends every session politely (closeSession), so ephemeral nodes go at once.
fn close_sessions(sessions: &mut [Session]) {
    for sess in sessions.iter_mut().filter(|s| !s.dead) {
        sess.codec.send(
            &Request::CloseSession,
            Tag {
                start_ns: 0,
                kind: OpKind::Get,
                last: false,
            },
        );
        let _ = sess.stream.set_nonblocking(false);
        let _ = sess.stream.set_write_timeout(Some(Duration::from_secs(2)));
        let _ = sess.stream.write_all(sess.codec.output());
    }
    let mut buf = vec![0u8; READ_CHUNK];
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    for sess in sessions.iter_mut().filter(|s| !s.dead) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            break;
        }
        let _ = sess.stream.set_read_timeout(Some(left));
        // Drain until the server closes (it does after answering closeSession).
        while let Ok(n) = sess.stream.read(&mut buf) {
            if n == 0 {
                break;
            }
        }
    }
}
