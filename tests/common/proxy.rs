//! A fault-injecting TCP proxy for the links between ensemble members.
//!
//! Member i reaches member j's quorum and election ports only through a proxy of its own
//! (i→j), so every link can be disturbed. The model is per *direction*: for each ordered
//! pair of members (a, b) one `Flow` says what happens to bytes going from a to b, on every
//! connection between them, whichever side dialed (a connection through proxy a→b carries
//! a→b bytes forward and b→a bytes back; one through b→a the other way round). A flow can
//! be:
//!
//! - blocked: bytes in that direction stop where they are — not read from the sender's
//!   socket, not written to the receiver's, no FIN, no RST — so the sender's writes pile up
//!   in its socket buffer and the receiver hears nothing, as with packets silently dropped
//!   one way. Servers find out by their own timeouts.
//! - delayed: each chunk read is delivered after a time drawn uniformly from a range, in
//!   order (a chunk never overtakes an earlier one): latency, not a throughput cap.
//! - rate-limited: at most that many bytes per second are written on each connection.
//!
//! A connection is dialed through unless both of its directions are blocked (then the
//! kernel completes the handshake with the proxy but the target never sees it: a full
//! partition). With one direction blocked it is dialed and the other direction flows, so
//! a one-way partition lets each side open connections that carry only what it may hear.
//! Once a connection has lived through a block in either direction, it is closed as soon as
//! neither direction is blocked (the heal): after a partition long enough for the servers
//! to give up, such connections are dead, and whatever stalled in them is dropped. Delay
//! and rate changes never close connections.
//!
//! `cut` (both directions), `cut_one_way`, `isolate`, `heal`/`heal_all`, `slow_member` and
//! `set_flow` are the levers; `flap` drives a link through random cuts and heals.
//!
//! Each member's client port has a proxy too (`client_port`), for clients that should reach
//! it only that way; its two flows (clients to the member, the member to clients) are apart
//! from the members' and move only with `cut_clients` / `heal_clients` and the `*_all`
//! levers.
//!
//! One wrinkle is ZooKeeper's (and ringkeeper's compatible) election handshake: a dialer
//! sends its own election address, and a receiver with the higher id drops the connection
//! and dials back to that address — straight to the real port, around the proxy. The
//! election proxy i→j therefore rewrites that address to the proxy j→i, so the dial-back
//! also crosses a link that can be cut. Any other first bytes pass unchanged. (Without the
//! rewrite, ZooKeeper 3.8's QuorumCnxManager.handleConnection dials back around the cut, and
//! the partition tests took 74 s instead of 18 s.)

use ringkeeper::rng::Rng;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

/// ZooKeeper's election protocol markers (QuorumCnxManager, one or several addresses).
const ELECTION_PROTOCOL_V1: i64 = -65536;
const ELECTION_PROTOCOL_V2: i64 = -65535;
/// The receiver's bound on the address string (larger means this is not that header).
const ELECTION_MAX_ADDRESS: i32 = 2048;

/// Largest chunk read at once; with a rate limit, largest write at once (so the pacing is
/// smooth rather than a burst every few seconds).
const CHUNK: usize = 16 * 1024;
const PACED_WRITE: usize = 1024;
/// Chunks in flight per direction of one connection. Many, because under delay small
/// chunks (one proposal each) must not turn the latency into a throughput cap.
const IN_FLIGHT: usize = 4096;

/// What happens to the bytes going one way between two members.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Flow {
    pub blocked: bool,
    /// Each chunk is delivered this long after it was read, drawn uniformly (min, max).
    pub delay: (Duration, Duration),
    /// Bytes per second per connection; `None` is unlimited.
    pub rate: Option<u64>,
}

impl Flow {
    fn is_clear(&self) -> bool {
        *self == Flow::default()
    }
}

/// One listening proxy in front of one target port.
pub struct Proxy {
    pub port: u16,
}

