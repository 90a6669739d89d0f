//! Election and Zab together under a seeded, deterministic schedule: several servers, each
//! with a simulated log (appends become durable only when a simulated fsync completes; a
//! crash loses what was not durable), links that are FIFO and reliable while they last (as
//! TCP) but break on partitions and crashes, a client writing through whoever leads, and
//! random faults. Checked at the end of every schedule:
//! - agreement: every server's applied sequence, in every life, is a prefix of one history;
//! - no rollback: zxids are applied in increasing order, and no zxid ever names two txns;
//! - durability: every write the leader acknowledged (applied) is in that history;
//! - liveness: after the faults stop, a leader is established and a new write commits.
//!
//! A failing seed is printed; `SIM_SEED=n cargo test --lib quorum::sim_zab` replays it.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};
use std::sync::Arc;

use super::election::{Election, ElectionConfig, Notification, Output};
use super::vote::{PeerState, Sid};
use super::zab::{Action, Leader, Learner, LogView, Msg, Payload, SnapshotRef, ZabConfig, Zxid};
use crate::rng::Rng;

const TICK: u64 = 100;

enum Role {
    Looking,
    Leader(Box<Leader>),
    Learner(Box<Learner>),
}

struct Node {
    up: bool,
    e: Election,
    role: Role,
    /// The log: (zxid, payload); the first `durable` entries survive a crash.
    log: Vec<(Zxid, Payload)>,
    durable: usize,
    /// A sync in flight: when it completes and how many entries it covers (what was
    /// written before it started).
    fsync_at: Option<(u64, usize)>,
    accepted_epoch: i64,
    current_epoch: i64,
    /// This life's applied txns.
    applied: Vec<(Zxid, Payload)>,
    /// Applied sequences of earlier lives.
    past_lives: Vec<Vec<(Zxid, Payload)>>,
}

#[derive(Clone)]
enum Wire {
    Vote(Notification),
    Zab(Msg),
}

struct Sim {
    now: u64,
    nodes: Vec<Node>,
    voters: BTreeSet<Sid>,
    observers: BTreeSet<Sid>,
    blocked: Vec<Vec<bool>>,
    /// Link generation: bumped when a link breaks, so messages of a dead link are lost.
    link_gen: Vec<Vec<u64>>,
    /// Last delivery time per link, to keep links FIFO.
    link_last: Vec<Vec<u64>>,
    queue: BinaryHeap<Reverse<(u64, u64)>>,
    msgs: HashMap<u64, (usize, usize, u64, Wire)>,
    seq: u64,
    rng: Rng,
    acked: BTreeMap<Zxid, Payload>,
    next_payload: u64,
    log: Vec<String>,
    drop: f64,
    max_delay: u64,
    max_fsync: u64,
}

impl Sim {
    fn new(seed: u64, voters: usize, observers: usize) -> Sim {
        let n = voters + observers;
        let voter_ids: BTreeSet<Sid> = (1..=voters as Sid).collect();
        let observer_ids: BTreeSet<Sid> = (voters as Sid + 1..=n as Sid).collect();
        let nodes = (1..=n as Sid)
            .map(|id| Node {
                up: false,
                e: Election::new(ElectionConfig::new(id, voter_ids.iter().copied())),
                role: Role::Looking,
                log: Vec::new(),
                durable: 0,
                fsync_at: None,
                accepted_epoch: 0,
                current_epoch: 0,
                applied: Vec::new(),
                past_lives: Vec::new(),
            })
            .collect();
        Sim {
            now: 0,
            nodes,
            voters: voter_ids,
            observers: observer_ids,
            blocked: vec![vec![false; n]; n],
            link_gen: vec![vec![0; n]; n],
            link_last: vec![vec![0; n]; n],
            queue: BinaryHeap::new(),
            msgs: HashMap::new(),
            seq: 0,
            rng: Rng::new(seed),
            acked: BTreeMap::new(),
            next_payload: 1,
            log: Vec::new(),
            drop: 0.0,
            max_delay: 5,
            max_fsync: 10,
        }
    }

    fn zab_config(&self, me: Sid) -> ZabConfig {
        ZabConfig {
            me,
            voters: self.voters.clone(),
            observers: self.observers.clone(),
            tick_ms: TICK,
            init_limit_ticks: 10,
            sync_limit_ticks: 5,
            commit_log_count: 8,
        }
    }

