//! From words to a command: zkCli's quoting rule for a typed line, the command table with
//! each command's options and usage line, and option parsing in the style of commons-cli
//! (options may come before or after the positional arguments; flags may be grouped).

use super::error::CliError;
use std::collections::{HashMap, HashSet};

/// One command of the table.
pub struct Spec {
    pub name: &'static str,
    /// zkCli's usage line (arguments part).
    pub usage: &'static str,
    /// Options: the letter, and whether it takes a value.
    pub opts: &'static [(char, bool)],
}

/// Every command, in the order zkCli's help lists them.
pub const COMMANDS: &[Spec] = &[
    spec("addWatch", "[-m mode] path # optional mode is one of [PERSISTENT, PERSISTENT_RECURSIVE] - default is PERSISTENT_RECURSIVE", &[('m', true)]),
    spec("addauth", "scheme auth", &[]),
    spec("config", "[-c] [-w] [-s]", &[('c', false), ('w', false), ('s', false)]),
    spec("create", "[-s] [-e] [-c] [-t ttl] path [data] [acl]", &[('s', false), ('e', false), ('c', false), ('t', true)]),
    spec("delete", "[-v version] path", &[('v', true)]),
    spec("deleteall", "path [-b batch size]", &[('b', true)]),
    spec("four", "word # send a four-letter word (ruok, srvr, mntr, ...) and print the answer", &[]),
    spec("get", "[-s] [-w] path", &[('s', false), ('w', false)]),
    spec("getAcl", "[-s] path", &[('s', false)]),
    spec("getAllChildrenNumber", "path", &[]),
    spec("getEphemerals", "path", &[]),
    spec("help", "", &[]),
    spec("history", "", &[]),
    spec("ls", "[-s] [-w] [-R] path", &[('s', false), ('w', false), ('R', false)]),
    spec("printwatches", "on|off", &[]),
    spec("quit", "", &[]),
    spec("redo", "cmdno", &[]),
    spec("removewatches", "path [-c|-d|-a] [-l]", &[('c', false), ('d', false), ('a', false), ('l', false)]),
    spec("set", "[-s] [-v version] path data", &[('s', false), ('v', true)]),
    spec("setAcl", "[-s] [-v version] [-R] path acl", &[('s', false), ('v', true), ('R', false)]),
    spec("stat", "[-w] path", &[('w', false)]),
    spec("sync", "path", &[]),
    spec("version", "", &[]),
    spec("whoami", "", &[]),
];

const fn spec(name: &'static str, usage: &'static str, opts: &'static [(char, bool)]) -> Spec {
    Spec { name, usage, opts }
}

/// The help text: zkCli's header line, then one line per command.
pub fn usage_text() -> String {
    let mut s = String::from("ZooKeeper -server host:port -timeout ms cmd args");
    for c in COMMANDS {
        s.push_str(&format!("\n\t{} {}", c.name, c.usage));
    }
    s
}

/// A command with its options separated from its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub spec: &'static Spec,
    flags: HashSet<char>,
    values: HashMap<char, String>,
    pub args: Vec<String>,
}

impl std::fmt::Debug for Spec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl PartialEq for Spec {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for Spec {}

impl Parsed {
    pub fn name(&self) -> &'static str {
        self.spec.name
    }

    pub fn flag(&self, c: char) -> bool {
        self.flags.contains(&c)
    }

    pub fn value(&self, c: char) -> Option<&str> {
        self.values.get(&c).map(String::as_str)
    }

    /// The usage error of this command.
    pub fn usage(&self) -> CliError {
        usage_of(self.spec)
    }

    /// The positional argument `i`, or the usage error.
    pub fn arg(&self, i: usize) -> Result<&str, CliError> {
        self.args
            .get(i)
            .map(String::as_str)
            .ok_or_else(|| self.usage())
    }

    /// Checks the number of positional arguments.
    pub fn expect_args(&self, min: usize, max: usize) -> Result<(), CliError> {
        if self.args.len() < min || self.args.len() > max {
            return Err(self.usage());
        }
        Ok(())
    }
}

fn usage_of(spec: &Spec) -> CliError {
    CliError::Usage(
        format!("{} {}", spec.name, spec.usage)
            .trim_end()
            .to_string(),
    )
}

