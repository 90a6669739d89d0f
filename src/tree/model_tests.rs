//! Model test: random sequences of create (persistent, ephemeral, sequential), delete,
//! setData, multi (with version checks) and closeSession from two sessions run through
//! prep + apply and, side by side, through a deliberately naive `BTreeMap` model of
//! ZooKeeper's semantics written from the spec, not from prep. After every step the two must
//! agree on the outcome (error code, created name) and on every node: data, version,
//! stored and derived cversion, child count, czxid/mzxid/pzxid, times and owner. A failed
//! multi must leave every node as it was. Every txn also goes through its log encoding and
//! the decoded copy is what gets applied, as on replay.
//!
//! proptest shrinks a failing sequence to a short one; the case count can be raised with
//! PROPTEST_CASES for a longer hunt.

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::sample::Index;

use super::{DataTree, TxnResult};
use crate::acl::{id, open_acl_unsafe};
use crate::prep::{prep, prep_close_session, PrepCtx, PrepSettings};
use crate::proto::opcode as op;
use crate::proto::records::{CheckVersionRequest, DeleteRequest, SetDataRequest};
use crate::proto::request::{Create, MultiOp, Request};
use crate::proto::ErrorCode::{
    self, BadArguments, BadVersion, NoChildrenForEphemerals, NoNode, NodeExists, NotEmpty,
    RuntimeInconsistency,
};
use crate::txn::{Txn, TxnBody, TxnHeader, Zxid};

const SESSIONS: [i64; 2] = [0x71, 0x72];
const TIME_BASE: i64 = 1_700_000_000_000;

#[derive(Clone, Debug, PartialEq)]
struct M {
    data: Option<Vec<u8>>,
    version: i32,
    /// Stored cversion: children ever created.
    created: i32,
    owner: i64,
    czxid: Zxid,
    mzxid: Zxid,
    pzxid: Zxid,
}

type Model = BTreeMap<String, M>;

/// Java's lastIndexOf('/') split; "" for a path without '/'.
fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) => "/",
        Some(i) => &path[..i],
        None => "",
    }
}

/// PathUtils.validatePath for the characters these tests generate.
fn valid(path: &str) -> bool {
    path.starts_with('/')
        && (path == "/"
            || !path.ends_with('/')
                && path[1..]
                    .split('/')
                    .all(|c| !c.is_empty() && c != "." && c != ".."))
}

fn children(m: &Model, path: &str) -> i32 {
    m.keys().filter(|k| parent(k) == path && *k != path).count() as i32
}

/// `%010d` of a non-negative counter.
fn seq_name(n: i32) -> String {
    let digits = n.to_string();
    format!("{}{digits}", "0".repeat(10 - digits.len()))
}

fn check_version(expected: i32, actual: i32) -> Result<(), ErrorCode> {
    if expected == -1 || expected == actual {
        Ok(())
    } else {
        Err(BadVersion)
    }
}

/// One op on the model, in ZooKeeper's check order (spec §6.2); Ok carries the created path.
fn model_op(m: &mut Model, o: &MultiOp, session: i64, zxid: Zxid) -> Result<String, ErrorCode> {
    match o {
        MultiOp::Create(c) => {
            let pp = parent(&c.path).to_string();
            let p = m.get(&pp).ok_or(NoNode)?.clone();
            let mut path = c.path.clone();
            if c.flags & 2 != 0 {
                path.push_str(&seq_name(p.created));
            }
            if !valid(&path) {
                return Err(BadArguments);
            }
            if m.contains_key(&path) {
                return Err(NodeExists);
            }
            if p.owner != 0 {
                return Err(NoChildrenForEphemerals);
            }
            let par = m.get_mut(&pp).expect("looked up");
            par.created += 1;
            par.pzxid = zxid;
            m.insert(
                path.clone(),
                M {
                    data: c.data.clone(),
                    version: 0,
                    created: 0,
                    owner: if c.flags & 1 != 0 { session } else { 0 },
                    czxid: zxid,
                    mzxid: zxid,
                    pzxid: zxid,
                },
            );
            Ok(path)
        }
        MultiOp::Delete(d) => {
            let pp = parent(&d.path).to_string();
            m.get(&pp).ok_or(NoNode)?;
            let n = m.get(&d.path).ok_or(NoNode)?;
            check_version(d.version, n.version)?;
            if children(m, &d.path) > 0 {
                return Err(NotEmpty);
            }
            m.remove(&d.path);
            m.get_mut(&pp).expect("looked up").pzxid = zxid;
            Ok(String::new())
        }
        MultiOp::SetData(s) => {
            if !valid(&s.path) {
                return Err(BadArguments);
            }
            let n = m.get_mut(&s.path).ok_or(NoNode)?;
            check_version(s.version, n.version)?;
            n.version += 1;
            n.data = s.data.clone();
            n.mzxid = zxid;
            Ok(String::new())
        }
        MultiOp::Check(c) => {
            if !valid(&c.path) {
                return Err(BadArguments);
            }
            let n = m.get(&c.path).ok_or(NoNode)?;
            check_version(c.version, n.version).map(|()| String::new())
        }
    }
}

