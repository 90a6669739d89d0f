//! One run: start the servers, set up the znodes, let workers and owners run, inject a
//! process, network or (with a `fault-injection` build) log-disk fault in rounds (each fault and each recovery waits for the clients
//! to make progress), stop, read everything back through every member, check, report.
//! Network faults need an ensemble built with proxies between its members
//! (`Servers::proxied`, `common::proxy`).

use super::check::{
    check_ephemerals, check_register_linearizable, check_register_sequential,
    check_sequential_creates, CasRegister, Verdict,
};
use super::history::{Op, Outcome, Record, Recorder};
use super::workload::{final_reads, leftover_ephemerals, owner, setup, worker, Workload};
use crate::common::ensemble::TestEnsemble;
use crate::common::TestServer;
use ringkeeper::rng::Rng;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The process and network faults of the runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    None,
    /// SIGKILL a follower, let the others serve, restart it on its data.
    KillFollower,
    /// SIGKILL the leader, let the others elect and serve, restart it.
    KillLeader,
    /// SIGSTOP the leader for longer than syncLimit, then SIGCONT.
    FreezeLeader,
    /// SIGSTOP a follower for longer than syncLimit, then SIGCONT.
    FreezeFollower,
    /// SIGKILL every member at once, then restart them all.
    KillAll,
    /// SIGKILL the leader and a follower together (a five-member ensemble keeps a quorum).
    KillLeaderAndFollower,
    /// SIGKILL the one standalone server and restart it.
    KillStandalone,
    /// Cut a follower off from both others, both ways, for longer than syncLimit; heal.
    PartitionFollower,
    /// Cut the leader off from both followers; the others elect and serve; heal.
    IsolateLeader,
    /// Cut one direction between the leader and a follower: the follower cannot hear the
    /// leader in even rounds, the leader cannot hear the follower in odd ones; heal.
    OneWay,
    /// Cut and heal the links between the leader and a follower (both followers in odd
    /// rounds) at random: both ways or one way, spells of 50 ms to 3 s.
    Flap,
    /// Delay every byte to and from a follower by 50–200 ms (and limit it to 32 kB/s in
    /// odd rounds); then back to normal.
    SlowFollower,
    /// Five members split 2 | 3, both ways, for longer than syncLimit; heal. Even rounds put
    /// the leader and a follower on the side of two (the three elect a leader and serve; the
    /// old leader has no quorum, so nothing may be acknowledged through it), odd rounds cut
    /// off two followers (the leader keeps its quorum of three).
    SplitTwoThree,
    /// Silence every client connection to one member, both ways, for longer than the
    /// clients' read timeout (two thirds of the 6 s session timeout) but not the session
    /// timeout: they give up on it and resume their sessions elsewhere; the members' own
    /// links stay up. The leader's clients in even rounds, a follower's in odd ones; heal.
    CutClients,
    /// Restart the standalone server with its log set to fail an fdatasync a few batches
    /// on (cargo feature `fault-injection`): it stops by itself; restart it clean.
    DiskSyncError,
    /// As `DiskSyncError`, with a write that lands only half of its batch.
    DiskTornWrite,
    /// Restart the standalone server with every log sync taking 30 ms longer; then clean.
    DiskSlow,
}

impl Fault {
    /// Whether the fault is made with the proxies between members.
    pub fn is_network(self) -> bool {
        matches!(
            self,
            Fault::PartitionFollower
                | Fault::IsolateLeader
                | Fault::OneWay
                | Fault::Flap
                | Fault::SlowFollower
                | Fault::SplitTwoThree
                | Fault::CutClients
        )
    }
}

pub enum Servers {
    Standalone(TestServer),
    Ensemble(TestEnsemble),
}

impl Servers {
    pub fn ensemble(n: usize) -> Servers {
        Servers::serving(TestEnsemble::new(n, 0, ""), n)
    }

    /// An ensemble whose members reach each other only through proxies, for network faults.
    pub fn proxied(n: usize) -> Servers {
        Servers::serving(TestEnsemble::with_proxies(n, 0, ""), n)
    }

    /// Starts all `n` members of `e` and waits until every one serves.
    fn serving(mut e: TestEnsemble, n: usize) -> Servers {
        e.spawn_all();
        let ids: Vec<u64> = (1..=n as u64).collect();
        e.wait_serving(&ids);
        Servers::Ensemble(e)
    }

