//! Writing a snapshot: stream one tree version into a temp file, then make it durable and
//! give it its final name.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{
    file_name, ChunkKind, SnapError, CHUNK_BODY_BYTES_TARGET, CHUNK_ITEMS_MAX, END_MAGIC,
    FORMAT_VERSION, HEADER_BYTES, MAGIC,
};
use crate::proto::codec::{Encode, Writer};
use crate::proto::records::Acl;
use crate::storage::log_file::sync_dir;
use crate::tree::{DataTree, Node};
use crate::txn::Zxid;

/// What a finished snapshot looks like.
#[derive(Debug, Clone)]
pub struct Written {
    pub path: PathBuf,
    pub zxid: Zxid,
    pub nodes: u64,
    pub sessions: u64,
    pub size_bytes: u64,
    pub elapsed: Duration,
}

/// Dirty snapshot bytes allowed before they are pushed to the disk. Syncing as we go keeps the
/// final fsync small: one flush of hundreds of MiB at the end stalls the log's fdatasync on a
/// shared disk for the whole writeback.
const SYNC_EVERY_BYTES: u64 = 8 << 20;

/// Where a snapshot's bytes go: a file (pushed to the disk as it grows) or a stream with
/// nothing to sync (`Stream`: a SNAP onto a learner's link, or memory).
trait Sink: Write {
    fn sync_data(&self) -> std::io::Result<()>;
}

impl Sink for File {
    fn sync_data(&self) -> std::io::Result<()> {
        File::sync_data(self)
    }
}

/// A buffered writer that keeps the running crc32c of everything written.
struct Out<S: Sink> {
    w: BufWriter<S>,
    crc: u32,
    written: u64,
    synced: u64,
}

impl<S: Sink> Out<S> {
    fn put(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.crc = crc32c::crc32c_append(self.crc, b);
        self.written += b.len() as u64;
        self.w.write_all(b)?;
        if self.written - self.synced >= SYNC_EVERY_BYTES {
            self.w.flush()?;
            self.w.get_ref().sync_data()?;
            self.synced = self.written;
        }
        Ok(())
    }
}

/// Collects items of one kind and writes them as checksummed chunks.
struct Chunker {
    kind: ChunkKind,
    body: Writer,
    items: u32,
    written_items: u64,
}

impl Chunker {
    fn new(kind: ChunkKind) -> Self {
        Chunker {
            kind,
            body: Writer::with_capacity(CHUNK_BODY_BYTES_TARGET + 4096),
            items: 0,
            written_items: 0,
        }
    }

    /// Call after encoding one item into `self.body`.
    fn item_done<S: Sink>(&mut self, out: &mut Out<S>) -> std::io::Result<()> {
        self.items += 1;
        if self.items == CHUNK_ITEMS_MAX || self.body.buf.len() >= CHUNK_BODY_BYTES_TARGET {
            self.flush(out)?;
        }
        Ok(())
    }

    fn flush<S: Sink>(&mut self, out: &mut Out<S>) -> std::io::Result<()> {
        if self.items == 0 {
            return Ok(());
        }
        let body = &self.body.buf;
        let len = u32::try_from(body.len()).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "chunk body over 4 GiB")
        })?;
        assert!(
            len <= super::CHUNK_BODY_BYTES_MAX,
            "one node exceeds the chunk limit"
        );
        let mut head = [0u8; 13];
        head[0] = self.kind as u8;
        head[1..5].copy_from_slice(&self.items.to_be_bytes());
        head[5..9].copy_from_slice(&len.to_be_bytes());
        let crc = crc32c::crc32c_append(crc32c::crc32c(&head[..9]), body);
        head[9..13].copy_from_slice(&crc.to_be_bytes());
        out.put(&head)?;
        out.put(body)?;
        self.written_items += u64::from(self.items);
        self.items = 0;
        self.body.buf.clear();
        Ok(())
    }
}

/// Interns ACL lists: by allocation first (nodes mostly share `Arc`s), then by value.
#[derive(Default)]
struct AclTable {
    by_ptr: HashMap<usize, u32>,
    by_value: HashMap<Vec<u8>, u32>,
    lists: Vec<Arc<Vec<Acl>>>,
}

impl AclTable {
    fn add(&mut self, acl: &Arc<Vec<Acl>>) {
        let ptr = Arc::as_ptr(acl) as usize;
        if self.by_ptr.contains_key(&ptr) {
            return;
        }
        let idx = *self.by_value.entry(acl.to_bytes()).or_insert_with(|| {
            self.lists.push(acl.clone());
            (self.lists.len() - 1) as u32
        });
        self.by_ptr.insert(ptr, idx);
    }

