//! Commands on znodes and their data.

use super::acls::acl_arg;
use super::{checked_path, subtree_bfs, version_opt};
use crate::cli::error::CliError;
use crate::cli::format;
use crate::cli::parse::Parsed;
use crate::cli::session::Session;
use crate::client::frame::decode_exact;
use crate::client::{acl, Acl, Client, ClientError, CreateMode, ErrorCode, Op, OpResult};
use crate::proto::codec::Encode;
use crate::proto::opcode;
use crate::proto::records::{Create2Response, CreateRequest, CreateResponse, CreateTtlRequest};

/// zkCli's `deleteall` batch size default.
const DELETE_BATCH_DEFAULT: usize = 1000;

pub(super) async fn ls(cmd: &Parsed, sess: &Session) -> Result<(), CliError> {
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

pub(super) async fn get(cmd: &Parsed, sess: &Session) -> Result<(), CliError> {
    let c = sess.client();
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

pub(super) async fn set(cmd: &Parsed, sess: &Session) -> Result<(), CliError> {
    let c = sess.client();
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

pub(super) async fn create(cmd: &Parsed, sess: &Session) -> Result<(), CliError> {
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

pub(super) async fn delete(cmd: &Parsed, sess: &Session) -> Result<(), CliError> {
    let c = sess.client();
    cmd.expect_args(1, 1)?;
    let path = checked_path(cmd, 0)?;
    let version = version_opt(cmd)?;
    c.delete(path, version)
        .await
        .map_err(|e| CliError::client(e, path))
}

pub(super) async fn deleteall(cmd: &Parsed, sess: &Session) -> Result<(), CliError> {
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

pub(super) async fn stat(cmd: &Parsed, sess: &Session) -> Result<(), CliError> {
    let c = sess.client();
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

pub(super) async fn get_ephemerals(cmd: &Parsed, sess: &Session) -> Result<(), CliError> {
    let c = sess.client();
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

pub(super) async fn get_all_children_number(cmd: &Parsed, sess: &Session) -> Result<(), CliError> {
    let c = sess.client();
    cmd.expect_args(1, 1)?;
    let path = checked_path(cmd, 0)?;
    let n = c
        .get_all_children_number(path)
        .await
        .map_err(|e| CliError::client(e, path))?;
    println!("{n}");
    Ok(())
}
