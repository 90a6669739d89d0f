//! Request → txn: validates a write against the current tree in Java's check order
//! (PrepRequestProcessor, spec §6.2) and produces the txn body apply will execute, or an
//! `Error` body with the first failing check's code.
//!
//! Session liveness and quotas are the caller's business; everything else is here.

use bytes::Bytes;

use crate::acl::{self, check_acl, fixup_acl};
use crate::proto::opcode as op;
use crate::proto::records::{
    CheckVersionRequest, DeleteRequest, Id, SetAclRequest, SetDataRequest,
};
use crate::proto::request::{Create, MultiOp, Request};
use crate::proto::ErrorCode;
use crate::tree::path::{is_special_path, parent_of, sequence_suffix, validate_path};
use crate::tree::{DataTree, Node};
use crate::txn::{
    is_container, is_ephemeral, ttl_ephemeral_owner, CreateTxn, SessionId, Txn, TxnBody, TxnHeader,
    CONTAINER_EPHEMERAL_OWNER, MAX_TTL_MS,
};

#[derive(Debug, Clone, Default)]
pub struct PrepSettings {
    /// zookeeper.extendedTypesEnabled: TTL nodes.
    pub extended_types: bool,
    /// zookeeper.skipACL=yes.
    pub skip_acl: bool,
}

pub struct PrepCtx<'a> {
    pub session_id: SessionId,
    /// The connection's identities (ip, digest, super...).
    pub ids: &'a [Id],
    pub settings: &'a PrepSettings,
}

type Prepped = Result<TxnBody, ErrorCode>;

/// The txn for a write request: create*, delete, setData, setACL or multi.
pub fn prep(tree: &DataTree, ctx: &PrepCtx, req: &Request) -> TxnBody {
    let r = match req {
        Request::Create(c) => prep_create(tree, ctx, c),
        Request::Delete(d) => prep_delete(tree, ctx, d),
        Request::SetData(s) => prep_set_data(tree, ctx, s),
        Request::SetAcl(s) => prep_set_acl(tree, ctx, s),
        Request::Multi(ops) => return prep_multi(tree, ctx, ops),
        other => {
            debug_assert!(false, "prep called with a non-txn request: {other:?}");
            Err(ErrorCode::Unimplemented)
        }
    };
    r.unwrap_or_else(error)
}

fn error(e: ErrorCode) -> TxnBody {
    TxnBody::Error { err: e.code() }
}

/// The session's ephemerals at the time the close is prepared (sorted).
pub fn prep_close_session(tree: &DataTree, session_id: SessionId) -> TxnBody {
    TxnBody::CloseSession {
        ephemerals: tree.ephemerals_of(session_id),
    }
}

/// The reaper's delete, if the node can still go: it exists, is not a reserved path, has
/// no children, is not a session's ephemeral, and its parent exists. Like Java, no ACL
/// check and no check that it is still a container or TTL node.
pub fn prep_delete_container(tree: &DataTree, path: &str) -> Option<TxnBody> {
    if !path.contains('/') || path.contains('\0') || is_special_path(path) {
        return None;
    }
    let node = tree.get(path)?;
    if !node.children.is_empty() || is_ephemeral(node.stat.ephemeral_owner) {
        return None;
    }
    tree.get(parent_of(path))?;
    Some(TxnBody::Delete {
        op: op::DELETE_CONTAINER,
        path: path.to_string(),
    })
}

/// CreateMode.fromFlag.
struct Mode {
    ephemeral: bool,
    sequential: bool,
    ttl: bool,
}

fn create_mode(flags: i32) -> Option<Mode> {
    let (ephemeral, sequential, ttl) = match flags {
        0 | 4 => (false, false, false),
        1 => (true, false, false),
        2 => (false, true, false),
        3 => (true, true, false),
        5 => (false, false, true),
        6 => (false, true, true),
        _ => return None,
    };
    Some(Mode {
        ephemeral,
        sequential,
        ttl,
    })
}