    /// Orders the table by encoding. The lists were found in hash-map order, which differs
    /// from run to run; sorted, one tree always makes the same file.
    fn sort(&mut self) {
        let mut by_value: Vec<(Vec<u8>, u32)> = self.by_value.drain().collect();
        by_value.sort_unstable();
        let mut new_index = vec![0u32; self.lists.len()];
        let mut lists = Vec::with_capacity(self.lists.len());
        for (pos, (bytes, old)) in by_value.into_iter().enumerate() {
            new_index[old as usize] = pos as u32;
            lists.push(self.lists[old as usize].clone());
            self.by_value.insert(bytes, pos as u32);
        }
        self.lists = lists;
        for idx in self.by_ptr.values_mut() {
            *idx = new_index[*idx as usize];
        }
    }

    fn index(&self, acl: &Arc<Vec<Acl>>) -> u32 {
        self.by_ptr[&(Arc::as_ptr(acl) as usize)]
    }
}

/// Visits every node in pre-order (parent first, children by name) holding only the
/// current path's iterators, so a flat tree of a million children costs no million-entry
/// stack.
fn for_each_preorder(
    tree: &DataTree,
    mut f: impl FnMut(&str, &Node) -> std::io::Result<()>,
) -> std::io::Result<u64> {
    let root = tree.get("/").expect("a tree always has a root");
    f("/", root)?;
    let mut visited = 1u64;
    let mut stack = vec![(String::from(""), root.children.iter())];
    loop {
        let next = match stack.last_mut() {
            None => break,
            Some((prefix, it)) => it.next().map(|name| format!("{prefix}/{name}")),
        };
        match next {
            None => {
                stack.pop();
            }
            Some(path) => {
                let node = tree
                    .get(&path)
                    .unwrap_or_else(|| panic!("child {path} listed but missing from the tree"));
                f(&path, node)?;
                visited += 1;
                stack.push((path, node.children.iter()));
            }
        }
    }
    Ok(visited)
}

fn encode_node(w: &mut Writer, path: &str, node: &Node, acl_index: u32) {
    w.ustring(path).buffer(node.data.as_deref());
    w.i32(acl_index as i32);
    node.stat.encode(w);
}

/// Writes `tree` to `dir/snapshot.<zxid hex>`: temp file, fsync, rename, directory fsync.
/// An error before the rename removes the temp file and leaves no snapshot behind.
pub fn write_snapshot(dir: &Path, tree: &DataTree) -> Result<Written, SnapError> {
    persist(dir, tree.last_zxid(), |tmp| write_file(tmp, tree))
}

