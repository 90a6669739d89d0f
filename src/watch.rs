//! Per-core watch tables. Each net core owns one for the connections it serves; only its
//! `WatchHint` (counts by path hash) is shared, so the consensus core can tell which cores
//! a batch's events may concern without asking them.
//!
//! Standard watches (data/exist, child) fire once; persistent watches fire for their path
//! until removed; persistent-recursive watches fire for the path and every descendant,
//! never with NodeChildrenChanged. A connection matched several ways by one event gets one
//! notification (spec §7.4).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

use crate::fasthash::{HashMap, HashSet};
use crate::proto::opcode::{event, watcher_type};

/// Connection number on this core.
pub type ConnNo = u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WatchKind {
    /// getData / exists (exists on a missing node is an "exist" watch; same table).
    Data,
    Child,
    Persistent,
    PersistentRecursive,
}

/// Slots in a [`WatchHint`]; a power of two.
const HINT_SLOTS: usize = 4096;

/// What another thread may know of one core's watches: for each slot, how many watched
/// (kind, path) keys hash there, and whether any persistent-recursive watch exists (those
/// match descendants, so any event may concern them). A zero means no watch on the core
/// can match an event on a path of that slot; a non-zero may be a collision.
///
/// The consensus core reads it to decide which cores to wake for a batch (`outbox`). The
/// owning core changes it, and after adding a watch drains its mailbox again
/// (`Core::drain_mailbox`), so a batch the consensus core judged before the watch existed
/// is still taken up at once.
#[derive(Debug)]
pub struct WatchHint {
    slots: Box<[AtomicU32]>,
    recursive: AtomicU32,
}

/// A path's slot in every core's hint: hashed once per event, checked against each core.
#[derive(Debug, Clone, Copy)]
pub struct PathSlot(usize);

impl PathSlot {
    /// All hints share one per-process hasher (random keys, as the request maps' are);
    /// crafted collisions could only make a core wake for nothing.
    pub fn of(path: &str) -> PathSlot {
        static HASHER: OnceLock<ahash::RandomState> = OnceLock::new();
        let h = HASHER.get_or_init(ahash::RandomState::new).hash_one(path);
        PathSlot(h as usize & (HINT_SLOTS - 1))
    }
}

impl Default for WatchHint {
    fn default() -> Self {
        WatchHint {
            slots: (0..HINT_SLOTS).map(|_| AtomicU32::new(0)).collect(),
            recursive: AtomicU32::new(0),
        }
    }
}

impl WatchHint {
    fn slot(&self, path: &str) -> &AtomicU32 {
        &self.slots[PathSlot::of(path).0]
    }

    fn key_added(&self, kind: WatchKind, path: &str) {
        if kind == WatchKind::PersistentRecursive {
            self.recursive.fetch_add(1, Ordering::Relaxed);
        }
        self.slot(path).fetch_add(1, Ordering::Relaxed);
    }

    fn key_removed(&self, kind: WatchKind, path: &str) {
        if kind == WatchKind::PersistentRecursive {
            self.recursive.fetch_sub(1, Ordering::Relaxed);
        }
        self.slot(path).fetch_sub(1, Ordering::Relaxed);
    }

    /// Whether an event on the path of `slot` may fire a watch of this core. The caller
    /// orders this read after publishing the event's batch with a SeqCst fence.
    pub fn may_match(&self, slot: PathSlot) -> bool {
        self.recursive.load(Ordering::Relaxed) > 0 || self.slots[slot.0].load(Ordering::Relaxed) > 0
    }

    /// (keys counted over all slots, persistent-recursive keys).
    #[cfg(test)]
    fn counts(&self) -> (u32, u32) {
        let keys = self.slots.iter().map(|s| s.load(Ordering::Relaxed)).sum();
        (keys, self.recursive.load(Ordering::Relaxed))
    }
}

/// One table's share of ZooKeeper's watch figures (`WatchTable::zk_counts`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WatchCounts {
    /// Entries in ZooKeeper's data-watch table.
    pub data: usize,
    /// Entries in its child-watch table.
    pub child: usize,
    /// Connections with at least one data-table entry.
    pub data_conns: usize,
}

