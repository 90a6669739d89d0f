//! The fuzz targets' checked-in inputs, run through the same code the fuzzers run
//! (`ringkeeper::fuzzing`), without a fuzzer:
//!
//! - `fuzz/seeds/<target>/` is the seed corpus, made here from real encodings (the same
//!   encoders the server and its tools use). The test fails if the files differ from what
//!   this code makes now, so seeds cannot drift from the formats. Regenerate them with
//!   `RK_WRITE_FUZZ_SEEDS=1 cargo test --release --test fuzz_seeds`.
//! - `fuzz/regressions/<target>/` holds every input a fuzzer crashed on (minimized), kept
//!   as regression tests: each must now run cleanly.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use ringkeeper::acl;
use ringkeeper::fuzzing::{self, encode_request, TARGETS};
use ringkeeper::proto::codec::{Encode, Writer};
use ringkeeper::proto::opcode as op;
use ringkeeper::proto::records::*;
use ringkeeper::proto::request::{Create, MultiOp, ReadOp, Request};
use ringkeeper::storage::record::encode_into;
use ringkeeper::storage::snapshot;
use ringkeeper::tree::DataTree;
use ringkeeper::txn::{self, CreateTxn, Txn, TxnBody, TxnHeader};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut f = (body.len() as i32).to_be_bytes().to_vec();
    f.extend_from_slice(body);
    f
}

fn connect(read_only: Option<bool>) -> Vec<u8> {
    frame(
        &ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout_ms: 30_000,
            session_id: 0x10,
            passwd: vec![0; 16],
            read_only,
        }
        .to_bytes(),
    )
}

fn request_frame(xid: i32, req: &Request) -> Vec<u8> {
    let (opcode, body) = encode_request(req);
    let mut w = Writer::new();
    RequestHeader { xid, op: opcode }.encode(&mut w);
    w.raw(&body);
    frame(&w.into_inner())
}

fn create(opcode: i32, path: &str, flags: i32, ttl: i64) -> Create {
    Create {
        op: opcode,
        path: path.into(),
        data: Some(b"data".to_vec()),
        acl: acl::open_acl_unsafe(),
        flags,
        ttl,
    }
}

