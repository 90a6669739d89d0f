//! Shared by the scenario examples: `--server host:port` parsing, sessions, and a checks
//! tally that decides the exit code.
#![allow(dead_code)]

use ringkeeper::client::{ZkOptions, ZooKeeper};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// `--server host:port` (default 127.0.0.1:2181), plus the other `--key value` pairs.
pub struct Args {
    pub server: String,
    rest: Vec<(String, String)>,
}

impl Args {
    pub fn parse() -> Args {
        let mut server = "127.0.0.1:2181".to_string();
        let mut rest = Vec::new();
        let mut it = std::env::args().skip(1);
        while let Some(k) = it.next() {
            let Some(key) = k.strip_prefix("--") else {
                usage(&format!("unexpected argument {k:?}"));
            };
            let Some(v) = it.next() else {
                usage(&format!("--{key} needs a value"));
            };
            if key == "server" {
                server = v;
            } else {
                rest.push((key.to_string(), v));
            }
        }
        Args { server, rest }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.rest
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn num(&self, key: &str, default: u64) -> u64 {
        match self.get(key) {
            None => default,
            Some(v) => v
                .parse()
                .unwrap_or_else(|_| usage(&format!("--{key} {v:?} is not a number"))),
        }
    }
}

fn usage(msg: &str) -> ! {
    eprintln!(
        "error: {msg}\nusage: {} --server host:port [--key value ...]",
        std::env::args().next().unwrap_or_default()
    );
    std::process::exit(2);
}

/// A new session (each participant has its own, as separate processes would).
pub async fn session(server: &str) -> ZooKeeper {
    let opts = ZkOptions::new(server, Duration::from_secs(10));
    ZooKeeper::connect_with(opts).await.unwrap_or_else(|e| {
        eprintln!("error: cannot connect to {server}: {e}");
        std::process::exit(2);
    })
}

/// Counts failed checks; `finish` exits 0 only if none failed.
#[derive(Default)]
pub struct Checks {
    failed: AtomicUsize,
    passed: AtomicUsize,
}

impl Checks {
    pub fn check(&self, ok: bool, what: &str) {
        if ok {
            self.passed.fetch_add(1, Ordering::SeqCst);
            println!("  check ok: {what}");
        } else {
            self.failed.fetch_add(1, Ordering::SeqCst);
            println!("  CHECK FAILED: {what}");
        }
    }

    pub fn finish(&self, name: &str) -> ! {
        let (p, f) = (
            self.passed.load(Ordering::SeqCst),
            self.failed.load(Ordering::SeqCst),
        );
        println!("{name}: {p} checks passed, {f} failed");
        std::process::exit(if f == 0 && p > 0 { 0 } else { 1 });
    }
}

/// A fresh root per run so examples can run repeatedly against one server.
pub fn run_root(name: &str) -> String {
    format!("/examples/{name}-{}", uuid::Uuid::new_v4().simple())
}
