//! The client side of a run: worker sessions doing random operations on a few register
//! znodes (a new set of them every `ops_per_generation` ok operations), sequential creates
//! and ephemeral reads; owner sessions that create an ephemeral,
//! prove they are alive, then end (closeSession, or abandon the session until a resume
//! says it expired); and the final reads through every member.

use super::history::{Ephemeral, Op, Outcome, Record, Recorder, Ret};
use ringkeeper::client::acl::open_unsafe;
use ringkeeper::client::{Client, ClientError, CreateMode, ErrorCode, ZkOptions, ZooKeeper};
use ringkeeper::rng::Rng;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub const BASE: &str = "/linz";
pub const SEQ_DIR: &str = "/linz/seq";
pub const EPH_DIR: &str = "/linz/eph";

/// Bound on one call of the raw `Client` (which has no call timeout of its own): a member
/// that keeps a request without answering must not stall a run forever.
const RAW_CALL_TIMEOUT: Duration = Duration::from_secs(10);

async fn bounded<T>(
    f: impl std::future::Future<Output = Result<T, ClientError>>,
) -> Result<T, ClientError> {
    tokio::time::timeout(RAW_CALL_TIMEOUT, f)
        .await
        .unwrap_or(Err(ClientError::Timeout(RAW_CALL_TIMEOUT)))
}

/// See `Workload::generation`.
const UNKNOWN_WRITES_PER_GENERATION: usize = 3;

pub fn register_path(key: usize) -> String {
    format!("{BASE}/r{key}")
}

#[derive(Clone, Debug)]
pub struct Workload {
    /// Every member's client address.
    pub members: Vec<String>,
    /// Registers in use at a time.
    pub keys: usize,
    /// The workers move on to fresh registers after this many ok operations (of any kind),
    /// `generations` times at most. stateright's search has no memoisation: a register's
    /// history must stay short and hold few operations of unknown outcome, and moving on
    /// bounds both (a fault's unknowns land on the registers in use at the time).
    pub ops_per_generation: usize,
    pub generations: usize,
    pub workers: usize,
    pub owners: usize,
    /// Worker sessions: long enough to ride out an election, so most survive a fault.
    pub session_timeout: Duration,
    /// Owner sessions: short, so an abandoned one expires within the run.
    pub owner_timeout: Duration,
    pub seed: u64,
}

impl Workload {
    /// Every register of every generation.
    pub fn registers(&self) -> usize {
        self.keys * self.generations
    }

    /// The registers in use once `rec` holds what it holds: the next generation every
    /// `ops_per_generation` ok operations, and every `UNKNOWN_WRITES_PER_GENERATION`
    /// writes of unknown outcome, so the next fault's unknowns land on fresh registers
    /// (each one multiplies the search). `None` once every generation is used up (a faster
    /// server gets there: the workers then wait rather than pile thousands of operations on
    /// the last registers, which no search finishes).
    fn generation(&self, rec: &Recorder) -> Option<std::ops::Range<usize>> {
        let g = rec.ok_count() / self.ops_per_generation
            + rec.unknown_writes() / UNKNOWN_WRITES_PER_GENERATION;
        (g < self.generations).then(|| g * self.keys..(g + 1) * self.keys)
    }

    /// Every generation is used up: the workers idle from here on.
    pub fn used_up(&self, rec: &Recorder) -> bool {
        self.generation(rec).is_none()
    }

    pub fn connect_string(&self) -> String {
        self.members.join(",")
    }
}

/// Creates the registers (data "0", version 0: the checkers' initial state) and folders.
pub async fn setup(w: &Workload) {
    let zk = ZooKeeper::connect(&w.connect_string(), w.session_timeout)
        .await
        .expect("setup session");
    for p in [BASE, SEQ_DIR, EPH_DIR] {
        zk.create(p, b"", &open_unsafe(), CreateMode::Persistent)
            .await
            .unwrap_or_else(|e| panic!("create {p}: {e}"));
    }
    let all: Vec<usize> = (0..w.registers()).collect();
    for batch in all.chunks(100) {
        let ops = batch
            .iter()
            .map(|k| {
                ringkeeper::client::Op::create(
                    &register_path(*k),
                    b"0",
                    &open_unsafe(),
                    CreateMode::Persistent,
                )
            })
            .collect();
        zk.multi(ops)
            .await
            .unwrap_or_else(|e| panic!("create registers {batch:?}: {e}"));
    }
    zk.close().await.expect("close setup session");
}

