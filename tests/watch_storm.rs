//! The watch storm of issue 7 at full size: ~100k sessions, each with a getData watch on one
//! znode (every other one also with a persistent watch on it), fired by one setData, so one
//! change sends ~100k notifications at once.
//!
//! One process may hold only as many sockets as the hard open-files limit allows (20000 on
//! the machine this was built on, and raising it needs CAP_SYS_RESOURCE), and a session
//! costs a socket at each end. So the load is spread over processes: an ensemble of three
//! voters and three observers holds the connections, and worker processes (this test binary
//! re-run with `RK_STORM_WORKER` set) each hold a share of the sessions. Workers speak a
//! line protocol over their stdin/stdout (`STORM ...` lines; the test harness prints its
//! own lines around them).
//!
//! What is asserted: every armed session gets exactly one NodeDataChanged for the znode and
//! nothing else, no member exits, a canary session keeps getting right answers throughout,
//! and afterwards every write acknowledged to the canary is on every member. Times and
//! memory are printed, never compared with a threshold.
//!
//! `RK_STORM_SESSIONS` (default 100000) scales it, e.g. to 6000 for a quick run.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::ensemble::TestEnsemble;
use ringkeeper::client::{acl, AddWatchMode, Client, CreateMode, EventType};

const WORKER_ENV: &str = "RK_STORM_WORKER";
/// The watched znode.
const PATH: &str = "/storm";
/// Only a hang reaches it.
const PATIENCE: Duration = Duration::from_secs(600);
/// Sessions one worker connects at the same time.
const CONNECTING_MAX: usize = 128;
/// Long, so that 100k sessions ping rarely (a third of it) and none expires while two
/// shared cores are busy with the storm.
const SESSION_TIMEOUT: Duration = Duration::from_secs(90);
/// Descriptors a process needs besides its sessions' sockets (log, quorum links, the JVM's
/// jars, ...).
const SPARE_FDS: usize = 1000;

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_micros() as u64
}

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{key}={v}: not a number"))
        })
        .unwrap_or(default)
}

fn hard_open_files_limit() -> usize {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    if soft < hard {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
    hard as usize
}

// ---- the worker ---------------------------------------------------------------------------

/// The worker's entry point, started by the storm test (ignored otherwise, so a plain
/// `cargo test` does not count it as a test).
#[test]
#[ignore = "worker process of watch_storm_100k_sessions_on_an_ensemble"]
fn storm_worker() {
    if std::env::var_os(WORKER_ENV).is_none() {
        return;
    }
    hard_open_files_limit();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(worker());
}

fn say(line: String) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "STORM {line}").expect("write to the test");
    out.flush().expect("flush to the test");
}

/// What one session saw after the setData.
enum Seen {
    Event(u64, EventType, String),
    /// The connection went away before a notification came.
    Dropped,
}

