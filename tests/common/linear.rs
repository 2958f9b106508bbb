//! The history checker: decides whether operations recorded against corral (ensemble tests,
//! the deterministic simulation) are allowed by ZooKeeper's guarantees (`docs/architecture.md`
//! §1). It owns only that verdict: it never talks to a server, never reads a clock, and uses
//! std alone, so any recorder can feed it.
//!
//! A caller records, per operation: the session, the key (znode path), what was asked
//! ([`Action`]), the invoke time, and — if an answer came — the return time and the
//! [`Outcome`]. No answer (ConnectionLoss, a timeout) means "unknown": the op may have taken
//! effect at any time after its invoke, or never. Times are any monotonic integers of one clock;
//! op A precedes op B in real time iff `A.return < B.invoke` (equal times overlap).
//!
//! Each key is a register checked on its own (linearizability is compositional), by up to two
//! Wing–Gong searches (the entry list, linearize and lift, undo on backtrack) with Lowe's cache
//! of (linearized set, state):
//!
//! 1. [`Check::Linearizable`]: writes, CAS (applied, failed — a failed CAS observed a value —
//!    and unknown) and linearizable reads ([`Action::SyncedRead`], or every read under
//!    [`Config::strict_reads`]) must form a linearizable register history: a witness order.
//! 2. [`Check::SessionReads`]: ZooKeeper serves reads locally, so a plain read need not be
//!    linearizable; it must return a state that some prefix of the write order produced such
//!    that (a) every op of that prefix was invoked before the read returned, and (b) the state
//!    is not older than what the session already saw on that key: its own earlier answered
//!    writes and CAS (applied or failed), and its earlier reads.
//!
//! How check 2 is done, and why it is sound and complete: a plain read is an op of the same
//! search with a relaxed interval. Its return stays real, so everything placed before it was
//! invoked before it returned — rule (a). Its invoke becomes "once the session's previous
//! answered op on this key is placed" — rule (b) — so it may sit at any earlier point: stale,
//! but never older than what its session saw. Orders meeting these relaxed intervals exist iff
//! some write order with a mapping of reads meeting (a) and (b) does: placing each read right
//! after the op whose state it returned turns one into the other. So when the reads do not
//! fit the witness of check 1 (each mapped greedily to its earliest allowed position, which is
//! optimal for a fixed order), the search looks for a write order that explains them too.
//!
//! Pruning beyond plain WGL, each rule sound because a pruned branch cannot succeed where a
//! kept one fails (checked against a brute-force enumeration of the definition in
//! `tests/linearizability_checker.rs`):
//! * An answered op that never changes the state (a read, a failed CAS) is placed as soon as it
//!   fits, before anything else is tried, and never taken back for an alternative: placing it
//!   earlier only loosens what follows.
//! * A move away from the current value is not tried while an unplaced op still needs that
//!   value and nothing unplaced can write it again (the "pinned" value).
//! * An unknown op is tried only after the answered ones, only if it changes the state, and
//!   only if some current candidate other than a blind write can follow it (otherwise leaving
//!   it out yields the same states). A search ends once every answered op is placed; unknown
//!   ones left over are omitted.
//! * The cache holds the linearized set exactly (ranks in return order: a prefix count plus
//!   the few ranks beyond it), so a hit is never a false one.
//!
//! Every order the search or the cheap path produces is replayed by an independent validator
//! before it is trusted. A violation is narrowed to the shortest illegal prefix by a binary
//! search over the returns (legality is only lost as a prefix grows; the search's own dead end
//! cannot tell, since the pinned-value rule looks ahead). Every search is bounded by
//! [`Config::step_budget_per_key`]; past it the verdict is [`Verdict::Undecided`]. Not checked:
//! orders across keys (a session's view across znodes, multi), and the server's zxids (kept for
//! diagnostics only).

use std::collections::{BTreeMap, HashMap};
use std::fmt::{self, Debug, Write as _};
use std::hash::{BuildHasherDefault, Hash, Hasher};

/// A client session (one ZooKeeper session id, or any id the recorder gives a sequential client).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId(pub u64);

/// An op's index in its [`History`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OpId(pub usize);

/// What a client asked. The register's initial value is `None` (the znode is absent).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action<V> {
    /// An unconditional setData (or create of a fresh node).
    Write(V),
    /// A guarded setData: applies `new` iff the register holds `expect` (a version guard is
    /// the same thing when each value is written once). `expect: None` is a create.
    Cas { expect: Option<V>, new: V },
    /// A plain getData, served locally by whichever member the session is connected to.
    Read,
    /// A read that must be linearizable: a getData right after a `sync` of the same session
    /// (record the sync's invoke as the invoke), or any read of a single-member ensemble.
    SyncedRead,
}

/// What the server answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome<V> {
    /// A write or CAS that applied.
    Ok,
    /// A CAS that did not apply because the register did not hold `expect` (BadVersion,
    /// NoNode, NodeExists). A `Write` answered with a definite error had no effect: record it
    /// as `Failed` and the checker ignores it.
    Failed,
    /// The value a read returned (`None`: absent).
    Read(Option<V>),
}

/// The answer to an op: when it arrived and what it said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Return<V> {
    pub at: u64,
    pub outcome: Outcome<V>,
}

/// One recorded operation.
#[derive(Clone, Debug)]
pub struct Op<V> {
    pub session: SessionId,
    pub key: String,
    pub action: Action<V>,
    pub invoke: u64,
    /// `None`: no answer, the outcome is unknown.
    pub ret: Option<Return<V>>,
    /// The zxid the server reported, shown in explanations; never used for the verdict.
    pub zxid: Option<i64>,
}

/// The recorded operations of one run, in any order.
#[derive(Clone, Debug)]
pub struct History<V> {
    ops: Vec<Op<V>>,
}

impl<V> Default for History<V> {
    fn default() -> Self {
        History { ops: Vec::new() }
    }
}

impl<V> History<V> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a call; complete it with [`History::complete`], or leave it unknown.
    pub fn invoke(&mut self, session: SessionId, key: &str, action: Action<V>, at: u64) -> OpId {
        self.push(Op {
            session,
            key: key.to_string(),
            action,
            invoke: at,
            ret: None,
            zxid: None,
        })
    }

    /// Records the answer to `id`.
    pub fn complete(&mut self, id: OpId, at: u64, outcome: Outcome<V>) {
        let op = &mut self.ops[id.0];
        assert!(op.ret.is_none(), "op {} completed twice", id.0);
        op.ret = Some(Return { at, outcome });
    }

    pub fn set_zxid(&mut self, id: OpId, zxid: i64) {
        self.ops[id.0].zxid = Some(zxid);
    }

    pub fn push(&mut self, op: Op<V>) -> OpId {
        self.ops.push(op);
        OpId(self.ops.len() - 1)
    }

    pub fn ops(&self) -> &[Op<V>] {
        &self.ops
    }

    pub fn op(&self, id: OpId) -> &Op<V> {
        &self.ops[id.0]
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// How to check.
#[derive(Clone, Debug)]
pub struct Config {
    /// Check every read as linearizable (a single-member history, or a recorder that syncs
    /// before each read), not only [`Action::SyncedRead`].
    pub strict_reads: bool,
    /// Steps (list entries visited, unknown ops tried, backtracks) one search may take. A key
    /// takes one or two searches, and a violation about a dozen more to find its shortest
    /// illegal prefix.
    pub step_budget_per_key: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            strict_reads: false,
            step_budget_per_key: 2_000_000,
        }
    }
}

/// A history the checker cannot interpret (a recorder bug, not a server bug).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HistoryError {
    ReturnBeforeInvoke { op: OpId },
    OutcomeDoesNotFit { op: OpId },
}

