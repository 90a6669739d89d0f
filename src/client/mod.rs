//! An async ZooKeeper client used by the integration tests, the cli and the bench tools.
//!
//! One `Client` is one TCP connection and one session. Every request method enqueues its
//! frame *when called* (not when first polled) and returns a `'static` future, so callers
//! can pipeline: `let a = c.get_data(..); let b = c.set_data(..); tokio::join!(a, b)` writes
//! `a` before `b`. Replies must come back FIFO; any other order is reported as
//! `ClientError::Protocol` to every pending call and closes the connection.
//!
//! Layout: `frame` (pure framing), `multi` (pure multi bodies), `inflight` (reply matching),
//! `conn` (the socket task), `ops` (one method per opcode), `types`, `acl`, `error`;
//! `session` builds the user-facing `ZooKeeper` (reconnecting session, chroot, watch
//! streams, retries) on top of `Client`.

pub mod acl;
mod conn;
pub mod error;
pub mod frame;
pub mod inflight;
pub mod multi;
mod ops;
pub mod session;

pub use ops::Call;
pub mod types;

#[cfg(test)]
mod fake_tests;
#[cfg(test)]
mod reference_tests;

pub use conn::Reply;
pub use error::{ClientError, Result};
pub use session::{RetryPolicy, SessionState, Txn, Watch, WatchStream, ZkOptions, ZooKeeper};
pub use types::*;

pub use crate::proto::records::{Acl, ClientInfo, Id, ReplyHeader, Stat};
pub use crate::proto::ErrorCode;

use crate::proto::records::ConnectRequest;
use conn::{Command, Shared, TaskConfig};
use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::sync::{oneshot, watch};

/// Everything the handshake sends, plus client-side behaviour knobs.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// `host:port`.
    pub addr: String,
    /// Requested session timeout.
    pub timeout: Duration,
    /// Bound on TCP connect + handshake (the handshake waits for a createSession commit,
    /// so it is not tied to a possibly tiny session timeout).
    pub connect_timeout: Duration,
    /// 0 for a new session.
    pub session_id: i64,
    /// 16 bytes; zeros for a new session.
    pub passwd: Vec<u8>,
    /// `None` sends the old 44-byte ConnectRequest without the readOnly byte.
    pub read_only: Option<bool>,
    pub last_zxid_seen: i64,
    /// Send pings after a third of the negotiated timeout of send-idleness (as Java
    /// does). Turn off to let a session expire while the connection stays open.
    pub auto_ping: bool,
    /// Drop the connection if nothing arrives for this long (Java uses 2/3 of the
    /// negotiated timeout). Off by default so slow test machines do not flake.
    pub read_timeout: Option<Duration>,
}

impl ConnectOptions {
    pub fn new(addr: &str, timeout: Duration) -> Self {
        ConnectOptions {
            addr: addr.into(),
            timeout,
            connect_timeout: timeout.max(Duration::from_secs(10)),
            session_id: 0,
            passwd: frame::EMPTY_PASSWD.to_vec(),
            read_only: Some(false),
            last_zxid_seen: 0,
            auto_ping: true,
            read_timeout: None,
        }
    }
}

struct Inner {
    cmds: UnboundedSender<Command>,
    events: Mutex<Option<UnboundedReceiver<WatchedEvent>>>,
    shared: Arc<Shared>,
    connected: watch::Receiver<bool>,
    addr: String,
    session_id: i64,
    passwd: Vec<u8>,
    timeout: Duration,
    read_only: Option<bool>,
}

/// A connected session. Clones share the connection; it is dropped (without closing the
/// session, like a crashed client) once every clone is gone and no call is outstanding.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("addr", &self.inner.addr)
            .field("session_id", &format_args!("{:#x}", self.inner.session_id))
            .finish()
    }
}

impl Client {
    /// Opens a new session.
    pub async fn connect(addr: &str, session_timeout: Duration) -> Result<Client> {
        Client::connect_with(ConnectOptions::new(addr, session_timeout)).await
    }

