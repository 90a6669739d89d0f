//! Runs one parsed command against the session and prints what zkCli prints: results on
//! stdout, `Created ...` and warnings on stderr (zkCli 3.8 does the same).
//!
//! By subject: `nodes` (ls, get, set, create, delete, deleteall, stat, getEphemerals,
//! getAllChildrenNumber), `acls` (getAcl, setAcl, addauth, whoami), `watches` (addWatch,
//! removewatches, printwatches), `server` (sync, config, four, help, version).

mod acls;
mod nodes;
mod server;
mod watches;

use super::error::CliError;
use super::format;
use super::parse::Parsed;
use super::session::Session;
use crate::client::{ClientError, ErrorCode};
use std::collections::VecDeque;

/// Runs `cmd`. `history` and `redo` belong to the shell and are refused here.
pub async fn run(cmd: &Parsed, sess: &Session) -> Result<(), CliError> {
    match cmd.name() {
        "ls" => nodes::ls(cmd, sess).await,
        "get" => nodes::get(cmd, sess).await,
        "set" => nodes::set(cmd, sess).await,
        "create" => nodes::create(cmd, sess).await,
        "delete" => nodes::delete(cmd, sess).await,
        "deleteall" => nodes::deleteall(cmd, sess).await,
        "stat" => nodes::stat(cmd, sess).await,
        "getEphemerals" => nodes::get_ephemerals(cmd, sess).await,
        "getAllChildrenNumber" => nodes::get_all_children_number(cmd, sess).await,
        "getAcl" => acls::get_acl(cmd, sess).await,
        "setAcl" => acls::set_acl(cmd, sess).await,
        "addauth" => acls::add_auth(cmd, sess).await,
        "whoami" => acls::who_am_i(cmd, sess).await,
        "addWatch" => watches::add_watch(cmd, sess).await,
        "removewatches" => watches::remove_watches(cmd, sess).await,
        "printwatches" => watches::print_watches(cmd, sess).await,
        "sync" => server::sync(cmd, sess).await,
        "config" => server::config(cmd, sess).await,
        "four" => server::four(cmd, sess).await,
        "help" => server::help(cmd, sess).await,
        "version" => server::version(cmd, sess).await,
        "quit" => Ok(()),
        other => Err(CliError::Failed(format!(
            "{other} is only available in the interactive shell"
        ))),
    }
}

/// The path argument `i`, checked as the Java client checks it before sending.
pub(super) fn checked_path(cmd: &Parsed, i: usize) -> Result<&str, CliError> {
    let path = cmd.arg(i)?;
    format::validate_path(path, false).map_err(CliError::Failed)?;
    Ok(path)
}

pub(super) fn version_opt(cmd: &Parsed) -> Result<i32, CliError> {
    match cmd.value('v') {
        None => Ok(-1),
        Some(v) => v
            .parse()
            .map_err(|_| CliError::Failed("-v argument must be an int value".into())),
    }
}

/// `path` and every node under it, breadth first, children in name order.
pub(super) async fn subtree_bfs(sess: &Session, path: &str) -> Result<Vec<String>, CliError> {
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
