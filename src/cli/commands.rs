//! Runs one parsed command against the session and prints what zkCli prints: results on
//! stdout, `Created ...` and warnings on stderr (zkCli 3.8 does the same).

use super::error::CliError;
use super::format::{self, EventKind};
use super::parse::{usage_text, Parsed};
use super::session::Session;
use crate::client::frame::decode_exact;
use crate::client::{
    acl, Acl, AddWatchMode, Client, ClientError, CreateMode, ErrorCode, Op, OpResult, WatcherType,
};
use crate::proto::codec::Encode;
use crate::proto::opcode;
use crate::proto::records::{Create2Response, CreateRequest, CreateResponse, CreateTtlRequest};
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// zkCli's `deleteall` batch size default.
const DELETE_BATCH_DEFAULT: usize = 1000;
/// Bound on a four-letter word's answer time.
const FOUR_LETTER_TIMEOUT: Duration = Duration::from_secs(10);
const CONFIG_NODE: &str = "/zookeeper/config";

/// Runs `cmd`. `history`, `redo` and `quit` belong to the shell and are refused here.
pub async fn run(cmd: &Parsed, sess: &Session) -> Result<(), CliError> {
    let c = sess.client();
    match cmd.name() {
        "ls" => ls(cmd, sess).await,
        "get" => {
            cmd.expect_args(1, 1)?;
            let path = checked_path(cmd, 0)?;
            let w = cmd.flag('w');
            let (data, stat) = c
                .get_data(path, w)
                .await
                .map_err(|e| CliError::client(e, path))?;
            if w {
                sess.watches
                    .lock()
                    .expect("watch book")
                    .data
                    .insert(path.into());
            }
            println!("{}", format::data_text(data.as_deref()));
            if cmd.flag('s') {
                println!("{}", format::stat_lines(&stat));
            }
            Ok(())
        }
        "set" => {
            cmd.expect_args(2, 2)?;
            let path = checked_path(cmd, 0)?;
            let version = version_opt(cmd)?;
            let stat = c
                .set_data(path, cmd.args[1].as_bytes(), version)
                .await
                .map_err(|e| CliError::client(e, path))?;
            if cmd.flag('s') {
                println!("{}", format::stat_lines(&stat));
            }
            Ok(())
        }
        "create" => create(cmd, sess).await,
        "delete" => {
            cmd.expect_args(1, 1)?;
            let path = checked_path(cmd, 0)?;
            let version = version_opt(cmd)?;
            c.delete(path, version)
                .await
                .map_err(|e| CliError::client(e, path))
        }
        "deleteall" => deleteall(cmd, sess).await,
        "stat" => {
            cmd.expect_args(1, 1)?;
            let path = checked_path(cmd, 0)?;
            let w = cmd.flag('w');
            let stat = c
                .exists(path, w)
                .await
                .map_err(|e| CliError::client(e, path))?;
            if w {
                let mut book = sess.watches.lock().expect("watch book");
                if stat.is_some() {
                    &mut book.data
                } else {
                    &mut book.exist
                }
                .insert(path.into());
            }
            let stat =
                stat.ok_or_else(|| CliError::client(ClientError::Keeper(ErrorCode::NoNode), path))?;
            println!("{}", format::stat_lines(&stat));
            Ok(())
        }
        "getAcl" => {
            cmd.expect_args(1, 1)?;
            let path = checked_path(cmd, 0)?;
            let (acls, stat) = c
                .get_acl(path)
                .await
                .map_err(|e| CliError::client(e, path))?;
            println!("{}", format::acl_lines(&acls));
            if cmd.flag('s') {
                println!("{}", format::stat_lines(&stat));
            }
            Ok(())
        }
        "setAcl" => set_acl(cmd, sess).await,
        "addauth" => {
            cmd.expect_args(2, 2)?;
            let (scheme, auth) = (&cmd.args[0], &cmd.args[1]);
            match c.add_auth(scheme, auth.as_bytes()).await {
                Ok(()) => Ok(()),
                Err(ClientError::Keeper(ErrorCode::AuthFailed)) => {
                    // The Java client learns this as an AuthFailed state event.
                    sess.print_event("AuthFailed", EventKind::None, None);
                    Err(CliError::Failed(format::keeper_message(
                        ErrorCode::AuthFailed,
                        "",
                    )))
                }
                Err(e) => Err(CliError::client(e, "")),
            }
        }
        "sync" => {
            cmd.expect_args(1, 1)?;
            let path = checked_path(cmd, 0)?;
            c.sync(path).await.map_err(|e| CliError::client(e, path))?;
            println!("Sync is OK");
            Ok(())
        }
        "whoami" => {
            cmd.expect_args(0, 0)?;
            let infos = c.who_am_i().await.map_err(|e| CliError::client(e, ""))?;
            println!("Auth scheme: User");
            for i in infos {
                println!("{}: {}", i.auth_scheme, i.user);
            }
            Ok(())
        }
        "getEphemerals" => {
            cmd.expect_args(0, 1)?;
            let prefix = cmd.args.first().map_or("/", String::as_str);
            let mut eph = c
                .get_ephemerals(prefix)
                .await
                .map_err(|e| CliError::client(e, prefix))?;
            eph.sort();
            println!("{}", format::list(&eph));
            Ok(())
        }
        "getAllChildrenNumber" => {
            cmd.expect_args(1, 1)?;
            let path = checked_path(cmd, 0)?;
            let n = c
                .get_all_children_number(path)
                .await
                .map_err(|e| CliError::client(e, path))?;
            println!("{n}");
            Ok(())
        }
        "addWatch" => {
            cmd.expect_args(1, 1)?;
            let path = checked_path(cmd, 0)?;
            let mode = match cmd.value('m') {
                None | Some("PERSISTENT_RECURSIVE") => AddWatchMode::PersistentRecursive,
                Some("PERSISTENT") => AddWatchMode::Persistent,
                Some(_) => return Err(cmd.usage()),
            };
            c.add_watch(path, mode)
                .await
                .map_err(|e| CliError::client(e, path))?;
            let mut book = sess.watches.lock().expect("watch book");
            match mode {
                AddWatchMode::Persistent => book.persistent.insert(path.into()),
                AddWatchMode::PersistentRecursive => book.recursive.insert(path.into()),
            };
            Ok(())
        }
        "removewatches" => remove_watches(cmd, sess).await,
        "config" => {
            cmd.expect_args(0, 0)?;
            let w = cmd.flag('w');
            let (data, stat) = c
                .get_data(CONFIG_NODE, w)
                .await
                .map_err(|e| CliError::client(e, CONFIG_NODE))?;
            if w {
                sess.watches
                    .lock()
                    .expect("watch book")
                    .data
                    .insert(CONFIG_NODE.into());
            }
            let text = format::data_text(data.as_deref());
            if cmd.flag('c') {
                println!("{}", client_config(&text));
            } else {
                println!("{text}");
            }
            if cmd.flag('s') {
                println!("{}", format::stat_lines(&stat));
            }
            Ok(())
        }
        "four" => {
            cmd.expect_args(1, 1)?;
            let word = &cmd.args[0];
            if word.len() != 4 || !word.chars().all(|ch| ch.is_ascii_alphabetic()) {
                return Err(CliError::Failed(format!(
                    "four: {word:?} is not a four-letter word (ruok, srvr, stat, mntr, conf, ...)"
                )));
            }
            let (server, word) = (sess.server(), word.clone());
            let answer = tokio::task::spawn_blocking(move || four_letter(&server, &word))
                .await
                .map_err(|e| CliError::Failed(format!("four: {e}")))??;
            print!("{answer}");
            if !answer.ends_with('\n') {
                println!();
            }
            Ok(())
        }
        "printwatches" => {
            cmd.expect_args(0, 1)?;
            match cmd.args.first().map(String::as_str) {
                None => println!(
                    "printwatches is {}",
                    if sess.print_watches.load(Ordering::SeqCst) {
                        "on"
                    } else {
                        "off"
                    }
                ),
                Some("on") => sess.print_watches.store(true, Ordering::SeqCst),
                Some("off") => sess.print_watches.store(false, Ordering::SeqCst),
                Some(_) => return Err(cmd.usage()),
            }
            Ok(())
        }
        "help" => {
            println!("{}", usage_text());
            Ok(())
        }
        "version" => {
            println!(
                "ZooKeeper CLI version: ringkeeper {}",
                env!("CARGO_PKG_VERSION")
            );
            Ok(())
        }
        "quit" => Ok(()),
        other => Err(CliError::Failed(format!(
            "{other} is only available in the interactive shell"
        ))),
    }
}

