//! Real ensembles for integration tests: 3 or 5 `corral serve` processes on this host, each
//! with its own data and log directories, free ports and log file, replicating through
//! ZooKeeper's quorum protocols over real sockets. Tests drive them from the outside only:
//! four-letter words, `zookeeper_client` sessions, SIGKILL and restarts, the members' logs, and
//! (for partitions) the TCP proxies between them. Members are named by their server id
//! (`myid`, 1-based) everywhere, as in their logs.
//!
//! Topology. Without partitions ([`Ensemble::start`]) every member's `server.N` lines name the
//! real quorum and election ports. With partitions ([`Ensemble::start_partitionable`]) each
//! member has its own view of the ensemble, since corral reads `server.N` per process:
//!
//! ```text
//!   member i's overrides:  server.i = 127.0.0.1:<q_i>:<e_i>          (its own ports: it binds them)
//!                          server.j = 127.0.0.1:<pq_ij>:<pe_ij>      (j != i: proxies i -> j)
//!
//!   i ──► proxy(i→j, quorum)   ──► q_j        j ──► proxy(j→i, quorum)   ──► q_i
//!   i ──► proxy(i→j, election) ──► e_j        j ──► proxy(j→i, election) ──► e_i
//! ```
//!
//! One proxy per ordered pair and port, so every peer connection crosses exactly one proxy
//! that belongs to one pair. Cutting member k off ([`Ensemble::isolate`]) switches the proxies
//! of every pair that has k at either end (connections k opens and connections opened to k);
//! [`Ensemble::heal`] opens them again. Client ports are never proxied: a cut-off member still
//! hears its clients, which is the point of the partition tests. Proxies rather than network
//! namespaces: they need no root, no `ip` tool and no cleanup outside the process, they die
//! with the test, and they can both refuse (a partition peers see at once) and blackhole (one
//! they only see by their timeouts) — see `tests/common/proxy.rs`.
//!
//! Hang guards only: waits panic after generous limits with every member's log tail; nothing
//! here asserts how fast anything happens. Everything is killed, and the directories removed,
//! when the [`Ensemble`] is dropped (`CORRAL_TEST_KEEP_DIRS=1` keeps them after a failure).

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use zookeeper_client as zk;

use super::proxy::{Mode, Proxy};
use super::{free_port, spawn_serve, try_four_letter};

/// Hang guard for an ensemble to elect a leader and sync its followers.
pub const SERVE_WAIT_MAX: Duration = Duration::from_secs(60);
/// Lines of each member's log printed when a test fails.
const LOG_TAIL_LINES: usize = 60;
/// Answer of `srvr` from a member that elects or syncs.
pub const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests";

/// Ports handed out in this process, so that two ensembles of parallel tests never pick the
/// same one between `free_port`'s check and the member's bind.
static RESERVED_PORTS: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

fn reserve_port() -> u16 {
    loop {
        let port = free_port();
        if !bindable_as_client_port(port) {
            continue;
        }
        let mut reserved = RESERVED_PORTS.lock().unwrap();
        if reserved.get_or_insert_with(HashSet::new).insert(port) {
            return port;
        }
    }
}

/// Whether corral could bind `port` as its client port right now. corral binds it with
/// SO_REUSEPORT and without SO_REUSEADDR, so a connection of another socket still in
/// TIME_WAIT on the port makes its bind fail, while `free_port`'s probe (SO_REUSEADDR) passes
/// (and corral then runs on without a client listener: see tests/ensemble.rs).
fn bindable_as_client_port(port: u16) -> bool {
    use socket2::{Domain, Protocol, Socket, Type};
    let Ok(sock) = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)) else {
        return false;
    };
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    sock.set_reuse_port(true).is_ok() && sock.bind(&addr.into()).is_ok()
}

/// What `srvr` says about a member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Leader,
    Follower,
    /// Up, electing or syncing.
    NotServing,
    /// No answer (killed, not started yet, or its port not bound yet).
    Down,
}

/// One member: its ports, files and process.
pub struct Member {
    id: u64,
    client_port: u16,
    quorum_port: u16,
    election_port: u16,
    dir: PathBuf,
    args: Vec<String>,
    child: Option<Child>,
}

impl Member {
    pub fn id(&self) -> u64 {
        self.id
    }

    /// `127.0.0.1:<clientPort>`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.client_port)
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// `dataLogDir`: where its txn log lives (`version-2/log.<zxid>`).
    pub fn log_dir(&self) -> PathBuf {
        self.dir.join("log")
    }