/// The proxies of one ensemble: for every ordered pair (from, to) of member ids, one proxy
/// for `to`'s quorum port and one for its election port, used only by `from`; and for every
/// ordered pair (a, b) the flow of bytes from a to b.
pub struct ProxyNet {
    rt: Option<tokio::runtime::Runtime>,
    /// (from, to) -> (quorum proxy, election proxy)
    links: BTreeMap<(u64, u64), (Proxy, Proxy)>,
    /// (a, b) -> what happens to bytes from a to b
    flows: BTreeMap<(u64, u64), watch::Sender<Flow>>,
    /// member -> the proxy in front of its client port
    client_proxies: BTreeMap<u64, Proxy>,
    /// member -> (bytes from clients to it, bytes from it to clients)
    client_flows: BTreeMap<u64, (watch::Sender<Flow>, watch::Sender<Flow>)>,
}

impl ProxyNet {
    /// `ports[i]` are member (i + 1)'s real (client, quorum, election) ports on 127.0.0.1.
    pub fn start(ports: &[(u16, u16, u16)]) -> ProxyNet {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("proxy")
            .enable_all()
            .build()
            .expect("proxy runtime");
        let n = ports.len() as u64;
        let bind = || {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a proxy port");
            l.set_nonblocking(true).expect("nonblocking proxy listener");
            l
        };
        // Bind everything first: each election proxy must know its reverse's port.
        let mut listeners = BTreeMap::new();
        let mut flows = BTreeMap::new();
        for from in 1..=n {
            for to in (1..=n).filter(|&t| t != from) {
                listeners.insert((from, to), (bind(), bind()));
                flows.insert((from, to), watch::channel(Flow::default()).0);
            }
        }
        let port = |l: &std::net::TcpListener| l.local_addr().expect("proxy addr").port();
        let reverse_election: BTreeMap<(u64, u64), u16> = listeners
            .iter()
            .map(|(&(from, to), (_, e))| ((to, from), port(e)))
            .collect();
        let mut links = BTreeMap::new();
        for ((from, to), (ql, el)) in listeners {
            let (_, real_q, real_e) = ports[(to - 1) as usize];
            let dir = Directions {
                forward: flows[&(from, to)].subscribe(),
                back: flows[&(to, from)].subscribe(),
                seed: from * 1000 + to,
            };
            let q = spawn_proxy(&rt, ql, real_q, None, dir.clone());
            let rewrite = format!("127.0.0.1:{}", reverse_election[&(from, to)]);
            let e = spawn_proxy(&rt, el, real_e, Some(rewrite), dir);
            links.insert((from, to), (q, e));
        }
        let mut client_proxies = BTreeMap::new();
        let mut client_flows = BTreeMap::new();
        for (i, &(real_c, _, _)) in ports.iter().enumerate() {
            let id = i as u64 + 1;
            let (to, from) = (
                watch::channel(Flow::default()).0,
                watch::channel(Flow::default()).0,
            );
            let dir = Directions {
                forward: to.subscribe(),
                back: from.subscribe(),
                seed: id,
            };
            client_proxies.insert(id, spawn_proxy(&rt, bind(), real_c, None, dir));
            client_flows.insert(id, (to, from));
        }
        ProxyNet {
            rt: Some(rt),
            links,
            flows,
            client_proxies,
            client_flows,
        }
    }

    /// The port of the proxy in front of member `id`'s client port.
    pub fn client_port(&self, id: u64) -> u16 {
        self.client_proxies[&id].port
    }

    /// Bytes between clients and member `id` stop both ways (on connections through its
    /// client proxy), as a dead network path would: no FIN, no RST.
    pub fn cut_clients(&self, id: u64) {
        let (to, from) = &self.client_flows[&id];
        to.send_modify(|f| f.blocked = true);
        from.send_modify(|f| f.blocked = true);
    }

    /// Ends `cut_clients`; the connections that lived through it close.
    pub fn heal_clients(&self, id: u64) {
        let (to, from) = &self.client_flows[&id];
        to.send_modify(|f| f.blocked = false);
        from.send_modify(|f| f.blocked = false);
    }

    fn every_flow(&self) -> impl Iterator<Item = &watch::Sender<Flow>> {
        self.flows
            .values()
            .chain(self.client_flows.values().flat_map(|(a, b)| [a, b]))
    }

    /// The (quorum, election) ports member `from` must use to reach member `to`.
    pub fn ports(&self, from: u64, to: u64) -> (u16, u16) {
        let (q, e) = &self.links[&(from, to)];
        (q.port, e.port)
    }

