//! Leader SIGKILL under write load: one client writes continuously through every member,
//! the leader is killed, and the time from the kill to the next acknowledged write is
//! measured. The test asserts correctness only — every acknowledged write survives every
//! failover — and prints the times; `perf/failover.sh` makes the same measurement for
//! reporting, against either server.

use crate::common::ensemble::{TestEnsemble, ELECT_TIMEOUT};
use crate::common::writer::{percentile, Writer, WriterConfig};
use crate::rt;
use std::time::{Duration, Instant};

const TRIALS: usize = 10;

#[test]
fn leader_sigkill_under_write_load_loses_no_acknowledged_write() {
    let rt = rt();
    let mut e = TestEnsemble::new(3, 0, "");
    let all = e.ids();
    e.spawn_all();
    e.wait_serving(&all);
    let writer = Writer::start(WriterConfig::new(e.hosts(&all), "/failover"));
    assert!(writer.wait_more(20, ELECT_TIMEOUT), "no writes at all");
    let mut samples: Vec<Duration> = Vec::new();
    for trial in 0..TRIALS {
        let leader = e.wait_leader(&all);
        assert!(
            writer.wait_more(20, ELECT_TIMEOUT),
            "trial {trial}: writes stalled before the kill: {:?}",
            writer.progress().errors
        );
        let killed_at = Instant::now();
        e.member_mut(leader).kill9();
        let Some(took) = writer.wait_ack_after(killed_at, ELECT_TIMEOUT) else {
            panic!("trial {trial}: no write acknowledged within {ELECT_TIMEOUT:?} of killing leader {leader}");
        };
        samples.push(took);
        e.spawn(leader);
        e.wait_serving(&all);
    }
    let report = writer.stop();
    assert!(
        !report.unknown,
        "the last write never got through once the ensemble was whole again"
    );
    rt.block_on(e.assert_converged(&all, &report));
    let p = &report.progress;
    println!(
        "failover (leader SIGKILL to next acknowledged write), {TRIALS} trials: p50 {:?}, p99 {:?}, \
         max {:?}; samples {samples:?}; {} writes acknowledged, {} failed attempts, {} connections",
        percentile(&samples, 50.0).expect("samples"),
        percentile(&samples, 99.0).expect("samples"),
        samples.iter().max().expect("samples"),
        p.confirmed,
        p.failed_attempts,
        p.connections,
    );
}