/// The path argument `i`, checked as the Java client checks it before sending.
fn checked_path(cmd: &Parsed, i: usize) -> Result<&str, CliError> {
    let path = cmd.arg(i)?;
    format::validate_path(path, false).map_err(CliError::Failed)?;
    Ok(path)
}

fn version_opt(cmd: &Parsed) -> Result<i32, CliError> {
    match cmd.value('v') {
        None => Ok(-1),
        Some(v) => v
            .parse()
            .map_err(|_| CliError::Failed("-v argument must be an int value".into())),
    }
}

async fn ls(cmd: &Parsed, sess: &Session) -> Result<(), CliError> {
    cmd.expect_args(1, 1)?;
    let path = checked_path(cmd, 0)?;
    let c = sess.client();
    if cmd.flag('R') {
        for p in subtree_bfs(sess, path).await? {
            println!("{p}");
        }
        return Ok(());
    }
    let w = cmd.flag('w');
    let (mut children, stat) = if cmd.flag('s') {
        let (ch, st) = c
            .get_children2(path, w)
            .await
            .map_err(|e| CliError::client(e, path))?;
        (ch, Some(st))
    } else {
        (
            c.get_children(path, w)
                .await
                .map_err(|e| CliError::client(e, path))?,
            None,
        )
    };
    if w {
        sess.watches
            .lock()
            .expect("watch book")
            .child
            .insert(path.into());
    }
    children.sort();
    println!("{}", format::list(&children));
    if let Some(st) = stat {
        println!("{}", format::stat_lines(&st));
    }
    Ok(())
}

