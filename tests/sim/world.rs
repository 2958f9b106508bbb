//! The simulated world: 3 or 5 real sequencer cores (`corral::sequencer`)
//! in one thread, a seeded network and seeded disks around them, clients,
//! faults, and the checks. Everything that happens is an event in one
//! queue ordered by (virtual time, sequence number), so a seed replays
//! exactly.
//!
//! What is real: the cores (prep, pipeline, ZAB roles, election), the wire
//! codecs (every packet is encoded by its sender and decoded by its
//! receiver), and the storage code on each node's own directory (log
//! segments in ZooKeeper's format, epoch files, snapshots, SNAP streams,
//! truncation, recovery after a crash). What is simulated: time, the
//! network (per-connection FIFO with delays; partitions; resets), and
//! durability (a log write lands in the file at once but is durable only
//! when its completion fires; a crash cuts the file back to what was
//! durable, sometimes leaving a torn prefix of the write in flight).

use bytes::{Bytes, BytesMut};
use corral::proto::quorum::{PacketType, QuorumPacket};
use corral::proto::request::Request;
use corral::proto::{ErrorCode, Response, SessionId, ZData, Zxid};
use corral::sequencer::messages::{Reply, ToSequencer};
use corral::sequencer::prep::{PrepConfig, WriteRequest};
use corral::sequencer::{Action, Epochs, Input, Mode, Now, PeerId, SeqConfig, Sequencer};
use corral::storage::{epoch, format, recovery, snap_stream, snapshot, truncate};
use corral::tree::{AuthContext, DataTree};
use corral::zab::ServerId;
use corral::zab::quorum::{Ensemble, Member};
use parking_lot::RwLock;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Wall-clock milliseconds at virtual time 0 (txn times).
const WALL_BASE_MS: i64 = 1_767_225_600_000;
const TICK_MS: i64 = 100;
const SESSION_TIMEOUT_MS: i32 = 6_000;
const KEYS: usize = 5;
/// Trace lines kept for a failure report.
const TRACE_LINES: usize = 400;

/// What may go wrong, and how often (per fault step).
#[derive(Clone, Debug)]
pub struct Faults {
    pub crash: f64,
    pub restart: f64,
    pub partition: f64,
    pub heal: f64,
    pub disk_error: f64,
    pub reset_connection: f64,
    pub slow_disk: f64,
    pub drop_election: f64,
}

impl Faults {
    pub fn none() -> Faults {
        Faults {
            crash: 0.0,
            restart: 0.0,
            partition: 0.0,
            heal: 0.0,
            disk_error: 0.0,
            reset_connection: 0.0,
            slow_disk: 0.0,
            drop_election: 0.0,
        }
    }

    pub fn all() -> Faults {
        Faults {
            crash: 0.15,
            restart: 0.3,
            partition: 0.1,
            heal: 0.2,
            disk_error: 0.05,
            reset_connection: 0.05,
            slow_disk: 0.1,
            drop_election: 0.05,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Params {
    pub seed: u64,
    pub members: usize,
    pub clients: usize,
    /// Virtual milliseconds with faults, then without (liveness).
    pub fault_ms: i64,
    pub calm_ms: i64,
    pub faults: Faults,
    pub force_snapshot_sync: bool,
    pub snap_count: u32,
    /// Where a leader's zxid counter starts in each epoch (near the top to
    /// force rollovers).
    pub epoch_counter_start: u32,
}

impl Params {
    pub fn new(seed: u64, members: usize) -> Params {
        Params {
            seed,
            members,
            clients: 4,
            fault_ms: 20_000,
            calm_ms: 30_000,
            faults: Faults::all(),
            force_snapshot_sync: false,
            snap_count: 200,
            epoch_counter_start: 0,
        }
    }
}

/// A crash triggered by a packet: when `node` sends a packet of `kind`
/// (the `nth` time), it crashes right after the send (the packet is out).
#[derive(Clone, Debug)]
pub struct CrashOnSend {
    pub node: usize,
    pub kind: PacketType,
    pub nth: u32,
    pub seen: u32,
    pub also_crash: Vec<usize>,
}

enum Ev {
    Input {
        node: usize,
        inc: u64,
        input: Input,
    },
    LogDone {
        node: usize,
        inc: u64,
        write: u64,
    },
    Tick {
        node: usize,
        inc: u64,
    },
    Snap {
        node: usize,
        inc: u64,
        zxid: Zxid,
        bytes: Bytes,
    },
    ClientStep {
        client: usize,
    },
    Fault,
    Crash {
        node: usize,
    },
}

struct Sched {
    at: i64,
    n: u64,
    ev: Ev,
}

impl PartialEq for Sched {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.n) == (o.at, o.n)
    }
}
impl Eq for Sched {}
impl PartialOrd for Sched {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Sched {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.n).cmp(&(o.at, o.n))
    }
}

struct InFlight {
    write: u64,
    path: PathBuf,
    start: u64,
    len: u64,
    last_zxid: Zxid,
}

/// A node's log: segments in its log directory, what of them is durable.
struct SimLog {
    seg: Option<PathBuf>,
    /// Bytes of the current segment that are durable.
    durable: u64,
    in_flight: Option<InFlight>,
    /// The last zxid appended (strictly increasing, checked).
    last_zxid: Zxid,
    /// The last zxid on disk for good (its write completed, or recovered).
    durable_zxid: Zxid,
    next_write: u64,
    /// The next write fails with this error.
    fail_next: Option<std::io::ErrorKind>,
    /// Extra latency while the disk is slow (until that time).
    slow_until: i64,
}

pub struct Node {
    pub id: ServerId,
    dir: PathBuf,
    inc: u64,
    pub seq: Option<Sequencer>,
    pub tree: RwLock<DataTree>,
    log: SimLog,
    listening: bool,
    leader_conn: Option<u64>,
    next_tick: Option<i64>,
}

impl Node {
    fn snap_dir(&self) -> PathBuf {
        self.dir.join("data").join(format::VERSION_DIR)
    }
    fn log_dir(&self) -> PathBuf {
        self.dir.join("log").join(format::VERSION_DIR)
    }
    pub fn alive(&self) -> bool {
        self.seq.is_some()
    }
    pub fn serving(&self) -> Option<Mode> {
        self.seq.as_ref().and_then(|s| s.serving())
    }
}

struct Conn {
    leader: usize,
    learner: usize,
    leader_inc: u64,
    learner_inc: u64,
    peer: PeerId,
    open: bool,
    last_to_leader: i64,
    last_to_learner: i64,
    /// The highest txn the leader sent before NEWLEADER (a PROPOSAL,
    /// INFORM, or the SNAP's zxid): durable at the learner before it may
    /// acknowledge NEWLEADER (ZOOKEEPER-3911, -3642, -4785, -3104).
    before_newleader: Zxid,
    newleader_sent: bool,
    newleader_acked: bool,
    /// PROPOSALs sent before NEWLEADER whose COMMIT was not: ZooKeeper 3.8's
    /// learner logs and forgets them at NEWLEADER, so a COMMIT of one before
    /// UPTODATE finds nothing to commit and ends its sync with a
    /// NullPointerException (ZOOKEEPER-4394, in every 3.8.x).
    uncommitted_before_newleader: std::collections::BTreeSet<Zxid>,
    uptodate_sent: bool,
}