    fn log_view(&self, i: usize) -> LogView {
        let n = &self.nodes[i];
        LogView {
            accepted_epoch: n.accepted_epoch,
            current_epoch: n.current_epoch,
            // Nothing is known committed after a restart: the whole log is the tail.
            last_committed: n.applied.last().map_or(0, |e| e.0),
            base: 0,
            entries: n.log.clone(),
        }
    }

    fn last_logged(&self, i: usize) -> Zxid {
        self.nodes[i].log.last().map_or(0, |e| e.0)
    }

    fn start(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        n.up = true;
        n.role = Role::Looking;
        let cfg = n.e.config().clone();
        n.e = Election::new(cfg);
        self.log.push(format!("{} start {}", self.now, i + 1));
        self.look(i);
    }

    fn look(&mut self, i: usize) {
        // The server syncs what its log was given before it votes (`leave_ensemble`): a
        // vote names durable history only, never a tail a crash could still take away.
        let n = &mut self.nodes[i];
        n.durable = n.log.len();
        n.fsync_at = None;
        n.role = Role::Looking;
        let (z, ep) = (self.last_logged(i), self.nodes[i].current_epoch);
        let out = self.nodes[i].e.start(self.now, z, ep);
        self.election_out(i, out);
    }

    fn crash(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        n.up = false;
        n.log.truncate(n.durable);
        n.fsync_at = None;
        n.role = Role::Looking;
        let life = std::mem::take(&mut n.applied);
        n.past_lives.push(life);
        self.log.push(format!("{} crash {}", self.now, i + 1));
        self.break_links(i);
    }

    fn break_links(&mut self, i: usize) {
        for j in 0..self.nodes.len() {
            self.link_gen[i][j] += 1;
            self.link_gen[j][i] += 1;
            self.link_broken(j, i);
        }
    }

    /// The TCP link between i and j died: a learner of i gives up; a leader forgets it.
    fn link_broken(&mut self, j: usize, i: usize) {
        if !self.nodes[j].up {
            return;
        }
        let sid_i = (i + 1) as Sid;
        match &mut self.nodes[j].role {
            Role::Leader(l) => l.on_disconnect(sid_i),
            Role::Learner(l) if l.leader() == sid_i => {
                let out = vec![Action::GiveUp(format!("lost leader {sid_i}"))];
                self.zab_out(j, out);
            }
            _ => {}
        }
    }

    fn send(&mut self, from: usize, to: usize, w: Wire) {
        if self.blocked[from][to] || !self.nodes[to].up {
            return;
        }
        if matches!(w, Wire::Vote(_)) && self.rng.unit() < self.drop {
            return; // election messages may be lost (reconnects); Zab links are TCP
        }
        let at = (self.now + 1 + self.rng.below(self.max_delay)).max(self.link_last[from][to]);
        self.link_last[from][to] = at;
        self.seq += 1;
        self.msgs
            .insert(self.seq, (from, to, self.link_gen[from][to], w));
        self.queue.push(Reverse((at, self.seq)));
    }

    fn election_out(&mut self, i: usize, out: Vec<Output>) {
        for o in out {
            match o {
                Output::Send { to, msg } => self.send(i, (to - 1) as usize, Wire::Vote(msg)),
                Output::Decided { state, vote, .. } => {
                    self.log.push(format!(
                        "{} {} decided {state:?} leader={} zxid={:#x} epoch={} (own last {:#x} cur {} acc {})",
                        self.now,
                        i + 1,
                        vote.leader,
                        vote.zxid,
                        vote.peer_epoch,
                        self.last_logged(i),
                        self.nodes[i].current_epoch,
                        self.nodes[i].accepted_epoch
                    ));
                    let cfg = self.zab_config((i + 1) as Sid);
                    let view = self.log_view(i);
                    if state == PeerState::Leading {
                        let (l, acts) = Leader::new(cfg, view, self.now);
                        self.nodes[i].role = Role::Leader(Box::new(l));
                        self.zab_out(i, acts);
                    } else {
                        let (l, acts) = Learner::new(cfg, vote.leader, &view, self.now);
                        self.nodes[i].role = Role::Learner(Box::new(l));
                        self.zab_out(i, acts);
                    }
                }
            }
        }
    }