/// `path` and every node under it, breadth first, children in name order.
async fn subtree_bfs(sess: &Session, path: &str) -> Result<Vec<String>, CliError> {
    let c = sess.client();
    let mut out = vec![path.to_string()];
    let mut queue = VecDeque::from([path.to_string()]);
    while let Some(p) = queue.pop_front() {
        let mut children = match c.get_children(&p, false).await {
            Ok(ch) => ch,
            // Deleted under us: nothing below it to list.
            Err(ClientError::Keeper(ErrorCode::NoNode)) if p != path => continue,
            Err(e) => return Err(CliError::client(e, &p)),
        };
        children.sort();
        for ch in children {
            let full = if p == "/" {
                format!("/{ch}")
            } else {
                format!("{p}/{ch}")
            };
            out.push(full.clone());
            queue.push_back(full);
        }
    }
    Ok(out)
}

async fn create(cmd: &Parsed, sess: &Session) -> Result<(), CliError> {
    cmd.expect_args(1, 3)?;
    let (seq, eph, container) = (cmd.flag('s'), cmd.flag('e'), cmd.flag('c'));
    let ttl = match cmd.value('t') {
        None => None,
        Some(t) => Some(
            t.parse::<i64>()
                .map_err(|_| CliError::Failed("-t argument must be a long value".into()))?,
        ),
    };
    if container && (seq || eph) {
        return Err(CliError::Failed(
            "-c cannot be combined with -s or -e. Containers cannot be ephemeral or sequential."
                .into(),
        ));
    }
    if ttl.is_some() && eph {
        return Err(CliError::Failed(
            "TTLs cannot be used with Ephemeral znodes".into(),
        ));
    }
    if ttl.is_some() && container {
        return Err(CliError::Failed(
            "TTLs cannot be used with Container znodes".into(),
        ));
    }
    let path = cmd.arg(0)?;
    format::validate_path(path, seq).map_err(CliError::Failed)?;
    // No data argument sends null data, as zkCli does (`get` then prints `null`).
    let data = cmd.args.get(1).map(|d| d.as_bytes().to_vec());
    let acls = match cmd.args.get(2) {
        None => acl::open_unsafe(),
        Some(a) => acl_arg(a)?,
    };
    let mode = if container {
        CreateMode::Container
    } else {
        match (ttl.is_some(), seq, eph) {
            (true, false, _) => CreateMode::PersistentWithTtl,
            (true, true, _) => CreateMode::PersistentSequentialWithTtl,
            (false, false, false) => CreateMode::Persistent,
            (false, false, true) => CreateMode::Ephemeral,
            (false, true, false) => CreateMode::PersistentSequential,
            (false, true, true) => CreateMode::EphemeralSequential,
        }
    };
    let created = create_node(&sess.client(), path, data, acls, mode, ttl)
        .await
        .map_err(|e| CliError::client(e, path))?;
    eprintln!("Created {created}");
    Ok(())
}

