//! Linearizability checking of ringkeeper under process faults (issue 7, parts 3 and 6):
//! `history` (what is recorded), `workload` (the clients), `check` (stateright's testers
//! and the direct checks), `run` (servers, faults, report).

pub mod check;
pub mod history;
pub mod run;
pub mod workload;