    /// The member's stdout and stderr, appended across restarts.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    fn spawn(&mut self) {
        assert!(
            self.child.is_none(),
            "server.{} is already running",
            self.id
        );
        self.child = Some(spawn_serve(self.args.clone(), &self.log_path()));
    }

    fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Panics (with its log) when the process exited by itself.
    fn check_alive(&mut self) {
        let Some(child) = self.child.as_mut() else {
            return;
        };
        if let Ok(Some(status)) = child.try_wait() {
            self.child = None;
            panic!(
                "server.{} exited by itself ({status}); log:\n{}",
                self.id,
                log_tail(&self.log_path(), LOG_TAIL_LINES)
            );
        }
    }

    pub fn role(&self) -> Role {
        self.role_and_answer().0
    }

    /// For failure messages: what exactly `srvr` gets (the answer, or how the exchange
    /// failed and what arrived before), and which processes listen on the client port.
    pub fn probe_srvr(&self) -> String {
        use std::io::{Read, Write};
        let mut out = String::new();
        match std::net::TcpStream::connect(self.addr()) {
            Err(e) => out.push_str(&format!("connect: {e}")),
            Ok(mut s) => {
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let w = s.write_all(b"srvr");
                let _ = s.shutdown(std::net::Shutdown::Write);
                let mut got = Vec::new();
                let r = s.read_to_end(&mut got);
                out.push_str(&format!(
                    "write {w:?}, read {r:?}: {:?}",
                    String::from_utf8_lossy(&got)
                ));
            }
        }
        let ss = Command::new("ss")
            .args(["-ltnp", &format!("sport = :{}", self.client_port)])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        out.push_str(&format!("; pid {:?}; listeners: {ss}", self.pid()));
        out
    }

    /// The role, and the `srvr` answer it was read from (`None`: no answer).
    pub fn role_and_answer(&self) -> (Role, Option<String>) {
        if self.child.is_none() {
            return (Role::Down, None);
        }
        let answer = try_four_letter(&self.addr(), "srvr", Duration::from_secs(2));
        let role = match &answer {
            None => Role::Down,
            Some(a) if a.contains("Mode: leader") => Role::Leader,
            Some(a) if a.contains("Mode: follower") => Role::Follower,
            Some(a) if a.contains(NOT_SERVING) => Role::NotServing,
            Some(_) => Role::Down,
        };
        (role, answer)
    }
}

/// The two proxies (quorum, election) of one ordered pair of members.
struct PairProxies {
    from: u64,
    to: u64,
    quorum: Proxy,
    election: Proxy,
}

/// An ensemble of `n` members on this host.
pub struct Ensemble {
    members: Vec<Member>,
    proxies: Vec<PairProxies>,
    dir: Option<tempfile::TempDir>,
}

