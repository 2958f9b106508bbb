//! Partitions of a real 3-member ensemble, made by the test's own TCP proxies between the
//! members (`tests/common/proxy.rs`; topology in `tests/common/ensemble.rs`), and the three ways
//! a member that was away is brought back (ZAB's learner sync):
//! * a follower cut off acknowledges no write sent to it while the majority keeps serving;
//!   healed after a few writes it gets a DIFF, after more than `commitLogCount` (500) a SNAP;
//! * a leader cut off while a client sends it writes logs them but cannot commit them; healed
//!   before the majority wrote anything it is told to TRUNC, and those txns are gone from its
//!   log and never visible on any member; healed after the majority wrote, they are never
//!   visible either.
//!
//! Each test checks the member's log for the sync it got ("Getting a diff", "Getting a
//! snapshot", "Truncating log") and then the data: every acknowledged write on every member,
//! and every member's tree the same.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::ensemble::{Ensemble, SERVE_WAIT_MAX, assert_same_trees, dump};
use common::proxy::{Mode, Proxy};
use common::{guard, persistent};
use zookeeper_client as zk;

fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

// ---- the proxy itself ------------------------------------------------------------------------

/// An echo server on `listener` that counts the bytes it received.
fn echo_server(listener: TcpListener) -> Arc<AtomicU64> {
    let received = Arc::new(AtomicU64::new(0));
    let r = received.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            let r = r.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 1024];
                while let Ok(n) = s.read(&mut buf) {
                    // Counted before the echo: a client that got its echo sees the count.
                    r.fetch_add(n as u64, Ordering::SeqCst);
                    if n == 0 || s.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    received
}

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

fn echo(s: &mut TcpStream, msg: &[u8]) -> std::io::Result<Vec<u8>> {
    s.write_all(msg)?;
    let mut got = vec![0u8; msg.len()];
    s.read_exact(&mut got)?;
    Ok(got)
}

/// Reads until EOF or error: true if the peer closed the connection.
fn closed(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 16];
    matches!(s.read(&mut buf), Ok(0) | Err(_))
}

#[test]
fn proxy_forwards_refuses_and_blackholes_as_told() {
    let echo_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = echo_listener.local_addr().unwrap().port();
    let received = echo_server(echo_listener);
    let proxy = Proxy::start(0, ([127, 0, 0, 1], port).into()).unwrap();
    let mut a = connect(proxy.port());
    assert_eq!(echo(&mut a, b"open").unwrap(), b"open");

    // Refuse: the open connection is closed, a new one is refused.
    proxy.set_mode(Mode::Refuse);
    assert!(closed(&mut a), "an open connection survived Refuse");
    let refused = TcpStream::connect(("127.0.0.1", proxy.port()));
    assert_eq!(
        refused.map(|_| ()).map_err(|e| e.kind()),
        Err(std::io::ErrorKind::ConnectionRefused)
    );

    // Blackhole: an open connection stays up but its bytes vanish; a new one never completes
    // its handshake (a network dropping packets: nothing answers, nothing is refused).
    proxy.set_mode(Mode::Open);
    let mut c = connect(proxy.port());
    assert_eq!(echo(&mut c, b"before").unwrap(), b"before");
    let before = received.load(Ordering::SeqCst);
    proxy.set_mode(Mode::Blackhole);
    c.write_all(b"lost-on-c").unwrap();
    c.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 16];
    assert!(
        c.read(&mut buf).is_err(),
        "an answer came through the blackhole"
    );
    let hanging = TcpStream::connect_timeout(
        &([127, 0, 0, 1], proxy.port()).into(),
        Duration::from_millis(300),
    );
    assert_eq!(
        hanging.map(|_| ()).map_err(|e| e.kind()),
        Err(std::io::ErrorKind::TimedOut),
        "a new connection completed its handshake through the blackhole"
    );

    // Open again: the connections of the partition are closed and nothing written during it
    // ever arrives; new connections work.
    proxy.set_mode(Mode::Open);
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert!(closed(&mut c), "a blackholed connection survived the heal");
    let mut e = connect(proxy.port());
    assert_eq!(echo(&mut e, b"healed").unwrap(), b"healed");
    assert_eq!(
        received.load(Ordering::SeqCst),
        before + b"healed".len() as u64,
        "bytes written during the blackhole reached the server"
    );
    let _ = e.shutdown(Shutdown::Both);
}

#[test]
fn proxy_waits_for_a_target_that_is_about_to_listen() {
    // A port nobody listens on yet.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let proxy = Proxy::start(0, ([127, 0, 0, 1], port).into()).unwrap();
    let mut early = connect(proxy.port());
    early.write_all(b"early").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let received = echo_server(TcpListener::bind(("127.0.0.1", port)).unwrap());
    let mut got = [0u8; 5];
    early.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"early");
    assert_eq!(received.load(Ordering::SeqCst), 5);
}

// ---- helpers ---------------------------------------------------------------------------------

