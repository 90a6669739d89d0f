//! `ringkeeper bench` end to end against a real server: closed and open loop, the JSON
//! report, the error counts and the .hgrm file.

mod common;

use common::TestServer;
use std::process::Command;

fn bench(server: &TestServer, extra: &[&str]) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ringkeeper"))
        .args([
            "bench",
            "--server",
            &server.addr(),
            "--duration",
            "1",
            "--warmup",
            "0.2",
        ])
        .args(["--clients", "2", "--keys", "50", "--json"])
        .args(extra)
        .output()
        .expect("run bench");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "bench failed: {stdout}\n{stderr}");
    (stdout, stderr)
}

fn field(json: &str, key: &str) -> f64 {
    let at = json
        .find(&format!("\"{key}\":"))
        .unwrap_or_else(|| panic!("{key} in {json}"));
    let rest = &json[at + key.len() + 3..];
    let end = rest.find([',', '}']).unwrap();
    rest[..end]
        .parse()
        .unwrap_or_else(|_| panic!("{key} is not a number in {json}"))
}

#[test]
fn closed_loop_reports_ops_and_percentiles() {
    let server = TestServer::start();
    let (json, _) = bench(&server, &["--workload", "mixed"]);
    assert!(field(&json, "ops") > 0.0, "{json}");
    assert_eq!(field(&json, "errors"), 0.0, "{json}");
    assert!(json.contains("\"rate\":null"), "{json}");
    assert!(field(&json, "p50_us") <= field(&json, "p99_us"), "{json}");
    assert!(field(&json, "p99_us") <= field(&json, "max_us"), "{json}");
}

/// Open loop never issues more than its schedule, and writes the whole distribution.
#[test]
fn open_loop_keeps_to_its_schedule_and_writes_hgrm() {
    let server = TestServer::start();
    let hgrm = server.dir.path().join("lat.hgrm");
    let (json, _) = bench(
        &server,
        &[
            "--workload",
            "set",
            "--rate",
            "400",
            "--hgrm",
            hgrm.to_str().unwrap(),
        ],
    );
    let ops = field(&json, "ops");
    assert!(ops > 0.0, "{json}");
    // 400/s for the 1 s measured: the schedule allows at most 400 (+1 per session).
    assert!(ops <= 402.0, "more requests than scheduled: {json}");
    assert_eq!(field(&json, "errors"), 0.0, "{json}");
    let text = std::fs::read_to_string(&hgrm).unwrap();
    assert!(
        text.starts_with("       Value     Percentile TotalCount"),
        "{text}"
    );
    let total: u64 = text
        .lines()
        .find_map(|l| l.split("Total count    = ").nth(1))
        .and_then(|v| v.trim_end_matches(']').trim().parse().ok())
        .expect("total count line");
    assert_eq!(total as f64, ops, "the file holds every measured request");
}

/// Every round's notifications reach every watcher.
#[test]
fn watch_fanout_rounds_reach_every_watcher() {
    let server = TestServer::start();
    let (json, _) = bench(&server, &["--workload", "watch-fanout"]);
    assert!(field(&json, "ops") > 0.0, "{json}");
    assert_eq!(field(&json, "errors"), 0.0, "{json}");
}
