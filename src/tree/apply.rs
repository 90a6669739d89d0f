//! Applying a committed txn to the tree (DataTree.processTxn).
//!
//! Pure: everything comes from the txn. Failures are results, never panics, because the
//! same code replays logs (ours and, via a converter, Java's) where a txn may meet a state
//! that already contains its effect.

use std::sync::Arc;

use bytes::Bytes;

use super::path::{canonical, java_len, validate_path};
use super::{Applied, DataTree, Node, StatPersisted, TxnResult, WatchEvent};
use crate::proto::opcode::{self as op, event};
use crate::proto::records::{Acl, Stat};
use crate::proto::ErrorCode;
use crate::txn::{is_container, is_ephemeral, ttl_of, CreateTxn, Txn, TxnBody, TxnHeader, Zxid};

/// (parent path with the root alias resolved, child name); None without any '/'.
fn split(path: &str) -> Option<(&str, &str)> {
    let i = path.rfind('/')?;
    Some((canonical(&path[..i]), &path[i + 1..]))
}

fn code(err: i32) -> ErrorCode {
    // Codes outside the table only come from foreign logs; surface them as a generic failure.
    ErrorCode::from_code(err).unwrap_or(ErrorCode::RuntimeInconsistency)
}

fn ev(kind: i32, path: &str, acl: &Arc<Vec<Acl>>) -> WatchEvent {
    WatchEvent {
        kind,
        path: path.into(),
        acl: acl.clone(),
    }
}

impl DataTree {
    /// Applies one txn; `last_zxid` becomes the txn's zxid (never moves backwards).
    pub fn apply(&mut self, txn: &Txn) -> Applied {
        let mut events = Vec::new();
        let result = self.apply_body(&txn.header, &txn.body, &mut events);
        self.last_zxid = self.last_zxid.max(txn.header.zxid);
        Applied { result, events }
    }

    fn apply_body(
        &mut self,
        h: &TxnHeader,
        body: &TxnBody,
        evs: &mut Vec<WatchEvent>,
    ) -> TxnResult {
        let or_err = |r: Result<TxnResult, ErrorCode>| r.unwrap_or_else(TxnResult::Error);
        match body {
            TxnBody::CreateSession { timeout_ms } => {
                self.sessions.insert(h.session_id, *timeout_ms);
                TxnResult::SessionCreated
            }
            TxnBody::CloseSession { ephemerals } => {
                self.kill_session(h, ephemerals, evs);
                TxnResult::SessionClosed
            }
            TxnBody::Create(c) => or_err(self.create_node(c, h, evs)),
            TxnBody::Delete { path, .. } => or_err(
                self.delete_node(path, h.zxid, evs)
                    .map(|()| TxnResult::Delete),
            ),
            TxnBody::SetData {
                path,
                data,
                version,
            } => or_err(
                self.set_data(path, data.clone(), *version, h, evs)
                    .map(|stat| TxnResult::SetData { stat }),
            ),
            TxnBody::SetAcl { path, acl, version } => or_err(
                self.set_acl(path, acl, *version)
                    .map(|stat| TxnResult::SetAcl { stat }),
            ),
            TxnBody::Check { .. } => TxnResult::Check,
            TxnBody::Error { err } => TxnResult::Error(code(*err)),
            TxnBody::Multi(subs) => self.apply_multi(h, subs, evs),
        }
    }

    /// A multi containing any error sub-txn failed in prep and changes nothing; its results
    /// are 0 before the first error, the error codes themselves, and RUNTIMEINCONSISTENCY
    /// for non-error subs after one (Java's shape for its own logs).
    fn apply_multi(
        &mut self,
        h: &TxnHeader,
        subs: &[TxnBody],
        evs: &mut Vec<WatchEvent>,
    ) -> TxnResult {
        if subs.iter().any(|s| matches!(s, TxnBody::Error { .. })) {
            let mut after_failure = false;
            let results = subs
                .iter()
                .map(|s| match s {
                    TxnBody::Error { err } => {
                        after_failure = true;
                        TxnResult::Error(code(*err))
                    }
                    _ if after_failure => TxnResult::Error(ErrorCode::RuntimeInconsistency),
                    _ => TxnResult::Error(ErrorCode::Ok),
                })
                .collect();
            return TxnResult::Multi(results);
        }
        let results = subs
            .iter()
            .map(|s| match s {
                TxnBody::Multi(_)
                | TxnBody::CreateSession { .. }
                | TxnBody::CloseSession { .. } => {
                    debug_assert!(false, "not a multi sub-txn: {s:?}");
                    TxnResult::Error(ErrorCode::MarshallingError)
                }
                _ => self.apply_body(h, s, evs),
            })
            .collect();
        TxnResult::Multi(results)
    }

