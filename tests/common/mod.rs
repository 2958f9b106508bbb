//! Integration-test harness: starts a real `corral serve` process on a free port with its own
//! data directory (or uses an external server named by `CORRAL_TEST_EXTERNAL=host:port`), talks
//! four-letter words, and offers a raw-socket ZooKeeper client with its own minimal jute codec
//! (`raw`) for protocol-level tests. `ensemble` starts real 3- and 5-member ensembles, with
//! `proxy` between their members for partitions; `linear` checks recorded histories.
//!
//! It never depends on corral's library: the point of these tests is to check the server from
//! the outside, as an unmodified client would see it.
//!
//! Environment:
//! * `CORRAL_TEST_EXTERNAL=host:port` — do not spawn; use that server (tests that need their own
//!   server flags skip themselves).
//! * `ZK_REF_38=1` — the external server is Apache ZooKeeper 3.8: tests of 3.9-only behaviour
//!   skip themselves.
//! * `CORRAL_TEST_BIN=/path` — spawn this executable instead of the cargo-built `corral` (it must
//!   accept the same `serve --override key=value` command line; `tests/common/zk-ref-serve.sh`
//!   is such a wrapper around Apache ZooKeeper, used to check the harness itself).
#![allow(dead_code)]

pub mod ensemble;
pub mod linear;
pub mod proxy;
pub mod raw;

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use zookeeper_client as zk;

/// How long a spawned server may take to answer `ruok`.
const READY_WAIT_MAX: Duration = Duration::from_secs(20);
/// Hang guard for any single network read in the helpers. Never an assertion about speed.
pub const IO_GUARD: Duration = Duration::from_secs(15);
/// Lines of the server log printed when a test fails.
const LOG_TAIL_LINES: usize = 80;

/// `host:port` of an external server, if the suite runs against one.
pub fn external_addr() -> Option<String> {
    std::env::var("CORRAL_TEST_EXTERNAL")
        .ok()
        .filter(|s| !s.trim().is_empty())
}

pub fn is_external() -> bool {
    external_addr().is_some()
}

/// True when the server under test is Apache ZooKeeper 3.8 (3.9-only assertions are skipped).
pub fn is_zk38() -> bool {
    std::env::var("ZK_REF_38").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Prints why a test is skipped; call it right before an early `return`.
pub fn skip(test: &str, why: &str) {
    eprintln!("SKIPPED {test}: {why}");
}

/// Returns true (and prints a note) when the test needs 3.9 behaviour but runs against 3.8.
pub fn skip_on_zk38(test: &str, why: &str) -> bool {
    if is_zk38() {
        skip(test, &format!("ZK_REF_38 set: {why}"));
        return true;
    }
    false
}

/// Parent of every node the tests create through [`Server::unique_path`]. One shared top-level
/// node keeps an external server's per-namespace metrics (one set per top-level znode in
/// ZooKeeper's `mntr`) from growing with every run.
pub const TEST_ROOT: &str = "/itest";

fn unique_name(tag: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{tag}-{}-{n}-{nanos:x}", std::process::id())
}

/// A port that is free right now, picked below Linux's ephemeral range (32768+) so that the
/// outgoing connections of parallel tests cannot take it between our check and the server's bind.
///
/// A port is handed out once per test process: two tests of one binary run in parallel, and
/// servers bind their client port with SO_REUSEPORT, so two of them given the same port would
/// both bind it and share its connections.
pub fn free_port() -> u16 {
    use rand::Rng as _;
    static GIVEN: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    let mut rng = rand::thread_rng();
    for _ in 0..200 {
        let port = rng.gen_range(20_000..32_000);
        if !given.contains(&port) && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            given.insert(port);
            return port;
        }
    }
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = listener.local_addr().expect("local addr").port();
    given.insert(port);
    port
}

/// How many times a fresh server is retried on a new port when it dies before it is ready
/// (another process took the port).
const START_ATTEMPTS: usize = 3;

