//! The replicated ensemble: leader election on the election port and Zab on the quorum
//! port. The protocol logic is sans-IO — state machines fed with messages and the time,
//! returning what to send, persist, log and apply — so `sim` and `sim_zab` can run many of
//! them deterministically under message loss, reordering, partitions and crashes; the
//! socket layer around them only moves bytes.
//!
//! - `vote`           votes, peer states, the election order
//! - `election`       fast leader election (ZooKeeper's rules)
//! - `election_wire`  the election port's bytes, compatible with ZooKeeper's
//! - `election_net`   the election port's connections
//! - `zab`            Zab's leader and learner (discovery, DIFF/TRUNC/SNAP sync, broadcast)
//! - `zab_wire`       the quorum port's QuorumPacket format
//! - `zab_net`        the quorum port's connections
//! - `sim`, `sim_zab` the deterministic simulations (tests)
//!
//! The consensus core drives them as an ensemble member (`consensus::ensemble`): elect, run
//! the elected role until its machine gives up, close every client connection, elect again.
//! `tests/ensemble/` and `tests/ensemble_session_moved.rs` hold the multi-process acceptance
//! tests, each also checked against an
//! Apache ZooKeeper 3.8 ensemble.

pub mod election;
pub mod election_net;
pub mod election_wire;
#[cfg(test)]
mod sim;
#[cfg(test)]
mod sim_zab;
pub mod vote;
pub mod zab;
pub mod zab_net;
pub mod zab_wire;
