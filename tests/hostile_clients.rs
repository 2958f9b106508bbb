//! Hostile and careless clients against a real corral process, over raw sockets: every opcode
//! with empty, truncated and random bodies; seeded random and mutated frames; invalid paths;
//! connection floods past `maxClientCnxns`; slow writers; a watch flood to a client that never
//! reads. (Oversized and malformed frames one by one are in `protocol_bad_input.rs`, slow
//! readers in `memory_bounds.rs`.)
//!
//! After each case the server must be alive, a bystander session's data and ephemeral intact,
//! and a new connection served. Every random choice comes from a printed seed
//! (`HOSTILE_SEED=<n>` replays one).

mod common;

use common::Server;
use common::raw::{Conn, ConnectRequest, Read1, Session, Writer, op, req};
use std::io::Write;
use std::time::{Duration, Instant};

/// A session that minds its own business while the others misbehave.
struct Bystander {
    session: Session,
    node: String,
    ephemeral: String,
    data: Vec<u8>,
}

impl Bystander {
    fn new(server: &Server) -> Bystander {
        let mut session = Session::connect(server.addr(), 30_000);
        let node = server.unique_path("bystander");
        let ephemeral = format!("{node}-eph");
        let data = b"untouched by anyone else".to_vec();
        assert_eq!(session.create(&node, &data, 0).err, 0);
        assert_eq!(session.create(&ephemeral, b"", 1).err, 0);
        Bystander {
            session,
            node,
            ephemeral,
            data,
        }
    }

    /// The server is alive, this session's data and ephemeral are as they were, and a new
    /// connection is served.
    fn check(&mut self, server: &Server, after: &str) {
        let reply = self.session.get_data(&self.node, false);
        assert_eq!(reply.err, 0, "after {after}: the bystander's node");
        assert_eq!(
            reply.reader().bytes(),
            Some(self.data.clone()),
            "after {after}: the bystander's data"
        );
        assert_eq!(
            self.session.exists(&self.ephemeral, false).err,
            0,
            "after {after}: the bystander's ephemeral"
        );
        let mut fresh = Session::connect(server.addr(), 30_000);
        assert_eq!(
            fresh.exists(&self.node, false).err,
            0,
            "after {after}: a new connection"
        );
        fresh.close();
    }
}

/// xorshift64*: small, seeded, the same on every machine.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn seed() -> u64 {
    let seed = std::env::var("HOSTILE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    eprintln!("HOSTILE_SEED={seed}");
    seed
}

/// Every opcode a client can name (and a few it cannot).
const OPCODES: &[i32] = &[
    op::CREATE,
    op::DELETE,
    op::EXISTS,
    op::GET_DATA,
    op::SET_DATA,
    op::GET_ACL,
    op::SET_ACL,
    op::GET_CHILDREN,
    op::SYNC,
    op::PING,
    op::GET_CHILDREN2,
    op::CHECK,
    op::MULTI,
    op::CREATE2,
    op::RECONFIG,
    op::CHECK_WATCHES,
    op::REMOVE_WATCHES,
    op::CREATE_CONTAINER,
    op::DELETE_CONTAINER,
    op::CREATE_TTL,
    op::MULTI_READ,
    op::AUTH,
    op::SET_WATCHES,
    op::SASL,
    op::GET_EPHEMERALS,
    op::GET_ALL_CHILDREN_NUMBER,
    op::SET_WATCHES2,
    op::ADD_WATCH,
    op::WHO_AM_I,
    op::CLOSE_SESSION,
    op::CREATE_SESSION,
    op::ERROR,
    op::NOTIFICATION,
    10,
    23,
    108,
    1000,
    i32::MIN,
];

/// A well-formed body for `code` (truncated and mutated by the cases below).
fn valid_body(code: i32, base: &str) -> Vec<u8> {
    let path = format!("{base}/n");
    match code {
        op::CREATE | op::CREATE2 | op::CREATE_CONTAINER => req::create(&path, b"d", 0),
        op::CREATE_TTL => {
            let mut b = req::create(&path, b"d", 5);
            b.extend_from_slice(&1000i64.to_be_bytes());
            b
        }
        op::DELETE | op::CHECK => req::delete(&path, -1),
        op::SET_DATA => req::set_data(&path, b"e", -1),
        op::EXISTS | op::GET_DATA | op::GET_CHILDREN | op::GET_CHILDREN2 => {
            req::path_watch(&path, true)
        }
        op::SET_ACL => Writer::new()
            .string(&path)
            .acls(&[(31, "world", "anyone")])
            .int(-1)
            .into_vec(),
        op::ADD_WATCH => req::path_type(&path, 1),
        op::CHECK_WATCHES | op::REMOVE_WATCHES => req::path_type(&path, 3),
        op::MULTI => req::multi(&[
            (op::CREATE, req::create(&path, b"m", 0)),
            (op::DELETE, req::delete(&path, -1)),
        ]),
        op::AUTH => req::auth("digest", b"user:pass"),
        op::SET_WATCHES | op::SET_WATCHES2 => {
            let mut w = Writer::new()
                .long(0)
                .strings(&[&path])
                .strings(&[])
                .strings(&[]);
            if code == op::SET_WATCHES2 {
                w = w.strings(&[]).strings(&[]);
            }
            w.into_vec()
        }
        op::SASL => Writer::new().bytes(b"token").into_vec(),
        op::RECONFIG => Writer::new().null().null().null().long(-1).into_vec(),
        _ => req::path(&path),
    }
}

