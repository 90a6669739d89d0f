//! A seeded, deterministic simulation of several election machines on a faulty network.
//!
//! Time is simulated milliseconds; messages are delayed by random amounts (so they reorder),
//! dropped, duplicated, or blocked by partitions; servers crash and restart. What Zab will do
//! around the election is approximated: a follower whose leader is not (reachably) leading,
//! or a leader without a reachable quorum of followers, goes back to LOOKING after
//! `give_up_ms`. A failing seed is printed; `SIM_SEED=n cargo test --lib quorum::sim` replays it.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};

use super::election::{Election, ElectionConfig, Notification, Output};
use super::vote::{PeerState, Sid};
use crate::rng::Rng;

#[derive(Debug, Clone)]
pub struct Faults {
    pub drop: f64,
    pub duplicate: f64,
    pub max_delay_ms: u64,
    /// Chance per fault step that the partition changes.
    pub repartition: f64,
    /// Chance per fault step that one server crashes or a crashed one restarts.
    pub crash: f64,
}

impl Faults {
    pub const NONE: Faults = Faults {
        drop: 0.0,
        duplicate: 0.0,
        max_delay_ms: 5,
        repartition: 0.0,
        crash: 0.0,
    };
}

struct Node {
    e: Election,
    up: bool,
    last_zxid: i64,
    epoch: i64,
    /// Since when the Zab stand-in has seen this server unable to lead or follow.
    stuck_since: Option<u64>,
    decided_at: Option<u64>,
}

pub struct Sim {
    pub now: u64,
    nodes: Vec<Node>,
    ids: Vec<Sid>,
    /// `blocked[a][b]`: messages from a to b are lost.
    blocked: Vec<Vec<bool>>,
    queue: BinaryHeap<Reverse<InFlight>>,
    seq: u64,
    rng: Rng,
    pub give_up_ms: u64,
    pub log: Vec<String>,
}

/// `Notification` flattened so it can sit in the ordered queue.
type NotificationKey = (i32, i64, i64, i64, i64);

/// A message on the wire: (delivery time, send order, from, to, notification).
type InFlight = (u64, u64, usize, usize, NotificationKey);

fn key(n: &Notification) -> NotificationKey {
    (
        n.state.code(),
        n.vote.leader,
        n.vote.zxid,
        n.vote.peer_epoch,
        n.round,
    )
}

fn unkey(k: NotificationKey) -> Notification {
    Notification {
        state: PeerState::from_code(k.0).expect("valid state"),
        vote: super::vote::Vote {
            leader: k.1,
            zxid: k.2,
            peer_epoch: k.3,
        },
        round: k.4,
    }
}

impl Sim {
    /// `voters` participants with ids 1..=voters, then `observers` observers; each with its
    /// (last zxid, current epoch) from `history` (missing entries: a fresh server).
    pub fn new(seed: u64, voters: usize, observers: usize, history: &[(i64, i64)]) -> Sim {
        let n = voters + observers;
        let ids: Vec<Sid> = (1..=n as Sid).collect();
        let voter_ids: BTreeSet<Sid> = (1..=voters as Sid).collect();
        let nodes = ids
            .iter()
            .enumerate()
            .map(|(i, &id)| {
                let (last_zxid, epoch) = history.get(i).copied().unwrap_or((0, 0));
                Node {
                    e: Election::new(ElectionConfig::new(id, voter_ids.iter().copied())),
                    up: false,
                    last_zxid,
                    epoch,
                    stuck_since: None,
                    decided_at: None,
                }
            })
            .collect();
        Sim {
            now: 0,
            nodes,
            ids,
            blocked: vec![vec![false; n]; n],
            queue: BinaryHeap::new(),
            seq: 0,
            rng: Rng::new(seed),
            give_up_ms: 2_000,
            log: Vec::new(),
        }
    }

    pub fn start(&mut self, id: Sid) {
        let i = self.idx(id);
        self.nodes[i].up = true;
        self.nodes[i].stuck_since = None;
        self.nodes[i].decided_at = None;
        // A restarted process forgets its logical clock, as ZooKeeper's does.
        let cfg = self.nodes[i].e.config().clone();
        self.nodes[i].e = Election::new(cfg);
        let (z, ep) = (self.nodes[i].last_zxid, self.nodes[i].epoch);
        let out = self.nodes[i].e.start(self.now, z, ep);
        self.log.push(format!("{} start {id}", self.now));
        self.apply(i, out, &Faults::NONE);
    }

    pub fn crash(&mut self, id: Sid) {
        let i = self.idx(id);
        self.nodes[i].up = false;
        self.log.push(format!("{} crash {id}", self.now));
    }

