//! Entry points for the fuzz targets in `fuzz/` (cargo-fuzz), kept in the library so that
//! `tests/fuzz_seeds.rs` runs every checked-in seed and crash reproducer through exactly the
//! code the fuzzers run. Not an API: hidden from the docs, free to change.
//!
//! Each target takes arbitrary bytes and must neither panic, hang, nor allocate beyond what
//! the bytes could justify. Where a round trip or an invariant can be checked cheaply the
//! target asserts it, so a wrong answer is a crash too.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use bytes::Bytes;

use crate::acl;
use crate::config::Config;
use crate::prep::{prep, prep_close_session, PrepCtx, PrepSettings};
use crate::proto::codec::{Decode, Encode, Reader, Writer};
use crate::proto::opcode as op;
use crate::proto::records::*;
use crate::proto::request::{decode_request, Create, MultiOp, ReadOp, Request};
use crate::settings::Settings;
use crate::storage::{recovery, snapshot, state};
use crate::tree::{read, DataTree};
use crate::txn::{self, CreateTxn, Txn, TxnBody, TxnHeader, Zxid};
use crate::watch::{WatchKind, WatchTable};

/// The fuzz targets, by the name of their `fuzz/fuzz_targets/<name>.rs` and seed folder.
pub const TARGETS: [&str; 4] = ["request", "config", "log", "snapshot"];

/// Runs target `name` on `data` (what the fuzz binary of that name does).
pub fn run(name: &str, data: &[u8]) {
    match name {
        "request" => request(data),
        "config" => config(data),
        "log" => log(data),
        "snapshot" => snapshot(data),
        other => panic!("no fuzz target {other:?}"),
    }
}

/// The frame limit the target applies (ZooKeeper's default jute.maxbuffer).
const MAX_FRAME: usize = 0xFFFFF;

/// A client connection's bytes as the net core reads them: a 4-byte length (a four-letter
/// word instead ends the connection), the ConnectRequest frame, then request frames. Each
/// decoded request is re-encoded and must decode to itself, then goes where the server
/// sends it: writes through prep and apply on a small tree, reads to `tree::read`, auth to
/// the providers, watch requests to a watch table.
pub fn request(data: &[u8]) {
    let first_word = data
        .get(..4)
        .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    if first_word.and_then(crate::server::fourlw::word).is_some() {
        return; // a four-letter word: answered from server state, then the connection ends
    }
    let mut frames = Frames { data, pos: 0 };
    let Some(first) = frames.next() else { return };
    let Ok(connect) = ConnectRequest::from_bytes(first) else {
        return;
    };
    let again = ConnectRequest::from_bytes(&connect.to_bytes()).expect("re-encoded connect");
    assert_eq!(again, connect, "connect request round trip");

    let mut tree = fixture_tree().clone();
    let mut ids = vec![acl::id("ip", "127.0.0.1")];
    let mut watches = WatchTable::default();
    for frame in frames {
        let mut r = Reader::new(frame);
        let Ok(hdr) = RequestHeader::decode(&mut r) else {
            break; // the server closes the connection
        };
        let Ok(req) = decode_request(hdr.op, r.rest()) else {
            continue; // MARSHALLINGERROR or UNIMPLEMENTED; nothing else happens
        };
        let (opcode, body) = encode_request(&req);
        let again = decode_request(opcode, &body).expect("a re-encoded request decodes");
        assert_eq!(again, req, "request round trip (opcode {opcode})");
        serve(&mut tree, &mut ids, &mut watches, connect.session_id, req);
    }
    // Once per connection: checked after every request, long connections spent most of
    // their time re-walking the tree; damage, once done, stays to be found here.
    check_tree(&tree);
}

struct Frames<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Frames<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let rest = &self.data[self.pos..];
        let len = i32::from_be_bytes(rest.get(..4)?.try_into().ok()?);
        let len = usize::try_from(len).ok().filter(|l| *l <= MAX_FRAME)?;
        let frame = rest.get(4..4 + len)?;
        self.pos += 4 + len;
        Some(frame)
    }
}