/// Overrides every member gets (a test's extra overrides replace or extend them).
fn default_settings() -> Vec<(String, String)> {
    [
        ("clientPortAddress", "127.0.0.1"),
        ("tickTime", "200"),
        ("initLimit", "10"),
        ("syncLimit", "5"),
        ("4lw.commands.whitelist", "*"),
        ("preAllocSize", "4096"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

impl Ensemble {
    /// Starts `n` members that reach each other directly. Returns at once: call
    /// [`Ensemble::wait_serving`] before using it.
    pub fn start(n: usize, extra: &[(&str, &str)]) -> Ensemble {
        Self::start_inner(n, extra, false)
    }

    /// Starts `n` members whose peer connections cross test-controlled proxies (module doc),
    /// so that [`Ensemble::isolate`] and [`Ensemble::heal`] work.
    pub fn start_partitionable(n: usize, extra: &[(&str, &str)]) -> Ensemble {
        Self::start_inner(n, extra, true)
    }

    fn start_inner(n: usize, extra: &[(&str, &str)], proxied: bool) -> Ensemble {
        assert!(n >= 3, "an ensemble of {n} cannot lose a member");
        let dir = tempfile::Builder::new()
            .prefix("corral-ensemble-")
            .tempdir()
            .expect("create temp dir");
        let ids: Vec<u64> = (1..=n as u64).collect();
        let ports: Vec<(u16, u16, u16)> = ids
            .iter()
            .map(|_| (reserve_port(), reserve_port(), reserve_port()))
            .collect();
        let mut proxies = Vec::new();
        if proxied {
            for &from in &ids {
                for &to in &ids {
                    if from == to {
                        continue;
                    }
                    let (_, q, e) = ports[(to - 1) as usize];
                    proxies.push(PairProxies {
                        from,
                        to,
                        quorum: start_proxy(q),
                        election: start_proxy(e),
                    });
                }
            }
        }
        let mut members = Vec::new();
        for &id in &ids {
            let (client_port, quorum_port, election_port) = ports[(id - 1) as usize];
            let mdir = dir.path().join(format!("n{id}"));
            std::fs::create_dir_all(mdir.join("data")).expect("create data dir");
            std::fs::create_dir_all(mdir.join("log")).expect("create log dir");
            let mut settings = default_settings();
            settings.push(("dataDir".into(), mdir.join("data").display().to_string()));
            settings.push(("dataLogDir".into(), mdir.join("log").display().to_string()));
            settings.push(("clientPort".into(), client_port.to_string()));
            settings.push(("myid".into(), id.to_string()));
            for &peer in &ids {
                let (q, e) = if peer == id || !proxied {
                    let (_, q, e) = ports[(peer - 1) as usize];
                    (q, e)
                } else {
                    let p = proxies
                        .iter()
                        .find(|p| p.from == id && p.to == peer)
                        .expect("a proxy per pair");
                    (p.quorum.port(), p.election.port())
                };
                settings.push((format!("server.{peer}"), format!("127.0.0.1:{q}:{e}")));
            }
            for (k, v) in extra {
                settings.retain(|(key, _)| key != k);
                settings.push((k.to_string(), v.to_string()));
            }
            members.push(Member {
                id,
                client_port,
                quorum_port,
                election_port,
                dir: mdir,
                args: settings.iter().map(|(k, v)| format!("{k}={v}")).collect(),
                child: None,
            });
        }
        let mut ensemble = Ensemble {
            members,
            proxies,
            dir: Some(dir),
        };
        for m in &mut ensemble.members {
            m.spawn();
        }
        ensemble
    }

    /// Server ids, `1..=n`.
    pub fn ids(&self) -> Vec<u64> {
        self.members.iter().map(|m| m.id).collect()
    }

    pub fn member(&self, id: u64) -> &Member {
        self.members
            .iter()
            .find(|m| m.id == id)
            .unwrap_or_else(|| panic!("no server.{id}"))
    }

    fn member_mut(&mut self, id: u64) -> &mut Member {
        self.members
            .iter_mut()
            .find(|m| m.id == id)
            .unwrap_or_else(|| panic!("no server.{id}"))
    }

    /// Every member's client address, comma-separated (a `zookeeper_client` connect string).
    pub fn connect_string(&self) -> String {
        self.connect_string_of(&self.ids())
    }

    pub fn connect_string_of(&self, ids: &[u64]) -> String {
        ids.iter()
            .map(|id| self.member(*id).addr())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Server ids of the members whose process runs.
    pub fn running(&self) -> Vec<u64> {
        self.members
            .iter()
            .filter(|m| m.is_running())
            .map(|m| m.id)
            .collect()
    }

    /// Waits until every running member serves: one leader, the rest followers. Returns the
    /// leader's id.
    pub fn wait_serving(&mut self) -> u64 {
        let ids = self.running();
        self.wait_serving_of(&ids)
    }

    /// Waits until the members `ids` serve, exactly one of them as the leader.
    pub fn wait_serving_of(&mut self, ids: &[u64]) -> u64 {
        let deadline = Instant::now() + SERVE_WAIT_MAX;
        loop {
            for id in ids {
                self.member_mut(*id).check_alive();
            }
            let roles: Vec<(u64, Role)> = ids.iter().map(|id| (*id, self.role(*id))).collect();
            let leaders: Vec<u64> = roles
                .iter()
                .filter(|(_, r)| *r == Role::Leader)
                .map(|(id, _)| *id)
                .collect();
            let all_serve = roles
                .iter()
                .all(|(_, r)| matches!(r, Role::Leader | Role::Follower));
            if all_serve && leaders.len() == 1 {
                return leaders[0];
            }
            if Instant::now() > deadline {
                let answers: Vec<_> = ids
                    .iter()
                    .map(|id| (*id, self.member(*id).probe_srvr()))
                    .collect();
                panic!(
                    "members {ids:?} did not serve with one leader within {SERVE_WAIT_MAX:?}: \
                     roles {roles:?}, srvr answers {answers:?}\n{}",
                    self.log_tails()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until member `id` answers `srvr` with "not currently serving".
    pub fn wait_not_serving(&mut self, id: u64) {
        let deadline = Instant::now() + SERVE_WAIT_MAX;
        loop {
            self.member_mut(id).check_alive();
            if self.role(id) == Role::NotServing {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "server.{id} still serves after {SERVE_WAIT_MAX:?}\n{}",
                    self.log_tails()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn role(&self, id: u64) -> Role {
        self.member(id).role()
    }

    /// The member that says it leads right now, if exactly one does.
    pub fn leader(&self) -> Option<u64> {
        let leaders: Vec<u64> = self
            .running()
            .into_iter()
            .filter(|id| self.role(*id) == Role::Leader)
            .collect();
        (leaders.len() == 1).then(|| leaders[0])
    }

    /// Running members that are not `id`.
    pub fn others(&self, id: u64) -> Vec<u64> {
        self.running().into_iter().filter(|m| *m != id).collect()
    }

    /// SIGKILLs member `id` (no clean shutdown).
    pub fn kill9(&mut self, id: u64) {
        self.member_mut(id).kill9();
    }

    /// Starts member `id` again on the same directories and ports (SIGKILLs it first if it
    /// runs). Returns at once: wait for it with [`Ensemble::wait_serving`].
    pub fn restart(&mut self, id: u64) {
        let m = self.member_mut(id);
        m.kill9();
        m.spawn();
    }

    /// Sends a four-letter word to member `id` (`None`: no answer).
    pub fn four_letter(&self, id: u64, word: &str) -> Option<String> {
        try_four_letter(&self.member(id).addr(), word, Duration::from_secs(5))
    }

    /// The member whose `cons` lists `session` (its id as the client knows it).
    pub fn member_holding_session(&self, session: i64) -> Option<u64> {
        let needle = format!("sid=0x{session:x},");
        self.running().into_iter().find(|id| {
            self.four_letter(*id, "cons")
                .is_some_and(|cons| cons.contains(&needle))
        })
    }

    /// The whole log of member `id`.
    pub fn log(&self, id: u64) -> String {
        std::fs::read_to_string(self.member(id).log_path()).unwrap_or_default()
    }

    /// The log of member `id` from byte `mark` (a length [`Ensemble::log_mark`] returned).
    pub fn log_since(&self, id: u64, mark: usize) -> String {
        let text = self.log(id);
        text.get(mark..).unwrap_or_default().to_string()
    }

    /// The current length of member `id`'s log, to read only what follows later.
    pub fn log_mark(&self, id: u64) -> usize {
        std::fs::metadata(self.member(id).log_path()).map_or(0, |m| m.len() as usize)
    }

    /// The last lines of every member's log.
    pub fn log_tails(&self) -> String {
        let mut out = String::new();
        for m in &self.members {
            out.push_str(&format!(
                "---- server.{} ({}, {}) log tail ----\n{}\n",
                m.id,
                m.addr(),
                if m.is_running() { "running" } else { "down" },
                log_tail(&m.log_path(), LOG_TAIL_LINES)
            ));
        }
        out.push_str("---- end of member logs ----");
        out
    }

    /// Cuts member `id` off from every other member: the proxies of every pair with `id` at
    /// either end switch to `mode` ([`Mode::Refuse`] or [`Mode::Blackhole`]). Its clients
    /// still reach it.
    pub fn isolate(&self, id: u64, mode: Mode) {
        assert!(mode != Mode::Open, "isolate with Refuse or Blackhole");
        self.set_links(id, mode);
    }

    /// Opens every proxy of `id` again (after [`Ensemble::isolate`]).
    pub fn heal(&self, id: u64) {
        self.set_links(id, Mode::Open);
    }

    /// Sets the mode of the proxy `from` uses to reach `to`'s quorum port (`election`: false)
    /// or election port (`election`: true): one direction of one link.
    pub fn set_link(&self, from: u64, to: u64, election: bool, mode: Mode) {
        let p = self
            .proxies
            .iter()
            .find(|p| p.from == from && p.to == to)
            .expect("partitions need Ensemble::start_partitionable");
        if election {
            p.election.set_mode(mode);
        } else {
            p.quorum.set_mode(mode);
        }
    }

    fn set_links(&self, id: u64, mode: Mode) {
        assert!(
            !self.proxies.is_empty(),
            "partitions need Ensemble::start_partitionable"
        );
        for p in &self.proxies {
            if p.from == id || p.to == id {
                p.quorum.set_mode(mode);
                p.election.set_mode(mode);
            }
        }
    }

    /// A session on member `id` only.
    pub async fn client(&self, id: u64) -> zk::Client {
        super::connect(&self.member(id).addr()).await
    }

    /// A session on any member (the client picks, and moves when its member fails).
    pub async fn client_any(&self) -> zk::Client {
        super::connect(&self.connect_string()).await
    }
}

fn start_proxy(target_port: u16) -> Proxy {
    let target: SocketAddr = ([127, 0, 0, 1], target_port).into();
    for _ in 0..20 {
        if let Ok(p) = Proxy::start(reserve_port(), target) {
            return p;
        }
    }
    panic!("no free port for a proxy to {target}");
}

fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

impl Drop for Ensemble {
    fn drop(&mut self) {
        for m in &mut self.members {
            m.kill9();
        }
        self.proxies.clear();
        if std::thread::panicking() {
            eprintln!("{}", self.log_tails());
            let keep = std::env::var("CORRAL_TEST_KEEP_DIRS").is_ok_and(|v| v == "1");
            if keep && let Some(dir) = self.dir.take() {
                eprintln!("kept the ensemble's files in {}", dir.keep().display());
            }
        }
    }
}

/// One znode as a dump shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub data: Vec<u8>,
    pub stat: zk::Stat,
}

/// Every node under `root` (itself included) with its data and stat, read through `client`
/// after a `sync` (so a member's dump shows everything committed before the call). Reads of
/// one level are sent before any answer is awaited.
pub async fn dump(client: &zk::Client, root: &str) -> BTreeMap<String, Node> {
    super::guard("sync before dump", client.sync(root))
        .await
        .unwrap_or_else(|e| panic!("sync {root}: {e}"));
    let mut out = BTreeMap::new();
    let mut level = vec![root.to_string()];
    while !level.is_empty() {
        let reads: Vec<_> = level
            .iter()
            .map(|p| (p.clone(), client.get_data(p), client.list_children(p)))
            .collect();
        let mut next = Vec::new();
        for (path, data, children) in reads {
            let (data, stat) = super::guard("dump get_data", data)
                .await
                .unwrap_or_else(|e| panic!("get_data {path}: {e}"));
            let children = super::guard("dump list_children", children)
                .await
                .unwrap_or_else(|e| panic!("list_children {path}: {e}"));
            for c in children {
                let child = if path == "/" {
                    format!("/{c}")
                } else {
                    format!("{path}/{c}")
                };
                // /zookeeper holds each member's own view of the ensemble (its config).
                if child != "/zookeeper" {
                    next.push(child);
                }
            }
            out.insert(path, Node { data, stat });
        }
        level = next;
    }
    out
}

/// Panics, naming `when` and the first differences, unless every member's dump equals the
/// first one's, stat for stat.
pub fn assert_same_trees(dumps: &[(u64, BTreeMap<String, Node>)], when: &str) {
    let Some((first, reference)) = dumps.first() else {
        return;
    };
    for (id, d) in &dumps[1..] {
        if let Some(diff) = dump_diff(
            &format!("server.{first}"),
            reference,
            &format!("server.{id}"),
            d,
        ) {
            panic!("members differ {when}: {diff}");
        }
    }
}

/// Describes how two dumps differ (first few differences), or `None` if they are equal.
fn dump_diff(
    a_name: &str,
    a: &BTreeMap<String, Node>,
    b_name: &str,
    b: &BTreeMap<String, Node>,
) -> Option<String> {
    let mut diffs = Vec::new();
    for (path, na) in a {
        match b.get(path) {
            None => diffs.push(format!("{path}: on {a_name}, missing on {b_name}")),
            Some(nb) if nb != na => diffs.push(format!(
                "{path}: {a_name} has {:?} {:?}, {b_name} has {:?} {:?}",
                String::from_utf8_lossy(&na.data),
                na.stat,
                String::from_utf8_lossy(&nb.data),
                nb.stat
            )),
            Some(_) => {}
        }
    }
    for path in b.keys() {
        if !a.contains_key(path) {
            diffs.push(format!("{path}: on {b_name}, missing on {a_name}"));
        }
    }
    if diffs.is_empty() {
        return None;
    }
    let total = diffs.len();
    diffs.truncate(10);
    Some(format!(
        "{total} differences, first ones:\n{}",
        diffs.join("\n")
    ))
}