/// How a client error settles an operation that changes state. Only a server's answer
/// that the operation was refused is a definite failure; anything else (connection loss,
/// timeout, expiry noticed mid-call, an unexpected code) may hide a write that happened.
fn unsettled(e: &ClientError) -> Outcome {
    Outcome::Unknown(e.to_string())
}

async fn exec(zk: &ZooKeeper, op: &Op) -> Outcome {
    match op {
        Op::Read { key, sync } => {
            let p = register_path(*key);
            if *sync {
                if let Err(e) = zk.sync(&p).await {
                    return unsettled(&e);
                }
            }
            match zk.get_data(&p).await {
                Ok((data, stat)) => Outcome::Ok(Ret::Value {
                    value: parse_value(&data),
                    version: stat.version,
                }),
                Err(e) => unsettled(&e),
            }
        }
        Op::Write { key, value } => {
            match zk
                .set_data(&register_path(*key), value.to_string().as_bytes(), -1)
                .await
            {
                Ok(stat) => Outcome::Ok(Ret::Written {
                    version: stat.version,
                }),
                Err(e) => unsettled(&e),
            }
        }
        Op::Cas {
            key,
            expected,
            value,
        } => {
            match zk
                .set_data(
                    &register_path(*key),
                    value.to_string().as_bytes(),
                    *expected,
                )
                .await
            {
                Ok(stat) => Outcome::Ok(Ret::Written {
                    version: stat.version,
                }),
                Err(ClientError::Keeper(ErrorCode::BadVersion)) => Outcome::Ok(Ret::BadVersion),
                Err(e) => unsettled(&e),
            }
        }
        Op::Create { token } => {
            let path = format!("{SEQ_DIR}/{token}-");
            match zk
                .create(&path, b"", &open_unsafe(), CreateMode::PersistentSequential)
                .await
            {
                Ok(name) => match super::check::seq_of(&name) {
                    Some(seq) => Outcome::Ok(Ret::Created { seq }),
                    None => Outcome::Failed(format!("created {name}: no sequence suffix")),
                },
                Err(e) => unsettled(&e),
            }
        }
        Op::EphRead { .. } => unreachable!("ephemeral reads carry their path"),
    }
}

fn parse_value(data: &[u8]) -> u64 {
    std::str::from_utf8(data)
        .ok()
        .and_then(|s| s.parse().ok())
        // Never written by this workload: a value no operation can explain.
        .unwrap_or(u64::MAX)
}

/// sync + exists on an ephemeral's path.
async fn eph_read(zk: &ZooKeeper, path: &str) -> Outcome {
    if let Err(e) = zk.sync(path).await {
        return unsettled(&e);
    }
    match zk.exists(path).await {
        Ok(st) => Outcome::Ok(Ret::Exists(st.is_some())),
        Err(e) => unsettled(&e),
    }
}

