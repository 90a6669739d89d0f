//! One client connection: a reader task that frames requests and hands them to the core,
//! and a writer task that batches outgoing frames onto the socket.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use crate::proto::codec::Decode;
use crate::proto::records::ConnectRequest;

use super::core::{Core, FrameOutcome, Outbound};
use super::fourlw;

/// Connections that never complete a handshake are dropped after this long (ZooKeeper's
/// `zookeeper.nio.sessionlessCnxnTimeout` default).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// The writer coalesces queued frames into one write up to this many bytes.
const WRITE_BATCH_BYTES: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
enum FrameError {
    #[error("connection closed by client")]
    Eof,
    #[error("frame length {0} is negative or exceeds jute.maxbuffer ({1})")]
    TooLarge(i32, usize),
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
}

async fn read_frame<R: AsyncRead + Unpin>(
    rd: &mut R,
    max: usize,
    buf: &mut Vec<u8>,
) -> Result<(), FrameError> {
    let len = match rd.read_i32().await {
        Ok(n) => n,
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(FrameError::Eof),
        Err(e) => return Err(e.into()),
    };
    read_body(rd, len, max, buf).await
}

async fn read_body<R: AsyncRead + Unpin>(
    rd: &mut R,
    len: i32,
    max: usize,
    buf: &mut Vec<u8>,
) -> Result<(), FrameError> {
    if len < 0 || len as usize > max {
        return Err(FrameError::TooLarge(len, max));
    }
    // The buffer grows with the bytes that arrive, not with the length a client declares:
    // many connections each announcing jute.maxbuffer and sending nothing cost nothing.
    buf.clear();
    let got = (&mut *rd).take(len as u64).read_to_end(buf).await?;
    if got < len as usize {
        return Err(FrameError::Eof);
    }
    Ok(())
}

/// Writes queued frames to the socket, keeping `out.queued_bytes` to what it has not yet
/// written and waking a paused reader once that falls below `pause_bytes`. Returns at once,
/// dropping what it holds, when `out.abort` is notified.
async fn writer(
    mut wr: OwnedWriteHalf,
    mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
    out: Rc<Outbound>,
    pause_bytes: usize,
) {
    let mut buf = Vec::with_capacity(16 * 1024);
    loop {
        let first = tokio::select! {
            biased;
            _ = out.abort.notified() => return,
            f = rx.recv() => f,
        };
        let Some(f) = first else {
            break;
        };
        buf.extend_from_slice(&f);
        while buf.len() < WRITE_BATCH_BYTES {
            match rx.try_recv() {
                Ok(f) => buf.extend_from_slice(&f),
                Err(_) => break,
            }
        }
        let written = tokio::select! {
            biased;
            _ = out.abort.notified() => return,
            r = wr.write_all(&buf) => r.is_ok(),
        };
        if !written {
            return;
        }
        let left = out.queued_bytes.get().saturating_sub(buf.len());
        out.queued_bytes.set(left);
        if left < pause_bytes {
            out.drained.notify_one();
        }
        buf.clear();
    }
    let _ = wr.shutdown().await;
}

/// Serves one accepted connection until it closes.
pub async fn serve(core: Rc<RefCell<Core>>, stream: TcpStream, remote: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::with_capacity(64 * 1024, rd);
    let max = core.borrow().settings().jute_max_buffer;

    let first = match tokio::time::timeout(HANDSHAKE_TIMEOUT, rd.read_i32()).await {
        Ok(Ok(n)) => n,
        _ => return,
    };
    if let Some(word) = fourlw::word(first) {
        let shared = core.borrow().shared.clone();
        // As ZooKeeper: the whitelist is checked before stmk's 8-byte argument is read.
        let extra = if word == "stmk" && shared.settings.four_letter_word_allowed(word) {
            rd.read_i64().await.ok()
        } else {
            None
        };
        let out = fourlw::run(&shared, word, extra).await;
        let _ = wr.write_all(out.as_bytes()).await;
        let _ = wr.shutdown().await;
        return;
    }
    let mut buf = Vec::new();
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, read_body(&mut rd, first, max, &mut buf)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!("closing connection from {remote} before handshake: {e}");
            return;
        }
        Err(_) => return,
    }
    let req = match ConnectRequest::from_bytes(&buf) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!("closing connection from {remote}: malformed connect request: {e}");
            return;
        }
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let outbound = Rc::new(Outbound::default());
    let opened = core.borrow_mut().open_conn(remote, tx, outbound.clone());
    let Some((no, closed)) = opened else {
        return;
    };
    let pause_bytes = core.borrow().outbound_pause_bytes();
    tokio::task::spawn_local(writer(wr, rx, outbound, pause_bytes));
    let (done_tx, done_rx) = oneshot::channel();
    core.borrow_mut().begin_handshake(no, req, done_tx);
    let ok = tokio::select! {
        r = done_rx => r.unwrap_or(false),
        _ = closed.notified() => false,
    };
    if !ok {
        core.borrow_mut().close_conn(no);
        return;
    }
    loop {
        let r = tokio::select! {
            r = read_frame(&mut rd, max, &mut buf) => r,
            _ = closed.notified() => return,
        };
        if let Err(e) = r {
            match e {
                FrameError::Eof => {}
                e => tracing::warn!("closing connection from {remote}: {e}"),
            }
            core.borrow_mut().close_conn(no);
            return;
        }
        let outcome = core.borrow_mut().on_frame(no, &buf);
        if outcome == FrameOutcome::Close {
            core.borrow_mut().close_conn(no);
            return;
        }
        // Stop reading while too much waits behind this connection's writes or for its
        // socket.
        loop {
            let Some(outbound) = core.borrow().backpressure(no) else {
                break;
            };
            tokio::select! {
                _ = outbound.drained.notified() => {}
                _ = closed.notified() => return,
            }
        }
    }
}
