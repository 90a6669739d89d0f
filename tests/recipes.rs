//! Every recipe against a real server: contention among many sessions, connection loss
//! (server restarts under waiters) and session expiry.

mod common;

use common::{end_session, TestServer};
use ringkeeper::client::{ClientError, ZkOptions, ZooKeeper};
use ringkeeper::recipes::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const FAST: &str = "tickTime=500";
const SESSION: Duration = Duration::from_secs(4);
/// Generous bound on any single wait, so a broken recipe fails instead of hanging CI.
const BOUND: Duration = Duration::from_secs(60);

async fn zk(server: &TestServer) -> ZooKeeper {
    ZooKeeper::connect_with(ZkOptions::new(&server.addr(), SESSION))
        .await
        .expect("connect")
}

async fn bounded<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, f)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {BOUND:?}"))
}

/// Tracks how many participants are inside a critical section at once.
#[derive(Default)]
struct Occupancy {
    now: AtomicUsize,
    max: AtomicUsize,
}

impl Occupancy {
    fn enter(&self) {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(n, Ordering::SeqCst);
    }
    fn leave(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
    fn max(&self) -> usize {
        self.max.load(Ordering::SeqCst)
    }
}

#[tokio::test]
async fn fair_lock_excludes_many_contenders_and_loses_no_update() {
    let server = TestServer::start_with(FAST);
    let occ = Arc::new(Occupancy::default());
    let mut tasks = Vec::new();
    for i in 0..8 {
        let z = zk(&server).await;
        let occ = occ.clone();
        tasks.push(tokio::spawn(async move {
            let lock = Lock::new(&z, "/locks/fair", &format!("p{i}"));
            for _ in 0..3 {
                let g = lock.acquire().await.unwrap();
                occ.enter();
                // An unversioned read-modify-write: only mutual exclusion keeps it exact.
                let (d, _) = z.get_data("/locks").await.unwrap();
                let n: u32 = String::from_utf8(d).unwrap().parse().unwrap_or(0);
                tokio::task::yield_now().await;
                z.set_data("/locks", (n + 1).to_string().as_bytes(), -1)
                    .await
                    .unwrap();
                occ.leave();
                g.release().await.unwrap();
            }
            z.close().await.unwrap();
        }));
    }
    for t in tasks {
        bounded("lock contender", t).await.unwrap();
    }
    assert_eq!(occ.max(), 1);
    let z = zk(&server).await;
    assert_eq!(z.get_data("/locks").await.unwrap().0, b"24");
    assert!(z.get_children("/locks/fair").await.unwrap().is_empty());
}

#[tokio::test]
async fn lock_waiters_each_watch_only_their_predecessor() {
    // One net core, so `wchs` (per core) sees every connection's watches.
    let server = TestServer::start_with("tickTime=500\nnetCores=1");
    let holder = zk(&server).await;
    let g = Lock::new(&holder, "/herd", "holder")
        .acquire()
        .await
        .unwrap();
    let n = 5;
    let mut waiters = Vec::new();
    let mut sessions = Vec::new();
    for i in 0..n {
        let z = zk(&server).await;
        sessions.push(z.clone());
        waiters.push(tokio::spawn(async move {
            Lock::new(&z, "/herd", &format!("w{i}"))
                .acquire()
                .await
                .unwrap()
        }));
    }
    // Wait until all n waiters are queued and watching.
    let lock = Lock::new(&holder, "/herd", "");
    bounded("waiters queue up", async {
        loop {
            let wchs = server.four_letter("wchs");
            let c = lock.contenders().await.unwrap().len();
            if c == n + 1 && wchs.contains(&format!("Total watches:{}", n + 1)) {
                return wchs;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    // Each waiter watches its own predecessor (n paths, not 1); the extra watch is the
    // holder's guard watching its own node for loss. A herd would be n+1 watches on 1 path.
    let wchs = server.four_letter("wchs");
    assert_eq!(
        wchs,
        format!(
            "{} connections watching {n} paths\nTotal watches:{}\n",
            n + 1,
            n + 1
        )
    );
    g.release().await.unwrap();
    for w in waiters {
        let g = bounded("waiter", w).await.unwrap();
        g.release().await.unwrap();
    }
    // Every watch the lock set fired or was never set: none is left on a deleted name
    // (an exists watch on a missing path would stay until the session ends).
    bounded("no watch left behind", async {
        while !server.four_letter("wchs").contains("Total watches:0\n") {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

/// Curator's order: the contender's create goes first and the lock's parents are made only
/// when it finds them missing, so acquiring an existing lock costs no `exists` round trip.
#[tokio::test]
async fn lock_makes_missing_parents_but_spends_no_round_trip_on_existing_ones() {
    let server = TestServer::start_with(FAST);
    // Long enough that no ping lands inside the counted window.
    let z = ZooKeeper::connect_with(ZkOptions::new(&server.addr(), Duration::from_secs(30)))
        .await
        .unwrap();
    // The guard watches its own node from a task of its own; this waits for that watch to be
    // set (1) or to have fired on release (0), so its getData is never in flight.
    let watches = |n: usize| {
        let server = &server;
        bounded("the guard's watch", async move {
            let want = format!("Total watches:{n}\n");
            while !server.four_letter("wchs").contains(&want) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    let path = "/made/by/the/lock";
    let g = bounded("first acquire", Lock::new(&z, path, "a").acquire())
        .await
        .unwrap();
    watches(1).await;
    g.release().await.unwrap();
    watches(0).await;
    assert!(z.exists(path).await.unwrap().is_some());

    let before = server.mntr("packets_received");
    let g = Lock::new(&z, path, "a").acquire().await.unwrap();
    watches(1).await;
    // create, getChildren, and the guard's getData watch on its own node.
    assert_eq!(server.mntr("packets_received") - before, 3);
    g.release().await.unwrap();

    // The lock's own node removed between acquires (it is empty): made again.
    z.delete(path, -1).await.unwrap();
    let g = bounded(
        "acquire after the path went",
        Lock::new(&z, path, "a").acquire(),
    )
    .await
    .unwrap();
    assert_eq!(z.get_children(path).await.unwrap().len(), 1);
    g.release().await.unwrap();
}

#[tokio::test]
async fn lock_holder_learns_its_session_expired_and_the_next_waiter_gets_it() {
    let server = TestServer::start_with(FAST);
    let a = zk(&server).await;
    let b = zk(&server).await;
    let g = Lock::new(&a, "/exp", "a").acquire().await.unwrap();
    assert!(g.is_held());
    let waiter = tokio::spawn({
        let b = b.clone();
        async move { Lock::new(&b, "/exp", "b").acquire().await.unwrap() }
    });
    end_session(&a, &server.addr()).await;
    bounded("holder notices", g.lost()).await;
    assert!(!g.is_held());
    let gb = bounded("waiter acquires", waiter).await.unwrap();
    assert!(gb.is_held());
    // The expired holder cannot contend again on a dead session.
    let e = Lock::new(&a, "/exp", "a").try_acquire().await.unwrap_err();
    assert!(matches!(e, ClientError::SessionExpired), "{e:?}");
}

#[tokio::test]
async fn lock_waiter_survives_a_server_restart() {
    let mut server = TestServer::start_with(FAST);
    let a = zk(&server).await;
    let b = zk(&server).await;
    let g = Lock::new(&a, "/rs", "a").acquire().await.unwrap();
    let waiter = tokio::spawn({
        let b = b.clone();
        async move { Lock::new(&b, "/rs", "b").acquire().await.unwrap() }
    });
    bounded("waiter queued", async {
        while Lock::new(&a, "/rs", "").contenders().await.unwrap().len() < 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    server.restart();
    // Still the holder: the session (and its node) survived the reconnection.
    assert!(g.is_held());
    g.release().await.unwrap();
    let gb = bounded("waiter acquires after restart", waiter)
        .await
        .unwrap();
    assert!(gb.is_held());
}

#[tokio::test]
async fn read_write_lock_shares_reads_and_excludes_writes() {
    let server = TestServer::start_with(FAST);
    let z = zk(&server).await;
    let r1 = Lock::read(&z, "/rw", "r1").acquire().await.unwrap();
    let z2 = zk(&server).await;
    let r2 = bounded("second reader", Lock::read(&z2, "/rw", "r2").acquire())
        .await
        .unwrap();
    let zw = zk(&server).await;
    assert!(Lock::write(&zw, "/rw", "w")
        .try_acquire()
        .await
        .unwrap()
        .is_none());
    let writer = tokio::spawn({
        let zw = zw.clone();
        async move { Lock::write(&zw, "/rw", "w").acquire().await.unwrap() }
    });
    // A reader arriving after a waiting writer queues behind it (kazoo's rule).
    bounded("writer queued", async {
        while Lock::new(&z, "/rw", "").contenders().await.unwrap().len() < 3 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let z3 = zk(&server).await;
    assert!(Lock::read(&z3, "/rw", "r3")
        .try_acquire()
        .await
        .unwrap()
        .is_none());
    r1.release().await.unwrap();
    assert!(!writer.is_finished());
    r2.release().await.unwrap();
    let w = bounded("writer", writer).await.unwrap();
    assert!(w.is_held());
}

#[tokio::test]
async fn exclusive_lock_excludes_contenders() {
    let server = TestServer::start_with(FAST);
    let occ = Arc::new(Occupancy::default());
    let mut tasks = Vec::new();
    for _ in 0..5 {
        let z = zk(&server).await;
        let occ = occ.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..2 {
                let g = ExclusiveLock::new(&z, "/distribute_lock")
                    .acquire()
                    .await
                    .unwrap();
                occ.enter();
                tokio::time::sleep(Duration::from_millis(5)).await;
                occ.leave();
                g.release().await.unwrap();
            }
        }));
    }
    for t in tasks {
        bounded("exclusive lock contender", t).await.unwrap();
    }
    assert_eq!(occ.max(), 1);
}

#[tokio::test]
async fn semaphore_never_exceeds_its_leases() {
    let server = TestServer::start_with(FAST);
    let occ = Arc::new(Occupancy::default());
    let mut tasks = Vec::new();
    for i in 0..6 {
        let z = zk(&server).await;
        let occ = occ.clone();
        tasks.push(tokio::spawn(async move {
            let s = Semaphore::new(&z, "/sem", &format!("s{i}"), 2);
            for _ in 0..2 {
                let g = s.acquire().await.unwrap();
                occ.enter();
                assert!(s.lease_holders().await.unwrap().len() <= 2);
                tokio::time::sleep(Duration::from_millis(10)).await;
                occ.leave();
                g.release().await.unwrap();
            }
        }));
    }
    for t in tasks {
        bounded("semaphore contender", t).await.unwrap();
    }
    assert!(occ.max() <= 2 && occ.max() >= 1, "{}", occ.max());
    let z = zk(&server).await;
    let e = Semaphore::new(&z, "/sem", "x", 3)
        .acquire()
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::Recipe(_)), "{e:?}");
}

#[tokio::test]
async fn election_hands_over_on_resign_and_on_expiry() {
    let server = TestServer::start_with(FAST);
    let a = zk(&server).await;
    let b = zk(&server).await;
    let c = zk(&server).await;
    let la = Election::new(&a, "/election", "a")
        .campaign()
        .await
        .unwrap();
    let eb = tokio::spawn({
        let b = b.clone();
        async move {
            Election::new(&b, "/election", "b")
                .campaign()
                .await
                .unwrap()
        }
    });
    let el = Election::new(&c, "/election", "c");
    bounded("b queued", async {
        while el.contenders().await.unwrap().len() < 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let ec = tokio::spawn({
        let el = el.clone();
        async move { el.campaign().await.unwrap() }
    });
    assert_eq!(el.leader().await.unwrap().as_deref(), Some("a"));
    la.resign().await.unwrap();
    let lb = bounded("b elected", eb).await.unwrap();
    assert!(lb.is_leader());
    assert_eq!(el.leader().await.unwrap().as_deref(), Some("b"));
    end_session(&b, &server.addr()).await;
    bounded("b learns it lost leadership", lb.lost()).await;
    assert!(!lb.is_leader());
    let lc = bounded("c elected", ec).await.unwrap();
    assert!(lc.is_leader());
}

#[tokio::test]
async fn fifo_queue_delivers_every_item_once_in_order() {
    let server = TestServer::start_with(FAST);
    let p = zk(&server).await;
    let q = FifoQueue::new(&p, "/queue");
    for i in 0..10 {
        q.put(format!("early-{i}").as_bytes()).await.unwrap();
    }
    // One consumer alone sees FIFO order.
    for i in 0..3 {
        assert_eq!(q.take().await.unwrap(), format!("early-{i}").into_bytes());
    }
    let got = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut consumers = Vec::new();
    for _ in 0..3 {
        let z = zk(&server).await;
        let got = got.clone();
        consumers.push(tokio::spawn(async move {
            let q = FifoQueue::new(&z, "/queue");
            for _ in 0..9 {
                let d = q.take().await.unwrap();
                got.lock().unwrap().push(String::from_utf8(d).unwrap());
            }
        }));
    }
    for i in 0..20 {
        q.put(format!("late-{i}").as_bytes()).await.unwrap();
    }
    for c in consumers {
        bounded("consumer", c).await.unwrap();
    }
    let mut all = got.lock().unwrap().clone();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 27, "each of 27 items exactly once");
    assert!(q.is_empty().await.unwrap());
}

#[tokio::test]
async fn queue_consumer_waits_through_a_restart() {
    let mut server = TestServer::start_with(FAST);
    let c = zk(&server).await;
    let taker = tokio::spawn({
        let c = c.clone();
        async move { FifoQueue::new(&c, "/q2").take().await.unwrap() }
    });
    bounded("consumer waiting", async {
        while c.exists("/q2").await.unwrap().is_none() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    server.restart();
    let p = zk(&server).await;
    FifoQueue::new(&p, "/q2").put(b"after").await.unwrap();
    assert_eq!(bounded("take", taker).await.unwrap(), b"after");
}

#[tokio::test]
async fn n_member_barrier_releases_only_when_all_arrived() {
    let server = TestServer::start_with(FAST);
    let n = 5;
    let passed = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..n {
        let z = zk(&server).await;
        let passed2 = passed.clone();
        tasks.push(tokio::spawn(async move {
            let passed = passed2;
            let b = NMemberBarrier::new(&z, "/queue-n", n as u32);
            b.enter(format!("m{i}").as_bytes()).await.unwrap();
            // Whoever passes must see every member there.
            assert!(b.members().await.unwrap() >= n);
            passed.fetch_add(1, Ordering::SeqCst);
            z
        }));
        if i < n - 1 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            assert_eq!(passed.load(Ordering::SeqCst), 0);
        }
    }
    for t in tasks {
        bounded("barrier member", t).await.unwrap();
    }
    assert_eq!(passed.load(Ordering::SeqCst), n);
    let z = zk(&server).await;
    assert_eq!(z.get_data("/queue-n/num").await.unwrap().0, b"5");
}

#[tokio::test]
async fn double_barrier_enters_and_leaves_together() {
    let server = TestServer::start_with(FAST);
    let n = 4;
    let entered = Arc::new(AtomicUsize::new(0));
    let left = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..n {
        let z = zk(&server).await;
        let (entered, left) = (entered.clone(), left.clone());
        tasks.push(tokio::spawn(async move {
            let b = DoubleBarrier::new(&z, "/dbl", n as u32, &format!("p{i}")).unwrap();
            b.enter().await.unwrap();
            entered.fetch_add(1, Ordering::SeqCst);
            // Work of different lengths; nobody may finish leaving before all have entered.
            tokio::time::sleep(Duration::from_millis(10 * i as u64)).await;
            b.leave().await.unwrap();
            assert_eq!(entered.load(Ordering::SeqCst), n);
            left.fetch_add(1, Ordering::SeqCst);
        }));
    }
    for t in tasks {
        bounded("double barrier participant", t).await.unwrap();
    }
    assert_eq!(left.load(Ordering::SeqCst), n);
    let z = zk(&server).await;
    assert_eq!(z.get_children("/dbl").await.unwrap(), vec!["ready"]);
}

/// Participants that leave as soon as they entered, many rounds: a watched node that is gone
/// before its watch is set must send the leaver back to the participant list, not out of
/// `leave` (the lowest would keep its node, and the rest would wait for its session to end).
#[tokio::test]
async fn double_barrier_rounds_leave_nobody_behind() {
    let server = TestServer::start_with(FAST);
    let n = 6;
    let mut sessions = Vec::new();
    for _ in 0..n {
        sessions.push(zk(&server).await);
    }
    for round in 0..60 {
        let path = format!("/dblr/{round}");
        let mut tasks = Vec::new();
        for (i, z) in sessions.iter().enumerate() {
            let b = DoubleBarrier::new(z, &path, n as u32, &format!("p{i}")).unwrap();
            tasks.push(tokio::spawn(async move {
                b.enter().await.unwrap();
                b.leave().await.unwrap();
            }));
        }
        for t in tasks {
            bounded("double barrier round", t).await.unwrap();
        }
        let z = &sessions[0];
        assert_eq!(z.get_children(&path).await.unwrap(), vec!["ready"]);
    }
}

#[tokio::test]
async fn config_watch_follows_changes_across_a_restart() {
    let mut server = TestServer::start_with(FAST);
    let z = zk(&server).await;
    let mut w = ConfigWatch::start(&z, "/cfg").await.unwrap();
    assert_eq!(w.current(), None);
    let admin = zk(&server).await;
    admin.ensure_path("/cfg").await.unwrap();
    admin.set_data("/cfg", b"v1", -1).await.unwrap();
    bounded("v1 seen", async {
        while w.current().map(|(d, _)| d) != Some(b"v1".to_vec()) {
            w.changed().await.expect("watch alive");
        }
    })
    .await;
    server.restart();
    // The admin's call may meet its dropped connection: ConnectionLoss, retried.
    let policy = ringkeeper::client::RetryPolicy::exponential(Duration::from_millis(20), 20);
    admin
        .retry(
            &policy,
            |z| async move { z.set_data("/cfg", b"v2", -1).await },
        )
        .await
        .unwrap();
    bounded("v2 seen after restart", async {
        while w.current().map(|(d, _)| d) != Some(b"v2".to_vec()) {
            w.changed().await.expect("watch alive");
        }
    })
    .await;
}

#[tokio::test]
async fn registry_sees_members_come_and_go_with_their_sessions() {
    let server = TestServer::start_with(FAST);
    let client = zk(&server).await;
    let reg = ServiceRegistry::new(&client, "/services");
    let mut view = reg.watch("api").await.unwrap();
    let mut servers = Vec::new();
    for i in 0..3 {
        let z = zk(&server).await;
        ServiceRegistry::new(&z, "/services")
            .register("api", &format!("s{i}"), format!("10.0.0.{i}:80").as_bytes())
            .await
            .unwrap();
        servers.push(z);
    }
    bounded("3 members", view.wait_for(|m| m.len() == 3))
        .await
        .unwrap();
    servers.remove(1).close().await.unwrap();
    let m = bounded("2 members", view.wait_for(|m| m.len() == 2))
        .await
        .unwrap()
        .clone();
    assert_eq!(
        m.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        vec!["s0", "s2"]
    );
    // A session that expires takes its registration with it.
    end_session(&servers[0], &server.addr()).await;
    bounded("1 member", view.wait_for(|m| m.len() == 1))
        .await
        .unwrap();
    assert_eq!(reg.discover("api").await.unwrap()[0].1, b"10.0.0.2:80");
}

#[tokio::test]
async fn load_balancer_spreads_concurrent_picks_evenly() {
    let server = TestServer::start_with(FAST);
    let mut members = Vec::new();
    for s in ["a", "b", "c"] {
        let z = zk(&server).await;
        members.push(LoadBalancer::new(&z, "/lb").join(s).await.unwrap());
    }
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let z = zk(&server).await;
        tasks.push(tokio::spawn(async move {
            let lb = LoadBalancer::new(&z, "/lb");
            for _ in 0..10 {
                lb.pick().await.unwrap().unwrap();
            }
        }));
    }
    for t in tasks {
        bounded("picker", t).await.unwrap();
    }
    let z = zk(&server).await;
    let loads = LoadBalancer::new(&z, "/lb").loads().await.unwrap();
    assert_eq!(
        loads,
        vec![("a".into(), 10), ("b".into(), 10), ("c".into(), 10)]
    );
}

#[tokio::test]
async fn counter_loses_no_concurrent_add() {
    let server = TestServer::start_with(FAST);
    let mut tasks = Vec::new();
    for _ in 0..5 {
        let z = zk(&server).await;
        tasks.push(tokio::spawn(async move {
            let c = Counter::new(&z, "/counters/hits");
            for _ in 0..20 {
                c.add(1).await.unwrap();
            }
        }));
    }
    for t in tasks {
        bounded("adder", t).await.unwrap();
    }
    let z = zk(&server).await;
    assert_eq!(
        Counter::new(&z, "/counters/hits").value().await.unwrap(),
        100
    );
    z.set_data("/counters/hits", b"nope", -1).await.unwrap();
    assert!(matches!(
        Counter::new(&z, "/counters/hits").add(1).await,
        Err(ClientError::Recipe(_))
    ));
}

#[tokio::test]
async fn naming_service_hands_out_unique_ordered_names() {
    let server = TestServer::start_with(FAST);
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let z = zk(&server).await;
        tasks.push(tokio::spawn(async move {
            let ns = NamingService::new(&z, "/names");
            let mut mine = Vec::new();
            for _ in 0..10 {
                mine.push(ns.unique_name("job-").await.unwrap());
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        let mine = bounded("namer", t).await.unwrap();
        let mut sorted = mine.clone();
        sorted.sort();
        assert_eq!(mine, sorted, "one client's names increase");
        all.extend(mine);
    }
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 40);
    let z = zk(&server).await;
    assert!(NamingService::new(&z, "/names")
        .unique_name("a/b")
        .await
        .is_err());
}

#[tokio::test]
async fn semaphore_lease_of_an_expired_session_goes_to_a_waiter() {
    let server = TestServer::start_with(FAST);
    let a = zk(&server).await;
    let b = zk(&server).await;
    let la = Semaphore::new(&a, "/sem-exp", "a", 1)
        .acquire()
        .await
        .unwrap();
    let waiter = tokio::spawn({
        let b = b.clone();
        async move {
            Semaphore::new(&b, "/sem-exp", "b", 1)
                .acquire()
                .await
                .unwrap()
        }
    });
    end_session(&a, &server.addr()).await;
    bounded("holder notices", la.lost()).await;
    assert!(!la.is_held());
    let lb = bounded("waiter gets the lease", waiter).await.unwrap();
    assert!(lb.is_held());
    let holders = Semaphore::new(&b, "/sem-exp", "", 1)
        .lease_holders()
        .await
        .unwrap();
    assert_eq!(holders, vec!["b".to_string()]);
}

#[tokio::test]
async fn barrier_members_wait_through_a_restart() {
    let mut server = TestServer::start_with(FAST);
    let first = zk(&server).await;
    let early = tokio::spawn({
        let first = first.clone();
        async move { NMemberBarrier::new(&first, "/nb", 2).enter(b"early").await }
    });
    bounded("first member in", async {
        while first.exists("/nb").await.unwrap().is_none()
            || NMemberBarrier::new(&first, "/nb", 2)
                .members()
                .await
                .unwrap()
                < 1
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    server.restart();
    let second = zk(&server).await;
    NMemberBarrier::new(&second, "/nb", 2)
        .enter(b"late")
        .await
        .unwrap();
    bounded("first member released", early)
        .await
        .unwrap()
        .unwrap();
}
