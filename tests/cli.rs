//! `ringkeeper cli` against a real server: every command in one-shot mode (output, wording
//! and exit code, checked against what zkCli.sh 3.8.0 prints for the same calls), a script
//! fed on stdin, and the interactive shell through a pseudo-terminal (prompt, a watch event
//! arriving while the prompt waits, tab completion, history recall, reconnect, quit).

mod common;

use common::{free_port, TestServer};
use ringkeeper::client::acl::{digest_id, open_unsafe};
use ringkeeper::client::{Client, CreateMode};
use std::io::Write;
use std::process::{Command, Stdio};

/// Upper bound on waiting for expected pty output; a hang fails the test, it does not
/// judge speed.
const PTY_WAIT_MS: u64 = 30_000;

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ringkeeper"));
    // zkCli prints dates in the local zone; pin it so exact lines can be compared.
    c.env("TZ", "UTC");
    c
}

fn cli_at(server: &str, args: &[&str]) -> Out {
    let out = bin()
        .args(["cli", "-server", server])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run ringkeeper cli");
    Out {
        code: out.status.code().expect("cli exited by a signal"),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
    }
}

fn cli(s: &TestServer, args: &[&str]) -> Out {
    cli_at(&s.addr(), args)
}

/// Runs and expects success with exactly this stdout.
fn ok(s: &TestServer, args: &[&str], stdout: &str) -> Out {
    let o = cli(s, args);
    assert_eq!(o.code, 0, "{args:?}: {o:?}");
    assert_eq!(o.stdout, stdout, "{args:?}: {o:?}");
    o
}

