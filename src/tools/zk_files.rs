//! Readers for Apache ZooKeeper 3.x files (spec §12): `snapshot.<hex>` (uncompressed,
//! Adler32-sealed) and `log.<hex>` (Adler32 per txn). Read-only; every declared length is
//! bounded by the bytes present (`proto::codec::Reader`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, ensure, Context, Result};
use bytes::Bytes;

use crate::acl::open_acl_unsafe;
use crate::proto::codec::{Decode, Reader};
use crate::proto::records::Acl;
use crate::tree::{StatPersisted, StoredNode};
use crate::txn::{SessionId, Txn, Zxid};

const SNAP_MAGIC: i32 = 0x5A4B_534E; // "ZKSN"
const LOG_MAGIC: i32 = 0x5A4B_4C47; // "ZKLG"

/// Adler-32 (RFC 1950), as java.util.zip.Adler32 computes it.
pub fn adler32(data: &[u8]) -> u32 {
    const MOD: u32 = 65521;
    // 5552 is the largest run for which the sums cannot overflow a u32.
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in data.chunks(5552) {
        for &x in chunk {
            a += u32::from(x);
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    (b << 16) | a
}

/// A parsed ZooKeeper snapshot.
#[derive(Debug)]
pub struct ZkSnapshot {
    pub sessions: Vec<(SessionId, i32)>,
    /// Parents before children, root as "/".
    pub nodes: Vec<StoredNode>,
}

/// `name` is `prefix.<hex>` (with no other suffix).
pub fn parse_name(name: &str, prefix: &str) -> Option<Zxid> {
    let hex = name.strip_prefix(prefix)?.strip_prefix('.')?;
    if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    i64::from_str_radix(hex, 16).ok()
}

/// ZooKeeper files of one kind in a directory.
#[derive(Debug, Default)]
pub struct Listing {
    /// `prefix.<hex>`, sorted by zxid ascending.
    pub files: Vec<(Zxid, PathBuf)>,
    /// Compressed variants (`.gz`, `.snappy`), which the importer does not read.
    pub compressed: Vec<PathBuf>,
}

/// Lists `prefix.<hex>` files of `dir`.
pub fn list(dir: &Path, prefix: &str) -> Result<Listing> {
    let mut found = Vec::new();
    let mut compressed = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let e = e?;
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(z) = parse_name(name, prefix) {
            found.push((z, e.path()));
        } else if name.starts_with(&format!("{prefix}."))
            && (name.ends_with(".gz") || name.ends_with(".snappy"))
        {
            compressed.push(e.path());
        }
    }
    found.sort();
    Ok(Listing {
        files: found,
        compressed,
    })
}

/// Parses an uncompressed snapshot and checks its Adler32 seal.
pub fn read_snapshot(bytes: &[u8]) -> Result<ZkSnapshot> {
    let r = &mut Reader::new(bytes);
    ensure!(
        r.i32()? == SNAP_MAGIC,
        "not a ZooKeeper snapshot (bad magic)"
    );
    let version = r.i32()?;
    ensure!(
        version == 2,
        "snapshot format version {version} (only 2 is known)"
    );
    let _dbid = r.i64()?;
    let n = r.vec_len(12)?.unwrap_or(0);
    let mut sessions = Vec::with_capacity(n);
    for _ in 0..n {
        sessions.push((r.i64()?, r.i32()?));
    }
    let n = r.vec_len(12)?.unwrap_or(0);
    let mut acl_map: std::collections::HashMap<i64, Arc<Vec<Acl>>> =
        std::collections::HashMap::with_capacity(n);
    for _ in 0..n {
        let id = r.i64()?;
        let acls = Vec::<Acl>::decode(r)?;
        acl_map.insert(id, Arc::new(acls));
    }
    let open = Arc::new(open_acl_unsafe());
    let mut nodes = Vec::new();
    loop {
        let at = r.position();
        let path = r.ustring()?;
        if path == "/" {
            break;
        }
        let data = r.buffer_slice()?.map(Bytes::copy_from_slice);
        let acl_ref = r.i64()?;
        let acl = if acl_ref == -1 {
            open.clone()
        } else {
            acl_map
                .get(&acl_ref)
                .with_context(|| format!("node {path:?} at byte {at}: unknown ACL ref {acl_ref}"))?
                .clone()
        };
        let stat = StatPersisted::decode(r)?;
        let path = if path.is_empty() {
            "/".to_string()
        } else {
            path
        };
        nodes.push(StoredNode {
            path,
            data,
            acl,
            stat,
        });
    }
    let sealed = r.position();
    let stored = r.i64()?;
    let computed = adler32(&bytes[..sealed]);
    ensure!(
        stored as u64 == u64::from(computed),
        "Adler32 mismatch over bytes 0..{sealed}: stored {stored:#x}, computed {computed:#x}"
    );
    ensure!(r.ustring()? == "/", "missing end marker after the checksum");
    // Optional trailers (digest, 3.9 lastProcessedZxid) carry nothing we need.
    Ok(ZkSnapshot { sessions, nodes })
}

/// Reads the txns of one log file. A zero length ends the data (preallocation); a short
/// or unterminated last record is a torn tail and ends the file; a checksum mismatch or an
/// undecodable txn is an error.
pub fn read_log(path: &Path) -> Result<(Vec<Txn>, Option<String>)> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let r = &mut Reader::new(&bytes);
    ensure!(
        r.i32().ok() == Some(LOG_MAGIC),
        "{}: not a ZooKeeper log (bad magic)",
        path.display()
    );
    let version = r.i32()?;
    ensure!(
        version == 2,
        "{}: log format version {version}",
        path.display()
    );
    let _dbid = r.i64()?;
    let mut txns = Vec::new();
    let mut at = r.position();
    loop {
        let rest = &bytes[at..];
        if rest.len() < 12 {
            return Ok((txns, None));
        }
        let mut h = Reader::new(rest);
        let crc = h.i64()?;
        let len = h.i32()?;
        if len == 0 {
            return Ok((txns, None));
        }
        // body plus the 'B' marker must be present
        if len < 0 || len as usize + 1 > h.remaining() {
            return Ok((txns, Some(format!("torn record at byte {at}"))));
        }
        let body = &rest[12..12 + len as usize];
        if rest[12 + len as usize] != b'B' {
            return Ok((
                txns,
                Some(format!("record at byte {at} lacks its end marker")),
            ));
        }
        if crc as u64 != u64::from(adler32(body)) {
            bail!(
                "{}: Adler32 mismatch in the record at byte {at}",
                path.display()
            );
        }
        let t = Txn::decode(body)
            .with_context(|| format!("{}: undecodable txn at byte {at}", path.display()))?;
        txns.push(t);
        at += 12 + len as usize + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adler32_known_values() {
        assert_eq!(adler32(b""), 1);
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
        // Long runs exercise the deferred modulo: zlib.adler32(b"\xff" * 100000).
        assert_eq!(adler32(&vec![0xffu8; 100_000]), 0x149a_302c);
    }

    #[test]
    fn names() {
        assert_eq!(parse_name("log.100000001", "log"), Some(0x1_0000_0001));
        assert_eq!(parse_name("snapshot.0", "snapshot"), Some(0));
        assert_eq!(parse_name("snapshot.5.gz", "snapshot"), None);
    }
}