async fn worker() {
    let hosts: Vec<String> = std::env::var("RK_STORM_HOSTS")
        .expect("RK_STORM_HOSTS")
        .split(',')
        .map(String::from)
        .collect();
    let first = env_usize("RK_STORM_FIRST", 0);
    let n = env_usize("RK_STORM_SESSIONS", 0);
    let persistent_every = env_usize("RK_STORM_PERSISTENT_EVERY", 0);
    let (cmd_tx, mut cmds) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { return };
            if cmd_tx.send(line).is_err() {
                return;
            }
        }
    });

    // Sessions go round-robin over the members by global index, so every worker loads
    // every member alike.
    let member_of = |i: usize| (first + i) % hosts.len();
    let started = Instant::now();
    let gate = Arc::new(tokio::sync::Semaphore::new(CONNECTING_MAX));
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        let permit = gate.clone().acquire_owned().await.expect("gate");
        let addr = hosts[member_of(i)].clone();
        set.spawn(async move {
            // A listen queue overflowing under the connect burst shows as a refused or
            // reset connect; that is retried and counted, a failed handshake is not.
            let mut retries = 0;
            let c = loop {
                match Client::connect(&addr, SESSION_TIMEOUT).await {
                    Ok(c) => break c,
                    Err(e) if retries < 20 => {
                        retries += 1;
                        if retries == 20 {
                            eprintln!("storm worker: session {i} on {addr}: {e}");
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(e) => panic!("session {i} on {addr}: connect: {e}"),
                }
            };
            drop(permit);
            (i, c, retries)
        });
    }
    let mut clients: Vec<Option<Client>> = (0..n).map(|_| None).collect();
    let mut retries = 0;
    while let Some(r) = set.join_next().await {
        let (i, c, r) = r.expect("connect task");
        clients[i] = Some(c);
        retries += r;
    }
    let clients: Vec<Client> = clients.into_iter().map(Option::unwrap).collect();
    let connect_time = started.elapsed();

    let started = Instant::now();
    let mut streams = Vec::with_capacity(n);
    let mut arms = Vec::with_capacity(n);
    let mut persistent = 0;
    for (i, c) in clients.iter().enumerate() {
        streams.push(c.events().expect("a fresh session's events"));
        let data = c.get_data(PATH, true);
        // By the index among the member's sessions, so every member gets its share.
        let keep = (persistent_every > 0
            && ((first + i) / hosts.len()).is_multiple_of(persistent_every))
        .then(|| c.add_watch(PATH, AddWatchMode::Persistent));
        persistent += usize::from(keep.is_some());
        arms.push(async move {
            let (d, _) = data.await.map_err(|e| format!("getData: {e}"))?;
            if d.as_deref() != Some(&b"before"[..]) {
                return Err(format!("getData read {d:?}"));
            }
            if let Some(k) = keep {
                k.await.map_err(|e| format!("addWatch: {e}"))?;
            }
            Ok::<(), String>(())
        });
    }
    for (i, a) in arms.into_iter().enumerate() {
        if let Err(e) = a.await {
            panic!("session {i}: arming the watch: {e}");
        }
    }
    let arm_time = started.elapsed();

    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Seen)>();
    let waiters: Vec<_> = streams
        .into_iter()
        .enumerate()
        .map(|(i, mut events)| {
            let tx = seen_tx.clone();
            tokio::spawn(async move {
                let seen = match events.recv().await {
                    Some(ev) => Seen::Event(now_us(), ev.kind, ev.path),
                    None => Seen::Dropped,
                };
                let _ = tx.send((i, seen));
                events
            })
        })
        .collect();
    drop(seen_tx);
    say(format!(
        "armed {n} persistent={persistent} retries={retries} connect_ms={} arm_ms={}",
        connect_time.as_millis(),
        arm_time.as_millis()
    ));

    let cmd = cmds.recv().await.unwrap_or_default();
    let t0: u64 = cmd
        .strip_prefix("collect ")
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or_else(|| panic!("expected collect <t0>, got {cmd:?}"));
    let mut arrivals = Vec::with_capacity(n);
    let (mut wrong, mut dropped, mut twice) = (0, 0, 0);
    let mut seen = vec![false; n];
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while arrivals.len() + dropped + wrong < n {
        match tokio::time::timeout_at(deadline, seen_rx.recv()).await {
            Ok(Some((i, s))) => {
                if std::mem::replace(&mut seen[i], true) {
                    twice += 1;
                }
                match s {
                    Seen::Event(at, EventType::NodeDataChanged, p) if p == PATH => {
                        arrivals.push((member_of(i), at.saturating_sub(t0)));
                    }
                    Seen::Event(_, kind, p) => {
                        eprintln!("storm worker: session {i} got {kind:?} {p}");
                        wrong += 1;
                    }
                    Seen::Dropped => dropped += 1,
                }
            }
            Ok(None) | Err(_) => break,
        }
    }
    let missing = n - arrivals.len() - dropped - wrong;
    // A reply on a connection comes after every notification the server queued on it
    // before: once each session has its reply, anything more would already be here.
    let mut extra = 0;
    let mut rounds = Vec::with_capacity(n);
    for c in &clients {
        rounds.push(c.exists(PATH, false));
    }
    for r in rounds {
        let _ = r.await;
    }
    for w in waiters {
        if let Ok(Ok(mut events)) = tokio::time::timeout(Duration::from_secs(1), w).await {
            while events.try_recv().is_ok() {
                extra += 1;
            }
        }
    }
    let list: Vec<String> = arrivals.iter().map(|(m, us)| format!("{m}:{us}")).collect();
    say(format!(
        "result got={} wrong={wrong} dropped={dropped} missing={missing} twice={twice} \
         extra={extra} arrivals={}",
        arrivals.len(),
        list.join(",")
    ));

    match cmds.recv().await.as_deref() {
        Some("close") => {}
        other => panic!("expected close, got {other:?}"),
    }
    let started = Instant::now();
    let closes: Vec<_> = clients.iter().map(|c| c.close()).collect();
    let mut close_errors = 0;
    for c in closes {
        if c.await.is_err() {
            close_errors += 1;
        }
    }
    say(format!(
        "closed {n} errors={close_errors} ms={}",
        started.elapsed().as_millis()
    ));
}

