//! The per-connection I/O: handshake, then one task that writes requests (batched, in call
//! order), matches replies, delivers notifications and pings when idle, fed by a reader
//! task that only splits the byte stream into frames.
//!
//! The reader is a separate task because `read_exact` is not cancel-safe inside `select!`;
//! frames reach the main task in socket order, which keeps the guarantee that a
//! notification is in the event channel before any later reply's future resolves.

use super::error::{ClientError, Result};
use super::frame::{self, connect_frame, frame_len, parse_connect_response, split_reply};
use super::inflight::{Inflight, Kind};
use super::types::WatchedEvent;
use crate::proto::opcode::{AUTH, PING, XID_AUTH, XID_NOTIFICATION, XID_PING};
use crate::proto::records::{ConnectRequest, ConnectResponse, ReplyHeader};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

/// A reply frame: header plus the undecoded body (empty when the server sent none).
#[derive(Debug, Clone)]
pub struct Reply {
    pub header: ReplyHeader,
    pub body: Vec<u8>,
}

pub(crate) type Waiter = oneshot::Sender<Result<Reply>>;

/// One request handed to the connection task.
pub(crate) struct Command {
    /// `None`: the task picks the xid (-2 for ping, -4 for auth, else the next counter).
    pub xid: Option<i32>,
    pub op: i32,
    pub body: Vec<u8>,
    pub waiter: Option<Waiter>,
}

/// State the task shares with `Client` handles.
pub(crate) struct Shared {
    pub last_zxid: AtomicI64,
    /// true while the connection task runs.
    pub connected: watch::Sender<bool>,
}

pub(crate) struct TaskConfig {
    pub ping_every: Option<Duration>,
    pub read_timeout: Option<Duration>,
}

/// Writes the ConnectRequest and reads the ConnectResponse.
pub(crate) async fn handshake(s: &mut TcpStream, req: &ConnectRequest) -> Result<ConnectResponse> {
    s.write_all(&connect_frame(req)).await?;
    let payload = read_frame(s).await?;
    parse_connect_response(&payload, req.read_only.is_some())
}

/// Reads one length-prefixed frame. A clean or unclean close is `ConnectionLoss`.
pub(crate) async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Result<Vec<u8>> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len).await.map_err(loss)?;
    let mut payload = vec![0u8; frame_len(len)?];
    r.read_exact(&mut payload).await.map_err(loss)?;
    Ok(payload)
}

fn loss(e: std::io::Error) -> ClientError {
    tracing::debug!("connection read failed: {e}");
    ClientError::ConnectionLoss
}

/// Why the task stopped.
enum Stop {
    /// All handles dropped and nothing outstanding.
    Done,
    Loss,
    Protocol(String),
}

impl Stop {
    fn error(&self) -> ClientError {
        match self {
            Stop::Protocol(m) => ClientError::Protocol(m.clone()),
            Stop::Done | Stop::Loss => ClientError::ConnectionLoss,
        }
    }
}

impl From<ClientError> for Stop {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Protocol(m) => Stop::Protocol(m),
            _ => Stop::Loss,
        }
    }
}

pub(crate) fn spawn(
    stream: TcpStream,
    cmds: UnboundedReceiver<Command>,
    events: UnboundedSender<WatchedEvent>,
    shared: Arc<Shared>,
    cfg: TaskConfig,
) {
    let (rd, wr) = stream.into_split();
    let (ftx, frx) = unbounded_channel();
    let reader = tokio::spawn(read_loop(rd, ftx));
    tokio::spawn(async move {
        let mut task = Task {
            wr,
            inflight: Inflight::default(),
            next_xid: 1,
            events,
            shared,
        };
        let stop = task.run(frx, cmds, cfg).await;
        reader.abort();
        task.finish(stop);
    });
}