    /// Member ids.
    pub fn ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self.flows.keys().map(|(a, _)| *a).collect();
        ids.dedup();
        ids
    }

    /// The flow of bytes from `from` to `to`.
    pub fn flow(&self, from: u64, to: u64) -> Flow {
        self.flows[&(from, to)].borrow().clone()
    }

    /// Sets the flow of bytes from `from` to `to`.
    pub fn set_flow(&self, from: u64, to: u64, flow: Flow) {
        self.flows[&(from, to)].send_replace(flow);
    }

    fn set_blocked(&self, from: u64, to: u64, blocked: bool) {
        self.flows[&(from, to)].send_modify(|f| f.blocked = blocked);
    }

    /// Bytes from `from` to `to` stop; the other way they still flow.
    pub fn cut_one_way(&self, from: u64, to: u64) {
        self.set_blocked(from, to, true);
    }

    /// Cuts both directions between `a` and `b`.
    pub fn cut(&self, a: u64, b: u64) {
        self.set_blocked(a, b, true);
        self.set_blocked(b, a, true);
    }

    /// Unblocks both directions between `a` and `b` (delays and rates stay).
    pub fn heal(&self, a: u64, b: u64) {
        self.set_blocked(a, b, false);
        self.set_blocked(b, a, false);
    }

    /// Whether either direction between `a` and `b` is blocked.
    pub fn is_cut(&self, a: u64, b: u64) -> bool {
        self.flow(a, b).blocked || self.flow(b, a).blocked
    }

    /// Cuts every link to and from `id`: it can reach no member and none can reach it.
    pub fn isolate(&self, id: u64) {
        for other in self.ids().into_iter().filter(|&o| o != id) {
            self.cut(id, other);
        }
    }

    /// Every byte to and from `id` is delayed by `delay` (min, max) and, if `rate` is set,
    /// limited to that many bytes per second per connection.
    pub fn slow_member(&self, id: u64, delay: (Duration, Duration), rate: Option<u64>) {
        for other in self.ids().into_iter().filter(|&o| o != id) {
            for (a, b) in [(id, other), (other, id)] {
                self.flows[&(a, b)].send_modify(|f| {
                    f.delay = delay;
                    f.rate = rate;
                });
            }
        }
    }

    /// Unblocks every direction, clients' too (delays and rates stay).
    pub fn heal_all(&self) {
        for f in self.every_flow() {
            f.send_modify(|f| f.blocked = false);
        }
    }

    /// Every direction, clients' too, back to unblocked, undelayed, unlimited.
    pub fn clear_all(&self) {
        for f in self.every_flow() {
            f.send_replace(Flow::default());
        }
    }

    /// Whether every flow, clients' too, is clear (no block, delay or rate).
    pub fn all_clear(&self) -> bool {
        self.every_flow().all(|f| f.borrow().is_clear())
    }

    /// Cuts and heals the links between `a` and each of `bs` at random for `total`: each
    /// cut (both ways, or one way in either direction, at random; all of `bs` together)
    /// lasts a time drawn uniformly from `cut`, each healed spell one from `healed`.
    /// Blocks the calling thread; leaves the links healed.
    pub fn flap(
        &self,
        a: u64,
        bs: &[u64],
        total: Duration,
        (cut, healed): (Spell, Spell),
        rng: &mut Rng,
    ) -> FlapReport {
        let end = Instant::now() + total;
        let mut report = FlapReport::default();
        while Instant::now() < end {
            let kind = rng.below(3);
            for &b in bs {
                match kind {
                    0 => self.cut(a, b),
                    1 => self.cut_one_way(a, b),
                    _ => self.cut_one_way(b, a),
                }
            }
            report.cuts[kind as usize] += 1;
            let held = uniform(rng, cut);
            report.longest = report.longest.max(held);
            std::thread::sleep(held);
            for &b in bs {
                self.heal(a, b);
            }
            std::thread::sleep(uniform(rng, healed));
        }
        report
    }
}

/// A range of durations to draw from uniformly: (min, max).
pub type Spell = (Duration, Duration);

/// What `flap` did.
#[derive(Debug, Default, Clone, Copy)]
pub struct FlapReport {
    /// Cuts both ways, one way away from the flapping member, one way towards it.
    pub cuts: [u64; 3],
    pub longest: Duration,
}