/// One worker: one session at a time (a new one when the last expired), one operation at
/// a time, until `stop`.
pub async fn worker(rec: Arc<Recorder>, w: Arc<Workload>, id: usize, stop: Arc<AtomicBool>) {
    let mut rng = Rng::new(w.seed ^ (id as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut zk: Option<ZooKeeper> = None;
    let mut thread = rec.new_thread();
    let mut seen_version = vec![0i32; w.registers()];
    let mut n: u64 = 0;
    let mut exhausted = false;
    while !stop.load(Ordering::SeqCst) {
        let z = match &zk {
            Some(z) if !z.state().is_terminal() => z.clone(),
            _ => {
                let mut opts = ZkOptions::new(&w.connect_string(), w.session_timeout);
                opts.call_timeout = Duration::from_secs(10);
                match ZooKeeper::connect_with(opts).await {
                    Ok(z) => {
                        thread = rec.new_thread();
                        zk = Some(z.clone());
                        z
                    }
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                }
            }
        };
        let Some(keys) = w.generation(&rec) else {
            if !exhausted {
                exhausted = true;
                eprintln!(
                    "  worker {id}: every register generation is used up; idle until the end"
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        n += 1;
        let key = keys.start + rng.below(keys.len() as u64) as usize;
        let value = ((id as u64 + 1) << 32) | n;
        let roll = rng.below(100);
        let eph = if roll >= 90 {
            let recent = rec.recent_ephemerals(4);
            (!recent.is_empty()).then(|| recent[rng.below(recent.len() as u64) as usize].clone())
        } else {
            None
        };
        let op = match (roll, &eph) {
            (_, Some((i, _))) => Op::EphRead { eph: *i },
            (0..=24, _) | (90.., None) => Op::Read { key, sync: false },
            (25..=39, _) => Op::Read { key, sync: true },
            (40..=54, _) => Op::Write { key, value },
            (55..=79, _) => Op::Cas {
                key,
                expected: seen_version[key],
                value,
            },
            _ => Op::Create {
                token: format!("w{id}n{n}"),
            },
        };
        let invoke = rec.tick();
        let outcome = match (&op, &eph) {
            (Op::EphRead { .. }, Some((_, path))) => eph_read(&z, path).await,
            _ => exec(&z, &op).await,
        };
        let complete = rec.tick();
        match outcome {
            Outcome::Ok(Ret::Value { version, .. }) | Outcome::Ok(Ret::Written { version }) => {
                seen_version[key] = version;
            }
            _ => {}
        }
        let unknown = matches!(outcome, Outcome::Unknown(_));
        rec.push(Record {
            thread,
            session: z.session_id(),
            op,
            invoke,
            complete,
            outcome,
        });
        if unknown {
            thread = rec.new_thread();
            // Back off as a retrying client would: calls on a session whose connection
            // just died fail at once until its reconnect task has run, and a loop that
            // never yields saw 129 such connection losses in a row.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    if let Some(z) = zk {
        let _ = z.close().await;
    }
}

/// One owner: repeatedly a new session on a random member, an ephemeral, a few writes to
/// it (each ok one proves the session alive), then the end of the session, made known
/// either by closeSession's answer or, for an abandoned session, by a resume handshake
/// answered "expired".
pub async fn owner(rec: Arc<Recorder>, w: Arc<Workload>, id: usize, stop: Arc<AtomicBool>) {
    let mut rng = Rng::new(w.seed ^ 0xA5A5_0000 ^ id as u64);
    let mut n = 0u64;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let addr = &w.members[rng.below(w.members.len() as u64) as usize];
        let mut opts = ringkeeper::client::ConnectOptions::new(addr, w.owner_timeout);
        opts.connect_timeout = Duration::from_secs(5);
        let c = match Client::connect_with(opts).await {
            Ok(c) => c,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let path = format!("{EPH_DIR}/o{id}n{n}");
        let idx = rec.add_ephemeral(Ephemeral {
            path: path.clone(),
            session: c.session_id(),
            ..Default::default()
        });
        let r = bounded(c.create(&path, b"", &open_unsafe(), CreateMode::Ephemeral)).await;
        let done = rec.tick();
        if r.is_ok() {
            rec.update_ephemeral(idx, |e| e.created = Some(done));
        }
        for i in 0..4u8 {
            tokio::time::sleep(Duration::from_millis(40)).await;
            let invoke = rec.tick();
            if bounded(c.set_data(&path, &[i], -1)).await.is_err() {
                break;
            }
            rec.update_ephemeral(idx, |e| e.alive_proofs.push(invoke));
        }
        if n.is_multiple_of(2) {
            let r = bounded(c.close()).await;
            let done = rec.tick();
            if r.is_ok() {
                rec.update_ephemeral(idx, |e| {
                    e.known_expired = Some(done);
                    e.closed = true;
                    e.how_ended = "closeSession answered ok".into();
                });
                continue;
            }
        }
        let resume = c.resume_options();
        drop(c);
        learn_expiry(&rec, &w, idx, resume, &mut rng).await;
    }
}

/// Waits out an abandoned session: tries to resume it until a member answers "expired"
/// (or, if a member takes it back, closes it and takes the close's answer).
async fn learn_expiry(
    rec: &Recorder,
    w: &Workload,
    idx: usize,
    resume: ringkeeper::client::ConnectOptions,
    rng: &mut Rng,
) {
    tokio::time::sleep(w.owner_timeout + Duration::from_millis(500)).await;
    for _ in 0..40 {
        let mut opts = resume.clone();
        opts.addr = w.members[rng.below(w.members.len() as u64) as usize].clone();
        opts.connect_timeout = Duration::from_secs(2);
        match Client::connect_with(opts).await {
            Err(ClientError::SessionExpired) => {
                let done = rec.tick();
                rec.update_ephemeral(idx, |e| {
                    e.known_expired = Some(done);
                    e.how_ended = "resume answered expired".into();
                });
                return;
            }
            Ok(c) => {
                if bounded(c.close()).await.is_ok() {
                    let done = rec.tick();
                    rec.update_ephemeral(idx, |e| {
                        e.known_expired = Some(done);
                        e.closed = true;
                        e.how_ended = "taken back, then closeSession answered ok".into();
                    });
                    return;
                }
            }
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// After the faults: through each member in turn, a sync+read of every register (so a
/// member that diverged or lost acknowledged writes shows up in the register checks) and
/// the listing of the sequential folder from the first member that answers.
pub async fn final_reads(rec: &Recorder, w: &Workload) -> Vec<String> {
    let mut children = None;
    for addr in &w.members {
        let c = Client::connect(addr, w.session_timeout)
            .await
            .unwrap_or_else(|e| panic!("final session on {addr}: {e}"));
        let thread = rec.new_thread();
        let used = w.generation(rec).map_or(w.registers(), |g| g.end);
        for key in 0..used {
            let p = register_path(key);
            let invoke = rec.tick();
            let r = bounded(async {
                c.sync(&p).await?;
                c.get_data(&p, false).await
            })
            .await;
            let complete = rec.tick();
            let (data, stat) = r.unwrap_or_else(|e| panic!("final read of {p} on {addr}: {e}"));
            rec.push(Record {
                thread,
                session: c.session_id(),
                op: Op::Read { key, sync: true },
                invoke,
                complete,
                outcome: Outcome::Ok(Ret::Value {
                    value: parse_value(&data.unwrap_or_default()),
                    version: stat.version,
                }),
            });
        }
        if children.is_none() {
            bounded(c.sync(SEQ_DIR)).await.expect("final sync");
            children = Some(
                bounded(c.get_children(SEQ_DIR, false))
                    .await
                    .expect("final listing"),
            );
        }
        let _ = bounded(c.close()).await;
    }
    children.expect("at least one member")
}

/// How long the ephemerals of ended sessions may take to disappear after the run. ZooKeeper
/// deletes an expired session's ephemerals a moment after it refuses the session; a node
/// still there after this long is one that was never deleted.
const EPHEMERAL_CLEANUP_TIMEOUT: Duration = Duration::from_secs(30);

/// The paths of ephemerals whose sessions are over yet which are still listed once the
/// run is over (after waiting up to `EPHEMERAL_CLEANUP_TIMEOUT` for them to go).
pub async fn leftover_ephemerals(rec: &Recorder, w: &Workload) -> Vec<String> {
    let ended: Vec<String> = rec
        .ephemerals()
        .into_iter()
        .filter(|e| e.known_expired.is_some())
        .map(|e| e.path.rsplit('/').next().unwrap_or_default().to_string())
        .collect();
    let c = Client::connect(&w.members[0], w.session_timeout)
        .await
        .unwrap_or_else(|e| panic!("session for the ephemeral check: {e}"));
    let deadline = tokio::time::Instant::now() + EPHEMERAL_CLEANUP_TIMEOUT;
    loop {
        bounded(c.sync(EPH_DIR))
            .await
            .expect("sync before listing ephemerals");
        let listed = bounded(c.get_children(EPH_DIR, false))
            .await
            .expect("list ephemerals");
        let left: Vec<String> = ended
            .iter()
            .filter(|n| listed.contains(n))
            .map(|n| format!("{EPH_DIR}/{n}"))
            .collect();
        if left.is_empty() || tokio::time::Instant::now() > deadline {
            let _ = bounded(c.close()).await;
            return left;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
