//! Failover time: how long a continuously writing client goes without an acknowledged
//! write when the ensemble's leader is SIGKILLed. Drives an ensemble started by
//! `tools/conformance/lib.sh ensemble N` (either server); `perf/failover.sh` does the setup.
//!
//! ```sh
//! target/release/examples/failover --ensemble BASE --lib tools/conformance/lib.sh [--trials 10]
//! ```
//!
//! Per trial: find the leader (`srvr` on every member), let at least `--settle` writes
//! through, SIGKILL the leader (pid from its state dir), time until the first acknowledged
//! create that was sent after the kill, then restart the member with `lib.sh stop` + `start`
//! and wait until every member serves. Afterwards every member must serve exactly the
//! confirmed writes (the same check as `tests/ensemble`'s failover test, whose writer loop
//! this includes); the exit code is 1 if not.

// The tests' writer, so the measured loop is the tested one; not every helper is used here.
#[path = "../tests/common/writer.rs"]
#[allow(dead_code)]
mod writer;

use anyhow::{bail, Context, Result};
use clap::Parser;
use ringkeeper::client::Client;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use writer::{percentile, Writer, WriterConfig};

#[derive(Parser)]
#[command(about = "leader SIGKILL -> next acknowledged write, on a lib.sh ensemble")]
struct Args {
    /// The ensemble's base dir (members in BASE/m1..mN), from `lib.sh ensemble N`.
    #[arg(long)]
    ensemble: PathBuf,
    /// tools/conformance/lib.sh, used to restart killed members.
    #[arg(long)]
    lib: PathBuf,
    #[arg(long, default_value_t = 10)]
    trials: usize,
    /// Writes to let through before each kill (the writer is in its steady state).
    #[arg(long, default_value_t = 50)]
    settle: u64,
    /// Print the samples as one JSON object at the end.
    #[arg(long)]
    json: bool,
}

struct Member {
    dir: PathBuf,
    port: u16,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let members = members(&args.ensemble)?;
    let hosts: Vec<String> = members
        .iter()
        .map(|m| format!("127.0.0.1:{}", m.port))
        .collect();
    let prefix = format!("/failover-{}", std::process::id());
    let writer = Writer::start(WriterConfig::new(hosts.clone(), &prefix));
    let wait = Duration::from_secs(120);
    if !writer.wait_more(args.settle, wait) {
        bail!("the writer got no writes through: {:?}", writer.progress());
    }
    let mut samples = Vec::new();
    for trial in 0..args.trials {
        let leader = wait_for(wait, || leader(&members))
            .with_context(|| format!("trial {trial}: no leader"))?;
        if !writer.wait_more(args.settle, wait) {
            bail!(
                "trial {trial}: writes stalled: {:?}",
                writer.progress().errors
            );
        }
        let m = &members[leader];
        let pid = pid(&m.dir)?;
        let killed_at = Instant::now();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .with_context(|| format!("SIGKILL {pid}"))?;
        let took = writer
            .wait_ack_after(killed_at, wait)
            .with_context(|| format!("trial {trial}: no write acknowledged after the kill"))?;
        eprintln!(
            "trial {trial}: killed leader {} (pid {pid}); next acknowledged write after {took:?}",
            leader + 1
        );
        samples.push(took);
        lib(&args.lib, "stop", &m.dir)?;
        lib(&args.lib, "start", &m.dir)?;
        wait_for(wait, || {
            members.iter().all(|m| serving(m.port)).then_some(())
        })
        .with_context(|| format!("trial {trial}: the ensemble did not serve again"))?;
    }
    let report = writer.stop();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut bad = Vec::new();
    for (i, h) in hosts.iter().enumerate() {
        let kids = rt.block_on(async {
            let c = Client::connect(h, Duration::from_secs(10)).await?;
            c.sync(&prefix).await?;
            let kids = c.get_children(&prefix, false).await?;
            let _ = c.close().await;
            Ok::<_, ringkeeper::client::ClientError>(kids)
        });
        match kids {
            Ok(k) => {
                if let Err(e) = report.check_children(&k) {
                    bad.push(format!("server {}: {e}", i + 1));
                }
            }
            Err(e) => bad.push(format!("server {}: read-back failed: {e}", i + 1)),
        }
    }
    let p = &report.progress;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let p50 = percentile(&samples, 50.0).map(ms).unwrap_or(0.0);
    let p99 = percentile(&samples, 99.0).map(ms).unwrap_or(0.0);
    let max = samples.iter().max().copied().map(ms).unwrap_or(0.0);
    println!(
        "failover: {} trials, leader SIGKILL -> next acknowledged write: p50 {p50:.0} ms, \
         p99 {p99:.0} ms, max {max:.0} ms; {} writes acknowledged, {} failed attempts; \
         read-back on {} members: {}",
        samples.len(),
        p.confirmed,
        p.failed_attempts,
        hosts.len(),
        if bad.is_empty() {
            "all confirmed writes present"
        } else {
            "MISMATCH"
        },
    );
    if args.json {
        let v = serde_json::json!({
            "trials": samples.len(),
            "samples_ms": samples.iter().map(|d| ms(*d)).collect::<Vec<_>>(),
            "p50_ms": p50, "p99_ms": p99, "max_ms": max,
            "acknowledged": p.confirmed, "failed_attempts": p.failed_attempts,
            "read_back_ok": bad.is_empty(),
        });
        println!("{v}");
    }
    if !bad.is_empty() {
        bail!("acknowledged writes missing or extra:\n{}", bad.join("\n"));
    }
    Ok(())
}

