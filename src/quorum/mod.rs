//! The replicated ensemble: leader election on the election port and (next) Zab on the
//! quorum port. The protocol logic is sans-IO — state machines fed with messages and the
//! time, returning what to send — so `sim` can run many of them deterministically under
//! message loss, reordering, partitions and crashes; the socket layer around them only moves
//! bytes.
//!
//! - `vote`           votes, peer states, the election order
//! - `election`       fast leader election (ZooKeeper's rules)
//! - `election_wire`  the election port's bytes, compatible with ZooKeeper's
//! - `sim`            the deterministic simulation (tests)

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
