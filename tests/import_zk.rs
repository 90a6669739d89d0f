//! `ringkeeper import-zk` on files written by the real Apache ZooKeeper (Debian's
//! `zookeeper` package): build a varied tree on ZooKeeper with a small snapCount (several
//! snapshots and logs), dump every znode through the client, stop ZooKeeper, import, start
//! ringkeeper on the result and compare every node's data, ACL and all 11 Stat fields.
//! Skipped, with a message, when Java or the package is missing.

mod common;
use common::tree_dump;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{TestServer, SUPER_AUTH};
use ringkeeper::client::{acl, Client, CreateMode, Op};

const ZK_JAR: &str = "/usr/share/java/zookeeper.jar";
const SUPER_DIGEST: &str = "super:D/InIHSb7yEEbrWz8b9l71RjZJU=";

fn java_and_zookeeper() -> Option<String> {
    if !Path::new(ZK_JAR).exists() {
        return Some(format!("{ZK_JAR} is missing (apt-get install zookeeper)"));
    }
    match Command::new("java").arg("-version").output() {
        Ok(o) if o.status.success() => None,
        _ => Some("java is not on PATH".into()),
    }
}

struct Zk {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Zk {
    fn start(dir: &Path, extra_props: &[&str]) -> Zk {
        let port = common::free_port();
        let data = dir.join("zk-data");
        std::fs::create_dir_all(&data).unwrap();
        let cfg = dir.join("zoo.cfg");
        std::fs::write(
            &cfg,
            format!(
                "tickTime=2000\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n\
                 admin.enableServer=false\n4lw.commands.whitelist=*\nmaxSessionTimeout=60000\n",
                data.display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("zk.log")).unwrap();
        let mut cmd = Command::new("java");
        cmd.args([
            "-Dzookeeper.root.logger=INFO,CONSOLE",
            "-Dlog4j.configuration=file:/etc/zookeeper/conf/log4j.properties",
            "-Dzookeeper.extendedTypesEnabled=true",
            &format!("-Dzookeeper.DigestAuthenticationProvider.superDigest={SUPER_DIGEST}"),
        ]);
        cmd.args(extra_props);
        cmd.args([
            "-cp",
            "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-api.jar:\
             /usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar",
            "org.apache.zookeeper.server.quorum.QuorumPeerMain",
        ]);
        cmd.arg(&cfg)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        Zk {
            child: cmd.spawn().expect("spawn java"),
            port,
            log: dir.join("zk.log"),
        }
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        log[log.len().saturating_sub(3000)..].to_string()
    }

    async fn client(&self) -> Client {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match Client::connect(&self.addr(), Duration::from_secs(30)).await {
                Ok(c) => return c,
                Err(e) if Instant::now() > deadline => {
                    panic!("ZooKeeper did not start: {e}\n{}", self.log_tail())
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Zk {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A varied tree: every create mode, data kinds, ACLs, versions, deletes, a multi.
async fn build_tree(c: &Client) {
    let open = acl::open_unsafe();
    let mk = |p: &str, d: &[u8], mode| c.create(p, d, &open, mode);
    c.add_auth("digest", b"bob:secret").await.unwrap();
    mk("/imp", b"top", CreateMode::Persistent).await.unwrap();
    mk("/imp/empty", b"", CreateMode::Persistent).await.unwrap();
    let binary: Vec<u8> = (0..=255u8).collect();
    mk("/imp/bin", &binary, CreateMode::Persistent)
        .await
        .unwrap();
    for _ in 0..3 {
        mk("/imp/seq-", b"s", CreateMode::PersistentSequential)
            .await
            .unwrap();
    }
    mk("/imp/eph", b"mine", CreateMode::Ephemeral)
        .await
        .unwrap();
    mk("/imp/ephseq-", b"", CreateMode::EphemeralSequential)
        .await
        .unwrap();
    c.create_container("/imp/container", b"c", &open)
        .await
        .unwrap();
    mk("/imp/container/child", b"x", CreateMode::Persistent)
        .await
        .unwrap();
    c.create_ttl(
        "/imp/ttl",
        b"t",
        &open,
        CreateMode::PersistentWithTtl,
        3_600_000,
    )
    .await
    .unwrap();
    let digest = vec![
        acl::acl(31, "digest", &acl::digest_id("bob", "secret")),
        acl::acl(1, "world", "anyone"),
    ];
    c.create("/imp/digest", b"d", &digest, CreateMode::Persistent)
        .await
        .unwrap();
    c.create(
        "/imp/creator",
        b"only bob",
        &acl::creator_all(),
        CreateMode::Persistent,
    )
    .await
    .unwrap();
    for v in 0..3 {
        c.set_data("/imp/bin", &binary[v..], v as i32)
            .await
            .unwrap();
    }
    c.set_acl("/imp/empty", &acl::read_unsafe(), 0)
        .await
        .unwrap();
    mk("/imp/gone", b"", CreateMode::Persistent).await.unwrap();
    c.delete("/imp/gone", 0).await.unwrap();
    // Enough txns for several snapshots and log files at snapCount=20.
    mk("/imp/many", b"", CreateMode::Persistent).await.unwrap();
    for i in 0..120 {
        mk(
            &format!("/imp/many/n{i:03}"),
            format!("v{i}").as_bytes(),
            CreateMode::Persistent,
        )
        .await
        .unwrap();
    }
    for i in (0..120).step_by(3) {
        c.delete(&format!("/imp/many/n{i:03}"), -1).await.unwrap();
    }
    // A failed multi is logged as an error txn and changes nothing.
    let _ = c
        .multi(vec![
            Op::Create {
                path: "/imp/multi".into(),
                data: b"m".to_vec(),
                acl: open.clone(),
                mode: CreateMode::Persistent,
            },
            Op::SetData {
                path: "/imp/top-set".into(),
                data: vec![],
                version: -1,
            },
        ])
        .await;
    c.multi(vec![
        Op::Create {
            path: "/imp/multi".into(),
            data: b"m".to_vec(),
            acl: open.clone(),
            mode: CreateMode::Persistent,
        },
        Op::SetData {
            path: "/imp/multi".into(),
            data: b"m2".to_vec(),
            version: 0,
        },
    ])
    .await
    .unwrap();
}

fn count(dir: &Path, prefix: &str) -> usize {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().starts_with(prefix))
            })
            .count()
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn import_matches_what_zookeeper_served() {
    if let Some(why) = java_and_zookeeper() {
        eprintln!("SKIPPED import_matches_what_zookeeper_served: {why}");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut zk = Zk::start(tmp.path(), &["-Dzookeeper.snapCount=20"]);
    let c = zk.client().await;
    build_tree(&c).await;
    let admin = zk.client().await;
    admin.add_auth("digest", SUPER_AUTH).await.unwrap();
    let expected = tree_dump::dump(&admin).await;
    assert!(expected.contains_key("/imp/eph"));
    zk.stop();
    // Keep the sessions' ephemerals: the clients never said goodbye.
    drop((c, admin));
    let v2: PathBuf = tmp.path().join("zk-data/version-2");
    assert!(
        count(&v2, "snapshot.") >= 2,
        "want several ZooKeeper snapshots"
    );
    assert!(count(&v2, "log.") >= 2, "want several ZooKeeper log files");

    let mut s = TestServer::start_with("maxSessionTimeout=60000\n");
    s.stop();
    std::fs::remove_dir_all(s.data_dir()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ringkeeper"))
        .args(["import-zk", "--zk-data-dir"])
        .arg(tmp.path().join("zk-data"))
        .arg("--data-dir")
        .arg(s.data_dir())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "import failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    eprintln!("{said}{}", String::from_utf8_lossy(&out.stderr));
    eprintln!(
        "ZooKeeper files: {:?}",
        std::fs::read_dir(&v2)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect::<Vec<_>>()
    );
    s.start_again();
    let rk = s.client().await;
    rk.add_auth("digest", SUPER_AUTH).await.unwrap();
    let got = tree_dump::dump(&rk).await;
    tree_dump::assert_same(&expected, &got, "ringkeeper after import vs ZooKeeper");
    eprintln!("compared {} znodes", expected.len());

    // From the logs alone (every snapshot removed): all of ZooKeeper's txns go through
    // our apply, and the result must still be what ZooKeeper served.
    let logs_only = tmp.path().join("zk-logs-only/version-2");
    std::fs::create_dir_all(&logs_only).unwrap();
    for e in std::fs::read_dir(&v2).unwrap() {
        let e = e.unwrap();
        if e.file_name().to_string_lossy().starts_with("log.") {
            std::fs::copy(e.path(), logs_only.join(e.file_name())).unwrap();
        }
    }
    let mut s2 = TestServer::start_with("maxSessionTimeout=60000\n");
    s2.stop();
    std::fs::remove_dir_all(s2.data_dir()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ringkeeper"))
        .args(["import-zk", "--zk-data-dir"])
        .arg(tmp.path().join("zk-logs-only"))
        .arg("--data-dir")
        .arg(s2.data_dir())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    s2.start_again();
    let rk2 = s2.client().await;
    rk2.add_auth("digest", SUPER_AUTH).await.unwrap();
    let got = tree_dump::dump(&rk2).await;
    tree_dump::assert_same(
        &expected,
        &got,
        "ringkeeper after a log-only import vs ZooKeeper",
    );
}
