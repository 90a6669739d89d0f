//! What the consensus core tells the net cores, in order and in batches.
//!
//! Everything bound for a net core (committed txns, replies that change nothing, evictions)
//! goes into one ordered outbox. The consensus loop flushes it when it has nothing more to
//! read, or once it holds `FLUSH_MAX` items. A flush costs each net core one message and
//! one wake-up however many txns it carries, and a learner makes one tree version per flush
//! instead of one per txn: every version is a path copy through the tree's HAMT, and the
//! drop of the one before it, which is most of what applying a small write costs.
//!
//! A core serves the reads queued behind a reply only after the whole batch (below), so a
//! reply to a connection with a read queued since its previous write (`follows_read`) may
//! not join a batch that has that previous reply: the read would see this write. Such a
//! reply flushes the outbox first (`make_room_for_reply`). Replies to a connection's
//! back-to-back writes share batches.
//!
//! The same batch goes to every core. The flush sends it to all of them, then raises
//! `SharedState::flushed` to the batch's number, then wakes them; a core handles a batch
//! only once `flushed` has reached it. So when one core sends a reply from a batch, every
//! core already holds that batch and drains it before it serves a read: a client that saw
//! its write acknowledged and reads through another core sees the write.
//!
//! Since a read drains first anyway, only cores with something to send are woken: a reply,
//! a connection to close, or an event that may match one of their watches (`WatchHint`).
//! The others take the batch up at their next read or wake-up, and at least every
//! `WAKE_AT_LEAST_EVERY` batches. On a member with two cores, a write from one session
//! otherwise woke both cores of all three members for nothing but the new tree.

use std::sync::atomic::{fence, Ordering};
use std::sync::Arc;

use super::msg::{Committed, Item, Published, Reply, ToCore};
use super::ConsensusCore;
use crate::fasthash::HashSet;
use crate::session::ConnRef;
use crate::watch::PathSlot;

/// A flush is forced at this many items, so a busy loop still publishes regularly.
pub(super) const FLUSH_MAX: usize = 256;

#[derive(Default)]
pub(super) struct Outbox {
    items: Vec<Item>,
    txns: u64,
    seq: u64,
    /// `tree` holds committed txns that `committed_tree` does not (applied without a
    /// version of their own); never true while `tree` holds speculative txns.
    stale: bool,
    /// Connections with a reply in `items`.
    replied: HashSet<ConnRef>,
    /// Per core: batches flushed since it was last woken.
    skipped: Vec<u32>,
}

impl Outbox {
    pub(super) fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether `r` may not join the batch being gathered (`Reply::follows_read`).
    pub(super) fn must_precede(&self, r: &Reply) -> bool {
        r.follows_read && self.replied.contains(&r.to)
    }
}

impl ConsensusCore {
    /// Queues a committed txn; `c.tree` is `None` when `self.tree` is exactly the committed
    /// state after it (no speculative txns applied), so the flush can version it once.
    pub(super) fn post_txn(&mut self, c: Committed) {
        if let Some(r) = &c.reply {
            // A txn without a version was applied to `tree` already: its caller flushed
            // before applying it (`make_room_for_reply`).
            debug_assert!(c.tree.is_some() || !self.outbox.must_precede(r));
            self.make_room_for_reply(r);
            self.outbox.replied.insert(r.to);
        }
        match &c.tree {
            Some(t) => {
                self.committed_tree = t.clone();
                self.outbox.stale = false;
            }
            None => self.outbox.stale = true,
        }
        self.outbox.txns += 1;
        self.outbox.items.push(Item::Txn(c));
    }

    pub(super) fn post_reply(&mut self, r: Reply) {
        self.make_room_for_reply(&r);
        self.outbox.replied.insert(r.to);
        self.outbox.items.push(Item::Reply(r));
    }

    /// Flushes if `to` already has a reply in the outbox. Call before applying a txn that
    /// will be posted without a version of its own.
    pub(super) fn make_room_for_reply(&mut self, r: &Reply) {
        if self.outbox.must_precede(r) {
            self.flush();
        }
    }

    pub(super) fn post_evict(&mut self, conn: ConnRef) {
        self.outbox.items.push(Item::Evict(conn));
    }

    pub(super) fn post_evict_all(&mut self) {
        self.outbox.items.push(Item::EvictAll);
    }

    /// Brings `committed_tree` up to the committed txns applied without a version. Call
    /// before reading `committed_tree` and before applying a speculative txn to `tree`.
    pub(super) fn refresh_committed_tree(&mut self) {
        if self.outbox.stale {
            self.committed_tree = Arc::new(self.tree.clone());
            self.outbox.stale = false;
        }
    }

    /// Hands everything queued to every net core as one batch.
    pub(super) fn flush(&mut self) {
        if self.outbox.items.is_empty() {
            return;
        }
        self.refresh_committed_tree();
        let tree = self.committed_tree.clone();
        if self.outbox.txns > 0 {
            if let Some(s) = &mut self.snapshots {
                s.on_commits(self.outbox.txns, &tree);
            }
        }
        self.outbox.txns = 0;
        self.outbox.replied.clear();
        self.outbox.seq += 1;
        let seq = self.outbox.seq;
        let batch = Arc::new(Published {
            seq,
            items: std::mem::take(&mut self.outbox.items),
            tree,
        });
        for core in &self.cores {
            // A core that is gone has no connections left to answer.
            let _ = core.tx.send(ToCore::Published(batch.clone()));
        }
        self.shared.flushed.store(seq, Ordering::Release);
        // Pairs with the fence in `Core::drain_mailbox` (a watch added meanwhile).
        fence(Ordering::SeqCst);
        let wake = self.cores_concerned(&batch);
        let skipped = &mut self.outbox.skipped;
        skipped.resize(self.cores.len(), 0);
        for (i, core) in self.cores.iter().enumerate() {
            if wake[i] || skipped[i] + 1 >= WAKE_AT_LEAST_EVERY {
                skipped[i] = 0;
                core.wake.notify_one();
            } else {
                skipped[i] += 1;
            }
        }
    }

    /// Per core, whether `b` has something for it beyond its tree: a reply, a connection
    /// to close, or an event one of its watches may match. Each event's path is hashed
    /// once, however many cores there are.
    fn cores_concerned(&self, b: &Published) -> Vec<bool> {
        let mut wake = vec![false; self.cores.len()];
        for it in &b.items {
            match it {
                Item::Txn(c) => {
                    if let Some(r) = &c.reply {
                        wake[r.to.core] = true;
                    }
                    if let Some(cl) = c.close {
                        wake[cl.core] = true;
                    }
                    for e in &c.events {
                        if wake.iter().all(|w| *w) {
                            return wake;
                        }
                        let slot = PathSlot::of(&e.path);
                        for (w, core) in wake.iter_mut().zip(&self.cores) {
                            *w = *w || core.hint.may_match(slot);
                        }
                    }
                }
                Item::Reply(r) => wake[r.to.core] = true,
                Item::Evict(c) => wake[c.core] = true,
                Item::EvictAll => return vec![true; self.cores.len()],
            }
        }
        wake
    }
}

/// A core not woken takes up its batches when it next serves a read (reads drain the
/// mailbox first) or is woken; this bounds how many versions of the tree it can hold
/// meanwhile.
const WAKE_AT_LEAST_EVERY: u32 = 32;
