//! Building the initial tree and the read-only accessors around it.

use std::sync::Arc;

use bytes::Bytes;

use super::path::{canonical, java_len};
use super::{DataTree, Node, StatPersisted};
use crate::acl;
use crate::txn::{ttl_of, SessionId, Zxid};

impl Default for DataTree {
    fn default() -> Self {
        Self::new()
    }
}

impl DataTree {
    /// The tree a fresh server starts with (spec §5.3): `/`, `/zookeeper`,
    /// `/zookeeper/quota` and `/zookeeper/config`, all with zero stats, created without
    /// bumping any cversion (so `stat /` shows cversion -1).
    pub fn new() -> Self {
        let open = Arc::new(acl::open_acl_unsafe());
        let empty = || Some(Bytes::new());
        let mut root = Node::new(empty(), open.clone(), StatPersisted::default());
        root.children.insert("zookeeper".into());
        let mut proc_node = Node::new(empty(), open.clone(), StatPersisted::default());
        proc_node.children.insert("quota".into());
        proc_node.children.insert("config".into());
        let quota = Node::new(empty(), open, StatPersisted::default());
        // Java applies setACL(READ_ACL_UNSAFE, version -1) to the config node.
        let config = Node::new(
            empty(),
            Arc::new(acl::read_acl_unsafe()),
            StatPersisted {
                aversion: -1,
                ..Default::default()
            },
        );
        let mut tree = DataTree {
            nodes: Default::default(),
            ephemerals: crate::fasthash::PersistentMap::new(),
            containers: imbl::OrdSet::new(),
            ttls: imbl::OrdSet::new(),
            sessions: crate::fasthash::PersistentMap::new(),
            last_zxid: 0,
            approximate_data_size: 0,
        };
        for (path, node) in [
            ("/", root),
            ("/zookeeper", proc_node),
            ("/zookeeper/quota", quota),
            ("/zookeeper/config", config),
        ] {
            tree.approximate_data_size += java_len(path) + node.data_len() as i64;
            tree.nodes.insert(path.into(), node);
        }
        tree
    }

    /// Sets `/zookeeper/config`'s data outside any txn, as ZooKeeper's
    /// `initConfigInZKDatabase` does: each ensemble member shows its membership there.
    pub fn set_config_data(&mut self, data: &[u8]) {
        let path = "/zookeeper/config";
        if let Some(old_len) = self.nodes.modify(path, |node| {
            let old_len = node.data_len() as i64;
            node.data = Some(Bytes::copy_from_slice(data));
            old_len
        }) {
            self.approximate_data_size += data.len() as i64 - old_len;
        }
    }

    /// The node at `path` ("" is Java's alias for the root).
    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(canonical(path))
    }

    pub fn last_zxid(&self) -> Zxid {
        self.last_zxid
    }

    /// Number of znodes, the root included.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Sum of path lengths and data lengths over all nodes (Java's approximateDataSize).
    pub fn approximate_data_size(&self) -> i64 {
        self.approximate_data_size
    }

    /// Live sessions and their negotiated timeouts.
    pub fn sessions(&self) -> impl Iterator<Item = (SessionId, i32)> + '_ {
        self.sessions.iter().map(|(id, t)| (*id, *t))
    }

    pub fn session_timeout(&self, session: SessionId) -> Option<i32> {
        self.sessions.get(&session).copied()
    }

    /// Paths of the ephemeral nodes `session` owns, sorted.
    pub fn ephemerals_of(&self, session: SessionId) -> Vec<String> {
        self.ephemerals
            .get(&session)
            .map(|set| set.iter().map(|p| p.to_string()).collect())
            .unwrap_or_default()
    }

    /// Sessions owning ephemeral nodes, with their paths (sorted), for `dump`.
    pub fn ephemerals_by_session(&self) -> Vec<(SessionId, Vec<String>)> {
        let mut v: Vec<_> = self
            .ephemerals
            .iter()
            .filter(|(_, set)| !set.is_empty())
            .map(|(id, set)| {
                let mut paths: Vec<String> = set.iter().map(|p| p.to_string()).collect();
                paths.sort();
                (*id, paths)
            })
            .collect();
        v.sort_by_key(|(id, _)| *id);
        v
    }

    pub fn ephemeral_count(&self) -> usize {
        self.ephemerals.values().map(|s| s.len()).sum()
    }

    pub fn container_paths(&self) -> Vec<String> {
        self.containers.iter().map(|p| p.to_string()).collect()
    }

    pub fn ttl_paths(&self) -> Vec<String> {
        self.ttls.iter().map(|p| p.to_string()).collect()
    }

    /// ContainerManager.getCandidates with `znode.container.maxNeverUsedIntervalMs` = 0.
    pub fn reap_candidates(&self, now_ms: i64) -> Vec<String> {
        self.reap_candidates_with(now_ms, 0)
    }

    /// Containers without children that have had a child (stored cversion > 0), or that
    /// never had one but are older than `max_never_used_ms` (0 = never); then TTL nodes
    /// without children whose `now - mtime` exceeds their TTL. Containers first, each
    /// group sorted.
    pub fn reap_candidates_with(&self, now_ms: i64, max_never_used_ms: i64) -> Vec<String> {
        let mut out = Vec::new();
        for path in self.containers.iter() {
            let Some(n) = self.nodes.get(path) else {
                continue;
            };
            if !n.children.is_empty() {
                continue;
            }
            let elapsed = now_ms - n.stat.mtime;
            if n.stat.cversion > 0 || (max_never_used_ms != 0 && elapsed > max_never_used_ms) {
                out.push(path.to_string());
            }
        }
        for path in self.ttls.iter() {
            let Some(n) = self.nodes.get(path) else {
                continue;
            };
            let Some(ttl) = ttl_of(n.stat.ephemeral_owner) else {
                continue;
            };
            if n.children.is_empty() && ttl != 0 && now_ms - n.stat.mtime > ttl {
                out.push(path.to_string());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::records::Stat;

    #[test]
    fn fresh_tree_matches_zookeeper() {
        let t = DataTree::new();
        assert_eq!(t.node_count(), 4);
        assert_eq!(t.approximate_data_size(), 1 + 10 + 16 + 17);
        assert_eq!(t.last_zxid(), 0);
        let root = t.get("/").unwrap().client_stat();
        assert_eq!(
            root,
            Stat {
                cversion: -1,
                num_children: 1,
                ..Default::default()
            }
        );
        assert_eq!(t.get("").unwrap().client_stat(), root);
        let zk = t.get("/zookeeper").unwrap().client_stat();
        assert_eq!((zk.cversion, zk.num_children), (-2, 2));
        let cfg = t.get("/zookeeper/config").unwrap();
        assert_eq!(cfg.client_stat().aversion, -1);
        assert_eq!(*cfg.acl, acl::read_acl_unsafe());
        assert_eq!(cfg.data.as_deref(), Some(&b""[..]));
        assert_eq!(
            *t.get("/zookeeper/quota").unwrap().acl,
            acl::open_acl_unsafe()
        );
        assert!(t.get("/nope").is_none());
        assert_eq!(t.ephemeral_count(), 0);
        assert_eq!(t.sessions().count(), 0);
    }
}