#[derive(Clone, Debug)]
enum Op {
    Create(usize, u64),
    Set(usize, u64),
    Get,
    Sync,
}

struct Client {
    node: Option<(usize, u64)>,
    conn: u64,
    session: Option<SessionId>,
    handshaking: bool,
    next_xid: i32,
    in_flight: VecDeque<(i32, Op)>,
}

/// What the checks found wanting.
#[derive(Debug)]
pub struct Violation(pub String);

pub struct World {
    pub params: Params,
    rng: StdRng,
    pub now: i64,
    n: u64,
    queue: BinaryHeap<Reverse<Sched>>,
    pub nodes: Vec<Node>,
    links: Vec<Vec<bool>>,
    /// Election connectivity as the nodes were last told it.
    election_up: Vec<Vec<bool>>,
    election_last: Vec<Vec<i64>>,
    conns: BTreeMap<u64, Conn>,
    next_conn: u64,
    clients: Vec<Client>,
    next_client_conn: u64,
    ensemble: Ensemble,
    _base: tempfile::TempDir,
    faults_on: bool,
    clients_on: bool,
    pub crash_on_send: Vec<CrashOnSend>,
    // ---- checks -----
    /// Every logged txn's bytes, by zxid, across all nodes.
    txns: BTreeMap<Zxid, Bytes>,
    leaders: BTreeMap<u32, ServerId>,
    /// Acknowledged writes: (zxid, key, value).
    pub acked: Vec<(Zxid, usize, u64)>,
    pub acked_after_faults: usize,
    pub trace: VecDeque<String>,
    pub violation: Option<Violation>,
    next_value: u64,
    /// How often each thing happened (sync kinds, faults), to show a run
    /// exercised what it claims to.
    pub stats: BTreeMap<&'static str, u64>,
}

fn config_of(members: usize) -> Ensemble {
    let members: Vec<Member> = (1..=members as u64)
        .map(|i| Member {
            id: ServerId(i),
            quorum_host: "sim".into(),
            quorum_port: 2887 + i as u16,
            election_host: "sim".into(),
            election_port: 3887 + i as u16,
            observer: false,
        })
        .collect();
    let text = members
        .iter()
        .map(|m| {
            format!(
                "server.{}=127.0.0.1:{}:{}:participant\n",
                m.id, m.quorum_port, m.election_port
            )
        })
        .collect::<String>()
        + "version=0";
    Ensemble {
        members,
        config_text: Bytes::from(text),
        version: 0,
    }
}

impl World {
    pub fn new(params: Params) -> World {
        let base = tempfile::Builder::new()
            .prefix("corral-sim-")
            .tempdir_in(if Path::new("/dev/shm").is_dir() {
                "/dev/shm"
            } else {
                "/tmp"
            })
            .expect("sim dir");
        let n = params.members;
        let ensemble = config_of(n);
        let mut nodes = Vec::new();
        for i in 0..n {
            let dir = base.path().join(format!("node{}", i + 1));
            std::fs::create_dir_all(dir.join("data").join(format::VERSION_DIR)).unwrap();
            std::fs::create_dir_all(dir.join("log").join(format::VERSION_DIR)).unwrap();
            nodes.push(Node {
                id: ServerId(i as u64 + 1),
                dir,
                inc: 0,
                seq: None,
                tree: RwLock::new(DataTree::new()),
                log: SimLog {
                    seg: None,
                    durable: 0,
                    in_flight: None,
                    last_zxid: Zxid::ZERO,
                    durable_zxid: Zxid::ZERO,
                    next_write: 0,
                    fail_next: None,
                    slow_until: 0,
                },
                listening: false,
                leader_conn: None,
                next_tick: None,
            });
        }
        let clients = (0..params.clients)
            .map(|_| Client {
                node: None,
                conn: 0,
                session: None,
                handshaking: false,
                next_xid: 1,
                in_flight: VecDeque::new(),
            })
            .collect();
        let mut w = World {
            rng: StdRng::seed_from_u64(params.seed),
            params,
            now: 0,
            n: 0,
            queue: BinaryHeap::new(),
            nodes,
            links: vec![vec![true; n]; n],
            election_up: vec![vec![false; n]; n],
            election_last: vec![vec![0; n]; n],
            conns: BTreeMap::new(),
            next_conn: 1,
            clients,
            next_client_conn: 1,
            ensemble,
            _base: base,
            faults_on: true,
            clients_on: true,
            crash_on_send: Vec::new(),
            txns: BTreeMap::new(),
            leaders: BTreeMap::new(),
            acked: Vec::new(),
            acked_after_faults: 0,
            trace: VecDeque::new(),
            violation: None,
            next_value: 1,
            stats: BTreeMap::new(),
        };
        for i in 0..n {
            w.start_node(i);
        }
        w.update_election_links();
        for c in 0..w.clients.len() {
            let at = 50 + c as i64 * 7;
            w.schedule(at, Ev::ClientStep { client: c });
        }
        w.schedule(500, Ev::Fault);
        w
    }

    fn schedule(&mut self, at: i64, ev: Ev) {
        self.n += 1;
        self.queue.push(Reverse(Sched {
            at: at.max(self.now),
            n: self.n,
            ev,
        }));
    }

    pub fn count(&mut self, what: &'static str) {
        *self.stats.entry(what).or_default() += 1;
    }

    pub fn note(&mut self, line: String) {
        let keep = if std::env::var_os("SIM_TRACE_ALL").is_some() {
            usize::MAX
        } else {
            TRACE_LINES
        };
        if self.trace.len() >= keep {
            self.trace.pop_front();
        }
        self.trace.push_back(format!("{:>8} {line}", self.now));
    }

    fn violate(&mut self, what: String) {
        if self.violation.is_none() {
            self.note(format!("VIOLATION: {what}"));
            self.violation = Some(Violation(what));
        }
    }

    fn now_of(&self) -> Now {
        Now {
            mono_ms: self.now,
            wall_ms: WALL_BASE_MS + self.now,
        }
    }

    fn seq_config(&self, i: usize) -> SeqConfig {
        SeqConfig {
            my_id: ServerId(i as u64 + 1),
            ensemble: Some(self.ensemble.clone()),
            tick_ms: TICK_MS,
            init_limit: 10,
            sync_limit: 5,
            prep: PrepConfig {
                extended_types_enabled: false,
                eager_acl_check: false,
                reconfig_enabled: false,
                jute_max_buffer: 0xfffff,
            },
            snap_count: self.params.snap_count,
            container_check_interval_ms: 60_000,
            container_max_per_minute: 10_000,
            commit_log_count: 500,
            sasl_acl_scheme: false,
            max_packet_bytes: 2 * 0xfffff,
            force_snapshot_sync: self.params.force_snapshot_sync,
            leader_connect_retry_ms: 100,
            finalize_wait_ms: 200,
            min_notification_interval_ms: 200,
            max_notification_interval_ms: 1_600,
            seed: self.params.seed ^ (i as u64 + 1),
            epoch_counter_start: self.params.epoch_counter_start,
        }
    }

    // ---- node lifecycle ---------------------------------------------------------------