// ---- the test -----------------------------------------------------------------------------

/// A running worker; killed if the test ends early.
struct Worker {
    child: Child,
    stdin: ChildStdin,
}

impl Worker {
    fn send(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("write to a worker");
        self.stdin.flush().expect("flush to a worker");
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

fn spawn_worker(
    k: usize,
    hosts: &str,
    first: usize,
    n: usize,
    persistent_every: usize,
    lines: std::sync::mpsc::Sender<(usize, String)>,
) -> Worker {
    let mut child = Command::new(std::env::current_exe().expect("own path"))
        .args([
            "--exact",
            "storm_worker",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(WORKER_ENV, "1")
        .env("RK_STORM_HOSTS", hosts)
        .env("RK_STORM_FIRST", first.to_string())
        .env("RK_STORM_SESSIONS", n.to_string())
        .env("RK_STORM_PERSISTENT_EVERY", persistent_every.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn a worker");
    let stdin = child.stdin.take().expect("worker stdin");
    let stdout = child.stdout.take().expect("worker stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            // libtest may have begun the line with "test storm_worker ... ".
            if let Some(at) = line.find("STORM ") {
                if lines.send((k, line[at + 6..].to_string())).is_err() {
                    return;
                }
            }
        }
    });
    Worker { child, stdin }
}

/// `key=value` fields of a worker's line.
fn fields(line: &str) -> BTreeMap<&str, &str> {
    line.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .collect()
}

fn field(line: &str, key: &str) -> usize {
    fields(line)
        .get(key)
        .unwrap_or_else(|| panic!("no {key} in {line}"))
        .parse()
        .unwrap_or_else(|_| panic!("{key} in {line}"))
}

/// User + system CPU time a process has used so far, in ms.
fn cpu_ms(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("proc stat");
    // Fields after the command name (which may hold spaces): utime and stime are the 12th
    // and 13th of them, in clock ticks (100 per second on Linux).
    let rest = stat.rsplit_once(") ").expect("proc stat format").1;
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    (f[0] + f[1]) * 10
}

/// `VmRSS` of a process, in MiB.
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

/// Samples each process's RSS every 50 ms. VmHWM is no peak here: the kernel raises it
/// lazily (at munmap and exit), so memory the allocator hands back with madvise in between
/// never shows in it.
struct RssSampler {
    stop: Arc<AtomicBool>,
    peaks: Arc<std::sync::Mutex<Vec<f64>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RssSampler {
    fn start(pids: Vec<u32>) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peaks = Arc::new(std::sync::Mutex::new(vec![0.0f64; pids.len()]));
        let (stopped, into) = (stop.clone(), peaks.clone());
        let thread = std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                let now: Vec<f64> = pids.iter().map(|&p| rss_mib(p)).collect();
                let mut peaks = into.lock().unwrap();
                for (p, n) in peaks.iter_mut().zip(now) {
                    *p = p.max(n);
                }
                drop(peaks);
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        RssSampler {
            stop,
            peaks,
            thread: Some(thread),
        }
    }

    /// The largest RSS of each process since the last call (or the start).
    fn take_peaks(&self) -> Vec<f64> {
        let mut peaks = self.peaks.lock().unwrap();
        let out = peaks.clone();
        peaks.iter_mut().for_each(|p| *p = 0.0);
        out
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn mntr(s: &common::TestServer, key: &str) -> i64 {
    let m = s.four_letter("mntr");
    let prefix = format!("zk_{key}\t");
    m.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(-1)
}

fn ms(us: u64) -> String {
    format!("{:.0} ms", us as f64 / 1000.0)
}

#[derive(Default)]
struct CanaryLog {
    acked: Vec<(String, Vec<u8>)>,
    /// (start in us since the epoch, round trip in us).
    trips: Vec<(u64, u64)>,
}

/// Creates `/canary/c-<n>` and reads it back, every 5 ms, until `stop`; any error or wrong
/// answer fails the test.
fn canary(c: Client, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<CanaryLog> {
    tokio::spawn(async move {
        let mut log = CanaryLog::default();
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let path = format!("/canary/c-{n}");
            let data = format!("canary {n}").into_bytes();
            let (start, t) = (now_us(), Instant::now());
            c.create(&path, &data, &acl::open_unsafe(), CreateMode::Persistent)
                .await
                .unwrap_or_else(|e| panic!("the canary was not served: create {path}: {e}"));
            log.acked.push((path.clone(), data.clone()));
            let (got, _) = c
                .get_data(&path, false)
                .await
                .unwrap_or_else(|e| panic!("the canary was not served: get {path}: {e}"));
            assert_eq!(got, Some(data), "the canary read back {path} wrong");
            log.trips.push((start, t.elapsed().as_micros() as u64));
            n += 1;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        log
    })
}

/// Waits for one line from each of `want` workers; panics on silence.
fn collect_lines(
    rx: &std::sync::mpsc::Receiver<(usize, String)>,
    want: usize,
    prefix: &str,
    workers: &mut [Worker],
) -> Vec<String> {
    let mut out: Vec<Option<String>> = vec![None; want];
    let deadline = Instant::now() + PATIENCE;
    while out.iter().any(Option::is_none) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left.min(Duration::from_secs(1))) {
            Ok((k, line)) if line.starts_with(prefix) => out[k] = Some(line),
            Ok((k, line)) => panic!("worker {k}: expected {prefix}, got {line}"),
            Err(_) => {
                for (k, w) in workers.iter_mut().enumerate() {
                    if let Ok(Some(status)) = w.child.try_wait() {
                        if out[k].is_none() {
                            panic!("worker {k} exited with {status} before `{prefix}`");
                        }
                    }
                }
                assert!(Instant::now() < deadline, "workers silent: {prefix}");
            }
        }
    }
    out.into_iter().map(Option::unwrap).collect()
}

#[test]
#[ignore = "heavy: 100k sessions over 6 server and 6 worker processes; run with --ignored"]
fn watch_storm_100k_sessions_on_an_ensemble() {
    let sessions = env_usize("RK_STORM_SESSIONS", 100_000);
    let (voters, observers) = (3, 3);
    let members = voters + observers;
    let limit = hard_open_files_limit();
    let per_process = limit - SPARE_FDS;
    let workers_n = sessions.div_ceil(per_process).max(members);
    assert!(
        sessions.div_ceil(members) <= per_process,
        "{sessions} sessions over {members} members exceed the open-files limit {limit}"
    );
    let persistent_every = 2;

    // No per-IP limit: every session comes from 127.0.0.1. syncLimit 10 s instead of the
    // harness's 2.5 s: ZooKeeper's leader dropped a follower whose fsync took over a second
    // while six JVMs shared two cores; the same settings serve both servers.
    let mut ens = TestEnsemble::new(
        voters,
        observers,
        "maxClientCnxns=0\nmaxSessionTimeout=120000\nsyncLimit=20\n",
    );
    ens.spawn_all();
    let ids = ens.ids();
    let leader = ens.wait_leader(&ids);
    ens.wait_serving(&ids);
    let follower = ids[..voters]
        .iter()
        .copied()
        .find(|&id| id != leader)
        .expect("a follower");
    let hosts = ens.hosts(&ids).join(",");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");

    let (writer, canary_client) = rt.block_on(async {
        let w = ens.client_on(leader).await;
        w.create(PATH, b"before", &acl::open_unsafe(), CreateMode::Persistent)
            .await
            .unwrap();
        w.create("/canary", b"", &acl::open_unsafe(), CreateMode::Persistent)
            .await
            .unwrap();
        (w, ens.client_on(follower).await)
    });
    let stop = Arc::new(AtomicBool::new(false));
    let canary_task = {
        let _g = rt.enter();
        canary(canary_client, stop.clone())
    };
    let pids: Vec<u32> = ids.iter().map(|&id| ens.member(id).pid()).collect();
    let rss_idle: Vec<f64> = pids.iter().map(|&p| rss_mib(p)).collect();
    let sampler = RssSampler::start(pids.clone());

    // Arm.
    let (tx, rx) = std::sync::mpsc::channel();
    let mut workers = Vec::new();
    let mut first = 0;
    for k in 0..workers_n {
        let n = sessions / workers_n + usize::from(k < sessions % workers_n);
        workers.push(spawn_worker(
            k,
            &hosts,
            first,
            n,
            persistent_every,
            tx.clone(),
        ));
        first += n;
    }
    let arming = Instant::now();
    eprintln!("storm: {workers_n} workers arming {sessions} sessions on {hosts}");
    let armed_lines = collect_lines(&rx, workers_n, "armed", &mut workers);
    let arm_time = arming.elapsed();
    let armed: usize = armed_lines
        .iter()
        .map(|l| {
            l.split_whitespace()
                .nth(1)
                .unwrap()
                .parse::<usize>()
                .unwrap()
        })
        .sum();
    let persistent: usize = armed_lines.iter().map(|l| field(l, "persistent")).sum();
    let retries: usize = armed_lines.iter().map(|l| field(l, "retries")).sum();
    let slowest_connect = armed_lines.iter().map(|l| field(l, "connect_ms")).max();
    let slowest_arm = armed_lines.iter().map(|l| field(l, "arm_ms")).max();
    assert_eq!(armed, sessions);
    let watch_counts: Vec<i64> = ids
        .iter()
        .map(|&id| mntr(ens.member(id), "watch_count"))
        .collect();
    let conns: Vec<i64> = ids
        .iter()
        .map(|&id| mntr(ens.member(id), "num_alive_connections"))
        .collect();
    let peak_arming = sampler.take_peaks();
    let rss_armed: Vec<f64> = pids.iter().map(|&p| rss_mib(p)).collect();

    let cpu_armed: Vec<u64> = ids.iter().map(|&id| cpu_ms(ens.member(id).pid())).collect();

    // Fire.
    let t0 = now_us();
    let fired = Instant::now();
    rt.block_on(writer.set_data(PATH, b"after", -1))
        .expect("the setData that fires the storm");
    let acked_after = fired.elapsed();
    for w in &mut workers {
        w.send(&format!("collect {t0}"));
    }
    let results = collect_lines(&rx, workers_n, "result", &mut workers);
    let cpu_storm: Vec<u64> = ids
        .iter()
        .zip(&cpu_armed)
        .map(|(&id, before)| cpu_ms(ens.member(id).pid()) - before)
        .collect();
    let peak_storm = sampler.take_peaks();
    let rss_fired: Vec<f64> = pids.iter().map(|&p| rss_mib(p)).collect();
    let mut per_member: Vec<Vec<u64>> = vec![Vec::new(); members];
    let mut bad = Vec::new();
    for (k, l) in results.iter().enumerate() {
        for key in ["wrong", "dropped", "missing", "twice", "extra"] {
            let v = field(l, key);
            if v > 0 {
                bad.push(format!("worker {k}: {key}={v}"));
            }
        }
        let list = fields(l).get("arrivals").copied().unwrap_or("");
        for a in list.split(',').filter(|a| !a.is_empty()) {
            let (m, us) = a.split_once(':').expect("member:us");
            per_member[m.parse::<usize>().unwrap()].push(us.parse().unwrap());
        }
    }
    let got: usize = per_member.iter().map(Vec::len).sum();
    for &id in &ids {
        let m = ens.member_mut(id);
        assert!(m.is_running(), "member {id} fell over\n{}", m.tail());
    }
    assert!(bad.is_empty(), "notifications wrong: {bad:?}");
    assert_eq!(got, armed, "every armed session is notified exactly once");

    stop.store(true, Ordering::Relaxed);
    let log = rt.block_on(canary_task).expect("the canary failed");
    let storm_end = t0 + per_member.iter().flatten().max().copied().unwrap_or(0);
    let in_storm: Vec<u64> = log
        .trips
        .iter()
        .filter(|(s, d)| s + d >= t0 && *s <= storm_end)
        .map(|(_, d)| *d)
        .collect();

    // Close every session, then check every acknowledged write on every member.
    for w in &mut workers {
        w.send("close");
    }
    let closing = Instant::now();
    let closed = collect_lines(&rx, workers_n, "closed", &mut workers);
    let close_time = closing.elapsed();
    let close_errors: usize = closed.iter().map(|l| field(l, "errors")).sum();
    let peak_closing = sampler.take_peaks();
    drop(sampler);
    for (k, w) in workers.iter_mut().enumerate() {
        let status = w.child.wait().expect("wait for a worker");
        assert!(status.success(), "worker {k} exited with {status}");
    }
    rt.block_on(async {
        for &id in &ids {
            let c = ens.client_on(id).await;
            c.sync("/").await.unwrap();
            let (d, _) = c.get_data(PATH, false).await.unwrap();
            assert_eq!(d.as_deref(), Some(&b"after"[..]), "member {id}");
            for chunk in log.acked.chunks(512) {
                let calls: Vec<_> = chunk.iter().map(|(p, _)| c.get_data(p, false)).collect();
                for ((path, data), call) in chunk.iter().zip(calls) {
                    match call.await {
                        Ok((Some(d), _)) => assert_eq!(&d, data, "{path} on member {id}"),
                        other => panic!("acknowledged {path} lost on member {id}: {other:?}"),
                    }
                }
            }
            let _ = c.close().await;
        }
    });

    // The report.
    let mut all: Vec<u64> = per_member.iter().flatten().copied().collect();
    all.sort_unstable();
    let q = |v: &[u64], f: f64| v[((v.len() - 1) as f64 * f) as usize];
    let server = if common::is_reference() {
        "ZooKeeper 3.8"
    } else {
        "ringkeeper"
    };
    eprintln!(
        "watch storm on {server}, {voters} voters + {observers} observers, {workers_n} worker \
         processes: {armed} sessions armed in {:.1} s (slowest worker: connected in {} ms, \
         {retries} connect retries; watches set in {} ms), each with a getData watch on \
         {PATH}, {persistent} also with a persistent watch; setData \
         acknowledged after {:.0} ms; {got} notifications (one per session), p50 {} p99 {} \
         last {}",
        arm_time.as_secs_f64(),
        slowest_connect.unwrap_or(0),
        slowest_arm.unwrap_or(0),
        acked_after.as_secs_f64() * 1000.0,
        ms(q(&all, 0.5)),
        ms(q(&all, 0.99)),
        ms(*all.last().unwrap()),
    );
    eprintln!(
        "member  role        conns  watch_count  notified  last       storm CPU  \
         RSS (MiB): idle  arming peak  armed  storm peak  after  closing peak"
    );
    for (i, &id) in ids.iter().enumerate() {
        let mut v = per_member[i].clone();
        v.sort_unstable();
        let role = if id == leader {
            "leader"
        } else if i < voters {
            "follower"
        } else {
            "observer"
        };
        eprintln!(
            "{id:>6}  {role:<10} {:>6}  {:>11}  {:>8}  {:>9}  {:>9}  {:>15.0}  {:>11.0}  \
             {:>5.0}  {:>10.0}  {:>5.0}  {:>12.0}",
            conns[i],
            watch_counts[i],
            v.len(),
            ms(v.last().copied().unwrap_or(0)),
            format!("{} ms", cpu_storm[i]),
            rss_idle[i],
            peak_arming[i],
            rss_armed[i],
            peak_storm[i],
            rss_fired[i],
            peak_closing[i],
        );
    }
    let slowest = log.trips.iter().map(|t| t.1).max().unwrap_or(0);
    eprintln!(
        "canary (on follower {follower}): {} round trips, slowest {}; {} during the storm, \
         slowest of those {}; {} acknowledged writes on every member; {armed} sessions closed \
         in {:.1} s ({close_errors} close errors)",
        log.trips.len(),
        ms(slowest),
        in_storm.len(),
        ms(in_storm.iter().copied().max().unwrap_or(0)),
        log.acked.len(),
        close_time.as_secs_f64()
    );
}
