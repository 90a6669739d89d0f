use super::*;
use crate::acl::{self, open_acl_unsafe};
use crate::txn::{ttl_ephemeral_owner, CONTAINER_EPHEMERAL_OWNER};

const S: i64 = 0x1234;

fn txn(zxid: Zxid, body: TxnBody) -> Txn {
    Txn {
        header: TxnHeader {
            session_id: S,
            cxid: 1,
            zxid,
            time: 1000 + zxid,
        },
        body,
    }
}

fn create(path: &str, owner: i64, parent_cversion: i32) -> TxnBody {
    TxnBody::Create(CreateTxn {
        op: op::CREATE2,
        path: path.into(),
        data: Some(Bytes::from_static(b"hello")),
        acl: open_acl_unsafe(),
        ephemeral_owner: owner,
        parent_cversion,
    })
}

fn delete(path: &str) -> TxnBody {
    TxnBody::Delete {
        op: op::DELETE,
        path: path.into(),
    }
}

fn kinds(a: &Applied) -> Vec<(i32, String)> {
    a.events
        .iter()
        .map(|e| (e.kind, e.path.to_string()))
        .collect()
}

#[test]
fn create_sets_stats_parent_and_events() {
    let mut t = DataTree::new();
    let size0 = t.approximate_data_size();
    let a = t.apply(&txn(5, create("/a", 0, 1)));
    let TxnResult::Create { path, stat } = &a.result else {
        panic!("{a:?}")
    };
    assert_eq!(path, "/a");
    assert_eq!((stat.czxid, stat.mzxid, stat.pzxid), (5, 5, 5));
    assert_eq!((stat.ctime, stat.mtime), (1005, 1005));
    assert_eq!((stat.version, stat.cversion, stat.aversion), (0, 0, 0));
    assert_eq!(
        (stat.data_length, stat.num_children, stat.ephemeral_owner),
        (5, 0, 0)
    );
    assert_eq!(
        kinds(&a),
        vec![
            (event::NODE_CREATED, "/a".into()),
            (event::NODE_CHILDREN_CHANGED, "/".into())
        ]
    );
    let root = t.get("/").unwrap();
    assert_eq!((root.stat.cversion, root.stat.pzxid), (1, 5));
    // Derived: 2*1 - 2 children.
    assert_eq!(root.client_stat().cversion, 0);
    assert_eq!(root.stat.mzxid, 0);
    assert_eq!(t.last_zxid(), 5);
    assert_eq!(t.approximate_data_size(), size0 + 2 + 5);

    // Child with a restrictive ACL: each event carries its own node's ACL.
    let mut c = CreateTxn {
        op: op::CREATE,
        path: "/a/b".into(),
        data: None,
        acl: acl::read_acl_unsafe(),
        ephemeral_owner: 0,
        parent_cversion: 1,
    };
    let a = t.apply(&txn(6, TxnBody::Create(c.clone())));
    assert_eq!(*a.events[0].acl, acl::read_acl_unsafe());
    assert_eq!(*a.events[1].acl, open_acl_unsafe());
    assert_eq!(t.get("/a/b").unwrap().data, None);
    assert_eq!(t.approximate_data_size(), size0 + 7 + 4);

    // Creating again: NodeExists and no event.
    c.parent_cversion = 2;
    let a = t.apply(&txn(7, TxnBody::Create(c)));
    assert_eq!(a.result, TxnResult::Error(ErrorCode::NodeExists));
    assert!(a.events.is_empty());
    // ...but Java's replay fix-up raised the parent's counter (plain create only).
    assert_eq!(
        (
            t.get("/a").unwrap().stat.cversion,
            t.get("/a").unwrap().stat.pzxid
        ),
        (2, 7)
    );
    assert_eq!(t.last_zxid(), 7);

    let a = t.apply(&txn(8, create("/x/y", 0, 1)));
    assert_eq!(a.result, TxnResult::Error(ErrorCode::NoNode));
}