/// Starts `corral serve` with each of `overrides` (`key=value`) as an `--override`, stdin
/// closed, stdout and stderr appended to the file at `log`.
pub fn spawn_serve(overrides: impl IntoIterator<Item = String>, log: &std::path::Path) -> Child {
    let out = File::options()
        .create(true)
        .append(true)
        .open(log)
        .unwrap_or_else(|e| panic!("open server log {}: {e}", log.display()));
    let err = out.try_clone().expect("clone log handle");
    let mut cmd = Command::new(server_binary());
    cmd.arg("serve");
    for o in overrides {
        cmd.arg("--override").arg(o);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {:?}: {e}", server_binary()))
}

/// The executable the harness spawns (see `CORRAL_TEST_BIN` above).
pub fn server_binary() -> PathBuf {
    match std::env::var_os("CORRAL_TEST_BIN") {
        Some(bin) if !bin.is_empty() => PathBuf::from(bin),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_corral")),
    }
}

/// A server under test: a spawned process we own, or an external address.
pub struct Server {
    addr: String,
    port: u16,
    child: Option<Child>,
    dir: Option<tempfile::TempDir>,
    extra: Vec<(String, String)>,
    test_root_ready: std::sync::OnceLock<()>,
}

impl Server {
    /// Starts a server with the default test settings (or attaches to the external one).
    pub fn start() -> Server {
        Self::start_with(&[])
    }

    /// Starts a server with extra `--override key=value` settings. With an external server the
    /// settings cannot be applied: use [`Server::start_dedicated`] when they matter.
    pub fn start_with(extra: &[(&str, &str)]) -> Server {
        if let Some(addr) = external_addr() {
            let port = addr
                .rsplit(':')
                .next()
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            return Server {
                addr,
                port,
                child: None,
                dir: None,
                extra: Vec::new(),
                test_root_ready: std::sync::OnceLock::new(),
            };
        }
        let dir = tempfile::Builder::new()
            .prefix("corral-itest-")
            .tempdir()
            .expect("create temp dir");
        let port = free_port();
        let mut server = Server {
            addr: format!("127.0.0.1:{port}"),
            port,
            child: None,
            dir: Some(dir),
            extra: extra
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            test_root_ready: std::sync::OnceLock::new(),
        };
        for attempt in 1..=START_ATTEMPTS {
            match server.spawn_and_wait() {
                Ok(()) => return server,
                Err(why) if attempt < START_ATTEMPTS => {
                    eprintln!(
                        "server start attempt {attempt} failed ({why}); retrying on a new port"
                    );
                    server.port = free_port();
                    server.addr = format!("127.0.0.1:{}", server.port);
                }
                Err(why) => panic!("{why}"),
            }
        }
        unreachable!("the last attempt panics")
    }

    /// Starts a server of our own with the given settings; returns `None` (after printing a
    /// skip note) when the suite runs against an external server.
    pub fn start_dedicated(test: &str, extra: &[(&str, &str)]) -> Option<Server> {
        if is_external() {
            skip(
                test,
                "needs its own server process (CORRAL_TEST_EXTERNAL is set)",
            );
            return None;
        }
        Some(Self::start_with(extra))
    }

    /// A fresh absolute znode path under [`TEST_ROOT`] (created on first use), unique across
    /// tests and runs, so that tests can share one external server.
    pub fn unique_path(&self, tag: &str) -> String {
        self.test_root_ready.get_or_init(|| {
            let mut s = raw::Session::connect(&self.addr, 30_000);
            let err = s.create(TEST_ROOT, b"", 0).err;
            assert!(
                err == 0 || err == raw::err::NODE_EXISTS,
                "create {TEST_ROOT}: err {err}"
            );
            s.close();
        });
        format!("{TEST_ROOT}/{}", unique_name(tag))
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn is_spawned(&self) -> bool {
        self.dir.is_some()
    }

    pub fn data_dir(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.path().join("data"))
    }

    fn log_path(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.path().join("server.log"))
    }

    /// Spawns the server and waits until it is ready. `Err` when the process exited early;
    /// panics when it hangs.
    fn spawn_and_wait(&mut self) -> Result<(), String> {
        let dir = self.dir.as_ref().expect("spawned server has a dir").path();
        let data_dir = dir.join("data");
        std::fs::create_dir_all(&data_dir).expect("create data dir");
        let mut settings: Vec<(String, String)> = vec![
            ("clientPort".into(), self.port.to_string()),
            ("clientPortAddress".into(), "127.0.0.1".into()),
            ("dataDir".into(), data_dir.display().to_string()),
            ("4lw.commands.whitelist".into(), "*".into()),
            ("tickTime".into(), "200".into()),
            // Small log segments: many servers start in one run.
            ("preAllocSize".into(), "4096".into()),
        ];
        for (k, v) in &self.extra {
            settings.retain(|(key, _)| key != k);
            settings.push((k.clone(), v.clone()));
        }
        let overrides = settings.iter().map(|(k, v)| format!("{k}={v}"));
        self.child = Some(spawn_serve(overrides, &dir.join("server.log")));

        let deadline = Instant::now() + READY_WAIT_MAX;
        loop {
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                self.child = None;
                return Err(format!(
                    "server on {} exited before it was ready ({status}); log:\n{}",
                    self.addr,
                    self.log_tail()
                ));
            }
            if server_is_ready(&self.addr) {
                return Ok(());
            }
            if Instant::now() > deadline {
                panic!(
                    "server on {} did not answer ruok within {:?}; log:\n{}",
                    self.addr,
                    READY_WAIT_MAX,
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The spawned server's process id (`None` for an external server).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Sends a four-letter word and returns the whole answer.
    pub fn four_letter(&self, word: &str) -> String {
        four_letter(&self.addr, word)
    }

    /// SIGKILLs the spawned server (no clean shutdown). Panics for an external server.
    pub fn kill9(&mut self) {
        assert!(self.is_spawned(), "kill9 needs a spawned server");
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops (SIGKILL) and starts the server again on the same port and data directory.
    pub fn restart(&mut self) {
        self.kill9();
        // Same port: retry a few times in case the old socket is still being torn down.
        for attempt in 1..=START_ATTEMPTS {
            match self.spawn_and_wait() {
                Ok(()) => return,
                Err(why) if attempt < START_ATTEMPTS => {
                    eprintln!("restart attempt {attempt} failed ({why}); retrying");
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(why) => panic!("{why}"),
            }
        }
    }

    /// SIGKILLs the server and starts it once on the same data: `Err` with the log tail when it
    /// exits instead of serving (e.g. it refuses corrupt data).
    pub fn try_restart(&mut self) -> Result<(), String> {
        self.kill9();
        self.spawn_and_wait()
    }

    /// The directory of the spawned server's files (data, log).
    pub fn base_dir(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.path().to_path_buf())
    }

    /// The last lines of the server log (empty for an external server).
    pub fn log_tail(&self) -> String {
        let Some(path) = self.log_path() else {
            return String::new();
        };
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(LOG_TAIL_LINES);
        lines[from..].join("\n")
    }

    /// A client connected to this server with the default test session timeout.
    pub async fn client(&self) -> zk::Client {
        connect(&self.addr).await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() && self.is_spawned() {
            eprintln!(
                "---- server log tail ({}) ----\n{}\n---- end of server log ----",
                self.addr,
                self.log_tail()
            );
        }
    }
}

/// Ready = `ruok` answers `imok` (or is refused by the whitelist) and a ZooKeeper handshake
/// succeeds: Apache ZooKeeper answers `imok` before it serves sessions, so `ruok` alone is not
/// enough to drive it.
fn server_is_ready(addr: &str) -> bool {
    let probe_guard = Duration::from_secs(2);
    let alive = match try_four_letter(addr, "ruok", probe_guard) {
        Some(answer) => answer == "imok" || answer.contains("not in the whitelist"),
        None => false,
    };
    alive && try_handshake(addr, probe_guard)
}

/// Opens a session on `addr` with a raw handshake: its id, or `None` when
/// the server closed the connection or answered with session 0.
pub fn try_handshake_session(addr: &str) -> Option<i64> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(IO_GUARD)).ok()?;
    let body = raw::ConnectRequest::new_session(30_000).encode();
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    stream.write_all(&frame).ok()?;
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).ok()?;
    let len = i32::from_be_bytes(len);
    if !(16..=64).contains(&len) {
        return None;
    }
    let mut resp = vec![0u8; len as usize];
    stream.read_exact(&mut resp).ok()?;
    let session = i64::from_be_bytes(resp[8..16].try_into().ok()?);
    (session != 0).then_some(session)
}

fn try_handshake(addr: &str, guard: Duration) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return false;
    };
    if stream.set_read_timeout(Some(guard)).is_err() {
        return false;
    }
    let body = raw::ConnectRequest::new_session(30_000).encode();
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    if stream.write_all(&frame).is_err() {
        return false;
    }
    let mut len = [0u8; 4];
    if stream.read_exact(&mut len).is_err() {
        return false;
    }
    let len = i32::from_be_bytes(len);
    if !(36..=64).contains(&len) {
        return false;
    }
    let mut resp = vec![0u8; len as usize];
    if stream.read_exact(&mut resp).is_err() {
        return false;
    }
    // Close the probe session and wait for the server to drop the connection, so that neither
    // the session nor the connection is still counted when the test starts.
    let close = [0, 0, 0, 8, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xf5];
    if stream.write_all(&close).is_err() {
        return false;
    }
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    true
}

