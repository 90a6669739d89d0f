//! Property tests for everything ringkeeper encodes and decodes: every jute record of the
//! client protocol, every request the server decodes (through the same encoder the fuzz
//! target checks with), txns, log record framing, and snapshots of random trees written to
//! real files and read back.
//!
//! Each encoding must decode to the value it came from, use up exactly its bytes, and every
//! strict prefix of it must fail to decode (a decoder that invents a value from a short
//! frame would also accept a torn one).

use std::fmt::Debug;
use std::sync::Arc;

use bytes::Bytes;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::strategy::Union;

use ringkeeper::fuzzing::encode_request;
use ringkeeper::proto::codec::{Decode, Encode, Reader, Writer};
use ringkeeper::proto::opcode as op;
use ringkeeper::proto::records::*;
use ringkeeper::proto::request::{decode_request, Create, MultiOp, ReadOp, Request};
use ringkeeper::storage::record::{encode_into, scan, Scan};
use ringkeeper::storage::snapshot;
use ringkeeper::tree::{DataTree, StatPersisted, StoredNode};
use ringkeeper::txn::{self, CreateTxn, Txn, TxnBody, TxnHeader};

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

// ---- strategies ----

/// Mostly path-like text, sometimes any Unicode (the codec must not care).
fn text() -> BoxedStrategy<String> {
    prop_oneof![3 => "[a-z/]{0,12}", 1 => any::<String>()].boxed()
}

fn buf() -> BoxedStrategy<Option<Vec<u8>>> {
    option::of(vec(any::<u8>(), 0..48)).boxed()
}

fn id() -> impl Strategy<Value = Id> {
    (text(), text()).prop_map(|(scheme, id)| Id { scheme, id })
}

fn acl() -> impl Strategy<Value = Acl> {
    (any::<i32>(), id()).prop_map(|(perms, id)| Acl { perms, id })
}

fn acls() -> BoxedStrategy<Vec<Acl>> {
    vec(acl(), 0..4).boxed()
}

fn strings() -> BoxedStrategy<Vec<String>> {
    vec(text(), 0..5).boxed()
}

fn stat() -> impl Strategy<Value = Stat> {
    (
        (any::<i64>(), any::<i64>(), any::<i64>(), any::<i64>()),
        (any::<i32>(), any::<i32>(), any::<i32>()),
        (any::<i64>(), any::<i32>(), any::<i32>(), any::<i64>()),
    )
        .prop_map(
            |((czxid, mzxid, ctime, mtime), (version, cversion, aversion), rest)| {
                let (ephemeral_owner, data_length, num_children, pzxid) = rest;
                Stat {
                    czxid,
                    mzxid,
                    ctime,
                    mtime,
                    version,
                    cversion,
                    aversion,
                    ephemeral_owner,
                    data_length,
                    num_children,
                    pzxid,
                }
            },
        )
}

/// Builds a record strategy from one strategy per field, in field order.
macro_rules! rec {
    ($name:ident { $($f:ident : $s:expr),* $(,)? }) => {
        ($($s,)*).prop_map(|($($f,)*)| $name { $($f),* })
    };
}

// ---- checks ----