/// Sends one request, then a ping, and reads up to the ping's reply: `true` when the
/// connection still serves, `false` when the server closed it (after answering or not).
fn exchange(s: &mut Session, code: i32, body: &[u8]) -> bool {
    let xid = if code == op::AUTH { -4 } else { s.take_xid() };
    s.send(xid, code, body);
    ping_through(s)
}

#[test]
fn every_opcode_with_empty_truncated_and_random_bodies() {
    let server = Server::start();
    let mut rng = Rng::new(seed());
    let mut bystander = Bystander::new(&server);
    let base = server.unique_path("opcodes");
    let mut s = Session::connect(server.addr(), 30_000);
    assert_eq!(s.create(&base, b"", 0).err, 0);
    for &code in OPCODES {
        let valid = valid_body(code, &base);
        let mut bodies = vec![Vec::new(), valid.clone()];
        for cut in [1, valid.len() / 2, valid.len().saturating_sub(1)] {
            bodies.push(valid[..cut.min(valid.len())].to_vec());
        }
        for _ in 0..3 {
            let n = rng.below(64);
            bodies.push(rng.bytes(n));
        }
        for body in &bodies {
            if !exchange(&mut s, code, body) {
                s = Session::connect(server.addr(), 30_000);
            }
        }
        bystander.check(&server, &format!("opcode {code}"));
    }
}

#[test]
fn seeded_random_and_mutated_frames() {
    let server = Server::start();
    let mut rng = Rng::new(seed());
    let mut bystander = Bystander::new(&server);
    let base = server.unique_path("mutated");
    let mut s = Session::connect(server.addr(), 30_000);
    assert_eq!(s.create(&base, b"", 0).err, 0);
    let mut closes = 0;
    for round in 0..600 {
        let code = OPCODES[rng.below(OPCODES.len())];
        let mut frame = Writer::new().int(round).int(code).into_vec();
        frame.extend_from_slice(&valid_body(code, &base));
        match rng.below(4) {
            0 => {
                // Flip a few bytes anywhere past the header's xid.
                for _ in 0..1 + rng.below(4) {
                    let i = 4 + rng.below(frame.len() - 4);
                    frame[i] ^= 1 << rng.below(8);
                }
            }
            1 => frame.truncate(8 + rng.below(frame.len() - 7)),
            2 => {
                let n = rng.below(32);
                frame.extend(rng.bytes(n));
            }
            _ => {
                let n = 8 + rng.below(128);
                frame = rng.bytes(n);
            }
        }
        s.conn.send_frame(&frame);
        // Replies come in order: the ping's reply follows the frame's answer (or the close
        // comes first).
        if !ping_through(&mut s) {
            closes += 1;
            s = Session::connect(server.addr(), 30_000);
        }
    }
    eprintln!("600 mutated frames: {closes} connections closed by the server");
    bystander.check(&server, "mutated frames");
}

/// Pings and reads up to the ping's reply; `false` when the server closed instead.
fn ping_through(s: &mut Session) -> bool {
    s.send(-2, op::PING, &[]);
    loop {
        match s.conn.read_frame() {
            Read1::Closed => return false,
            Read1::Frame(f) if f.len() >= 4 && f[..4] == (-2i32).to_be_bytes() => return true,
            Read1::Frame(_) => {}
        }
    }
}

#[test]
fn invalid_paths_on_every_path_taking_opcode() {
    let server = Server::start();
    let mut bystander = Bystander::new(&server);
    let mut s = Session::connect(server.addr(), 30_000);
    let bad = [
        "",
        "a",
        "//",
        "/a//b",
        "/a/",
        "/.",
        "/..",
        "/a/./b",
        "/a\u{0}b",
        "/\u{1}",
        "/\u{ffff}",
        "/zookeeper/quota/x",
    ];
    for path in bad {
        for body in [
            req::create(path, b"", 0),
            req::delete(path, -1),
            req::set_data(path, b"x", -1),
            req::path_watch(path, true),
            req::path(path),
        ] {
            for code in [
                op::CREATE,
                op::DELETE,
                op::SET_DATA,
                op::GET_DATA,
                op::EXISTS,
                op::GET_CHILDREN2,
                op::GET_ACL,
                op::SYNC,
            ] {
                if !exchange(&mut s, code, &body) {
                    s = Session::connect(server.addr(), 30_000);
                }
            }
        }
    }
    bystander.check(&server, "invalid paths");
}

