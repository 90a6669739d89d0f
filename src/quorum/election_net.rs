//! The election port's connections (ZooKeeper's QuorumCnxManager, restated): one TCP
//! connection per pair of servers, always the one the higher sid dialed — a lower sid's
//! connection is closed and the higher side dials back —, frames of notifications both
//! ways, and for each peer only the newest notification waiting to be sent (an older vote
//! is worthless once a newer one exists).
//!
//! It runs on its own thread with a current-thread tokio runtime. Received notifications
//! go to a channel (a `doorbell::Sender`, which wakes the consensus thread) for whoever
//! drives the `Election` machine; `ElectionNet::send` queues one for a peer.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::doorbell::Sender;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tracing::{debug, warn};

use super::election::Notification;
use super::election_wire::{
    decode_address, decode_initial_head, decode_notification, encode_initial, encode_notification,
    MAX_FRAME,
};
use super::vote::Sid;

/// How long a dial may take before we try again later.
const DIAL_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause between dials to an unreachable peer.
const REDIAL_PAUSE: Duration = Duration::from_millis(200);

/// A running election transport. Dropping it stops the thread.
pub struct ElectionNet {
    peers: BTreeMap<Sid, mpsc::UnboundedSender<PeerCmd>>,
    local: SocketAddr,
    _stop: watch::Sender<bool>,
}

enum PeerCmd {
    Send(Vec<u8>),
    /// The peer (lower sid) dialed us; we own the connection between us, so dial back.
    DialBack,
    /// A connection the peer dialed to us (it has the higher sid).
    Accepted(TcpStream),
}

#[derive(Debug, Clone)]
pub struct ElectionNetConfig {
    pub me: Sid,
    /// Where we listen (the election port of our `server.N` line).
    pub listen: SocketAddr,
    /// Every other server's election address, `host:port`.
    pub peers: BTreeMap<Sid, String>,
    /// The config text sent inside notifications (ZooKeeper peers read it).
    pub config_text: Vec<u8>,
}

