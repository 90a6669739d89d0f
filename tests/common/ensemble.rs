//! Ensembles of real server processes on loopback: one directory, zoo.cfg and `myid` per
//! member, the same `server.N` lines in each, free ports for client, quorum and election.
//! `RK_TEST_SERVER=reference` runs the same ensemble with Apache ZooKeeper, which is how the
//! expectations of the ensemble tests were checked.

use super::{config_text, free_port, Kind, TestServer};
use std::time::{Duration, Instant};

/// How long an ensemble may take to elect and serve.
pub const ELECT_TIMEOUT: Duration = Duration::from_secs(60);

pub struct TestEnsemble {
    /// Index i is server id i + 1.
    pub members: Vec<TestServer>,
}

impl TestEnsemble {
    /// `participants` voters (ids 1..=participants) then `observers` observers; nothing is
    /// started. `extra` is appended to every member's zoo.cfg.
    pub fn new(participants: usize, observers: usize, extra: &str) -> TestEnsemble {
        let kind = Kind::from_env();
        let n = participants + observers;
        let ports: Vec<(u16, u16, u16)> = (0..n)
            .map(|_| (free_port(), free_port(), free_port()))
            .collect();
        let mut servers = String::new();
        for (i, (_, q, e)) in ports.iter().enumerate() {
            let role = if i >= participants { ":observer" } else { "" };
            servers.push_str(&format!("server.{}=127.0.0.1:{q}:{e}{role}\n", i + 1));
        }
        let members = (0..n)
            .map(|i| {
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
        TestEnsemble { members }
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
}