#[derive(Debug, Default)]
pub struct WatchTable {
    tables: [HashMap<Arc<str>, HashSet<ConnNo>>; 4],
    by_conn: HashMap<ConnNo, HashSet<(WatchKind, Arc<str>)>>,
    hint: Arc<WatchHint>,
    /// Watches added so far: the owning core compares it around a drain
    /// (`Core::drain_mailbox`); no other thread reads it.
    added: u64,
    /// ZooKeeper's two table sizes (`zk_counts`), kept as watches come and go: `mntr` and
    /// every metrics scrape read them, and counting them there would walk every watch.
    data_entries: usize,
    child_entries: usize,
}

fn idx(k: WatchKind) -> usize {
    k as usize
}

impl WatchTable {
    /// A table that keeps `hint` up to date.
    pub fn with_hint(hint: Arc<WatchHint>) -> WatchTable {
        WatchTable {
            hint,
            ..WatchTable::default()
        }
    }

    pub fn hint(&self) -> &WatchHint {
        &self.hint
    }

    /// Watches added so far.
    pub fn added(&self) -> u64 {
        self.added
    }

    pub fn add(&mut self, kind: WatchKind, path: &str, conn: ConnNo) {
        let key: Arc<str> = match self.tables[idx(kind)].get_key_value(path) {
            Some((k, _)) => k.clone(),
            None => {
                self.hint.key_added(kind, path);
                Arc::from(path)
            }
        };
        self.added += 1;
        let new = self.tables[idx(kind)]
            .entry(key.clone())
            .or_default()
            .insert(conn);
        self.by_conn
            .entry(conn)
            .or_default()
            .insert((kind, key.clone()));
        if new {
            self.count_change(kind, &key, conn, true);
        }
    }

    /// Keeps the table sizes for one (kind, path, connection) entry just added to or
    /// removed from `tables`. ZooKeeper's data table has an entry per (connection, path)
    /// holding a data, persistent or persistent-recursive watch, its child table one per
    /// (connection, path) holding a child or persistent watch: an entry starts with the
    /// first such kind and ends with the last.
    fn count_change(&mut self, kind: WatchKind, path: &str, conn: ConnNo, added: bool) {
        use WatchKind::*;
        let only_one = |group: &[WatchKind]| {
            group.contains(&kind)
                && !group.iter().any(|k| {
                    // Most servers hold no persistent watches: skip hashing the path.
                    *k != kind && !self.tables[idx(*k)].is_empty() && self.has(*k, path, conn)
                })
        };
        let data = only_one(&[Data, Persistent, PersistentRecursive]);
        let child = only_one(&[Child, Persistent]);
        for (n, changed) in [
            (&mut self.data_entries, data),
            (&mut self.child_entries, child),
        ] {
            if changed {
                *n = if added { *n + 1 } else { *n - 1 };
            }
        }
    }

    pub fn has(&self, kind: WatchKind, path: &str, conn: ConnNo) -> bool {
        self.tables[idx(kind)]
            .get(path)
            .is_some_and(|s| s.contains(&conn))
    }

    fn remove_one(&mut self, kind: WatchKind, path: &str, conn: ConnNo) -> bool {
        let t = &mut self.tables[idx(kind)];
        let Some(set) = t.get_mut(path) else {
            return false;
        };
        let removed = set.remove(&conn);
        if set.is_empty() {
            t.remove(path);
            self.hint.key_removed(kind, path);
        }
        if removed {
            self.forget(kind, path, conn);
        }
        removed
    }

    /// The rest of removing `conn`'s watch of `kind` on `path` once it is out of `tables`:
    /// its by-connection entry and its share of the table sizes.
    fn forget(&mut self, kind: WatchKind, path: &str, conn: ConnNo) {
        if let Some(c) = self.by_conn.get_mut(&conn) {
            c.remove(&(kind, Arc::from(path)));
            if c.is_empty() {
                self.by_conn.remove(&conn);
            }
        }
        self.count_change(kind, path, conn, false);
    }