impl fmt::Display for HistoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HistoryError::ReturnBeforeInvoke { op } => {
                write!(f, "op #{} returns before its invoke", op.0)
            }
            HistoryError::OutcomeDoesNotFit { op } => {
                write!(f, "op #{} has an outcome its action cannot have", op.0)
            }
        }
    }
}

impl std::error::Error for HistoryError {}

/// Which guarantee a verdict is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// Writes, CAS and linearizable reads form one linearizable register history.
    Linearizable,
    /// Plain reads return states ZooKeeper allows (no future, not older than the session saw).
    SessionReads,
}

impl Check {
    fn title(self) -> &'static str {
        match self {
            Check::Linearizable => "writes, CAS and synced reads are not linearizable",
            Check::SessionReads => {
                "a read breaks ZooKeeper's read guarantee (no future, monotonic per session)"
            }
        }
    }
}

/// A legal order for one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Witness {
    /// Every answered op of the key and the unknown ones that took effect, in order. A plain
    /// read stands right after the op whose state it returned (possibly long before its invoke).
    pub order: Vec<OpId>,
    /// Unknown-outcome ops this order leaves out (they never took effect).
    pub omitted: Vec<OpId>,
}

/// Why one key's history is not allowed.
#[derive(Clone, Debug)]
pub struct Violation {
    pub check: Check,
    /// The op whose return makes the history illegal: the history up to that return has no
    /// legal order, everything before it has one.
    pub blocking: OpId,
    /// The time of that return.
    pub prefix_end: u64,
    /// One legal order of everything before that return.
    pub partial: Vec<OpId>,
    /// The ops that explain the failure: the blocking op, the ops overlapping it, the session
    /// op a plain read may not be older than, the last ops of `partial`.
    pub involved: Vec<OpId>,
    /// A readable account of all the above.
    pub explanation: String,
}

/// The verdict for one key.
#[derive(Clone, Debug)]
pub enum Verdict {
    Ok(Witness),
    Violation(Violation),
    /// The step budget ran out first.
    Undecided {
        check: Check,
        explanation: String,
    },
}

#[derive(Clone, Debug)]
pub struct KeyReport {
    pub key: String,
    pub verdict: Verdict,
    /// Search steps spent on this key (both checks).
    pub steps: u64,
}

/// The verdicts of a history, one per key, sorted by key.
#[derive(Clone, Debug)]
pub struct Report {
    pub keys: Vec<KeyReport>,
}

impl Report {
    /// Every key passed.
    pub fn is_ok(&self) -> bool {
        self.keys
            .iter()
            .all(|k| matches!(k.verdict, Verdict::Ok(_)))
    }

    /// Some key is proven illegal.
    pub fn is_violation(&self) -> bool {
        self.violations().next().is_some()
    }

    /// No key is proven illegal, but some key ran out of budget.
    pub fn is_undecided(&self) -> bool {
        !self.is_violation() && !self.is_ok()
    }

    pub fn violations(&self) -> impl Iterator<Item = &Violation> {
        self.keys.iter().filter_map(|k| match &k.verdict {
            Verdict::Violation(v) => Some(v),
            _ => None,
        })
    }

    pub fn key(&self, key: &str) -> Option<&KeyReport> {
        self.keys.iter().find(|k| k.key == key)
    }

    pub fn steps(&self) -> u64 {
        self.keys.iter().map(|k| k.steps).sum()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for k in &self.keys {
            match &k.verdict {
                Verdict::Ok(w) => writeln!(
                    f,
                    "{}: ok ({} ops in order, {} unknown omitted, {} steps)",
                    k.key,
                    w.order.len(),
                    w.omitted.len(),
                    k.steps
                )?,
                Verdict::Violation(v) => writeln!(f, "{}", v.explanation)?,
                Verdict::Undecided { explanation, .. } => writeln!(f, "{explanation}")?,
            }
        }
        Ok(())
    }
}

/// Checks `history` key by key.
pub fn check<V>(history: &History<V>, config: &Config) -> Result<Report, HistoryError>
where
    V: Eq + Hash + Debug,
{
    validate_history(history)?;
    let mut by_key: BTreeMap<&str, Vec<OpId>> = BTreeMap::new();
    for (i, op) in history.ops.iter().enumerate() {
        by_key.entry(op.key.as_str()).or_default().push(OpId(i));
    }
    let keys = by_key
        .into_iter()
        .map(|(key, ids)| check_key(key, &ids, history, config))
        .collect();
    Ok(Report { keys })
}

fn validate_history<V>(history: &History<V>) -> Result<(), HistoryError> {
    for (i, op) in history.ops.iter().enumerate() {
        let Some(ret) = &op.ret else { continue };
        if ret.at < op.invoke {
            return Err(HistoryError::ReturnBeforeInvoke { op: OpId(i) });
        }
        let fits = matches!(
            (&op.action, &ret.outcome),
            (
                Action::Write(_) | Action::Cas { .. },
                Outcome::Ok | Outcome::Failed
            ) | (Action::Read | Action::SyncedRead, Outcome::Read(_))
        );
        if !fits {
            return Err(HistoryError::OutcomeDoesNotFit { op: OpId(i) });
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// One key's ops, interned and placed on the entry line.

/// Interned values: 0 is the absent (initial) value.
const ABSENT: u32 = 0;
const NIL: u32 = u32::MAX;
/// Node 0 is the list head; op `i` has call node `1 + 2i` and return node `2 + 2i`.
const HEAD: u32 = 0;

fn call_node(op: u32) -> u32 {
    1 + 2 * op
}

fn ret_node(op: u32) -> u32 {
    2 + 2 * op
}

fn node_op(node: u32) -> u32 {
    (node - 1) / 2
}

fn is_call(node: u32) -> bool {
    node % 2 == 1
}

/// The register model, over interned values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Write(u32),
    Cas { expect: u32, new: u32 },
    CasFailed { expect: u32 },
    Read(u32),
}

impl Step {
    fn apply(self, state: u32) -> Option<u32> {
        match self {
            Step::Write(v) => Some(v),
            Step::Cas { expect, new } => (state == expect).then_some(new),
            Step::CasFailed { expect } => (state != expect).then_some(state),
            Step::Read(v) => (state == v).then_some(state),
        }
    }

    /// Leaves every state as it is (not only the current one): the condition for placing an op
    /// as soon as it fits, with no alternative tried.
    fn never_changes_state(self) -> bool {
        match self {
            Step::Read(_) | Step::CasFailed { .. } => true,
            Step::Cas { expect, new } => expect == new,
            Step::Write(_) => false,
        }
    }

    fn produces(self) -> Option<u32> {
        match self {
            Step::Write(v) | Step::Cas { new: v, .. } => Some(v),
            _ => None,
        }
    }
}

struct LOp {
    id: OpId,
    session: SessionId,
    step: Step,
    /// A plain read: stale allowed (check 2).
    plain_read: bool,
    known: bool,
    /// For a plain read: the session's previous answered op on this key.
    pred: Option<u32>,
    /// The plain read whose `pred` is this op.
    succ: Option<u32>,
}

impl LOp {
    /// The value the register must hold for this op to take its place (an applied CAS, a
    /// read). An unknown CAS needs nothing: it may be left out.
    fn needs(&self) -> Option<u32> {
        match self.step {
            Step::Read(v) => Some(v),
            Step::Cas { expect, .. } if self.known => Some(expect),
            _ => None,
        }
    }
}

struct KeyOps {
    key: String,
    ops: Vec<LOp>,
    /// Display form of each interned value.
    names: Vec<String>,
    /// Every node in entry order: calls and returns by time, a plain read's call right after
    /// its `pred`'s call (or first, without one).
    order: Vec<u32>,
    /// Position in `order`, by node (NIL: no such node).
    pos: Vec<u32>,
    /// Times by op, for explanations.
    times: Vec<(u64, Option<u64>)>,
}

/// A prefix of a history: everything up to and including the return of op `id` at time `at`
/// (returns at the same time count up to that op). Ops invoked by then but answered later are
/// pending in the prefix: unknown.
#[derive(Clone, Copy)]
struct Cut {
    at: u64,
    id: OpId,
}

impl KeyOps {
    fn build<V>(
        key: &str,
        ids: &[OpId],
        history: &History<V>,
        strict: bool,
        cut: Option<Cut>,
    ) -> KeyOps
    where
        V: Eq + Hash + Debug,
    {
        let mut interner = Interner::default();
        let mut ops = Vec::new();
        let mut times = Vec::new();
        for &id in ids {
            let op = &history.ops[id.0];
            if cut.is_some_and(|c| op.invoke > c.at) {
                continue;
            }
            let ret = op
                .ret
                .as_ref()
                .filter(|r| cut.is_none_or(|c| (r.at, id) <= (c.at, c.id)));
            let Some(step) = interner.step_of(op, ret.map(|r| &r.outcome)) else {
                continue;
            };
            ops.push(LOp {
                id,
                session: op.session,
                step,
                plain_read: matches!(op.action, Action::Read) && !strict,
                known: ret.is_some(),
                pred: None,
                succ: None,
            });
            times.push((op.invoke, ret.map(|r| r.at)));
        }
        link_sessions(&mut ops, &times);
        let order = entry_order(&ops, &times);
        let mut pos = vec![NIL; 1 + 2 * ops.len()];
        for (p, &node) in order.iter().enumerate() {
            pos[node as usize] = p as u32;
        }
        KeyOps {
            key: key.to_string(),
            ops,
            names: interner.names,
            order,
            pos,
            times,
        }
    }

    fn call_pos(&self, i: u32) -> u32 {
        self.pos[call_node(i) as usize]
    }

    /// NIL (after everything) for an unknown op.
    fn ret_pos(&self, i: u32) -> u32 {
        if self.ops[i as usize].known {
            self.pos[ret_node(i) as usize]
        } else {
            NIL
        }
    }

    fn has_plain_reads(&self) -> bool {
        self.ops.iter().any(|o| o.plain_read)
    }
}

struct Interner<'v, V> {
    index: HashMap<&'v V, u32>,
    names: Vec<String>,
}

impl<V> Default for Interner<'_, V> {
    fn default() -> Self {
        Interner {
            index: HashMap::new(),
            names: vec!["(absent)".to_string()],
        }
    }
}