/// Sends a create whose data may be null, which the client's typed calls cannot express;
/// the opcode follows the mode (createContainer, createTTL, else create).
async fn create_node(
    c: &Client,
    path: &str,
    data: Option<Vec<u8>>,
    acl: Vec<Acl>,
    mode: CreateMode,
    ttl: Option<i64>,
) -> Result<String, ClientError> {
    let flags = mode.flags();
    let (opcode, body) = match (mode, ttl) {
        (_, Some(ttl)) => {
            let r = CreateTtlRequest {
                path: path.into(),
                data,
                acl,
                flags,
                ttl,
            };
            (opcode::CREATE_TTL, r.to_bytes())
        }
        (CreateMode::Container, None) => {
            let r = CreateRequest {
                path: path.into(),
                data,
                acl,
                flags,
            };
            (opcode::CREATE_CONTAINER, r.to_bytes())
        }
        (_, None) => {
            let r = CreateRequest {
                path: path.into(),
                data,
                acl,
                flags,
            };
            (opcode::CREATE, r.to_bytes())
        }
    };
    let (hdr, body) = c.request_raw(opcode, body).await?;
    if hdr.err != 0 {
        return Err(ClientError::from_code(hdr.err));
    }
    if opcode == opcode::CREATE {
        Ok(decode_exact::<CreateResponse>(&body)?.path)
    } else {
        Ok(decode_exact::<Create2Response>(&body)?.path)
    }
}

/// Parses an ACL argument, printing zkCli's warnings; an empty result is refused before
/// anything is sent (zkCli's wording, including its `null`).
fn acl_arg(s: &str) -> Result<Vec<Acl>, CliError> {
    let mut warnings = Vec::new();
    let acls = format::parse_acl(s, &mut warnings);
    for w in warnings {
        eprintln!("{w}");
    }
    if acls.is_empty() {
        return Err(CliError::Failed("Acl is not valid : null".into()));
    }
    Ok(acls)
}

async fn deleteall(cmd: &Parsed, sess: &Session) -> Result<(), CliError> {
    cmd.expect_args(1, 1)?;
    let path = checked_path(cmd, 0)?;
    let batch = match cmd.value('b') {
        None => DELETE_BATCH_DEFAULT,
        Some(b) => match b.parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => {
                return Err(CliError::Failed(
                    "-b argument must be a positive int value".into(),
                ))
            }
        },
    };
    let nodes = subtree_bfs(sess, path).await?;
    let c = sess.client();
    // Deepest first, so every node is childless when its delete runs.
    let ops: Vec<Op> = nodes.iter().rev().map(|p| Op::delete(p, -1)).collect();
    for chunk in ops.chunks(batch) {
        let results = c
            .multi(chunk.to_vec())
            .await
            .map_err(|e| CliError::client(e, path))?;
        let failed = results.iter().zip(chunk).find_map(|(r, op)| match (r, op) {
            (OpResult::Error(code), Op::Delete { path, .. })
                if !matches!(code, ErrorCode::Ok | ErrorCode::RuntimeInconsistency) =>
            {
                Some((*code, path.clone()))
            }
            _ => None,
        });
        if let Some((code, p)) = failed {
            return Err(CliError::Failed(format::keeper_message(code, &p)));
        }
    }
    Ok(())
}