fn serve(
    tree: &mut DataTree,
    ids: &mut Vec<Id>,
    watches: &mut WatchTable,
    session: i64,
    req: Request,
) {
    let settings = PrepSettings {
        extended_types: session & 1 == 0,
        skip_acl: false,
    };
    let ctx = PrepCtx {
        session_id: session,
        ids,
        settings: &settings,
    };
    let conn = 1;
    match &req {
        Request::Create(_)
        | Request::Delete(_)
        | Request::SetData(_)
        | Request::SetAcl(_)
        | Request::Multi(_) => {
            let body = prep(tree, &ctx, &req);
            apply_checked(tree, watches, session, body);
        }
        Request::CloseSession => {
            let body = prep_close_session(tree, session);
            apply_checked(tree, watches, session, body);
        }
        Request::Exists(r) => {
            let _ = read::exists(tree, ids, false, &r.path);
            watches.add(WatchKind::Data, &r.path, conn);
        }
        Request::GetData(r) => {
            let _ = read::get_data(tree, ids, false, &r.path);
        }
        Request::GetChildren(r) | Request::GetChildren2(r) => {
            let _ = read::get_children(tree, ids, false, &r.path);
            watches.add(WatchKind::Child, &r.path, conn);
        }
        Request::GetAcl(r) => {
            let _ = read::get_acl(tree, ids, false, &r.path);
        }
        Request::GetAllChildrenNumber(r) => {
            let _ = read::all_children_number(tree, ids, false, &r.path);
        }
        Request::GetEphemerals(r) => {
            let _ = read::get_ephemerals(tree, session, &r.path);
        }
        Request::MultiRead(ops) => {
            let _ = read::multi_read(tree, ids, false, ops);
        }
        Request::Auth(a) => {
            let super_digest = Some("super:D/InIHSb7yEEbrWz8b9l71RjZJU=");
            let auth = a.auth.as_deref().unwrap_or_default();
            if let Ok(more) = acl::authenticate(&a.scheme, auth, "127.0.0.1", super_digest) {
                ids.extend(more);
            }
        }
        Request::AddWatch(w) => {
            let kind = if w.mode == 0 {
                WatchKind::Persistent
            } else {
                WatchKind::PersistentRecursive
            };
            watches.add(kind, &w.path, conn);
        }
        Request::CheckWatches(w) | Request::RemoveWatches(w) => {
            let _ = watches.check(w.kind, &w.path, conn);
            let _ = watches.remove(w.kind, &w.path, conn);
        }
        Request::SetWatches(s) => {
            for p in s.data.iter().chain(&s.exist) {
                watches.add(WatchKind::Data, p, conn);
            }
            for p in &s.child {
                watches.add(WatchKind::Child, p, conn);
            }
            for p in &s.persistent_recursive {
                watches.add(WatchKind::PersistentRecursive, p, conn);
            }
        }
        Request::WhoAmI => {
            let _ = acl::who_am_i(ids);
        }
        Request::Sync(_) | Request::Ping | Request::Reconfig(_) | Request::Sasl(_) => {}
    }
}

/// Applies a txn as the consensus core does, after checking that its log encoding decodes
/// to the same txn; then fires its watch events.
fn apply_checked(tree: &mut DataTree, watches: &mut WatchTable, session: i64, body: TxnBody) {
    let txn = Txn {
        header: TxnHeader {
            session_id: session,
            cxid: 1,
            zxid: tree.last_zxid() + 1,
            time: 1_700_000_000_000,
        },
        body,
    };
    let decoded = Txn::decode(&txn.to_bytes()).expect("a prepared txn decodes");
    assert_eq!(decoded, txn, "txn round trip");
    for e in tree.apply(&txn).events {
        let _ = watches.trigger(e.kind, &e.path);
    }
}

