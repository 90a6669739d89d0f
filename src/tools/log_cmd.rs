//! `ringkeeper log dump|verify <dir-or-file> [--json]`: read-only; never truncates.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::text::{txn_json, txn_line};
use super::Verdict;
use crate::storage::log_file::parse_log_file_name;
use crate::storage::record::{scan, Scan};
use crate::storage::recovery::list_log_files;
use crate::txn::{Txn, Zxid};

/// The log files `target` names: one file, or every `log.*` of a directory in zxid order.
fn files(target: &Path) -> Result<Vec<PathBuf>> {
    if target.is_dir() {
        Ok(list_log_files(target)?
            .into_iter()
            .map(|(_, p)| p)
            .collect())
    } else {
        anyhow::ensure!(target.exists(), "{} does not exist", target.display());
        Ok(vec![target.to_path_buf()])
    }
}

/// Dumps (`dump = true`) or only checks every record. Damage is reported on `err` with
/// file and byte offset; the result says whether everything was sound.
pub fn run(
    target: &Path,
    dump: bool,
    json: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Verdict {
    let files = files(target)?;
    let mut last: Zxid = 0;
    let mut txns = 0u64;
    let mut sound = true;
    for (i, path) in files.iter().enumerate() {
        let buf = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let named = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(parse_log_file_name);
        let mut pos = 0usize;
        let mut first_in_file = true;
        loop {
            match scan(&buf, pos) {
                Scan::Record { zxid, txn, next } => {
                    let t = match Txn::decode(txn) {
                        Ok(t) => t,
                        Err(e) => {
                            writeln!(
                                err,
                                "{}: offset {pos}: undecodable txn {zxid:#x}: {e}",
                                path.display()
                            )?;
                            sound = false;
                            break;
                        }
                    };
                    if t.zxid() != zxid || zxid <= last {
                        writeln!(
                            err,
                            "{}: offset {pos}: zxid {zxid:#x} out of order (after {last:#x})",
                            path.display()
                        )?;
                        sound = false;
                    }
                    if first_in_file && named.is_some_and(|n| zxid < n) {
                        writeln!(
                            err,
                            "{}: first zxid {zxid:#x} is below the file's name",
                            path.display()
                        )?;
                        sound = false;
                    }
                    first_in_file = false;
                    if dump {
                        let line = if json { txn_json(&t) } else { txn_line(&t) };
                        writeln!(out, "{line}")?;
                    }
                    last = zxid;
                    txns += 1;
                    pos = next;
                }
                Scan::End => break,
                Scan::Torn { why } => {
                    let newest = i + 1 == files.len();
                    writeln!(
                        err,
                        "{}: offset {pos}: damaged record ({why}); {} bytes from here on are unreadable{}",
                        path.display(),
                        buf.len() - pos,
                        if newest {
                            " (a torn tail: start-up would truncate it)"
                        } else {
                            " (not the newest file: start-up refuses this log)"
                        }
                    )?;
                    sound = false;
                    break;
                }
            }
        }
    }
    let summary = format!(
        "{} file(s), {txns} txns, last zxid {last:#x}: {}",
        files.len(),
        if sound { "OK" } else { "DAMAGED" }
    );
    // A dump keeps stdout for records; the summary goes beside the damage reports.
    if dump {
        writeln!(err, "{summary}")?;
    } else if json {
        writeln!(
            out,
            "{{\"files\":{},\"txns\":{txns},\"last_zxid\":{last},\"ok\":{sound}}}",
            files.len()
        )?;
    } else {
        writeln!(out, "{summary}")?;
    }
    Ok(sound)
}