    pub fn standalone() -> Servers {
        Servers::Standalone(TestServer::start_with("tickTime=500\n"))
    }

    /// The members' client addresses; through their client proxies if `proxied`.
    fn members(&self, proxied: bool) -> Vec<String> {
        match self {
            Servers::Standalone(s) => vec![s.addr()],
            Servers::Ensemble(e) if proxied => {
                e.ids().into_iter().map(|id| e.proxied_addr(id)).collect()
            }
            Servers::Ensemble(e) => e.members.iter().map(|m| m.addr()).collect(),
        }
    }

    fn logs(&self) -> String {
        match self {
            Servers::Standalone(s) => s.tail(),
            Servers::Ensemble(e) => e
                .members
                .iter()
                .map(|m| m.tail())
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

/// How long a frozen member stays frozen: longer than syncLimit (5 ticks of 500 ms), so
/// the others give up on it and, for a leader, elect another.
const FREEZE: Duration = Duration::from_secs(4);

/// How long clients' links to a member stay cut: past their read timeout (4 s), short of
/// their sessions' (6 s).
const CLIENTS_CUT: Duration = Duration::from_millis(4800);

/// The ensemble's leader, waiting for one to be elected.
fn leader(e: &TestEnsemble) -> u64 {
    let deadline = Instant::now() + crate::common::ensemble::ELECT_TIMEOUT;
    loop {
        if let Some(l) = e.leader() {
            return l;
        }
        assert!(Instant::now() < deadline, "no leader elected");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn follower(e: &TestEnsemble) -> u64 {
    let l = leader(e);
    (1..=e.members.len() as u64)
        .find(|&id| id != l)
        .expect("a follower")
}

fn ensemble(servers: &Servers) -> &TestEnsemble {
    match servers {
        Servers::Ensemble(e) => e,
        Servers::Standalone(_) => panic!("a network fault needs an ensemble"),
    }
}

fn ensemble_mut(servers: &mut Servers) -> &mut TestEnsemble {
    match servers {
        Servers::Ensemble(e) => e,
        Servers::Standalone(_) => panic!("a network fault needs an ensemble"),
    }
}

/// Injects round `round` of a network fault: the fault, clients' progress during it, the
/// heal, every member serving again, progress after. Returns what was done and how many
/// faults that was (a flapping round is many cuts).
fn inject_network(
    servers: &mut Servers,
    fault: Fault,
    round: usize,
    rng: &mut Rng,
    progress: &dyn Fn(&Servers),
) -> (String, usize) {
    let ids = ensemble(servers).ids();
    let l = leader(ensemble(servers));
    let f = follower(ensemble(servers));
    let started = Instant::now();
    // Faults that clients can work through are held at least this long, so that the
    // servers' own timeouts (syncLimit) fire during them.
    let hold = |started: Instant| {
        if let Some(rest) = FREEZE.checked_sub(started.elapsed()) {
            std::thread::sleep(rest);
        }
    };
    let (what, events) = match fault {
        Fault::PartitionFollower => {
            ensemble(servers).net().isolate(f);
            progress(servers);
            hold(started);
            (format!("follower {f} cut off"), 1)
        }
        Fault::IsolateLeader => {
            ensemble(servers).net().isolate(l);
            let others = ensemble(servers).others(l);
            let new = ensemble_mut(servers).wait_leader(&others);
            eprintln!(
                "  leader {l} cut off; {new} leads after {:.1?}",
                started.elapsed()
            );
            progress(servers);
            hold(started);
            (format!("leader {l} cut off"), 1)
        }
        Fault::OneWay => {
            let (from, to) = if round.is_multiple_of(2) {
                (l, f)
            } else {
                (f, l)
            };
            ensemble(servers).net().cut_one_way(from, to);
            progress(servers);
            hold(started);
            (format!("bytes {from}→{to} cut (leader {l})"), 1)
        }
        Fault::Flap => {
            let bs: Vec<u64> = if round.is_multiple_of(2) {
                vec![f]
            } else {
                ensemble(servers).others(l)
            };
            let spells = (
                (Duration::from_millis(50), Duration::from_millis(3000)),
                (Duration::from_millis(50), Duration::from_millis(1000)),
            );
            let r = ensemble(servers)
                .net()
                .flap(l, &bs, Duration::from_secs(6), spells, rng);
            (
                format!("leader {l} ↔ {bs:?} flapped: {r}"),
                r.total() as usize,
            )
        }
        Fault::SlowFollower => {
            let delay = (Duration::from_millis(50), Duration::from_millis(200));
            let rate = (!round.is_multiple_of(2)).then_some(32_000);
            ensemble(servers).net().slow_member(f, delay, rate);
            progress(servers);
            hold(started);
            progress(servers);
            (
                format!("follower {f} delayed {delay:?}, rate limit {rate:?} B/s"),
                1,
            )
        }
        Fault::SplitTwoThree => {
            let followers = ensemble(servers).others(l);
            assert_eq!(followers.len(), 4, "a 2 | 3 split needs five members");
            let two = if round.is_multiple_of(2) {
                vec![l, followers[0]]
            } else {
                followers[..2].to_vec()
            };
            let three: Vec<u64> = ids.iter().copied().filter(|i| !two.contains(i)).collect();
            for &a in &two {
                for &b in &three {
                    ensemble(servers).net().cut(a, b);
                }
            }
            let what = if two.contains(&l) {
                let new = ensemble_mut(servers).wait_leader(&three);
                eprintln!(
                    "  {two:?} (leader {l}) cut off from {three:?}; {new} leads after {:.1?}",
                    started.elapsed()
                );
                format!("leader {l} and follower {} cut off from {three:?}", two[1])
            } else {
                format!("followers {two:?} cut off from leader {l} and the rest")
            };
            progress(servers);
            hold(started);
            progress(servers);
            (what, 1)
        }
        Fault::CutClients => {
            let m = if round.is_multiple_of(2) { l } else { f };
            ensemble(servers).net().cut_clients(m);
            std::thread::sleep(CLIENTS_CUT);
            progress(servers);
            (
                format!(
                    "clients of {} {m} cut off",
                    if m == l { "leader" } else { "follower" }
                ),
                1,
            )
        }
        _ => unreachable!("{fault:?} is not a network fault"),
    };
    ensemble(servers).net().clear_all();
    ensemble_mut(servers).wait_serving(&ids);
    progress(servers);
    (
        format!("{what} for {:.1?}, healed", started.elapsed()),
        events,
    )
}

/// Injects round `round` of `fault`; `progress` waits for clients to get some operations
/// through. Returns what was done, for the report, and how many faults that was.
fn inject(
    servers: &mut Servers,
    fault: Fault,
    round: usize,
    rng: &mut Rng,
    progress: &dyn Fn(&Servers),
) -> (String, usize) {
    if fault.is_network() {
        return inject_network(servers, fault, round, rng, progress);
    }
    let what = inject_process(servers, fault, progress);
    let events = usize::from(fault != Fault::None);
    (what, events)
}

fn inject_process(servers: &mut Servers, fault: Fault, progress: &dyn Fn(&Servers)) -> String {
    match (fault, &mut *servers) {
        (Fault::None, _) => {
            progress(servers);
            "none".into()
        }
        (Fault::KillStandalone, Servers::Standalone(s)) => {
            s.kill9();
            std::thread::sleep(Duration::from_millis(300));
            s.start_again();
            progress(servers);
            "SIGKILL standalone + restart".into()
        }
        (Fault::KillFollower | Fault::KillLeader, Servers::Ensemble(e)) => {
            let id = if fault == Fault::KillLeader {
                leader(e)
            } else {
                follower(e)
            };
            e.member_mut(id).kill9();
            eprintln!("  killed server {id}");
            progress(servers);
            let Servers::Ensemble(e) = servers else {
                unreachable!()
            };
            e.spawn(id);
            e.wait_serving(&[id]);
            progress(servers);
            format!("SIGKILL {fault:?} (server {id}) + restart")
        }
        (Fault::FreezeLeader | Fault::FreezeFollower, Servers::Ensemble(e)) => {
            let id = if fault == Fault::FreezeLeader {
                leader(e)
            } else {
                follower(e)
            };
            e.member(id).pause();
            eprintln!("  froze server {id}");
            std::thread::sleep(FREEZE);
            e.member(id).resume();
            eprintln!("  thawed server {id}");
            e.wait_serving(&[id]);
            progress(servers);
            format!("SIGSTOP {fault:?} (server {id}) for {FREEZE:?} + SIGCONT")
        }
        (Fault::KillAll, Servers::Ensemble(e)) => {
            for m in e.members.iter_mut() {
                m.kill9();
            }
            eprintln!("  killed every server");
            std::thread::sleep(Duration::from_millis(300));
            e.spawn_all();
            let ids: Vec<u64> = (1..=e.members.len() as u64).collect();
            e.wait_serving(&ids);
            progress(servers);
            "SIGKILL all + restart".into()
        }
        (Fault::KillLeaderAndFollower, Servers::Ensemble(e)) => {
            let l = leader(e);
            let f = follower(e);
            e.member_mut(l).kill9();
            e.member_mut(f).kill9();
            progress(servers);
            let Servers::Ensemble(e) = servers else {
                unreachable!()
            };
            e.spawn(l);
            e.spawn(f);
            e.wait_serving(&[l, f]);
            progress(servers);
            format!("SIGKILL leader {l} + follower {f} + restart")
        }
        (Fault::DiskSyncError | Fault::DiskTornWrite, Servers::Standalone(s)) => {
            let plan = if fault == Fault::DiskSyncError {
                "fsync-error@30"
            } else {
                "torn-write@30"
            };
            s.stop();
            // Not `start_again_with_env`: the reconnecting clients may reach the faulty
            // batch before a readiness poll sees the server up.
            s.spawn_with_env(&[(FAULTS_ENV, plan)]);
            eprintln!("  restarted with {plan}");
            let status = s
                .wait_exit(DISK_FAULT_EXIT)
                .unwrap_or_else(|| panic!("the server did not stop on {plan}\n{}", s.tail()));
            assert_eq!(status.code(), Some(70), "{plan}: {status}\n{}", s.tail());
            eprintln!("  stopped on it: {status}");
            s.start_again();
            progress(servers);
            format!("{plan}: stopped (exit 70), restarted clean")
        }
        (Fault::DiskSlow, Servers::Standalone(s)) => {
            let plan = "sync-delay-ms=30";
            s.stop();
            s.start_again_with_env(&[(FAULTS_ENV, plan)]);
            eprintln!("  restarted with {plan}");
            progress(servers);
            let Servers::Standalone(s) = servers else {
                unreachable!()
            };
            s.stop();
            s.start_again();
            progress(servers);
            format!("{plan} then clean, each after a SIGTERM restart")
        }
        (f, _) => panic!("fault {f:?} does not apply to these servers"),
    }
}

/// The log-fault switch of a server built with `fault-injection` (src/storage/fault.rs).
const FAULTS_ENV: &str = "RINGKEEPER_FAULTS";
/// The bound on a server's way to its injected fault; far above what it needs.
const DISK_FAULT_EXIT: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
pub struct RunReport {
    pub name: String,
    pub ops: usize,
    pub ok: usize,
    pub failed: usize,
    pub unknown: usize,
    pub faults: Vec<String>,
    /// Faults injected: one per round, except flapping, which counts each cut.
    pub fault_events: usize,
    /// Operations that went into a checker (per-znode register checks, creates, reads of
    /// ephemerals).
    pub checked: usize,
    pub ephemerals: usize,
    pub ephemerals_known_over: usize,
    /// Reads that saw an ephemeral after its session was refused as expired (allowed; see
    /// `check_ephemerals`).
    pub eph_seen_after_refusal: usize,
    pub violations: Vec<String>,
    pub inconclusive: Vec<String>,
    pub check_time: Duration,
    /// Where the history was written when the run failed.
    pub history_file: Option<std::path::PathBuf>,
    /// Why outcomes were unknown, with counts.
    pub unknown_why: std::collections::BTreeMap<String, usize>,
}

impl RunReport {
    pub fn summary(&self) -> String {
        format!(
            "linearizability run {}: {} operations recorded ({} ok, {} failed, {} unknown), \
             {} checked; {} ephemerals ({} known over, {} reads saw one after its session \
             was refused); faults injected: {} [{}]; \
             violations: {}; inconclusive: {}; checking took {:.1?}; unknown because {:?}",
            self.name,
            self.ops,
            self.ok,
            self.failed,
            self.unknown,
            self.checked,
            self.ephemerals,
            self.ephemerals_known_over,
            self.eph_seen_after_refusal,
            self.fault_events,
            self.faults.join("; "),
            self.violations.len(),
            self.inconclusive.len(),
            self.check_time,
            self.unknown_why
        )
    }

    /// Panics unless zero violations and zero inconclusive checks.
    pub fn assert_clean(&self) {
        println!("{}", self.summary());
        if !self.violations.is_empty() || !self.inconclusive.is_empty() {
            panic!(
                "{}\nhistory: {:?}\nviolations:\n{}\ninconclusive:\n{}",
                self.summary(),
                self.history_file,
                self.violations.join("\n\n"),
                self.inconclusive.join("\n")
            );
        }
    }
}

pub struct RunSpec {
    pub name: String,
    pub fault: Fault,
    pub rounds: usize,
    /// Ok operations to wait for in each phase (before the faults, during each, after).
    pub ops_per_phase: usize,
    pub workers: usize,
    pub keys: usize,
    pub ops_per_generation: usize,
    pub generations: usize,
    pub seed: u64,
}

/// A stuck cluster is a failure, not a hang: no phase may go this long without its
/// progress.
const PROGRESS_TIMEOUT: Duration = Duration::from_secs(120);

/// A timestamped progress line on stderr (shown with --nocapture or on failure).
fn note(name: &str, t0: Instant, what: &str) {
    eprintln!("[{:>7.2?}] {name}: {what}", t0.elapsed());
}

pub fn run(spec: RunSpec, mut servers: Servers) -> RunReport {
    let t0 = Instant::now();
    let w = Arc::new(Workload {
        // Clients go through the proxies only where the fault cuts their links: elsewhere
        // they would add a hop to every operation for nothing.
        members: servers.members(spec.fault == Fault::CutClients),
        keys: spec.keys,
        ops_per_generation: spec.ops_per_generation,
        generations: spec.generations,
        workers: spec.workers,
        owners: 3,
        session_timeout: Duration::from_secs(6),
        owner_timeout: Duration::from_secs(1),
        seed: spec.seed,
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(setup(&w));
    let rec = Arc::new(Recorder::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for id in 0..w.workers {
        tasks.push(rt.spawn(worker(rec.clone(), w.clone(), id, stop.clone())));
    }
    for id in 0..w.owners {
        tasks.push(rt.spawn(owner(rec.clone(), w.clone(), id, stop.clone())));
    }
    let progress = |s: &Servers| {
        let target = rec.ok_count() + spec.ops_per_phase;
        let deadline = Instant::now() + PROGRESS_TIMEOUT;
        // Once the registers are used up the workers idle, so no more progress can come:
        // the phase then proves nothing about liveness, which the note says.
        while rec.ok_count() < target {
            if w.used_up(&rec) {
                note(
                    &spec.name,
                    t0,
                    "every register generation is used up: no progress check for this phase",
                );
                break;
            }
            if Instant::now() > deadline {
                stop.store(true, Ordering::SeqCst);
                panic!(
                    "run {}: clients made no progress for {PROGRESS_TIMEOUT:?} ({} of {target} ok)\n{}",
                    spec.name,
                    rec.ok_count(),
                    s.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    progress(&servers);
    note(&spec.name, t0, "clients running");
    let mut faults = Vec::new();
    let mut fault_events = 0;
    let mut rng = Rng::new(spec.seed ^ 0x6e65_7466_6175_6c74);
    for round in 0..spec.rounds {
        let (what, events) = inject(&mut servers, spec.fault, round, &mut rng, &progress);
        faults.push(what);
        fault_events += events;
        note(
            &spec.name,
            t0,
            &format!("{} done", faults.last().expect("a fault")),
        );
    }
    stop.store(true, Ordering::SeqCst);
    rt.block_on(async {
        for t in tasks {
            t.await.expect("client task panicked");
        }
    });
    note(&spec.name, t0, "clients stopped");
    let children = rt.block_on(final_reads(&rec, &w));
    let leftovers = rt.block_on(leftover_ephemerals(&rec, &w));
    drop(servers);
    note(&spec.name, t0, "final reads done; checking");
    let t1 = Instant::now();
    let mut report = check(&rec, &w, &children);
    if !report.violations.is_empty() || !report.inconclusive.is_empty() {
        // Kept for the post-mortem: `replay` re-runs the register checks on it.
        let path = std::env::temp_dir().join(format!(
            "ringkeeper-linz-{}-{}.history",
            spec.name.replace('/', "-"),
            std::process::id()
        ));
        let lines: Vec<String> = rec.records().iter().map(|r| r.to_line()).collect();
        if std::fs::write(&path, lines.join("\n")).is_ok() {
            report.history_file = Some(path);
        }
    }
    for p in leftovers {
        report.violations.push(format!(
            "{p} outlived its session (still listed after the run)"
        ));
    }
    report.check_time = t1.elapsed();
    report.name = spec.name;
    report.faults = faults;
    report.fault_events = fault_events;
    report
}

/// Writes one register's history to `RK_LINZ_DUMP`/r<key>.txt, if set (for `replay`).
fn dump_register(key: usize, mine: &[&Record]) {
    if let Ok(dir) = std::env::var("RK_LINZ_DUMP") {
        let text: Vec<String> = mine.iter().map(|r| r.to_line()).collect();
        let _ = std::fs::write(format!("{dir}/r{key}.txt"), text.join("\n"));
    }
}

/// Runs every check on a recorded run.
pub fn check(rec: &Recorder, w: &Workload, children: &[String]) -> RunReport {
    let records = rec.records();
    let ephs = rec.ephemerals();
    let mut r = RunReport {
        ops: records.len(),
        ephemerals: ephs.len(),
        ephemerals_known_over: ephs.iter().filter(|e| e.known_expired.is_some()).count(),
        ..Default::default()
    };
    for x in &records {
        match x.outcome {
            Outcome::Ok(_) => r.ok += 1,
            Outcome::Failed(_) => r.failed += 1,
            Outcome::Unknown(ref why) => {
                r.unknown += 1;
                *r.unknown_why.entry(why.clone()).or_default() += 1;
            }
        }
    }
    // Deep recursion (one frame per operation) needs more than a test thread's stack; two
    // checker threads, one per core.
    const CHECKERS: usize = 2;
    let mut results: Vec<(usize, usize, Verdict, Verdict)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..CHECKERS)
            .map(|first| {
                let records = &records;
                std::thread::Builder::new()
                    .stack_size(512 << 20)
                    .spawn_scoped(s, move || {
                        (first..w.registers())
                            .step_by(CHECKERS)
                            .map(|key| {
                                let mine: Vec<_> =
                                    records.iter().filter(|x| x.op.key() == Some(key)).collect();
                                let init = CasRegister::default();
                                if std::env::var_os("RK_LINZ_TRACE").is_some() {
                                    eprintln!(
                                        "  checking register r{key}: {} operations, {} unknown",
                                        mine.len(),
                                        mine.iter().filter(|r| r.is_unknown()).count()
                                    );
                                    dump_register(key, &mine);
                                }
                                let t = Instant::now();
                                let lin = check_register_linearizable(&init, &mine);
                                let tl = t.elapsed();
                                let seq = check_register_sequential(&init, &mine);
                                let ts = t.elapsed() - tl;
                                if tl + ts > Duration::from_millis(500) {
                                    eprintln!(
                                        "  register r{key}: {} operations, {} unknown; \
                                         linearizability {tl:.1?}, sequential {ts:.1?}",
                                        mine.len(),
                                        mine.iter().filter(|r| r.is_unknown()).count()
                                    );
                                    dump_register(key, &mine);
                                }
                                (key, mine.len(), lin, seq)
                            })
                            .collect::<Vec<_>>()
                    })
                    .expect("spawn checker thread")
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("checker panicked"))
            .collect()
    });
    results.sort_by_key(|r| r.0);
    for (key, n, lin, seq) in results {
        r.checked += n;
        for (what, v) in [("linearizability", lin), ("sequential consistency", seq)] {
            match v {
                Verdict::Ok => {}
                Verdict::Violation(m) => r.violations.push(format!("register r{key}, {what}: {m}")),
                Verdict::Inconclusive(m) => r.inconclusive.push(format!("register r{key}: {m}")),
            }
        }
    }
    let all: Vec<_> = records.iter().collect();
    let creates: Vec<_> = all
        .iter()
        .copied()
        .filter(|x| matches!(x.op, Op::Create { .. }))
        .collect();
    let eph_reads: Vec<_> = all
        .iter()
        .copied()
        .filter(|x| matches!(x.op, Op::EphRead { .. }))
        .collect();
    r.checked += creates.len() + eph_reads.len();
    r.violations
        .extend(check_sequential_creates(&creates, children));
    let (eph_violations, seen_after_refusal) = check_ephemerals(&eph_reads, &ephs);
    r.violations.extend(eph_violations);
    r.eph_seen_after_refusal = seen_after_refusal;
    r
}