/// A small tree with the node kinds prep treats differently: persistent, ephemeral (owned by
/// session 0x10), container, TTL, sequential children, a read-only ACL and a digest ACL.
fn fixture_tree() -> &'static DataTree {
    static TREE: OnceLock<DataTree> = OnceLock::new();
    TREE.get_or_init(|| {
        let mut t = DataTree::new();
        let open = acl::open_acl_unsafe();
        let nodes: [(&str, i32, i64, Vec<Acl>); 7] = [
            ("/a", op::CREATE, 0, open.clone()),
            ("/a/b", op::CREATE, 0, open.clone()),
            ("/e", op::CREATE, 0x10, open.clone()),
            (
                "/c",
                op::CREATE_CONTAINER,
                txn::CONTAINER_EPHEMERAL_OWNER,
                open.clone(),
            ),
            (
                "/t",
                op::CREATE_TTL,
                txn::ttl_ephemeral_owner(5000),
                open.clone(),
            ),
            ("/r", op::CREATE, 0, acl::read_acl_unsafe()),
            (
                "/d",
                op::CREATE,
                0,
                vec![acl::acl(acl::ALL, "digest", &acl::digest("u:p"))],
            ),
        ];
        t.apply(&Txn {
            header: TxnHeader {
                session_id: 0x10,
                cxid: 0,
                zxid: 1,
                time: 1,
            },
            body: TxnBody::CreateSession { timeout_ms: 10_000 },
        });
        for (path, opcode, owner, acl) in nodes {
            let zxid = t.last_zxid() + 1;
            t.apply(&Txn {
                header: TxnHeader {
                    session_id: 0x10,
                    cxid: 0,
                    zxid,
                    time: zxid,
                },
                body: TxnBody::Create(CreateTxn {
                    op: opcode,
                    path: path.into(),
                    data: Some(Bytes::from_static(b"x")),
                    acl,
                    ephemeral_owner: owner,
                    parent_cversion: -1,
                }),
            });
        }
        t
    })
}

/// The tree's structure agrees with itself: walking children from the root reaches every
/// node exactly once, child names are non-empty and slash-free, and the ephemeral index
/// points at nodes that exist. Bounded by the node count, so a cycle fails instead of hanging.
pub fn check_tree(tree: &DataTree) {
    let total = tree.node_count();
    let mut seen: HashSet<String> = HashSet::new();
    let mut stack = vec!["/".to_string()];
    while let Some(path) = stack.pop() {
        assert!(
            seen.len() < total,
            "walk from the root visits more than {total} nodes"
        );
        let node = tree
            .get(&path)
            .unwrap_or_else(|| panic!("{path} is listed as a child but missing"));
        assert!(seen.insert(path.clone()), "{path} reached twice");
        for name in node.children.iter() {
            assert!(
                !name.is_empty() && !name.contains('/'),
                "child name {name:?} of {path}"
            );
            stack.push(if path == "/" {
                format!("/{name}")
            } else {
                format!("{path}/{name}")
            });
        }
    }
    assert_eq!(seen.len(), total, "nodes unreachable from the root");
    for (session, paths) in tree.ephemerals_by_session() {
        for p in paths {
            let n = tree
                .get(&p)
                .unwrap_or_else(|| panic!("ephemeral {p} missing"));
            assert_eq!(n.stat.ephemeral_owner, session, "owner of {p}");
        }
    }
}

/// Encodes a request the way a client sends it: (opcode, body after the RequestHeader).
/// setWatches is sent as setWatches2 (decoding folds 101 into that form).
pub fn encode_request(req: &Request) -> (i32, Vec<u8>) {
    let mut w = Writer::new();
    let opcode = match req {
        Request::Create(c) => {
            encode_create(c, &mut w);
            c.op
        }
        Request::Delete(r) => encoded(r, &mut w, op::DELETE),
        Request::Exists(r) => encoded(r, &mut w, op::EXISTS),
        Request::GetData(r) => encoded(r, &mut w, op::GET_DATA),
        Request::SetData(r) => encoded(r, &mut w, op::SET_DATA),
        Request::GetAcl(r) => encoded(r, &mut w, op::GET_ACL),
        Request::SetAcl(r) => encoded(r, &mut w, op::SET_ACL),
        Request::GetChildren(r) => encoded(r, &mut w, op::GET_CHILDREN),
        Request::GetChildren2(r) => encoded(r, &mut w, op::GET_CHILDREN2),
        Request::Sync(r) => encoded(r, &mut w, op::SYNC),
        Request::Ping => op::PING,
        Request::Multi(ops) => {
            for o in ops {
                let (t, body): (i32, Vec<u8>) = match o {
                    MultiOp::Create(c) => {
                        let mut b = Writer::new();
                        encode_create(c, &mut b);
                        (c.op, b.into_inner())
                    }
                    MultiOp::Delete(r) => (op::DELETE, r.to_bytes()),
                    MultiOp::SetData(r) => (op::SET_DATA, r.to_bytes()),
                    MultiOp::Check(r) => (op::CHECK, r.to_bytes()),
                };
                multi_header(&mut w, t, false);
                w.raw(&body);
            }
            multi_header(&mut w, -1, true);
            op::MULTI
        }
        Request::MultiRead(ops) => {
            for o in ops {
                match o {
                    ReadOp::GetChildren(path) => {
                        multi_header(&mut w, op::GET_CHILDREN, false);
                        w.ustring(path).bool(false);
                    }
                    ReadOp::GetData(path) => {
                        multi_header(&mut w, op::GET_DATA, false);
                        w.ustring(path).bool(false);
                    }
                }
            }
            multi_header(&mut w, -1, true);
            op::MULTI_READ
        }
        Request::Reconfig(r) => encoded(r, &mut w, op::RECONFIG),
        Request::CheckWatches(r) => encoded(r, &mut w, op::CHECK_WATCHES),
        Request::RemoveWatches(r) => encoded(r, &mut w, op::REMOVE_WATCHES),
        Request::Auth(r) => encoded(r, &mut w, op::AUTH),
        Request::SetWatches(r) => encoded(r, &mut w, op::SET_WATCHES2),
        Request::Sasl(r) => encoded(r, &mut w, op::SASL),
        Request::GetEphemerals(r) => encoded(r, &mut w, op::GET_EPHEMERALS),
        Request::GetAllChildrenNumber(r) => encoded(r, &mut w, op::GET_ALL_CHILDREN_NUMBER),
        Request::AddWatch(r) => encoded(r, &mut w, op::ADD_WATCH),
        Request::WhoAmI => op::WHO_AM_I,
        Request::CloseSession => op::CLOSE_SESSION,
    };
    (opcode, w.into_inner())
}