    fn zab_out(&mut self, i: usize, out: Vec<Action>) {
        for a in out {
            if !self.nodes[i].up || matches!(self.nodes[i].role, Role::Looking) {
                return; // gave up earlier in this batch
            }
            match a {
                Action::Send { to, msg } => self.send(i, (to - 1) as usize, Wire::Zab(msg)),
                Action::PersistAcceptedEpoch(e) => self.nodes[i].accepted_epoch = e,
                Action::PersistCurrentEpoch(e) => self.nodes[i].current_epoch = e,
                Action::Append { zxid, txn } => {
                    let n = &mut self.nodes[i];
                    if n.log.last().is_some_and(|e| e.0 >= zxid) {
                        let tail = 0;
                        panic!(
                            "server {} appends {zxid:#x} after {:#x}\n{}",
                            i + 1,
                            n.log.last().map_or(0, |e| e.0),
                            self.log[tail..].join("\n")
                        );
                    }
                    n.log.push((zxid, txn));
                    if n.fsync_at.is_none() {
                        let at = self.now + 1 + self.rng.below(self.max_fsync);
                        n.fsync_at = Some((at, n.log.len()));
                    }
                }
                Action::Truncate { zxid } => {
                    let n = &mut self.nodes[i];
                    n.log.retain(|e| e.0 <= zxid);
                    n.durable = n.durable.min(n.log.len());
                    self.log
                        .push(format!("{} {} truncates to {zxid:#x}", self.now, i + 1));
                }
                Action::LoadSnapshot(s) => {
                    let n = &mut self.nodes[i];
                    let applied = decode_snapshot(&s.bytes);
                    n.log = applied.clone();
                    n.durable = n.log.len();
                    let life = std::mem::replace(&mut n.applied, applied);
                    n.past_lives.push(life);
                    self.log
                        .push(format!("{} {} loads snap {:#x}", self.now, i + 1, s.zxid));
                }
                Action::SendSnapshot { to, zxid } => {
                    let applied = &self.nodes[i].applied;
                    assert_eq!(applied.last().map_or(0, |e| e.0), zxid, "snapshot point");
                    let bytes = encode_snapshot(applied);
                    self.send(
                        i,
                        (to - 1) as usize,
                        Wire::Zab(Msg::Snap(SnapshotRef { zxid, bytes })),
                    );
                }
                Action::Apply { zxid, txn } => {
                    let n = &mut self.nodes[i];
                    if let Some(last) = n.applied.last() {
                        assert!(
                            last.0 < zxid,
                            "server {} applies {zxid:#x} after {:#x}",
                            i + 1,
                            last.0
                        );
                    }
                    n.applied.push((zxid, txn.clone()));
                    if matches!(n.role, Role::Leader(_)) {
                        self.acked.insert(zxid, txn);
                    }
                }
                Action::Serving => {
                    let (e, last) = (self.nodes[i].accepted_epoch, self.last_logged(i));
                    self.log.push(format!(
                        "{} {} serving epoch {e} last {last:#x}",
                        self.now,
                        i + 1
                    ))
                }
                Action::Disconnect { sid, why } => {
                    let j = (sid - 1) as usize;
                    self.log
                        .push(format!("{} {} drops {sid}: {why}", self.now, i + 1));
                    self.link_gen[i][j] += 1;
                    self.link_gen[j][i] += 1;
                    // The learner hears of it unless the way to it is cut.
                    if !self.blocked[i][j] {
                        self.link_broken(j, i);
                    }
                }
                Action::GiveUp(why) => {
                    self.log
                        .push(format!("{} {} gives up: {why}", self.now, i + 1));
                    // Its peers see the links drop, as when a ZooKeeper server leaves a role.
                    for j in 0..self.nodes.len() {
                        if j != i {
                            self.link_gen[i][j] += 1;
                            self.link_gen[j][i] += 1;
                        }
                    }
                    self.nodes[i].role = Role::Looking;
                    for j in 0..self.nodes.len() {
                        if j != i {
                            self.link_broken(j, i);
                        }
                    }
                    self.look(i);
                    return;
                }
            }
        }
    }