/// One request of every kind the server decodes, with bodies a real client would send.
fn sample_requests() -> Vec<(&'static str, Request)> {
    let path = |p: &str| PathRequest { path: p.into() };
    let watches = |p: &str, kind| WatchesRequest {
        path: p.into(),
        kind,
    };
    vec![
        ("create", Request::Create(create(op::CREATE, "/n", 0, -1))),
        (
            "create2-seq-eph",
            Request::Create(create(op::CREATE2, "/a/s", 3, -1)),
        ),
        (
            "create-acl",
            Request::Create(Create {
                acl: vec![
                    acl::acl(acl::ALL, "digest", &acl::digest("u:p")),
                    acl::acl(acl::READ, "ip", "10.0.0.0/8"),
                    acl::acl(acl::ALL, "auth", ""),
                ],
                ..create(op::CREATE, "/acl", 0, -1)
            }),
        ),
        (
            "create-container",
            Request::Create(create(op::CREATE_CONTAINER, "/cc", 4, -1)),
        ),
        (
            "create-ttl",
            Request::Create(create(op::CREATE_TTL, "/tt", 5, 60_000)),
        ),
        (
            "delete",
            Request::Delete(DeleteRequest {
                path: "/a/b".into(),
                version: -1,
            }),
        ),
        (
            "exists",
            Request::Exists(ExistsRequest {
                path: "/a".into(),
                watch: true,
            }),
        ),
        (
            "get-data",
            Request::GetData(GetDataRequest {
                path: "/a".into(),
                watch: true,
            }),
        ),
        (
            "set-data",
            Request::SetData(SetDataRequest {
                path: "/a".into(),
                data: Some(b"v2".to_vec()),
                version: 0,
            }),
        ),
        ("get-acl", Request::GetAcl(path("/d"))),
        (
            "set-acl",
            Request::SetAcl(SetAclRequest {
                path: "/a".into(),
                acl: acl::read_acl_unsafe(),
                version: -1,
            }),
        ),
        (
            "get-children",
            Request::GetChildren(GetChildrenRequest {
                path: "/".into(),
                watch: true,
            }),
        ),
        (
            "get-children2",
            Request::GetChildren2(GetChildrenRequest {
                path: "/a".into(),
                watch: false,
            }),
        ),
        ("sync", Request::Sync(path("/"))),
        ("ping", Request::Ping),
        (
            "multi",
            Request::Multi(vec![
                MultiOp::Check(CheckVersionRequest {
                    path: "/a".into(),
                    version: 0,
                }),
                MultiOp::Create(create(op::CREATE, "/a/m", 2, -1)),
                MultiOp::Create(create(op::CREATE_CONTAINER, "/mc", 4, -1)),
                MultiOp::Create(create(op::CREATE_TTL, "/mt", 6, 1000)),
                MultiOp::SetData(SetDataRequest {
                    path: "/a".into(),
                    data: None,
                    version: -1,
                }),
                MultiOp::Delete(DeleteRequest {
                    path: "/a/b".into(),
                    version: -1,
                }),
            ]),
        ),
        (
            "multi-read",
            Request::MultiRead(vec![
                ReadOp::GetChildren("/a".into()),
                ReadOp::GetData("/a/b".into()),
                ReadOp::GetData("/missing".into()),
            ]),
        ),
        (
            "reconfig",
            Request::Reconfig(ReconfigRequest {
                joining_servers: "server.4=127.0.0.1:2888:3888".into(),
                leaving_servers: "".into(),
                new_members: "".into(),
                cur_config_id: -1,
            }),
        ),
        (
            "check-watches",
            Request::CheckWatches(watches("/a", op::watcher_type::DATA)),
        ),
        (
            "remove-watches",
            Request::RemoveWatches(watches("/a", op::watcher_type::ANY)),
        ),
        (
            "auth-digest",
            Request::Auth(AuthPacket {
                kind: 0,
                scheme: "digest".into(),
                auth: Some(b"u:p".to_vec()),
            }),
        ),
        (
            "set-watches2",
            Request::SetWatches(SetWatches2 {
                relative_zxid: 5,
                data: vec!["/a".into()],
                exist: vec!["/x".into()],
                child: vec!["/".into()],
                persistent: vec!["/p".into()],
                persistent_recursive: vec!["/".into()],
            }),
        ),
        (
            "sasl",
            Request::Sasl(SaslRequest {
                token: Some(vec![1, 2, 3]),
            }),
        ),
        ("get-ephemerals", Request::GetEphemerals(path("/"))),
        (
            "all-children-number",
            Request::GetAllChildrenNumber(path("/a")),
        ),
        (
            "add-watch",
            Request::AddWatch(AddWatchRequest {
                path: "/a".into(),
                mode: op::add_watch_mode::PERSISTENT_RECURSIVE,
            }),
        ),
        ("who-am-i", Request::WhoAmI),
        ("close-session", Request::CloseSession),
    ]
}

fn request_seeds(out: &mut BTreeMap<String, Vec<u8>>) {
    let all = sample_requests();
    for (i, (name, req)) in all.iter().enumerate() {
        let mut s = connect(Some(false));
        s.extend(request_frame(i as i32 + 1, req));
        out.insert(format!("{i:02}-{name}"), s);
    }
    let mut everything = connect(Some(false));
    for (i, (_, req)) in all.iter().enumerate() {
        everything.extend(request_frame(i as i32 + 1, req));
    }
    out.insert("all".into(), everything);
    // setWatches (101), which only old clients send, has no encoder of its own.
    let mut w = Writer::new();
    RequestHeader {
        xid: 1,
        op: op::SET_WATCHES,
    }
    .encode(&mut w);
    SetWatches {
        relative_zxid: 1,
        data: vec!["/a".into()],
        exist: vec![],
        child: vec!["/".into()],
    }
    .encode(&mut w);
    let mut old = connect(None);
    old.extend(frame(&w.into_inner()));
    out.insert("old-client".into(), old);
    out.insert("ruok".into(), b"ruok".to_vec());
}