    /// The kinds a checkWatches/removeWatches `type` covers (3.9 semantics).
    fn kinds_of(watcher_type: i32) -> &'static [WatchKind] {
        use WatchKind::*;
        match watcher_type {
            watcher_type::CHILDREN => &[Child],
            watcher_type::DATA => &[Data],
            watcher_type::ANY => &[Data, Child, Persistent, PersistentRecursive],
            watcher_type::PERSISTENT => &[Persistent],
            watcher_type::PERSISTENT_RECURSIVE => &[PersistentRecursive],
            _ => &[],
        }
    }

    /// checkWatches: does this connection hold a watch of `watcher_type` on `path`?
    pub fn check(&self, watcher_type: i32, path: &str, conn: ConnNo) -> bool {
        Self::kinds_of(watcher_type)
            .iter()
            .any(|k| self.has(*k, path, conn))
    }

    /// removeWatches: removes them; true if anything was removed.
    pub fn remove(&mut self, watcher_type: i32, path: &str, conn: ConnNo) -> bool {
        let mut any = false;
        for k in Self::kinds_of(watcher_type) {
            any |= self.remove_one(*k, path, conn);
        }
        any
    }

    /// Drops every watch of a closed connection.
    pub fn remove_conn(&mut self, conn: ConnNo) {
        let Some(entries) = self.by_conn.remove(&conn) else {
            return;
        };
        for (kind, path) in entries {
            let t = &mut self.tables[idx(kind)];
            if let Some(set) = t.get_mut(&path) {
                let removed = set.remove(&conn);
                if set.is_empty() {
                    t.remove(&path);
                    self.hint.key_removed(kind, &path);
                }
                if removed {
                    self.count_change(kind, &path, conn, false);
                }
            }
        }
    }

    fn fire_once(&mut self, kind: WatchKind, path: &str, out: &mut BTreeSet<ConnNo>) {
        if let Some(set) = self.tables[idx(kind)].remove(path) {
            self.hint.key_removed(kind, path);
            for conn in set {
                out.insert(conn);
                self.forget(kind, path, conn);
            }
        }
    }

    fn fire_keep(&self, kind: WatchKind, path: &str, out: &mut BTreeSet<ConnNo>) {
        if let Some(set) = self.tables[idx(kind)].get(path) {
            out.extend(set.iter().copied());
        }
    }

    /// The connections to notify of `event_kind` on `path`, one each; standard watches that
    /// matched are consumed.
    pub fn trigger(&mut self, event_kind: i32, path: &str) -> BTreeSet<ConnNo> {
        use WatchKind::*;
        let mut out = BTreeSet::new();
        match event_kind {
            event::NODE_CREATED | event::NODE_DATA_CHANGED => self.fire_once(Data, path, &mut out),
            event::NODE_DELETED => {
                self.fire_once(Data, path, &mut out);
                self.fire_once(Child, path, &mut out);
            }
            event::NODE_CHILDREN_CHANGED => self.fire_once(Child, path, &mut out),
            _ => {}
        }
        self.fire_keep(Persistent, path, &mut out);
        if event_kind != event::NODE_CHILDREN_CHANGED
            && !self.tables[idx(PersistentRecursive)].is_empty()
        {
            let mut p = path;
            loop {
                self.fire_keep(PersistentRecursive, p, &mut out);
                if p == "/" {
                    break;
                }
                p = match p.rfind('/') {
                    Some(0) => "/",
                    Some(i) => &p[..i],
                    None => break,
                };
            }
        }
        out
    }

    /// Total registrations of one kind (`wchs` counts the data table only, as ZooKeeper).
    pub fn count(&self, kind: WatchKind) -> usize {
        self.tables[idx(kind)].values().map(HashSet::len).sum()
    }

    pub fn total(&self) -> usize {
        self.tables
            .iter()
            .flat_map(|t| t.values())
            .map(HashSet::len)
            .sum()
    }

    /// Every (connection, kind, path) registered, in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = (ConnNo, WatchKind, &Arc<str>)> + '_ {
        self.by_conn
            .iter()
            .flat_map(|(c, set)| set.iter().map(move |(k, p)| (*c, *k, p)))
    }

    /// ZooKeeper's watch tables as counts, without listing them: its data table holds
    /// data, persistent and persistent-recursive watches, its child table child and
    /// persistent ones, one entry per (watcher, path) in each. Kept as watches come and go
    /// (`count_change`); only the connections holding a data-table entry are counted here,
    /// in one pass over the connections.
    pub fn zk_counts(&self) -> WatchCounts {
        WatchCounts {
            data: self.data_entries,
            child: self.child_entries,
            data_conns: self
                .by_conn
                .values()
                .filter(|w| w.iter().any(|(k, _)| *k != WatchKind::Child))
                .count(),
        }
    }

    /// The paths with an entry in ZooKeeper's data table (see `zk_counts`), each once.
    pub fn data_paths(&self) -> Vec<Arc<str>> {
        use WatchKind::*;
        let mut out: Vec<Arc<str>> = self.tables[idx(Data)].keys().cloned().collect();
        for k in [Persistent, PersistentRecursive] {
            for p in self.tables[idx(k)].keys() {
                let earlier = [Data, Persistent]
                    .iter()
                    .take_while(|e| **e != k)
                    .any(|e| self.tables[idx(*e)].contains_key(p));
                if !earlier {
                    out.push(p.clone());
                }
            }
        }
        out
    }

    pub fn paths(&self, kind: WatchKind) -> usize {
        self.tables[idx(kind)].len()
    }

    pub fn connections(&self) -> usize {
        self.by_conn.len()
    }

    /// (path, conns) of one kind, sorted, for wchp/wchc.
    pub fn dump(&self, kind: WatchKind) -> Vec<(Arc<str>, Vec<ConnNo>)> {
        let mut v: Vec<_> = self.tables[idx(kind)]
            .iter()
            .map(|(p, s)| {
                let mut c: Vec<_> = s.iter().copied().collect();
                c.sort_unstable();
                (p.clone(), c)
            })
            .collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use WatchKind::*;

    #[test]
    fn standard_watches_fire_once_and_dedupe() {
        let mut t = WatchTable::default();
        t.add(Data, "/a", 1);
        t.add(Data, "/a", 1);
        t.add(Child, "/a", 1);
        t.add(Data, "/a", 2);
        assert_eq!(
            t.trigger(event::NODE_DELETED, "/a")
                .into_iter()
                .collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert!(t.trigger(event::NODE_DELETED, "/a").is_empty());
        assert_eq!(t.total(), 0);
        assert_eq!(t.connections(), 0);
    }

    #[test]
    fn persistent_and_recursive() {
        let mut t = WatchTable::default();
        t.add(Persistent, "/a", 1);
        t.add(PersistentRecursive, "/", 2);
        t.add(PersistentRecursive, "/a", 2);
        for _ in 0..2 {
            assert_eq!(t.trigger(event::NODE_DATA_CHANGED, "/a").len(), 2);
        }
        // Recursive watches never see child events.
        assert_eq!(
            t.trigger(event::NODE_CHILDREN_CHANGED, "/a")
                .into_iter()
                .collect::<Vec<_>>(),
            vec![1]
        );
        assert_eq!(
            t.trigger(event::NODE_CREATED, "/a/b/c")
                .into_iter()
                .collect::<Vec<_>>(),
            vec![2]
        );
        assert!(t.trigger(event::NODE_CREATED, "/b").contains(&2));
        assert!(t.remove(watcher_type::PERSISTENT_RECURSIVE, "/", 2));
        assert!(t.trigger(event::NODE_CREATED, "/b").is_empty());
    }

    /// The hint counts one per (kind, path) key the table holds, however many connections
    /// share it, and every way a key leaves the table takes its count back.
    #[test]
    fn hint_counts_the_keys_the_table_holds() {
        let mut t = WatchTable::default();
        t.add(Data, "/a", 1);
        t.add(Data, "/a", 2);
        t.add(Child, "/a", 1);
        t.add(Persistent, "/p", 1);
        t.add(PersistentRecursive, "/r", 3);
        assert_eq!(t.hint().counts(), (4, 1));
        assert_eq!(t.added(), 5);
        assert!(t.hint().may_match(PathSlot::of("/a")) && t.hint().may_match(PathSlot::of("/p")));
        // A recursive watch may match any path below it, so every path may match.
        assert!(t.hint().may_match(PathSlot::of("/unwatched")));

        t.trigger(event::NODE_DATA_CHANGED, "/a"); // the data key fires for both conns
        assert_eq!(t.hint().counts(), (3, 1));
        assert!(t.remove(watcher_type::CHILDREN, "/a", 1));
        assert_eq!(t.hint().counts(), (2, 1));
        t.trigger(event::NODE_DATA_CHANGED, "/p"); // persistent: stays
        assert_eq!(t.hint().counts(), (2, 1));
        t.remove_conn(3);
        assert_eq!(t.hint().counts(), (1, 0));
        t.remove_conn(1);
        assert_eq!(t.hint().counts(), (0, 0));
        assert!(!t.hint().may_match(PathSlot::of("/a")));
    }

    /// `zk_counts` and `data_paths` against their definition, ZooKeeper's two tables built
    /// as sets of (connection, path), after every step of random sequences of adds,
    /// removeWatches, fired events and closed connections.
    #[test]
    fn counts_match_zookeepers_tables() {
        use std::collections::BTreeSet;
        let kinds = [Data, Child, Persistent, PersistentRecursive];
        let types = [
            watcher_type::CHILDREN,
            watcher_type::DATA,
            watcher_type::ANY,
            watcher_type::PERSISTENT,
            watcher_type::PERSISTENT_RECURSIVE,
        ];
        let events = [
            event::NODE_CREATED,
            event::NODE_DELETED,
            event::NODE_DATA_CHANGED,
            event::NODE_CHILDREN_CHANGED,
        ];
        let mut rng = crate::rng::Rng::new(7);
        for round in 0..200 {
            let mut t = WatchTable::default();
            for step in 0..rng.below(60) {
                let path = format!("/p{}", rng.below(6));
                let conn = rng.below(5);
                match rng.below(10) {
                    0..=5 => t.add(kinds[rng.below(4) as usize], &path, conn),
                    6 => {
                        t.remove(types[rng.below(5) as usize], &path, conn);
                    }
                    7 | 8 => {
                        t.trigger(events[rng.below(4) as usize], &path);
                    }
                    _ => t.remove_conn(conn),
                }
                let (mut data, mut child) = (BTreeSet::new(), BTreeSet::new());
                for (conn, kind, path) in t.entries() {
                    let key = (conn, path.to_string());
                    if kind != Child {
                        data.insert(key.clone());
                    }
                    if matches!(kind, Child | Persistent) {
                        child.insert(key);
                    }
                }
                let at = format!("round {round} step {step}");
                let counts = t.zk_counts();
                assert_eq!(counts.data, data.len(), "{at}");
                assert_eq!(counts.child, child.len(), "{at}");
                let conns: BTreeSet<_> = data.iter().map(|(c, _)| *c).collect();
                assert_eq!(counts.data_conns, conns.len(), "{at}");
                let mut paths: Vec<String> = t.data_paths().iter().map(|p| p.to_string()).collect();
                paths.sort();
                let want: Vec<String> = data
                    .iter()
                    .map(|(_, p)| p.clone())
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                assert_eq!(paths, want, "{at}: each data-watched path once");
            }
        }
    }

    #[test]
    fn remove_by_type_and_connection() {
        let mut t = WatchTable::default();
        t.add(Data, "/a", 1);
        t.add(Persistent, "/a", 1);
        assert!(t.check(watcher_type::DATA, "/a", 1));
        assert!(!t.check(watcher_type::CHILDREN, "/a", 1));
        assert!(t.remove(watcher_type::DATA, "/a", 1));
        assert!(t.has(Persistent, "/a", 1));
        t.add(Child, "/b", 1);
        t.remove_conn(1);
        assert_eq!(t.total(), 0);
        assert!(!t.remove(watcher_type::ANY, "/a", 1));
    }
}
