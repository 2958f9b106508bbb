//! kill -9 of ensemble members under a write load (guarantees 1 and 5 of DESIGN.md §1): client
//! tasks, two per member, each create their own fresh znodes through their own member and
//! record every write as acknowledged (with its zxid) or unknown (any error, no answer). The
//! test kills a member, waits for the others to serve and for the tasks to carry on, restarts
//! it, and does it again. At the end every member is killed and started again (recovery from
//! its own disk), and then:
//! * every acknowledged write is on every member (read after `sync`), with its data;
//! * nothing is there that no client wrote (every node under the load root was acknowledged
//!   or had an unknown outcome);
//! * every member holds the same tree, stat for stat;
//! * each task's acknowledged zxids increase in the order it sent them (FIFO client order),
//!   and a write sent after a new leader serves has a newer epoch than every write before the
//!   kill.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::ensemble::{Ensemble, SERVE_WAIT_MAX, assert_same_trees, dump};
use common::{guard, persistent};
use zookeeper_client as zk;

/// The parent of every node the load creates.
const LOAD_ROOT: &str = "/load";
/// Writer tasks per member.
const TASKS_PER_MEMBER: usize = 2;
/// A pause between two writes of one task: keeps the whole run to a few thousand writes.
const WRITE_PACE: Duration = Duration::from_millis(10);
/// Writes each task must get acknowledged to show that it carries on.
const PROGRESS_WRITES: u64 = 10;
/// Hang guard of one write: past it the outcome is unknown.
const WRITE_GUARD: Duration = Duration::from_secs(10);
const KILL_ROUNDS: usize = 3;

fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

fn epoch(zxid: i64) -> i64 {
    zxid >> 32
}

#[derive(Clone, Debug)]
struct WriteRecord {
    task: usize,
    path: String,
    invoked: Instant,
    /// The created node's czxid, if the create was acknowledged; `None`: unknown outcome.
    acked_zxid: Option<i64>,
}

/// The writer tasks and what they recorded.
struct Load {
    stop: Arc<AtomicBool>,
    acked: Arc<Vec<AtomicU64>>,
    records: Arc<Mutex<Vec<WriteRecord>>>,
    homes: Vec<u64>,
    handles: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(ens: &Ensemble) -> Load {
        let homes: Vec<u64> = ens
            .ids()
            .into_iter()
            .flat_map(|id| std::iter::repeat_n(id, TASKS_PER_MEMBER))
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let acked: Arc<Vec<AtomicU64>> =
            Arc::new((0..homes.len()).map(|_| AtomicU64::new(0)).collect());
        let records = Arc::new(Mutex::new(Vec::new()));
        let mut handles = Vec::new();
        for (task, home) in homes.iter().enumerate() {
            let addr = ens.member(*home).addr();
            let (stop, acked, records) = (stop.clone(), acked.clone(), records.clone());
            handles.push(tokio::spawn(async move {
                writer(task, addr, stop, acked, records).await
            }));
        }
        Load {
            stop,
            acked,
            records,
            homes,
            handles,
        }
    }

    fn acked(&self, task: usize) -> u64 {
        self.acked[task].load(Ordering::SeqCst)
    }

    fn tasks_on(&self, members: &[u64]) -> Vec<usize> {
        (0..self.homes.len())
            .filter(|t| members.contains(&self.homes[*t]))
            .collect()
    }

