//! The operator surface against the real binary: four-letter words (whitelisted or not, and
//! their ZooKeeper 3.8 formats), the admin HTTP server's commands, and the Prometheus page.

mod common;

use common::{free_port, http_cfg, http_get, TestServer};
use ringkeeper::client::acl::open_unsafe;
use ringkeeper::client::{AddWatchMode, Client, CreateMode};

const WORDS: [&str; 17] = [
    "ruok", "stat", "srvr", "conf", "cons", "crst", "dump", "envi", "mntr", "wchs", "wchc", "wchp",
    "dirs", "isro", "srst", "gtmk", "stmk",
];

/// A session holding an ephemeral node, a data watch on it, an exist watch on a missing
/// node and a child watch on `/` — what ZooKeeper's own `cons`/`wchc` output was taken with.
async fn watched_session(s: &TestServer) -> Client {
    let c = s.client().await;
    c.create("/eph", b"x", &open_unsafe(), CreateMode::Ephemeral)
        .await
        .expect("create /eph");
    c.get_data("/eph", true).await.expect("getData /eph");
    c.exists("/nope", true).await.expect("exists /nope");
    c.get_children("/", true).await.expect("getChildren /");
    c
}

#[test]
fn words_outside_the_whitelist_are_refused_with_zookeepers_message() {
    let s = TestServer::start_with("4lw.commands.whitelist=ruok, mntr\n");
    for w in WORDS {
        let out = s.four_letter(w);
        match w {
            "ruok" => assert_eq!(out, "imok"),
            "mntr" => assert!(out.starts_with("zk_version\t"), "{out}"),
            // srvr always runs (ZooKeeper's status depends on it).
            "srvr" => assert!(out.contains("Mode: standalone"), "{out}"),
            _ => assert_eq!(
                out,
                format!("{w} is not executed because it is not in the whitelist.\n")
            ),
        }
    }
}

#[tokio::test]
async fn every_word_answers_when_whitelisted() {
    let s = TestServer::start();
    let _c = watched_session(&s).await;
    for w in WORDS {
        let out = if w == "stmk" {
            // stmk reads an 8-byte trace mask after the word.
            let mut word = w.as_bytes().to_vec();
            word.extend_from_slice(&306i64.to_be_bytes());
            raw_word(s.port, &word)
        } else {
            s.four_letter(w)
        };
        assert!(!out.is_empty(), "{w} printed nothing");
        assert!(!out.contains("not available"), "{w}: {out}");
        assert!(!out.contains("not executed"), "{w}: {out}");
    }
    assert_eq!(s.four_letter("isro"), "rw");
    assert_eq!(s.four_letter("gtmk"), "306");
}

#[tokio::test]
async fn cons_dump_and_watch_words_use_zookeepers_formats() {
    let s = TestServer::start();
    let c = watched_session(&s).await;
    let sid = format!("0x{:x}", c.session_id());

    let cons = s.four_letter("cons");
    let line = cons
        .lines()
        .find(|l| l.contains(&format!("sid={sid},")))
        .unwrap_or_else(|| panic!("no cons line for {sid}:\n{cons}"));
    assert!(line.starts_with(" /127.0.0.1:"), "{line}");
    for field in [
        "queued=0", "recved=", "sent=", "lop=", "est=", "to=", "lcxid=0x", "lzxid=0x",
    ] {
        assert!(line.contains(field), "{field} missing: {line}");
    }
    assert!(line.contains(",llat=") && line.ends_with(")"), "{line}");
    assert!(cons.ends_with(")\n\n"), "{cons:?}");

    let dump = s.four_letter("dump");
    assert!(dump.starts_with("SessionTracker dump:\nSession Sets (1)/(1):\n1 expire at "));
    assert!(dump.contains(&format!("\n\t{sid}\n")), "{dump}");
    assert!(
        dump.contains(&format!(
            "ephemeral nodes dump:\nSessions with Ephemerals (1):\n{sid}:\n\t/eph\n"
        )),
        "{dump}"
    );

    // Data and exist watches only, as ZooKeeper's wchc/wchp/wchs list them.
    assert_eq!(s.four_letter("wchc"), format!("{sid}\n\t/eph\n\t/nope\n\n"));
    assert_eq!(
        s.four_letter("wchp"),
        format!("/eph\n\t{sid}\n/nope\n\t{sid}\n\n")
    );
    assert_eq!(
        s.four_letter("wchs"),
        "1 connections watching 2 paths\nTotal watches:2\n"
    );
    let mntr = s.four_letter("mntr");
    assert!(mntr.contains("zk_watch_count\t3\n"), "{mntr}");

    // Persistent watches are in ZooKeeper's data-watch table too (and in its child table,
    // so they count twice in zk_watch_count); recursive ones only in the data table.
    c.add_watch("/p", AddWatchMode::Persistent)
        .await
        .expect("addWatch /p");
    c.add_watch("/r", AddWatchMode::PersistentRecursive)
        .await
        .expect("addWatch /r");
    assert_eq!(
        s.four_letter("wchc"),
        format!("{sid}\n\t/eph\n\t/nope\n\t/p\n\t/r\n\n")
    );
    assert_eq!(
        s.four_letter("wchs"),
        "1 connections watching 4 paths\nTotal watches:4\n"
    );
    let mntr = s.four_letter("mntr");
    assert!(mntr.contains("zk_watch_count\t6\n"), "{mntr}");
    assert!(mntr.contains("zk_ephemerals_count\t1\n"), "{mntr}");

    // crst clears the connection's figures.
    assert_eq!(s.four_letter("crst"), "Connection stats reset.\n");
    let cons = s.four_letter("cons");
    assert!(
        cons.contains("lop=NA") && cons.contains("lzxid=0xffffffffffffffff"),
        "{cons}"
    );
    // stmk sets what gtmk reads (8-byte big-endian argument).
    let mut word = b"stmk".to_vec();
    word.extend_from_slice(&42i64.to_be_bytes());
    let out = raw_word(s.port, &word);
    assert_eq!(out, "42");
    assert_eq!(s.four_letter("gtmk"), "42");
}

