//! Linearizability of a real ensemble while its leaders are killed (guarantees 1, 2 and 4 of
//! DESIGN.md §1), judged by `tests/common/linear.rs`.
//!
//! Six sessions — per member one that talks only to it and one that roams (connect string
//! of every member, so it moves when its member dies) — run reads, `sync`+reads, blind
//! writes and compare-and-set (a `getData`, then `setData` with the version it returned) on
//! three registers. Every op is recorded with its invoke and return times and its outcome; an
//! error or no answer within the guard is an unknown outcome. Every value is written once, so
//! a version guard is a value guard. Meanwhile the leader is killed with SIGKILL and restarted,
//! three times. The checker must then find the history legal: writes, CAS and synced reads
//! linearizable, plain reads never from the future nor older than their session saw.
//!
//! So that the test cannot pass vacuously, the checker must also reject two corrupted copies
//! of the recorded history: one synced read turned stale, one plain read turned into a read
//! of a value first written after it returned.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::ensemble::{Ensemble, SERVE_WAIT_MAX};
use common::linear::{Action, Check, Config, History, Op, OpId, Outcome, SessionId, check};
use common::{guard, persistent};
use rand::{Rng, SeedableRng};
use zookeeper_client as zk;

const REGISTERS: usize = 3;
const KILL_ROUNDS: usize = 3;
/// Ops every session must complete to show that it carries on.
const PROGRESS_OPS: u64 = 15;
/// A pause between two ops of one session: a few thousand ops in all.
const OP_PACE: Duration = Duration::from_millis(5);
/// Hang guard of one request: past it the outcome is unknown.
const OP_GUARD: Duration = Duration::from_secs(10);

fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

fn register(k: usize) -> String {
    format!("/lin/r{k}")
}

/// The shared recorder: one clock, one history, one source of fresh values.
struct Recorder {
    origin: Instant,
    history: Mutex<History<u64>>,
    next_value: AtomicU64,
    /// Answered ops per session slot, to see that sessions carry on.
    answered: Vec<AtomicU64>,
}

impl Recorder {
    fn now(&self) -> u64 {
        self.origin.elapsed().as_nanos() as u64
    }

    fn invoke(&self, session: u64, key: &str, action: Action<u64>) -> OpId {
        let at = self.now();
        self.history
            .lock()
            .unwrap()
            .invoke(SessionId(session), key, action, at)
    }

    fn complete(&self, slot: usize, id: OpId, outcome: Outcome<u64>, zxid: Option<i64>) {
        let at = self.now();
        let mut h = self.history.lock().unwrap();
        h.complete(id, at, outcome);
        if let Some(z) = zxid {
            h.set_zxid(id, z);
        }
        self.answered[slot].fetch_add(1, Ordering::SeqCst);
    }

    fn fresh_value(&self) -> u64 {
        self.next_value.fetch_add(1, Ordering::SeqCst)
    }
}

fn decode(data: &[u8]) -> u64 {
    std::str::from_utf8(data)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("a register holds {data:?}, not a value of this test"))
}

async fn timed<T>(fut: impl std::future::Future<Output = Result<T, zk::Error>>) -> Option<T> {
    match tokio::time::timeout(OP_GUARD, fut).await {
        Ok(Ok(v)) => Some(v),
        _ => None,
    }
}

/// One session slot: runs random ops until `stop`, on a new session whenever the old one is
/// gone. `connect` is one member's address or every member's.
async fn session_loop(slot: usize, connect: String, rec: Arc<Recorder>, stop: Arc<AtomicBool>) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(slot as u64 * 7919 + 1);
    let mut client: Option<zk::Client> = None;
    while !stop.load(Ordering::SeqCst) {
        let c = match &client {
            Some(c) if !c.state().is_terminated() => c.clone(),
            _ => {
                client = try_connect(&connect).await;
                if client.is_none() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                continue;
            }
        };
        let session = c.session_id().0 as u64;
        let key = register(rng.gen_range(0..REGISTERS));
        match rng.gen_range(0..100) {
            0..35 => {
                let id = rec.invoke(session, &key, Action::Read);
                if let Some((data, stat)) = timed(c.get_data(&key)).await {
                    rec.complete(
                        slot,
                        id,
                        Outcome::Read(Some(decode(&data))),
                        Some(stat.mzxid),
                    );
                }
            }
            35..50 => {
                let id = rec.invoke(session, &key, Action::SyncedRead);
                if timed(c.sync(&key)).await.is_some()
                    && let Some((data, stat)) = timed(c.get_data(&key)).await
                {
                    rec.complete(
                        slot,
                        id,
                        Outcome::Read(Some(decode(&data))),
                        Some(stat.mzxid),
                    );
                }
            }
            50..75 => {
                let v = rec.fresh_value();
                let id = rec.invoke(session, &key, Action::Write(v));
                let r = tokio::time::timeout(
                    OP_GUARD,
                    c.set_data(&key, v.to_string().as_bytes(), None),
                )
                .await;
                if let Ok(Ok(stat)) = r {
                    rec.complete(slot, id, Outcome::Ok, Some(stat.mzxid));
                }
            }
            _ => {
                // Compare-and-set: the read is an op of its own.
                let rid = rec.invoke(session, &key, Action::Read);
                let Some((data, stat)) = timed(c.get_data(&key)).await else {
                    continue;
                };
                let seen = decode(&data);
                rec.complete(slot, rid, Outcome::Read(Some(seen)), Some(stat.mzxid));
                let v = rec.fresh_value();
                let action = Action::Cas {
                    expect: Some(seen),
                    new: v,
                };
                let id = rec.invoke(session, &key, action);
                let r = tokio::time::timeout(
                    OP_GUARD,
                    c.set_data(&key, v.to_string().as_bytes(), Some(stat.version)),
                )
                .await;
                match r {
                    Ok(Ok(stat)) => rec.complete(slot, id, Outcome::Ok, Some(stat.mzxid)),
                    Ok(Err(zk::Error::BadVersion)) => rec.complete(slot, id, Outcome::Failed, None),
                    // Unknown: ConnectionLoss, SessionExpired, no answer.
                    _ => {}
                }
            }
        }
        tokio::time::sleep(OP_PACE).await;
    }
}