    /// Waits until each of `tasks` has `PROGRESS_WRITES` more acknowledged writes than now.
    async fn wait_progress(&self, tasks: &[usize], ens: &Ensemble, what: &str) {
        let targets: Vec<(usize, u64)> = tasks
            .iter()
            .map(|t| (*t, self.acked(*t) + PROGRESS_WRITES))
            .collect();
        let deadline = Instant::now() + SERVE_WAIT_MAX;
        while targets.iter().any(|(t, n)| self.acked(*t) < *n) {
            if Instant::now() > deadline {
                let counts: Vec<_> = targets
                    .iter()
                    .map(|(t, n)| (t, self.acked(*t), n))
                    .collect();
                panic!(
                    "{what}: writers stalled (task, acked, wanted): {counts:?}\n{}",
                    ens.log_tails()
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn max_acked_epoch(&self) -> i64 {
        self.records
            .lock()
            .unwrap()
            .iter()
            .filter_map(|r| r.acked_zxid.map(epoch))
            .max()
            .unwrap_or(0)
    }

    fn records_invoked_after(&self, t: Instant) -> Vec<WriteRecord> {
        self.records
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.invoked > t)
            .cloned()
            .collect()
    }

    async fn stop(self) -> Vec<WriteRecord> {
        self.stop.store(true, Ordering::SeqCst);
        for h in self.handles {
            h.await.expect("writer task panicked");
        }
        self.records.lock().unwrap().clone()
    }
}

/// One writer: creates `/load/t<task>-<seq>` holding its own path, through member `addr`
/// only, with a new session whenever the old one is gone.
async fn writer(
    task: usize,
    addr: String,
    stop: Arc<AtomicBool>,
    acked: Arc<Vec<AtomicU64>>,
    records: Arc<Mutex<Vec<WriteRecord>>>,
) {
    let mut client: Option<zk::Client> = None;
    let mut seq = 0u64;
    while !stop.load(Ordering::SeqCst) {
        let c = match &client {
            Some(c) if !c.state().is_terminated() => c.clone(),
            _ => {
                client = try_connect(&addr).await;
                if client.is_none() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                continue;
            }
        };
        seq += 1;
        let path = format!("{LOAD_ROOT}/t{task}-{seq:06}");
        let invoked = Instant::now();
        let result =
            tokio::time::timeout(WRITE_GUARD, c.create(&path, path.as_bytes(), &persistent()))
                .await;
        let acked_zxid = match result {
            Ok(Ok((stat, _))) => {
                acked[task].fetch_add(1, Ordering::SeqCst);
                Some(stat.czxid)
            }
            // ConnectionLoss, SessionExpired, no answer: it may or may not have happened.
            _ => None,
        };
        records.lock().unwrap().push(WriteRecord {
            task,
            path,
            invoked,
            acked_zxid,
        });
        tokio::time::sleep(WRITE_PACE).await;
    }
}

async fn try_connect(addr: &str) -> Option<zk::Client> {
    let mut connector = zk::Client::connector();
    connector.session_timeout(common::SESSION_TIMEOUT);
    connector.fail_eagerly();
    tokio::time::timeout(Duration::from_secs(5), connector.connect(addr))
        .await
        .ok()?
        .ok()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Victim {
    Leader,
    Follower,
}

async fn kill_repeatedly_under_load(victim: Victim) {
    let mut ens = Ensemble::start(3, &[]);
    blocking(|| ens.wait_serving());
    let setup = ens.client_any().await;
    guard(
        "create the load root",
        setup.create(LOAD_ROOT, b"", &persistent()),
    )
    .await
    .unwrap();
    drop(setup);
    let load = Load::start(&ens);
    load.wait_progress(&load.tasks_on(&ens.ids()), &ens, "before any kill")
        .await;

    for round in 0..KILL_ROUNDS {
        let leader = blocking(|| ens.wait_serving());
        let target = match victim {
            Victim::Leader => leader,
            Victim::Follower => ens.others(leader)[round % 2],
        };
        let epoch_before = load.max_acked_epoch();
        blocking(|| ens.kill9(target));
        let survivors = ens.others(target);
        let new_leader = blocking(|| ens.wait_serving_of(&survivors));
        let serving_since = Instant::now();
        if victim == Victim::Follower {
            assert_eq!(
                new_leader, leader,
                "round {round}: losing follower {target} changed the leader"
            );
        }
        load.wait_progress(
            &load.tasks_on(&survivors),
            &ens,
            &format!("round {round}: server.{target} killed"),
        )
        .await;
        if victim == Victim::Leader {
            for r in load.records_invoked_after(serving_since) {
                if let Some(z) = r.acked_zxid {
                    assert!(
                        epoch(z) > epoch_before,
                        "round {round}: {} was sent after server.{new_leader} led, but its \
                         zxid 0x{z:x} is of epoch {}, not newer than {epoch_before}",
                        r.path,
                        epoch(z)
                    );
                }
            }
        }
        blocking(|| {
            ens.restart(target);
            ens.wait_serving();
        });
        load.wait_progress(
            &load.tasks_on(&[target]),
            &ens,
            &format!("round {round}: server.{target} restarted"),
        )
        .await;
    }
    let records = load.stop().await;

    // Every member from its own disk.
    blocking(|| {
        for id in ens.ids() {
            ens.kill9(id);
        }
        for id in ens.ids() {
            ens.restart(id);
        }
        ens.wait_serving();
    });
    check_every_acknowledged_write_everywhere(&ens, &records).await;
}

async fn check_every_acknowledged_write_everywhere(ens: &Ensemble, records: &[WriteRecord]) {
    let acked: BTreeMap<&str, i64> = records
        .iter()
        .filter_map(|r| r.acked_zxid.map(|z| (r.path.as_str(), z)))
        .collect();
    let unknown = records.iter().filter(|r| r.acked_zxid.is_none()).count();
    eprintln!(
        "{} writes: {} acknowledged, {unknown} unknown",
        records.len(),
        acked.len()
    );

    // FIFO: one task's acknowledged zxids increase in the order it sent the writes.
    let mut last_by_task: HashMap<usize, (i64, &str)> = HashMap::new();
    for r in records {
        let Some(z) = r.acked_zxid else { continue };
        if let Some((prev, prev_path)) = last_by_task.insert(r.task, (z, &r.path)) {
            assert!(
                z > prev,
                "task {}: {} got zxid 0x{z:x} after {prev_path} got 0x{prev:x}",
                r.task,
                r.path
            );
        }
    }

    let mut dumps = Vec::new();
    for id in ens.ids() {
        let c = ens.client(id).await;
        let d = dump(&c, "/").await;
        for (path, czxid) in &acked {
            let node = d.get(*path).unwrap_or_else(|| {
                panic!("acknowledged write {path} (zxid 0x{czxid:x}) is missing on server.{id}")
            });
            assert_eq!(node.data, path.as_bytes(), "{path} on server.{id}");
            assert_eq!(node.stat.czxid, *czxid, "{path} on server.{id}");
        }
        let written: std::collections::HashSet<&str> =
            records.iter().map(|r| r.path.as_str()).collect();
        for path in d.keys() {
            if let Some(name) = path.strip_prefix(&format!("{LOAD_ROOT}/")) {
                assert!(
                    written.contains(path.as_str()),
                    "server.{id} holds {name}, which no client wrote"
                );
                assert_eq!(d[path].data, path.as_bytes(), "{path} on server.{id}");
            }
        }
        dumps.push((id, d));
    }
    assert_same_trees(&dumps, "after the run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_killed_repeatedly_under_writes_loses_no_acknowledged_write() {
    kill_repeatedly_under_load(Victim::Leader).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follower_killed_repeatedly_under_writes_loses_no_acknowledged_write() {
    kill_repeatedly_under_load(Victim::Follower).await;
}
