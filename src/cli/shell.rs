//! The interactive shell: zkCli's prompt `[zk: host:port(STATE) N] `, line editing and
//! history kept in `~/.ringkeeper_cli_history` (rustyline), tab completion of command
//! names and znode paths, zkCli's `history`/`redo`, and watch events printed as they
//! arrive without clobbering the line being typed.

use super::error::CliError;
use super::parse::{self, COMMANDS};
use super::session::{Printer, Session};
use super::{commands, invocation::Invocation};
use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Config, Context, Editor, ExternalPrinter, Helper};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const HISTORY_FILE: &str = ".ringkeeper_cli_history";
const HISTORY_MAX: usize = 1000;
/// zkCli's `history` shows this many earlier commands.
const HISTORY_SHOWN: usize = 10;
/// Bound on the server round trip behind completing a path, so a dead server does not
/// freeze the line editor.
const COMPLETION_TIMEOUT: Duration = Duration::from_secs(2);

pub fn run(rt: &tokio::runtime::Runtime, inv: Invocation) -> ExitCode {
    let config = Config::builder()
        .auto_add_history(false)
        .completion_type(rustyline::CompletionType::List)
        .max_history_size(HISTORY_MAX)
        .map(|b| b.build())
        .unwrap_or_default();
    let mut rl: Editor<ShellHelper, DefaultHistory> = match Editor::with_config(config) {
        Ok(rl) => rl,
        Err(e) => {
            eprintln!("ringkeeper cli: cannot set up the terminal: {e}");
            return ExitCode::from(1);
        }
    };
    let history_path = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(HISTORY_FILE));
    if let Some(p) = &history_path {
        // A missing history file is the normal first run.
        let _ = rl.load_history(p);
    }
    let printer: Printer = match rl.create_external_printer() {
        Ok(p) => {
            let p = Mutex::new(p);
            Arc::new(move |msg: String| {
                let printed = p.lock().map(|mut p| p.print(msg.clone()).is_ok());
                if !matches!(printed, Ok(true)) {
                    println!("{msg}");
                }
            })
        }
        Err(_) => Arc::new(|msg: String| println!("{msg}")),
    };

    println!("Connecting to {}", inv.connect_string);
    let sess = match rt.block_on(Session::connect(&inv, printer)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(e.exit_code());
        }
    };
    println!("Welcome to ringkeeper cli! (ZooKeeper-compatible; type help for commands)");
    sess.print_event("SyncConnected", super::format::EventKind::None, None);
    {
        let _guard = rt.enter();
        sess.spawn_reconnector();
    }
    rl.set_helper(Some(ShellHelper {
        sess: Arc::clone(&sess),
        rt: rt.handle().clone(),
    }));

    let mut history: BTreeMap<usize, String> = BTreeMap::new();
    let mut count = 0usize;
    loop {
        let prompt = format!(
            "[zk: {}({}) {count}] ",
            sess.connect_string,
            sess.state().as_str()
        );
        let line = match rl.readline(&prompt) {
            Ok(l) => l,
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("ringkeeper cli: reading input: {e}");
                break;
            }
        };
        let mut line = line.trim().to_string();
        if line.is_empty() {
            continue;
        }
        // History failures (e.g. an unwritable file) must not stop the shell.
        let _ = rl.add_history_entry(line.as_str());
        let mut words = parse::split_line(&line);
        if words[0] == "redo" {
            match redo_target(&words, &history, count) {
                Ok(l) => {
                    line = l;
                    words = parse::split_line(&line);
                }
                Err(e) => {
                    eprintln!("{e}");
                    continue;
                }
            }
        }
        history.insert(count, line.clone());
        match words[0].as_str() {
            "quit" => break,
            "history" => {
                for (n, l) in history.range(count.saturating_sub(HISTORY_SHOWN)..=count) {
                    println!("{n} - {l}");
                }
            }
            _ => {
                let result = match parse::parse_words(&words) {
                    Ok(cmd) => rt.block_on(commands::run(&cmd, &sess)),
                    Err(e) => Err(e),
                };
                if let Err(e) = result {
                    if matches!(e, CliError::UnknownCommand(_)) {
                        eprintln!("{}", parse::usage_text());
                    }
                    eprintln!("{e}");
                }
            }
        }
        count += 1;
    }
    if let Some(p) = &history_path {
        if let Err(e) = rl.save_history(p) {
            eprintln!(
                "ringkeeper cli: could not save history to {}: {e}",
                p.display()
            );
        }
    }
    rt.block_on(sess.close());
    ExitCode::SUCCESS
}

/// zkCli's `redo N`: the command line numbered N, if it exists and is not a redo itself.
fn redo_target(
    words: &[String],
    history: &BTreeMap<usize, String>,
    count: usize,
) -> Result<String, CliError> {
    let usage = || CliError::Usage("redo cmdno".into());
    let n: usize = words
        .get(1)
        .ok_or_else(usage)?
        .parse()
        .map_err(|_| usage())?;
    if n >= count {
        return Err(CliError::Failed("Command index out of range".into()));
    }
    let line = history
        .get(&n)
        .ok_or_else(|| CliError::Failed("Command index out of range".into()))?;
    if parse::split_line(line).first().is_some_and(|w| w == "redo") {
        return Err(CliError::Failed("No redoing redos".into()));
    }
    Ok(line.clone())
}

struct ShellHelper {
    sess: Arc<Session>,
    rt: tokio::runtime::Handle,
}

impl ShellHelper {
    /// Children of the parent of `word` (a path being typed) that complete it.
    fn complete_path(&self, word: &str) -> Vec<String> {
        let slash = word.rfind('/').unwrap_or(0);
        let (parent, prefix) = (&word[..slash.max(1)], &word[slash + 1..]);
        let client = self.sess.client();
        let children = self.rt.block_on(async {
            tokio::time::timeout(COMPLETION_TIMEOUT, client.get_children(parent, false)).await
        });
        let Ok(Ok(mut children)) = children else {
            return Vec::new();
        };
        children.sort();
        let base = if parent == "/" { "" } else { parent };
        children
            .into_iter()
            .filter(|c| c.starts_with(prefix))
            .map(|c| format!("{base}/{c}"))
            .collect()
    }
}

impl Completer for ShellHelper {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let before = &line[..pos];
        let start = before.rfind(char::is_whitespace).map_or(0, |i| i + 1);
        let word = &before[start..];
        let candidates = if before[..start].trim().is_empty() {
            COMMANDS
                .iter()
                .filter(|c| c.name.starts_with(word))
                .map(|c| format!("{} ", c.name))
                .collect()
        } else if word.starts_with('/') {
            self.complete_path(word)
        } else {
            Vec::new()
        };
        Ok((start, candidates))
    }
}

impl Hinter for ShellHelper {
    type Hint = String;
}
impl Highlighter for ShellHelper {}
impl Validator for ShellHelper {}
impl Helper for ShellHelper {}
