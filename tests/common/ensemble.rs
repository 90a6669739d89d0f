//! Ensembles of real server processes on loopback: one directory, zoo.cfg and `myid` per
//! member, the same `server.N` lines in each, free ports for client, quorum and election.
//! `with_proxies` instead points each member's lines for the others at its own proxies
//! (`proxy::ProxyNet`), so that links can be cut. `RK_TEST_SERVER=reference` runs the same
//! ensemble with Apache ZooKeeper, which is how the expectations of the ensemble tests were
//! checked. tickTime is 500 ms (initLimit 10, syncLimit 5): a member cut off from its leader
//! gives up after 2.5 s.

use super::proxy::ProxyNet;
use super::tree_dump::{assert_same, dump, Znode};
use super::writer::WriterReport;
use super::{config_text, free_port, Kind, TestServer, CLIENT_TIMEOUT};
use ringkeeper::client::{Client, ClientError, Stat};
use std::time::{Duration, Instant};

/// How long an ensemble may take to elect and serve.
pub const ELECT_TIMEOUT: Duration = Duration::from_secs(60);

pub struct TestEnsemble {
    /// Index i is server id i + 1.
    pub members: Vec<TestServer>,
    /// The proxies between members, when built with `with_proxies`.
    pub net: Option<ProxyNet>,
}

impl TestEnsemble {
    /// `participants` voters (ids 1..=participants) then `observers` observers; nothing is
    /// started. `extra` is appended to every member's zoo.cfg.
    pub fn new(participants: usize, observers: usize, extra: &str) -> TestEnsemble {
        TestEnsemble::build(participants, observers, extra, false)
    }

    /// As `new`, but each member's zoo.cfg lists its own line with its real ports and the
    /// others' lines pointing at its own proxies to them (`net`), so links can be cut.
    pub fn with_proxies(participants: usize, observers: usize, extra: &str) -> TestEnsemble {
        TestEnsemble::build(participants, observers, extra, true)
    }

    fn build(participants: usize, observers: usize, extra: &str, proxied: bool) -> TestEnsemble {
        let kind = Kind::from_env();
        let n = participants + observers;
        let ports: Vec<(u16, u16, u16)> = (0..n)
            .map(|_| (distinct_port(), distinct_port(), distinct_port()))
            .collect();
        let net = proxied.then(|| ProxyNet::start(&ports));
        let members = (0..n)
            .map(|i| {
                let mut servers = String::new();
                for (j, &(_, q, e)) in ports.iter().enumerate() {
                    let role = if j >= participants { ":observer" } else { "" };
                    let (q, e) = match &net {
                        Some(net) if j != i => net.ports(i as u64 + 1, j as u64 + 1),
                        _ => (q, e),
                    };
                    servers.push_str(&format!("server.{}=127.0.0.1:{q}:{e}{role}\n", j + 1));
                }
                let dir = tempfile::Builder::new()
                    .prefix(&format!("ringkeeper-ens{}-", i + 1))
                    .tempdir()
                    .expect("create temp dir");
                let data = dir.path().join("data");
                std::fs::create_dir_all(&data).expect("create data dir");
                std::fs::write(data.join("myid"), format!("{}\n", i + 1)).expect("write myid");
                let mut cfg = format!("tickTime=500\ninitLimit=10\nsyncLimit=5\n{servers}");
                if i >= participants {
                    cfg.push_str("peerType=observer\n");
                }
                cfg.push_str(extra);
                let text = config_text(kind, ports[i].0, &data, &cfg);
                std::fs::write(dir.path().join("zoo.cfg"), text).expect("write zoo.cfg");
                TestServer {
                    port: ports[i].0,
                    dir,
                    child: None,
                    kind,
                }
            })
            .collect();
        TestEnsemble { members, net }
    }

    /// Member `id`'s client address through its client proxy (`ProxyNet::cut_clients`);
    /// panics if the ensemble was built without proxies.
    pub fn proxied_addr(&self, id: u64) -> String {
        format!("127.0.0.1:{}", self.net().client_port(id))
    }

    /// The proxies; panics if the ensemble was built without them.
    pub fn net(&self) -> &ProxyNet {
        self.net.as_ref().expect("ensemble built without proxies")
    }

    /// Member ids, 1..=n.
    pub fn ids(&self) -> Vec<u64> {
        (1..=self.members.len() as u64).collect()
    }

    pub fn member(&self, id: u64) -> &TestServer {
        &self.members[(id - 1) as usize]
    }