/// EphemeralType.get(owner) == NORMAL. Without extended types Java has no TTL type, so a
/// TTL marker (only possible from an imported snapshot) counts as a session owner.
fn is_normal_ephemeral(owner: i64, extended_types: bool) -> bool {
    let extended_marker = (owner as u64) >> 56 == 0xFF;
    owner != 0 && !is_container(owner) && !(extended_types && extended_marker)
}

/// checkAndIncVersion: -1 matches anything; the next version skips -1 (ZOOKEEPER-4743) so
/// a client can always name it.
fn next_version(current: i32, expected: i32) -> Result<i32, ErrorCode> {
    if expected != -1 && expected != current {
        return Err(ErrorCode::BadVersion);
    }
    Ok(match current.wrapping_add(1) {
        -1 => 0,
        v => v,
    })
}

fn require(node: &Node, perm: i32, ctx: &PrepCtx) -> Result<(), ErrorCode> {
    if check_acl(&node.acl, perm, ctx.ids, ctx.settings.skip_acl) {
        Ok(())
    } else {
        Err(ErrorCode::NoAuth)
    }
}

fn existing<'t>(tree: &'t DataTree, path: &str) -> Result<&'t Node, ErrorCode> {
    tree.get(path).ok_or(ErrorCode::NoNode)
}

fn prep_create(tree: &DataTree, ctx: &PrepCtx, c: &Create) -> Prepped {
    let mode = create_mode(c.flags).ok_or(ErrorCode::BadArguments)?;
    if mode.ttl && !ctx.settings.extended_types {
        return Err(ErrorCode::Unimplemented);
    }
    let ttl_ok = if mode.ttl {
        (1..=MAX_TTL_MS).contains(&c.ttl)
    } else {
        // Java lets createTTL with a non-TTL mode and a negative ttl through, then fails
        // to apply the txn it logged; refuse it here instead.
        c.ttl < 0 && c.op != op::CREATE_TTL
    };
    if !ttl_ok {
        return Err(ErrorCode::BadArguments);
    }
    if !c.path.contains('/') || c.path.contains('\0') {
        return Err(ErrorCode::BadArguments);
    }
    let acl = fixup_acl(&c.acl, ctx.ids)?;
    let parent = existing(tree, parent_of(&c.path))?;
    require(parent, acl::CREATE, ctx)?;
    let mut path = c.path.clone();
    if mode.sequential {
        path.push_str(&sequence_suffix(parent.stat.cversion));
    }
    validate_path(&path)?;
    if tree.get(&path).is_some() {
        return Err(ErrorCode::NodeExists);
    }
    if is_normal_ephemeral(parent.stat.ephemeral_owner, ctx.settings.extended_types) {
        return Err(ErrorCode::NoChildrenForEphemerals);
    }
    // The opcode, not the flags, decides container/TTL: Java logs a container txn for any
    // createContainer, and a plain create with CONTAINER flags makes a persistent node.
    let ephemeral_owner = match c.op {
        op::CREATE_CONTAINER => CONTAINER_EPHEMERAL_OWNER,
        op::CREATE_TTL => ttl_ephemeral_owner(c.ttl),
        _ if mode.ephemeral => ctx.session_id,
        _ => 0,
    };
    Ok(TxnBody::Create(CreateTxn {
        op: c.op,
        path,
        data: c.data.clone().map(Bytes::from),
        acl,
        ephemeral_owner,
        parent_cversion: parent.stat.cversion.wrapping_add(1),
    }))
}

fn prep_delete(tree: &DataTree, ctx: &PrepCtx, d: &DeleteRequest) -> Prepped {
    let path = &d.path;
    if !path.contains('/') || path.contains('\0') || is_special_path(path) {
        return Err(ErrorCode::BadArguments);
    }
    let parent = existing(tree, parent_of(path))?;
    require(parent, acl::DELETE, ctx)?;
    let node = existing(tree, path)?;
    next_version(node.stat.version, d.version)?;
    if !node.children.is_empty() {
        return Err(ErrorCode::NotEmpty);
    }
    Ok(TxnBody::Delete {
        op: op::DELETE,
        path: path.clone(),
    })
}