    /// Starts (or restarts) node `i` through the real recovery code.
    fn start_node(&mut self, i: usize) {
        let snap_dir = self.nodes[i].snap_dir();
        let fresh = recovery::list(&snap_dir, format::SNAPSHOT_PREFIX)
            .map(|l| l.is_empty())
            .unwrap_or(true);
        if fresh {
            snapshot::take(&RwLock::new(DataTree::new()), &[], Zxid::ZERO, &snap_dir)
                .expect("initial snapshot");
        }
        let Some(r) = self.recover(i) else { return };
        let epochs = match epoch::load_epochs(&snap_dir, r.last_logged) {
            Ok(e) => e,
            Err(e) => {
                self.violate(format!("node {} epoch files: {e}", i + 1));
                return;
            }
        };
        let recent: Vec<(Zxid, Bytes)> =
            r.recent.iter().map(|t| (t.zxid, t.bytes.clone())).collect();
        let cfg = self.seq_config(i);
        let now = self.now_of();
        let mut seq = Sequencer::new(
            cfg,
            r.last_logged,
            &r.sessions,
            recent,
            Epochs {
                accepted: epochs.accepted,
                current: epochs.current,
            },
            now,
        );
        seq.start(now);
        let node = &mut self.nodes[i];
        node.inc += 1;
        *node.tree.write() = r.tree;
        node.log.seg = None;
        node.log.durable = 0;
        node.log.in_flight = None;
        node.log.last_zxid = r.last_logged;
        node.log.durable_zxid = r.last_logged;
        node.listening = false;
        node.leader_conn = None;
        node.next_tick = None;
        node.seq = Some(seq);
        self.note(format!("node {} started at {}", i + 1, r.last_logged));
        self.turn(i);
    }

    /// Node `i`'s database from its disk, through the real recovery code.
    fn recover(&mut self, i: usize) -> Option<recovery::Recovered> {
        let (snap_dir, log_dir) = (self.nodes[i].snap_dir(), self.nodes[i].log_dir());
        let opts = recovery::RecoverOptions {
            extended_types: false,
            max_torn: 8 << 20,
            keep_txns: 500,
        };
        match recovery::recover_with(&snap_dir, &log_dir, &opts) {
            Ok(r) => Some(r),
            Err(e) => {
                self.violate(format!("node {} cannot recover: {e}", i + 1));
                None
            }
        }
    }

    /// Crashes node `i`: its process is gone, a log write in flight lands
    /// partly (a torn prefix at a 512-byte boundary) or not at all.
    pub fn crash(&mut self, i: usize) {
        if !self.nodes[i].alive() {
            return;
        }
        self.note(format!("node {} CRASHES", i + 1));
        self.count("crash");
        let keep_fraction: f64 = self.rng.r#gen();
        let node = &mut self.nodes[i];
        node.seq = None;
        node.inc += 1;
        node.listening = false;
        node.leader_conn = None;
        if let Some(w) = node.log.in_flight.take() {
            let sectors = w.len.div_ceil(512);
            let kept = ((sectors as f64 * keep_fraction) as u64 * 512).min(w.len);
            cut_file(&w.path, w.start + kept);
        }
        node.log.seg = None;
        for c in self.conns.values_mut() {
            if c.leader == i || c.learner == i {
                c.open = false;
            }
        }
        self.close_conns_of(i);
        for client in &mut self.clients {
            if client.node.is_some_and(|(n, _)| n == i) {
                client.node = None;
                client.in_flight.clear();
                client.handshaking = false;
            }
        }
        self.update_election_links();
    }

    pub fn restart(&mut self, i: usize) {
        if self.nodes[i].alive() {
            return;
        }
        self.start_node(i);
        self.update_election_links();
    }