/// Creates `count` nodes `<prefix><i>` through `c`, all in flight at once; panics on an error.
async fn create_many(c: &zk::Client, prefix: &str, count: usize) -> Vec<String> {
    let paths: Vec<String> = (0..count).map(|i| format!("{prefix}{i:04}")).collect();
    let pending: Vec<_> = paths
        .iter()
        .map(|p| c.create(p, p.as_bytes(), &persistent()))
        .collect();
    for (p, f) in paths.iter().zip(pending) {
        guard("create", f)
            .await
            .unwrap_or_else(|e| panic!("create {p}: {e}"));
    }
    paths
}

/// Every member's tree must be the same and hold every path of `present` (with its own path
/// as data) and none of `absent`.
async fn check_members(ens: &Ensemble, present: &[String], absent: &[String]) {
    let mut dumps = Vec::new();
    for id in ens.ids() {
        let c = ens.client(id).await;
        let d = dump(&c, "/").await;
        for p in present {
            let node = d
                .get(p)
                .unwrap_or_else(|| panic!("{p} was acknowledged but is missing on server.{id}"));
            assert_eq!(node.data, p.as_bytes(), "{p} on server.{id}");
        }
        for p in absent {
            assert!(
                !d.contains_key(p),
                "{p} was never committed but is visible on server.{id}"
            );
        }
        dumps.push((id, d));
    }
    assert_same_trees(&dumps, "after the heal");
}

/// A write sent without waiting: its path, its answer, and when the answer came.
type SentWrite = (String, Result<(), zk::Error>, Instant);

/// Sends `create` requests for `paths` through `c` without waiting; each task returns the
/// path, whether it was acknowledged, and when the answer came.
fn send_creates(c: &zk::Client, paths: &[String]) -> Vec<tokio::task::JoinHandle<SentWrite>> {
    paths
        .iter()
        .map(|p| {
            let (c, p) = (c.clone(), p.clone());
            tokio::spawn(async move {
                let r = c.create(&p, p.as_bytes(), &persistent()).await.map(|_| ());
                (p, r, Instant::now())
            })
        })
        .collect()
}

/// The text of `corral data log` over every txn log file of member `id`.
fn logged_txns(ens: &Ensemble, id: u64) -> String {
    let dir = ens.member(id).log_dir().join("version-2");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("log."))
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let mut out = String::new();
    for f in files {
        let o = std::process::Command::new(common::server_binary())
            .args(["data", "log"])
            .arg(&f)
            .output()
            .expect("run corral data log");
        out.push_str(&String::from_utf8_lossy(&o.stdout));
    }
    out
}

