//! HashRing core: one lookup of a random guild id at 3 and 100 nodes with
//! 512 points each, against a `BTreeMap<u64, node>` ring (range lookup), the
//! std structure one would reach for; and md5 of the key alone, which both
//! pay.

use criterion::{criterion_group, criterion_main, Criterion};
use hash_ring::{HashRing, Key};
use std::collections::BTreeMap;
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let keys: Vec<i64> = (0..4096)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 4) as i64
        })
        .collect();
    for count in [3usize, 100] {
        let nodes: Vec<String> = (1..=count).map(|i| format!("realtime{i}@10.0.0.{i}")).collect();
        let ring = HashRing::new(&nodes, 512, &[]).unwrap();
        let mut btree = BTreeMap::new();
        for (i, n) in nodes.iter().enumerate() {
            for r in 0..512 {
                btree.insert(hash_ring::hash(format!("{n}{r}").as_bytes()), i);
            }
        }
        let mut g = c.benchmark_group(format!("hash_ring/{count}_nodes"));
        let mut i = 0;
        g.bench_function("find_node", |b| {
            b.iter(|| {
                i = (i + 1) & 4095;
                ring.find_node(Key::Int(black_box(keys[i])))
            })
        });
        g.bench_function("btreemap range (baseline)", |b| {
            b.iter(|| {
                i = (i + 1) & 4095;
                let h = Key::Int(black_box(keys[i])).hash();
                btree.range(h + 1..).next().or_else(|| btree.iter().next()).map(|(_, n)| *n)
            })
        });
        g.bench_function("md5 of the key alone", |b| {
            b.iter(|| {
                i = (i + 1) & 4095;
                Key::Int(black_box(keys[i])).hash()
            })
        });
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).warm_up_time(std::time::Duration::from_millis(300)).measurement_time(std::time::Duration::from_millis(800));
    targets = bench
}
criterion_main!(benches);