#[test]
fn a_connection_flood_past_max_client_cnxns_is_refused_and_others_go_on() {
    let Some(server) = Server::start_dedicated(
        "a_connection_flood_past_max_client_cnxns_is_refused_and_others_go_on",
        &[("maxClientCnxns", "20")],
    ) else {
        return;
    };
    let mut bystander = Bystander::new(&server);
    // 19 slots left, taken by sessions that then sit idle (handshaken, so each is surely
    // accepted before the flood: shards accept from queues of their own, in no set order).
    let mut idle: Vec<Session> = (0..19)
        .map(|_| Session::connect(server.addr(), 30_000))
        .collect();
    let mut refused = 0;
    for _ in 0..200 {
        let mut c = Conn::open(server.addr());
        if c.handshake(&ConnectRequest::new_session(30_000)).is_none() {
            refused += 1;
        }
    }
    assert_eq!(refused, 200, "every connection past the limit is refused");
    // Those already in keep working.
    assert_eq!(bystander.session.ping().err, 0);
    for s in idle.iter_mut() {
        assert_eq!(s.ping().err, 0);
    }
    idle.clear();
    // Slots come back as the idle connections close.
    let guard = Instant::now() + Duration::from_secs(30);
    loop {
        let mut c = Conn::open(server.addr());
        if c.handshake(&ConnectRequest::new_session(30_000)).is_some() {
            break;
        }
        assert!(Instant::now() < guard, "no slot came back after the flood");
        std::thread::sleep(Duration::from_millis(50));
    }
    bystander.check(&server, "a connection flood");
}

#[test]
fn slow_writers_do_not_hold_up_anyone_else() {
    let server = Server::start();
    let mut bystander = Bystander::new(&server);
    // Ten connections each leave half a frame (and half a handshake) hanging.
    let mut hanging = Vec::new();
    for i in 0..10 {
        let mut c = Conn::open(server.addr());
        let handshake = ConnectRequest::new_session(30_000).encode();
        let mut frame = (handshake.len() as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(&handshake);
        let cut = if i % 2 == 0 { 2 } else { frame.len() / 2 };
        c.stream
            .write_all(&frame[..cut])
            .expect("send half a frame");
        hanging.push(c);
    }
    let mut s = Session::connect(server.addr(), 30_000);
    let path = server.unique_path("slow-writer");
    let mut frame = Writer::new().int(1).int(op::CREATE).into_vec();
    frame.extend_from_slice(&req::create(&path, b"byte by byte", 0));
    let mut bytes = (frame.len() as i32).to_be_bytes().to_vec();
    bytes.extend_from_slice(&frame);
    // One byte at a time, with the others served in between.
    for b in bytes {
        s.conn.stream.write_all(&[b]).expect("one byte");
        bystander.check(&server, "a byte of a slow frame");
    }
    let reply = s.reply_for(1).expect("the slow create is answered");
    assert_eq!(reply.err, 0);
    assert_eq!(bystander.session.exists(&path, false).err, 0);
    drop(hanging);
    bystander.check(&server, "slow writers");
}

/// A client with a persistent watch that never reads its events while another client makes a
/// hundred and fifty thousand changes: past 16 MiB of unread events the server closes that client's
/// connection (`docs/architecture.md` §5) rather than buffer without bound.
#[test]
fn a_watch_flood_to_a_client_that_never_reads_is_cut_off() {
    let Some(server) =
        Server::start_dedicated("a_watch_flood_to_a_client_that_never_reads_is_cut_off", &[])
    else {
        return;
    };
    let mut bystander = Bystander::new(&server);
    // A long name makes each event ~250 bytes.
    let path = format!("{}-{}", server.unique_path("flood"), "x".repeat(200));
    let mut writer = Session::connect(server.addr(), 30_000);
    assert_eq!(writer.create(&path, b"", 0).err, 0);
    let mut deaf = Session::connect(server.addr(), 30_000);
    let add = Writer::new().string(&path).int(0).into_vec();
    assert_eq!(deaf.request(op::ADD_WATCH, &add).err, 0);
    let ops: Vec<(i32, Vec<u8>)> = (0..200)
        .map(|_| (op::SET_DATA, req::set_data(&path, b"v", -1)))
        .collect();
    let multi = req::multi(&ops);
    for _ in 0..750 {
        assert_eq!(writer.request(op::MULTI, &multi).err, 0);
    }
    // Now read: the connection ends before all 150,000 events arrived.
    let mut events = 0u64;
    loop {
        match deaf.conn.read_frame() {
            Read1::Closed => break,
            Read1::Frame(_) => events += 1,
        }
        assert!(
            events < 150_000,
            "all 150,000 events were kept for a client that did not read"
        );
    }
    eprintln!("the deaf client got {events} of 150,000 events before the close");
    writer.close();
    bystander.check(&server, "a watch flood");
}