    fn create_node(
        &mut self,
        c: &CreateTxn,
        h: &TxnHeader,
        evs: &mut Vec<WatchEvent>,
    ) -> Result<TxnResult, ErrorCode> {
        // Prep only logs valid paths, but a log from elsewhere may hold "//te" or "/a/":
        // their parent and child name do not spell the path again ("//te" would become
        // child "te" of the root, stored under another key; "//" a child "" walked as "/"),
        // so the tree would list children it does not have or never finish a walk.
        validate_path(&c.path)?;
        let (parent_path, name) = split(&c.path).ok_or(ErrorCode::NoNode)?;
        if !self.nodes.contains_key(parent_path) {
            return Err(ErrorCode::NoNode);
        }
        if self.nodes.contains_key(c.path.as_str()) {
            // Replay fix-up (Java does it for plain create only): the create's effect on
            // the parent may be missing even though the child is there.
            if c.op == op::CREATE {
                self.raise_parent_cversion(parent_path, c.parent_cversion, h.zxid);
            }
            return Err(ErrorCode::NodeExists);
        }
        let parent_acl = self
            .nodes
            .modify(parent_path, |parent| {
                raise_cversion(parent, c.parent_cversion, h.zxid);
                parent.children.insert(name.into());
                parent.acl.clone()
            })
            .ok_or(ErrorCode::NoNode)?;
        // Children usually inherit their parent's ACL: share the allocation when equal.
        let acl = if *parent_acl == c.acl {
            parent_acl.clone()
        } else {
            Arc::new(c.acl.clone())
        };
        let stat = StatPersisted::new_node(h.zxid, h.time, c.ephemeral_owner);
        let node = Node::new(c.data.clone(), acl.clone(), stat);
        let client_stat = node.client_stat();
        self.approximate_data_size += java_len(&c.path) + node.data_len() as i64;
        let key: Arc<str> = c.path.as_str().into();
        self.nodes.insert(key.clone(), node);
        self.index_owner(key, c.ephemeral_owner);
        evs.push(ev(event::NODE_CREATED, &c.path, &acl));
        evs.push(ev(event::NODE_CHILDREN_CHANGED, parent_path, &parent_acl));
        Ok(TxnResult::Create {
            path: c.path.clone(),
            stat: client_stat,
        })
    }

    /// Sets the parent's stored cversion (and pzxid) only if that raises it, so replaying
    /// a create over a state that already has later creates cannot move it back.
    /// -1 (logs older than parentCVersion) means "one more than now".
    fn raise_parent_cversion(&mut self, parent_path: &str, new_cversion: i32, zxid: Zxid) {
        self.nodes.modify(parent_path, |parent| {
            raise_cversion(parent, new_cversion, zxid)
        });
    }

    pub(super) fn index_owner(&mut self, path: Arc<str>, owner: i64) {
        if is_container(owner) {
            self.containers.insert(path);
        } else if ttl_of(owner).is_some() {
            self.ttls.insert(path);
        } else if owner != 0 {
            self.ephemerals.entry(owner).or_default().insert(path);
        }
    }

    fn unindex_owner(&mut self, path: &str, owner: i64) {
        if is_container(owner) {
            self.containers.remove(path);
        } else if ttl_of(owner).is_some() {
            self.ttls.remove(path);
        } else if is_ephemeral(owner) {
            if let Some(set) = self.ephemerals.get_mut(&owner) {
                set.remove(path);
                if set.is_empty() {
                    self.ephemerals.remove(&owner);
                }
            }
        }
    }