#[test]
fn parent_cversion_never_moves_back() {
    let mut t = DataTree::new();
    t.apply(&txn(1, create("/a", 0, 10)));
    let a = t.apply(&txn(2, create("/b", 0, 4)));
    assert!(matches!(a.result, TxnResult::Create { .. }));
    let root = t.get("/").unwrap();
    assert_eq!((root.stat.cversion, root.stat.pzxid), (10, 1));
    // -1 is "current + 1" (old logs).
    t.apply(&txn(3, create("/c", 0, -1)));
    assert_eq!(t.get("/").unwrap().stat.cversion, 11);
}

#[test]
fn delete_updates_parent_pzxid_only() {
    let mut t = DataTree::new();
    t.apply(&txn(1, create("/a", 0, 1)));
    t.apply(&txn(2, create("/a/b", 0, 1)));
    let size = t.approximate_data_size();
    let a = t.apply(&txn(3, delete("/a/b")));
    assert_eq!(a.result, TxnResult::Delete);
    assert_eq!(
        kinds(&a),
        vec![
            (event::NODE_DELETED, "/a/b".into()),
            (event::NODE_CHILDREN_CHANGED, "/a".into())
        ]
    );
    let p = t.get("/a").unwrap();
    assert_eq!((p.stat.cversion, p.stat.pzxid, p.stat.mzxid), (1, 3, 1));
    assert_eq!(p.client_stat().cversion, 2);
    assert_eq!(t.approximate_data_size(), size - 4 - 5);
    assert!(t.get("/a/b").is_none());
    let a = t.apply(&txn(4, delete("/a/b")));
    assert_eq!(a.result, TxnResult::Error(ErrorCode::NoNode));
    assert!(a.events.is_empty());
    assert_eq!(
        t.apply(&txn(5, delete("/"))).result,
        TxnResult::Error(ErrorCode::BadArguments)
    );
    assert_eq!(
        t.apply(&txn(6, delete("nope"))).result,
        TxnResult::Error(ErrorCode::NoNode)
    );
    assert_eq!(t.node_count(), 5);
}

#[test]
fn set_data_and_set_acl() {
    let mut t = DataTree::new();
    t.apply(&txn(1, create("/a", 0, 1)));
    let a = t.apply(&txn(
        2,
        TxnBody::SetData {
            path: "/a".into(),
            data: Some(Bytes::from_static(b"xy")),
            version: 1,
        },
    ));
    let TxnResult::SetData { stat } = &a.result else {
        panic!()
    };
    assert_eq!(
        (
            stat.version,
            stat.mzxid,
            stat.mtime,
            stat.czxid,
            stat.data_length
        ),
        (1, 2, 1002, 1, 2)
    );
    assert_eq!(kinds(&a), vec![(event::NODE_DATA_CHANGED, "/a".into())]);
    let a = t.apply(&txn(
        3,
        TxnBody::SetAcl {
            path: "/a".into(),
            acl: acl::read_acl_unsafe(),
            version: 1,
        },
    ));
    let TxnResult::SetAcl { stat } = a.result else {
        panic!()
    };
    assert_eq!((stat.aversion, stat.mzxid, stat.version), (1, 2, 1));
    assert!(a.events.is_empty());
    assert_eq!(*t.get("/a").unwrap().acl, acl::read_acl_unsafe());
    let miss = TxnBody::SetData {
        path: "/m".into(),
        data: None,
        version: 1,
    };
    assert_eq!(
        t.apply(&txn(4, miss)).result,
        TxnResult::Error(ErrorCode::NoNode)
    );
}