fn prep_set_data(tree: &DataTree, ctx: &PrepCtx, s: &SetDataRequest) -> Prepped {
    validate_path(&s.path)?;
    let node = existing(tree, &s.path)?;
    require(node, acl::WRITE, ctx)?;
    Ok(TxnBody::SetData {
        path: s.path.clone(),
        data: s.data.clone().map(Bytes::from),
        version: next_version(node.stat.version, s.version)?,
    })
}

fn prep_set_acl(tree: &DataTree, ctx: &PrepCtx, s: &SetAclRequest) -> Prepped {
    validate_path(&s.path)?;
    let acl = fixup_acl(&s.acl, ctx.ids)?;
    let node = existing(tree, &s.path)?;
    require(node, acl::ADMIN, ctx)?;
    Ok(TxnBody::SetAcl {
        path: s.path.clone(),
        acl,
        version: next_version(node.stat.aversion, s.version)?,
    })
}

/// Like Java's CheckVersionTxn, the body carries the version *after* the checked one.
fn prep_check(tree: &DataTree, ctx: &PrepCtx, c: &CheckVersionRequest) -> Prepped {
    validate_path(&c.path)?;
    let node = existing(tree, &c.path)?;
    require(node, acl::READ, ctx)?;
    Ok(TxnBody::Check {
        path: c.path.clone(),
        version: next_version(node.stat.version, c.version)?,
    })
}

