//! A continuous writer for fault tests: one session that creates `<prefix>/n<i>` for
//! i = 0, 1, 2, ... on its own thread and runtime (so the test thread may block in kills,
//! restarts and waits), across any number of servers.
//!
//! Each name is retried until it is confirmed — created (an acknowledged write) or
//! answered NodeExists (an earlier attempt whose reply was lost did commit) — before the
//! next one is tried. So at any moment names 0..confirmed are committed and at most one
//! more (`n<confirmed>`) may or may not be: a read-back must find exactly those.
//!
//! It reconnects by itself rather than through `ZooKeeper`: host after host with no growing
//! back-off, resuming the session with its id, password and last zxid, so the time from a
//! fault to the next acknowledged write measures the servers, not a client's pause.
//!
//! Plain library code with no test harness in it, so `perf/failover.rs` includes this file
//! too and the test and the measurement are the same loop.

use ringkeeper::client::acl::open_unsafe;
use ringkeeper::client::{Client, ClientError, ConnectOptions, CreateMode, ErrorCode};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How the writer reaches the servers.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// `host:port` of every server it may use, tried in this order (rotating).
    pub hosts: Vec<String>,
    /// Parent of the written nodes; created if missing.
    pub prefix: String,
    pub session_timeout: Duration,
    /// Bound on one TCP connect + handshake (a silent host must not stall the writer).
    pub connect_timeout: Duration,
    /// Bound on one create; past it the connection is dropped and the next host tried.
    pub op_timeout: Duration,
    /// After `stop`, how long to keep retrying the name in flight before giving up on it.
    pub drain_timeout: Duration,
}

impl WriterConfig {
    pub fn new(hosts: Vec<String>, prefix: &str) -> WriterConfig {
        WriterConfig {
            hosts,
            prefix: prefix.to_string(),
            session_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(2),
            op_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(60),
        }
    }
}

/// What the writer has done so far.
#[derive(Debug, Default, Clone)]
pub struct Progress {
    /// Names 0..confirmed are committed.
    pub confirmed: u64,
    /// Every acknowledged create: (when that attempt was sent, when its reply came).
    pub acks: Vec<(Instant, Instant)>,
    /// Attempts that failed (connection loss, timeout, server error).
    pub failed_attempts: u64,
    /// Connections opened (the first one included).
    pub connections: u64,
    /// New sessions started because the old one expired.
    pub new_sessions: u64,
    /// Server errors other than connection trouble, for the report (code, count).
    pub errors: Vec<String>,
}

/// The writer's final account.
#[derive(Debug, Clone)]
pub struct WriterReport {
    pub progress: Progress,
    /// True if `n<confirmed>` was attempted but never confirmed (it may or may not exist).
    pub unknown: bool,
    pub prefix: String,
}

impl WriterReport {
    /// The name of the i-th node.
    pub fn name(i: u64) -> String {
        format!("n{i:010}")
    }

    /// Names that must exist.
    pub fn confirmed_names(&self) -> Vec<String> {
        (0..self.progress.confirmed).map(Self::name).collect()
    }

    /// Checks a read-back of the prefix's children: every confirmed name, nothing else
    /// but possibly the one unknown name. Returns a description of the difference.
    pub fn check_children(&self, children: &[String]) -> Result<(), String> {
        let mut got: Vec<&str> = children.iter().map(|s| s.as_str()).collect();
        got.sort_unstable();
        let unknown = Self::name(self.progress.confirmed);
        if self.unknown {
            if let Ok(i) = got.binary_search(&unknown.as_str()) {
                got.remove(i);
            }
        }
        let want = self.confirmed_names();
        if got.len() == want.len() && got.iter().zip(&want).all(|(a, b)| *a == b.as_str()) {
            return Ok(());
        }
        let missing: Vec<&String> = want
            .iter()
            .filter(|w| got.binary_search(&w.as_str()).is_err())
            .take(10)
            .collect();
        let extra: Vec<&&str> = got
            .iter()
            .filter(|g| want.binary_search_by(|w| w.as_str().cmp(g)).is_err())
            .take(10)
            .collect();
        Err(format!(
            "{} children under {} where {} were confirmed{}; missing (first 10) {missing:?}, \
             unexpected (first 10) {extra:?}",
            children.len(),
            self.prefix,
            want.len(),
            if self.unknown {
                format!(" and {unknown} is unknown")
            } else {
                String::new()
            },
        ))
    }
}