// ---- generated steps, resolved against the model when they run ----

#[derive(Clone, Debug)]
enum Target {
    /// A path under /m from a small alphabet (so that ops collide), sometimes malformed.
    Made { parts: Vec<u8>, shape: u8 },
    /// A node the model has right now, other than /m itself.
    Existing(Index),
    /// This path (for the fixed sequences).
    Exact(&'static str),
}

#[derive(Clone, Debug)]
enum Version {
    Any,
    Current,
    Off(i32),
}

#[derive(Clone, Debug)]
enum Step {
    Create {
        target: Target,
        data: Option<Vec<u8>>,
        flags: i32,
        session: usize,
    },
    Delete {
        target: Target,
        version: Version,
        session: usize,
    },
    SetData {
        target: Target,
        data: Option<Vec<u8>>,
        version: Version,
        session: usize,
    },
    Check {
        target: Target,
        version: Version,
    },
    Multi {
        steps: Vec<Step>,
        session: usize,
    },
    Close {
        session: usize,
    },
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        3 => (proptest::collection::vec(0..3u8, 1..4), 0..12u8)
            .prop_map(|(parts, shape)| Target::Made { parts, shape }),
        2 => any::<Index>().prop_map(Target::Existing),
    ]
}

fn version() -> impl Strategy<Value = Version> {
    prop_oneof![
        Just(Version::Any),
        Just(Version::Current),
        (-2..3i32).prop_map(Version::Off)
    ]
}

fn data() -> impl Strategy<Value = Option<Vec<u8>>> {
    proptest::option::of(proptest::collection::vec(any::<u8>(), 0..6))
}

fn simple_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (target(), data(), 0..4i32, 0..2usize).prop_map(|(target, data, flags, session)| {
            Step::Create { target, data, flags, session }
        }),
        2 => (target(), version(), 0..2usize)
            .prop_map(|(target, version, session)| Step::Delete { target, version, session }),
        2 => (target(), data(), version(), 0..2usize).prop_map(
            |(target, data, version, session)| Step::SetData { target, data, version, session }
        ),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    let in_multi = prop_oneof![
        4 => simple_step(),
        1 => (target(), version()).prop_map(|(target, version)| Step::Check { target, version }),
    ];
    prop_oneof![
        12 => simple_step(),
        3 => (proptest::collection::vec(in_multi, 1..5), 0..2usize)
            .prop_map(|(steps, session)| Step::Multi { steps, session }),
        1 => (0..2usize).prop_map(|session| Step::Close { session }),
    ]
}

fn resolve_path(t: &Target, m: &Model) -> String {
    match t {
        Target::Existing(i) => {
            let keys: Vec<&String> = m.keys().filter(|k| *k != "/m").collect();
            if keys.is_empty() {
                return "/m/a".into();
            }
            keys[i.index(keys.len())].clone()
        }
        Target::Exact(p) => p.to_string(),
        Target::Made { parts, shape } => {
            let mut p = "/m".to_string();
            for c in parts {
                p.push('/');
                p.push(['a', 'b', 'c'][*c as usize]);
            }
            match shape {
                0 => format!("{p}/"),
                1 => p.replacen("/m/", "/m//", 1),
                2 => p.replacen("/m/", "/m/./", 1),
                3 => p[1..].to_string(),
                _ => p,
            }
        }
    }
}

