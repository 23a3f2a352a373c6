//! SortedSet core: add (+remove, to keep the size fixed), remove (+add),
//! find_index, at and slice(100) at 5k, 100k and 1M items, at the beginning,
//! middle and end. Baseline in the same run: std's BTreeSet for add/remove
//! and membership.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use sorted_set::term::{encode_to_vec, key, Value};
use sorted_set::SortedSet;
use std::collections::BTreeSet;
use std::hint::black_box;

fn item(i: i64) -> Vec<u8> {
    encode_to_vec(&Value::Int(i)).unwrap()
}

fn bench(c: &mut Criterion) {
    for n in [5_000i64, 100_000, 1_000_000] {
        // Members are the even numbers; odd ones are free slots.
        let mut set = SortedSet::from_sorted(&(0..n).map(|i| item(2 * i)).collect::<Vec<_>>(), 500).unwrap();
        let mut btree: BTreeSet<i64> = (0..n).map(|i| 2 * i).collect();
        let mut group = c.benchmark_group(format!("sorted_set/{n}"));
        for (pos, at) in [("begin", 1i64), ("middle", n / 2), ("end", n - 2)] {
            let free = item(2 * at + 1);
            let member = item(2 * at);
            let member_key = key(&member).to_vec();
            let free_key = key(&free).to_vec();
            group.bench_function(BenchmarkId::new("add+remove", pos), |b| {
                b.iter(|| {
                    black_box(set.insert(black_box(&free)));
                    black_box(set.remove(&free_key));
                })
            });
            group.bench_function(BenchmarkId::new("btreeset add+remove (baseline)", pos), |b| {
                b.iter(|| {
                    black_box(btree.insert(black_box(2 * at + 1)));
                    black_box(btree.remove(&(2 * at + 1)));
                })
            });
            group.bench_function(BenchmarkId::new("find_index", pos), |b| {
                b.iter(|| black_box(set.find_index(black_box(&member_key))))
            });
            group.bench_function(BenchmarkId::new("btreeset contains (baseline)", pos), |b| {
                b.iter(|| black_box(btree.contains(black_box(&(2 * at)))))
            });
            group.bench_function(BenchmarkId::new("at", pos), |b| b.iter(|| black_box(set.get(black_box(at as usize)))));
            let start = (at as usize).min(n as usize - 100);
            group.bench_function(BenchmarkId::new("slice100", pos), |b| {
                b.iter(|| set.iter_from(black_box(start)).take(100).map(|s| s.len()).sum::<usize>())
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).warm_up_time(std::time::Duration::from_millis(300)).measurement_time(std::time::Duration::from_millis(800));
    targets = bench
}
criterion_main!(benches);