impl<'v, V: Eq + Hash + Debug> Interner<'v, V> {
    fn value(&mut self, v: Option<&'v V>) -> u32 {
        let Some(v) = v else { return ABSENT };
        let next = self.names.len() as u32;
        let id = *self.index.entry(v).or_insert(next);
        if id == next {
            self.names.push(format!("{v:?}"));
        }
        id
    }

    /// The model step of an op answered with `outcome` (`None`: unknown), or `None` for ops
    /// that cannot matter (a write that definitely failed, a read without an answer).
    fn step_of(&mut self, op: &'v Op<V>, outcome: Option<&'v Outcome<V>>) -> Option<Step> {
        Some(match (&op.action, outcome) {
            (Action::Write(v), None | Some(Outcome::Ok)) => Step::Write(self.value(Some(v))),
            (Action::Write(_), Some(_)) => return None,
            (Action::Cas { expect, new }, None | Some(Outcome::Ok)) => Step::Cas {
                expect: self.value(expect.as_ref()),
                new: self.value(Some(new)),
            },
            (Action::Cas { expect, .. }, Some(_)) => Step::CasFailed {
                expect: self.value(expect.as_ref()),
            },
            (Action::Read | Action::SyncedRead, Some(Outcome::Read(v))) => {
                Step::Read(self.value(v.as_ref()))
            }
            (Action::Read | Action::SyncedRead, _) => return None,
        })
    }
}

/// Links each plain read to its session's previous answered op on this key (session order is
/// invoke order; an unknown op observed nothing the session can rely on).
fn link_sessions(ops: &mut [LOp], times: &[(u64, Option<u64>)]) {
    let mut by_session: BTreeMap<SessionId, Vec<u32>> = BTreeMap::new();
    for (i, op) in ops.iter().enumerate() {
        by_session.entry(op.session).or_default().push(i as u32);
    }
    for list in by_session.values_mut() {
        list.sort_by_key(|&i| (times[i as usize].0, ops[i as usize].id));
        let mut prev_known: Option<u32> = None;
        for &i in list.iter() {
            if ops[i as usize].plain_read {
                ops[i as usize].pred = prev_known;
                if let Some(p) = prev_known {
                    ops[p as usize].succ = Some(i);
                }
            }
            if ops[i as usize].known {
                prev_known = Some(i);
            }
        }
    }
}

/// Calls and returns by time (a call before a return at the same time: they overlap); each
/// plain read's call right behind its predecessor's call, or at the very front.
fn entry_order(ops: &[LOp], times: &[(u64, Option<u64>)]) -> Vec<u32> {
    let mut events: Vec<(u64, u8, OpId, u32)> = Vec::with_capacity(2 * ops.len());
    for (i, op) in ops.iter().enumerate() {
        let i = i as u32;
        if !op.plain_read {
            events.push((times[i as usize].0, 0, op.id, call_node(i)));
        }
        if let Some(at) = times[i as usize].1 {
            events.push((at, 1, op.id, ret_node(i)));
        }
    }
    events.sort_unstable();
    let mut order = Vec::with_capacity(2 * ops.len());
    let push_chain = |order: &mut Vec<u32>, mut next: Option<u32>| {
        while let Some(r) = next {
            order.push(call_node(r));
            next = ops[r as usize].succ;
        }
    };
    let mut heads: Vec<u32> = (0..ops.len() as u32)
        .filter(|&i| ops[i as usize].plain_read && ops[i as usize].pred.is_none())
        .collect();
    heads.sort_by_key(|&i| (ops[i as usize].session, ops[i as usize].id));
    for h in heads {
        push_chain(&mut order, Some(h));
    }
    for &(_, _, _, node) in &events {
        order.push(node);
        if is_call(node) {
            push_chain(&mut order, ops[node_op(node) as usize].succ);
        }
    }
    order
}

// ---------------------------------------------------------------------------------------------
// One search problem: which ops take part, and their ranks for the linearized-set cache.

struct Problem<'k> {
    k: &'k KeyOps,
    /// Plain reads take part (check 2); otherwise only linearizable ops (check 1).
    with_plain_reads: bool,
    included: Vec<bool>,
    /// Index in return order (unknown ops last): the linearized set is nearly a prefix of it.
    rank: Vec<u32>,
    zobrist: Vec<u64>,
    known: usize,
    /// Unknown ops (kept out of the entry list), by call position; and by the value they write.
    unknown: Vec<u32>,
    unknown_by_value: HashMap<u32, Vec<u32>>,
    unknown_cas: Vec<u32>,
}