    fn close_conns_of(&mut self, i: usize) {
        let ids: Vec<u64> = self
            .conns
            .iter()
            .filter(|(_, c)| c.leader == i || c.learner == i)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.close_conn(id);
        }
    }

    /// Closes a quorum connection: each live side hears of it after the
    /// bytes already sent to it.
    fn close_conn(&mut self, id: u64) {
        let Some(c) = self.conns.remove(&id) else {
            return;
        };
        let d = self.delay();
        let (lat, lnat) = (
            c.last_to_leader.max(self.now + d),
            c.last_to_learner.max(self.now + d),
        );
        self.schedule(
            lat,
            Ev::Input {
                node: c.leader,
                inc: c.leader_inc,
                input: Input::LearnerClosed { peer: c.peer },
            },
        );
        if self.nodes[c.learner].leader_conn == Some(id) {
            self.schedule(
                lnat,
                Ev::Input {
                    node: c.learner,
                    inc: c.learner_inc,
                    input: Input::LeaderClosed,
                },
            );
        }
    }

    fn link_up(&self, a: usize, b: usize) -> bool {
        self.links[a][b] && self.nodes[a].alive() && self.nodes[b].alive()
    }

    /// Tells each node which election peers it can reach, when that changed.
    fn update_election_links(&mut self) {
        let n = self.nodes.len();
        for a in 0..n {
            for b in 0..n {
                if a == b {
                    continue;
                }
                let up = self.link_up(a, b);
                if up != self.election_up[a][b] {
                    self.election_up[a][b] = up;
                    if self.nodes[a].alive() {
                        let inc = self.nodes[a].inc;
                        let d = self.delay();
                        self.schedule(
                            self.now + d,
                            Ev::Input {
                                node: a,
                                inc,
                                input: Input::ElectionPeer {
                                    sid: ServerId(b as u64 + 1),
                                    up,
                                },
                            },
                        );
                    }
                }
            }
        }
    }

    fn delay(&mut self) -> i64 {
        1 + self.rng.gen_range(0..3)
    }

    // ---- the loop ---------------------------------------------------------------------

    /// Runs until `until` (virtual ms) or a violation.
    pub fn run_until(&mut self, until: i64) {
        let mut same_time = 0u64;
        while self.violation.is_none() {
            let Some(Reverse(s)) = self.queue.pop() else {
                return;
            };
            if s.at > until {
                self.queue.push(Reverse(s));
                self.now = until;
                return;
            }
            if s.at == self.now {
                same_time += 1;
                if same_time > 1_000_000 {
                    self.violate(format!(
                        "no progress: a million events at time {}",
                        self.now
                    ));
                    return;
                }
            } else {
                same_time = 0;
            }
            self.now = s.at;
            self.handle(s.ev);
            self.check_leaders();
        }
    }

    /// The whole run: faults, then calm (everything healed and restarted),
    /// then the final checks.
    pub fn run(&mut self) -> Result<(), Violation> {
        let fault_end = self.params.fault_ms;
        self.run_until(fault_end);
        self.faults_on = false;
        self.note("faults stop: healing, restarting everyone".into());
        let n = self.nodes.len();
        for a in 0..n {
            for b in 0..n {
                self.links[a][b] = true;
            }
        }
        for i in 0..n {
            self.nodes[i].log.fail_next = None;
            self.nodes[i].log.slow_until = 0;
            self.restart(i);
        }
        self.update_election_links();
        let acked_before = self.acked.len();
        self.run_until(fault_end + self.params.calm_ms);
        self.acked_after_faults = self.acked.len() - acked_before;
        // Quiesce: no new requests; what is in flight settles.
        self.clients_on = false;
        self.run_until(fault_end + self.params.calm_ms + 3_000);
        if let Some(v) = self.violation.take() {
            return Err(v);
        }
        self.final_checks()?;
        Ok(())
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Input { node, inc, input } => {
                if self.nodes[node].inc != inc || !self.nodes[node].alive() {
                    return;
                }
                self.note(format!("node {} <- {}", node + 1, describe(&input)));
                let now = self.now_of();
                let n = &mut self.nodes[node];
                let tree = n.tree.read();
                if let Some(seq) = n.seq.as_mut() {
                    seq.handle(now, &tree, input);
                }
                drop(tree);
                self.turn(node);
            }
            Ev::LogDone { node, inc, write } => {
                if self.nodes[node].inc != inc {
                    return;
                }
                let log = &mut self.nodes[node].log;
                let Some(w) = log.in_flight.take_if(|w| w.write == write) else {
                    return;
                };
                log.durable = w.start + w.len;
                log.durable_zxid = log.durable_zxid.max(w.last_zxid);
                let now = self.now_of();
                let n = &mut self.nodes[node];
                let tree = n.tree.read();
                if let Some(seq) = n.seq.as_mut() {
                    seq.handle(now, &tree, Input::LogWritten(Ok(())));
                }
                drop(tree);
                self.turn(node);
            }
            Ev::Tick { node, inc } => {
                if self.nodes[node].inc != inc {
                    return;
                }
                self.nodes[node].next_tick = None;
                let now = self.now_of();
                let n = &mut self.nodes[node];
                let tree = n.tree.read();
                if let Some(seq) = n.seq.as_mut() {
                    seq.tick(now, &tree);
                }
                drop(tree);
                self.turn(node);
            }
            Ev::Snap {
                node,
                inc,
                zxid,
                bytes,
            } => {
                if self.nodes[node].inc != inc || !self.nodes[node].alive() {
                    return;
                }
                self.receive_snapshot(node, zxid, bytes);
            }
            Ev::ClientStep { client } => self.client_step(client),
            Ev::Fault => self.fault_step(),
            Ev::Crash { node } => self.crash(node),
        }
    }

    /// After an input: carry out the node's actions and apply what is
    /// ready, until it is quiet; then its next timer.
    fn turn(&mut self, i: usize) {
        for _ in 0..10_000 {
            if !self.nodes[i].alive() {
                return;
            }
            let mut acted = false;
            while let Some(a) = self.nodes[i].seq.as_mut().and_then(|s| s.poll_action()) {
                acted = true;
                self.act(i, a);
                if !self.nodes[i].alive() {
                    return;
                }
            }
            let wants = self.nodes[i].seq.as_ref().is_some_and(|s| s.wants_apply());
            if wants {
                let now = self.now_of();
                let n = &mut self.nodes[i];
                let mut tree = n.tree.write();
                let applied = n.seq.as_mut().map(|s| s.apply(now, &mut tree, 1));
                drop(tree);
                if let Some(a) = applied {
                    self.deliver_replies(i, a);
                }
            }
            if !acted && !wants {
                break;
            }
        }
        let Some(t) = self.nodes[i].seq.as_ref().and_then(|s| s.poll_timeout()) else {
            return;
        };
        let t = t.max(self.now);
        if self.nodes[i].next_tick.is_none_or(|n| t < n) {
            self.nodes[i].next_tick = Some(t);
            let inc = self.nodes[i].inc;
            self.schedule(t, Ev::Tick { node: i, inc });
        }
    }

    fn act(&mut self, i: usize, a: Action) {
        match a {
            Action::AppendLog {
                first_zxid,
                records,
                roll,
                ..
            } => self.append_log(i, first_zxid, records, roll),
            Action::SaveEpoch { accepted, current } => {
                let dir = self.nodes[i].snap_dir();
                if let Some(e) = accepted {
                    epoch::save_accepted_epoch(&dir, e).expect("save accepted epoch");
                }
                if let Some(e) = current {
                    epoch::save_current_epoch(&dir, e).expect("save current epoch");
                }
                self.note(format!(
                    "node {} saved epochs {accepted:?}/{current:?}",
                    i + 1
                ));
                let inc = self.nodes[i].inc;
                self.schedule(
                    self.now + 1,
                    Ev::Input {
                        node: i,
                        inc,
                        input: Input::EpochSaved,
                    },
                );
            }
            Action::Truncate { zxid } => {
                self.note(format!("node {} TRUNC to {zxid}", i + 1));
                let n = &self.nodes[i];
                match truncate::truncate_to(&n.snap_dir(), &n.log_dir(), zxid) {
                    Ok(_) => self.reload(i),
                    Err(e) => {
                        self.note(format!("node {} truncate failed: {e}", i + 1));
                        let inc = self.nodes[i].inc;
                        self.schedule(
                            self.now,
                            Ev::Input {
                                node: i,
                                inc,
                                input: Input::LeaderClosed,
                            },
                        );
                    }
                }
            }
            Action::Snapshot { zxid, sessions } => {
                let n = &self.nodes[i];
                snapshot::take(&n.tree, &sessions, zxid, &n.snap_dir()).expect("snapshot");
            }
            Action::ToLearner { peer, bytes } => self.send_packets(i, Some(peer), bytes),
            Action::ToLeader { bytes } => self.send_packets(i, None, bytes),
            Action::SnapToLearner {
                peer,
                zxid,
                sessions,
            } => self.send_snapshot(i, peer, zxid, &sessions),
            Action::CloseLearner { peer } => {
                let id = self
                    .conns
                    .iter()
                    .find(|(_, c)| c.leader == i && c.peer == peer)
                    .map(|(id, _)| *id);
                if let Some(id) = id {
                    self.close_conn(id);
                }
            }
            Action::ListenQuorum(on) => {
                self.nodes[i].listening = on;
                if !on {
                    let ids: Vec<u64> = self
                        .conns
                        .iter()
                        .filter(|(_, c)| c.leader == i)
                        .map(|(id, _)| *id)
                        .collect();
                    for id in ids {
                        self.close_conn(id);
                    }
                }
            }
            Action::ConnectLeader { sid, .. } => self.connect_leader(i, sid),
            Action::CloseLeader => {
                if let Some(id) = self.nodes[i].leader_conn.take() {
                    self.close_conn(id);
                }
            }
            Action::Notify { to, msg } => {
                let j = to.0 as usize - 1;
                let drop_it = self.faults_on && self.rng.gen_bool(self.params.faults.drop_election);
                if j < self.nodes.len() && self.link_up(i, j) && !drop_it {
                    let bytes = msg.encode();
                    let d = self.delay();
                    let at = (self.now + d).max(self.election_last[i][j]);
                    self.election_last[i][j] = at;
                    let inc = self.nodes[j].inc;
                    if let Some(msg) = corral::proto::quorum::Notification::decode(&bytes) {
                        self.schedule(
                            at,
                            Ev::Input {
                                node: j,
                                inc,
                                input: Input::Election {
                                    from: ServerId(i as u64 + 1),
                                    msg,
                                },
                            },
                        );
                    }
                }
            }
            Action::ConnectAllElection => {}
            Action::Serving(mode) => {
                self.note(format!("node {} serving: {mode:?}", i + 1));
            }
        }
    }

    fn append_log(&mut self, i: usize, first_zxid: Zxid, records: Bytes, roll: bool) {
        let inc = self.nodes[i].inc;
        let write = {
            let log = &mut self.nodes[i].log;
            assert!(
                log.in_flight.is_none(),
                "node {}: a second log write in flight",
                i + 1
            );
            log.next_write += 1;
            log.next_write
        };
        if let Some(kind) = self.nodes[i].log.fail_next.take() {
            self.note(format!("node {} log write FAILS ({kind:?})", i + 1));
            self.count("disk error");
            self.schedule(
                self.now + 1,
                Ev::Input {
                    node: i,
                    inc,
                    input: Input::LogWritten(Err(std::io::Error::from(kind))),
                },
            );
            return;
        }
        // Zxids strictly increase in every log; a zxid names one txn everywhere.
        let mut last = self.nodes[i].log.last_zxid;
        for (zxid, body) in records_of(&records) {
            if zxid.counter() == u32::MAX {
                self.violate(format!(
                    "node {}: logged {zxid}, the counter's last value",
                    i + 1
                ));
                return;
            }
            if zxid <= last {
                self.violate(format!("node {}: logged {zxid} after {last}", i + 1));
                return;
            }
            last = zxid;
            match self.txns.get(&zxid) {
                Some(b) if *b != body => {
                    self.violate(format!("two different txns logged as {zxid}"));
                    return;
                }
                Some(_) => {}
                None => {
                    self.txns.insert(zxid, body);
                }
            }
        }
        self.nodes[i].log.last_zxid = last;
        let log_dir = self.nodes[i].log_dir();
        let log = &mut self.nodes[i].log;
        if roll || log.seg.is_none() {
            let path = log_dir.join(format::file_name(format::LOG_PREFIX, first_zxid));
            let header = format::file_header(format::LOG_MAGIC, format::LOG_DBID);
            std::fs::write(&path, header).expect("new segment");
            log.seg = Some(path);
            log.durable = header.len() as u64;
        }
        let path = log.seg.clone().expect("segment");
        let start = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open segment");
        f.write_all(&records).expect("write segment");
        log.in_flight = Some(InFlight {
            write,
            path,
            start,
            len: records.len() as u64,
            last_zxid: last,
        });
        let slow = log.slow_until > self.now;
        let latency = if slow {
            self.rng.gen_range(5..60)
        } else {
            self.rng.gen_range(1..4)
        };
        self.schedule(
            self.now + latency,
            Ev::LogDone {
                node: i,
                inc,
                write,
            },
        );
    }

    /// Replaces node `i`'s tree from its disk (after TRUNC or a SNAP).
    fn reload(&mut self, i: usize) {
        let Some(r) = self.recover(i) else { return };
        let n = &mut self.nodes[i];
        *n.tree.write() = r.tree;
        n.log.seg = None;
        n.log.last_zxid = r.last_logged;
        n.log.durable_zxid = r.last_logged;
        let inc = n.inc;
        self.note(format!("node {} reloaded at {}", i + 1, r.last_logged));
        let recent = r.recent.iter().map(|t| (t.zxid, t.bytes.clone())).collect();
        self.schedule(
            self.now,
            Ev::Input {
                node: i,
                inc,
                input: Input::Reloaded {
                    last_zxid: r.last_logged,
                    sessions: r.sessions.into_iter().collect(),
                    recent,
                },
            },
        );
    }

    // ---- the quorum network -----------------------------------------------------------

    fn connect_leader(&mut self, i: usize, sid: ServerId) {
        let j = sid.0 as usize - 1;
        let inc = self.nodes[i].inc;
        let d = self.delay();
        if j >= self.nodes.len() || !self.link_up(i, j) || !self.nodes[j].listening {
            self.schedule(
                self.now + d,
                Ev::Input {
                    node: i,
                    inc,
                    input: Input::LeaderConnectFailed,
                },
            );
            return;
        }
        let id = self.next_conn;
        self.next_conn += 1;
        let at = self.now + d;
        self.conns.insert(
            id,
            Conn {
                leader: j,
                learner: i,
                leader_inc: self.nodes[j].inc,
                learner_inc: inc,
                peer: id,
                open: true,
                last_to_leader: at,
                last_to_learner: at,
                before_newleader: Zxid::ZERO,
                newleader_sent: false,
                newleader_acked: false,
                uncommitted_before_newleader: Default::default(),
                uptodate_sent: false,
            },
        );
        self.nodes[i].leader_conn = Some(id);
        let jinc = self.nodes[j].inc;
        self.schedule(
            at,
            Ev::Input {
                node: j,
                inc: jinc,
                input: Input::LearnerConnected { peer: id },
            },
        );
        self.schedule(
            at,
            Ev::Input {
                node: i,
                inc,
                input: Input::LeaderConnected,
            },
        );
    }

    /// Packets from node `from` on a connection: to a learner (`peer`) or
    /// to the leader. Decoded as the receiving side would, delivered in order.
    fn send_packets(&mut self, from: usize, peer: Option<PeerId>, bytes: Bytes) {
        let id = match peer {
            Some(p) => self
                .conns
                .iter()
                .find(|(_, c)| c.leader == from && c.peer == p)
                .map(|(id, _)| *id),
            None => self.nodes[from].leader_conn,
        };
        let Some(id) = id else { return };
        let mut buf = BytesMut::from(&bytes[..]);
        let mut packets = Vec::new();
        loop {
            match QuorumPacket::decode_stream(&mut buf, 2 * 0xfffff) {
                Ok(Some(p)) => packets.push(p),
                Ok(None) => break,
                Err(e) => {
                    self.violate(format!("node {} sent an undecodable packet: {e}", from + 1));
                    return;
                }
            }
        }
        if !buf.is_empty() {
            self.violate(format!("node {} sent a partial packet", from + 1));
            return;
        }
        for packet in packets {
            let kind = packet.kind;
            self.watch_sync(from, id, peer.is_some(), &packet);
            if self.violation.is_some() {
                return;
            }
            let Some(c) = self.conns.get(&id) else { return };
            if !c.open || !self.link_up(c.leader, c.learner) {
                return;
            }
            let d = self.delay();
            let (to, inc, input) = if peer.is_some() {
                let c = self.conns.get_mut(&id).expect("conn");
                let at = (self.now + d).max(c.last_to_learner);
                c.last_to_learner = at;
                (c.learner, c.learner_inc, (at, Input::LeaderPacket(packet)))
            } else {
                let c = self.conns.get_mut(&id).expect("conn");
                let at = (self.now + d).max(c.last_to_leader);
                c.last_to_leader = at;
                let p = c.peer;
                (
                    c.leader,
                    c.leader_inc,
                    (at, Input::LearnerPacket { peer: p, packet }),
                )
            };
            self.schedule(
                input.0,
                Ev::Input {
                    node: to,
                    inc,
                    input: input.1,
                },
            );
            self.crash_trigger(from, kind);
        }
    }

    /// NEWLEADER is acknowledged only once all the leader sent before it is
    /// durable at the learner.
    fn watch_sync(&mut self, from: usize, id: u64, to_learner: bool, p: &QuorumPacket) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        let kind = PacketType::from_i32(p.kind);
        if to_learner {
            match kind {
                Some(PacketType::Diff) => *self.stats.entry("sync DIFF").or_default() += 1,
                Some(PacketType::Trunc) => *self.stats.entry("sync TRUNC").or_default() += 1,
                Some(PacketType::Snap) => *self.stats.entry("sync SNAP").or_default() += 1,
                _ => {}
            }
            let zxid = Zxid(p.zxid);
            match kind {
                Some(PacketType::Proposal | PacketType::Inform | PacketType::Snap)
                    if !c.newleader_sent =>
                {
                    c.before_newleader = c.before_newleader.max(zxid);
                }
                Some(PacketType::NewLeader) => c.newleader_sent = true,
                Some(PacketType::UpToDate) => c.uptodate_sent = true,
                _ => {}
            }
            let in_sync_tail = c.newleader_sent && !c.uptodate_sent;
            match kind {
                Some(PacketType::Proposal) if !c.newleader_sent => {
                    c.uncommitted_before_newleader.insert(zxid);
                }
                Some(PacketType::Commit) if !c.newleader_sent => {
                    c.uncommitted_before_newleader.remove(&zxid);
                }
                Some(PacketType::Proposal) if in_sync_tail => {
                    self.count("PROPOSAL between NEWLEADER and UPTODATE");
                }
                Some(PacketType::Commit)
                    if in_sync_tail && c.uncommitted_before_newleader.contains(&zxid) =>
                {
                    let learner = c.learner + 1;
                    self.violate(format!(
                        "COMMIT {zxid} to node {learner} between NEWLEADER and UPTODATE, its \
                         PROPOSAL sent before NEWLEADER (a ZooKeeper 3.8 learner fails the \
                         sync: ZOOKEEPER-4394)"
                    ));
                }
                _ => {}
            }
            return;
        }
        if kind == Some(PacketType::Ack)
            && Zxid(p.zxid).counter() == 0
            && c.newleader_sent
            && !c.newleader_acked
        {
            c.newleader_acked = true;
            let need = c.before_newleader;
            let durable = self.nodes[from].log.durable_zxid;
            if durable < need {
                self.violate(format!(
                    "node {} acknowledged NEWLEADER with {need} received but only {durable} durable",
                    from + 1
                ));
            }
        }
    }

    fn crash_trigger(&mut self, from: usize, kind: i32) {
        let mut crash = Vec::new();
        for t in &mut self.crash_on_send {
            if t.node == from && t.kind as i32 == kind {
                t.seen += 1;
                if t.seen == t.nth {
                    crash.push(t.node);
                    crash.extend(t.also_crash.iter().copied());
                }
            }
        }
        for node in crash {
            self.schedule(self.now, Ev::Crash { node });
        }
    }

    /// The leader's SNAP stream, as the glue writes it: a walk of its tree
    /// now, then the signature.
    fn send_snapshot(
        &mut self,
        from: usize,
        peer: PeerId,
        zxid: Zxid,
        sessions: &[(SessionId, i32)],
    ) {
        let Some((&id, _)) = self
            .conns
            .iter()
            .find(|(_, c)| c.leader == from && c.peer == peer)
        else {
            return;
        };
        let bytes = {
            let tree = self.nodes[from].tree.read();
            let (mut walk, mut buf) = snapshot::Walk::start(&tree, sessions, zxid);
            while walk.step(&tree, &mut buf) == snapshot::Step::More {}
            snap_stream::snap_stream_signature(&mut buf);
            buf.freeze()
        };
        let d = self.delay();
        let c = self.conns.get_mut(&id).expect("conn");
        let at = (self.now + d).max(c.last_to_learner);
        c.last_to_learner = at;
        let (node, inc) = (c.learner, c.learner_inc);
        self.schedule(
            at,
            Ev::Snap {
                node,
                inc,
                zxid,
                bytes,
            },
        );
    }

    /// A learner's side of a SNAP: spooled and made durable by the real
    /// receiver, then the history above it cleared and the tree reloaded.
    fn receive_snapshot(&mut self, i: usize, zxid: Zxid, bytes: Bytes) {
        let durable_before = self.nodes[i].log.durable_zxid;
        let _ = durable_before;
        self.note(format!(
            "node {} receives a SNAP at {zxid} ({} bytes)",
            i + 1,
            bytes.len()
        ));
        let (snap_dir, log_dir) = (self.nodes[i].snap_dir(), self.nodes[i].log_dir());
        let result = (|| -> Result<(), String> {
            let mut rx = snap_stream::SnapReceiver::new(&snap_dir, zxid, 4 << 20)
                .map_err(|e| e.to_string())?;
            let mut buf = BytesMut::from(&bytes[..]);
            match rx.feed(&mut buf).map_err(|e| e.to_string())? {
                snap_stream::Progress::Complete => {}
                snap_stream::Progress::NeedMore => return Err("SNAP stream incomplete".into()),
            }
            rx.finish().map_err(|e| e.to_string())?;
            truncate::clear_for_snap(&snap_dir, &log_dir, zxid).map_err(|e| e.to_string())?;
            Ok(())
        })();
        match result {
            Ok(()) => self.reload(i),
            Err(e) => self.violate(format!("node {} SNAP install failed: {e}", i + 1)),
        }
    }

    // ---- clients ----------------------------------------------------------------------

    fn client_step(&mut self, c: usize) {
        if !self.clients_on {
            return;
        }
        let next = self.now + self.rng.gen_range(5..40);
        self.schedule(next, Ev::ClientStep { client: c });
        let connected = self.clients[c]
            .node
            .is_some_and(|(n, inc)| self.nodes[n].inc == inc && self.nodes[n].serving().is_some());
        if !connected {
            self.clients[c].node = None;
            self.clients[c].in_flight.clear();
            self.clients[c].handshaking = false;
            let serving: Vec<usize> = (0..self.nodes.len())
                .filter(|&n| self.nodes[n].serving().is_some())
                .collect();
            if serving.is_empty() {
                return;
            }
            let n = serving[self.rng.gen_range(0..serving.len())];
            self.next_client_conn += 1;
            let conn = self.next_client_conn;
            let client = &mut self.clients[c];
            client.node = Some((n, self.nodes[n].inc));
            client.conn = conn;
            client.handshaking = true;
            let msg = match client.session {
                Some(session) => ToSequencer::Reattach {
                    shard: 0,
                    conn,
                    session,
                    passwd: Bytes::copy_from_slice(&corral::session::password(session)),
                    timeout_ms: SESSION_TIMEOUT_MS,
                },
                None => ToSequencer::CreateSession {
                    shard: 0,
                    conn,
                    timeout_ms: SESSION_TIMEOUT_MS,
                },
            };
            self.client_send(c, msg);
            return;
        }
        let client = &self.clients[c];
        if client.handshaking || client.in_flight.len() >= 3 {
            return;
        }
        let Some(session) = client.session else {
            return;
        };
        let key = self.rng.gen_range(0..KEYS);
        let roll: f64 = self.rng.r#gen();
        let value = self.next_value;
        self.next_value += 1;
        let (op, request) = if roll < 0.15 {
            (
                Op::Create(key, value),
                Request::Create {
                    op: corral::proto::OpCode::Create,
                    req: corral::proto::request::CreateRequest {
                        path: format!("/k{key}").into(),
                        data: ZData::from(Bytes::from(value.to_string())),
                        acl: corral::proto::Acl::open_unsafe(),
                        flags: 0,
                        ttl_ms: -1,
                    },
                },
            )
        } else if roll < 0.75 {
            (
                Op::Set(key, value),
                Request::SetData {
                    path: format!("/k{key}").into(),
                    data: ZData::from(Bytes::from(value.to_string())),
                    version: -1,
                },
            )
        } else if roll < 0.8 {
            (
                Op::Sync,
                Request::Sync {
                    path: format!("/k{key}").into(),
                },
            )
        } else {
            (
                Op::Get,
                Request::GetData {
                    path: format!("/k{key}").into(),
                    watch: false,
                },
            )
        };
        self.client_request(c, session, op, request);
    }

    /// Sends client `c`'s next request (its next xid) on `session`, expecting `op`'s answer.
    fn client_request(&mut self, c: usize, session: SessionId, op: Op, request: Request) {
        let client = &mut self.clients[c];
        let xid = client.next_xid;
        client.next_xid += 1;
        client.in_flight.push_back((xid, op));
        let conn = client.conn;
        let req = WriteRequest {
            session,
            cxid: xid,
            request,
            auth: Arc::new(AuthContext::for_ip("127.0.0.1".parse().expect("ip"))),
        };
        self.client_send(
            c,
            ToSequencer::Request {
                shard: 0,
                conn,
                xid,
                req,
            },
        );
    }

    fn client_send(&mut self, c: usize, msg: ToSequencer) {
        let Some((n, _)) = self.clients[c].node else {
            return;
        };
        let now = self.now_of();
        let node = &mut self.nodes[n];
        let tree = node.tree.read();
        if let Some(seq) = node.seq.as_mut() {
            seq.handle_client(now, &tree, msg);
        }
        drop(tree);
        self.turn(n);
    }

    fn deliver_replies(&mut self, node: usize, a: corral::sequencer::apply::Applied) {
        if a.close_all {
            for client in &mut self.clients {
                if client.node.is_some_and(|(n, _)| n == node) {
                    client.node = None;
                    client.in_flight.clear();
                    client.handshaking = false;
                }
            }
        }
        for (_, reply) in a.replies.into_iter().flatten() {
            self.client_reply(node, reply);
        }
    }

    fn client_reply(&mut self, node: usize, reply: Reply) {
        let conn = match &reply {
            Reply::Done { conn, .. }
            | Reply::Local { conn, .. }
            | Reply::Connected { conn, .. }
            | Reply::Close { conn } => *conn,
        };
        let Some(c) = self
            .clients
            .iter()
            .position(|cl| cl.conn == conn && cl.node.is_some_and(|(n, _)| n == node))
        else {
            return;
        };
        match reply {
            Reply::Connected { response, .. } => {
                let client = &mut self.clients[c];
                client.handshaking = false;
                match response {
                    Some(r) => client.session = Some(r.session_id),
                    None => {
                        client.session = None;
                        client.node = None;
                    }
                }
            }
            Reply::Close { .. } => {
                let client = &mut self.clients[c];
                client.node = None;
                client.in_flight.clear();
                client.handshaking = false;
            }
            Reply::Done {
                xid, zxid, result, ..
            } => {
                let front = self.clients[c].in_flight.pop_front();
                let Some((want, op)) = front else {
                    self.violate(format!("client {c}: reply {xid} with nothing in flight"));
                    return;
                };
                if want != xid {
                    self.violate(format!(
                        "client {c}: reply for xid {xid} while {want} was first (FIFO)"
                    ));
                    return;
                }
                match (op, result) {
                    (Op::Set(k, v), Ok(_)) | (Op::Create(k, v), Ok(_)) => {
                        self.acked.push((zxid, k, v));
                        self.note(format!("ack {zxid} /k{k}={v} via node {}", node + 1));
                    }
                    (Op::Get, Ok(Response::Data(..)) | Err(_)) => {}
                    (Op::Sync, Ok(Response::Path(_))) => {}
                    (_, Err(ErrorCode::NoNode | ErrorCode::NodeExists)) => {}
                    (op, Err(e)) => self.note(format!("client {c}: {op:?} failed {e:?}")),
                    (op, Ok(r)) => self.note(format!("client {c}: {op:?} answered {r:?}")),
                }
            }
            Reply::Local { .. } => {}
        }
    }

    // ---- faults -------------------------------------------------------------------------

    fn fault_step(&mut self) {
        if !self.faults_on {
            return;
        }
        let next = self.now + self.rng.gen_range(100..400);
        self.schedule(next, Ev::Fault);
        let f = self.params.faults.clone();
        let n = self.nodes.len();
        let i = self.rng.gen_range(0..n);
        if self.rng.gen_bool(f.crash) {
            self.crash(i);
        }
        if self.rng.gen_bool(f.restart) {
            let down: Vec<usize> = (0..n).filter(|&j| !self.nodes[j].alive()).collect();
            if !down.is_empty() {
                let j = down[self.rng.gen_range(0..down.len())];
                self.restart(j);
            }
        }
        if self.rng.gen_bool(f.partition) {
            // Split into two random groups.
            let side: Vec<bool> = (0..n).map(|_| self.rng.gen_bool(0.5)).collect();
            for a in 0..n {
                for b in 0..n {
                    if side[a] != side[b] {
                        self.links[a][b] = false;
                    }
                }
            }
            self.note(format!("PARTITION {side:?}"));
            self.count("partition");
            self.cut_broken_conns();
        }
        if self.rng.gen_bool(f.heal) {
            for a in 0..n {
                for b in 0..n {
                    self.links[a][b] = true;
                }
            }
            self.note("HEAL".into());
        }
        if self.rng.gen_bool(f.disk_error) {
            let kind = if self.rng.gen_bool(0.5) {
                std::io::ErrorKind::StorageFull
            } else {
                std::io::ErrorKind::Other
            };
            self.nodes[i].log.fail_next = Some(kind);
        }
        if self.rng.gen_bool(f.slow_disk) {
            self.nodes[i].log.slow_until = self.now + self.rng.gen_range(200..2_000);
        }
        if self.rng.gen_bool(f.reset_connection) && !self.conns.is_empty() {
            let ids: Vec<u64> = self.conns.keys().copied().collect();
            let id = ids[self.rng.gen_range(0..ids.len())];
            self.note(format!("RESET connection {id}"));
            self.close_conn(id);
        }
        self.update_election_links();
    }

    fn cut_broken_conns(&mut self) {
        let ids: Vec<u64> = self
            .conns
            .iter()
            .filter(|(_, c)| !self.links[c.leader][c.learner])
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.close_conn(id);
        }
    }

    /// Cuts node `i` off from every other node (both ways).
    pub fn isolate(&mut self, i: usize) {
        for j in 0..self.nodes.len() {
            if j != i {
                self.links[i][j] = false;
                self.links[j][i] = false;
            }
        }
        self.cut_broken_conns();
        self.update_election_links();
    }

    pub fn heal(&mut self) {
        let n = self.nodes.len();
        for a in 0..n {
            for b in 0..n {
                self.links[a][b] = true;
            }
        }
        self.update_election_links();
    }

    /// Moves client 0 (with its session) to node `i` and has it `sync`,
    /// with no other client active: whether the sync was answered within
    /// `wait_ms`.
    pub fn sync_answered_on(&mut self, i: usize, wait_ms: i64) -> Result<(), String> {
        self.clients_on = false;
        let session = self.clients[0].session.ok_or("client 0 has no session")?;
        self.next_client_conn += 1;
        let conn = self.next_client_conn;
        let client = &mut self.clients[0];
        client.node = Some((i, self.nodes[i].inc));
        client.conn = conn;
        client.handshaking = true;
        client.in_flight.clear();
        let reattach = ToSequencer::Reattach {
            shard: 0,
            conn,
            session,
            passwd: Bytes::copy_from_slice(&corral::session::password(session)),
            timeout_ms: SESSION_TIMEOUT_MS,
        };
        self.client_send(0, reattach);
        self.run_until(self.now + wait_ms);
        if self.clients[0].handshaking || self.clients[0].node.is_none() {
            return Err("the reattach was not answered".into());
        }
        self.client_request(0, session, Op::Sync, Request::Sync { path: "/".into() });
        self.run_until(self.now + wait_ms);
        if self.clients[0].in_flight.is_empty() {
            Ok(())
        } else {
            Err("the sync was not answered".into())
        }
    }

    pub fn set_clients(&mut self, on: bool) {
        self.clients_on = on;
    }

    pub fn set_faults(&mut self, on: bool) {
        self.faults_on = on;
    }

    // ---- checks -------------------------------------------------------------------------

    /// At most one leader per epoch, ever.
    fn check_leaders(&mut self) {
        for i in 0..self.nodes.len() {
            let Some(seq) = self.nodes[i].seq.as_ref() else {
                continue;
            };
            if seq.serving() != Some(Mode::Leader) {
                continue;
            }
            let epoch = seq.view().epoch;
            let me = self.nodes[i].id;
            match self.leaders.get(&epoch) {
                Some(l) if *l != me => {
                    let l = *l;
                    self.violate(format!("two leaders in epoch {epoch}: {l} and {me}"));
                }
                Some(_) => {}
                None => {
                    self.leaders.insert(epoch, me);
                    self.count("leader elected");
                }
            }
        }
    }

    pub fn leader(&self) -> Option<usize> {
        (0..self.nodes.len()).find(|&i| self.nodes[i].serving() == Some(Mode::Leader))
    }

    /// After the calm period: a leader serves with every member following,
    /// every member holds the same tree, and every acknowledged write is in it.
    fn final_checks(&mut self) -> Result<(), Violation> {
        let Some(l) = self.leader() else {
            return Err(Violation(format!(
                "liveness: no leader {} ms after the faults stopped",
                self.params.calm_ms
            )));
        };
        if self.acked_after_faults == 0 {
            return Err(Violation(
                "liveness: no write was acknowledged after the faults stopped".into(),
            ));
        }
        // Every request of a client still connected to a serving member was
        // answered (a request stuck at a serving member is a liveness bug).
        for (c, client) in self.clients.iter().enumerate() {
            let Some((n, inc)) = client.node else {
                continue;
            };
            if self.nodes[n].inc == inc
                && self.nodes[n].serving().is_some()
                && (client.handshaking || !client.in_flight.is_empty())
            {
                return Err(Violation(format!(
                    "liveness: client {c} on node {} still waits for {:?}{}",
                    n + 1,
                    client.in_flight,
                    if client.handshaking {
                        " and its handshake"
                    } else {
                        ""
                    }
                )));
            }
        }
        let reference = digest(&self.nodes[l].tree.read());
        for i in 0..self.nodes.len() {
            let mode = self.nodes[i].serving();
            if !matches!(mode, Some(Mode::Leader | Mode::Follower)) {
                return Err(Violation(format!(
                    "liveness: node {} is {mode:?} at the end",
                    i + 1
                )));
            }
            let d = digest(&self.nodes[i].tree.read());
            if d != reference {
                return Err(Violation(format!(
                    "node {}'s tree differs from the leader's at the end:\n{}",
                    i + 1,
                    diff(&reference, &d)
                )));
            }
        }
        let tree = self.nodes[l].tree.read();
        for (zxid, key, value) in &self.acked {
            let Some(node) = tree.get(&format!("/k{key}")) else {
                return Err(Violation(format!(
                    "acknowledged write {zxid} /k{key}={value} lost: the node is gone"
                )));
            };
            if node.mzxid < zxid.0 {
                return Err(Violation(format!(
                    "acknowledged write {zxid} /k{key}={value} lost: the node was last written at 0x{:x}",
                    node.mzxid
                )));
            }
            if node.mzxid == zxid.0 && node.data.bytes().as_ref() != value.to_string().as_bytes() {
                return Err(Violation(format!(
                    "acknowledged write {zxid} /k{key}={value} lost: other data at that zxid"
                )));
            }
        }
        Ok(())
    }
}

