//! The CPU cost of the request path's pure parts, per operation:
//! - jute: decoding the common requests and encoding their replies and txns;
//! - the tree: applying create / setData / delete txns, and publishing a version (what the
//!   consensus core hands every net core after each commit);
//! - snapshots: serialising a 100k-znode tree to a file;
//! - watches: triggering one znode watched by N connections, and counting 100k watches as
//!   mntr and each metrics scrape do.
//!
//! Run with `cargo bench --bench core_paths`; figures in perf/RESULTS.md.

use std::hint::black_box;
use std::sync::Arc;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ringkeeper::client::acl;
use ringkeeper::proto::codec::Encode;
use ringkeeper::proto::opcode as op;
use ringkeeper::proto::records::{
    CreateRequest, GetDataRequest, GetDataResponse, SetDataRequest, Stat,
};
use ringkeeper::proto::request::decode_request;
use ringkeeper::tree::DataTree;
use ringkeeper::txn::{CreateTxn, Txn, TxnBody, TxnHeader};
use ringkeeper::watch::{WatchKind, WatchTable};

fn header(zxid: i64) -> TxnHeader {
    TxnHeader {
        session_id: 0x1234,
        cxid: 7,
        zxid,
        time: 1_700_000_000_000,
    }
}

fn create_txn(tree: &DataTree, zxid: i64, path: &str, data: &[u8]) -> Txn {
    let parent = &path[..path.rfind('/').unwrap()];
    let parent = if parent.is_empty() { "/" } else { parent };
    let cv = tree.get(parent).map_or(0, |p| p.stat.cversion) + 1;
    Txn {
        header: header(zxid),
        body: TxnBody::Create(CreateTxn {
            op: op::CREATE,
            path: path.into(),
            data: Some(Bytes::copy_from_slice(data)),
            acl: acl::open_unsafe(),
            ephemeral_owner: 0,
            parent_cversion: cv,
        }),
    }
}

/// A tree with `n` znodes of 50-byte data under /bench/dNNNN (1000 per directory).
fn tree_of(n: usize) -> DataTree {
    let mut t = DataTree::new();
    let mut z = 1;
    t.apply(&create_txn(&t, z, "/bench", b""));
    for i in 0..n {
        if i % 1000 == 0 {
            z += 1;
            let d = format!("/bench/d{:04}", i / 1000);
            let txn = create_txn(&t, z, &d, b"");
            t.apply(&txn);
        }
        z += 1;
        let p = format!("/bench/d{:04}/znode-{i:010}", i / 1000);
        let txn = create_txn(&t, z, &p, &[b'x'; 50]);
        t.apply(&txn);
    }
    t
}

fn codec(c: &mut Criterion) {
    let mut g = c.benchmark_group("jute");
    let get = GetDataRequest {
        path: "/bench/d0001/znode-0000001234".into(),
        watch: true,
    }
    .to_bytes();
    g.bench_function("decode getData", |b| {
        b.iter(|| decode_request(op::GET_DATA, black_box(&get)).unwrap())
    });
    let set = SetDataRequest {
        path: "/bench/d0001/znode-0000001234".into(),
        data: Some(vec![b'x'; 100]),
        version: -1,
    }
    .to_bytes();
    g.bench_function("decode setData (100 B)", |b| {
        b.iter(|| decode_request(op::SET_DATA, black_box(&set)).unwrap())
    });
    let create = CreateRequest {
        path: "/locks/lock-".into(),
        data: Some(vec![]),
        acl: acl::open_unsafe(),
        flags: 3,
    }
    .to_bytes();
    g.bench_function("decode create (ephemeral sequential)", |b| {
        b.iter(|| decode_request(op::CREATE, black_box(&create)).unwrap())
    });
    let resp = GetDataResponse {
        data: Some(vec![b'x'; 100]),
        stat: Stat::default(),
    };
    g.bench_function("encode getData reply (100 B)", |b| {
        b.iter(|| black_box(&resp).to_bytes())
    });
    let txn = Txn {
        header: header(0x1_0000_0001),
        body: TxnBody::SetData {
            path: "/bench/d0001/znode-0000001234".into(),
            data: Some(Bytes::from_static(&[b'x'; 100])),
            version: 3,
        },
    };
    g.bench_function("encode setData txn (100 B)", |b| {
        b.iter(|| black_box(&txn).to_bytes())
    });
    let bytes = txn.to_bytes();
    g.bench_function("decode setData txn (100 B)", |b| {
        b.iter(|| Txn::decode(black_box(&bytes)).unwrap())
    });
    g.finish();
}