fn config_seeds(out: &mut BTreeMap<String, Vec<u8>>) {
    let deploy = include_str!("../tools/deploy/zoo.cfg");
    out.insert("deploy".into(), deploy.as_bytes().to_vec());
    out.insert(
        "minimal".into(),
        b"tickTime=2000\ndataDir=/tmp/zk\nclientPort=2181\n".to_vec(),
    );
    out.insert(
        "conformance".into(),
        b"tickTime=2000\ndataDir=/tmp/d\nclientPort=2181\nclientPortAddress=127.0.0.1\n\
          4lw.commands.whitelist=*\nDigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU=\n\
          extendedTypesEnabled=true\nznode.container.checkIntervalMs=1000\nadmin.enableServer=false\n\
          maxClientCnxns=0\n"
            .to_vec(),
    );
    out.insert(
        "ensemble".into(),
        b"tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir=/var/lib/zk\ndataLogDir=/srv/log\n\
          clientPort=2181\nserver.1=zk1:2888:3888\nserver.2=127.0.0.2:2888:3888:participant\n\
          server.3=127.0.0.3:2888:3888:observer;127.0.0.3:2181\nstandaloneEnabled=false\n"
            .to_vec(),
    );
    out.insert(
        "properties-syntax".into(),
        b"# comment\n! also a comment\n  tickTime : 3000\ndataDir /tmp/a\\\n    b\n\
          clientPort\t=\t2181\r\nkey\\=with\\:escapes=v\\u0041\\t\nmetricsProvider.className=\
          org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider\n\
          metricsProvider.httpPort=7000\nmetricsProvider.httpHost=127.0.0.1\nnetCores=2\n\
          walIo=sync\npreAllocSize=1024\nsnapCount=1000\nautopurge.snapRetainCount=3\n\
          minSessionTimeout=4000\nmaxSessionTimeout=40000\njute.maxbuffer=1048575\n\
          admin.serverPort=8080\nadmin.serverAddress=127.0.0.1\nskipACL=no\nunknownKey=1\n"
            .to_vec(),
    );
    out.insert(
        "latin1".into(),
        b"dataDir=/d\xe9j\xe0\nclientPort=2181\n".to_vec(),
    );
}

fn txn(zxid: i64, session: i64, body: TxnBody) -> Txn {
    Txn {
        header: TxnHeader {
            session_id: session,
            cxid: zxid as i32,
            zxid,
            time: 1_700_000_000_000 + zxid,
        },
        body,
    }
}

fn create_txn(opcode: i32, path: &str, owner: i64) -> TxnBody {
    TxnBody::Create(CreateTxn {
        op: opcode,
        path: path.into(),
        data: Some(Bytes::from_static(b"v")),
        acl: acl::open_acl_unsafe(),
        ephemeral_owner: owner,
        parent_cversion: 1,
    })
}