#[test]
fn owner_indexes_and_session_close() {
    let mut t = DataTree::new();
    assert_eq!(
        t.apply(&txn(1, TxnBody::CreateSession { timeout_ms: 4000 }))
            .result,
        TxnResult::SessionCreated
    );
    assert_eq!(t.session_timeout(S), Some(4000));
    t.apply(&txn(2, create("/e1", S, 1)));
    t.apply(&txn(3, create("/c", CONTAINER_EPHEMERAL_OWNER, 2)));
    t.apply(&txn(4, create("/t", ttl_ephemeral_owner(100), 3)));
    t.apply(&txn(5, create("/c/e2", S, 1)));
    t.apply(&txn(6, create("/e0", 99, 4)));
    assert_eq!(t.ephemerals_of(S), vec!["/c/e2", "/e1"]);
    assert_eq!(t.ephemeral_count(), 3);
    assert_eq!(t.container_paths(), vec!["/c"]);
    assert_eq!(t.ttl_paths(), vec!["/t"]);
    // Only /e1 is listed: /c/e2 is still owned and goes too, after it.
    let a = t.apply(&txn(
        7,
        TxnBody::CloseSession {
            ephemerals: vec!["/e1".into()],
        },
    ));
    assert_eq!(a.result, TxnResult::SessionClosed);
    assert_eq!(
        kinds(&a),
        vec![
            (event::NODE_DELETED, "/e1".into()),
            (event::NODE_CHILDREN_CHANGED, "/".into()),
            (event::NODE_DELETED, "/c/e2".into()),
            (event::NODE_CHILDREN_CHANGED, "/c".into()),
        ]
    );
    assert!(t.ephemerals_of(S).is_empty());
    assert_eq!(t.session_timeout(S), None);
    assert_eq!(t.ephemerals_of(99), vec!["/e0"]);
    assert_eq!(t.get("/c").unwrap().stat.pzxid, 7);
    t.apply(&txn(8, delete("/c")));
    t.apply(&txn(9, delete("/t")));
    assert!(t.container_paths().is_empty() && t.ttl_paths().is_empty());
}

#[test]
fn reaper_candidates() {
    let mut t = DataTree::new();
    t.apply(&txn(1, create("/used", CONTAINER_EPHEMERAL_OWNER, 1)));
    t.apply(&txn(2, create("/never", CONTAINER_EPHEMERAL_OWNER, 2)));
    t.apply(&txn(3, create("/used/k", 0, 1)));
    t.apply(&txn(4, create("/ttl", ttl_ephemeral_owner(500), 3)));
    // mtime of /ttl is 1004.
    assert!(t.reap_candidates(1504).is_empty());
    assert_eq!(t.reap_candidates(1505), vec!["/ttl"]);
    t.apply(&txn(5, delete("/used/k")));
    assert_eq!(t.reap_candidates(1505), vec!["/used", "/ttl"]);
    assert_eq!(
        t.reap_candidates_with(5000, 1000),
        vec!["/never", "/used", "/ttl"]
    );
}

