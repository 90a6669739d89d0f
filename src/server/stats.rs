//! Server-wide counters the four-letter words read (request latencies are in `metrics`).
//! Per-request updates are relaxed atomics;
//! the connection registry's lock is taken only on connect and disconnect.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI32, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::session::ConnRef;

#[derive(Debug)]
pub struct ConnStats {
    pub remote: SocketAddr,
    pub session: AtomicI64,
    pub received: AtomicU64,
    pub sent: AtomicU64,
    pub last_op: AtomicI32,
    pub last_cxid: AtomicI32,
    pub timeout_ms: AtomicI32,
    pub established_ms: i64,
    /// Zxid of the last reply, -1 before any (cons `lzxid`).
    pub last_zxid: AtomicI64,
    /// Wall-clock ms of the last reply, 0 before any (cons `lresp`).
    pub last_response_ms: AtomicI64,
    pub latency_us_last: AtomicU64,
    pub latency_us_min: AtomicU64,
    pub latency_us_max: AtomicU64,
    pub latency_us_total: AtomicU64,
    pub latency_count: AtomicU64,
}

impl ConnStats {
    pub fn new(remote: SocketAddr, established_ms: i64) -> ConnStats {
        ConnStats {
            remote,
            session: 0.into(),
            received: 0.into(),
            sent: 0.into(),
            last_op: (-1).into(),
            last_cxid: (-1).into(),
            timeout_ms: 0.into(),
            established_ms,
            last_zxid: (-1).into(),
            last_response_ms: 0.into(),
            latency_us_last: 0.into(),
            latency_us_min: u64::MAX.into(),
            latency_us_max: 0.into(),
            latency_us_total: 0.into(),
            latency_count: 0.into(),
        }
    }

    /// Called only by the connection's own core: plain loads and stores, no atomic
    /// read-modify-write on the request path (a concurrent `crst` may lose one sample).
    pub fn record_response(&self, us: u64, zxid: i64, now_ms: i64) {
        let r = Ordering::Relaxed;
        self.last_zxid.store(zxid, r);
        self.last_response_ms.store(now_ms, r);
        self.latency_us_last.store(us, r);
        self.latency_us_min
            .store(self.latency_us_min.load(r).min(us), r);
        self.latency_us_max
            .store(self.latency_us_max.load(r).max(us), r);
        self.latency_us_total
            .store(self.latency_us_total.load(r) + us, r);
        self.latency_count.store(self.latency_count.load(r) + 1, r);
    }

    /// (last, min, avg, max) latency in ms, as `cons` prints them (0 before any reply).
    pub fn latency_ms(&self) -> (u64, u64, u64, u64) {
        let n = self.latency_count.load(Ordering::Relaxed);
        if n == 0 {
            return (0, 0, 0, 0);
        }
        (
            self.latency_us_last.load(Ordering::Relaxed) / 1000,
            self.latency_us_min.load(Ordering::Relaxed) / 1000,
            self.latency_us_total.load(Ordering::Relaxed) / n / 1000,
            self.latency_us_max.load(Ordering::Relaxed) / 1000,
        )
    }

    /// `crst`: what ZooKeeper's ServerCnxn.resetStats clears.
    pub fn reset(&self) {
        self.received.store(0, Ordering::Relaxed);
        self.sent.store(0, Ordering::Relaxed);
        self.last_op.store(-1, Ordering::Relaxed);
        self.last_cxid.store(-1, Ordering::Relaxed);
        self.last_zxid.store(-1, Ordering::Relaxed);
        self.last_response_ms.store(0, Ordering::Relaxed);
        self.latency_us_last.store(0, Ordering::Relaxed);
        self.latency_us_min.store(u64::MAX, Ordering::Relaxed);
        self.latency_us_max.store(0, Ordering::Relaxed);
        self.latency_us_total.store(0, Ordering::Relaxed);
        self.latency_count.store(0, Ordering::Relaxed);
    }
}

#[derive(Debug)]
pub struct ServerStats {
    pub started: Instant,
    pub received: AtomicU64,
    pub sent: AtomicU64,
    pub auth_failed: AtomicU64,
    /// Connections closed because too much waited to be sent to them.
    pub outbound_closed: AtomicU64,
    pub conns: Mutex<BTreeMap<(usize, u64), Arc<ConnStats>>>,
}

impl Default for ServerStats {
    fn default() -> Self {
        ServerStats {
            started: Instant::now(),
            received: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            auth_failed: AtomicU64::new(0),
            outbound_closed: AtomicU64::new(0),
            conns: Mutex::new(BTreeMap::new()),
        }
    }
}

impl ServerStats {
    pub fn reset(&self) {
        self.received.store(0, Ordering::Relaxed);
        self.sent.store(0, Ordering::Relaxed);
    }

    pub fn register(&self, c: ConnRef, s: Arc<ConnStats>) {
        self.conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((c.core, c.conn), s);
    }

    pub fn unregister(&self, c: ConnRef) {
        self.conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(c.core, c.conn));
    }

    pub fn connections(&self) -> Vec<Arc<ConnStats>> {
        self.conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }
}