/// Splits a typed line as zkCli does: whitespace separates words; a word that starts with
/// a double or single quote runs to the matching quote, which is removed.
pub fn split_line(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut word = String::new();
        if c == '"' || c == '\'' {
            chars.next();
            for d in chars.by_ref() {
                if d == c {
                    break;
                }
                word.push(d);
            }
        } else {
            while let Some(&d) = chars.peek() {
                if d.is_whitespace() {
                    break;
                }
                word.push(d);
                chars.next();
            }
        }
        words.push(word);
    }
    words
}

pub fn find(name: &str) -> Option<&'static Spec> {
    COMMANDS.iter().find(|c| c.name == name)
}

/// Parses command words (the first is the command name).
pub fn parse_words(words: &[String]) -> Result<Parsed, CliError> {
    let (name, rest) = words
        .split_first()
        .ok_or_else(|| CliError::Usage(usage_text()))?;
    let spec = find(name).ok_or_else(|| CliError::UnknownCommand(name.clone()))?;
    let mut p = Parsed {
        spec,
        flags: HashSet::new(),
        values: HashMap::new(),
        args: Vec::new(),
    };
    let mut it = rest.iter();
    while let Some(w) = it.next() {
        // A lone "-" or a negative number is an argument (commons-cli's rule), so
        // `set /x -1` would be data; zkCli refuses it, we accept it.
        let is_option = w.len() > 1 && w.starts_with('-') && w[1..].parse::<f64>().is_err();
        if !is_option {
            p.args.push(w.clone());
            continue;
        }
        let letters: Vec<char> = w[1..].chars().collect();
        for (k, letter) in letters.iter().enumerate() {
            let Some(&(_, takes_value)) = spec.opts.iter().find(|(o, _)| o == letter) else {
                return Err(CliError::Failed(format!(
                    "Unrecognized option: {w}\n{}",
                    usage_line(spec)
                )));
            };
            if takes_value {
                // `-v3` and `-v 3` both work.
                let inline: String = letters[k + 1..].iter().collect();
                let value = if inline.is_empty() {
                    it.next().cloned().ok_or_else(|| {
                        CliError::Failed(format!(
                            "Missing argument for option: {letter}\n{}",
                            usage_line(spec)
                        ))
                    })?
                } else {
                    inline
                };
                p.values.insert(*letter, value);
                break;
            }
            p.flags.insert(*letter);
        }
    }
    Ok(p)
}

fn usage_line(spec: &Spec) -> String {
    usage_of(spec).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(line: &str) -> Result<Parsed, CliError> {
        parse_words(&split_line(line))
    }

    #[test]
    fn splitting_honours_quotes() {
        assert_eq!(
            split_line("  create /x \"a b\" 'c d'  e"),
            vec!["create", "/x", "a b", "c d", "e"]
        );
        assert_eq!(split_line("set /x \"\""), vec!["set", "/x", ""]);
        assert!(split_line("   ").is_empty());
    }

    #[test]
    fn options_anywhere_grouped_and_valued() {
        let c = p("removewatches /n -d -l").unwrap();
        assert!(c.flag('d') && c.flag('l') && !c.flag('c'));
        assert_eq!(c.args, vec!["/n"]);

        let c = p("create -se /x data").unwrap();
        assert!(c.flag('s') && c.flag('e'));
        assert_eq!(c.args, vec!["/x", "data"]);

        let c = p("set -v 3 /x -1").unwrap();
        assert_eq!(c.value('v'), Some("3"));
        assert_eq!(c.args, vec!["/x", "-1"]);

        let c = p("delete -v7 /x").unwrap();
        assert_eq!(c.value('v'), Some("7"));
    }

    #[test]
    fn bad_commands_and_options() {
        assert!(matches!(p("frob /"), Err(CliError::UnknownCommand(n)) if n == "frob"));
        let e = p("ls -x /").unwrap_err().to_string();
        assert_eq!(e, "Unrecognized option: -x\nls [-s] [-w] [-R] path");
        let e = p("delete /x -v").unwrap_err().to_string();
        assert!(e.starts_with("Missing argument for option: v"), "{e}");
        assert_eq!(
            p("get").unwrap().arg(0).unwrap_err().to_string(),
            "get [-s] [-w] path"
        );
    }
}