fn raw_word(port: u16, bytes: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.write_all(bytes).expect("send");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out
}

fn json(port: u16, path: &str) -> (u16, serde_json::Value) {
    let (status, body) = http_get(port, path);
    let v = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"));
    (status, v)
}

#[tokio::test]
async fn admin_commands_answer_json_like_zookeeper() {
    let (cfg, admin, _) = http_cfg();
    let s = TestServer::start_with(&cfg);
    let c = watched_session(&s).await;
    let sid = c.session_id();

    let (status, index) = http_get(admin, "/commands");
    assert_eq!(status, 200);
    for (name, aliases) in ringkeeper::server::admin::COMMANDS {
        assert!(
            index.contains(&format!("href=\"/commands/{name}\"")),
            "{index}"
        );
        for n in std::iter::once(name).chain(aliases.iter().copied()) {
            let (status, v) = json(admin, &format!("/commands/{n}"));
            assert_eq!(status, 200, "{n}: {v}");
            assert_eq!(v["command"], name, "{n}: {v}");
            let expected_error = matches!(name, "set_trace_mask" | "leader");
            assert_eq!(v["error"].is_null(), !expected_error, "{n}: {v}");
        }
    }

    let (_, v) = json(admin, "/commands/connections");
    let conns = v["connections"].as_array().expect("connections array");
    assert!(conns.iter().any(|c| c["session_id"] == sid), "{v}");
    assert!(v["secure_connections"]
        .as_array()
        .is_some_and(|a| a.is_empty()));
    let (_, v) = json(admin, "/commands/watches");
    assert_eq!(
        v["session_id_to_watched_paths"][sid.to_string()],
        serde_json::json!(["/eph", "/nope"])
    );
    let (_, v) = json(admin, "/commands/watches_by_path");
    assert_eq!(v["path_to_session_ids"]["/eph"], serde_json::json!([sid]));
    let (_, v) = json(admin, "/commands/watch_summary");
    assert_eq!(
        (
            &v["num_connections"],
            &v["num_paths"],
            &v["num_total_watches"]
        ),
        (&1.into(), &2.into(), &2.into())
    );
    let (_, v) = json(admin, "/commands/dump");
    assert_eq!(
        v["session_id_to_ephemeral_paths"][sid.to_string()],
        serde_json::json!(["/eph"])
    );
    let expiry = v["expiry_time_to_session_ids"]
        .as_object()
        .expect("expiry map");
    assert!(
        expiry.values().any(|ids| ids == &serde_json::json!([sid])),
        "{v}"
    );
    let (_, v) = json(admin, "/commands/monitor");
    assert_eq!(v["server_state"], "standalone");
    assert_eq!(v["znode_count"], 5, "{v}");
    let (_, v) = json(admin, "/commands/server_stats");
    assert_eq!(v["server_stats"]["server_state"], "standalone");
    assert!(v["node_count"].as_u64().is_some_and(|n| n >= 5), "{v}");
    let (_, v) = json(admin, "/commands/stats");
    assert!(
        v["connections"].as_array().is_some_and(|a| !a.is_empty()),
        "{v}"
    );
    let (_, v) = json(admin, "/commands/configuration");
    assert_eq!(v["client_port"], s.port);
    let (_, v) = json(admin, "/commands/is_read_only");
    assert_eq!(v["read_only"], false);
    let (_, v) = json(admin, "/commands/environment");
    assert_eq!(v["os.name"], "linux");
    let (_, v) = json(admin, "/commands/set_trace_mask?traceMask=7");
    assert_eq!(
        (v["tracemask"].as_i64(), v["error"].is_null()),
        (Some(7), true)
    );
    assert_eq!(json(admin, "/commands/gtmk").1["tracemask"], 7);

    let (status, v) = json(admin, "/commands/nope");
    assert_eq!(status, 404);
    assert_eq!(v["error"], "Unknown command: nope");
    assert_eq!(http_get(admin, "/elsewhere").0, 404);
}

