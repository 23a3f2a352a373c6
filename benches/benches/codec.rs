//! The ETF and JSON cores on the MESSAGE_CREATE payload. Baseline in the same
//! run: serde_json parsing and writing the same JSON.

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;

const PAYLOAD: &str = include_str!("../../test/fixtures/message_create.json");

/// Re-encodes JSON as ETF with the writer (objects as maps with binary keys,
/// sorted, as the NIF writes them).
fn json_to_etf(v: &serde_json::Value, w: &mut etf::Writer) {
    match v {
        serde_json::Value::Null => w.atom("nil"),
        serde_json::Value::Bool(b) => w.atom(if *b { "true" } else { "false" }),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => w.int(i),
            None => w.float(n.as_f64().unwrap()).unwrap(),
        },
        serde_json::Value::String(s) => w.binary(s.as_bytes()),
        serde_json::Value::Array(a) => {
            w.list(a.len());
            a.iter().for_each(|x| json_to_etf(x, w));
            if !a.is_empty() {
                w.nil();
            }
        }
        serde_json::Value::Object(m) => {
            let mut keys: Vec<_> = m.iter().collect();
            keys.sort_by(|a, b| a.0.cmp(b.0));
            w.map(keys.len());
            for (k, x) in keys {
                w.binary(k.as_bytes());
                json_to_etf(x, w);
            }
        }
    }
}

fn bench(c: &mut Criterion) {
    let value: serde_json::Value = serde_json::from_str(PAYLOAD).unwrap();
    let mut w = etf::Writer::new();
    json_to_etf(&value, &mut w);
    let etf_bytes = w.into_vec();

    let mut g = c.benchmark_group("codec");
    g.bench_function("serde_json::from_str (baseline)", |b| b.iter(|| serde_json::from_str::<serde_json::Value>(black_box(PAYLOAD)).unwrap()));
    g.bench_function("json::Parser events", |b| {
        b.iter(|| {
            let mut p = json::Parser::new(black_box(PAYLOAD.as_bytes()), json::Limits::default()).unwrap();
            let mut n = 0;
            while let Some(_) = p.next().unwrap() {
                n += 1;
            }
            n
        })
    });
    g.bench_function("serde_json::to_vec (baseline)", |b| b.iter(|| serde_json::to_vec(black_box(&value)).unwrap()));
    g.bench_function("etf::Writer from the same value", |b| {
        b.iter(|| {
            let mut w = etf::Writer::with_capacity(2048);
            json_to_etf(black_box(&value), &mut w);
            w.into_vec()
        })
    });
    g.bench_function("etf::Decoder events", |b| {
        b.iter(|| {
            let body = etf::decompress(black_box(&etf_bytes), &etf::Limits::default()).unwrap();
            let mut d = etf::Decoder::new(&body, 1, etf::Limits::default());
            let mut n = 0;
            while !d.is_done() {
                d.next().unwrap();
                n += 1;
            }
            n
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).warm_up_time(std::time::Duration::from_millis(300)).measurement_time(std::time::Duration::from_millis(800));
    targets = bench
}
criterion_main!(benches);
