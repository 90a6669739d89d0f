//! What a linearizability run records: every client operation with its invocation and
//! completion on one process-wide logical clock, and how it ended.
//!
//! The clock is a counter taken just before a request is handed to the client and just after
//! its reply is seen, so "A completed before B was invoked" in the record implies it in real
//! time; the checkers only ever compare these numbers.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

/// A position on the run's logical clock.
pub type Tick = u64;

/// One single-threaded caller as the checkers see it: one session's run of operations up to
/// (and including) its first operation with an unknown outcome. After that the caller takes
/// a new id, because an operation that may still take effect later overlaps everything the
/// same session does afterwards.
pub type ThreadId = u32;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// getData on register `key`; with `sync`, a sync on the same path first (one operation,
    /// invoked at the sync, completed at the read's reply).
    Read { key: usize, sync: bool },
    /// setData with version -1.
    Write { key: usize, value: u64 },
    /// setData with an expected version.
    Cas {
        key: usize,
        expected: i32,
        value: u64,
    },
    /// A persistent sequential create of `<seq dir>/<token>-`.
    Create { token: String },
    /// sync + exists on the ephemeral with this index in the ephemeral table.
    EphRead { eph: usize },
}

impl Op {
    pub fn key(&self) -> Option<usize> {
        match self {
            Op::Read { key, .. } | Op::Write { key, .. } | Op::Cas { key, .. } => Some(*key),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ret {
    /// Data (as the value written, 0 for the initial empty data) and version.
    Value {
        value: u64,
        version: i32,
    },
    /// A write took effect; the version it produced.
    Written {
        version: i32,
    },
    /// A compare-and-set found another version.
    BadVersion,
    /// The sequence number the server appended.
    Created {
        seq: u64,
    },
    Exists(bool),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok(Ret),
    /// The server answered that the operation did not happen.
    Failed(String),
    /// No answer (connection loss, timeout, or an answer that does not settle it): the
    /// operation may take effect at any later moment, or never.
    Unknown(String),
}

#[derive(Clone, Debug)]
pub struct Record {
    pub thread: ThreadId,
    pub session: i64,
    pub op: Op,
    pub invoke: Tick,
    /// When the outcome was seen; for `Unknown` only a diagnostic, the checkers treat the
    /// operation as still in flight.
    pub complete: Tick,
    pub outcome: Outcome,
}

impl Record {
    pub fn ok(&self) -> Option<&Ret> {
        match &self.outcome {
            Outcome::Ok(r) => Some(r),
            _ => None,
        }
    }

    pub fn is_unknown(&self) -> bool {
        matches!(self.outcome, Outcome::Unknown(_))
    }
}

/// The life of one ephemeral znode owned by a session that the run ends on purpose.
#[derive(Clone, Debug, Default)]
pub struct Ephemeral {
    pub path: String,
    pub session: i64,
    /// Completion of the create that returned ok; `None` if it did not (then the node may or
    /// may not exist, and only the post-expiry check applies).
    pub created: Option<Tick>,
    /// Invocations of owner writes (setData on the node) that returned ok: the session was
    /// alive and the node existed when each took effect.
    pub alive_proofs: Vec<Tick>,
    /// When the session was known to be over: closeSession answered ok, or a resume
    /// handshake answered "expired".
    pub known_expired: Option<Tick>,
    /// The end was closeSession's ok answer (a committed close, after which the node is
    /// gone for every linearizable read), not an "expired" answer to a resume (which
    /// ZooKeeper 3.8 gives before its closeSession commits: see `check_ephemerals`).
    pub closed: bool,
    /// How the end became known (for reports).
    pub how_ended: String,
}

/// Everything one run records; shared by the client tasks.
#[derive(Default)]
pub struct Recorder {
    clock: AtomicU64,
    next_thread: AtomicU32,
    ok: AtomicUsize,
    unknown_writes: AtomicUsize,
    records: Mutex<Vec<Record>>,
    ephemerals: Mutex<Vec<Ephemeral>>,
}

impl Recorder {
    pub fn tick(&self) -> Tick {
        self.clock.fetch_add(1, Ordering::SeqCst)
    }

    pub fn new_thread(&self) -> ThreadId {
        self.next_thread.fetch_add(1, Ordering::SeqCst)
    }

    pub fn push(&self, r: Record) {
        if matches!(r.outcome, Outcome::Ok(_)) {
            self.ok.fetch_add(1, Ordering::SeqCst);
        }
        if r.is_unknown() && matches!(r.op, Op::Write { .. } | Op::Cas { .. }) {
            self.unknown_writes.fetch_add(1, Ordering::SeqCst);
        }
        self.records.lock().expect("records lock").push(r);
    }

    pub fn records(&self) -> Vec<Record> {
        self.records.lock().expect("records lock").clone()
    }

    /// Operations recorded so far that returned ok.
    pub fn ok_count(&self) -> usize {
        self.ok.load(Ordering::SeqCst)
    }

    /// Register writes and compare-and-sets recorded so far with an unknown outcome.
    pub fn unknown_writes(&self) -> usize {
        self.unknown_writes.load(Ordering::SeqCst)
    }

    /// Registers a new ephemeral; returns its index.
    pub fn add_ephemeral(&self, e: Ephemeral) -> usize {
        let mut v = self.ephemerals.lock().expect("ephemerals lock");
        v.push(e);
        v.len() - 1
    }

    pub fn update_ephemeral(&self, i: usize, f: impl FnOnce(&mut Ephemeral)) {
        f(&mut self.ephemerals.lock().expect("ephemerals lock")[i]);
    }

    pub fn ephemerals(&self) -> Vec<Ephemeral> {
        self.ephemerals.lock().expect("ephemerals lock").clone()
    }

    /// Indices and paths of the most recent `n` ephemerals (the ones whose owners may still
    /// be alive, or just ended: where a stale read would show).
    pub fn recent_ephemerals(&self, n: usize) -> Vec<(usize, String)> {
        let v = self.ephemerals.lock().expect("ephemerals lock");
        let start = v.len().saturating_sub(n);
        (start..v.len()).map(|i| (i, v[i].path.clone())).collect()
    }
}

impl Record {
    /// One line: `thread session invoke complete | op | outcome`, the format of history
    /// dumps (`RK_LINZ_DUMP`) that `from_line` reads back for replaying a check.
    pub fn to_line(&self) -> String {
        let op = match &self.op {
            Op::Read { key, sync: false } => format!("read {key}"),
            Op::Read { key, sync: true } => format!("syncread {key}"),
            Op::Write { key, value } => format!("write {key} {value}"),
            Op::Cas {
                key,
                expected,
                value,
            } => format!("cas {key} {expected} {value}"),
            Op::Create { token } => format!("create {token}"),
            Op::EphRead { eph } => format!("ephread {eph}"),
        };
        let outcome = match &self.outcome {
            Outcome::Ok(Ret::Value { value, version }) => format!("value {value} {version}"),
            Outcome::Ok(Ret::Written { version }) => format!("written {version}"),
            Outcome::Ok(Ret::BadVersion) => "badversion".into(),
            Outcome::Ok(Ret::Created { seq }) => format!("created {seq}"),
            Outcome::Ok(Ret::Exists(b)) => format!("exists {b}"),
            Outcome::Failed(e) => format!("failed {e}"),
            Outcome::Unknown(e) => format!("unknown {e}"),
        };
        format!(
            "{} {} {} {} | {op} | {outcome}",
            self.thread, self.session, self.invoke, self.complete
        )
    }

    pub fn from_line(line: &str) -> Result<Record, String> {
        let bad = || format!("bad history line: {line}");
        let mut parts = line.splitn(3, " | ");
        let head: Vec<&str> = parts.next().ok_or_else(bad)?.split(' ').collect();
        let op: Vec<&str> = parts.next().ok_or_else(bad)?.split(' ').collect();
        let out = parts.next().ok_or_else(bad)?;
        let num = |s: &str| s.parse::<i64>().map_err(|_| bad());
        let unum = |s: &str| s.parse::<u64>().map_err(|_| bad());
        if head.len() != 4 || op.is_empty() {
            return Err(bad());
        }
        let arg = |i: usize| op.get(i).copied().ok_or_else(bad);
        let op = match op[0] {
            "read" | "syncread" => Op::Read {
                key: unum(arg(1)?)? as usize,
                sync: op[0] == "syncread",
            },
            "write" => Op::Write {
                key: unum(arg(1)?)? as usize,
                value: unum(arg(2)?)?,
            },
            "cas" => Op::Cas {
                key: unum(arg(1)?)? as usize,
                expected: num(arg(2)?)? as i32,
                value: unum(arg(3)?)?,
            },
            "create" => Op::Create {
                token: arg(1)?.to_string(),
            },
            "ephread" => Op::EphRead {
                eph: unum(arg(1)?)? as usize,
            },
            _ => return Err(bad()),
        };
        let (kind, rest) = out.split_once(' ').unwrap_or((out, ""));
        let words: Vec<&str> = rest.split(' ').collect();
        let outcome = match kind {
            "value" => Outcome::Ok(Ret::Value {
                value: unum(words[0])?,
                version: num(words.get(1).ok_or_else(bad)?)? as i32,
            }),
            "written" => Outcome::Ok(Ret::Written {
                version: num(words[0])? as i32,
            }),
            "badversion" => Outcome::Ok(Ret::BadVersion),
            "created" => Outcome::Ok(Ret::Created {
                seq: unum(words[0])?,
            }),
            "exists" => Outcome::Ok(Ret::Exists(words[0] == "true")),
            "failed" => Outcome::Failed(rest.to_string()),
            "unknown" => Outcome::Unknown(rest.to_string()),
            _ => return Err(bad()),
        };
        Ok(Record {
            thread: unum(head[0])? as u32,
            session: num(head[1])?,
            invoke: unum(head[2])?,
            complete: unum(head[3])?,
            op,
            outcome,
        })
    }
}