fn encoded(r: &impl Encode, w: &mut Writer, opcode: i32) -> i32 {
    r.encode(w);
    opcode
}

fn encode_create(c: &Create, w: &mut Writer) {
    w.ustring(&c.path).buffer(c.data.as_deref());
    c.acl.encode(w);
    w.i32(c.flags);
    if c.op == op::CREATE_TTL {
        w.i64(c.ttl);
    }
}

fn multi_header(w: &mut Writer, t: i32, done: bool) {
    MultiHeader {
        op: t,
        done,
        err: -1,
    }
    .encode(w);
}

/// zoo.cfg text, read as `Config::from_file` reads a file (UTF-8, else Latin-1). A config
/// that parses must also yield its derived values without panicking.
pub fn config(data: &[u8]) {
    let text = match std::str::from_utf8(data) {
        Ok(t) => t.to_string(),
        Err(_) => data.iter().map(|&b| char::from(b)).collect(),
    };
    let Ok((c, _warnings)) = Config::from_str(&text, "fuzz.cfg") else {
        return;
    };
    let _ = c.is_standalone();
    let _ = c.net_core_count();
    let _ = c.four_letter_word_allowed("ruok");
    let _ = c.prometheus_addr();
    for my_id in [None, Some(1), Some(255)] {
        let _ = c.check_myid(my_id);
    }
    // With no myid the client address comes from clientPort alone (no name resolution).
    let addr = c
        .client_socket_addr(None)
        .ok()
        .flatten()
        .unwrap_or(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 2181));
    let s = Settings::from_config(&c, addr);
    let _ = s.four_letter_word_allowed("stat");
}

/// dataLogDir contents, then start-up replay. Layout of `data`:
/// `flags: u8 | after: i64 | { first_zxid: i64 | len: u32 | bytes }*` (the last segment's
/// length is clamped to what is left). Flag bit 0 rewrites every record's checksum before
/// reading, so that mutated records reach the txn decoder instead of stopping at the CRC.
/// Recovery runs as `recover_after(dir, after)` does; its txns are then checked for order
/// and continuity and replayed onto a tree as start-up does.
pub fn log(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let mut r = Reader::new(rest);
    let Ok(after) = r.i64() else { return };
    let mut files: Vec<(Zxid, PathBuf, Vec<u8>)> = Vec::new();
    while files.len() < 8 {
        let (Ok(first), Ok(len)) = (r.i64(), r.i32()) else {
            break;
        };
        let rest = r.rest();
        let n = (len as u32 as usize).min(rest.len());
        let mut seg = rest[..n].to_vec();
        r = Reader::new(&rest[n..]);
        if flags & 1 != 0 {
            fix_record_checksums(&mut seg);
        }
        files.push((first, PathBuf::from(format!("log.{first:x}")), seg));
    }
    // Names in a directory are unique and listed in zxid order.
    files.sort_by_key(|f| f.0);
    files.dedup_by_key(|f| f.0);
    let names: Vec<(Zxid, PathBuf)> = files.iter().map(|(z, p, _)| (*z, p.clone())).collect();
    let read = |p: &Path| -> anyhow::Result<Vec<u8>> {
        Ok(files
            .iter()
            .find(|f| f.1 == p)
            .map(|f| f.2.clone())
            .expect("a listed segment"))
    };
    let Ok((rec, torn)) = recovery::plan_recovery(&names, after, read) else {
        return;
    };
    let mut prev = Zxid::MIN;
    for t in &rec.txns {
        assert!(t.zxid() > after && t.zxid() > prev, "txn order");
        prev = t.zxid();
    }
    if let Some(t) = &torn {
        assert!(t.start < t.end, "an empty torn tail");
        assert_eq!(Some(&t.path), rec.active.as_ref().map(|a| &a.0));
    }
    if state::check_continuity(after, &rec.txns).is_err() {
        return;
    }
    let mut tree = DataTree::new();
    for t in &rec.txns {
        tree.apply(t);
    }
    check_tree(&tree);
}

