//! Versioning the speculative tree per group of txns rather than per txn.
//!
//! The leader (and a standalone server) applies each write to `tree` as it preps it, before
//! it commits, so the view the net cores get at a commit cannot be `tree` itself: it is a
//! version taken when that txn was applied. A version is an O(1) clone, but the next apply
//! then copies the path it changes through the tree's HAMT (a few kilobytes and dozens of
//! reference counts), and the net core that drops the old view pays the same again: per
//! txn, that was half of a saturated leader's consensus thread.
//!
//! So txns prepped back to back form a group, and only the group's last txn carries a
//! version. A group is cut when the consensus loop runs out of input, at `GROUP_MAX` txns,
//! before a txn whose reply goes to a connection that already has one in the group and
//! `follows_read` (the read queued between the two must not see the second; back-to-back
//! writes of one connection share a group), and before a marker (a reply that follows
//! every txn so far).
//! `release` posts whole groups only: a txn that committed before the rest of its group
//! waits for them, at most until the next commit after the cut. The leader's view, and
//! `committed_zxid`, may therefore trail the Zab machine's commit point by part of a group;
//! everything that reads them (syncs, SNAP, leaving a role) allows for it.

use std::sync::Arc;

use super::msg::Reply;
use super::{ConsensusCore, Pending};
use crate::fasthash::HashSet;
use crate::session::ConnRef;

/// A group is cut at this many txns, so a loop that never runs dry still releases.
pub(super) const GROUP_MAX: usize = 64;

/// The txns at the tail of `pending` that have no version yet.
#[derive(Default)]
pub(super) struct Group {
    len: usize,
    /// Connections a txn of the group replies to.
    replies: HashSet<ConnRef>,
}

impl ConsensusCore {
    /// Cuts the open group first if a txn with `reply` may not join it.
    pub(super) fn make_room_in_group(&mut self, reply: Option<&Reply>) {
        let repeated = reply.is_some_and(|r| r.follows_read && self.group.replies.contains(&r.to));
        if repeated || self.group.len >= GROUP_MAX {
            self.cut_group();
        }
    }

    /// Records a txn just pushed onto `pending` without a version.
    pub(super) fn joined_group(&mut self, reply_to: Option<ConnRef>) {
        self.group.len += 1;
        if let Some(c) = reply_to {
            self.group.replies.insert(c);
        }
    }

    /// Gives the open group's last txn the version `tree` is now, and releases what was
    /// waiting for it.
    pub(super) fn cut_group(&mut self) {
        if self.group.len == 0 {
            return;
        }
        self.group = Group::default();
        let version = Arc::new(self.tree.clone());
        let last = self.pending.iter_mut().rev().find_map(|p| match p {
            Pending::Txn(c, _) => Some(c),
            Pending::Marker { .. } => None,
        });
        match last {
            Some(c) => {
                debug_assert!(c.tree.is_none(), "an open group ends unversioned");
                c.tree = Some(version);
            }
            None => debug_assert!(false, "an open group is in pending"),
        }
        if self.commit_point > self.committed_zxid {
            self.release(self.commit_point);
        }
    }

    /// Forgets the open group (its txns were dropped from `pending`).
    pub(super) fn drop_group(&mut self) {
        self.group = Group::default();
    }

    /// Whether a group starting at the front of `pending` has a reply that may not share a
    /// batch with one in the outbox: it must be flushed first, as no version exists inside
    /// the group to publish with.
    pub(super) fn front_group_collides(&self) -> bool {
        for p in &self.pending {
            if let Pending::Txn(c, _) = p {
                if c.reply
                    .as_ref()
                    .is_some_and(|r| self.outbox.must_precede(r))
                {
                    return true;
                }
                if c.tree.is_some() {
                    break;
                }
            }
        }
        false
    }
}
