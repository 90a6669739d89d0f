//! How other threads wake the consensus thread.
//!
//! The consensus thread reads its Zab links itself, so it sleeps in `epoll` (a `mio::Poll`)
//! rather than on a channel: a socket that becomes readable wakes it directly, with no
//! thread in between to read the packet and hand it over (each such hop is a context
//! switch, on the write path of every ensemble write). Its channels (net cores' requests,
//! the log's durable reports, election notifications, snapshot results) stay crossbeam
//! channels; their senders are this module's `Sender`, which rings the doorbell after a
//! send, and only while the consensus thread is asleep (an `eventfd` write then, through
//! `mio::Waker`; nothing at all when it is awake and will look at its channels anyway).
//!
//! No lost wake-up: the sleeper announces itself (`asleep`), then re-checks its channels
//! before it blocks; a sender pushes, then checks `asleep`. With a full fence on each side
//! between the two steps, at least one of them sees the other's write.

use std::io;
use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, SendError};
use mio::{Events, Poll, Registry, Token};

/// The doorbell's own token; sockets use any other.
pub const BELL: Token = Token(usize::MAX);

pub struct Doorbell {
    asleep: AtomicBool,
    waker: mio::Waker,
}

impl Doorbell {
    pub fn ring(&self) {
        fence(Ordering::SeqCst);
        if self.asleep.load(Ordering::Relaxed) && self.asleep.swap(false, Ordering::SeqCst) {
            // The only failure is an eventfd that cannot take another increment, which
            // means the sleeper has a wake-up pending already.
            let _ = self.waker.wake();
        }
    }
}

/// The sleeping side: the poll the consensus thread blocks in.
pub struct Sleeper {
    poll: Poll,
    events: Events,
    bell: Arc<Doorbell>,
    /// How long `sleep` keeps polling before it blocks (`with_spin`).
    spin: Duration,
}

impl Sleeper {
    pub fn new() -> io::Result<Sleeper> {
        let poll = Poll::new()?;
        let waker = mio::Waker::new(poll.registry(), BELL)?;
        Ok(Sleeper {
            poll,
            events: Events::with_capacity(64),
            bell: Arc::new(Doorbell {
                asleep: AtomicBool::new(false),
                waker,
            }),
            spin: Duration::ZERO,
        })
    }

    /// Makes `sleep` poll for up to `spin` (channels and sockets, yielding the CPU between
    /// looks) before it blocks in epoll. A write's next step (its durable report, an ACK, a
    /// COMMIT) usually comes within one log sync; a thread still polling takes it at once,
    /// where one asleep is woken through the scheduler, which on a virtual machine with an
    /// idle vCPU costs tens of microseconds per hand-off (perf/RESULTS.md, 2026-12-06 09:08).
    pub fn with_spin(mut self, spin: Duration) -> Sleeper {
        self.spin = spin;
        self
    }

    pub fn bell(&self) -> Arc<Doorbell> {
        self.bell.clone()
    }

    /// Where sockets are registered for this sleeper (any thread may hold one).
    pub fn registry(&self) -> io::Result<Registry> {
        self.poll.registry().try_clone()
    }

    /// A channel whose sends wake this sleeper.
    pub fn channel<T>(&self) -> (Sender<T>, Receiver<T>) {
        let (tx, rx) = crossbeam_channel::unbounded();
        (
            Sender {
                tx,
                bell: Some(self.bell()),
            },
            rx,
        )
    }

    /// Blocks until the bell rings, a registered socket turns readable, or `timeout`,
    /// unless `work_waiting` says there is something to do already. The tokens of sockets
    /// that turned readable are added to `ready`. With a spin (`with_spin`) it first polls
    /// for that long without blocking; senders do not ring the bell meanwhile (`asleep` is
    /// still false), as the spin looks at the channels itself.
    pub fn sleep(
        &mut self,
        timeout: Duration,
        work_waiting: impl Fn() -> bool,
        ready: &mut Vec<Token>,
    ) {
        if !self.spin.is_zero() && self.spin_for_work(&work_waiting, ready) {
            return;
        }
        self.bell.asleep.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if work_waiting() {
            self.bell.asleep.store(false, Ordering::Relaxed);
            return;
        }
        if let Err(e) = self.poll.poll(&mut self.events, Some(timeout)) {
            // EINTR: the loop comes back here. Anything else would repeat at once; the
            // timeout-length pause keeps that from spinning.
            if e.kind() != io::ErrorKind::Interrupted {
                tracing::warn!("consensus poll: {e}");
                std::thread::sleep(timeout);
            }
        }
        self.bell.asleep.store(false, Ordering::Relaxed);
        ready.extend(self.events.iter().map(|e| e.token()).filter(|&t| t != BELL));
    }

