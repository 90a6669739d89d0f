//! Every client opcode against the real binary on a real socket: replies, error codes,
//! Stat exactness, multi semantics, path validation and the container/TTL reaper
//! (spec sections 4-6 and 9).

mod common;

use common::TestServer;
use ringkeeper::client::acl::open_unsafe;
use ringkeeper::client::{
    Client, ClientError, CreateMode, ErrorCode, Op, OpResult, ReadOp, ReadResult, Stat,
    WatchedEvent,
};
use ringkeeper::proto::opcode as op;
use ringkeeper::proto::records::{
    CheckVersionRequest, CreateRequest, ErrorResponse, ReconfigRequest, SaslRequest,
};
use ringkeeper::proto::Encode;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;

/// Bound on anything the tests wait for.
const T: Duration = Duration::from_secs(10);

/// Bound on a whole test: a hang fails the test instead of stalling the suite.
const TEST_LIMIT: Duration = Duration::from_secs(60);

async fn bounded<F: std::future::Future<Output = ()>>(f: F) {
    tokio::time::timeout(TEST_LIMIT, f)
        .await
        .expect("test did not finish within its time limit");
}

fn keeper<V: std::fmt::Debug>(r: Result<V, ClientError>) -> ErrorCode {
    match r {
        Err(ClientError::Keeper(c)) => c,
        other => panic!("expected a keeper error, got {other:?}"),
    }
}

/// True when the harness runs Apache ZooKeeper instead of ringkeeper.
fn reference() -> bool {
    std::env::var("RK_TEST_SERVER").as_deref() == Ok("reference")
}

async fn next_event(rx: &mut UnboundedReceiver<WatchedEvent>) -> WatchedEvent {
    tokio::time::timeout(T, rx.recv())
        .await
        .expect("watch event in time")
        .expect("event channel open")
}

async fn mk(c: &Client, path: &str, data: &[u8]) -> String {
    c.create(path, data, &open_unsafe(), CreateMode::Persistent)
        .await
        .unwrap_or_else(|e| panic!("create {path}: {e}"))
}

async fn stat(c: &Client, path: &str) -> Stat {
    c.exists(path, false)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{path} should exist"))
}

async fn gone(c: &Client, path: &str) -> bool {
    c.exists(path, false).await.unwrap().is_none()
}

/// Waits (bounded) for the server to close the connection.
async fn closed_by_server(c: &Client) {
    tokio::time::timeout(T, c.wait_disconnected())
        .await
        .expect("server should close the connection");
}

#[tokio::test]
async fn create_modes_and_create2_stat() {
    bounded(async {
        let s = TestServer::start();
        let c = s.client().await;

        assert_eq!(mk(&c, "/plain", b"abc").await, "/plain");
        let before = c.last_zxid();
        let (path, st) = c
            .create2("/two", b"hello", &open_unsafe(), CreateMode::Persistent)
            .await
            .unwrap();
        assert_eq!(path, "/two");
        let z = c.last_zxid();
        assert!(z > before, "create2 reply zxid {z} should exceed {before}");
        assert_eq!(st.czxid, z, "{st:?}");
        assert_eq!(st.mzxid, z);
        assert_eq!(st.pzxid, z);
        assert_eq!(st.ctime, st.mtime);
        assert!(st.ctime > 1_600_000_000_000, "ctime is epoch ms: {st:?}");
        assert_eq!((st.version, st.cversion, st.aversion), (0, 0, 0));
        assert_eq!((st.data_length, st.num_children), (5, 0));
        assert_eq!(st.ephemeral_owner, 0);
        assert_eq!(stat(&c, "/two").await, st, "exists agrees with create2");

        let (_, eph) = c
            .create2("/eph", b"", &open_unsafe(), CreateMode::Ephemeral)
            .await
            .unwrap();
        assert_eq!(eph.ephemeral_owner, c.session_id());
        assert_eq!(stat(&c, "/eph").await.ephemeral_owner, c.session_id());
        let (_, cont) = c
            .create_container("/cont", b"x", &open_unsafe())
            .await
            .unwrap();
        assert_eq!(cont.ephemeral_owner, 0, "containers report owner 0");
        let (_, ttl) = c
            .create_ttl(
                "/ttl",
                b"",
                &open_unsafe(),
                CreateMode::PersistentWithTtl,
                60_000,
            )
            .await
            .unwrap();
        assert_eq!(ttl.ephemeral_owner, 0, "TTL nodes report owner 0");
        assert_eq!(stat(&c, "/ttl").await.ephemeral_owner, 0);
        let (sp, _) = c
            .create_ttl(
                "/ttlseq-",
                b"",
                &open_unsafe(),
                CreateMode::PersistentSequentialWithTtl,
                60_000,
            )
            .await
            .unwrap();
        assert!(sp.starts_with("/ttlseq-") && sp.len() == "/ttlseq-".len() + 10);

        // Failures.
        let o = open_unsafe();
        assert_eq!(
            keeper(c.create("/plain", b"", &o, CreateMode::Persistent).await),
            ErrorCode::NodeExists
        );
        assert_eq!(
            keeper(c.create("/", b"", &o, CreateMode::Persistent).await),
            ErrorCode::NodeExists
        );
        assert_eq!(
            keeper(c.create("/nope/x", b"", &o, CreateMode::Persistent).await),
            ErrorCode::NoNode
        );
        assert_eq!(
            keeper(
                c.create("/eph/child", b"", &o, CreateMode::Persistent)
                    .await
            ),
            ErrorCode::NoChildrenForEphemerals
        );
        assert_eq!(
            keeper(c.create("/plain/e", b"", &[], CreateMode::Persistent).await),
            ErrorCode::InvalidAcl
        );
        // TTL modes through plain create carry no ttl: BadArguments.
        assert_eq!(
            keeper(
                c.create("/t2", b"", &o, CreateMode::PersistentWithTtl)
                    .await
            ),
            ErrorCode::BadArguments
        );
        // createTTL: ttl out of range, or a non-TTL mode with a ttl.
        for (mode, ttl) in [
            (CreateMode::PersistentWithTtl, 0),
            (CreateMode::PersistentWithTtl, -5),
            (CreateMode::PersistentWithTtl, 0x100_0000_0000),
            (CreateMode::Persistent, 1000),
        ] {
            assert_eq!(
                keeper(c.create_ttl("/t3", b"", &o, mode, ttl).await),
                ErrorCode::BadArguments,
                "{mode:?} ttl {ttl}"
            );
        }
        // Unknown flags.
        let body = CreateRequest {
            path: "/flags".into(),
            data: Some(vec![]),
            acl: o.clone(),
            flags: 7,
        }
        .to_bytes();
        let (h, _) = c.request_raw(op::CREATE, body).await.unwrap();
        assert_eq!(h.err, ErrorCode::BadArguments.code());
        assert!(gone(&c, "/t2").await && gone(&c, "/t3").await && gone(&c, "/flags").await);
    })
    .await
}