/// Recomputes the CRC of every record that `storage::record::scan` would frame.
fn fix_record_checksums(seg: &mut [u8]) {
    use crate::storage::record::{HEADER_BYTES, MAX_RECORD_BYTES};
    let mut pos = 0usize;
    while pos + HEADER_BYTES <= seg.len() {
        let len = u32::from_be_bytes(seg[pos..pos + 4].try_into().expect("4 bytes")) as usize;
        if len == 0 || len > MAX_RECORD_BYTES || pos + HEADER_BYTES + len > seg.len() {
            return;
        }
        let body = pos + HEADER_BYTES..pos + HEADER_BYTES + len;
        let crc = crc32c::crc32c(&seg[body.clone()]);
        seg[pos + 4..pos + 8].copy_from_slice(&crc.to_be_bytes());
        pos = body.end;
    }
}

/// A snapshot file. Layout of `data`: `flags: u8 | file bytes`; flag bit 0 rewrites the
/// header, chunk and whole-file checksums first (so mutated contents reach the decoders).
/// A snapshot that loads must yield a consistent tree.
pub fn snapshot(data: &[u8]) {
    let Some((&flags, file)) = data.split_first() else {
        return;
    };
    let mut file = file.to_vec();
    if flags & 1 != 0 {
        fix_snapshot_checksums(&mut file);
    }
    let Ok(tree) = snapshot::load_from(&file[..], file.len() as u64) else {
        return;
    };
    check_tree(&tree);
    for (p, node) in tree.walk() {
        let _ = node.client_stat();
        let _ = read::all_children_number(&tree, &[], true, &p);
    }
}

/// Rewrites the checksums a snapshot reader checks, following the chunk layout the header
/// declares, as far as the bytes allow.
fn fix_snapshot_checksums(f: &mut [u8]) {
    use snapshot::{CHUNK_HEADER_BYTES, HEADER_BYTES};
    if f.len() < HEADER_BYTES {
        return;
    }
    let crc = crc32c::crc32c(&f[..36]);
    f[36..40].copy_from_slice(&crc.to_be_bytes());
    let u64_at = |f: &[u8], at: usize| u64::from_be_bytes(f[at..at + 8].try_into().expect("8"));
    let counts = [
        u64::from(u32::from_be_bytes(f[32..36].try_into().expect("4"))),
        u64_at(f, 24),
        u64_at(f, 16),
    ];
    let mut pos = HEADER_BYTES;
    for total in counts {
        let mut done = 0u64;
        while done < total {
            if pos + CHUNK_HEADER_BYTES > f.len() {
                return;
            }
            let items = u32::from_be_bytes(f[pos + 1..pos + 5].try_into().expect("4"));
            let len = u32::from_be_bytes(f[pos + 5..pos + 9].try_into().expect("4")) as usize;
            let end = pos + CHUNK_HEADER_BYTES + len;
            if items == 0 || end > f.len() {
                return;
            }
            let crc = crc32c::crc32c_append(
                crc32c::crc32c(&f[pos..pos + 9]),
                &f[pos + CHUNK_HEADER_BYTES..end],
            );
            f[pos + 9..pos + 13].copy_from_slice(&crc.to_be_bytes());
            done += u64::from(items);
            pos = end;
        }
    }
    if pos + 8 <= f.len() {
        let crc = crc32c::crc32c(&f[..pos + 4]);
        f[pos + 4..pos + 8].copy_from_slice(&crc.to_be_bytes());
    }
}