/// Runs and expects exit code `code` with exactly this stderr and nothing on stdout.
fn fails(s: &TestServer, args: &[&str], code: i32, stderr: &str) {
    let o = cli(s, args);
    assert_eq!(o.code, code, "{args:?}: {o:?}");
    assert_eq!(o.stderr, stderr, "{args:?}: {o:?}");
    assert_eq!(o.stdout, "", "{args:?}: {o:?}");
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// A stat block as zkCli prints it, from our own client's view of the node.
fn stat_block(s: &TestServer, path: &str) -> (ringkeeper::client::Stat, Vec<String>) {
    let rt = runtime();
    let stat = rt.block_on(async {
        let c = s.client().await;
        c.exists(path, false).await.expect("exists").expect("node")
    });
    let o = ok_any(s, &["stat", path]);
    (stat, o.stdout.lines().map(String::from).collect())
}

fn ok_any(s: &TestServer, args: &[&str]) -> Out {
    let o = cli(s, args);
    assert_eq!(o.code, 0, "{args:?}: {o:?}");
    o
}

/// `EEE MMM dd HH:mm:ss UTC yyyy`, java.util.Date's format.
fn is_java_date(d: &str) -> bool {
    let p: Vec<&str> = d.split(' ').collect();
    p.len() == 6
        && p[0].len() == 3
        && p[1].len() == 3
        && p[2].len() == 2
        && p[3].len() == 8
        && p[3].split(':').count() == 3
        && p[4] == "UTC"
        && p[5].len() == 4
        && p[5].chars().all(|c| c.is_ascii_digit())
}

#[test]
fn create_get_set_delete_and_their_errors() {
    let s = TestServer::start();
    let o = ok(&s, &["create", "/a", "hello"], "");
    assert_eq!(o.stderr, "Created /a\n");
    fails(
        &s,
        &["create", "/a", "again"],
        1,
        "Node already exists: /a\n",
    );
    ok(&s, &["get", "/a"], "hello\n");
    ok(&s, &["set", "/a", "two words"], "");
    ok(&s, &["get", "/a"], "two words\n");
    fails(
        &s,
        &["set", "-v", "99", "/a", "x"],
        1,
        "version No is not valid : /a\n",
    );
    ok(&s, &["set", "-v", "1", "/a", "v2"], "");
    fails(&s, &["get", "/nope"], 1, "Node does not exist: /nope\n");
    fails(
        &s,
        &["set", "/nope", "x"],
        1,
        "Node does not exist: /nope\n",
    );
    ok(&s, &["create", "/a/child"], "");
    fails(&s, &["delete", "/a"], 1, "Node not empty: /a\n");
    fails(
        &s,
        &["delete", "-v", "5", "/a/child"],
        1,
        "version No is not valid : /a/child\n",
    );
    ok(&s, &["delete", "-v", "0", "/a/child"], "");
    ok(&s, &["delete", "/a"], "");
    fails(&s, &["delete", "/a"], 1, "Node does not exist: /a\n");
    // No data argument sends null data, which prints as null; "" is empty data.
    ok(&s, &["create", "/null"], "");
    ok(&s, &["get", "/null"], "null\n");
    ok(&s, &["create", "/empty", ""], "");
    ok(&s, &["get", "/empty"], "\n");
}

#[test]
fn get_set_with_stat_print_zkcli_stat_lines() {
    let s = TestServer::start();
    ok(&s, &["create", "/n", "abc"], "");
    let (st, lines) = stat_block(&s, "/n");
    assert_eq!(lines.len(), 11, "{lines:?}");
    assert_eq!(lines[0], format!("cZxid = {:#x}", st.czxid));
    assert!(
        lines[1].starts_with("ctime = ") && is_java_date(&lines[1][8..]),
        "{lines:?}"
    );
    assert_eq!(lines[2], format!("mZxid = {:#x}", st.mzxid));
    assert!(
        lines[3].starts_with("mtime = ") && is_java_date(&lines[3][8..]),
        "{lines:?}"
    );
    assert_eq!(lines[4], format!("pZxid = {:#x}", st.pzxid));
    assert_eq!(
        lines[5..],
        [
            "cversion = 0",
            "dataVersion = 0",
            "aclVersion = 0",
            "ephemeralOwner = 0x0",
            "dataLength = 3",
            "numChildren = 0"
        ]
    );
    let g = ok_any(&s, &["get", "-s", "/n"]);
    let g: Vec<&str> = g.stdout.lines().collect();
    assert_eq!(g[0], "abc");
    assert_eq!(
        g[1..],
        lines.iter().map(String::as_str).collect::<Vec<_>>()[..]
    );

    let o = ok_any(&s, &["set", "-s", "/n", "xy"]);
    let l: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(l.len(), 11);
    assert_eq!(l[6], "dataVersion = 1");
    assert_eq!(l[9], "dataLength = 2");

    // The root's times are 0: the epoch, as ZooKeeper prints it.
    let o = ok_any(&s, &["stat", "/"]);
    assert!(
        o.stdout.contains("ctime = Thu Jan 01 00:00:00 UTC 1970\n"),
        "{o:?}"
    );
    fails(&s, &["stat", "/nope"], 1, "Node does not exist: /nope\n");
    fails(
        &s,
        &["stat", "-w", "/nope"],
        1,
        "Node does not exist: /nope\n",
    );
}

#[test]
fn dates_follow_the_local_zone_as_java_prints_them() {
    let s = TestServer::start();
    if !std::path::Path::new("/usr/share/zoneinfo/Europe/Paris").exists() {
        eprintln!("no tzdata on this machine: only UTC is checked (elsewhere)");
        return;
    }
    for (tz, want) in [
        ("Europe/Paris", "ctime = Thu Jan 01 01:00:00 CET 1970\n"),
        ("America/New_York", "ctime = Wed Dec 31 19:00:00 EST 1969\n"),
    ] {
        let out = bin()
            .env("TZ", tz)
            .args(["cli", "-server", &s.addr(), "stat", "/"])
            .output()
            .unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(stdout.contains(want), "{tz}: {stdout}");
    }
}

#[test]
fn ls_plain_stat_recursive_and_watch() {
    let s = TestServer::start();
    for p in ["/b", "/a", "/a/y", "/a/x", "/a/x/deep"] {
        ok(&s, &["create", p], "");
    }
    ok(&s, &["ls", "/"], "[a, b, zookeeper]\n");
    ok(&s, &["ls", "/a"], "[x, y]\n");
    ok(&s, &["ls", "/b"], "[]\n");
    ok(&s, &["ls", "-w", "/a"], "[x, y]\n");
    let o = ok_any(&s, &["ls", "-s", "/a"]);
    let l: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(l[0], "[x, y]");
    assert_eq!(l.len(), 12);
    assert_eq!(l[11], "numChildren = 2");
    ok(&s, &["ls", "-R", "/a"], "/a\n/a/x\n/a/y\n/a/x/deep\n");
    ok(
        &s,
        &["ls", "-R", "/"],
        "/\n/a\n/b\n/zookeeper\n/a/x\n/a/y\n/zookeeper/config\n/zookeeper/quota\n/a/x/deep\n",
    );
    fails(&s, &["ls", "/nope"], 1, "Node does not exist: /nope\n");
    fails(
        &s,
        &["ls", "-R", "/nope"],
        1,
        "Node does not exist: /nope\n",
    );
    fails(&s, &["ls"], 1, "ls [-s] [-w] [-R] path\n");
    fails(&s, &["ls", "nope"], 1, "Path must start with / character\n");
    fails(
        &s,
        &["ls", "/a/"],
        1,
        "Path must not end with / character\n",
    );
    fails(
        &s,
        &["ls", "-x", "/"],
        1,
        "Unrecognized option: -x\nls [-s] [-w] [-R] path\n",
    );
}

#[test]
fn create_modes_and_their_errors() {
    let s = TestServer::start();
    ok(&s, &["create", "/p"], "");
    let o = ok_any(&s, &["create", "-s", "/p/seq-", "d"]);
    assert_eq!(o.stderr, "Created /p/seq-0000000000\n");
    let o = ok_any(&s, &["create", "-s", "/p/seq-"]);
    assert_eq!(o.stderr, "Created /p/seq-0000000001\n");
    // One-shot mode closes its session: the ephemeral is gone when the command returns.
    let o = ok_any(&s, &["create", "-e", "/p/eph"]);
    assert_eq!(o.stderr, "Created /p/eph\n");
    let o = ok_any(&s, &["create", "-e", "-s", "/p/es-"]);
    assert_eq!(o.stderr, "Created /p/es-0000000003\n");
    ok(&s, &["ls", "/p"], "[seq-0000000000, seq-0000000001]\n");

    ok(&s, &["create", "-c", "/cont"], "");
    ok(&s, &["create", "-t", "60000", "/ttl", "x"], "");
    ok(&s, &["create", "/q"], "");
    let o = ok_any(&s, &["create", "-t", "60000", "-s", "/q/ttls-"]);
    assert_eq!(o.stderr, "Created /q/ttls-0000000000\n");
    let rt = runtime();
    rt.block_on(async {
        let c = s.client().await;
        // Both exist; like ZooKeeper, the server shows neither as ephemeral.
        for p in ["/cont", "/ttl"] {
            let st = c.exists(p, false).await.unwrap().expect(p);
            assert_eq!(st.ephemeral_owner, 0, "{p}");
        }
    });

    fails(
        &s,
        &["create", "-t", "5000", "-e", "/x"],
        1,
        "TTLs cannot be used with Ephemeral znodes\n",
    );
    fails(
        &s,
        &["create", "-t", "5000", "-c", "/x"],
        1,
        "TTLs cannot be used with Container znodes\n",
    );
    fails(
        &s,
        &["create", "-t", "abc", "/x"],
        1,
        "-t argument must be a long value\n",
    );
    fails(
        &s,
        &["create", "-c", "-s", "/x"],
        1,
        "-c cannot be combined with -s or -e. Containers cannot be ephemeral or sequential.\n",
    );
    fails(
        &s,
        &["create", "/no/parent"],
        1,
        "Node does not exist: /no/parent\n",
    );
    fails(
        &s,
        &["create"],
        1,
        "create [-s] [-e] [-c] [-t ttl] path [data] [acl]\n",
    );
    fails(
        &s,
        &["create", "-t", "0", "/x"],
        1,
        "Arguments are not valid : /x\n",
    );
}

#[test]
fn acls_get_set_recursive_and_denied() {
    let s = TestServer::start();
    ok(&s, &["create", "/d", "x"], "");
    ok(&s, &["getAcl", "/d"], "'world,'anyone\n: cdrwa\n");
    let o = ok_any(&s, &["getAcl", "-s", "/d"]);
    let l: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(l[..2], ["'world,'anyone", ": cdrwa"]);
    assert_eq!(l.len(), 13);

    let id = digest_id("u", "p");
    let acl = format!("digest:{id}:cdrwa,world:anyone:r");
    ok(&s, &["setAcl", "/d", &acl], "");
    // Without ADMIN on the node, the server masks the digest (as ZooKeeper does).
    ok(
        &s,
        &["getAcl", "/d"],
        "'digest,'u:x\n: cdrwa\n'world,'anyone\n: r\n",
    );
    fails(&s, &["set", "/d", "y"], 1, "Insufficient permission : /d\n");
    fails(
        &s,
        &["setAcl", "/d", "world:anyone:cdrwa"],
        1,
        "Insufficient permission : /d\n",
    );
    fails(
        &s,
        &["setAcl", "/d", "bad"],
        1,
        "bad does not have the form scheme:id:perm\nAcl is not valid : null\n",
    );
    fails(&s, &["getAcl", "/nope"], 1, "Node does not exist: /nope\n");

    ok(&s, &["create", "/r"], "");
    ok(&s, &["create", "/r/a"], "");
    ok(&s, &["create", "/r/a/b"], "");
    fails(
        &s,
        &["setAcl", "-v", "7", "/r", "world:anyone:cdrw"],
        1,
        "version No is not valid : /r\n",
    );
    let o = ok_any(&s, &["setAcl", "-s", "/r", "world:anyone:cdrwa"]);
    assert!(o.stdout.contains("aclVersion = 1\n"), "{o:?}");
    ok(&s, &["setAcl", "-R", "/r", "world:anyone:rw"], "");
    for p in ["/r", "/r/a", "/r/a/b"] {
        ok(&s, &["getAcl", p], "'world,'anyone\n: rw\n");
    }
    fails(
        &s,
        &["create", "/r/a/c"],
        1,
        "Insufficient permission : /r/a/c\n",
    );
    fails(
        &s,
        &["create", "/r2", "x", "bad"],
        1,
        "bad does not have the form scheme:id:perm\nAcl is not valid : null\n",
    );
}

#[test]
fn addauth_whoami_and_auth_failure() {
    let s = TestServer::start();
    ok(&s, &["whoami"], "Auth scheme: User\nip: 127.0.0.1\n");
    ok(&s, &["addauth", "digest", "u:p"], "");
    fails(
        &s,
        &["addauth", "nosuchscheme", "x"],
        1,
        "KeeperErrorCode = AuthFailed\n",
    );
    fails(&s, &["addauth", "digest"], 1, "addauth scheme auth\n");
}

#[test]
fn script_on_stdin_keeps_one_session() {
    let s = TestServer::start();
    let mut child = bin()
        .args(["cli", "-server", &s.addr()])
        .env("HOME", s.dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn cli");
    let script = "addauth digest u:p\n\
                  create /d x auth::cdrwa\n\
                  getAcl /d\n\
                  whoami\n\
                  create -e /eph\n\
                  getEphemerals\n\
                  get -w /d\n\
                  removewatches /d -d\n\
                  removewatches /d\n\
                  history\n\
                  redo 2\n\
                  quit\n";
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().expect("cli output");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let id = digest_id("u", "p");
    for want in [
        format!("'digest,'{id}\n: cdrwa\n"),
        "Auth scheme: User\nip: 127.0.0.1\ndigest: u\n".to_string(),
        "[/eph]\n".to_string(),
        "WatchedEvent state:SyncConnected type:DataWatchRemoved path:/d\n".to_string(),
        "0 - addauth digest u:p\n1 - create /d x auth::cdrwa\n".to_string(),
        "9 - history\n".to_string(),
    ] {
        assert!(
            stdout.contains(&want),
            "missing {want:?} in\n{stdout}\n{stderr}"
        );
    }
    // redo 2 printed the ACL a second time.
    assert_eq!(stdout.matches(": cdrwa\n").count(), 2, "{stdout}");
    assert!(stderr.contains("Created /d\nCreated /eph\n"), "{stderr}");
    assert!(
        stderr.contains("KeeperErrorCode = No such watcher for /d\n"),
        "{stderr}"
    );
    // quit closed the session, so its ephemeral is gone.
    ok(&s, &["ls", "/"], "[d, zookeeper]\n");
}

#[test]
fn sync_ephemerals_children_number_config_and_watches() {
    let s = TestServer::start();
    ok(&s, &["sync", "/"], "Sync is OK\n");
    ok(&s, &["getEphemerals"], "[]\n");
    ok(&s, &["getEphemerals", "/"], "[]\n");
    // /zookeeper, /zookeeper/config and /zookeeper/quota.
    ok(&s, &["getAllChildrenNumber", "/"], "3\n");
    for p in ["/c", "/c/1", "/c/2", "/c/2/x"] {
        ok(&s, &["create", p], "");
    }
    ok(&s, &["getAllChildrenNumber", "/c"], "3\n");
    fails(
        &s,
        &["getAllChildrenNumber", "/nope"],
        1,
        "Node does not exist: /nope\n",
    );
    // A standalone server's /zookeeper/config is empty, as with ZooKeeper.
    ok(&s, &["config"], "\n");
    let o = ok_any(&s, &["config", "-s"]);
    assert_eq!(o.stdout.lines().count(), 12, "{o:?}");
    ok(&s, &["addWatch", "/c"], "");
    ok(&s, &["addWatch", "-m", "PERSISTENT", "/c"], "");
    fails(
        &s,
        &["addWatch", "-m", "bogus", "/c"],
        1,
        "addWatch [-m mode] path # optional mode is one of [PERSISTENT, PERSISTENT_RECURSIVE] - default is PERSISTENT_RECURSIVE\n",
    );
    fails(
        &s,
        &["removewatches", "/c"],
        1,
        "KeeperErrorCode = No such watcher for /c\n",
    );
    ok(
        &s,
        &["stat", "-w", "/c"],
        &ok_any(&s, &["stat", "/c"]).stdout,
    );
    ok(&s, &["get", "-w", "/c"], "null\n");
}

#[test]
fn deleteall_in_batches() {
    let s = TestServer::start();
    for p in ["/t", "/t/a", "/t/b", "/t/a/1", "/t/a/2", "/t/b/1"] {
        ok(&s, &["create", p], "");
    }
    ok(&s, &["deleteall", "/t", "-b", "2"], "");
    fails(&s, &["ls", "/t"], 1, "Node does not exist: /t\n");
    fails(&s, &["deleteall", "/t"], 1, "Node does not exist: /t\n");
    fails(
        &s,
        &["deleteall", "/t", "-b", "0"],
        1,
        "-b argument must be a positive int value\n",
    );
}

#[test]
fn four_letter_words_help_and_unknown_commands() {
    let s = TestServer::start();
    ok(&s, &["four", "ruok"], "imok\n");
    let o = ok_any(&s, &["four", "srvr"]);
    assert!(o.stdout.contains("Mode: standalone\n"), "{o:?}");
    fails(
        &s,
        &["four", "toolong"],
        1,
        "four: \"toolong\" is not a four-letter word (ruok, srvr, stat, mntr, conf, ...)\n",
    );
    let o = ok_any(&s, &["help"]);
    assert!(o.stdout.starts_with("ZooKeeper -server host:port"), "{o:?}");
    for c in [
        "addWatch",
        "getAllChildrenNumber",
        "removewatches path [-c|-d|-a] [-l]",
        "four word",
    ] {
        assert!(o.stdout.contains(c), "help lacks {c}: {o:?}");
    }
    let o = cli(&s, &["frob", "/"]);
    assert_eq!(o.code, 127, "{o:?}");
    assert!(
        o.stderr
            .ends_with("Command not found: Command not found frob\n"),
        "{o:?}"
    );
    fails(&s, &["get"], 1, "get [-s] [-w] path\n");
    fails(
        &s,
        &["history"],
        1,
        "history is only available in the interactive shell\n",
    );
}

#[test]
fn connection_failures_and_server_lists() {
    let s = TestServer::start();
    let dead = format!("127.0.0.1:{}", free_port());
    let o = cli_at(&dead, &["ls", "/"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(
        o.stderr
            .starts_with(&format!("Unable to connect to {dead}: {dead}: ")),
        "{o:?}"
    );
    // A dead first host is skipped.
    let o = cli_at(&format!("{dead},{}", s.addr()), &["ls", "/"]);
    assert_eq!((o.code, o.stdout.as_str()), (0, "[zookeeper]\n"), "{o:?}");
    let o = cli_at("127.0.0.1:notaport", &["ls", "/"]);
    assert_eq!(o.code, 2, "{o:?}");
    assert!(o.stderr.contains("bad port"), "{o:?}");
}

// ---------------------------------------------------------------- interactive, via a pty

fn spawn_shell(server: &str, home: &std::path::Path) -> rexpect::session::PtySession {
    let mut c = bin();
    c.args(["cli", "-server", server])
        .env("HOME", home)
        .env("TERM", "xterm");
    rexpect::session::spawn_command(c, Some(PTY_WAIT_MS)).expect("spawn cli in a pty")
}

/// Types a line and presses Enter (the pty writer is buffered).
fn send_line(p: &mut rexpect::session::PtySession, line: &str) {
    p.send_line(line).expect("write to the pty");
    p.flush().expect("flush the pty");
}

fn prompt(addr: &str, n: usize) -> String {
    format!("[zk: {addr}(CONNECTED) {n}] ")
}

#[test]
fn interactive_prompt_watch_completion_history_quit() {
    let s = TestServer::start();
    let home = tempfile::tempdir().unwrap();
    let addr = s.addr();
    let mut p = spawn_shell(&addr, home.path());
    p.exp_string("WatchedEvent state:SyncConnected type:None path:null")
        .unwrap();
    p.exp_string(&prompt(&addr, 0)).unwrap();

    send_line(&mut p, "create /w first");
    p.exp_string("Created /w").unwrap();
    p.exp_string(&prompt(&addr, 1)).unwrap();
    send_line(&mut p, "get -w /w");
    p.exp_string("first").unwrap();
    p.exp_string(&prompt(&addr, 2)).unwrap();

    // Another session changes the node while the shell sits at its prompt.
    let rt = runtime();
    rt.block_on(async {
        let c = s.client().await;
        c.set_data("/w", b"second", -1).await.unwrap();
    });
    p.exp_string("WATCHER::").unwrap();
    p.exp_string("WatchedEvent state:SyncConnected type:NodeDataChanged path:/w")
        .unwrap();

    // Tab completes a command name, then a znode path.
    p.send("getAllCh\t").unwrap();
    p.flush().unwrap();
    p.exp_string("getAllChildrenNumber ").unwrap();
    p.send("/zoo\t").unwrap();
    p.flush().unwrap();
    p.exp_string("/zookeeper").unwrap();
    send_line(&mut p, "");
    p.exp_string("2\r\n").unwrap();
    p.exp_string(&prompt(&addr, 3)).unwrap();

    // Up-arrow recalls the previous line; Enter runs it again.
    p.send("\x1b[A").unwrap();
    p.flush().unwrap();
    p.exp_string("getAllChildrenNumber /zookeeper").unwrap();
    send_line(&mut p, "");
    p.exp_string(&prompt(&addr, 4)).unwrap();

    send_line(&mut p, "history");
    p.exp_string("0 - create /w first").unwrap();
    p.exp_string("3 - getAllChildrenNumber /zookeeper").unwrap();
    p.exp_string(&prompt(&addr, 5)).unwrap();

    send_line(&mut p, "get /nope");
    p.exp_string("Node does not exist: /nope").unwrap();
    p.exp_string(&prompt(&addr, 6)).unwrap();

    send_line(&mut p, "quit");
    p.exp_eof().unwrap();
    let status = p.process().wait().unwrap();
    assert_eq!(
        format!("{status:?}").rsplit(", ").next(),
        Some("0)"),
        "{status:?}"
    );

    let hist = std::fs::read_to_string(home.path().join(".ringkeeper_cli_history")).unwrap();
    for l in [
        "create /w first",
        "get -w /w",
        "getAllChildrenNumber /zookeeper",
        "quit",
    ] {
        assert!(hist.contains(l), "history file lacks {l:?}:\n{hist}");
    }
    // A new shell starts with that history: up-arrow brings back the last line.
    let mut p = spawn_shell(&addr, home.path());
    p.exp_string(&prompt(&addr, 0)).unwrap();
    p.send("\x1b[A\x1b[A").unwrap();
    p.flush().unwrap();
    p.exp_string("get /nope").unwrap();
    // Ctrl-D ends the shell only on an empty line: clear it first.
    p.send_control('u').unwrap();
    p.send_control('d').unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn interactive_reconnects_and_keeps_watches_after_a_server_restart() {
    let mut s = TestServer::start();
    let home = tempfile::tempdir().unwrap();
    let addr = s.addr();
    let rt = runtime();
    rt.block_on(async {
        let c: Client = s.client().await;
        c.create("/r", b"0", &open_unsafe(), CreateMode::Persistent)
            .await
            .unwrap();
    });
    let mut p = spawn_shell(&addr, home.path());
    p.exp_string(&prompt(&addr, 0)).unwrap();
    send_line(&mut p, "get -w /r");
    p.exp_string(&prompt(&addr, 1)).unwrap();

    s.restart();
    p.exp_string("WatchedEvent state:Disconnected type:None path:null")
        .unwrap();
    p.exp_string(&format!("Connecting to {addr}")).unwrap();
    p.exp_string("WatchedEvent state:SyncConnected type:None path:null")
        .unwrap();

    // The session survived the restart and its data watch was registered again.
    rt.block_on(async {
        let c = s.client().await;
        c.set_data("/r", b"1", -1).await.unwrap();
    });
    p.exp_string("WatchedEvent state:SyncConnected type:NodeDataChanged path:/r")
        .unwrap();
    send_line(&mut p, "get /r");
    p.exp_string("1\r\n").unwrap();
    send_line(&mut p, "quit");
    p.exp_eof().unwrap();
}

#[test]
fn interactive_moves_to_the_next_host_when_its_server_dies() {
    let mut first = TestServer::start();
    let second = TestServer::start();
    // A server refuses a session whose client has seen a newer zxid than its own (as
    // ZooKeeper does), so give the second server the longer history.
    runtime().block_on(async {
        let c = second.client().await;
        for i in 0..10 {
            c.create(
                &format!("/n{i}"),
                b"",
                &open_unsafe(),
                CreateMode::Persistent,
            )
            .await
            .unwrap();
        }
    });
    let home = tempfile::tempdir().unwrap();
    let list = format!("{},{}", first.addr(), second.addr());
    let mut p = spawn_shell(&list, home.path());
    p.exp_string(&prompt(&list, 0)).unwrap();
    send_line(&mut p, "create /on-first x");
    p.exp_string(&prompt(&list, 1)).unwrap();

    first.kill9();
    p.exp_string("WatchedEvent state:Disconnected type:None path:null")
        .unwrap();
    p.exp_string(&format!("Connecting to {}", second.addr()))
        .unwrap();
    // Two standalone servers share no sessions: the second one reports it expired, and
    // the shell carries on with a new session there.
    p.exp_string("WatchedEvent state:Expired type:None path:null")
        .unwrap();
    p.exp_string("WatchedEvent state:SyncConnected type:None path:null")
        .unwrap();
    send_line(&mut p, "getAllChildrenNumber /");
    p.exp_string("13\r\n").unwrap();
    p.exp_string(&prompt(&list, 2)).unwrap();
    send_line(&mut p, "quit");
    p.exp_eof().unwrap();
}