async fn try_connect(connect: &str) -> Option<zk::Client> {
    let mut connector = zk::Client::connector();
    connector.session_timeout(common::SESSION_TIMEOUT);
    connector.fail_eagerly();
    tokio::time::timeout(Duration::from_secs(5), connector.connect(connect))
        .await
        .ok()?
        .ok()
}

async fn wait_progress(rec: &Recorder, slots: &[usize], ens: &Ensemble, what: &str) {
    let targets: Vec<(usize, u64)> = slots
        .iter()
        .map(|s| (*s, rec.answered[*s].load(Ordering::SeqCst) + PROGRESS_OPS))
        .collect();
    let deadline = Instant::now() + SERVE_WAIT_MAX;
    while targets
        .iter()
        .any(|(s, n)| rec.answered[*s].load(Ordering::SeqCst) < *n)
    {
        if Instant::now() > deadline {
            panic!("{what}: sessions stalled\n{}", ens.log_tails());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_writes_and_cas_stay_linearizable_while_leaders_are_killed() {
    let mut ens = Ensemble::start(3, &[]);
    blocking(|| ens.wait_serving());
    let ids = ens.ids();
    // Per member: a session on it alone, and one that roams.
    let connects: Vec<(u64, String)> = ids
        .iter()
        .flat_map(|id| [(*id, ens.member(*id).addr()), (0, ens.connect_string())])
        .collect();
    let rec = Arc::new(Recorder {
        origin: Instant::now(),
        history: Mutex::new(History::new()),
        next_value: AtomicU64::new(1),
        answered: (0..connects.len()).map(|_| AtomicU64::new(0)).collect(),
    });

    // The registers are created inside the history, before any other op.
    let setup = ens.client_any().await;
    guard("create /lin", setup.create("/lin", b"", &persistent()))
        .await
        .unwrap();
    for k in 0..REGISTERS {
        let key = register(k);
        let v = rec.fresh_value();
        let id = rec.invoke(setup.session_id().0 as u64, &key, Action::Write(v));
        guard(
            "create a register",
            setup.create(&key, v.to_string().as_bytes(), &persistent()),
        )
        .await
        .unwrap();
        rec.complete(0, id, Outcome::Ok, None);
    }
    drop(setup);

    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = connects
        .iter()
        .enumerate()
        .map(|(slot, (_, connect))| {
            tokio::spawn(session_loop(
                slot,
                connect.clone(),
                rec.clone(),
                stop.clone(),
            ))
        })
        .collect();
    let all_slots: Vec<usize> = (0..connects.len()).collect();
    wait_progress(&rec, &all_slots, &ens, "before any kill").await;

    for round in 0..KILL_ROUNDS {
        let leader = blocking(|| ens.wait_serving());
        blocking(|| ens.kill9(leader));
        let survivors = ens.others(leader);
        blocking(|| ens.wait_serving_of(&survivors));
        // Sessions pinned to the dead leader wait for its restart; the others carry on.
        let carrying_on: Vec<usize> = all_slots
            .iter()
            .copied()
            .filter(|s| connects[*s].0 != leader)
            .collect();
        wait_progress(
            &rec,
            &carrying_on,
            &ens,
            &format!("round {round}: leader down"),
        )
        .await;
        blocking(|| {
            ens.restart(leader);
            ens.wait_serving();
        });
        wait_progress(&rec, &all_slots, &ens, &format!("round {round}: all back")).await;
    }
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        t.await.expect("session task panicked");
    }

    let history = rec.history.lock().unwrap().clone();
    let count = |f: &dyn Fn(&Op<u64>) -> bool| history.ops().iter().filter(|o| f(o)).count();
    let outcome = |o: &Op<u64>| o.ret.as_ref().map(|r| r.outcome.clone());
    let is_cas = |o: &Op<u64>| matches!(o.action, Action::Cas { .. });
    let cas_applied = count(&|o| is_cas(o) && outcome(o) == Some(Outcome::Ok));
    let cas_failed = count(&|o| is_cas(o) && outcome(o) == Some(Outcome::Failed));
    eprintln!(
        "{} ops: {} unknown; {} writes, {cas_applied} CAS applied, {cas_failed} CAS failed, \
         {} reads, {} synced reads answered",
        history.len(),
        count(&|o| o.ret.is_none()),
        count(&|o| matches!(o.action, Action::Write(_)) && o.ret.is_some()),
        count(&|o| matches!(o.action, Action::Read) && o.ret.is_some()),
        count(&|o| matches!(o.action, Action::SyncedRead) && o.ret.is_some()),
    );
    // Both sides of a CAS were exercised: sessions raced on the registers.
    assert!(
        cas_applied > 0 && cas_failed > 0,
        "CAS applied {cas_applied}, failed {cas_failed}"
    );
    let report = check(&history, &Config::default()).expect("a well-formed history");
    assert!(
        report.is_ok(),
        "the ensemble's history is not allowed:\n{report}"
    );

    // The checker bites on this very history once one answer is made wrong.
    let (stale, read) = stale_synced_read(&history).expect("a synced read after two writes");
    let report = check(&stale, &Config::default()).expect("well-formed");
    let v = report
        .violations()
        .next()
        .unwrap_or_else(|| panic!("a stale synced read passed:\n{report}"));
    assert_eq!(v.check, Check::Linearizable, "{report}");
    assert_eq!(v.blocking, read, "{report}");

    let (future, read) = read_from_the_future(&history).expect("a read before a later write");
    let report = check(&future, &Config::default()).expect("well-formed");
    let v = report
        .violations()
        .next()
        .unwrap_or_else(|| panic!("a read from the future passed:\n{report}"));
    assert_eq!(v.check, Check::SessionReads, "{report}");
    assert_eq!(v.blocking, read, "{report}");
}

/// A copy of `h` in which op `id`'s answer is `outcome`.
fn with_answer(h: &History<u64>, id: OpId, outcome: Outcome<u64>) -> History<u64> {
    let mut copy = History::new();
    for (i, op) in h.ops().iter().enumerate() {
        let mut op: Op<u64> = op.clone();
        if i == id.0 {
            op.ret.as_mut().expect("an answered op").outcome = outcome.clone();
        }
        copy.push(op);
    }
    copy
}

/// The value an answered op wrote, if it wrote one.
fn written(op: &Op<u64>) -> Option<u64> {
    let ret = op.ret.as_ref()?;
    match (&op.action, &ret.outcome) {
        (Action::Write(v), Outcome::Ok) | (Action::Cas { new: v, .. }, Outcome::Ok) => Some(*v),
        _ => None,
    }
}

/// A synced read made to return the value of a write that an acknowledged write had
/// replaced before the read was invoked (values are written once, so it cannot come back).
fn stale_synced_read(h: &History<u64>) -> Option<(History<u64>, OpId)> {
    let ops = h.ops();
    for (ri, r) in ops.iter().enumerate() {
        let (Action::SyncedRead, Some(ret)) = (&r.action, &r.ret) else {
            continue;
        };
        let same_key = |o: &&Op<u64>| o.key == r.key;
        for w2 in ops.iter().filter(same_key) {
            let Some(w2_ret) = w2.ret.as_ref().filter(|_| written(w2).is_some()) else {
                continue;
            };
            if w2_ret.at >= r.invoke {
                continue;
            }
            for w1 in ops.iter().filter(same_key) {
                let Some(old) = written(w1) else { continue };
                let w1_ret = w1.ret.as_ref().expect("written ops are answered");
                if w1_ret.at < w2.invoke && ret.outcome != Outcome::Read(Some(old)) {
                    let id = OpId(ri);
                    return Some((with_answer(h, id, Outcome::Read(Some(old))), id));
                }
            }
        }
    }
    None
}

/// A plain read made to return a value first written after the read returned.
fn read_from_the_future(h: &History<u64>) -> Option<(History<u64>, OpId)> {
    let ops = h.ops();
    for (ri, r) in ops.iter().enumerate() {
        let (Action::Read, Some(ret)) = (&r.action, &r.ret) else {
            continue;
        };
        for w in ops.iter().filter(|o| o.key == r.key) {
            let new = match &w.action {
                Action::Write(v) | Action::Cas { new: v, .. } => *v,
                _ => continue,
            };
            if w.invoke > ret.at {
                let id = OpId(ri);
                return Some((with_answer(h, id, Outcome::Read(Some(new))), id));
            }
        }
    }
    None
}