fn resolve_version(v: &Version, path: &str, m: &Model) -> i32 {
    let current = m.get(path).map_or(0, |n| n.version);
    match v {
        Version::Any => -1,
        Version::Current => current,
        Version::Off(d) => current + d,
    }
}

/// The concrete request op for a step, given the model as it stands.
fn resolve(s: &Step, m: &Model) -> MultiOp {
    match s {
        Step::Create {
            target,
            data,
            flags,
            ..
        } => MultiOp::Create(Create {
            op: op::CREATE2,
            path: resolve_path(target, m),
            data: data.clone(),
            acl: open_acl_unsafe(),
            flags: *flags,
            ttl: -1,
        }),
        Step::Delete {
            target, version, ..
        } => {
            let path = resolve_path(target, m);
            let version = resolve_version(version, &path, m);
            MultiOp::Delete(DeleteRequest { path, version })
        }
        Step::SetData {
            target,
            data,
            version,
            ..
        } => {
            let path = resolve_path(target, m);
            let version = resolve_version(version, &path, m);
            MultiOp::SetData(SetDataRequest {
                path,
                data: data.clone(),
                version,
            })
        }
        Step::Check { target, version } => {
            let path = resolve_path(target, m);
            let version = resolve_version(version, &path, m);
            MultiOp::Check(CheckVersionRequest { path, version })
        }
        Step::Multi { .. } | Step::Close { .. } => unreachable!("not a single op"),
    }
}

fn session_of(s: &Step) -> usize {
    match s {
        Step::Create { session, .. }
        | Step::Delete { session, .. }
        | Step::SetData { session, .. }
        | Step::Multi { session, .. }
        | Step::Close { session } => *session,
        Step::Check { .. } => 0,
    }
}

fn as_request(o: MultiOp) -> Request {
    match o {
        MultiOp::Create(c) => Request::Create(c),
        MultiOp::Delete(d) => Request::Delete(d),
        MultiOp::SetData(s) => Request::SetData(s),
        MultiOp::Check(_) => unreachable!("checks only run inside a multi"),
    }
}

fn outcome(r: &TxnResult) -> Result<String, ErrorCode> {
    match r {
        TxnResult::Error(e) => Err(*e),
        TxnResult::Create { path, .. } => Ok(path.clone()),
        _ => Ok(String::new()),
    }
}

/// Every node under /m agrees with the model, and nothing else is there.
fn assert_same(tree: &DataTree, m: &Model, step: usize) -> Result<(), TestCaseError> {
    let mut seen = 0;
    let mut stack = vec!["/m".to_string()];
    while let Some(p) = stack.pop() {
        let node = tree.get(&p);
        prop_assert!(node.is_some(), "step {}: {} missing", step, p);
        let node = node.expect("checked");
        let want = m.get(&p);
        prop_assert!(want.is_some(), "step {}: {} unexpected", step, p);
        let want = want.expect("checked");
        seen += 1;
        let stat = node.client_stat();
        let kids = children(m, &p);
        prop_assert_eq!(
            &node.data.as_deref().map(<[u8]>::to_vec),
            &want.data,
            "data of {}",
            p
        );
        prop_assert_eq!(
            stat.version,
            want.version,
            "step {}: version of {}",
            step,
            p
        );
        prop_assert_eq!(
            node.stat.cversion,
            want.created,
            "step {}: cversion of {}",
            step,
            p
        );
        prop_assert_eq!(stat.num_children, kids, "step {}: children of {}", step, p);
        prop_assert_eq!(
            stat.cversion,
            2 * want.created - kids,
            "step {}: derived cversion",
            step
        );
        prop_assert_eq!(
            stat.ephemeral_owner,
            want.owner,
            "step {}: owner of {}",
            step,
            p
        );
        prop_assert_eq!(stat.czxid, want.czxid, "step {}: czxid of {}", step, p);
        prop_assert_eq!(stat.mzxid, want.mzxid, "step {}: mzxid of {}", step, p);
        prop_assert_eq!(stat.pzxid, want.pzxid, "step {}: pzxid of {}", step, p);
        prop_assert_eq!(
            stat.ctime,
            TIME_BASE + want.czxid,
            "step {}: ctime of {}",
            step,
            p
        );
        prop_assert_eq!(
            stat.mtime,
            TIME_BASE + want.mzxid,
            "step {}: mtime of {}",
            step,
            p
        );
        prop_assert_eq!(
            stat.data_length,
            want.data.as_ref().map_or(0, |d| d.len() as i32)
        );
        for c in node.children.iter() {
            stack.push(format!("{p}/{c}"));
        }
    }
    prop_assert_eq!(seen, m.len(), "step {}: node count", step);
    prop_assert_eq!(
        tree.node_count(),
        m.len() + 4,
        "step {}: nodes outside /m",
        step
    );
    for s in SESSIONS {
        let eph: Vec<String> = m
            .iter()
            .filter(|(_, n)| n.owner == s)
            .map(|(k, _)| k.clone())
            .collect();
        prop_assert_eq!(
            tree.ephemerals_of(s),
            eph,
            "step {}: ephemerals of {}",
            step,
            s
        );
    }
    Ok(())
}

