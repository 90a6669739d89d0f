//! Network faults short of a clean partition (issue 7, items 4 and 6), through the proxies
//! between members (`common::proxy`):
//!
//! - one-way partitions between the leader and a follower, either way round: the follower
//!   never acknowledges a write, the other two keep committing, and what was acknowledged
//!   was on a quorum — the leader is SIGKILLed while the cut holds and the two others
//!   must still serve every acknowledged write;
//! - flapping links (leader↔one follower, leader↔both): random cuts and heals, both ways
//!   or one way, while a writer runs; nothing acknowledged is lost;
//! - a slow follower (every link to and from it delayed, then also rate-limited): the
//!   others keep committing, reads through it are never from the future, never go back,
//!   and after a sync see every write acknowledged before it; it catches up.
//!
//! Each ends with every member holding the same tree (`assert_same_trees`). Figures are
//! printed (`--nocapture`), never asserted against the clock.

use crate::common::ensemble::{TestEnsemble, ELECT_TIMEOUT};
use crate::common::writer::{Writer, WriterConfig, WriterReport, WriterWatch};
use crate::common::CLIENT_TIMEOUT;
use crate::partition::Probe;
use crate::{ensure, rt};
use ringkeeper::client::{Client, ClientError, ConnectOptions};
use ringkeeper::rng::Rng;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `RK_NET_SEED` replaces a test's seed for the random cuts and delays.
fn seed(default: u64) -> u64 {
    std::env::var("RK_NET_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// A proxied three-member ensemble, serving, and its leader.
fn ensemble3() -> (TestEnsemble, u64) {
    let mut e = TestEnsemble::with_proxies(3, 0, "");
    let all = e.ids();
    e.spawn_all();
    e.wait_serving(&all);
    let leader = e.wait_leader(&all);
    (e, leader)
}

/// After the faults: every member serves, a leader is settled, a fresh writer on every
/// member gets writes through, and every member has every acknowledged write of `reports`
/// and the same tree.
fn converge(rt: &tokio::runtime::Runtime, e: &mut TestEnsemble, reports: &[&WriterReport]) {
    let all = e.ids();
    e.wait_serving(&all);
    e.wait_leader(&all);
    let after = Writer::start(WriterConfig::new(e.hosts(&all), "/after"));
    assert!(
        after.wait_more(20, ELECT_TIMEOUT),
        "no writes after the heal: {:?}",
        after.progress()
    );
    let after = after.stop();
    assert!(
        !after.unknown,
        "the last write after the heal never got through"
    );
    let nodes = rt.block_on(async {
        for r in reports.iter().copied().chain([&after]) {
            e.assert_converged(&all, r).await;
        }
        e.assert_same_trees(&all).await
    });
    eprintln!("converged: {nodes} znodes, the same on servers {all:?}");
}

/// One direction between the leader and a follower is cut.
fn one_way(leader_deaf: bool) {
    let rt = rt();
    let (mut e, l) = ensemble3();
    let (f, f2) = (e.others(l)[0], e.others(l)[1]);
    let writer = Writer::start(WriterConfig::new(e.hosts(&[l, f2]), "/w"));
    assert!(writer.wait_more(20, ELECT_TIMEOUT), "no writes at all");
    let probe_client = rt.block_on(async {
        let c = e.client_on(f).await;
        ensure(&c, "/probe").await;
        c
    });

    let what = if leader_deaf {
        e.net().cut_one_way(f, l);
        format!("bytes from follower {f} to leader {l} cut (the leader cannot hear it)")
    } else {
        e.net().cut_one_way(l, f);
        format!("bytes from leader {l} to follower {f} cut (the follower cannot hear it)")
    };
    let cut_at = Instant::now();
    let before = writer.confirmed();
    let probe = Probe::start(&rt, probe_client, e.member(f).addr(), "/probe");
    e.wait_not_serving(f);
    let dropped = cut_at.elapsed();
    assert!(
        writer.wait_more(100, ELECT_TIMEOUT),
        "leader {l} and follower {f2} stopped committing: {:?}",
        writer.progress()
    );
    let seen = probe.stop(&rt);
    assert!(
        seen.acknowledged.is_empty(),
        "follower {f}, one-way cut, acknowledged {:?}",
        seen.acknowledged
    );
    let report = writer.stop();
    assert!(!report.unknown, "the last write never got through");
    eprintln!(
        "{what}: follower stopped serving after {dropped:.1?}; {} writes acknowledged during \
         the cut ({} attempts failed); {} probe writes through the follower, none acknowledged",
        report.progress.confirmed - before,
        report.progress.failed_attempts,
        seen.attempted.len()
    );

    // Every acknowledged write must be on a quorum: without the leader, the two others
    // (one of which heard nothing, or could not be heard, during the cut) have them all.
    e.member_mut(l).kill9();
    let killed_at = Instant::now();
    let survivors = [f, f2];
    let new_leader = e.wait_leader(&survivors);
    rt.block_on(e.assert_converged(&survivors, &report));
    eprintln!(
        "leader {l} SIGKILLed with the cut in place: {new_leader} leads after {:.1?}, and \
         servers {survivors:?} have all {} acknowledged writes",
        killed_at.elapsed(),
        report.progress.confirmed
    );

    e.net().heal_all();
    e.spawn(l);
    converge(&rt, &mut e, &[&report]);
    // The probe's creates never got an answer, but one forwarded while the follower could
    // still reach the leader may have committed; nothing else may be there.
    let kids = rt.block_on(e.read_children(l, "/probe")).0;
    for name in &kids {
        assert!(
            seen.attempted.contains(name),
            "/probe/{name} exists but was never attempted"
        );
    }
    eprintln!("{} of the probe's unanswered creates committed", kids.len());
}

/// The leader hears nothing from one follower, which still hears it.
#[test]
fn one_way_leader_cannot_hear_a_follower() {
    one_way(true);
}

/// One follower hears nothing from the leader, which still hears it.
#[test]
fn one_way_follower_cannot_hear_the_leader() {
    one_way(false);
}

/// The links between the leader and `n` followers flap while a writer runs.
fn flapping(n: usize, seed: u64) {
    let rt = rt();
    let (mut e, l) = ensemble3();
    let all = e.ids();
    let bs: Vec<u64> = e.others(l).into_iter().take(n).collect();
    let writer = Writer::start(WriterConfig::new(e.hosts(&all), "/flap"));
    assert!(writer.wait_more(20, ELECT_TIMEOUT), "no writes at all");
    let before = writer.progress();
    let leaders = Arc::new(Mutex::new(vec![l]));
    let watching = Arc::new(AtomicBool::new(true));
    let flaps = {
        let mut rng = Rng::new(seed);
        // Cuts from much shorter to a little longer than syncLimit (2.5 s): some are
        // ridden out, some make the leader or a follower give up.
        let spells = (
            (Duration::from_millis(50), Duration::from_millis(3000)),
            (Duration::from_millis(50), Duration::from_millis(1000)),
        );
        // Who leads, sampled while the links flap (only while the test thread is free to
        // ask: `flap` blocks it, so a scoped thread asks).
        std::thread::scope(|s| {
            let (ls, w, e) = (leaders.clone(), watching.clone(), &e);
            s.spawn(move || {
                while w.load(Ordering::SeqCst) {
                    if let Some(now) = e.leader() {
                        let mut ls = ls.lock().expect("leaders");
                        if ls.last() != Some(&now) {
                            ls.push(now);
                        }
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            });
            let r = e
                .net()
                .flap(l, &bs, Duration::from_secs(12), spells, &mut rng);
            watching.store(false, Ordering::SeqCst);
            r
        })
    };
    let during = writer.progress();
    converge_with_writer(&rt, &mut e, writer);
    eprintln!(
        "leader {l} ↔ {bs:?} flapped (seed {seed}): {flaps}; {} writes acknowledged while \
         flapping, {} attempts failed, {} reconnections, {} new sessions; leaders seen in \
         turn {:?}",
        during.confirmed - before.confirmed,
        during.failed_attempts - before.failed_attempts,
        during.connections - before.connections,
        during.new_sessions - before.new_sessions,
        leaders.lock().expect("leaders")
    );
}

/// Waits for the writer to get more writes through on the healed ensemble, stops it and
/// checks convergence.
fn converge_with_writer(rt: &tokio::runtime::Runtime, e: &mut TestEnsemble, writer: Writer) {
    let all = e.ids();
    e.wait_serving(&all);
    assert!(
        writer.wait_more(20, ELECT_TIMEOUT),
        "no writes after the heal: {:?}",
        writer.progress()
    );
    let report = writer.stop();
    assert!(!report.unknown, "the last write never got through");
    converge(rt, e, &[&report]);
}

#[test]
fn flapping_link_between_leader_and_one_follower() {
    flapping(1, seed(41));
}

#[test]
fn flapping_links_between_leader_and_both_followers() {
    flapping(2, seed(42));
}

/// What the reader through the slow follower saw.
#[derive(Debug, Default)]
struct ReadLog {
    plain: u64,
    synced: u64,
    failed: u64,
    /// Largest gap between the writes acknowledged when a plain read returned and what it
    /// saw.
    max_lag: u64,
    violations: Vec<String>,
}

/// A session on member `addr` only that reads `prefix`'s children, plainly and after a
/// sync in turn, and compares them with what the writer had acknowledged: never a name
/// not yet sent (from the future), never fewer than before (back in time), and after a
/// sync never fewer than were acknowledged before the sync was sent.
fn start_reader(
    rt: &tokio::runtime::Runtime,
    addr: String,
    prefix: &'static str,
    acked: WriterWatch,
    stop: Arc<AtomicBool>,
) -> (Arc<Mutex<ReadLog>>, tokio::task::JoinHandle<()>) {
    let log = Arc::new(Mutex::new(ReadLog::default()));
    let l = log.clone();
    let task = rt.spawn(async move {
        let mut resume: Option<ConnectOptions> = None;
        let mut seen = 0u64;
        let mut i = 0u64;
        while !stop.load(Ordering::SeqCst) {
            let opts = resume.clone().unwrap_or_else(|| {
                let mut o = ConnectOptions::new(&addr, CLIENT_TIMEOUT);
                o.connect_timeout = Duration::from_secs(2);
                o
            });
            let c = match Client::connect_with(opts).await {
                Ok(c) => c,
                Err(ClientError::SessionExpired) => {
                    // A new session may legitimately start behind the old one.
                    resume = None;
                    seen = 0;
                    continue;
                }
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            while !stop.load(Ordering::SeqCst) {
                i += 1;
                let sync = i.is_multiple_of(4);
                let floor = acked.confirmed();
                let call = async {
                    if sync {
                        c.sync(prefix).await?;
                    }
                    c.get_children(prefix, false).await
                };
                let r = tokio::time::timeout(Duration::from_secs(10), call).await;
                let ceiling = acked.confirmed() + 1;
                resume = Some(c.resume_options());
                let mut log = l.lock().expect("read log");
                let mut kids = match r {
                    Ok(Ok(kids)) => kids,
                    _ => {
                        log.failed += 1;
                        break;
                    }
                };
                kids.sort_unstable();
                let k = kids.len() as u64;
                let what = if sync { "sync+read" } else { "read" };
                if kids
                    .iter()
                    .enumerate()
                    .any(|(j, n)| *n != WriterReport::name(j as u64))
                {
                    log.violations
                        .push(format!("{what} saw {k} names that are not n0..n{k}"));
                }
                if k > ceiling {
                    log.violations.push(format!(
                        "{what} saw {k} names when only {ceiling} had been sent"
                    ));
                }
                if k < seen {
                    log.violations
                        .push(format!("{what} saw {k} names after {seen} were seen"));
                }
                if sync {
                    log.synced += 1;
                    if k < floor {
                        log.violations.push(format!(
                            "sync+read saw {k} names after {floor} were acknowledged"
                        ));
                    }
                } else {
                    log.plain += 1;
                    log.max_lag = log.max_lag.max(ceiling.saturating_sub(1 + k));
                }
                seen = seen.max(k);
            }
        }
    });
    (log, task)
}

/// Every link to and from one follower delayed (then also rate-limited) while writers run
/// through the others and through it, and a reader checks what it serves.
#[test]
fn slow_follower_keeps_up_and_serves_consistent_reads() {
    let rt = rt();
    let (mut e, l) = ensemble3();
    let (f, f2) = (e.others(l)[0], e.others(l)[1]);
    let delay = (Duration::from_millis(50), Duration::from_millis(200));
    let rate = 32_000;
    let fast = Writer::start(WriterConfig::new(e.hosts(&[l, f2]), "/fast"));
    assert!(fast.wait_more(20, ELECT_TIMEOUT), "no writes at all");
    e.net().slow_member(f, delay, None);
    let via_slow = Writer::start(WriterConfig::new(e.hosts(&[f]), "/via-slow"));
    let stop = Arc::new(AtomicBool::new(false));
    let (log, reader) = start_reader(&rt, e.member(f).addr(), "/fast", fast.watch(), stop.clone());

    let phase = |what: &str, secs: u64| {
        let (a, b) = (fast.confirmed(), via_slow.confirmed());
        std::thread::sleep(Duration::from_secs(secs));
        assert!(
            fast.wait_more(50, ELECT_TIMEOUT),
            "{what}: the others stopped committing: {:?}",
            fast.progress()
        );
        eprintln!(
            "follower {f} {what} for {secs} s: {} writes through the others, {} through it",
            fast.confirmed() - a,
            via_slow.confirmed() - b
        );
    };
    phase(&format!("delayed {delay:?}"), 6);
    e.net().slow_member(f, delay, Some(rate));
    phase(&format!("delayed {delay:?} and limited to {rate} B/s"), 5);
    let fast = fast.stop();
    let via_slow = via_slow.stop();
    assert!(
        !fast.unknown && !via_slow.unknown,
        "a last write never got through"
    );

    // Still slow, it catches up: its plain reads reach every acknowledged write.
    let t = Instant::now();
    let caught_up = rt.block_on(async {
        let c = e.client_on(f).await;
        let deadline = Instant::now() + ELECT_TIMEOUT;
        loop {
            match c.get_children("/fast", false).await {
                Ok(kids) if kids.len() as u64 >= fast.progress.confirmed => return true,
                _ if Instant::now() >= deadline => return false,
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    });
    assert!(caught_up, "follower {f} never caught up while slow");
    let catch_up = t.elapsed();
    stop.store(true, Ordering::SeqCst);
    rt.block_on(reader).expect("reader task");
    let log = std::mem::take(&mut *log.lock().expect("read log"));
    assert!(
        log.violations.is_empty(),
        "reads through slow follower {f}: {:?}",
        log.violations
    );
    e.net().clear_all();
    converge(&rt, &mut e, &[&fast, &via_slow]);
    eprintln!(
        "slow follower {f}: caught up {catch_up:.1?} after the writers stopped; reads through \
         it: {} plain (lagging by up to {} writes), {} after a sync, {} failed; writes: {} \
         through the others, {} through it ({} attempts failed)",
        log.plain,
        log.max_lag,
        log.synced,
        log.failed,
        fast.progress.confirmed,
        via_slow.progress.confirmed,
        via_slow.progress.failed_attempts
    );
}

/// Bytes from a follower to the leader suddenly take longer than syncLimit to arrive
/// (bytes the other way are not delayed), while a client of that follower keeps calling
/// sync. The leader hears nothing from it for longer than syncLimit and gives up on it;
/// from then on the follower is no longer sent proposals or commits, so it must stop
/// serving — not keep answering its clients from a tree that no longer moves because the
/// leader still answers its syncs.
#[test]
fn follower_the_leader_gave_up_on_stops_serving() {
    use crate::common::proxy::Flow;
    let rt = rt();
    let (mut e, l) = ensemble3();
    let (f, f2) = (e.others(l)[0], e.others(l)[1]);
    let writer = Writer::start(WriterConfig::new(e.hosts(&[l, f2]), "/w"));
    assert!(writer.wait_more(20, ELECT_TIMEOUT), "no writes at all");
    let stop = Arc::new(AtomicBool::new(false));
    let syncs = Arc::new(Mutex::new((0u64, 0u64)));
    let syncer = {
        let (stop, syncs) = (stop.clone(), syncs.clone());
        let c = rt.block_on(e.client_on(f));
        rt.spawn(async move {
            while !stop.load(Ordering::SeqCst) && c.is_connected() {
                let r = tokio::time::timeout(Duration::from_secs(1), c.sync("/")).await;
                {
                    let mut s = syncs.lock().expect("syncs");
                    match r {
                        Ok(Ok(_)) => s.0 += 1,
                        _ => s.1 += 1,
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    let lag = Duration::from_secs(3);
    e.net().set_flow(
        f,
        l,
        Flow {
            delay: (lag, lag),
            ..Flow::default()
        },
    );
    let t = Instant::now();
    e.wait_not_serving(f);
    let stopped = t.elapsed();
    stop.store(true, Ordering::SeqCst);
    rt.block_on(syncer).expect("syncer");
    e.net().clear_all();
    converge_with_writer(&rt, &mut e, writer);
    let (ok, failed) = *syncs.lock().expect("syncs");
    eprintln!(
        "follower {f} with its bytes to leader {l} {lag:?} late: stopped serving after \
         {stopped:.1?}; its client's syncs: {ok} answered, {failed} not"
    );
}

/// Member `id`'s own (quorum, election) ports, from its zoo.cfg.
fn own_ports(e: &TestEnsemble, id: u64) -> (u16, u16) {
    let cfg = std::fs::read_to_string(e.member(id).cfg_path()).expect("read zoo.cfg");
    let line = cfg
        .lines()
        .find_map(|l| l.strip_prefix(&format!("server.{id}=")))
        .expect("own server line");
    let ports: Vec<u16> = line
        .split(':')
        .skip(1)
        .take(2)
        .map(|p| p.parse().expect("a port"))
        .collect();
    (ports[0], ports[1])
}

/// The member elected leader never starts leading (something else holds its quorum port)
/// and then dies; what its followers dial for it — a proxy, as any middlebox would —
/// accepts their connections and drops them. They must give up within initLimit and elect
/// another leader, not redial it forever.
#[test]
fn followers_give_up_on_a_leader_that_accepts_nothing_behind_a_proxy() {
    let mut e = TestEnsemble::with_proxies(3, 0, "");
    // Member 3 wins the first election (equal zxids, highest id).
    let (q3, _) = own_ports(&e, 3);
    let squatter = std::net::TcpListener::bind(("127.0.0.1", q3)).expect("hold the port");
    let accepted = Arc::new(std::sync::atomic::AtomicU64::new(0));
    {
        let accepted = accepted.clone();
        std::thread::spawn(move || {
            for s in squatter.incoming() {
                accepted.fetch_add(1, Ordering::SeqCst);
                drop(s);
            }
        });
    }
    e.spawn_all();
    let deadline = Instant::now() + ELECT_TIMEOUT;
    while accepted.load(Ordering::SeqCst) == 0 {
        assert!(
            Instant::now() < deadline,
            "nobody dialed member 3's quorum port"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    e.member_mut(3).kill9();
    let t = Instant::now();
    let l = e.wait_leader(&[1, 2]);
    eprintln!(
        "member 3 elected but unable to lead, then SIGKILLed: {l} leads after {:.1?} \
         ({} connections dropped at 3's quorum port)",
        t.elapsed(),
        accepted.load(Ordering::SeqCst)
    );
    let w = Writer::start(WriterConfig::new(e.hosts(&[1, 2]), "/w"));
    assert!(
        w.wait_more(10, ELECT_TIMEOUT),
        "no writes: {:?}",
        w.progress()
    );
}