#[tokio::test]
async fn ttl_needs_extended_types() {
    bounded(async {
        let s = TestServer::start_with("extendedTypesEnabled=false");
        let c = s.client().await;
        let r = c
            .create_ttl(
                "/t",
                b"",
                &open_unsafe(),
                CreateMode::PersistentWithTtl,
                1000,
            )
            .await;
        assert_eq!(keeper(r), ErrorCode::Unimplemented);
        // The connection survives: this is an error reply, not an unknown opcode.
        assert!(gone(&c, "/t").await);
    })
    .await
}

#[tokio::test]
async fn sequential_suffix_counts_every_child_ever_created() {
    bounded(async {
        let s = TestServer::start();
        let c = s.client().await;
        let o = open_unsafe();
        mk(&c, "/q", b"").await;
        assert_eq!(
            c.create("/q/s-", b"", &o, CreateMode::PersistentSequential)
                .await
                .unwrap(),
            "/q/s-0000000000"
        );
        mk(&c, "/q/plain", b"").await;
        c.delete("/q/plain", -1).await.unwrap();
        mk(&c, "/q/plain2", b"").await;
        // Two non-sequential creates (one since deleted) advanced the counter too.
        assert_eq!(
            c.create("/q/s-", b"", &o, CreateMode::EphemeralSequential)
                .await
                .unwrap(),
            "/q/s-0000000003"
        );
        assert_eq!(
            stat(&c, "/q/s-0000000003").await.ephemeral_owner,
            c.session_id()
        );
        // A trailing slash is allowed for sequential creates: the suffix is the name.
        assert_eq!(
            c.create("/q/", b"", &o, CreateMode::PersistentSequential)
                .await
                .unwrap(),
            "/q/0000000004"
        );
        // ...but not for plain ones.
        assert_eq!(
            keeper(c.create("/q/", b"", &o, CreateMode::Persistent).await),
            ErrorCode::BadArguments
        );
        // Failed creates do not consume a number.
        assert_eq!(
            keeper(c.create("/q/plain2", b"", &o, CreateMode::Persistent).await),
            ErrorCode::NodeExists
        );
        assert_eq!(
            c.create("/q/s-", b"", &o, CreateMode::PersistentSequential)
                .await
                .unwrap(),
            "/q/s-0000000005"
        );
        // The counter is per parent.
        assert_eq!(
            c.create("/q/plain2/s-", b"", &o, CreateMode::PersistentSequential)
                .await
                .unwrap(),
            "/q/plain2/s-0000000000"
        );
    })
    .await
}

