//! The task that keeps a session alive across connections: it waits for the current
//! connection to drop, then reconnects with the session id, password and last zxid seen to
//! the next host, re-sends auth and restores watches before user calls may use the new
//! connection. It gives up with `Expired` when the server says so, or (Curator's rule) when
//! no server took the session back within the session timeout.

use super::{Conn, SessionState, Shared};
use crate::client::error::ClientError;
use crate::client::{Client, ConnectOptions};
use crate::proto::ErrorCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Bounds a single connect attempt so one hung host cannot eat the whole session timeout.
fn attempt_timeout(session_timeout: Duration, remaining: Duration) -> Duration {
    (session_timeout / 2)
        .max(Duration::from_millis(500))
        .min(remaining)
}

pub(super) enum Outcome {
    Up(Client),
    Ended(SessionState),
}

/// One pass over the hosts (and more, until `deadline`), starting after the last one used.
pub(super) async fn connect(shared: &Arc<Shared>, deadline: Instant) -> Outcome {
    let n = shared.hosts.len();
    let mut pause = Duration::from_millis(20);
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Outcome::Ended(SessionState::Expired);
        }
        let idx = {
            let mut s = shared.session.lock().expect("session lock");
            s.next_host = (s.next_host + 1) % n;
            s.next_host
        };
        let addr = &shared.hosts[idx];
        let (sid, passwd, zxid, timeout) = {
            let s = shared.session.lock().expect("session lock");
            (s.id, s.passwd.clone(), s.last_zxid, s.timeout)
        };
        let mut opts = ConnectOptions::new(addr, shared.requested_timeout);
        opts.session_id = sid;
        opts.passwd = passwd;
        opts.last_zxid_seen = zxid;
        opts.connect_timeout = attempt_timeout(timeout, deadline - now);
        // The Java client's read timeout: nothing heard for 2/3 of the session timeout means
        // the server is gone, early enough to reconnect before the session expires.
        opts.read_timeout = Some(timeout * 2 / 3);
        match Client::connect_with(opts).await {
            Ok(c) => match restore(shared, &c).await {
                Ok(()) => {
                    let mut s = shared.session.lock().expect("session lock");
                    s.id = c.session_id();
                    s.passwd = c.session_password().to_vec();
                    s.timeout = c.negotiated_timeout();
                    tracing::debug!("session {:#x} connected to {addr}", s.id);
                    return Outcome::Up(c);
                }
                Err(ClientError::Keeper(ErrorCode::AuthFailed)) => {
                    return Outcome::Ended(SessionState::AuthFailed)
                }
                Err(ClientError::SessionExpired) => return Outcome::Ended(SessionState::Expired),
                Err(e) => tracing::debug!("restoring session on {addr} failed: {e}"),
            },
            Err(ClientError::SessionExpired) => return Outcome::Ended(SessionState::Expired),
            Err(e) => tracing::debug!("connect to {addr} failed: {e}"),
        }
        if idx + 1 == n {
            // A full round failed: back off a little before the next one.
            tokio::time::sleep(pause.min(deadline.saturating_duration_since(Instant::now()))).await;
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    }
}

/// The Java client's bound on one SetWatches request's paths.
const SET_WATCHES_MAX_BYTES: usize = 128 * 1024;

/// Auth first, then watches, as the Java client queues them ahead of user packets.
async fn restore(shared: &Arc<Shared>, c: &Client) -> crate::client::Result<()> {
    let auth = shared.auth.lock().expect("auth lock").clone();
    for (scheme, data) in auth {
        c.add_auth(&scheme, &data).await?;
    }
    let lists = shared.watches.lock().expect("watches lock").restore_lists();
    let zxid = shared.session.lock().expect("session lock").last_zxid;
    for lists in lists.batches(SET_WATCHES_MAX_BYTES) {
        c.set_watches(
            zxid,
            &strs(&lists.data),
            &strs(&lists.exist),
            &strs(&lists.child),
            &strs(&lists.persistent),
            &strs(&lists.recursive),
        )
        .await?;
    }
    Ok(())
}

/// Runs for the life of the session; `first` is already installed.
pub(super) async fn run(shared: Arc<Shared>, first: Client) {
    let mut client = first;
    let end = loop {
        tokio::select! {
            _ = client.wait_disconnected() => {}
            _ = shared.close.notified() => break SessionState::Closed,
            _ = shared.expired.notified() => break SessionState::Expired,
        }
        {
            let mut s = shared.session.lock().expect("session lock");
            s.last_zxid = s.last_zxid.max(client.last_zxid());
        }
        shared.set_conn(Conn::Connecting);
        shared.emit(SessionState::Disconnected);
        let timeout = shared.session.lock().expect("session lock").timeout;
        let deadline = Instant::now() + timeout;
        let outcome = tokio::select! {
            o = connect(&shared, deadline) => o,
            _ = shared.close.notified() => Outcome::Ended(SessionState::Closed),
        };
        match outcome {
            Outcome::Up(c) => {
                install(&shared, &c);
                client = c;
            }
            Outcome::Ended(state) => break state,
        }
    };
    shared.end(end);
}

/// Makes `client` the connection user calls go to, with a task feeding its events to the
/// watch registry.
pub(super) fn install(shared: &Arc<Shared>, client: &Client) {
    if let Some(mut events) = client.events() {
        let sh = shared.clone();
        tokio::spawn(async move {
            while let Some(ev) = events.recv().await {
                sh.watches
                    .lock()
                    .expect("watches lock")
                    .dispatch(&ev, &sh.chroot);
            }
        });
    }
    shared.set_conn(Conn::Up(client.clone()));
    shared.emit(SessionState::Connected);
}

fn strs(l: &[String]) -> Vec<&str> {
    l.iter().map(String::as_str).collect()
}