impl FlapReport {
    pub fn total(&self) -> u64 {
        self.cuts.iter().sum()
    }
}

impl std::fmt::Display for FlapReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} cuts ({} both ways, {} one way out, {} one way in; longest {:.1?})",
            self.total(),
            self.cuts[0],
            self.cuts[1],
            self.cuts[2],
            self.longest
        )
    }
}

/// A duration drawn uniformly from [lo, hi].
pub fn uniform(rng: &mut Rng, (lo, hi): Spell) -> Duration {
    if hi <= lo {
        return lo;
    }
    lo + (hi - lo).mul_f64(rng.unit())
}

impl Drop for ProxyNet {
    fn drop(&mut self) {
        // Also fine when dropped inside an async test.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// The flows one proxy's connections obey: `forward` from the dialer to the target,
/// `back` from the target to the dialer.
#[derive(Clone)]
struct Directions {
    forward: watch::Receiver<Flow>,
    back: watch::Receiver<Flow>,
    seed: u64,
}

fn spawn_proxy(
    rt: &tokio::runtime::Runtime,
    listener: std::net::TcpListener,
    target_port: u16,
    election_rewrite: Option<String>,
    dir: Directions,
) -> Proxy {
    let port = listener.local_addr().expect("proxy addr").port();
    let target = SocketAddr::from(([127, 0, 0, 1], target_port));
    rt.spawn(async move {
        let listener = TcpListener::from_std(listener).expect("tokio proxy listener");
        let mut n = 0u64;
        loop {
            let Ok((inbound, _)) = listener.accept().await else {
                // Out of descriptors or similar: do not spin on it.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            n += 1;
            let mut d = dir.clone();
            d.seed = d.seed.wrapping_mul(1_000_003).wrapping_add(n);
            tokio::spawn(serve(inbound, target, election_rewrite.clone(), d));
        }
    });
    Proxy { port }
}

/// Waits until the flow says `pred`; never returns if the net is gone (the runtime is
/// being shut down then).
async fn until(flow: &mut watch::Receiver<Flow>, pred: impl Fn(&Flow) -> bool) {
    if flow.wait_for(|f| pred(f)).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Waits until neither direction is blocked.
async fn until_both_open(dir: &mut Directions) {
    loop {
        until(&mut dir.forward, |f| !f.blocked).await;
        until(&mut dir.back, |f| !f.blocked).await;
        if !dir.forward.borrow().blocked {
            return;
        }
    }
}

/// Waits until some direction is blocked, then until neither is: the connection lived
/// through a cut and is to be closed.
async fn cut_then_healed(mut dir: Directions) {
    tokio::select! {
        _ = until(&mut dir.forward, |f| f.blocked) => {}
        _ = until(&mut dir.back, |f| f.blocked) => {}
    }
    until_both_open(&mut dir).await;
}

/// One proxied connection: dial, forward both ways obeying the flows; close when both
/// ways end or when the connection is healed after living through a cut.
async fn serve(inbound: TcpStream, target: SocketAddr, rewrite: Option<String>, dir: Directions) {
    let both_blocked = |d: &Directions| d.forward.borrow().blocked && d.back.borrow().blocked;
    if both_blocked(&dir) {
        // A full partition: the dialer's handshake completed with the proxy only.
        until_both_open(&mut dir.clone()).await;
        return;
    }
    let mut watch_full = dir.clone();
    let dial = tokio::select! {
        r = TcpStream::connect(target) => Some(r),
        _ = async {
            loop {
                tokio::select! {
                    _ = until(&mut watch_full.forward, |f| f.blocked) => {}
                    _ = until(&mut watch_full.back, |f| f.blocked) => {}
                }
                if both_blocked(&watch_full) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        } => None,
    };
    let outbound = match dial {
        Some(Ok(s)) => s,
        Some(Err(_)) if !dir.back.borrow().blocked => {
            // Closing the inbound side: to the dialer it looks like a refused port.
            return;
        }
        _ => {
            // The refusal (or the handshake) cannot travel back: stay silent until healed.
            until_both_open(&mut dir.clone()).await;
            return;
        }
    };
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    let (ir, iw) = inbound.into_split();
    let (or, ow) = outbound.into_split();
    let forward = direction(ir, ow, dir.forward.clone(), rewrite, dir.seed);
    let back = direction(or, iw, dir.back.clone(), None, dir.seed ^ 0x5eed);
    // Dropping the halves (when this returns) closes both sockets.
    tokio::select! {
        _ = async { tokio::join!(forward, back) } => {}
        _ = cut_then_healed(dir.clone()) => {}
    }
}

/// One direction of a connection: a reader that stamps each chunk with its delivery time
/// and a writer that delivers in order, each stalling while the flow is blocked.
async fn direction(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    flow: watch::Receiver<Flow>,
    rewrite: Option<String>,
    seed: u64,
) {
    let (tx, mut rx) = mpsc::channel::<(tokio::time::Instant, Vec<u8>)>(IN_FLIGHT);
    let mut rflow = flow.clone();
    let reader = async move {
        let mut rng = Rng::new(seed);
        let mut last = tokio::time::Instant::now();
        let mut first = rewrite;
        loop {
            until(&mut rflow, |f| !f.blocked).await;
            let read = async {
                match first.take() {
                    Some(addr) => rewrite_election_hello(&mut from, &addr).await,
                    None => {
                        let mut buf = vec![0u8; CHUNK];
                        let n = from.read(&mut buf).await?;
                        buf.truncate(n);
                        Ok(buf)
                    }
                }
            };
            let chunk = tokio::select! {
                r = read => r,
                // A connection that saw a block is closed at the heal: nothing more to read.
                _ = until(&mut rflow, |f| f.blocked) => std::future::pending().await,
            };
            let Ok(chunk) = chunk else { break };
            if chunk.is_empty() {
                break;
            }
            let delay = uniform(&mut rng, rflow.borrow().delay);
            last = last.max(tokio::time::Instant::now() + delay);
            if tx.send((last, chunk)).await.is_err() {
                break;
            }
        }
    };
    let mut wflow = flow;
    let writer = async move {
        let mut next_free = tokio::time::Instant::now();
        while let Some((at, chunk)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            let rate = wflow.borrow().rate;
            let pieces: Vec<&[u8]> = match rate {
                Some(_) => chunk.chunks(PACED_WRITE).collect(),
                None => vec![&chunk[..]],
            };
            for piece in pieces {
                if let Some(rate) = rate {
                    tokio::time::sleep_until(next_free).await;
                    let now = tokio::time::Instant::now();
                    next_free = next_free.max(now)
                        + Duration::from_secs_f64(piece.len() as f64 / rate.max(1) as f64);
                }
                until(&mut wflow, |f| !f.blocked).await;
                tokio::select! {
                    r = to.write_all(piece) => if r.is_err() { return },
                    // Blocked mid-write: the connection is closed at the heal anyway.
                    _ = until(&mut wflow, |f| f.blocked) => std::future::pending::<()>().await,
                }
            }
        }
        // The FIN travels the same way as the bytes.
        until(&mut wflow, |f| !f.blocked).await;
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}

/// Reads the election handshake's first message and returns it with its address replaced
/// by `addr`; anything that is not that message is returned unchanged.
async fn rewrite_election_hello(from: &mut OwnedReadHalf, addr: &str) -> std::io::Result<Vec<u8>> {
    let mut head = [0u8; 8];
    from.read_exact(&mut head).await?;
    let version = i64::from_be_bytes(head);
    if version != ELECTION_PROTOCOL_V1 && version != ELECTION_PROTOCOL_V2 {
        return Ok(head.to_vec());
    }
    let mut sid_len = [0u8; 12];
    from.read_exact(&mut sid_len).await?;
    let len = i32::from_be_bytes(sid_len[8..12].try_into().expect("4 bytes"));
    if !(0..=ELECTION_MAX_ADDRESS).contains(&len) {
        let mut out = head.to_vec();
        out.extend_from_slice(&sid_len);
        return Ok(out);
    }
    let mut old = vec![0u8; len as usize];
    from.read_exact(&mut old).await?;
    let mut out = Vec::with_capacity(24 + addr.len());
    out.extend_from_slice(&head);
    out.extend_from_slice(&sid_len[..8]);
    out.extend_from_slice(&(addr.len() as i32).to_be_bytes());
    out.extend_from_slice(addr.as_bytes());
    Ok(out)
}
