//! The session's watch registry: which one-shot and persistent watchers wait on which
//! server path, how an event fans out to them (the Java client's `ZKWatchManager` rules),
//! and the lists SetWatches needs to restore them on a new connection.

use super::connect_string::Chroot;
use crate::client::error::{ClientError, Result};
use crate::client::types::{EventType, WatchedEvent};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::{mpsc, oneshot};

/// Which server-side table a one-shot watch sits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OneShotKind {
    Data,
    /// exists() on a missing node.
    Exist,
    Child,
}

struct OneShot {
    id: u64,
    kind: OneShotKind,
    tx: oneshot::Sender<Result<WatchedEvent>>,
}

struct Persistent {
    id: u64,
    recursive: bool,
    tx: mpsc::UnboundedSender<WatchedEvent>,
}

/// Watchers by server path (chroot included).
#[derive(Default)]
pub struct Registry {
    next_id: u64,
    one_shot: HashMap<String, Vec<OneShot>>,
    persistent: HashMap<String, Vec<Persistent>>,
}

/// The paths to hand to SetWatches/SetWatches2, server-side.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RestoreLists {
    pub data: Vec<String>,
    pub exist: Vec<String>,
    pub child: Vec<String>,
    pub persistent: Vec<String>,
    pub recursive: Vec<String>,
}

/// Picks one of the five lists of a `RestoreLists`.
type ListOf = fn(&mut RestoreLists) -> &mut Vec<String>;

impl RestoreLists {
    /// Splits into lists whose paths total at most `max_bytes` each (the Java client keeps
    /// every SetWatches under 128 KiB so it stays far below jute.maxbuffer). A single path
    /// longer than the limit still travels, alone.
    pub fn batches(self, max_bytes: usize) -> Vec<RestoreLists> {
        let mut out = Vec::new();
        let mut cur = RestoreLists::default();
        let mut size = 0;
        let kinds: [(Vec<String>, ListOf); 5] = [
            (self.data, |l| &mut l.data),
            (self.exist, |l| &mut l.exist),
            (self.child, |l| &mut l.child),
            (self.persistent, |l| &mut l.persistent),
            (self.recursive, |l| &mut l.recursive),
        ];
        for (paths, field) in kinds {
            for p in paths {
                // 4 bytes of length prefix per string on the wire.
                let len = p.len() + 4;
                if size + len > max_bytes && !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                    size = 0;
                }
                size += len;
                field(&mut cur).push(p);
            }
        }
        if !cur.is_empty() {
            out.push(cur);
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
            && self.exist.is_empty()
            && self.child.is_empty()
            && self.persistent.is_empty()
            && self.recursive.is_empty()
    }
}

impl Registry {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Registers before the request is sent, so an event that follows the reply on the
    /// socket can never be dispatched before its watcher exists.
    pub fn add_one_shot(&mut self, path: &str, kind: OneShotKind) -> (u64, Watch) {
        let id = self.id();
        let (tx, rx) = oneshot::channel();
        self.one_shot
            .entry(path.to_string())
            .or_default()
            .push(OneShot { id, kind, tx });
        (id, Watch { rx })
    }

    /// exists() learns from its reply whether the server put the watch in the data or the
    /// exist table; restore must ask for the same one.
    pub fn set_kind(&mut self, path: &str, id: u64, kind: OneShotKind) {
        if let Some(w) = self
            .one_shot
            .get_mut(path)
            .and_then(|v| v.iter_mut().find(|w| w.id == id))
        {
            w.kind = kind;
        }
    }

    /// Drops a registration whose request failed (no watch was set on the server).
    pub fn remove_one_shot(&mut self, path: &str, id: u64) {
        if let Some(v) = self.one_shot.get_mut(path) {
            v.retain(|w| w.id != id);
            if v.is_empty() {
                self.one_shot.remove(path);
            }
        }
    }

    pub fn add_persistent(&mut self, path: &str, recursive: bool) -> (u64, WatchStream) {
        let id = self.id();
        let (tx, rx) = mpsc::unbounded_channel();
        self.persistent
            .entry(path.to_string())
            .or_default()
            .push(Persistent { id, recursive, tx });
        (id, WatchStream { rx })
    }

