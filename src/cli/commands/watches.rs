//! Persistent watches, removing watches, and whether events are printed.

use super::checked_path;
use crate::cli::error::CliError;
use crate::cli::format;
use crate::cli::format::EventKind;
use crate::cli::parse::Parsed;
use crate::cli::session::Session;
use crate::client::{AddWatchMode, ClientError, ErrorCode, WatcherType};
use std::sync::atomic::Ordering;

pub(super) async fn add_watch(cmd: &Parsed, sess: &Session) -> Result<(), CliError> {
    let c = sess.client();
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

pub(super) async fn remove_watches(cmd: &Parsed, sess: &Session) -> Result<(), CliError> {
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

pub(super) async fn print_watches(cmd: &Parsed, sess: &Session) -> Result<(), CliError> {
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
