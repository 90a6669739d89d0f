//! Per-node helpers: the client view of a stored stat.

use std::sync::Arc;

use bytes::Bytes;

use super::{Node, StatPersisted};
use crate::proto::records::{Acl, Stat};
use crate::txn::{self, Zxid};

impl StatPersisted {
    /// DataTree.createStat: a fresh node's stat.
    pub fn new_node(zxid: Zxid, time: i64, ephemeral_owner: i64) -> Self {
        StatPersisted {
            czxid: zxid,
            mzxid: zxid,
            ctime: time,
            mtime: time,
            version: 0,
            cversion: 0,
            aversion: 0,
            ephemeral_owner,
            pzxid: zxid,
        }
    }
}

impl Node {
    pub fn new(data: Option<Bytes>, acl: Arc<Vec<Acl>>, stat: StatPersisted) -> Self {
        Node {
            data,
            acl,
            stat,
            children: Children::default(),
        }
    }

    /// DataNode.copyStat: cversion is derived (`2*stored - numChildren`, wrapping like
    /// Java ints) and containers/TTL nodes hide their owner marker.
    pub fn client_stat(&self) -> Stat {
        let s = &self.stat;
        let num_children = self.children.len() as i32;
        Stat {
            czxid: s.czxid,
            mzxid: s.mzxid,
            ctime: s.ctime,
            mtime: s.mtime,
            version: s.version,
            cversion: s.cversion.wrapping_mul(2).wrapping_sub(num_children),
            aversion: s.aversion,
            ephemeral_owner: if txn::is_ephemeral(s.ephemeral_owner) {
                s.ephemeral_owner
            } else {
                0
            },
            data_length: self.data_len() as i32,
            num_children,
            pzxid: s.pzxid,
        }
    }

    pub fn data_len(&self) -> usize {
        self.data.as_ref().map_or(0, Bytes::len)
    }

    /// Owned by a live session (not persistent, container or TTL).
    pub fn is_ephemeral(&self) -> bool {
        txn::is_ephemeral(self.stat.ephemeral_owner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::open_acl_unsafe;

    fn node(owner: i64) -> Node {
        Node::new(
            Some(Bytes::from_static(b"abc")),
            Arc::new(open_acl_unsafe()),
            StatPersisted::new_node(7, 1000, owner),
        )
    }

    #[test]
    fn derived_cversion_and_owner_masking() {
        let mut n = node(0x1234);
        n.stat.cversion = 5;
        n.children.insert("a".into());
        n.children.insert("b".into());
        let s = n.client_stat();
        assert_eq!((s.cversion, s.num_children, s.data_length), (8, 2, 3));
        assert_eq!(s.ephemeral_owner, 0x1234);
        assert_eq!(
            (s.czxid, s.mzxid, s.pzxid, s.ctime, s.mtime),
            (7, 7, 7, 1000, 1000)
        );
        assert_eq!(
            node(txn::CONTAINER_EPHEMERAL_OWNER)
                .client_stat()
                .ephemeral_owner,
            0
        );
        assert_eq!(
            node(txn::ttl_ephemeral_owner(500))
                .client_stat()
                .ephemeral_owner,
            0
        );
        let mut null = node(0);
        null.data = None;
        assert_eq!(null.client_stat().data_length, 0);
        null.stat.cversion = i32::MAX;
        assert_eq!(null.client_stat().cversion, -2); // wraps like Java
    }
}

/// A node's child names. Most znodes are leaves, and an empty `imbl::OrdSet` still allocates
/// a whole B-tree root, so the set exists only once there is a child.
#[derive(Debug, Clone, Default)]
pub struct Children(Option<imbl::OrdSet<Arc<str>>>);

impl Children {
    pub fn insert(&mut self, name: Arc<str>) {
        self.0.get_or_insert_with(imbl::OrdSet::new).insert(name);
    }

    pub fn remove(&mut self, name: &str) {
        if let Some(s) = &mut self.0 {
            s.remove(name);
            if s.is_empty() {
                self.0 = None;
            }
        }
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.as_ref().is_some_and(|s| s.contains(name))
    }

    pub fn len(&self) -> usize {
        self.0.as_ref().map_or(0, imbl::OrdSet::len)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// Names in order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Arc<str>> {
        self.0.iter().flat_map(|s| s.iter())
    }
}
