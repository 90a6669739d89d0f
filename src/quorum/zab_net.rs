//! The quorum port's connections: the leader listens and accepts learners (each names
//! itself in its first packet, FOLLOWERINFO or OBSERVERINFO), a learner dials its leader.
//!
//! Connecting and accepting run on the `quorum-net` thread; after that, a link is read by
//! the thread that drives the `Leader`/`Learner` machine (the consensus thread), which
//! sleeps in epoll (`doorbell::Sleeper`) with the links' sockets registered and reads
//! whatever arrived in `poll`. A proposal, ack or commit so reaches the machine with one
//! wake-up, not two (a reader thread's, then the machine's).
//!
//! Packets are encoded on the caller's thread into a per-link buffer that `flush` writes:
//! the consensus loop flushes once it has nothing more to read, so a burst of proposals,
//! commits or acks is one write. The flush writes to the socket itself (non-blocking); what
//! the socket would not take waits in the link's backlog, and the link is registered for
//! writability until `poll` has written it. No other thread wakes to send or to read: the
//! writer side has no task on `quorum-net` either (a socket registered there would wake
//! that thread for every packet that arrives).
//!
//! The one exception is a SNAP: the helper thread that serialises the tree writes it onto
//! the link itself (`SnapshotStream`), part by part, while the consensus loop holds back
//! whatever else it has for that learner.

use std::collections::VecDeque;
use std::io::{IoSlice, Read, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, Bytes};
use mio::{Interest, Registry, Token};
use tokio::io::BufReader;
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, warn};

use super::vote::Sid;
use super::zab::Msg;
use super::zab_wire::{
    encode_msg, from_learner, read_packet, snap_packet, take_packet, FromLeader, SNAP, SNAP_PART,
    SNAP_PART_BYTES,
};
use crate::doorbell::Doorbell;
use crate::fasthash::HashMap;

/// Largest packet a learner may send (forwarded requests are bounded by jute.maxbuffer).
const MAX_FROM_LEARNER: usize = 64 << 20;
/// Largest packet from the leader: a SNAP carries a whole tree.
const MAX_FROM_LEADER: usize = 1 << 30;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a closed link's last bytes may take to leave, and its peer to close.
const LINGER: Duration = Duration::from_secs(30);
/// Bytes read from one link per `poll`, so one busy link cannot hold the loop.
const READ_BUDGET: usize = 256 << 10;

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

/// The sending side of a link: the socket, written directly, and what it did not take.
#[derive(Clone)]
struct Writer {
    /// A clone of the link's socket (shares its non-blocking mode).
    direct: Arc<std::net::TcpStream>,
    /// Bytes the socket would not take yet; later writes queue behind them, so the stream
    /// keeps its order. `poll` writes them once the socket is writable.
    backlog: Arc<Mutex<Backlog>>,
}

impl Writer {
    fn write(&self, buf: &[u8]) {
        let mut backlog = self.backlog.lock().expect("backlog lock");
        if backlog.is_empty() {
            let written = write_some(&self.direct, buf);
            backlog.push(Bytes::copy_from_slice(&buf[written..]));
        } else {
            backlog.push(Bytes::copy_from_slice(buf));
        }
    }

    /// Queues `segs` as they are (a snapshot's parts are slices of one buffer, not copies);
    /// `pump` writes them.
    fn queue(&self, segs: Vec<Bytes>) {
        let mut backlog = self.backlog.lock().expect("backlog lock");
        for s in segs {
            backlog.push(s);
        }
    }

    /// Bytes the socket has not taken yet.
    fn queued(&self) -> usize {
        self.backlog.lock().expect("backlog lock").bytes
    }

    /// Writes what it can of the backlog; true when some is left.
    fn pump(&self) -> bool {
        let mut backlog = self.backlog.lock().expect("backlog lock");
        backlog.write_to(&self.direct);
        !backlog.is_empty()
    }
}

/// What a link's socket has not taken yet, in order.
#[derive(Default)]
struct Backlog {
    segs: VecDeque<Bytes>,
    /// Bytes in `segs`.
    bytes: usize,
}

/// Segments handed to one vectored write.
const MAX_IOVECS: usize = 64;