impl<'k> Problem<'k> {
    fn new(k: &'k KeyOps, with_plain_reads: bool) -> Problem<'k> {
        let n = k.ops.len();
        let included: Vec<bool> = k
            .ops
            .iter()
            .map(|o| with_plain_reads || !o.plain_read)
            .collect();
        let mut members: Vec<u32> = (0..n as u32).filter(|&i| included[i as usize]).collect();
        members.sort_by_key(|&i| (k.ret_pos(i), k.call_pos(i)));
        let mut rank = vec![NIL; n];
        for (r, &i) in members.iter().enumerate() {
            rank[i as usize] = r as u32;
        }
        let zobrist = (0..n as u64).map(|i| mix64(i ^ 0x6c69_6e65_6172)).collect();
        let known = members.iter().filter(|&&i| k.ops[i as usize].known).count();
        let mut unknown: Vec<u32> = members
            .iter()
            .copied()
            .filter(|&i| !k.ops[i as usize].known)
            .collect();
        unknown.sort_by_key(|&i| k.call_pos(i));
        let mut unknown_by_value: HashMap<u32, Vec<u32>> = HashMap::new();
        for &u in &unknown {
            if let Some(v) = k.ops[u as usize].step.produces() {
                unknown_by_value.entry(v).or_default().push(u);
            }
        }
        let unknown_cas = unknown
            .iter()
            .copied()
            .filter(|&u| matches!(k.ops[u as usize].step, Step::Cas { .. }))
            .collect();
        Problem {
            k,
            with_plain_reads,
            included,
            rank,
            zobrist,
            known,
            unknown,
            unknown_by_value,
            unknown_cas,
        }
    }

    fn succ(&self, i: u32) -> Option<u32> {
        if self.with_plain_reads {
            self.k.ops[i as usize].succ
        } else {
            None
        }
    }

    /// Not in the entry list at the start: unknown ops (tried apart, see
    /// [`Search::unknown_candidates`]), and a plain read with a predecessor (it enters once
    /// that predecessor is placed).
    fn starts_hidden(&self, node: u32) -> bool {
        let op = &self.k.ops[node_op(node) as usize];
        !op.known || (is_call(node) && op.plain_read && op.pred.is_some())
    }

    fn check(&self) -> Check {
        if self.with_plain_reads {
            Check::SessionReads
        } else {
            Check::Linearizable
        }
    }
}

fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

// ---------------------------------------------------------------------------------------------
// The search: Wing–Gong over a doubly linked entry list, with Lowe's cache.

/// The linearized set, exactly: every rank below `prefix`, plus the sorted ranks in `beyond`.
struct RankSet {
    prefix: u32,
    beyond: Vec<u32>,
    hash: u64,
}

impl RankSet {
    /// Adds `rank`; returns the prefix before, for [`RankSet::remove`].
    fn insert(&mut self, rank: u32, z: u64) -> u32 {
        let old = self.prefix;
        self.hash ^= z;
        if rank == self.prefix {
            self.prefix += 1;
            let absorbed = self
                .beyond
                .iter()
                .zip(self.prefix..)
                .take_while(|(b, p)| **b == *p)
                .count();
            self.beyond.drain(..absorbed);
            self.prefix += absorbed as u32;
        } else {
            debug_assert!(rank > self.prefix, "rank {rank} is already in the set");
            let at = self.beyond.partition_point(|&b| b < rank);
            self.beyond.insert(at, rank);
        }
        old
    }

    /// Undoes the matching [`RankSet::insert`] (last in, first out).
    fn remove(&mut self, rank: u32, z: u64, old_prefix: u32) {
        self.hash ^= z;
        if rank == old_prefix {
            self.beyond.splice(0..0, old_prefix + 1..self.prefix);
            self.prefix = old_prefix;
        } else {
            let at = self.beyond.partition_point(|&b| b < rank);
            debug_assert_eq!(self.beyond.get(at), Some(&rank));
            self.beyond.remove(at);
        }
    }
}

/// A visited configuration, compared exactly.
struct Seen {
    state: u32,
    after_unknown: bool,
    prefix: u32,
    beyond: Box<[u32]>,
}

/// The cache keys are already mixed hashes.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

struct Frame {
    op: u32,
    state: u32,
    after_unknown: bool,
    old_prefix: u32,
    /// The op never changes the state: its branch dominates not taking it, so backtracking
    /// through it also gives up its parent configuration.
    dominant: bool,
}

/// The deepest point the search reached: the latest return it could not get past.
struct Stuck {
    blocker: u32,
    pos: u32,
    partial: Vec<u32>,
    /// Ops whose call preceded the blocker's return and that were not placed.
    pending: Vec<u32>,
}

enum SearchEnd {
    Found(Vec<u32>),
    /// No order exists; `Stuck` is the deepest point reached.
    Exhausted(Stuck),
    OutOfBudget(Option<Stuck>),
}

enum Try {
    Linearized,
    Skip,
    /// The configuration the op leads to failed before and the op never changes the state:
    /// the current configuration fails too.
    DeadEnd,
}

struct Search<'p> {
    p: &'p Problem<'p>,
    next: Vec<u32>,
    prev: Vec<u32>,
    state: u32,
    after_unknown: bool,
    set: RankSet,
    /// By value: unplaced ops that need the register to hold it, and that can write it.
    needers_left: Vec<u32>,
    producers_left: Vec<u32>,
    placed: Vec<bool>,
    cache: HashMap<u64, Vec<Seen>, BuildHasherDefault<PassThrough>>,
    stack: Vec<Frame>,
    remaining_known: usize,
    steps: u64,
    budget: u64,
    deepest: Option<Stuck>,
}

/// Where the scan of one configuration's candidates stands. First the entry list is scanned
/// for an op that never changes the state (taken at once: no branching), then again for the
/// other answered ops, then the unknown ops are tried; then the first return blocks.
#[derive(Clone, Copy)]
enum Cursor {
    Free(u32),
    Branch(u32),
    /// Unknown ops called after entry position `after` (NIL: all) and before the return
    /// `first_return`.
    Unknown {
        first_return: u32,
        after: u32,
    },
}