    pub(super) fn delete_node(
        &mut self,
        path: &str,
        zxid: Zxid,
        evs: &mut Vec<WatchEvent>,
    ) -> Result<(), ErrorCode> {
        let (parent_path, name) = split(path).ok_or(ErrorCode::NoNode)?;
        // A malformed path ("//te") would unlink another node ("/te") from its parent.
        validate_path(path)?;
        if name.is_empty() {
            // Only the root has an empty name, and it is never deleted.
            return Err(ErrorCode::BadArguments);
        }
        // Prep never logs the delete of a node with children, but a log from elsewhere (or
        // a damaged one with a valid checksum) can. Java would drop the node and strand its
        // children outside the tree; refusing keeps the tree whole, and a replay that meets
        // the children there still converges, since their own deletes come later in the log.
        if self.nodes.get(path).is_some_and(|n| !n.children.is_empty()) {
            return Err(ErrorCode::NotEmpty);
        }
        // Java touches the parent even when the child is already gone (replay).
        let parent_acl = self
            .nodes
            .modify(parent_path, |parent| {
                parent.children.remove(name);
                parent.stat.pzxid = parent.stat.pzxid.max(zxid);
                parent.acl.clone()
            })
            .ok_or(ErrorCode::NoNode)?;
        let node = self.nodes.remove(path).ok_or(ErrorCode::NoNode)?;
        self.approximate_data_size -= java_len(path) + node.data_len() as i64;
        self.unindex_owner(path, node.stat.ephemeral_owner);
        evs.push(ev(event::NODE_DELETED, path, &node.acl));
        evs.push(ev(event::NODE_CHILDREN_CHANGED, parent_path, &parent_acl));
        Ok(())
    }

    fn set_data(
        &mut self,
        path: &str,
        data: Option<Bytes>,
        version: i32,
        h: &TxnHeader,
        evs: &mut Vec<WatchEvent>,
    ) -> Result<Stat, ErrorCode> {
        let path = canonical(path);
        let (old_len, stat, acl) = self
            .nodes
            .modify(path, |node| {
                let old_len = node.data_len() as i64;
                node.data = data;
                node.stat.mtime = h.time;
                node.stat.mzxid = h.zxid;
                node.stat.version = version;
                (old_len, node.client_stat(), node.acl.clone())
            })
            .ok_or(ErrorCode::NoNode)?;
        self.approximate_data_size += stat.data_length as i64 - old_len;
        evs.push(ev(event::NODE_DATA_CHANGED, path, &acl));
        Ok(stat)
    }

    fn set_acl(&mut self, path: &str, acl: &[Acl], version: i32) -> Result<Stat, ErrorCode> {
        self.nodes
            .modify(canonical(path), |node| {
                node.stat.aversion = version;
                node.acl = Arc::new(acl.to_vec());
                node.client_stat()
            })
            .ok_or(ErrorCode::NoNode)
    }

    /// Deletes the paths the txn lists (whoever owns them now, as Java does), then any
    /// other ephemerals the session still owns, in path order; forgets the session.
    fn kill_session(&mut self, h: &TxnHeader, listed: &[String], evs: &mut Vec<WatchEvent>) {
        let owned = self.ephemerals.remove(&h.session_id);
        self.sessions.remove(&h.session_id);
        for path in listed {
            // Already gone is fine: the close races nothing in our log, only in replays.
            let _ = self.delete_node(path, h.zxid, evs);
        }
        for path in owned.iter().flat_map(|s| s.iter()) {
            if !listed.iter().any(|l| **l == **path) {
                let _ = self.delete_node(path, h.zxid, evs);
            }
        }
    }
}

/// `raise_parent_cversion` on a node in hand (a create changes the parent once for both).
fn raise_cversion(parent: &mut Node, new_cversion: i32, zxid: Zxid) {
    let cv = if new_cversion == -1 {
        parent.stat.cversion.wrapping_add(1)
    } else {
        new_cversion
    };
    if cv > parent.stat.cversion {
        parent.stat.cversion = cv;
        parent.stat.pzxid = zxid;
    }
}

#[cfg(test)]
mod tests;
