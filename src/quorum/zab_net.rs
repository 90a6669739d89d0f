//! The quorum port's connections: the leader listens and accepts learners (each names
//! itself in its first packet, FOLLOWERINFO or OBSERVERINFO), a learner dials its leader.
//! Packets are encoded on the caller's thread into a per-link buffer that `flush` writes:
//! the consensus loop flushes once it has nothing more to read, so a burst of proposals,
//! commits or acks is one write. The flush writes to the socket itself (non-blocking) and
//! hands the link's writer task only what the socket would not take, or everything while
//! the task still holds bytes: in the common case no other thread wakes to send (each
//! wake-up is a context switch, the dearest thing on a small machine).
//!
//! Everything that happens arrives as a `ZabEvent` on a crossbeam channel, for the thread
//! that drives the `Leader`/`Learner` machine.

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::Sender;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::vote::Sid;
use super::zab::Msg;
use super::zab_wire::{encode_msg, from_leader, from_learner, read_packet};

/// Largest packet a learner may send (forwarded requests are bounded by jute.maxbuffer).
const MAX_FROM_LEARNER: usize = 64 << 20;
/// Largest packet from the leader: a SNAP carries a whole tree.
const MAX_FROM_LEADER: usize = 1 << 30;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZabEvent {
    Connected(Sid),
    Message(Sid, Msg),
    Disconnected(Sid, String),
}

struct Link {
    generation: u64,
    writer: Writer,
}

/// The sending side of a link: the socket, written directly, and its writer task for the
/// rest.
#[derive(Clone)]
struct Writer {
    tx: mpsc::UnboundedSender<Vec<u8>>,
    /// A clone of the link's socket (shares its non-blocking mode).
    direct: Arc<std::net::TcpStream>,
    /// Bytes handed to the task and not yet written: direct writes wait for zero, so the
    /// stream keeps its order.
    queued: Arc<AtomicUsize>,
}