impl<'p> Search<'p> {
    fn new(p: &'p Problem<'p>, budget: u64) -> Search<'p> {
        let n = p.k.ops.len();
        let mut next = vec![NIL; 1 + 2 * n];
        let mut prev = vec![NIL; 1 + 2 * n];
        let mut last = HEAD;
        for &node in &p.k.order {
            if !p.included[node_op(node) as usize] || p.starts_hidden(node) {
                continue;
            }
            next[last as usize] = node;
            prev[node as usize] = last;
            last = node;
        }
        let mut needers_left = vec![0; p.k.names.len()];
        let mut producers_left = vec![0; p.k.names.len()];
        for op in (0..n).filter(|&i| p.included[i]).map(|i| &p.k.ops[i]) {
            if let Some(v) = op.needs() {
                needers_left[v as usize] += 1;
            }
            if let Some(v) = op.step.produces() {
                producers_left[v as usize] += 1;
            }
        }
        Search {
            p,
            next,
            prev,
            state: ABSENT,
            after_unknown: false,
            set: RankSet {
                prefix: 0,
                beyond: Vec::new(),
                hash: 0,
            },
            needers_left,
            producers_left,
            placed: vec![false; n],
            cache: HashMap::default(),
            stack: Vec::new(),
            remaining_known: p.known,
            steps: 0,
            budget,
            deepest: None,
        }
    }

    fn run(&mut self) -> SearchEnd {
        let mut at = Cursor::Free(self.next[HEAD as usize]);
        loop {
            if self.remaining_known == 0 {
                return SearchEnd::Found(self.stack.iter().map(|f| f.op).collect());
            }
            if self.steps >= self.budget {
                return SearchEnd::OutOfBudget(self.deepest.take());
            }
            self.steps += 1;
            if let Cursor::Free(node) | Cursor::Branch(node) = at {
                assert_ne!(
                    node, NIL,
                    "an answered op is unplaced, so its return must be ahead"
                );
            }
            let outcome = match at {
                Cursor::Free(node) | Cursor::Branch(node) if is_call(node) => {
                    self.try_op(node_op(node), matches!(at, Cursor::Branch(_)))
                }
                Cursor::Free(_) => {
                    at = Cursor::Branch(self.next[HEAD as usize]);
                    continue;
                }
                Cursor::Branch(node) => {
                    at = Cursor::Unknown {
                        first_return: node,
                        after: NIL,
                    };
                    continue;
                }
                Cursor::Unknown {
                    first_return,
                    after,
                } => self.try_unknowns(first_return, after),
            };
            at = match (outcome, at) {
                (Try::Linearized, _) => Cursor::Free(self.next[HEAD as usize]),
                (Try::Skip, Cursor::Free(node)) => Cursor::Free(self.next[node as usize]),
                (Try::Skip, Cursor::Branch(node)) => Cursor::Branch(self.next[node as usize]),
                (Try::Skip, Cursor::Unknown { .. }) => {
                    unreachable!("the unknown ops are tried in one go")
                }
                (Try::DeadEnd, _) => match self.backtrack() {
                    Some(resume) => resume,
                    None => {
                        return SearchEnd::Exhausted(
                            self.deepest.take().expect("a dead end was recorded"),
                        );
                    }
                },
            };
        }
    }

    /// Tries the unknown ops worth trying here; when none can go, the first return blocks.
    fn try_unknowns(&mut self, first_return: u32, after: u32) -> Try {
        for u in self.unknown_candidates(first_return, after) {
            self.steps += 1;
            if let Try::Linearized = self.try_op(u, true) {
                return Try::Linearized;
            }
        }
        self.blocked(node_op(first_return))
    }

    /// The unknown ops called before `first_return` (and after entry position `after`) that
    /// some candidate could follow. After an unknown op the next op must be one of the current
    /// candidates (placing it unhides nothing) and not a blind write; one that was possible
    /// before it could as well go first, and it was (free ops are placed first). So the
    /// follower reads or expects the unknown op's value, or is a failed CAS that needs the
    /// current value to change.
    fn unknown_candidates(&self, first_return: u32, after: u32) -> Vec<u32> {
        let (p, k) = (self.p, self.p.k);
        let limit = k.pos[first_return as usize];
        let mut wanted = Vec::new();
        let mut any_change = false;
        let mut node = self.next[HEAD as usize];
        while node != first_return {
            match k.ops[node_op(node) as usize].step {
                Step::Read(v) | Step::Cas { expect: v, .. } if v != self.state => wanted.push(v),
                Step::CasFailed { expect } if expect == self.state => any_change = true,
                _ => {}
            }
            node = self.next[node as usize];
        }
        for &u in &p.unknown_cas {
            if let (Step::Cas { expect, .. }, false) =
                (k.ops[u as usize].step, self.placed[u as usize])
            {
                wanted.push(expect);
            }
        }
        let mut pool: Vec<u32> = if any_change {
            p.unknown.clone()
        } else {
            wanted
                .iter()
                .filter_map(|v| p.unknown_by_value.get(v))
                .flatten()
                .copied()
                .collect()
        };
        pool.retain(|&u| {
            let c = k.call_pos(u);
            !self.placed[u as usize] && c < limit && (after == NIL || c > after)
        });
        pool.sort_unstable_by_key(|&u| k.call_pos(u));
        pool.dedup();
        pool
    }

    fn blocked(&mut self, op: u32) -> Try {
        let pos = self.p.k.ret_pos(op);
        if self.deepest.as_ref().is_none_or(|d| pos > d.pos) {
            let mut pending = Vec::new();
            let mut node = self.next[HEAD as usize];
            while node != ret_node(op) {
                if is_call(node) && node_op(node) != op {
                    pending.push(node_op(node));
                }
                node = self.next[node as usize];
            }
            let k = self.p.k;
            pending.extend(
                self.p
                    .unknown
                    .iter()
                    .copied()
                    .filter(|&u| !self.placed[u as usize] && k.call_pos(u) < pos),
            );
            self.deepest = Some(Stuck {
                blocker: op,
                pos,
                partial: self.stack.iter().map(|f| f.op).collect(),
                pending,
            });
        }
        Try::DeadEnd
    }

    fn try_op(&mut self, i: u32, branching: bool) -> Try {
        let p = self.p;
        let op = &p.k.ops[i as usize];
        if self.after_unknown && matches!(op.step, Step::Write(_)) {
            return Try::Skip;
        }
        let Some(new_state) = op.step.apply(self.state) else {
            return Try::Skip;
        };
        let dominant = op.known && op.step.never_changes_state();
        if dominant == branching
            || (!op.known && new_state == self.state)
            || self.strands_others(op, new_state)
        {
            return Try::Skip;
        }
        let new_flag = !op.known;
        let (rank, z) = (p.rank[i as usize], p.zobrist[i as usize]);
        let old_prefix = self.set.insert(rank, z);
        if !self.remember(new_state, new_flag) {
            self.set.remove(rank, z, old_prefix);
            return if dominant { Try::DeadEnd } else { Try::Skip };
        }
        self.stack.push(Frame {
            op: i,
            state: self.state,
            after_unknown: self.after_unknown,
            old_prefix,
            dominant,
        });
        self.state = new_state;
        self.after_unknown = new_flag;
        self.place(i, true);
        Try::Linearized
    }

    /// A move away from the current value is futile while an unplaced op still needs that
    /// value and nothing unplaced can write it again.
    fn strands_others(&self, op: &LOp, new_state: u32) -> bool {
        let s = self.state as usize;
        if new_state == self.state || self.producers_left[s] > 0 {
            return false;
        }
        let own = u32::from(op.needs() == Some(self.state));
        self.needers_left[s] > own
    }

    /// Updates the list and the counts for placing (`placed`) or unplacing op `i`.
    fn place(&mut self, i: u32, placed: bool) {
        let op = &self.p.k.ops[i as usize];
        let count = |n: &mut u32| if placed { *n -= 1 } else { *n += 1 };
        if let Some(v) = op.needs() {
            count(&mut self.needers_left[v as usize]);
        }
        if let Some(v) = op.step.produces() {
            count(&mut self.producers_left[v as usize]);
        }
        self.placed[i as usize] = placed;
        if !op.known {
            return;
        }
        let succ = self.p.succ(i);
        if placed {
            self.remaining_known -= 1;
            self.lift(call_node(i));
            self.lift(ret_node(i));
            if let Some(r) = succ {
                let at = self.prev[call_node(i) as usize];
                self.insert_after(at, call_node(r));
            }
        } else {
            self.remaining_known += 1;
            if let Some(r) = succ {
                self.lift(call_node(r));
            }
            self.unlift(ret_node(i));
            self.unlift(call_node(i));
        }
    }

    /// Adds the configuration (current set, `state`, `flag`) to the cache; false if it was there.
    fn remember(&mut self, state: u32, flag: bool) -> bool {
        let key = self.set.hash ^ mix64(u64::from(state) << 1 | u64::from(flag));
        let bucket = self.cache.entry(key).or_default();
        let set = &self.set;
        let seen = bucket.iter().any(|s| {
            s.state == state
                && s.after_unknown == flag
                && s.prefix == set.prefix
                && *s.beyond == *set.beyond
        });
        if !seen {
            bucket.push(Seen {
                state,
                after_unknown: flag,
                prefix: set.prefix,
                beyond: set.beyond.clone().into(),
            });
        }
        !seen
    }

    /// Pops frames until one leaves an alternative; returns where to look next.
    fn backtrack(&mut self) -> Option<Cursor> {
        loop {
            let f = self.stack.pop()?;
            self.place(f.op, false);
            self.set.remove(
                self.p.rank[f.op as usize],
                self.p.zobrist[f.op as usize],
                f.old_prefix,
            );
            self.state = f.state;
            self.after_unknown = f.after_unknown;
            if f.dominant {
                continue;
            }
            if self.p.k.ops[f.op as usize].known {
                return Some(Cursor::Branch(self.next[call_node(f.op) as usize]));
            }
            let mut first_return = self.next[HEAD as usize];
            while is_call(first_return) {
                first_return = self.next[first_return as usize];
            }
            return Some(Cursor::Unknown {
                first_return,
                after: self.p.k.call_pos(f.op),
            });
        }
    }

    fn lift(&mut self, n: u32) {
        let (p, x) = (self.prev[n as usize], self.next[n as usize]);
        self.next[p as usize] = x;
        if x != NIL {
            self.prev[x as usize] = p;
        }
    }

    fn unlift(&mut self, n: u32) {
        let (p, x) = (self.prev[n as usize], self.next[n as usize]);
        self.next[p as usize] = n;
        if x != NIL {
            self.prev[x as usize] = n;
        }
    }

    fn insert_after(&mut self, at: u32, n: u32) {
        let x = self.next[at as usize];
        self.next[n as usize] = x;
        self.prev[n as usize] = at;
        if x != NIL {
            self.prev[x as usize] = n;
        }
        self.next[at as usize] = n;
    }
}

