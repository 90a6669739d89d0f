//! What the operator metrics add to one request on a net core: the per-op histogram record
//! (its core's mutex, uncontended unless a scrape is copying it), the connection's figures,
//! and the timestamp pair. Also the scrape itself, which runs on the HTTP thread.
//! Run with `cargo bench --bench metrics_record`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use ringkeeper::metrics::Metrics;
use ringkeeper::proto::opcode;
use ringkeeper::server::stats::ConnStats;

fn per_request(c: &mut Criterion) {
    let m = Arc::new(Metrics::new(2));
    let conn = ConnStats::new("127.0.0.1:5000".parse().unwrap(), 0);
    let mut us = 1u64;
    c.bench_function("record_request (histogram)", |b| {
        b.iter(|| {
            us = us % 5_000 + 7;
            m.record_request(0, black_box(opcode::GET_DATA), us);
        })
    });
    c.bench_function("record_response (connection figures)", |b| {
        b.iter(|| {
            us = us % 5_000 + 7;
            conn.record_response(black_box(us), 42, 1_700_000_000_000);
        })
    });
    c.bench_function("all added per request (2 clock reads + both)", |b| {
        b.iter(|| {
            let t = Instant::now();
            let us = t.elapsed().as_micros() as u64;
            m.record_request(0, black_box(opcode::GET_DATA), us);
            conn.record_response(us, 42, 1_700_000_000_000);
        })
    });
    for op in [opcode::SET_DATA, opcode::CREATE, opcode::EXISTS] {
        for v in 0..10_000u64 {
            m.record_request(1, op, v % 3_000 + 1);
        }
    }
    c.bench_function("scrape: merge every core's histograms", |b| {
        b.iter(|| black_box(m.requests()))
    });
}

criterion_group!(benches, per_request);
criterion_main!(benches);
