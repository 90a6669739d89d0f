//! Model test: random create/delete/setData/multi/closeSession sequences run through
//! prep + apply and, in parallel, through a deliberately naive `BTreeMap` model. After
//! every step the node set, versions, child counts and derived cversions must agree.

use std::collections::BTreeMap;

use super::path::{parent_of, sequence_suffix};
use super::{DataTree, TxnResult};
use crate::acl::{id, open_acl_unsafe};
use crate::prep::{prep, prep_close_session, PrepCtx, PrepSettings};
use crate::proto::opcode as op;
use crate::proto::records::{DeleteRequest, SetDataRequest};
use crate::proto::request::{Create, MultiOp, Request};
use crate::proto::ErrorCode;
use crate::rng::Rng;
use crate::txn::{Txn, TxnBody, TxnHeader};

const SESSION: i64 = 0x77;

#[derive(Clone, Debug)]
struct M {
    version: i32,
    /// Stored cversion: children ever created.
    created: i32,
    ephemeral: bool,
}

type Model = BTreeMap<String, M>;

fn children(m: &Model, path: &str) -> usize {
    m.keys()
        .filter(|k| parent_of(k) == path && *k != path)
        .count()
}

/// Applies one op to the model; Err is the code ZooKeeper must report.
fn model_op(m: &mut Model, o: &MultiOp) -> Result<(), ErrorCode> {
    match o {
        MultiOp::Create(c) => {
            let parent = parent_of(&c.path).to_string();
            let p = m.get(&parent).ok_or(ErrorCode::NoNode)?.clone();
            let mut path = c.path.clone();
            if c.flags & 2 != 0 {
                path.push_str(&sequence_suffix(p.created));
            }
            if m.contains_key(&path) {
                return Err(ErrorCode::NodeExists);
            }
            if p.ephemeral {
                return Err(ErrorCode::NoChildrenForEphemerals);
            }
            m.get_mut(&parent).unwrap().created += 1;
            let node = M {
                version: 0,
                created: 0,
                ephemeral: c.flags & 1 != 0,
            };
            m.insert(path, node);
        }
        MultiOp::Delete(d) => {
            m.get(parent_of(&d.path)).ok_or(ErrorCode::NoNode)?;
            let n = m.get(&d.path).ok_or(ErrorCode::NoNode)?;
            if d.version != -1 && d.version != n.version {
                return Err(ErrorCode::BadVersion);
            }
            if children(m, &d.path) > 0 {
                return Err(ErrorCode::NotEmpty);
            }
            m.remove(&d.path);
        }
        MultiOp::SetData(s) => {
            let n = m.get_mut(&s.path).ok_or(ErrorCode::NoNode)?;
            if s.version != -1 && s.version != n.version {
                return Err(ErrorCode::BadVersion);
            }
            n.version += 1;
        }
        MultiOp::Check(_) => unreachable!("not generated"),
    }
    Ok(())
}

fn random_path(r: &mut Rng) -> String {
    let depth = 1 + r.below(3);
    let mut p = "/m".to_string();
    for _ in 0..depth {
        p.push('/');
        p.push(["a", "b", "c"][r.below(3) as usize].chars().next().unwrap());
    }
    p
}

fn random_op(r: &mut Rng, m: &Model) -> MultiOp {
    let path = random_path(r);
    let actual = m.get(&path).map_or(0, |n| n.version);
    let version = match r.below(3) {
        0 => -1,
        1 => actual,
        _ => actual + 1,
    };
    match r.below(3) {
        0 => MultiOp::Create(Create {
            op: op::CREATE,
            path,
            data: Some(vec![1, 2, 3]),
            acl: open_acl_unsafe(),
            flags: [0, 0, 1, 2, 3][r.below(5) as usize],
            ttl: -1,
        }),
        1 => MultiOp::Delete(DeleteRequest { path, version }),
        _ => MultiOp::SetData(SetDataRequest {
            path,
            data: None,
            version,
        }),
    }
}

fn request(o: MultiOp) -> Request {
    match o {
        MultiOp::Create(c) => Request::Create(c),
        MultiOp::Delete(d) => Request::Delete(d),
        MultiOp::SetData(s) => Request::SetData(s),
        MultiOp::Check(_) => unreachable!(),
    }
}

fn outcome(r: &TxnResult) -> Result<(), ErrorCode> {
    match r {
        TxnResult::Error(e) => Err(*e),
        _ => Ok(()),
    }
}

