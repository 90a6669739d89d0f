//! Dumps every znode (data, ACL, all 11 Stat fields) through the client protocol, so a
//! tree can be compared across a restart, an import, or two servers.

use std::collections::BTreeMap;

use ringkeeper::client::{Acl, Client, Stat};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Znode {
    pub data: Option<Vec<u8>>,
    pub acl: Vec<Acl>,
    pub stat: Stat,
}

/// Every node reachable from "/", keyed by path. Reads need READ on every node; use a
/// super-authenticated client for trees with restrictive ACLs.
pub async fn dump(c: &Client) -> BTreeMap<String, Znode> {
    let mut out = BTreeMap::new();
    let mut todo = vec!["/".to_string()];
    while let Some(path) = todo.pop() {
        let (data, stat) = c
            .get_data(&path, false)
            .await
            .unwrap_or_else(|e| panic!("getData {path}: {e}"));
        let (acl, _) = c
            .get_acl(&path)
            .await
            .unwrap_or_else(|e| panic!("getACL {path}: {e}"));
        for child in c
            .get_children(&path, false)
            .await
            .unwrap_or_else(|e| panic!("getChildren {path}: {e}"))
        {
            todo.push(if path == "/" {
                format!("/{child}")
            } else {
                format!("{path}/{child}")
            });
        }
        out.insert(path, Znode { data, acl, stat });
    }
    out
}

/// Panics with the first differences (a readable list, not a 10,000-line assert).
pub fn assert_same(expected: &BTreeMap<String, Znode>, got: &BTreeMap<String, Znode>, what: &str) {
    let mut diffs = Vec::new();
    for (p, e) in expected {
        match got.get(p) {
            None => diffs.push(format!("{p}: missing")),
            Some(g) if g != e => diffs.push(format!("{p}:\n  expected {e:?}\n  got      {g:?}")),
            Some(_) => {}
        }
    }
    for p in got.keys().filter(|p| !expected.contains_key(*p)) {
        diffs.push(format!("{p}: unexpected"));
    }
    assert!(
        diffs.is_empty(),
        "{what}: {} of {} nodes differ:\n{}",
        diffs.len(),
        expected.len(),
        diffs
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
