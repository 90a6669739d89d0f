//! Where the net cores leave the tree versions and batches they are done with, for the
//! consensus thread to free when it has nothing else to do.
//!
//! Each published version shares the tree with the next except for the HAMT chunks the next
//! write copied; freeing a version frees those chunks and lowers the reference count of
//! every entry in them (up to 32 a chunk). The last holder of a version pays that, and it
//! is nearly always a net core, on its way to the next batch's replies: 12-16% of the net
//! cores' time under lock churn (perf/RESULTS.md, 2026-12-06 10:40). The consensus thread
//! made the copies, so their cache lines and allocations are its own, and it has idle
//! moments between turns. Freed there, the net cores' share of the servers' CPU went from
//! 33-36% to 30-33% (RESULTS.md, 2026-12-06 11:40).
//!
//! A core buries only what it holds the last reference to (anything else is a count to
//! lower, not a version to free). The graveyard is bounded: when the consensus thread never
//! idles it fills, and the cores free what they hold themselves, as before.

use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender, TrySendError};

use super::msg::Published;
use crate::tree::DataTree;

/// How many versions and batches may wait to be freed: enough for the few batches between
/// two idle moments, and few enough that a consensus thread that is never idle holds only a
/// few MB of old chunks (a batch's copied chunks are tens of KB).
const CAPACITY: usize = 64;

pub struct Graveyard {
    tx: Sender<Grave>,
    rx: Receiver<Grave>,
}

/// Held only to be dropped.
#[allow(dead_code)]
enum Grave {
    Tree(Arc<DataTree>),
    Batch(Arc<Published>),
}

impl Default for Graveyard {
    fn default() -> Self {
        Graveyard::with_capacity(CAPACITY)
    }
}

impl std::fmt::Debug for Graveyard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Graveyard({} waiting)", self.rx.len())
    }
}

impl Graveyard {
    fn with_capacity(n: usize) -> Graveyard {
        let (tx, rx) = crossbeam_channel::bounded(n);
        Graveyard { tx, rx }
    }

    /// A net core's old view.
    pub fn bury_tree(&self, t: Arc<DataTree>) {
        if Arc::strong_count(&t) == 1 {
            self.bury(Grave::Tree(t));
        }
    }

    /// A batch a net core has handled.
    pub fn bury_batch(&self, b: Arc<Published>) {
        if Arc::strong_count(&b) == 1 {
            self.bury(Grave::Batch(b));
        }
    }

    fn bury(&self, g: Grave) {
        // Full: the consensus thread is never idle; the caller frees it (the drop here).
        // Disconnected cannot happen: this struct holds both ends.
        if let Err(TrySendError::Full(g) | TrySendError::Disconnected(g)) = self.tx.try_send(g) {
            drop(g);
        }
    }

    /// Frees up to `n` of what waits; returns how many it freed.
    pub fn reap(&self, n: usize) -> usize {
        let mut freed = 0;
        while freed < n {
            match self.rx.try_recv() {
                Ok(g) => drop(g),
                Err(_) => break,
            }
            freed += 1;
        }
        freed
    }

    pub fn waiting(&self) -> usize {
        self.rx.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_last_references_are_buried_and_reap_frees_them() {
        let g = Graveyard::default();
        let shared = Arc::new(DataTree::new());
        let kept = shared.clone();
        g.bury_tree(shared);
        assert_eq!(g.waiting(), 0, "another holder: just a count lowered");
        assert_eq!(Arc::strong_count(&kept), 1);
        let weak = Arc::downgrade(&kept);
        g.bury_tree(kept);
        assert_eq!(g.waiting(), 1);
        assert!(weak.upgrade().is_some(), "waits, not freed, until reaped");
        assert_eq!(g.reap(8), 1);
        assert!(weak.upgrade().is_none());
        assert_eq!(g.reap(8), 0);
    }

    #[test]
    fn a_full_graveyard_frees_at_once() {
        let g = Graveyard::with_capacity(2);
        let weaks: Vec<_> = (0..3)
            .map(|_| {
                let t = Arc::new(DataTree::new());
                let w = Arc::downgrade(&t);
                g.bury_tree(t);
                w
            })
            .collect();
        assert_eq!(g.waiting(), 2);
        assert!(weaks[2].upgrade().is_none(), "the third did not fit");
        assert_eq!(g.reap(1), 1);
        assert_eq!(g.waiting(), 1);
        assert_eq!(g.reap(10), 1);
        assert!(weaks.iter().all(|w| w.upgrade().is_none()));
    }
}