/// A history touching every txn type, zxids 1..=n.
fn history() -> Vec<Txn> {
    let s = 0x1_0000_0001;
    let bodies = vec![
        (s, TxnBody::CreateSession { timeout_ms: 10_000 }),
        (s, create_txn(op::CREATE, "/a", 0)),
        (s, create_txn(op::CREATE2, "/a/e", s)),
        (
            0,
            create_txn(op::CREATE_CONTAINER, "/c", txn::CONTAINER_EPHEMERAL_OWNER),
        ),
        (
            0,
            create_txn(op::CREATE_TTL, "/t", txn::ttl_ephemeral_owner(5000)),
        ),
        (
            s,
            TxnBody::SetData {
                path: "/a".into(),
                data: Some(Bytes::from_static(b"w")),
                version: 1,
            },
        ),
        (
            s,
            TxnBody::SetAcl {
                path: "/a".into(),
                acl: acl::read_acl_unsafe(),
                version: 1,
            },
        ),
        (
            s,
            TxnBody::Multi(vec![
                TxnBody::Check {
                    path: "/a".into(),
                    version: 2,
                },
                create_txn(op::CREATE, "/a/m", 0),
                TxnBody::Delete {
                    op: op::DELETE,
                    path: "/a/m".into(),
                },
            ]),
        ),
        (
            s,
            TxnBody::Multi(vec![
                TxnBody::Error { err: 0 },
                TxnBody::Error { err: -101 },
            ]),
        ),
        (s, TxnBody::Error { err: -110 }),
        (
            0,
            TxnBody::Delete {
                op: op::DELETE_CONTAINER,
                path: "/c".into(),
            },
        ),
        (
            s,
            TxnBody::CloseSession {
                ephemerals: vec!["/a/e".into()],
            },
        ),
    ];
    bodies
        .into_iter()
        .enumerate()
        .map(|(i, (session, body))| txn(i as i64 + 1, session, body))
        .collect()
}

fn segment(txns: &[Txn], zero_fill: usize) -> Vec<u8> {
    let mut seg = Vec::new();
    for t in txns {
        encode_into(&mut seg, t.zxid(), &t.to_bytes());
    }
    seg.resize(seg.len() + zero_fill, 0);
    seg
}

/// `flags | after | { first_zxid | len | bytes }*`, as `fuzzing::log` reads it.
fn log_input(flags: u8, after: i64, segments: &[(i64, Vec<u8>)]) -> Vec<u8> {
    let mut out = vec![flags];
    out.extend_from_slice(&after.to_be_bytes());
    for (first, bytes) in segments {
        out.extend_from_slice(&first.to_be_bytes());
        out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        out.extend_from_slice(bytes);
    }
    out
}

fn log_seeds(out: &mut BTreeMap<String, Vec<u8>>) {
    let h = history();
    let one = segment(&h, 64);
    out.insert("one-segment".into(), log_input(0, 0, &[(1, one.clone())]));
    out.insert(
        "one-segment-fixcrc".into(),
        log_input(1, 0, &[(1, one.clone())]),
    );
    out.insert(
        "after-snapshot".into(),
        log_input(0, 6, &[(1, one.clone())]),
    );
    let mut torn = segment(&h, 0);
    let cut = torn.len() - 5;
    torn.truncate(cut);
    torn.extend_from_slice(&[0x5a; 9]);
    out.insert("torn-tail".into(), log_input(0, 0, &[(1, torn)]));
    out.insert(
        "two-segments".into(),
        log_input(
            0,
            0,
            &[(1, segment(&h[..5], 16)), (6, segment(&h[5..], 32))],
        ),
    );
    out.insert("empty".into(), log_input(0, 0, &[(1, vec![0; 32])]));
}

/// A small tree with every node kind, several ACLs, null/empty/binary data and sessions.
fn sample_tree() -> DataTree {
    let mut t = DataTree::new();
    for tx in history().into_iter().take(7) {
        t.apply(&tx);
    }
    let z = t.last_zxid();
    t.apply(&txn(
        z + 1,
        0,
        TxnBody::Create(CreateTxn {
            op: op::CREATE,
            path: "/bin".into(),
            data: Some(Bytes::from((0..=255u8).collect::<Vec<_>>())),
            acl: vec![acl::acl(acl::ALL, "digest", &acl::digest("u:p"))],
            ephemeral_owner: 0,
            parent_cversion: -1,
        }),
    ));
    t.apply(&txn(
        z + 2,
        0,
        TxnBody::Create(CreateTxn {
            op: op::CREATE,
            path: "/null".into(),
            data: None,
            acl: acl::open_acl_unsafe(),
            ephemeral_owner: 0,
            parent_cversion: -1,
        }),
    ));
    t
}