fn wait_until(ens: &Ensemble, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + SERVE_WAIT_MAX;
    while !cond() {
        if Instant::now() > deadline {
            panic!("{what}: not within {SERVE_WAIT_MAX:?}\n{}", ens.log_tails());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---- a follower cut off --------------------------------------------------------------------

/// Cuts a follower off (`mode`), sends it writes, lets the majority write `majority_writes`
/// nodes, heals, and checks the sync the follower got (`sync_line` in its log) and the data.
async fn cut_follower_and_heal(mode: Mode, majority_writes: usize, sync_line: &str) {
    let mut ens = Ensemble::start_partitionable(3, &[]);
    let leader = blocking(|| ens.wait_serving());
    let cut = ens.others(leader)[0];
    let majority = ens.others(cut);
    let on_cut = ens.client(cut).await;
    let on_majority = ens
        .client(ens.others(leader).into_iter().find(|m| *m != cut).unwrap())
        .await;
    guard("create /p", on_cut.create("/p", b"/p", &persistent()))
        .await
        .unwrap();
    let mut acked = create_many(&on_cut, "/p/before-", 5).await;
    acked.push("/p".to_string());

    let mark = ens.log_mark(cut);
    ens.isolate(cut, mode);
    let cut_at = Instant::now();
    // Writes sent to the cut-off member: under Blackhole it may still take them (it has not
    // noticed yet) and forward them into the void; under Refuse it stops serving at once.
    let to_cut: Vec<String> = (0..5).map(|i| format!("/p/to-cut-{i}")).collect();
    let sent = send_creates(&on_cut, &to_cut);

    blocking(|| ens.wait_not_serving(cut));
    assert!(
        common::try_handshake_session(&ens.member(cut).addr()).is_none(),
        "server.{cut} cut off from the majority gave a client a session"
    );
    // The majority serves: a leader among the two, writes acknowledged.
    let majority_leader = blocking(|| ens.wait_serving_of(&majority));
    assert_eq!(
        majority_leader, leader,
        "losing a follower moved the leadership"
    );
    let during = create_many(&on_majority, "/p/during-", majority_writes).await;
    acked.extend(during);

    // Nothing sent to the cut-off member was acknowledged while it was cut off.
    let heal_at = Instant::now();
    let mut answered_later = Vec::new();
    for t in sent {
        if t.is_finished() {
            let (p, r, at) = t.await.unwrap();
            assert!(
                r.is_err(),
                "{p} was acknowledged by server.{cut} {:?} after it was cut off",
                at - cut_at
            );
        } else {
            answered_later.push(t);
        }
    }
    ens.heal(cut);
    blocking(|| ens.wait_serving());
    assert_eq!(
        blocking(|| ens.wait_serving()),
        leader,
        "the healed member took the leadership"
    );
    let log = ens.log_since(cut, mark);
    assert!(
        log.contains(sync_line),
        "server.{cut} rejoined without \"{sync_line}\":\n{log}"
    );

    // An answer that came after the heal may be an acknowledgement: then it must be kept.
    for t in answered_later {
        let (p, r, at) = guard("a write sent while cut off", t).await.unwrap();
        if r.is_ok() {
            assert!(at > heal_at, "{p} acknowledged while cut off");
            acked.push(p);
        }
    }
    let after = ens.client(cut).await;
    acked.extend(create_many(&after, "/p/after-", 5).await);
    check_members(&ens, &acked, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_cut_off_acknowledges_nothing_and_rejoins_by_diff() {
    cut_follower_and_heal(Mode::Refuse, 20, "Getting a diff").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_blackholed_past_commit_log_count_rejoins_by_snapshot() {
    cut_follower_and_heal(Mode::Blackhole, 600, "Getting a snapshot").await;
}

// ---- a leader cut off with uncommitted txns ------------------------------------------------

/// Blackholes the leader, has a client send it writes it logs but cannot commit, waits for
/// the majority to elect a leader (and to write `majority_writes` nodes), heals, and checks
/// that the uncommitted writes are never visible and (`expect_trunc`) that the old leader was
/// told to TRUNC and its log no longer holds them.
async fn cut_leader_with_uncommitted_writes(majority_writes: usize, expect_trunc: bool) {
    // Sessions outlive the whole partition, so that no expiry writes in the majority.
    let mut ens = Ensemble::start_partitionable(3, &[("maxSessionTimeout", "30000")]);
    let old = blocking(|| ens.wait_serving());
    let majority = ens.others(old);
    let on_old =
        common::connect_with_timeout(&ens.member(old).addr(), Duration::from_secs(20)).await;
    guard("create /t", on_old.create("/t", b"/t", &persistent()))
        .await
        .unwrap();
    let mut acked = create_many(&on_old, "/t/committed-", 5).await;
    acked.push("/t".to_string());

    let mark = ens.log_mark(old);
    ens.isolate(old, Mode::Blackhole);
    let uncommitted: Vec<String> = (0..5).map(|i| format!("/t/uncommitted-{i}")).collect();
    let sent = send_creates(&on_old, &uncommitted);
    // The old leader still leads until its followers' silence exceeds syncLimit: it logs the
    // writes (the scenario is real only if it did) and proposes them into the void.
    blocking(|| {
        wait_until(&ens, "the old leader logs the uncommitted writes", || {
            let txns = logged_txns(&ens, old);
            uncommitted.iter().all(|p| txns.contains(p.as_str()))
        })
    });
    let new = blocking(|| ens.wait_serving_of(&majority));
    blocking(|| ens.wait_not_serving(old));
    if majority_writes > 0 {
        let c = ens.client(new).await;
        acked.extend(create_many(&c, "/t/majority-", majority_writes).await);
    }

    ens.heal(old);
    assert_eq!(
        blocking(|| ens.wait_serving()),
        new,
        "the healed old leader took over"
    );
    let log = ens.log_since(old, mark);
    if expect_trunc {
        assert!(
            log.contains("Truncating log"),
            "server.{old} rejoined without a TRUNC:\n{log}"
        );
        let txns = logged_txns(&ens, old);
        for p in &uncommitted {
            assert!(
                !txns.contains(p.as_str()),
                "server.{old}'s log still holds the uncommitted create of {p}:\n{txns}"
            );
        }
    }
    for t in sent {
        let (p, r, _) = guard("a write sent to the cut-off leader", t)
            .await
            .unwrap();
        assert!(
            r.is_err(),
            "{p} was acknowledged, but no quorum ever saw it"
        );
    }

    // The old leader serves as a follower, from a history without those txns, also after a
    // restart from its own disk.
    let c = ens.client(old).await;
    acked.extend(create_many(&c, "/t/after-", 5).await);
    check_members(&ens, &acked, &uncommitted).await;
    blocking(|| {
        ens.restart(old);
        ens.wait_serving();
    });
    check_members(&ens, &acked, &uncommitted).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_cut_off_with_uncommitted_writes_is_truncated_when_it_rejoins() {
    cut_leader_with_uncommitted_writes(0, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_cut_off_with_uncommitted_writes_never_shows_them_after_the_majority_wrote() {
    cut_leader_with_uncommitted_writes(20, false).await;
}
