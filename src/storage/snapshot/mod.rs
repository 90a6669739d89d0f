//! Snapshots: one committed tree version, written to `dataDir/snapshot.<zxid hex>`.
//!
//! # Format (version 1)
//!
//! Big-endian throughout. Strings and buffers use the jute forms of `proto::codec`
//! (`i32 len | bytes`, -1 = null), so data keeps null distinct from empty.
//!
//! ```text
//! header (40 bytes)
//!   0  4  magic "RKSN"
//!   4  4  u32 format version = 1
//!   8  8  i64 zxid             last txn applied to this tree version (also in the name)
//!  16  8  u64 node_count       >= 1 (the root)
//!  24  8  u64 session_count
//!  32  4  u32 acl_count        distinct ACL lists (nodes refer to them by index)
//!  36  4  u32 crc32c of bytes 0..36
//! chunks, in this order: ACL lists, then sessions, then nodes (each kind may span chunks)
//!   0  1  u8  kind             1 = ACL lists, 2 = sessions, 3 = nodes
//!   1  4  u32 item_count       1..=CHUNK_ITEMS_MAX, never more than the header has left
//!   5  4  u32 body_bytes       <= CHUNK_BODY_BYTES_MAX and <= the bytes left in the file
//!   9  4  u32 crc32c of bytes 0..9 of this chunk header followed by the body
//!  13  .. body: item_count items
//!     ACL list: vector<ACL> (i32 count, then { i32 perms; ustring scheme; ustring id })
//!     session:  i64 id; i32 timeout_ms
//!     node:     ustring path ("/" for the root); buffer data; i32 acl_index;
//!               StatPersisted { i64 czxid, mzxid, ctime, mtime; i32 version,
//!               cversion (stored), aversion; i64 ephemeralOwner, pzxid }
//! trailer (8 bytes)
//!   0  4  magic "RKND"
//!   4  4  u32 crc32c of every byte of the file before this field
//! end of file (anything after the trailer is damage)
//! ```
//!
//! Nodes are in pre-order (a parent before its children), which `DataTree::restore` needs.
//! Children lists and the ephemeral/container/TTL indexes are derived, never stored.
//!
//! Every chunk is checked before a byte of it is parsed, so a damaged file never feeds
//! garbage to the tree; the per-chunk checksum also lets `snapshot verify` say which items
//! are damaged. Declared counts and lengths are bounded by the header, by fixed limits and by
//! the file's size before anything is allocated.
//!
//! # Durability
//!
//! The writer streams into `snapshot.<zxid hex>.tmp`, fsyncs it, renames it to its final
//! name and fsyncs the directory. A crash before the rename leaves a `.tmp` that start-up
//! removes; after the directory fsync the snapshot is durable. Snapshots of an immutable
//! (published) tree version are exact, not fuzzy: the log is replayed from `zxid + 1`.

mod read;
mod write;

pub use read::{load, load_from, quick_check, Header, SnapReader};
pub use write::{size_hint, stream, to_bytes, write_snapshot, write_snapshot_bytes, Written};

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::txn::Zxid;

pub const MAGIC: [u8; 4] = *b"RKSN";
pub const END_MAGIC: [u8; 4] = *b"RKND";
pub const FORMAT_VERSION: u32 = 1;
pub const HEADER_BYTES: usize = 40;
pub const CHUNK_HEADER_BYTES: usize = 13;
pub const TRAILER_BYTES: usize = 8;
/// Items per chunk: small enough that a damaged chunk names a short range of nodes.
pub const CHUNK_ITEMS_MAX: u32 = 1024;
/// A chunk is closed once its body reaches this size (a single larger node still fits).
pub const CHUNK_BODY_BYTES_TARGET: usize = 256 << 10;
/// No body is larger: one node's data and path are each below jute.maxbuffer limits.
pub const CHUNK_BODY_BYTES_MAX: u32 = 1 << 30;
/// The smallest encoded item of each kind, used to bound declared counts by bytes present.
const NODE_BYTES_MIN: u64 = 4 + 4 + 4 + 5 * 8 + 3 * 4 + 2 * 8;
const SESSION_BYTES: u64 = 12;
const ACL_LIST_BYTES_MIN: u64 = 4;

const _: () = assert!(HEADER_BYTES == 4 + 4 + 8 + 8 + 8 + 4 + 4);
const _: () = assert!(CHUNK_HEADER_BYTES == 1 + 4 + 4 + 4);
const _: () = assert!(CHUNK_BODY_BYTES_TARGET < CHUNK_BODY_BYTES_MAX as usize);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ChunkKind {
    Acls = 1,
    Sessions = 2,
    Nodes = 3,
}

impl ChunkKind {
    fn name(self) -> &'static str {
        match self {
            ChunkKind::Acls => "ACL lists",
            ChunkKind::Sessions => "sessions",
            ChunkKind::Nodes => "nodes",
        }
    }
}

/// Why a snapshot cannot be used. Every variant names the byte offset where reading
/// stopped, so `snapshot verify` can say where the damage is.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SnapError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("not a ringkeeper snapshot (magic {0:02x?})")]
    BadMagic([u8; 4]),
    #[error("snapshot format version {0} is not supported (this build reads {FORMAT_VERSION})")]
    BadVersion(u32),
    #[error("truncated at byte {offset}: {what} needs {needed} more bytes")]
    Truncated {
        offset: u64,
        what: String,
        needed: u64,
    },
    #[error("checksum mismatch in {what} at bytes {start}..{end}")]
    Checksum { what: String, start: u64, end: u64 },
    #[error("invalid {what} at byte {offset}: {why}")]
    Invalid {
        what: String,
        offset: u64,
        why: String,
    },
}

/// `snapshot.<zxid in lower-case hex>`.
pub fn file_name(zxid: Zxid) -> String {
    format!("snapshot.{zxid:x}")
}

/// Parses a `snapshot.<hex>` name (temp files and other suffixes are not snapshots).
pub fn parse_file_name(name: &str) -> Option<Zxid> {
    let hex = name.strip_prefix("snapshot.")?;
    if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    i64::from_str_radix(hex, 16).ok()
}

/// The snapshots in `dir`, newest (highest zxid) first.
pub fn list(dir: &Path) -> std::io::Result<Vec<(Zxid, PathBuf)>> {
    let mut out = Vec::new();
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for entry in rd {
        let entry = entry?;
        if let Some(z) = entry.file_name().to_str().and_then(parse_file_name) {
            out.push((z, entry.path()));
        }
    }
    out.sort_by(|a, b| b.cmp(a));
    Ok(out)
}

/// Removes `snapshot.*.tmp` files a crash left behind. Returns how many.
pub fn remove_stale_temp_files(dir: &Path) -> std::io::Result<usize> {
    let mut n = 0;
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    for entry in rd {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with("snapshot.") && name.ends_with(".tmp") {
            std::fs::remove_file(entry.path())?;
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
pub(crate) mod tests;