/// Sends `word` to `addr` and reads the answer until the server closes the connection.
pub fn four_letter(addr: &str, word: &str) -> String {
    try_four_letter(addr, word, IO_GUARD)
        .unwrap_or_else(|| panic!("four-letter word {word} to {addr} failed"))
}

pub fn try_four_letter(addr: &str, word: &str, guard: Duration) -> Option<String> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(guard)).ok()?;
    stream.set_write_timeout(Some(guard)).ok()?;
    stream.write_all(word.as_bytes()).ok()?;
    let _ = stream.shutdown(Shutdown::Write);
    let mut out = Vec::new();
    stream.read_to_end(&mut out).ok()?;
    String::from_utf8(out).ok()
}

/// Session timeout the tests ask for; a server clamps it to [2, 20] ticks.
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects a `zookeeper-client` session to `addr`.
pub async fn connect(addr: &str) -> zk::Client {
    connect_with_timeout(addr, SESSION_TIMEOUT).await
}

pub async fn connect_with_timeout(addr: &str, timeout: Duration) -> zk::Client {
    let mut connector = zk::Client::connector();
    connector.session_timeout(timeout);
    match tokio::time::timeout(IO_GUARD, connector.connect(addr)).await {
        Ok(Ok(client)) => client,
        Ok(Err(e)) => panic!("connect to {addr}: {e}"),
        Err(_) => panic!("connect to {addr}: no session within {IO_GUARD:?}"),
    }
}

