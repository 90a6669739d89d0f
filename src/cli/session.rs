//! The cli's session: which server it is on, the live `Client`, reconnecting to the next
//! host when the connection drops (resuming the same session, as the Java client does),
//! and the book of watches this session set, which the server forgets with the connection
//! and the client must re-register (setWatches) on the new one.

use super::error::CliError;
use super::format::{watcher_message, EventKind};
use super::invocation::Invocation;
use crate::client::{Client, ClientError, ConnectOptions, EventType, WatchedEvent};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Prints a message for the user without disturbing the line being edited.
pub type Printer = Arc<dyn Fn(String) + Send + Sync>;

/// Pause between two rounds over the whole server list while reconnecting.
const RECONNECT_ROUND_PAUSE: Duration = Duration::from_secs(1);
/// Bound on connecting to one server, so a dead host does not stall the rotation.
const CONNECT_TIMEOUT_MAX: Duration = Duration::from_secs(10);

/// Watches this session has set, by kind.
#[derive(Debug, Default, Clone)]
pub struct WatchBook {
    pub data: BTreeSet<String>,
    pub exist: BTreeSet<String>,
    pub child: BTreeSet<String>,
    pub persistent: BTreeSet<String>,
    pub recursive: BTreeSet<String>,
}

impl WatchBook {
    /// One-shot watches end when they fire; persistent ones stay.
    fn fired(&mut self, ev: &WatchedEvent) {
        match ev.kind {
            EventType::NodeCreated | EventType::NodeDataChanged => {
                self.data.remove(&ev.path);
                self.exist.remove(&ev.path);
            }
            EventType::NodeDeleted => {
                self.data.remove(&ev.path);
                self.exist.remove(&ev.path);
                self.child.remove(&ev.path);
            }
            EventType::NodeChildrenChanged => {
                self.child.remove(&ev.path);
            }
            EventType::Other(_) => {}
        }
    }

    fn is_empty(&self) -> bool {
        self.data.is_empty()
            && self.exist.is_empty()
            && self.child.is_empty()
            && self.persistent.is_empty()
            && self.recursive.is_empty()
    }
}

struct Current {
    client: Client,
    server_index: usize,
}

/// The connection state shown in the prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Connected,
    Connecting,
    Closed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Connected => "CONNECTED",
            State::Connecting => "CONNECTING",
            State::Closed => "CLOSED",
        }
    }
}

pub struct Session {
    servers: Vec<String>,
    pub connect_string: String,
    timeout: Duration,
    current: Mutex<Current>,
    pub watches: Mutex<WatchBook>,
    printer: Printer,
    pub print_watches: AtomicBool,
    closed: AtomicBool,
}

impl Session {
    /// Connects to the first server of the list that accepts a session.
    pub async fn connect(inv: &Invocation, printer: Printer) -> Result<Arc<Session>, CliError> {
        let mut last_err = String::new();
        for (i, addr) in inv.servers.iter().enumerate() {
            match Client::connect_with(options(addr, inv.timeout)).await {
                Ok(client) => {
                    let sess = Arc::new(Session {
                        servers: inv.servers.clone(),
                        connect_string: inv.connect_string.clone(),
                        timeout: inv.timeout,
                        current: Mutex::new(Current {
                            client: client.clone(),
                            server_index: i,
                        }),
                        watches: Mutex::new(WatchBook::default()),
                        printer,
                        print_watches: AtomicBool::new(true),
                        closed: AtomicBool::new(false),
                    });
                    sess.forward_events(&client);
                    return Ok(sess);
                }
                Err(e) => last_err = format!("{addr}: {}", describe(&e)),
            }
        }
        Err(CliError::Connect {
            servers: inv.connect_string.clone(),
            reason: last_err,
        })
    }

    pub fn client(&self) -> Client {
        self.current.lock().expect("session lock").client.clone()
    }

    /// The `host:port` the session is connected (or connecting) to.
    pub fn server(&self) -> String {
        let i = self.current.lock().expect("session lock").server_index;
        self.servers[i].clone()
    }

    pub fn state(&self) -> State {
        if self.closed.load(Ordering::SeqCst) {
            State::Closed
        } else if self.client().is_connected() {
            State::Connected
        } else {
            State::Connecting
        }
    }

    /// Prints a watcher message unless `printwatches off`.
    pub fn print_event(&self, state: &str, kind: EventKind, path: Option<&str>) {
        if self.print_watches.load(Ordering::SeqCst) {
            (self.printer)(watcher_message(state, kind, path));
        }
    }

    pub fn print(&self, msg: String) {
        (self.printer)(msg);
    }

    /// Prints each notification of `client` as it arrives and keeps the book current.
    fn forward_events(self: &Arc<Self>, client: &Client) {
        let Some(mut rx) = client.events() else {
            return;
        };
        let sess = Arc::clone(self);
        tokio::spawn(async move {
            while let Some(ev) = rx.recv().await {
                sess.watches.lock().expect("watch book lock").fired(&ev);
                sess.print_event("SyncConnected", EventKind::Node(ev.kind), Some(&ev.path));
            }
        });
    }

