//! A fault-injecting TCP proxy for the links between ensemble members.
//!
//! Member i reaches member j's quorum and election ports only through a proxy of its own
//! (i→j), so every directed link can be cut. A cut is a silent partition: bytes stop moving
//! both ways on every connection of the link, and connections opened while cut are
//! accepted (the kernel completes the handshake anyway) but never dialed through — no FIN,
//! no RST, so the servers find out by their own timeouts. Healing closes every connection
//! that lived through the cut (after a real partition long enough for the servers to give
//! up, those connections are dead) and lets new ones through.
//!
//! One wrinkle is ZooKeeper's (and ringkeeper's compatible) election handshake: a dialer
//! sends its own election address, and a receiver with the higher id drops the connection
//! and dials back to that address — straight to the real port, around the proxy. The
//! election proxy i→j therefore rewrites that address to the proxy j→i, so the dial-back
//! also crosses a link that can be cut. Any other first bytes pass unchanged. (Without the
//! rewrite, ZooKeeper 3.8's QuorumCnxManager.handleConnection dials back around the cut, and
//! the partition tests took 74 s instead of 18 s.)

use std::collections::BTreeMap;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// ZooKeeper's election protocol markers (QuorumCnxManager, one or several addresses).
const ELECTION_PROTOCOL_V1: i64 = -65536;
const ELECTION_PROTOCOL_V2: i64 = -65535;
/// The receiver's bound on the address string (larger means this is not that header).
const ELECTION_MAX_ADDRESS: i32 = 2048;

/// One listening proxy in front of one target port.
pub struct Proxy {
    pub port: u16,
    cut: watch::Sender<bool>,
}

impl Proxy {
    fn set_cut(&self, cut: bool) {
        self.cut.send_replace(cut);
    }

    pub fn is_cut(&self) -> bool {
        *self.cut.borrow()
    }
}

/// The proxies of one ensemble: for every ordered pair (from, to) of member ids, one proxy
/// for `to`'s quorum port and one for its election port, used only by `from`.
pub struct ProxyNet {
    rt: Option<tokio::runtime::Runtime>,
    /// (from, to) -> (quorum proxy, election proxy)
    links: BTreeMap<(u64, u64), (Proxy, Proxy)>,
}

impl ProxyNet {
    /// `ports[i]` are member (i + 1)'s real (quorum, election) ports on 127.0.0.1.
    pub fn start(ports: &[(u16, u16)]) -> ProxyNet {
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
        for from in 1..=n {
            for to in (1..=n).filter(|&t| t != from) {
                listeners.insert((from, to), (bind(), bind()));
            }
        }
        let port = |l: &std::net::TcpListener| l.local_addr().expect("proxy addr").port();
        let reverse_election: BTreeMap<(u64, u64), u16> = listeners
            .iter()
            .map(|(&(from, to), (_, e))| ((to, from), port(e)))
            .collect();
        let mut links = BTreeMap::new();
        for ((from, to), (ql, el)) in listeners {
            let (q_port, e_port) = (port(&ql), port(&el));
            let (real_q, real_e) = ports[(to - 1) as usize];
            let q = spawn_proxy(&rt, ql, q_port, real_q, None);
            let rewrite = format!("127.0.0.1:{}", reverse_election[&(from, to)]);
            let e = spawn_proxy(&rt, el, e_port, real_e, Some(rewrite));
            links.insert((from, to), (q, e));
        }
        ProxyNet {
            rt: Some(rt),
            links,
        }
    }

    /// The (quorum, election) ports member `from` must use to reach member `to`.
    pub fn ports(&self, from: u64, to: u64) -> (u16, u16) {
        let (q, e) = &self.links[&(from, to)];
        (q.port, e.port)
    }

    /// Cuts both directions between `a` and `b`.
    pub fn cut(&self, a: u64, b: u64) {
        for key in [(a, b), (b, a)] {
            let (q, e) = &self.links[&key];
            q.set_cut(true);
            e.set_cut(true);
        }
    }

    /// Cuts every link to and from `id`: it can reach no member and none can reach it.
    pub fn isolate(&self, id: u64) {
        let mut others: Vec<u64> = self.links.keys().map(|(f, _)| *f).collect();
        others.dedup();
        for other in others.into_iter().filter(|&o| o != id) {
            self.cut(id, other);
        }
    }

