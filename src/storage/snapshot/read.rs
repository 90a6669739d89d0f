//! Reading a snapshot: a streaming reader that checks every chunk before parsing it.

use std::cell::RefCell;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

use super::{
    ChunkKind, SnapError, ACL_LIST_BYTES_MIN, CHUNK_BODY_BYTES_MAX, CHUNK_HEADER_BYTES,
    CHUNK_ITEMS_MAX, END_MAGIC, FORMAT_VERSION, HEADER_BYTES, MAGIC, NODE_BYTES_MIN, SESSION_BYTES,
    TRAILER_BYTES,
};
use crate::proto::codec::{Decode, Reader};
use crate::proto::records::Acl;
use crate::tree::{DataTree, StatPersisted, StoredNode};
use crate::txn::{SessionId, Zxid};

/// The fixed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub zxid: Zxid,
    pub node_count: u64,
    pub session_count: u64,
    pub acl_count: u32,
}

/// Reads a snapshot front to back: `open` (header, ACL table, sessions), then
/// `next_node` until `None`, then `finish` (trailer). Any error is final.
pub struct SnapReader<R: Read> {
    r: R,
    offset: u64,
    /// Running crc32c of every byte read.
    crc: u32,
    file_len: u64,
    pub header: Header,
    pub acls: Vec<Arc<Vec<Acl>>>,
    pub sessions: Vec<(SessionId, i32)>,
    chunk: Vec<u8>,
    chunk_pos: usize,
    chunk_items_left: u32,
    chunk_start: u64,
    chunk_first_item: u64,
    nodes_read: u64,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(a)
}

impl SnapReader<BufReader<File>> {
    pub fn open_file(path: &Path) -> Result<Self, SnapError> {
        let f = File::open(path)?;
        let len = f.metadata()?.len();
        SnapReader::open(BufReader::with_capacity(1 << 20, f), len)
    }
}

impl<R: Read> SnapReader<R> {
    /// Reads the header, the ACL table and the sessions. `file_len` bounds every declared
    /// length and count.
    pub fn open(r: R, file_len: u64) -> Result<Self, SnapError> {
        let mut s = SnapReader {
            r,
            offset: 0,
            crc: 0,
            file_len,
            header: Header {
                zxid: 0,
                node_count: 0,
                session_count: 0,
                acl_count: 0,
            },
            acls: Vec::new(),
            sessions: Vec::new(),
            chunk: Vec::new(),
            chunk_pos: 0,
            chunk_items_left: 0,
            chunk_start: 0,
            chunk_first_item: 0,
            nodes_read: 0,
        };
        s.read_header()?;
        s.read_acls()?;
        s.read_sessions()?;
        Ok(s)
    }