// ---------------------------------------------------------------------------------------------
// Validation of an order, independent of the search.

/// Replays `seq` against the rules: every answered op once, unknown ones at most once, each
/// step legal in the model, no op after one that returned before it was invoked, each plain
/// read after its session's previous answered op.
fn validate_order(p: &Problem, seq: &[u32]) -> Result<(), String> {
    let k = p.k;
    let mut at = vec![NIL; k.ops.len()];
    for (idx, &i) in seq.iter().enumerate() {
        if !p.included[i as usize] || at[i as usize] != NIL {
            return Err(format!("op {i} is foreign or repeated"));
        }
        at[i as usize] = idx as u32;
    }
    if let Some(i) = (0..k.ops.len()).find(|&i| p.included[i] && k.ops[i].known && at[i] == NIL) {
        return Err(format!("answered op {i} is missing"));
    }
    let mut state = ABSENT;
    for &i in seq {
        state = k.ops[i as usize]
            .step
            .apply(state)
            .ok_or_else(|| format!("op {i} cannot apply to {state}"))?;
    }
    let mut min_ret_after = NIL;
    for (idx, &i) in seq.iter().enumerate().rev() {
        if k.call_pos(i) > min_ret_after {
            return Err(format!(
                "op {i} is placed after an op that returned before it was invoked"
            ));
        }
        min_ret_after = min_ret_after.min(k.ret_pos(i));
        let op = &k.ops[i as usize];
        if let (true, Some(pred)) = (p.with_plain_reads && op.plain_read, op.pred)
            && at[pred as usize] >= idx as u32
        {
            return Err(format!(
                "read {i} is placed before its session's previous op {pred}"
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Check 2, cheap path: plain reads onto the witness of check 1.

/// A plain read the cheap path could not place on the witness.
struct Miss {
    read: u32,
    /// The earliest witness position the session allowed.
    floor: usize,
    /// The witness op that took effect too late for the read (rule (a)), if that was the reason.
    too_late: Option<u32>,
}

/// Places each plain read at the earliest witness position that holds its value, is not
/// older than its session's previous op, and needs no write invoked after the read returned.
/// Earliest is best: it only lowers the floor of the session's later reads.
fn place_reads(k: &KeyOps, witness: &[u32]) -> Result<Vec<u32>, Miss> {
    let mut states = vec![ABSENT];
    let mut max_call = vec![None::<u32>];
    let mut at = vec![NIL; k.ops.len()];
    for (idx, &i) in witness.iter().enumerate() {
        let s = *states.last().unwrap_or(&ABSENT);
        states.push(k.ops[i as usize].step.apply(s).unwrap_or(s));
        max_call.push(max_call[idx].max(Some(k.call_pos(i))));
        at[i as usize] = idx as u32;
    }
    let mut by_state: HashMap<u32, Vec<usize>> = HashMap::new();
    for (slot, &s) in states.iter().enumerate() {
        by_state.entry(s).or_default().push(slot);
    }
    let mut reads: Vec<u32> = (0..k.ops.len() as u32)
        .filter(|&i| k.ops[i as usize].plain_read)
        .collect();
    reads.sort_by_key(|&i| {
        (
            k.ops[i as usize].session,
            k.times[i as usize].0,
            k.ops[i as usize].id,
        )
    });
    let mut slot_of = vec![0usize; k.ops.len()];
    for &r in &reads {
        let op = &k.ops[r as usize];
        let floor = match op.pred {
            None => 0,
            Some(p) if k.ops[p as usize].plain_read => slot_of[p as usize],
            Some(p) => at[p as usize] as usize + 1,
        };
        let Step::Read(value) = op.step else {
            unreachable!("plain reads read")
        };
        let slots = by_state.get(&value).map(Vec::as_slice).unwrap_or(&[]);
        let Some(&slot) = slots.get(slots.partition_point(|&s| s < floor)) else {
            return Err(Miss {
                read: r,
                floor,
                too_late: None,
            });
        };
        if max_call[slot].is_some_and(|c| c > k.ret_pos(r)) {
            let late = witness[..slot]
                .iter()
                .copied()
                .find(|&w| k.call_pos(w) > k.ret_pos(r));
            return Err(Miss {
                read: r,
                floor,
                too_late: late,
            });
        }
        slot_of[r as usize] = slot;
    }
    Ok(interleave(k, witness, &reads, &slot_of))
}

/// The witness with each plain read inserted before the op at its slot (reads sharing a slot
/// in entry order, which keeps each session's own order).
fn interleave(k: &KeyOps, witness: &[u32], reads: &[u32], slot_of: &[usize]) -> Vec<u32> {
    let mut by_slot: BTreeMap<usize, Vec<u32>> = BTreeMap::new();
    for &r in reads {
        by_slot.entry(slot_of[r as usize]).or_default().push(r);
    }
    let mut seq = Vec::with_capacity(witness.len() + reads.len());
    for slot in 0..=witness.len() {
        if let Some(rs) = by_slot.get_mut(&slot) {
            rs.sort_by_key(|&r| k.call_pos(r));
            seq.extend_from_slice(rs);
        }
        seq.extend(witness.get(slot));
    }
    seq
}

// ---------------------------------------------------------------------------------------------
// Driving one key.

/// The outcome of the checks on one history (or one prefix of it).
enum Decided {
    /// A legal order (indices into the checked ops).
    Legal(Vec<u32>),
    Illegal(Violation),
    Undecided(Verdict),
}

struct KeyRun<'a, V> {
    key: &'a str,
    ids: &'a [OpId],
    history: &'a History<V>,
    config: &'a Config,
    steps: u64,
}

fn check_key<V>(key: &str, ids: &[OpId], history: &History<V>, config: &Config) -> KeyReport
where
    V: Eq + Hash + Debug,
{
    let mut run = KeyRun {
        key,
        ids,
        history,
        config,
        steps: 0,
    };
    let k = run.build(None);
    let verdict = match run.decide(&k) {
        Decided::Legal(order) => Verdict::Ok(witness(&k, &order)),
        Decided::Illegal(v) => Verdict::Violation(run.minimize(&k, v)),
        Decided::Undecided(v) => v,
    };
    KeyReport {
        key: key.to_string(),
        verdict,
        steps: run.steps,
    }
}

/// The witness of a legal order: unknown ops not in it are omitted.
fn witness(k: &KeyOps, order: &[u32]) -> Witness {
    let mut placed = vec![false; k.ops.len()];
    for &i in order {
        placed[i as usize] = true;
    }
    let omitted = (0..k.ops.len())
        .filter(|&i| !placed[i])
        .map(|i| k.ops[i].id)
        .collect();
    Witness {
        order: order.iter().map(|&i| k.ops[i as usize].id).collect(),
        omitted,
    }
}

impl<V: Eq + Hash + Debug> KeyRun<'_, V> {
    fn build(&self, cut: Option<Cut>) -> KeyOps {
        KeyOps::build(
            self.key,
            self.ids,
            self.history,
            self.config.strict_reads,
            cut,
        )
    }

    /// Both checks: the necessary conditions, the linearizable ops, then the plain reads
    /// (on the witness if they fit there, by a search of their own if not).
    fn decide(&mut self, k: &KeyOps) -> Decided {
        if let Some(v) = precheck(k, self.history, Check::Linearizable)
            .or_else(|| precheck(k, self.history, Check::SessionReads))
        {
            return Decided::Illegal(v);
        }
        let p1 = Problem::new(k, false);
        let found = match self.search(&p1) {
            Ok(order) => order,
            Err(other) => return other,
        };
        if !k.has_plain_reads() {
            return Decided::Legal(found);
        }
        let p2 = Problem::new(k, true);
        let miss = match place_reads(k, &found) {
            Ok(seq) if validate_order(&p2, &seq).is_ok() => return Decided::Legal(seq),
            Ok(_) => None,
            Err(miss) => Some(miss),
        };
        match self.search(&p2) {
            Ok(seq) => Decided::Legal(seq),
            Err(Decided::Illegal(mut v)) => {
                if let Some(m) = miss {
                    v.explanation
                        .push_str(&explain_miss(k, self.history, &m, &found));
                }
                Decided::Illegal(v)
            }
            Err(other) => other,
        }
    }

    /// Runs one search; a found order is validated before it is trusted.
    fn search(&mut self, p: &Problem) -> Result<Vec<u32>, Decided> {
        let mut s = Search::new(p, self.config.step_budget_per_key);
        let end = s.run();
        self.steps += s.steps;
        match end {
            SearchEnd::Found(seq) => {
                if let Err(why) = validate_order(p, &seq) {
                    panic!(
                        "checker bug: the search produced an invalid order for {}: {why}",
                        self.key
                    );
                }
                Ok(seq)
            }
            SearchEnd::Exhausted(stuck) => {
                Err(Decided::Illegal(explain_stuck(p, self.history, &stuck)))
            }
            SearchEnd::OutOfBudget(stuck) => Err(Decided::Undecided(undecided(
                p,
                self.history,
                self.config,
                stuck.as_ref(),
            ))),
        }
    }

    /// Finds the shortest illegal prefix: legality only gets lost as a prefix grows, so a
    /// binary search over the returns finds the return that first makes it illegal. The
    /// search's own dead end cannot say that: its pruning looks ahead (an op stranded later
    /// stops a move now). Falls back to `found` if a prefix is undecided.
    fn minimize(&mut self, full: &KeyOps, found: Violation) -> Violation {
        let mut cuts: Vec<u32> = (0..full.ops.len() as u32)
            .filter(|&i| full.ops[i as usize].known)
            .collect();
        cuts.sort_by_key(|&i| full.ret_pos(i));
        let cut_at = |i: u32| Cut {
            at: full.times[i as usize].1.unwrap_or(u64::MAX),
            id: full.ops[i as usize].id,
        };
        // `legal`: the longest prefix known legal, with an order; `hi`: the shortest known illegal.
        let (mut legal, mut lo, mut hi) = (None::<(KeyOps, Vec<u32>)>, 0, cuts.len());
        let mut hi_violation = found;
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let prefix = self.build(Some(cut_at(cuts[mid])));
            match self.decide(&prefix) {
                Decided::Legal(order) => {
                    legal = Some((prefix, order));
                    lo = mid + 1;
                }
                Decided::Illegal(v) => {
                    hi_violation = v;
                    hi = mid;
                }
                Decided::Undecided(_) => {
                    hi_violation.explanation.push_str(
                        "  (not narrowed to the shortest illegal prefix: a prefix was undecided)\n",
                    );
                    return hi_violation;
                }
            }
        }
        // Past the last return come only unknown ops, which may be left out: the history is
        // illegal iff its prefix up to the last return is, so `hi` is a real cut.
        let Some(&blocker) = cuts.get(hi) else {
            unreachable!("checker bug: an illegal history whose prefixes are all legal")
        };
        let (prefix, order) = legal
            .as_ref()
            .map_or((full, &[][..]), |(k, o)| (k, o.as_slice()));
        explain_minimal(full, self.history, hi_violation, blocker, prefix, order)
    }
}

/// Necessary conditions, checked in linear time for a plain message: a value read (or
/// expected by an applied CAS) was written, and by an op invoked before the read returned.
fn precheck<V: Debug>(k: &KeyOps, history: &History<V>, check: Check) -> Option<Violation> {
    let mut offending: Vec<u32> = (0..k.ops.len() as u32)
        .filter(|&i| k.ops[i as usize].plain_read == (check == Check::SessionReads))
        .filter(|&i| unwritten(k, i).is_some())
        .collect();
    offending.sort_by_key(|&i| k.ret_pos(i));
    let &i = offending.first()?;
    let why = unwritten(k, i)?;
    let op = &k.ops[i as usize];
    let mut involved = vec![op.id];
    let value = op.needs().unwrap_or(ABSENT);
    involved.extend(
        k.ops
            .iter()
            .filter(|o| o.step.produces() == Some(value))
            .map(|o| o.id),
    );
    let mut text = format!(
        "{}: {}.\n  {}: {why}.\n",
        k.key,
        check.title(),
        describe(k, history, i)
    );
    for &id in &involved[1..] {
        let _ = writeln!(text, "    writer: {}", describe_op(id, history.op(id)));
    }
    Some(Violation {
        check,
        blocking: op.id,
        prefix_end: k.times[i as usize].1.unwrap_or(u64::MAX),
        partial: Vec::new(),
        involved,
        explanation: text,
    })
}

/// Why the value op `i` observes cannot have been there: never written to this key, or only
/// by ops invoked after `i` returned. `None` if it may have been.
fn unwritten(k: &KeyOps, i: u32) -> Option<String> {
    let v = k.ops[i as usize].needs().filter(|&v| v != ABSENT)?;
    let mut writers = (0..k.ops.len() as u32)
        .filter(|&w| k.ops[w as usize].step.produces() == Some(v))
        .peekable();
    let name = &k.names[v as usize];
    if writers.peek().is_none() {
        return Some(format!(
            "it observed {name}, which was never written to this key"
        ));
    }
    let ret = k.ret_pos(i);
    if writers.all(|w| k.call_pos(w) > ret) {
        return Some(format!(
            "it observed {name}, but every write of {name} was invoked after it returned (a read from the future)"
        ));
    }
    None
}

/// The violation as the shortest illegal prefix shows it: the op whose return makes the
/// history illegal, and one legal order of everything before that return.
fn explain_minimal<V: Debug>(
    full: &KeyOps,
    history: &History<V>,
    found: Violation,
    blocker: u32,
    prefix: &KeyOps,
    order: &[u32],
) -> Violation {
    let b = &full.ops[blocker as usize];
    let prefix_end = full.times[blocker as usize].1.unwrap_or(u64::MAX);
    let mut text = format!(
        "{}: {}.\n  The history up to t={prefix_end}, when {} returned, has no legal order; \
         everything before that return has one.\n",
        full.key,
        found.check.title(),
        describe(full, history, blocker)
    );
    let state = describe_order(prefix, history, order, &mut text);
    let _ = writeln!(
        text,
        "  After it, {} cannot go: {}.",
        describe(full, history, blocker),
        why_not(full, blocker, state)
    );
    let mut involved = vec![b.id];
    let (shown, older_unknown) = overlapping(full, blocker);
    if !shown.is_empty() {
        text.push_str("  Ops overlapping it:\n");
    }
    for &o in &shown {
        let _ = writeln!(text, "    {}", describe(full, history, o));
        involved.push(full.ops[o as usize].id);
    }
    if older_unknown > 0 {
        let _ = writeln!(
            text,
            "  ... and {older_unknown} ops of unknown outcome invoked before it."
        );
    }
    if let (true, Some(pred)) = (b.plain_read, b.pred) {
        let _ = writeln!(
            text,
            "  Its session's previous op on this key (it may not read older): {}",
            describe(full, history, pred)
        );
        involved.push(full.ops[pred as usize].id);
    }
    involved.extend(
        order
            .iter()
            .rev()
            .take(3)
            .map(|&o| prefix.ops[o as usize].id),
    );
    Violation {
        check: found.check,
        blocking: b.id,
        prefix_end,
        partial: order.iter().map(|&o| prefix.ops[o as usize].id).collect(),
        involved,
        explanation: text,
    }
}

/// Appends the tail of `order` with the state after each op; returns the final state's name.
fn describe_order<'k, V: Debug>(
    k: &'k KeyOps,
    history: &History<V>,
    order: &[u32],
    text: &mut String,
) -> &'k str {
    const SHOWN: usize = 8;
    let mut state = ABSENT;
    let skip = order.len().saturating_sub(SHOWN);
    let mut lines = String::new();
    for (idx, &o) in order.iter().enumerate() {
        state = k.ops[o as usize].step.apply(state).unwrap_or(state);
        if idx >= skip {
            let _ = writeln!(
                lines,
                "    {}  => {}",
                describe(k, history, o),
                k.names[state as usize]
            );
        }
    }
    let _ = write!(
        text,
        "  One legal order of that shorter history places {} ops and leaves the register at {}",
        order.len(),
        k.names[state as usize]
    );
    text.push_str(if skip > 0 {
        "; its last ops:\n"
    } else if order.is_empty() {
        ".\n"
    } else {
        ":\n"
    });
    text.push_str(&lines);
    &k.names[state as usize]
}