fn apply(c: &mut Criterion) {
    let mut g = c.benchmark_group("tree (100k znodes)");
    let base = tree_of(100_000);
    let mut z = base.last_zxid();
    g.bench_function("apply create", |b| {
        b.iter_batched(
            || {
                z += 1;
                let t = base.clone();
                let txn = create_txn(&t, z, "/bench/d0050/new-node", b"v");
                (t, txn)
            },
            |(mut t, txn)| {
                let applied = t.apply(&txn);
                (t, applied)
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("apply setData", |b| {
        b.iter_batched(
            || {
                z += 1;
                let t = base.clone();
                let txn = Txn {
                    header: header(z),
                    body: TxnBody::SetData {
                        path: "/bench/d0050/znode-0000050001".into(),
                        data: Some(Bytes::from_static(b"new value")),
                        version: 1,
                    },
                };
                (t, txn)
            },
            |(mut t, txn)| {
                let applied = t.apply(&txn);
                (t, applied)
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("apply delete", |b| {
        b.iter_batched(
            || {
                z += 1;
                let t = base.clone();
                let txn = Txn {
                    header: header(z),
                    body: TxnBody::Delete {
                        op: op::DELETE,
                        path: "/bench/d0050/znode-0000050001".into(),
                    },
                };
                (t, txn)
            },
            |(mut t, txn)| {
                let applied = t.apply(&txn);
                (t, applied)
            },
            BatchSize::SmallInput,
        )
    });
    // What each commit costs the consensus core to hand to the net cores: one version.
    g.bench_function("publish a version (clone into Arc)", |b| {
        b.iter(|| Arc::new(black_box(&base).clone()))
    });
    g.finish();
}

fn snapshot(c: &mut Criterion) {
    let mut g = c.benchmark_group("snapshot");
    g.sample_size(10);
    let t = tree_of(100_000);
    let dir = tempfile::tempdir().unwrap();
    g.throughput(Throughput::Elements(100_000));
    g.bench_function("write 100k znodes (fsynced)", |b| {
        b.iter(|| {
            let w = ringkeeper::storage::snapshot::write_snapshot(dir.path(), &t).unwrap();
            std::fs::remove_file(&w.path).unwrap();
        })
    });
    g.finish();
}

fn watches(c: &mut Criterion) {
    let mut g = c.benchmark_group("watch fan-out");
    for n in [1u64, 100, 10_000] {
        g.throughput(Throughput::Elements(n));
        g.bench_function(format!("trigger one znode watched by {n}"), |b| {
            b.iter_batched(
                || {
                    let mut w = WatchTable::default();
                    for conn in 0..n {
                        w.add(WatchKind::Data, "/config", conn);
                    }
                    w
                },
                |mut w| {
                    w.trigger(
                        ringkeeper::proto::opcode::event::NODE_DATA_CHANGED,
                        "/config",
                    )
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
    // What mntr and each metrics scrape ask of every net core: ZooKeeper's table sizes.
    let mut g = c.benchmark_group("watch counts");
    let mut w = WatchTable::default();
    for conn in 0..100u64 {
        for i in 0..1000 {
            w.add(WatchKind::Data, &format!("/w{conn}/n{i}"), conn);
        }
    }
    g.bench_function("100k watches on 100 connections (mntr)", |b| {
        b.iter(|| black_box(&w).zk_counts())
    });
    g.finish();
}

criterion_group!(benches, codec, apply, snapshot, watches);
criterion_main!(benches);