    /// Heals every link.
    pub fn heal_all(&self) {
        for (q, e) in self.links.values() {
            q.set_cut(false);
            e.set_cut(false);
        }
    }
}

impl Drop for ProxyNet {
    fn drop(&mut self) {
        // Also fine when dropped inside an async test.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

fn spawn_proxy(
    rt: &tokio::runtime::Runtime,
    listener: std::net::TcpListener,
    port: u16,
    target_port: u16,
    election_rewrite: Option<String>,
) -> Proxy {
    let (cut, cut_rx) = watch::channel(false);
    let target = SocketAddr::from(([127, 0, 0, 1], target_port));
    rt.spawn(async move {
        let listener = TcpListener::from_std(listener).expect("tokio proxy listener");
        loop {
            let Ok((inbound, _)) = listener.accept().await else {
                // Out of descriptors or similar: do not spin on it.
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            };
            tokio::spawn(serve(
                inbound,
                target,
                election_rewrite.clone(),
                cut_rx.clone(),
            ));
        }
    });
    Proxy { port, cut }
}

/// One proxied connection: dial, forward both ways; on a cut stall until healed, then close.
async fn serve(
    mut inbound: TcpStream,
    target: SocketAddr,
    rewrite: Option<String>,
    mut cut: watch::Receiver<bool>,
) {
    if *cut.borrow_and_update() {
        let _ = cut.wait_for(|c| !*c).await;
        return;
    }
    let dial = tokio::select! {
        r = TcpStream::connect(target) => Some(r),
        _ = cut.wait_for(|c| *c) => None,
    };
    let Some(dial) = dial else {
        let _ = cut.wait_for(|c| !*c).await;
        return;
    };
    // A refused dial closes the inbound side: to the dialer it looks like a refused port.
    let Ok(mut outbound) = dial else { return };
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    {
        let (ir, iw) = inbound.split();
        let (or, ow) = outbound.split();
        let forward = async {
            tokio::join!(pump(ir, ow, rewrite), pump(or, iw, None));
        };
        tokio::select! {
            _ = forward => return,
            _ = cut.wait_for(|c| *c) => {}
        }
    }
    // Cut: both sockets stay open and silent until the heal, then close.
    let _ = cut.wait_for(|c| !*c).await;
}

/// Copies one direction until EOF or an error, then half-closes the other side.
async fn pump(mut from: ReadHalf<'_>, mut to: WriteHalf<'_>, rewrite: Option<String>) {
    if let Some(addr) = rewrite {
        if rewrite_election_hello(&mut from, &mut to, &addr)
            .await
            .is_err()
        {
            let _ = to.shutdown().await;
            return;
        }
    }
    let _ = tokio::io::copy(&mut from, &mut to).await;
    let _ = to.shutdown().await;
}

/// Forwards the election handshake's first message with its address replaced by `addr`;
/// anything that is not that message is forwarded unchanged.
async fn rewrite_election_hello(
    from: &mut ReadHalf<'_>,
    to: &mut WriteHalf<'_>,
    addr: &str,
) -> std::io::Result<()> {
    let mut head = [0u8; 8];
    from.read_exact(&mut head).await?;
    let version = i64::from_be_bytes(head);
    if version != ELECTION_PROTOCOL_V1 && version != ELECTION_PROTOCOL_V2 {
        return to.write_all(&head).await;
    }
    let mut sid_len = [0u8; 12];
    from.read_exact(&mut sid_len).await?;
    let len = i32::from_be_bytes(sid_len[8..12].try_into().expect("4 bytes"));
    if !(0..=ELECTION_MAX_ADDRESS).contains(&len) {
        to.write_all(&head).await?;
        return to.write_all(&sid_len).await;
    }
    let mut old = vec![0u8; len as usize];
    from.read_exact(&mut old).await?;
    let mut out = Vec::with_capacity(24 + addr.len());
    out.extend_from_slice(&head);
    out.extend_from_slice(&sid_len[..8]);
    out.extend_from_slice(&(addr.len() as i32).to_be_bytes());
    out.extend_from_slice(addr.as_bytes());
    to.write_all(&out).await
}