/// Ops of `k` that overlap op `o` in real time: the answered ones and the unknown ones invoked
/// during it; and the number of unknown ones invoked before it (pending too, but old news).
fn overlapping(k: &KeyOps, o: u32) -> (Vec<u32>, usize) {
    let (invoke, ret) = k.times[o as usize];
    let ret = ret.unwrap_or(u64::MAX);
    let (mut shown, mut older_unknown) = (Vec::new(), 0);
    for i in (0..k.ops.len() as u32).filter(|&i| i != o && k.times[i as usize].0 <= ret) {
        match k.times[i as usize] {
            (_, Some(r)) if r < invoke => {}
            (called, None) if called < invoke => older_unknown += 1,
            _ => shown.push(i),
        }
    }
    (shown, older_unknown)
}

/// Why op `o` cannot be the next op when the register holds `holds` (a display name).
fn why_not(k: &KeyOps, o: u32, holds: &str) -> String {
    if let Some(why) = unwritten(k, o) {
        return why;
    }
    let name = |v: u32| k.names[v as usize].as_str();
    match k.ops[o as usize].step {
        Step::Read(v) if name(v) != holds => {
            format!("it read {}, the register holds {holds}", name(v))
        }
        Step::Cas { expect, .. } if k.ops[o as usize].known && name(expect) != holds => {
            format!("it expects {}, the register holds {holds}", name(expect))
        }
        Step::CasFailed { expect } if name(expect) == holds => {
            format!("it failed, so the register cannot hold {holds}, yet it does")
        }
        _ => "it fits after this order, but no order of the ops overlapping it leaves room for it"
            .to_string(),
    }
}