    /// Polls channels (`work_waiting`) and sockets (a zero-timeout epoll) until one has
    /// something or the spin is over; true if it found work. It yields between looks, so a
    /// runnable thread on this CPU (a log thread, a net core) is not held up by it.
    fn spin_for_work(&mut self, work_waiting: impl Fn() -> bool, ready: &mut Vec<Token>) -> bool {
        let until = Instant::now() + self.spin;
        loop {
            if work_waiting() {
                return true;
            }
            match self.poll.poll(&mut self.events, Some(Duration::ZERO)) {
                Ok(()) if !self.events.is_empty() => {
                    ready.extend(self.events.iter().map(|e| e.token()).filter(|&t| t != BELL));
                    return true;
                }
                // Errors are left to the blocking poll, which reports them.
                _ => {}
            }
            if Instant::now() >= until {
                return false;
            }
            std::thread::yield_now();
        }
    }
}

/// A crossbeam sender that wakes the consensus thread's `Sleeper` after each send.
pub struct Sender<T> {
    tx: crossbeam_channel::Sender<T>,
    bell: Option<Arc<Doorbell>>,
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender {
            tx: self.tx.clone(),
            bell: self.bell.clone(),
        }
    }
}

impl<T> Sender<T> {
    pub fn send(&self, m: T) -> Result<(), SendError<T>> {
        self.tx.send(m)?;
        if let Some(b) = &self.bell {
            b.ring();
        }
        Ok(())
    }
}

/// A sender with no doorbell, for a receiver that blocks on the channel itself (tests and
/// tools that drive one component without a consensus thread).
impl<T> From<crossbeam_channel::Sender<T>> for Sender<T> {
    fn from(tx: crossbeam_channel::Sender<T>) -> Self {
        Sender { tx, bell: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// Sends `0..n` from other threads, send `i` after `delay(i)`, and checks that `s` takes
    /// each: a lost wake-up would sleep the whole minute.
    fn every_send_is_taken(mut s: Sleeper, n: u32, delay: impl Fn(u32) -> Duration) {
        let (tx, rx) = s.channel::<u32>();
        let mut ready = Vec::new();
        for i in 0..n {
            let tx = tx.clone();
            let d = delay(i);
            let t = std::thread::spawn(move || {
                std::thread::sleep(d);
                tx.send(i).unwrap()
            });
            let t0 = Instant::now();
            let mut got = None;
            while got.is_none() {
                s.sleep(Duration::from_secs(60), || !rx.is_empty(), &mut ready);
                got = rx.try_recv().ok();
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "send {i} did not wake"
            );
            assert_eq!(got, Some(i));
            t.join().unwrap();
        }
        assert!(ready.is_empty());
    }

    /// A send from another thread ends the sleep long before its timeout, however the
    /// send and the sleeper's last look at the channel interleave.
    #[test]
    fn a_send_wakes_a_sleeper() {
        every_send_is_taken(Sleeper::new().unwrap(), 200, |_| Duration::ZERO);
    }

    /// With a spin, a send during the spin ends it without ringing the bell, and a spin
    /// that finds nothing still blocks (and is woken) as without one.
    #[test]
    fn a_spinning_sleeper_takes_sends_and_then_sleeps() {
        let s = Sleeper::new().unwrap().with_spin(Duration::from_millis(50));
        // Even i: sent at once, within the spin; odd i: after it, to a blocked sleeper.
        every_send_is_taken(s, 100, |i| {
            Duration::from_millis(if i % 2 == 0 { 0 } else { 80 })
        });
    }

    #[test]
    fn work_already_waiting_means_no_sleep() {
        let mut s = Sleeper::new().unwrap();
        let (tx, rx) = s.channel::<u32>();
        tx.send(1).unwrap();
        let t0 = Instant::now();
        let mut ready = Vec::new();
        s.sleep(Duration::from_secs(60), || !rx.is_empty(), &mut ready);
        assert!(t0.elapsed() < Duration::from_secs(30));
    }
}
