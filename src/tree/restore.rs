//! Building a tree from stored nodes (snapshots, imports) and walking one to store it.

use std::sync::Arc;

use bytes::Bytes;

use super::path::{child_name, java_len, parent_of, validate_path};
use super::{Children, DataTree, Node, StatPersisted};
use crate::proto::records::Acl;
use crate::txn::{SessionId, Zxid};

/// One stored node: its path ("/" for the root) and what a snapshot keeps of it.
#[derive(Debug, Clone)]
pub struct StoredNode {
    pub path: String,
    pub data: Option<Bytes>,
    pub acl: Arc<Vec<Acl>>,
    pub stat: StatPersisted,
}

impl DataTree {
    /// Rebuilds a tree from nodes in which every parent comes before its children (the order
    /// `walk` produces and ZooKeeper's snapshots use). Children lists and the ephemeral,
    /// container and TTL indexes are derived, never stored.
    pub fn restore(
        nodes: impl IntoIterator<Item = StoredNode>,
        sessions: impl IntoIterator<Item = (SessionId, i32)>,
        last_zxid: Zxid,
    ) -> Result<DataTree, String> {
        let mut tree = DataTree {
            nodes: Default::default(),
            ephemerals: crate::fasthash::PersistentMap::new(),
            containers: imbl::OrdSet::new(),
            ttls: imbl::OrdSet::new(),
            sessions: crate::fasthash::PersistentMap::new(),
            last_zxid,
            approximate_data_size: 0,
        };
        // The nodes on the path from the root to the last one read, still owned here so
        // that each takes its children in place; a node goes into the (copy-on-change) map
        // once the walk has left it. A parent already in the map (an order other than a
        // depth-first walk) takes its child by copy.
        let mut open: Vec<(Arc<str>, Node)> = Vec::new();
        for n in nodes {
            let path: Arc<str> = if n.path.is_empty() {
                "/".into()
            } else {
                n.path.as_str().into()
            };
            if tree.nodes.contains_key(&path) || open.iter().any(|(p, _)| *p == path) {
                return Err(format!("node {path} appears twice"));
            }
            if &*path != "/" {
                let parent = parent_of(&path);
                let parent = if parent.is_empty() { "/" } else { parent };
                let name: Arc<str> = child_name(&path).into();
                if validate_path(&path).is_err() {
                    // "//te" would be listed as the root's child "te" under another key.
                    return Err(format!("node {path:?} has an invalid path"));
                }
                while open
                    .last()
                    .is_some_and(|(p, _)| !is_ancestor_or_self(p, parent))
                {
                    let (p, node) = open.pop().expect("last exists");
                    tree.nodes.insert(p, node);
                }
                match open.last_mut() {
                    Some((p, node)) if **p == *parent => {
                        node.children.insert(name);
                    }
                    _ => {
                        if tree
                            .nodes
                            .modify(parent, |p| p.children.insert(name))
                            .is_none()
                        {
                            return Err(format!("node {path} comes before its parent {parent}"));
                        }
                    }
                }
            }
            tree.approximate_data_size +=
                java_len(&path) + n.data.as_ref().map_or(0, |d| d.len() as i64);
            tree.index_owner(path.clone(), n.stat.ephemeral_owner);
            open.push((
                path,
                Node {
                    data: n.data,
                    acl: n.acl,
                    stat: n.stat,
                    children: Children::default(),
                },
            ));
        }
        for (p, node) in open {
            tree.nodes.insert(p, node);
        }
        if !tree.nodes.contains_key("/") {
            return Err("the root node is missing".into());
        }
        // Trees written by older servers may lack the system nodes; add what a fresh server has.
        let fresh = DataTree::new();
        for p in ["/zookeeper", "/zookeeper/quota", "/zookeeper/config"] {
            if !tree.nodes.contains_key(p) {
                let parent = parent_of(p);
                let parent = if parent.is_empty() { "/" } else { parent };
                tree.nodes
                    .modify(parent, |par| par.children.insert(child_name(p).into()));
                if let Some(n) = fresh.nodes.get(p) {
                    tree.approximate_data_size += java_len(p);
                    tree.nodes.insert(p.into(), n.clone());
                }
            }
        }
        for (id, timeout) in sessions {
            tree.sessions.insert(id, timeout);
        }
        Ok(tree)
    }

    /// Every node in pre-order (parents first, children by name), root first as "/".
    pub fn walk(&self) -> Vec<(Arc<str>, &Node)> {
        let mut out = Vec::with_capacity(self.nodes.len());
        let mut stack: Vec<Arc<str>> = vec!["/".into()];
        while let Some(path) = stack.pop() {
            let Some(node) = self.nodes.get(&path) else {
                continue;
            };
            for name in node.children.iter().rev() {
                let child: Arc<str> = if &*path == "/" {
                    format!("/{name}").into()
                } else {
                    format!("{path}/{name}").into()
                };
                stack.push(child);
            }
            out.push((path, node));
        }
        out
    }
}