/// Awaits `fut` but fails the test instead of hanging forever.
pub async fn guard<F: std::future::Future>(what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(IO_GUARD, fut).await {
        Ok(out) => out,
        Err(_) => panic!("{what}: nothing happened within {IO_GUARD:?}"),
    }
}

/// Persistent, open-ACL create options.
pub fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

/// Creates `path` (persistent, open ACL, empty data) and returns its stat.
pub async fn mk(client: &zk::Client, path: &str) -> zk::Stat {
    let (stat, _) = client
        .create(path, b"", &persistent())
        .await
        .unwrap_or_else(|e| panic!("create {path}: {e}"));
    stat
}

/// Deletes `path` and everything below it; missing nodes are fine. Used for cleanup on shared
/// external servers.
pub async fn rmr(client: &zk::Client, path: &str) {
    let mut stack = vec![path.to_string()];
    let mut order = Vec::new();
    while let Some(p) = stack.pop() {
        if let Ok(children) = client.list_children(&p).await {
            for c in children {
                stack.push(format!("{p}/{c}"));
            }
        }
        order.push(p);
    }
    for p in order.iter().rev() {
        let _ = client.delete(p, None).await;
    }
}

/// `digest` scheme id for `user:password`: `user:base64(sha1("user:password"))`.
pub fn digest_id(user: &str, password: &str) -> String {
    use base64::Engine as _;
    use sha1::Digest as _;
    let hash = sha1::Sha1::digest(format!("{user}:{password}").as_bytes());
    format!(
        "{user}:{}",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}
