//! The cli's own flags, spelled as zkCli spells them (`-server`, `-timeout`), which clap's
//! long options (`--server`) cannot express; so clap hands over the raw words.

use std::time::Duration;

pub const USAGE: &str =
    "usage: ringkeeper cli [-server host:port[,host:port...]] [-timeout ms] [command args ...]";

/// ZooKeeper's default client port.
const DEFAULT_PORT: u16 = 2181;
/// zkCli's default session timeout.
const DEFAULT_TIMEOUT: Duration = Duration::from_millis(30_000);

/// `ringkeeper cli` arguments, parsed by `Invocation::parse`.
#[derive(Debug, clap::Args)]
pub struct CliArgs {
    /// [-server host:port[,host:port...]] [-timeout ms] [command args ...]; no command
    /// starts the interactive shell.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    pub args: Vec<String>,
}

/// What to connect to and what to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// `host:port` entries, in the order given.
    pub servers: Vec<String>,
    /// The `-server` value as given (shown in the prompt, as zkCli does).
    pub connect_string: String,
    pub timeout: Duration,
    /// The command words; empty for the interactive shell.
    pub command: Vec<String>,
}

impl Invocation {
    pub fn parse(args: &[String]) -> Result<Invocation, String> {
        let mut connect_string = format!("localhost:{DEFAULT_PORT}");
        let mut timeout = DEFAULT_TIMEOUT;
        let mut i = 0;
        while i < args.len() {
            let flag = args[i].trim_start_matches('-');
            if !args[i].starts_with('-') || !matches!(flag, "server" | "timeout") {
                break;
            }
            let value = args
                .get(i + 1)
                .ok_or_else(|| format!("{} needs a value", args[i]))?;
            match flag {
                "server" => connect_string = value.clone(),
                _ => {
                    let ms: u64 = value
                        .parse()
                        .map_err(|_| format!("-timeout takes milliseconds, not {value:?}"))?;
                    if ms == 0 {
                        return Err("-timeout must be more than 0 ms".into());
                    }
                    timeout = Duration::from_millis(ms);
                }
            }
            i += 2;
        }
        let servers = parse_servers(&connect_string)?;
        Ok(Invocation {
            servers,
            connect_string,
            timeout,
            command: args[i..].to_vec(),
        })
    }
}

/// `host[:port],...` into `host:port` entries. A chroot suffix (`host:port/app`) is refused
/// rather than ignored: paths would silently mean something else.
fn parse_servers(s: &str) -> Result<Vec<String>, String> {
    if let Some(slash) = s.find('/') {
        return Err(format!(
            "-server {s:?}: a chroot path ({}) is not supported by ringkeeper cli",
            &s[slash..]
        ));
    }
    let mut out = Vec::new();
    for entry in s.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let with_port = match entry.rsplit_once(':') {
            // An IPv6 literal without port has colons too; it must then be bracketed.
            Some((host, port)) if !host.is_empty() && !host.ends_with(':') => {
                port.parse::<u16>()
                    .map_err(|_| format!("-server {s:?}: bad port {port:?} in {entry:?}"))?;
                entry.to_string()
            }
            _ => format!("{entry}:{DEFAULT_PORT}"),
        };
        out.push(with_port);
    }
    if out.is_empty() {
        return Err(format!("-server {s:?}: no host:port given"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn defaults_and_flags() {
        let inv = Invocation::parse(&words("ls /")).unwrap();
        assert_eq!(inv.servers, vec!["localhost:2181"]);
        assert_eq!(inv.timeout, DEFAULT_TIMEOUT);
        assert_eq!(inv.command, words("ls /"));

        let inv = Invocation::parse(&words("-server a:1,b -timeout 5000 get -s /x")).unwrap();
        assert_eq!(inv.servers, vec!["a:1", "b:2181"]);
        assert_eq!(inv.connect_string, "a:1,b");
        assert_eq!(inv.timeout, Duration::from_millis(5000));
        assert_eq!(inv.command, words("get -s /x"));

        let inv = Invocation::parse(&words("--server h:9")).unwrap();
        assert_eq!(inv.servers, vec!["h:9"]);
        assert!(inv.command.is_empty());
    }

    #[test]
    fn bad_flags_are_explained() {
        assert!(Invocation::parse(&words("-server"))
            .unwrap_err()
            .contains("needs a value"));
        assert!(Invocation::parse(&words("-timeout x"))
            .unwrap_err()
            .contains("milliseconds"));
        assert!(Invocation::parse(&words("-server h:p"))
            .unwrap_err()
            .contains("bad port"));
        assert!(Invocation::parse(&words("-server h:1/app"))
            .unwrap_err()
            .contains("chroot"));
    }
}