/// Whether `node` is `path` or one of its ancestors.
fn is_ancestor_or_self(node: &str, path: &str) -> bool {
    node == "/"
        || path == node
        || (path.starts_with(node) && path.as_bytes().get(node.len()) == Some(&b'/'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txn::{CreateTxn, Txn, TxnBody, TxnHeader};

    #[test]
    fn walk_then_restore_gives_the_same_tree() {
        let mut t = DataTree::new();
        let acl = Arc::new(crate::acl::open_acl_unsafe());
        for (i, (p, owner)) in [
            ("/a", 0),
            ("/a/b", 0x55),
            ("/c", crate::txn::CONTAINER_EPHEMERAL_OWNER),
        ]
        .into_iter()
        .enumerate()
        {
            t.apply(&Txn {
                header: TxnHeader {
                    session_id: if owner == 0x55 { 0x55 } else { 0 },
                    cxid: 0,
                    zxid: i as i64 + 1,
                    time: 7,
                },
                body: TxnBody::Create(CreateTxn {
                    op: crate::proto::opcode::CREATE2,
                    path: p.into(),
                    data: Some(Bytes::from_static(b"d")),
                    acl: acl.to_vec(),
                    ephemeral_owner: owner,
                    parent_cversion: -1,
                }),
            });
        }
        t.sessions.insert(0x55, 4000);
        let stored: Vec<StoredNode> = t
            .walk()
            .into_iter()
            .map(|(p, n)| StoredNode {
                path: p.to_string(),
                data: n.data.clone(),
                acl: n.acl.clone(),
                stat: n.stat,
            })
            .collect();
        assert_eq!(stored[0].path, "/");
        let r = DataTree::restore(stored, t.sessions(), t.last_zxid()).unwrap();
        assert_eq!(r.node_count(), t.node_count());
        assert_eq!(r.approximate_data_size(), t.approximate_data_size());
        assert_eq!(r.ephemerals_of(0x55), vec!["/a/b".to_string()]);
        assert_eq!(r.container_paths(), vec!["/c".to_string()]);
        for (p, n) in t.walk() {
            let m = r.get(&p).unwrap();
            assert_eq!(m.stat, n.stat);
            assert_eq!(m.client_stat(), n.client_stat());
            assert_eq!(m.data, n.data);
        }
        assert!(DataTree::restore(
            vec![StoredNode {
                path: "/x/y".into(),
                data: None,
                acl: acl.clone(),
                stat: StatPersisted::default()
            }],
            [],
            0
        )
        .is_err());
        // Paths whose parent and name do not spell them again.
        for bad in [&["/", "//"][..], &["/", "//te"], &["/", "/a", "/a/"]] {
            let nodes = bad.iter().map(|p| StoredNode {
                path: p.to_string(),
                data: None,
                acl: acl.clone(),
                stat: StatPersisted::default(),
            });
            let err = DataTree::restore(nodes, [], 0).unwrap_err();
            assert!(err.contains("invalid path"), "{bad:?}: {err}");
        }
    }

    /// Parents first is the only order rule: a breadth-first list restores the same tree
    /// as a depth-first one, and a node listed twice (still on the walk's path, or already
    /// left) or before its parent is refused.
    #[test]
    fn any_parents_first_order_restores() {
        let acl = Arc::new(crate::acl::open_acl_unsafe());
        let stored = |paths: &[&str]| -> Vec<StoredNode> {
            paths
                .iter()
                .map(|p| StoredNode {
                    path: p.to_string(),
                    data: Some(Bytes::from(p.to_string())),
                    acl: acl.clone(),
                    stat: StatPersisted::default(),
                })
                .collect()
        };
        let dfs = ["/", "/a", "/a/x", "/a/x/z", "/ab", "/b", "/b/y"];
        let bfs = ["/", "/a", "/ab", "/b", "/a/x", "/b/y", "/a/x/z"];
        let d = DataTree::restore(stored(&dfs), [], 9).unwrap();
        let b = DataTree::restore(stored(&bfs), [], 9).unwrap();
        let view = |t: &DataTree| -> Vec<(String, Vec<String>, Option<Bytes>)> {
            t.walk()
                .into_iter()
                .map(|(p, n)| {
                    let kids = n.children.iter().map(|c| c.to_string()).collect();
                    (p.to_string(), kids, n.data.clone())
                })
                .collect()
        };
        assert_eq!(view(&d), view(&b));
        let root = d.get("/").unwrap();
        let kids: Vec<&str> = root.children.iter().map(|c| &**c).collect();
        assert_eq!(kids, ["a", "ab", "b", "zookeeper"]);
        assert_eq!(d.get("/a/x").unwrap().children.len(), 1);
        assert_eq!(d.node_count(), dfs.len() + 3);
        for twice in [&["/", "/a", "/a"][..], &["/", "/a", "/b", "/a"]] {
            let err = DataTree::restore(stored(twice), [], 0).unwrap_err();
            assert!(err.contains("appears twice"), "{twice:?}: {err}");
        }
        let err = DataTree::restore(stored(&["/", "/a/x", "/a"]), [], 0).unwrap_err();
        assert!(err.contains("before its parent"), "{err}");
    }
}