/// See `Writer::watch`.
#[derive(Clone)]
pub struct WriterWatch(Arc<Mutex<Progress>>);

impl WriterWatch {
    /// Names 0..confirmed are committed; name `confirmed` may be in flight.
    pub fn confirmed(&self) -> u64 {
        self.0.lock().expect("progress lock").confirmed
    }
}

/// `Writer::mode`: keep writing.
const RUN: u8 = 0;
/// Confirm the name in flight (up to the drain timeout), then end.
const DRAIN: u8 = 1;
/// End now (the writer was dropped: a failed test must not leave it retrying).
const ABANDON: u8 = 2;

/// A running writer; `stop` ends it and returns its report. Dropping it abandons it.
pub struct Writer {
    mode: Arc<AtomicU8>,
    progress: Arc<Mutex<Progress>>,
    thread: Option<JoinHandle<WriterReport>>,
}

impl Writer {
    pub fn start(cfg: WriterConfig) -> Writer {
        assert!(!cfg.hosts.is_empty(), "the writer needs at least one host");
        let mode = Arc::new(AtomicU8::new(RUN));
        let progress = Arc::new(Mutex::new(Progress::default()));
        let (m, p) = (mode.clone(), progress.clone());
        let thread = std::thread::Builder::new()
            .name("writer".into())
            .spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("writer runtime")
                    .block_on(run(cfg, m, p))
            })
            .expect("spawn writer thread");
        Writer {
            mode,
            progress,
            thread: Some(thread),
        }
    }

    /// A copy of the progress so far.
    pub fn progress(&self) -> Progress {
        self.progress.lock().expect("progress lock").clone()
    }

    pub fn confirmed(&self) -> u64 {
        self.progress.lock().expect("progress lock").confirmed
    }

    /// A handle on the confirmed count that other tasks can hold while the test owns the
    /// writer (to compare what a reader saw with what had been acknowledged).
    pub fn watch(&self) -> WriterWatch {
        WriterWatch(self.progress.clone())
    }

    /// Waits until `n` more names are confirmed than when called; false on timeout.
    pub fn wait_more(&self, n: u64, timeout: Duration) -> bool {
        let target = self.confirmed() + n;
        let deadline = Instant::now() + timeout;
        while self.confirmed() < target {
            if Instant::now() >= deadline || self.thread.as_ref().is_none_or(|t| t.is_finished()) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    }

    /// The time from `t` to the reply of the first acknowledged create that was sent at or
    /// after `t` (a reply to a write sent earlier could have been committed before `t`).
    pub fn first_ack_after(&self, t: Instant) -> Option<Duration> {
        let p = self.progress.lock().expect("progress lock");
        p.acks
            .iter()
            .find(|(sent, _)| *sent >= t)
            .map(|(_, done)| done.duration_since(t))
    }

    /// Waits for `first_ack_after(t)`, up to `timeout`.
    pub fn wait_ack_after(&self, t: Instant, timeout: Duration) -> Option<Duration> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(d) = self.first_ack_after(t) {
                return Some(d);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Stops after confirming the name in flight (or giving up on it after the drain
    /// timeout) and returns the report.
    pub fn stop(mut self) -> WriterReport {
        self.mode.store(DRAIN, Ordering::SeqCst);
        self.thread
            .take()
            .expect("writer thread")
            .join()
            .expect("writer thread panicked")
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Not joined: the thread ends at its next step (at most one connect or op timeout).
        self.mode.store(ABANDON, Ordering::SeqCst);
    }
}

enum Outcome {
    Confirmed,
    Retry,
    Reconnect,
    Expired,
}

async fn run(
    cfg: WriterConfig,
    mode: Arc<AtomicU8>,
    progress: Arc<Mutex<Progress>>,
) -> WriterReport {
    let mut session: Option<(i64, Vec<u8>)> = None;
    let mut last_zxid = 0i64;
    let mut host = 0usize;
    let mut prefix_made = false;
    let mut drain_deadline: Option<Instant> = None;
    let mut unknown = false;
    let mut next = 0u64;
    'outer: loop {
        let m = mode.load(Ordering::SeqCst);
        if m == ABANDON {
            break;
        }
        if m == DRAIN {
            // Nothing in flight: done. Otherwise keep trying the pending name a while.
            if !unknown {
                break;
            }
            let d = *drain_deadline.get_or_insert_with(|| Instant::now() + cfg.drain_timeout);
            if Instant::now() >= d {
                break;
            }
        }
        let addr = &cfg.hosts[host % cfg.hosts.len()];
        let mut opts = ConnectOptions::new(addr, cfg.session_timeout);
        opts.connect_timeout = cfg.connect_timeout;
        opts.last_zxid_seen = last_zxid;
        if let Some((id, pw)) = &session {
            opts.session_id = *id;
            opts.passwd = pw.clone();
        }
        let c = match Client::connect_with(opts).await {
            Ok(c) => c,
            Err(ClientError::SessionExpired) => {
                session = None;
                progress.lock().expect("progress lock").new_sessions += 1;
                continue;
            }
            Err(_) => {
                host += 1;
                if host.is_multiple_of(cfg.hosts.len()) {
                    // A whole round refused: nobody serves yet (an election). Try again
                    // soon, but do not spin.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                continue;
            }
        };
        session = Some((c.session_id(), c.session_password().to_vec()));
        progress.lock().expect("progress lock").connections += 1;
        if !prefix_made {
            match tokio::time::timeout(
                cfg.op_timeout,
                c.create(&cfg.prefix, b"", &open_unsafe(), CreateMode::Persistent),
            )
            .await
            {
                Ok(Ok(_)) | Ok(Err(ClientError::Keeper(ErrorCode::NodeExists))) => {
                    prefix_made = true
                }
                _ => {
                    host += 1;
                    continue;
                }
            }
        }
        loop {
            let m = mode.load(Ordering::SeqCst);
            if m == ABANDON || (m == DRAIN && !unknown) {
                break 'outer;
            }
            if let Some(d) = drain_deadline {
                if Instant::now() >= d {
                    break 'outer;
                }
            }
            let path = format!("{}/{}", cfg.prefix, WriterReport::name(next));
            unknown = true;
            let sent = Instant::now();
            let r = tokio::time::timeout(
                cfg.op_timeout,
                c.create(&path, b"w", &open_unsafe(), CreateMode::Persistent),
            )
            .await;
            let done = Instant::now();
            last_zxid = last_zxid.max(c.last_zxid());
            let outcome = match r {
                Ok(Ok(_)) => {
                    progress
                        .lock()
                        .expect("progress lock")
                        .acks
                        .push((sent, done));
                    Outcome::Confirmed
                }
                Ok(Err(ClientError::Keeper(ErrorCode::NodeExists))) => Outcome::Confirmed,
                Ok(Err(ClientError::Keeper(ErrorCode::SessionExpired)))
                | Ok(Err(ClientError::SessionExpired)) => Outcome::Expired,
                Ok(Err(ClientError::Keeper(code))) => {
                    let mut p = progress.lock().expect("progress lock");
                    p.errors.push(format!("{code:?} on {path} via {addr}"));
                    Outcome::Retry
                }
                Ok(Err(_)) | Err(_) => Outcome::Reconnect,
            };
            match outcome {
                Outcome::Confirmed => {
                    unknown = false;
                    next += 1;
                    progress.lock().expect("progress lock").confirmed = next;
                }
                Outcome::Retry => {
                    progress.lock().expect("progress lock").failed_attempts += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    host += 1;
                    break;
                }
                Outcome::Reconnect => {
                    progress.lock().expect("progress lock").failed_attempts += 1;
                    host += 1;
                    break;
                }
                Outcome::Expired => {
                    let mut p = progress.lock().expect("progress lock");
                    p.failed_attempts += 1;
                    p.new_sessions += 1;
                    session = None;
                    break;
                }
            }
        }
    }
    let progress = progress.lock().expect("progress lock").clone();
    WriterReport {
        progress,
        unknown,
        prefix: cfg.prefix,
    }
}

/// p-th percentile (0..=100) of `samples` by nearest rank; `None` when empty.
pub fn percentile(samples: &[Duration], p: f64) -> Option<Duration> {
    if samples.is_empty() {
        return None;
    }
    let mut s = samples.to_vec();
    s.sort_unstable();
    let rank = ((p / 100.0) * s.len() as f64).ceil().max(1.0) as usize;
    Some(s[rank.min(s.len()) - 1])
}