impl Backlog {
    fn is_empty(&self) -> bool {
        self.segs.is_empty()
    }

    fn push(&mut self, b: Bytes) {
        if !b.is_empty() {
            self.bytes += b.len();
            self.segs.push_back(b);
        }
    }

    /// Writes until the socket would block. A broken link takes everything: its reader
    /// reports the loss.
    fn write_to(&mut self, s: &std::net::TcpStream) {
        while !self.segs.is_empty() {
            let slices: Vec<IoSlice<'_>> = self
                .segs
                .iter()
                .take(MAX_IOVECS)
                .map(|b| IoSlice::new(b))
                .collect();
            match (&*s).write_vectored(&slices) {
                Ok(0) => break,
                Ok(n) => self.advance(n),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    self.segs.clear();
                    self.bytes = 0;
                    break;
                }
            }
        }
    }

    fn advance(&mut self, mut n: usize) {
        self.bytes -= n;
        while n > 0 {
            let front = self.segs.front_mut().expect("written bytes were queued");
            if front.len() <= n {
                n -= front.len();
                self.segs.pop_front();
            } else {
                front.advance(n);
                n = 0;
            }
        }
    }
}

/// Writes `buf` until the socket would block; how many bytes it took. A broken link takes
/// everything: its reader reports the loss.
fn write_some(s: &std::net::TcpStream, buf: &[u8]) -> usize {
    let mut from = 0;
    while from < buf.len() {
        match (&*s).write(&buf[from..]) {
            Ok(0) => break,
            Ok(n) => from += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(_) => return buf.len(),
        }
    }
    from
}

struct Corked {
    generation: u64,
    writer: Writer,
    buf: Vec<u8>,
    packets: usize,
}

/// A snapshot written straight onto a link as it is serialised, in SNAP parts, by a thread
/// other than the consensus loop. The serialiser never runs more than `SNAP_AHEAD_BYTES`
/// ahead of what the socket took: it waits, so the leader holds a few parts of a snapshot
/// at a time rather than the whole of it.
pub struct SnapshotStream {
    links: Arc<Mutex<Links>>,
    sid: Sid,
    generation: u64,
    writer: Writer,
    /// What the learner reserves for the whole snapshot (the SNAP_PART zxid field).
    size_hint: usize,
    part: Vec<u8>,
    sent: u64,
}

/// How far a snapshot's serialisation may run ahead of the socket.
const SNAP_AHEAD_BYTES: usize = 4 * SNAP_PART_BYTES;
/// How often a waiting serialiser looks at the link again (the consensus loop also writes
/// the backlog whenever the socket is writable).
const SNAP_WAIT: Duration = Duration::from_millis(1);

impl SnapshotStream {
    /// Sends what is left as the SNAP packet that ends the parts; the snapshot's size.
    pub fn finish(mut self, zxid: i64) -> std::io::Result<u64> {
        let last = Bytes::from(std::mem::take(&mut self.part));
        self.push(snap_packet(SNAP, zxid, last))?;
        Ok(self.sent)
    }

    fn push(&mut self, segs: Vec<Bytes>) -> std::io::Result<()> {
        {
            // Checked and queued under the links lock: a closed link is out of the map before
            // its backlog goes to `linger`, so nothing lands behind what `linger` writes.
            let links = self.links.lock().expect("links lock");
            if !links.is_current(self.sid, self.generation) {
                return Err(self.gone());
            }
            self.sent += segs.iter().map(|b| b.len() as u64).sum::<u64>();
            self.writer.queue(segs);
        }
        self.writer.pump();
        while self.writer.queued() > SNAP_AHEAD_BYTES {
            std::thread::sleep(SNAP_WAIT);
            if !self
                .links
                .lock()
                .expect("links lock")
                .is_current(self.sid, self.generation)
            {
                return Err(self.gone());
            }
            self.writer.pump();
        }
        Ok(())
    }

    fn gone(&self) -> std::io::Error {
        std::io::Error::new(
            std::io::ErrorKind::BrokenPipe,
            format!("the link to {} closed during the SNAP", self.sid),
        )
    }
}