impl ElectionNet {
    /// Binds the election port and starts the thread. Notifications received go to `inbox`
    /// as `(sender, notification)`.
    pub fn start(
        cfg: ElectionNetConfig,
        inbox: Sender<(Sid, Notification)>,
    ) -> std::io::Result<ElectionNet> {
        let std_listener = std::net::TcpListener::bind(cfg.listen)?;
        std_listener.set_nonblocking(true)?;
        let local = std_listener.local_addr()?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut cmd_rxs = Vec::new();
        let mut peers = BTreeMap::new();
        for &sid in cfg.peers.keys() {
            let (tx, rx) = mpsc::unbounded_channel();
            peers.insert(sid, tx);
            cmd_rxs.push((sid, rx));
        }
        let accept_to = peers.clone();
        let cfg = Arc::new(cfg);
        std::thread::Builder::new()
            .name("election-net".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("election runtime");
                rt.block_on(async move {
                    let listener = TcpListener::from_std(std_listener).expect("listener");
                    for (sid, rx) in cmd_rxs {
                        tokio::spawn(peer_task(cfg.clone(), sid, rx, inbox.clone()));
                    }
                    let mut stop = stop_rx;
                    tokio::select! {
                        _ = accept_loop(cfg.clone(), listener, accept_to) => {}
                        _ = stop.changed() => {}
                    }
                });
            })?;
        Ok(ElectionNet {
            peers,
            local,
            _stop: stop_tx,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Queues `n` for `to`, replacing anything not yet sent to it.
    pub fn send(&self, to: Sid, n: &Notification, config_text: &[u8]) {
        if let Some(tx) = self.peers.get(&to) {
            let _ = tx.send(PeerCmd::Send(encode_notification(n, config_text)));
        }
    }
}

async fn accept_loop(
    cfg: Arc<ElectionNetConfig>,
    listener: TcpListener,
    peers: BTreeMap<Sid, mpsc::UnboundedSender<PeerCmd>>,
) {
    loop {
        let Ok((mut s, remote)) = listener.accept().await else {
            continue;
        };
        let cfg = cfg.clone();
        let peers = peers.clone();
        tokio::spawn(async move {
            let mut head = [0u8; 20];
            let hello = async {
                s.read_exact(&mut head).await?;
                let (sid, len) = decode_initial_head(&head)
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
                let mut addr = vec![0; len];
                s.read_exact(&mut addr).await?;
                let addr = decode_address(&addr)
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
                Ok::<_, std::io::Error>((sid, addr))
            };
            let (sid, addr) = match tokio::time::timeout(DIAL_TIMEOUT, hello).await {
                Ok(Ok(v)) => v,
                Ok(Err(e)) => {
                    warn!(%remote, "election connection refused: {e}");
                    return;
                }
                Err(_) => {
                    warn!(%remote, "election connection sent no greeting");
                    return;
                }
            };
            let Some(tx) = peers.get(&sid) else {
                warn!(%remote, sid, "election connection from a server not in the config");
                return;
            };
            if sid < cfg.me {
                // The higher sid keeps the connection it dialed: drop this one, dial back.
                debug!(sid, %addr, "closing election connection from lower sid; dialing back");
                drop(s);
                let _ = tx.send(PeerCmd::DialBack);
                return;
            }
            let _ = tx.send(PeerCmd::Accepted(s));
        });
    }
}

/// Owns the connection to one peer: sends the newest pending notification, reads frames.
async fn peer_task(
    cfg: Arc<ElectionNetConfig>,
    sid: Sid,
    mut cmds: mpsc::UnboundedReceiver<PeerCmd>,
    inbox: Sender<(Sid, Notification)>,
) {
    let mut pending: Option<Vec<u8>> = None;
    let mut want_conn = false;
    let mut conn: Option<tokio::net::tcp::OwnedWriteHalf> = None;
    let (dead_tx, mut dead_rx) = mpsc::unbounded_channel::<u64>();
    let mut generation = 0u64;
    loop {
        if let (Some(frame), Some(w)) = (&pending, &mut conn) {
            let mut buf = Vec::with_capacity(4 + frame.len());
            buf.extend_from_slice(&(frame.len() as i32).to_be_bytes());
            buf.extend_from_slice(frame);
            if w.write_all(&buf).await.is_ok() {
                pending = None;
            } else {
                conn = None;
            }
        }
        if (pending.is_some() || want_conn) && conn.is_none() {
            // Only the higher sid keeps a dialed connection; the lower one just knocks so
            // the peer dials back.
            match dial(&cfg, sid).await {
                Some(s) if cfg.me > sid => {
                    want_conn = false;
                    generation += 1;
                    conn = Some(attach(s, sid, generation, inbox.clone(), dead_tx.clone()));
                    continue;
                }
                _ => {}
            }
        }
        let wait_pending = (pending.is_some() || want_conn) && conn.is_none();
        tokio::select! {
            cmd = cmds.recv() => match cmd {
                None => return,
                Some(PeerCmd::Send(frame)) => pending = Some(frame),
                Some(PeerCmd::DialBack) => want_conn = true,
                Some(PeerCmd::Accepted(s)) => {
                    generation += 1;
                    conn = Some(attach(s, sid, generation, inbox.clone(), dead_tx.clone()));
                }
            },
            Some(g) = dead_rx.recv() => {
                if g == generation {
                    conn = None;
                }
            }
            _ = tokio::time::sleep(REDIAL_PAUSE), if wait_pending => {}
        }
    }
}

async fn dial(cfg: &ElectionNetConfig, sid: Sid) -> Option<TcpStream> {
    let addr = cfg.peers.get(&sid)?;
    let attempt = async {
        let mut s = TcpStream::connect(addr.as_str()).await?;
        s.set_nodelay(true)?;
        s.write_all(&encode_initial(cfg.me, &cfg.listen.to_string()))
            .await?;
        Ok::<_, std::io::Error>(s)
    };
    match tokio::time::timeout(DIAL_TIMEOUT, attempt).await {
        Ok(Ok(s)) => {
            debug!(sid, addr, "election connection dialed");
            Some(s)
        }
        Ok(Err(e)) => {
            debug!(sid, addr, "election dial failed: {e}");
            None
        }
        Err(_) => None,
    }
}

/// Starts the reader for a connection and returns its write half; the reader reports the
/// connection's generation on `dead` when it ends.
fn attach(
    s: TcpStream,
    sid: Sid,
    generation: u64,
    inbox: Sender<(Sid, Notification)>,
    dead: mpsc::UnboundedSender<u64>,
) -> tokio::net::tcp::OwnedWriteHalf {
    let _ = s.set_nodelay(true);
    let (mut r, w) = s.into_split();
    tokio::spawn(async move {
        while let Ok(len) = r.read_i32().await {
            if len < 0 || len as usize > MAX_FRAME {
                warn!(sid, len, "election frame length out of range; closing");
                break;
            }
            let mut b = vec![0; len as usize];
            if r.read_exact(&mut b).await.is_err() {
                break;
            }
            match decode_notification(&b) {
                Ok(w) => {
                    if inbox.send((sid, w.n)).is_err() {
                        break;
                    }
                }
                Err(e) => warn!(sid, "bad notification: {e}"),
            }
        }
        let _ = dead.send(generation);
    });
    w
}

#[cfg(test)]
mod tests {
    use super::super::election::{Election, ElectionConfig, Output};
    use super::super::vote::{PeerState, Vote};
    use super::*;
    use std::time::Instant;

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    fn configs(n: usize) -> Vec<ElectionNetConfig> {
        let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
        (0..n)
            .map(|i| ElectionNetConfig {
                me: i as Sid + 1,
                listen: format!("127.0.0.1:{}", ports[i]).parse().unwrap(),
                peers: (0..n)
                    .filter(|&j| j != i)
                    .map(|j| (j as Sid + 1, format!("127.0.0.1:{}", ports[j])))
                    .collect(),
                config_text: Vec::new(),
            })
            .collect()
    }

    fn note(leader: Sid) -> Notification {
        Notification {
            state: PeerState::Looking,
            vote: Vote {
                leader,
                zxid: 5,
                peer_epoch: 1,
            },
            round: 1,
        }
    }

    #[test]
    fn notifications_flow_both_ways_whoever_sends_first() {
        let cfgs = configs(2);
        let (tx1, rx1) = crossbeam_channel::unbounded();
        let (tx2, rx2) = crossbeam_channel::unbounded();
        let n1 = ElectionNet::start(cfgs[0].clone(), tx1.into()).unwrap();
        let n2 = ElectionNet::start(cfgs[1].clone(), tx2.into()).unwrap();
        // The lower sid speaks first: its dial is closed and 2 dials back; the pending
        // vote must still arrive.
        n1.send(2, &note(1), b"");
        let (from, got) = rx2.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!((from, got), (1, note(1)));
        n2.send(1, &note(2), b"");
        let (from, got) = rx1.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!((from, got), (2, note(2)));
    }

    #[test]
    fn a_peer_that_comes_up_late_still_gets_the_newest_vote() {
        let cfgs = configs(2);
        let (tx2, rx2) = crossbeam_channel::unbounded();
        let n2 = ElectionNet::start(cfgs[1].clone(), tx2.into()).unwrap();
        n2.send(1, &note(7), b"");
        n2.send(1, &note(8), b"");
        std::thread::sleep(Duration::from_millis(300));
        let (tx1, rx1) = crossbeam_channel::unbounded();
        let _n1 = ElectionNet::start(cfgs[0].clone(), tx1.into()).unwrap();
        let (_, got) = rx1.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(got, note(8), "only the newest pending vote is kept");
        drop(rx2);
    }

    #[test]
    fn garbage_on_the_election_port_is_refused() {
        let cfgs = configs(1);
        let (tx, rx) = crossbeam_channel::unbounded();
        let n = ElectionNet::start(cfgs[0].clone(), tx.into()).unwrap();
        let mut s = std::net::TcpStream::connect(n.local_addr()).unwrap();
        use std::io::{Read, Write};
        s.write_all(&[0x7f; 40]).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut b = [0u8; 1];
        assert_eq!(s.read(&mut b).unwrap_or(0), 0, "closed");
        assert!(rx.try_recv().is_err());
    }

    /// Three real election machines over real sockets elect the largest id.
    #[test]
    fn three_servers_elect_over_loopback() {
        let cfgs = configs(3);
        let mut nets = Vec::new();
        let (tx, rx) = crossbeam_channel::unbounded::<(usize, Sid, Notification)>();
        for (i, c) in cfgs.iter().enumerate() {
            let (ntx, nrx) = crossbeam_channel::unbounded();
            nets.push(ElectionNet::start(c.clone(), ntx.into()).unwrap());
            let tx = tx.clone();
            std::thread::spawn(move || {
                for (from, n) in nrx {
                    if tx.send((i, from, n)).is_err() {
                        break;
                    }
                }
            });
        }
        let t0 = Instant::now();
        let now = || t0.elapsed().as_millis() as u64;
        let mut machines: Vec<Election> = (1..=3)
            .map(|me| Election::new(ElectionConfig::new(me, [1, 2, 3])))
            .collect();
        let mut decided = vec![None; 3];
        let route = |i: usize, out: Vec<Output>, decided: &mut Vec<Option<Sid>>| {
            for o in out {
                match o {
                    Output::Send { to, msg } => nets[i].send(to, &msg, b""),
                    Output::Decided { vote, .. } => decided[i] = Some(vote.leader),
                }
            }
        };
        for (i, m) in machines.iter_mut().enumerate() {
            let out = m.start(now(), 0, 0);
            route(i, out, &mut decided);
        }
        while decided.iter().any(Option::is_none) {
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "no decision: {decided:?}"
            );
            match rx.recv_timeout(Duration::from_millis(20)) {
                Ok((i, from, n)) => {
                    let out = machines[i].on_notification(now(), from, n);
                    route(i, out, &mut decided);
                }
                Err(_) => {
                    for (i, m) in machines.iter_mut().enumerate() {
                        let out = m.on_timer(now());
                        route(i, out, &mut decided);
                    }
                }
            }
        }
        assert_eq!(decided, vec![Some(3); 3]);
    }
}