    pub fn remove_persistent(&mut self, path: &str, id: u64) {
        if let Some(v) = self.persistent.get_mut(path) {
            v.retain(|w| w.id != id);
            if v.is_empty() {
                self.persistent.remove(path);
            }
        }
    }

    /// After a successful removeWatches: the local watchers of that kind go too (their
    /// futures resolve with an error, their streams end).
    pub fn remove_kind(&mut self, path: &str, data: bool, child: bool, persistent: bool) {
        if let Some(v) = self.one_shot.get_mut(path) {
            v.retain(|w| match w.kind {
                OneShotKind::Data | OneShotKind::Exist => !data,
                OneShotKind::Child => !child,
            });
            if v.is_empty() {
                self.one_shot.remove(path);
            }
        }
        if persistent {
            self.persistent.remove(path);
        }
    }

    /// Delivers one server event (server path) to every watcher it triggers, with the
    /// path mapped back through the chroot.
    pub fn dispatch(&mut self, ev: &WatchedEvent, chroot: &Chroot) {
        let client_ev = WatchedEvent {
            path: chroot.to_client(&ev.path),
            ..ev.clone()
        };
        let fires = |k: OneShotKind| match ev.kind {
            EventType::NodeCreated | EventType::NodeDataChanged => {
                matches!(k, OneShotKind::Data | OneShotKind::Exist)
            }
            EventType::NodeDeleted => true,
            EventType::NodeChildrenChanged => k == OneShotKind::Child,
            EventType::Other(_) => false,
        };
        if let Some(v) = self.one_shot.get_mut(&ev.path) {
            let (hit, keep): (Vec<_>, Vec<_>) = v.drain(..).partition(|w| fires(w.kind));
            *v = keep;
            if v.is_empty() {
                self.one_shot.remove(&ev.path);
            }
            for w in hit {
                let _ = w.tx.send(Ok(client_ev.clone()));
            }
        }
        // Persistent watchers on the path itself; recursive ones on it and every ancestor,
        // which never see NodeChildrenChanged (the server does not send it to them).
        let mut p = ev.path.as_str();
        let mut at_path = true;
        loop {
            if let Some(v) = self.persistent.get_mut(p) {
                v.retain(|w| !w.tx.is_closed());
                for w in v.iter() {
                    let wants = if w.recursive {
                        ev.kind != EventType::NodeChildrenChanged
                    } else {
                        at_path
                    };
                    if wants {
                        let _ = w.tx.send(client_ev.clone());
                    }
                }
            }
            if p == "/" {
                break;
            }
            p = match p.rfind('/') {
                Some(0) => "/",
                Some(i) => &p[..i],
                None => break,
            };
            at_path = false;
        }
    }

    /// What to restore on a new connection; watchers nobody listens to are pruned first.
    pub fn restore_lists(&mut self) -> RestoreLists {
        self.one_shot.retain(|_, v| {
            v.retain(|w| !w.tx.is_closed());
            !v.is_empty()
        });
        self.persistent.retain(|_, v| {
            v.retain(|w| !w.tx.is_closed());
            !v.is_empty()
        });
        let mut out = RestoreLists::default();
        for (path, v) in &self.one_shot {
            let has = |k| v.iter().any(|w| w.kind == k);
            if has(OneShotKind::Data) {
                out.data.push(path.clone());
            }
            if has(OneShotKind::Exist) {
                out.exist.push(path.clone());
            }
            if has(OneShotKind::Child) {
                out.child.push(path.clone());
            }
        }
        for (path, v) in &self.persistent {
            if v.iter().any(|w| !w.recursive) {
                out.persistent.push(path.clone());
            }
            if v.iter().any(|w| w.recursive) {
                out.recursive.push(path.clone());
            }
        }
        for l in [
            &mut out.data,
            &mut out.exist,
            &mut out.child,
            &mut out.persistent,
            &mut out.recursive,
        ] {
            l.sort();
        }
        out
    }

    /// The session is over: one-shot watchers get `err`, streams end.
    pub fn fail_all(&mut self, err: impl Fn() -> ClientError) {
        for (_, v) in self.one_shot.drain() {
            for w in v {
                let _ = w.tx.send(Err(err()));
            }
        }
        self.persistent.clear();
    }
}