impl Write for SnapshotStream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.part.extend_from_slice(buf);
        if self.part.len() >= SNAP_PART_BYTES {
            let full = std::mem::replace(&mut self.part, Vec::with_capacity(SNAP_PART_BYTES));
            let hint = self.size_hint as i64;
            self.push(snap_packet(SNAP_PART, hint, Bytes::from(full)))?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
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

impl Links {
    fn is_current(&self, sid: Sid, generation: u64) -> bool {
        self.by_sid
            .get(&sid)
            .is_some_and(|l| l.generation == generation)
    }
}

/// The receiving side of a link, read by the thread that calls `ZabNet::poll`.
struct LinkReader {
    sid: Sid,
    generation: u64,
    stream: mio::net::TcpStream,
    /// Bytes read and not yet parsed are `buf[start..end]`; the rest of `buf` is room.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    from_leader_side: bool,
    /// A learner's link: the leader's packets into messages (a snapshot's parts gathered).
    from_leader: FromLeader,
    /// The leader's side: FOLLOWERINFO/OBSERVERINFO, read while accepting.
    first: Option<Msg>,
    /// The link's sending side, for its backlog.
    writer: Writer,
    watching_writable: bool,
}

/// Room a link's buffer starts with, and the least it offers a read.
const READ_CHUNK: usize = 64 << 10;

enum Step {
    /// Read everything there was (the socket would block).
    Drained,
    /// The budget ran out with more to read.
    More,
    Closed(String),
}

impl LinkReader {
    fn new(
        (sid, generation): (Sid, u64),
        stream: mio::net::TcpStream,
        writer: Writer,
        read_already: &[u8],
        from_leader_side: bool,
        first: Option<Msg>,
    ) -> LinkReader {
        let mut buf = vec![0; READ_CHUNK.max(read_already.len())];
        buf[..read_already.len()].copy_from_slice(read_already);
        LinkReader {
            sid,
            generation,
            stream,
            buf,
            start: 0,
            end: read_already.len(),
            from_leader_side,
            from_leader: FromLeader::default(),
            first,
            writer,
            watching_writable: false,
        }
    }

    fn token(&self) -> Token {
        Token(self.generation as usize)
    }

    /// Makes at least `READ_CHUNK` of room after `end`: parsed bytes go first, then the
    /// buffer doubles (a packet bigger than the buffer, such as a SNAP, grows it).
    fn make_room(&mut self) {
        if self.buf.len() - self.end >= READ_CHUNK {
            return;
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() - self.end < READ_CHUNK {
            let grown = (self.buf.len() * 2).max(self.end + READ_CHUNK);
            self.buf.resize(grown, 0);
        }
    }

    /// Reads up to the budget and parses every whole packet into `out`.
    fn read(&mut self, out: &mut Vec<Msg>) -> Step {
        let limit = if self.from_leader_side {
            MAX_FROM_LEADER
        } else {
            MAX_FROM_LEARNER
        };
        let mut taken = 0;
        let step = loop {
            if taken >= READ_BUDGET {
                break Step::More;
            }
            self.make_room();
            match self.stream.read(&mut self.buf[self.end..]) {
                Ok(0) => break Step::Closed("connection closed by the peer".into()),
                Ok(n) => {
                    self.end += n;
                    taken += n;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break Step::Drained,
                Err(e) => break Step::Closed(e.to_string()),
            }
        };
        // Whole packets before a close still count: the peer sent them.
        loop {
            let msg = match take_packet(&self.buf[self.start..self.end], limit) {
                Ok(Some((p, used))) => {
                    self.start += used;
                    if self.from_leader_side {
                        self.from_leader.decode(p)
                    } else {
                        from_learner(p).map(|(m, _)| Some(m))
                    }
                }
                Ok(None) => break,
                Err(e) => return Step::Closed(e.to_string()),
            };
            match msg {
                Ok(Some(m)) => out.push(m),
                Ok(None) => {}
                Err(e) => return Step::Closed(e.to_string()),
            }
        }
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        step
    }
}

/// What `quorum-net` hands the polling thread, in order: a new link (its `Connected`) or a
/// dial that failed.
enum Arrival {
    Link(LinkReader),
    Event(ZabEvent),
}

struct Arrivals {
    queue: Mutex<VecDeque<Arrival>>,
    bell: Arc<Doorbell>,
}

impl Arrivals {
    fn push(&self, a: Arrival) {
        self.queue.lock().expect("arrivals lock").push_back(a);
        self.bell.ring();
    }
}

/// The polling thread's links.
#[derive(Default)]
struct Readers {
    by_token: HashMap<Token, LinkReader>,
    /// Links whose last read stopped at the budget.
    more: Vec<Token>,
}

/// Quorum-port networking for one server. Dropping it stops its thread and closes links.
pub struct ZabNet {
    me: Sid,
    links: Arc<Mutex<Links>>,
    /// Encoded packets not yet handed to their link, with the link they were sent on.
    corked: Mutex<HashMap<Sid, Corked>>,
    arrivals: Arc<Arrivals>,
    readers: Mutex<Readers>,
    /// The polling thread's epoll, where links are registered for reading.
    registry: Registry,
    rt: tokio::runtime::Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    listener_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Drop for ZabNet {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

impl ZabNet {
    /// `registry` and `bell` are those of the thread that will call `poll` (the links are
    /// read there).
    pub fn start(me: Sid, registry: Registry, bell: Arc<Doorbell>) -> std::io::Result<ZabNet> {
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
            corked: Mutex::new(HashMap::default()),
            arrivals: Arc::new(Arrivals {
                queue: Mutex::new(VecDeque::new()),
                bell,
            }),
            readers: Mutex::new(Readers::default()),
            registry,
            rt: handle,
            stop: Some(stop_tx),
            listener_task: Mutex::new(None),
        })
    }

    /// Leader: accept learners on `addr`. Returns the bound address.
    pub fn listen(&self, addr: SocketAddr) -> std::io::Result<SocketAddr> {
        let std_listener = std::net::TcpListener::bind(addr)?;
        std_listener.set_nonblocking(true)?;
        let local = std_listener.local_addr()?;
        let links = self.links.clone();
        let arrivals = self.arrivals.clone();
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
                tokio::spawn(accept_learner(s, remote, links.clone(), arrivals.clone()));
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
        let arrivals = self.arrivals.clone();
        self.rt.spawn(async move {
            let dial = async {
                let s = TcpStream::connect(addr.as_str()).await?;
                s.set_nodelay(true)?;
                Ok::<_, std::io::Error>(s)
            };
            let lost = |why: String| Arrival::Event(ZabEvent::Disconnected(leader, why));
            match tokio::time::timeout(CONNECT_TIMEOUT, dial).await {
                Ok(Ok(s)) => match attach(&links, leader, s, Vec::new(), true, None) {
                    Ok(reader) => {
                        debug!(leader, addr, reader.generation, "connected to leader");
                        arrivals.push(Arrival::Link(reader));
                    }
                    Err(e) => arrivals.push(lost(format!("{addr}: {e}"))),
                },
                Ok(Err(e)) => arrivals.push(lost(format!("{addr}: {e}"))),
                Err(_) => arrivals.push(lost(format!("{addr}: connect timed out"))),
            }
        });
    }

    /// What happened on the links since the last call, in order: links made and lost,
    /// packets read from `ready` (tokens the polling thread's epoll reported) and from links
    /// whose last read stopped at the budget.
    pub fn poll(&self, ready: &[Token], out: &mut Vec<ZabEvent>) {
        let mut readers = self.readers.lock().expect("readers lock");
        let mut to_read = std::mem::take(&mut readers.more);
        to_read.extend_from_slice(ready);
        let arrived: Vec<Arrival> = self
            .arrivals
            .queue
            .lock()
            .expect("arrivals lock")
            .drain(..)
            .collect();
        for a in arrived {
            match a {
                Arrival::Event(e) => out.push(e),
                Arrival::Link(mut r) => {
                    if !self
                        .links
                        .lock()
                        .expect("links lock")
                        .is_current(r.sid, r.generation)
                    {
                        continue;
                    }
                    let token = r.token();
                    if let Err(e) = self
                        .registry
                        .register(&mut r.stream, token, Interest::READABLE)
                    {
                        self.lose(
                            r.sid,
                            r.generation,
                            format!("registering the link: {e}"),
                            out,
                        );
                        continue;
                    }
                    // A newer link from the same server replaces the old one, whose reader
                    // goes with it.
                    self.drop_readers_of(&mut readers, Some(r.sid));
                    out.push(ZabEvent::Connected(r.sid));
                    if let Some(m) = r.first.take() {
                        out.push(ZabEvent::Message(r.sid, m));
                    }
                    to_read.push(r.token());
                    readers.by_token.insert(r.token(), r);
                }
            }
        }
        to_read.sort_unstable();
        to_read.dedup();
        let mut msgs = Vec::new();
        for t in to_read {
            let Some(r) = readers.by_token.get_mut(&t) else {
                continue;
            };
            let step = r.read(&mut msgs);
            let (sid, generation) = (r.sid, r.generation);
            // A link closed (`close`) or replaced by a newer one from the same server is
            // done: what it still carries must not pass for the current link's messages.
            if !self
                .links
                .lock()
                .expect("links lock")
                .is_current(sid, generation)
            {
                msgs.clear();
                self.drop_reader(&mut readers, t);
                continue;
            }
            out.extend(msgs.drain(..).map(|m| ZabEvent::Message(sid, m)));
            match step {
                Step::Drained => {}
                Step::More => readers.more.push(t),
                Step::Closed(why) => {
                    self.drop_reader(&mut readers, t);
                    self.lose(sid, generation, why, out);
                }
            }
        }
        // A link reported writable may take some of its backlog now.
        self.watch_backlogs(&mut readers);
    }

    /// Whether `poll` has something without waiting for the epoll: a link or event that
    /// arrived, or a link read only up to its budget.
    pub fn has_more(&self) -> bool {
        !self.readers.lock().expect("readers lock").more.is_empty()
            || !self
                .arrivals
                .queue
                .lock()
                .expect("arrivals lock")
                .is_empty()
    }

    fn drop_reader(&self, readers: &mut Readers, t: Token) {
        if let Some(mut r) = readers.by_token.remove(&t) {
            let _ = self.registry.deregister(&mut r.stream);
        }
    }

    /// Every reader of `sid`'s links, or of all links.
    fn drop_readers_of(&self, readers: &mut Readers, sid: Option<Sid>) {
        let gone: Vec<Token> = readers
            .by_token
            .iter()
            .filter(|(_, r)| sid.is_none_or(|s| r.sid == s))
            .map(|(&t, _)| t)
            .collect();
        for t in gone {
            self.drop_reader(readers, t);
        }
    }

    /// A link that failed: forgotten, and reported if it was still the current one.
    fn lose(&self, sid: Sid, generation: u64, why: String, out: &mut Vec<ZabEvent>) {
        let mut links = self.links.lock().expect("links lock");
        if links.is_current(sid, generation) {
            links.by_sid.remove(&sid);
            drop(links);
            self.forget_corked(Some(sid));
            out.push(ZabEvent::Disconnected(sid, why));
        }
    }

    /// Drops the buffers (and with them the socket handles) of links that are gone.
    fn forget_corked(&self, sid: Option<Sid>) {
        let mut corked = self.corked.lock().expect("corked lock");
        match sid {
            Some(s) => {
                corked.remove(&s);
            }
            None => corked.clear(),
        }
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
                    old.writer.write(&old.buf);
                }
            }
        }
        let c = corked.get_mut(&to).expect("corked above");
        encode_msg(msg, self.me, &mut c.buf);
        c.packets += 1;
        if c.packets >= CORK_MAX_PACKETS || c.buf.len() >= CORK_MAX_BYTES {
            c.packets = 0;
            c.writer.write(&c.buf);
            c.buf.clear();
        }
    }

    /// A SNAP for `to`, to be written by whoever serialises the tree (`SnapshotStream`),
    /// after whatever was sent to `to` before; `None` if there is no link (its loss shows up
    /// as a `Disconnected` event). Until the stream is finished nothing else may be sent to
    /// `to`: the caller holds such messages back.
    pub fn snapshot_stream(&self, to: Sid, size_hint: usize) -> Option<SnapshotStream> {
        self.flush();
        let links = self.links.lock().expect("links lock");
        let l = links.by_sid.get(&to)?;
        Some(SnapshotStream {
            links: self.links.clone(),
            sid: to,
            generation: l.generation,
            writer: l.writer.clone(),
            size_hint,
            part: Vec::with_capacity(SNAP_PART_BYTES),
            sent: 0,
        })
    }

    /// Writes every buffered packet to its link. The buffers stay, with their room, for
    /// the next burst.
    pub fn flush(&self) {
        let mut corked = self.corked.lock().expect("corked lock");
        for c in corked.values_mut() {
            if !c.buf.is_empty() {
                c.writer.write(&c.buf);
                c.buf.clear();
                c.packets = 0;
            }
        }
        drop(corked);
        self.watch_backlogs(&mut self.readers.lock().expect("readers lock"));
    }

    /// Writes what links hold back, and has the poll report writability exactly for the
    /// links that still hold some.
    fn watch_backlogs(&self, readers: &mut Readers) {
        for (&t, r) in readers.by_token.iter_mut() {
            let waiting = r.writer.pump();
            if waiting != r.watching_writable {
                let interest = if waiting {
                    Interest::READABLE | Interest::WRITABLE
                } else {
                    Interest::READABLE
                };
                // Cannot fail for a registered socket; were it to, the next poll tries again.
                if self.registry.reregister(&mut r.stream, t, interest).is_ok() {
                    r.watching_writable = waiting;
                }
            }
        }
    }

    /// Closes the link to `sid` after what was sent to it.
    pub fn close(&self, sid: Sid) {
        self.close_links(Some(sid));
    }

    pub fn close_all(&self) {
        self.close_links(None);
    }

    fn close_links(&self, sid: Option<Sid>) {
        self.flush();
        self.forget_corked(sid);
        let closed: Vec<Link> = {
            let mut links = self.links.lock().expect("links lock");
            match sid {
                Some(s) => links.by_sid.remove(&s).into_iter().collect(),
                None => links.by_sid.drain().map(|(_, l)| l).collect(),
            }
        };
        self.drop_readers_of(&mut self.readers.lock().expect("readers lock"), sid);
        for l in closed {
            let backlog = std::mem::take(&mut *l.writer.backlog.lock().expect("backlog lock"));
            match l.writer.direct.try_clone() {
                Ok(s) => {
                    self.rt.spawn(linger(s, backlog));
                }
                Err(_) => {
                    let _ = l.writer.direct.shutdown(std::net::Shutdown::Both);
                }
            }
        }
    }
}

