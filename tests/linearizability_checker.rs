//! Tests of the history checker (`tests/common/linear.rs`): classic small histories that must
//! pass or fail, unknown outcomes, ZooKeeper's rule for locally served reads, randomized
//! histories of a simulated register (which must pass) and single mutations of them (which
//! must mostly fail), and the cost of a few thousand ops per key.

mod common;

use common::linear::{
    Action, Check, Config, History, OpId, Outcome, Report, SessionId, Verdict, check,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const KEY: &str = "/k";

/// Terse construction of one-key histories: times are `[invoke, return]`, `None` = unknown.
#[derive(Default)]
struct Hist {
    h: History<u64>,
}

impl Hist {
    fn op(
        &mut self,
        s: u64,
        action: Action<u64>,
        inv: u64,
        ret: Option<(u64, Outcome<u64>)>,
    ) -> OpId {
        let id = self.h.invoke(SessionId(s), KEY, action, inv);
        if let Some((at, outcome)) = ret {
            self.h.complete(id, at, outcome);
        }
        id
    }

    fn write(&mut self, s: u64, v: u64, inv: u64, ret: Option<u64>) -> OpId {
        self.op(s, Action::Write(v), inv, ret.map(|r| (r, Outcome::Ok)))
    }

    /// `applied`: the answer was ok (else failed).
    fn cas(&mut self, s: u64, expect: u64, new: u64, inv: u64, ret: u64, applied: bool) -> OpId {
        let outcome = if applied {
            Outcome::Ok
        } else {
            Outcome::Failed
        };
        self.op(
            s,
            Action::Cas {
                expect: Some(expect),
                new,
            },
            inv,
            Some((ret, outcome)),
        )
    }

    fn cas_unknown(&mut self, s: u64, expect: u64, new: u64, inv: u64) -> OpId {
        self.op(
            s,
            Action::Cas {
                expect: Some(expect),
                new,
            },
            inv,
            None,
        )
    }

    fn read(&mut self, s: u64, inv: u64, ret: u64, v: Option<u64>) -> OpId {
        self.op(s, Action::Read, inv, Some((ret, Outcome::Read(v))))
    }

    fn synced_read(&mut self, s: u64, inv: u64, ret: u64, v: Option<u64>) -> OpId {
        self.op(s, Action::SyncedRead, inv, Some((ret, Outcome::Read(v))))
    }

    fn check(&self) -> Report {
        check(&self.h, &Config::default()).expect("well-formed history")
    }

    fn check_strict(&self) -> Report {
        let config = Config {
            strict_reads: true,
            ..Config::default()
        };
        check(&self.h, &config).expect("well-formed history")
    }
}

fn witness_of(report: &Report) -> Vec<OpId> {
    match &report.keys[0].verdict {
        Verdict::Ok(w) => w.order.clone(),
        other => panic!("expected a pass, got {other:?}\n{report}"),
    }
}

fn assert_ok(report: &Report) {
    assert!(report.is_ok(), "expected a pass:\n{report}");
}

/// Asserts a violation of `check` whose blocking op is `blocking`.
fn assert_violation(report: &Report, check: Check, blocking: OpId) {
    let v = report
        .violations()
        .next()
        .unwrap_or_else(|| panic!("expected a violation:\n{report}"));
    assert_eq!(v.check, check, "{report}");
    assert_eq!(v.blocking, blocking, "{report}");
    assert!(v.involved.contains(&blocking));
    assert!(
        v.explanation.contains(&format!("#{}", blocking.0)),
        "{}",
        v.explanation
    );
}

// ---- classic histories -------------------------------------------------------------------

#[test]
fn sequential_history_passes_with_its_own_order_as_witness() {
    let mut h = Hist::default();
    let a = h.write(1, 1, 0, Some(10));
    let b = h.synced_read(2, 20, 30, Some(1));
    let c = h.cas(1, 1, 2, 40, 50, true);
    let d = h.cas(2, 1, 3, 60, 70, false);
    let e = h.synced_read(1, 80, 90, Some(2));
    let report = h.check();
    assert_eq!(witness_of(&report), vec![a, b, c, d, e]);
}

#[test]
fn concurrent_writes_pass_in_the_order_a_later_cas_observed() {
    let mut h = Hist::default();
    let w1 = h.write(1, 1, 0, Some(10));
    let w2 = h.write(2, 2, 0, Some(10));
    // Applied only if 1 is the final value: w2 took effect first.
    let c = h.cas(3, 1, 3, 20, 30, true);
    assert_eq!(witness_of(&h.check()), vec![w2, w1, c]);
}

#[test]
fn stale_read_after_a_completed_write_fails_in_strict_mode() {
    let mut h = Hist::default();
    h.write(1, 1, 0, Some(10));
    h.write(1, 2, 20, Some(30));
    let r = h.read(2, 40, 50, Some(1));
    assert_violation(&h.check_strict(), Check::Linearizable, r);
    // The same read in ZooKeeper's rule: session 2 never saw 2, so it may read 1.
    assert_ok(&h.check());
}

#[test]
fn concurrent_writes_observed_in_contradictory_orders_fail() {
    let mut h = Hist::default();
    h.write(1, 1, 0, Some(10));
    h.write(2, 2, 0, Some(10));
    // Failed: the register is not 2, so the order was 2 then 1 and it holds 1.
    h.cas(3, 2, 5, 20, 30, false);
    let control = h.h.clone();
    // Failed: the register is not 1 either, yet nothing wrote since.
    let contradiction = h.cas(4, 1, 6, 40, 50, false);
    assert_violation(&h.check(), Check::Linearizable, contradiction);

    let mut h = Hist { h: control };
    h.cas(4, 2, 6, 40, 50, false);
    assert_ok(&h.check());
}

#[test]
fn lost_acknowledged_write_fails() {
    let mut h = Hist::default();
    h.write(1, 1, 0, Some(10));
    h.write(2, 2, 20, Some(30));
    // Applied against 1 after 2 was acknowledged: the write of 2 was lost.
    let c = h.cas(3, 1, 3, 40, 50, true);
    assert_violation(&h.check(), Check::Linearizable, c);
}

#[test]
fn lost_acknowledged_write_seen_by_its_writer_fails() {
    let mut h = Hist::default();
    h.write(1, 1, 0, Some(10));
    h.write(2, 2, 20, Some(30));
    let r = h.read(2, 40, 50, Some(1));
    assert_violation(&h.check(), Check::SessionReads, r);
}

#[test]
fn explanation_names_the_prefix_the_blocking_op_and_the_register_state() {
    let mut h = Hist::default();
    h.write(1, 1, 0, Some(10));
    h.write(1, 2, 20, Some(30));
    let r = h.synced_read(2, 40, 50, Some(1));
    let report = h.check();
    let v = report.violations().next().expect("a violation");
    assert_eq!((v.blocking, v.prefix_end, v.partial.len()), (r, 50, 2));
    for needle in ["up to t=50", "holds 2", "it read 1"] {
        assert!(
            v.explanation.contains(needle),
            "{needle:?} missing from:\n{}",
            v.explanation
        );
    }
}

#[test]
fn repeated_values_are_judged_by_order_not_by_value() {
    // 1 is written twice; the second write of 1 can only take effect after 2.
    let mut h = Hist::default();
    h.write(1, 1, 0, Some(10));
    h.write(3, 1, 5, Some(100));
    h.write(2, 2, 20, Some(30));
    h.synced_read(4, 40, 50, Some(1));
    h.synced_read(4, 60, 70, Some(1));
    assert_ok(&h.check());
    // A third read of 2 after both reads of 1 has no order: 2 was written once, before them.
    let r = h.synced_read(4, 80, 90, Some(2));
    assert_violation(&h.check(), Check::Linearizable, r);
}

#[test]
fn each_key_is_judged_on_its_own() {
    let mut h = History::<u64>::new();
    let a = h.invoke(SessionId(1), "/a", Action::Write(1), 0);
    h.complete(a, 10, Outcome::Ok);
    let b = h.invoke(SessionId(1), "/b", Action::Write(1), 20);
    h.complete(b, 30, Outcome::Ok);
    let r = h.invoke(SessionId(2), "/b", Action::SyncedRead, 40);
    h.complete(r, 50, Outcome::Read(None));
    let report = check(&h, &Config::default()).expect("well-formed");
    assert!(matches!(
        report.key("/a").expect("/a").verdict,
        Verdict::Ok(_)
    ));
    assert!(matches!(
        report.key("/b").expect("/b").verdict,
        Verdict::Violation(_)
    ));
}

#[test]
fn malformed_histories_are_errors_not_verdicts() {
    let mut h = History::<u64>::new();
    let w = h.invoke(SessionId(1), KEY, Action::Write(1), 10);
    h.complete(w, 5, Outcome::Ok);
    assert!(check(&h, &Config::default()).is_err());

    let mut h = History::<u64>::new();
    let r = h.invoke(SessionId(1), KEY, Action::Read, 0);
    h.complete(r, 5, Outcome::Ok);
    assert!(check(&h, &Config::default()).is_err());
}

// ---- unknown outcomes --------------------------------------------------------------------

#[test]
fn timed_out_write_may_take_effect_long_after_its_timeout() {
    let mut h = Hist::default();
    h.write(1, 1, 0, Some(10));
    let lost = h.write(1, 2, 20, None);
    h.synced_read(2, 100, 110, Some(1));
    h.synced_read(2, 1000, 1010, Some(2));
    let report = h.check();
    assert!(witness_of(&report).contains(&lost));
}

#[test]
fn timed_out_write_may_never_take_effect() {
    let mut h = Hist::default();
    h.write(1, 1, 0, Some(10));
    let lost = h.write(1, 2, 20, None);
    h.synced_read(2, 100, 110, Some(1));
    let report = h.check();
    let Verdict::Ok(w) = &report.keys[0].verdict else {
        panic!("{report}")
    };
    assert_eq!(w.omitted, vec![lost]);
}

#[test]
fn timed_out_write_takes_effect_at_most_once() {
    let mut h = Hist::default();
    h.write(1, 1, 0, Some(10));
    h.write(1, 2, 20, None);
    h.synced_read(2, 100, 110, Some(1));
    h.synced_read(2, 200, 210, Some(2));
    let back = h.synced_read(2, 300, 310, Some(1));
    assert_violation(&h.check(), Check::Linearizable, back);
}

#[test]
fn timed_out_write_never_takes_effect_before_its_invoke() {
    let mut h = Hist::default();
    h.write(1, 1, 0, Some(10));
    let r = h.synced_read(2, 12, 15, Some(2));
    h.write(1, 2, 20, None);
    assert_violation(&h.check(), Check::Linearizable, r);
}

#[test]
fn timed_out_cas_applies_only_where_its_guard_held() {
    let mut h = Hist::default();
    h.write(1, 1, 0, Some(10));
    h.cas_unknown(1, 1, 3, 20);
    h.synced_read(2, 100, 110, Some(3));
    assert_ok(&h.check());

    let mut h = Hist::default();
    h.write(1, 1, 0, Some(10));
    h.write(2, 2, 15, Some(18));
    h.cas_unknown(1, 1, 3, 20);
    let r = h.synced_read(2, 100, 110, Some(3));
    assert_violation(&h.check(), Check::Linearizable, r);
}

// ---- ZooKeeper's read rule -----------------------------------------------------------------

#[test]
fn stale_read_by_a_session_that_never_saw_the_new_value_passes() {
    let mut h = Hist::default();
    let w1 = h.write(1, 1, 0, Some(10));
    let w2 = h.write(1, 2, 20, Some(30));
    let r = h.read(2, 40, 50, Some(1));
    // The witness places the read where its state held: before the newer write.
    assert_eq!(witness_of(&h.check()), vec![w1, r, w2]);
}

#[test]
fn stale_read_after_the_session_read_the_new_value_fails() {
    let mut h = Hist::default();
    h.write(1, 1, 0, Some(10));
    h.write(1, 2, 20, Some(30));
    h.read(2, 32, 38, Some(2));
    let r = h.read(2, 40, 50, Some(1));
    let report = h.check();
    assert_violation(&report, Check::SessionReads, r);
    assert!(
        report
            .violations()
            .next()
            .is_some_and(|v| v.explanation.contains("previous op"))
    );
}

#[test]
fn stale_read_after_the_session_wrote_the_new_value_fails() {
    let mut h = Hist::default();
    h.write(1, 1, 0, Some(10));
    h.write(2, 2, 20, Some(30));
    let r = h.read(2, 40, 50, Some(1));
    assert_violation(&h.check(), Check::SessionReads, r);
}

#[test]
fn stale_read_after_the_session_failed_a_cas_on_the_new_value_fails() {
    let mut h = Hist::default();
    h.write(1, 1, 0, Some(10));
    h.write(1, 2, 20, Some(30));
    // It failed because the register held 2: the session has seen 2.
    h.cas(2, 1, 9, 40, 50, false);
    let r = h.read(2, 60, 70, Some(1));
    assert_violation(&h.check(), Check::SessionReads, r);
}

#[test]
fn read_of_a_value_never_written_fails() {
    let mut h = Hist::default();
    h.write(1, 1, 0, Some(10));
    let r = h.read(2, 20, 30, Some(7));
    let report = h.check();
    assert_violation(&report, Check::SessionReads, r);
    assert!(
        report
            .violations()
            .next()
            .is_some_and(|v| v.explanation.contains("never written"))
    );
}

#[test]
fn read_from_the_future_fails() {
    let mut h = Hist::default();
    h.write(1, 1, 0, Some(10));
    let r = h.read(2, 20, 30, Some(2));
    h.write(1, 2, 40, Some(50));
    let report = h.check();
    assert_violation(&report, Check::SessionReads, r);
    assert!(
        report
            .violations()
            .next()
            .is_some_and(|v| v.explanation.contains("future"))
    );
}

#[test]
fn read_from_the_future_through_an_order_of_writes_fails() {
    // 3 is written before the read returned, but only on top of 2, invoked after it.
    let mut h = Hist::default();
    h.write(1, 1, 0, Some(10));
    let r = h.read(2, 20, 30, Some(3));
    h.cas(3, 2, 3, 25, 100, true);
    h.write(1, 2, 40, Some(50));
    assert_violation(&h.check(), Check::SessionReads, r);
}

#[test]
fn read_may_see_a_write_that_returns_after_it() {
    let mut h = Hist::default();
    h.write(1, 1, 0, Some(10));
    h.write(1, 2, 20, Some(60));
    h.read(2, 30, 40, Some(2));
    h.read(2, 45, 50, Some(2));
    assert_ok(&h.check());
}

#[test]
fn reads_choose_the_write_order_when_the_first_witness_cannot_explain_them() {
    let mut h = Hist::default();
    let w1 = h.write(1, 1, 0, Some(10));
    let w2 = h.write(2, 2, 0, Some(10));
    // Monotonic only if 2 was written first: the writes alone do not say so.
    let r2 = h.read(3, 20, 25, Some(2));
    let r1 = h.read(3, 30, 35, Some(1));
    assert_eq!(witness_of(&h.check()), vec![w2, r2, w1, r1]);

    // Another session reading them the other way round leaves no order; the history is legal
    // until its second read returns.
    h.read(4, 20, 25, Some(1));
    let r5 = h.read(4, 30, 35, Some(2));
    assert_violation(&h.check(), Check::SessionReads, r5);
}

#[test]
fn synced_read_is_linearizable_even_without_strict_mode() {
    let mut h = Hist::default();
    h.write(1, 1, 0, Some(10));
    h.write(1, 2, 20, Some(30));
    let r = h.synced_read(2, 40, 50, Some(1));
    assert_violation(&h.check(), Check::Linearizable, r);
}

#[test]
fn a_tiny_budget_is_undecided_not_wrong() {
    let history = generate(
        7,
        &Gen {
            clients: 8,
            ops_per_client: 40,
            keys: 1,
            ..Gen::default()
        },
    );
    let config = Config {
        step_budget_per_key: 5,
        ..Config::default()
    };
    let report = check(&history, &config).expect("well-formed");
    assert!(report.is_undecided(), "{report}");
    assert!(
        check(&history, &Config::default())
            .expect("well-formed")
            .is_ok()
    );
}

// ---- randomized histories ------------------------------------------------------------------

/// A simulated register service: each client runs ops one after another, each op takes
/// effect at a random point of its interval (an unknown op at a random point after its
/// invoke, or never), and reads return the state ZooKeeper may serve.
#[derive(Clone)]
struct Gen {
    clients: u64,
    ops_per_client: usize,
    keys: usize,
    /// Probability that an op gets no answer.
    unknown: f64,
    /// Reads return the current state (linearizable) instead of a state the session may see.
    strict: bool,
    /// Written values cycle through `1..=n` instead of each being new.
    repeat_values: Option<u64>,
}

impl Default for Gen {
    fn default() -> Self {
        Gen {
            clients: 5,
            ops_per_client: 40,
            keys: 2,
            unknown: 0.05,
            strict: false,
            repeat_values: None,
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Write,
    Cas,
    Read,
}

struct Planned {
    session: u64,
    key: usize,
    kind: Kind,
    invoke: u64,
    ret: u64,
    /// When it takes effect; `None`: an unknown op that never does.
    effect: Option<u64>,
    answered: bool,
}

fn plan(rng: &mut StdRng, g: &Gen) -> Vec<Planned> {
    const DURATION_MAX: u64 = 40;
    let mut plan = Vec::new();
    for session in 0..g.clients {
        let mut t = rng.gen_range(0..20) * 1000;
        for _ in 0..g.ops_per_client {
            let invoke = t;
            let ret = invoke + rng.gen_range(1..DURATION_MAX) * 1000;
            let answered = !rng.gen_bool(g.unknown);
            let effect = if answered {
                Some(rng.gen_range(invoke + 1..ret))
            } else if rng.gen_bool(0.5) {
                Some(rng.gen_range(invoke + 1..ret + 5 * DURATION_MAX * 1000))
            } else {
                None
            };
            let kind = match rng.gen_range(0..10) {
                0..=3 => Kind::Write,
                4..=5 => Kind::Cas,
                _ => Kind::Read,
            };
            let key = rng.gen_range(0..g.keys);
            plan.push(Planned {
                session,
                key,
                kind,
                invoke,
                ret,
                effect,
                answered,
            });
            t = ret + rng.gen_range(1..10) * 1000;
        }
    }
    plan
}

/// Runs the plan in effect order against one register per key and records what each client
/// saw.
fn generate(seed: u64, g: &Gen) -> History<u64> {
    let mut rng = StdRng::seed_from_u64(seed);
    let plan = plan(&mut rng, g);
    let mut by_effect: Vec<usize> = (0..plan.len())
        .filter(|&i| plan[i].effect.is_some())
        .collect();
    by_effect.sort_by_key(|&i| (plan[i].effect, i));
    // Per key, every state it went through; per (session, key), the oldest state it may read.
    let mut states: Vec<Vec<Option<u64>>> = vec![vec![None]; g.keys];
    let mut floor = std::collections::HashMap::<(u64, usize), usize>::new();
    let mut outcome: Vec<Option<(Action<u64>, Outcome<u64>)>> =
        (0..plan.len()).map(|_| None).collect();
    for (fresh, i) in (1u64..).zip(by_effect) {
        let p = &plan[i];
        let value = g.repeat_values.map_or(fresh, |n| 1 + fresh % n);
        let key_states = &mut states[p.key];
        let current = *key_states.last().expect("initial state");
        let seen = floor.entry((p.session, p.key)).or_insert(0);
        let done = match p.kind {
            Kind::Write => {
                key_states.push(Some(value));
                (Action::Write(value), Outcome::Ok)
            }
            Kind::Cas => {
                let expect = if rng.gen_bool(0.5) {
                    current
                } else {
                    key_states[rng.gen_range(0..key_states.len())]
                };
                let applied = expect == current;
                if applied {
                    key_states.push(Some(value));
                }
                let result = if applied {
                    Outcome::Ok
                } else {
                    Outcome::Failed
                };
                (Action::Cas { expect, new: value }, result)
            }
            Kind::Read => {
                let newest = key_states.len() - 1;
                let at = if g.strict {
                    newest
                } else {
                    newest - rng.gen_range(0..=3).min(newest - *seen)
                };
                if p.answered {
                    *seen = at;
                }
                (Action::Read, Outcome::Read(key_states[at]))
            }
        };
        if p.answered && p.kind != Kind::Read {
            *seen = key_states.len() - 1;
        }
        outcome[i] = Some(done);
    }
    record(&plan, outcome, &mut rng)
}

fn record(
    plan: &[Planned],
    outcome: Vec<Option<(Action<u64>, Outcome<u64>)>>,
    rng: &mut StdRng,
) -> History<u64> {
    let mut h = History::new();
    for (p, done) in plan.iter().zip(outcome) {
        let key = format!("/key{}", p.key);
        let action = match (&done, p.kind) {
            (Some((action, _)), _) => action.clone(),
            // Never took effect: any call of that kind (values never written elsewhere).
            (None, Kind::Write) => Action::Write(1_000_000 + rng.gen_range(0..1_000_000)),
            (None, Kind::Cas) => Action::Cas {
                expect: None,
                new: 2_000_000 + rng.gen_range(0..1_000_000),
            },
            (None, Kind::Read) => Action::Read,
        };
        let id = h.invoke(SessionId(p.session), &key, action, p.invoke);
        if let (true, Some((_, result))) = (p.answered, done) {
            h.complete(id, p.ret, result);
        }
    }
    h
}

fn strict() -> Config {
    Config {
        strict_reads: true,
        ..Config::default()
    }
}

#[test]
fn random_register_histories_with_repeated_values_pass() {
    for seed in 0..40 {
        let strict_mode = seed % 2 == 0;
        let g = Gen {
            strict: strict_mode,
            repeat_values: Some(3),
            unknown: 0.03,
            ..Gen::default()
        };
        let history = generate(seed, &g);
        let config = if strict_mode {
            strict()
        } else {
            Config::default()
        };
        let report = check(&history, &config).expect("well-formed");
        assert!(
            report.is_ok(),
            "seed {seed} (strict {strict_mode}):\n{report}"
        );
    }
}

#[test]
fn random_register_histories_pass() {
    for seed in 0..60 {
        let strict_mode = seed % 2 == 0;
        let g = Gen {
            strict: strict_mode,
            unknown: 0.02 * (seed % 4) as f64,
            ..Gen::default()
        };
        let history = generate(seed, &g);
        let config = if strict_mode {
            strict()
        } else {
            Config::default()
        };
        let report = check(&history, &config).expect("well-formed");
        assert!(
            report.is_ok(),
            "seed {seed} (strict {strict_mode}):\n{report}"
        );
    }
}

/// Answered reads, by index into the history.
fn answered_reads(h: &History<u64>) -> Vec<usize> {
    (0..h.len())
        .filter(|&i| {
            matches!(
                h.op(OpId(i)).ret.as_ref().map(|r| &r.outcome),
                Some(Outcome::Read(_))
            )
        })
        .collect()
}

fn with_read_value(h: &History<u64>, i: usize, value: Option<u64>) -> History<u64> {
    let mut out = History::new();
    for (j, op) in h.ops().iter().enumerate() {
        let mut op = op.clone();
        if j == i
            && let Some(r) = op.ret.as_mut()
        {
            r.outcome = Outcome::Read(value);
        }
        out.push(op);
    }
    out
}

#[test]
fn reads_mutated_to_a_never_written_value_are_always_caught() {
    for seed in 0..40 {
        let strict_mode = seed % 2 == 1;
        let history = generate(
            seed,
            &Gen {
                strict: strict_mode,
                ..Gen::default()
            },
        );
        let reads = answered_reads(&history);
        let mut rng = StdRng::seed_from_u64(seed ^ 0xdead);
        let i = reads[rng.gen_range(0..reads.len())];
        let mutated = with_read_value(&history, i, Some(999_999_999));
        let config = if strict_mode {
            strict()
        } else {
            Config::default()
        };
        let report = check(&mutated, &config).expect("well-formed");
        let v = report
            .violations()
            .next()
            .unwrap_or_else(|| panic!("seed {seed}: missed\n{report}"));
        assert_eq!(v.blocking, OpId(i), "seed {seed}");
    }
}

/// Mutates one answered read to another value written on its key and counts how many of
/// those mutations the checker calls violations. Some mutations are legal (a read moved to a
/// value that was current at another point of its interval), so the bar is "most".
fn caught_mutations(strict_mode: bool, samples: u64) -> (u64, u64) {
    let (mut caught, mut undecided) = (0, 0);
    for seed in 0..samples {
        let history = generate(
            1000 + seed,
            &Gen {
                strict: strict_mode,
                unknown: 0.0,
                ..Gen::default()
            },
        );
        let reads = answered_reads(&history);
        let mut rng = StdRng::seed_from_u64(seed);
        let i = reads[rng.gen_range(0..reads.len())];
        let key = &history.op(OpId(i)).key;
        let written: Vec<u64> = history
            .ops()
            .iter()
            .filter(|o| &o.key == key && o.ret.is_some())
            .filter_map(|o| match (&o.action, o.ret.as_ref().map(|r| &r.outcome)) {
                (Action::Write(v), _) | (Action::Cas { new: v, .. }, Some(Outcome::Ok)) => Some(*v),
                _ => None,
            })
            .collect();
        let Some(Outcome::Read(before)) = history.op(OpId(i)).ret.as_ref().map(|r| &r.outcome)
        else {
            continue;
        };
        let choices: Vec<u64> = written
            .iter()
            .copied()
            .filter(|v| Some(*v) != *before)
            .collect();
        if choices.is_empty() {
            continue;
        }
        let value = choices[rng.gen_range(0..choices.len())];
        let config = if strict_mode {
            strict()
        } else {
            Config::default()
        };
        let report =
            check(&with_read_value(&history, i, Some(value)), &config).expect("well-formed");
        caught += u64::from(report.is_violation());
        undecided += u64::from(report.is_undecided());
    }
    assert_eq!(undecided, 0, "mutated histories must be decided");
    (caught, samples)
}

#[test]
fn reads_mutated_to_another_written_value_are_mostly_caught_in_strict_mode() {
    let (caught, samples) = caught_mutations(true, 60);
    eprintln!("strict: caught {caught} of {samples} mutations");
    assert!(
        caught * 10 >= samples * 7,
        "caught only {caught} of {samples}"
    );
}

#[test]
fn reads_mutated_to_another_written_value_are_mostly_caught_under_zookeeper_rules() {
    let (caught, samples) = caught_mutations(false, 60);
    eprintln!("zookeeper rules: caught {caught} of {samples} mutations");
    assert!(
        caught * 10 >= samples * 5,
        "caught only {caught} of {samples}"
    );
}

#[test]
fn cas_outcomes_flipped_are_mostly_caught() {
    let mut caught = 0;
    let samples = 40;
    for seed in 0..samples {
        let history = generate(
            2000 + seed,
            &Gen {
                unknown: 0.0,
                ..Gen::default()
            },
        );
        let cases: Vec<usize> = (0..history.len())
            .filter(|&i| {
                matches!(history.op(OpId(i)).action, Action::Cas { .. })
                    && history.op(OpId(i)).ret.is_some()
            })
            .collect();
        let mut rng = StdRng::seed_from_u64(seed);
        let i = cases[rng.gen_range(0..cases.len())];
        let mut mutated = History::new();
        for (j, op) in history.ops().iter().enumerate() {
            let mut op = op.clone();
            if j == i
                && let Some(r) = op.ret.as_mut()
            {
                r.outcome = if r.outcome == Outcome::Ok {
                    Outcome::Failed
                } else {
                    Outcome::Ok
                };
            }
            mutated.push(op);
        }
        caught += u64::from(
            check(&mutated, &Config::default())
                .expect("well-formed")
                .is_violation(),
        );
    }
    eprintln!("cas flips: caught {caught} of {samples}");
    assert!(
        caught * 10 >= samples * 7,
        "caught only {caught} of {samples}"
    );
}

// ---- cost ----------------------------------------------------------------------------------

/// About 3000 ops on one key from 16 clients, some without an answer: decided within a budget
/// of a few dozen steps per op (the steps, not the wall time, are the assertion).
#[test]
fn a_few_thousand_ops_per_key_check_within_a_small_step_budget() {
    for (seed, strict_mode, unknown) in [
        (1, false, 0.02),
        (2, true, 0.02),
        (3, false, 0.1),
        (4, true, 0.1),
    ] {
        let g = Gen {
            clients: 16,
            ops_per_client: 190,
            keys: 1,
            unknown,
            strict: strict_mode,
            repeat_values: None,
        };
        let history = generate(seed, &g);
        let ops = history.len() as u64;
        let config = Config {
            strict_reads: strict_mode,
            step_budget_per_key: 50 * ops,
        };
        let report = check(&history, &config).expect("well-formed");
        eprintln!("seed {seed}: {ops} ops, {} steps", report.steps());
        assert!(report.is_ok(), "seed {seed}:\n{report}");
    }
}

#[test]
fn a_violation_late_in_a_long_history_is_found_within_the_budget() {
    let g = Gen {
        clients: 16,
        ops_per_client: 190,
        keys: 1,
        unknown: 0.02,
        strict: true,
        repeat_values: None,
    };
    let history = generate(4, &g);
    let reads = answered_reads(&history);
    let last = *reads
        .iter()
        .max_by_key(|&&i| history.op(OpId(i)).invoke)
        .expect("reads");
    let mutated = with_read_value(&history, last, None);
    let config = Config {
        strict_reads: true,
        step_budget_per_key: 50 * history.len() as u64,
    };
    let report = check(&mutated, &config).expect("well-formed");
    let v = report
        .violations()
        .next()
        .unwrap_or_else(|| panic!("{report}"));
    assert_eq!(v.blocking, OpId(last), "{report}");
    eprintln!(
        "{} steps in all (the search and the narrowing to the shortest prefix)",
        report.steps()
    );
}

// ---- agreement with the definition, on tiny histories ---------------------------------------

/// The guarantees straight from their definition, by enumeration: some order of the
/// linearizable ops (answered ones, plus any subset of unknown ones) respects real time and
/// the register, and each plain read maps to a state of that order produced only by ops
/// invoked before it returned, no older than its session's previous answered op.
fn brute_force_legal(h: &History<u64>, strict_mode: bool) -> bool {
    let ops = h.ops();
    let is_plain_read =
        |o: &common::linear::Op<u64>| matches!(o.action, Action::Read) && !strict_mode;
    let linear: Vec<usize> = (0..ops.len())
        .filter(|&i| !is_plain_read(&ops[i]))
        .filter(|&i| {
            // A write that definitely failed had no effect; a read without an answer said nothing.
            !matches!(
                (&ops[i].action, ops[i].ret.as_ref().map(|r| &r.outcome)),
                (Action::Write(_), Some(Outcome::Failed))
                    | (Action::Read | Action::SyncedRead, None)
            )
        })
        .collect();
    let reads: Vec<usize> = (0..ops.len())
        .filter(|&i| is_plain_read(&ops[i]) && ops[i].ret.is_some())
        .collect();
    let unknown: Vec<usize> = linear
        .iter()
        .copied()
        .filter(|&i| ops[i].ret.is_none())
        .collect();
    for mask in 0..1u32 << unknown.len() {
        let mut chosen: Vec<usize> = linear
            .iter()
            .copied()
            .filter(|&i| ops[i].ret.is_some())
            .collect();
        chosen.extend(
            (0..unknown.len())
                .filter(|b| mask >> b & 1 == 1)
                .map(|b| unknown[b]),
        );
        if permutations_any(&mut chosen, 0, &mut |seq| {
            order_is_legal(ops, seq) && reads_fit(ops, seq, &reads)
        }) {
            return true;
        }
    }
    false
}

fn permutations_any(items: &mut Vec<usize>, k: usize, f: &mut dyn FnMut(&[usize]) -> bool) -> bool {
    if k == items.len() {
        return f(items);
    }
    for i in k..items.len() {
        items.swap(k, i);
        if permutations_any(items, k + 1, f) {
            items.swap(k, i);
            return true;
        }
        items.swap(k, i);
    }
    false
}

fn ret_time(op: &common::linear::Op<u64>) -> u64 {
    op.ret.as_ref().map_or(u64::MAX, |r| r.at)
}

/// The register's states along `seq` (`None` if a step is impossible), respecting real time.
fn states_along(ops: &[common::linear::Op<u64>], seq: &[usize]) -> Option<Vec<Option<u64>>> {
    for (a, &x) in seq.iter().enumerate() {
        if seq[a + 1..]
            .iter()
            .any(|&y| ret_time(&ops[y]) < ops[x].invoke)
        {
            return None;
        }
    }
    let mut states = vec![None];
    for &i in seq {
        let s = *states.last()?;
        let outcome = ops[i].ret.as_ref().map(|r| &r.outcome);
        let next = match (&ops[i].action, outcome) {
            (Action::Write(v), _) => Some(*v),
            (Action::Cas { expect, new }, None | Some(Outcome::Ok)) => {
                (s == *expect).then_some(Some(*new))?
            }
            (Action::Cas { expect, .. }, Some(_)) => (s != *expect).then_some(s)?,
            (_, Some(Outcome::Read(v))) => (s == *v).then_some(s)?,
            _ => return None,
        };
        states.push(next);
    }
    Some(states)
}

fn order_is_legal(ops: &[common::linear::Op<u64>], seq: &[usize]) -> bool {
    states_along(ops, seq).is_some()
}

fn reads_fit(ops: &[common::linear::Op<u64>], seq: &[usize], reads: &[usize]) -> bool {
    let Some(states) = states_along(ops, seq) else {
        return false;
    };
    let mut order: Vec<usize> = reads.to_vec();
    order.sort_by_key(|&r| (ops[r].session, ops[r].invoke, r));
    let mut mapped = vec![None::<usize>; ops.len()];
    map_reads(ops, seq, &states, &order, &mut mapped)
}

/// Tries every state index for each plain read in turn.
fn map_reads(
    ops: &[common::linear::Op<u64>],
    seq: &[usize],
    states: &[Option<u64>],
    reads: &[usize],
    mapped: &mut [Option<usize>],
) -> bool {
    let Some((&r, rest)) = reads.split_first() else {
        return true;
    };
    let op = &ops[r];
    // The session's previous answered op (by invoke order).
    let prev = (0..ops.len())
        .filter(|&j| {
            ops[j].session == op.session
                && ops[j].ret.is_some()
                && (ops[j].invoke, j) < (op.invoke, r)
        })
        .filter(|&j| {
            !matches!(
                (&ops[j].action, ops[j].ret.as_ref().map(|x| &x.outcome)),
                (Action::Write(_), Some(Outcome::Failed))
            )
        })
        .max_by_key(|&j| (ops[j].invoke, j));
    let floor = match prev {
        None => 0,
        Some(j) => match (mapped[j], seq.iter().position(|&x| x == j)) {
            (Some(i), _) => i,
            (None, Some(at)) => at + 1,
            (None, None) => unreachable!("an answered op is in every order"),
        },
    };
    let Some(Outcome::Read(value)) = op.ret.as_ref().map(|x| &x.outcome) else {
        unreachable!()
    };
    for i in floor..states.len() {
        let from_the_past = seq[..i].iter().all(|&w| ops[w].invoke <= ret_time(op));
        if states[i] == *value && from_the_past {
            mapped[r] = Some(i);
            if map_reads(ops, seq, states, rest, mapped) {
                return true;
            }
            mapped[r] = None;
        }
    }
    false
}

/// A random tiny history over values {1, 2, 3}: mostly illegal, some legal.
fn tiny_history(rng: &mut StdRng) -> History<u64> {
    let mut h = History::new();
    let value = |rng: &mut StdRng| rng.gen_range(1..=3u64);
    let maybe = |rng: &mut StdRng| {
        if rng.gen_bool(0.25) {
            None
        } else {
            Some(rng.gen_range(1..=3u64))
        }
    };
    for _ in 0..rng.gen_range(2..=7) {
        let session = SessionId(rng.gen_range(0..3));
        let invoke = rng.gen_range(0..12);
        let ret = invoke + rng.gen_range(0..6);
        let answered = !rng.gen_bool(0.15);
        let (action, outcome) = match rng.gen_range(0..8) {
            0..=2 => (Action::Write(value(rng)), Outcome::Ok),
            3..=4 => {
                let outcome = if rng.gen_bool(0.5) {
                    Outcome::Ok
                } else {
                    Outcome::Failed
                };
                (
                    Action::Cas {
                        expect: maybe(rng),
                        new: value(rng),
                    },
                    outcome,
                )
            }
            5 => (Action::SyncedRead, Outcome::Read(maybe(rng))),
            _ => (Action::Read, Outcome::Read(maybe(rng))),
        };
        let id = h.invoke(session, KEY, action, invoke);
        if answered {
            h.complete(id, ret, outcome);
        }
    }
    h
}

#[test]
fn verdicts_agree_with_the_definition_on_tiny_random_histories() {
    let mut rng = StdRng::seed_from_u64(42);
    let (mut legal, mut illegal) = (0, 0);
    for n in 0..4000 {
        let h = tiny_history(&mut rng);
        let strict_mode = n % 3 == 0;
        let expected = brute_force_legal(&h, strict_mode);
        let config = if strict_mode {
            strict()
        } else {
            Config::default()
        };
        let report = check(&h, &config).expect("well-formed");
        assert!(!report.is_undecided(), "history {n}: undecided\n{report}");
        assert_eq!(
            report.is_ok(),
            expected,
            "history {n} (strict {strict_mode}): {:#?}\n{report}",
            h.ops()
        );
        if expected { legal += 1 } else { illegal += 1 }
    }
    eprintln!("{legal} legal, {illegal} illegal");
    assert!(
        legal > 400 && illegal > 400,
        "both verdicts must be exercised: {legal} legal, {illegal} illegal"
    );
}
