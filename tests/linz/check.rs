//! Checks a recorded history.
//!
//! - Each register znode is checked on its own: linearizability is local (a history is
//!   linearizable iff each object's sub-history is), so per-znode checks lose nothing.
//!   Writes, compare-and-sets and sync+reads go to stateright's `LinearizabilityTester`
//!   with `CasRegister` as the reference object.
//! - Plain reads (served by whichever member the session is on) are only promised to be
//!   sequentially consistent: each caller's operations, plain reads included, go to a
//!   `SequentialConsistencyTester` together with everyone's state-changing operations.
//! - Sequential creates and ephemerals are checked directly (see their functions).
//!
//! Operations with an unknown outcome stay in flight: the testers may apply them at any
//! point after their invocation, or never. stateright searches without memoisation, so
//! each search runs under a step budget; running out is reported as inconclusive, which
//! fails a run like a violation does (zero violations *shown* is the only pass).

use super::history::{Ephemeral, Op, Outcome, Record, Ret, ThreadId, Tick};
use stateright::semantics::{
    ConsistencyTester, LinearizabilityTester, SequentialConsistencyTester, SequentialSpec,
};
use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The reference object: a znode's data (as the number written; 0 initially) and version.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct CasRegister {
    pub value: u64,
    pub version: i32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegOp {
    Read,
    Write(u64),
    Cas { expected: i32, value: u64 },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegRet {
    Value(u64, i32),
    Written(i32),
    BadVersion,
}

/// How many reference-object steps one search may take. A linearizable register history
/// of a few hundred operations is serialised in a few thousand; each step costs stateright
/// a copy of the remaining history (~40 µs at 130 operations), so this bounds a search to
/// seconds.
pub const STEP_BUDGET: u64 = 300_000;

thread_local! {
    static STEPS_LEFT: Cell<u64> = const { Cell::new(u64::MAX) };
    static STEPS_TAKEN: Cell<u64> = const { Cell::new(0) };
}

/// Reference-object steps the searches of this thread have taken so far (for reports).
pub fn steps_taken() -> u64 {
    STEPS_TAKEN.with(Cell::get)
}

/// Unwound through stateright's recursion when a search runs out of steps.
struct OutOfBudget;

fn spend_step() {
    STEPS_LEFT.with(|s| {
        let left = s.get();
        if left == 0 {
            // resume_unwind skips the panic hook: running out is a verdict, not a crash.
            std::panic::resume_unwind(Box::new(OutOfBudget));
        }
        s.set(left - 1);
    });
    STEPS_TAKEN.with(|s| s.set(s.get() + 1));
}

impl SequentialSpec for CasRegister {
    type Op = RegOp;
    type Ret = RegRet;

    fn invoke(&mut self, op: &RegOp) -> RegRet {
        spend_step();
        match op {
            RegOp::Read => RegRet::Value(self.value, self.version),
            RegOp::Write(v) => {
                self.value = *v;
                self.version += 1;
                RegRet::Written(self.version)
            }
            RegOp::Cas { expected, value } => {
                if *expected == self.version {
                    self.value = *value;
                    self.version += 1;
                    RegRet::Written(self.version)
                } else {
                    RegRet::BadVersion
                }
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    Violation(String),
    /// The search ran out of budget: neither shown consistent nor shown inconsistent.
    Inconclusive(String),
}

/// Runs `f` with a fresh step budget; `None` if the budget ran out.
fn with_budget<T>(budget: u64, f: impl FnOnce() -> T) -> Option<T> {
    STEPS_LEFT.with(|s| s.set(budget));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    STEPS_LEFT.with(|s| s.set(u64::MAX));
    match r {
        Ok(v) => Some(v),
        Err(e) if e.is::<OutOfBudget>() => None,
        Err(e) => std::panic::resume_unwind(e),
    }
}

/// The register operation of a record on a register znode, and its return if known.
/// `None` for records the register checks leave out: failed operations (they did not
/// happen) and reads without an answer (a read that may have happened changes nothing).
fn reg_op(r: &Record) -> Option<(RegOp, Option<RegRet>)> {
    let op = match &r.op {
        Op::Read { .. } => RegOp::Read,
        Op::Write { value, .. } => RegOp::Write(*value),
        Op::Cas {
            expected, value, ..
        } => RegOp::Cas {
            expected: *expected,
            value: *value,
        },
        _ => return None,
    };
    let ret = match &r.outcome {
        Outcome::Ok(Ret::Value { value, version }) => Some(RegRet::Value(*value, *version)),
        Outcome::Ok(Ret::Written { version }) => Some(RegRet::Written(*version)),
        Outcome::Ok(Ret::BadVersion) => Some(RegRet::BadVersion),
        Outcome::Ok(other) => panic!("register op {:?} returned {other:?}", r.op),
        Outcome::Failed(_) => return None,
        Outcome::Unknown(_) if op == RegOp::Read => return None,
        Outcome::Unknown(_) => None,
    };
    Some((op, ret))
}

/// Which unknown writes the first search keeps. An unknown write whose (unique) value some
/// read returned did happen. One nobody read may still have happened, but then it made a
/// version no known operation reports (every ok write and read reports its version): so
/// the first search keeps unread unknown writes only where such a gap exists and they can
/// fill it (invoked before the gap was passed; a compare-and-set only on the version before
/// the gap). If that guess fails, the full history is searched. Leaving an in-flight
/// operation out can only turn a pass into a failure, never the other way, so a pass of
/// the guess is a pass of the full history.
struct Guess {
    observed: BTreeSet<u64>,
    /// Each unreported version and the first tick by which a later version was reported.
    gaps: Vec<(i32, Tick)>,
}

impl Guess {
    fn new(recs: &[&Record]) -> Guess {
        let mut observed = BTreeSet::new();
        let mut reported: BTreeMap<i32, Tick> = BTreeMap::new();
        for r in recs {
            let v = match r.ok() {
                Some(Ret::Value { value, version }) => {
                    observed.insert(*value);
                    *version
                }
                Some(Ret::Written { version }) => *version,
                _ => continue,
            };
            let t = reported.entry(v).or_insert(r.complete);
            *t = (*t).min(r.complete);
        }
        let max = reported.keys().next_back().copied().unwrap_or(0);
        let mut gaps = Vec::new();
        for g in 1..max {
            if !reported.contains_key(&g) {
                let passed = reported
                    .range(g + 1..)
                    .map(|(_, t)| *t)
                    .min()
                    .unwrap_or(Tick::MAX);
                gaps.push((g, passed));
            }
        }
        Guess { observed, gaps }
    }

    fn keeps(&self, op: &RegOp, invoke: Tick) -> bool {
        match op {
            RegOp::Read => true,
            RegOp::Write(v) => {
                self.observed.contains(v) || self.gaps.iter().any(|(_, t)| invoke < *t)
            }
            RegOp::Cas { expected, value } => {
                self.observed.contains(value)
                    || self
                        .gaps
                        .iter()
                        .any(|(g, t)| *expected == g - 1 && invoke < *t)
            }
        }
    }
}

/// The search that assumes unobserved unknown writes did not happen is a guess: when it is
/// wrong (an unobserved write did take effect), its failure is an exhaustive search, so it
/// gets this fraction of the budget before the full history is searched.
const GUESS_SHARE: u64 = 20;

/// Thread key for the testers: callers that end in flight sort last, so the search tries
/// completed operations before guessing where an unknown one took effect.
type Tid = (bool, ThreadId);

struct Entry {
    tid: Tid,
    op: RegOp,
    ret: Option<RegRet>,
    invoke: Tick,
    complete: Tick,
}

/// The register entries of `recs`; with a guess, the unknown writes it does not keep are
/// left out.
fn entries(recs: &[&Record], guess: Option<&Guess>) -> Vec<Entry> {
    let unknown_threads: BTreeSet<ThreadId> = recs
        .iter()
        .filter(|r| r.is_unknown() && reg_op(r).is_some())
        .map(|r| r.thread)
        .collect();
    recs.iter()
        .filter_map(|r| {
            let (op, ret) = reg_op(r)?;
            if ret.is_none() && guess.is_some_and(|g| !g.keeps(&op, r.invoke)) {
                return None;
            }
            Some(Entry {
                tid: (unknown_threads.contains(&r.thread), r.thread),
                op,
                ret,
                invoke: r.invoke,
                complete: r.complete,
            })
        })
        .collect()
}

/// Feeds entries to a tester in clock order: invocations, and returns of known outcomes.
fn feed<C: ConsistencyTester<Tid, CasRegister>>(tester: &mut C, es: &[Entry], cut: Tick) {
    // (tick, 0 for an invocation, 1 for a return, entry): on a shared tick (hand-made
    // histories) invocations go first.
    let mut events: Vec<(Tick, u8, usize)> = Vec::new();
    for (i, e) in es.iter().enumerate() {
        if e.invoke < cut {
            events.push((e.invoke, 0, i));
        }
        if e.ret.is_some() && e.complete < cut {
            events.push((e.complete, 1, i));
        }
    }
    events.sort();
    for (_, kind, i) in events {
        let is_invoke = kind == 0;
        let e = &es[i];
        let r = if is_invoke {
            tester.on_invoke(e.tid, e.op.clone()).map(|_| ())
        } else {
            tester
                .on_return(e.tid, e.ret.clone().expect("known return"))
                .map(|_| ())
        };
        r.unwrap_or_else(|err| panic!("malformed history: {err}"));
    }
}

fn lin_search(es: &[Entry], init: &CasRegister, cut: Tick, budget: u64) -> Option<bool> {
    let mut t = LinearizabilityTester::new(init.clone());
    feed(&mut t, es, cut);
    with_budget(budget, || t.serialized_history().is_some())
}

/// Linearizability of one register's writes, compare-and-sets and sync+reads.
pub fn check_register_linearizable(init: &CasRegister, recs: &[&Record]) -> Verdict {
    check_register_linearizable_within(init, recs, STEP_BUDGET)
}

/// As `check_register_linearizable`, with `budget` steps per search.
pub fn check_register_linearizable_within(
    init: &CasRegister,
    recs: &[&Record],
    budget: u64,
) -> Verdict {
    // Plain reads are not held to linearizability, but what they saw did happen.
    let guess = Guess::new(recs);
    let recs: Vec<&Record> = recs
        .iter()
        .copied()
        .filter(|r| !matches!(r.op, Op::Read { sync: false, .. }))
        .collect();
    let guessed = entries(&recs, Some(&guess));
    if lin_search(&guessed, init, Tick::MAX, budget / GUESS_SHARE) == Some(true) {
        return Verdict::Ok;
    }
    let full = entries(&recs, None);
    match lin_search(&full, init, Tick::MAX, budget) {
        Some(true) => Verdict::Ok,
        None => Verdict::Inconclusive(format!(
            "linearizability search of {} operations ran out of {budget} steps",
            full.len()
        )),
        Some(false) => {
            // The shortest failing prefix pins where it goes wrong: a prefix of a
            // linearizable history (pending operations left pending) is linearizable.
            let mut ticks: Vec<Tick> = full.iter().flat_map(|e| [e.invoke, e.complete]).collect();
            ticks.sort();
            ticks.dedup();
            let (mut lo, mut hi) = (0usize, ticks.len() - 1);
            while lo < hi {
                let mid = (lo + hi) / 2;
                match lin_search(&full, init, ticks[mid] + 1, budget) {
                    Some(false) => hi = mid,
                    _ => lo = mid + 1,
                }
            }
            let cut = ticks[hi];
            Verdict::Violation(format!(
                "not linearizable; the shortest failing prefix ends at tick {cut}:\n{}",
                excerpt(&recs, cut, 30)
            ))
        }
    }
}

/// Sequential consistency, one caller at a time: the caller's own operations (plain reads
/// included) in its order, plus the writes of everyone else as one-operation callers.
/// Sequential consistency has no real-time order, and every ok write and read reports the
/// version it made or saw, so the others' writes are pinned by version: an ok write is
/// taken as it is, an unknown one some read saw becomes the write of the version it was
/// seen at, and a version nobody reports (made by an unknown write nobody read) is made by
/// a stand-in write of a value nobody reads. Reads and refused compare-and-sets of others
/// change nothing and are left out. So the search for each caller is nearly linear, and
/// checking callers one at a time is as strong as checking them together (the writes are
/// totally ordered by version either way).
pub fn check_register_sequential(init: &CasRegister, recs: &[&Record]) -> Verdict {
    // Version each value was seen at, and every version some operation reports.
    let mut seen_at: BTreeMap<u64, i32> = BTreeMap::new();
    let mut reported: BTreeSet<i32> = BTreeSet::new();
    for r in recs {
        match r.ok() {
            Some(Ret::Value { value, version }) => {
                seen_at.entry(*value).or_insert(*version);
                reported.insert(*version);
            }
            Some(Ret::Written { version }) => {
                reported.insert(*version);
            }
            _ => {}
        }
    }
    let threads: BTreeSet<ThreadId> = recs.iter().map(|r| r.thread).collect();
    for t in threads {
        let mine: Vec<&Record> = recs.iter().copied().filter(|r| r.thread == t).collect();
        let mut es: Vec<Entry> = entries(&mine, None);
        for e in es.iter_mut() {
            e.tid = (false, 0);
        }
        let mut others: Vec<(RegOp, i32)> = Vec::new();
        for r in recs.iter().filter(|r| r.thread != t) {
            let value = match &r.op {
                Op::Write { value, .. } | Op::Cas { value, .. } => *value,
                _ => continue,
            };
            match &r.outcome {
                Outcome::Ok(Ret::Written { version }) => {
                    let (op, _) = reg_op(r).expect("a register write");
                    others.push((op, *version));
                }
                Outcome::Unknown(_) => {
                    if let Some(v) = seen_at.get(&value) {
                        others.push((RegOp::Write(value), *v));
                    }
                }
                _ => {}
            }
        }
        let made: BTreeSet<i32> = others.iter().map(|(_, v)| *v).collect();
        let max = reported.iter().next_back().copied().unwrap_or(0);
        for g in 1..=max {
            if !made.contains(&g) && !reported.contains(&g) {
                others.push((RegOp::Write(STAND_IN_VALUE - g as u64), g));
            }
        }
        for (op, version) in others {
            let i = es.len() as u32;
            es.push(Entry {
                tid: (false, 1 << 30 | i),
                op,
                ret: Some(RegRet::Written(version)),
                invoke: 0,
                complete: 0,
            });
        }
        // Stand-ins are fed first: one-operation callers invoked at tick 0.
        let mut tester = SequentialConsistencyTester::new(init.clone());
        feed(&mut tester, &es, Tick::MAX);
        match with_budget(STEP_BUDGET, || tester.serialized_history().is_some()) {
            Some(true) => {}
            None => {
                return Verdict::Inconclusive(format!(
                    "sequential-consistency search for caller {t} ({} operations) ran out \
                     of {STEP_BUDGET} steps",
                    es.len()
                ))
            }
            Some(false) => {
                let mine: Vec<String> = mine.iter().map(|r| fmt_record(r)).collect();
                return Verdict::Violation(format!(
                    "caller {t}'s operations are not sequentially consistent with the \
                     writes; its operations:\n{}",
                    mine.join("\n")
                ));
            }
        }
    }
    Verdict::Ok
}

/// Values of stand-in writes count down from here: the workload's values are below 2^48.
const STAND_IN_VALUE: u64 = u64::MAX - 1;

pub fn fmt_record(r: &Record) -> String {
    let end = match &r.outcome {
        Outcome::Ok(ret) => format!("{ret:?}"),
        Outcome::Failed(e) => format!("failed: {e}"),
        Outcome::Unknown(e) => format!("UNKNOWN ({e})"),
    };
    format!(
        "  [{:>6} .. {:>6}] caller {:>3} session {:#x}: {:?} -> {end}",
        r.invoke, r.complete, r.thread, r.session, r.op
    )
}

/// The `n` records invoked last before `cut` (plus any still open at it), in invocation
/// order.
fn excerpt(recs: &[&Record], cut: Tick, n: usize) -> String {
    let mut v: Vec<&Record> = recs.iter().copied().filter(|r| r.invoke <= cut).collect();
    v.sort_by_key(|r| r.invoke);
    let start = v.len().saturating_sub(n);
    v[start..]
        .iter()
        .map(|r| fmt_record(r))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The sequence number at the end of a sequential node's name.
pub fn seq_of(name: &str) -> Option<u64> {
    let (_, s) = name.rsplit_once('-')?;
    (s.len() == 10).then(|| s.parse().ok())?
}

/// Sequential creates: the numbers handed out are unique, and ordered as the creates
/// were in real time (one that completed before another was invoked got the smaller
/// number; within a session this is the session's order). `children` is the final
/// listing: every acknowledged create is there with the number it was told, nothing is
/// there twice, and nothing is there that no create may have made.
pub fn check_sequential_creates(recs: &[&Record], children: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let creates: Vec<(&Record, &str)> = recs
        .iter()
        .filter_map(|r| match &r.op {
            Op::Create { token } => Some((*r, token.as_str())),
            _ => None,
        })
        .collect();
    let ok: Vec<(&Record, u64)> = creates
        .iter()
        .filter_map(|(r, _)| match r.ok() {
            Some(Ret::Created { seq }) => Some((*r, *seq)),
            _ => None,
        })
        .collect();
    let mut by_seq: HashMap<u64, &Record> = HashMap::new();
    for (r, s) in &ok {
        if let Some(prev) = by_seq.insert(*s, r) {
            out.push(format!(
                "sequence number {s} handed out twice:\n{}\n{}",
                fmt_record(prev),
                fmt_record(r)
            ));
        }
    }
    for (a, sa) in &ok {
        for (b, sb) in &ok {
            if a.complete < b.invoke && sa >= sb {
                out.push(format!(
                    "create completed before another began but got a number not below it:\n{}\n{}",
                    fmt_record(a),
                    fmt_record(b)
                ));
            }
        }
    }
    let mut listed: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for c in children {
        let (token, _) = c.rsplit_once('-').unwrap_or((c.as_str(), ""));
        listed
            .entry(token)
            .or_default()
            .push(seq_of(c).unwrap_or(u64::MAX));
    }
    let by_token: HashMap<&str, &Record> = creates.iter().map(|(r, t)| (*t, *r)).collect();
    for (token, seqs) in &listed {
        match by_token.get(token) {
            None => out.push(format!("child {token}-{seqs:?} was made by no create")),
            Some(r) => {
                if seqs.len() > 1 {
                    out.push(format!(
                        "one create made {} children {seqs:?}:\n{}",
                        seqs.len(),
                        fmt_record(r)
                    ));
                }
                match &r.outcome {
                    Outcome::Failed(e) => out.push(format!(
                        "a create answered as failed ({e}) made {token}-{seqs:?}"
                    )),
                    Outcome::Ok(Ret::Created { seq }) if !seqs.contains(seq) => out.push(format!(
                        "acknowledged create listed with another number {seqs:?}:\n{}",
                        fmt_record(r)
                    )),
                    _ => {}
                }
            }
        }
    }
    for (r, s) in &ok {
        let Op::Create { token } = &r.op else {
            unreachable!()
        };
        if !listed.contains_key(token.as_str()) {
            out.push(format!(
                "acknowledged create {token}-{s:010} is missing from the final listing:\n{}",
                fmt_record(r)
            ));
        }
    }
    out
}

/// Ephemeral ownership, with reads that are sync+exists (linearizable):
/// - once closeSession was answered ok (the close is committed), no read invoked afterwards
///   sees the node;
/// - while the owner is known alive (a later owner write succeeded), a read that began
///   after the create was acknowledged sees it.
///
/// A session refused on resume ("expired") is not held to the first rule: ZooKeeper 3.8
/// refuses a session as soon as its tracker marks it closing, before the closeSession
/// txn that deletes the ephemerals commits, and sync+reads in between still see them
/// (observed under leader SIGSTOP). Such reads are counted in the second value returned;
/// that the nodes do go is checked after the run (`leftover_ephemerals`).
pub fn check_ephemerals(recs: &[&Record], ephs: &[Ephemeral]) -> (Vec<String>, usize) {
    let mut out = Vec::new();
    let mut seen_after_refusal = 0;
    for r in recs {
        let Op::EphRead { eph } = r.op else { continue };
        let Some(Ret::Exists(seen)) = r.ok() else {
            continue;
        };
        let e = &ephs[eph];
        if *seen {
            if let Some(end) = e.known_expired.filter(|end| r.invoke > *end) {
                if e.closed {
                    out.push(format!(
                        "{} of session {:#x} seen by a read begun after the session was known \
                         over at tick {end} ({}):\n{}",
                        e.path,
                        e.session,
                        e.how_ended,
                        fmt_record(r)
                    ));
                } else {
                    seen_after_refusal += 1;
                }
            }
        } else if let Some(created) = e.created {
            if let Some(proof) = e.alive_proofs.iter().find(|p| **p > r.complete) {
                if r.invoke > created {
                    out.push(format!(
                        "{} (created at tick {created}) missing from a read although its owner \
                         {:#x} wrote to it later (invoked at tick {proof}):\n{}",
                        e.path,
                        e.session,
                        fmt_record(r)
                    ));
                }
            }
        }
    }
    (out, seen_after_refusal)
}
