//! `ringkeeper snapshot dump|verify <file> [--json]`.

use std::io::Write;
use std::path::Path;

use super::text::{acl_text, data_text, json_acl, json_data, json_str};
use super::Verdict;
use crate::storage::snapshot::{SnapError, SnapReader};
use crate::tree::StoredNode;

fn node_line(n: &StoredNode) -> String {
    let s = &n.stat;
    format!(
        "{} czxid={:#x} mzxid={:#x} pzxid={:#x} ctime={} mtime={} version={} cversion={} \
         aversion={} ephemeralOwner={:#x} dataLength={} data={} acl={}",
        n.path,
        s.czxid,
        s.mzxid,
        s.pzxid,
        s.ctime,
        s.mtime,
        s.version,
        s.cversion,
        s.aversion,
        s.ephemeral_owner,
        n.data.as_ref().map_or(0, |d| d.len()),
        data_text(n.data.as_deref()),
        acl_text(&n.acl)
    )
}

fn node_json(n: &StoredNode) -> String {
    let s = &n.stat;
    format!(
        "{{\"path\":{},\"czxid\":{},\"mzxid\":{},\"pzxid\":{},\"ctime\":{},\"mtime\":{},\
         \"version\":{},\"cversion\":{},\"aversion\":{},\"ephemeralOwner\":{},\"data\":{},\"acl\":{}}}",
        json_str(&n.path),
        s.czxid,
        s.mzxid,
        s.pzxid,
        s.ctime,
        s.mtime,
        s.version,
        s.cversion,
        s.aversion,
        s.ephemeral_owner,
        json_data(n.data.as_deref()),
        json_acl(&n.acl)
    )
}

/// Reads the whole snapshot, printing it when `dump`. Damage is reported on `err`.
pub fn run(
    file: &Path,
    dump: bool,
    json: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Verdict {
    match read(file, dump, json, out) {
        Ok((zxid, nodes, sessions)) => {
            let summary = format!(
                "{}: OK: zxid {zxid:#x}, {nodes} nodes, {sessions} sessions",
                file.display()
            );
            // A dump keeps stdout for records.
            if dump {
                writeln!(err, "{summary}")?;
            } else if json {
                writeln!(
                    out,
                    "{{\"file\":{},\"ok\":true,\"zxid\":{zxid},\"nodes\":{nodes},\"sessions\":{sessions}}}",
                    super::text::json_str(&file.display().to_string())
                )?;
            } else {
                writeln!(out, "{summary}")?;
            }
            Ok(true)
        }
        Err(SnapError::Io(e)) if e.kind() != std::io::ErrorKind::UnexpectedEof => {
            Err(anyhow::Error::new(e).context(format!("reading {}", file.display())))
        }
        Err(e) => {
            writeln!(err, "{}: DAMAGED: {e}", file.display())?;
            if json && !dump {
                writeln!(
                    out,
                    "{{\"file\":{},\"ok\":false,\"error\":{}}}",
                    super::text::json_str(&file.display().to_string()),
                    super::text::json_str(&e.to_string())
                )?;
            }
            Ok(false)
        }
    }
}

fn read(
    file: &Path,
    dump: bool,
    json: bool,
    out: &mut dyn Write,
) -> Result<(i64, u64, usize), SnapError> {
    let mut rd = SnapReader::open_file(file)?;
    let h = rd.header;
    if dump {
        if json {
            writeln!(
                out,
                "{{\"zxid\":{},\"nodes\":{},\"sessions\":{},\"acls\":{}}}",
                h.zxid, h.node_count, h.session_count, h.acl_count
            )?;
            for (id, t) in &rd.sessions {
                writeln!(out, "{{\"session\":{id},\"timeout\":{t}}}")?;
            }
        } else {
            writeln!(
                out,
                "snapshot zxid={:#x} nodes={} sessions={} acls={}",
                h.zxid, h.node_count, h.session_count, h.acl_count
            )?;
            for (id, t) in &rd.sessions {
                writeln!(out, "session {id:#x} timeout={t}")?;
            }
        }
    }
    while let Some(n) = rd.next_node()? {
        if dump {
            writeln!(out, "{}", if json { node_json(&n) } else { node_line(&n) })?;
        }
    }
    let sessions = rd.sessions.len();
    let h = rd.finish()?;
    Ok((h.zxid, h.node_count, sessions))
}