    fn idx(&self, id: Sid) -> usize {
        (id - 1) as usize
    }

    pub fn state(&self, id: Sid) -> Option<(PeerState, Sid)> {
        let n = &self.nodes[self.idx(id)];
        n.up.then(|| (n.e.state(), n.e.current_vote().leader))
    }

    pub fn heal(&mut self) {
        for row in &mut self.blocked {
            row.iter_mut().for_each(|b| *b = false);
        }
    }

    /// Splits the servers into two sides at random.
    fn repartition(&mut self) {
        let n = self.ids.len();
        let side: Vec<bool> = (0..n).map(|_| self.rng.below(2) == 0).collect();
        let one_way = self.rng.below(4) == 0;
        for a in 0..n {
            for b in 0..n {
                self.blocked[a][b] = side[a] != side[b] && (!one_way || side[a]);
            }
        }
        self.log
            .push(format!("{} partition {side:?} one_way={one_way}", self.now));
    }

    fn reachable(&self, a: usize, b: usize) -> bool {
        self.nodes[a].up && self.nodes[b].up && !self.blocked[a][b] && !self.blocked[b][a]
    }

    fn apply(&mut self, from: usize, out: Vec<Output>, f: &Faults) {
        for o in out {
            match o {
                Output::Send { to, msg } => {
                    let to = self.idx(to);
                    if self.blocked[from][to] || self.rng.unit() < f.drop {
                        continue;
                    }
                    let copies = if self.rng.unit() < f.duplicate { 2 } else { 1 };
                    for _ in 0..copies {
                        let at = self.now + 1 + self.rng.below(f.max_delay_ms.max(1));
                        self.seq += 1;
                        self.queue
                            .push(Reverse((at, self.seq, from, to, key(&msg))));
                    }
                }
                Output::Decided { state, vote, round } => {
                    self.nodes[from].decided_at = Some(self.now);
                    self.nodes[from].stuck_since = None;
                    self.log.push(format!(
                        "{} {} decided {state:?} leader={} round={round}",
                        self.now, self.ids[from], vote.leader
                    ));
                }
            }
        }
    }

    /// Runs until `until` (simulated ms) under `f`.
    pub fn run(&mut self, until: u64, f: &Faults) {
        let mut next_fault = self.now + 100;
        while self.now < until {
            let next_msg = self.queue.peek().map(|Reverse(m)| m.0);
            let next_timer = self
                .nodes
                .iter()
                .filter(|n| n.up)
                .filter_map(|n| n.e.deadline())
                .min();
            let t = [next_msg, next_timer, Some(next_fault), Some(until)]
                .into_iter()
                .flatten()
                .min()
                .expect("until is always there");
            self.now = t.max(self.now);
            if next_msg == Some(t) {
                let Reverse((_, _, from, to, k)) = self.queue.pop().expect("peeked");
                if self.nodes[to].up && !self.blocked[from][to] {
                    let from_id = self.ids[from];
                    let out = self.nodes[to]
                        .e
                        .on_notification(self.now, from_id, unkey(k));
                    self.apply(to, out, f);
                }
                continue;
            }
            for i in 0..self.nodes.len() {
                if self.nodes[i].up && self.nodes[i].e.deadline().is_some_and(|d| d <= self.now) {
                    let out = self.nodes[i].e.on_timer(self.now);
                    self.apply(i, out, f);
                }
            }
            if self.now >= next_fault {
                next_fault = self.now + 100;
                self.fault_step(f);
                self.zab_stand_in();
            }
        }
    }

    fn fault_step(&mut self, f: &Faults) {
        if self.rng.unit() < f.repartition {
            if self.rng.below(2) == 0 {
                self.heal();
                self.log.push(format!("{} heal", self.now));
            } else {
                self.repartition();
            }
        }
        if self.rng.unit() < f.crash {
            let i = self.rng.below(self.nodes.len() as u64) as usize;
            let id = self.ids[i];
            if self.nodes[i].up {
                self.crash(id);
            } else {
                self.start(id);
            }
        }
    }