/// A one-shot watch: resolves with the event that triggered it, or with an error when the
/// session ended (expired/closed) or the watch was removed first.
pub struct Watch {
    rx: oneshot::Receiver<Result<WatchedEvent>>,
}

impl Future for Watch {
    type Output = Result<WatchedEvent>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx)
            .poll(cx)
            .map(|r| r.unwrap_or_else(|_| Err(ClientError::Recipe("watch removed".into()))))
    }
}

/// The events of a persistent (or persistent-recursive) watch. Ends when the session ends
/// or the watch is removed.
pub struct WatchStream {
    rx: mpsc::UnboundedReceiver<WatchedEvent>,
}

impl WatchStream {
    /// The next event; `None` once the stream has ended.
    pub async fn next_event(&mut self) -> Option<WatchedEvent> {
        self.rx.recv().await
    }
}

impl futures_core::Stream for WatchStream {
    type Item = WatchedEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<WatchedEvent>> {
        self.rx.poll_recv(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: EventType, path: &str) -> WatchedEvent {
        WatchedEvent {
            kind,
            state: 3,
            path: path.into(),
            zxid: -1,
        }
    }

    #[tokio::test]
    async fn one_shot_fires_once_by_kind_and_maps_chroot() {
        let chroot = Chroot::new("/app").unwrap();
        let mut r = Registry::default();
        let (_, data) = r.add_one_shot("/app/a", OneShotKind::Data);
        let (_, child) = r.add_one_shot("/app/a", OneShotKind::Child);
        r.dispatch(&ev(EventType::NodeDataChanged, "/app/a"), &chroot);
        let got = data.await.unwrap();
        assert_eq!(got.path, "/a");
        assert_eq!(r.restore_lists().child, vec!["/app/a".to_string()]);
        assert!(r.restore_lists().data.is_empty());
        r.dispatch(&ev(EventType::NodeDeleted, "/app/a"), &chroot);
        assert_eq!(child.await.unwrap().kind, EventType::NodeDeleted);
        assert!(r.restore_lists().is_empty());
    }

    #[test]
    fn restore_lists_split_into_bounded_batches() {
        let l = RestoreLists {
            data: (0..10).map(|i| format!("/d{i:03}")).collect(),
            child: (0..10).map(|i| format!("/c{i:03}")).collect(),
            recursive: vec!["/r".into()],
            ..RestoreLists::default()
        };
        let batches = l.batches(45);
        // 9 wire bytes per path: five per batch of 45; "/r" opens a fifth batch.
        assert_eq!(batches.len(), 5);
        assert!(batches
            .iter()
            .all(|b| b.data.len() + b.child.len() + b.recursive.len() <= 5));
        let total: usize = batches
            .iter()
            .map(|b| b.data.len() + b.child.len() + b.recursive.len())
            .sum();
        assert_eq!(total, 21);
        assert_eq!(batches[4].recursive, vec!["/r".to_string()]);
    }

    #[tokio::test]
    async fn recursive_watchers_see_descendants_but_not_child_events() {
        let mut r = Registry::default();
        let (_, mut rec) = r.add_persistent("/a", true);
        let (_, mut per) = r.add_persistent("/a", false);
        let none = Chroot::none();
        r.dispatch(&ev(EventType::NodeCreated, "/a/b/c"), &none);
        r.dispatch(&ev(EventType::NodeChildrenChanged, "/a"), &none);
        assert_eq!(rec.next_event().await.unwrap().path, "/a/b/c");
        assert_eq!(
            per.next_event().await.unwrap().kind,
            EventType::NodeChildrenChanged
        );
        let l = r.restore_lists();
        assert_eq!((l.persistent.len(), l.recursive.len()), (1, 1));
        r.fail_all(|| ClientError::SessionExpired);
        assert!(rec.next_event().await.is_none());
    }

    #[tokio::test]
    async fn failed_registration_is_removed_and_session_end_fails_watches() {
        let mut r = Registry::default();
        let (id, _w) = r.add_one_shot("/x", OneShotKind::Exist);
        r.remove_one_shot("/x", id);
        assert!(r.restore_lists().is_empty());
        let (_, w) = r.add_one_shot("/y", OneShotKind::Data);
        r.fail_all(|| ClientError::SessionExpired);
        assert!(matches!(w.await, Err(ClientError::SessionExpired)));
    }
}