struct World {
    tree: DataTree,
    settings: PrepSettings,
}

impl World {
    /// prep for `session`, then the txn's log encoding is decoded and applied (as replay
    /// would), and must equal the txn prep made.
    fn run(&mut self, session: i64, req: Option<&Request>) -> Result<TxnResult, TestCaseError> {
        let ids = vec![id("ip", "127.0.0.1")];
        let ctx = PrepCtx {
            session_id: session,
            ids: &ids,
            settings: &self.settings,
        };
        let body = match req {
            Some(r) => prep(&self.tree, &ctx, r),
            None => prep_close_session(&self.tree, session),
        };
        let zxid = self.tree.last_zxid() + 1;
        let txn = Txn {
            header: TxnHeader {
                session_id: session,
                cxid: 0,
                zxid,
                time: TIME_BASE + zxid,
            },
            body,
        };
        let decoded = Txn::decode(&txn.to_bytes()).expect("txn decodes");
        prop_assert_eq!(&decoded, &txn);
        Ok(self.tree.apply(&decoded).result)
    }
}

/// Runs `steps`, checking each against the model; returns each step's outcome as text.
fn run_steps(steps: &[Step]) -> Result<Vec<String>, TestCaseError> {
    let mut log = Vec::new();
    let mut w = World {
        tree: DataTree::new(),
        settings: PrepSettings::default(),
    };
    let mut m = Model::new();
    for s in SESSIONS {
        w.tree.apply(&Txn {
            header: TxnHeader {
                session_id: s,
                cxid: 0,
                zxid: w.tree.last_zxid() + 1,
                time: TIME_BASE,
            },
            body: TxnBody::CreateSession { timeout_ms: 10_000 },
        });
    }
    let root = Request::Create(Create {
        op: op::CREATE,
        path: "/m".into(),
        data: None,
        acl: open_acl_unsafe(),
        flags: 0,
        ttl: -1,
    });
    let zxid = w.tree.last_zxid() + 1;
    prop_assert_eq!(
        outcome(&w.run(SESSIONS[0], Some(&root))?),
        Ok("/m".to_string())
    );
    m.insert(
        "/m".into(),
        M {
            data: None,
            version: 0,
            created: 0,
            owner: 0,
            czxid: zxid,
            mzxid: zxid,
            pzxid: zxid,
        },
    );

    for (i, s) in steps.iter().enumerate() {
        let session = SESSIONS[session_of(s)];
        let zxid = w.tree.last_zxid() + 1;
        match s {
            Step::Multi { steps: subs, .. } => {
                let mut scratch = m.clone();
                let mut ops = Vec::new();
                let mut want = Vec::new();
                let mut failed = false;
                for sub in subs {
                    // Later ops see earlier ones' effects (names, versions) in the model.
                    let o = resolve(sub, &scratch);
                    let r = if failed {
                        Err(RuntimeInconsistency)
                    } else {
                        model_op(&mut scratch, &o, session, zxid)
                    };
                    failed |= r.is_err();
                    want.push(r);
                    ops.push(o);
                }
                if failed {
                    for r in want.iter_mut().take_while(|r| r.is_ok()) {
                        *r = Err(ErrorCode::Ok);
                    }
                } else {
                    m = scratch;
                }
                let before = w.tree.clone();
                let TxnResult::Multi(rs) = w.run(session, Some(&Request::Multi(ops)))? else {
                    return Err(TestCaseError::fail(format!("step {i}: not a multi result")));
                };
                let got: Vec<_> = rs.iter().map(outcome).collect();
                log.push(format!("{got:?}"));
                prop_assert_eq!(got, want, "step {}: multi outcome", i);
                if failed {
                    // Atomic: a failed multi changes no node at all.
                    for (p, n) in before.walk() {
                        let after = w.tree.get(&p);
                        prop_assert!(after.is_some(), "step {}: failed multi removed {}", i, p);
                        let after = after.expect("checked");
                        prop_assert_eq!(after.stat, n.stat, "step {}: failed multi, {}", i, p);
                        prop_assert_eq!(&after.data, &n.data);
                    }
                    prop_assert_eq!(w.tree.node_count(), before.node_count());
                }
            }
            Step::Close { .. } => {
                prop_assert_eq!(w.run(session, None)?, TxnResult::SessionClosed);
                log.push("closed".into());
                let gone: Vec<String> = m
                    .iter()
                    .filter(|(_, n)| n.owner == session)
                    .map(|(k, _)| k.clone())
                    .collect();
                for p in gone {
                    m.remove(&p);
                    if let Some(par) = m.get_mut(parent(&p)) {
                        par.pzxid = zxid;
                    }
                }
                // The session lives on in the model's world: the next create re-opens it.
                w.tree.apply(&Txn {
                    header: TxnHeader {
                        session_id: session,
                        cxid: 0,
                        zxid: w.tree.last_zxid() + 1,
                        time: TIME_BASE,
                    },
                    body: TxnBody::CreateSession { timeout_ms: 10_000 },
                });
            }
            _ => {
                let o = resolve(s, &m);
                let want = model_op(&mut m, &o, session, zxid);
                let got = outcome(&w.run(session, Some(&as_request(o.clone())))?);
                log.push(format!("{got:?}"));
                prop_assert_eq!(got, want, "step {}: {:?}", i, o);
            }
        }
        assert_same(&w.tree, &m, i)?;
    }
    // The final tree also survives a store + restore with its indexes rebuilt.
    let stored: Vec<_> = w
        .tree
        .walk()
        .into_iter()
        .map(|(p, n)| super::StoredNode {
            path: p.to_string(),
            data: n.data.clone(),
            acl: n.acl.clone(),
            stat: n.stat,
        })
        .collect();
    let restored = DataTree::restore(stored, w.tree.sessions(), w.tree.last_zxid())
        .map_err(TestCaseError::fail)?;
    for s in SESSIONS {
        prop_assert_eq!(restored.ephemerals_of(s), w.tree.ephemerals_of(s));
    }
    assert_same(&restored, &m, steps.len())?;
    Ok(log)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn prep_and_apply_agree_with_a_naive_model(
        steps in proptest::collection::vec(step(), 1..120)
    ) {
        run_steps(&steps)?;
    }
}

