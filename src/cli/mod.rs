//! `ringkeeper cli`: a shell that speaks to a ZooKeeper-compatible server the way zkCli.sh
//! does, with zkCli's command syntax, output formats, error wording and exit codes.
//!
//! Layout: `invocation` (the cli's own `-server`/`-timeout` flags), `parse` (splitting a
//! line into words, each command's options, the command table), `commands` (running one
//! command), `format` (zkCli's output formats and error wording), `session` (connection,
//! reconnect to the next host, the book of watches to re-register), `shell` (the
//! interactive loop: prompt, history, completion, watch events as they arrive).

mod commands;
mod error;
mod format;
mod invocation;
mod parse;
mod session;
mod shell;

pub use error::CliError;
pub use invocation::{CliArgs, Invocation};

use std::process::ExitCode;
use std::sync::Arc;

/// Runs the cli: one command when one is given (exit 0 on success, 1 on error, 127 for an
/// unknown command, as zkCli.sh), the interactive shell otherwise.
pub fn main(args: CliArgs) -> ExitCode {
    let inv = match Invocation::parse(&args.args) {
        Ok(inv) => inv,
        Err(e) => {
            eprintln!("{e}");
            eprintln!("{}", invocation::USAGE);
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        // One worker keeps the connection (pings, events) alive while the main thread
        // blocks in line editing.
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ringkeeper cli: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    if inv.command.is_empty() {
        shell::run(&rt, inv)
    } else {
        one_shot(&rt, &inv)
    }
}

fn one_shot(rt: &tokio::runtime::Runtime, inv: &Invocation) -> ExitCode {
    let cmd = match parse::parse_words(&inv.command) {
        Ok(c) => c,
        Err(e) => return report(&e),
    };
    // Quiet printer: a one-shot run ends before any watch could fire, as with zkCli.
    let printer: session::Printer = Arc::new(|_msg: String| {});
    let result = rt.block_on(async {
        let sess = session::Session::connect(inv, printer).await?;
        let r = commands::run(&cmd, &sess).await;
        sess.close().await;
        r
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(&e),
    }
}

fn report(e: &CliError) -> ExitCode {
    if matches!(e, CliError::UnknownCommand(_)) {
        eprintln!("{}", parse::usage_text());
    }
    eprintln!("{e}");
    ExitCode::from(e.exit_code())
}