    fn deliver(&mut self, from: usize, to: usize, w: Wire) {
        let sid = (from + 1) as Sid;
        match w {
            Wire::Vote(n) => {
                let out = self.nodes[to].e.on_notification(self.now, sid, n);
                self.election_out(to, out);
            }
            Wire::Zab(m) => {
                let out = match &mut self.nodes[to].role {
                    Role::Leader(l) => {
                        if matches!(m, Msg::FollowerInfo { .. }) {
                            l.on_connect(sid, self.now);
                        }
                        l.on_message(sid, m, self.now)
                    }
                    Role::Learner(l) => l.on_message(sid, m, self.now),
                    Role::Looking => return,
                };
                self.zab_out(to, out);
            }
        }
    }

    fn write(&mut self) {
        for i in 0..self.nodes.len() {
            if !self.nodes[i].up {
                continue;
            }
            if let Role::Leader(l) = &mut self.nodes[i].role {
                let p = self.next_payload;
                let payload: Payload = Arc::from(p.to_be_bytes().as_slice());
                if let Some((_, out)) = l.propose(payload) {
                    self.next_payload += 1;
                    self.zab_out(i, out);
                }
            }
        }
    }

    fn tick(&mut self, i: usize) {
        let out = match &mut self.nodes[i].role {
            Role::Leader(l) => l.on_tick(self.now),
            Role::Learner(l) => l.on_tick(self.now),
            Role::Looking => return,
        };
        self.zab_out(i, out);
    }

    fn fsync_done(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        let Some((_, covers)) = n.fsync_at.take() else {
            return;
        };
        // A truncation meanwhile may have shortened the log.
        n.durable = covers.min(n.log.len());
        if n.log.len() > n.durable {
            // What arrived during the sync goes in the next one (group commit).
            let at = self.now + 1 + self.rng.below(self.max_fsync);
            n.fsync_at = Some((at, n.log.len()));
        }
        let Some(&(z, _)) = n.log[..n.durable].last() else {
            return;
        };
        let out = match &mut n.role {
            Role::Leader(l) => l.on_durable(z),
            Role::Learner(l) => l.on_durable(z),
            Role::Looking => return,
        };
        self.zab_out(i, out);
    }

    fn partition(&mut self, side: &[bool], one_way: bool) {
        let n = self.nodes.len();
        for a in 0..n {
            for b in 0..n {
                let cut = side[a] != side[b] && (!one_way || side[a]);
                if cut && !self.blocked[a][b] {
                    self.link_gen[a][b] += 1;
                    self.link_gen[b][a] += 1;
                }
                self.blocked[a][b] = cut;
            }
        }
        for a in 0..n {
            for b in 0..n {
                if self.blocked[a][b] || self.blocked[b][a] {
                    self.link_broken(a, b);
                }
            }
        }
        self.log
            .push(format!("{} partition {side:?} one_way={one_way}", self.now));
    }

    fn heal(&mut self) {
        for row in &mut self.blocked {
            row.iter_mut().for_each(|b| *b = false);
        }
        self.log.push(format!("{} heal", self.now));
    }

    fn run(&mut self, until: u64, faults: Option<(f64, f64)>, write_every: u64) {
        let mut next_step = self.now + TICK;
        let mut next_write = self.now + write_every;
        while self.now < until {
            let next_msg = self.queue.peek().map(|Reverse((t, _))| *t);
            let next_vote = self
                .nodes
                .iter()
                .filter(|n| n.up && matches!(n.role, Role::Looking))
                .filter_map(|n| n.e.deadline())
                .min();
            let next_fsync = self
                .nodes
                .iter()
                .filter(|n| n.up)
                .filter_map(|n| n.fsync_at.map(|f| f.0))
                .min();
            let t = [
                next_msg,
                next_vote,
                next_fsync,
                Some(next_step),
                Some(next_write),
                Some(until),
            ]
            .into_iter()
            .flatten()
            .min()
            .expect("until");
            self.now = t.max(self.now);
            if next_msg == Some(t) {
                let Reverse((_, id)) = self.queue.pop().expect("peeked");
                let (from, to, gen, w) = self.msgs.remove(&id).expect("stored");
                let live = self.nodes[to].up
                    && !self.blocked[from][to]
                    && (matches!(w, Wire::Vote(_)) || gen == self.link_gen[from][to]);
                if live {
                    self.deliver(from, to, w);
                }
                continue;
            }
            for i in 0..self.nodes.len() {
                if self.nodes[i].up && self.nodes[i].fsync_at.is_some_and(|f| f.0 <= self.now) {
                    self.fsync_done(i);
                }
                if self.nodes[i].up
                    && matches!(self.nodes[i].role, Role::Looking)
                    && self.nodes[i].e.deadline().is_some_and(|d| d <= self.now)
                {
                    let out = self.nodes[i].e.on_timer(self.now);
                    self.election_out(i, out);
                }
            }
            if self.now >= next_write {
                next_write = self.now + write_every;
                self.write();
            }
            if self.now >= next_step {
                next_step = self.now + TICK;
                for i in 0..self.nodes.len() {
                    if self.nodes[i].up {
                        self.tick(i);
                    }
                }
                if let Some((repartition, crash)) = faults {
                    self.fault_step(repartition, crash);
                }
            }
        }
    }