    pub fn member_mut(&mut self, id: u64) -> &mut TestServer {
        &mut self.members[(id - 1) as usize]
    }

    /// Spawns member `id` without waiting.
    pub fn spawn(&mut self, id: u64) {
        self.member_mut(id).spawn();
    }

    pub fn spawn_all(&mut self) {
        for i in 0..self.members.len() {
            self.members[i].spawn();
        }
    }

    /// Waits until every member in `ids` serves clients; panics with their logs otherwise.
    pub fn wait_serving(&mut self, ids: &[u64]) {
        let deadline = Instant::now() + ELECT_TIMEOUT;
        loop {
            let mut all = true;
            for &id in ids {
                let m = self.member_mut(id);
                if !m.is_running() {
                    panic!("server {id} exited\n{}", m.tail());
                }
                all &= m.serving();
            }
            if all {
                return;
            }
            if Instant::now() >= deadline {
                let logs: Vec<String> = ids.iter().map(|&id| self.member(id).tail()).collect();
                panic!(
                    "not all of {ids:?} serve after {ELECT_TIMEOUT:?}\n{}",
                    logs.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `leader`, `follower`, `observer` or `standalone` as `srvr` says; `None` while the
    /// member does not serve.
    pub fn mode(&self, id: u64) -> Option<String> {
        let m = self.member(id);
        if !m.serving() {
            return None;
        }
        m.four_letter("srvr")
            .lines()
            .find_map(|l| l.strip_prefix("Mode: ").map(|s| s.trim().to_string()))
    }

    /// The member that says it leads, among those serving.
    pub fn leader(&self) -> Option<u64> {
        (1..=self.members.len() as u64).find(|&id| self.mode(id).as_deref() == Some("leader"))
    }

    /// Every member's client address, comma-separated (a connect string).
    pub fn connect_string(&self) -> String {
        self.members
            .iter()
            .map(|m| m.addr())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `host:port` of each member in `ids`.
    pub fn hosts(&self, ids: &[u64]) -> Vec<String> {
        ids.iter().map(|&id| self.member(id).addr()).collect()
    }

    /// Waits until exactly one member of `among` says it leads and every other member of
    /// `among` serves as a follower or observer; returns the leader.
    pub fn wait_leader(&mut self, among: &[u64]) -> u64 {
        let deadline = Instant::now() + ELECT_TIMEOUT;
        loop {
            let modes: Vec<Option<String>> = among.iter().map(|&id| self.mode(id)).collect();
            let leaders: Vec<u64> = among
                .iter()
                .zip(&modes)
                .filter(|(_, m)| m.as_deref() == Some("leader"))
                .map(|(&id, _)| id)
                .collect();
            let settled = modes
                .iter()
                .all(|m| matches!(m.as_deref(), Some("leader" | "follower" | "observer")));
            if leaders.len() == 1 && settled {
                return leaders[0];
            }
            for &id in among {
                let m = self.member_mut(id);
                if !m.is_running() {
                    panic!("server {id} exited\n{}", m.tail());
                }
            }
            if Instant::now() >= deadline {
                let logs: Vec<String> = among.iter().map(|&id| self.member(id).tail()).collect();
                panic!(
                    "no settled leader among {among:?} after {ELECT_TIMEOUT:?} (modes {modes:?})\n{}",
                    logs.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until member `id` no longer serves clients (it lost its quorum).
    pub fn wait_not_serving(&self, id: u64) {
        let deadline = Instant::now() + ELECT_TIMEOUT;
        while self.member(id).serving() {
            if Instant::now() >= deadline {
                panic!(
                    "server {id} still serves after {ELECT_TIMEOUT:?}\n{}",
                    self.member(id).tail()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Members in `among` other than `id`.
    pub fn others(&self, id: u64) -> Vec<u64> {
        self.ids().into_iter().filter(|&o| o != id).collect()
    }

    /// How much member `id` has logged so far (see `log_since`).
    pub fn log_len(&self, id: u64) -> usize {
        self.member(id).log_contents().len()
    }

    /// What member `id` logged after `log_len` returned `from`.
    pub fn log_since(&self, id: u64, from: usize) -> String {
        let log = self.member(id).log_contents();
        log.get(from..).unwrap_or_default().to_string()
    }

    /// A session on member `id` alone, retried for a while: a member that has just
    /// started serving may still turn a first connection away.
    pub async fn client_on(&self, id: u64) -> Client {
        let addr = self.member(id).addr();
        let deadline = Instant::now() + ELECT_TIMEOUT;
        loop {
            match Client::connect(&addr, CLIENT_TIMEOUT).await {
                Ok(c) => return c,
                Err(e) if Instant::now() >= deadline => {
                    panic!(
                        "connect to server {id} ({addr}): {e}\n{}",
                        self.member(id).tail()
                    )
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// `sync(path)` then the children and Stat of `path` as member `id` serves them.
    pub async fn read_children(&self, id: u64, path: &str) -> (Vec<String>, Stat) {
        let c = self.client_on(id).await;
        c.sync(path)
            .await
            .unwrap_or_else(|e| panic!("sync {path} on server {id}: {e}"));
        let (mut kids, stat) = c
            .get_children2(path, false)
            .await
            .unwrap_or_else(|e| panic!("getChildren2 {path} on server {id}: {e}"));
        let _ = c.close().await;
        kids.sort();
        (kids, stat)
    }

    /// Every member in `ids` serves exactly the writer's confirmed nodes (and maybe its one
    /// unknown), with the same children and the same Stat of the parent on each.
    pub async fn assert_converged(&self, ids: &[u64], report: &WriterReport) {
        let mut first: Option<(u64, Vec<String>, Stat)> = None;
        for &id in ids {
            let (kids, stat) = self.read_children(id, &report.prefix).await;
            if let Err(e) = report.check_children(&kids) {
                panic!("server {id}: {e}");
            }
            match &first {
                None => first = Some((id, kids, stat)),
                Some((fid, fkids, fstat)) => {
                    assert_eq!(&kids, fkids, "children on server {id} vs server {fid}");
                    assert_eq!(
                        &stat, fstat,
                        "Stat of {} on server {id} vs {fid}",
                        report.prefix
                    );
                }
            }
        }
    }

    /// Every member in `ids` holds the same tree (data, ACL and Stat of every znode), read
    /// after a sync on each; returns the number of znodes compared.
    pub async fn assert_same_trees(&self, ids: &[u64]) -> usize {
        let mut first: Option<(u64, std::collections::BTreeMap<String, Znode>)> = None;
        for &id in ids {
            let c = self.client_on(id).await;
            c.sync("/")
                .await
                .unwrap_or_else(|e| panic!("sync on server {id}: {e}"));
            let mut tree = dump(&c).await;
            // Each member's server lines name its own proxies, so with proxies this node
            // differs by construction; it is also the one node no transaction writes.
            if self.net.is_some() {
                tree.remove("/zookeeper/config");
            }
            let _ = c.close().await;
            match &first {
                None => first = Some((id, tree)),
                Some((fid, ftree)) => {
                    assert_same(ftree, &tree, &format!("server {id} vs server {fid}"))
                }
            }
        }
        first.map_or(0, |(_, t)| t.len())
    }

    /// Whether `path` exists on member `id` after a sync there.
    pub async fn exists_on(&self, id: u64, path: &str) -> bool {
        let c = self.client_on(id).await;
        c.sync("/")
            .await
            .unwrap_or_else(|e| panic!("sync on server {id}: {e}"));
        let r = c.exists(path, false).await;
        let _ = c.close().await;
        match r {
            Ok(s) => s.is_some(),
            Err(ClientError::ConnectionLoss) => panic!("connection lost reading server {id}"),
            Err(e) => panic!("exists {path} on server {id}: {e}"),
        }
    }
}

/// A free port not handed out before in this process: `free_port` alone can return the same
/// port twice once the first one is released, and a member whose client port equals a
/// quorum or election port refuses to start.
///
/// Drawn below the kernel's ephemeral range (`ip_local_port_range`), not from it: a member
/// binds its ports only when it starts (a leader its quorum port only once elected), and
/// meanwhile any outgoing connection on the machine — the proxies' own dials, other tests'
/// clients — may be given a released ephemeral port as its local port.
fn distinct_port() -> u16 {
    use std::sync::Mutex;
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    let ephemeral_from: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768);
    let (lo, hi) = (10_000u16, ephemeral_from);
    if hi <= lo + 1000 {
        // An unusual range: fall back to what the kernel hands out.
        loop {
            let p = free_port();
            if !given.contains(&p) {
                given.push(p);
                return p;
            }
        }
    }
    let seed = u64::from(std::process::id())
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
    let mut rng = ringkeeper::rng::Rng::new(seed ^ given.len() as u64);
    loop {
        let p = lo + rng.below(u64::from(hi - lo)) as u16;
        if given.contains(&p) {
            continue;
        }
        if std::net::TcpListener::bind(("127.0.0.1", p)).is_ok() {
            given.push(p);
            return p;
        }
    }
}