/// BASE/m1..mN with their client ports (from each state dir's `env`).
fn members(base: &Path) -> Result<Vec<Member>> {
    let mut out = Vec::new();
    for i in 1.. {
        let dir = base.join(format!("m{i}"));
        if !dir.is_dir() {
            break;
        }
        let env = std::fs::read_to_string(dir.join("env"))
            .with_context(|| format!("{}: not a lib.sh state dir", dir.display()))?;
        let port = env
            .lines()
            .find_map(|l| l.strip_prefix("CK_PORT="))
            .with_context(|| format!("no CK_PORT in {}/env", dir.display()))?
            .trim()
            .parse()
            .with_context(|| format!("bad CK_PORT in {}/env", dir.display()))?;
        out.push(Member { dir, port });
    }
    if out.len() < 3 {
        bail!(
            "{}: found {} members (m1, m2, ...); a failover needs at least 3",
            base.display(),
            out.len()
        );
    }
    Ok(out)
}

/// The pid lib.sh recorded for the member's running server.
fn pid(dir: &Path) -> Result<i32> {
    let f = dir.join("server.pid");
    let text = std::fs::read_to_string(&f).with_context(|| format!("read {}", f.display()))?;
    text.split_whitespace()
        .next()
        .and_then(|p| p.parse().ok())
        .with_context(|| format!("no pid in {}", f.display()))
}

fn lib(lib: &Path, verb: &str, dir: &Path) -> Result<()> {
    let status = Command::new("bash")
        .arg(lib)
        .arg(verb)
        .arg(dir)
        .status()
        .with_context(|| format!("run {} {verb}", lib.display()))?;
    if !status.success() {
        bail!(
            "{} {verb} {} failed: {status}",
            lib.display(),
            dir.display()
        );
    }
    Ok(())
}

fn four_letter(port: u16, word: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(word.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

fn mode(port: u16) -> Option<String> {
    let r = four_letter(port, "srvr")?;
    if r.contains("not currently serving") {
        return None;
    }
    r.lines()
        .find_map(|l| l.strip_prefix("Mode: ").map(|m| m.trim().to_string()))
}

fn serving(port: u16) -> bool {
    mode(port).is_some()
}

/// Index of the member whose `srvr` says leader.
fn leader(members: &[Member]) -> Option<usize> {
    members
        .iter()
        .position(|m| mode(m.port).as_deref() == Some("leader"))
}

fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
