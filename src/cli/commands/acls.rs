//! ACLs and authentication.

use super::{checked_path, subtree_bfs, version_opt};
use crate::cli::error::CliError;
use crate::cli::format;
use crate::cli::format::EventKind;
use crate::cli::parse::Parsed;
use crate::cli::session::Session;
use crate::client::{Acl, ClientError, ErrorCode};

pub(super) async fn get_acl(cmd: &Parsed, sess: &Session) -> Result<(), CliError> {
    let c = sess.client();
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

pub(super) async fn set_acl(cmd: &Parsed, sess: &Session) -> Result<(), CliError> {
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

/// Parses an ACL argument, printing zkCli's warnings; an empty result is refused before
/// anything is sent (zkCli's wording, including its `null`).
pub(super) fn acl_arg(s: &str) -> Result<Vec<Acl>, CliError> {
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

pub(super) async fn add_auth(cmd: &Parsed, sess: &Session) -> Result<(), CliError> {
    let c = sess.client();
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

pub(super) async fn who_am_i(cmd: &Parsed, sess: &Session) -> Result<(), CliError> {
    let c = sess.client();
    cmd.expect_args(0, 0)?;
    let infos = c.who_am_i().await.map_err(|e| CliError::client(e, ""))?;
    println!("Auth scheme: User");
    for i in infos {
        println!("{}: {}", i.auth_scheme, i.user);
    }
    Ok(())
}