    pub async fn connect_with(opts: ConnectOptions) -> Result<Client> {
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: opts.last_zxid_seen,
            timeout_ms: opts.timeout.as_millis().min(i32::MAX as u128) as i32,
            session_id: opts.session_id,
            passwd: opts.passwd.clone(),
            read_only: opts.read_only,
        };
        let setup = async {
            let mut s = TcpStream::connect(&opts.addr).await?;
            s.set_nodelay(true)?;
            let resp = conn::handshake(&mut s, &req).await?;
            Ok::<_, ClientError>((s, resp))
        };
        let (stream, resp) = tokio::time::timeout(opts.connect_timeout, setup)
            .await
            .map_err(|_| ClientError::ConnectionLoss)??;
        let negotiated = Duration::from_millis(resp.timeout_ms as u64);
        let (cmd_tx, cmd_rx) = unbounded_channel();
        let (ev_tx, ev_rx) = unbounded_channel();
        let (state_tx, state_rx) = watch::channel(true);
        let shared = Arc::new(Shared {
            last_zxid: AtomicI64::new(opts.last_zxid_seen),
            connected: state_tx,
        });
        let cfg = TaskConfig {
            ping_every: opts.auto_ping.then(|| negotiated / 3),
            read_timeout: opts.read_timeout,
        };
        conn::spawn(stream, cmd_rx, ev_tx, shared.clone(), cfg);
        Ok(Client {
            inner: Arc::new(Inner {
                cmds: cmd_tx,
                events: Mutex::new(Some(ev_rx)),
                shared,
                connected: state_rx,
                addr: opts.addr,
                session_id: resp.session_id,
                passwd: resp.passwd,
                timeout: negotiated,
                read_only: resp.read_only,
            }),
        })
    }

    /// Options that resume this session on a new connection (same id, password, and the
    /// last zxid seen).
    pub fn resume_options(&self) -> ConnectOptions {
        ConnectOptions {
            session_id: self.session_id(),
            passwd: self.session_password().to_vec(),
            last_zxid_seen: self.last_zxid(),
            ..ConnectOptions::new(&self.inner.addr, self.inner.timeout)
        }
    }

    pub fn session_id(&self) -> i64 {
        self.inner.session_id
    }

    pub fn session_password(&self) -> &[u8] {
        &self.inner.passwd
    }

    pub fn negotiated_timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// The readOnly byte of the ConnectResponse (`None` if we used the old form).
    pub fn read_only(&self) -> Option<bool> {
        self.inner.read_only
    }

    /// Largest zxid seen in a normal reply header (pings, auth and events excluded, as in
    /// the Java client).
    pub fn last_zxid(&self) -> i64 {
        self.inner.shared.last_zxid.load(Ordering::SeqCst)
    }

    /// The notification stream. Can be taken once; later calls return `None`.
    pub fn events(&self) -> Option<UnboundedReceiver<WatchedEvent>> {
        self.inner.events.lock().expect("events lock").take()
    }

    /// False once the connection task has stopped (server closed, protocol error, ...).
    pub fn is_connected(&self) -> bool {
        *self.inner.connected.borrow()
    }

    /// Resolves when the connection has gone away.
    pub async fn wait_disconnected(&self) {
        let mut rx = self.inner.connected.clone();
        // An error means the task is gone, which is also "disconnected".
        let _ = rx.wait_for(|up| !*up).await;
    }

    /// Enqueues a request now; the returned future resolves with the raw reply.
    fn submit(
        &self,
        xid: Option<i32>,
        op: i32,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<Reply>> + Send + 'static {
        let (tx, rx) = oneshot::channel();
        let sent = self
            .inner
            .cmds
            .send(Command {
                xid,
                op,
                body,
                waiter: Some(tx),
            })
            .is_ok();
        async move {
            if !sent {
                return Err(ClientError::ConnectionLoss);
            }
            rx.await.unwrap_or(Err(ClientError::ConnectionLoss))
        }
    }

    /// Sends any opcode with any body; the reply header is returned as-is (a non-zero err
    /// is not turned into an error). The xid is chosen as for normal calls: -2 for ping,
    /// -4 for auth, otherwise the next counter value.
    pub fn request_raw(
        &self,
        op: i32,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<(ReplyHeader, Vec<u8>)>> + Send + 'static {
        let f = self.submit(None, op, body);
        async move { f.await.map(|r| (r.header, r.body)) }
    }

    /// Like `request_raw` with a caller-chosen xid (e.g. -8 as the C client uses for
    /// setWatches). The reply must echo it in FIFO order (-2 and -4 use their own queues).
    pub fn request_raw_xid(
        &self,
        xid: i32,
        op: i32,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<(ReplyHeader, Vec<u8>)>> + Send + 'static {
        let f = self.submit(Some(xid), op, body);
        async move { f.await.map(|r| (r.header, r.body)) }
    }
}