/// As `write_snapshot`, from `bytes` already in the snapshot format: a snapshot a leader
/// sent, which `tree` was just loaded from (so it is checked), kept as it came rather than
/// serialised again.
pub fn write_snapshot_bytes(
    dir: &Path,
    tree: &DataTree,
    bytes: &[u8],
) -> Result<Written, SnapError> {
    persist(dir, tree.last_zxid(), |tmp| {
        let mut file = create(tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        Ok((
            tree.node_count() as u64,
            tree.sessions().count() as u64,
            bytes.len() as u64,
        ))
    })
}

/// Has `write` fill the temp file, then renames it into place and syncs the directory.
fn persist(
    dir: &Path,
    zxid: Zxid,
    write: impl FnOnce(&Path) -> Result<(u64, u64, u64), SnapError>,
) -> Result<Written, SnapError> {
    let started = Instant::now();
    let path = dir.join(file_name(zxid));
    let tmp = dir.join(format!("{}.tmp", file_name(zxid)));
    let (nodes, sessions, size_bytes) = match write(&tmp) {
        Ok(v) => v,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    std::fs::rename(&tmp, &path)?;
    if let Err(e) = sync_dir(dir) {
        // Not known to be durable: take it back so purge never relies on it.
        let _ = std::fs::remove_file(&path);
        return Err(e.into());
    }
    Ok(Written {
        path,
        zxid,
        nodes,
        sessions,
        size_bytes,
        elapsed: started.elapsed(),
    })
}

fn write_file(tmp: &Path, tree: &DataTree) -> Result<(u64, u64, u64), SnapError> {
    let (counts, file) = encode(create(tmp)?, tree)?;
    file.sync_all()?;
    Ok(counts)
}

/// A temp file to fill, empty.
fn create(tmp: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(tmp)
}

/// `tree` in the snapshot format, in memory (`read::load_from` takes it back), in a buffer
/// reserved at `size_hint` rather than one that doubles as it fills.
pub fn to_bytes(tree: &DataTree) -> Result<Vec<u8>, SnapError> {
    let mut bytes = Vec::with_capacity(size_hint(tree));
    stream(&mut bytes, tree)?;
    Ok(bytes)
}

/// Writes `tree` in the snapshot format to `w` as it goes (a SNAP to a learner); the bytes
/// written.
pub fn stream(w: impl Write, tree: &DataTree) -> Result<u64, SnapError> {
    Ok(encode(Stream(w), tree)?.0 .2)
}

struct Stream<W: Write>(W);

impl<W: Write> Write for Stream<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

impl<W: Write> Sink for Stream<W> {
    fn sync_data(&self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Room for `tree`'s snapshot: its size with ASCII paths and few ACL lists, plus an eighth
/// (what a learner reserves for a SNAP; room never written is never resident, so it errs
/// on the large side).
pub fn size_hint(tree: &DataTree) -> usize {
    let estimate = tree.approximate_data_size().max(0) as u64
        + tree.node_count() as u64 * NODE_FIXED_BYTES
        + tree.sessions().count() as u64 * 12
        + (64 << 10);
    usize::try_from(estimate + estimate / 8).unwrap_or(usize::MAX)
}

/// A node's bytes in the file besides its path and data: their two lengths, the ACL index
/// and the stat (`encode_node`), and its share of a chunk header.
const NODE_FIXED_BYTES: u64 = 4 + 4 + 4 + 60 + 1;

/// Writes `tree` to `sink`; returns (nodes, sessions, bytes) and the sink, flushed.
fn encode<S: Sink>(sink: S, tree: &DataTree) -> Result<((u64, u64, u64), S), SnapError> {
    let mut acls = AclTable::default();
    for n in tree.nodes.values() {
        acls.add(&n.acl);
    }
    acls.sort();
    let mut sessions: Vec<(i64, i32)> = tree.sessions().collect();
    sessions.sort_unstable();
    let node_count = tree.node_count() as u64;

    let mut out = Out {
        w: BufWriter::with_capacity(1 << 20, sink),
        crc: 0,
        written: 0,
        synced: 0,
    };
    let mut head = Vec::with_capacity(HEADER_BYTES);
    head.extend_from_slice(&MAGIC);
    head.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
    head.extend_from_slice(&tree.last_zxid().to_be_bytes());
    head.extend_from_slice(&node_count.to_be_bytes());
    head.extend_from_slice(&(sessions.len() as u64).to_be_bytes());
    head.extend_from_slice(&(acls.lists.len() as u32).to_be_bytes());
    let crc = crc32c::crc32c(&head);
    head.extend_from_slice(&crc.to_be_bytes());
    debug_assert_eq!(head.len(), HEADER_BYTES);
    out.put(&head)?;

    let mut c = Chunker::new(ChunkKind::Acls);
    for list in &acls.lists {
        list.encode(&mut c.body);
        c.item_done(&mut out)?;
    }
    c.flush(&mut out)?;
    assert_eq!(c.written_items, acls.lists.len() as u64);

    let mut c = Chunker::new(ChunkKind::Sessions);
    for (id, timeout) in &sessions {
        c.body.i64(*id).i32(*timeout);
        c.item_done(&mut out)?;
    }
    c.flush(&mut out)?;
    assert_eq!(c.written_items, sessions.len() as u64);

    let mut c = Chunker::new(ChunkKind::Nodes);
    let visited = for_each_preorder(tree, |path, node| {
        encode_node(&mut c.body, path, node, acls.index(&node.acl));
        c.item_done(&mut out)
    })?;
    c.flush(&mut out)?;
    // The walk reaches every node exactly once: children lists and the map agree.
    assert_eq!(
        visited, node_count,
        "pre-order walk and node count disagree"
    );
    assert_eq!(c.written_items, node_count);

    out.put(&END_MAGIC)?;
    let crc = out.crc;
    out.put(&crc.to_be_bytes())?;
    let size = out.written;
    let sink = out.w.into_inner().map_err(|e| e.into_error())?;
    Ok(((node_count, sessions.len() as u64, size), sink))
}