/// decode(encode(x)) == x, all bytes used, trailing bytes ignored, every strict prefix refused.
fn round_trip<T: Encode + Decode + PartialEq + Debug>(x: &T) -> Result<(), TestCaseError> {
    let b = x.to_bytes();
    let mut r = Reader::new(&b);
    let back = T::decode(&mut r).map_err(|e| TestCaseError::fail(format!("{e}: {x:?}")))?;
    prop_assert_eq!(&back, x);
    prop_assert!(r.is_empty(), "{} bytes left over", r.remaining());
    let mut longer = b.clone();
    longer.extend_from_slice(&[0xAB; 5]);
    prop_assert_eq!(&T::from_bytes(&longer).expect("with trailing bytes"), x);
    for cut in 0..b.len() {
        prop_assert!(
            T::from_bytes(&b[..cut]).is_err(),
            "prefix of {cut} bytes decoded"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn shared_records(
        i in id(),
        a in acl(),
        s in stat(),
        ci in rec!(ClientInfo { auth_scheme: text(), user: text() }),
        we in rec!(WatcherEvent { kind: any::<i32>(), state: any::<i32>(), path: text() }),
    ) {
        round_trip(&i)?;
        round_trip(&a)?;
        round_trip(&s)?;
        round_trip(&ci)?;
        round_trip(&we)?;
    }

    #[test]
    fn headers(
        rq in rec!(RequestHeader { xid: any::<i32>(), op: any::<i32>() }),
        rp in rec!(ReplyHeader { xid: any::<i32>(), zxid: any::<i64>(), err: any::<i32>() }),
        mh in rec!(MultiHeader { op: any::<i32>(), done: any::<bool>(), err: any::<i32>() }),
        ap in rec!(AuthPacket { kind: any::<i32>(), scheme: text(), auth: buf() }),
    ) {
        round_trip(&rq)?;
        round_trip(&rp)?;
        round_trip(&mh)?;
        round_trip(&ap)?;
    }

    #[test]
    fn request_records(
        gd in rec!(GetDataRequest { path: text(), watch: any::<bool>() }),
        sd in rec!(SetDataRequest { path: text(), data: buf(), version: any::<i32>() }),
        cr in rec!(CreateRequest { path: text(), data: buf(), acl: acls(), flags: any::<i32>() }),
        ct in rec!(CreateTtlRequest {
            path: text(), data: buf(), acl: acls(), flags: any::<i32>(), ttl: any::<i64>()
        }),
        de in rec!(DeleteRequest { path: text(), version: any::<i32>() }),
        ex in rec!(ExistsRequest { path: text(), watch: any::<bool>() }),
        gc in rec!(GetChildrenRequest { path: text(), watch: any::<bool>() }),
        cv in rec!(CheckVersionRequest { path: text(), version: any::<i32>() }),
        pr in rec!(PathRequest { path: text() }),
        sa in rec!(SetAclRequest { path: text(), acl: acls(), version: any::<i32>() }),
        wr in rec!(WatchesRequest { path: text(), kind: any::<i32>() }),
        aw in rec!(AddWatchRequest { path: text(), mode: any::<i32>() }),
    ) {
        round_trip(&gd)?;
        round_trip(&sd)?;
        round_trip(&cr)?;
        round_trip(&ct)?;
        round_trip(&de)?;
        round_trip(&ex)?;
        round_trip(&gc)?;
        round_trip(&cv)?;
        round_trip(&pr)?;
        round_trip(&sa)?;
        round_trip(&wr)?;
        round_trip(&aw)?;
    }

    #[test]
    fn more_request_records(
        sr in rec!(SaslRequest { token: buf() }),
        rc in rec!(ReconfigRequest {
            joining_servers: text(), leaving_servers: text(), new_members: text(),
            cur_config_id: any::<i64>()
        }),
        sw in rec!(SetWatches {
            relative_zxid: any::<i64>(), data: strings(), exist: strings(), child: strings()
        }),
        sw2 in rec!(SetWatches2 {
            relative_zxid: any::<i64>(), data: strings(), exist: strings(), child: strings(),
            persistent: strings(), persistent_recursive: strings()
        }),
    ) {
        round_trip(&sr)?;
        round_trip(&rc)?;
        round_trip(&sw)?;
        round_trip(&sw2)?;
    }

    #[test]
    fn response_records(
        gd in rec!(GetDataResponse { data: buf(), stat: stat() }),
        sd in rec!(SetDataResponse { stat: stat() }),
        cr in rec!(CreateResponse { path: text() }),
        c2 in rec!(Create2Response { path: text(), stat: stat() }),
        ex in rec!(ExistsResponse { stat: stat() }),
        gc in rec!(GetChildrenResponse { children: strings() }),
        g2 in rec!(GetChildren2Response { children: strings(), stat: stat() }),
        ga in rec!(GetAclResponse { acl: acls(), stat: stat() }),
        sa in rec!(SetAclResponse { stat: stat() }),
        an in rec!(AllChildrenNumberResponse { total: any::<i32>() }),
        er in rec!(ErrorResponse { err: any::<i32>() }),
        st in rec!(StringsResponse { items: strings() }),
    ) {
        round_trip(&gd)?;
        round_trip(&sd)?;
        round_trip(&cr)?;
        round_trip(&c2)?;
        round_trip(&ex)?;
        round_trip(&gc)?;
        round_trip(&g2)?;
        round_trip(&ga)?;
        round_trip(&sa)?;
        round_trip(&an)?;
        round_trip(&er)?;
        round_trip(&st)?;
    }

    #[test]
    fn who_am_i_response(
        w in rec!(WhoAmIResponse {
            client_info: vec(rec!(ClientInfo { auth_scheme: text(), user: text() }), 0..4)
        }),
    ) {
        round_trip(&w)?;
    }

    /// The connect frames end in an optional readOnly byte (old clients omit it), so the
    /// prefix one byte short is the same frame without it; shorter ones are refused.
    #[test]
    fn connect_frames(
        req in rec!(ConnectRequest {
            protocol_version: any::<i32>(), last_zxid_seen: any::<i64>(),
            timeout_ms: any::<i32>(), session_id: any::<i64>(),
            passwd: vec(any::<u8>(), 0..20), read_only: option::of(any::<bool>())
        }),
        resp in rec!(ConnectResponse {
            protocol_version: any::<i32>(), timeout_ms: any::<i32>(), session_id: any::<i64>(),
            passwd: vec(any::<u8>(), 0..20), read_only: option::of(any::<bool>())
        }),
    ) {
        fn check<T: Encode + Decode + PartialEq + Debug + Clone>(
            x: &T,
            without_ro: T,
        ) -> Result<(), TestCaseError> {
            let b = x.to_bytes();
            prop_assert_eq!(&T::from_bytes(&b).expect("decodes"), x);
            let short = without_ro.to_bytes();
            prop_assert_eq!(T::from_bytes(&short).expect("without readOnly"), without_ro);
            for cut in 0..short.len() {
                prop_assert!(T::from_bytes(&b[..cut]).is_err(), "prefix of {cut} bytes");
            }
            Ok(())
        }
        check(&req, ConnectRequest { read_only: None, ..req.clone() })?;
        check(&resp, ConnectResponse { read_only: None, ..resp.clone() })?;
    }
}

// ---- requests, as the net core decodes them ----

fn path_req() -> impl Strategy<Value = PathRequest> {
    rec!(PathRequest { path: text() })
}

fn top_create() -> impl Strategy<Value = Create> {
    (
        prop_oneof![
            Just(op::CREATE),
            Just(op::CREATE2),
            Just(op::CREATE_CONTAINER),
            Just(op::CREATE_TTL)
        ],
        (text(), buf(), acls(), any::<i32>(), any::<i64>()),
    )
        .prop_map(|(opc, (path, data, acl, flags, ttl))| Create {
            op: opc,
            path,
            data,
            acl,
            flags,
            ttl: if opc == op::CREATE_TTL { ttl } else { -1 },
        })
}

/// A create inside a multi, in the form the decoder gives it: the flags decide the type
/// (container, TTL) and only a TTL create carries a ttl.
fn multi_create() -> impl Strategy<Value = Create> {
    (
        0..=6i32,
        any::<bool>(),
        (text(), buf(), acls(), any::<i64>()),
    )
        .prop_map(|(flags, create2, (path, data, acl, ttl))| {
            let opc = match flags {
                4 => op::CREATE_CONTAINER,
                5 | 6 => op::CREATE_TTL,
                _ if create2 => op::CREATE2,
                _ => op::CREATE,
            };
            Create {
                op: opc,
                path,
                data,
                acl,
                flags,
                ttl: if opc == op::CREATE_TTL { ttl } else { -1 },
            }
        })
}

fn multi_op() -> impl Strategy<Value = MultiOp> {
    prop_oneof![
        multi_create().prop_map(MultiOp::Create),
        rec!(DeleteRequest {
            path: text(),
            version: any::<i32>()
        })
        .prop_map(MultiOp::Delete),
        rec!(SetDataRequest {
            path: text(),
            data: buf(),
            version: any::<i32>()
        })
        .prop_map(MultiOp::SetData),
        rec!(CheckVersionRequest {
            path: text(),
            version: any::<i32>()
        })
        .prop_map(MultiOp::Check),
    ]
}

fn read_op() -> impl Strategy<Value = ReadOp> {
    prop_oneof![
        text().prop_map(ReadOp::GetChildren),
        text().prop_map(ReadOp::GetData)
    ]
}

fn request() -> impl Strategy<Value = Request> {
    let gc = || {
        rec!(GetChildrenRequest {
            path: text(),
            watch: any::<bool>()
        })
    };
    let wr = || {
        rec!(WatchesRequest {
            path: text(),
            kind: any::<i32>()
        })
    };
    Union::new(vec![
        top_create().prop_map(Request::Create).boxed(),
        rec!(DeleteRequest {
            path: text(),
            version: any::<i32>()
        })
        .prop_map(Request::Delete)
        .boxed(),
        rec!(ExistsRequest {
            path: text(),
            watch: any::<bool>()
        })
        .prop_map(Request::Exists)
        .boxed(),
        rec!(GetDataRequest {
            path: text(),
            watch: any::<bool>()
        })
        .prop_map(Request::GetData)
        .boxed(),
        rec!(SetDataRequest {
            path: text(),
            data: buf(),
            version: any::<i32>()
        })
        .prop_map(Request::SetData)
        .boxed(),
        path_req().prop_map(Request::GetAcl).boxed(),
        rec!(SetAclRequest {
            path: text(),
            acl: acls(),
            version: any::<i32>()
        })
        .prop_map(Request::SetAcl)
        .boxed(),
        gc().prop_map(Request::GetChildren).boxed(),
        gc().prop_map(Request::GetChildren2).boxed(),
        path_req().prop_map(Request::Sync).boxed(),
        Just(Request::Ping).boxed(),
        vec(multi_op(), 0..5).prop_map(Request::Multi).boxed(),
        vec(read_op(), 0..5).prop_map(Request::MultiRead).boxed(),
        rec!(ReconfigRequest {
            joining_servers: text(),
            leaving_servers: text(),
            new_members: text(),
            cur_config_id: any::<i64>()
        })
        .prop_map(Request::Reconfig)
        .boxed(),
        wr().prop_map(Request::CheckWatches).boxed(),
        wr().prop_map(Request::RemoveWatches).boxed(),
        rec!(AuthPacket {
            kind: any::<i32>(),
            scheme: text(),
            auth: buf()
        })
        .prop_map(Request::Auth)
        .boxed(),
        rec!(SetWatches2 {
            relative_zxid: any::<i64>(),
            data: strings(),
            exist: strings(),
            child: strings(),
            persistent: strings(),
            persistent_recursive: strings()
        })
        .prop_map(Request::SetWatches)
        .boxed(),
        rec!(SaslRequest { token: buf() })
            .prop_map(Request::Sasl)
            .boxed(),
        path_req().prop_map(Request::GetEphemerals).boxed(),
        path_req().prop_map(Request::GetAllChildrenNumber).boxed(),
        rec!(AddWatchRequest {
            path: text(),
            mode: any::<i32>()
        })
        .prop_map(Request::AddWatch)
        .boxed(),
        Just(Request::WhoAmI).boxed(),
        Just(Request::CloseSession).boxed(),
    ])
}

proptest! {
    #![proptest_config(config(512))]

    /// Every request survives encode -> decode_request, and no strict prefix of a non-empty
    /// body decodes (each record's fields are all required).
    #[test]
    fn requests_round_trip(req in request()) {
        let (opcode, body) = encode_request(&req);
        let back = decode_request(opcode, &body)
            .map_err(|e| TestCaseError::fail(format!("{e}: {req:?}")))?;
        prop_assert_eq!(&back, &req);
        for cut in 0..body.len() {
            prop_assert!(decode_request(opcode, &body[..cut]).is_err(), "prefix of {cut} bytes");
        }
    }

    /// setWatches (101) arrives as setWatches2 with empty persistent lists.
    #[test]
    fn legacy_set_watches(
        sw in rec!(SetWatches {
            relative_zxid: any::<i64>(), data: strings(), exist: strings(), child: strings()
        }),
    ) {
        let got = decode_request(op::SET_WATCHES, &sw.to_bytes()).expect("decodes");
        let want = Request::SetWatches(SetWatches2 {
            relative_zxid: sw.relative_zxid,
            data: sw.data,
            exist: sw.exist,
            child: sw.child,
            persistent: vec![],
            persistent_recursive: vec![],
        });
        prop_assert_eq!(got, want);
    }
}

// ---- txns and log records ----

fn bytes_opt() -> impl Strategy<Value = Option<Bytes>> {
    buf().prop_map(|b| b.map(Bytes::from))
}

fn create_txn(session: i64) -> impl Strategy<Value = CreateTxn> {
    (
        0..4usize,
        any::<bool>(),
        0..=txn::MAX_TTL_MS,
        (text(), bytes_opt(), acls(), any::<i32>()),
    )
        .prop_map(
            move |(kind, eph, ttl, (path, data, acl, parent_cversion))| {
                let (opc, owner) = match kind {
                    0 => (op::CREATE, if eph { session } else { 0 }),
                    1 => (op::CREATE2, if eph { session } else { 0 }),
                    2 => (op::CREATE_CONTAINER, txn::CONTAINER_EPHEMERAL_OWNER),
                    _ => (op::CREATE_TTL, txn::ttl_ephemeral_owner(ttl)),
                };
                CreateTxn {
                    op: opc,
                    path,
                    data,
                    acl,
                    ephemeral_owner: owner,
                    parent_cversion,
                }
            },
        )
}

/// The bodies a multi may hold.
fn sub_txn(session: i64) -> impl Strategy<Value = TxnBody> {
    prop_oneof![
        create_txn(session).prop_map(TxnBody::Create),
        (
            prop_oneof![Just(op::DELETE), Just(op::DELETE_CONTAINER)],
            text()
        )
            .prop_map(|(op, path)| TxnBody::Delete { op, path }),
        (text(), bytes_opt(), any::<i32>()).prop_map(|(path, data, version)| TxnBody::SetData {
            path,
            data,
            version
        }),
        (text(), acls(), any::<i32>()).prop_map(|(path, acl, version)| TxnBody::SetAcl {
            path,
            acl,
            version
        }),
        (text(), any::<i32>()).prop_map(|(path, version)| TxnBody::Check { path, version }),
        any::<i32>().prop_map(|err| TxnBody::Error { err }),
    ]
}

fn txn() -> impl Strategy<Value = Txn> {
    (any::<i64>(), any::<i32>(), any::<i64>(), any::<i64>()).prop_flat_map(
        |(session_id, cxid, zxid, time)| {
            let header = TxnHeader {
                session_id,
                cxid,
                zxid,
                time,
            };
            prop_oneof![
                4 => sub_txn(session_id),
                1 => any::<i32>().prop_map(|timeout_ms| TxnBody::CreateSession { timeout_ms }),
                1 => strings().prop_map(|ephemerals| TxnBody::CloseSession { ephemerals }),
                2 => vec(sub_txn(session_id), 0..5).prop_map(TxnBody::Multi),
            ]
            .prop_map(move |body| Txn {
                header: header.clone(),
                body,
            })
        },
    )
}

/// TxnHeader: clientId, cxid, zxid, time, type.
const TXN_HEADER_BYTES: usize = 8 + 4 + 8 + 8 + 4;

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn txns_round_trip(t in txn()) {
        let b = t.to_bytes();
        prop_assert_eq!(Txn::decode(&b).expect("decodes"), t.clone());
        for cut in 0..b.len() {
            // closeSession's path list is optional (older logs end after the header).
            let optional_tail =
                matches!(t.body, TxnBody::CloseSession { .. }) && cut == TXN_HEADER_BYTES;
            if !optional_tail {
                prop_assert!(Txn::decode(&b[..cut]).is_err(), "prefix of {cut} bytes");
            }
        }
    }

    /// Records written back to back scan back in order and end cleanly at zero fill; no
    /// truncation and no bit flip of the last record reads as a record.
    #[test]
    fn log_records_frame_and_detect_damage(
        txns in vec(txn(), 1..6),
        fill in 0..16usize,
        flip in any::<proptest::sample::Index>(),
        cut in any::<proptest::sample::Index>(),
    ) {
        let mut seg = Vec::new();
        let mut starts = Vec::new();
        for t in &txns {
            starts.push(seg.len());
            encode_into(&mut seg, t.zxid(), &t.to_bytes());
        }
        let end = seg.len();
        seg.resize(end + fill, 0);
        let mut pos = 0;
        for t in &txns {
            match scan(&seg, pos) {
                Scan::Record { zxid, txn, next } => {
                    prop_assert_eq!(zxid, t.zxid());
                    prop_assert_eq!(Txn::decode(txn).expect("decodes"), t.clone());
                    pos = next;
                }
                other => return Err(TestCaseError::fail(format!("at {pos}: {other:?}"))),
            }
        }
        prop_assert_eq!(pos, end);
        prop_assert_eq!(scan(&seg, pos), Scan::End);

        let last = *starts.last().expect("one record");
        let truncated = &seg[..last + 1 + cut.index(end - last - 1)];
        let is_record = matches!(scan(truncated, last), Scan::Record { .. });
        prop_assert!(!is_record, "a truncated record scanned as a record");
        let mut flipped = seg[..end].to_vec();
        let bit = flip.index((end - last) * 8);
        flipped[last + bit / 8] ^= 1 << (bit % 8);
        let is_record = matches!(scan(&flipped, last), Scan::Record { .. });
        prop_assert!(!is_record, "bit {} flipped, still a record", bit);
    }
}

// ---- snapshots ----

/// A child name that is a valid path component.
fn name() -> impl Strategy<Value = String> {
    prop_oneof!["[a-z0-9_.-]{1,6}", "[\u{a0}-\u{7ff}\u{4e00}-\u{4e10}]{1,3}"]
        .prop_filter("not . or ..", |n| n != "." && n != "..")
}

fn stat_persisted() -> impl Strategy<Value = StatPersisted> {
    let owner = prop_oneof![
        Just(0i64),
        any::<i64>(),
        Just(txn::CONTAINER_EPHEMERAL_OWNER),
        (1..=txn::MAX_TTL_MS).prop_map(txn::ttl_ephemeral_owner),
    ];
    (
        (any::<i64>(), any::<i64>(), any::<i64>(), any::<i64>()),
        (any::<i32>(), any::<i32>(), any::<i32>()),
        owner,
        any::<i64>(),
    )
        .prop_map(
            |((czxid, mzxid, ctime, mtime), (version, cversion, aversion), owner, pzxid)| {
                StatPersisted {
                    czxid,
                    mzxid,
                    ctime,
                    mtime,
                    version,
                    cversion,
                    aversion,
                    ephemeral_owner: owner,
                    pzxid,
                }
            },
        )
}

/// Stored nodes in pre-order (parents first): the root, then each node under a parent
/// chosen among the nodes before it. Duplicate paths are dropped.
fn stored_nodes() -> impl Strategy<Value = Vec<StoredNode>> {
    let acl_lists = vec(acls(), 1..4);
    let node = (
        any::<proptest::sample::Index>(),
        name(),
        bytes_opt(),
        any::<proptest::sample::Index>(),
        stat_persisted(),
    );
    (acl_lists, stat_persisted(), vec(node, 0..40)).prop_map(|(lists, root_stat, nodes)| {
        let lists: Vec<Arc<Vec<Acl>>> = lists.into_iter().map(Arc::new).collect();
        let mut out = vec![StoredNode {
            path: "/".into(),
            data: Some(Bytes::new()),
            acl: lists[0].clone(),
            stat: root_stat,
        }];
        for (parent, name, data, acl, stat) in nodes {
            let parent = &out[parent.index(out.len())].path;
            let path = if parent == "/" {
                format!("/{name}")
            } else {
                format!("{parent}/{name}")
            };
            if out.iter().any(|n| n.path == path) {
                continue;
            }
            out.push(StoredNode {
                path,
                data,
                acl: lists[acl.index(lists.len())].clone(),
                stat,
            });
        }
        out
    })
}

fn assert_same_tree(a: &DataTree, b: &DataTree) -> Result<(), TestCaseError> {
    prop_assert_eq!(a.last_zxid(), b.last_zxid());
    prop_assert_eq!(a.node_count(), b.node_count());
    prop_assert_eq!(a.approximate_data_size(), b.approximate_data_size());
    let mut sa: Vec<_> = a.sessions().collect();
    let mut sb: Vec<_> = b.sessions().collect();
    sa.sort_unstable();
    sb.sort_unstable();
    prop_assert_eq!(sa, sb);
    prop_assert_eq!(a.ephemerals_by_session(), b.ephemerals_by_session());
    prop_assert_eq!(a.container_paths(), b.container_paths());
    prop_assert_eq!(a.ttl_paths(), b.ttl_paths());
    let (wa, wb) = (a.walk(), b.walk());
    prop_assert_eq!(wa.len(), wb.len());
    for ((pa, na), (pb, nb)) in wa.iter().zip(&wb) {
        prop_assert_eq!(pa, pb);
        prop_assert_eq!(&na.data, &nb.data, "data of {}", pa);
        prop_assert_eq!(&na.acl, &nb.acl, "acl of {}", pa);
        prop_assert_eq!(na.stat, nb.stat, "stat of {}", pa);
        prop_assert_eq!(na.client_stat(), nb.client_stat(), "client stat of {}", pa);
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(128))]

    /// A tree of arbitrary nodes, stats, ACL lists and sessions, written to a real snapshot
    /// file and loaded back, is the same tree.
    #[test]
    fn snapshots_round_trip(
        nodes in stored_nodes(),
        sessions in vec((any::<i64>(), any::<i32>()), 0..6),
        zxid in any::<i64>(),
    ) {
        let tree = DataTree::restore(nodes, sessions, zxid).expect("restores");
        let dir = tempfile::tempdir().expect("temp dir");
        let written = snapshot::write_snapshot(dir.path(), &tree).expect("writes");
        prop_assert_eq!(written.zxid, zxid);
        prop_assert_eq!(written.nodes, tree.node_count() as u64);
        let loaded = snapshot::load(&written.path).expect("loads");
        assert_same_tree(&tree, &loaded)?;
        // Written from the loaded tree (whose ACL lists are shared differently), the file
        // is byte for byte the same: one tree, one snapshot.
        let again = tempfile::tempdir().expect("temp dir");
        let rewritten = snapshot::write_snapshot(again.path(), &loaded).expect("writes");
        let (a, b) = (std::fs::read(&written.path), std::fs::read(&rewritten.path));
        prop_assert!(a.expect("read") == b.expect("read"), "the rewritten snapshot differs");
    }
}

/// `Writer::framed` + `finish_frame` put the body length in front.
#[test]
fn framed_writer_prefixes_the_length() {
    let mut w = Writer::framed();
    w.ustring("/x").i32(7);
    let f = w.finish_frame();
    assert_eq!(&f[..4], &((f.len() - 4) as i32).to_be_bytes());
}