/// Validates each op against a scratch copy of the tree with the earlier ops applied (so
/// later ops see their effects, sequence counters included). On the first failure the
/// result is all `Error` bodies: 0 before it, its code, then RUNTIMEINCONSISTENCY.
fn prep_multi(tree: &DataTree, ctx: &PrepCtx, ops: &[MultiOp]) -> TxnBody {
    let mut scratch = tree.clone();
    let header = TxnHeader {
        session_id: ctx.session_id,
        zxid: tree.last_zxid() + 1,
        ..Default::default()
    };
    let mut bodies = Vec::with_capacity(ops.len());
    for (i, o) in ops.iter().enumerate() {
        let r = match o {
            MultiOp::Create(c) => prep_create(&scratch, ctx, c),
            MultiOp::Delete(d) => prep_delete(&scratch, ctx, d),
            MultiOp::SetData(s) => prep_set_data(&scratch, ctx, s),
            MultiOp::Check(c) => prep_check(&scratch, ctx, c),
        };
        match r {
            Ok(body) => {
                if i + 1 < ops.len() {
                    scratch.apply(&Txn {
                        header: header.clone(),
                        body: body.clone(),
                    });
                }
                bodies.push(body);
            }
            Err(e) => {
                let mut subs = vec![error(ErrorCode::Ok); i];
                subs.push(error(e));
                subs.resize(ops.len(), error(ErrorCode::RuntimeInconsistency));
                return TxnBody::Multi(subs);
            }
        }
    }
    TxnBody::Multi(bodies)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::{acl, digest, id, open_acl_unsafe, read_acl_unsafe, ALL, READ};
    use crate::proto::records::Acl;
    use crate::proto::request::ReadOp;
    use crate::tree::TxnResult;

    const S: SessionId = 0x55;
    const OPEN: PrepSettings = PrepSettings {
        extended_types: true,
        skip_acl: false,
    };

    struct World {
        tree: DataTree,
        ids: Vec<Id>,
        settings: PrepSettings,
    }

    impl World {
        fn new() -> Self {
            World {
                tree: DataTree::new(),
                ids: vec![id("ip", "127.0.0.1")],
                settings: OPEN,
            }
        }

        fn prep(&self, req: &Request) -> TxnBody {
            let ctx = PrepCtx {
                session_id: S,
                ids: &self.ids,
                settings: &self.settings,
            };
            prep(&self.tree, &ctx, req)
        }

        /// prep + apply; the txn result.
        fn run(&mut self, req: &Request) -> TxnResult {
            let body = self.prep(req);
            let zxid = self.tree.last_zxid() + 1;
            let header = TxnHeader {
                session_id: S,
                cxid: 0,
                zxid,
                time: 5000 + zxid,
            };
            self.tree.apply(&Txn { header, body }).result
        }

        fn err(&self, req: &Request) -> i32 {
            match self.prep(req) {
                TxnBody::Error { err } => err,
                b => panic!("expected an error, got {b:?}"),
            }
        }
    }

    fn create_req(op: i32, path: &str, flags: i32, ttl: i64, acl: Vec<Acl>) -> Create {
        Create {
            op,
            path: path.into(),
            data: Some(b"d".to_vec()),
            acl,
            flags,
            ttl,
        }
    }

    fn create(path: &str, flags: i32) -> Request {
        Request::Create(create_req(op::CREATE2, path, flags, -1, open_acl_unsafe()))
    }

    fn create_acl(path: &str, acl: Vec<Acl>) -> Request {
        Request::Create(create_req(op::CREATE, path, 0, -1, acl))
    }

    fn delete(path: &str, version: i32) -> Request {
        Request::Delete(DeleteRequest {
            path: path.into(),
            version,
        })
    }

    fn set_data(path: &str, version: i32) -> Request {
        Request::SetData(SetDataRequest {
            path: path.into(),
            data: None,
            version,
        })
    }

    fn set_acl(path: &str, acl: Vec<Acl>, version: i32) -> Request {
        Request::SetAcl(SetAclRequest {
            path: path.into(),
            acl,
            version,
        })
    }

    fn created(r: TxnResult) -> String {
        match r {
            TxnResult::Create { path, .. } => path,
            other => panic!("{other:?}"),
        }
    }

    use ErrorCode::{
        BadArguments, BadVersion, InvalidAcl, NoAuth, NoChildrenForEphemerals, NoNode, NodeExists,
        NotEmpty, RuntimeInconsistency, Unimplemented,
    };

    #[test]
    fn create_flags_and_ttl_rules() {
        let mut w = World::new();
        for f in [-1, 7, 100] {
            assert_eq!(w.err(&create("/a", f)), BadArguments.code());
        }
        let ttl = |flags, ttl| {
            Request::Create(create_req(
                op::CREATE_TTL,
                "/t",
                flags,
                ttl,
                open_acl_unsafe(),
            ))
        };
        // TTL modes through create2 carry ttl -1: invalid.
        assert_eq!(w.err(&create("/a", 5)), BadArguments.code());
        assert_eq!(w.err(&ttl(5, 0)), BadArguments.code());
        assert_eq!(w.err(&ttl(5, MAX_TTL_MS + 1)), BadArguments.code());
        assert_eq!(w.err(&ttl(0, 100)), BadArguments.code());
        assert_eq!(w.err(&ttl(0, -1)), BadArguments.code());
        w.settings.extended_types = false;
        assert_eq!(w.err(&ttl(5, 100)), Unimplemented.code());
        assert_eq!(w.err(&create("/a", 6)), Unimplemented.code());
        // Flags are checked before TTL support.
        assert_eq!(w.err(&ttl(9, 100)), BadArguments.code());
        w.settings.extended_types = true;
        match w.prep(&ttl(6, MAX_TTL_MS)) {
            TxnBody::Create(c) => {
                assert_eq!(c.path, "/t0000000000");
                assert_eq!(crate::txn::ttl_of(c.ephemeral_owner), Some(MAX_TTL_MS));
                assert_eq!(c.op, op::CREATE_TTL);
            }
            b => panic!("{b:?}"),
        }
    }

    #[test]
    fn create_check_order() {
        let mut w = World::new();
        assert_eq!(w.err(&create("noslash", 0)), BadArguments.code());
        assert_eq!(w.err(&create("/a\0b", 0)), BadArguments.code());
        // ACL is checked before the parent lookup...
        assert_eq!(w.err(&create_acl("/x/y", vec![])), InvalidAcl.code());
        assert_eq!(
            w.err(&create_acl("/x/y", vec![acl(ALL, "auth", "")])),
            InvalidAcl.code()
        );
        // ...and the parent lookup before path validation: "a/b" has parent "a".
        assert_eq!(w.err(&create("a/b", 0)), NoNode.code());
        assert_eq!(w.err(&create("/x/y", 0)), NoNode.code());
        w.run(&create_acl("/ro", read_acl_unsafe()));
        // NOAUTH wins over the invalid path below a parent we cannot create in.
        assert_eq!(w.err(&create("/ro/..", 0)), NoAuth.code());
        // A trailing '/' makes the parent "/ro/x", which does not exist.
        assert_eq!(w.err(&create("/ro/x/", 0)), NoNode.code());
        assert_eq!(w.err(&create("/ro/x", 0)), NoAuth.code());
        w.run(&create("/p", 0));
        assert_eq!(w.err(&create("/p/..", 0)), BadArguments.code());
        assert_eq!(w.err(&create("/p//x", 0)), NoNode.code());
        assert_eq!(w.err(&create("/p/.", 0)), BadArguments.code());
        assert_eq!(w.err(&create("/p", 0)), NodeExists.code());
        assert_eq!(w.err(&create("/", 0)), NodeExists.code());
        w.run(&create("/e", 1));
        assert_eq!(w.err(&create("/e/c", 0)), NoChildrenForEphemerals.code());
        w.ids.push(id("super", ""));
        assert!(matches!(w.prep(&create("/ro/x", 0)), TxnBody::Create(_)));
    }

    #[test]
    fn create_owner_and_body() {
        let mut w = World::new();
        match w.prep(&create("/e", 3)) {
            TxnBody::Create(c) => {
                assert_eq!(
                    (c.path.as_str(), c.ephemeral_owner, c.parent_cversion),
                    ("/e0000000000", S, 1)
                );
                assert_eq!(c.data.as_deref(), Some(&b"d"[..]));
                assert_eq!(c.acl, open_acl_unsafe());
            }
            b => panic!("{b:?}"),
        }
        let container = |flags| {
            Request::Create(create_req(
                op::CREATE_CONTAINER,
                "/c",
                flags,
                -1,
                open_acl_unsafe(),
            ))
        };
        for flags in [4, 0, 1] {
            match w.prep(&container(flags)) {
                TxnBody::Create(c) => {
                    assert_eq!(
                        (c.op, c.ephemeral_owner),
                        (op::CREATE_CONTAINER, CONTAINER_EPHEMERAL_OWNER)
                    );
                    assert_eq!(c.path, "/c");
                }
                b => panic!("{b:?}"),
            }
        }
        // Sequential flags on createContainer still append the suffix.
        assert_eq!(created(w.run(&container(2))), "/c0000000000");
        assert!(crate::txn::is_container(
            w.tree.get("/c0000000000").unwrap().stat.ephemeral_owner
        ));
        // CONTAINER flags through plain create: a persistent node.
        assert_eq!(created(w.run(&create("/p", 4))), "/p");
        assert_eq!(w.tree.get("/p").unwrap().stat.ephemeral_owner, 0);
        // Containers are not "normal" ephemerals: children allowed.
        assert_eq!(
            created(w.run(&create("/c0000000000/k", 0))),
            "/c0000000000/k"
        );
        // auth expands to the digest identity.
        let d = id("digest", &digest("u:p"));
        w.ids.push(d.clone());
        match w.prep(&create_acl("/z", vec![acl(READ, "auth", "x")])) {
            TxnBody::Create(c) => assert_eq!(c.acl, vec![Acl { perms: READ, id: d }]),
            b => panic!("{b:?}"),
        }
    }

    #[test]
    fn sequence_numbers_count_every_child_create() {
        let mut w = World::new();
        w.run(&create("/q", 0));
        assert_eq!(created(w.run(&create("/q/", 2))), "/q/0000000000");
        assert_eq!(created(w.run(&create("/q/plain", 0))), "/q/plain");
        assert_eq!(created(w.run(&create("/q/n-", 2))), "/q/n-0000000002");
        w.run(&delete("/q/plain", -1));
        assert_eq!(created(w.run(&create("/q/n-", 2))), "/q/n-0000000003");
        // Near the top of the counter the name goes negative, Java-style.
        let bump = TxnBody::Create(CreateTxn {
            op: op::CREATE,
            path: "/q/x".into(),
            data: None,
            acl: open_acl_unsafe(),
            ephemeral_owner: 0,
            parent_cversion: i32::MAX,
        });
        let zxid = w.tree.last_zxid() + 1;
        w.tree.apply(&Txn {
            header: TxnHeader {
                zxid,
                ..Default::default()
            },
            body: bump,
        });
        match w.prep(&create("/q/s", 2)) {
            TxnBody::Create(c) => {
                assert_eq!(c.path, "/q/s2147483647");
                assert_eq!(c.parent_cversion, i32::MIN);
            }
            b => panic!("{b:?}"),
        }
    }

    #[test]
    fn delete_check_order() {
        let mut w = World::new();
        for p in [
            "/",
            "/zookeeper",
            "/zookeeper/quota",
            "/zookeeper/config",
            "nope",
            "/a\0",
        ] {
            assert_eq!(w.err(&delete(p, -1)), BadArguments.code(), "{p}");
        }
        assert_eq!(w.err(&delete("/x/y", -1)), NoNode.code());
        assert_eq!(w.err(&delete("/x", -1)), NoNode.code());
        w.run(&create_acl(
            "/nd",
            vec![acl(ALL & !crate::acl::DELETE, "world", "anyone")],
        ));
        w.run(&create("/nd/c", 0));
        // NOAUTH (DELETE on the parent) before NONODE of the node itself.
        assert_eq!(w.err(&delete("/nd/missing", -1)), NoAuth.code());
        assert_eq!(w.err(&delete("/nd/c", -1)), NoAuth.code());
        // The node's own ACL does not matter.
        assert!(matches!(w.prep(&delete("/nd", -1)), TxnBody::Error { .. }));
        w.run(&create("/a", 0));
        w.run(&create("/a/b", 0));
        // Version is checked before emptiness.
        assert_eq!(w.err(&delete("/a", 3)), BadVersion.code());
        assert_eq!(w.err(&delete("/a", 0)), NotEmpty.code());
        assert_eq!(w.err(&delete("/a/", -1)), NoNode.code());
        assert_eq!(w.run(&delete("/a/b", 0)), TxnResult::Delete);
        assert_eq!(
            w.prep(&delete("/a", -1)),
            TxnBody::Delete {
                op: op::DELETE,
                path: "/a".into()
            }
        );
    }

    #[test]
    fn set_data_and_set_acl_check_order() {
        let mut w = World::new();
        assert_eq!(w.err(&set_data("/a/", -1)), BadArguments.code());
        assert_eq!(w.err(&set_data("a", -1)), BadArguments.code());
        assert_eq!(w.err(&set_data("/a", -1)), NoNode.code());
        w.run(&create_acl("/r", read_acl_unsafe()));
        assert_eq!(w.err(&set_data("/r", 7)), NoAuth.code());
        w.run(&create("/a", 0));
        assert_eq!(w.err(&set_data("/a", 1)), BadVersion.code());
        match w.run(&set_data("/a", 0)) {
            TxnResult::SetData { stat } => assert_eq!((stat.version, stat.data_length), (1, 0)),
            r => panic!("{r:?}"),
        }
        assert!(
            matches!(w.run(&set_data("/a", -1)), TxnResult::SetData { stat } if stat.version == 2)
        );

        // setACL: path, then ACL validity, then NONODE, ADMIN, aversion.
        assert_eq!(w.err(&set_acl("/a/", vec![], -1)), BadArguments.code());
        assert_eq!(w.err(&set_acl("/missing", vec![], -1)), InvalidAcl.code());
        assert_eq!(
            w.err(&set_acl("/missing", open_acl_unsafe(), -1)),
            NoNode.code()
        );
        assert_eq!(w.err(&set_acl("/r", open_acl_unsafe(), 5)), NoAuth.code());
        assert_eq!(
            w.err(&set_acl("/a", open_acl_unsafe(), 5)),
            BadVersion.code()
        );
        match w.run(&set_acl("/a", read_acl_unsafe(), 0)) {
            TxnResult::SetAcl { stat } => assert_eq!((stat.aversion, stat.version), (1, 2)),
            r => panic!("{r:?}"),
        }
        // The config node starts at aversion -1; the next one is 0, not -1.
        w.ids.push(id("super", ""));
        match w.prep(&set_acl("/zookeeper/config", open_acl_unsafe(), -1)) {
            TxnBody::SetAcl { version, .. } => assert_eq!(version, 0),
            b => panic!("{b:?}"),
        }
    }

    #[test]
    fn skip_acl_bypasses_checks() {
        let mut w = World::new();
        w.run(&create_acl("/r", vec![acl(READ, "digest", "x:y")]));
        assert_eq!(w.err(&set_data("/r", -1)), NoAuth.code());
        w.settings.skip_acl = true;
        assert!(matches!(
            w.prep(&set_data("/r", -1)),
            TxnBody::SetData { .. }
        ));
    }

    fn multi(ops: Vec<MultiOp>) -> Request {
        Request::Multi(ops)
    }

    fn m_create(path: &str, flags: i32) -> MultiOp {
        MultiOp::Create(create_req(op::CREATE, path, flags, -1, open_acl_unsafe()))
    }

    fn m_check(path: &str, version: i32) -> MultiOp {
        MultiOp::Check(CheckVersionRequest {
            path: path.into(),
            version,
        })
    }

    #[test]
    fn multi_sees_earlier_ops() {
        let mut w = World::new();
        w.run(&create("/q", 0));
        let req = multi(vec![
            m_create("/q/s-", 2),
            m_create("/q/s-", 2),
            m_create("/n", 1),
            m_check("/n", 0),
            MultiOp::SetData(SetDataRequest {
                path: "/n".into(),
                data: Some(b"z".to_vec()),
                version: 0,
            }),
            MultiOp::Delete(DeleteRequest {
                path: "/q/s-0000000000".into(),
                version: 0,
            }),
        ]);
        let TxnBody::Multi(bodies) = w.prep(&req) else {
            panic!()
        };
        assert_eq!(bodies.len(), 6);
        assert!(
            matches!(&bodies[1], TxnBody::Create(c) if c.path == "/q/s-0000000001" && c.parent_cversion == 2)
        );
        assert_eq!(
            bodies[3],
            TxnBody::Check {
                path: "/n".into(),
                version: 1
            }
        );
        assert!(matches!(&bodies[4], TxnBody::SetData { version: 1, .. }));
        // Prep did not touch the real tree.
        assert!(w.tree.get("/n").is_none());
        let TxnResult::Multi(rs) = w.run(&req) else {
            panic!()
        };
        assert_eq!(rs.len(), 6);
        assert_eq!(w.tree.get("/n").unwrap().stat.ephemeral_owner, S);
        assert!(w.tree.get("/q/s-0000000000").is_none());
        assert!(w.tree.get("/q/s-0000000001").is_some());
    }

    #[test]
    fn failed_multi_shape() {
        let mut w = World::new();
        let req = multi(vec![
            m_create("/a", 0),
            m_create("/a/b", 0),
            m_check("/a/b", 3),
            m_create("/c", 0),
        ]);
        let want = TxnBody::Multi(vec![
            error(ErrorCode::Ok),
            error(ErrorCode::Ok),
            error(BadVersion),
            error(RuntimeInconsistency),
        ]);
        assert_eq!(w.prep(&req), want);
        let before = w.tree.node_count();
        let r = w.run(&req);
        assert_eq!(
            r,
            TxnResult::Multi(vec![
                TxnResult::Error(ErrorCode::Ok),
                TxnResult::Error(ErrorCode::Ok),
                TxnResult::Error(BadVersion),
                TxnResult::Error(RuntimeInconsistency),
            ])
        );
        assert_eq!(w.tree.node_count(), before);
        // Failing first op; same-path double create; empty multi.
        assert_eq!(
            w.prep(&multi(vec![m_check("/zz", -1), m_create("/a", 0)])),
            TxnBody::Multi(vec![error(NoNode), error(RuntimeInconsistency)])
        );
        assert_eq!(
            w.prep(&multi(vec![m_create("/d", 0), m_create("/d", 0)])),
            TxnBody::Multi(vec![error(ErrorCode::Ok), error(NodeExists)])
        );
        assert_eq!(w.prep(&multi(vec![])), TxnBody::Multi(vec![]));
        // A create sub-op re-typed to createTTL by the decoder (ttl -1) fails.
        let ttl = MultiOp::Create(create_req(op::CREATE_TTL, "/t", 5, -1, open_acl_unsafe()));
        assert_eq!(
            w.prep(&multi(vec![ttl])),
            TxnBody::Multi(vec![error(BadArguments)])
        );
    }

    #[test]
    fn close_session_and_container_reaping() {
        let mut w = World::new();
        w.run(&create("/b", 1));
        w.run(&create("/a", 1));
        assert_eq!(
            prep_close_session(&w.tree, S),
            TxnBody::CloseSession {
                ephemerals: vec!["/a".into(), "/b".into()]
            }
        );
        assert_eq!(
            prep_close_session(&w.tree, 999),
            TxnBody::CloseSession { ephemerals: vec![] }
        );
        let cc = |p: &str| {
            Request::Create(create_req(
                op::CREATE_CONTAINER,
                p,
                4,
                -1,
                open_acl_unsafe(),
            ))
        };
        w.run(&cc("/c"));
        w.run(&create("/c/k", 0));
        assert_eq!(prep_delete_container(&w.tree, "/c"), None);
        w.run(&delete("/c/k", -1));
        assert_eq!(
            prep_delete_container(&w.tree, "/c"),
            Some(TxnBody::Delete {
                op: op::DELETE_CONTAINER,
                path: "/c".into()
            })
        );
        assert_eq!(prep_delete_container(&w.tree, "/a"), None);
        assert_eq!(prep_delete_container(&w.tree, "/missing"), None);
        assert_eq!(prep_delete_container(&w.tree, "/zookeeper/quota"), None);
    }

    #[test]
    fn version_wraps_past_minus_one() {
        assert_eq!(next_version(5, -1), Ok(6));
        assert_eq!(next_version(5, 5), Ok(6));
        assert_eq!(next_version(5, 4), Err(BadVersion));
        assert_eq!(next_version(-2, -2), Ok(0));
        assert_eq!(next_version(i32::MAX, -1), Ok(i32::MIN));
    }

    #[test]
    fn non_write_requests_are_refused_in_release() {
        if cfg!(debug_assertions) {
            return;
        }
        let w = World::new();
        assert_eq!(
            w.err(&Request::MultiRead(vec![ReadOp::GetData("/".into())])),
            Unimplemented.code()
        );
    }
}
