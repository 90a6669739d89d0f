//! Commands about the server and the cli itself: sync, config, four-letter words, help.

use super::checked_path;
use crate::cli::error::CliError;
use crate::cli::format;
use crate::cli::parse::usage_text;
use crate::cli::parse::Parsed;
use crate::cli::session::Session;
use std::io::{Read, Write};
use std::time::Duration;

/// Bound on a four-letter word's answer time.
const FOUR_LETTER_TIMEOUT: Duration = Duration::from_secs(10);
const CONFIG_NODE: &str = "/zookeeper/config";

pub(super) async fn sync(cmd: &Parsed, sess: &Session) -> Result<(), CliError> {
    let c = sess.client();
    cmd.expect_args(1, 1)?;
    let path = checked_path(cmd, 0)?;
    c.sync(path).await.map_err(|e| CliError::client(e, path))?;
    println!("Sync is OK");
    Ok(())
}

pub(super) async fn config(cmd: &Parsed, sess: &Session) -> Result<(), CliError> {
    let c = sess.client();
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

pub(super) async fn four(cmd: &Parsed, sess: &Session) -> Result<(), CliError> {
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

pub(super) async fn help(_cmd: &Parsed, _sess: &Session) -> Result<(), CliError> {
    println!("{}", usage_text());
    Ok(())
}

pub(super) async fn version(_cmd: &Parsed, _sess: &Session) -> Result<(), CliError> {
    println!(
        "ZooKeeper CLI version: ringkeeper {}",
        env!("CARGO_PKG_VERSION")
    );
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