/// (zxid, txn bytes) of each record in a batch of log records.
fn records_of(records: &[u8]) -> Vec<(Zxid, Bytes)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 12 <= records.len() {
        let len = i32::from_be_bytes(records[at + 8..at + 12].try_into().unwrap()) as usize;
        let body = &records[at + 12..at + 12 + len];
        let zxid = i64::from_be_bytes(body[12..20].try_into().unwrap());
        out.push((Zxid(zxid), Bytes::copy_from_slice(body)));
        at += 12 + len + 1;
    }
    out
}

/// Cuts a file back to `len` bytes (what a crash left of it).
fn cut_file(path: &Path, len: u64) {
    if let Ok(f) = std::fs::OpenOptions::new().write(true).open(path) {
        let _ = f.set_len(len);
    }
}

/// Every znode (path, data, stat) in path order.
pub fn digest(tree: &DataTree) -> Vec<String> {
    let mut v: Vec<String> = tree
        .nodes()
        .map(|(p, n)| {
            format!(
                "{} data={:?} czxid={:x} mzxid={:x} pzxid={:x} v={} cv={} av={} owner={:x} children={}",
                p.as_str(),
                String::from_utf8_lossy(n.data.bytes()),
                n.czxid,
                n.mzxid,
                n.pzxid,
                n.version,
                n.cversion,
                n.aversion,
                n.ephemeral_owner,
                n.children.len()
            )
        })
        .collect();
    v.sort();
    v
}

fn diff(a: &[String], b: &[String]) -> String {
    let sa: BTreeSet<&String> = a.iter().collect();
    let sb: BTreeSet<&String> = b.iter().collect();
    let mut out = String::new();
    for x in sa.difference(&sb).take(10) {
        out += &format!("  leader only: {x}\n");
    }
    for x in sb.difference(&sa).take(10) {
        out += &format!("  node only:   {x}\n");
    }
    out
}

fn describe(i: &Input) -> String {
    match i {
        Input::LearnerPacket { peer, packet } => {
            format!(
                "from learner {peer}: {:?} 0x{:x}",
                PacketType::from_i32(packet.kind),
                packet.zxid
            )
        }
        Input::LeaderPacket(packet) => {
            format!(
                "from leader: {:?} 0x{:x}",
                PacketType::from_i32(packet.kind),
                packet.zxid
            )
        }
        Input::Election { from, msg } => format!(
            "vote from {from}: {:?} leader {} zxid 0x{:x} round {} epoch {}",
            msg.state, msg.leader, msg.zxid, msg.election_epoch, msg.peer_epoch
        ),
        other => format!("{other:?}").chars().take(120).collect(),
    }
}