    /// Zab's part, roughly: followers need a reachable LEADING leader with the same vote,
    /// leaders need a reachable quorum of followers; otherwise, after `give_up_ms`, back to
    /// LOOKING with a new round.
    fn zab_stand_in(&mut self) {
        let voters = self.nodes[0].e.config().voters.clone();
        for i in 0..self.nodes.len() {
            let n = &self.nodes[i];
            if !n.up || n.e.state() == PeerState::Looking {
                continue;
            }
            let leader = n.e.current_vote().leader;
            let healthy = if n.e.state() == PeerState::Leading {
                let followers = (0..self.nodes.len())
                    .filter(|&j| voters.contains(&self.ids[j]))
                    .filter(|&j| {
                        j == i
                            || (self.reachable(i, j)
                                && self.nodes[j].e.state() == PeerState::Following
                                && self.nodes[j].e.current_vote().leader == leader)
                    })
                    .count();
                followers * 2 > voters.len()
            } else {
                let l = self.idx(leader);
                self.reachable(i, l)
                    && self.nodes[l].e.state() == PeerState::Leading
                    && self.nodes[l].e.current_vote() == n.e.current_vote()
            };
            if healthy {
                self.nodes[i].stuck_since = None;
                continue;
            }
            let since = *self.nodes[i].stuck_since.get_or_insert(self.now);
            if self.now - since >= self.give_up_ms {
                let id = self.ids[i];
                self.log
                    .push(format!("{} {id} gives up on leader {leader}", self.now));
                self.nodes[i].stuck_since = None;
                self.nodes[i].decided_at = None;
                let (z, ep) = (self.nodes[i].last_zxid, self.nodes[i].epoch);
                let out = self.nodes[i].e.start(self.now, z, ep);
                self.apply(i, out, &Faults::NONE);
            }
        }
    }

    /// `Some(leader)` when every live server has decided for the same live leader, which
    /// leads; the failure text otherwise.
    pub fn agreement(&self) -> Result<Sid, String> {
        let mut leader = None;
        for (i, n) in self.nodes.iter().enumerate() {
            if !n.up {
                continue;
            }
            if n.e.state() == PeerState::Looking {
                return Err(format!("server {} still looking", self.ids[i]));
            }
            let l = n.e.current_vote().leader;
            if *leader.get_or_insert(l) != l {
                return Err(format!("servers disagree: {leader:?} vs {l}"));
            }
        }
        let l = leader.ok_or("nobody is up")?;
        match self.state(l) {
            Some((PeerState::Leading, _)) => Ok(l),
            other => Err(format!("leader {l} is {other:?}")),
        }
    }

    pub fn decided_at(&self, id: Sid) -> Option<u64> {
        self.nodes[self.idx(id)].decided_at
    }
}