async fn set_acl(cmd: &Parsed, sess: &Session) -> Result<(), CliError> {
    cmd.expect_args(2, 2)?;
    let path = checked_path(cmd, 0)?;
    let version = version_opt(cmd)?;
    let acls = acl_arg(&cmd.args[1])?;
    let c = sess.client();
    if cmd.flag('R') {
        for p in subtree_bfs(sess, path).await? {
            c.set_acl(&p, &acls, version)
                .await
                .map_err(|e| CliError::client(e, &p))?;
        }
        return Ok(());
    }
    let stat = c
        .set_acl(path, &acls, version)
        .await
        .map_err(|e| CliError::client(e, path))?;
    if cmd.flag('s') {
        println!("{}", format::stat_lines(&stat));
    }
    Ok(())
}

async fn remove_watches(cmd: &Parsed, sess: &Session) -> Result<(), CliError> {
    cmd.expect_args(1, 1)?;
    let path = checked_path(cmd, 0)?;
    let kind = if cmd.flag('c') {
        WatcherType::Children
    } else if cmd.flag('d') {
        WatcherType::Data
    } else {
        WatcherType::Any
    };
    // As the Java client: with no such watch set by this session, fail without asking
    // the server; otherwise the server removes it and the client reports each removal.
    let (data, child, persistent) = {
        let b = sess.watches.lock().expect("watch book");
        let data = b.data.contains(path) || b.exist.contains(path);
        let child = b.child.contains(path);
        let persistent = b.persistent.contains(path) || b.recursive.contains(path);
        match kind {
            WatcherType::Children => (false, child, false),
            WatcherType::Data => (data, false, false),
            _ => (data, child, persistent),
        }
    };
    if !(data || child || persistent) {
        return Err(CliError::Failed(format::keeper_message(
            ErrorCode::NoWatcher,
            path,
        )));
    }
    match sess.client().remove_watches(path, kind).await {
        Ok(()) => {}
        // -l: remove locally even when the server cannot be reached.
        Err(ClientError::ConnectionLoss) if cmd.flag('l') => {}
        Err(e) => return Err(CliError::client(e, path)),
    }
    {
        let mut b = sess.watches.lock().expect("watch book");
        if data {
            b.data.remove(path);
            b.exist.remove(path);
        }
        if child {
            b.child.remove(path);
        }
        if persistent {
            b.persistent.remove(path);
            b.recursive.remove(path);
        }
    }
    for (removed, kind) in [
        (data, EventKind::DataWatchRemoved),
        (child, EventKind::ChildWatchRemoved),
        (persistent, EventKind::PersistentWatchRemoved),
    ] {
        if removed {
            sess.print_event("SyncConnected", kind, Some(path));
        }
    }
    Ok(())
}

/// `config -c`: the dynamic config as a client connect string (`version host:port,...`),
/// as ConfigUtils.getClientConfigStr builds it.
fn client_config(text: &str) -> String {
    let mut version = String::new();
    let mut addrs = Vec::new();
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("version=") {
            version = v.trim().to_string();
        } else if line.starts_with("server.") {
            // server.N=host:quorum:election[:role];[clientAddr:]clientPort
            if let Some((_, client)) = line.split_once(';') {
                let host = line
                    .split_once('=')
                    .and_then(|(_, v)| v.split(':').next())
                    .unwrap_or_default();
                let client = client.trim();
                addrs.push(match client.rsplit_once(':') {
                    Some((a, p)) if a != "0.0.0.0" => format!("{a}:{p}"),
                    Some((_, p)) => format!("{host}:{p}"),
                    None => format!("{host}:{client}"),
                });
            }
        }
    }
    format!("{version} {}", addrs.join(","))
}

fn four_letter(server: &str, word: &str) -> Result<String, CliError> {
    let fail = |e: std::io::Error| CliError::Failed(format!("four {word} on {server}: {e}"));
    let mut s = std::net::TcpStream::connect(server).map_err(fail)?;
    s.set_read_timeout(Some(FOUR_LETTER_TIMEOUT))
        .map_err(fail)?;
    s.write_all(word.as_bytes()).map_err(fail)?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).map_err(fail)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::client_config;

    #[test]
    fn client_config_string() {
        let cfg = "server.1=a:2888:3888:participant;0.0.0.0:2181\nserver.2=b:2888:3888;10.0.0.2:2182\nversion=100000000";
        assert_eq!(client_config(cfg), "100000000 a:2181,10.0.0.2:2182");
    }
}