/// A few fixed sequences that must keep passing whatever the generator draws.
#[test]
fn fixed_sequences() {
    let made = |parts: &[u8]| Target::Made {
        parts: parts.to_vec(),
        shape: 9,
    };
    let create = |t: Target, flags| Step::Create {
        target: t,
        data: Some(vec![1]),
        flags,
        session: 0,
    };
    // Sequential names count every child ever created, deletes included.
    let seq = vec![
        create(made(&[0]), 2),
        create(made(&[0]), 2),
        Step::Delete {
            target: Target::Exact("/m/a0000000001"),
            version: Version::Any,
            session: 0,
        },
        create(made(&[0]), 3),
        // An ephemeral parent refuses children.
        create(Target::Exact("/m/a0000000002/x"), 0),
        // A failed multi changes nothing, not even the create before the failing check.
        Step::Multi {
            steps: vec![
                create(made(&[1]), 0),
                Step::Check {
                    target: made(&[1]),
                    version: Version::Off(1),
                },
            ],
            session: 1,
        },
        Step::Close { session: 0 },
    ];
    let log = run_steps(&seq).unwrap();
    assert_eq!(
        log,
        [
            r#"Ok("/m/a0000000000")"#,
            r#"Ok("/m/a0000000001")"#,
            r#"Ok("")"#,
            r#"Ok("/m/a0000000002")"#,
            "Err(NoChildrenForEphemerals)",
            "[Err(Ok), Err(BadVersion)]",
            "closed",
        ]
    );
}