/// The seeds a randomized test runs: `SIM_SEED=n` replays one; `SIM_SEEDS=N` runs N of
/// them (a longer soak), from `SIM_SEEDS_FROM` (default 1), so that CI can cover a new window
/// on each commit; otherwise 1..=`default_count`.
pub(super) fn seeds(default_count: u64) -> Vec<u64> {
    let var = |k: &str| {
        std::env::var(k).ok().map(|v| {
            v.parse::<u64>()
                .unwrap_or_else(|_| panic!("{k} is a number: {v}"))
        })
    };
    if let Some(one) = var("SIM_SEED") {
        return vec![one];
    }
    let from = var("SIM_SEEDS_FROM").unwrap_or(1);
    let n = var("SIM_SEEDS").unwrap_or(default_count);
    (from..from + n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_up(sim: &mut Sim, n: Sid) {
        for id in 1..=n {
            sim.start(id);
        }
    }

    #[test]
    fn fresh_three_elect_the_largest_id() {
        let mut sim = Sim::new(1, 3, 0, &[]);
        all_up(&mut sim, 3);
        sim.run(1_000, &Faults::NONE);
        assert_eq!(sim.agreement(), Ok(3));
    }

    #[test]
    fn two_of_three_started_in_order_elect_2_and_3_then_follows() {
        let mut sim = Sim::new(2, 3, 0, &[]);
        sim.start(1);
        sim.run(1_000, &Faults::NONE);
        assert_eq!(sim.state(1), Some((PeerState::Looking, 1)));
        sim.start(2);
        sim.run(2_000, &Faults::NONE);
        assert_eq!(sim.agreement(), Ok(2));
        sim.start(3);
        sim.run(3_000, &Faults::NONE);
        assert_eq!(sim.agreement(), Ok(2));
        assert_eq!(sim.state(3), Some((PeerState::Following, 2)));
    }

    #[test]
    fn five_started_in_order_elect_3() {
        let mut sim = Sim::new(3, 5, 0, &[]);
        for id in 1..=5 {
            sim.start(id);
            sim.run(id as u64 * 1_000, &Faults::NONE);
        }
        assert_eq!(sim.agreement(), Ok(3));
    }

    #[test]
    fn history_beats_id() {
        // Server 1 has the longest log of the newest epoch; 3 has an older epoch's longer log.
        let mut sim = Sim::new(
            4,
            3,
            0,
            &[(0x2_0000_0005, 2), (0x2_0000_0003, 2), (0x1_0000_0009, 1)],
        );
        all_up(&mut sim, 3);
        sim.run(1_000, &Faults::NONE);
        assert_eq!(sim.agreement(), Ok(1));
    }

    #[test]
    fn observers_learn_the_leader_and_never_lead() {
        let mut sim = Sim::new(
            5,
            3,
            2,
            &[(0, 0), (0, 0), (0, 0), (0x9_0000_0000, 9), (0, 0)],
        );
        all_up(&mut sim, 5);
        sim.run(1_000, &Faults::NONE);
        assert_eq!(sim.agreement(), Ok(3));
        assert_eq!(sim.state(4), Some((PeerState::Observing, 3)));
        assert_eq!(sim.state(5), Some((PeerState::Observing, 3)));
    }

    #[test]
    fn leader_crash_elects_another_and_restart_rejoins() {
        let mut sim = Sim::new(6, 3, 0, &[]);
        all_up(&mut sim, 3);
        sim.run(1_000, &Faults::NONE);
        assert_eq!(sim.agreement(), Ok(3));
        sim.crash(3);
        sim.run(5_000, &Faults::NONE);
        assert_eq!(sim.agreement(), Ok(2));
        sim.start(3);
        sim.run(8_000, &Faults::NONE);
        assert_eq!(sim.agreement(), Ok(2), "3 joins the established leader");
    }

    #[test]
    fn a_minority_never_decides() {
        let mut sim = Sim::new(7, 5, 0, &[]);
        sim.start(4);
        sim.start(5);
        sim.run(30_000, &Faults::NONE);
        assert_eq!(sim.state(5).map(|s| s.0), Some(PeerState::Looking));
        assert_eq!(sim.state(4).map(|s| s.0), Some(PeerState::Looking));
    }

    /// Without faults, whatever the histories, the best vote among the voters wins, and
    /// quickly: within finalize_wait plus a few message delays (simulated time).
    #[test]
    fn fault_free_elections_pick_the_best_history_fast() {
        for seed in seeds(2_000) {
            let mut r = Rng::new(seed ^ 0xfa57);
            let voters = [1, 3, 5, 7][r.below(4) as usize];
            let history: Vec<(i64, i64)> = (0..voters)
                .map(|_| {
                    let epoch = r.below(3) as i64;
                    ((epoch << 32) | r.below(3) as i64, epoch)
                })
                .collect();
            let best = (1..=voters as Sid)
                .max_by_key(|&id| {
                    let (z, ep) = history[(id - 1) as usize];
                    (ep, z, id)
                })
                .expect("voters");
            let mut sim = Sim::new(seed, voters, 0, &history);
            all_up(&mut sim, voters as Sid);
            sim.run(5_000, &Faults::NONE);
            assert_eq!(sim.agreement(), Ok(best), "seed {seed}");
            for id in 1..=voters as Sid {
                let at = sim.decided_at(id).expect("decided");
                assert!(at <= 200 + 4 * 5, "seed {seed}: {id} decided at {at} ms");
            }
        }
    }

    /// Under loss, duplication, reordering, partitions (also one-way) and crashes, once the
    /// faults stop and everyone is up, all servers settle on one leader that leads.
    #[test]
    fn random_faults_then_heal_always_converges() {
        for seed in seeds(2_000) {
            let mut r = Rng::new(seed ^ 0x5eed);
            let voters = [3, 5][r.below(2) as usize];
            let observers = r.below(2) as usize;
            let history: Vec<(i64, i64)> = (0..voters + observers)
                .map(|_| {
                    let epoch = r.below(3) as i64;
                    ((epoch << 32) | r.below(4) as i64, epoch)
                })
                .collect();
            let mut sim = Sim::new(seed, voters, observers, &history);
            let n = (voters + observers) as Sid;
            all_up(&mut sim, n);
            let faults = Faults {
                drop: r.unit() * 0.3,
                duplicate: r.unit() * 0.2,
                max_delay_ms: 1 + r.below(300),
                repartition: r.unit() * 0.2,
                crash: r.unit() * 0.1,
            };
            sim.run(20_000, &faults);
            sim.heal();
            for id in 1..=n {
                if sim.state(id).is_none() {
                    sim.start(id);
                }
            }
            // Backoff may have reached up to 60 s between re-sends while partitioned.
            sim.run(20_000 + 200_000, &Faults::NONE);
            if let Err(e) = sim.agreement() {
                let tail = sim.log.len().saturating_sub(40);
                panic!(
                    "seed {seed} ({voters} voters, {observers} observers, {faults:?}): {e}\n\
                     replay: SIM_SEED={seed} cargo test --lib quorum::sim\n{}",
                    sim.log[tail..].join("\n")
                );
            }
        }
    }
}