#[tokio::test]
async fn delete_version_not_empty_no_node_and_system_nodes() {
    bounded(async {
        let s = TestServer::start();
        let c = s.client().await;
        mk(&c, "/d", b"").await;
        mk(&c, "/d/kid", b"").await;
        c.set_data("/d/kid", b"v1", -1).await.unwrap();
        assert_eq!(keeper(c.delete("/d/kid", 0).await), ErrorCode::BadVersion);
        assert_eq!(keeper(c.delete("/d", -1).await), ErrorCode::NotEmpty);
        assert_eq!(keeper(c.delete("/d/none", -1).await), ErrorCode::NoNode);
        assert_eq!(keeper(c.delete("/none/x", -1).await), ErrorCode::NoNode);
        let parent_before = stat(&c, "/d").await;
        c.delete("/d/kid", 1).await.unwrap();
        let del_zxid = c.last_zxid();
        assert!(gone(&c, "/d/kid").await);
        let parent = stat(&c, "/d").await;
        assert_eq!(parent.pzxid, del_zxid, "delete sets the parent's pzxid");
        assert_eq!(parent.cversion, parent_before.cversion + 1);
        assert_eq!(parent.num_children, 0);
        assert_eq!(parent.mzxid, parent_before.mzxid, "parent mzxid untouched");
        assert_eq!(parent.version, parent_before.version);
        c.delete("/d", 0).await.unwrap();

        for p in ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"] {
            assert_eq!(
                keeper(c.delete(p, -1).await),
                ErrorCode::BadArguments,
                "{p}"
            );
            assert!(!gone(&c, p).await, "{p} must survive");
        }
    })
    .await
}

#[tokio::test]
async fn reserved_nodes_and_root_stat_on_a_fresh_server() {
    bounded(async {
        let s = TestServer::start();
        let c = s.client().await;
        let root = stat(&c, "/").await;
        assert_eq!((root.cversion, root.num_children), (-1, 1), "{root:?}");
        assert_eq!(root.czxid, 0);
        let mut kids = c.get_children("/zookeeper", false).await.unwrap();
        kids.sort();
        assert_eq!(kids, ["config", "quota"]);
        let zk = stat(&c, "/zookeeper").await;
        assert_eq!((zk.cversion, zk.num_children), (-2, 2), "{zk:?}");
        let (acl, cfg) = c.get_acl("/zookeeper/config").await.unwrap();
        assert_eq!(acl, ringkeeper::client::acl::read_unsafe());
        assert_eq!(cfg.aversion, -1);
        let (data, _) = c.get_data("/zookeeper/config", false).await.unwrap();
        assert!(
            data.unwrap_or_default().is_empty(),
            "standalone config is empty"
        );
        assert_eq!(
            c.get_acl("/zookeeper/quota").await.unwrap().0,
            open_unsafe()
        );

        // Child create + delete moves the client-visible cversion by 2 and pzxid each time.
        mk(&c, "/x", b"").await;
        let after_create = stat(&c, "/").await;
        assert_eq!(after_create.cversion, root.cversion + 1);
        assert_eq!(after_create.pzxid, c.last_zxid());
        assert_eq!(after_create.num_children, 2);
        c.delete("/x", -1).await.unwrap();
        let z = c.last_zxid();
        let after_delete = stat(&c, "/").await;
        assert_eq!(after_delete.cversion, root.cversion + 2);
        assert_eq!(after_delete.pzxid, z);
        assert_eq!(after_delete.num_children, 1);
        assert_eq!(after_delete.mzxid, root.mzxid);
    })
    .await
}

#[tokio::test]
async fn exists_and_get_data_null_versus_empty() {
    bounded(async {
        let s = TestServer::start();
        let c = s.client().await;
        assert_eq!(c.exists("/missing", false).await.unwrap(), None);
        assert_eq!(
            keeper(c.get_data("/missing", false).await),
            ErrorCode::NoNode
        );

        // A null data buffer (length -1) stays null.
        let body = CreateRequest {
            path: "/null".into(),
            data: None,
            acl: open_unsafe(),
            flags: 0,
        }
        .to_bytes();
        let (h, _) = c.request_raw(op::CREATE, body).await.unwrap();
        assert_eq!(h.err, 0);
        let (d, st) = c.get_data("/null", false).await.unwrap();
        assert_eq!(d, None, "null data must come back null");
        assert_eq!(st.data_length, 0);

        mk(&c, "/empty", b"").await;
        let (d, st) = c.get_data("/empty", false).await.unwrap();
        assert_eq!(d, Some(vec![]), "empty data must come back empty, not null");
        assert_eq!(st.data_length, 0);

        mk(&c, "/full", &[7u8; 1000]).await;
        let (d, st) = c.get_data("/full", false).await.unwrap();
        assert_eq!(d.unwrap(), vec![7u8; 1000]);
        assert_eq!(st.data_length, 1000);
        assert_eq!(stat(&c, "/full").await, st);
    })
    .await
}