    fn fault_step(&mut self, repartition: f64, crash: f64) {
        let n = self.nodes.len();
        if self.rng.unit() < repartition {
            if self.rng.below(2) == 0 {
                self.heal();
            } else {
                let side: Vec<bool> = (0..n).map(|_| self.rng.below(2) == 0).collect();
                let one_way = self.rng.below(4) == 0;
                self.partition(&side, one_way);
            }
        }
        if self.rng.unit() < crash / 4.0 {
            // Power loss: everything up goes down at once; restarts come one by one.
            for i in 0..n {
                if self.nodes[i].up {
                    self.crash(i);
                }
            }
        } else if self.rng.unit() < crash {
            let i = self.rng.below(n as u64) as usize;
            if self.nodes[i].up {
                self.crash(i);
            } else {
                self.start(i);
            }
        }
    }

    /// The checks listed at the top; `Err` describes the first violation.
    fn check(&self) -> Result<(), String> {
        let mut history: BTreeMap<Zxid, Payload> = BTreeMap::new();
        let lives = self
            .nodes
            .iter()
            .enumerate()
            .flat_map(|(i, n)| n.past_lives.iter().chain([&n.applied]).map(move |l| (i, l)));
        let mut longest: &[(Zxid, Payload)] = &[];
        for (i, life) in lives.clone() {
            for w in life.windows(2) {
                if w[0].0 >= w[1].0 {
                    return Err(format!(
                        "server {} applied {:#x} then {:#x}",
                        i + 1,
                        w[0].0,
                        w[1].0
                    ));
                }
            }
            for (z, p) in life {
                if let Some(old) = history.insert(*z, p.clone()) {
                    if old != *p {
                        return Err(format!("zxid {z:#x} names two txns"));
                    }
                }
            }
            if life.len() > longest.len() {
                longest = life;
            }
        }
        for (i, life) in lives {
            if let Some(k) = (0..life.len()).find(|&k| longest[k] != life[k]) {
                return Err(format!(
                    "server {}'s applied history leaves the longest at #{k}: {:#x} vs {:#x}",
                    i + 1,
                    life[k].0,
                    longest[k].0
                ));
            }
        }
        for (z, p) in &self.acked {
            if !longest.iter().any(|(lz, lp)| lz == z && lp == p) {
                return Err(format!("acknowledged write {z:#x} lost"));
            }
        }
        Ok(())
    }

    fn leader(&self) -> Option<usize> {
        self.nodes
            .iter()
            .position(|n| n.up && matches!(&n.role, Role::Leader(l) if l.is_established()))
    }
}

fn encode_snapshot(applied: &[(Zxid, Payload)]) -> bytes::Bytes {
    let mut b = Vec::new();
    for (z, p) in applied {
        b.extend_from_slice(&z.to_be_bytes());
        b.extend_from_slice(&(p.len() as u32).to_be_bytes());
        b.extend_from_slice(p);
    }
    bytes::Bytes::from(b)
}

