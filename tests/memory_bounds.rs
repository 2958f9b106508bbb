//! Memory a careless client can make the server hold: replies it never reads are bounded by
//! bytes per connection (the reader stops at the limit, `docs/architecture.md` §5), other
//! clients are served meanwhile, and the memory goes back once those connections close.
//!
//! The figures come from `/proc/<pid>/status` (VmRSS) of a server of the test's own.

mod common;

use common::Server;
use common::raw::{Session, Writer, op, req};
use std::io::Write;
use std::net::Shutdown;
use std::time::{Duration, Instant};

/// Eight clients that pipeline getData of a 64 KiB node and never read, as in issue 14.
const SLOW_READERS: usize = 8;
const REQUESTS_EACH: usize = 20_000;
const NODE_BYTES: usize = 64 << 10;
/// What one connection may hold (`docs/architecture.md` §5): 4 MiB of queued output plus one
/// reply, the same again in the write in progress, and a 64 KiB read buffer; rounded up.
const PER_CONNECTION_BOUND: u64 = 10 << 20;
/// The allocator's and the kernel's own share (segments, page tables, socket bookkeeping).
const SLACK: u64 = 48 << 20;

fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("server status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS in /proc/<pid>/status");
    kb << 10
}

/// Requests received over all of the server's connections (`srvr`'s `Received:`).
fn received(server: &Server) -> u64 {
    server
        .four_letter("srvr")
        .lines()
        .find_map(|l| l.strip_prefix("Received: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("srvr reports Received")
}

#[test]
fn slow_readers_hold_bounded_memory_and_give_it_back() {
    let Some(server) =
        Server::start_dedicated("slow_readers_hold_bounded_memory_and_give_it_back", &[])
    else {
        return;
    };
    let pid = server.pid().expect("a spawned server");
    let mut owner = Session::connect(server.addr(), 30_000);
    let path = server.unique_path("big");
    assert_eq!(owner.create(&path, &vec![b'x'; NODE_BYTES], 0).err, 0);
    let before = rss_bytes(pid);

    let mut frame = Vec::new();
    let mut payload = Writer::new().int(1).int(op::GET_DATA).into_vec();
    payload.extend_from_slice(&req::path_watch(&path, false));
    for _ in 0..REQUESTS_EACH {
        frame.extend_from_slice(&(payload.len() as i32).to_be_bytes());
        frame.extend_from_slice(&payload);
    }
    let mut sockets = Vec::new();
    let mut writers = Vec::new();
    for _ in 0..SLOW_READERS {
        let s = Session::connect(server.addr(), 30_000);
        let mut stream = s.conn.stream.try_clone().expect("clone the socket");
        sockets.push(s);
        let frame = frame.clone();
        // The server stops reading once the replies pile up, so the writes block: a thread
        // each, ended by the shutdown below.
        writers.push(std::thread::spawn(move || {
            let _ = stream.write_all(&frame);
        }));
    }
    // Until the server has stopped taking requests from them: `Received` still for a second.
    // A hang guard bounds the wait; the assertions are on memory, not time.
    let mut peak = rss_bytes(pid);
    let mut last = received(&server);
    let guard = Instant::now() + Duration::from_secs(120);
    loop {
        std::thread::sleep(Duration::from_secs(1));
        peak = peak.max(rss_bytes(pid));
        let now = received(&server);
        if now == last {
            break;
        }
        assert!(
            Instant::now() < guard,
            "the slow readers' requests never stopped being read"
        );
        last = now;
    }
    // Another client is served meanwhile, and sees the node whole.
    let mut other = Session::connect(server.addr(), 30_000);
    let reply = other.get_data(&path, false).ok();
    assert_eq!(reply.reader().bytes().map(|d| d.len()), Some(NODE_BYTES));
    assert_eq!(
        other.create(&server.unique_path("meanwhile"), b"", 0).err,
        0
    );
    other.close();
    peak = peak.max(rss_bytes(pid));
    let grown = peak.saturating_sub(before);
    let bound = SLOW_READERS as u64 * PER_CONNECTION_BOUND + SLACK;
    eprintln!(
        "RSS before {} MiB, peak {} MiB (+{} MiB, bound +{} MiB)",
        before >> 20,
        peak >> 20,
        grown >> 20,
        bound >> 20
    );
    assert!(
        grown <= bound,
        "slow readers grew RSS by {} MiB, more than the {} MiB the limits allow",
        grown >> 20,
        bound >> 20
    );

    for s in &sockets {
        let _ = s.conn.stream.shutdown(Shutdown::Both);
    }
    for w in writers {
        let _ = w.join();
    }
    drop(sockets);
    // Given back: within a small margin of where it started, once the connections are gone
    // (`cons` lists only the owner's and its own).
    let guard = Instant::now() + Duration::from_secs(60);
    while server
        .four_letter("cons")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count()
        > 2
    {
        assert!(
            Instant::now() < guard,
            "the slow readers' connections never closed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let margin: u64 = 16 << 20;
    let mut after = rss_bytes(pid);
    let guard = Instant::now() + Duration::from_secs(30);
    while after > before + margin && Instant::now() < guard {
        std::thread::sleep(Duration::from_millis(200));
        after = rss_bytes(pid);
    }
    eprintln!("RSS after the slow readers left: {} MiB", after >> 20);
    assert!(
        after <= before + margin,
        "RSS stayed at {} MiB after the slow readers left (started at {} MiB)",
        after >> 20,
        before >> 20
    );
    owner.close();
}