#[tokio::test]
async fn set_data_bumps_version_mzxid_mtime() {
    bounded(async {
        let s = TestServer::start();
        let c = s.client().await;
        let (_, created) = c
            .create2("/s", b"a", &open_unsafe(), CreateMode::Persistent)
            .await
            .unwrap();
        // mtime is wall-clock ms: make sure it can move.
        tokio::time::sleep(Duration::from_millis(5)).await;
        let st = c.set_data("/s", b"bcd", 0).await.unwrap();
        let z = c.last_zxid();
        assert_eq!(st.version, 1);
        assert_eq!(st.mzxid, z);
        assert!(st.mzxid > created.mzxid);
        assert_eq!(st.czxid, created.czxid);
        assert_eq!(st.pzxid, created.pzxid);
        assert_eq!(st.ctime, created.ctime);
        assert!(st.mtime > created.mtime, "{st:?} vs {created:?}");
        assert_eq!(st.data_length, 3);
        assert_eq!(
            keeper(c.set_data("/s", b"x", 0).await),
            ErrorCode::BadVersion
        );
        assert_eq!(
            keeper(c.set_data("/none", b"x", -1).await),
            ErrorCode::NoNode
        );
        let st2 = c.set_data("/s", b"", -1).await.unwrap();
        assert_eq!((st2.version, st2.data_length), (2, 0));
        let (d, got) = c.get_data("/s", false).await.unwrap();
        assert_eq!(d, Some(vec![]));
        assert_eq!(got, st2);
    })
    .await
}

#[tokio::test]
async fn get_and_set_acl_bump_aversion_only() {
    bounded(async {
        let s = TestServer::start();
        let c = s.client().await;
        let (_, created) = c
            .create2("/a", b"", &open_unsafe(), CreateMode::Persistent)
            .await
            .unwrap();
        let (acl, st) = c.get_acl("/a").await.unwrap();
        assert_eq!(acl, open_unsafe());
        assert_eq!(st, created);
        // Keep ADMIN so the later setACL calls get past the ACL check.
        let read = vec![ringkeeper::client::acl::acl(
            ringkeeper::client::acl::READ | ringkeeper::client::acl::ADMIN,
            "world",
            "anyone",
        )];
        let st = c.set_acl("/a", &read, 0).await.unwrap();
        assert_eq!(st.aversion, 1);
        assert_eq!(st.mzxid, created.mzxid, "setACL does not touch mzxid");
        assert_eq!(st.mtime, created.mtime);
        assert_eq!(st.version, 0);
        assert_eq!(c.get_acl("/a").await.unwrap(), (read.clone(), st));
        assert_eq!(
            keeper(c.set_acl("/a", &read, 0).await),
            ErrorCode::BadVersion
        );
        assert_eq!(
            keeper(c.set_acl("/none", &read, -1).await),
            ErrorCode::NoNode
        );
        assert_eq!(
            keeper(c.set_acl("/a", &[], -1).await),
            ErrorCode::InvalidAcl
        );
        assert_eq!(keeper(c.get_acl("/none").await), ErrorCode::NoNode);
    })
    .await
}

#[tokio::test]
async fn children_children2_sync_ping() {
    bounded(async {
        let s = TestServer::start();
        let c = s.client().await;
        mk(&c, "/p", b"").await;
        for n in ["b", "a", "c"] {
            mk(&c, &format!("/p/{n}"), b"").await;
        }
        let mut kids = c.get_children("/p", false).await.unwrap();
        kids.sort();
        assert_eq!(kids, ["a", "b", "c"], "names, not paths");
        let (mut kids2, st) = c.get_children2("/p", false).await.unwrap();
        kids2.sort();
        assert_eq!(kids2, kids);
        assert_eq!(st.num_children, 3);
        assert_eq!(st.cversion, 3);
        assert_eq!(st.pzxid, stat(&c, "/p/c").await.czxid);
        assert_eq!(st, stat(&c, "/p").await);
        assert!(c.get_children("/p/a", false).await.unwrap().is_empty());
        assert_eq!(
            keeper(c.get_children("/none", false).await),
            ErrorCode::NoNode
        );
        assert_eq!(
            keeper(c.get_children2("/none", false).await),
            ErrorCode::NoNode
        );

        assert_eq!(c.sync("/p").await.unwrap(), "/p");
        assert_eq!(c.sync("/whatever").await.unwrap(), "/whatever");
        c.ping().await.unwrap();
        // The ping reply and later replies still line up.
        assert!(!gone(&c, "/p/a").await);
    })
    .await
}

