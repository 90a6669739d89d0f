//! Read operations as FinalRequestProcessor answers them, each a pure function of one tree
//! version and the caller's identities. Paths are not validated (an invalid path simply
//! names no node), except for exists' NUL check.

use bytes::Bytes;

use super::{DataTree, Node};
use crate::acl::{self, check_acl, mask_digests};
use crate::proto::records::{Acl, Id, Stat};
use crate::proto::ErrorCode;
use crate::txn::SessionId;

pub use crate::proto::request::ReadOp;

/// One successful multiRead entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadResult {
    Children(Vec<String>),
    Data(Option<Bytes>, Stat),
}

/// The node, or NONODE; then `perm` on its ACL, or NOAUTH.
fn readable<'t>(
    tree: &'t DataTree,
    ids: &[Id],
    skip_acl: bool,
    path: &str,
    perm: i32,
) -> Result<&'t Node, ErrorCode> {
    let node = tree.get(path).ok_or(ErrorCode::NoNode)?;
    if !check_acl(&node.acl, perm, ids, skip_acl) {
        return Err(ErrorCode::NoAuth);
    }
    Ok(node)
}

pub fn get_data(
    tree: &DataTree,
    ids: &[Id],
    skip_acl: bool,
    path: &str,
) -> Result<(Option<Bytes>, Stat), ErrorCode> {
    let n = readable(tree, ids, skip_acl, path, acl::READ)?;
    Ok((n.data.clone(), n.client_stat()))
}

/// READ is only required when the node exists. The caller registers an exist watch on
/// NONODE but not on BADARGUMENTS/NOAUTH.
pub fn exists(tree: &DataTree, ids: &[Id], skip_acl: bool, path: &str) -> Result<Stat, ErrorCode> {
    if path.contains('\0') {
        return Err(ErrorCode::BadArguments);
    }
    readable(tree, ids, skip_acl, path, acl::READ).map(Node::client_stat)
}

/// Child names sorted (Java's order is unspecified), plus the parent's stat.
pub fn get_children(
    tree: &DataTree,
    ids: &[Id],
    skip_acl: bool,
    path: &str,
) -> Result<(Vec<String>, Stat), ErrorCode> {
    let n = readable(tree, ids, skip_acl, path, acl::READ)?;
    Ok((
        n.children.iter().map(|c| c.to_string()).collect(),
        n.client_stat(),
    ))
}

/// Needs READ or ADMIN; without ADMIN the digest hashes are masked.
pub fn get_acl(
    tree: &DataTree,
    ids: &[Id],
    skip_acl: bool,
    path: &str,
) -> Result<(Vec<Acl>, Stat), ErrorCode> {
    let n = readable(tree, ids, skip_acl, path, acl::READ | acl::ADMIN)?;
    let list = if check_acl(&n.acl, acl::ADMIN, ids, skip_acl) {
        n.acl.to_vec()
    } else {
        mask_digests(&n.acl)
    };
    Ok((list, n.client_stat()))
}

/// Descendants at every depth. For "/" that is every node but the root (Java: map size
/// minus its two root aliases), so the /zookeeper subtree counts.
pub fn all_children_number(
    tree: &DataTree,
    ids: &[Id],
    skip_acl: bool,
    path: &str,
) -> Result<i32, ErrorCode> {
    let n = readable(tree, ids, skip_acl, path, acl::READ)?;
    if path == "/" {
        return Ok(tree.node_count() as i32 - 1);
    }
    if path.is_empty() {
        // Java counts keys starting with "/" here: every node.
        return Ok(tree.node_count() as i32);
    }
    let mut count = 0i32;
    let mut stack: Vec<(String, &Node)> = vec![(path.to_string(), n)];
    while let Some((p, node)) = stack.pop() {
        for c in node.children.iter() {
            let child_path = format!("{p}/{c}");
            if let Some(child) = tree.get(&child_path) {
                count += 1;
                stack.push((child_path, child));
            }
        }
    }
    Ok(count)
}