/// A violation as the search's own dead end shows it (used when no shorter prefix can be
/// established): the latest return it could not get past, and the order that got there.
fn explain_stuck<V: Debug>(p: &Problem, history: &History<V>, stuck: &Stuck) -> Violation {
    let k = p.k;
    let blocker = &k.ops[stuck.blocker as usize];
    let mut text = format!(
        "{}: {}.\n  No legal order exists; the search got no further than the return of {}.\n",
        k.key,
        p.check().title(),
        describe(k, history, stuck.blocker)
    );
    let holds = describe_order(k, history, &stuck.partial, &mut text).to_string();
    let _ = writeln!(
        text,
        "  After it, the op cannot go: {}.",
        why_not(k, stuck.blocker, &holds)
    );
    let mut involved = vec![blocker.id];
    for &o in &stuck.pending {
        let _ = writeln!(text, "    pending: {}", describe(k, history, o));
        involved.push(k.ops[o as usize].id);
    }
    Violation {
        check: p.check(),
        blocking: blocker.id,
        prefix_end: k.times[stuck.blocker as usize].1.unwrap_or(u64::MAX),
        partial: stuck
            .partial
            .iter()
            .map(|&o| k.ops[o as usize].id)
            .collect(),
        involved,
        explanation: text,
    }
}

fn explain_miss<V: Debug>(k: &KeyOps, history: &History<V>, m: &Miss, witness: &[u32]) -> String {
    let op = &k.ops[m.read as usize];
    let mut text = format!(
        "  Against the writes' own witness, the first read that does not fit is {}:",
        describe(k, history, m.read)
    );
    if let Some(late) = m.too_late {
        let _ = write!(
            text,
            " its value holds only after {}, invoked after the read returned.",
            describe(k, history, late)
        );
    } else if let Some(pred) = op.pred {
        let _ = write!(
            text,
            " its session already saw position {} of {} (after {}), and the value is not there or later.",
            m.floor,
            witness.len(),
            describe(k, history, pred)
        );
    } else {
        text.push_str(" the value is nowhere in the witness.");
    }
    text.push('\n');
    text
}

fn undecided<V: Debug>(
    p: &Problem,
    history: &History<V>,
    config: &Config,
    stuck: Option<&Stuck>,
) -> Verdict {
    let mut explanation = format!(
        "{}: undecided: the search budget of {} steps ran out while checking that {}.\n",
        p.k.key,
        config.step_budget_per_key,
        match p.check() {
            Check::Linearizable => "writes are linearizable",
            Check::SessionReads => "reads keep ZooKeeper's guarantee",
        }
    );
    if let Some(stuck) = stuck {
        let _ = writeln!(
            explanation,
            "  Deepest dead end so far: the return of {}",
            describe(p.k, history, stuck.blocker)
        );
        describe_order(p.k, history, &stuck.partial, &mut explanation);
    }
    Verdict::Undecided {
        check: p.check(),
        explanation,
    }
}

fn describe<V: Debug>(k: &KeyOps, history: &History<V>, o: u32) -> String {
    let id = k.ops[o as usize].id;
    describe_op(id, history.op(id))
}

/// `#12 s3 cas 5 -> 7 failed [t 100..130] zxid 0x1a`
pub fn describe_op<V: Debug>(id: OpId, op: &Op<V>) -> String {
    let show = |v: &Option<V>| {
        v.as_ref()
            .map_or("(absent)".to_string(), |v| format!("{v:?}"))
    };
    let what = match &op.action {
        Action::Write(v) => format!("write {v:?}"),
        Action::Cas { expect, new } => format!("cas {} -> {new:?}", show(expect)),
        Action::Read => "read".to_string(),
        Action::SyncedRead => "sync+read".to_string(),
    };
    let (result, end) = match &op.ret {
        None => ("outcome unknown".to_string(), "?".to_string()),
        Some(r) => (
            match &r.outcome {
                Outcome::Ok => "ok".to_string(),
                Outcome::Failed => "failed".to_string(),
                Outcome::Read(v) => format!("=> {}", show(v)),
            },
            r.at.to_string(),
        ),
    };
    let zxid = op.zxid.map(|z| format!(" zxid {z:#x}")).unwrap_or_default();
    format!(
        "#{} s{} {what} {result} [t {}..{end}]{zxid}",
        id.0, op.session.0, op.invoke
    )
}