fn assert_same(tree: &DataTree, m: &Model, step: usize) {
    let mut seen = 0;
    let mut stack = vec!["/m".to_string()];
    while let Some(p) = stack.pop() {
        let node = tree
            .get(&p)
            .unwrap_or_else(|| panic!("step {step}: {p} missing"));
        let want = m
            .get(&p)
            .unwrap_or_else(|| panic!("step {step}: {p} unexpected"));
        seen += 1;
        let stat = node.client_stat();
        let kids = children(m, &p) as i32;
        assert_eq!(stat.version, want.version, "step {step}: version of {p}");
        assert_eq!(
            node.stat.cversion, want.created,
            "step {step}: cversion of {p}"
        );
        assert_eq!(stat.num_children, kids, "step {step}: children of {p}");
        assert_eq!(
            stat.cversion,
            2 * want.created - kids,
            "step {step}: derived cversion of {p}"
        );
        assert_eq!(
            stat.ephemeral_owner != 0,
            want.ephemeral,
            "step {step}: owner of {p}"
        );
        for c in node.children.iter() {
            stack.push(format!("{p}/{c}"));
        }
    }
    assert_eq!(seen, m.len(), "step {step}: node count");
    let eph: Vec<String> = m
        .iter()
        .filter(|(_, n)| n.ephemeral)
        .map(|(k, _)| k.clone())
        .collect();
    assert_eq!(
        tree.ephemerals_of(SESSION),
        eph,
        "step {step}: ephemeral index"
    );
}

fn run_seed(seed: u64, steps: usize) {
    let mut r = Rng::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut tree = DataTree::new();
    let settings = PrepSettings::default();
    let ids = vec![id("ip", "127.0.0.1")];
    let ctx = PrepCtx {
        session_id: SESSION,
        ids: &ids,
        settings: &settings,
    };
    let mut m = Model::new();
    m.insert(
        "/m".into(),
        M {
            version: 0,
            created: 0,
            ephemeral: false,
        },
    );
    let apply = |tree: &mut DataTree, body: TxnBody| {
        let zxid = tree.last_zxid() + 1;
        let header = TxnHeader {
            session_id: SESSION,
            cxid: 0,
            zxid,
            time: zxid,
        };
        tree.apply(&Txn { header, body }).result
    };
    let root = Request::Create(Create {
        op: op::CREATE,
        path: "/m".into(),
        data: None,
        acl: open_acl_unsafe(),
        flags: 0,
        ttl: -1,
    });
    let body = prep(&tree, &ctx, &root);
    outcome(&apply(&mut tree, body)).unwrap();

    for step in 0..steps {
        match r.below(10) {
            0 => {
                let ops: Vec<MultiOp> =
                    (0..1 + r.below(3)).map(|_| random_op(&mut r, &m)).collect();
                let mut scratch = m.clone();
                let mut want = Vec::new();
                let mut failed = false;
                for o in &ops {
                    if failed {
                        want.push(Err(ErrorCode::RuntimeInconsistency));
                        continue;
                    }
                    match model_op(&mut scratch, o) {
                        Ok(()) => want.push(Ok(())),
                        Err(e) => {
                            failed = true;
                            want.push(Err(e));
                        }
                    }
                }
                if failed {
                    for w in want.iter_mut().take_while(|w| w.is_ok()) {
                        *w = Err(ErrorCode::Ok);
                    }
                } else {
                    m = scratch;
                }
                let body = prep(&tree, &ctx, &Request::Multi(ops));
                let TxnResult::Multi(rs) = apply(&mut tree, body) else {
                    panic!("step {step}: multi result")
                };
                let got: Vec<_> = rs.iter().map(outcome).collect();
                assert_eq!(got, want, "step {step}: multi outcome");
            }
            1 => {
                let body = prep_close_session(&tree, SESSION);
                apply(&mut tree, body);
                m.retain(|_, n| !n.ephemeral);
            }
            _ => {
                let o = random_op(&mut r, &m);
                let want = model_op(&mut m, &o);
                let body = prep(&tree, &ctx, &request(o.clone()));
                let got = outcome(&apply(&mut tree, body));
                assert_eq!(got, want, "step {step}: {o:?}");
            }
        }
        assert_same(&tree, &m, step);
    }
}

#[test]
fn prep_and_apply_agree_with_a_naive_model() {
    for seed in 1..=40 {
        run_seed(seed, 400);
    }
}