#[test]
fn multi_applies_in_order_or_not_at_all() {
    let mut t = DataTree::new();
    let ok = TxnBody::Multi(vec![
        create("/m", 0, 1),
        TxnBody::Check {
            path: "/m".into(),
            version: 1,
        },
        TxnBody::SetData {
            path: "/m".into(),
            data: None,
            version: 1,
        },
    ]);
    let a = t.apply(&txn(1, ok));
    let TxnResult::Multi(rs) = &a.result else {
        panic!()
    };
    assert!(matches!(rs[0], TxnResult::Create { .. }));
    assert_eq!(rs[1], TxnResult::Check);
    assert!(matches!(rs[2], TxnResult::SetData { .. }));
    assert_eq!(
        kinds(&a),
        vec![
            (event::NODE_CREATED, "/m".into()),
            (event::NODE_CHILDREN_CHANGED, "/".into()),
            (event::NODE_DATA_CHANGED, "/m".into()),
        ]
    );
    let before = t.clone();
    let failed = TxnBody::Multi(vec![
        TxnBody::Error { err: 0 },
        TxnBody::Error { err: -101 },
        TxnBody::Error { err: -2 },
    ]);
    let a = t.apply(&txn(2, failed));
    assert_eq!(
        a.result,
        TxnResult::Multi(vec![
            TxnResult::Error(ErrorCode::Ok),
            TxnResult::Error(ErrorCode::NoNode),
            TxnResult::Error(ErrorCode::RuntimeInconsistency),
        ])
    );
    assert!(a.events.is_empty());
    assert_eq!(t.node_count(), before.node_count());
    assert_eq!(t.last_zxid(), 2);
    // Java's own failed-multi shape: real sub-txns around an error change nothing either.
    let java_shape = TxnBody::Multi(vec![
        create("/j", 0, 2),
        TxnBody::Error { err: -110 },
        delete("/m"),
    ]);
    let a = t.apply(&txn(3, java_shape));
    assert_eq!(
        a.result,
        TxnResult::Multi(vec![
            TxnResult::Error(ErrorCode::Ok),
            TxnResult::Error(ErrorCode::NodeExists),
            TxnResult::Error(ErrorCode::RuntimeInconsistency),
        ])
    );
    assert!(t.get("/j").is_none() && t.get("/m").is_some());
    assert_eq!(
        t.apply(&txn(4, TxnBody::Multi(vec![]))).result,
        TxnResult::Multi(vec![])
    );
}

#[test]
fn error_txn_only_moves_zxid() {
    let mut t = DataTree::new();
    let a = t.apply(&txn(9, TxnBody::Error { err: -102 }));
    assert_eq!(a.result, TxnResult::Error(ErrorCode::NoAuth));
    assert_eq!(t.last_zxid(), 9);
    t.apply(&txn(3, TxnBody::Error { err: -102 }));
    assert_eq!(t.last_zxid(), 9);
}

/// Found by the `log` fuzz target: a logged delete of a node that has children (which prep
/// never writes) used to drop the node and leave its children unreachable.
#[test]
fn delete_of_a_node_with_children_is_refused() {
    let mut t = DataTree::new();
    t.apply(&txn(1, create("/a", 0, -1)));
    t.apply(&txn(2, create("/a/b", 0, -1)));
    let before = t.get("/").unwrap().stat;
    let r = t.apply(&txn(3, delete("/a")));
    assert_eq!(r.result, TxnResult::Error(ErrorCode::NotEmpty));
    assert!(r.events.is_empty());
    assert!(t.get("/a").unwrap().children.contains("b"));
    assert_eq!(t.get("/").unwrap().stat, before);
    crate::fuzzing::check_tree(&t);
    // Its children's deletes come first in any real history; then it goes.
    t.apply(&txn(4, delete("/a/b")));
    assert_eq!(t.apply(&txn(5, delete("/a"))).result, TxnResult::Delete);
}

/// Found by the `log` fuzz target: a logged create of "//te" made the root list a child
/// "te" stored under the key "//te" ("/te" listed but missing), and "//" or "/a/" a child
/// named "" that a walk reads as its parent again. Prep refuses such paths; apply now does
/// too, and a malformed delete no longer unlinks another node.
#[test]
fn malformed_paths_are_refused() {
    let mut t = DataTree::new();
    t.apply(&txn(1, create("/a", 0, -1)));
    t.apply(&txn(2, create("/te", 0, -1)));
    for (i, p) in ["//", "/a/", "//te", "//x", "/a//b"]
        .into_iter()
        .enumerate()
    {
        let r = t.apply(&txn(3 + i as i64, create(p, 0, -1)));
        assert_eq!(r.result, TxnResult::Error(ErrorCode::BadArguments), "{p}");
    }
    let r = t.apply(&txn(10, delete("//te")));
    assert_eq!(r.result, TxnResult::Error(ErrorCode::BadArguments));
    assert!(t.get("/").unwrap().children.contains("te"));
    crate::fuzzing::check_tree(&t);
    assert_eq!(t.walk().len(), t.node_count());
}