fn decode_snapshot(mut b: &[u8]) -> Vec<(Zxid, Payload)> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let z = i64::from_be_bytes(b[..8].try_into().expect("8"));
        let len = u32::from_be_bytes(b[8..12].try_into().expect("4")) as usize;
        out.push((z, Arc::from(&b[12..12 + len])));
        b = &b[12 + len..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(sim: &mut Sim) {
        for i in 0..sim.nodes.len() {
            sim.start(i);
        }
    }

    #[test]
    fn three_servers_elect_sync_and_commit_writes() {
        let mut sim = Sim::new(1, 3, 0);
        up(&mut sim);
        sim.run(5_000, None, 20);
        sim.check().unwrap();
        let l = sim.leader().expect("a leader");
        assert_eq!(l, 2, "the largest id leads a fresh ensemble");
        assert!(
            sim.acked.len() > 100,
            "writes committed: {}",
            sim.acked.len()
        );
        for n in &sim.nodes {
            assert!(n.applied.len() + 2 >= sim.acked.len(), "followers keep up");
        }
    }

    #[test]
    fn observer_follows_committed_txns() {
        let mut sim = Sim::new(2, 3, 1);
        up(&mut sim);
        sim.run(5_000, None, 20);
        sim.check().unwrap();
        assert!(sim.nodes[3].applied.len() + 2 >= sim.acked.len());
    }

    #[test]
    fn leader_crash_moves_leadership_and_keeps_writes() {
        let mut sim = Sim::new(3, 3, 0);
        up(&mut sim);
        sim.run(3_000, None, 20);
        let before = sim.acked.len();
        sim.crash(2);
        sim.run(8_000, None, 20);
        assert_eq!(sim.leader(), Some(1));
        sim.start(2);
        sim.run(14_000, None, 20);
        sim.check().unwrap();
        assert!(sim.acked.len() > before + 50);
        assert!(
            sim.nodes[2].applied.len() + 2 >= sim.acked.len(),
            "3 caught up"
        );
    }

    #[test]
    fn lagging_follower_gets_a_snapshot() {
        let mut sim = Sim::new(4, 3, 0);
        up(&mut sim);
        sim.run(2_000, None, 20);
        sim.crash(0);
        sim.run(6_000, None, 10); // far more than commit_log_count txns
        sim.start(0);
        sim.run(10_000, None, 10);
        sim.check().unwrap();
        assert!(
            sim.log.iter().any(|l| l.contains("1 loads snap")),
            "{:?}",
            &sim.log[sim.log.len() - 20..]
        );
        assert!(sim.nodes[0].applied.len() + 2 >= sim.acked.len());
    }

    #[test]
    fn a_minority_commits_nothing() {
        let mut sim = Sim::new(5, 5, 0);
        up(&mut sim);
        sim.run(3_000, None, 20);
        let l = sim.leader().expect("leader");
        // Isolate the leader with one follower.
        let mut side = vec![false; 5];
        side[l] = true;
        side[(l + 1) % 5] = true;
        sim.partition(&side, false);
        let acked_before = sim.acked.len();
        sim.run(3_000 + 400, None, 20);
        // Anything acknowledged after the cut must come from the majority side.
        sim.run(12_000, None, 20);
        sim.check().unwrap();
        let new_leader = sim.leader().expect("majority elects");
        assert!(!side[new_leader], "the majority side leads");
        assert!(sim.acked.len() > acked_before);
    }

    #[test]
    fn random_faults_keep_committed_history_safe() {
        for seed in crate::quorum::sim::seeds(1_000) {
            let mut r = Rng::new(seed ^ 0x2ab);
            let voters = [3, 5][r.below(2) as usize];
            let observers = r.below(2) as usize;
            let mut sim = Sim::new(seed, voters, observers);
            sim.drop = r.unit() * 0.2;
            sim.max_delay = 1 + r.below(30);
            sim.max_fsync = 1 + r.below(200);
            up(&mut sim);
            let faults = (r.unit() * 0.3, r.unit() * 0.15);
            sim.run(15_000, Some(faults), 5);
            sim.heal();
            for i in 0..sim.nodes.len() {
                if !sim.nodes[i].up {
                    sim.start(i);
                }
            }
            let acked = sim.acked.len();
            sim.run(15_000 + 120_000, None, 50);
            let fail = sim
                .check()
                .err()
                .or_else(|| {
                    sim.leader()
                        .is_none()
                        .then(|| "no leader after healing".into())
                })
                .or_else(|| (sim.acked.len() <= acked).then(|| "no write after healing".into()));
            if let Some(e) = fail {
                let tail = sim.log.len().saturating_sub(60);
                panic!(
                    "seed {seed} ({voters} voters, {observers} observers, faults {faults:?}): {e}\n\
                     replay: SIM_SEED={seed} cargo test --lib quorum::sim_zab\n{}",
                    sim.log[tail..].join("\n")
                );
            }
        }
    }
}
