//! The znodes by path: one persistent hash map whose every entry is a single reference, to an
//! allocation holding the path and the node together.
//!
//! Every version the consensus core publishes shares this map, so the next write copies the
//! HAMT path it changes (up to 32 entries a level) and raises each copied entry's reference
//! count; the net core that drops the old version lowers them again. With the path and the
//! node as two `Arc`s, an entry was two counts on two cache lines; here it is one.
//!
//! `modify` changes a node in place only when no published version shares it (as
//! `Arc::make_mut` would); a key cannot be borrowed mutably inside the map, so the entry is
//! taken out and put back.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

use super::Node;

#[derive(Debug)]
struct Named {
    path: Arc<str>,
    node: Node,
}

/// One map entry; hashed and compared by path, so a `&str` finds it.
#[derive(Debug, Clone)]
pub struct Entry(Arc<Named>);

impl Entry {
    fn new(path: Arc<str>, node: Node) -> Entry {
        Entry(Arc::new(Named { path, node }))
    }
}

impl Deref for Entry {
    type Target = Node;

    fn deref(&self) -> &Node {
        &self.0.node
    }
}

impl Hash for Entry {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // As `str` hashes: `Borrow<str>` lookups must land on the same bucket.
        (*self.0.path).hash(state)
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Entry) -> bool {
        self.0.path == other.0.path
    }
}

impl Eq for Entry {}

impl Borrow<str> for Entry {
    fn borrow(&self) -> &str {
        &self.0.path
    }
}

#[derive(Debug, Clone, Default)]
pub struct Nodes {
    map: crate::fasthash::PersistentMap<Entry, ()>,
}

impl Nodes {
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn get(&self, path: &str) -> Option<&Node> {
        self.map.get_key_value(path).map(|(e, _)| &**e)
    }

    pub fn contains_key(&self, path: &str) -> bool {
        self.map.contains_key(path)
    }

    /// Adds the node at `path`, or replaces the one there.
    pub fn insert(&mut self, path: Arc<str>, node: Node) {
        self.map.insert(Entry::new(path, node), ());
    }

    /// Changes the node at `path` with `f`: in place when no published version shares it
    /// (several changes to one node within a group, a tree being built), else in a copy
    /// that takes its place. `None` if there is no node there.
    pub fn modify<R>(&mut self, path: &str, f: impl FnOnce(&mut Node) -> R) -> Option<R> {
        let (entry, ()) = self.map.remove_with_key(path)?;
        let mut named = Arc::try_unwrap(entry.0).unwrap_or_else(|shared| Named {
            path: shared.path.clone(),
            node: shared.node.clone(),
        });
        let r = f(&mut named.node);
        self.map.insert(Entry(Arc::new(named)), ());
        Some(r)
    }

    pub fn remove(&mut self, path: &str) -> Option<Entry> {
        self.map.remove_with_key(path).map(|(e, _)| e)
    }

    /// Every node, in no particular order.
    pub fn values(&self) -> impl Iterator<Item = &Node> {
        self.map.keys().map(|e| &**e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::StatPersisted;

    fn node(version: i32) -> Node {
        let mut stat = StatPersisted::new_node(1, 0, 0);
        stat.version = version;
        Node::new(None, Arc::new(Vec::new()), stat)
    }

    #[test]
    fn a_str_finds_the_entry_and_modify_leaves_older_copies_alone() {
        let mut a = Nodes::default();
        for i in 0..200 {
            a.insert(format!("/n{i}").into(), node(i));
        }
        let before = a.clone();
        assert_eq!(a.modify("/n7", |n| n.stat.version = 70), Some(()));
        assert_eq!(a.modify("/missing", |n| n.stat.version = 1), None);
        assert_eq!(a.get("/n7").unwrap().stat.version, 70);
        assert_eq!(before.get("/n7").unwrap().stat.version, 7);
        assert_eq!(a.len(), 200);
        let gone = a.remove("/n8").unwrap();
        assert_eq!((&*gone.0.path, gone.stat.version), ("/n8", 8));
        assert!(!a.contains_key("/n8") && before.contains_key("/n8"));
        assert_eq!(a.values().count(), 199);
    }
}