fn snapshot_bytes(tree: &DataTree) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("temp dir");
    let w = snapshot::write_snapshot(dir.path(), tree).expect("snapshot written");
    std::fs::read(w.path).expect("snapshot read")
}

fn snapshot_seeds(out: &mut BTreeMap<String, Vec<u8>>) {
    for (name, tree) in [("fresh", DataTree::new()), ("sample", sample_tree())] {
        let file = snapshot_bytes(&tree);
        for flags in [0u8, 1] {
            let mut s = vec![flags];
            s.extend_from_slice(&file);
            let suffix = if flags == 1 { "-fixcrc" } else { "" };
            out.insert(format!("{name}{suffix}"), s);
        }
    }
}

fn seeds(target: &str) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    match target {
        "request" => request_seeds(&mut out),
        "config" => config_seeds(&mut out),
        "log" => log_seeds(&mut out),
        "snapshot" => snapshot_seeds(&mut out),
        other => panic!("no seeds for {other}"),
    }
    out
}

fn files_in(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return BTreeMap::new();
    };
    rd.map(|e| e.expect("dir entry"))
        .filter(|e| e.file_type().expect("file type").is_file())
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name, std::fs::read(e.path()).expect("seed readable"))
        })
        .collect()
}

#[test]
fn checked_in_seeds_match_the_encoders() {
    let write = std::env::var_os("RK_WRITE_FUZZ_SEEDS").is_some();
    for target in TARGETS {
        let dir = fuzz_dir().join("seeds").join(target);
        let want = seeds(target);
        if write {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("seed dir");
            for (name, bytes) in &want {
                std::fs::write(dir.join(name), bytes).expect("seed written");
            }
        }
        let have = files_in(&dir);
        let names = |m: &BTreeMap<String, Vec<u8>>| m.keys().cloned().collect::<Vec<_>>();
        assert_eq!(
            names(&have),
            names(&want),
            "{}: seed files differ from the generated set; rerun with RK_WRITE_FUZZ_SEEDS=1",
            dir.display()
        );
        for (name, bytes) in &want {
            assert!(
                have[name] == *bytes,
                "{}/{name} differs from what the encoders make now; rerun with \
                 RK_WRITE_FUZZ_SEEDS=1",
                dir.display()
            );
        }
    }
}

/// Every seed and every recorded crash input runs cleanly through its target.
#[test]
fn seeds_and_regressions_run_cleanly() {
    let mut ran = 0;
    for target in TARGETS {
        for sub in ["seeds", "regressions"] {
            for (name, bytes) in files_in(&fuzz_dir().join(sub).join(target)) {
                eprintln!("{sub}/{target}/{name}");
                fuzzing::run(target, &bytes);
                ran += 1;
            }
        }
    }
    assert!(ran >= 4 * 3, "only {ran} inputs found under fuzz/");
}

/// The generated seeds are not just well-formed: they reach the code behind the decoders.
#[test]
fn seeds_reach_past_the_decoders() {
    use ringkeeper::storage::recovery::plan_recovery;
    let s = seeds("log");
    let input = &s["one-segment"];
    // 1 flag byte, 8 after, 8 first zxid, 4 length.
    let seg = input[21..].to_vec();
    let files = vec![(1i64, PathBuf::from("log.1"))];
    let (rec, torn) = plan_recovery(&files, 0, |_| Ok(seg.clone())).expect("recovers");
    assert_eq!(rec.txns, history());
    assert!(torn.is_none());

    let s = seeds("snapshot");
    let file = &s["sample"][1..];
    let tree = snapshot::load_from(file, file.len() as u64).expect("loads");
    assert_eq!(tree.node_count(), sample_tree().node_count());
}