#[test]
fn admin_port_in_use_is_logged_and_clients_are_served() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let s = TestServer::start_with(&format!(
        "admin.enableServer=true\nadmin.serverAddress=127.0.0.1\nadmin.serverPort={port}\n"
    ));
    assert_eq!(s.four_letter("ruok"), "imok");
    let log = s.log_contents();
    assert!(
        log.contains(&format!(
            "admin server not started: cannot listen on 127.0.0.1:{port}"
        )),
        "{log}"
    );
}

#[test]
fn metrics_port_in_use_stops_the_start_naming_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("zoo.cfg");
    std::fs::write(
        &cfg,
        format!(
            "dataDir={}\nclientPort={}\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n\
             metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider\n\
             metricsProvider.httpHost=127.0.0.1\nmetricsProvider.httpPort={port}\npreAllocSize=1024\n",
            dir.path().join("data").display(),
            free_port()
        ),
    )
    .expect("write cfg");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ringkeeper"))
        .arg("start-foreground")
        .arg(&cfg)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "cannot listen on 127.0.0.1:{port} (metricsProvider.httpPort)"
        )),
        "{err}"
    );
}

/// The `_count` of the getData request-latency summary, and whether its quantiles are
/// numbers.
fn get_data_count(page: &str) -> (u64, bool) {
    let count = page
        .lines()
        .find_map(|l| l.strip_prefix("ringkeeper_request_latency_seconds_count{op=\"getData\"} "))
        .map_or(0, |v| v.parse().expect("a count"));
    let quantiles: Vec<f64> = page
        .lines()
        .filter(|l| l.starts_with("ringkeeper_request_latency_seconds{op=\"getData\",quantile="))
        .map(|l| l.rsplit(' ').next().unwrap().parse().expect("a number"))
        .collect();
    (
        count,
        quantiles.len() == 5 && quantiles.iter().all(|q| q.is_finite() && *q > 0.0),
    )
}

#[tokio::test]
async fn metrics_page_has_moving_request_latency_percentiles() {
    let (cfg, _, metrics) = http_cfg();
    let s = TestServer::start_with(&cfg);
    let c = s.client().await;
    c.create("/m", b"v", &open_unsafe(), CreateMode::Persistent)
        .await
        .expect("create");
    for _ in 0..10 {
        c.get_data("/m", false).await.expect("getData");
    }
    let (status, page) = http_get(metrics, "/metrics");
    assert_eq!(status, 200);
    let (before, ok) = get_data_count(&page);
    assert!(before >= 10 && ok, "{page}");
    for name in [
        "# TYPE ringkeeper_request_latency_seconds summary",
        "ringkeeper_request_latency_seconds_count{op=\"create\"} 1",
        "# TYPE ringkeeper_log_sync_seconds summary",
        "# TYPE ringkeeper_commit_latency_seconds summary",
        "# TYPE ringkeeper_snapshot_duration_seconds summary",
        "# TYPE ringkeeper_log_batch_txns summary",
        "ringkeeper_sessions 1",
        "ringkeeper_connections 1",
        "ringkeeper_znodes 5",
        "ringkeeper_outstanding_requests ",
        "ringkeeper_log_queue_txns ",
        "ringkeeper_resident_memory_bytes ",
        "ringkeeper_approximate_data_size_bytes ",
        "ringkeeper_watches 0",
    ] {
        assert!(page.contains(name), "{name} missing:\n{page}");
    }
    // Ensemble metrics are not emitted by a standalone server.
    assert!(!page.contains("ringkeeper_election_duration_seconds"));
    for _ in 0..25 {
        c.get_data("/m", false).await.expect("getData");
    }
    let (_, page) = http_get(metrics, "/metrics");
    let (after, ok) = get_data_count(&page);
    assert!(after >= before + 25 && ok, "{before} -> {after}\n{page}");
    assert_eq!(http_get(metrics, "/other").0, 404);
}
