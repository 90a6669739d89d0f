//! Minority partitions, through the proxies between members (`common::proxy`): a member cut
//! off from the others must never acknowledge a write — a client connected only to it gets
//! errors or connection loss, never success — while the majority keeps serving; once the
//! links heal it catches up with everything the majority committed. Cutting off the leader
//! is the same, plus the majority must elect a new one and the old leader must drop
//! whatever it proposed alone.

use crate::common::ensemble::{TestEnsemble, ELECT_TIMEOUT};
use crate::common::writer::{Writer, WriterConfig};
use crate::{ensure, rt};
use ringkeeper::client::acl::open_unsafe;
use ringkeeper::client::{Client, ConnectOptions, CreateMode};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the client of the cut-off member saw.
#[derive(Debug, Default)]
pub(crate) struct ProbeLog {
    /// Every name it tried to create.
    pub attempted: Vec<String>,
    /// Creates sent on a connection that was up when sent.
    pub sent_live: u64,
    /// Creates the server acknowledged: must stay empty.
    pub acknowledged: Vec<String>,
    pub errors: Vec<String>,
}

/// A client of one member only that keeps trying to create `<parent>/m<i>` (a new name
/// each time) until stopped, reconnecting to that member whenever it can.
pub(crate) struct Probe {
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<ProbeLog>>,
    task: tokio::task::JoinHandle<()>,
}

impl Probe {
    /// Starts on `c`, a session on the member made while it was healthy.
    pub(crate) fn start(
        rt: &tokio::runtime::Runtime,
        c: Client,
        addr: String,
        parent: &'static str,
    ) -> Probe {
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(ProbeLog::default()));
        let (s, l) = (stop.clone(), log.clone());
        let task = rt.spawn(async move {
            let mut conn = Some(c);
            let mut i = 0u32;
            while !s.load(Ordering::SeqCst) {
                let c = match conn.take() {
                    Some(c) => c,
                    None => {
                        let mut o = ConnectOptions::new(&addr, Duration::from_secs(10));
                        o.connect_timeout = Duration::from_secs(2);
                        match Client::connect_with(o).await {
                            Ok(c) => c,
                            Err(_) => {
                                tokio::time::sleep(Duration::from_millis(100)).await;
                                continue;
                            }
                        }
                    }
                };
                let name = format!("m{i:06}");
                i += 1;
                let live = c.is_connected();
                let call = c.create(
                    &format!("{parent}/{name}"),
                    b"",
                    &open_unsafe(),
                    CreateMode::Persistent,
                );
                let r = tokio::time::timeout(Duration::from_secs(5), call).await;
                let mut log = l.lock().expect("probe log");
                log.attempted.push(name.clone());
                log.sent_live += live as u64;
                match r {
                    Ok(Ok(_)) => {
                        log.acknowledged.push(name);
                        conn = Some(c);
                    }
                    Ok(Err(e)) => log.errors.push(format!("{name}: {e}")),
                    Err(_) => log.errors.push(format!("{name}: no answer in 5 s")),
                }
            }
        });
        Probe { stop, log, task }
    }

    pub(crate) fn stop(self, rt: &tokio::runtime::Runtime) -> ProbeLog {
        self.stop.store(true, Ordering::SeqCst);
        // The task ends within one attempt (bounded by its timeouts).
        rt.block_on(self.task).expect("probe task");
        std::mem::take(&mut *self.log.lock().expect("probe log"))
    }
}

fn cut_off_member_never_takes_writes(cut_leader: bool) {
    let rt = rt();
    let mut e = TestEnsemble::with_proxies(3, 0, "");
    let all = e.ids();
    e.spawn_all();
    e.wait_serving(&all);
    let leader = e.wait_leader(&all);
    let k = if cut_leader {
        leader
    } else {
        e.others(leader)[0]
    };
    let majority = e.others(k);
    let writer = Writer::start(WriterConfig::new(e.hosts(&majority), "/majority"));
    assert!(writer.wait_more(20, ELECT_TIMEOUT), "no writes at all");
    // The probe's session and one write through k before the cut: the path works.
    let probe_client = rt.block_on(async {
        let c = e.client_on(k).await;
        ensure(&c, "/minority").await;
        c.create(
            "/minority/before",
            b"",
            &open_unsafe(),
            CreateMode::Persistent,
        )
        .await
        .expect("a write through the member before the cut");
        c
    });

    e.net().isolate(k);
    let probe = Probe::start(&rt, probe_client, e.member(k).addr(), "/minority");
    e.wait_not_serving(k);
    if cut_leader {
        let new_leader = e.wait_leader(&majority);
        assert_ne!(new_leader, k);
    }
    assert!(
        writer.wait_more(50, ELECT_TIMEOUT),
        "the majority stopped taking writes: {:?}",
        writer.progress().errors
    );
    let seen = probe.stop(&rt);
    assert!(
        seen.acknowledged.is_empty(),
        "server {k}, cut off, acknowledged {:?}",
        seen.acknowledged
    );
    assert!(
        seen.sent_live >= 1,
        "no write was ever sent to server {k} on a live connection: {seen:?}"
    );

    e.net().heal_all();
    e.wait_serving(&all);
    assert!(
        writer.wait_more(20, ELECT_TIMEOUT),
        "no writes after the heal"
    );
    let report = writer.stop();
    assert!(!report.unknown, "the last write never got through");
    rt.block_on(async {
        e.assert_converged(&all, &report).await;
        // The cut-off member acknowledged nothing, but a create it proposed in the moment
        // the cut took effect may have reached a follower's log before the link went
        // silent; the new leader then commits it (Zab keeps every logged proposal it
        // learns of, and the client never heard either way). So: every member agrees, and
        // nothing is there that was not attempted.
        let (first, _) = e.read_children(all[0], "/minority").await;
        assert!(first.contains(&"before".to_string()), "{first:?}");
        for name in first.iter().filter(|n| *n != "before") {
            assert!(
                seen.attempted.contains(name),
                "/minority/{name} exists but was never attempted"
            );
        }
        for &id in &all[1..] {
            let (kids, _) = e.read_children(id, "/minority").await;
            assert_eq!(kids, first, "server {id} after the heal");
        }
        if first.len() > 1 {
            eprintln!(
                "server {k} cut off: {:?} proposed at the cut survived on the majority",
                &first[1..]
            );
        }
    });
    if cut_leader {
        assert_eq!(e.mode(k).as_deref(), Some("follower"));
    }
    eprintln!(
        "server {k} cut off: {} writes tried through it, {} on a live connection, all failed",
        seen.attempted.len(),
        seen.sent_live
    );
}

/// A follower cut off from both others.
#[test]
fn cut_off_follower_never_takes_writes_and_catches_up() {
    cut_off_member_never_takes_writes(false);
}

/// The leader cut off from both followers: they elect a new leader and keep serving; the
/// old one never acknowledges what its own clients send it, and rejoins as a follower
/// without those writes.
#[test]
fn cut_off_leader_never_takes_writes_and_rejoins_as_follower() {
    cut_off_member_never_takes_writes(true);
}
