//! `ZooKeeper`: the user-facing session client, built on `Client` (one connection).
//!
//! A `ZooKeeper` is one session that outlives connections: on connection loss it reconnects
//! to the next host of the connect string with the session id, password and last zxid seen,
//! re-sends `addauth` credentials and restores watches (SetWatches/SetWatches2), reporting
//! each change on the state stream. Paths are relative to the connect string's chroot, both
//! ways. One-shot watches are futures (`Watch`), persistent and recursive ones are streams
//! (`WatchStream`).
//!
//! ```no_run
//! use ringkeeper::client::{acl, CreateMode, ZooKeeper};
//! use std::time::Duration;
//!
//! # async fn demo() -> ringkeeper::client::Result<()> {
//! let zk = ZooKeeper::connect("127.0.0.1:2181,127.0.0.1:2182/app", Duration::from_secs(10)).await?;
//! zk.ensure_path("/config").await?;
//! let (data, _stat, changed) = zk.get_data_watch("/config").await?;
//! println!("config is {:?}", String::from_utf8_lossy(&data));
//! zk.set_data("/config", b"v2", -1).await?;
//! let event = changed.await?;
//! println!("{:?} on {}", event.kind, event.path); // NodeDataChanged on /config
//! zk.txn()
//!     .create("/config/a", b"", &acl::open_unsafe(), CreateMode::Persistent)
//!     .set_data("/config", b"v3", -1)
//!     .commit()
//!     .await?;
//! zk.close().await?;
//! # Ok(()) }
//! ```

pub mod connect_string;
pub mod retry;
mod supervisor;
pub mod txn;
pub mod watches;

use crate::client::error::{ClientError, Result};
use crate::client::types::{AddWatchMode, CreateMode, Op, OpResult, ReadOp, WatcherType};
use crate::client::{Client, ClientInfo, ConnectOptions};
use crate::proto::records::{Acl, Stat};
use crate::proto::ErrorCode;
use crate::rng::Rng;
pub use connect_string::{Chroot, ConnectString};
pub use retry::RetryPolicy;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch, Notify};
pub use txn::Txn;
use watches::{OneShotKind, Registry};
pub use watches::{Watch, WatchStream};

/// What the session is doing, as reported on the state stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// Connected (first time or again); calls go through.
    Connected,
    /// The connection dropped; reconnecting. Calls wait (up to their timeout).
    Disconnected,
    /// The session is gone (the server said so, or no server took it back within the
    /// session timeout). Terminal: ephemerals and watches are lost.
    Expired,
    /// The server rejected re-sent credentials. Terminal.
    AuthFailed,
    /// `close()` was called. Terminal.
    Closed,
}

impl SessionState {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            SessionState::Expired | SessionState::AuthFailed | SessionState::Closed
        )
    }

    fn error(self) -> ClientError {
        match self {
            SessionState::AuthFailed => ClientError::Keeper(ErrorCode::AuthFailed),
            SessionState::Closed => ClientError::Closed,
            _ => ClientError::SessionExpired,
        }
    }
}

/// Options of `ZooKeeper::connect_with`.
#[derive(Debug, Clone)]
pub struct ZkOptions {
    /// `host:port[,host:port...][/chroot]`.
    pub connect_string: String,
    pub session_timeout: Duration,
    /// Bound on every call, including waiting for a reconnection.
    pub call_timeout: Duration,
    /// Try hosts in a random order (as ZooKeeper clients do) so clients spread out.
    pub shuffle_hosts: bool,
    /// Credentials sent before anything else, and again on every reconnection.
    pub auth: Vec<(String, Vec<u8>)>,
}

impl ZkOptions {
    pub fn new(connect_string: &str, session_timeout: Duration) -> ZkOptions {
        ZkOptions {
            connect_string: connect_string.into(),
            session_timeout,
            call_timeout: session_timeout.max(Duration::from_secs(10)),
            shuffle_hosts: true,
            auth: Vec::new(),
        }
    }
}

#[derive(Clone)]
enum Conn {
    Connecting,
    Up(Client),
    Ended(SessionState),
}

struct SessionInfo {
    id: i64,
    passwd: Vec<u8>,
    last_zxid: i64,
    timeout: Duration,
    next_host: usize,
}

