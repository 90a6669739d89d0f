//! A rolling restart — each server in turn stopped with SIGTERM, started again, and waited
//! for until the whole ensemble serves — under a continuous writer loses nothing it
//! acknowledged, and every member ends with the same nodes.

use crate::common::ensemble::{TestEnsemble, ELECT_TIMEOUT};
use crate::common::writer::{Writer, WriterConfig};
use crate::rt;

#[test]
fn rolling_restart_under_writes_loses_nothing() {
    let rt = rt();
    let mut e = TestEnsemble::new(3, 0, "");
    let all = e.ids();
    e.spawn_all();
    e.wait_serving(&all);
    let writer = Writer::start(WriterConfig::new(e.hosts(&all), "/rolling"));
    assert!(writer.wait_more(20, ELECT_TIMEOUT), "no writes at all");
    let mut leaders_restarted = 0;
    for id in all.clone() {
        if e.mode(id).as_deref() == Some("leader") {
            leaders_restarted += 1;
        }
        e.member_mut(id).stop();
        assert!(
            writer.wait_more(10, ELECT_TIMEOUT),
            "no writes while server {id} was down: {:?}",
            writer.progress().errors
        );
        e.spawn(id);
        e.wait_serving(&all);
        assert!(
            writer.wait_more(20, ELECT_TIMEOUT),
            "no writes after server {id} came back"
        );
    }
    let report = writer.stop();
    assert!(!report.unknown, "the last write never got through");
    rt.block_on(e.assert_converged(&all, &report));
    // Restarting in id order always takes the leader down at least once.
    assert!(leaders_restarted >= 1, "no leader was restarted");
}