async fn read_loop(rd: OwnedReadHalf, tx: UnboundedSender<Result<Vec<u8>>>) {
    let mut rd = BufReader::with_capacity(64 * 1024, rd);
    loop {
        let f = read_frame(&mut rd).await;
        let failed = f.is_err();
        if tx.send(f).is_err() || failed {
            return;
        }
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// Coalesce pipelined requests into writes of up to this many bytes.
const WRITE_BATCH: usize = 64 * 1024;

struct Task {
    wr: OwnedWriteHalf,
    inflight: Inflight<Waiter>,
    next_xid: i32,
    events: UnboundedSender<WatchedEvent>,
    shared: Arc<Shared>,
}

impl Task {
    async fn run(
        &mut self,
        mut frames: UnboundedReceiver<Result<Vec<u8>>>,
        mut cmds: UnboundedReceiver<Command>,
        cfg: TaskConfig,
    ) -> Stop {
        let mut last_send = Instant::now();
        let mut last_recv = Instant::now();
        let mut cmds_open = true;
        loop {
            let ping_at = cfg.ping_every.map(|p| last_send + p);
            let dead_at = cfg.read_timeout.map(|t| last_recv + t);
            tokio::select! {
                f = frames.recv() => {
                    last_recv = Instant::now();
                    match f {
                        Some(Ok(payload)) => {
                            if let Err(stop) = self.on_frame(&payload) {
                                return stop;
                            }
                        }
                        Some(Err(e)) => return e.into(),
                        None => return Stop::Loss,
                    }
                    if !cmds_open && self.inflight.no_waiters() {
                        return Stop::Done;
                    }
                }
                c = cmds.recv(), if cmds_open => {
                    let Some(first) = c else {
                        // Every handle is gone: finish what is outstanding, then hang up.
                        cmds_open = false;
                        if self.inflight.no_waiters() {
                            return Stop::Done;
                        }
                        continue;
                    };
                    let buf = self.batch(first, &mut cmds);
                    if let Err(e) = self.wr.write_all(&buf).await {
                        tracing::debug!("connection write failed: {e}");
                        return Stop::Loss;
                    }
                    last_send = Instant::now();
                }
                _ = sleep_until_opt(ping_at) => {
                    self.inflight.push(XID_PING, None);
                    if self.wr.write_all(&frame::request_frame(XID_PING, PING, &[])).await.is_err() {
                        return Stop::Loss;
                    }
                    last_send = Instant::now();
                }
                _ = sleep_until_opt(dead_at) => {
                    tracing::debug!("nothing received within the read timeout");
                    return Stop::Loss;
                }
            }
        }
    }

    /// Encodes `first` and whatever else is already queued, registering each in write order.
    fn batch(&mut self, first: Command, cmds: &mut UnboundedReceiver<Command>) -> Vec<u8> {
        let mut buf = Vec::new();
        let mut c = first;
        loop {
            let xid = c.xid.unwrap_or_else(|| self.alloc_xid(c.op));
            frame::push_request_frame(&mut buf, xid, c.op, &c.body);
            self.inflight.push(xid, c.waiter);
            if buf.len() >= WRITE_BATCH {
                return buf;
            }
            match cmds.try_recv() {
                Ok(next) => c = next,
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return buf,
            }
        }
    }

    fn alloc_xid(&mut self, op: i32) -> i32 {
        match op {
            PING => XID_PING,
            AUTH => XID_AUTH,
            _ => {
                let x = self.next_xid;
                self.next_xid = if x == i32::MAX { 1 } else { x + 1 };
                x
            }
        }
    }

    fn on_frame(&mut self, payload: &[u8]) -> std::result::Result<(), Stop> {
        let (header, body) = split_reply(payload)?;
        if header.xid == XID_NOTIFICATION {
            let ev = frame::parse_event(&header, body)?;
            // Nobody listening is fine: events are optional for callers.
            let _ = self.events.send(ev);
            return Ok(());
        }
        let (kind, waiter) = self.inflight.on_reply(header.xid).map_err(Stop::Protocol)?;
        if kind == Kind::Normal && header.zxid > 0 {
            self.shared
                .last_zxid
                .fetch_max(header.zxid, Ordering::SeqCst);
        }
        if let Some(w) = waiter {
            // The caller may have dropped its future; the reply is then discarded.
            let _ = w.send(Ok(Reply {
                header,
                body: body.to_vec(),
            }));
        }
        Ok(())
    }

    fn finish(mut self, stop: Stop) {
        let _ = self.shared.connected.send(false);
        for w in self.inflight.drain() {
            let _ = w.send(Err(stop.error()));
        }
    }
}