    /// Byte offset of the next unread byte.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    fn read_exact(&mut self, buf: &mut [u8], what: &str) -> Result<(), SnapError> {
        let mut got = 0;
        while got < buf.len() {
            match self.r.read(&mut buf[got..]) {
                Ok(0) => {
                    return Err(SnapError::Truncated {
                        offset: self.offset + got as u64,
                        what: what.to_string(),
                        needed: (buf.len() - got) as u64,
                    })
                }
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.crc = crc32c::crc32c_append(self.crc, buf);
        self.offset += buf.len() as u64;
        Ok(())
    }

    fn left(&self) -> u64 {
        self.file_len.saturating_sub(self.offset)
    }

    fn read_header(&mut self) -> Result<(), SnapError> {
        let mut h = [0u8; HEADER_BYTES];
        self.read_exact(&mut h, "the header")?;
        let magic = [h[0], h[1], h[2], h[3]];
        if magic != MAGIC {
            return Err(SnapError::BadMagic(magic));
        }
        if crc32c::crc32c(&h[..36]) != u32_at(&h, 36) {
            return Err(SnapError::Checksum {
                what: "the header".into(),
                start: 0,
                end: HEADER_BYTES as u64,
            });
        }
        let version = u32_at(&h, 4);
        if version != FORMAT_VERSION {
            return Err(SnapError::BadVersion(version));
        }
        self.header = Header {
            zxid: u64_at(&h, 8) as i64,
            node_count: u64_at(&h, 16),
            session_count: u64_at(&h, 24),
            acl_count: u32_at(&h, 32),
        };
        let h = self.header;
        let invalid = |why: String| SnapError::Invalid {
            what: "header".into(),
            offset: 0,
            why,
        };
        let left = self.left();
        if h.node_count == 0 {
            return Err(invalid("no nodes (the root is always there)".into()));
        }
        if h.node_count > left / NODE_BYTES_MIN {
            return Err(invalid(format!(
                "{} nodes cannot fit in the {left} bytes left",
                h.node_count
            )));
        }
        if h.session_count > left / SESSION_BYTES {
            return Err(invalid(format!(
                "{} sessions cannot fit in the {left} bytes left",
                h.session_count
            )));
        }
        if u64::from(h.acl_count) > left / ACL_LIST_BYTES_MIN {
            return Err(invalid(format!(
                "{} ACL lists cannot fit in the {left} bytes left",
                h.acl_count
            )));
        }
        Ok(())
    }

    /// Reads and checks the next chunk, which must be of `kind` with at most `items_max`
    /// items, into `self.chunk`.
    fn read_chunk(
        &mut self,
        kind: ChunkKind,
        items_max: u64,
        first_item: u64,
    ) -> Result<(), SnapError> {
        let start = self.offset;
        let what = format!("{} chunk", kind.name());
        let mut h = [0u8; CHUNK_HEADER_BYTES];
        self.read_exact(&mut h, &what)?;
        let items = u32_at(&h, 1);
        let len = u32_at(&h, 5);
        let crc = u32_at(&h, 9);
        let invalid = |why: String| SnapError::Invalid {
            what: what.clone(),
            offset: start,
            why,
        };
        if h[0] != kind as u8 {
            return Err(invalid(format!(
                "kind {} where a {} chunk belongs",
                h[0],
                kind.name()
            )));
        }
        if items == 0 || items > CHUNK_ITEMS_MAX || u64::from(items) > items_max {
            return Err(invalid(format!(
                "{items} items (at most {} expected)",
                items_max.min(u64::from(CHUNK_ITEMS_MAX))
            )));
        }
        if len > CHUNK_BODY_BYTES_MAX || u64::from(len) > self.left() {
            return Err(invalid(format!(
                "body of {len} bytes but only {} bytes left in the file",
                self.left()
            )));
        }
        self.chunk.resize(len as usize, 0);
        let mut body = std::mem::take(&mut self.chunk);
        let read = self.read_exact(&mut body, &what);
        self.chunk = body;
        read?;
        let got = crc32c::crc32c_append(crc32c::crc32c(&h[..9]), &self.chunk);
        if got != crc {
            return Err(SnapError::Checksum {
                what: format!(
                    "{} {}..{}",
                    kind.name(),
                    first_item,
                    first_item + u64::from(items)
                ),
                start,
                end: self.offset,
            });
        }
        self.chunk_pos = 0;
        self.chunk_items_left = items;
        self.chunk_start = start;
        self.chunk_first_item = first_item;
        Ok(())
    }

    fn decode_error(&self, what: &str, e: impl std::fmt::Display) -> SnapError {
        SnapError::Invalid {
            what: what.to_string(),
            offset: self.chunk_start,
            why: e.to_string(),
        }
    }

    /// After the last item of a chunk, its body must be used up exactly.
    fn end_item(&mut self, pos: usize, what: &str) -> Result<(), SnapError> {
        self.chunk_pos = pos;
        self.chunk_items_left -= 1;
        if self.chunk_items_left == 0 && self.chunk_pos != self.chunk.len() {
            return Err(self.decode_error(
                what,
                format!(
                    "{} bytes left over after the chunk's last item",
                    self.chunk.len() - self.chunk_pos
                ),
            ));
        }
        Ok(())
    }

    fn read_acls(&mut self) -> Result<(), SnapError> {
        let total = u64::from(self.header.acl_count);
        self.acls.reserve(total as usize);
        while (self.acls.len() as u64) < total {
            let done = self.acls.len() as u64;
            self.read_chunk(ChunkKind::Acls, total - done, done)?;
            while self.chunk_items_left > 0 {
                let mut r = Reader::new(&self.chunk[self.chunk_pos..]);
                let list =
                    Vec::<Acl>::decode(&mut r).map_err(|e| self.decode_error("ACL list", e))?;
                let pos = self.chunk_pos + r.position();
                self.acls.push(Arc::new(list));
                self.end_item(pos, "ACL list")?;
            }
        }
        Ok(())
    }

    fn read_sessions(&mut self) -> Result<(), SnapError> {
        let total = self.header.session_count;
        self.sessions.reserve(total as usize);
        while (self.sessions.len() as u64) < total {
            let done = self.sessions.len() as u64;
            self.read_chunk(ChunkKind::Sessions, total - done, done)?;
            while self.chunk_items_left > 0 {
                let mut r = Reader::new(&self.chunk[self.chunk_pos..]);
                let id = r.i64().map_err(|e| self.decode_error("session", e))?;
                let timeout = r.i32().map_err(|e| self.decode_error("session", e))?;
                let pos = self.chunk_pos + r.position();
                self.sessions.push((id, timeout));
                self.end_item(pos, "session")?;
            }
        }
        Ok(())
    }

    /// The next node in pre-order, or `None` after the last one.
    pub fn next_node(&mut self) -> Result<Option<StoredNode>, SnapError> {
        if self.chunk_items_left == 0 {
            let total = self.header.node_count;
            if self.nodes_read == total {
                return Ok(None);
            }
            self.read_chunk(ChunkKind::Nodes, total - self.nodes_read, self.nodes_read)?;
        }
        let mut r = Reader::new(&self.chunk[self.chunk_pos..]);
        let node = decode_node(&mut r, &self.acls)
            .map_err(|e| self.decode_error(&format!("node {}", self.nodes_read), e))?;
        let pos = self.chunk_pos + r.position();
        self.nodes_read += 1;
        self.end_item(pos, "node")?;
        Ok(Some(node))
    }

    /// Reads the trailer and checks the whole-file checksum and the end of file.
    pub fn finish(mut self) -> Result<Header, SnapError> {
        assert_eq!(
            self.nodes_read, self.header.node_count,
            "finish before the last node"
        );
        let start = self.offset;
        let crc_before = {
            let mut m = [0u8; 4];
            self.read_exact(&mut m, "the trailer")?;
            if m != END_MAGIC {
                return Err(SnapError::Invalid {
                    what: "trailer".into(),
                    offset: start,
                    why: format!("magic {m:02x?}, expected \"RKND\""),
                });
            }
            self.crc
        };
        let mut c = [0u8; 4];
        self.read_exact(&mut c, "the trailer")?;
        if u32::from_be_bytes(c) != crc_before {
            return Err(SnapError::Checksum {
                what: "the whole file".into(),
                start: 0,
                end: start + TRAILER_BYTES as u64,
            });
        }
        let mut extra = [0u8; 1];
        if self.r.read(&mut extra)? != 0 || self.offset != self.file_len {
            return Err(SnapError::Invalid {
                what: "end of file".into(),
                offset: self.offset,
                why: "bytes after the trailer".into(),
            });
        }
        Ok(self.header)
    }
}

fn decode_node(
    r: &mut Reader<'_>,
    acls: &[Arc<Vec<Acl>>],
) -> Result<StoredNode, crate::proto::codec::DecodeError> {
    use crate::proto::codec::DecodeError;
    let path = r.ustring()?;
    let data = r.buffer_slice()?.map(Bytes::copy_from_slice);
    let acl_index = r.i32()?;
    let acl = usize::try_from(acl_index)
        .ok()
        .and_then(|i| acls.get(i))
        .ok_or_else(|| {
            DecodeError::Invalid(format!(
                "ACL index {acl_index} outside the table of {}",
                acls.len()
            ))
        })?
        .clone();
    let stat = StatPersisted::decode(r)?;
    if !path.starts_with('/') {
        return Err(DecodeError::Invalid(format!(
            "path {path:?} is not absolute"
        )));
    }
    Ok(StoredNode {
        path,
        data,
        acl,
        stat,
    })
}

/// Reads, checks and restores a whole snapshot.
pub fn load(path: &Path) -> Result<DataTree, SnapError> {
    let f = File::open(path)?;
    let len = f.metadata()?.len();
    load_from(BufReader::with_capacity(1 << 20, f), len)
}

/// `load` from any reader of `len` bytes.
pub fn load_from(r: impl Read, len: u64) -> Result<DataTree, SnapError> {
    let mut rd = SnapReader::open(r, len)?;
    let sessions = std::mem::take(&mut rd.sessions);
    let zxid = rd.header.zxid;
    let failure: RefCell<Option<SnapError>> = RefCell::new(None);
    let nodes = std::iter::from_fn(|| match rd.next_node() {
        Ok(n) => n,
        Err(e) => {
            *failure.borrow_mut() = Some(e);
            None
        }
    });
    // Nodes come from chunks that passed their checksum; a later failure discards the tree.
    let restored = DataTree::restore(nodes, sessions, zxid);
    if let Some(e) = failure.into_inner() {
        return Err(e);
    }
    let tree = restored.map_err(|why| SnapError::Invalid {
        what: "tree".into(),
        offset: rd.offset(),
        why,
    })?;
    rd.finish()?;
    Ok(tree)
}

/// A cheap check for purge: the header is sound and the file ends with a trailer.
pub fn quick_check(path: &Path) -> bool {
    use std::io::{Seek, SeekFrom};
    let check = || -> Result<bool, SnapError> {
        let mut f = File::open(path)?;
        let len = f.metadata()?.len();
        if len < (HEADER_BYTES + TRAILER_BYTES) as u64 {
            return Ok(false);
        }
        let mut h = [0u8; HEADER_BYTES];
        f.read_exact(&mut h)?;
        if h[..4] != MAGIC || crc32c::crc32c(&h[..36]) != u32_at(&h, 36) {
            return Ok(false);
        }
        f.seek(SeekFrom::End(-(TRAILER_BYTES as i64)))?;
        let mut t = [0u8; TRAILER_BYTES];
        f.read_exact(&mut t)?;
        Ok(t[..4] == END_MAGIC)
    };
    check().unwrap_or(false)
}