async fn accept_learner(
    s: TcpStream,
    remote: SocketAddr,
    links: Arc<Mutex<Links>>,
    arrivals: Arc<Arrivals>,
) {
    let _ = s.set_nodelay(true);
    let mut r = BufReader::new(s);
    let first = tokio::time::timeout(CONNECT_TIMEOUT, read_packet(&mut r, MAX_FROM_LEARNER)).await;
    let (msg, sid) = match first {
        Ok(Ok(p)) => match from_learner(p.view()) {
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
    // What the buffered reader took past the first packet is the link's to read next.
    let rest = r.buffer().to_vec();
    match attach(&links, sid, r.into_inner(), rest, false, Some(msg)) {
        Ok(reader) => {
            debug!(sid, %remote, reader.generation, "learner connected");
            arrivals.push(Arrival::Link(reader));
        }
        Err(e) => warn!(%remote, "quorum connection: {e}"),
    }
}

/// Records a new link, replacing (closing) any earlier link to the same server, and
/// returns its reader, for the polling thread.
fn attach(
    links: &Arc<Mutex<Links>>,
    sid: Sid,
    s: TcpStream,
    read_already: Vec<u8>,
    from_leader_side: bool,
    first: Option<Msg>,
) -> std::io::Result<LinkReader> {
    // Two handles on one socket, sharing its non-blocking mode: a std one for writes and a
    // mio one for the polling thread's epoll.
    let std = s.into_std()?;
    let read = mio::net::TcpStream::from_std(std.try_clone()?);
    let writer = Writer {
        direct: Arc::new(std),
        backlog: Arc::default(),
    };
    let generation = {
        let mut l = links.lock().expect("links lock");
        l.next_generation += 1;
        let g = l.next_generation;
        l.by_sid.insert(
            sid,
            Link {
                generation: g,
                writer: writer.clone(),
            },
        );
        g
    };
    Ok(LinkReader::new(
        (sid, generation),
        read,
        writer,
        &read_already,
        from_leader_side,
        first,
    ))
}

/// A link closed on purpose ends as it would have with a thread of its own: what was sent
/// on it is written, then the peer sees the end, and what the peer still sends is read and
/// dropped until it closes too (closing with unread bytes would reset the connection and
/// could destroy what was sent before they reach the peer).
async fn linger(s: std::net::TcpStream, backlog: Backlog) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut s) = TcpStream::from_std(s) else {
        return;
    };
    let _ = tokio::time::timeout(LINGER, async {
        for seg in &backlog.segs {
            if s.write_all(seg).await.is_err() {
                return;
            }
        }
        if s.shutdown().await.is_ok() {
            let mut sink = vec![0; 64 << 10];
            while matches!(s.read(&mut sink).await, Ok(n) if n > 0) {}
        }
    })
    .await;
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

    /// A `ZabNet` read by a thread of its own, as the consensus thread reads it, whose
    /// events go to `tx` tagged with `i`. The thread ends once the caller drops the net.
    fn polled(me: Sid, i: usize, tx: crossbeam_channel::Sender<(usize, ZabEvent)>) -> Arc<ZabNet> {
        let mut sleeper = crate::doorbell::Sleeper::new().unwrap();
        let net = Arc::new(ZabNet::start(me, sleeper.registry().unwrap(), sleeper.bell()).unwrap());
        let mine = net.clone();
        std::thread::spawn(move || {
            let (mut ready, mut events) = (Vec::new(), Vec::new());
            while Arc::strong_count(&mine) > 1 {
                sleeper.sleep(Duration::from_millis(20), || mine.has_more(), &mut ready);
                mine.poll(&ready, &mut events);
                ready.clear();
                for e in events.drain(..) {
                    if tx.send((i, e)).is_err() {
                        return;
                    }
                }
            }
        });
        net
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
        let nets: Vec<Arc<ZabNet>> = (0..3)
            .map(|i| polled(i as Sid + 1, i, tx.clone()))
            .collect();
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

    /// Leader net 3 and a learner net 1 linked; returns them with the leader's event stream
    /// (the learner's events are checked by the caller through `rx`).
    fn linked_pair() -> (
        Arc<ZabNet>,
        Arc<ZabNet>,
        crossbeam_channel::Receiver<(usize, ZabEvent)>,
    ) {
        let (tx, rx) = crossbeam_channel::unbounded();
        let leader = polled(3, 3, tx.clone());
        let learner = polled(1, 1, tx);
        let addr = leader.listen("127.0.0.1:0".parse().unwrap()).unwrap();
        learner.connect(3, addr.to_string());
        let wait = |want: &ZabEvent| loop {
            let (_, e) = rx.recv_timeout(Duration::from_secs(10)).expect("link");
            if &e == want {
                break;
            }
        };
        wait(&ZabEvent::Connected(3));
        let hello = Msg::FollowerInfo {
            accepted_epoch: 0,
            observer: false,
        };
        learner.send(3, &hello);
        learner.flush();
        wait(&ZabEvent::Message(1, hello));
        (leader, learner, rx)
    }

    fn proposal(zxid: i64, size: usize) -> Msg {
        Msg::Proposal {
            zxid,
            txn: Arc::from(vec![(zxid % 251) as u8; size]),
        }
    }

    /// Far more than the socket takes at once: what it does not take waits in the backlog
    /// and leaves as the socket drains, in order, with nothing lost.
    #[test]
    fn a_burst_bigger_than_the_socket_arrives_whole_and_in_order() {
        let (leader, _learner, rx) = linked_pair();
        let n = 2000;
        for z in 1..=n {
            leader.send(1, &proposal(z, 16 << 10));
            if z % 100 == 0 {
                leader.flush();
            }
        }
        leader.flush();
        for z in 1..=n {
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok((1, ZabEvent::Message(3, m))) => assert_eq!(m, proposal(z, 16 << 10)),
                other => panic!("proposal {z}: {other:?}"),
            }
        }
    }

    /// A snapshot of several parts, bigger than the socket takes at once, written in odd-sized
    /// pieces as a serialiser does, between messages sent before and after it: the learner
    /// gets the messages and the whole snapshot, in the order they were sent.
    #[test]
    fn a_streamed_snapshot_arrives_whole_between_the_messages_around_it() {
        let (leader, _learner, rx) = linked_pair();
        let mut rng = crate::rng::Rng::new(7);
        let bytes: Vec<u8> = (0..5 * SNAP_PART_BYTES + 12345)
            .map(|_| rng.next_u64() as u8)
            .collect();
        leader.send(1, &proposal(1, 100));
        // An estimate below the real size: the learner's buffer grows past it.
        let mut stream = leader.snapshot_stream(1, bytes.len() / 2).expect("a link");
        for piece in bytes.chunks(7919) {
            stream.write_all(piece).unwrap();
        }
        // The data, plus 20 bytes of packet framing per part of about 1 MiB.
        let sent = stream.finish(0x42).unwrap() as usize - bytes.len();
        assert!(
            sent.is_multiple_of(20) && (5..=6).contains(&(sent / 20)),
            "{sent} bytes of framing"
        );
        leader.send(1, &proposal(2, 100));
        leader.flush();
        let mut got = Vec::new();
        while got.len() < 3 {
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok((1, ZabEvent::Message(3, m))) => got.push(m),
                other => panic!("after {} messages: {other:?}", got.len()),
            }
        }
        assert_eq!(got[0], proposal(1, 100));
        match &got[1] {
            Msg::Snap(s) => {
                assert_eq!(s.zxid, 0x42);
                assert!(s.bytes == bytes, "the snapshot arrived changed");
            }
            other => panic!("expected the SNAP, got {other:?}"),
        }
        assert_eq!(got[2], proposal(2, 100));
    }

    /// A serialiser writing to a link that closed stops with an error instead of feeding a
    /// socket no one reads (or blocking on one).
    #[test]
    fn a_snapshot_stream_stops_when_its_link_closes() {
        let (leader, _learner, _rx) = linked_pair();
        let mut stream = leader.snapshot_stream(1, 0).expect("a link");
        leader.close(1);
        let err = stream
            .write_all(&vec![0; 2 * SNAP_PART_BYTES])
            .expect_err("the link is gone");
        assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe);
        assert!(leader.snapshot_stream(1, 0).is_none());
    }

    /// Closing a link right after sending on it still delivers what was sent, including
    /// what the socket had not taken (the learner here reads nothing until the close), then
    /// the end of the stream.
    #[test]
    fn close_delivers_what_was_sent_before_it() {
        use std::io::Read;
        let (tx, rx) = crossbeam_channel::unbounded();
        let leader = polled(3, 3, tx);
        let addr = leader.listen("127.0.0.1:0".parse().unwrap()).unwrap();
        let mut learner = std::net::TcpStream::connect(addr).unwrap();
        let mut hello = Vec::new();
        let info = Msg::FollowerInfo {
            accepted_epoch: 0,
            observer: false,
        };
        encode_msg(&info, 1, &mut hello);
        learner.write_all(&hello).unwrap();
        loop {
            let (_, e) = rx.recv_timeout(Duration::from_secs(10)).expect("learner");
            if e == ZabEvent::Message(1, info.clone()) {
                break;
            }
        }
        let n = 600;
        for z in 1..=n {
            leader.send(1, &proposal(z, 32 << 10));
        }
        leader.close(1);
        learner
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut got = Vec::new();
        learner
            .read_to_end(&mut got)
            .expect("the whole stream, then its end");
        let mut at = 0;
        for z in 1..=n {
            let (p, used) = take_packet(&got[at..], 1 << 20)
                .unwrap()
                .unwrap_or_else(|| panic!("proposal {z} missing"));
            assert_eq!(
                super::super::zab_wire::from_leader(p).unwrap(),
                proposal(z, 32 << 10)
            );
            at += used;
        }
        assert_eq!(at, got.len());
    }

    #[test]
    fn a_connection_that_does_not_introduce_itself_is_closed() {
        let (etx, erx) = crossbeam_channel::unbounded();
        let net = polled(1, 0, etx);
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