impl Writer {
    /// Writes what the socket takes now and queues the rest. Only the thread that drives
    /// the machine sends, so nothing is queued between the check and the write.
    fn write(&self, buf: Vec<u8>) {
        let mut from = 0;
        if self.queued.load(Ordering::Acquire) == 0 {
            loop {
                match (&*self.direct).write(&buf[from..]) {
                    Ok(0) => break,
                    Ok(n) => {
                        from += n;
                        if from == buf.len() {
                            return;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    // A broken link: its reader reports the loss.
                    Err(_) => return,
                }
            }
        }
        let rest = if from == 0 { buf } else { buf[from..].to_vec() };
        self.queued.fetch_add(rest.len(), Ordering::AcqRel);
        let _ = self.tx.send(rest);
    }
}

struct Corked {
    generation: u64,
    writer: Writer,
    buf: Vec<u8>,
    packets: usize,
}

/// A link's buffer is handed over early once it holds this many packets or bytes, so a
/// consensus loop that stays busy still sends regularly.
const CORK_MAX_PACKETS: usize = 64;
const CORK_MAX_BYTES: usize = 256 << 10;

#[derive(Default)]
struct Links {
    by_sid: HashMap<Sid, Link>,
    next_generation: u64,
}

/// Quorum-port networking for one server. Dropping it stops its thread and closes links.
pub struct ZabNet {
    me: Sid,
    links: Arc<Mutex<Links>>,
    /// Encoded packets not yet handed to their link, with the link they were sent on.
    corked: Mutex<HashMap<Sid, Corked>>,
    rt: tokio::runtime::Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    listener_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    events: Sender<ZabEvent>,
}

impl Drop for ZabNet {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

impl ZabNet {
    pub fn start(me: Sid, events: Sender<ZabEvent>) -> std::io::Result<ZabNet> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = rt.handle().clone();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("quorum-net".into())
            .spawn(move || {
                rt.block_on(async {
                    let _ = stop_rx.await;
                });
            })?;
        Ok(ZabNet {
            me,
            links: Arc::new(Mutex::new(Links::default())),
            corked: Mutex::new(HashMap::new()),
            rt: handle,
            stop: Some(stop_tx),
            listener_task: Mutex::new(None),
            events,
        })
    }

    /// Leader: accept learners on `addr`. Returns the bound address.
    pub fn listen(&self, addr: SocketAddr) -> std::io::Result<SocketAddr> {
        let std_listener = std::net::TcpListener::bind(addr)?;
        std_listener.set_nonblocking(true)?;
        let local = std_listener.local_addr()?;
        let links = self.links.clone();
        let events = self.events.clone();
        let task = self.rt.spawn(async move {
            let listener = match TcpListener::from_std(std_listener) {
                Ok(l) => l,
                Err(e) => {
                    warn!("quorum listener: {e}");
                    return;
                }
            };
            loop {
                let Ok((s, remote)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(accept_learner(s, remote, links.clone(), events.clone()));
            }
        });
        if let Some(old) = self
            .listener_task
            .lock()
            .expect("listener lock")
            .replace(task)
        {
            old.abort();
        }
        Ok(local)
    }

    /// Leader stepping down: stop accepting (existing links are closed with `close_all`).
    pub fn stop_listening(&self) {
        if let Some(t) = self.listener_task.lock().expect("listener lock").take() {
            t.abort();
        }
    }

    /// Learner: dial the leader. `Connected` or `Disconnected` follows.
    pub fn connect(&self, leader: Sid, addr: String) {
        let links = self.links.clone();
        let events = self.events.clone();
        self.rt.spawn(async move {
            let dial = async {
                let s = TcpStream::connect(addr.as_str()).await?;
                s.set_nodelay(true)?;
                Ok::<_, std::io::Error>(s)
            };
            match tokio::time::timeout(CONNECT_TIMEOUT, dial).await {
                Ok(Ok(s)) => match register(&links, leader, s, events.clone()) {
                    Ok(generation) => {
                        debug!(leader, addr, generation, "connected to leader");
                        let _ = events.send(ZabEvent::Connected(leader));
                    }
                    Err(e) => {
                        let _ = events.send(ZabEvent::Disconnected(leader, format!("{addr}: {e}")));
                    }
                },
                Ok(Err(e)) => {
                    let _ = events.send(ZabEvent::Disconnected(leader, format!("{addr}: {e}")));
                }
                Err(_) => {
                    let _ = events.send(ZabEvent::Disconnected(
                        leader,
                        format!("{addr}: connect timed out"),
                    ));
                }
            }
        });
    }

    /// Queues `msg` for `to` until the next `flush`; silently dropped if there is no link
    /// (its loss shows up as a `Disconnected` event). Packets keep the link they were sent
    /// on: one that is replaced before the flush still gets them, as it would have unbuffered.
    pub fn send(&self, to: Sid, msg: &Msg) {
        let mut corked = self.corked.lock().expect("corked lock");
        let corked_generation = corked.get(&to).map(|c| c.generation);
        let current = {
            let links = self.links.lock().expect("links lock");
            links.by_sid.get(&to).map(|l| {
                // The writer is cloned only for a link's first packet since the last flush.
                let writer = (corked_generation != Some(l.generation)).then(|| l.writer.clone());
                (l.generation, writer)
            })
        };
        let Some((generation, writer)) = current else {
            return;
        };
        if let Some(writer) = writer {
            let fresh = Corked {
                generation,
                writer,
                buf: Vec::new(),
                packets: 0,
            };
            if let Some(old) = corked.insert(to, fresh) {
                if !old.buf.is_empty() {
                    old.writer.write(old.buf);
                }
            }
        }
        let c = corked.get_mut(&to).expect("corked above");
        encode_msg(msg, self.me, &mut c.buf);
        c.packets += 1;
        if c.packets >= CORK_MAX_PACKETS || c.buf.len() >= CORK_MAX_BYTES {
            c.packets = 0;
            let buf = std::mem::take(&mut c.buf);
            c.writer.write(buf);
        }
    }

    /// Writes every buffered packet to its link.
    pub fn flush(&self) {
        let mut corked = self.corked.lock().expect("corked lock");
        for (_, c) in corked.drain() {
            if !c.buf.is_empty() {
                c.writer.write(c.buf);
            }
        }
    }

    /// Closes the link to `sid` after what was sent to it.
    pub fn close(&self, sid: Sid) {
        self.flush();
        self.links.lock().expect("links lock").by_sid.remove(&sid);
    }

    pub fn close_all(&self) {
        self.flush();
        self.links.lock().expect("links lock").by_sid.clear();
    }
}

async fn accept_learner(
    s: TcpStream,
    remote: SocketAddr,
    links: Arc<Mutex<Links>>,
    events: Sender<ZabEvent>,
) {
    let _ = s.set_nodelay(true);
    let (s, direct) = match with_direct_clone(s) {
        Ok(x) => x,
        Err(e) => {
            warn!(%remote, "quorum connection: {e}");
            return;
        }
    };
    let (r, w) = s.into_split();
    let mut r = BufReader::new(r);
    let first = tokio::time::timeout(CONNECT_TIMEOUT, read_packet(&mut r, MAX_FROM_LEARNER)).await;
    let (msg, sid) = match first {
        Ok(Ok(p)) => match from_learner(p) {
            Ok((m @ Msg::FollowerInfo { .. }, Some(sid))) => (m, sid),
            Ok(_) => {
                warn!(%remote, "quorum connection did not start with FOLLOWERINFO/OBSERVERINFO");
                return;
            }
            Err(e) => {
                warn!(%remote, "quorum connection: {e}");
                return;
            }
        },
        Ok(Err(e)) => {
            warn!(%remote, "quorum connection: {e}");
            return;
        }
        Err(_) => return,
    };
    let generation = attach(&links, sid, r, w, direct, false, events.clone());
    debug!(sid, %remote, generation, "learner connected");
    let _ = events.send(ZabEvent::Connected(sid));
    let _ = events.send(ZabEvent::Message(sid, msg));
}

/// A learner's link to its leader.
fn register(
    links: &Arc<Mutex<Links>>,
    sid: Sid,
    s: TcpStream,
    events: Sender<ZabEvent>,
) -> std::io::Result<u64> {
    let (s, direct) = with_direct_clone(s)?;
    let (r, w) = s.into_split();
    Ok(attach(
        links,
        sid,
        BufReader::new(r),
        w,
        direct,
        true,
        events,
    ))
}

/// The socket back, and a std handle on it for `Writer::write` (same non-blocking mode).
fn with_direct_clone(s: TcpStream) -> std::io::Result<(TcpStream, std::net::TcpStream)> {
    let std = s.into_std()?;
    let direct = std.try_clone()?;
    Ok((TcpStream::from_std(std)?, direct))
}

/// Starts the reader and writer of one link and records it, replacing (closing) any
/// earlier link to the same server.
fn attach(
    links: &Arc<Mutex<Links>>,
    sid: Sid,
    mut r: BufReader<tokio::net::tcp::OwnedReadHalf>,
    mut w: tokio::net::tcp::OwnedWriteHalf,
    direct: std::net::TcpStream,
    from_leader_side: bool,
    events: Sender<ZabEvent>,
) -> u64 {
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let queued = Arc::new(AtomicUsize::new(0));
    let writer = Writer {
        tx,
        direct: Arc::new(direct),
        queued: queued.clone(),
    };
    let generation = {
        let mut l = links.lock().expect("links lock");
        l.next_generation += 1;
        let g = l.next_generation;
        l.by_sid.insert(
            sid,
            Link {
                generation: g,
                writer,
            },
        );
        g
    };
    tokio::spawn(async move {
        while let Some(mut buf) = rx.recv().await {
            while let Ok(more) = rx.try_recv() {
                buf.extend_from_slice(&more);
            }
            if w.write_all(&buf).await.is_err() {
                break;
            }
            queued.fetch_sub(buf.len(), Ordering::AcqRel);
        }
    });
    let links = links.clone();
    tokio::spawn(async move {
        let reason = loop {
            let limit = if from_leader_side {
                MAX_FROM_LEADER
            } else {
                MAX_FROM_LEARNER
            };
            let p = match read_packet(&mut r, limit).await {
                Ok(p) => p,
                Err(e) => break e.to_string(),
            };
            let msg = if from_leader_side {
                from_leader(p).map_err(|e| e.to_string())
            } else {
                from_learner(p).map(|(m, _)| m).map_err(|e| e.to_string())
            };
            // A link closed (`close`) or replaced by a newer one from the same server is
            // done: what it still carries must not pass for the current link's messages.
            let current = links
                .lock()
                .expect("links lock")
                .by_sid
                .get(&sid)
                .is_some_and(|x| x.generation == generation);
            if !current {
                break "closed".into();
            }
            match msg {
                Ok(m) => {
                    if events.send(ZabEvent::Message(sid, m)).is_err() {
                        break "event receiver gone".into();
                    }
                }
                Err(e) => break e,
            }
        };
        let mut l = links.lock().expect("links lock");
        if l.by_sid
            .get(&sid)
            .is_some_and(|x| x.generation == generation)
        {
            l.by_sid.remove(&sid);
            drop(l);
            let _ = events.send(ZabEvent::Disconnected(sid, reason));
        }
    });
    generation
}

#[cfg(test)]
mod tests {
    use super::super::zab::{Action, Leader, Learner, LogView, ZabConfig};
    use super::*;
    use std::collections::BTreeSet;
    use std::time::Instant;

    fn cfg(me: Sid) -> ZabConfig {
        ZabConfig {
            me,
            voters: BTreeSet::from([1, 2, 3]),
            observers: BTreeSet::new(),
            tick_ms: 100,
            init_limit_ticks: 50,
            sync_limit_ticks: 50,
            commit_log_count: 500,
        }
    }

    enum M {
        Waiting,
        L(Leader),
        F(Learner),
    }

    /// A leader and two followers over real loopback connections: discovery, sync,
    /// NEWLEADER/UPTODATE, then 200 pipelined proposals, all applied everywhere in order, one
    /// follower joining halfway.
    #[test]
    fn leader_and_two_followers_commit_over_loopback() {
        let t0 = Instant::now();
        let now = || t0.elapsed().as_millis() as u64;
        let (tx, rx) = crossbeam_channel::unbounded::<(usize, ZabEvent)>();
        let mut nets = Vec::new();
        for i in 0..3 {
            let (etx, erx) = crossbeam_channel::unbounded();
            nets.push(ZabNet::start(i as Sid + 1, etx).unwrap());
            let tx = tx.clone();
            std::thread::spawn(move || {
                for e in erx {
                    if tx.send((i, e)).is_err() {
                        break;
                    }
                }
            });
        }
        let addr = nets[2]
            .listen("127.0.0.1:0".parse().unwrap())
            .unwrap()
            .to_string();
        // A learner machine starts once its connection is up (its first act is FOLLOWERINFO).
        let mut machines = vec![M::Waiting, M::Waiting];
        let mut applied: Vec<Vec<i64>> = vec![Vec::new(); 3];
        let mut pending_actions: std::collections::VecDeque<(usize, Vec<Action>)> =
            std::collections::VecDeque::new();
        // One follower now; the other joins once half the writes have committed, so its
        // sync has to send it the committed history (DIFF) while proposals keep flowing.
        nets[0].connect(3, addr.clone());
        let mut second_joined = false;
        let (l, acts) = Leader::new(cfg(3), LogView::default(), now());
        machines.push(M::L(l));
        pending_actions.push_back((2, acts));
        let mut proposed = 0;
        loop {
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "stalled: {applied:?}"
            );
            // Carry out actions; "durable" at once (the log is not what is tested here).
            while let Some((i, acts)) = pending_actions.pop_front() {
                for a in acts {
                    match a {
                        Action::Send { to, msg } => {
                            nets[i].send(to, &msg);
                            nets[i].flush();
                        }
                        Action::Append { zxid, .. } => {
                            let more = match &mut machines[i] {
                                M::L(l) => l.on_durable(zxid),
                                M::F(f) => f.on_durable(zxid),
                                M::Waiting => Vec::new(),
                            };
                            pending_actions.push_back((i, more));
                        }
                        Action::Apply { zxid, .. } => applied[i].push(zxid),
                        Action::GiveUp(why) => panic!("{i} gave up: {why}"),
                        _ => {}
                    }
                }
            }
            if let M::L(l) = &mut machines[2] {
                while l.is_established() && proposed < 200 {
                    proposed += 1;
                    let (_, acts) = l.propose(Arc::from(&b"x"[..])).expect("propose");
                    pending_actions.push_back((2, acts));
                }
            }
            if !second_joined && applied[2].len() >= 100 {
                second_joined = true;
                nets[1].connect(3, addr.clone());
            }
            if applied.iter().all(|a| a.len() == 200) {
                break;
            }
            if !pending_actions.is_empty() {
                continue;
            }
            let Ok((i, ev)) = rx.recv_timeout(Duration::from_millis(50)) else {
                continue;
            };
            let acts = match (&mut machines[i], ev) {
                (M::Waiting, ZabEvent::Connected(leader)) => {
                    let (f, acts) =
                        Learner::new(cfg(i as Sid + 1), leader, &LogView::default(), now());
                    machines[i] = M::F(f);
                    acts
                }
                (M::L(l), ZabEvent::Connected(sid)) => {
                    l.on_connect(sid, now());
                    Vec::new()
                }
                (M::L(l), ZabEvent::Message(sid, m)) => l.on_message(sid, m, now()),
                (M::F(f), ZabEvent::Message(sid, m)) => f.on_message(sid, m, now()),
                (_, ZabEvent::Disconnected(sid, why)) => panic!("{i}: lost {sid}: {why}"),
                _ => Vec::new(),
            };
            pending_actions.push_back((i, acts));
        }
        assert_eq!(applied[0], applied[2]);
        assert_eq!(applied[1], applied[2]);
        assert!(applied[2].windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn a_connection_that_does_not_introduce_itself_is_closed() {
        let (etx, erx) = crossbeam_channel::unbounded();
        let net = ZabNet::start(1, etx).unwrap();
        let addr = net.listen("127.0.0.1:0".parse().unwrap()).unwrap();
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        use std::io::{Read, Write};
        // A PING first instead of FOLLOWERINFO.
        let mut b = Vec::new();
        encode_msg(&Msg::Ping, 9, &mut b);
        s.write_all(&b).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut one = [0u8; 1];
        assert_eq!(s.read(&mut one).unwrap_or(0), 0);
        assert!(erx.try_recv().is_err());
    }
}