    /// Keeps the session connected for the interactive shell: when the connection drops,
    /// says so, and tries the next hosts in turn (resuming the session and re-registering
    /// its watches) until one answers.
    pub fn spawn_reconnector(self: &Arc<Self>) {
        let sess = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                let client = sess.client();
                client.wait_disconnected().await;
                if sess.closed.load(Ordering::SeqCst) {
                    return;
                }
                sess.print_event("Disconnected", EventKind::None, None);
                sess.reconnect(&client).await;
            }
        });
    }

    async fn reconnect(self: &Arc<Self>, old: &Client) {
        let mut resume = old.resume_options();
        let start = self.current.lock().expect("session lock").server_index;
        // Each host's failure is reported on the first round only; later rounds retry
        // quietly until one answers, so a long outage does not flood the terminal.
        for round in 0usize.. {
            let say = |msg: String| {
                if round == 0 {
                    self.print(msg);
                }
            };
            for step in 1..=self.servers.len() {
                if self.closed.load(Ordering::SeqCst) {
                    return;
                }
                let i = (start + step) % self.servers.len();
                let addr = &self.servers[i];
                say(format!("Connecting to {addr}"));
                let opts = ConnectOptions {
                    addr: addr.clone(),
                    connect_timeout: self.timeout.min(CONNECT_TIMEOUT_MAX),
                    ..resume.clone()
                };
                match Client::connect_with(opts).await {
                    Ok(client) => {
                        self.install(client, i).await;
                        return;
                    }
                    Err(ClientError::SessionExpired) => {
                        // The old session is gone with its ephemerals and watches; say so
                        // and carry on with a new one, as a restarted zkCli would.
                        self.print_event("Expired", EventKind::None, None);
                        *self.watches.lock().expect("watch book lock") = WatchBook::default();
                        resume = options(addr, self.timeout);
                        match Client::connect_with(resume.clone()).await {
                            Ok(client) => {
                                self.install(client, i).await;
                                return;
                            }
                            Err(e) => say(format!("{addr}: {}", describe(&e))),
                        }
                    }
                    Err(e) => say(format!("{addr}: {}", describe(&e))),
                }
            }
            tokio::time::sleep(RECONNECT_ROUND_PAUSE).await;
        }
    }

    async fn install(self: &Arc<Self>, client: Client, index: usize) {
        self.print(format!("Connected to {}", self.servers[index]));
        let book = self.watches.lock().expect("watch book lock").clone();
        if !book.is_empty() {
            let v = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>();
            let (d, e, c, p, r) = (
                v(&book.data),
                v(&book.exist),
                v(&book.child),
                v(&book.persistent),
                v(&book.recursive),
            );
            let res = client
                .set_watches(
                    client.last_zxid(),
                    &refs(&d),
                    &refs(&e),
                    &refs(&c),
                    &refs(&p),
                    &refs(&r),
                )
                .await;
            if let Err(e) = res {
                self.print(format!("could not re-register watches: {e}"));
            }
        }
        self.forward_events(&client);
        {
            let mut cur = self.current.lock().expect("session lock");
            cur.client = client;
            cur.server_index = index;
        }
        self.print_event("SyncConnected", EventKind::None, None);
    }

    /// Closes the session (its ephemerals go at once rather than at expiry).
    pub async fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let client = self.client();
        if client.is_connected() {
            // The session is being abandoned either way; a failed close only means the
            // server expires it later.
            let _ = tokio::time::timeout(Duration::from_secs(5), client.close()).await;
        }
    }
}

fn refs(s: &[String]) -> Vec<&str> {
    s.iter().map(String::as_str).collect()
}

fn options(addr: &str, timeout: Duration) -> ConnectOptions {
    ConnectOptions {
        connect_timeout: timeout.min(CONNECT_TIMEOUT_MAX),
        ..ConnectOptions::new(addr, timeout)
    }
}

fn describe(e: &ClientError) -> String {
    match e {
        ClientError::ConnectionLoss => "no answer (connection refused, closed or timed out)".into(),
        other => other.to_string(),
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

    #[test]
    fn one_shot_watches_end_when_they_fire_persistent_ones_stay() {
        let mut b = WatchBook::default();
        b.data.insert("/a".into());
        b.exist.insert("/b".into());
        b.child.insert("/a".into());
        b.persistent.insert("/a".into());
        b.recursive.insert("/".into());

        b.fired(&ev(EventType::NodeChildrenChanged, "/a"));
        assert!(b.child.is_empty() && b.data.contains("/a"));
        b.fired(&ev(EventType::NodeCreated, "/b"));
        assert!(b.exist.is_empty());
        b.fired(&ev(EventType::NodeDeleted, "/a"));
        assert!(b.data.is_empty());
        assert!(b.persistent.contains("/a") && b.recursive.contains("/"));
        assert!(!b.is_empty());
    }
}