#[tokio::test]
async fn failed_multi_changes_nothing() {
    bounded(async {
        let s = TestServer::start();
        let c = s.client().await;
        let o = open_unsafe();
        mk(&c, "/m", b"orig").await;
        let before = stat(&c, "/m").await;
        let res = c
            .multi(vec![
                Op::create("/m/new", b"", &o, CreateMode::Persistent),
                Op::create("/m/seq-", b"", &o, CreateMode::PersistentSequential),
                Op::set_data("/m", b"changed", -1),
                Op::check("/m", 42),
                Op::delete("/m/new", -1),
                Op::create("/m/other", b"", &o, CreateMode::Persistent),
            ])
            .await
            .expect("a failed multi is still a successful reply");
        assert_eq!(
            res,
            vec![
                OpResult::Error(ErrorCode::Ok),
                OpResult::Error(ErrorCode::Ok),
                OpResult::Error(ErrorCode::Ok),
                OpResult::Error(ErrorCode::BadVersion),
                OpResult::Error(ErrorCode::RuntimeInconsistency),
                OpResult::Error(ErrorCode::RuntimeInconsistency),
            ]
        );
        assert!(gone(&c, "/m/new").await && gone(&c, "/m/other").await);
        let (d, after) = c.get_data("/m", false).await.unwrap();
        assert_eq!(d.unwrap(), b"orig");
        assert_eq!(after, before, "no Stat change at all, counter included");
        assert_eq!(
            c.create("/m/s-", b"", &o, CreateMode::PersistentSequential)
                .await
                .unwrap(),
            "/m/s-0000000000",
            "rolled-back creates did not advance the sequence counter"
        );

        // The first op failing: the rest are RuntimeInconsistency.
        let res = c
            .multi(vec![
                Op::delete("/nope", -1),
                Op::create("/m/z", b"", &o, CreateMode::Persistent),
            ])
            .await
            .unwrap();
        assert_eq!(
            res,
            vec![
                OpResult::Error(ErrorCode::NoNode),
                OpResult::Error(ErrorCode::RuntimeInconsistency)
            ]
        );
        // Validation sees earlier ops of the same multi.
        let res = c
            .multi(vec![
                Op::create("/m/dup", b"", &o, CreateMode::Persistent),
                Op::create("/m/dup", b"", &o, CreateMode::Persistent),
            ])
            .await
            .unwrap();
        assert_eq!(
            res,
            vec![
                OpResult::Error(ErrorCode::Ok),
                OpResult::Error(ErrorCode::NodeExists)
            ]
        );
        assert!(gone(&c, "/m/dup").await && gone(&c, "/m/z").await);
    })
    .await
}