struct Shared {
    hosts: Vec<String>,
    chroot: Chroot,
    requested_timeout: Duration,
    call_timeout: Duration,
    session: Mutex<SessionInfo>,
    auth: Mutex<Vec<(String, Vec<u8>)>>,
    watches: Mutex<Registry>,
    conn: watch::Sender<Conn>,
    state: watch::Sender<SessionState>,
    listeners: Mutex<Vec<mpsc::UnboundedSender<SessionState>>>,
    close: Notify,
    /// A reply said SESSIONEXPIRED: the supervisor ends the session.
    expired: Notify,
}

impl Shared {
    fn set_conn(&self, c: Conn) {
        self.conn.send_replace(c);
    }

    fn emit(&self, s: SessionState) {
        self.state.send_replace(s);
        self.listeners
            .lock()
            .expect("listeners lock")
            .retain(|l| l.send(s).is_ok());
    }

    fn end(&self, s: SessionState) {
        self.set_conn(Conn::Ended(s));
        self.watches
            .lock()
            .expect("watches lock")
            .fail_all(|| s.error());
        self.emit(s);
        self.listeners.lock().expect("listeners lock").clear();
    }
}

/// A session that survives connection loss. Cheap to clone; clones share the session.
#[derive(Clone)]
pub struct ZooKeeper {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ZooKeeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZooKeeper")
            .field("hosts", &self.shared.hosts)
            .field("chroot", &self.shared.chroot)
            .field("session_id", &format_args!("{:#x}", self.session_id()))
            .finish()
    }
}

impl ZooKeeper {
    /// Connects to the first host of the (shuffled) connect string that answers and opens a
    /// new session.
    pub async fn connect(connect_string: &str, session_timeout: Duration) -> Result<ZooKeeper> {
        ZooKeeper::connect_with(ZkOptions::new(connect_string, session_timeout)).await
    }

    pub async fn connect_with(opts: ZkOptions) -> Result<ZooKeeper> {
        let cs = ConnectString::parse(&opts.connect_string)?;
        let mut hosts = cs.hosts;
        if opts.shuffle_hosts {
            let mut rng = Rng::new(uuid::Uuid::new_v4().as_u64_pair().0);
            for i in (1..hosts.len()).rev() {
                hosts.swap(i, rng.below(i as u64 + 1) as usize);
            }
        }
        let n = hosts.len();
        let (conn, _) = watch::channel(Conn::Connecting);
        let (state, _) = watch::channel(SessionState::Disconnected);
        let shared = Arc::new(Shared {
            hosts,
            chroot: cs.chroot,
            requested_timeout: opts.session_timeout,
            call_timeout: opts.call_timeout,
            session: Mutex::new(SessionInfo {
                id: 0,
                passwd: crate::client::frame::EMPTY_PASSWD.to_vec(),
                last_zxid: 0,
                timeout: opts.session_timeout,
                // `connect` steps before use, so the first try is host 0.
                next_host: n - 1,
            }),
            auth: Mutex::new(opts.auth),
            watches: Mutex::new(Registry::default()),
            conn,
            state,
            listeners: Mutex::new(Vec::new()),
            close: Notify::new(),
            expired: Notify::new(),
        });
        let deadline = tokio::time::Instant::now() + opts.session_timeout.max(opts.call_timeout);
        match supervisor::connect(&shared, deadline).await {
            supervisor::Outcome::Up(c) => {
                // Installed before returning, so the caller's first call and state
                // subscription see Connected.
                supervisor::install(&shared, &c);
                tokio::spawn(supervisor::run(shared.clone(), c));
                Ok(ZooKeeper { shared })
            }
            supervisor::Outcome::Ended(SessionState::AuthFailed) => {
                Err(ClientError::Keeper(ErrorCode::AuthFailed))
            }
            supervisor::Outcome::Ended(_) => Err(ClientError::ConnectionLoss),
        }
    }

    pub fn session_id(&self) -> i64 {
        self.shared.session.lock().expect("session lock").id
    }

    pub fn session_password(&self) -> Vec<u8> {
        self.shared
            .session
            .lock()
            .expect("session lock")
            .passwd
            .clone()
    }