/// The calling session's ephemerals whose path string-starts-with `prefix`; a blank or
/// "/" prefix (after Java's trim) means all. Sorted. No ACL check.
pub fn get_ephemerals(tree: &DataTree, session: SessionId, prefix: &str) -> Vec<String> {
    let trimmed = prefix.trim_matches(|c: char| c <= ' ');
    let all = tree.ephemerals_of(session);
    if trimmed.is_empty() || trimmed == "/" {
        return all;
    }
    all.into_iter().filter(|p| p.starts_with(prefix)).collect()
}

/// Each read independently; a failing one yields its error and the rest still run.
pub fn multi_read(
    tree: &DataTree,
    ids: &[Id],
    skip_acl: bool,
    ops: &[ReadOp],
) -> Vec<Result<ReadResult, ErrorCode>> {
    ops.iter()
        .map(|o| match o {
            ReadOp::GetChildren(p) => {
                get_children(tree, ids, skip_acl, p).map(|(c, _)| ReadResult::Children(c))
            }
            ReadOp::GetData(p) => {
                get_data(tree, ids, skip_acl, p).map(|(d, s)| ReadResult::Data(d, s))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::{acl, digest, id, open_acl_unsafe, ADMIN, ALL, READ, WRITE};
    use crate::proto::opcode as op;
    use crate::txn::{CreateTxn, Txn, TxnBody, TxnHeader};

    const S: i64 = 77;

    fn mk(t: &mut DataTree, path: &str, acl: Vec<Acl>, owner: i64) {
        let zxid = t.last_zxid() + 1;
        let parent = t.get(super::super::path::parent_of(path)).unwrap();
        let body = TxnBody::Create(CreateTxn {
            op: op::CREATE,
            path: path.into(),
            data: Some(Bytes::from(path.to_string())),
            acl,
            ephemeral_owner: owner,
            parent_cversion: parent.stat.cversion + 1,
        });
        let a = t.apply(&Txn {
            header: TxnHeader {
                session_id: S,
                zxid,
                ..Default::default()
            },
            body,
        });
        assert!(matches!(a.result, super::super::TxnResult::Create { .. }));
    }

    fn tree() -> DataTree {
        let mut t = DataTree::new();
        let secret = vec![
            acl(WRITE, "world", "anyone"),
            acl(ALL, "digest", "bob:hash"),
        ];
        mk(&mut t, "/a", open_acl_unsafe(), 0);
        mk(&mut t, "/a/b", open_acl_unsafe(), S);
        mk(&mut t, "/a/c", secret, 0);
        mk(&mut t, "/a/c/d", open_acl_unsafe(), 0);
        mk(&mut t, "/ab", open_acl_unsafe(), S);
        t
    }

    #[test]
    fn reads_check_node_then_acl() {
        let t = tree();
        let (d, s) = get_data(&t, &[], false, "/a/b").unwrap();
        assert_eq!(d.as_deref(), Some(&b"/a/b"[..]));
        assert_eq!(s.ephemeral_owner, S);
        assert_eq!(get_data(&t, &[], false, "/nope"), Err(ErrorCode::NoNode));
        assert_eq!(get_data(&t, &[], false, "/a/c"), Err(ErrorCode::NoAuth));
        assert!(get_data(&t, &[], true, "/a/c").is_ok());
        let bob = [id("digest", "bob:hash")];
        assert!(get_data(&t, &bob, false, "/a/c").is_ok());
        assert_eq!(exists(&t, &[], false, "/a/c"), Err(ErrorCode::NoAuth));
        assert_eq!(exists(&t, &[], false, "/zz"), Err(ErrorCode::NoNode));
        assert_eq!(exists(&t, &[], false, "/a\0"), Err(ErrorCode::BadArguments));
        assert_eq!(exists(&t, &[], false, "/a").unwrap().num_children, 2);
        assert_eq!(
            get_children(&t, &[], false, "/a").unwrap().0,
            vec!["b".to_string(), "c".to_string()]
        );
        assert_eq!(get_children(&t, &[], false, "/a/c"), Err(ErrorCode::NoAuth));
        // Root alias, as Java's node map has it.
        assert_eq!(get_children(&t, &[], false, "").unwrap().0.len(), 3);
        // Unvalidated read paths just miss.
        assert_eq!(get_data(&t, &[], false, "/a/"), Err(ErrorCode::NoNode));
    }

    #[test]
    fn get_acl_masks_without_admin() {
        let t = tree();
        // world has WRITE only: neither READ nor ADMIN.
        assert_eq!(get_acl(&t, &[], false, "/a/c"), Err(ErrorCode::NoAuth));
        let reader = DataTree::new();
        let mut r = reader;
        mk(
            &mut r,
            "/r",
            vec![acl(READ, "world", "anyone"), acl(ALL, "digest", "bob:hash")],
            0,
        );
        let (list, _) = get_acl(&r, &[], false, "/r").unwrap();
        assert_eq!(list[1], acl(ALL, "digest", "bob:x"));
        let (list, stat) = get_acl(&r, &[id("digest", "bob:hash")], false, "/r").unwrap();
        assert_eq!(list[1], acl(ALL, "digest", "bob:hash"));
        assert_eq!(stat.aversion, 0);
        // ADMIN alone is enough to read the list, unmasked.
        let mut a = DataTree::new();
        mk(&mut a, "/x", vec![acl(ADMIN, "digest", &digest("u:p"))], 0);
        let me = [id("digest", &digest("u:p"))];
        assert_eq!(
            get_acl(&a, &me, false, "/x").unwrap().0[0].id.id,
            digest("u:p")
        );
        assert_eq!(get_acl(&a, &[], false, "/x"), Err(ErrorCode::NoAuth));
    }

    #[test]
    fn counts_descendants() {
        let t = tree();
        assert_eq!(all_children_number(&t, &[], false, "/"), Ok(4 + 5 - 1));
        assert_eq!(all_children_number(&t, &[], false, "/a"), Ok(3));
        assert_eq!(all_children_number(&t, &[], false, "/ab"), Ok(0));
        assert_eq!(all_children_number(&t, &[], false, "/zookeeper"), Ok(2));
        assert_eq!(
            all_children_number(&t, &[], false, "/a/c"),
            Err(ErrorCode::NoAuth)
        );
        assert_eq!(
            all_children_number(&t, &[], false, "/q"),
            Err(ErrorCode::NoNode)
        );
        assert_eq!(
            all_children_number(&DataTree::new(), &[], false, "/"),
            Ok(3)
        );
    }

    #[test]
    fn ephemerals_by_string_prefix() {
        let t = tree();
        assert_eq!(get_ephemerals(&t, S, ""), vec!["/a/b", "/ab"]);
        assert_eq!(get_ephemerals(&t, S, " / "), vec!["/a/b", "/ab"]);
        assert_eq!(get_ephemerals(&t, S, "/a"), vec!["/a/b", "/ab"]);
        assert_eq!(get_ephemerals(&t, S, "/a/"), vec!["/a/b"]);
        assert_eq!(get_ephemerals(&t, S, "/b"), Vec::<String>::new());
        assert!(get_ephemerals(&t, 5, "").is_empty());
    }

    #[test]
    fn multi_read_is_independent() {
        let t = tree();
        let r = multi_read(
            &t,
            &[],
            false,
            &[
                ReadOp::GetChildren("/a".into()),
                ReadOp::GetData("/a/c".into()),
                ReadOp::GetData("/missing".into()),
                ReadOp::GetData("/ab".into()),
            ],
        );
        assert_eq!(r[0], Ok(ReadResult::Children(vec!["b".into(), "c".into()])));
        assert_eq!(r[1], Err(ErrorCode::NoAuth));
        assert_eq!(r[2], Err(ErrorCode::NoNode));
        assert!(
            matches!(&r[3], Ok(ReadResult::Data(Some(d), s)) if &d[..] == b"/ab" && s.data_length == 3)
        );
    }
}