#[tokio::test]
async fn successful_multi_applies_every_op_in_one_txn() {
    bounded(async {
        let s = TestServer::start();
        let c = s.client().await;
        let o = open_unsafe();
        mk(&c, "/m", b"").await;
        mk(&c, "/m/old", b"").await;
        let res = c
            .multi(vec![
                Op::create("/m/a", b"A", &o, CreateMode::Persistent),
                Op::create2("/m/b", b"BB", &o, CreateMode::Persistent),
                Op::set_data("/m/a", b"A2", 0),
                Op::check("/m/a", 1),
                Op::delete("/m/old", 0),
                Op::check("/m", -1),
            ])
            .await
            .unwrap();
        let z = c.last_zxid();
        assert_eq!(res.len(), 6);
        assert_eq!(
            res[0],
            OpResult::Create {
                path: "/m/a".into()
            }
        );
        // 3.9: a create2 sub-op answers with type 15 and the new node's Stat (3.8.0 answers
        // a plain CreateResult).
        match &res[1] {
            OpResult::Create { path } if reference() => assert_eq!(path, "/m/b"),
            OpResult::Create2 { path, stat } => {
                assert_eq!(path, "/m/b");
                assert_eq!(stat.czxid, z, "all sub-ops share the multi's zxid");
                assert_eq!(stat.data_length, 2);
                assert_eq!(*stat, self::stat(&c, "/m/b").await);
            }
            other => panic!("create2 sub-op answered {other:?}"),
        }
        match &res[2] {
            OpResult::SetData { stat } => {
                assert_eq!((stat.version, stat.mzxid, stat.czxid), (1, z, z));
            }
            other => panic!("setData sub-op answered {other:?}"),
        }
        assert_eq!(res[3], OpResult::Check);
        assert_eq!(res[4], OpResult::Delete);
        assert_eq!(res[5], OpResult::Check);
        assert_eq!(c.get_data("/m/a", false).await.unwrap().0.unwrap(), b"A2");
        assert!(gone(&c, "/m/old").await);
        let parent = stat(&c, "/m").await;
        assert_eq!(parent.pzxid, z);
        assert_eq!(parent.num_children, 2);

        // Sequential creates in one multi see each other's increments.
        let res = c
            .multi(vec![
                Op::create("/m/s-", b"", &o, CreateMode::PersistentSequential),
                Op::create("/m/s-", b"", &o, CreateMode::EphemeralSequential),
                Op::create2("/m/s-", b"", &o, CreateMode::PersistentSequential),
            ])
            .await
            .unwrap();
        let paths: Vec<String> = res
            .iter()
            .map(|r| match r {
                OpResult::Create { path } | OpResult::Create2 { path, .. } => path.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        // /m had 3 children created before (old, a, b).
        assert_eq!(
            paths,
            ["/m/s-0000000003", "/m/s-0000000004", "/m/s-0000000005"]
        );

        // An empty multi is legal and returns no results.
        let before = c.last_zxid();
        assert_eq!(c.multi(vec![]).await.unwrap(), vec![]);
        assert!(c.last_zxid() >= before);

        // Container and TTL creates inside a multi.
        let res = c
            .multi(vec![
                Op::CreateTtl {
                    path: "/m/ttl".into(),
                    data: vec![],
                    acl: o.clone(),
                    mode: CreateMode::PersistentWithTtl,
                    ttl: 60_000,
                },
                Op::create2("/m/cont", b"", &o, CreateMode::Container),
            ])
            .await
            .unwrap();
        for (r, want) in res.iter().zip(["/m/ttl", "/m/cont"]) {
            match r {
                OpResult::Create { path } if reference() => assert_eq!(path, want),
                OpResult::Create2 { path, stat } => {
                    assert_eq!(path, want);
                    assert_eq!(stat.ephemeral_owner, 0, "{want} reports owner 0");
                }
                other => panic!("{want}: {other:?}"),
            }
        }
    })
    .await
}

#[tokio::test]
async fn multi_read_mixes_results_and_errors() {
    bounded(async {
        let s = TestServer::start();
        let c = s.client().await;
        mk(&c, "/r", b"data").await;
        mk(&c, "/r/k", b"").await;
        let res = c
            .multi_read(vec![
                ReadOp::GetData("/r".into()),
                ReadOp::GetData("/none".into()),
                ReadOp::GetChildren("/r".into()),
                ReadOp::GetChildren("/none".into()),
            ])
            .await
            .unwrap();
        assert_eq!(res.len(), 4);
        match &res[0] {
            Ok(ReadResult::Data(d, st)) => {
                assert_eq!(d.as_deref(), Some(&b"data"[..]));
                assert_eq!(*st, stat(&c, "/r").await);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(res[1], Err(ErrorCode::NoNode));
        assert_eq!(res[2], Ok(ReadResult::Children(vec!["k".into()])));
        assert_eq!(res[3], Err(ErrorCode::NoNode), "no RuntimeInconsistency");
        assert_eq!(c.multi_read(vec![]).await.unwrap(), vec![]);
    })
    .await
}

#[tokio::test]
async fn get_ephemerals_by_prefix_and_all_children_number() {
    bounded(async {
        let s = TestServer::start();
        let c = s.client().await;
        let other = s.client().await;
        let o = open_unsafe();
        mk(&c, "/e", b"").await;
        mk(&c, "/e/sub", b"").await;
        for p in ["/e/a1", "/e/a2", "/e/b1", "/e/sub/a3", "/eagle"] {
            c.create(p, b"", &o, CreateMode::Ephemeral).await.unwrap();
        }
        other
            .create("/e/a-other", b"", &o, CreateMode::Ephemeral)
            .await
            .unwrap();
        let sorted = |mut v: Vec<String>| {
            v.sort();
            v
        };
        assert_eq!(
            sorted(c.get_ephemerals("/e/a").await.unwrap()),
            ["/e/a1", "/e/a2"],
            "plain string prefix, this session only"
        );
        assert_eq!(
            sorted(c.get_ephemerals("/e").await.unwrap()),
            ["/e/a1", "/e/a2", "/e/b1", "/e/sub/a3", "/eagle"]
        );
        assert_eq!(sorted(c.get_ephemerals("/").await.unwrap()).len(), 5);
        assert!(c.get_ephemerals("/x").await.unwrap().is_empty());
        assert_eq!(other.get_ephemerals("/").await.unwrap(), ["/e/a-other"]);

        // /e has sub, a1, a2, b1, a-other and sub/a3.
        assert_eq!(c.get_all_children_number("/e").await.unwrap(), 6);
        assert_eq!(c.get_all_children_number("/e/a1").await.unwrap(), 0);
        // / counts everything but itself, including /zookeeper, quota and config.
        assert_eq!(c.get_all_children_number("/").await.unwrap(), 7 + 3 + 1);
        assert_eq!(
            keeper(c.get_all_children_number("/none").await),
            ErrorCode::NoNode
        );
    })
    .await
}

#[tokio::test]
async fn who_am_i_reconfig_and_unimplemented_opcodes() {
    bounded(async {
        let s = TestServer::start();
        let c = s.client().await;
        let me = c.who_am_i().await.unwrap();
        assert_eq!(me.len(), 1, "{me:?}");
        assert_eq!(
            (me[0].auth_scheme.as_str(), me[0].user.as_str()),
            ("ip", "127.0.0.1")
        );

        let body = ReconfigRequest {
            joining_servers: "server.2=127.0.0.1:2888:3888;2182".into(),
            leaving_servers: String::new(),
            new_members: String::new(),
            cur_config_id: -1,
        }
        .to_bytes();
        let (h, b) = c.request_raw(op::RECONFIG, body).await.unwrap();
        assert_eq!(h.err, ErrorCode::ReconfigDisabled.code());
        assert!(b.is_empty());
        assert!(c.is_connected(), "an error reply, not a disconnect");
        assert!(!gone(&c, "/zookeeper").await);

        if reference() {
            // Apache ZooKeeper 3.8 hits a NullPointerException on opcode 13 and never
            // answers ("Destruction averted"); the spec'd answer is below.
            return;
        }
        // check (13) outside a multi is not a request type: UNIMPLEMENTED, then close.
        let body = CheckVersionRequest {
            path: "/".into(),
            version: -1,
        }
        .to_bytes();
        let (h, _) = c.request_raw(op::CHECK, body).await.unwrap();
        assert_eq!(h.err, ErrorCode::Unimplemented.code());
        closed_by_server(&c).await;

        for bad in [0, 10, 20, -10, 99, 2000] {
            let c = s.client().await;
            let (h, _) = c.request_raw(bad, vec![]).await.unwrap();
            assert_eq!(h.err, ErrorCode::Unimplemented.code(), "opcode {bad}");
            closed_by_server(&c).await;
        }
    })
    .await
}

#[tokio::test]
async fn sasl_without_a_sasl_server_fails_auth() {
    bounded(async {
        let s = TestServer::start();
        let c = s.client().await;
        let body = SaslRequest {
            token: Some(b"token".to_vec()),
        }
        .to_bytes();
        let (h, b) = c.request_raw(op::SASL, body).await.unwrap();
        if reference() {
            // Java 3.8.0 with no SASL server: err 0 and SetSASLResponse{token: null}.
            assert_eq!((h.err, b), (0, vec![0xff; 4]));
        } else {
            // ringkeeper has no SASL server: the answer of a failed auth packet.
            assert_eq!(h.err, ErrorCode::AuthFailed.code(), "body {b:?}");
            assert!(b.is_empty());
        }
        // Either way the connection stays usable.
        assert!(!gone(&c, "/zookeeper").await);
    })
    .await
}

#[tokio::test]
async fn add_watch_with_a_bad_mode_is_a_marshalling_error() {
    bounded(async {
        let s = TestServer::start();
        let c = s.client().await;
        let body = ringkeeper::proto::records::AddWatchRequest {
            path: "/".into(),
            mode: 7,
        }
        .to_bytes();
        let (h, _) = c.request_raw(op::ADD_WATCH, body).await.unwrap();
        assert_eq!(h.err, ErrorCode::MarshallingError.code());
        // Good mode: ErrorResponse{0} body.
        let body = ringkeeper::proto::records::AddWatchRequest {
            path: "/".into(),
            mode: 0,
        }
        .to_bytes();
        let (h, b) = c.request_raw(op::ADD_WATCH, body).await.unwrap();
        assert_eq!(h.err, 0);
        assert_eq!(b, ErrorResponse { err: 0 }.to_bytes());
    })
    .await
}

#[tokio::test]
async fn invalid_paths_are_bad_arguments() {
    bounded(async {
        let s = TestServer::start();
        let c = s.client().await;
        let o = open_unsafe();
        mk(&c, "/a", b"").await;
        // The parent of each exists (or there is no parent at all), so create gets as far
        // as path validation.
        let bad = [
            "/a/",
            "//",
            "/a/..",
            "/a/.",
            "/a/x\u{1}",
            "/a/x\u{1f}",
            "/a/x\u{7f}",
            "/a/x\u{9f}",
            "/a/x\u{e000}",
            "/a/x\u{fff0}",
            "/a/x\u{1F600}",
            "/a/\0x",
            "a",
            "",
        ];
        for p in bad {
            assert_eq!(
                keeper(c.create(p, b"", &o, CreateMode::Persistent).await),
                ErrorCode::BadArguments,
                "create {p:?}"
            );
            assert_eq!(
                keeper(c.set_data(p, b"", -1).await),
                ErrorCode::BadArguments,
                "setData {p:?}"
            );
            assert_eq!(
                keeper(c.set_acl(p, &o, -1).await),
                ErrorCode::BadArguments,
                "setACL {p:?}"
            );
        }
        // A bad component above the last one: create looks the parent up first (NONODE, as
        // Java does), setData and setACL validate first.
        for p in ["/a//b", "/a/./b", "/a/../b"] {
            assert_eq!(
                keeper(c.create(p, b"", &o, CreateMode::Persistent).await),
                ErrorCode::NoNode,
                "create {p:?}"
            );
            assert_eq!(
                keeper(c.set_data(p, b"", -1).await),
                ErrorCode::BadArguments,
                "setData {p:?}"
            );
            assert_eq!(
                keeper(c.set_acl(p, &o, -1).await),
                ErrorCode::BadArguments,
                "setACL {p:?}"
            );
            assert_eq!(
                c.multi(vec![Op::check(p, -1)]).await.unwrap(),
                vec![OpResult::Error(ErrorCode::BadArguments)],
                "check {p:?} validates the path"
            );
        }
        // Dots inside names and other unicode are fine.
        for p in [
            "/a/.x",
            "/a/..x",
            "/a/x.",
            "/a/\u{e9}",
            "/a/\u{a0}",
            "/a/\u{4e2d}\u{ffef}",
        ] {
            mk(&c, p, b"").await;
        }
        // Reads of invalid paths just find nothing.
        assert_eq!(keeper(c.get_data("/a/", false).await), ErrorCode::NoNode);
        // Sequential: the suffix is appended before validation.
        assert_eq!(
            keeper(
                c.create("//", b"", &o, CreateMode::PersistentSequential)
                    .await
            ),
            ErrorCode::BadArguments
        );
        assert!(c
            .create("/a/", b"", &o, CreateMode::PersistentSequential)
            .await
            .unwrap()
            .starts_with("/a/00000000"));
    })
    .await
}

/// 3.9: a notification's ReplyHeader.zxid is the zxid of the txn that fired it (3.8: -1).
#[tokio::test]
async fn watch_notification_carries_the_triggering_zxid() {
    bounded(async {
        let s = TestServer::start();
        let w = s.client().await;
        let mut rx = w.events().unwrap();
        let m = s.client().await;
        mk(&m, "/z", b"").await;
        w.get_data("/z", true).await.unwrap();
        w.get_children("/z", true).await.unwrap();
        // Unrelated writes so the zxids of interest are not simply "the latest".
        let st = m.set_data("/z", b"1", -1).await.unwrap();
        mk(&m, "/other", b"").await;
        mk(&m, "/z/k", b"").await;
        let kz = m.last_zxid();
        mk(&m, "/other2", b"").await;
        let e1 = next_event(&mut rx).await;
        let e2 = next_event(&mut rx).await;
        let want = if reference() {
            (-1, -1)
        } else {
            (st.mzxid, kz)
        };
        assert_eq!((e1.path.as_str(), e2.path.as_str()), ("/z", "/z"));
        assert_eq!((e1.zxid, e2.zxid), want);
    })
    .await
}

/// Container and TTL reaping in one test (the reaper interval is 1 s in the harness), so
/// the waiting is shared. Every expectation is an awaited NodeDeleted event, and the
/// "not reaped" checks are made after a later reap proves a full pass has run.
#[tokio::test]
async fn container_and_ttl_reaping() {
    bounded(async {
        let s = TestServer::start();
        let c = s.client().await;
        let mut rx = c.events().unwrap();
        let o = open_unsafe();
        c.create_container("/c1", b"", &o).await.unwrap();
        c.create_container("/c2", b"", &o).await.unwrap();
        c.create_container("/never", b"", &o).await.unwrap();
        mk(&c, "/c1/kid", b"").await;
        mk(&c, "/c2/kid", b"").await;
        let ttl = |p: &str, ms| c.create_ttl(p, b"", &o, CreateMode::PersistentWithTtl, ms);
        ttl("/ttl", 300).await.unwrap();
        ttl("/ttl-busy", 300).await.unwrap();
        ttl("/ttl-long", 600_000).await.unwrap();
        mk(&c, "/ttl-busy/kid", b"").await;
        for p in ["/c1", "/ttl"] {
            assert!(c.exists(p, true).await.unwrap().is_some());
        }

        c.delete("/c1/kid", -1).await.unwrap();
        let mut deleted = vec![];
        for _ in 0..2 {
            let ev = next_event(&mut rx).await;
            assert_eq!(ev.kind, ringkeeper::client::EventType::NodeDeleted);
            deleted.push(ev.path);
        }
        deleted.sort();
        assert_eq!(deleted, ["/c1", "/ttl"]);

        // A second container emptied now is reaped by a later pass; by then the never-used
        // container and the TTL node with a child have been looked at at least once more.
        assert!(c.exists("/c2", true).await.unwrap().is_some());
        c.delete("/c2/kid", -1).await.unwrap();
        let ev = next_event(&mut rx).await;
        assert_eq!(ev.path, "/c2");
        for p in ["/never", "/ttl-busy", "/ttl-long"] {
            assert!(!gone(&c, p).await, "{p} must not be reaped");
        }
    })
    .await
}