    pub fn negotiated_timeout(&self) -> Duration {
        self.shared.session.lock().expect("session lock").timeout
    }

    pub fn chroot(&self) -> &Chroot {
        &self.shared.chroot
    }

    /// The current state.
    pub fn state(&self) -> SessionState {
        *self.shared.state.borrow()
    }

    /// Every state change from now on; the stream ends after a terminal state.
    pub fn state_changes(&self) -> mpsc::UnboundedReceiver<SessionState> {
        let (tx, rx) = mpsc::unbounded_channel();
        if !self.state().is_terminal() {
            self.shared
                .listeners
                .lock()
                .expect("listeners lock")
                .push(tx);
        }
        rx
    }

    /// Resolves when the session has ended (expired, auth failed or closed), with that state.
    pub fn session_ended(&self) -> impl Future<Output = SessionState> + Send + 'static {
        let mut rx = self.shared.state.subscribe();
        async move {
            match rx.wait_for(|s| s.is_terminal()).await {
                Ok(s) => *s,
                Err(_) => SessionState::Closed,
            }
        }
    }

    /// Waits until connected (or `timeout`); the error says why not.
    pub async fn wait_connected(&self, timeout: Duration) -> Result<()> {
        self.connection(timeout).await.map(|_| ())
    }

    /// The live connection, waiting for a reconnection up to `timeout`.
    async fn connection(&self, timeout: Duration) -> Result<Client> {
        let mut rx = self.shared.conn.subscribe();
        let wait = rx.wait_for(|c| !matches!(c, Conn::Connecting));
        let c = match tokio::time::timeout(timeout, wait).await {
            Err(_) => return Err(ClientError::ConnectionLoss),
            Ok(Err(_)) => return Err(ClientError::Closed),
            Ok(Ok(c)) => c.clone(),
        };
        match c {
            Conn::Up(c) => Ok(c),
            Conn::Ended(s) => Err(s.error()),
            Conn::Connecting => Err(ClientError::ConnectionLoss),
        }
    }

    /// Runs one call on the live connection within the call timeout.
    async fn run<T, F, Fut>(&self, f: F) -> Result<T>
    where
        F: FnOnce(Client) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let limit = self.shared.call_timeout;
        let c = self.connection(limit).await?;
        match tokio::time::timeout(limit, f(c)).await {
            Ok(Err(ClientError::Keeper(ErrorCode::SessionExpired))) => {
                self.shared.expired.notify_one();
                Err(ClientError::SessionExpired)
            }
            Ok(r) => r,
            Err(_) => Err(ClientError::Timeout(limit)),
        }
    }

    fn server_path(&self, path: &str) -> Result<String> {
        crate::client::session::validate_path(path)?;
        Ok(self.shared.chroot.to_server(path))
    }

    fn client_path(&self, path: &str) -> String {
        self.shared.chroot.to_client(path)
    }

    /// Creates a node; returns its path (with the sequence suffix, chroot removed).
    pub async fn create(
        &self,
        path: &str,
        data: &[u8],
        acl: &[Acl],
        mode: CreateMode,
    ) -> Result<String> {
        self.create_with_stat(path, data, acl, mode)
            .await
            .map(|(p, _)| p)
    }

    /// create2: path and Stat of the new node.
    pub async fn create_with_stat(
        &self,
        path: &str,
        data: &[u8],
        acl: &[Acl],
        mode: CreateMode,
    ) -> Result<(String, Stat)> {
        let sp = self.server_path(path)?;
        let (p, st) = self.run(|c| c.create2(&sp, data, acl, mode)).await?;
        Ok((self.client_path(&p), st))
    }

    /// A container node (deleted by the server once its last child goes).
    pub async fn create_container(&self, path: &str, data: &[u8], acl: &[Acl]) -> Result<String> {
        let sp = self.server_path(path)?;
        let (p, _) = self.run(|c| c.create_container(&sp, data, acl)).await?;
        Ok(self.client_path(&p))
    }

    /// A TTL node (`PersistentWithTtl` or `PersistentSequentialWithTtl`), `ttl` in ms.
    pub async fn create_ttl(
        &self,
        path: &str,
        data: &[u8],
        acl: &[Acl],
        mode: CreateMode,
        ttl: Duration,
    ) -> Result<String> {
        let sp = self.server_path(path)?;
        let ms = ttl.as_millis().min(i64::MAX as u128) as i64;
        let (p, _) = self.run(|c| c.create_ttl(&sp, data, acl, mode, ms)).await?;
        Ok(self.client_path(&p))
    }

    /// Creates `path` and its missing parents as empty persistent nodes (kazoo's
    /// `ensure_path`); existing nodes are fine.
    pub async fn ensure_path(&self, path: &str) -> Result<()> {
        validate_path(path)?;
        if path == "/" || self.exists(path).await?.is_some() {
            return Ok(());
        }
        let mut at = String::new();
        for part in path.split('/').skip(1) {
            at.push('/');
            at.push_str(part);
            match self
                .create(
                    &at,
                    b"",
                    &crate::client::acl::open_unsafe(),
                    CreateMode::Persistent,
                )
                .await
            {
                Ok(_) | Err(ClientError::Keeper(ErrorCode::NodeExists)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    pub async fn delete(&self, path: &str, version: i32) -> Result<()> {
        let sp = self.server_path(path)?;
        self.run(|c| c.delete(&sp, version)).await
    }

    /// `None` when the node does not exist.
    pub async fn exists(&self, path: &str) -> Result<Option<Stat>> {
        let sp = self.server_path(path)?;
        self.run(|c| c.exists(&sp, false)).await
    }

    /// exists with a one-shot watch: fires on creation if missing, on change or deletion
    /// if present.
    pub async fn exists_watch(&self, path: &str) -> Result<(Option<Stat>, Watch)> {
        let sp = self.server_path(path)?;
        let (id, w) = self.register(&sp, OneShotKind::Exist);
        match self.run(|c| c.exists(&sp, true)).await {
            Ok(st) => {
                if st.is_some() {
                    self.registry().set_kind(&sp, id, OneShotKind::Data);
                }
                Ok((st, w))
            }
            Err(e) => {
                self.registry().remove_one_shot(&sp, id);
                Err(e)
            }
        }
    }

    /// Data (null reads as empty) and Stat.
    pub async fn get_data(&self, path: &str) -> Result<(Vec<u8>, Stat)> {
        let sp = self.server_path(path)?;
        let (d, st) = self.run(|c| c.get_data(&sp, false)).await?;
        Ok((d.unwrap_or_default(), st))
    }

    /// get_data with a one-shot watch (fires on change or deletion).
    pub async fn get_data_watch(&self, path: &str) -> Result<(Vec<u8>, Stat, Watch)> {
        let sp = self.server_path(path)?;
        let (id, w) = self.register(&sp, OneShotKind::Data);
        match self.run(|c| c.get_data(&sp, true)).await {
            Ok((d, st)) => Ok((d.unwrap_or_default(), st, w)),
            Err(e) => {
                self.registry().remove_one_shot(&sp, id);
                Err(e)
            }
        }
    }

    pub async fn set_data(&self, path: &str, data: &[u8], version: i32) -> Result<Stat> {
        let sp = self.server_path(path)?;
        self.run(|c| c.set_data(&sp, data, version)).await
    }

    pub async fn get_acl(&self, path: &str) -> Result<(Vec<Acl>, Stat)> {
        let sp = self.server_path(path)?;
        self.run(|c| c.get_acl(&sp)).await
    }

    pub async fn set_acl(&self, path: &str, acl: &[Acl], version: i32) -> Result<Stat> {
        let sp = self.server_path(path)?;
        self.run(|c| c.set_acl(&sp, acl, version)).await
    }

    /// Child names (unordered, as the server keeps them).
    pub async fn get_children(&self, path: &str) -> Result<Vec<String>> {
        let sp = self.server_path(path)?;
        self.run(|c| c.get_children(&sp, false)).await
    }

    /// Child names and the parent's Stat.
    pub async fn get_children_with_stat(&self, path: &str) -> Result<(Vec<String>, Stat)> {
        let sp = self.server_path(path)?;
        self.run(|c| c.get_children2(&sp, false)).await
    }

    /// get_children with a one-shot watch (fires when a child comes or goes, or the node
    /// is deleted).
    pub async fn get_children_watch(&self, path: &str) -> Result<(Vec<String>, Watch)> {
        let sp = self.server_path(path)?;
        let (id, w) = self.register(&sp, OneShotKind::Child);
        match self.run(|c| c.get_children(&sp, true)).await {
            Ok(ch) => Ok((ch, w)),
            Err(e) => {
                self.registry().remove_one_shot(&sp, id);
                Err(e)
            }
        }
    }

    /// Descendants at all depths.
    pub async fn get_all_children_number(&self, path: &str) -> Result<i32> {
        let sp = self.server_path(path)?;
        self.run(|c| c.get_all_children_number(&sp)).await
    }

    /// This session's ephemerals under `prefix` (paths relative to the chroot).
    pub async fn get_ephemerals(&self, prefix: &str) -> Result<Vec<String>> {
        let sp = self.server_path(prefix)?;
        let v = self.run(|c| c.get_ephemerals(&sp)).await?;
        Ok(v.iter().map(|p| self.client_path(p)).collect())
    }

    /// Waits until the server has applied every write before this call.
    pub async fn sync(&self, path: &str) -> Result<()> {
        let sp = self.server_path(path)?;
        self.run(|c| c.sync(&sp)).await.map(|_| ())
    }

    /// A multi builder; see `Txn`.
    pub fn txn(&self) -> Txn {
        Txn::new(self.clone())
    }

    /// Raw multi: per-op results (created paths relative to the chroot).
    pub async fn multi(&self, ops: Vec<Op>) -> Result<Vec<OpResult>> {
        let ops = ops
            .into_iter()
            .map(|o| self.op_to_server(o))
            .collect::<Result<Vec<_>>>()?;
        let res = self.run(|c| c.multi(ops)).await?;
        Ok(res
            .into_iter()
            .map(|r| match r {
                OpResult::Create { path } => OpResult::Create {
                    path: self.client_path(&path),
                },
                OpResult::Create2 { path, stat } => OpResult::Create2 {
                    path: self.client_path(&path),
                    stat,
                },
                other => other,
            })
            .collect())
    }

    fn op_to_server(&self, o: Op) -> Result<Op> {
        Ok(match o {
            Op::Create {
                path,
                data,
                acl,
                mode,
            } => Op::Create {
                path: self.server_path(&path)?,
                data,
                acl,
                mode,
            },
            Op::Create2 {
                path,
                data,
                acl,
                mode,
            } => Op::Create2 {
                path: self.server_path(&path)?,
                data,
                acl,
                mode,
            },
            Op::CreateTtl {
                path,
                data,
                acl,
                mode,
                ttl,
            } => Op::CreateTtl {
                path: self.server_path(&path)?,
                data,
                acl,
                mode,
                ttl,
            },
            Op::Delete { path, version } => Op::Delete {
                path: self.server_path(&path)?,
                version,
            },
            Op::SetData {
                path,
                data,
                version,
            } => Op::SetData {
                path: self.server_path(&path)?,
                data,
                version,
            },
            Op::Check { path, version } => Op::Check {
                path: self.server_path(&path)?,
                version,
            },
        })
    }

    /// multiRead; each entry succeeds or fails on its own.
    pub async fn multi_read(
        &self,
        ops: Vec<ReadOp>,
    ) -> Result<Vec<crate::client::multi::ReadEntry>> {
        let ops = ops
            .into_iter()
            .map(|o| {
                Ok(match o {
                    ReadOp::GetChildren(p) => ReadOp::GetChildren(self.server_path(&p)?),
                    ReadOp::GetData(p) => ReadOp::GetData(self.server_path(&p)?),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        self.run(|c| c.multi_read(ops)).await
    }

    /// A persistent (`Persistent`) or persistent-recursive watch as a stream of events.
    /// It is restored on reconnection and ends with the session.
    pub async fn add_watch(&self, path: &str, mode: AddWatchMode) -> Result<WatchStream> {
        let sp = self.server_path(path)?;
        let recursive = mode == AddWatchMode::PersistentRecursive;
        let (id, s) = self.registry().add_persistent(&sp, recursive);
        match self.run(|c| c.add_watch(&sp, mode)).await {
            Ok(()) => Ok(s),
            Err(e) => {
                self.registry().remove_persistent(&sp, id);
                Err(e)
            }
        }
    }

    /// Removes this session's watches of `kind` on `path` (server and local).
    pub async fn remove_watches(&self, path: &str, kind: WatcherType) -> Result<()> {
        let sp = self.server_path(path)?;
        self.run(|c| c.remove_watches(&sp, kind)).await?;
        let (data, child, persistent) = match kind {
            WatcherType::Data => (true, false, false),
            WatcherType::Children => (false, true, false),
            WatcherType::Any => (true, true, true),
            WatcherType::Persistent | WatcherType::PersistentRecursive => (false, false, true),
        };
        self.registry().remove_kind(&sp, data, child, persistent);
        Ok(())
    }

    /// Adds credentials to the session; they are re-sent on every reconnection.
    pub async fn add_auth(&self, scheme: &str, auth: &[u8]) -> Result<()> {
        self.run(|c| c.add_auth(scheme, auth)).await?;
        self.shared
            .auth
            .lock()
            .expect("auth lock")
            .push((scheme.to_string(), auth.to_vec()));
        Ok(())
    }

    /// The identities the server has for this session.
    pub async fn who_am_i(&self) -> Result<Vec<ClientInfo>> {
        self.run(|c| c.who_am_i()).await
    }

    /// Retries `f` on connection loss and timeouts per `policy` (Curator's `RetryLoop`);
    /// any other error, or success, is returned at once.
    pub async fn retry<T, F, Fut>(&self, policy: &RetryPolicy, mut f: F) -> Result<T>
    where
        F: FnMut(ZooKeeper) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut rng = Rng::new(uuid::Uuid::new_v4().as_u64_pair().1);
        let mut attempt = 0;
        loop {
            match f(self.clone()).await {
                Err(e) if e.is_retryable() => match policy.sleep_before(attempt, &mut rng) {
                    Some(d) => {
                        tracing::debug!("retry {attempt} after {e}, in {d:?}");
                        tokio::time::sleep(d).await;
                        attempt += 1;
                    }
                    None => return Err(e),
                },
                other => return other,
            }
        }
    }

    /// Closes the session (its ephemerals go at once) and stops reconnecting.
    pub async fn close(&self) -> Result<()> {
        let r = match self.connection(Duration::ZERO).await {
            Ok(c) => {
                let f = c.close();
                tokio::time::timeout(self.shared.call_timeout, f)
                    .await
                    .unwrap_or(Err(ClientError::Timeout(self.shared.call_timeout)))
            }
            Err(ClientError::Closed) => return Ok(()),
            Err(e) => Err(e),
        };
        self.shared.close.notify_one();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.session_ended()).await;
        // A connection that drops during close still means the session is closed for us.
        match r {
            Err(ClientError::ConnectionLoss) => Ok(()),
            other => other,
        }
    }

    /// Options that resume this session on a raw `Client` (tests use it to touch the
    /// session from outside).
    pub fn resume_options(&self, addr: &str) -> ConnectOptions {
        let s = self.shared.session.lock().expect("session lock");
        ConnectOptions {
            session_id: s.id,
            passwd: s.passwd.clone(),
            last_zxid_seen: s.last_zxid,
            ..ConnectOptions::new(addr, s.timeout)
        }
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.shared.watches.lock().expect("watches lock")
    }

    fn register(&self, server_path: &str, kind: OneShotKind) -> (u64, Watch) {
        self.registry().add_one_shot(server_path, kind)
    }
}

/// Client-side path check (ZooKeeper's `PathUtils.validatePath` essentials) so a bad path
/// is a clear error rather than a server round trip.
pub fn validate_path(path: &str) -> Result<()> {
    let bad = |why: &str| Err(ClientError::BadArguments(format!("path {path:?}: {why}")));
    if !path.starts_with('/') {
        return bad("must start with /");
    }
    if path.len() > 1 && path.ends_with('/') {
        return bad("must not end with /");
    }
    if path.contains("//") {
        return bad("empty node name");
    }
    if path.split('/').any(|p| p == "." || p == "..") {
        return bad("relative node name");
    }
    if path.contains('\0') {
        return bad("null character");
    }
    Ok(())
}
